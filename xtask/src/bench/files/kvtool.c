/* kvtool --version | kvtool build N FILE: fills a map with N pseudo-random keys, checks every
 * one reads back, and saves it. Deterministic (fixed seed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("kvtool %s\n", kv_version());
        return 0;
    }
    if (argc != 4 || strcmp(argv[1], "build") != 0) {
        fprintf(stderr, "usage: kvtool --version | kvtool build N FILE\n");
        return 2;
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    struct kv *kv = kv_new(n);
    if (!kv) return 1;
    for (int round = 0; round < 2; round++) {
        uint64_t x = 0x9e3779b97f4a7c15ULL;
        for (uint64_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint64_t v;
            if (round == 0 && kv_put(kv, x | 1, i) != 0) return 1;
            if (round == 1 && (kv_get(kv, x | 1, &v) != 0 || v != i)) {
                fprintf(stderr, "kvtool: key %llu lost\n", (unsigned long long)i);
                return 1;
            }
        }
    }
    if (kv_save(kv, argv[3]) != 0) return 1;
    kv_free(kv);
    return 0;
}

/* Writes N deterministic JSON records (an array) on stdout: jsongen N. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const char *words[] = {"granite", "basalt", "quartz", "slate", "marble", "shale", "gneiss", "flint"};

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: jsongen N > records.json\n");
        return 2;
    }
    long n = atol(argv[1]);
    uint64_t x = 88172645463325252ULL;
    putchar('[');
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        printf("%s{\"id\":%ld,\"stone\":\"%s\",\"depth\":%llu,\"score\":%.4f,\"tags\":[\"%s\",\"%s\"]}",
               i ? "," : "", i, words[x % 8], (unsigned long long)(x >> 40), (double)(x % 100000) / 997.0,
               words[(x >> 8) % 8], words[(x >> 16) % 8]);
    }
    puts("]");
    return 0;
}

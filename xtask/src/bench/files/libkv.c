/* A tiny persistent hash map from 64-bit keys to 64-bit values (open addressing, linear
 * probing), saved as a file that starts with the library's version. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

#ifndef KV_VERSION
#error "build with -DKV_VERSION='\"x.y.z\"'"
#endif

struct kv {
    uint64_t cap, len;
    uint64_t *keys, *values; /* key 0 marks an empty slot */
};

const char *kv_version(void) { return KV_VERSION; }

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

struct kv *kv_new(uint64_t cap) {
    struct kv *kv = calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->cap = 16;
    while (kv->cap < cap * 2) kv->cap *= 2;
    kv->keys = calloc(kv->cap, sizeof(uint64_t));
    kv->values = calloc(kv->cap, sizeof(uint64_t));
    if (!kv->keys || !kv->values) return NULL;
    return kv;
}

int kv_put(struct kv *kv, uint64_t key, uint64_t value) {
    if (key == 0 || kv->len * 2 >= kv->cap) return -1;
    for (uint64_t i = mix(key) & (kv->cap - 1);; i = (i + 1) & (kv->cap - 1)) {
        if (kv->keys[i] == key || kv->keys[i] == 0) {
            kv->len += kv->keys[i] == 0;
            kv->keys[i] = key;
            kv->values[i] = value;
            return 0;
        }
    }
}

int kv_get(const struct kv *kv, uint64_t key, uint64_t *value) {
    for (uint64_t i = mix(key) & (kv->cap - 1); kv->keys[i] != 0; i = (i + 1) & (kv->cap - 1)) {
        if (kv->keys[i] == key) {
            *value = kv->values[i];
            return 0;
        }
    }
    return -1;
}

int kv_save(const struct kv *kv, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    char header[32] = {0};
    snprintf(header, sizeof header, "kv %s", KV_VERSION);
    fwrite(header, 1, sizeof header, f);
    fwrite(&kv->cap, sizeof kv->cap, 1, f);
    fwrite(kv->keys, sizeof(uint64_t), kv->cap, f);
    fwrite(kv->values, sizeof(uint64_t), kv->cap, f);
    return fclose(f);
}

void kv_free(struct kv *kv) {
    if (!kv) return;
    free(kv->keys);
    free(kv->values);
    free(kv);
}

#ifndef KV_H
#define KV_H
#include <stdint.h>
struct kv;
const char *kv_version(void);
struct kv *kv_new(uint64_t cap);
int kv_put(struct kv *kv, uint64_t key, uint64_t value);
int kv_get(const struct kv *kv, uint64_t key, uint64_t *value);
int kv_save(const struct kv *kv, const char *path);
void kv_free(struct kv *kv);
#endif

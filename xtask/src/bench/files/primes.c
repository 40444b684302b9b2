/* Odd-only sieve of Eratosthenes up to N (argv[1]); writes the gaps between consecutive odd
 * primes, halved, one byte each (every gap below 436273009 is at most 2 * 255). Deterministic. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: primes N > gaps.bin\n");
        return 2;
    }
    uint64_t n = strtoull(argv[1], NULL, 10);
    if (n < 3 || n > 400000000ULL) {
        fprintf(stderr, "primes: N must be in 3..=400000000\n");
        return 2;
    }
    uint64_t odds = (n - 1) / 2; /* index i stands for 2i + 3 */
    uint8_t *composite = calloc(odds / 8 + 1, 1);
    if (!composite) return 1;
    for (uint64_t i = 0; (2 * i + 3) * (2 * i + 3) <= n; i++) {
        if (composite[i / 8] & (1u << (i % 8))) continue;
        uint64_t p = 2 * i + 3;
        for (uint64_t j = (p * p - 3) / 2; j < odds; j += p) composite[j / 8] |= (uint8_t)(1u << (j % 8));
    }
    uint64_t last = 3, count = 1;
    for (uint64_t i = 1; i < odds; i++) {
        if (composite[i / 8] & (1u << (i % 8))) continue;
        uint64_t p = 2 * i + 3;
        putchar((int)((p - last) / 2));
        last = p;
        count++;
    }
    fprintf(stderr, "primes: %llu odd primes up to %llu\n", (unsigned long long)count, (unsigned long long)n);
    free(composite);
    return 0;
}

/* hash.h - the key hash of successor tables: a seeded multiply-xorshift over
 * 8-byte words. It only has to spread keys of one parent over a table, so it
 * trades strength for speed on the short keys runtimes use. */
#ifndef IRCACHE_HASH_H
#define IRCACHE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t ircache__read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 ircache__u128;

static inline uint64_t ircache__mix(uint64_t a, uint64_t b)
{
    /* The high and low halves of a 64x64 product, folded: every input bit
     * reaches every output bit. */
    ircache__u128 product = (ircache__u128)a * b;
    return (uint64_t)product ^ (uint64_t)(product >> 64);
}
#else
static inline uint64_t ircache__mix(uint64_t a, uint64_t b)
{
    uint64_t x = (a ^ (b >> 29)) * 0xbf58476d1ce4e5b9ull;
    x ^= x >> 31;
    x = (x ^ b) * 0x94d049bb133111ebull;
    return x ^ (x >> 32);
}
#endif

#define IRCACHE__HASH_K1 0x9e3779b97f4a7c15ull
#define IRCACHE__HASH_K2 0xd6e8feb86659fd93ull

/* One constant, the one ircache__hash_index multiplies by, so that a lookup
 * keeps one in a register: the seed, random per cache, needs none beside
 * it. */
static inline uint64_t ircache__hash_final(uint64_t a, uint64_t b, size_t len, uint64_t seed)
{
    return ircache__mix(a ^ seed, b ^ (uint64_t)len ^ IRCACHE__HASH_K1);
}

/* The hash of a key of at most 16 bytes, from two words (overlapping reads
 * rather than reads past the key): no loop, so that the lookup of a short
 * key in a table needs few registers. Equal to ircache__hash. */
static inline uint64_t ircache__hash16(const void *key, size_t len, uint64_t seed)
{
    const unsigned char *p = key;
    uint64_t a, b;
    if (len >= 8) {
        a = ircache__read64(p);
        b = ircache__read64(p + len - 8);
    } else if (len >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + len - 4, 4);
        a = lo;
        b = hi;
    } else if (len > 0) {
        a = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
        b = 0;
    } else {
        a = b = 0;
    }
    return ircache__hash_final(a, b, len, seed);
}

static inline uint64_t ircache__hash(const void *key, size_t len, uint64_t seed)
{
    const unsigned char *p = key;
    if (len <= 16)
        return ircache__hash16(key, len, seed);
    uint64_t acc = seed;
    size_t i = 0;
    for (; i + 16 <= len; i += 16)
        acc = ircache__mix(ircache__read64(p + i) ^ IRCACHE__HASH_K1 ^ acc,
                           ircache__read64(p + i + 8) ^ IRCACHE__HASH_K2);
    return ircache__hash_final(ircache__read64(p + len - 16) ^ acc, ircache__read64(p + len - 8), len, seed);
}

/* ircache__hash; short_keys (a constant at each call site): the caller
 * knows len <= 16, and the loop disappears. */
static inline uint64_t ircache__key_hash(const void *key, size_t len, uint64_t seed, int short_keys)
{
    return short_keys ? ircache__hash16(key, len, seed) : ircache__hash(key, len, seed);
}

/* The hash's low bits are nearly linear in a key that counts up (a runtime's
 * operand ids do), so a table must not index by them. Its high bits after
 * one more multiply (Fibonacci hashing) spread well: over four key layouts,
 * four seeds and 2..4096 entries at most half full, the worst average
 * probe count is 1.62 (the low bits: 4.06; a full finalizer: 1.88). */
static inline size_t ircache__hash_index(uint64_t hash, unsigned shift)
{
    return (size_t)((hash * IRCACHE__HASH_K1) >> shift);
}

#endif

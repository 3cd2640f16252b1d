/* hash.h - the key hash of successor tables: linear in a key's 8-byte
 * words, so that keys that differ in a counter spread evenly (each table
 * chooses the multipliers, or mixes further, by how its keys spread:
 * successors.c), or, for a table whose keys collide whatever it chooses,
 * seeded and mixed. It only has to spread the keys of one parent over a
 * table, fast, for the short keys runtimes use. */
#ifndef IRCACHE_HASH_H
#define IRCACHE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "compiler.h"

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

/* With seed 0: linear in each of the key's first and last words, by the
 * multipliers k1 and k2 (odd). Keys that differ in a counter or a field of
 * bits (operand ids, the usual) differ by multiples of a constant, and
 * their top bits spread as evenly as Fibonacci hashing spreads a counter.
 * A successor table chooses its multipliers, or mixes the hash further, by
 * how its keys spread (successors.h); how many keys it displaces, and so
 * what a writer does, depends on the keys alone. Two multiplies side by
 * side: a slot is read 5 cycles after the key's words. Linear also means
 * that keys can be made to collide (solve for b): a table whose keys
 * collide whatever it chooses hashes them with a random seed instead,
 * mixed, as no one outside the process can predict. */
static inline uint64_t ircache__hash_linear(uint64_t a, uint64_t b, size_t len, uint64_t k1, uint64_t k2)
{
    /* b turned by half: in a key of 8 bytes or less, b is a (or overlaps
     * it), and a * k1 + a * k2 would drop the high bits of a where k1 + k2
     * ends in zeros (a big-endian counter: 4,096 keys, 512 hashes). */
    b ^= (uint64_t)len;
    return a * k1 + ((b << 32) | (b >> 32)) * k2;
}

static inline uint64_t ircache__hash_final(uint64_t a, uint64_t b, size_t len, uint64_t k1, uint64_t k2,
                                           uint64_t seed)
{
    if (IRCACHE__UNLIKELY(seed != 0))
        return ircache__mix(a ^ seed, b ^ (uint64_t)len ^ IRCACHE__HASH_K1);
    return ircache__hash_linear(a, b, len, k1, k2);
}

/* The hash of a key of at most 16 bytes, from two words (overlapping reads
 * rather than reads past the key): no loop, so that the lookup of a short
 * key in a table needs few registers. Equal to ircache__hash. */
static inline uint64_t ircache__hash16(const void *key, size_t len, uint64_t k1, uint64_t k2, uint64_t seed)
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
    return ircache__hash_final(a, b, len, k1, k2, seed);
}

static inline uint64_t ircache__hash(const void *key, size_t len, uint64_t k1, uint64_t k2, uint64_t seed)
{
    const unsigned char *p = key;
    if (len <= 16)
        return ircache__hash16(key, len, k1, k2, seed);
    uint64_t acc = seed;
    size_t i = 0;
    for (; i + 16 <= len; i += 16)
        acc = ircache__mix(ircache__read64(p + i) ^ IRCACHE__HASH_K1 ^ acc,
                           ircache__read64(p + i + 8) ^ IRCACHE__HASH_K2);
    return ircache__hash_final(ircache__read64(p + len - 16) ^ acc, ircache__read64(p + len - 8), len, k1, k2,
                               seed);
}

/* ircache__hash; short_keys (a constant at each call site): the caller
 * knows len <= 16, and the loop disappears. */
static inline uint64_t ircache__key_hash(const void *key, size_t len, int short_keys, uint64_t k1, uint64_t k2,
                                         uint64_t seed)
{
    return short_keys ? ircache__hash16(key, len, k1, k2, seed) : ircache__hash(key, len, k1, k2, seed);
}

/* An index of `64 - shift` bits from any hash, every bit of the hash mixed
 * in (the hash is linear, so its top bits alone may crowd: see above). */
static inline size_t ircache__hash_index(uint64_t hash, unsigned shift)
{
    return (size_t)(((hash ^ (hash >> 32)) * IRCACHE__HASH_K1) >> shift);
}

#endif

/* text.h - a growable byte buffer, and decimal digits written into memory:
 * what the dump writers build their lines and escaped labels with. */
#ifndef IRCACHE_TEXT_H
#define IRCACHE_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct ircache__text {
    char *data;
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} ircache__text;

/* Appends n bytes (the text is marked failed when out of memory). */
void ircache__text_put(ircache__text *t, const void *data, size_t n);

void ircache__text_free(ircache__text *t);

extern const char ircache__digit_pairs[200]; /* "00" "01" ... "99" */
extern const uint64_t ircache__powers_of_10[20];

/* The number of decimal digits of v. */
static inline size_t ircache__digit_count(uint64_t v)
{
#if defined(__GNUC__)
    /* log10 from log2 (1233/4096 ~ log10(2)), corrected by one comparison. */
    size_t t = (size_t)(((64 - __builtin_clzll(v | 1)) * 1233) >> 12);
    return t + ((v | 1) >= ircache__powers_of_10[t]); /* v | 1: 0 has one digit */
#else
    size_t n = 1;
    for (uint64_t rest = v; rest >= 10; rest /= 10)
        n++;
    return n;
#endif
}

/* Writes v in decimal at p, returns the end. p needs room for 20 digits.
 * Dumps write four numbers a node: two digits a step, straight in place. */
static inline char *ircache__decimal(char *p, uint64_t v)
{
    if (v < 100) { /* hit counts, mostly */
        if (v < 10) {
            *p = (char)('0' + v);
            return p + 1;
        }
        memcpy(p, ircache__digit_pairs + 2 * v, 2);
        return p + 2;
    }
    size_t n = ircache__digit_count(v);
    char *q = p + n;
    while (v >= 100) {
        q -= 2;
        memcpy(q, ircache__digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, ircache__digit_pairs + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    return p + n;
}

#endif

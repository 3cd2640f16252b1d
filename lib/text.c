/* text.c - the growable buffer of text.h. */
#include "text.h"

#include "alloc.h"

const uint64_t ircache__powers_of_10[20] = {
    1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u, 1000000000u,
    10000000000u, 100000000000u, 1000000000000u, 10000000000000u, 100000000000000u,
    1000000000000000u, 10000000000000000u, 100000000000000000u, 1000000000000000000u,
    10000000000000000000u,
};

const char ircache__digit_pairs[200] = {
#define IRCACHE__PAIRS(t) t, '0', t, '1', t, '2', t, '3', t, '4', t, '5', t, '6', t, '7', t, '8', t, '9'
    IRCACHE__PAIRS('0'), IRCACHE__PAIRS('1'), IRCACHE__PAIRS('2'), IRCACHE__PAIRS('3'), IRCACHE__PAIRS('4'),
    IRCACHE__PAIRS('5'), IRCACHE__PAIRS('6'), IRCACHE__PAIRS('7'), IRCACHE__PAIRS('8'), IRCACHE__PAIRS('9'),
#undef IRCACHE__PAIRS
};

void ircache__text_put(ircache__text *t, const void *data, size_t n)
{
    if (t->failed || n == 0) /* n == 0: data may be NULL, memcpy's undefined then */
        return;
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap : 32;
        while (cap < t->len + n)
            cap *= 2;
        char *grown = ircache__malloc(cap);
        if (grown == NULL) {
            t->failed = 1;
            return;
        }
        if (t->len)
            memcpy(grown, t->data, t->len);
        ircache__free(t->data);
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, data, n);
    t->len += n;
}

void ircache__text_free(ircache__text *t)
{
    ircache__free(t->data);
    memset(t, 0, sizeof *t);
}

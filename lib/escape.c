/* escape.c - UTF-8 validation and the escapes of DOT and JSON strings. */
#include "escape.h"

#include <stdio.h>

static const unsigned char replacement[] = {0xEF, 0xBF, 0xBD}; /* U+FFFD */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when the bytes at p
 * do not start one: overlong forms, surrogates and code points past
 * U+10FFFF are invalid. *bad receives how many bytes to replace then. */
static size_t utf8_sequence(const unsigned char *p, size_t *bad)
{
    unsigned char b = p[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* bounds of the second byte */
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (b == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i < need; i++) {
        unsigned char lower = i == 1 ? lo : 0x80, upper = i == 1 ? hi : 0xBF;
        if (p[i] < lower || p[i] > upper) { /* a NUL terminator stops here too */
            *bad = i;
            return 0;
        }
    }
    return need;
}

static void put_json_escape(ircache__text *f, unsigned code)
{
    char text[7];
    snprintf(text, sizeof text, "\\u%04x", code);
    ircache__text_put(f, text, 6);
}

/* Graphviz (2.43) crashes on a label of 32,768 lines or more: past this
 * many in a label, a line break is written as U+2424 (SYMBOL FOR NEWLINE). */
#define DOT_LINE_BREAKS_MAX 32000u

static void put_dot_line_break(ircache__text *f, size_t *breaks)
{
    if (++*breaks <= DOT_LINE_BREAKS_MAX)
        ircache__text_put(f, "\\n", 2);
    else
        ircache__text_put(f, "\xE2\x90\xA4", 3);
}

static void put_control(ircache__text *f, unsigned char ch, ircache__quoting how, size_t *breaks)
{
    if (how == IRCACHE__QUOTE_JSON) {
        const char *named = ch == '\n' ? "\\n" : ch == '\r' ? "\\r" : ch == '\t' ? "\\t" : NULL;
        if (named != NULL)
            ircache__text_put(f, named, 2);
        else
            put_json_escape(f, ch);
        return;
    }
    if (ch == '\n') {
        put_dot_line_break(f, breaks);
        return;
    }
    unsigned code = ch == 0x7F ? 0x2421u : 0x2400u + ch;
    unsigned char picture[3] = {(unsigned char)(0xE0 | (code >> 12)),
                                (unsigned char)(0x80 | ((code >> 6) & 0x3F)),
                                (unsigned char)(0x80 | (code & 0x3F))};
    ircache__text_put(f, picture, sizeof picture);
}

/* The code point of the valid n-byte sequence at p when it is a C1 control
 * (U+0080..U+009F) or one of the line breaks U+2028, U+2029; else 0. Raw,
 * these end a line for readers that split on every Unicode line break
 * (Python's str.splitlines takes U+0085, U+2028 and U+2029). */
static unsigned unicode_break_or_c1(const unsigned char *p, size_t n)
{
    if (n == 2 && p[0] == 0xC2 && p[1] <= 0x9F)
        return p[1];
    if (n == 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9))
        return 0x2000u + (p[2] - 0x80u);
    return 0;
}

/* DOT: the three line breaks as DOT's own \n, the other C1 controls, which
 * have no control pictures, as U+FFFD. JSON: \u escapes, which keep them. */
static void put_unicode_special(ircache__text *f, unsigned code, ircache__quoting how, size_t *breaks)
{
    if (how == IRCACHE__QUOTE_JSON)
        put_json_escape(f, code);
    else if (code == 0x85 || code >= 0x2000)
        put_dot_line_break(f, breaks);
    else
        ircache__text_put(f, replacement, sizeof replacement);
}

/* Bytes of the unit of escaped text at p: an escape (a backslash and the
 * byte after it) or one UTF-8 character, which the text is by then. */
static size_t escaped_unit_length(const unsigned char *p)
{
    if (*p == '\\')
        return 2;
    return *p < 0xC0 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
}

/* Rewrites the escaped text t holds from start on as quoted pieces joined
 * by '+', each at most IRCACHE__DOT_PIECE_MAX bytes (escape.h). */
static void split_dot_pieces(ircache__text *t, size_t start)
{
    if (t->failed || t->len - start <= IRCACHE__DOT_PIECE_MAX)
        return;
    ircache__text pieces = {0};
    ircache__text_put(&pieces, t->data, start);
    const unsigned char *p = (const unsigned char *)t->data + start;
    const unsigned char *end = (const unsigned char *)t->data + t->len;
    const unsigned char *piece = p;
    while (p < end) {
        size_t n = escaped_unit_length(p);
        if ((size_t)(p - piece) + n > IRCACHE__DOT_PIECE_MAX) {
            ircache__text_put(&pieces, piece, (size_t)(p - piece));
            ircache__text_put(&pieces, "\" + \"", 5);
            piece = p;
        }
        p += n;
    }
    ircache__text_put(&pieces, piece, (size_t)(p - piece));
    ircache__text_free(t);
    *t = pieces; /* failed, when out of memory: the caller reports it */
}

void ircache__quote(ircache__text *f, const char *s, ircache__quoting how)
{
    size_t start = f->len, breaks = 0;
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *plain = p; /* start of bytes that need no escape */
    while (*p != '\0') {
        unsigned char ch = *p;
        size_t bad = 0;
        size_t n = ch >= 0x20 && ch < 0x7F && ch != '"' && ch != '\\' ? 1
                   : ch >= 0x80                                      ? utf8_sequence(p, &bad)
                                                                     : 0;
        if (n > 0) {
            unsigned special = n > 1 ? unicode_break_or_c1(p, n) : 0;
            if (special == 0) {
                p += n;
                continue;
            }
            ircache__text_put(f, plain, (size_t)(p - plain));
            put_unicode_special(f, special, how, &breaks);
            p += n;
            plain = p;
            continue;
        }
        ircache__text_put(f, plain, (size_t)(p - plain));
        if (bad > 0) {
            ircache__text_put(f, replacement, sizeof replacement);
            p += bad;
        } else {
            if (ch == '"' || ch == '\\') {
                char escaped[2] = {'\\', (char)ch};
                ircache__text_put(f, escaped, 2);
            } else {
                put_control(f, ch, how, &breaks);
            }
            p++;
        }
        plain = p;
    }
    ircache__text_put(f, plain, (size_t)(p - plain));
    if (how == IRCACHE__QUOTE_DOT)
        split_dot_pieces(f, start);
}

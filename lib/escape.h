/* escape.h - the one place that turns label bytes into quoted strings.
 * Any input gives valid UTF-8 that keeps the quoted string closed. */
#ifndef IRCACHE_ESCAPE_H
#define IRCACHE_ESCAPE_H

#include "text.h"

typedef enum ircache__quoting {
    /* Graphviz: \" and \\, a newline and the Unicode line breaks U+0085,
     * U+2028, U+2029 as the \n line break (past 32,000 in a label, as
     * U+2424: escape.c), other C0 controls as Unicode control pictures
     * (U+2400 + c, DEL as U+2421), other C1 controls as U+FFFD: no
     * character in the file ends a line but a real newline. */
    IRCACHE__QUOTE_DOT,
    /* JSON: \" \\ \n \r \t, other controls and U+2028, U+2029 as \uXXXX. */
    IRCACHE__QUOTE_JSON,
} ircache__quoting;

/* Graphviz (2.43) refuses a quoted string of 16 KiB or more. DOT joins
 * quoted strings with '+', so a DOT label longer than this many bytes once
 * escaped is written as pieces of at most this many: "..." + "...". The
 * last piece leaves room for the ", N hits" that follows it. */
#define IRCACHE__DOT_PIECE_MAX 16000u

/* Appends s (NUL-terminated) to t, escaped for the inside of a
 * double-quoted string; invalid UTF-8 becomes U+FFFD, one per maximal
 * invalid subsequence. DOT labels longer than IRCACHE__DOT_PIECE_MAX are
 * split into pieces, never inside an escape or a character. */
void ircache__quote(ircache__text *t, const char *s, ircache__quoting how);

#endif

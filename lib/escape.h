/* escape.h - the one place that turns label bytes into quoted strings.
 * Any input gives valid UTF-8 that keeps the quoted string closed. */
#ifndef IRCACHE_ESCAPE_H
#define IRCACHE_ESCAPE_H

#include "text.h"

typedef enum ircache__quoting {
    /* Graphviz: \" and \\, a newline and the Unicode line breaks U+0085,
     * U+2028, U+2029 as the \n line break, other C0 controls as Unicode
     * control pictures (U+2400 + c, DEL as U+2421), other C1 controls as
     * U+FFFD: no character in the file ends a line but a real newline. */
    IRCACHE__QUOTE_DOT,
    /* JSON: \" \\ \n \r \t, other controls and U+2028, U+2029 as \uXXXX. */
    IRCACHE__QUOTE_JSON,
} ircache__quoting;

/* Appends s (NUL-terminated) to t, escaped for the inside of a
 * double-quoted string; invalid UTF-8 becomes U+FFFD, one per maximal
 * invalid subsequence. */
void ircache__quote(ircache__text *t, const char *s, ircache__quoting how);

#endif

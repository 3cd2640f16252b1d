/* dump_common.h - what both writers share: opening the file, walking under
 * the lock, committing or abandoning. */
#ifndef IRCACHE_DUMP_COMMON_H
#define IRCACHE_DUMP_COMMON_H

#include "atomic_file.h"
#include "cache.h"

#include "escape.h"

/* Writes header, every node through visit(f, n, label), then footer, to
 * path as a whole-or-nothing file. label is n's op label escaped with how
 * (escaped once per op: labels repeat), NULL for the root. */
int ircache__dump_with(ircache *c, const char *path, const char *header, const char *footer,
                       ircache__quoting how,
                       void (*visit)(ircache__file *f, const ircache__node *n, const ircache__text *label));

/* A dump line is formatted in place, in the file's buffer, when it fits
 * here. */
#define IRCACHE__DUMP_LINE 160
_Static_assert(IRCACHE__DUMP_LINE <= IRCACHE__FILE_BUFFER_SIZE, "a dump line fits the file's buffer");

/* Copies string literal s to p, returns the end. */
#define IRCACHE__LITERAL(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

#endif

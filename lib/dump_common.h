/* dump_common.h - what both writers share: opening the file, walking under
 * the lock, committing or abandoning. */
#ifndef IRCACHE_DUMP_COMMON_H
#define IRCACHE_DUMP_COMMON_H

#include "atomic_file.h"
#include "cache.h"

/* Writes header, every node through visit(f, n), then footer, to path as a
 * whole-or-nothing file. */
int ircache__dump_with(ircache *c, const char *path, const char *header, const char *footer,
                       void (*visit)(ircache__file *f, const ircache__node *n));

static inline const char *ircache__node_label(const ircache__node *n)
{
    const struct ircache__kind *kind = atomic_load_explicit(&n->kind, memory_order_relaxed);
    return kind != NULL ? kind->op->label : NULL;
}

#endif

/* trie.h - the trie's rules: lookup, insert, replace, clear, step marks.
 * Arguments are checked by api.c before they get here. */
#ifndef IRCACHE_TRIE_H
#define IRCACHE_TRIE_H

#include "cache.h"

/* Sets up c (storage provided by the caller, zeroed). Returns 0 or
 * IRCACHE_ENOMEM. */
int ircache__trie_init(ircache *c);

/* Releases every payload and all memory of c (no other thread uses it). */
void ircache__trie_destroy(ircache *c);

int ircache__trie_insert(ircache *c, const void *key, uint32_t key_len, const char *op,
                         void *payload, const ircache_owner *owner);

void ircache__trie_mark_step(ircache *c);

void ircache__trie_clear(ircache *c);

/* In a forked child, under the lock: the clears of threads that do not
 * exist here (their list entries are on those threads' stacks, which the
 * child's next thread may reuse) leave the list, their nodes' hits counted
 * as departed; the nodes stay unreleased. The forking thread's own go on. */
void ircache__trie_forget_clearings(ircache *c);

/* Under the lock: calls visit(n, ctx) for every node that clears in other
 * threads are releasing (their hits still count in the op statistics). */
void ircache__trie_visit_clearings(ircache *c, void (*visit)(ircache__node *n, void *ctx), void *ctx);

int ircache__trie_set_max_nodes(ircache *c, uint64_t max_nodes);

/* Raises the cache's clock to at least at_least (any thread, no lock). */
void ircache__clock_publish(ircache *c, uint64_t at_least);

#endif

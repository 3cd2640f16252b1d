/* dump.h - writers of the whole trie into a file (cache lock held while
 * walking, so the shape cannot change under them). */
#ifndef IRCACHE_DUMP_H
#define IRCACHE_DUMP_H

#include "cache.h"

int ircache__dump_dot(ircache *c, const char *path);
int ircache__dump_json(ircache *c, const char *path);

#endif

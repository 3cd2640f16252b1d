/* stats.h - counters of a cache and per-op reuse counts. */
#ifndef IRCACHE_STATS_H
#define IRCACHE_STATS_H

#include "cache.h"

void ircache__stats(ircache *c, ircache_stats *out);

/* Returns the number of labels, or IRCACHE_ENOMEM. */
int64_t ircache__op_stats(ircache *c, ircache_op_stats *out, size_t capacity);

#endif

/* registry.h - every live cache of the process, for fork() and for threads
 * leaving. Lock order: the registry lock, then a cache's lock. */
#ifndef IRCACHE_REGISTRY_H
#define IRCACHE_REGISTRY_H

#include "cache.h"

void ircache__registry_lock(void);
void ircache__registry_unlock(void);

/* Adds c to the registry (and installs the fork handlers on first use). */
void ircache__registry_add(ircache *c);

/* Removes c; registry lock held by the caller. */
void ircache__registry_remove_locked(ircache *c);

#endif

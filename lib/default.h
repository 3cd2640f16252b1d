/* default.h - the process-wide default cache. */
#ifndef IRCACHE_DEFAULT_H
#define IRCACHE_DEFAULT_H

#include "cache.h"

ircache *ircache__default(void);

#endif

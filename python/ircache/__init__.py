"""ircache: the IR-node trie cache of lazy-tensor runtimes.

One process-wide cache shared with C and C++ runtimes in the same process,
plus explicit caches. On the default cache, as ``torch._lazy.ir_cache``::

    import ircache
    ircache.dump("trie.dot")
    ircache.reset()
"""

from ._cache import OpStats, Stats, TrieCache, default_cache, dump, reset, stats
from ._errors import IRCACHE_EDISABLED, IRCACHE_EINVAL, IRCACHE_EIO, IRCACHE_ENOMEM, IRCacheError
from ._ffi import c_version as __c_version__
from ._version import __version__

__all__ = [
    "IRCACHE_EDISABLED",
    "IRCACHE_EINVAL",
    "IRCACHE_EIO",
    "IRCACHE_ENOMEM",
    "IRCacheError",
    "OpStats",
    "Stats",
    "TrieCache",
    "default_cache",
    "dump",
    "reset",
    "stats",
    "__c_version__",
    "__version__",
]

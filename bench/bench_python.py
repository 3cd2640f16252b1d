"""TrieCache.lookup against a bare cffi call with the same arguments.

usage: python bench/bench_python.py [--quick]   (with the package installed)

Both walk a 1,000-op trace that is all hits, as in steady replay: the bare
call is lib.ircache_lookup(cache, key, 16) on the same cache, the other
TrieCache.lookup(key), which does that call's work plus finding the stored
Python object. Runs alternate; the ratio is the median of per-pair ratios.
The loop's own cost (iterating the keys, the step mark) is measured apart
and taken out of both.
"""

from __future__ import annotations

import statistics
import sys
import timeit

import ircache
from ircache._ffi import lib


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    repeats, passes = (5, 50) if quick else (21, 200)
    cache = ircache.TrieCache()
    keys = [b"%016d" % i for i in range(1000)]
    for key in keys:
        cache.insert(key, object(), "aten::add")
    cache.mark_step()
    ptr = cache._ptr
    bare, mark, lookup = lib.ircache_lookup, lib.ircache_mark_step, cache.lookup

    def loop_only() -> None:
        for key in keys:
            pass
        mark(ptr)

    def bare_calls() -> None:
        for key in keys:
            bare(ptr, key, 16)
        mark(ptr)

    def trie_cache() -> None:
        for key in keys:
            lookup(key)
        mark(ptr)

    per_op = 1e9 / (passes * len(keys))
    base, ours, ratios = [], [], []
    for _ in range(repeats):
        empty = timeit.timeit(loop_only, number=passes) * per_op
        b = timeit.timeit(bare_calls, number=passes) * per_op - empty
        o = timeit.timeit(trie_cache, number=passes) * per_op - empty
        base.append(b)
        ours.append(o)
        ratios.append(o / b)
    ratio = statistics.median(ratios)
    print(f"Python, {sys.version.split()[0]}, ircache {ircache.__version__}")
    print(f"{'bare cffi ircache_lookup ns/hit':34s} {statistics.median(base):8.1f}")
    print(f"{'TrieCache.lookup ns/hit':34s} {statistics.median(ours):8.1f}")
    print(f"{'ratio':34s} {ratio:8.2f}x   target <= 1.5x   {'met' if ratio <= 1.5 else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

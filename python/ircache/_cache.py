"""TrieCache: a cache handle, the Python objects it holds, its statistics."""

from __future__ import annotations

import atexit
import itertools
import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from ._errors import check, raise_for
from ._ffi import ffi, lib

Key = Union[bytes, bytearray, memoryview]
Label = Union[str, bytes]
PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

# Every Python object any cache holds, by the integer that is its payload in
# C. Ids are never reused, so a lookup that races with a release (another
# thread or a C runtime clearing the cache) finds the object or nothing,
# never a freed one and never another one. The owner's release, called once
# per payload by the C library, is the only place objects leave.
_held: Dict[int, object] = {}
_new_id = itertools.count(1).__next__
_get_held = _held.get
_c_lookup = lib.ircpy_lookup


@ffi.def_extern()
def _ircpy_release(payload: Any, ctx: Any) -> None:
    _held.pop(int(ffi.cast("intptr_t", payload)), None)


# After exit starts, a C runtime may still drop our nodes: nobody to tell.
atexit.register(lib.ircpy_stop_releases)


@dataclass(frozen=True)
class OpStats:
    """Counts of one op label: inserts (replacements included) and reuses."""

    inserts: int
    reused: int


@dataclass(frozen=True)
class Stats:
    """A snapshot of a cache's counters (see ``ircache_stats`` in ircache.h).

    ``nodes`` and ``bytes`` are current values, ``max_nodes`` the bound (0:
    none), the rest count since the cache was created. ``ops`` maps each op
    label ever inserted to its OpStats (PyTorch's IrNodeReused_<op>).
    """

    nodes: int
    bytes: int
    hits: int
    misses: int
    inserts: int
    forks: int
    evictions: int
    clears: int
    max_nodes: int
    ops: Mapping[str, OpStats]

    @property
    def hit_rate(self) -> float:
        """hits / (hits + misses), 0.0 before any lookup."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def _key_arg(key: Key) -> Tuple[Any, int]:
    """The key as something the C shim takes, and its length in bytes."""
    if isinstance(key, bytes):
        return key, len(key)
    if isinstance(key, (bytearray, memoryview)):
        try:
            buf = ffi.from_buffer("char[]", key)
        except (TypeError, ValueError, BufferError) as exc:
            raise TypeError(f"key must be a contiguous bytes-like object: {exc}") from None
        return buf, len(buf)
    raise TypeError(f"key must be bytes, bytearray or memoryview, not {type(key).__name__}")


def _label_arg(op: Label) -> bytes:
    if isinstance(op, str):
        label = op.encode("utf-8", "surrogateescape")
    elif isinstance(op, bytes):
        label = op
    else:
        raise TypeError(f"op must be str or bytes, not {type(op).__name__}")
    if b"\0" in label:
        raise ValueError("op must not contain NUL characters")
    return label


def _path_arg(path: PathArg) -> bytes:
    """The path as the bytes the C library takes, checked as open() does."""
    raw = os.fspath(path)
    encoded = os.fsencode(raw)
    if b"\0" in encoded:
        raise ValueError("embedded null byte")
    if not encoded:
        raise FileNotFoundError(2, os.strerror(2), raw)
    return encoded


def _decode_label(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _read_stats(ptr: Any) -> Stats:
    raw = ffi.new("ircache_stats *")
    check(lib.ircache_get_stats(ptr, raw))
    count = check(lib.ircache_get_op_stats(ptr, ffi.NULL, 0))
    while True:
        entries = ffi.new("ircache_op_stats[]", max(count, 1))
        got = check(lib.ircache_get_op_stats(ptr, entries, count))
        if got <= count:
            break
        count = got  # labels were added meanwhile: ask again with room
    ops = {
        _decode_label(ffi.string(entries[i].op)): OpStats(entries[i].inserts, entries[i].reused)
        for i in range(got)
    }
    return Stats(
        nodes=raw.nodes,
        bytes=raw.bytes,
        hits=raw.hits,
        misses=raw.misses,
        inserts=raw.inserts,
        forks=raw.forks,
        evictions=raw.evictions,
        clears=raw.clears,
        max_nodes=raw.max_nodes,
        ops=MappingProxyType(ops),
    )


class TrieCache:
    """A trie cache of IR nodes: a C ``ircache`` and the Python objects in it.

    At each op, :meth:`lookup` the op's key among the successors of this
    thread's position; on a miss build the node and :meth:`insert` it; at the
    step boundary :meth:`mark_step`. The trie is shared by all threads, each
    thread has its own position.

    Parameters
    ----------
    max_nodes : int, optional
        Bound on the number of nodes (least recently used leaves are evicted
        past it); 0, the default, is unbounded.

    Notes
    -----
    Objects stay alive exactly as long as the cache holds them. After
    :meth:`close` every method raises ValueError, as a closed file does.
    """

    def __init__(self, max_nodes: int = 0) -> None:
        self._ptr: Any = None  # None once closed: every method checks it
        self._owned = True
        self._memory: Any = None  # freed when this object goes (see close)
        ptr = lib.ircache_new()
        if ptr == ffi.NULL:
            raise MemoryError("no memory for a new cache")
        self._memory = ptr
        self._ptr = ptr
        if max_nodes:
            self.max_nodes = max_nodes

    @classmethod
    def _default(cls) -> "TrieCache":
        self = cls.__new__(cls)
        self._ptr = lib.ircache_default()
        self._owned = False
        self._memory = None
        return self

    # -- tracing ---------------------------------------------------------

    def lookup(self, key: Key) -> Optional[object]:
        """Return the node stored under key after this thread's position.

        On a hit the position moves to that node and its object is returned;
        on a miss the position stays and None is returned. Nodes inserted by
        other runtimes sharing the cache are misses.

        Parameters
        ----------
        key : bytes, bytearray or memoryview
            Compared byte for byte; a str is a TypeError (no implicit
            encoding).
        """
        try:
            return _get_held(_c_lookup(self._ptr, key, len(key)))
        except TypeError:
            return self._lookup_other(key)

    def _lookup_other(self, key: Key) -> Optional[object]:
        # Whatever the bytes fast path refused: a closed cache, a bytearray or
        # memoryview, or a wrong type.
        ptr = self._live()
        buf, size = _key_arg(key)
        return _get_held(_c_lookup(ptr, buf, size))

    def insert(self, key: Key, node: object, op: Label = "") -> None:
        """Store node as a new successor of this thread's position and move there.

        If a successor with an equal key exists its object and op are
        replaced (the old object is released) and its hit count restarts.

        Parameters
        ----------
        key : bytes, bytearray or memoryview
        node : object
            Anything but None; kept alive while the cache holds it.
        op : str or bytes, optional
            The node's label in dumps and per-op statistics.

        Raises
        ------
        IRCacheError
            The cache is disabled (``code == IRCACHE_EDISABLED``).
        MemoryError
            Out of memory; nothing was stored.
        """
        ptr = self._live()
        if node is None:
            raise TypeError("node must not be None")
        buf, size = _key_arg(key)
        label = _label_arg(op)
        ident = _new_id()
        _held[ident] = node
        code = lib.ircpy_insert(ptr, buf, size, label, ident)
        if code < 0:
            _held.pop(ident, None)
            raise_for(code)

    def mark_step(self) -> None:
        """Move this thread's position back to the root (the step boundary)."""
        lib.ircache_mark_step(self._live())

    def clear(self) -> None:
        """Drop every node (releasing its object); every thread goes back to the root."""
        lib.ircache_clear(self._live())

    # -- output ------------------------------------------------------------

    def dump(self, path: PathArg) -> None:
        """Write the trie as Graphviz DOT to path, whole or not at all.

        Raises OSError (with errno and filename) when the file cannot be
        written; an existing file is then left as it was.
        """
        ptr = self._live()
        check(lib.ircache_dump_dot(ptr, _path_arg(path)), os.fspath(path))

    def dump_json(self, path: PathArg) -> None:
        """Write the trie as JSON to path, whole or not at all (see dump)."""
        ptr = self._live()
        check(lib.ircache_dump_json(ptr, _path_arg(path)), os.fspath(path))

    def stats(self) -> Stats:
        """A snapshot of the counters, with per-op reuse counts."""
        return _read_stats(self._live())

    # -- settings ----------------------------------------------------------

    @property
    def max_nodes(self) -> int:
        """The bound on the number of nodes; 0 is unbounded. Lowering it evicts at once."""
        return self.stats().max_nodes

    @max_nodes.setter
    def max_nodes(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"max_nodes must be an int, not {type(value).__name__}")
        if value < 0 or value >= 1 << 64:
            raise ValueError(f"max_nodes must be between 0 and 2**64 - 1, not {value}")
        check(lib.ircache_set_max_nodes(self._live(), value))

    @property
    def enabled(self) -> bool:
        """While False, lookups miss without counting and inserts raise IRCacheError."""
        return bool(check(lib.ircache_is_enabled(self._live())))

    @enabled.setter
    def enabled(self, value: bool) -> None:
        check(lib.ircache_set_enabled(self._live(), 1 if value else 0))

    # -- lifetime ----------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._ptr is None

    def close(self) -> None:
        """Release every object this cache holds and refuse further use.

        Idempotent. For the default cache (:func:`ircache.default_cache`)
        only this handle is closed; the cache and its nodes stay.
        """
        ptr, self._ptr = self._ptr, None
        if ptr is not None and self._owned:
            # A thread still inside a method keeps this object, and so the
            # C cache, alive; clearing is safe beside it, freeing is not.
            lib.ircache_clear(ptr)

    def __del__(self) -> None:
        memory, self._memory = getattr(self, "_memory", None), None
        if memory is not None:
            lib.ircache_free(memory)

    def __enter__(self) -> "TrieCache":
        self._live()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._ptr is None:
            return "<ircache.TrieCache closed>"
        which = "default" if not self._owned else "own"
        return f"<ircache.TrieCache {which} nodes={self.stats().nodes}>"

    def _live(self) -> Any:
        ptr = self._ptr
        if ptr is None:
            raise ValueError("operation on a closed TrieCache")
        return ptr


def default_cache() -> TrieCache:
    """A TrieCache bound to the process-wide default cache (shared with C)."""
    return TrieCache._default()


def dump(dot_file_name: PathArg) -> None:
    """Write the default cache as Graphviz DOT (``torch._lazy.ir_cache.dump``)."""
    check(lib.ircache_dump(_path_arg(dot_file_name)), os.fspath(dot_file_name))


def reset() -> None:
    """Drop every node of the default cache (``torch._lazy.ir_cache.reset``)."""
    lib.ircache_reset()


def stats() -> Stats:
    """A snapshot of the default cache's counters, with per-op reuse counts."""
    return _read_stats(lib.ircache_default())

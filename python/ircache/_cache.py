"""TrieCache: a cache handle, the Python objects it holds, its statistics."""

from __future__ import annotations

import _thread
import atexit
import codecs
import gc
import itertools
import operator
import os
import sys
import threading
import traceback
import weakref
from dataclasses import dataclass
from types import FrameType
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, NoReturn, Optional, Tuple, Union

from ._errors import check, last_error, raise_for
from ._ffi import ffi, lib

Key = Union[bytes, bytearray, memoryview]
Label = Union[str, bytes]
PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class _Held:
    """The Python objects one cache holds, by the integer that is their payload.

    objects is a plain dict, so that a lookup's last step is one subscript:
    0, a miss, maps to None. An id it does not hold was replaced by another
    thread (or a C runtime) between the C lookup and that step, as the
    package takes no retain, for speed; the position has moved to the node
    all the same, and current() answers with what the node holds now.
    """

    __slots__ = ("objects", "handle", "__weakref__")

    def __init__(self) -> None:
        self.objects: Dict[int, Optional[object]] = {0: None}
        self.handle: Any = None  # set once the C handle exists

    def object_of(self, ident: int) -> Optional[object]:
        """The object a C lookup's answer stands for (see the class)."""
        try:
            return self.objects[ident]
        except KeyError:
            return self.current()

    def current(self) -> Optional[object]:
        """The object of the node this thread's position is at, or None (the
        root after a clear, or a node another runtime's object replaced)."""
        # The C side pins the payload it answers until the end, so that its
        # object cannot leave the table meanwhile. The end is safe to call
        # whether or not the beginning ran (an exception from a signal may
        # come between them).
        handle = self.handle
        try:
            return self.objects.get(_c_begin_recovery(handle))
        finally:
            _c_end_recovery(handle)
            if _raise_after:
                _raise_deferred()


# Each cache's objects live in its own table, whose number the C handle
# passes back with each release. The registry of tables holds them weakly, so
# a cache whose nodes refer back to it is an ordinary cycle the collector can
# free. Ids are never reused, so a lookup that races with a release (another
# thread or a C runtime clearing the cache) finds the object or nothing,
# never a freed one and never another one. The owner's release, called once
# per payload by the C library, is the only place objects leave a table.
_tables: Dict[int, "weakref.ref[_Held]"] = {}
_new_table_id = itertools.count(1).__next__
_new_id = itertools.count(1).__next__
_c_lookup = lib.ircpy_lookup
_c_begin_recovery = lib.ircpy_begin_recovery
_c_end_recovery = lib.ircpy_end_recovery
_c_insert = lib.ircpy_insert
_CLOSED = "operation on a closed TrieCache"


# cffi calls a handle's destructor as the handle's finalizer, and the
# collector runs every finalizer of a cycle before it breaks any reference.
# So when a cycle holds a TrieCache, other finalizers of that cycle (a
# generator's close() inside `with cache:`, a __del__ that closes the cache
# or looks up) may run after the handle's: a handle whose last reference
# goes during a collection is freed when the collection ends, or not at all
# once the interpreter is shutting down. (A finalizer that stores the cache
# somewhere, bringing it back to life, leaves it freed all the same: Python
# gives no way to tell.)
_collecting = False
_collecting_thread: Optional[int] = None
_freed_after_collection: List[int] = []


def _free_deferred_handles() -> None:
    while _freed_after_collection:
        lib.ircpy_free(ffi.cast("ircpy_cache *", _freed_after_collection.pop()))


def _on_collection(phase: str, _info: Dict[str, int]) -> None:
    global _collecting, _collecting_thread
    _collecting = phase == "start"
    _collecting_thread = _thread.get_ident() if _collecting else None
    if not _collecting:
        _free_deferred_handles()


gc.callbacks.append(_on_collection)


def _free_handle(handle: Any) -> None:
    if _collecting:
        _freed_after_collection.append(int(ffi.cast("uintptr_t", handle)))
    elif not sys.is_finalizing():
        lib.ircpy_free(handle)
    # else the interpreter's last collections, which call no gc.callbacks:
    # the process is ending, and the cache goes with it.


def _open_handle(ptr: Any, owned: bool, held: _Held) -> Any:
    """The C handle of a cache: its pointer and an owner whose releases empty
    held. An owned cache is freed with the handle, when its last reference
    goes (the TrieCache, or a lookup fetched from it), or at the end of the
    collection in which it goes (see _free_handle)."""
    table_id = _new_table_id()

    def forget_table(_ref: Any, key: int = table_id) -> None:
        _tables.pop(key, None)

    _tables[table_id] = weakref.ref(held, forget_table)
    handle = lib.ircpy_open(ptr, 1 if owned else 0, table_id)
    if handle == ffi.NULL:
        raise MemoryError("no memory for a cache handle")
    handle = ffi.gc(handle, _free_handle) if owned else handle
    held.handle = handle
    return handle


# What a signal handler raised inside a release, by thread: the frame of the
# package's call that released, and the exception, for that call to raise
# once the C call returns. Another signal's exception may end that call
# first (between the C call's return and the raise): the entry is then
# stale, and is dropped rather than raised by a later call.
_raise_after: Dict[int, Tuple[FrameType, BaseException]] = {}


class _OwedAtExit:
    """Kept in a thread's slot of _owing from its first deferred exception:
    dropped when the thread ends, it drops what the thread still owes (whose
    traceback holds the frames of a cache). No thread looks at another's."""

    __slots__ = ("ident", "owed")

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.owed = _raise_after  # not looked up as a global at exit

    def __del__(self) -> None:
        self.owed.pop(self.ident, None)


_owing = threading.local()


def _on_stack(frame: FrameType, top: Optional[FrameType]) -> bool:
    """True when frame is top or one of its callers."""
    while top is not None:
        if top is frame:
            return True
        top = top.f_back
    return False


def _raise_deferred() -> None:
    """Raises what a signal handler raised inside a release of the calling
    function's C call (see _release_raised). Called after the C calls that
    release, when _raise_after is not empty; drops this thread's entry
    instead when the call that owed it has ended."""
    ident = _thread.get_ident()
    entry = _raise_after.get(ident)
    if entry is None:
        return  # another thread's
    me = sys._getframe(1)
    if entry[0] is me:
        del _raise_after[ident]
        raise entry[1]
    if not _on_stack(entry[0], me):
        _raise_after.pop(ident, None)


def _drop_released(payload: Any, ctx: Any) -> None:
    ref = _tables.get(int(ffi.cast("intptr_t", ctx)))
    held = ref() if ref is not None else None
    if held is not None:  # None: the cache is being collected with its objects
        held.objects.pop(int(ffi.cast("intptr_t", payload)), None)


def _release_raised(exc_type: Any, exc_value: Any, tb: Any) -> None:
    """What cffi calls when a release raised: a signal handler's exception
    (KeyboardInterrupt, a SystemExit or a timeout of the program's) that
    arrived inside it, since dropping an object raises nothing else (a
    finalizer's exception is printed and ignored by Python itself). It
    cannot go on into C. The release happens all the same, or the object
    would stay for good; the exception is raised by the package's call that
    released once the C call returns. A release outside such a call (a C
    runtime's clear, a collected cache) has no Python caller to raise it in:
    the exception is printed and ignored, as Python does with a finalizer's
    (raised at some later call, it would surface far from its cause)."""
    frame = tb.tb_frame if tb is not None else None
    if frame is not None and frame.f_code is _ircpy_release.__code__:
        _drop_released(frame.f_locals["payload"], frame.f_locals["ctx"])
    caller = frame.f_back if frame is not None else None
    ident = _thread.get_ident()
    if caller is not None and caller.f_code in _CALLS_THAT_RAISE_AFTER:
        # The first one goes on, as in Python code, where it would have
        # ended the call; later ones in the same call (or in a call that a
        # release made inside it) are dropped.
        entry = _raise_after.get(ident)
        if entry is None or not _on_stack(entry[0], caller):
            _raise_after[ident] = (caller, exc_value if exc_value is not None else exc_type())
            if getattr(_owing, "owed", None) is None:
                _owing.owed = _OwedAtExit(ident)
        return
    print("Exception ignored in a release of ircache's objects:", file=sys.stderr)
    traceback.print_exception(exc_type, exc_value, tb)


@ffi.def_extern(onerror=_release_raised)
def _ircpy_release(payload: Any, ctx: Any) -> None:
    _drop_released(payload, ctx)


# Releases were stopped if an interpreter before this one exited.
lib.ircpy_start_releases()

# The default cache lives as long as the process: so do its table and handle.
_default_held = _Held()
_default_handle = _open_handle(lib.ircache_default(), False, _default_held)

# After exit starts, a C runtime may still drop our nodes: nobody to tell.
atexit.register(lib.ircpy_stop_releases)


def _finish_for_the_child() -> None:
    """In a forked child, what the parent's other threads had under way and
    will not finish here: the releases their recoveries held back (see
    _Held.current) go now; a collection of theirs ends here, with the
    handles it deferred (see _free_handle). A fork from this thread's own
    collection (a finalizer's) goes on with it. What those threads owed
    (_raise_after) nobody will raise."""
    global _collecting, _collecting_thread
    for other in [other for other in _raise_after if other != _thread.get_ident()]:
        _raise_after.pop(other, None)
    for ref in list(_tables.values()):
        held = ref()
        if held is not None and held.handle is not None:
            lib.ircpy_flush_held(held.handle)
    if _collecting and _collecting_thread != _thread.get_ident():
        _collecting, _collecting_thread = False, None
        _free_deferred_handles()


os.register_at_fork(after_in_child=_finish_for_the_child)


def _label_errors(exc: UnicodeError) -> Tuple[Union[bytes, str], int]:
    """Any str is a label: surrogates that stand for bytes (surrogateescape,
    U+DC80..U+DCFF) become those bytes, other lone surrogates their UTF-8
    form (dumps show that as U+FFFD). Decoding goes back: such a form is the
    surrogate again, other bytes that are not UTF-8 their escapes, so that
    stats().ops has the label as it was given."""
    if isinstance(exc, UnicodeEncodeError):
        out = bytearray()
        for ch in exc.object[exc.start : exc.end]:
            code = ord(ch)
            out += bytes([code - 0xDC00]) if 0xDC80 <= code <= 0xDCFF else ch.encode("utf-8", "surrogatepass")
        return bytes(out), exc.end
    if isinstance(exc, UnicodeDecodeError):
        data, at = exc.object, exc.start
        if at + 3 <= len(data) and data[at] == 0xED and 0xA0 <= data[at + 1] <= 0xBF and 0x80 <= data[at + 2] <= 0xBF:
            return bytes(data[at : at + 3]).decode("utf-8", "surrogatepass"), at + 3
        return chr(0xDC00 + data[at]), at + 1
    raise exc


codecs.register_error("ircache.label", _label_errors)


@dataclass(frozen=True)
class OpStats:
    """Counts of one op label: inserts (replacements included) and reuses."""

    inserts: int
    reused: int


class _ReadOnlyOps(Dict[str, OpStats]):
    """Stats.ops: a dict that refuses changes, so that a snapshot pickles,
    copies, hashes and goes through dataclasses.asdict as a dict does."""

    __slots__ = ()

    def _refuse(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("Stats.ops is read-only")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> Tuple[Any, Tuple[Dict[str, OpStats]]]:
        return (_ReadOnlyOps, (dict(self),))

    def __repr__(self) -> str:
        return dict.__repr__(self)


@dataclass(frozen=True)
class Stats:
    """A snapshot of a cache's counters (see ``ircache_stats`` in ircache.h).

    ``nodes`` and ``bytes`` are current values (``bytes``: memory held for
    the nodes, payloads and op labels aside; 0 after a clear), ``max_nodes``
    the bound (0: none), the rest count since the cache was created. ``ops`` maps each op
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
    """The key as something the C shim takes, and its length in bytes.

    Only exact bytes pass as they are: a subclass may define a __len__ that
    is not its size, so its bytes, as those of a bytearray or memoryview,
    are taken through the buffer protocol, which knows the size."""
    if type(key) is bytes:
        return key, len(key)
    if isinstance(key, (bytes, bytearray, memoryview)):
        try:
            buf = ffi.from_buffer("char[]", key)
        except ValueError as exc:  # a released memoryview: a bad value, as for bytes(key)
            raise ValueError(f"key: {exc}") from None
        except (TypeError, BufferError) as exc:
            raise TypeError(f"key must be a contiguous bytes-like object: {exc}") from None
        return buf, len(buf)
    raise TypeError(f"key must be bytes, bytearray or memoryview, not {type(key).__name__}")


def _label_arg(op: Label) -> bytes:
    if isinstance(op, str):
        label = op.encode("utf-8", "ircache.label")
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
    return raw.decode("utf-8", "ircache.label")


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
        ops=_ReadOnlyOps(ops),
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
    Objects stay alive exactly as long as the cache holds them (a lookup
    that another thread's replacement overtook pins the node's new object
    until it has it, and holds back releases while it asks for it). After
    :meth:`close` every method raises ValueError, as a closed file does.
    """

    def __init__(self, max_nodes: int = 0) -> None:
        self._ptr: Any = None  # None once closed: every method checks it
        self._owned = True
        self._held = _Held()
        ptr = lib.ircache_new()
        if ptr == ffi.NULL:
            raise MemoryError("no memory for a new cache")
        try:
            self._handle = _open_handle(ptr, True, self._held)
        except MemoryError:
            lib.ircache_free(ptr)
            raise
        self._ptr = ptr
        self._bind_lookup()
        self.max_nodes = max_nodes

    @classmethod
    def _default(cls) -> "TrieCache":
        self = cls.__new__(cls)
        self._ptr = lib.ircache_default()
        self._owned = False
        self._held = _default_held
        self._handle = _default_handle
        self._bind_lookup()
        return self

    def _bind_lookup(self) -> None:
        # The closure of _bound_lookup over the name lookup, for speed; not
        # over a subclass's own lookup, which self.lookup must call.
        if type(self).lookup is TrieCache.lookup:
            self.lookup, self._close_lookup = _bound_lookup(self._handle, self._held)  # type: ignore[method-assign]
        else:
            self._close_lookup = _nothing_to_close

    # -- tracing ---------------------------------------------------------

    def lookup(self, key: Key) -> Optional[object]:
        """Return the node stored under key after this thread's position.

        On a hit the position moves to that node and its object is returned;
        on a miss the position stays and None is returned. Nodes inserted by
        other runtimes sharing the cache are misses, and so is a node whose
        object another thread is replacing at that moment. A replacement
        that overtakes the lookup once it has found the node gives the
        node's new object; None with the position moved happens only when
        a clear dropped the node meanwhile (the position is then back at
        the root), another runtime's object replaced it, or memory ran out.

        Parameters
        ----------
        key : bytes, bytearray or memoryview
            Compared byte for byte; a str, or a memoryview that is not
            contiguous, is a TypeError (no implicit encoding or copy); a
            released memoryview or a key of 4 GiB or more a ValueError.
        """
        # Each instance binds a closure of the same behaviour over this name
        # (see _bound_lookup); this method is what it documents and falls back to.
        return self._held.object_of(_lookup_other(self._handle if self._ptr is not None else None, key))

    def insert(self, key: Key, node: object, op: Label = "") -> None:
        """Store node as a new successor of this thread's position and move there.

        If a successor with an equal key exists its object and op are
        replaced (the old object is released) and its hit count restarts.

        Parameters
        ----------
        key : bytes, bytearray or memoryview
            Contiguous, as for lookup.
        node : object
            Anything but None; kept alive while the cache holds it.
        op : str or bytes, optional
            The node's label in dumps and per-op statistics.

        Raises
        ------
        TypeError
            A key that is not bytes-like, a node of None, an op neither str
            nor bytes.
        ValueError
            A NUL in op, a key of 4 GiB or more, a released memoryview, or
            the cache is closed.
        IRCacheError
            The cache is disabled (``code == ircache.IRCACHE_EDISABLED``).
        MemoryError
            Out of memory; nothing was stored.
        """
        ptr = self._live()
        if node is None:
            raise TypeError("node must not be None")
        buf, size = _key_arg(key)
        label = _label_arg(op)
        ident = _new_id()
        self._held.objects[ident] = node
        code = _c_insert(self._handle, buf, size, label, ident)
        if code < 0:
            self._held.objects.pop(ident, None)
        if _raise_after:
            _raise_deferred()  # first: it came first
        if code < 0:
            raise_for(code)

    def mark_step(self) -> None:
        """Move this thread's position back to the root (the step boundary)."""
        lib.ircache_mark_step(self._live())

    def clear(self) -> None:
        """Drop every node (releasing its object); every thread goes back to the root."""
        lib.ircache_clear(self._live())
        if _raise_after:
            _raise_deferred()

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
        if isinstance(value, bool):
            raise TypeError("max_nodes must be an int, not bool")
        try:
            value = operator.index(value)  # ints, and integers such as NumPy's
        except TypeError:
            raise TypeError(f"max_nodes must be an int, not {type(value).__name__}") from None
        if value < 0 or value >= 1 << 64:
            raise ValueError(f"max_nodes must be between 0 and 2**64 - 1, not {value}")
        code = lib.ircache_set_max_nodes(self._live(), value)
        if _raise_after:
            _raise_deferred()  # first: it came first
        check(code)

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
        only this handle is closed; the cache and its nodes stay. An insert
        that another thread began before the close may still land: its
        object then stays until this TrieCache object is collected.
        """
        ptr, self._ptr = self._ptr, None
        self._close_lookup()
        if ptr is not None and self._owned:
            # A thread still inside a method holds the handle, and so the C
            # cache: clearing is safe beside it, freeing is not (the handle
            # frees the cache when its last reference goes).
            lib.ircache_clear(ptr)
            if _raise_after:
                _raise_deferred()

    def __reduce__(self) -> NoReturn:
        # A copy would share the C cache and the objects' table with the
        # original without owning them; a pickle cannot carry either.
        raise TypeError("a TrieCache cannot be copied or pickled: it owns a C cache")

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
            raise ValueError(_CLOSED)
        return ptr


def _nothing_to_close() -> None:
    pass


def _lookup_other(handle: Any, key: Key) -> int:
    """Whatever the bytes fast path refused: a closed cache (handle None,
    checked first, as a closed file does), a bytearray or memoryview, or a
    wrong type."""
    if handle is None:
        raise ValueError(_CLOSED)
    buf, size = _key_arg(key)
    ident = _c_lookup(handle, buf, size)
    if ident == _KEY_TOO_LONG:
        _refuse_key_length()
    return ident


# What the shim's lookup answers for a key longer than the library takes.
_KEY_TOO_LONG = -1
_KEY_LEN_MAX = 0xFFFFFFFF


def _refuse_key_length() -> NoReturn:
    """Raises what insert raises for such a key, with the library's message."""
    raise ValueError(last_error()) from None


def _bound_lookup(handle: Any, held: _Held) -> Tuple[Any, Callable[[], None]]:
    """A cache's lookup as a closure, and the function that closes it.

    lookup is the hot path: a closure over what it needs costs less than a
    method that fetches each from self, and a subscript of the plain dict of
    objects less than a call of its get (bench/bench_python.py). It does
    what TrieCache.lookup documents, holds the handle (so a lookup that
    outlives its TrieCache keeps the C cache alive) and not the TrieCache
    (so that dropping the cache frees it at once, not at the next
    collection). Closing empties its cell: cffi then refuses None with a
    TypeError and the fallback raises ValueError, so the fast path pays
    nothing for it.
    """
    objects = held.objects

    def lookup(key: Key) -> Optional[object]:
        # Exact bytes only: cffi would also pass a cdata array, or a bytes
        # subclass whose len() is not its size.
        if type(key) is bytes:
            try:
                return objects[_c_lookup(handle, key, len(key))]
            except TypeError:
                pass  # closed: the handle is None
            except KeyError:
                if len(key) > _KEY_LEN_MAX:  # answered _KEY_TOO_LONG
                    _refuse_key_length()
                return held.current()  # replaced meanwhile (see _Held)
        return held.object_of(_lookup_other(handle, key))

    def close() -> None:
        nonlocal handle
        handle = None

    lookup.__doc__ = TrieCache.lookup.__doc__
    return lookup, close


def default_cache() -> TrieCache:
    """A TrieCache bound to the process-wide default cache (shared with C)."""
    return TrieCache._default()


def dump(dot_file_name: PathArg) -> None:
    """Write the default cache as Graphviz DOT (``torch._lazy.ir_cache.dump``)."""
    check(lib.ircache_dump(_path_arg(dot_file_name)), os.fspath(dot_file_name))


def reset() -> None:
    """Drop every node of the default cache (``torch._lazy.ir_cache.reset``)."""
    lib.ircache_reset()
    if _raise_after:
        _raise_deferred()


def stats() -> Stats:
    """A snapshot of the default cache's counters, with per-op reuse counts."""
    return _read_stats(lib.ircache_default())


# The package's calls into C that release and then raise what a signal
# handler raised meanwhile (_raise_deferred).
_CALLS_THAT_RAISE_AFTER: FrozenSet[Any] = frozenset(
    f.__code__
    for f in (
        _Held.current,
        TrieCache.insert,
        TrieCache.clear,
        TrieCache.close,
        TrieCache.max_nodes.fset,  # type: ignore[attr-defined]
        reset,
    )
)

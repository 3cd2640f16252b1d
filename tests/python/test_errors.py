"""Errors: OSError as open() raises it, TypeError for wrong types, IRCacheError, no crash."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ircache
from ircache._ffi import ffi
from trie_support import Node, parse_dot


@pytest.fixture(params=["TrieCache.dump", "TrieCache.dump_json", "ircache.dump"])
def dumper(request, cache, default):
    """A function writing a dump of a non-empty cache to a path."""
    if request.param == "ircache.dump":
        default.insert(b"k", Node(), "default-op")
        return ircache.dump
    cache.insert(b"k", Node(), "own-op")
    return cache.dump if request.param == "TrieCache.dump" else cache.dump_json


def open_error(path):
    """The exception open(path, "w") raises (the reference for every dump error)."""
    try:
        with open(path, "w"):
            pass
    except OSError as exc:
        return exc
    raise AssertionError(f"open({path!r}, 'w') succeeded")


def assert_like_open(exc, path, expected_type, expected_errno):
    reference = open_error(path)
    assert type(reference) is expected_type and reference.errno == expected_errno  # the test's premise
    assert type(exc) is expected_type
    assert exc.errno == expected_errno
    assert exc.filename == reference.filename
    assert exc.strerror == os.strerror(expected_errno)


def listing(directory):
    return sorted(os.listdir(directory))


# -- OSError as open() raises it -----------------------------------------------------


@pytest.mark.parametrize("form", [str, os.fsencode, Path], ids=["str", "bytes", "Path"])
def test_a_missing_directory_raises_file_not_found_error_with_errno_and_filename(dumper, tmp_path, form):
    path = form(str(tmp_path / "missing" / "trie.dot"))
    with pytest.raises(FileNotFoundError) as info:
        dumper(path)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == os.fspath(path)  # the path given, as open() reports it
    assert_like_open(info.value, path, FileNotFoundError, errno.ENOENT)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("form", [str, os.fsencode, Path], ids=["str", "bytes", "Path"])
def test_a_directory_raises_is_a_directory_error(dumper, tmp_path, form):
    (tmp_path / "sub").mkdir()
    path = form(str(tmp_path / "sub"))
    with pytest.raises(IsADirectoryError) as info:
        dumper(path)
    assert info.value.filename == os.fspath(path)
    assert_like_open(info.value, path, IsADirectoryError, errno.EISDIR)
    assert listing(tmp_path) == ["sub"]  # no temporary file left beside it
    assert listing(tmp_path / "sub") == []


def test_a_path_under_a_regular_file_raises_not_a_directory_error(dumper, tmp_path):
    (tmp_path / "file").write_text("x")
    path = str(tmp_path / "file" / "trie.dot")
    with pytest.raises(NotADirectoryError) as info:
        dumper(path)
    assert_like_open(info.value, path, NotADirectoryError, errno.ENOTDIR)
    assert (tmp_path / "file").read_text() == "x"


def test_a_file_name_too_long_raises_like_open(dumper, tmp_path):
    path = str(tmp_path / ("n" * 300))
    with pytest.raises(OSError) as info:
        dumper(path)
    assert_like_open(info.value, path, OSError, errno.ENAMETOOLONG)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("path", ["", b""], ids=["str", "bytes"])
def test_an_empty_path_raises_file_not_found_error_like_open(dumper, path):
    with pytest.raises(FileNotFoundError) as info:
        dumper(path)
    assert_like_open(info.value, path, FileNotFoundError, errno.ENOENT)
    assert info.value.filename == path


@pytest.mark.parametrize("path", ["a\0b.dot", b"a\0b.dot", "\0"], ids=["str", "bytes", "only-nul"])
def test_a_path_with_a_nul_raises_value_error(dumper, tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError):
        open(path, "w")  # the premise: open() raises ValueError too
    with pytest.raises(ValueError):
        dumper(path)
    assert listing(tmp_path) == []


def test_a_full_device_raises_os_error_enospc(dumper):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(OSError) as info:
        dumper("/dev/full")
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == "/dev/full"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_an_existing_non_regular_file_is_written_directly(dumper):
    dumper("/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_fifo_is_written_directly(cache, tmp_path):
    cache.insert(b"k", Node(), "fifo-op")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        cache.dump(fifo)
    finally:
        out, _ = reader.communicate(timeout=30)
    assert [n.op for n in parse_dot(out.decode())] == ["fifo-op"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert listing(tmp_path) == ["fifo"]


# -- whole or nothing ---------------------------------------------------------------


def test_a_failed_dump_leaves_the_existing_file_unchanged_and_no_other_file(tmp_path):
    """The dump outgrows RLIMIT_FSIZE (EFBIG) in a child process; the old file must survive."""
    script = textwrap.dedent(
        """
        import json, os, resource, signal, sys
        import ircache

        directory = sys.argv[1]
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
        cache = ircache.TrieCache()
        for i in range(5000):
            cache.insert(b"key-%d" % i, object(), "a-label-long-enough-to-fill-the-file")
            cache.mark_step()
        ircache.default_cache().insert(b"k", object(), "x" * 20000)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
        results = {}
        for name, dump in [("dot", cache.dump), ("json", cache.dump_json), ("default", ircache.dump)]:
            path = os.path.join(directory, "existing." + name)
            try:
                dump(path)
                results[name] = None
            except OSError as exc:
                results[name] = [type(exc).__name__, exc.errno, exc.filename == path]
        print(json.dumps(results))
        """
    )
    old = {}
    for name in ("dot", "json", "default"):
        path = tmp_path / f"existing.{name}"
        path.write_text(f"old {name} contents\n")
        os.chmod(path, 0o640)
        old[name] = path.read_bytes()
    before = listing(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    failures = json.loads(result.stdout)
    for name in ("dot", "json", "default"):
        assert failures[name] == ["OSError", errno.EFBIG, True], name
        path = tmp_path / f"existing.{name}"
        assert path.read_bytes() == old[name]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert listing(tmp_path) == before


def test_a_new_dump_file_gets_mode_0666_less_the_umask(cache, tmp_path):
    for umask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        old = os.umask(umask)
        try:
            path = tmp_path / f"umask-{umask:o}.dot"
            cache.dump(path)
        finally:
            os.umask(old)
        assert stat.S_IMODE(os.stat(path).st_mode) == mode


# -- paths that are not UTF-8 ------------------------------------------------------


def test_a_non_utf8_bytes_path_works(cache, tmp_path):
    cache.insert(b"k", Node(), "op")
    path = os.fsencode(str(tmp_path)) + b"/\xff\xfe-trie.dot"
    assert cache.dump(path) is None
    assert os.listdir(os.fsencode(str(tmp_path))) == [b"\xff\xfe-trie.dot"]
    with open(path, encoding="utf-8") as f:
        assert [n.op for n in parse_dot(f.read())] == ["op"]
    cache.dump_json(path)
    with open(path, encoding="utf-8") as f:
        assert json.load(f)["format"] == "ircache-trie"


def test_a_str_path_with_surrogate_escapes_names_the_same_file(default, tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/\xff.dot"
    ircache.dump(os.fsdecode(raw))
    assert os.path.exists(raw)


def test_a_non_utf8_bytes_path_in_a_missing_directory_reports_that_path(cache, tmp_path):
    path = os.fsencode(str(tmp_path)) + b"/\xff-missing/trie.dot"
    with pytest.raises(FileNotFoundError) as info:
        cache.dump(path)
    assert info.value.filename == path


# -- wrong types --------------------------------------------------------------------

NOT_PATHS = [3, None, 1.5, [b"x"], bytearray(b"x.dot"), object()]


@pytest.mark.parametrize("path", NOT_PATHS, ids=repr)
def test_dump_of_something_that_is_not_a_path_raises_type_error(dumper, path):
    with pytest.raises(TypeError):
        dumper(path)


def test_wrong_types_everywhere_raise_type_error(cache):
    calls = {
        "lookup(str)": lambda: cache.lookup("k"),
        "lookup(int)": lambda: cache.lookup(7),
        "lookup(None)": lambda: cache.lookup(None),
        "lookup(cdata char[])": lambda: cache.lookup(ffi.new("char[]", b"k")),
        "lookup(cdata int[])": lambda: cache.lookup(ffi.new("int[]", 4)),
        "insert(cdata char[])": lambda: cache.insert(ffi.new("char[]", b"k"), Node()),
        "insert(str key)": lambda: cache.insert("k", Node()),
        "insert(int key)": lambda: cache.insert(7, Node()),
        "insert(None node)": lambda: cache.insert(b"k", None),
        "insert(int op)": lambda: cache.insert(b"k", Node(), 7),
        "max_nodes = 1.5": lambda: setattr(cache, "max_nodes", 1.5),
        "max_nodes = '3'": lambda: setattr(cache, "max_nodes", "3"),
        "TrieCache('3')": lambda: ircache.TrieCache(max_nodes="3"),
        "TrieCache(1.5)": lambda: ircache.TrieCache(max_nodes=1.5),
        "ircache.dump(None)": lambda: ircache.dump(None),
        "dump(1)": lambda: cache.dump(1),
        "dump_json(None)": lambda: cache.dump_json(None),
    }
    wrong = {}
    for name, call in calls.items():
        try:
            call()
        except TypeError:
            continue
        except Exception as exc:  # noqa: BLE001 - reported below
            wrong[name] = repr(exc)
        else:
            wrong[name] = "no exception"
    assert wrong == {}
    assert cache.stats().nodes == 0


class LyingLength(bytes):
    """A bytes subclass whose len() is not its size."""

    def __init__(self, value: bytes, length: int) -> None:
        self.length = length

    def __new__(cls, value: bytes, length: int) -> "LyingLength":
        return super().__new__(cls, value)

    def __len__(self) -> int:
        return self.length


@pytest.mark.parametrize("length", [0, 1, 64, 1 << 30])
def test_a_key_is_its_bytes_whatever_its_len_says(cache, length):
    key = LyingLength(b"key", length)
    node = Node()
    cache.insert(key, node)
    cache.mark_step()
    assert cache.lookup(b"key") is node
    cache.mark_step()
    assert cache.lookup(key) is node
    cache.mark_step()
    assert cache.lookup(memoryview(key)) is node
    assert cache.stats().nodes == 1


def test_a_key_over_4_gib_is_a_value_error_for_lookup_as_for_insert(cache, tmp_path):
    """The library refuses such a key; lookup used to answer None, a miss, where
    insert raised. Sparse and mapped read-only: it costs no memory."""
    import mmap

    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        f.truncate((1 << 32) + 1)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mapped:
        key = memoryview(mapped)
        try:
            with pytest.raises(ValueError, match="keys must be shorter than 4 GiB"):
                cache.insert(key, Node())
            with pytest.raises(ValueError, match="keys must be shorter than 4 GiB"):
                cache.lookup(key)
        finally:
            key.release()
    cache.insert(b"k", Node())  # usable, and nothing was stored before
    assert cache.stats().nodes == 1


def test_copying_or_pickling_a_cache_is_a_type_error(cache):
    import copy
    import pickle

    cache.insert(b"k", Node())
    for attempt in (lambda: copy.copy(cache), lambda: copy.deepcopy(cache), lambda: pickle.dumps(cache)):
        with pytest.raises(TypeError, match="cannot be copied"):
            attempt()
    cache.mark_step()
    assert cache.lookup(b"k") is not None


def test_max_nodes_takes_any_integer_type(cache):
    class Count:
        def __index__(self) -> int:
            return 3

    cache.max_nodes = Count()
    assert cache.max_nodes == 3
    with pytest.raises(TypeError):
        cache.max_nodes = True


def test_the_error_codes_are_exported_and_match_ircache_error_code(cache):
    assert (ircache.IRCACHE_EINVAL, ircache.IRCACHE_ENOMEM, ircache.IRCACHE_EIO, ircache.IRCACHE_EDISABLED) == (
        -1,
        -2,
        -3,
        -4,
    )
    cache.enabled = False
    with pytest.raises(ircache.IRCacheError) as raised:
        cache.insert(b"k", Node())
    assert raised.value.code == ircache.IRCACHE_EDISABLED


def test_missing_arguments_raise_type_error(cache):
    with pytest.raises(TypeError):
        cache.lookup()
    with pytest.raises(TypeError):
        cache.insert(b"k")
    with pytest.raises(TypeError):
        cache.dump()
    with pytest.raises(TypeError):
        ircache.dump()


# -- IRCacheError --------------------------------------------------------------------

IRCACHE_EDISABLED = -4  # fixed forever by ircache.h


def test_an_insert_into_a_disabled_cache_raises_ircache_error_with_the_code(cache):
    cache.enabled = False
    with pytest.raises(ircache.IRCacheError) as info:
        cache.insert(b"k", Node())
    assert info.value.code == IRCACHE_EDISABLED
    assert "disabled" in str(info.value)
    assert cache.stats().nodes == 0


def test_an_insert_into_the_disabled_default_cache_raises_ircache_error(default):
    default.enabled = False
    with pytest.raises(ircache.IRCacheError) as info:
        ircache.default_cache().insert(b"k", Node())
    assert info.value.code == IRCACHE_EDISABLED
    assert ircache.stats().nodes == 0


def test_ircache_error_is_not_mistaken_for_a_builtin_error():
    assert not issubclass(ircache.IRCacheError, (OSError, ValueError, TypeError, MemoryError))


# -- nothing crashes -----------------------------------------------------------------

NASTY = """
import array, gc, os, sys, threading
import ircache

def attempt(call):
    try:
        call()
    except Exception:
        pass

class Evil:
    def __eq__(self, other): raise RuntimeError("eq")
    def __hash__(self): raise RuntimeError("hash")
    def __del__(self): raise RuntimeError("del")

class BadPath:
    def __fspath__(self): raise RuntimeError("fspath")

class WrongPath:
    def __fspath__(self): return 42

closed = ircache.TrieCache()
closed.close()
live = ircache.TrieCache(max_nodes=3)
released = memoryview(b"abc")
released.release()
default = ircache.default_cache()
directory = sys.argv[1]

keys = [b"", b"k", "str", 5, None, 1.5, [b"a"], (b"a",), [300], [None], Evil(), released,
        memoryview(b"abcdef")[::2], array.array("d", [1.5]), memoryview(array.array("q", [1, 2]))[::-1],
        bytearray(b"x" * 100000), b"\\0" * 64, 2**100]
ops = ["", "op", b"op", "\\0", b"\\0", "\\ud800", 5, None, Evil(), "\\x01\\x7f\\n\\"\\\\", "x" * 100000]
paths = ["", b"", "\\0", b"x\\0", None, 5, BadPath(), WrongPath(), "/", "/dev/full", "/dev/null",
         "/nonexistent/dir/x.dot", os.path.join(directory, "n" * 5000), os.path.join(directory, "ok.dot"),
         os.path.join(directory, b"\\xff".decode("latin-1"))]
for c in (closed, live, default):
    for key in keys:
        attempt(lambda: c.lookup(key))
        for op in ops:
            attempt(lambda: c.insert(key, Evil(), op))
        attempt(lambda: c.insert(key, None))
        attempt(c.mark_step)
    for path in paths:
        attempt(lambda: c.dump(path))
        attempt(lambda: c.dump_json(path))
        attempt(lambda: ircache.dump(path))
    for bound in (-1, 0, 1, 2**64 - 1, 2**64, 2**200, 1.5, None, "3", True):
        attempt(lambda: setattr(c, "max_nodes", bound))
        attempt(lambda: ircache.TrieCache(max_nodes=bound))
    for flag in (0, 1, None, Evil(), "yes"):
        attempt(lambda: setattr(c, "enabled", flag))
    attempt(lambda: setattr(c, "enabled", True))
    attempt(c.stats)
    attempt(c.clear)
    attempt(c.close)
    attempt(c.close)
attempt(ircache.reset)
attempt(lambda: ircache.stats().ops)
for bad in (None, "x", 1, [], object()):
    attempt(lambda: ircache.reset(bad))
    attempt(lambda: ircache.stats(bad))
    attempt(lambda: ircache.default_cache(bad))
gc.collect()
default = ircache.default_cache()
default.max_nodes = 0
print("survived")
"""


def test_nothing_crashes_the_interpreter_whatever_is_passed(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", NASTY, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-3000:]}"
    assert result.stdout.strip() == "survived"


OUT_OF_MEMORY = r"""
import resource, ircache
cache = ircache.TrieCache()
keys = [bytes([i]) * (1 << 20) for i in range(64)]  # built before the limit
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
with open("/proc/self/status") as status:
    size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + 16 * (1 << 20), hard))
error = None
try:
    for key in keys:
        cache.insert(key, object(), "big")
        cache.mark_step()
except MemoryError as exc:
    error = exc
finally:
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
assert error is not None, "no MemoryError"
assert "out of memory" in str(error), error  # ircache's, not the interpreter's
stored = cache.stats().nodes
assert 0 < stored < len(keys), stored
cache.insert(b"after", "fine", "op")  # still usable, nothing half-done
cache.mark_step()
assert cache.lookup(b"after") == "fine"
assert cache.stats().nodes == stored + 1
print("ok", stored)
"""


@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="a sanitizer's allocator reserves the address space")
def test_out_of_memory_is_a_memory_error_and_the_cache_stays_usable():
    out = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")

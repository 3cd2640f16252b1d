"""The top level, on the default cache: dump, reset, stats, default_cache, versions."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ircache
from trie_support import Node, assert_pre_order, escape_dot_label, parse_dot

STAT_FIELDS = ("nodes", "bytes", "hits", "misses", "inserts", "forks", "evictions", "clears", "max_nodes")


class FsPath:
    """A minimal os.PathLike that is not a pathlib.Path."""

    def __init__(self, path):
        self._path = path

    def __fspath__(self):
        return self._path


def fill(handle, paths):
    """Trace each path (a list of (key, op)) as one step through handle; returns the nodes made."""
    made = {}
    for path in paths:
        for key, op in path:
            if handle.lookup(key) is None:
                made[key] = Node(key, op)
                handle.insert(key, made[key], op)
        handle.mark_step()
    return made


# -- ircache.dump ----------------------------------------------------------------


@pytest.mark.parametrize("as_path", [str, Path, FsPath, os.fsencode], ids=["str", "Path", "PathLike", "bytes"])
def test_dump_writes_the_default_cache_in_pytorch_layout(default, tmp_path, as_path):
    fill(default, [[(b"x", "aten::mm"), (b"y", "aten::relu")], [(b"x", "aten::mm"), (b"z", "aten::add")]])
    target = tmp_path / "trie.dot"
    assert ircache.dump(as_path(str(target))) is None
    text = target.read_text(encoding="utf-8")
    assert text.startswith("digraph G {\n") and text.endswith("}\n")
    nodes = parse_dot(text)
    assert_pre_order(nodes)
    by_op = {n.op: n for n in nodes}
    assert set(by_op) == {"aten::mm", "aten::relu", "aten::add"}
    assert by_op["aten::mm"].parent == 0 and by_op["aten::mm"].hits == 1
    assert by_op["aten::relu"].parent == by_op["aten::mm"].id and by_op["aten::relu"].hits == 0
    assert by_op["aten::add"].parent == by_op["aten::mm"].id
    # Most recently used first: add was inserted after relu.
    assert [n.op for n in nodes] == ["aten::mm", "aten::add", "aten::relu"]
    # Ids in creation order.
    assert by_op["aten::mm"].id < by_op["aten::relu"].id < by_op["aten::add"].id


def test_dump_of_an_empty_default_cache_is_an_empty_graph(default, tmp_path):
    ircache.dump(tmp_path / "empty.dot")
    assert (tmp_path / "empty.dot").read_text() == "digraph G {\n}\n"


def test_dump_shows_what_the_default_cache_handle_inserted_and_nothing_of_an_own_cache(default, tmp_path):
    with ircache.TrieCache() as own:
        own.insert(b"own", Node(), "own-cache-op")
        default.insert(b"k", Node(), "default-op")
        ircache.dump(tmp_path / "d.dot")
    assert [n.op for n in parse_dot((tmp_path / "d.dot").read_text())] == ["default-op"]


def test_dump_escapes_labels(default, tmp_path):
    op = 'a"b\\c\nd\te'
    default.insert(b"k", Node(), op)
    ircache.dump(tmp_path / "d.dot")
    [node] = parse_dot((tmp_path / "d.dot").read_text(encoding="utf-8"))
    assert node.op == escape_dot_label(op)


# -- ircache.reset ---------------------------------------------------------------


def test_reset_returns_none_and_empties_the_default_cache(default, tmp_path):
    fill(default, [[(b"a", "A"), (b"b", "B")]])
    before = ircache.stats()
    assert before.nodes == 2
    assert ircache.reset() is None
    after = ircache.stats()
    assert after.nodes == 0
    assert before.bytes > 0
    assert after.bytes == 0  # memory for nodes; the labels A and B stay for the op stats
    assert after.clears == before.clears + 1
    assert default.lookup(b"a") is None
    ircache.dump(tmp_path / "d.dot")
    assert parse_dot((tmp_path / "d.dot").read_text()) == []


def test_reset_moves_the_position_back_to_the_root(default):
    a = Node(b"a")
    default.insert(b"x", Node())  # the position is at x
    ircache.reset()
    default.insert(b"a", a)  # so a goes under the root
    default.mark_step()
    assert default.lookup(b"a") is a


# -- ircache.stats -----------------------------------------------------------------


def test_stats_has_every_counter_as_an_int(default):
    s = ircache.stats()
    assert isinstance(s, ircache.Stats)
    for name in STAT_FIELDS:
        value = getattr(s, name)
        assert isinstance(value, int) and value >= 0, name


@pytest.mark.parametrize("name", STAT_FIELDS + ("ops",))
def test_stats_is_immutable(default, name):
    s = ircache.stats()
    with pytest.raises(AttributeError):
        setattr(s, name, 12345)
    with pytest.raises(AttributeError):
        delattr(s, name)
    assert getattr(s, name) != 12345


def test_stats_ops_cannot_be_changed(default):
    default.insert(b"k", Node(), "aten::mm")
    s = ircache.stats()
    with pytest.raises(TypeError):
        s.ops["aten::mm"] = ircache.OpStats(0, 0)
    with pytest.raises(TypeError):
        del s.ops["aten::mm"]
    with pytest.raises(AttributeError):
        s.ops["aten::mm"].reused = 99


def test_stats_ops_refuse_every_change(default):
    default.insert(b"k", Node(), "aten::mm")
    ops = ircache.stats().ops
    before = dict(ops)
    changes = [
        lambda: ops.clear(),
        lambda: ops.pop("aten::mm"),
        lambda: ops.popitem(),
        lambda: ops.setdefault("new", ircache.OpStats(0, 0)),
        lambda: ops.update({"new": ircache.OpStats(0, 0)}),
    ]
    for change in changes:
        with pytest.raises(TypeError):
            change()
    with pytest.raises(TypeError):
        ops |= {"new": ircache.OpStats(0, 0)}
    assert dict(ops) == before


def test_stats_pickle_copy_hash_and_convert_as_plain_data(default):
    # As a training script logs them (dataclasses.asdict, json), sends them
    # between processes (pickle) or keeps them (copy, a set of snapshots).
    default.insert(b"k", Node(), "aten::mm")
    default.mark_step()
    assert default.lookup(b"k") is not None
    s = ircache.stats()
    for copied in (pickle.loads(pickle.dumps(s)), copy.copy(s), copy.deepcopy(s)):
        assert copied == s
        assert copied.ops["aten::mm"] == s.ops["aten::mm"]
        with pytest.raises(TypeError):
            copied.ops["x"] = ircache.OpStats(0, 0)
    assert hash(s) == hash(pickle.loads(pickle.dumps(s)))
    assert len({s, copy.deepcopy(s)}) == 1
    plain = dataclasses.asdict(s)
    assert plain["hits"] == s.hits
    assert plain["ops"]["aten::mm"] == {"inserts": s.ops["aten::mm"].inserts, "reused": s.ops["aten::mm"].reused}
    assert json.loads(json.dumps(plain)) == plain


def test_stats_is_a_snapshot_that_does_not_change_later(default):
    s = ircache.stats()
    snapshot = [getattr(s, name) for name in STAT_FIELDS]
    default.insert(b"k", Node(), "later")
    default.mark_step()
    default.lookup(b"k")
    assert [getattr(s, name) for name in STAT_FIELDS] == snapshot
    assert "later" not in s.ops


def test_stats_count_what_goes_through_the_default_cache(default):
    before = ircache.stats()
    fill(default, [[(b"a", "A"), (b"b", "B")], [(b"a", "A"), (b"c", "C")], [(b"a", "A"), (b"b", "B")]])
    after = ircache.stats()
    assert after.nodes == 3
    assert after.inserts - before.inserts == 3
    assert after.hits - before.hits == 3  # a and a, b on the later steps
    assert after.misses - before.misses == 3  # a, b, c on their first step
    assert after.forks - before.forks == 1  # c beside b
    assert after.evictions == before.evictions
    assert after.bytes > 0
    assert after.max_nodes == 0


def test_stats_per_op_counts_inserts_and_reuse(default):
    before = ircache.stats().ops
    fill(default, [[(b"a", "py-test-A"), (b"b", "py-test-B")]] * 3)
    ops = ircache.stats().ops
    assert isinstance(ops["py-test-A"], ircache.OpStats)
    for label in ("py-test-A", "py-test-B"):
        old = before.get(label, ircache.OpStats(0, 0))
        assert ops[label].inserts - old.inserts == 1
        assert ops[label].reused - old.reused == 2


def test_stats_reports_the_default_caches_bound(default):
    default.max_nodes = 123
    assert ircache.stats().max_nodes == 123


def test_hit_rate_is_hits_over_lookups():
    s = ircache.Stats(0, 0, 3, 1, 0, 0, 0, 0, 0, {})
    assert s.hit_rate == 0.75
    assert ircache.Stats(0, 0, 0, 0, 0, 0, 0, 0, 0, {}).hit_rate == 0.0


# -- ircache.default_cache -----------------------------------------------------------


def test_default_cache_is_a_trie_cache_bound_to_the_default_cache(default):
    handle = ircache.default_cache()
    assert isinstance(handle, ircache.TrieCache)
    node = Node()
    handle.insert(b"k", node)
    handle.mark_step()
    assert ircache.stats().nodes == 1
    assert default.lookup(b"k") is node  # another handle, the same cache
    assert handle.stats() == ircache.stats()


def test_closing_a_default_cache_handle_keeps_the_default_cache_and_its_nodes(default):
    node = Node()
    handle = ircache.default_cache()
    handle.insert(b"k", node)
    handle.mark_step()
    handle.close()
    assert handle.closed
    with pytest.raises(ValueError):
        handle.lookup(b"k")
    assert ircache.stats().nodes == 1
    assert default.lookup(b"k") is node
    assert ircache.default_cache().lookup(b"k") is None  # this thread is past k now


def test_leaving_a_with_block_on_the_default_cache_keeps_its_nodes(default):
    with ircache.default_cache() as handle:
        handle.insert(b"k", Node())
    assert handle.closed
    assert ircache.stats().nodes == 1


def test_a_garbage_collected_default_cache_handle_keeps_the_default_cache_and_its_objects(default):
    import gc
    import weakref

    handle = ircache.default_cache()
    node = Node()
    ref = weakref.ref(node)
    handle.insert(b"k", node)
    handle.mark_step()
    del handle, node
    gc.collect()
    assert ircache.stats().nodes == 1
    assert ref() is not None
    assert default.lookup(b"k") is ref()


# -- versions and names -------------------------------------------------------------

VERSION = re.compile(r"\d+\.\d+\.\d+")


def test_version_strings():
    assert isinstance(ircache.__version__, str)
    assert isinstance(ircache.__c_version__, str)
    assert VERSION.match(ircache.__version__), ircache.__version__
    assert VERSION.fullmatch(ircache.__c_version__), ircache.__c_version__


def test_the_loaded_library_has_the_packages_major_version():
    assert ircache.__c_version__.split(".")[0] == ircache.__version__.split(".")[0]


def test_the_public_names_are_exported():
    for name in ("dump", "reset", "stats", "default_cache", "TrieCache", "Stats", "OpStats", "IRCacheError"):
        assert name in ircache.__all__
        assert hasattr(ircache, name)
    assert issubclass(ircache.IRCacheError, Exception)


SUBINTERPRETER_IMPORT = """
import ircache
interpreters = None
for name in ("_interpreters", "_xxsubinterpreters"):
    try:
        interpreters = __import__(name)
        break
    except ImportError:
        pass
if interpreters is None:
    print("no subinterpreters")
    raise SystemExit(0)
cache = ircache.TrieCache()
cache.insert(b"main", object())
# A legacy interpreter where the Python has both kinds: an isolated one
# refuses any single-phase extension before the package can.
for make in (lambda: interpreters.create(isolated=False), lambda: interpreters.create("legacy"), interpreters.create):
    try:
        sub = make()
        break
    except (TypeError, ValueError):
        continue
try:  # a failure raises here, or (newer Pythons) comes back as the result
    failure = interpreters.run_string(sub, "import ircache")
    message = "" if failure is None else repr(failure)
except Exception as exc:
    message = str(exc)
print("refused" if "only be imported in the main interpreter" in message else "not refused: " + message)
interpreters.destroy(sub)
cache.mark_step()
print(cache.lookup(b"main") is not None)
"""


def test_a_subinterpreter_cannot_import_the_package():
    # The extension's C side (its release callback into Python, the objects'
    # tables) belongs to one interpreter: a second one's clear would drop the
    # first one's objects.
    result = subprocess.run(
        [sys.executable, "-c", SUBINTERPRETER_IMPORT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    if result.stdout == "no subinterpreters\n":
        pytest.skip("this Python has no subinterpreters to try")
    assert result.stdout.split("\n")[:2] == ["refused", "True"]

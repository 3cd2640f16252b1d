"""TrieCache: lookup/insert/mark_step/clear, keys, labels, bounds, dumps, close."""

from __future__ import annotations

import array
import json
import threading

import pytest

import ircache
from trie_support import Node, assert_pre_order, escape_dot_label, parse_dot


def trace(cache, keys):
    """Trace one step as a runtime does; returns the node of every op and how many were reused."""
    nodes, reused = [], 0
    for key in keys:
        node = cache.lookup(key)
        if node is None:
            node = Node(key)
            cache.insert(key, node, key.decode("latin-1").encode("unicode_escape").decode())
        else:
            reused += 1
        nodes.append(node)
    cache.mark_step()
    return nodes, reused


def dot_of(cache, tmp_path, name="trie.dot"):
    path = tmp_path / name
    cache.dump(path)
    return parse_dot(path.read_text(encoding="utf-8"))


# -- PyTorch's trie-cache cases -------------------------------------------------


def test_single_path_is_built_once_and_reused_as_the_same_objects(cache):
    built, reused = trace(cache, [b"a", b"b", b"c"])
    assert reused == 0
    for _ in range(3):
        again, reused = trace(cache, [b"a", b"b", b"c"])
        assert reused == 3
        assert all(x is y for x, y in zip(again, built))
    s = cache.stats()
    assert (s.nodes, s.inserts, s.hits, s.misses, s.forks) == (3, 3, 9, 3, 0)


def test_two_paths_fork_after_the_common_prefix_and_both_are_reused(cache):
    first, _ = trace(cache, [b"a", b"b", b"c"])
    second, reused = trace(cache, [b"a", b"b", b"d"])
    assert reused == 2
    assert second[0] is first[0] and second[1] is first[1] and second[2] is not first[2]
    s = cache.stats()
    assert (s.nodes, s.forks) == (4, 1)
    assert [cache.lookup(k) for k in (b"a", b"b", b"c")] == first
    cache.mark_step()
    assert [cache.lookup(k) for k in (b"a", b"b", b"d")] == second


def test_a_miss_keeps_the_position(cache):
    a, b = Node(b"a"), Node(b"b")
    cache.insert(b"a", a)
    cache.insert(b"b", b)
    cache.mark_step()
    assert cache.lookup(b"a") is a
    assert cache.lookup(b"nope") is None
    assert cache.lookup(b"also-nope") is None
    assert cache.lookup(b"b") is b  # still after a
    assert cache.stats().misses == 2


def test_keys_are_looked_up_among_the_successors_of_the_position_only(cache):
    a, b = Node(b"a"), Node(b"b")
    cache.insert(b"a", a)
    cache.insert(b"b", b)
    cache.mark_step()
    assert cache.lookup(b"b") is None  # b is under a, not under the root
    assert cache.lookup(b"a") is a
    assert cache.lookup(b"a") is None  # no a under a


def test_insert_moves_the_position_to_the_new_node(cache, tmp_path):
    cache.insert(b"a", Node(b"a"), "A")
    cache.insert(b"b", Node(b"b"), "B")
    nodes = dot_of(cache, tmp_path)
    assert [(n.op, n.parent) for n in nodes] == [("A", 0), ("B", nodes[0].id)]


def test_mark_step_moves_back_to_the_root(cache):
    a = Node(b"a")
    cache.insert(b"a", a)
    cache.mark_step()
    cache.mark_step()  # twice in a row is fine
    assert cache.lookup(b"a") is a


def test_replacing_a_node_keeps_its_id_and_successors_and_restarts_its_hits(cache, tmp_path):
    old, child, new = Node(b"a"), Node(b"b"), Node(b"a")
    cache.insert(b"a", old, "old")
    cache.insert(b"b", child, "child")
    cache.mark_step()
    assert cache.lookup(b"a") is old
    cache.mark_step()
    before = {n.op: n for n in dot_of(cache, tmp_path, "before.dot")}
    assert before["old"].hits == 1

    cache.insert(b"a", new, "new")  # an equal key under the root: replacement
    after = {n.op: n for n in dot_of(cache, tmp_path, "after.dot")}
    assert set(after) == {"new", "child"}
    assert after["new"].id == before["old"].id
    assert after["new"].hits == 0
    assert after["child"].parent == after["new"].id

    assert cache.lookup(b"b") is child  # the position moved to the replaced node
    cache.mark_step()
    assert cache.lookup(b"a") is new
    s = cache.stats()
    assert (s.nodes, s.inserts, s.forks) == (2, 3, 0)


def test_stats_of_a_new_cache_are_zero(cache):
    s = cache.stats()
    assert (s.nodes, s.hits, s.misses, s.inserts, s.forks, s.evictions, s.clears, s.max_nodes) == (0,) * 8
    assert dict(s.ops) == {}
    assert s.hit_rate == 0.0


def test_stats_count_reuse_and_inserts_per_op_label(cache):
    cache.insert(b"x", Node(), "aten::mm")
    cache.insert(b"y", Node(), "aten::relu")
    cache.insert(b"z", Node(), "aten::mm")
    cache.mark_step()
    for _ in range(2):
        assert cache.lookup(b"x") is not None
        assert cache.lookup(b"y") is not None
        cache.mark_step()
    ops = cache.stats().ops
    assert list(ops) == ["aten::mm", "aten::relu"]  # in the order first seen
    assert (ops["aten::mm"].inserts, ops["aten::mm"].reused) == (2, 2)
    assert (ops["aten::relu"].inserts, ops["aten::relu"].reused) == (1, 2)


def test_threads_have_their_own_positions_in_a_shared_trie(cache):
    a, b = Node(b"a"), Node(b"b")
    cache.insert(b"a", a)  # the main thread now stands at a
    seen = {}

    def other():
        seen["root"] = cache.lookup(b"a")  # this thread starts at the root
        cache.insert(b"b", b)  # under a, seen from this thread's position

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen["root"] is a
    assert cache.lookup(b"b") is b  # the main thread is still at a


# -- clear -------------------------------------------------------------------------


def test_clear_drops_every_node_and_goes_back_to_the_root(cache):
    trace(cache, [b"a", b"b"])
    cache.insert(b"a", Node())  # position at a
    cache.clear()
    s = cache.stats()
    assert (s.nodes, s.clears) == (0, 1)
    assert cache.lookup(b"a") is None
    c = Node(b"c")
    cache.insert(b"c", c)
    cache.mark_step()
    assert cache.lookup(b"c") is c  # c went under the root


def test_ids_keep_counting_after_clear(cache, tmp_path):
    trace(cache, [b"a", b"b", b"c"])
    first = {n.id for n in dot_of(cache, tmp_path, "1.dot")}
    cache.clear()
    trace(cache, [b"a", b"b", b"c"])
    second = {n.id for n in dot_of(cache, tmp_path, "2.dot")}
    assert len(first) == len(second) == 3
    assert min(second) > max(first)


def test_ids_count_from_one_in_creation_order(cache, tmp_path):
    trace(cache, [b"a", b"b", b"c"])
    trace(cache, [b"a", b"d"])
    trace(cache, [b"e"])
    by_op = {n.op: n.id for n in dot_of(cache, tmp_path)}
    assert by_op == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}


# -- keys --------------------------------------------------------------------------

KEY_FORMS = [bytes, bytearray, memoryview, lambda b: memoryview(bytearray(b"..." + b + b"..."))[3:-3]]


@pytest.mark.parametrize("insert_form", KEY_FORMS, ids=["bytes", "bytearray", "memoryview", "slice"])
@pytest.mark.parametrize("lookup_form", KEY_FORMS, ids=["bytes", "bytearray", "memoryview", "slice"])
def test_bytes_like_keys_with_equal_bytes_are_the_same_key(cache, insert_form, lookup_form):
    node = Node()
    cache.insert(insert_form(b"k\x00\xff"), node)
    cache.mark_step()
    assert cache.lookup(lookup_form(b"k\x00\xff")) is node
    cache.mark_step()
    assert cache.lookup(lookup_form(b"k\x00")) is None
    cache.insert(insert_form(b"k\x00\xff"), Node())  # an equal key: replacement
    assert cache.stats().nodes == 1


def test_a_memoryview_key_is_its_bytes_whatever_its_item_format(cache):
    ints = array.array("i", [1, 2, 3])
    node = Node()
    cache.insert(memoryview(ints), node)
    cache.mark_step()
    assert cache.lookup(ints.tobytes()) is node


def test_the_empty_key_is_a_key(cache):
    node = Node()
    cache.insert(b"", node)
    cache.mark_step()
    assert cache.lookup(b"") is node
    assert cache.lookup(bytearray()) is None  # no empty key under that node


def test_keys_are_copied_at_insert(cache):
    key = bytearray(b"abc")
    node = Node()
    cache.insert(key, node)
    key[0] = ord("x")
    cache.mark_step()
    assert cache.lookup(b"abc") is node


def test_a_long_key_works(cache):
    key = bytes(range(256)) * 4096  # 1 MiB
    node = Node()
    cache.insert(key, node)
    cache.mark_step()
    assert cache.lookup(bytearray(key)) is node
    cache.mark_step()
    assert cache.lookup(key[:-1]) is None


BAD_KEYS = [
    pytest.param("a", id="str"),
    pytest.param("", id="empty-str"),
    pytest.param(1, id="int"),
    pytest.param(None, id="None"),
    pytest.param(1.5, id="float"),
    pytest.param(object(), id="object"),
    pytest.param([b"a"], id="list-of-bytes"),
    pytest.param((b"a",), id="tuple-of-bytes"),
    pytest.param([97], id="list-of-ints"),
    pytest.param(memoryview(b"abcdef")[::2], id="non-contiguous-memoryview"),
]


# cffi would turn a list or tuple of 1-byte bytes into a char array if the
# lookup fast path took its key as a `const char *`.
BAD_LOOKUP_KEYS = BAD_KEYS


@pytest.mark.parametrize("key", BAD_LOOKUP_KEYS)
def test_lookup_of_a_key_that_is_not_bytes_like_raises_type_error(cache, key):
    cache.insert(b"a", Node())
    cache.mark_step()
    with pytest.raises(TypeError):
        cache.lookup(key)
    assert cache.stats().hits == 0


@pytest.mark.parametrize("key", BAD_KEYS)
def test_insert_of_a_key_that_is_not_bytes_like_raises_type_error(cache, key):
    with pytest.raises(TypeError):
        cache.insert(key, Node())
    assert cache.stats().nodes == 0


def test_a_released_memoryview_key_is_a_value_error_as_for_bytes(cache):
    # The type is right; its buffer is gone: what bytes(key) raises.
    key = memoryview(b"abc")
    key.release()
    with pytest.raises(ValueError, match="released memoryview"):
        bytes(key)
    with pytest.raises(ValueError, match="released memoryview"):
        cache.insert(key, Node())
    with pytest.raises(ValueError, match="released memoryview"):
        cache.lookup(key)
    assert cache.stats().nodes == 0


def test_a_node_of_none_raises_type_error_and_stores_nothing(cache):
    with pytest.raises(TypeError):
        cache.insert(b"a", None)
    s = cache.stats()
    assert (s.nodes, s.inserts) == (0, 0)


@pytest.mark.parametrize("node", [0, "", b"", (), False, 3.5, Node])
def test_any_object_but_none_is_a_node(cache, node):
    cache.insert(b"a", node)
    cache.mark_step()
    assert cache.lookup(b"a") is node


# -- op labels ---------------------------------------------------------------------

UNICODE_OPS = [
    "aten::mm", "", "é", "日本語", "🙂 emoji", "tab\there", 'q"uote', "back\\slash", "new\nline",
    "nel\x85line", "line\u2028para\u2029sep", "c1\x80\x9b[0m", "nbsp\xa0",
]


@pytest.mark.parametrize("op", UNICODE_OPS)
def test_a_str_op_is_the_label_in_stats_and_dump(cache, tmp_path, op):
    cache.insert(b"k", Node(), op)
    assert list(cache.stats().ops) == [op]
    [node] = dot_of(cache, tmp_path)
    assert node.op == escape_dot_label(op)


def test_no_label_ends_a_line_of_the_dump_for_any_reader(cache, tmp_path):
    """str.splitlines() also ends lines at U+0085, U+2028, U+2029 and at the C0
    separators: a dump of such labels still has one line per node and edge."""
    ops = ["a\x85b", "c\u2028d", "e\u2029f", "g\x1ch\x1di\x1ej", "k\rl\x0bm\x0cn"]
    for i, op in enumerate(ops):
        cache.mark_step()
        cache.insert(bytes([i]), Node(), op)
    path = tmp_path / "lines.dot"
    cache.dump(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 + 2 * len(ops)
    assert [n.op for n in sorted(parse_dot("\n".join(lines) + "\n"), key=lambda n: n.id)] == [
        escape_dot_label(op) for op in ops
    ]




@pytest.mark.parametrize(
    "op",
    [
        "\ud800",
        "lone \udfff surrogate",
        "\udcff",
    ],
)
def test_a_str_op_with_lone_surrogates_is_accepted(cache, tmp_path, op):
    cache.insert(b"k", Node(), op)
    assert cache.stats().nodes == 1
    assert list(cache.stats().ops) == [op]  # the label as it was given
    [node] = dot_of(cache, tmp_path)
    assert node.op.isprintable() or node.op == ""


def test_a_bytes_op_that_is_not_utf8_is_its_escapes_in_stats(cache):
    cache.insert(b"k1", Node(), b"bad\xff")
    cache.insert(b"k2", Node(), b"cut \xed\xa0")
    assert sorted(cache.stats().ops) == ["bad\udcff", "cut \udced\udca0"]
    cache.insert(b"k3", Node(), "bad\udcff")  # the same label, given as str
    assert cache.stats().ops["bad\udcff"].inserts == 2


def test_a_bytes_op_is_the_label_and_invalid_utf8_dumps_as_replacement_characters(cache, tmp_path):
    cache.insert(b"k1", Node(), b"aten::mm")
    cache.insert(b"k2", Node(), b"bad\xff\xfeutf8")
    labels = [n.op for n in dot_of(cache, tmp_path)]
    assert labels == ["aten::mm", escape_dot_label(b"bad\xff\xfeutf8")]
    assert "\ufffd" in labels[1]


def test_a_str_op_and_its_utf8_bytes_are_one_label(cache):
    cache.insert(b"k1", Node(), "日本")
    cache.insert(b"k2", Node(), "日本".encode())
    assert {k: v.inserts for k, v in cache.stats().ops.items()} == {"日本": 2}


def test_the_op_defaults_to_an_empty_label(cache, tmp_path):
    cache.insert(b"k", Node())
    [node] = dot_of(cache, tmp_path)
    assert node.op == ""


@pytest.mark.parametrize("op", ["a\0b", "\0", b"a\0", b"\0"])
def test_an_op_containing_nul_raises_value_error_and_stores_nothing(cache, op):
    with pytest.raises(ValueError):
        cache.insert(b"k", Node(), op)
    assert cache.stats().nodes == 0


@pytest.mark.parametrize("op", [5, 1.5, None, object(), bytearray(b"x")], ids=repr)
def test_an_op_that_is_not_str_or_bytes_raises_type_error(cache, op):
    with pytest.raises(TypeError):
        cache.insert(b"k", Node(), op)
    assert cache.stats().nodes == 0


def test_control_characters_in_labels_are_escaped_in_the_dot_dump(cache, tmp_path):
    op = 'a"b\\c\nd\te\x01f\x7f'
    cache.insert(b"k", Node(), op)
    [node] = dot_of(cache, tmp_path)
    assert node.op == 'a\\"b\\\\c\\nd\u2409e\u2401f\u2421'


# -- max_nodes and eviction ------------------------------------------------------


def test_max_nodes_defaults_to_unbounded(cache):
    assert cache.max_nodes == 0
    for i in range(100):
        cache.insert(b"%d" % i, Node())
        cache.mark_step()
    assert cache.stats().nodes == 100
    assert cache.stats().evictions == 0


def test_max_nodes_given_to_the_constructor_is_the_bound():
    with ircache.TrieCache(max_nodes=3) as c:
        assert c.max_nodes == 3
        assert c.stats().max_nodes == 3


def test_max_nodes_can_be_set_and_read_back(cache):
    cache.max_nodes = 7
    assert cache.max_nodes == 7
    cache.max_nodes = 2**64 - 1
    assert cache.max_nodes == 2**64 - 1
    cache.max_nodes = 0
    assert cache.max_nodes == 0


def test_an_insert_that_crosses_the_bound_evicts_the_least_recently_used_leaf():
    with ircache.TrieCache(max_nodes=3) as c:
        nodes = {k: Node(k) for k in (b"a", b"b", b"c", b"d")}
        for k in (b"a", b"b", b"c"):
            c.insert(k, nodes[k])
            c.mark_step()
        assert c.lookup(b"a") is nodes[b"a"]  # a is now the most recently used
        c.mark_step()
        c.insert(b"d", nodes[b"d"])  # four nodes: b, used least recently, goes
        c.mark_step()
        s = c.stats()
        assert (s.nodes, s.evictions) == (3, 1)
        assert c.lookup(b"b") is None
        for k in (b"a", b"c", b"d"):
            assert c.lookup(k) is nodes[k]
            c.mark_step()


def test_lowering_max_nodes_evicts_at_once(cache):
    for i in range(10):
        cache.insert(b"%d" % i, Node())
        cache.mark_step()
    cache.max_nodes = 4
    s = cache.stats()
    assert (s.nodes, s.evictions) == (4, 6)
    survivors = []
    for i in range(10):
        if cache.lookup(b"%d" % i) is not None:
            survivors.append(i)
        cache.mark_step()
    assert survivors == [6, 7, 8, 9]  # the four used last


def test_eviction_takes_leaves_only_and_never_the_node_the_position_is_at(cache):
    cache.insert(b"a", Node())
    cache.insert(b"b", Node())
    cache.insert(b"c", Node())  # a -> b -> c, the position at c
    cache.max_nodes = 1
    # c is the only leaf and the position is there: nothing can go.
    assert cache.stats().nodes == 3
    cache.mark_step()
    cache.max_nodes = 1  # now c, then b (a leaf once c is gone) go
    s = cache.stats()
    assert (s.nodes, s.evictions) == (1, 2)
    assert cache.lookup(b"a") is not None


def test_max_nodes_rejects_values_out_of_range(cache):
    for bad in (-1, 2**64, -(2**70)):
        with pytest.raises(ValueError):
            cache.max_nodes = bad
    assert cache.max_nodes == 0


@pytest.mark.parametrize("bad", [1.0, "3", None, True, [3]], ids=repr)
def test_max_nodes_of_a_wrong_type_raises_type_error(cache, bad):
    with pytest.raises(TypeError):
        cache.max_nodes = bad
    assert cache.max_nodes == 0




@pytest.mark.parametrize(
    "bad",
    [1.0, "3", True, [3], None, 0.0],
    ids=repr,
)
def test_the_constructor_rejects_a_max_nodes_of_a_wrong_type(bad):
    with pytest.raises(TypeError):
        ircache.TrieCache(max_nodes=bad)


def test_the_constructor_rejects_a_negative_max_nodes():
    with pytest.raises(ValueError):
        ircache.TrieCache(max_nodes=-1)


# -- enabled -----------------------------------------------------------------------


def test_a_new_cache_is_enabled(cache):
    assert cache.enabled is True


def test_a_disabled_cache_misses_without_counting_or_moving_and_refuses_inserts(cache):
    a, b = Node(b"a"), Node(b"b")
    cache.insert(b"a", a)
    cache.insert(b"b", b)
    cache.mark_step()
    assert cache.lookup(b"a") is a
    cache.enabled = False
    assert cache.enabled is False
    assert cache.lookup(b"b") is None
    with pytest.raises(ircache.IRCacheError):
        cache.insert(b"c", Node())
    s = cache.stats()
    assert (s.nodes, s.hits, s.misses, s.inserts) == (2, 1, 0, 2)
    cache.enabled = True
    assert cache.lookup(b"b") is b  # the position stayed at a, the nodes were kept


# -- dumps -------------------------------------------------------------------------


def test_the_dot_dump_of_an_empty_cache_is_an_empty_graph(cache, tmp_path):
    path = tmp_path / "empty.dot"
    assert cache.dump(path) is None
    assert path.read_text() == "digraph G {\n}\n"


def test_the_dot_dump_is_pre_order_with_hit_counts(cache, tmp_path):
    trace(cache, [b"a", b"b", b"c"])
    trace(cache, [b"a", b"b", b"d"])
    trace(cache, [b"e"])
    trace(cache, [b"a", b"b", b"c"])
    nodes = dot_of(cache, tmp_path)
    assert_pre_order(nodes)
    by_op = {n.op: n for n in nodes}
    assert {op: n.hits for op, n in by_op.items()} == {"a": 2, "b": 2, "c": 1, "d": 0, "e": 0}
    assert by_op["b"].parent == by_op["a"].id
    assert by_op["c"].parent == by_op["d"].parent == by_op["b"].id
    assert by_op["e"].parent == 0


def test_the_dot_dump_writes_most_recently_used_successors_first(cache, tmp_path):
    trace(cache, [b"a"])
    trace(cache, [b"b"])
    trace(cache, [b"c"])
    assert [n.op for n in dot_of(cache, tmp_path, "1.dot")] == ["c", "b", "a"]
    trace(cache, [b"a"])  # a hit moves a to the front
    assert [n.op for n in dot_of(cache, tmp_path, "2.dot")] == ["a", "c", "b"]
    cache.insert(b"b", Node(), "b2")  # so does a replacement
    assert [n.op for n in dot_of(cache, tmp_path, "3.dot")] == ["b2", "a", "c"]


def test_the_dot_dump_is_accepted_by_graphviz(cache, tmp_path):
    import shutil
    import subprocess

    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("Graphviz dot is not installed")
    trace(cache, [b"a", b"b"])
    cache.insert(b"x", Node(), 'we"ird\\ \n\t\x01 \xff label'.encode("latin-1"))
    path = tmp_path / "t.dot"
    cache.dump(path)
    subprocess.run([dot, "-Tsvg", "-o", str(tmp_path / "t.svg"), str(path)], check=True)


def test_the_json_dump_is_valid_json_consistent_with_the_dot_dump(cache, tmp_path):
    trace(cache, [b"a", b"b\x00\xff", b"c"])
    trace(cache, [b"a", b"d"])
    cache.insert(b"e", Node(), 'q"uote\n\xff'.encode("latin-1"))
    assert cache.dump_json(tmp_path / "t.json") is None
    with open(tmp_path / "t.json", encoding="utf-8") as f:
        doc = json.load(f)
    dot = dot_of(cache, tmp_path)
    assert doc["format"] == "ircache-trie"
    assert doc["version"] == 1
    root, *nodes = doc["nodes"]
    assert root == {"id": 0, "parent": None, "op": None, "hits": 0, "key": ""}
    assert [(n["id"], n["parent"], n["hits"]) for n in nodes] == [(d.id, d.parent, d.hits) for d in dot]
    assert [escape_dot_label(n["op"]) for n in nodes] == [d.op for d in dot]
    keys = {n["op"]: bytes.fromhex(n["key"]) for n in nodes}
    assert keys == {
        "a": b"a",
        "b\\x00\\xff": b"b\x00\xff",
        "c": b"c",
        "d": b"d",
        'q"uote\n\ufffd': b"e",
    }


def test_the_json_dump_writes_keys_as_lowercase_hex(cache, tmp_path):
    cache.insert(b"\x00\xab\xff", Node(), "k")
    cache.dump_json(tmp_path / "t.json")
    with open(tmp_path / "t.json", encoding="utf-8") as f:
        [_, node] = json.load(f)["nodes"]
    assert node["key"] == "00abff"


def test_a_dump_replaces_an_existing_file(cache, tmp_path):
    path = tmp_path / "t.dot"
    path.write_text("old contents that are longer than the new dump " * 10)
    cache.dump(path)
    assert path.read_text() == "digraph G {\n}\n"


# -- close and the context manager -----------------------------------------------


def test_close_is_idempotent(cache):
    assert cache.closed is False
    cache.close()
    cache.close()
    assert cache.closed is True


CLOSED_CALLS = {
    "lookup": lambda c, p: c.lookup(b"a"),
    "lookup-empty-key": lambda c, p: c.lookup(b""),
    "lookup-bytearray": lambda c, p: c.lookup(bytearray(b"a")),
    "insert": lambda c, p: c.insert(b"a", Node()),
    "mark_step": lambda c, p: c.mark_step(),
    "clear": lambda c, p: c.clear(),
    "dump": lambda c, p: c.dump(p / "x.dot"),
    "dump_json": lambda c, p: c.dump_json(p / "x.json"),
    "stats": lambda c, p: c.stats(),
    "max_nodes-get": lambda c, p: c.max_nodes,
    "max_nodes-set": lambda c, p: setattr(c, "max_nodes", 3),
    "enabled-get": lambda c, p: c.enabled,
    "enabled-set": lambda c, p: setattr(c, "enabled", False),
    "enter": lambda c, p: c.__enter__(),
}


@pytest.mark.parametrize("call", CLOSED_CALLS.values(), ids=CLOSED_CALLS.keys())
def test_every_method_of_a_closed_cache_raises_value_error(tmp_path, call):
    c = ircache.TrieCache()
    c.insert(b"a", Node())
    c.close()
    with pytest.raises(ValueError):
        call(c, tmp_path)
    assert not (tmp_path / "x.dot").exists() and not (tmp_path / "x.json").exists()


def test_a_lookup_fetched_before_close_raises_value_error_after_close():
    c = ircache.TrieCache()
    c.insert(b"a", Node())
    c.mark_step()
    lookup = c.lookup  # as a tracing loop binds it for speed
    c.close()
    with pytest.raises(ValueError):
        lookup(b"a")
    with pytest.raises(ValueError):
        lookup(bytearray(b"a"))


def test_repr_of_open_and_closed_caches_does_not_raise():
    c = ircache.TrieCache()
    assert "TrieCache" in repr(c)
    c.close()
    assert "closed" in repr(c)


def test_the_context_manager_returns_the_cache_and_closes_it():
    with ircache.TrieCache() as c:
        assert isinstance(c, ircache.TrieCache)
        c.insert(b"a", Node())
    assert c.closed
    with pytest.raises(ValueError):
        c.lookup(b"a")


def test_the_context_manager_closes_the_cache_when_the_body_raises():
    with pytest.raises(KeyError):
        with ircache.TrieCache() as c:
            raise KeyError("boom")
    assert c.closed


def test_caches_are_independent():
    with ircache.TrieCache() as one, ircache.TrieCache() as two:
        a = Node()
        one.insert(b"a", a)
        one.mark_step()
        assert two.lookup(b"a") is None
        assert one.lookup(b"a") is a
        two.clear()
        one.mark_step()
        assert one.lookup(b"a") is a


def test_a_subclass_may_override_lookup():
    class CountingCache(ircache.TrieCache):
        def __init__(self):
            super().__init__()
            self.lookups = 0

        def lookup(self, key):
            self.lookups += 1
            return super().lookup(key)

    with CountingCache() as cache:
        a = Node()
        cache.insert(b"a", a)
        cache.mark_step()
        assert cache.lookup(b"a") is a
        assert cache.lookup(b"b") is None
        assert cache.lookups == 2
        assert cache.stats().hits == 1
    with pytest.raises(ValueError):
        cache.lookup(b"a")
    assert cache.lookups == 3

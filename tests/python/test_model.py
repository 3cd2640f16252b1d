"""A stateful property test: TrieCache against a small pure-Python model of the trie.

The model is written from include/ircache.h alone:

- every thread has a position (here: one thread); lookup looks among the
  successors of the position for the exact key; a hit counts on the node,
  moves the position there and returns its object; a miss keeps the position;
- insert adds a successor of the position and moves there; an equal key
  replaces the object and label of the existing node instead (same id,
  successors kept, hits back to 0, an insert but not a fork); an insert under
  a position that already has a successor is a fork;
- ids count from 1 in creation order and are never reused, not even after a
  clear; mark_step and clear move the position to the root;
- past max_nodes (0: unbounded) the least recently used leaf (oldest last hit
  or insert) is evicted, again and again, never the node the position is at,
  in the insert that leaves the cache past the bound and at once when the
  bound is set;
- while disabled, lookups return None without counting or moving and inserts
  fail with IRCacheError, changing nothing;
- the DOT dump is pre-order, successors most recently used first, labels
  "OP, N hits"; per-op stats count inserts and hits by label, labels in the
  order first seen.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from typing import Dict, List, Optional

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import ircache
from trie_support import DotNode, Node, escape_dot_label, render_dot

KEYS = [b"", b"a", b"b", b"ab", b"\x00", b"\xff\xfe"]
KEY_FORMS = {"bytes": bytes, "bytearray": bytearray, "memoryview": memoryview}
OPS = ["aten::mm", "aten::add", "", 'q"uote\\', "日本"]


class ModelNode:
    __slots__ = ("id", "parent", "key", "op", "obj", "hits", "stamp", "children")

    def __init__(self, id: int, parent: Optional["ModelNode"], key: bytes, op: Optional[str], obj: object) -> None:
        self.id = id
        self.parent = parent
        self.key = key
        self.op = op
        self.obj = obj
        self.hits = 0
        self.stamp = 0  # the time of the last hit or insert
        self.children: Dict[bytes, ModelNode] = {}


class TrieModel:
    """The trie as ircache.h describes it, for one thread."""

    def __init__(self) -> None:
        self.root = ModelNode(0, None, b"", None, None)
        self.position = self.root
        self.next_id = 1
        self.clock = 0
        self.max_nodes = 0
        self.enabled = True
        self.nodes = self.hits = self.misses = self.inserts = 0
        self.forks = self.evictions = self.clears = 0
        self.ops: Dict[str, List[int]] = {}  # label -> [inserts, reused], in first-seen order

    def _use(self, node: ModelNode) -> None:
        self.clock += 1
        node.stamp = self.clock
        self.position = node

    def lookup(self, key: bytes) -> object:
        if not self.enabled:
            return None
        node = self.position.children.get(key)
        if node is None:
            self.misses += 1
            return None
        node.hits += 1
        self.hits += 1
        self.ops[node.op][1] += 1
        self._use(node)
        return node.obj

    def insert(self, key: bytes, obj: object, op: str) -> List[object]:
        """Returns the objects the cache drops (a replaced one, evicted ones)."""
        assert self.enabled
        parent = self.position
        node = parent.children.get(key)
        dropped = []
        if node is not None:
            dropped.append(node.obj)
            node.obj, node.op, node.hits = obj, op, 0
        else:
            if parent.children:
                self.forks += 1
            node = ModelNode(self.next_id, parent, key, op, obj)
            self.next_id += 1
            parent.children[key] = node
            self.nodes += 1
        self.inserts += 1
        self.ops.setdefault(op, [0, 0])[0] += 1
        self._use(node)
        return dropped + self._evict()

    def mark_step(self) -> None:
        self.position = self.root

    def clear(self) -> List[object]:
        dropped = []
        for node in self.pre_order():
            dropped.append(node.obj)
            node.obj, node.parent, node.children = None, None, {}  # no cycles: freed at once
        self.root.children = {}
        self.position = self.root
        self.nodes = 0
        self.clears += 1
        return dropped

    def set_max_nodes(self, bound: int) -> List[object]:
        self.max_nodes = bound
        return self._evict()

    def _evict(self) -> List[object]:
        dropped = []
        while self.max_nodes and self.nodes > self.max_nodes:
            leaves = [n for n in self.pre_order() if not n.children and n is not self.position]
            if not leaves:
                break  # every leaf is pinned: the count stays above the bound
            victim = min(leaves, key=lambda n: n.stamp)
            del victim.parent.children[victim.key]
            victim.parent = None
            self.nodes -= 1
            self.evictions += 1
            dropped.append(victim.obj)
        return dropped

    def pre_order(self) -> List[ModelNode]:
        """Every node but the root, in dump order."""
        out, stack = [], [self.root]
        while stack:
            node = stack.pop()
            if node is not self.root:
                out.append(node)
            # Least recently used pushed first, so the most recent comes out first.
            stack.extend(sorted(node.children.values(), key=lambda n: n.stamp))
        return out

    def dot(self) -> str:
        return render_dot([DotNode(n.parent.id, n.id, escape_dot_label(n.op), n.hits) for n in self.pre_order()])


class TrieCacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cache = ircache.TrieCache()
        self.model = TrieModel()
        self.directory = tempfile.mkdtemp(prefix="ircache-model-")
        self.released: List[weakref.ref] = []  # objects the cache has dropped, by the model

    def _dropped(self, objects: List[object]) -> None:
        self.released.extend(weakref.ref(o) for o in objects)

    def _lookup(self, key: bytes, form: str) -> object:
        got = self.cache.lookup(KEY_FORMS[form](key))
        expected = self.model.lookup(key)
        assert got is expected
        return got

    def _insert(self, key: bytes, form: str, op: str) -> None:
        node = Node(key, op)
        if not self.model.enabled:
            with pytest.raises(ircache.IRCacheError):
                self.cache.insert(KEY_FORMS[form](key), node, op)
            return
        self.cache.insert(KEY_FORMS[form](key), node, op)
        self._dropped(self.model.insert(key, node, op))

    @rule(key=st.sampled_from(KEYS), form=st.sampled_from(sorted(KEY_FORMS)))
    def lookup(self, key: bytes, form: str) -> None:
        self._lookup(key, form)

    @rule(key=st.sampled_from(KEYS), form=st.sampled_from(sorted(KEY_FORMS)), op=st.sampled_from(OPS))
    def insert(self, key: bytes, form: str, op: str) -> None:
        self._insert(key, form, op)

    @rule(ops=st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(OPS)), min_size=1, max_size=3))
    def trace_step(self, ops) -> None:
        """What a runtime does: reuse or build each op, then mark the step (grows branches fast)."""
        for key, op in ops:
            if self._lookup(key, "bytes") is None:
                self._insert(key, "bytes", op)
        self.mark_step()

    @rule()
    def mark_step(self) -> None:
        self.cache.mark_step()
        self.model.mark_step()

    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self._dropped(self.model.clear())

    @rule(bound=st.integers(min_value=0, max_value=6))
    def set_max_nodes(self, bound: int) -> None:
        self.cache.max_nodes = bound
        self._dropped(self.model.set_max_nodes(bound))

    @rule(enabled=st.booleans())
    def set_enabled(self, enabled: bool) -> None:
        self.cache.enabled = enabled
        self.model.enabled = enabled

    @precondition(lambda self: self.model.nodes > 0)
    @rule()
    def json_dump_matches_the_model(self) -> None:
        path = os.path.join(self.directory, "trie.json")
        self.cache.dump_json(path)
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        expected = [{"id": 0, "parent": None, "op": None, "hits": 0, "key": ""}] + [
            {"id": n.id, "parent": n.parent.id, "op": n.op, "hits": n.hits, "key": n.key.hex()}
            for n in self.model.pre_order()
        ]
        assert doc == {"format": "ircache-trie", "version": 1, "nodes": expected}

    @invariant()
    def dropped_objects_are_freed(self) -> None:
        assert [r() for r in self.released if r() is not None] == []

    @invariant()
    def stats_match_the_model(self) -> None:
        s, m = self.cache.stats(), self.model
        names = ("nodes", "hits", "misses", "inserts", "forks", "evictions", "clears", "max_nodes")
        assert {n: getattr(s, n) for n in names} == {n: getattr(m, n) for n in names}
        assert [(op, v.inserts, v.reused) for op, v in s.ops.items()] == [(op, *v) for op, v in m.ops.items()]
        assert self.cache.max_nodes == m.max_nodes
        assert self.cache.enabled is m.enabled

    @invariant()
    def dot_dump_matches_the_model(self) -> None:
        path = os.path.join(self.directory, "trie.dot")
        self.cache.dump(path)
        with open(path, encoding="utf-8") as f:
            assert f.read() == self.model.dot()

    def teardown(self) -> None:
        self.cache.close()
        shutil.rmtree(self.directory, ignore_errors=True)


TrieCacheMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_trie_cache_matches_the_model = TrieCacheMachine.TestCase


def test_the_model_reproduces_pytorchs_two_paths_case():
    """The model itself, on a case worked out by hand from the contract."""
    m = TrieModel()
    a, b, c, d = (object() for _ in range(4))
    for key, obj in ((b"a", a), (b"b", b), (b"c", c)):
        assert m.lookup(key) is None
        m.insert(key, obj, key.decode())
    m.mark_step()
    assert m.lookup(b"a") is a and m.lookup(b"b") is b
    assert m.lookup(b"d") is None
    m.insert(b"d", d, "d")
    m.mark_step()
    assert (m.nodes, m.hits, m.misses, m.inserts, m.forks) == (4, 2, 4, 4, 1)
    assert m.dot() == (
        "digraph G {\n"
        "0 -> 1\n1[label=\"a, 1 hits\"]\n"
        "1 -> 2\n2[label=\"b, 1 hits\"]\n"
        "2 -> 4\n4[label=\"d, 0 hits\"]\n"
        "2 -> 3\n3[label=\"c, 0 hits\"]\n"
        "}\n"
    )
    m.set_max_nodes(3)  # c is the least recently used leaf (the position is at the root)
    assert [n.key for n in m.pre_order()] == [b"a", b"b", b"d"]
    assert m.evictions == 1

"""Helpers for the Python tests: a node type, and the dump formats of ircache.h.

Everything here is derived from the contract in include/ircache.h, never from
the library's output:

DOT (PyTorch's layout)::

    digraph G {
    PARENT -> CHILD
    CHILD[label="OP, N hits"]
    ...
    }

JSON::

    {"format": "ircache-trie", "version": 1, "nodes": [
      {"id": 0, "parent": null, "op": null, "hits": 0, "key": ""}, ...]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Union


class Node:
    """A stand-in for a runtime's IR node: weakly referenceable, remembers its key."""

    __slots__ = ("key", "name", "__weakref__")

    def __init__(self, key: Union[bytes, bytearray, memoryview] = b"", name: str = "") -> None:
        self.key = bytes(key)
        self.name = name

    def __repr__(self) -> str:
        return f"Node({self.key!r}, {self.name!r})"


@dataclass(frozen=True)
class DotNode:
    """One node of a DOT dump: its edge line and its label line."""

    parent: int
    id: int
    op: str  # the label as written in the file (escaped)
    hits: int


_EDGE = re.compile(r"(\d+) -> (\d+)")
_LABEL = re.compile(r'(\d+)\[label="(.*), (\d+) hits"\]')


def parse_dot(text: str) -> List[DotNode]:
    """The nodes of a DOT dump in file order; AssertionError if the layout is not PyTorch's."""
    lines = text.split("\n")
    assert lines[0] == "digraph G {", f"first line: {lines[0]!r}"
    assert lines[-1] == "", "the file must end with a newline"
    assert lines[-2] == "}", f"last line: {lines[-2]!r}"
    body = lines[1:-2]
    assert len(body) % 2 == 0, "every node has an edge line and a label line"
    nodes = []
    for edge_line, label_line in zip(body[0::2], body[1::2]):
        edge = _EDGE.fullmatch(edge_line)
        label = _LABEL.fullmatch(label_line)
        assert edge is not None, f"not an edge line: {edge_line!r}"
        assert label is not None, f"not a label line: {label_line!r}"
        assert edge.group(2) == label.group(1), "the label follows its node's edge"
        nodes.append(DotNode(int(edge.group(1)), int(edge.group(2)), label.group(2), int(label.group(3))))
    return nodes


def render_dot(nodes: List[DotNode]) -> str:
    """The DOT text of nodes given in dump order, labels already escaped."""
    out = ["digraph G {\n"]
    for n in nodes:
        out.append(f"{n.parent} -> {n.id}\n")
        out.append(f'{n.id}[label="{n.op}, {n.hits} hits"]\n')
    out.append("}\n")
    return "".join(out)


def escape_dot_label(label: Union[str, bytes]) -> str:
    """A label as ircache.h says a DOT dump writes it.

    Quote and backslash are escaped, a newline and the line breaks U+0085,
    U+2028, U+2029 are written as \\n, other C0 controls and DEL as their
    Unicode control pictures (U+2400..), other C1 controls and invalid UTF-8
    as U+FFFD.
    """
    if isinstance(label, str):
        label = label.encode("utf-8", "surrogateescape")
    text = label.decode("utf-8", "replace")
    out = []
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\n\x85\u2028\u2029":
            out.append("\\n")
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("\u2421")
        elif 0x80 <= code <= 0x9F:
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def assert_pre_order(nodes: List[DotNode]) -> None:
    """Nodes come in pre-order: each one's parent is on the path to the node before it."""
    path = [0]  # the root, then the ancestors of the last node written, and that node
    seen = {0}
    for n in nodes:
        assert n.id not in seen, f"node {n.id} written twice"
        while path and path[-1] != n.parent:
            path.pop()
        assert path, f"node {n.id} is not under the path of the node before it (parent {n.parent})"
        path.append(n.id)
        seen.add(n.id)


def known_bug(reason: str):
    """Marks a test of the contract that the package fails today (see the reason).

    Strict: once the package is fixed the test passes, the run reports XPASS as
    a failure, and the mark must go.
    """
    import pytest

    return pytest.mark.xfail(strict=True, reason=f"package bug: {reason}")

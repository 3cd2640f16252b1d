"""Fixtures shared by the Python tests of ircache.

The default cache is process-wide (shared with every C runtime in the
process), so a test that uses it asks for the ``default`` fixture: the cache
is reset, enabled and unbounded before the test and reset (and its settings
restored) after it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

import ircache

# The helper module beside this file (trie_support.py) imports as a plain
# module whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def cache() -> Iterator[ircache.TrieCache]:
    """A fresh, unbounded TrieCache, closed after the test."""
    with ircache.TrieCache() as c:
        yield c


@pytest.fixture
def default() -> Iterator[ircache.TrieCache]:
    """A handle on the default cache, emptied, enabled and unbounded; reset again afterwards."""
    handle = ircache.default_cache()
    was_enabled, bound = handle.enabled, handle.max_nodes
    handle.enabled = True
    handle.max_nodes = 0
    ircache.reset()
    try:
        yield handle
    finally:
        ircache.reset()
        restore = ircache.default_cache()
        restore.enabled = was_enabled
        restore.max_nodes = bound
        restore.close()
        handle.close()

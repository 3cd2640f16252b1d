"""``python -m ircache demo``: training steps traced through the default cache.

A runtime records every tensor op as an IR node. Here each op of a small
MLP's training step (forward, backward, SGD update) gets a key made of its op
name, its operands' positions and its shape; the first step builds every
node, later steps reuse them, and a step with another batch size forks off
new nodes where the shapes differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

from ._cache import TrieCache, default_cache, dump, stats


@dataclass(frozen=True)
class IrNode:
    """What a runtime would build on a miss (here: only its op and shape)."""

    op: str
    shape: Tuple[int, ...]


Op = Tuple[bytes, str, Tuple[int, ...]]


def training_step(batch: int, hidden: int = 64, features: int = 32) -> List[Op]:
    """The ops of one MLP training step, as (key, op name, shape)."""
    ops: List[Op] = []

    def op(name: str, shape: Tuple[int, ...], *operands: int) -> int:
        key = f"{name}|{','.join(map(str, operands))}|{'x'.join(map(str, shape))}".encode()
        ops.append((key, name, shape))
        return len(ops) - 1

    # Parameters first: their shapes do not depend on the batch, so a step
    # with another batch size still reuses them and forks at the input.
    w1 = op("lazy_tensors::device_data", (features, hidden))
    w2 = op("lazy_tensors::device_data", (hidden, 1))
    x = op("lazy_tensors::device_data", (batch, features))
    h = op("aten::relu", (batch, hidden), op("aten::mm", (batch, hidden), x, w1))
    y = op("aten::mm", (batch, 1), h, w2)
    target = op("lazy_tensors::device_data", (batch, 1))
    loss = op("aten::mean", (), op("aten::pow", (batch, 1), op("aten::sub", (batch, 1), y, target)))
    grad_y = op("aten::mul", (batch, 1), op("aten::sub", (batch, 1), y, target), loss)
    grad_w2 = op("aten::mm", (hidden, 1), h, grad_y)
    grad_h = op("aten::threshold_backward", (batch, hidden), op("aten::mm", (batch, hidden), grad_y, w2), h)
    grad_w1 = op("aten::mm", (features, hidden), x, grad_h)
    lr = op("lazy_tensors::device_data", ())
    op("aten::sub", (hidden, 1), w2, op("aten::mul", (hidden, 1), grad_w2, lr))
    op("aten::sub", (features, hidden), w1, op("aten::mul", (features, hidden), grad_w1, lr))
    return ops


def trace(cache: TrieCache, ops: List[Op]) -> int:
    """Traces one step as a lazy runtime does; returns how many ops were reused."""
    reused = 0
    for key, name, shape in ops:
        if cache.lookup(key) is not None:
            reused += 1
        else:
            cache.insert(key, IrNode(name, shape), name)
    cache.mark_step()
    return reused


def run(out: str, steps: int = 6) -> int:
    cache = default_cache()
    print(f"Tracing {steps} training steps through the default cache")
    for step in range(steps):
        batch = 16 if step != 3 else 8  # one step with a smaller last batch
        ops = training_step(batch)
        reused = trace(cache, ops)
        print(f"  step {step}: batch {batch:2d}, {len(ops)} ops, {reused:2d} reused ({reused / len(ops):4.0%})")
    s = stats()
    print(
        f"nodes {s.nodes}, hits {s.hits}, misses {s.misses}, hit rate {s.hit_rate:.0%}, "
        f"inserts {s.inserts}, forks {s.forks}, {s.bytes} bytes held"
    )
    busiest = sorted(s.ops.items(), key=lambda item: -item[1].reused)[:3]
    print("most reused ops: " + ", ".join(f"{name} x{op.reused}" for name, op in busiest))
    dump(out)
    print(f"wrote {out} (render it with: dot -Tsvg {out} -o trie.svg)")
    return 0

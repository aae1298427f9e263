"""Helpers shared by the benchmarks: random DAGs, timing, a table printer."""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Sequence
from typing import Any


def random_dag(n: int, seed: int, max_deps: int = 3) -> list[list[int]]:
    """Node i depends on 0..max_deps distinct earlier nodes, chosen at random."""
    rng = random.Random(seed)
    return [rng.sample(range(i), rng.randint(0, min(max_deps, i))) for i in range(n)]


def critical_path(deps: Sequence[Sequence[int]], cost: Sequence[float]) -> float:
    """The longest sum of costs along a dependency chain (deps point to lower indexes)."""
    finish: list[float] = []
    for i, row in enumerate(deps):
        finish.append(cost[i] + max((finish[d] for d in row), default=0.0))
    return max(finish, default=0.0)


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls, each after a full collection and gc.freeze()."""
    best = float("inf")
    out = None
    for _ in range(repeat):
        gc.collect()
        gc.freeze()
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
        gc.unfreeze()
    return best, out


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pasted as is into the README)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)

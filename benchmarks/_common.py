"""Helpers shared by the benchmarks: random DAGs, timing, a table printer."""

from __future__ import annotations

import gc
import random
import statistics
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


def taking_turns(fns: Sequence[Callable[[], Any]], turns: int = 5) -> list[list[float]]:
    """Wall times of each of ``fns`` in each of ``turns`` rounds, the engines taking
    turns within a round (so that a slow minute of the machine slows them all
    alike); each call after a full collection and gc.freeze(). Compare them by
    the median, over the rounds, of the ratio within a round (``median_ratio``)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(turns):
        for fn, mine in zip(fns, times, strict=True):
            gc.collect()
            gc.freeze()
            start = time.perf_counter()
            fn()
            mine.append(time.perf_counter() - start)
            gc.unfreeze()
    return times


def median_ratio(these: Sequence[float], baseline: Sequence[float]) -> float:
    """The median over rounds of ``these[i] / baseline[i]`` (``taking_turns``)."""
    return statistics.median(a / b for a, b in zip(these, baseline, strict=True))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pasted as is into benchmarks/README.md)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)

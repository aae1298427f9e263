"""Makespan against the critical path, eager vs level-by-level.

    python -m benchmarks.makespan [--seed 0] [--sizes 200 2000]

1. Random DAGs (fixed seed): node i depends on 0-3 earlier nodes and sleeps a
   random 5-40 ms. Reports makespan / critical path for graphflow with its
   defaults (asyncio and trio), with the first floor's default cap of 64, and
   for a level-by-level baseline written here: run every ready node with
   asyncio.gather, wait for all of them, repeat.
2. A "wave trap": two chains whose long and short steps alternate, so each level
   holds one long and one short node. The critical path is one chain; a
   level-by-level scheduler pays the long step at every level.

The ratio's floor is 1.0; what is left above it is scheduling overhead plus
the event loop's timer granularity: asyncio (via epoll) rounds every timeout
up to a whole millisecond, so each step of the critical path oversleeps by up
to ~1 ms. The minimal eager scheduler (graphlib + asyncio futures, no task
groups) on the same DAG shows that floor; graphflow's own cost is the gap
between its ratio and the minimal one.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import graphlib
import random
import time
from collections.abc import Callable, Sequence

import anyio

import graphflow as gf

from ._common import critical_path, random_dag, table


async def sleeper(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def any_sleeper(seconds: float) -> None:
    await anyio.sleep(seconds)  # the same on asyncio; also runs on trio


def levels(deps: Sequence[Sequence[int]]) -> list[list[int]]:
    level: list[int] = []
    for row in deps:
        level.append(1 + max((level[d] for d in row), default=-1))
    out: list[list[int]] = [[] for _ in range(max(level, default=-1) + 1)]
    for i, lv in enumerate(level):
        out[lv].append(i)
    return out


async def level_by_level(deps: Sequence[Sequence[int]], cost: Sequence[float]) -> None:
    """The common hand-written pattern: gather each ready batch, wait for all, repeat."""
    for batch in levels(deps):
        await asyncio.gather(*(sleeper(cost[i]) for i in batch))


async def minimal_eager(deps: Sequence[Sequence[int]], cost: Sequence[float]) -> None:
    """graphlib + one asyncio future per node: the floor for an eager scheduler on asyncio."""
    sorter = graphlib.TopologicalSorter({i: row for i, row in enumerate(deps)})
    sorter.prepare()
    finished = asyncio.get_running_loop().create_future()

    def on_done(node: int, _fut: object) -> None:
        sorter.done(node)
        release()

    def release() -> None:
        for node in sorter.get_ready():
            fut = asyncio.ensure_future(sleeper(cost[node]))
            fut.add_done_callback(functools.partial(on_done, node))
        if not sorter.is_active() and not finished.done():
            finished.set_result(None)

    release()
    await finished


def run_minimal(deps: Sequence[Sequence[int]], cost: Sequence[float]) -> float:
    start = time.perf_counter()
    asyncio.run(minimal_eager(deps, cost))
    return time.perf_counter() - start


def run_graphflow(
    deps: Sequence[Sequence[int]],
    cost: Sequence[float],
    backend: str = "asyncio",
    cap: float | None = None,
) -> float:
    """graphflow with its defaults (``cap=None``), or with a concurrency cap."""
    g = gf.Graph()
    for i, row in enumerate(deps):
        g.add(f"n{i}", any_sleeper, args={"seconds": cost[i]}, depends_on=[f"n{d}" for d in row])
    g.validate()
    start = time.perf_counter()
    result = gf.run_sync(g, concurrency=cap, async_backend=backend)
    elapsed = time.perf_counter() - start
    assert result.ok
    return elapsed


def run_levels(deps: Sequence[Sequence[int]], cost: Sequence[float]) -> float:
    start = time.perf_counter()
    asyncio.run(level_by_level(deps, cost))
    return time.perf_counter() - start


def wave_trap(
    steps: int, long: float = 0.2, short: float = 0.02
) -> tuple[list[list[int]], list[float]]:
    """Chains A and B, ``steps`` nodes each; A is long/short/long..., B short/long/short..."""
    deps: list[list[int]] = []
    cost: list[float] = []
    for s in range(steps):
        for chain in (0, 1):
            deps.append([len(deps) - 2] if s else [])
            cost.append(long if (s + chain) % 2 == 0 else short)
    return deps, cost


def best_of(repeat: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeat))


def measure(name: str, deps: list[list[int]], cost: list[float], repeat: int) -> list[str]:
    cp = critical_path(deps, cost)
    minimal = best_of(repeat, lambda: run_minimal(deps, cost))
    eager = best_of(repeat, lambda: run_graphflow(deps, cost))
    trio = best_of(repeat, lambda: run_graphflow(deps, cost, "trio"))
    capped = best_of(repeat, lambda: run_graphflow(deps, cost, cap=64))
    lvl = best_of(repeat, lambda: run_levels(deps, cost))
    return [
        name,
        f"{cp:.3f}",
        f"{minimal / cp:.3f}",
        f"**{eager / cp:.3f}**",
        f"{trio / cp:.3f}",
        f"{capped / cp:.2f}",
        f"{lvl / cp:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs each")
    args = parser.parse_args()

    # warm up: imports, the first event loop of each kind, thread pools
    warm = wave_trap(steps=2, long=0.002, short=0.001)
    measure("warm-up", *warm, repeat=1)

    rows = []
    for n in args.sizes:
        deps = random_dag(n, args.seed)
        rng = random.Random(args.seed + n)
        cost = [rng.uniform(0.005, 0.040) for _ in range(n)]
        rows.append(measure(f"random, {n:,} nodes", deps, cost, args.repeat))
    rows.append(measure("wave trap, 2 x 8 steps", *wave_trap(steps=8), repeat=args.repeat))
    print(f"seed {args.seed}, best of {args.repeat}; makespan / critical path (1.0 is perfect)")
    print(
        table(
            [
                "DAG",
                "critical path s",
                "minimal eager (asyncio)",
                "graphflow, defaults (asyncio)",
                "graphflow, defaults (trio)",
                "graphflow, cap 64",
                "level-by-level",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()

"""Cost per no-op node, end to end, against a minimal eager scheduler in-process.

    python -m benchmarks.overhead [--sizes 10000 100000] [--turns 5]

For a fan-out (all nodes independent) and a chain (each node depends on the
previous one) it prints microseconds per node for:

  minimal   build the dependency dict, then graphlib.TopologicalSorter + one
            asyncio.ensure_future per node, released from done-callbacks:
            the least an eager scheduler can do;
  graphflow ``Graph.add`` per node, then ``graphflow.run``: with the defaults
            (no cap), and with the first floor's default cap of 64.

Timed, end to end: building the graph, planning (validation) and the run.
The engines take turns (``_common.taking_turns``): µs per node is the median
over the turns, the ratio the median of the ratios within a turn, so that a
slow minute of the machine slows both sides of a ratio. ``Graph.add`` alone
is shown too (best of the turns). Every timed run starts after gc.collect() +
gc.freeze() (see shared/PERFORMANCE.md: without it, timings grow with the heap
of the benchmark process). Peak memory per node comes from tracemalloc in
separate, untimed runs (building + running).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import graphlib
import statistics
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import graphflow as gf

from ._common import median_ratio, table, taking_turns, timed


async def noop() -> None:
    return None


def shape_deps(shape: str, n: int) -> list[list[int]]:
    return (
        [[] for _ in range(n)] if shape == "fan-out" else [[i - 1] if i else [] for i in range(n)]
    )


# -- the baseline ------------------------------------------------------------


async def minimal_eager(deps: list[list[int]]) -> dict[int, Any]:
    """graphlib + ensure_future: start each node the moment its deps are done."""
    sorter = graphlib.TopologicalSorter({i: row for i, row in enumerate(deps)})
    sorter.prepare()
    results: dict[int, Any] = {}
    finished = asyncio.get_running_loop().create_future()

    def on_done(node: int, fut: asyncio.Future[Any]) -> None:
        results[node] = fut.result()
        sorter.done(node)
        release()

    def release() -> None:
        for node in sorter.get_ready():
            asyncio.ensure_future(noop()).add_done_callback(functools.partial(on_done, node))
        if not sorter.is_active() and not finished.done():
            finished.set_result(None)

    release()
    await finished
    return results


# -- graphflow ---------------------------------------------------------------


def build_graph(deps: list[list[int]]) -> gf.Graph:
    g = gf.Graph()
    for i, row in enumerate(deps):
        g.add(f"n{i}", noop, depends_on=[f"n{d}" for d in row])
    return g


def end_to_end(deps: list[list[int]], cap: float | None) -> Callable[[], gf.RunResult]:
    """Build, plan and run (all timed)."""

    def go() -> gf.RunResult:
        return gf.run_sync(build_graph(deps), concurrency=cap)

    return go


def minimal_end_to_end(deps: list[list[int]]) -> Callable[[], dict[int, Any]]:
    """The baseline builds its own description too: one list of deps per node."""

    def go() -> dict[int, Any]:
        own = [list(row) for row in deps]
        return asyncio.run(minimal_eager(own))

    return go


def peak_kib_per_node(fn: Callable[[], Any], n: int) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024 / n


def measure(n: int, shape: str, turns: int) -> list[str]:
    deps = shape_deps(shape, n)
    minimal, default, capped = taking_turns(
        [minimal_end_to_end(deps), end_to_end(deps, None), end_to_end(deps, 64)], turns
    )
    t_build, _ = timed(lambda: build_graph(deps), turns)

    def us(t: Sequence[float]) -> str:
        return f"{statistics.median(t) / n * 1e6:.1f}"

    return [
        f"{n:,}",
        shape,
        us(minimal),
        us(default),
        f"**{median_ratio(default, minimal):.2f}x**",
        us(capped),
        f"{median_ratio(capped, minimal):.2f}x",
        us([t_build]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="unused: the shapes are fixed")
    args = parser.parse_args()

    rows = [measure(n, shape, args.turns) for n in args.sizes for shape in ("fan-out", "chain")]
    print(
        table(
            [
                "nodes",
                "shape",
                "minimal µs/node",
                "graphflow µs/node (defaults)",
                "ratio",
                "graphflow µs/node (cap 64)",
                "ratio",
                "of which Graph.add",
            ],
            rows,
        )
    )

    n = max(args.sizes)
    deps = shape_deps("fan-out", n)
    mem_min = peak_kib_per_node(lambda: asyncio.run(minimal_eager(deps)), n)
    mem_gf = peak_kib_per_node(lambda: gf.run_sync(build_graph(deps)), n)
    print()
    print(
        table(
            ["peak memory at", "minimal KiB/node", "graphflow KiB/node (graph + run + results)"],
            [[f"{n:,} fan-out", f"{mem_min:.2f}", f"{mem_gf:.2f}"]],
        )
    )


if __name__ == "__main__":
    main()

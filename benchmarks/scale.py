"""Wide runs: many sleeping calls, a big runtime for_each, many failing nodes.

    python -m benchmarks.scale [--nodes 100000] [--failing 10000] [--repeat 3]

1. Wide I/O: ``--nodes`` independent calls that sleep 20 ms, each with a 1 s
   timeout. graphflow (defaults) against asyncio.gather of them all, each
   under ``asyncio.timeout(1)``. The loop is the bottleneck (each call costs
   it tens of µs): what matters is how many calls fail only because the loop
   was late, and how long a 20 ms call is recorded to take.
2. The same calls as a runtime ``for_each`` over a source's output of
   ``--nodes`` items: seconds from the source's success to the first item's
   start, and from a cancellation 1 s into the items to the run's return
   (with how many items existed by then).
3. ``--failing`` independent nodes whose tool raises, against the minimal
   eager scheduler (``benchmarks.overhead``) running the same raising tool and
   keeping each exception: µs per node, build + run.

Wall times are one run each for 1 and 2 (they take seconds), best of
``--repeat`` for 3; gc.collect() + gc.freeze() before each.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import statistics
import time
from typing import Any

import anyio

import graphflow as gf

from ._common import table, timed

SLEEP = 0.02
TIMEOUT = 1.0


async def nap() -> None:
    await asyncio.sleep(SLEEP)


def _fresh() -> None:
    gc.collect()
    gc.freeze()


def _summary(durations: list[float]) -> tuple[str, str]:
    ordered = sorted(durations)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered) * 1e3:.0f}", f"{p99 * 1e3:.0f}"


def wide_gather(n: int) -> list[str]:
    """asyncio.gather of ``n`` timed calls, all started at once."""

    async def call() -> float:
        start = time.perf_counter()
        async with asyncio.timeout(TIMEOUT):
            await asyncio.sleep(SLEEP)
        return time.perf_counter() - start

    async def main() -> list[Any]:
        return await asyncio.gather(*(call() for _ in range(n)), return_exceptions=True)

    _fresh()
    start = time.perf_counter()
    out = asyncio.run(main())
    wall = time.perf_counter() - start
    done = [d for d in out if isinstance(d, float)]
    median, p99 = _summary(done) if done else ("-", "-")
    return ["asyncio.gather, all at once", f"{wall:.2f}", f"{n - len(done):,}", median, p99]


def wide_graphflow(n: int) -> list[str]:
    g = gf.Graph()
    for i in range(n):
        g.add(f"n{i}", nap, timeout=TIMEOUT)
    _fresh()
    start = time.perf_counter()
    result = gf.run_sync(g)
    wall = time.perf_counter() - start
    failed = sum(1 for r in result.values() if not r.ok)
    durations = [r.duration for r in result.values() if r.ok and r.duration is not None]
    return ["graphflow, defaults", f"{wall:.2f}", f"{failed:,}", *_summary(durations)]


def runtime_map(n: int) -> list[str]:
    """A for_each over a source's ``n``-item output: the first item's start, the wall
    time and failures of the whole run, then the same run cancelled 1 s in."""
    started: list[float] = []
    source_done: list[float] = []

    def observe(event: gf.Event) -> None:
        if event.kind is gf.EventKind.NODE_STARTED and not started and event.node_id != "src":
            started.append(time.perf_counter())
        elif event.kind is gf.EventKind.NODE_SUCCEEDED and event.node_id == "src":
            source_done.append(time.perf_counter())

    async def items() -> list[int]:
        return list(range(n))

    g = gf.Graph()
    g.add("src", items)
    g.add("each", nap, for_each="${src}", timeout=TIMEOUT)
    _fresh()
    start = time.perf_counter()
    result = gf.run_sync(g, observers=[observe])
    wall = time.perf_counter() - start
    failed = sum(1 for r in result.values() if not r.ok)

    async def cancelled() -> tuple[float, int]:
        made: list[str] = []

        def count(event: gf.Event) -> None:
            if event.result is not None and str(event.node_id).startswith("each["):
                made.append(str(event.node_id))

        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(gf.run, g, observers=[count]))
                await anyio.sleep(1.0)
                cancel_at = time.perf_counter()
                scope.cancel()
        return time.perf_counter() - cancel_at, len(made)

    _fresh()
    stop_s, made = anyio.run(cancelled)
    return [
        f"{n:,}",
        f"{started[0] - source_done[0]:.3f}",
        f"{wall:.2f}",
        f"{failed:,}",
        f"{stop_s:.2f}",
        f"{made:,}",
    ]


async def raising() -> None:
    raise ValueError("no such SKU")


def failing(n: int, repeat: int) -> list[str]:
    def minimal() -> dict[int, BaseException | None]:
        async def main() -> dict[int, BaseException | None]:
            errors: dict[int, BaseException | None] = {}
            futures = [asyncio.ensure_future(raising()) for _ in range(n)]
            for i, fut in enumerate(futures):
                try:
                    await fut
                except ValueError as exc:
                    errors[i] = exc
            return errors

        return asyncio.run(main())

    def ours() -> gf.RunResult:
        g = gf.Graph()
        for i in range(n):
            g.add(f"n{i}", raising)
        return gf.run_sync(g)

    t_min, errors = timed(minimal, repeat)
    assert len(errors) == n
    t_gf, result = timed(ours, repeat)
    assert result.counts()[gf.NodeStatus.FAILED] == n

    def us(t: float) -> str:
        return f"{t / n * 1e6:.1f}"

    return [f"{n:,}", us(t_min), us(t_gf), f"**{t_gf / t_min:.2f}x**"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--failing", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.nodes
    rows = [wide_gather(n), wide_graphflow(n)]
    headers = ["how", "wall s", "failed", "median call ms", "p99 call ms"]
    print(f"{n:,} calls of {SLEEP * 1e3:.0f} ms, timeout {TIMEOUT:g} s each")
    print(table(headers, rows))
    print()
    headers = [
        "items",
        "source done -> first item s",
        "wall s",
        "failed",
        "cancelled 1 s in: -> return s",
        "items made by then",
    ]
    print(table(headers, [runtime_map(n)]))
    print()
    headers = ["failing nodes", "minimal µs/node", "graphflow µs/node", "ratio"]
    print(table(headers, [failing(args.failing, args.repeat)]))


if __name__ == "__main__":
    main()

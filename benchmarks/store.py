"""What the SQLite run store costs: store on vs off, in the same process.

    python -m benchmarks.store [--sizes 10000] [--turns 5] [--seed 0]

1. µs per no-op node, end to end (Graph.add + validation + run), on a fan-out
   and a chain: without a store; with a journal that writes nothing (``Null``:
   the driver's share — fingerprints, events, holding each success until its
   commit returns); and with ``store=`` a fresh SQLite file in a temporary
   folder (WAL, synchronous=NORMAL: every success committed before its
   dependents start). A chain is the worst case: each node waits for its own
   commit before the next can start.
2. The floor under a chain's link, measured here: one round trip to a thread
   and back to the loop (what "writes off the event loop" costs at least), and
   one single-row SQLite commit (WAL, NORMAL) on that thread.
3. Makespan / critical path on the 2,000-node random I/O DAG (0-3 deps, 5-40 ms
   sleeps, fixed seed), store off and on: one store file for the repetitions,
   as the CLI keeps one per folder (the first run also creates it, ~10 ms).

Store off, null and on take turns (``_common.taking_turns``: medians over the
turns, ratios the median of the ratios within a turn), each timed run after
gc.collect() + gc.freeze().
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import random
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import graphflow as gf

from ._common import critical_path, median_ratio, random_dag, table, taking_turns
from .makespan import any_sleeper
from .overhead import build_graph, shape_deps


class Null:
    """A ``RunStore`` whose journals hold every success through a commit that
    writes nothing: what the driver's side of durability costs."""

    async def open_run(self, info: gf.RunInfo) -> _NullJournal:
        return _NullJournal(info.run_id)


class _NullJournal:
    essential = True

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.earlier: dict[str, gf.NodeResult] = {}

    def __call__(self, event: gf.Event) -> None:
        pass

    def check_output(self, node_id: str, output: Any) -> None:
        pass

    async def commit(self, results: Sequence[gf.NodeResult]) -> None:
        pass

    async def aclose(self) -> None:
        pass


def end_to_end(
    deps: list[list[int]], store: str | None, folder: Path
) -> Callable[[], gf.RunResult]:
    runs = iter(range(1_000_000))

    def go() -> gf.RunResult:
        where: Any = None
        if store == "null":
            where = Null()
        elif store == "sqlite":
            where = folder / f"runs-{next(runs)}.db"
        result = gf.run_sync(build_graph(deps), store=where)
        assert result.ok
        return result

    return go


def per_node(n: int, shape: str, turns: int, folder: Path) -> list[str]:
    deps = shape_deps(shape, n)
    off, null, on = taking_turns(
        [end_to_end(deps, store, folder) for store in (None, "null", "sqlite")], turns
    )

    def us(times: list[float]) -> str:
        return f"{statistics.median(times) / n * 1e6:.1f}"

    return [f"{n:,}", shape, us(off), us(null), us(on), f"**{median_ratio(on, off):.2f}x**"]


def floor(folder: Path, count: int = 3_000) -> tuple[float, float]:
    """µs per round trip loop -> thread -> loop, and per single-row commit on the thread."""
    db = sqlite3.connect(folder / "floor.db", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE t (a TEXT, b TEXT, c REAL, d TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID")
    sql = "INSERT OR REPLACE INTO t VALUES (?, ?, ?, ?)"

    async def trips(work: Callable[[int], object]) -> float:
        loop = asyncio.get_running_loop()
        jobs: queue.SimpleQueue[tuple[asyncio.Future[None], int] | None] = queue.SimpleQueue()

        def serve() -> None:
            while (job := jobs.get()) is not None:
                future, i = job
                work(i)
                loop.call_soon_threadsafe(future.set_result, None)

        thread = threading.Thread(target=serve)
        thread.start()
        start = time.perf_counter()
        for i in range(count):
            future = loop.create_future()
            jobs.put((future, i))
            await future
        elapsed = time.perf_counter() - start
        jobs.put(None)
        thread.join()
        return elapsed / count * 1e6

    trip = min(asyncio.run(trips(int)) for _ in range(3))
    with_commit = min(
        asyncio.run(trips(lambda i: db.execute(sql, ("run", f"n{i}", time.time(), "null"))))
        for _ in range(3)
    )
    db.close()
    return trip, with_commit - trip


def makespan(n: int, seed: int, turns: int, folder: Path) -> list[str]:
    deps = random_dag(n, seed)
    rng = random.Random(seed + n)
    cost = [rng.uniform(0.005, 0.040) for _ in range(n)]
    best = critical_path(deps, cost)

    g = gf.Graph()
    for i, row in enumerate(deps):
        g.add(f"n{i}", any_sleeper, args={"seconds": cost[i]}, depends_on=[f"n{d}" for d in row])

    def run(store: Path | None) -> Callable[[], None]:
        def go() -> None:  # (the graph is built once: a run does not change it)
            assert gf.run_sync(g, store=store).ok

        return go

    # one store file for every run, as the CLI keeps one
    off, on = taking_turns([run(None), run(folder / "makespan.db")], turns)
    return [
        f"random, {n:,} nodes",
        f"{best:.2f}",
        f"{statistics.median(off) / best:.3f}",
        f"**{statistics.median(on) / best:.3f}**",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = [
            per_node(n, s, args.turns, folder) for n in args.sizes for s in ("fan-out", "chain")
        ]
        print(
            table(
                [
                    "nodes",
                    "shape",
                    "store off µs/node",
                    "null journal",
                    "store on µs/node",
                    "on / off",
                ],
                rows,
            )
        )
        trip, commit = floor(folder)
        print(
            f"\nfloor of a chain's link: a round trip loop -> thread -> loop {trip:.0f} µs,"
            f" a single-row commit on that thread {commit:.0f} µs"
        )
        print()
        row = makespan(2_000, args.seed, args.turns, folder)
        print(f"seed {args.seed}, medians of {args.turns} turns; makespan / critical path")
        print(table(["DAG", "critical path s", "store off", "store on"], [row]))


if __name__ == "__main__":
    main()

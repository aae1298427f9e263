"""graphflow beside LangGraph on the same graphs, run store / checkpointer off and on.

    /work/venv-langgraph/bin/python -m benchmarks.vs_langgraph \\
        [--fanout 1000] [--chain 1000] [--repeat 3] [--lg-repeat 3] [--seed 0]

Needs ``langgraph`` and ``langgraph-checkpoint-sqlite`` in the running
environment: an optional extra for this one benchmark, installed in a venv of
its own, never a dependency of graphflow. Without them it exits with one line.
Nothing else imports this module (tests, other benchmarks).

Four variants, in the same process, on the same nodes and edges:

  graphflow            ``run_sync(graph)``, no store;
  graphflow + store    ``store=`` a fresh SQLite file (WAL, synchronous=NORMAL;
                       each success committed before its dependents start);
  LangGraph            a ``StateGraph`` whose node i is an async function, with
                       ``add_edge(START, i)`` for a root, ``add_edge(d, i)`` for
                       one dependency and ``add_edge([d1, d2, ...], i)`` (a join:
                       i waits for all of them) for several; no checkpointer;
  LangGraph + SQLite   the same compiled with ``AsyncSqliteSaver`` on a fresh
                       file, with its default durability (``"async"``: a
                       superstep's checkpoint is written while the next runs)
                       and with ``durability="sync"`` (written before the next
                       superstep starts: graphflow's "durable before visible").

The state is one int that no node writes (nodes return None), so LangGraph's
checkpoints hold little besides its channel versions.

1. Makespan / critical path on the 2,000-node random I/O DAG of
   ``benchmarks.makespan`` and ``benchmarks.store`` (0-3 deps, 5-40 ms sleeps,
   fixed seed). Building (``Graph.add`` / ``add_node`` + ``compile``) and
   opening LangGraph's saver are outside the timer; graphflow opens its store
   inside it.
2. µs per no-op node on a fan-out and a chain, end to end (build, compile or
   validate, open the file, run). LangGraph's build + compile share is shown
   too. LangGraph runs one superstep per chain link, each scanning its
   channels, so its chain grows quadratically: 1,000 is the default size.

Every node counts its calls; each run asserts all of them ran once. Every
timed run starts after gc.collect() + gc.freeze(). Best of ``--repeat``
(graphflow) and ``--lg-repeat`` (LangGraph) runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import importlib
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypedDict

import anyio

import graphflow as gf

from ._common import critical_path, random_dag, table
from .makespan import levels
from .overhead import shape_deps

MODES = ("off", "async", "sync")
"""LangGraph's variants: no checkpointer, or a SQLite saver with this durability."""


class _State(TypedDict, total=False):
    x: int


class _Calls:
    count = 0


async def gf_sleep(seconds: float) -> None:
    _Calls.count += 1
    await anyio.sleep(seconds)


async def gf_noop() -> None:
    _Calls.count += 1


async def lg_noop(state: _State) -> None:
    _Calls.count += 1


def lg_sleeper(seconds: float) -> Callable[[_State], Awaitable[None]]:
    async def node(state: _State) -> None:
        _Calls.count += 1
        await anyio.sleep(seconds)

    return node


def load_langgraph() -> SimpleNamespace:
    """LangGraph's names, imported here so that nothing loads them but this benchmark."""
    try:
        graph: Any = importlib.import_module("langgraph.graph")
        aio: Any = importlib.import_module("langgraph.checkpoint.sqlite.aio")
    except ImportError as exc:
        raise SystemExit(
            f"benchmarks.vs_langgraph: {exc.name} is not installed; it needs langgraph and"
            " langgraph-checkpoint-sqlite (an optional extra, in a venv of its own)"
        ) from None
    return SimpleNamespace(
        StateGraph=graph.StateGraph, START=graph.START, Saver=aio.AsyncSqliteSaver
    )


def timed_run(go: Callable[[], None]) -> float:
    """Wall time of ``go()``, after a full collection and gc.freeze()."""
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    go()
    elapsed = time.perf_counter() - start
    gc.unfreeze()
    return elapsed


def check_calls(expected: int, what: str) -> None:
    assert _Calls.count == expected, f"{what}: {_Calls.count} calls, expected {expected}"
    _Calls.count = 0


# -- building the same graph twice ---------------------------------------------


def gf_graph(deps: Sequence[Sequence[int]], cost: Sequence[float] | None) -> gf.Graph:
    g = gf.Graph()
    for i, row in enumerate(deps):
        after = [f"n{d}" for d in row]
        if cost is None:
            g.add(f"n{i}", gf_noop, depends_on=after)
        else:
            g.add(f"n{i}", gf_sleep, args={"seconds": cost[i]}, depends_on=after)
    return g


def lg_graph(
    lg: SimpleNamespace, deps: Sequence[Sequence[int]], cost: Sequence[float] | None
) -> Any:
    g = lg.StateGraph(_State)
    for i, row in enumerate(deps):
        g.add_node(f"n{i}", lg_noop if cost is None else lg_sleeper(cost[i]))
        if not row:
            g.add_edge(lg.START, f"n{i}")
        elif len(row) == 1:
            g.add_edge(f"n{row[0]}", f"n{i}")
        else:
            g.add_edge([f"n{d}" for d in row], f"n{i}")  # a join: waits for all
    return g


async def lg_invoke(
    lg: SimpleNamespace,
    build: Callable[[], Any],
    mode: str,
    path: Path,
    steps: int,
    timed_from: str = "build",
) -> tuple[float, float]:
    """Build, open the saver, compile and run; seconds from ``timed_from`` to the end,
    and the build + compile share."""
    async with contextlib.AsyncExitStack() as stack:
        start = began = time.perf_counter()
        graph = build()
        saver = None
        if mode != "off":
            saver = await stack.enter_async_context(lg.Saver.from_conn_string(str(path)))
        app = graph.compile(checkpointer=saver)
        built = time.perf_counter()
        if timed_from == "invoke":
            gc.collect()
            gc.freeze()
            start = time.perf_counter()
        config = {"recursion_limit": steps + 10, "configurable": {"thread_id": "bench"}}
        kwargs = {} if mode == "off" else {"durability": mode}
        await app.ainvoke({"x": 0}, config, **kwargs)
        end = time.perf_counter()
    return end - start, built - began


def file_stats(path: Path, tables: Sequence[str]) -> str:
    """Rows per table and the size of the closed file (+ any WAL left beside it)."""
    db = sqlite3.connect(path)
    rows = [f"{db.execute(f'SELECT count(*) FROM {t}').fetchone()[0]:,} {t}" for t in tables]
    db.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return ", ".join(rows) + f", {size / 1024:,.0f} KiB"


# -- the variants ----------------------------------------------------------------


class Bench:
    def __init__(self, lg: SimpleNamespace, folder: Path, repeat: int, lg_repeat: int) -> None:
        self.lg = lg
        self.folder = folder
        self.repeat = repeat
        self.lg_repeat = lg_repeat
        self.files = iter(range(1_000_000))
        self.stats: list[list[str]] = []

    def fresh(self) -> Path:
        return self.folder / f"f{next(self.files)}.db"

    def graphflow(
        self, what: str, deps: list[list[int]], cost: list[float] | None, store: bool
    ) -> float:
        best = float("inf")
        path = None
        for _ in range(self.repeat):
            path = self.fresh() if store else None
            ready = None  # no-op nodes: end to end; sleepers: built outside the timer
            if cost is not None:
                ready = gf_graph(deps, cost)
                ready.validate()

            def go(path: Path | None = path, ready: gf.Graph | None = ready) -> None:
                assert gf.run_sync(ready or gf_graph(deps, None), store=path).ok

            best = min(best, timed_run(go))
            check_calls(len(deps), f"graphflow {what}")
        if path is not None:
            self.stats.append([what, "graphflow + store", file_stats(path, ["runs", "nodes"])])
        return best

    def langgraph(
        self, what: str, deps: list[list[int]], cost: list[float] | None, mode: str
    ) -> tuple[float, float]:
        steps = len(levels(deps))
        best, build = float("inf"), 0.0
        build_it = functools.partial(lg_graph, self.lg, deps, cost)
        for _ in range(self.lg_repeat):
            path = self.fresh()
            if cost is None:  # end to end, timed around asyncio.run
                out: list[tuple[float, float]] = []

                def go(path: Path = path, out: list[tuple[float, float]] = out) -> None:
                    out.append(asyncio.run(lg_invoke(self.lg, build_it, mode, path, steps)))

                elapsed = timed_run(go)
                share = out[0][1]
            else:  # building and opening the saver outside the timer
                elapsed, share = asyncio.run(
                    lg_invoke(self.lg, build_it, mode, path, steps, timed_from="invoke")
                )
                gc.unfreeze()
            if elapsed < best:
                best, build = elapsed, share
            check_calls(len(deps), f"LangGraph {what} {mode}")
        if mode != "off":
            stats = file_stats(path, ["checkpoints", "writes"])
            self.stats.append([what, f"LangGraph + SQLite ({mode})", stats])
        return best, build


def makespan(bench: Bench, n: int, seed: int) -> list[str]:
    deps = random_dag(n, seed)
    rng = random.Random(seed + n)
    cost = [rng.uniform(0.005, 0.040) for _ in range(n)]
    cp = critical_path(deps, cost)
    what = f"random DAG, {n:,} nodes"
    cells = [f"{bench.graphflow(what, deps, cost, store) / cp:.2f}" for store in (False, True)]
    cells += [f"{bench.langgraph(what, deps, cost, mode)[0] / cp:.2f}" for mode in MODES]
    return [what, f"{cp:.3f}", f"{len(levels(deps))}", *cells]


def per_node(bench: Bench, shape: str, n: int) -> list[str]:
    deps = shape_deps(shape, n)
    what = f"{shape}, {n:,} nodes"
    off = bench.graphflow(what, deps, None, False)
    on = bench.graphflow(what, deps, None, True)
    lg = [bench.langgraph(what, deps, None, mode) for mode in MODES]
    us = [f"{t / n * 1e6:,.1f}" for t in (off, on, *(t for t, _ in lg))]
    return [what, *us, f"{lg[0][1] / n * 1e6:,.1f}", f"{lg[0][0] / off:.0f}x"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--makespan", type=int, default=2_000, help="random DAG size")
    parser.add_argument("--fanout", type=int, nargs="*", default=[1_000])
    parser.add_argument("--chain", type=int, nargs="*", default=[1_000])
    parser.add_argument("--repeat", type=int, default=3, help="best of, graphflow")
    parser.add_argument("--lg-repeat", type=int, default=3, help="best of, LangGraph")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lg = load_langgraph()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(lg, Path(tmp), args.repeat, args.lg_repeat)
        bench.repeat = bench.lg_repeat = 1  # warm up: imports, first loops, first files
        per_node(bench, "fan-out", 20)
        bench.repeat, bench.lg_repeat, bench.stats = args.repeat, args.lg_repeat, []
        span = makespan(bench, args.makespan, args.seed)
        rows = [per_node(bench, "fan-out", n) for n in args.fanout]
        rows += [per_node(bench, "chain", n) for n in args.chain]
    versions = ", ".join(f"{p} {version(p)}" for p in ("langgraph", "langgraph-checkpoint-sqlite"))
    print(f"{versions}; Python {sys.version.split()[0]}")
    print(f"best of {args.repeat} (graphflow) / {args.lg_repeat} (LangGraph); seed {args.seed}\n")
    lg_cols = ["LangGraph", "LangGraph + SQLite (async)", "LangGraph + SQLite (sync)"]
    print("makespan / critical path")
    print(
        table(
            ["DAG", "critical path s", "levels", "graphflow", "graphflow + store", *lg_cols], [span]
        )
    )
    print("\nµs per no-op node, end to end")
    heads = [
        "graph",
        "graphflow",
        "graphflow + store",
        *lg_cols,
        "LangGraph build+compile",
        "LangGraph / graphflow",
    ]
    print(table(heads, rows))
    print("\nfiles after the last run of each")
    print(table(["graph", "variant", "rows, size"], bench.stats))


if __name__ == "__main__":
    main()

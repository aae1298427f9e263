"""What the SQLite run store costs: store on vs off, in the same process.

    python -m benchmarks.store [--sizes 10000] [--repeat 3] [--seed 0]

1. µs per no-op node, end to end (Graph.add + validation + run), on a fan-out
   and a chain: without a store, and with ``store=`` a fresh SQLite file in a
   temporary folder (WAL, synchronous=NORMAL: every success committed before
   its dependents start). A chain is the worst case: each node waits for its
   own commit before the next can start.
2. Makespan / critical path on the 2,000-node random I/O DAG (0-3 deps, 5-40 ms
   sleeps, fixed seed), store off and on.

Every timed run starts after gc.collect() + gc.freeze() (``_common.timed``).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import graphflow as gf

from ._common import critical_path, random_dag, table, timed
from .makespan import any_sleeper
from .overhead import build_graph, shape_deps


def end_to_end(deps: list[list[int]], folder: Path | None) -> Callable[[], gf.RunResult]:
    runs = iter(range(1_000_000))

    def go() -> gf.RunResult:
        store = None if folder is None else folder / f"runs-{next(runs)}.db"
        result = gf.run_sync(build_graph(deps), store=store)
        assert result.ok
        return result

    return go


def per_node(n: int, shape: str, repeat: int, folder: Path) -> list[str]:
    deps = shape_deps(shape, n)
    off, _ = timed(end_to_end(deps, None), repeat)
    on, _ = timed(end_to_end(deps, folder), repeat)
    return [
        f"{n:,}",
        shape,
        f"{off / n * 1e6:.1f}",
        f"{on / n * 1e6:.1f}",
        f"**{on / off:.2f}x**",
    ]


def makespan(n: int, seed: int, repeat: int, folder: Path) -> list[str]:
    deps = random_dag(n, seed)
    rng = random.Random(seed + n)
    cost = [rng.uniform(0.005, 0.040) for _ in range(n)]
    best = critical_path(deps, cost)
    figures = []
    for k, store in enumerate((None, folder / "makespan-{}.db")):
        times = []
        for r in range(repeat):
            g = gf.Graph()
            for i, row in enumerate(deps):
                g.add(
                    f"n{i}",
                    any_sleeper,
                    args={"seconds": cost[i]},
                    depends_on=[f"n{d}" for d in row],
                )
            path = None if store is None else Path(str(store).format(f"{k}-{r}"))
            start = time.perf_counter()
            result = gf.run_sync(g, store=path)
            times.append(time.perf_counter() - start)
            assert result.ok
        figures.append(min(times) / best)
    return [f"random, {n:,} nodes", f"{best:.2f}", f"{figures[0]:.3f}", f"**{figures[1]:.3f}**"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = [
            per_node(n, s, args.repeat, folder) for n in args.sizes for s in ("fan-out", "chain")
        ]
        print(table(["nodes", "shape", "store off µs/node", "store on µs/node", "on / off"], rows))
        print()
        row = makespan(2_000, args.seed, args.repeat, folder)
        print(f"seed {args.seed}, best of {args.repeat}; makespan / critical path")
        print(table(["DAG", "critical path s", "store off", "store on"], [row]))


if __name__ == "__main__":
    main()

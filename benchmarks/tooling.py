"""The tooling at scale: the CLI on large workflow files, analysis of large runs.

    python -m benchmarks.tooling [--nodes 10000] [--analysis-nodes 100000] [--repeat 3]

Two fixed shapes, written as YAML to a temporary folder:

  chain    ``n0`` echoes a value; each ``n{i}`` echoes ``${n{i-1}.v}``;
  fan-out  ``src`` echoes a value; every other node echoes ``${src.v}``.

Each command goes through ``graphflow.cli.main`` in this process (stdout and
stderr sent to ``os.devnull``), best of ``--repeat``, each timed run after
``gc.collect()`` and with nothing frozen, as in a ``graphflow`` process of its
own: the CLI manages the collector itself (paused while it loads the file, the
built graph frozen for the run) and leaves it alone when its caller has frozen
objects, so a ``gc.freeze()`` here (shared/PERFORMANCE.md's rule for the
library) would measure a CLI no user runs — it made the store's overhead look
0.1 s bigger (a full collection of the unfrozen graph while the run's row was
written). The analysis timings below freeze, as the rule says. For ``run``,
the run's own duration comes from its ``--json`` output (``duration``): the
*overhead* is the command's wall time minus that — loading the file, building
the graph, configuring output, opening and closing the run store, the summary
and writing the JSON. ``run`` is measured as the CLI runs by default (its run
store beside the file) and with ``--no-store``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import graphflow as gf
from graphflow.analysis import critical_path, levels
from graphflow.cli import main as cli

from ._common import random_dag, table, timed


def chain_yaml(n: int) -> str:
    """``n`` echo nodes, each reading the one before."""
    lines = ["name: chain", "nodes:", "  n0: {tool: echo, args: {v: 0}}"]
    lines += [f"  n{i}: {{tool: echo, args: {{v: '${{n{i - 1}.v}}'}}}}" for i in range(1, n)]
    return "\n".join(lines) + "\n"


def fan_out_yaml(n: int) -> str:
    """One echo node and ``n - 1`` nodes reading it."""
    lines = ["name: fan-out", "nodes:", "  src: {tool: echo, args: {v: 0}}"]
    lines += [f"  n{i}: {{tool: echo, args: {{v: '${{src.v}}'}}}}" for i in range(1, n)]
    return "\n".join(lines) + "\n"


def quietly(argv: list[str]) -> Callable[[], float]:
    """A call of ``graphflow ARGV`` with its output discarded; returns its wall time."""

    def go() -> float:
        with open(os.devnull, "w") as sink:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                start = time.perf_counter()
                code = cli(argv)
                elapsed = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"graphflow {' '.join(argv)} exited {code}")
        return elapsed

    return go


def best(fn: Callable[[], float], repeat: int) -> float:
    """The least of ``repeat`` calls' own timings, each after gc.collect(), nothing
    frozen: the CLI freezes what it built itself (see the module's docstring)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        assert not gc.get_freeze_count(), "a CLI timing with objects frozen by its caller"
        times.append(fn())
    return min(times)


def measure(path: Path, repeat: int, store: bool) -> list[str]:
    """Validate, plan and run ``path``: seconds for each, and the run's overhead.

    ``store``: run as the CLI does by default (the run stored in
    ``.graphflow/runs.db`` beside the file, one store for the repetitions);
    else with ``--no-store``."""
    validate = best(quietly(["validate", str(path)]), repeat)
    plan = best(quietly(["plan", str(path)]), repeat)
    out = path.with_suffix(".json")
    overheads: list[tuple[float, float, float]] = []  # (overhead, wall, run)
    flags = [] if store else ["--no-store"]

    def run() -> float:
        wall = quietly(["run", str(path), "--live", "off", "--json", str(out), *flags])()
        own = float(json.loads(out.read_text())["duration"])
        overheads.append((wall - own, wall, own))
        return wall

    best(run, repeat)
    overhead, wall, own = min(overheads)
    return [f"{validate:.2f}", f"{plan:.2f}", f"{wall:.2f}", f"{own:.2f}", f"**{overhead:.2f}**"]


async def noop() -> None:
    return None


def analysis_deps(shape: str, n: int) -> list[list[int]]:
    """Node i's dependencies, by index, for one of the three analysis shapes."""
    if shape == "chain":
        return [[i - 1] if i else [] for i in range(n)]
    if shape == "fan-out":
        return [[0] if i else [] for i in range(n)]
    return random_dag(n, seed=0)


def allocation_floor(
    result: gf.RunResult, deps: dict[str, tuple[str, ...]]
) -> dict[str, dict[str, Any]]:
    """What ``to_dict`` cannot do without: one 11-key dict per node (a literal, the
    values already at hand) holding a fresh ``depends_on`` list, in a dict by node
    id, the collector paused as ``to_dict`` pauses it. Its time is the floor."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return {
            node_id: {
                "node_id": node_id,
                "status": "succeeded",
                "output": None,
                "error": None,
                "attempts": 1,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "duration": 0.0,
                "reason": None,
                "cause": None,
                "depends_on": list(deps[node_id]),
            }
            for node_id, r in result.items()
        }
    finally:
        if collecting:
            gc.enable()


def measure_analysis(n: int, shape: str, repeat: int) -> list[str]:
    """Seconds for critical_path, levels and to_dict on a run of ``n`` no-op nodes,
    and the floor of to_dict (``allocation_floor``; the dependencies prepared first)."""
    g = gf.Graph()
    for i, row in enumerate(analysis_deps(shape, n)):
        g.add(f"n{i}", noop, depends_on=[f"n{d}" for d in row])
    result = gf.run_sync(g)
    assert result.ok and len(result) == n
    t_path, _ = timed(lambda: critical_path(result), repeat)
    t_levels, _ = timed(lambda: levels(g), repeat)
    t_dict, _ = timed(result.to_dict, repeat)
    deps = result.dependencies()
    t_floor, _ = timed(lambda: allocation_floor(result, deps), repeat)
    cells = [f"**{t_path:.3f}**", f"**{t_levels:.3f}**", f"**{t_dict:.3f}**", f"{t_floor:.3f}"]
    return [f"{n:,}", shape, *cells]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--analysis-nodes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gf-bench-") as folder:
        for shape, make in (("chain", chain_yaml), ("fan-out", fan_out_yaml)):
            path = Path(folder) / f"{shape}.yaml"
            path.write_text(make(args.nodes), encoding="utf-8")
            for store in (True, False):
                cells = measure(path, args.repeat, store)
                rows.append([f"{args.nodes:,}", shape, "on" if store else "--no-store", *cells])
    headers = [
        "nodes",
        "shape",
        "store",
        "validate s",
        "plan s",
        "run s",
        "of which the run",
        "overhead",
    ]
    print(table(headers, rows))
    print()
    rows = [
        measure_analysis(args.analysis_nodes, shape, args.repeat)
        for shape in ("chain", "fan-out", "random")
    ]
    headers = ["nodes", "shape", "critical_path s", "levels s", "to_dict s", "to_dict floor s"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()

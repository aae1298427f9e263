"""The CLI on large workflow files: seconds for ``validate``, ``plan`` and ``run``.

    python -m benchmarks.tooling [--nodes 10000] [--repeat 3]

Two fixed shapes, written as YAML to a temporary folder:

  chain    ``n0`` echoes a value; each ``n{i}`` echoes ``${n{i-1}.v}``;
  fan-out  ``src`` echoes a value; every other node echoes ``${src.v}``.

Each command goes through ``graphflow.cli.main`` in this process (stdout and
stderr sent to ``os.devnull``), best of ``--repeat``, each timed run after
``gc.collect()`` + ``gc.freeze()`` (see shared/PERFORMANCE.md). For ``run``,
the run's own duration comes from its ``--json`` output (``duration``): the
*overhead* is the command's wall time minus that — loading the file, building
the graph, configuring output, the summary and writing the JSON.
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

from graphflow.cli import main as cli

from ._common import table


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
    """The least of ``repeat`` calls' own timings, each after gc.collect() + gc.freeze()."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.freeze()
        try:
            times.append(fn())
        finally:
            gc.unfreeze()
    return min(times)


def measure(path: Path, repeat: int) -> list[str]:
    """Validate, plan and run ``path``: seconds for each, and the run's overhead."""
    validate = best(quietly(["validate", str(path)]), repeat)
    plan = best(quietly(["plan", str(path)]), repeat)
    out = path.with_suffix(".json")
    overheads: list[tuple[float, float, float]] = []  # (overhead, wall, run)

    def run() -> float:
        wall = quietly(["run", str(path), "--live", "off", "--json", str(out)])()
        own = float(json.loads(out.read_text())["duration"])
        overheads.append((wall - own, wall, own))
        return wall

    best(run, repeat)
    overhead, wall, own = min(overheads)
    return [f"{validate:.2f}", f"{plan:.2f}", f"{wall:.2f}", f"{own:.2f}", f"**{overhead:.2f}**"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gf-bench-") as folder:
        for shape, make in (("chain", chain_yaml), ("fan-out", fan_out_yaml)):
            path = Path(folder) / f"{shape}.yaml"
            path.write_text(make(args.nodes), encoding="utf-8")
            rows.append([f"{args.nodes:,}", shape, *measure(path, args.repeat)])
    headers = ["nodes", "shape", "validate s", "plan s", "run s", "of which the run", "overhead"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()

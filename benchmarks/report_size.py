"""Size of the HTML report at 200, 2,000 and 20,000 nodes (fixed seed).

    python -m benchmarks.report_size [--sizes 200 2000 20000] [--seed 0]

The runs are synthetic ``RunResult``s, built without running anything, so the
figures do not depend on the machine: a random DAG (up to 3 upstream nodes
each), one unit in 20 a for_each of 5-20 items plus its gather, one node in 10
retried once, one in 50 failed (its downstream skipped), outputs of about 60
characters and tracebacks of about 600. It prints the file's size, bytes per
node, its gzipped size, and how long ``render_report`` took.
"""

from __future__ import annotations

import argparse
import gzip
import random
import time

from graphflow import Attempt, NodeError, NodeResult, NodeStatus, RunResult
from graphflow.report import render_report

from ._common import table

T0 = 1_700_000_000.0
_TRACEBACK = "Traceback (most recent call last):\n" + '  File "tools.py", line 42, in call\n' * 14


def node_ids(n: int, rng: random.Random) -> tuple[list[str], dict[str, list[str]]]:
    """``n`` node ids in graph order, and each gather's items (listed before it)."""
    ids: list[str] = []
    maps: dict[str, list[str]] = {}
    while len(ids) < n:
        name = f"n{len(ids)}"
        count = rng.randint(5, 20)
        if rng.random() < 0.05 and len(ids) + count + 1 <= n:
            maps[name] = [f"{name}[{k}]" for k in range(count)]
            ids += maps[name]
        ids.append(name)
    return ids, maps


def upstream(
    ids: list[str], maps: dict[str, list[str]], rng: random.Random
) -> dict[str, list[str]]:
    """Random edges to earlier nodes; a gather waits for its items, items share their map's."""
    deps: dict[str, list[str]] = {}
    members = {item for items in maps.values() for item in items}
    for k, node_id in enumerate(ids):
        if node_id in members:
            continue
        earlier = [i for i in rng.sample(range(k), min(3, k)) if ids[i] not in members][:2]
        chosen = [ids[i] for i in earlier[: rng.randint(0, len(earlier))]]
        for item in maps.get(node_id, []):
            deps[item] = chosen
        deps[node_id] = maps.get(node_id, chosen)
    return deps


def synthetic_run(n: int, seed: int) -> RunResult:
    """A run of ``n`` nodes with retries, failures, skips and for_each groups."""
    rng = random.Random(seed)
    ids, maps = node_ids(n, rng)
    deps = upstream(ids, maps, rng)
    finish: dict[str, float] = {}
    results: dict[str, NodeResult] = {}
    for node_id in ids:
        results[node_id] = _node(node_id, deps[node_id], results, finish, rng)
    end = max(finish.values(), default=T0) + 0.01
    return RunResult(f"bench{seed}", results, T0, end, deps)


def _node(
    node_id: str,
    upstream: list[str],
    results: dict[str, NodeResult],
    finish: dict[str, float],
    rng: random.Random,
) -> NodeResult:
    ready = max((finish[d] for d in upstream), default=T0) + 0.001
    broken = next((d for d in upstream if not results[d].ok), None)
    if broken is not None:
        finish[node_id] = ready
        reason = f"upstream {broken!r} {results[broken].status}"
        return NodeResult(node_id, NodeStatus.SKIPPED, finished_at=ready, reason=reason)
    history = _attempts(ready, rng)
    finish[node_id] = history[-1].finished_at
    if history[-1].error is not None:
        error = history[-1].error
        return NodeResult(
            node_id,
            NodeStatus.FAILED,
            None,
            error,
            len(history),
            ready,
            finish[node_id],
            None,
            history,
        )
    output = {"rows": rng.randint(0, 10_000), "source": f"https://example.test/{node_id}"}
    return NodeResult(
        node_id,
        NodeStatus.SUCCEEDED,
        output,
        None,
        len(history),
        ready,
        finish[node_id],
        None,
        history,
    )


def _attempts(start: float, rng: random.Random) -> tuple[Attempt, ...]:
    tries = 2 if rng.random() < 0.1 else 1
    fails = rng.random() < 0.02
    history: list[Attempt] = []
    for k in range(tries):
        end = start + rng.uniform(0.05, 2.0)
        last = k == tries - 1
        error = (
            None if last and not fails else NodeError("TimeoutError", "read timed out", _TRACEBACK)
        )
        history.append(Attempt(start, end, error))
        start = end + 0.2 * 2**k
    return tuple(history)


def measure(n: int, seed: int) -> list[object]:
    result = synthetic_run(n, seed)
    started = time.perf_counter()
    page = render_report(result).encode()
    took = time.perf_counter() - started
    packed = len(gzip.compress(page))
    return [
        f"{n:,}",
        f"{len(page) / 1024:,.0f} KiB",
        f"{len(page) / n:,.0f}",
        f"{packed / 1024:,.0f} KiB",
        f"{took:.2f} s",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2_000, 20_000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = [measure(n, args.seed) for n in args.sizes]
    print(table(["nodes", "HTML", "bytes/node", "gzipped", "render_report"], rows))


if __name__ == "__main__":
    main()

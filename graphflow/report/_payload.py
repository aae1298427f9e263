"""The report's data: one compact JSON payload that the page's script draws.

Columns rather than one object per node, so that a node costs tens of bytes,
not hundreds (``benchmarks/report_size.py`` measures it). Positions index ``ids``:

  ``ids``     node ids, in the run's order
  ``st``      one digit per node: its status, an index into ``statuses``
  ``layer``   each node's depth: the longest chain of dependencies before it
  ``deps``    for each node, the positions of the nodes it waited for
  ``bars``    for each node, its attempts as ``[start, end, start, end, ...]``
              in milliseconds after the run started; ``[t]`` for a node that
              never started (recorded at ``t``); ``[]`` for one restored from
              an earlier run
  ``groups``  ``[[gather, [item, ...]], ...]``: for_each items under their node
  ``crit``    the critical path, in order
  ``out``     for each node, its output's summary (-1: it did not succeed)
  ``info``    position -> ``{"e": error, "tb": traceback's tail, "r": reason,
              "ae": [error of each attempt, or -1]}`` for the nodes that have any
  ``strs``    the strings that ``out`` and ``info`` hold by index, each once
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from graphflow import NodeResult, NodeStatus, RunResult
from graphflow.analysis import critical_path

from ._text import ERROR_LIMIT, TRACEBACK_LIMIT, Redactor, cut, summarize

STATUSES: Final = tuple(NodeStatus)
_CODE: Final = {status: str(k) for k, status in enumerate(STATUSES)}


@dataclass(frozen=True, slots=True)
class Stats:
    """The figures of the report's header (seconds)."""

    wall: float
    busy: float
    """the sum of node durations (first start to end, backoff included)"""
    critical: float
    critical_path: list[str]
    peak: int
    """the most attempts running at one moment"""
    counts: dict[NodeStatus, int]
    attempts: int
    retried: int
    """nodes that took more than one attempt"""

    @property
    def parallelism(self) -> float:
        """``busy / wall``: how many nodes ran at once, on average."""
        return self.busy / self.wall if self.wall > 0 else 0.0


def build(result: RunResult, redact: Redactor) -> tuple[dict[str, Any], Stats]:
    """The payload and the header's figures for ``result``."""
    ids = list(result)
    nodes = [result[n] for n in ids]
    rows = dependency_rows(result, ids)
    t0 = result.started_at
    restored = [r.finished_at is not None and r.finished_at < t0 for r in nodes]
    stats = _stats(result, nodes, restored)
    position = {node_id: k for k, node_id in enumerate(ids)}
    strings = _Strings()
    payload = {
        "v": 1,
        "run": {"id": result.run_id, "wall": _ms(result.duration)},
        "statuses": [str(s) for s in STATUSES],
        "ids": ids,
        "st": "".join(_CODE[r.status] for r in nodes),
        "layer": layers(rows),
        "deps": rows,
        "bars": [[] if old else _bars(r, t0) for r, old in zip(nodes, restored, strict=True)],
        "groups": [[g, items] for g, items in groups(ids, rows).items()],
        "crit": [position[n] for n in stats.critical_path],
        "out": [_output(r, redact, strings) for r in nodes],
        "info": {k: info for k, r in enumerate(nodes) if (info := _info(r, redact, strings))},
        "strs": strings.values,
    }
    return payload, stats


def dependency_rows(result: RunResult, ids: Sequence[str]) -> list[list[int]]:
    """Who waited for whom, by position in ``ids`` (unknown upstream ids dropped)."""
    index = result.dependency_index()
    if index is not None and list(index.ids) == list(ids):
        return [list(row) for row in index.rows]
    position = {node_id: k for k, node_id in enumerate(ids)}
    known = result.dependencies()
    return [[position[d] for d in known.get(n, ()) if d in position] for n in ids]


def layers(rows: Sequence[Sequence[int]]) -> list[int]:
    """Each node's depth: 0 without upstream, else one more than its deepest upstream.

    Kahn's algorithm, so the order of ``rows`` does not matter (runtime
    for_each items come after their gather node). Nodes on a cycle, which a
    run never has, stay at 0.
    """
    waiting = [len(row) for row in rows]
    dependents: list[list[int]] = [[] for _ in rows]
    for k, row in enumerate(rows):
        for d in row:
            dependents[d].append(k)
    depth = [0] * len(rows)
    ready = [k for k, n in enumerate(waiting) if n == 0]
    while ready:
        k = ready.pop()
        for j in dependents[k]:
            depth[j] = max(depth[j], depth[k] + 1)
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    return depth


def groups(ids: Sequence[str], rows: Sequence[Sequence[int]]) -> dict[int, list[int]]:
    """gather node -> its for_each items: the upstream nodes it waited for named ``id[k]``."""
    out: dict[int, list[int]] = {}
    for g, row in enumerate(rows):
        prefix = ids[g] + "["
        items = [d for d in row if _is_item(ids[d], prefix)]
        if items:
            out[g] = items
    return out


def _is_item(node_id: str, prefix: str) -> bool:
    return (
        node_id.startswith(prefix) and node_id.endswith("]") and node_id[len(prefix) : -1].isdigit()
    )


def peak_concurrency(intervals: Sequence[tuple[float, float]]) -> int:
    """The most intervals open at one moment (one that ends as another starts: not both)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in edges:  # at equal times -1 sorts first: an end before a start
        running += change
        peak = max(peak, running)
    return peak


def _stats(result: RunResult, nodes: list[NodeResult], restored: list[bool]) -> Stats:
    here = [r for r, old in zip(nodes, restored, strict=True) if not old]
    total, chain = critical_path(result)
    intervals = [(a.started_at, a.finished_at) for r in here for a in r.history]
    return Stats(
        wall=result.duration,
        busy=sum(r.duration or 0.0 for r in here),
        critical=total,
        critical_path=chain,
        peak=peak_concurrency(intervals),
        counts=result.counts(),
        attempts=len(intervals),
        retried=sum(1 for r in here if len(r.history) > 1),
    )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _bars(r: NodeResult, t0: float) -> list[float]:
    if not r.history:
        return [_ms((r.finished_at or t0) - t0)]
    return [_ms(t - t0) for a in r.history for t in (a.started_at, a.finished_at)]


class _Strings:
    """Each distinct string once; callers keep its index."""

    __slots__ = ("_index", "values")

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        k = self._index.get(text)
        if k is None:
            k = self._index[text] = len(self.values)
            self.values.append(text)
        return k


def _output(r: NodeResult, redact: Redactor, strings: _Strings) -> int:
    return strings(summarize(r.output, redact)) if r.status is NodeStatus.SUCCEEDED else -1


def _info(r: NodeResult, redact: Redactor, strings: _Strings) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if r.error is not None:
        info["e"] = strings(cut(redact(str(r.error)), ERROR_LIMIT))
        if r.error.traceback:
            info["tb"] = strings(cut(redact(r.error.traceback), TRACEBACK_LIMIT, keep_end=True))
    if r.reason:
        info["r"] = strings(cut(redact(r.reason), ERROR_LIMIT))
    if len(r.history) > 1:
        info["ae"] = [
            -1 if a.error is None else strings(cut(redact(str(a.error)), ERROR_LIMIT))
            for a in r.history
        ]
    return info

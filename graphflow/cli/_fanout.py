"""for_each as the CLI shows it: items grouped under their map node, the edges
that items created at run time wait on, and how many items a run will have.

A runtime item ``M[k]`` (of ``for_each: ${X.path}``) is created once X
succeeds (in batches, as the run takes them), so it waited for X, but the
run records only the references in its arguments as its dependencies.
``complete`` adds the edge to X, so that the critical path and the final
outputs see the whole chain.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from graphflow import Event, Graph, NodeResult, NodeStatus, Ref, RunResult, resolve_path

_ITEM: Final = re.compile(r"(.+)\[(\d+)\]")


def item_parent(node_id: str) -> str | None:
    """``"count"`` for ``"count[3]"``; None for a node that is not an item."""
    match = _ITEM.fullmatch(node_id)
    return match.group(1) if match else None


def item_of(node_id: str) -> tuple[str, int] | None:
    """``("count", 3)`` for ``"count[3]"``; None for a node that is not an item."""
    match = _ITEM.fullmatch(node_id)
    return (match.group(1), int(match.group(2))) if match else None


@dataclass(frozen=True, slots=True)
class RuntimeMap:
    """A map node whose items are created at run time, when ``source`` succeeds."""

    node_id: str
    source: Ref
    over: str | None  # the runtime map it is chained over (item k waits for over[k])


def runtime_maps(graph: Graph) -> list[RuntimeMap]:
    """The maps of ``graph`` whose items are only known at run time."""
    plan = graph.plan()
    return [
        RuntimeMap(m.node_id, m.source, m.over) for maps in plan.expansions.values() for m in maps
    ]


def declared_dependencies(graph: Graph) -> dict[str, tuple[str, ...]]:
    """node id -> the node ids it waits for, as compiled (before any runtime item exists)."""
    return {spec.node_id: spec.deps for spec in graph.plan().specs}


def complete(result: RunResult, graph: Graph) -> RunResult:
    """``result`` with every edge a node waited on, including a runtime item's source.

    A result without dependencies (the CLI's own record of an interrupted run)
    gets the graph's compiled ones, the items' edges and each map's edges to its items.
    """
    deps = result.dependencies() or declared_dependencies(graph)
    groups = group_items(result)
    for m in runtime_maps(graph):
        for k, item in enumerate(groups.get(m.node_id, ())):
            upstream = m.source.node_id if m.over is None else f"{m.over}[{k}]"
            deps[item] = tuple(dict.fromkeys((*deps.get(item, ()), upstream)))
        if m.node_id in groups and not result.dependencies():
            deps[m.node_id] = tuple(groups[m.node_id])
    return RunResult(result.run_id, dict(result), result.started_at, result.finished_at, deps)


def group_items(node_ids: Iterable[str]) -> dict[str, list[str]]:
    """map node id -> its item ids (in order) for every map node among ``node_ids``."""
    ids = list(node_ids)
    known = set(ids)
    groups: dict[str, list[str]] = {}
    for node_id in ids:
        parent = item_parent(node_id)
        if parent is not None and parent in known:
            groups.setdefault(parent, []).append(node_id)
    for items in groups.values():
        items.sort(key=lambda i: int(i[i.rindex("[") + 1 : -1]))
    return groups


class ItemCount:
    """How many nodes a run will have, counting items created at run time.

    Args:
        graph: the graph being run.
    """

    def __init__(self, graph: Graph) -> None:
        self.total = len(graph.plan().specs)
        self._by_source: dict[str, list[RuntimeMap]] = {}
        for m in runtime_maps(graph):
            self._by_source.setdefault(m.source.node_id, []).append(m)

    def __call__(self, event: Event) -> None:
        """An ``EventSink``: when a runtime map's source succeeds, add its items."""
        result = event.result
        if result is None or result.status is not NodeStatus.SUCCEEDED:
            return
        for m in self._by_source.get(result.node_id, ()):
            self.total += _item_count(result, m.source)


def _item_count(result: NodeResult, source: Ref) -> int:
    try:
        values: Any = resolve_path(result.output, source) if source.path else result.output
    except Exception:  # the map fails at run time too, with no items
        return 0
    return len(values) if isinstance(values, list | tuple) else 0


def item_counts(results: Mapping[str, NodeResult], items: Iterable[str]) -> dict[NodeStatus, int]:
    """Status -> how many of ``items`` ended in it, in ``NodeStatus`` order, none left out."""
    counts = Counter(results[item].status for item in items)
    return {status: counts[status] for status in NodeStatus if counts[status]}

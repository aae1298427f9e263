"""Graph analysis: levels, chains, critical paths; networkx graphs, Mermaid and DOT.

Levels, the longest chain and the critical path are computed in plain Python
over the plan's integer adjacency lists, in linear time (100,000 nodes in a
fraction of a second); networkx is only for exporting (``plan_graph``,
``to_mermaid``, ``to_dot``), and imported only there. ``graphflow.run`` never imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._results import NodeStatus, RunResult

if TYPE_CHECKING:
    import networkx as nx

    from ._graph import Graph

    DiGraph = nx.DiGraph[str]


def plan_graph(graph: Graph) -> DiGraph:
    """The graph as it will run (static ``for_each`` items expanded), edges pointing downstream.

    Node attributes: ``tool`` (its name) and ``runtime_for_each`` (True for a
    for_each whose items are only known at run time).
    """
    import networkx as nx  # here, not above: 0.15 s that only the exports need

    plan = graph.plan()
    runtime = {m.node_id: m.spec.tool_name for maps in plan.expansions.values() for m in maps}
    dg: DiGraph = nx.DiGraph()
    for spec in plan.specs:
        tool = runtime.get(spec.node_id, spec.tool_name)
        dg.add_node(spec.node_id, tool=tool, runtime_for_each=spec.node_id in runtime)
        dg.add_edges_from((dep, spec.node_id) for dep in spec.deps)
    return dg


def levels(graph: Graph) -> list[list[str]]:
    """Nodes grouped by depth: each group can run together once the ones before are done."""
    plan = graph.plan()
    at = [s.node_id for s in plan.specs].__getitem__
    return [[*map(at, level)] for level in _generations(plan.deps, plan.dependents)]


def longest_chain(graph: Graph) -> list[str]:
    """The longest chain of nodes that must run one after another."""
    plan = graph.plan()
    ids = [s.node_id for s in plan.specs]
    _, chain = _heaviest_chain(plan.deps, [1.0] * len(ids))
    return [ids[i] for i in chain]


def critical_path(result: RunResult) -> tuple[float, list[str]]:
    """The chain of nodes whose measured durations add up the most, and that sum.

    What the run could not have been faster than, given these durations.
    Skipped nodes count zero; dependencies on nodes without a result are ignored.
    """
    ids = list(result)
    if not ids:
        return 0.0, []
    skipped = NodeStatus.SKIPPED
    own = [
        0.0
        if r.status is skipped or (start := r.started_at) is None or (end := r.finished_at) is None
        else end - start
        for r in result.values()
    ]
    total, chain = _heaviest_chain(_rows(result, ids), own)
    return total, [ids[k] for k in chain]


def _rows(result: RunResult, ids: list[str]) -> Sequence[Sequence[int]]:
    """Who waited for whom, by position in ``ids`` (the run's own index when it has one)."""
    index = result.dependency_index()
    if index is not None and list(index.ids) == ids:
        return index.rows
    position = {node_id: k for k, node_id in enumerate(ids)}
    known = result.dependencies()
    return [[position[d] for d in known.get(n, ()) if d in position] for n in ids]


def _generations(
    deps: Sequence[Sequence[int]], dependents: Sequence[Sequence[int]]
) -> list[list[int]]:
    """Kahn's algorithm, one generation at a time (pure Python: no graph library)."""
    pending = [len(d) for d in deps]
    level = [i for i, n in enumerate(pending) if n == 0]
    out: list[list[int]] = []
    while level:
        out.append(level)
        following: list[int] = []
        for i in level:
            for j in dependents[i]:
                pending[j] -= 1
                if pending[j] == 0:
                    following.append(j)
        level = following
    return out


def _heaviest_chain(
    deps: Sequence[Sequence[int]], weight: Sequence[float]
) -> tuple[float, list[int]]:
    """The path whose weights add up the most (the first found among equals), and its sum.

    One pass in index order, which is a topological order whenever each node
    comes after the nodes it depends on (a graph declared dependencies first,
    the common case). Should a node wait for a later one, it starts again over
    Kahn's generations.
    """
    finish = list(weight)  # finish[i]: the heaviest chain ending at i, i included
    best = [-1] * len(deps)  # best[i]: the node before i on that chain (-1: none)
    i = -1
    for row in deps:  # (plain loops and compares: a call to max() a node costs more)
        i += 1
        if not row:
            continue
        prev, top = -1, 0.0
        for d in row:
            if d >= i:
                return _heaviest_chain_in(_kahn_order(deps), deps, weight)
            if prev < 0 or finish[d] > top:
                prev, top = d, finish[d]
        finish[i] += top
        best[i] = prev
    return _chain_end(finish, best)


def _kahn_order(deps: Sequence[Sequence[int]]) -> list[int]:
    dependents: list[list[int]] = [[] for _ in deps]
    for k, row in enumerate(deps):
        for d in row:
            dependents[d].append(k)
    return [i for level in _generations(deps, dependents) for i in level]


def _heaviest_chain_in(
    order: Sequence[int], deps: Sequence[Sequence[int]], weight: Sequence[float]
) -> tuple[float, list[int]]:
    """``_heaviest_chain`` over a topological ``order`` (nodes on a cycle are left out)."""
    finish = [0.0] * len(deps)
    best = [-1] * len(deps)
    at = finish.__getitem__
    for i in order:
        prev = max(deps[i], key=at, default=-1)
        finish[i] = weight[i] + (finish[prev] if prev >= 0 else 0.0)
        best[i] = prev
    return _chain_end(finish, best)


def _chain_end(finish: list[float], best: list[int]) -> tuple[float, list[int]]:
    """The heaviest chain's sum, and the chain, walked back from its last node."""
    if not finish:
        return 0.0, []
    end = max(range(len(finish)), key=finish.__getitem__)
    total = finish[end]
    chain: list[int] = []
    while end >= 0:
        chain.append(end)
        end = best[end]
    return total, chain[::-1]


def _label(dg: DiGraph, node: str) -> str:
    data: dict[str, Any] = dg.nodes[node]
    suffix = " for each item (known at run time)" if data.get("runtime_for_each") else ""
    return f"{node}: {data.get('tool', '')}{suffix}"


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart of the graph."""
    dg = plan_graph(graph)
    ids = {n: f"n{i}" for i, n in enumerate(dg)}
    lines = ["flowchart TD"]
    lines += [f'    {ids[n]}["{_label(dg, n).replace(chr(34), chr(39))}"]' for n in dg]
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in dg.edges]
    return "\n".join(lines)


def to_dot(graph: Graph) -> str:
    """A Graphviz DOT digraph of the graph."""
    dg = plan_graph(graph)

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph graphflow {", "    rankdir=LR;"]
    lines += [f"    {q(n)} [label={q(_label(dg, n))}];" for n in dg]
    lines += [f"    {q(a)} -> {q(b)};" for a, b in dg.edges]
    lines.append("}")
    return "\n".join(lines)

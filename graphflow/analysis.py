"""Graph analysis with networkx: levels, chains, critical paths, Mermaid and DOT.

Not on any hot path: ``graphflow.run`` never imports this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import networkx as nx

from ._results import NodeStatus, RunResult

if TYPE_CHECKING:
    from ._graph import Graph

    DiGraph = nx.DiGraph[str]
else:
    DiGraph = nx.DiGraph


def plan_graph(graph: Graph) -> DiGraph:
    """The graph as it will run (static ``for_each`` items expanded), edges pointing downstream.

    Node attributes: ``tool`` (its name) and ``runtime_for_each`` (True for a
    for_each whose items are only known at run time).
    """
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
    return [list(level) for level in nx.topological_generations(plan_graph(graph))]


def longest_chain(graph: Graph) -> list[str]:
    """The longest chain of nodes that must run one after another."""
    return list(nx.dag_longest_path(plan_graph(graph)))


def critical_path(result: RunResult) -> tuple[float, list[str]]:
    """The chain of nodes whose measured durations add up the most, and that sum.

    What the run could not have been faster than, given these durations.
    """
    deps = result.dependencies()
    finish: dict[str, float] = {}
    best: dict[str, str | None] = {}
    dg: DiGraph = nx.DiGraph()
    dg.add_nodes_from(result)
    dg.add_edges_from((d, n) for n, ds in deps.items() for d in ds if d in result and n in result)
    for node in nx.topological_sort(dg):
        r = result[node]
        own = r.duration or 0.0 if r.status is not NodeStatus.SKIPPED else 0.0
        prev = max(dg.predecessors(node), key=lambda p: finish[p], default=None)
        finish[node] = own + (finish[prev] if prev is not None else 0.0)
        best[node] = prev
    if not finish:
        return 0.0, []
    end: str | None = max(finish, key=lambda n: finish[n])
    total = finish[end]  # type: ignore[index]
    chain: list[str] = []
    while end is not None:
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

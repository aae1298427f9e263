"""Levels, longest chain and critical path in plain Python, checked against networkx."""

from __future__ import annotations

import itertools
import random

import networkx as nx

import graphflow as gf
from graphflow import analysis


def noop(**_: object) -> None:
    return None


def random_graph(rng: random.Random) -> tuple[gf.Graph, nx.DiGraph[str]]:
    n = rng.randint(1, 40)
    order = list(range(n))
    rng.shuffle(order)  # declared in any order, not only topologically
    deps = {i: rng.sample(range(i), rng.randint(0, min(3, i))) for i in range(n)}
    g = gf.Graph()
    dg: nx.DiGraph[str] = nx.DiGraph()
    for i in order:
        g.add(f"n{i}", noop, depends_on=[f"n{d}" for d in deps[i]])
        dg.add_node(f"n{i}")
        dg.add_edges_from((f"n{d}", f"n{i}") for d in deps[i])
    return g, dg


class TestAgainstNetworkx:
    def test_levels_and_longest_chain_on_random_dags(self) -> None:
        rng = random.Random(3)
        for _ in range(300):
            g, dg = random_graph(rng)
            ours = [sorted(level) for level in analysis.levels(g)]
            assert ours == [sorted(level) for level in nx.topological_generations(dg)]
            chain = analysis.longest_chain(g)
            assert len(chain) == nx.dag_longest_path_length(dg) + 1
            assert all(dg.has_edge(a, b) for a, b in itertools.pairwise(chain))

    def test_the_critical_path_of_a_run_is_its_heaviest_chain(self) -> None:
        rng = random.Random(4)
        for _ in range(50):
            g, dg = random_graph(rng)
            result = gf.run_sync(g)
            total, chain = analysis.critical_path(result)
            weight = {n: result[n].duration or 0.0 for n in dg}
            heaviest: dict[str, float] = {}
            for n in nx.topological_sort(dg):  # the reference, written independently
                heaviest[n] = weight[n] + max((heaviest[p] for p in dg.predecessors(n)), default=0)
            best = max(heaviest.values())
            assert abs(total - best) < 1e-9
            assert abs(sum(weight[n] for n in chain) - total) < 1e-9
            assert all(dg.has_edge(a, b) for a, b in itertools.pairwise(chain))

    def test_one_pass_in_order_and_kahn_out_of_order_agree(self) -> None:
        # Results listed dependencies first take the one-pass path; shuffled, a
        # node comes before what it waits for and Kahn's order is used instead.
        rng = random.Random(5)
        for _ in range(100):
            n = rng.randint(1, 40)
            deps = {
                f"n{i}": [f"n{d}" for d in rng.sample(range(i), rng.randint(0, min(3, i)))]
                for i in range(n)
            }
            took = {node: float(rng.randint(0, 3)) for node in deps}  # ties on purpose
            dg: nx.DiGraph[str] = nx.DiGraph()
            dg.add_nodes_from(deps)
            dg.add_edges_from((d, node) for node, row in deps.items() for d in row)
            heaviest: dict[str, float] = {}
            for node in nx.topological_sort(dg):
                up = [heaviest[p] for p in dg.predecessors(node)]
                heaviest[node] = took[node] + max(up, default=0.0)
            shuffled = list(deps)
            rng.shuffle(shuffled)
            for order in (list(deps), shuffled):
                results = {
                    node: gf.NodeResult(
                        node, gf.NodeStatus.SUCCEEDED, started_at=0.0, finished_at=took[node]
                    )
                    for node in order
                }
                run = gf.RunResult("r", results, 0.0, 1.0, {k: deps[k] for k in order})
                total, chain = analysis.critical_path(run)
                assert total == max(heaviest.values())
                assert sum(took[k] for k in chain) == total
                assert all(dg.has_edge(a, b) for a, b in itertools.pairwise(chain))
                assert not deps[chain[0]]

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

"""Node fingerprints (``_spec.fingerprints``), which a resumed run compares to
say what changed: each node's hash of what it does and of its upstream nodes'
fingerprints, the same however the graph's nodes were ordered when added."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

import graphflow as gf
from graphflow._graph import Plan
from graphflow._spec import fingerprint, fingerprints


def step(x: object = None) -> object:
    return x


def other(x: object = None) -> object:
    return x


def graph(deps: list[list[int]], order: list[int], changed: int | None = None) -> gf.Graph:
    """Nodes ``n0..`` with ``deps`` (lower indices only), added in ``order``."""
    g = gf.Graph()
    for i in order:
        tool = other if i == changed else step
        g.add(f"n{i}", tool, args={"x": i}, depends_on=[f"n{d}" for d in deps[i]])
    return g


def one_pass(plan: Plan) -> dict[str, str]:
    ids = [s.node_id for s in plan.specs]
    return dict(zip(ids, fingerprints(plan.specs, plan.deps), strict=True))


def by_definition(plan: Plan) -> dict[str, str]:
    """One node at a time, recursively: the definition the one pass must match."""
    index = {s.node_id: i for i, s in enumerate(plan.specs)}
    memo: dict[str, str] = {}

    def of(node_id: str) -> str:
        if node_id not in memo:
            spec = plan.specs[index[node_id]]
            memo[node_id] = fingerprint(spec, [of(d) for d in spec.deps])
        return memo[node_id]

    return {s.node_id: of(s.node_id) for s in plan.specs}


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[list[int]], list[int]]:
    n = draw(st.integers(1, 25))
    rng = random.Random(draw(st.integers(0, 2**16)))
    deps = [sorted(rng.sample(range(i), min(i, rng.randint(0, 3)))) for i in range(n)]
    order = list(range(n))
    rng.shuffle(order)  # nodes added before their upstream nodes, too
    return deps, order


class TestFingerprints:
    @settings(max_examples=60, deadline=None)
    @given(dags())
    def test_one_pass_matches_the_definition_in_any_order(
        self, case: tuple[list[list[int]], list[int]]
    ) -> None:
        deps, order = case
        plan = graph(deps, order).plan()
        found = one_pass(plan)
        assert found == by_definition(plan)
        assert one_pass(graph(deps, sorted(order)).plan()) == found  # however nodes were added

    def test_a_change_marks_the_node_and_everything_below_it(self) -> None:
        deps = [[], [0], [0], [1], [2], [3, 4], []]  # n5 below n1 and n2; n6 apart
        before = graph(deps, list(range(7))).plan()
        after = graph(deps, list(range(7)), changed=1).plan()
        old = fingerprints(before.specs, before.deps)
        new = fingerprints(after.specs, after.deps)
        changed = {before.specs[i].node_id for i in range(7) if old[i] != new[i]}
        assert changed == {"n1", "n3", "n5"}

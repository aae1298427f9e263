from __future__ import annotations

import graphlib
import itertools
import math
import random

import pytest

import graphflow as gf


def noop(**_: object) -> None:
    return None


class TestAdd:
    def test_duplicate_id_is_refused_at_add(self) -> None:
        g = gf.Graph()
        g.add("a", noop)
        with pytest.raises(gf.DuplicateNodeError, match="'a'") as info:
            g.add("a", noop)
        assert info.value.node_id == "a"
        assert len(g) == 1

    @pytest.mark.parametrize("bad", ["", "a.b", "x${y}", 3])
    def test_bad_node_ids(self, bad: object) -> None:
        with pytest.raises(gf.SpecError):
            gf.Graph().add(bad, noop)  # type: ignore[arg-type]

    def test_options_never_share_a_namespace_with_tool_args(self) -> None:
        def tool(timeout: int, retries: int, depends_on: str) -> tuple[int, int, str]:
            return timeout, retries, depends_on

        g = gf.Graph()
        g.add("t", tool, args={"timeout": 1, "retries": 2, "depends_on": "x"}, timeout=5)
        assert gf.run_sync(g)["t"].output == (1, 2, "x")

    @pytest.mark.parametrize(
        ("options", "field"),
        [
            ({"timeout": 0}, "timeout"),
            ({"timeout": "5"}, "timeout"),
            ({"retries": -1}, "retries"),
            ({"trigger": "sometimes"}, "trigger"),
            ({"args": ["x"]}, "args"),
            ({"args": {"x": "${}"}}, "args"),
            ({"resources": ["GPU"]}, "resources"),
            ({"resources": {"GPU": 0}}, "resources"),
            ({"resources": {"GPU": True}}, "resources"),
            ({"resources": {"GPU": float("inf")}}, "resources"),
            ({"resources": {"": 1}}, "resources"),
        ],
    )
    def test_bad_options_name_node_and_field(self, options: dict[str, object], field: str) -> None:
        with pytest.raises(gf.SpecError) as info:
            gf.Graph().add("n", noop, **options)  # type: ignore[arg-type]
        assert str(info.value).startswith("node 'n': ")
        assert info.value.key == f"n.{field}"

    def test_resources_are_the_nodes_else_the_tools(self) -> None:
        gpu_tool = gf.tool(resources={"GPU": 1})(noop)
        g = gf.Graph()
        assert g.add("own", noop, resources={"GPU": 2, "memory": 1.5}).resources == {
            "GPU": 2.0,
            "memory": 1.5,
        }
        assert g.add("tools", gpu_tool).resources == {"GPU": 1.0}
        assert g.add("over", gpu_tool, resources={"TPU": 1}).resources == {"TPU": 1.0}
        assert g.add("none", noop, resources={}).resources is None
        assert g.add("plain", noop).resources is None

    def test_tool_must_be_callable(self) -> None:
        with pytest.raises(gf.SpecError, match="callable"):
            gf.Graph().add("n", "not a function")  # type: ignore[arg-type]

    def test_a_single_string_depends_on_is_one_node(self) -> None:
        g = gf.Graph()
        g.add("abc", noop)
        spec = g.add("d", noop, depends_on="abc")
        assert spec.deps == ("abc",)

    def test_deps_merge_explicit_and_referenced_without_repeats(self) -> None:
        g = gf.Graph()
        spec = g.add(
            "d", noop, args={"x": "${a.k}", "y": gf.ref("b"), "z": "${a}"}, depends_on=["c", "a"]
        )
        assert spec.deps == ("c", "a", "b")


class TestValidation:
    def test_cycle_names_the_path(self) -> None:
        g = gf.Graph()
        g.add("a", noop, depends_on=["c"])
        g.add("b", noop, args={"x": "${a}"})
        g.add("c", noop, args={"x": gf.ref("b", "y")})
        g.add("ok", noop)
        with pytest.raises(gf.CycleError) as info:
            g.validate()
        assert info.value.cycle == ["a", "b", "c", "a"]
        assert str(info.value).startswith("cycle: a -> b -> c -> a")

    def test_a_long_cycle_is_named_by_its_ends_and_its_length(self) -> None:
        """A 5,000-node cycle and a 10,000-node one printed the same 28 nodes, cut."""
        g = gf.Graph()
        for i in range(5_000):
            g.add(f"n{i}", noop, depends_on=[f"n{(i - 1) % 5_000}"])
        with pytest.raises(gf.CycleError) as info:
            g.validate()
        assert len(info.value.cycle) == 5_001
        first, *_, last = info.value.cycle[:-1]
        assert str(info.value).startswith(f"cycle of 5,000 nodes: {first} -> ")
        assert " -> … -> " in str(info.value)
        assert str(info.value).split(" (")[0].endswith(f" -> {last} -> {first}")
        assert len(str(info.value)) < 160

    def test_self_loop(self) -> None:
        g = gf.Graph()
        g.add("a", noop, args={"me": "${a}"})
        with pytest.raises(gf.CycleError, match="cycle: a -> a") as info:
            g.validate()
        assert info.value.cycle == ["a", "a"]

    def test_cycle_downstream_of_valid_nodes_is_found(self) -> None:
        g = gf.Graph()
        g.add("root", noop)
        g.add("x", noop, depends_on=["root", "y"])
        g.add("y", noop, depends_on=["x"])
        with pytest.raises(gf.CycleError) as info:
            g.validate()
        assert info.value.cycle == ["x", "y", "x"]

    def test_unknown_dependency(self) -> None:
        g = gf.Graph()
        g.add("a", noop, depends_on=["ghost"])
        with pytest.raises(
            gf.UnknownNodeError, match="'a' depends on unknown node 'ghost'"
        ) as info:
            g.validate()
        assert (info.value.node_id, info.value.missing) == ("a", "ghost")

    def test_unknown_reference(self) -> None:
        g = gf.Graph()
        g.add("a", noop, args={"x": ["${ghost.key}"]})
        with pytest.raises(gf.UnknownNodeError, match="'a' references unknown node 'ghost'"):
            g.validate()

    @pytest.mark.anyio
    async def test_a_bad_graph_runs_nothing(self) -> None:
        calls: list[str] = []
        g = gf.Graph()
        g.add("a", lambda: calls.append("a"))
        g.add("b", noop, depends_on=["b"])
        with pytest.raises(gf.CycleError):
            await gf.run(g)
        assert calls == []

    def test_errors_share_one_base(self) -> None:
        for cls in (gf.CycleError, gf.UnknownNodeError, gf.DuplicateNodeError, gf.SpecError):
            assert issubclass(cls, gf.GraphError)

    def test_infinite_timeout_is_kept_to_override_a_run_default(self) -> None:
        assert gf.Graph().add("a", noop, timeout=math.inf).timeout == math.inf

    def test_to_networkx_edges_point_downstream(self) -> None:
        g = gf.Graph()
        g.add("a", noop)
        g.add("b", noop, args={"x": "${a}"})
        assert list(g.to_networkx().edges) == [("a", "b")]


class TestCyclesAgainstGraphlib:
    """A thousand random digraphs, nodes added in random orders: the same verdict as graphlib."""

    def test_cycles_are_found_and_named_whatever_the_insertion_order(self) -> None:
        rng = random.Random(7)
        for _ in range(1000):
            n = rng.randint(1, 12)
            deps = {i: {rng.randrange(n) for _ in range(rng.randint(0, 3))} for i in range(n)}
            order = list(range(n))
            rng.shuffle(order)
            g = gf.Graph()
            for i in order:
                g.add(f"n{i}", _noop, depends_on=[f"n{d}" for d in sorted(deps[i])])
            try:
                list(graphlib.TopologicalSorter(deps).static_order())
                has_cycle = False
            except graphlib.CycleError:
                has_cycle = True
            if not has_cycle:
                g.validate()
                continue
            with pytest.raises(gf.CycleError) as caught:
                g.validate()
            cycle = caught.value.cycle
            assert cycle[0] == cycle[-1] and len(set(cycle)) == len(cycle) - 1
            for upstream, downstream in itertools.pairwise(cycle):
                assert int(upstream[1:]) in deps[int(downstream[1:])], (cycle, deps)


def _noop() -> None:
    return None

"""for_each: static, chained (item-level edges) and runtime fan-outs."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import anyio
import anyio.lowlevel
import pytest

import graphflow as gf
from graphflow import NodeStatus as S
from graphflow._state import EXPAND_EVERY, WAITING_ENOUGH, RunState

pytestmark = pytest.mark.anyio


async def double(x: int) -> int:
    return 2 * x


async def value(x: Any = None) -> Any:
    return x


class TestStatic:
    async def test_items_are_nodes_and_the_map_lists_their_outputs(self) -> None:
        g = gf.Graph()
        g.add("sq", double, for_each=[1, 2, 3], args={"x": "${item}"})
        g.add("total", lambda xs: sum(xs), args={"xs": "${sq}"})
        result = await gf.run(g)
        assert list(result) == ["sq[0]", "sq[1]", "sq[2]", "sq", "total"]
        assert [result[f"sq[{i}]"].output for i in range(3)] == [2, 4, 6]
        assert result["sq"].output == [2, 4, 6]
        assert result["total"].output == 12

    async def test_item_paths_and_interpolation(self) -> None:
        g = gf.Graph()
        g.add("base", value, args={"x": "eu"})
        g.add(
            "msg",
            value,
            for_each=[{"sku": "A1"}, {"sku": "B2"}],
            args={"x": "${item.sku}@${base}"},
        )
        assert (await gf.run(g))["msg"].output == ["A1@eu", "B2@eu"]

    async def test_an_item_value_is_never_parsed_as_a_reference(self) -> None:
        g = gf.Graph()
        g.add("m", value, for_each=["${secret}"], args={"x": "${item}"})
        assert (await gf.run(g))["m"].output == ["${secret}"]

    async def test_empty_list_gives_an_empty_output_after_upstream(self) -> None:
        g = gf.Graph()
        g.add("up", value, args={"x": 1})
        g.add("m", value, for_each=[], args={"x": "${up}"})
        result = await gf.run(g)
        assert result["m"].output == [] and result["m"].started_at is not None
        assert result["m"].started_at >= result["up"].finished_at  # type: ignore[operator]

    async def test_a_failed_item_skips_the_map_but_not_its_siblings(self) -> None:
        async def check(x: int) -> int:
            if x == 2:
                raise ValueError("two")
            return x

        g = gf.Graph()
        g.add("m", check, for_each=[1, 2, 3], args={"x": "${item}"})
        g.add("after", value, args={"x": "${m}"})
        g.add("summary", value, args={"x": "${m}"}, trigger="all_done")
        result = await gf.run(g)
        assert [result[f"m[{i}]"].status for i in range(3)] == [S.SUCCEEDED, S.FAILED, S.SUCCEEDED]
        assert result["m"].status == S.SKIPPED and result["m"].reason == "upstream 'm[1]' failed"
        assert result["after"].reason == "upstream 'm[1]' failed (via 'm')"
        assert result["summary"].output is None

    async def test_max_parallel_caps_the_items_only(self) -> None:
        running = peak = 0

        async def tool(x: int) -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await anyio.sleep(0.01)
            running -= 1
            return x

        others = 0

        async def other() -> None:
            nonlocal others
            others = max(others, running)

        g = gf.Graph()
        g.add("m", tool, for_each=list(range(10)), args={"x": "${item}"}, max_parallel=2)
        g.add("other", other)
        result = await gf.run(g, concurrency=8)
        assert result.ok and peak == 2

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"for_each": 5}, "for_each must be a list or a reference"),
            ({"for_each": "x ${a}"}, "for_each must be a list or one reference"),
            ({"max_parallel": 2}, "max_parallel needs for_each"),
            ({"for_each": [1], "max_parallel": 0}, "max_parallel must be an int >= 1"),
            ({"args": {"x": "${item}"}}, "${item} is only defined in a node with for_each"),
        ],
    )
    def test_bad_for_each_options(self, options: dict[str, Any], message: str) -> None:
        with pytest.raises(gf.SpecError, match=message.replace("$", r"\$")):
            gf.Graph().add("n", value, **options)

    def test_unknown_for_each_source(self) -> None:
        g = gf.Graph()
        g.add("m", value, for_each="${ghost.items}", args={"x": "${item}"})
        with pytest.raises(gf.UnknownNodeError, match="'m' iterates over unknown node 'ghost'"):
            g.validate()


class TestChained:
    @pytest.mark.parametrize("runtime", [False, True])
    async def test_item_i_waits_only_for_upstream_item_i(self, runtime: bool) -> None:
        # lookup[1] can only finish after price[0] started: a barrier would deadlock.
        price0_started = anyio.Event()

        async def lookup(sku: str) -> str:
            if sku == "B":
                await price0_started.wait()
            return sku.lower()

        async def price(name: str) -> str:
            if name == "a":
                price0_started.set()
            return name + "$"

        g = gf.Graph()
        g.add("skus", value, args={"x": ["A", "B"]})
        g.add(
            "lookup", lookup, for_each="${skus}" if runtime else ["A", "B"], args={"sku": "${item}"}
        )
        g.add("price", price, for_each="${lookup}", args={"name": "${item}"})
        g.add("all", value, args={"x": "${price}"})
        with anyio.fail_after(5):
            result = await gf.run(g)
        assert result.ok, {k: r.error or r.reason for k, r in result.items() if not r.ok}
        assert result["price"].output == ["a$", "b$"]
        assert result["all"].output == ["a$", "b$"]

    async def test_three_level_runtime_chain(self) -> None:
        g = gf.Graph()
        g.add("src", value, args={"x": [1, 2, 3]})
        g.add("a", double, for_each="${src}", args={"x": "${item}"})
        g.add("b", double, for_each="${a}", args={"x": "${item}"})
        g.add("c", double, for_each="${b}", args={"x": "${item}"}, max_parallel=1)
        result = await gf.run(g)
        assert result["c"].output == [8, 16, 24]
        assert {f"c[{i}]" for i in range(3)} <= set(result)

    def test_a_node_iterating_over_itself(self) -> None:
        g = gf.Graph()
        g.add("a", value, for_each="${a}", args={"x": "${item}"})
        with pytest.raises(gf.CycleError, match="cycle: a -> a"):
            g.validate()

    def test_a_for_each_chain_cycle_is_named(self) -> None:
        g = gf.Graph()
        g.add("a", value, for_each="${b}", args={"x": "${item}"})
        g.add("b", value, for_each="${a}", args={"x": "${item}"})
        with pytest.raises(gf.CycleError, match="a -> b -> a"):
            g.validate()


class TestRuntime:
    async def test_items_created_from_an_upstream_output_path(self) -> None:
        g = gf.Graph()
        g.add("search", value, args={"x": {"hits": [3, 4]}})
        g.add("m", double, for_each="${search.hits}", args={"x": "${item}"})
        g.add("after", value, args={"x": "${m}"})
        result = await gf.run(g)
        assert result["m"].output == [6, 8]
        assert result["m[1]"].output == 8
        assert result["after"].output == [6, 8]

    async def test_a_non_list_fails_the_map_and_skips_downstream(self) -> None:
        g = gf.Graph()
        g.add("search", value, args={"x": {"hits": "oops"}})
        g.add("m", double, for_each="${search.hits}", args={"x": "${item}"})
        g.add("chained", double, for_each="${m}", args={"x": "${item}"})
        g.add("after", value, args={"x": "${m}"})
        result = await gf.run(g)
        err = result["m"].error
        assert err is not None and err.type == "TypeError"
        assert err.message == "for_each of 'm' needs a list, but ${search.hits} is str"
        assert result["after"].status == S.SKIPPED
        assert result["chained"].status == S.SKIPPED

    async def test_a_failed_source_skips_the_map(self) -> None:
        async def fails() -> None:
            raise RuntimeError("down")

        g = gf.Graph()
        g.add("search", fails)
        g.add("m", double, for_each="${search}", args={"x": "${item}"})
        result = await gf.run(g)
        assert result["m"].status == S.SKIPPED and result["m"].reason == "upstream 'search' failed"

    async def test_items_also_wait_for_the_maps_other_upstream(self) -> None:
        slow_done = anyio.Event()

        async def slow() -> str:
            await anyio.sleep(0.05)
            slow_done.set()
            return "s"

        async def item_tool(x: int, s: str) -> str:
            assert slow_done.is_set()
            return f"{x}{s}"

        g = gf.Graph()
        g.add("src", value, args={"x": [1, 2]})
        g.add("slow", slow)
        g.add("m", item_tool, for_each="${src}", args={"x": "${item}", "s": "${slow}"})
        assert (await gf.run(g))["m"].output == ["1s", "2s"]

    def test_a_node_named_as_a_runtime_item_is_refused(self) -> None:
        """It ran, and the item made at run time silently took its place."""
        g = gf.Graph()
        g.add("src", value, args={"x": [1, 2, 3]})
        g.add("m", double, for_each="${src}", args={"x": "${item}"})
        g.add("m[1]", value)
        g.add("m[x]", value)  # (not an item's id)
        with pytest.raises(gf.DuplicateNodeError) as caught:
            g.plan()
        assert caught.value.node_id == "m[1]"
        assert str(caught.value) == (
            "node id 'm[1]' is taken: it names item 1 of for_each node 'm', made at run time"
        )

    async def test_runs_twice_from_one_graph(self) -> None:
        g = gf.Graph()
        g.add("src", value, args={"x": [1, 2]})
        g.add("m", double, for_each="${src}", args={"x": "${item}"})
        first, second = await gf.run(g), await gf.run(g)
        assert first["m"].output == second["m"].output == [2, 4]
        assert len(first) == len(second) == 4


async def test_a_non_list_for_each_stops_a_fail_fast_run() -> None:
    started = anyio.Event()

    async def hang() -> None:
        started.set()
        await anyio.sleep_forever()

    async def source() -> str:
        await started.wait()
        return "not a list"

    g = gf.Graph()
    g.add("hang", hang)
    g.add("src", source)
    g.add("m", double, for_each="${src}", args={"x": "${item}"})
    with anyio.fail_after(5):
        result = await gf.run(g, fail_fast=True)
    assert result["m"].status == S.FAILED
    assert result["hang"].status == S.CANCELLED
    assert result["hang"].reason == "fail_fast: 'm' failed"


class TestLongChains:
    @pytest.mark.parametrize("kind", ["static", "runtime"])
    def test_a_chain_of_1500_maps_plans_and_runs(self, kind: str) -> None:
        # longer than Python's recursion limit: planning and expanding must loop, not recurse
        def source() -> list[int]:
            return [1, 2]

        def same(x: int) -> int:
            return x

        g = gf.Graph()
        if kind == "static":
            g.add("m0", same, for_each=[1, 2], args={"x": "${item}"})
        else:
            g.add("src", source)
            g.add("m0", same, for_each="${src}", args={"x": "${item}"})
        for k in range(1, 1500):
            g.add(f"m{k}", same, for_each=f"${{m{k - 1}}}", args={"x": "${item}"})
        result = gf.run_sync(g)
        assert result.ok and result["m1499"].output == [1, 2]
        assert result.dependencies()["m1499[1]"] == ("m1498[1]",)


class TestPartial:
    @pytest.mark.parametrize("runtime", [False, True])
    async def test_the_aggregate_keeps_what_succeeded_and_marks_what_failed(
        self, runtime: bool
    ) -> None:
        async def price(sku: str) -> int:
            if sku == "B2":
                raise LookupError("no such sku")
            return len(sku) * 10

        async def skus() -> list[str]:
            return ["A1", "B2", "C33"]

        async def cheapest(records: list[dict[str, Any]]) -> int:
            return int(min(r["output"] for r in records if r["status"] == "succeeded"))

        g = gf.Graph()
        g.add("skus", skus)
        source = "${skus}" if runtime else ["A1", "B2", "C33"]
        g.add("prices", price, for_each=source, args={"sku": "${item}"}, partial=True)
        g.add("best", cheapest, args={"records": "${prices}"})
        g.add("why", value, args={"x": "${prices.1.error.message}"})
        result = await gf.run(g)
        assert result["prices"].ok and result["best"].output == 20
        records = result["prices"].output
        assert [r["status"] for r in records] == ["succeeded", "failed", "succeeded"]
        assert records[1]["node_id"] == "prices[1]"
        assert records[1]["error"] == {"type": "LookupError", "message": "no such sku"}
        assert result["why"].output == "no such sku"
        assert result["prices[1]"].status == S.FAILED

    def test_partial_needs_for_each(self) -> None:
        with pytest.raises(gf.SpecError, match="partial"):
            gf.Graph().add("a", value, partial=True)

    async def test_items_made_at_run_time_record_their_source_as_upstream(self) -> None:
        async def source() -> list[int]:
            return [1, 2]

        g = gf.Graph()
        g.add("src", source)
        g.add("m", double, for_each="${src}", args={"x": "${item}"}, depends_on="src")
        result = await gf.run(g)
        deps = result.dependencies()
        assert deps["m[0]"] == ("src",) and deps["m[1]"] == ("src",)
        assert deps["m"] == ("m[0]", "m[1]")


class TestBigRuntimeMaps:
    """A map over many items makes them a batch a tick, as fast as they run, no faster."""

    async def test_items_made_in_batches_run_and_gather_in_order(self) -> None:
        n = 3 * EXPAND_EVERY + 7
        g = gf.Graph()
        g.add("src", value, args={"x": list(range(n))})
        g.add("m", double, for_each="${src}", args={"x": "${item}"})
        g.add("chained", double, for_each="${m}", args={"x": "${item}"})
        g.add("total", lambda xs: sum(xs), args={"xs": "${chained}"})
        result = await gf.run(g)
        assert result.ok
        assert result["m"].output == [2 * k for k in range(n)]
        assert result["chained"].output == [4 * k for k in range(n)]
        assert result["total"].output == 4 * sum(range(n))
        assert len(result) == 2 * n + 4

    def test_a_source_of_100000_makes_items_only_as_those_made_run(self) -> None:
        g = gf.Graph()
        g.add("src", value)
        g.add("m", double, for_each="${src}", args={"x": "${item}"})
        state = RunState(g.plan())
        asked: list[int] = []
        state.on_expand = lambda: asked.append(len(state.specs))
        state.start()
        src = state.ready.popleft()
        state.begin(src)
        state.succeeded(src, list(range(100_000)))
        assert asked == [2 + EXPAND_EVERY]  # a batch now; the driver is asked once to go on
        while len(state.ready) < WAITING_ENOUGH:
            assert state.expand_more() is True  # a batch each time (a loop tick each)
        assert len(state.specs) == 2 + WAITING_ENOUGH
        assert state.expand_more() is True  # none has run: nothing new is made
        assert len(state.specs) == 2 + WAITING_ENOUGH
        for _ in range(EXPAND_EVERY):
            i = state.ready.popleft()
            state.begin(i)
            state.succeeded(i, 0)
        assert state.results[state.index["m"]] is None  # the gather waits for all 100,000
        assert state.expand_more() is True
        assert len(state.specs) == 2 + WAITING_ENOUGH + EXPAND_EVERY

    async def test_under_a_small_cap_the_rest_waits_without_spinning(self) -> None:
        """The items left to make wait for the workers to take the ready ones: not
        a task polling every loop tick while 2 workers get through the first ones."""
        calls = 0
        expand_more = RunState.expand_more

        def counted(state: RunState, lazily: bool = True) -> bool:
            nonlocal calls
            calls += 1
            return expand_more(state, lazily)

        async def item(x: int) -> int:
            await anyio.lowlevel.checkpoint()
            return x

        n = WAITING_ENOUGH + 3 * EXPAND_EVERY
        g = gf.Graph()
        g.add("src", value, args={"x": list(range(n))})
        g.add("m", item, for_each="${src}", args={"x": "${item}"})
        with patch.object(RunState, "expand_more", counted):
            result = await gf.run(g, concurrency=2)
        assert result["m"].output == list(range(n))
        assert calls <= 2 * (n // EXPAND_EVERY) + 2  # (once a batch, not once a tick)

    async def test_under_max_parallel_items_are_made_as_they_run(self) -> None:
        """Items parked on the map's max_parallel wait to run as ready ones do:
        24,064 of 100,000 were made in the first second when 2 could run."""
        ran = 0

        async def item(x: int) -> int:
            nonlocal ran
            ran += 1
            if ran == 300:
                scope.cancel()
            await anyio.lowlevel.checkpoint()
            return x

        g = gf.Graph()
        g.add("src", value, args={"x": list(range(100_000))})
        g.add("m", item, for_each="${src}", args={"x": "${item}"}, max_parallel=2)
        seen: list[gf.NodeResult] = []
        with anyio.CancelScope() as scope:
            await gf.run(g, observers=[_Finished(seen)])
        made = {r.node_id for r in seen if r.node_id.startswith("m[")}
        assert 300 <= len(made) <= WAITING_ENOUGH + 2 * EXPAND_EVERY

    async def test_a_throttled_map_does_not_hold_back_a_free_one(self) -> None:
        """Items parked on one map's max_parallel counted as waiting for every map:
        3,000 items of a free map, done in 0.4 s alone, waited minutes beside it."""

        async def slow(x: int) -> int:
            await anyio.sleep(60)
            return x

        async def quick(x: int) -> int:
            await anyio.lowlevel.checkpoint()
            return x

        def on_done(event: gf.Event) -> None:
            if event.node_id == "free" and event.kind is gf.EventKind.NODE_SUCCEEDED:
                scope.cancel()

        g = gf.Graph()
        g.add("a", value, args={"x": list(range(WAITING_ENOUGH + 100))})
        g.add("throttled", slow, for_each="${a}", args={"x": "${item}"}, max_parallel=1)
        g.add("b", value, args={"x": list(range(WAITING_ENOUGH + 1000))})
        g.add("free", quick, for_each="${b}", args={"x": "${item}"})
        with anyio.fail_after(30), anyio.CancelScope() as scope:
            await gf.run(g, observers=[on_done])
        assert scope.cancelled_caught  # (by "free" succeeding, all its items made and run)

    async def test_a_gather_skipped_while_its_items_are_made_depends_on_them(self) -> None:
        async def item(x: int) -> int:
            if x == 3:
                raise ValueError("bad item")
            return x

        n = 2 * EXPAND_EVERY + 5
        g = gf.Graph()
        g.add("src", value, args={"x": list(range(n))})
        g.add("m", item, for_each="${src}", args={"x": "${item}"})
        result = await gf.run(g)
        assert result["m"].status is S.SKIPPED and result["m"].cause == "m[3]"
        assert result.dependencies()["m"] == tuple(f"m[{k}]" for k in range(n))

    async def test_a_fail_fast_stop_while_a_big_map_is_made_ends_it(self) -> None:
        async def item(x: int) -> int:
            await anyio.lowlevel.checkpoint()
            if x == EXPAND_EVERY + 100:
                raise ValueError("bad item")
            return x

        g = gf.Graph()
        g.add("src", value, args={"x": list(range(100_000))})
        g.add("m", item, for_each="${src}", args={"x": "${item}"})
        g.add("after", value, args={"x": "${m}"})
        with anyio.fail_after(20):
            result = await gf.run(g, fail_fast=True)
        made = [k for k in result if k.startswith("m[")]
        assert len(made) < 10 * EXPAND_EVERY  # (not the 100,000)
        assert result[f"m[{EXPAND_EVERY + 100}]"].status is S.FAILED
        assert result["m"].status is S.SKIPPED and result["after"].status is S.SKIPPED
        assert result["m"].cause == f"m[{EXPAND_EVERY + 100}]"

    async def test_cancelled_from_outside_while_a_big_map_is_made(self) -> None:
        ran = 0

        async def item(x: int) -> int:
            nonlocal ran
            ran += 1
            if ran == 2 * EXPAND_EVERY:
                scope.cancel()
            await anyio.lowlevel.checkpoint()
            return x

        g = gf.Graph()
        g.add("src", value, args={"x": list(range(100_000))})
        g.add("m", item, for_each="${src}", args={"x": "${item}"})
        seen: list[gf.NodeResult] = []
        with anyio.CancelScope() as scope:
            await gf.run(g, observers=[_Finished(seen)])
        assert scope.cancelled_caught
        made = {r.node_id for r in seen if r.node_id.startswith("m[")}
        assert 2 * EXPAND_EVERY <= len(made) < 10 * EXPAND_EVERY
        assert len(seen) == len({r.node_id for r in seen})  # one result each
        assert {r.node_id for r in seen} == {"src", "m", *made}


class _Finished:
    """An observer keeping each node's final result."""

    def __init__(self, into: list[gf.NodeResult]) -> None:
        self.into = into

    def __call__(self, event: gf.Event) -> None:
        if event.result is not None:
            self.into.append(event.result)

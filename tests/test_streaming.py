"""Scheduler: a graph that grows while it runs."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import graphflow as gf
from graphflow import NodeStatus as S

pytestmark = pytest.mark.anyio


async def value(x: Any = None) -> Any:
    return x


async def fail() -> None:
    raise ValueError("nope")


async def test_results_stream_in_completion_order_and_wait_returns_all() -> None:
    release = anyio.Event()

    async def slow() -> str:
        await release.wait()
        return "slow"

    async def fast() -> str:
        release.set()
        return "fast"

    async with gf.Scheduler() as s:
        s.add("slow", slow)
        s.add("fast", fast)
        s.add("after", value, args={"x": "${slow}!"})
        order = [r.node_id async for r in s.results()]
        result = await s.wait()
    assert order == ["fast", "slow", "after"]
    assert result["after"].output == "slow!" and result.ok and len(result) == 3


async def test_a_node_added_after_its_upstream_finished_starts_at_once() -> None:
    async with gf.Scheduler() as s:
        s.add("a", value, args={"x": 1})
        first = await s.wait()
        assert first["a"].output == 1
        s.add("b", value, args={"x": "${a}"})
        second = await s.wait()
    assert second["b"].output == 1 and len(second) == 2


async def test_a_node_added_after_its_upstream_failed_is_skipped_at_once() -> None:
    async with gf.Scheduler() as s:
        s.add("bad", fail)
        await s.wait()
        s.add("child", value, args={"x": "${bad}"})
        s.add("cleanup", value, args={"x": "${bad}"}, trigger="all_done")
        result = await s.wait()
    assert result["child"].status == S.SKIPPED and result["child"].reason == "upstream 'bad' failed"
    assert result["cleanup"].ok and result["cleanup"].output is None


async def test_adding_while_an_upstream_is_finishing() -> None:
    # the add happens in the same tick the upstream completes, from another task
    finishing = anyio.Event()

    async def upstream() -> int:
        finishing.set()
        return 5

    async with gf.Scheduler() as s:
        s.add("up", upstream)
        await finishing.wait()
        s.add("down", value, args={"x": "${up}"})
        result = await s.wait()
    assert result["down"].output == 5


async def test_a_running_node_adds_follow_up_work() -> None:
    async with gf.Scheduler() as s:

        async def crawl(page: int) -> int:
            if page < 3:
                s.add(f"page{page + 1}", crawl, args={"page": page + 1}, depends_on=[f"page{page}"])
            return page

        s.add("page0", crawl, args={"page": 0})
        result = await s.wait()
    assert [result[f"page{i}"].output for i in range(4)] == [0, 1, 2, 3]


async def test_each_add_is_validated_against_what_is_known() -> None:
    async with gf.Scheduler() as s:
        s.add("a", value)
        with pytest.raises(gf.DuplicateNodeError):
            s.add("a", value)
        with pytest.raises(gf.UnknownNodeError, match="'b' references unknown node 'later'"):
            s.add("b", value, args={"x": "${later}"})
        with pytest.raises(gf.SpecError):
            s.add("c.d", value)
    with pytest.raises(gf.GraphError, match="not open"):
        s.add("e", value)


async def test_streaming_mode_is_done_only_after_close() -> None:
    async with gf.Scheduler(streaming=True) as s:
        s.add("a", value, args={"x": 1})
        seen: list[str] = []

        async def consume() -> None:
            async for r in s.results():
                seen.append(r.node_id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.sleep(0.05)  # 'a' is long done; the consumer keeps waiting
            s.add("b", value, args={"x": "${a}"})
            await anyio.sleep(0.05)
            s.close()
    assert seen == ["a", "b"]


async def test_fail_fast_skips_what_is_added_afterwards() -> None:
    async with gf.Scheduler(fail_fast=True) as s:
        s.add("bad", fail)
        await s.wait()
        s.add("late", value)
        result = await s.wait()
    assert result["late"].status == S.SKIPPED
    assert result["late"].reason == "fail_fast: 'bad' failed"


async def test_an_error_in_the_body_cancels_running_nodes() -> None:
    events: list[gf.Event] = []
    with pytest.raises(RuntimeError, match="planner broke"):
        async with gf.Scheduler(observers=[events.append]) as s:
            s.add("hang", anyio.sleep_forever)
            await anyio.sleep(0.01)
            raise RuntimeError("planner broke")
    finals = {e.node_id: e.result.status for e in events if e.result is not None}
    assert finals == {"hang": S.CANCELLED}


async def test_every_place_under_the_cap_runs_a_ready_node() -> None:
    """A worker with no work parks while others run nodes. Here one parked while a
    _grow task ran, and the worker that then released c1..c3 took c1 without
    waking it: the parked worker held one of the 4 places, c3 waited for it, and
    z, c1, c2 and c3 (which may all run at once) waited for each other."""
    go, all_started, met = anyio.Event(), anyio.Event(), anyio.Event()
    started = arrived = 0

    async def first() -> int:
        nonlocal started
        started += 1
        if started == 3:
            all_started.set()
        await go.wait()
        return 0

    async def meet(**_: Any) -> int:
        nonlocal arrived
        arrived += 1
        if arrived == 4:
            met.set()
        await met.wait()
        return 0

    with anyio.fail_after(10):
        async with gf.Scheduler(concurrency=4) as s:
            for name in ("p", "q", "m"):
                s.add(name, first)
            await all_started.wait()
            s.add("z", meet)
            go.set()
            for c in ("c1", "c2", "c3"):
                s.add(c, meet, depends_on=["m"])
            result = await s.wait()
    assert result.passed and len(result) == 7

"""Event sinks: sync and async, in order, essential or not, always closed."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import graphflow as gf
from graphflow import EventKind as K

pytestmark = pytest.mark.anyio


async def value(x: Any = None) -> Any:
    return x


def chain(n: int) -> gf.Graph:
    g = gf.Graph()
    g.add("n0", value, args={"x": 0})
    for k in range(1, n):
        g.add(f"n{k}", value, args={"x": f"${{n{k - 1}}}"})
    return g


class AsyncSink:
    def __init__(self, delay: float = 0.0, essential: bool = False, fail_on: str = "") -> None:
        self.events: list[gf.Event] = []
        self.closed = 0
        self.delay = delay
        self.essential = essential
        self.fail_on = fail_on

    async def __call__(self, event: gf.Event) -> None:
        if self.delay:
            await anyio.sleep(self.delay)
        if event.node_id == self.fail_on and event.kind == K.NODE_SUCCEEDED:
            raise OSError("disk full")
        self.events.append(event)

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.closed += 1


class TestDelivery:
    async def test_an_async_sink_gets_every_event_in_order_and_is_closed(self) -> None:
        sink = AsyncSink()
        sync: list[gf.Event] = []
        result = await gf.run(chain(5), observers=[sink, sync.append])
        assert result.ok
        assert [(e.kind, e.node_id) for e in sink.events] == [(e.kind, e.node_id) for e in sync]
        assert sink.events[0].kind == K.RUN_STARTED and sink.events[-1].kind == K.RUN_FINISHED
        assert sink.closed == 1

    async def test_a_slow_sink_does_not_hold_the_nodes_back(self) -> None:
        sink = AsyncSink(delay=0.01)
        finished_at: list[float] = []

        def note(event: gf.Event) -> None:
            if event.kind == K.NODE_SUCCEEDED:
                finished_at.append(anyio.current_time())

        start = anyio.current_time()
        await gf.run(chain(20), observers=[sink, note])
        assert max(finished_at) - start < 20 * 0.01, "nodes finished before the sink caught up"
        assert len(sink.events) == 2 + 2 * 20, "and still every event arrived"

    async def test_sinks_are_closed_and_finish_is_delivered_after_a_cancellation(self) -> None:
        sink = AsyncSink()
        g = gf.Graph()
        g.add("a", anyio.sleep_forever)
        with anyio.move_on_after(0.05):
            await gf.run(g, observers=[sink])
        assert sink.closed == 1
        assert [e.kind for e in sink.events][-2:] == [K.NODE_CANCELLED, K.RUN_FINISHED]


    async def test_a_slow_sink_is_closed_only_after_its_last_event(self) -> None:
        seen: list[str] = []

        class Store:
            async def __call__(self, event: gf.Event) -> None:
                await anyio.sleep(0.01)
                seen.append(str(event.kind))

            async def aclose(self) -> None:
                seen.append("closed")

        await gf.run(chain(2), observers=[Store()])
        assert seen[-2:] == ["run.finished", "closed"] and len(seen) == 7

    async def test_a_hung_sink_cannot_keep_a_cancelled_run_alive(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("graphflow._events.CANCEL_GRACE", 0.2)

        async def hung(event: gf.Event) -> None:
            if event.kind == K.RUN_FINISHED:
                await anyio.sleep_forever()

        g = gf.Graph()
        g.add("a", anyio.sleep_forever)
        with pytest.warns(RuntimeWarning, match="dropped"):
            with anyio.move_on_after(0.05):
                await gf.run(g, observers=[hung])


class TestFailures:
    async def test_a_failing_sink_that_is_not_essential_only_warns(self) -> None:
        sink = AsyncSink(fail_on="n1")
        with pytest.warns(RuntimeWarning, match="disk full"):
            result = await gf.run(chain(3), observers=[sink])
        assert result.ok and sink.closed == 1

    async def test_an_essential_sink_failing_stops_the_run_and_raises(self) -> None:
        sink = AsyncSink(fail_on="a", essential=True)
        g = gf.Graph()
        g.add("a", value, args={"x": 1})
        g.add("slow", anyio.sleep, args={"delay": 5})
        g.add("after", value, args={"x": "${a}"}, depends_on="slow")
        with pytest.raises(gf.EventSinkError, match="disk full") as caught:
            await gf.run(g, observers=[sink])
        result = caught.value.result
        assert result is not None and len(result) == 3
        assert result["slow"].status == "cancelled"
        assert result["after"].status == "skipped"
        assert "essential event sink failed" in (result["slow"].reason or "")
        assert sink.closed == 1

    async def test_an_essential_sync_sink_failing_stops_the_run(self) -> None:
        class Strict:
            essential = True

            def __call__(self, event: gf.Event) -> None:
                if event.kind == K.NODE_STARTED:
                    raise RuntimeError("cannot record")

        g = gf.Graph()
        g.add("a", anyio.sleep, args={"delay": 5})
        with pytest.raises(gf.EventSinkError, match="cannot record") as caught:
            await gf.run(g, observers=[Strict()])
        assert caught.value.result is not None
        assert caught.value.result["a"].status == "cancelled"

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import structlog
from structlog.testing import capture_logs

import graphflow as gf
from graphflow import NodeStatus as S

pytestmark = pytest.mark.anyio


async def value(x: Any = None) -> Any:
    return x


async def fail(message: str = "boom") -> None:
    raise ValueError(message)


async def forever() -> None:
    await anyio.sleep_forever()


class TestResults:
    async def test_the_issue_example(self) -> None:
        async def lookup(sku: str) -> dict[str, Any]:
            await anyio.lowlevel.checkpoint()
            return {"sku": sku, "price": {"A1": 30, "B2": 20}[sku]}

        def pick_cheapest(products: list[dict[str, Any]]) -> dict[str, Any]:
            return min(products, key=lambda p: p["price"])

        g = gf.Graph()
        g.add("a", lookup, args={"sku": "A1"})
        g.add("b", lookup, args={"sku": "B2"}, timeout=5, retries=2)
        g.add("best", pick_cheapest, args={"products": ["${a}", gf.ref("b")]})
        g.add(
            "report", lambda sku, ok: f"{sku}:{ok}", args={"sku": "${best.sku}", "ok": "${audit}"}
        )
        g.add("audit", lambda: True)
        result = await gf.run(g, concurrency=8)
        assert result.ok
        assert result["best"].status == "succeeded"
        assert result["best"].output == {"sku": "B2", "price": 20}
        assert result["report"].output == "B2:True"
        assert result["b"].attempts == 1
        assert list(result) == ["a", "b", "best", "report", "audit"]
        r = result["a"]
        assert r.started_at is not None and r.finished_at is not None
        assert r.duration == pytest.approx(r.finished_at - r.started_at)

    async def test_empty_graph(self) -> None:
        result = await gf.run(gf.Graph())
        assert result.ok and len(result) == 0

    async def test_missing_key_fails_the_downstream_node_not_the_run(self) -> None:
        g = gf.Graph()
        g.add("a", value, args={"x": {"price": 1}})
        g.add("b", value, args={"x": "${a.cost}"}, retries=3)
        g.add("c", value, args={"x": "${b}"})
        g.add("other", value, args={"x": 1})
        result = await gf.run(g)
        b = result["b"]
        assert b.status == S.FAILED and b.attempts == 1  # a bad path is not retried
        assert b.error is not None and b.error.type == "ReferenceResolutionError"
        assert "${a.cost}" in b.error.message and "'cost'" in b.error.message
        assert result["c"].status == S.SKIPPED and result["c"].reason == "upstream 'b' failed"
        assert result["other"].ok and result["a"].ok

    async def test_failure_is_recorded_with_type_message_and_traceback(self) -> None:
        g = gf.Graph()
        g.add("f", fail, args={"message": "bad sku"})
        g.add("down", value, args={"x": "${f}"})
        g.add("down2", value, depends_on=["down"])
        g.add("side", value, args={"x": 2})
        result = await gf.run(g)
        err = result["f"].error
        assert err is not None
        assert (err.type, err.message) == ("ValueError", "bad sku")
        assert "in fail" in err.traceback and isinstance(err.exception, ValueError)
        assert result["down2"].reason == "upstream 'f' failed (via 'down')"
        assert result["side"].output == 2
        assert not result.ok
        assert result.counts()[S.SKIPPED] == 2

    async def test_all_done_runs_after_failures_and_reads_none(self) -> None:
        g = gf.Graph()
        g.add("ok", value, args={"x": "fine"})
        g.add("bad", fail)
        g.add("skipped", value, args={"x": "${bad}"})
        g.add(
            "summary",
            lambda a, b, c: (a, b, c),
            args={"a": "${ok}", "b": "${bad}", "c": "${skipped.field}"},
            trigger="all_done",
        )
        result = await gf.run(g)
        assert result["summary"].output == ("fine", None, None)

    async def test_to_dict_is_json_ready(self) -> None:
        import json

        g = gf.Graph()
        g.add("a", value, args={"x": [1]})
        g.add("b", fail)
        data = json.loads(json.dumps((await gf.run(g)).to_dict()))
        assert data["ok"] is False
        assert data["nodes"]["a"]["output"] == [1]
        assert data["nodes"]["b"]["error"]["type"] == "ValueError"


class TestEagerRelease:
    async def test_a_node_starts_while_an_unrelated_node_of_its_level_still_runs(self) -> None:
        # slow and fast are both roots; after_fast depends on fast only. slow can only
        # finish once after_fast has started: a level-by-level scheduler deadlocks here.
        after_fast_started = anyio.Event()

        async def slow() -> str:
            await after_fast_started.wait()
            return "slow"

        async def after_fast(x: str) -> str:
            after_fast_started.set()
            return x + "!"

        g = gf.Graph()
        g.add("slow", slow)
        g.add("fast", value, args={"x": "fast"})
        g.add("after_fast", after_fast, args={"x": "${fast}"})
        with anyio.fail_after(5):
            result = await gf.run(g)
        assert result.ok and result["after_fast"].output == "fast!"

    async def test_sequential_mode_respects_dependencies(self) -> None:
        order: list[str] = []
        running = 0

        async def step(name: str) -> str:
            nonlocal running
            running += 1
            assert running == 1
            order.append(name)
            await anyio.lowlevel.checkpoint()
            running -= 1
            return name

        g = gf.Graph()
        g.add("c", step, args={"name": "c"}, depends_on=["b"])
        g.add("b", step, args={"name": "b"}, depends_on=["a"])
        g.add("a", step, args={"name": "a"})
        g.add("z", step, args={"name": "z"})
        result = await gf.run(g, concurrency=1)
        assert result.ok
        assert order.index("a") < order.index("b") < order.index("c")

    @pytest.mark.parametrize(
        ("cap", "expected"),
        [(None, 150), (3, 3), (math.inf, 150)],  # default: no cap
    )
    async def test_concurrency_cap(self, cap: float | None, expected: int) -> None:
        running = peak = 0
        release = anyio.Event()

        async def tool() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            if running >= expected:
                release.set()
            await release.wait()
            running -= 1

        g = gf.Graph()
        for i in range(150):
            g.add(f"n{i}", tool)
        with anyio.fail_after(10):
            result = await gf.run(g, concurrency=cap)
        assert result.ok
        assert peak == expected

    @pytest.mark.parametrize("bad", [0, -1, "8", True])
    async def test_bad_concurrency(self, bad: Any) -> None:
        g = gf.Graph()
        g.add("a", value)
        with pytest.raises(ValueError, match="concurrency"):
            await gf.run(g, concurrency=bad)


class TestSyncTools:
    async def test_sync_tools_run_in_threads_and_do_not_block_the_loop(self) -> None:
        # the sync tool blocks its thread until an async node, which can only run
        # if the loop is free, sets the flag.
        flag = threading.Event()
        loop_thread = threading.get_ident()

        def blocking() -> tuple[bool, bool]:
            return flag.wait(timeout=5), threading.get_ident() != loop_thread

        async def setter() -> None:
            await anyio.sleep(0.01)
            flag.set()

        g = gf.Graph()
        g.add("blocking", blocking)
        g.add("setter", setter)
        result = await gf.run(g)
        assert result["blocking"].output == (True, True)

    async def test_a_timed_out_sync_tool_is_waited_for_not_orphaned(self) -> None:
        finished = threading.Event()

        def slow() -> None:
            time.sleep(0.3)
            finished.set()

        g = gf.Graph()
        g.add("slow", slow, timeout=0.05)
        g.add("next", value, args={"x": "${slow}"})
        result = await gf.run(g)
        assert result["slow"].status == S.FAILED
        assert result["slow"].error is not None and result["slow"].error.type == "TimeoutError"
        assert result["next"].status == S.SKIPPED
        assert finished.is_set()  # run() returned only after the thread did


class TestTimeoutsAndRetries:
    async def test_a_wide_fan_out_starts_in_batches_that_let_calls_finish(self) -> None:
        """10,000 nodes of 1 ms with a 0.5 s timeout failed by the thousands: all
        started in one loop tick (~1 s of bookkeeping), so each call's own end
        was seen only after its deadline. Workers are added 64 a tick: calls
        started early finish before the last ones start."""
        events: list[gf.Event] = []

        async def tick() -> None:
            await anyio.sleep(0.001)

        g = gf.Graph()
        for i in range(2_000):
            g.add(f"n{i}", tick, timeout=60)
        result = await gf.run(g, observers=[events.append])
        assert result.ok
        kinds = [e.kind for e in events if e.node_id is not None]
        first_done = kinds.index(gf.EventKind.NODE_SUCCEEDED)
        assert kinds[:first_done].count(gf.EventKind.NODE_STARTED) <= 512  # (not 2,000)

    async def test_timeout_fails_the_node_naming_the_limit(self) -> None:
        g = gf.Graph()
        g.add("hang", forever, timeout=0.05)
        g.add("fine", value, args={"x": 1})
        result = await gf.run(g)
        err = result["hang"].error
        assert result["hang"].status == S.FAILED
        assert err is not None and (err.type, err.message) == (
            "TimeoutError",
            "timed out after 0.05 s",
        )
        assert result["fine"].ok

    async def test_run_default_timeout_and_node_override(self) -> None:
        async def nap() -> str:
            await anyio.sleep(0.2)
            return "rested"

        g = gf.Graph()
        g.add("default", forever)
        g.add("own", nap, timeout=math.inf)
        result = await gf.run(g, default_timeout=0.05)
        assert result["default"].error is not None
        assert result["default"].error.message == "timed out after 0.05 s"
        assert result["own"].output == "rested"

    async def test_a_tool_raising_timeout_error_itself_keeps_its_message(self) -> None:
        async def raises() -> None:
            raise TimeoutError("upstream API timed out")

        g = gf.Graph()
        g.add("t", raises, timeout=10)
        result = await gf.run(g)
        assert result["t"].error is not None
        assert result["t"].error.message == "upstream API timed out"

    @staticmethod
    def flaky(failures: int, exc: type[Exception] = ConnectionError) -> Any:
        calls = 0

        async def tool() -> int:
            nonlocal calls
            calls += 1
            if calls <= failures:
                raise exc(f"attempt {calls}")
            return calls

        return tool

    async def test_retried_then_succeeded(self) -> None:
        g = gf.Graph()
        g.add("n", self.flaky(2), retries=gf.Retry(3, backoff=0))
        result = await gf.run(g)
        assert result["n"].status == S.SUCCEEDED
        assert (result["n"].attempts, result["n"].output) == (3, 3)

    async def test_retries_exhausted(self) -> None:
        g = gf.Graph()
        g.add("n", self.flaky(5), retries=gf.Retry(1, backoff=0))
        g.add("down", value, depends_on=["n"])
        result = await gf.run(g)
        assert result["n"].status == S.FAILED and result["n"].attempts == 2
        assert result["n"].error is not None and result["n"].error.message == "attempt 2"
        assert result["down"].status == S.SKIPPED

    async def test_only_listed_exception_types_retry(self) -> None:
        g = gf.Graph()
        g.add("n", self.flaky(1, TypeError), retries=gf.Retry(3, backoff=0, on=(ConnectionError,)))
        result = await gf.run(g)
        assert result["n"].attempts == 1 and result["n"].status == S.FAILED

    async def test_run_default_retries(self) -> None:
        g = gf.Graph()
        g.add("default", self.flaky(1))
        g.add("own", self.flaky(1), retries=0)
        result = await gf.run(g, default_retries=gf.Retry(2, backoff=0))
        assert result["default"].attempts == 2 and result["default"].ok
        assert result["own"].attempts == 1 and not result["own"].ok

    async def test_a_timed_out_attempt_is_retried(self) -> None:
        calls = 0

        async def slow_once() -> str:
            nonlocal calls
            calls += 1
            if calls == 1:
                await anyio.sleep_forever()
            return "second"

        g = gf.Graph()
        g.add("n", slow_once, timeout=0.05, retries=gf.Retry(1, backoff=0))
        result = await gf.run(g)
        assert result["n"].output == "second" and result["n"].attempts == 2

    async def test_backoff_frees_the_slot(self) -> None:
        # with one slot, the other node runs while n backs off
        order: list[str] = []

        async def flaky_n() -> None:
            order.append("n")
            if order.count("n") == 1:
                raise ConnectionError

        async def other() -> None:
            order.append("other")

        g = gf.Graph()
        g.add("n", flaky_n, retries=gf.Retry(1, backoff=0.05, jitter=0))
        g.add("other", other)
        result = await gf.run(g, concurrency=1)
        assert result.ok and order == ["n", "other", "n"]

    def test_backoff_doubles_up_to_the_cap_with_jitter(self) -> None:
        retry = gf.Retry(10, backoff=1, max_backoff=5, jitter=0.5)
        assert [retry.delay(a, 0.0) for a in (1, 2, 3, 4)] == [1, 2, 4, 5]
        assert retry.delay(2, 1.0) == 1.0


class TestCancellation:
    async def test_fail_fast_cancels_running_and_skips_unstarted(self) -> None:
        started = anyio.Event()

        async def slow() -> None:
            started.set()
            await anyio.sleep_forever()

        async def failing() -> None:
            await started.wait()
            raise ValueError("first failure")

        g = gf.Graph()
        g.add("slow", slow)
        g.add("failing", failing)
        g.add("after_slow", value, depends_on=["slow"])
        g.add("queued", value)
        with anyio.fail_after(5):
            result = await gf.run(g, fail_fast=True, concurrency=2)
        assert result["failing"].status == S.FAILED
        assert result["slow"].status == S.CANCELLED
        assert result["slow"].reason == "fail_fast: 'failing' failed"
        assert result["after_slow"].status == S.SKIPPED
        assert result["queued"].status == S.SKIPPED
        assert result["queued"].reason == "fail_fast: 'failing' failed"

    async def test_without_fail_fast_everything_independent_runs(self) -> None:
        g = gf.Graph()
        g.add("failing", fail)
        g.add("x", value, args={"x": 1})
        result = await gf.run(g, concurrency=1)
        assert result["x"].ok

    async def test_fail_fast_cancels_a_node_waiting_to_retry(self) -> None:
        g = gf.Graph()
        g.add("retrying", TestTimeoutsAndRetries.flaky(5), retries=gf.Retry(5, backoff=10))
        g.add("failing", fail, depends_on=[])
        g.add("trigger", value)
        result = await gf.run(g, fail_fast=True)
        r = result["retrying"]
        assert r.status == S.CANCELLED and r.attempts == 1
        assert r.reason == "fail_fast: 'failing' failed while waiting to retry"
        assert r.error is not None and r.error.message == "attempt 1"

    async def test_cancelling_the_caller_cancels_nodes_and_records_every_node(self) -> None:
        events: list[gf.Event] = []
        started = anyio.Event()
        finished_thread = threading.Event()
        release_thread = threading.Event()

        async def hang() -> None:
            started.set()
            await anyio.sleep_forever()

        thread_started = threading.Event()

        def blocked() -> None:
            thread_started.set()
            release_thread.wait(timeout=5)
            finished_thread.set()

        g = gf.Graph()
        g.add("hang", hang)
        g.add("blocked", blocked)
        g.add("after", value, depends_on=["hang"])
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: gf.run(g, observers=[events.append]))
                await started.wait()
                await anyio.to_thread.run_sync(thread_started.wait, 5)
                threading.Timer(0.1, release_thread.set).start()
                scope.cancel()
        assert scope.cancelled_caught
        finals = {e.node_id: e.result for e in events if e.result is not None}
        assert set(finals) == {"hang", "blocked", "after"}
        assert finals["hang"] is not None and finals["hang"].status == S.CANCELLED
        assert finals["hang"].reason == "run cancelled"
        assert finals["after"] is not None and finals["after"].status == S.SKIPPED
        assert finished_thread.is_set()  # the thread was waited for, not orphaned
        assert events[-1].kind == gf.EventKind.RUN_FINISHED


class TestEvents:
    async def test_observers_see_every_transition_in_order(self) -> None:
        events: list[gf.Event] = []
        g = gf.Graph()
        g.add("a", TestTimeoutsAndRetries.flaky(1), retries=gf.Retry(1, backoff=0))
        g.add("b", fail, depends_on=["a"])
        g.add("c", value, depends_on=["b"])
        await gf.run(g, observers=[events.append])
        kinds = [(e.kind.value, e.node_id, e.attempt) for e in events]
        assert kinds == [
            ("run.started", None, 0),
            ("node.started", "a", 1),
            ("node.retrying", "a", 1),
            ("node.started", "a", 2),
            ("node.succeeded", "a", 2),
            ("node.started", "b", 1),
            ("node.failed", "b", 1),
            ("node.skipped", "c", 0),
            ("run.finished", None, 0),
        ]
        assert len({e.run_id for e in events}) == 1

    async def test_a_broken_observer_warns_but_loses_nothing(self) -> None:
        def broken(event: gf.Event) -> None:
            raise RuntimeError("observer bug")

        g = gf.Graph()
        g.add("a", value, args={"x": 1})
        with pytest.warns(RuntimeWarning, match="observer bug"):
            result = await gf.run(g, observers=[broken])
        assert result["a"].output == 1

    async def test_structlog_events_are_bound_with_run_node_attempt_duration(self) -> None:
        g = gf.Graph()
        g.add("a", value, args={"x": 1})
        g.add("b", fail, depends_on=["a"])
        g.add("c", value, depends_on=["b"])
        with capture_logs() as logs:
            result = await gf.run(g)
        names = [e["event"] for e in logs]
        assert names == [
            "run.started",
            "node.started",
            "node.succeeded",
            "node.started",
            "node.failed",
            "node.skipped",
            "run.finished",
        ]
        assert {e["run_id"] for e in logs} == {result.run_id}
        succeeded = logs[names.index("node.succeeded")]
        assert succeeded["node_id"] == "a" and succeeded["attempt"] == 1
        assert succeeded["duration"] >= 0 and succeeded["log_level"] == "debug"
        failed = logs[names.index("node.failed")]
        assert failed["error"] == "ValueError: boom" and failed["log_level"] == "warning"
        assert logs[names.index("node.skipped")]["reason"] == "upstream 'b' failed"

    def test_nothing_is_logged_until_the_application_configures_structlog(self) -> None:
        from graphflow import _log

        structlog.reset_defaults()
        assert _log.observer("r") is None
        with capture_logs():
            assert _log.observer("r") is not None
        structlog.reset_defaults()


def test_run_sync_on_both_backends() -> None:
    g = gf.Graph()
    g.add("a", value, args={"x": 1})
    g.add("b", lambda y: y + 1, args={"y": "${a}"})
    for backend in ("asyncio", "trio"):
        assert gf.run_sync(g, async_backend=backend)["b"].output == 2


async def stubborn() -> str:
    """A tool that catches its cancellation and returns anyway."""
    try:
        await anyio.sleep(5)
    except anyio.get_cancelled_exc_class():
        pass
    return "ignored the cancel"


class TestHostileTools:
    @pytest.mark.parametrize("kind", [SystemExit, GeneratorExit])
    async def test_a_base_exception_fails_that_node_only(self, kind: type[BaseException]) -> None:
        async def hostile() -> None:
            raise kind()

        def hostile_in_a_thread() -> None:
            raise kind()

        g = gf.Graph()
        g.add("bad", hostile)
        g.add("bad_thread", hostile_in_a_thread)
        g.add("after", value, args={"x": "${bad}"})
        g.add("sibling", value, args={"x": 1})
        result = await gf.run(g)
        for node in ("bad", "bad_thread"):
            error = result[node].error
            assert result[node].status == S.FAILED and error is not None
            assert error.type == kind.__name__
        assert result["after"].status == S.SKIPPED
        assert result["sibling"].ok

    async def test_a_resource_key_that_cannot_be_formatted_is_never_retried(self) -> None:
        calls: list[int] = []

        async def write(user: Any) -> None:
            calls.append(1)

        g = gf.Graph()
        g.add("w", write, args={"user": 3}, writes=["user:{user.id}"], retries=3)
        result = await gf.run(g)
        error = result["w"].error
        assert result["w"].status == S.FAILED and error is not None
        assert error.type == "ResourceKeyError" and "user:{user.id}" in error.message
        assert result["w"].attempts == 1 and calls == [], "it never ran without its lock"

    def test_a_huge_retry_count_never_overflows_the_backoff(self) -> None:
        policy = gf.Retry(5000, backoff=0.5, max_backoff=7, jitter=0)
        assert policy.delay(2000, 0.0) == 7
        assert policy.delay(1, 0.0) == 0.5

    async def test_a_tool_that_swallows_its_timeout_still_fails_at_it(self) -> None:
        g = gf.Graph()
        g.add("s", stubborn, timeout=0.05)
        result = await gf.run(g)
        error = result["s"].error
        assert result["s"].status == S.FAILED and error is not None
        assert error.timed_out == 0.05 and error.type == "TimeoutError"

    async def test_a_tool_that_swallows_an_outer_cancel_cannot_hide_it(self) -> None:
        g = gf.Graph()
        g.add("s", stubborn)
        returned = False
        with anyio.move_on_after(0.05) as scope:
            await gf.run(g)
            returned = True
        assert scope.cancelled_caught and not returned


class TestIsolation:
    """What one node receives can never change another node's output, a retry, or the caller's."""

    async def test_a_node_mutating_its_input_changes_nothing_upstream(self) -> None:
        async def produce() -> dict[str, Any]:
            return {"items": [1, 2], "meta": {"n": 2}}

        async def vandal(items: list[int], whole: dict[str, Any]) -> int:
            items.append(99)
            whole["meta"]["n"] = -1
            return len(items)

        async def reader(items: list[int]) -> list[int]:
            await anyio.sleep(0.01)  # after the vandal has run
            return items

        g = gf.Graph()
        g.add("up", produce)
        g.add("vandal", vandal, args={"items": "${up.items}", "whole": "${up}"})
        g.add("reader", reader, args={"items": "${up.items}"})
        result = await gf.run(g)
        assert result["vandal"].output == 3
        assert result["up"].output == {"items": [1, 2], "meta": {"n": 2}}
        assert result["reader"].output == [1, 2]

    async def test_a_retry_gets_the_arguments_as_given(self) -> None:
        seen: list[list[str]] = []
        tags = ["a"]

        async def flaky(tags: list[str]) -> None:
            seen.append(list(tags))
            tags.append("mutated")
            if len(seen) < 3:
                raise ConnectionError("again")

        g = gf.Graph()
        g.add("f", flaky, args={"tags": tags}, retries=gf.Retry(2, backoff=0))
        result = await gf.run(g)
        assert result.ok and seen == [["a"], ["a"], ["a"]]
        assert tags == ["a"], "the caller's list is untouched"

    def test_copies_keep_cycles_and_sharing_and_do_not_recurse(self) -> None:
        from graphflow._refs import copy_plain

        shared = [1]
        loop: dict[str, Any] = {"shared": shared, "again": shared}
        loop["self"] = loop
        copied = copy_plain(loop)
        assert copied is not loop and copied["self"] is copied
        assert copied["shared"] is copied["again"] and copied["shared"] is not shared
        deep: list[Any] = []
        node = deep
        for _ in range(100_000):
            node.append([])
            node = node[0]
        assert copy_plain(deep) is not deep


class TestKeyboardInterrupt:
    async def test_from_a_tool_it_fails_the_node_on_asyncio_and_stops_the_run_on_trio(
        self, anyio_backend: str
    ) -> None:
        async def interrupting() -> None:
            raise KeyboardInterrupt

        g = gf.Graph()
        g.add("bad", interrupting)
        g.add("sibling", value, args={"x": 1})
        if anyio_backend == "trio":  # indistinguishable there from a real Ctrl-C
            with pytest.raises(BaseException) as caught:
                await gf.run(g)
            assert (
                caught.group_contains(KeyboardInterrupt)
                if isinstance(caught.value, BaseExceptionGroup)
                else isinstance(caught.value, KeyboardInterrupt)
            )
            return
        result = await gf.run(g)
        error = result["bad"].error
        assert error is not None and error.type == "KeyboardInterrupt"
        assert result["sibling"].ok

    @pytest.mark.parametrize("backend", ["asyncio", "trio"])
    def test_ctrl_c_reaches_a_script_as_keyboard_interrupt(
        self, backend: str, tmp_path: Path
    ) -> None:
        """A real SIGINT to a script in ``run_sync``: ``except KeyboardInterrupt`` catches
        it on both backends (on trio it came out in an exception group)."""
        marker = tmp_path / "up"
        script = tmp_path / "script.py"
        script.write_text(
            "import sys\nfrom pathlib import Path\nimport anyio\nimport graphflow as gf\n\n"
            "async def wait() -> None:\n"
            "    Path(sys.argv[1]).write_text('up')\n"
            "    await anyio.sleep(30)\n\n"
            "g = gf.Graph()\ng.add('wait', wait)\n"
            "try:\n    gf.run_sync(g, async_backend=sys.argv[2])\n"
            "except KeyboardInterrupt:\n    print('KeyboardInterrupt')\n"
        )
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        proc = subprocess.Popen(
            [sys.executable, str(script), str(marker), backend],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            deadline = time.monotonic() + 30
            while not marker.exists():
                assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
                time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.communicate()
        assert (proc.returncode, out) == (0, "KeyboardInterrupt\n"), err[-2000:]


class TestReviewFindings:
    @pytest.mark.parametrize("anyio_backend", ["asyncio"])  # (trio has no tool-made Cancelled)
    async def test_a_tool_s_own_cancelled_error_fails_only_that_node(self) -> None:
        import asyncio

        async def own_cancel() -> None:
            task = asyncio.ensure_future(asyncio.sleep(10))
            task.cancel()
            await task  # raises CancelledError, though nobody cancelled the run

        g = gf.Graph()
        g.add("a", own_cancel)
        g.add("b", value, args={"x": 1})
        result = await gf.run(g)
        error = result["a"].error
        assert result["a"].status == S.FAILED and error is not None
        assert error.type == "CancelledError" and result["b"].ok

    def test_error_messages_stay_short_whatever_the_output(self) -> None:
        big = {"k" * 100_000: 1}
        g = gf.Graph()
        g.add("up", value, args={"x": big})
        g.add("down", value, args={"x": "${up.missing}"})
        g.add("cond", value, when="${up.missing} > 1")
        result = gf.run_sync(g)
        for node in ("down", "cond"):
            error = result[node].error
            assert error is not None and len(error.message) < 600, node

    async def test_tuples_and_dict_subclasses_are_copied_too(self) -> None:
        from collections import OrderedDict

        async def produce() -> tuple[list[int], OrderedDict[str, list[int]]]:
            return [1, 2], OrderedDict(a=[1])

        async def vandal(pair: Any) -> None:
            pair[0].append(99)
            pair[1]["a"].append(99)

        g = gf.Graph()
        g.add("up", produce)
        g.add("vandal", vandal, args={"pair": "${up}"})
        result = await gf.run(g)
        assert result["up"].output == ([1, 2], OrderedDict(a=[1]))

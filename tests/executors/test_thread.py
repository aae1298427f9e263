"""The Executor seam: what an executor is given, and when it is entered and left."""

from __future__ import annotations

import functools
import math
import threading
import time
from types import TracebackType
from typing import Any

import anyio
import pytest

import graphflow as gf
from graphflow.executors import ThreadExecutor

from .test_process import until

pytestmark = pytest.mark.anyio


class Recording:
    """An executor that runs calls inline (on the loop) and records what it saw."""

    def __init__(self) -> None:
        self.calls: list[gf.NodeCall] = []
        self.entered = 0
        self.exited: list[type[BaseException] | None] = []

    async def __aenter__(self) -> Recording:
        self.entered += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.lowlevel.checkpoint()  # shielded by the run: this still runs
        self.exited.append(exc_type)

    async def call(self, call: gf.NodeCall) -> Any:
        self.calls.append(call)
        return call.tool(**call.arguments)


def flaky_factory() -> Any:
    seen: list[int] = []

    def flaky(x: int) -> int:
        seen.append(x)
        if len(seen) == 1:
            raise ConnectionError("once")
        return x

    return flaky


async def async_tool(x: int) -> int:
    return x


class TestNodeCall:
    async def test_an_executor_gets_plain_functions_with_their_context(self) -> None:
        ex = Recording()
        g = gf.Graph()
        g.add("plain", flaky_factory(), args={"x": 3}, retries=gf.Retry(1, backoff=0), timeout=9)
        g.add("coro", async_tool, args={"x": "${plain}"})
        g.add("each", async_tool, for_each=[1, 2], args={"x": "${item}"})
        result = await gf.run(g, executor=ex, run_id="run-7")
        assert result.ok and result["coro"].output == 3
        assert [(c.run_id, c.node_id, c.attempt, c.timeout) for c in ex.calls] == [
            ("run-7", "plain", 1, 9),
            ("run-7", "plain", 2, 9),
        ], "coroutine functions and for_each gathers never reach the executor"
        assert dict(ex.calls[0].arguments) == {"x": 3}
        assert (ex.entered, ex.exited) == (1, [None])

    async def test_it_is_left_once_after_a_failure_and_a_cancellation(self) -> None:
        ex = Recording()

        def slow() -> None:
            return None

        g = gf.Graph()
        g.add("a", slow)
        g.add("b", anyio.sleep_forever)
        with anyio.move_on_after(0.05):
            await gf.run(g, executor=ex)
        assert ex.entered == 1 and len(ex.exited) == 1
        assert ex.exited[0] is not None, "left with the cancellation"

    async def test_a_timeout_is_enforced_around_the_executor(self) -> None:
        class Hanging(Recording):
            async def call(self, call: gf.NodeCall) -> Any:
                await anyio.sleep_forever()

        def never() -> None:
            return None

        g = gf.Graph()
        g.add("a", never, timeout=0.05)
        result = await gf.run(g, executor=Hanging())
        error = result["a"].error
        assert error is not None and error.timed_out == 0.05
        assert error.message == "timed out after 0.05 s"


class TestEntering:
    async def test_only_executors_a_node_runs_on_are_entered(self) -> None:
        """A run given executors it does not use leaves them alone: a ``DaskExecutor()``
        would start a LocalCluster, a ``ProcessExecutor`` a worker, for nothing."""
        default, spare, used = Recording(), Recording(), Recording()
        g = gf.Graph()
        g.add("coro", async_tool, args={"x": 1})
        g.add("each", async_tool, for_each=[1, 2], args={"x": "${item}"})
        executors = {"spare": spare, "used": used}
        result = await gf.run(g, executor=default, executors=executors)
        assert result.ok
        assert (default.entered, spare.entered, used.entered) == (0, 0, 0)
        g.add("plain", flaky_factory(), args={"x": 2}, retries=1)
        g.add("there", flaky_factory(), args={"x": 3}, retries=1, executor="used")
        result = await gf.run(g, executor=default, executors=executors)
        assert result.ok and result["there"].output == 3
        assert (default.entered, spare.entered, used.entered) == (1, 0, 1)

    async def test_a_growing_run_enters_every_executor_it_was_given(self) -> None:
        spare = Recording()
        async with gf.Scheduler(executors={"spare": spare}) as s:
            s.add("later", flaky_factory(), args={"x": 4}, retries=1, executor="spare")
        assert s.result is not None and s.result["later"].output == 4
        assert (spare.entered, len(spare.calls)) == (1, 2)


class TestThreadExecutor:
    async def test_sync_tools_run_off_the_loop_and_are_capped(self) -> None:
        loop_thread = threading.get_ident()
        lock = threading.Lock()
        running = peak = 0
        barrier = threading.Barrier(2, timeout=5)

        def work() -> int:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            barrier.wait()  # two must run at once, or this times out
            with lock:
                running -= 1
            return threading.get_ident()

        g = gf.Graph()
        for k in range(6):
            g.add(f"w{k}", work)
        result = await gf.run(g, executor=ThreadExecutor(threads=2))
        assert result.ok and peak == 2
        assert loop_thread not in {r.output for r in result.values()}

    async def test_a_timeout_counts_once_a_thread_has_the_call(self) -> None:
        """With every thread busy, a queued node's timeout does not tick: it
        succeeds after waiting 0.5 s with a 0.2 s timeout; a call that overruns
        once it runs still times out."""

        def nap(seconds: float) -> float:
            time.sleep(seconds)
            return seconds

        g = gf.Graph()
        g.add("busy", nap, args={"seconds": 0.5})
        g.add("queued", nap, args={"seconds": 0.01}, timeout=0.2)
        g.add("slow", nap, args={"seconds": 1}, timeout=0.2)
        # the thread ``slow`` left behind still sleeps: ``after`` has a thread anyway
        # (on trio, too, where an abandoned thread holds its limiter's token)
        g.add("after", nap, args={"seconds": 0.01}, timeout=0.3)
        result = await gf.run(g, executor=ThreadExecutor(threads=1))
        queued, slow = result["queued"], result["slow"]
        assert queued.ok and queued.duration is not None and queued.duration > 0.2
        assert slow.error is not None and slow.error.timed_out == 0.2
        assert result["after"].ok, result["after"].error

    def test_it_refuses_a_bad_thread_count(self) -> None:
        with pytest.raises(ValueError, match="threads"):
            ThreadExecutor(threads=0)

    def test_the_first_name_still_works(self) -> None:
        from graphflow.backends import LocalBackend

        assert LocalBackend is ThreadExecutor

    async def test_with_no_cap_sync_tools_are_not_held_to_anyio_s_40_threads(self) -> None:
        barrier = threading.Barrier(100, timeout=10)  # all 100 must be running at once

        def meet() -> int:
            return barrier.wait()

        g = gf.Graph()
        for k in range(100):
            g.add(f"m{k}", meet)
        result = await gf.run(g, concurrency=math.inf)
        assert result.ok, {r.error for r in result.values() if r.error}


class TestSharedThreadExecutor:
    """One ThreadExecutor given to runs at once (``RunOptions(executor=...)``)."""

    async def test_a_run_leaving_does_not_wait_for_another_run_s_calls(self) -> None:
        """``quick``'s run ends while ``held``'s tool still blocks its thread: its
        exit waited for every call of the executor, so for the other run's."""
        gate, holding = threading.Event(), threading.Event()

        def held() -> str:
            holding.set()
            return "released" if gate.wait(10) else "waited out"

        def quick() -> int:
            return 1

        shared = ThreadExecutor(threads=4)
        one, two = gf.Graph(), gf.Graph()
        one.add("held", held)
        two.add("quick", quick)
        results: list[gf.RunResult] = []

        async def first() -> None:
            results.append(await gf.run(one, executor=shared))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                await anyio.to_thread.run_sync(holding.wait, 10)
                second = await gf.run(two, executor=shared)
                returned_while_held = not gate.is_set()
                gate.set()
        assert second["quick"].output == 1
        assert returned_while_held
        assert results[0]["held"].output == "released"

    async def test_runs_sharing_it_share_its_cap(self) -> None:
        """The second run's entry made the executor new limiters: each run's calls
        then ran under a cap of their own (4 threads at once for a cap of 2). Here
        both runs' 8 calls meet one limiter: 2 in threads, the 6 others waiting."""
        gate = threading.Event()
        lock = threading.Lock()
        running = peak = 0

        def work() -> None:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            gate.wait(10)
            with lock:
                running -= 1

        shared = ThreadExecutor(threads=2)
        one, two = gf.Graph(), gf.Graph()
        for k in range(4):
            one.add(f"a{k}", work)
            two.add(f"b{k}", work)
        results: list[gf.RunResult] = []

        async def run(g: gf.Graph) -> None:
            results.append(await gf.run(g, executor=shared))

        def waiting() -> int:
            limiter = shared._limiter
            return -1 if limiter is None else limiter.statistics().tasks_waiting

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run, one)
                await until(lambda: waiting() == 2)  # (one's 2 in threads, 2 queued)
                tg.start_soon(run, two)
                await until(lambda: waiting() == 6)
                gate.set()
        assert all(r.ok for r in results) and len(results) == 2
        assert peak == 2

    async def test_a_scheduler_fed_from_another_run_waits_for_its_own_threads(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``slow`` is added to the Scheduler by a node of the other run (an agent
        beside it), so the Scheduler's worker task was spawned in that run's
        context: its call counted against that run, and the Scheduler's exit did
        not wait for its abandoned thread. The gate opens only once an exit waits
        for the thread; had none waited, ``slow`` still runs when the Scheduler
        returns."""
        gate, slow_done, other_gate = threading.Event(), threading.Event(), threading.Event()
        wait_idle = ThreadExecutor._wait_idle

        def waiting_opens_the_gate(self: ThreadExecutor, entry: Any) -> None:
            gate.set()
            wait_idle(self, entry)

        monkeypatch.setattr(ThreadExecutor, "_wait_idle", waiting_opens_the_gate)

        def held() -> str:
            other_gate.wait(10)
            return "done"

        def slow() -> str:
            gate.wait(10)
            slow_done.set()
            return "slow"

        shared = ThreadExecutor(threads=4)
        scheduler_open, added = anyio.Event(), anyio.Event()
        schedulers: list[gf.Scheduler] = []

        async def agent() -> str:  # a node of the other run that feeds the Scheduler
            await scheduler_open.wait()
            schedulers[0].add("slow", slow, timeout=0.2)
            added.set()
            return "added"

        other = gf.Graph()
        other.add("held", held)
        other.add("agent", agent)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(gf.run, other, executor=shared))
                async with gf.Scheduler(executor=shared) as s:
                    schedulers.append(s)
                    scheduler_open.set()
                    await added.wait()
                    result = await s.wait()
                finished_when_it_returned = slow_done.is_set()
                gate.set()
                other_gate.set()
        assert result["slow"].error is not None and result["slow"].error.timed_out == 0.2
        assert finished_when_it_returned

    def test_runs_on_another_thread_s_loop_are_refused_while_one_is_inside(self) -> None:
        gate, inside = threading.Event(), threading.Event()

        def held() -> None:
            inside.set()
            gate.wait(10)

        shared = ThreadExecutor(threads=2)
        one, two = gf.Graph(), gf.Graph()
        one.add("held", held)
        two.add("other", held)
        results: list[gf.RunResult] = []
        thread = threading.Thread(target=lambda: results.append(gf.run_sync(one, executor=shared)))
        thread.start()
        try:
            assert inside.wait(10)
            with pytest.raises(RuntimeError, match="another thread's event loop"):
                gf.run_sync(two, executor=shared)
        finally:
            gate.set()
            thread.join(10)
        assert results[0].ok
        assert gf.run_sync(two, executor=shared).ok  # (the first run has left)

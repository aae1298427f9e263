"""ProcessExecutor: real worker processes, killed on timeout, never outliving a run."""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import graphflow as gf
from graphflow.executors import ProcessExecutor
from graphflow.executors import process as process_module

from . import tools

pytestmark = pytest.mark.anyio


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    )
    return status in ("Z", "X")  # a zombie is dead, only not reaped yet


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (state of threads and processes, which nothing signals)."""
    for _ in range(3000):
        if condition():
            return
        await anyio.sleep(0.01)
    raise AssertionError("the condition did not hold within 30 s")


class TestProcessExecutor:
    async def test_nodes_run_in_worker_processes_and_mix_with_the_rest(self) -> None:
        g = gf.Graph()
        g.add("here", tools.pid)
        g.add("there", tools.pid, executor="process")
        g.add("sq", tools.square, args={"x": 7}, executor="process")
        g.add("cube", tools.cube, args={"x": "${sq}"})  # @tool(executor="process")
        result = await gf.run(g, executors={"process": ProcessExecutor(workers=2)})
        assert result.ok, result.by_status("failed")
        assert result["there"].output != os.getpid() and result["here"].output == os.getpid()
        assert result["cube"].output == 49**3

    async def test_a_timeout_kills_the_worker_and_the_pool_goes_on(self, tmp_path: Path) -> None:
        pid_file = tmp_path / "pid"
        g = gf.Graph()
        g.add(
            "slow",
            tools.nap,
            args={"seconds": 60, "pid_file": str(pid_file)},
            executor="process",
            timeout=1,
        )
        g.add(
            "after",
            tools.square,
            args={"x": 3},
            executor="process",
            depends_on="slow",
            trigger="all_done",
        )
        result = await gf.run(g, executors={"process": ProcessExecutor(workers=1)})
        error = result["slow"].error
        assert error is not None and error.timed_out == 1
        assert result["after"].output == 9, "a fresh worker took the next call"
        assert gone(int(pid_file.read_text())), "the overrunning worker was killed"

    async def test_what_cannot_cross_a_process_fails_that_node_only(self) -> None:
        g = gf.Graph()
        g.add("args", tools.square, args={"x": lambda: 1}, executor="process")
        g.add("result", tools.lambda_back, executor="process")
        g.add("raises", tools.boom, args={"message": "bad"}, executor="process")
        g.add("fine", tools.square, args={"x": 2}, executor="process")
        result = await gf.run(g)
        errors = {k: r.error for k, r in result.items() if r.error}
        assert "node 'args'" in errors["args"].message and "arguments" in errors["args"].message
        assert "result cannot be sent back" in errors["result"].message
        assert (errors["raises"].type, errors["raises"].message) == ("ValueError", "bad")
        assert result["fine"].output == 4

    async def test_a_worker_that_dies_fails_its_call_which_a_retry_can_mend(
        self, tmp_path: Path
    ) -> None:
        g = gf.Graph()
        g.add(
            "d",
            tools.die_once,
            args={"marker": str(tmp_path / "m")},
            executor="process",
            retries=gf.Retry(1, backoff=0),
        )
        result = await gf.run(g)
        assert result["d"].output == "second time lucky" and result["d"].attempts == 2
        first = result["d"].history[0].error
        assert first is not None and first.type == "WorkerDied"

    async def test_an_unknown_executor_is_refused_before_anything_runs(self) -> None:
        g = gf.Graph()
        g.add("a", tools.pid, executor="cluster")
        with pytest.raises(gf.OptionError, match="'cluster'"):
            await gf.run(g)

    def test_async_is_for_coroutine_functions(self) -> None:
        with pytest.raises(gf.SpecError, match="coroutine"):
            gf.Graph().add("a", tools.pid, executor="async")

    @pytest.mark.parametrize("name", ["thread", "process", "dask"])
    def test_a_coroutine_function_is_refused_on_an_executor_of_plain_functions(
        self, name: str
    ) -> None:
        """Its call would return a coroutine there (that cannot even be pickled back)."""

        async def fetch() -> int:
            return 1

        with pytest.raises(gf.SpecError) as refused:
            gf.Graph().add("a", fetch, executor=name)
        assert str(refused.value) == (
            f"node 'a': executor {name!r} runs plain functions, and this tool is an async def:"
            " it runs on the event loop (leave executor out)"
        )
        assert refused.value.key == "a.executor"


class TestProcessFailures:
    async def test_a_module_off_sys_path_is_imported_from_its_folder_and_named_if_gone(
        self, tmp_path: Path
    ) -> None:
        import importlib
        import sys

        name = f"only_here_{os.getpid()}_{time.monotonic_ns()}"  # (one per backend's run)
        source = tmp_path / f"{name}.py"
        source.write_text("def hello() -> str:\n    return 'hi'\n")
        sys.path.insert(0, str(tmp_path))
        try:
            module = importlib.import_module(name)
        finally:
            sys.path.remove(str(tmp_path))  # a spawned worker would not find it by name
        g = gf.Graph()
        g.add("h", module.hello, executor="process")
        assert (await gf.run(g))["h"].output == "hi"  # sent as (folder, module, name)
        source.unlink()
        error = (await gf.run(g))["h"].error  # a new worker: the module is gone
        assert error is not None and error.type == "ModuleNotFoundError"
        assert error.message == f"no module {name!r} in {tmp_path}"

    async def test_an_idle_worker_that_died_is_replaced(self) -> None:
        def kill(pid: int) -> None:
            os.kill(pid, 9)

        g = gf.Graph()
        g.add("first", tools.pid, executor="process")
        g.add("kill", kill, args={"pid": "${first}"})
        g.add("second", tools.pid, executor="process", depends_on="kill")
        result = await gf.run(g, executors={"process": ProcessExecutor(workers=1)})
        assert result.ok, result.by_status("failed")
        assert result["second"].output != result["first"].output

    async def test_a_timeout_counts_once_a_worker_has_the_call(self) -> None:
        """Waiting for a worker (busy, or starting) is not the call's time: a node
        queued behind a 0.6 s call, with a 0.3 s timeout, succeeds; once it has
        its worker, the timeout holds (``slow`` fails after its own 0.3 s)."""
        g = gf.Graph()
        g.add("busy", tools.nap, args={"seconds": 0.6}, executor="process")
        g.add("queued", tools.square, args={"x": 3}, executor="process", timeout=0.3)
        g.add("slow", tools.nap, args={"seconds": 60}, executor="process", timeout=0.3)
        result = await gf.run(g, executors={"process": ProcessExecutor(workers=1)})
        assert result["busy"].ok and result["queued"].output == 9, result["queued"].error
        queued, slow = result["queued"], result["slow"]
        assert queued.duration is not None and queued.duration > 0.3
        assert slow.error is not None and slow.error.timed_out == 0.3
        assert slow.duration is not None and slow.duration > 0.6  # (it waited its turn too)

    async def test_a_call_cancelled_while_its_worker_starts_leaves_no_process(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """fail_fast stops the run while ``b``'s worker is still starting: ``b`` is
        cancelled at once, and the worker, up later, is stopped with the rest.

        Every worker's start is held by a gate that only ``b``'s cancellation
        opens: were ``b`` cancelled only once its worker was up, the start would
        wait out its 10 s and say so (no timing to race the machine's load)."""
        before = set(multiprocessing.active_children())
        gate, late = threading.Event(), []

        class Gated(process_module._Worker):
            def __init__(self, context: object, *rest: Any) -> None:
                late.append(not gate.wait(10))
                super().__init__(context, *rest)

        def watch(event: gf.Event) -> None:
            if event.node_id == "b" and event.result is not None:
                gate.set()

        def boom() -> None:
            time.sleep(0.05)
            raise RuntimeError("boom")

        monkeypatch.setattr(process_module, "_Worker", Gated)
        g = gf.Graph()
        g.add("a", tools.nap, args={"seconds": 60}, executor="process")
        g.add("b", tools.square, args={"x": 2}, executor="process")
        g.add("fail", boom)
        result = await gf.run(
            g,
            executors={"process": ProcessExecutor(workers=2)},
            fail_fast=True,
            observers=[watch],
        )
        assert result["fail"].status == "failed"
        assert {result["a"].status, result["b"].status} == {gf.NodeStatus.CANCELLED}
        assert late and not any(late), "b was cancelled only once a worker was up"
        assert set(multiprocessing.active_children()) == before

    async def test_a_worker_that_does_not_start_fails_its_call_and_is_killed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A start that hangs (the main script's import waiting on something) held
        the run, and its exit, for as long as it hung. The call that claimed the
        worker started with the run fails with its error: a start of its own would
        hang as long again (it did: twice ``start_timeout``)."""
        before = set(multiprocessing.active_children())
        boots = itertools.count()

        class Counted(process_module._Worker):
            def __init__(self, *args: Any) -> None:
                next(boots)
                super().__init__(*args)

        monkeypatch.setattr(process_module, "_serve", tools.start_slowly)
        monkeypatch.setattr(process_module, "_Worker", Counted)
        g = gf.Graph()
        g.add("sq", tools.square, args={"x": 2}, executor="process")
        with anyio.fail_after(30):
            result = await gf.run(
                g, executors={"process": ProcessExecutor(workers=1, start_timeout=0.5)}
            )
        error = result["sq"].error
        assert error is not None and error.type == "WorkerDied", result["sq"]
        assert "did not start within 0.5 s" in error.message
        assert next(boots) == 1, "the call started a second worker after the first hung"
        assert set(multiprocessing.active_children()) == before

    async def test_with_no_start_timeout_workers_start_as_usual(self) -> None:
        g = gf.Graph()
        g.add("sq", tools.square, args={"x": 3}, executor="process")
        pool = ProcessExecutor(workers=1, start_timeout=math.inf)
        assert (await gf.run(g, executors={"process": pool}))["sq"].output == 9

    def test_start_timeout_must_be_seconds(self) -> None:
        bad: Any
        for bad in (0, -1, True, float("nan"), "60", None):
            with pytest.raises(ValueError, match="start_timeout"):
                ProcessExecutor(start_timeout=bad)

    async def test_a_run_cancelled_while_the_first_worker_starts_leaves_no_process(
        self,
    ) -> None:
        before = set(multiprocessing.active_children())
        g = gf.Graph()
        g.add("sq", tools.square, args={"x": 2}, executor="process")
        with anyio.move_on_after(0.05):
            await gf.run(g, executors={"process": ProcessExecutor(workers=1)})
        assert set(multiprocessing.active_children()) == before

    async def test_leaving_does_not_wait_for_a_start_cancelled_before_it_began(self) -> None:
        executor = ProcessExecutor(workers=1)
        with anyio.fail_after(30):  # (it waited forever for a boot that never ran)
            async with executor:
                with anyio.CancelScope() as scope:
                    scope.cancel()  # before the boot's thread is asked for
                    await executor._start()


class TestWorkerSide:
    async def test_an_exception_that_cannot_come_back_as_itself_is_one_line(self) -> None:
        g = gf.Graph()
        g.add("locked", tools.raise_locked, executor="process")
        g.add("two", tools.raise_two_args, executor="process")
        result = await gf.run(g, executors={"process": ProcessExecutor(workers=1)})
        for node, told in [
            ("locked", "LockedError: bad thing happened"),
            ("two", "TwoArgs: 1/2"),
        ]:
            error = result[node].error
            assert error is not None and error.type == "RemoteError"
            assert error.message == f"node {node!r}: {told} (raised in the worker; not picklable)"
            assert "in the worker process:" in error.traceback and told in error.traceback

    def test_a_worker_ignores_ctrl_c_the_run_decides(self, tmp_path: Path) -> None:
        """Ctrl-C goes to the whole process group: a worker that died of it sent back
        KeyboardInterrupt as the tool's own failure (the run, not the worker, cancels)."""
        pid_file = tmp_path / "pid"

        def interrupt() -> None:
            deadline = time.monotonic() + 30
            while not (pid_file.exists() and pid_file.read_text()):
                assert time.monotonic() < deadline, "the tool never started"
                time.sleep(0.01)
            os.kill(int(pid_file.read_text()), signal.SIGINT)

        g = gf.Graph()
        args = {"pid_file": str(pid_file), "seconds": 1}
        g.add("nap", tools.nap_until_signalled, args=args, executor="process")
        signaller = threading.Thread(target=interrupt)
        signaller.start()
        try:
            result = gf.run_sync(g, executors={"process": ProcessExecutor(workers=1)})
        finally:
            signaller.join()
        assert result["nap"].ok and result["nap"].output == "slept", result["nap"].error

    def test_a_workflows_own_tool_module_runs_in_a_worker(self, tmp_path: Path) -> None:
        """A workflow's ``tools:`` are imported from its folder, not on ``sys.path``:
        sent by name, a worker could not import them."""
        (tmp_path / "local_tools.py").write_text(
            "import os\n\ndef where() -> int:\n    return os.getpid()\n"
        )
        (tmp_path / "wf.yaml").write_text(
            "name: own\ntools: [local_tools]\nnodes:\n"
            "  here: {tool: where}\n  there: {tool: where, executor: process}\n"
        )
        from graphflow.workflow import load_workflow

        wf = load_workflow(tmp_path / "wf.yaml")
        result = gf.run_sync(wf.graph, executors={"process": ProcessExecutor(workers=1)})
        assert result.ok, result.by_status("failed")
        assert result["there"].output not in (os.getpid(), result["here"].output)

    def test_a_workflows_tool_module_in_a_package_runs_in_a_worker(self, tmp_path: Path) -> None:
        """``tools: [kit.tools]``: a module of a package, importing a sibling."""
        kit = tmp_path / "kit"
        kit.mkdir()
        (kit / "__init__.py").write_text("")
        (kit / "helpers.py").write_text("import os\n\ndef pid() -> int:\n    return os.getpid()\n")
        (kit / "tools.py").write_text(
            "from kit.helpers import pid\n\ndef where() -> int:\n    return pid()\n"
        )
        (tmp_path / "wf.yaml").write_text(
            "name: kit\ntools: [kit.tools]\nnodes:\n  there: {tool: where, executor: process}\n"
        )
        from graphflow.workflow import load_workflow

        wf = load_workflow(tmp_path / "wf.yaml")
        result = gf.run_sync(wf.graph, executors={"process": ProcessExecutor(workers=1)})
        assert result.ok, result.by_status("failed")
        assert result["there"].output != os.getpid()


class TestLifecycle:
    """Entering and leaving: the first worker started beside the run, workers kept
    between runs while the owner holds the executor open, shared by runs at once."""

    async def test_the_run_does_not_wait_for_its_first_worker_to_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first worker starts beside the run's first nodes: here it cannot be
        up before ``first``, a coroutine, has run (it opens the gate)."""
        gate, late = threading.Event(), []

        class GatedWorker(process_module._Worker):
            def __init__(self, context: object, *rest: Any) -> None:
                late.append(not gate.wait(10))
                super().__init__(context, *rest)

        async def first() -> str:
            gate.set()
            return "ran"

        monkeypatch.setattr(process_module, "_Worker", GatedWorker)
        g = gf.Graph()
        g.add("first", first)
        g.add("sq", tools.square, args={"x": 3}, executor="process", depends_on="first")
        result = await gf.run(g, executors={"process": ProcessExecutor(workers=1)})
        assert result["sq"].output == 9, result["sq"].error
        assert late == [False], "the worker started only once the run's first node had"

    async def test_a_worker_still_starting_that_no_call_needs_is_not_waited_for(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The run's process node is skipped: its worker, still starting when the run
        ends (held by the gate until killed), is killed, not waited for (~0.5 s)."""
        gate, seen = threading.Event(), []

        class Held(process_module._Worker):
            def __init__(self, context: object, started: Any = None, *rest: Any) -> None:
                def hold(process: multiprocessing.process.BaseProcess) -> None:
                    if started is not None:
                        started(process)
                    seen.append(process)
                    gate.wait(10)  # (it starts for as long as the test says)

                super().__init__(context, hold, *rest)

        async def first() -> int:
            return 1

        async def open_the_gate_once_killed() -> None:
            await until(lambda: bool(seen) and seen[0].exitcode is not None)
            gate.set()

        monkeypatch.setattr(process_module, "_Worker", Held)
        g = gf.Graph()
        g.add("first", first)
        g.add("never", tools.square, args={"x": 2}, executor="process", when="${first} > 1")
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(open_the_gate_once_killed)
                result = await gf.run(g, executors={"process": ProcessExecutor(workers=1)})
        assert result["never"].status == gf.NodeStatus.SKIPPED
        assert [p.exitcode for p in seen] == [-signal.SIGKILL]

    async def test_a_run_entering_while_the_last_one_leaves_keeps_its_worker(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``quick``'s run (its process node skipped) leaves while its first worker is
        still starting (held by the gate), and ``nap``'s run enters then: once the
        gate opens, the first run's exit must leave the worker running ``nap`` alone
        (it took it out and stopped it, waiting until ``nap`` had ended)."""
        gate, boots = threading.Event(), itertools.count()

        class SlowFirstBoot(process_module._Worker):
            def __init__(self, context: object, *rest: Any) -> None:
                if next(boots) == 0:  # the first run's spare, a slow start
                    gate.wait(10)
                super().__init__(context, *rest)

        async def quick() -> int:
            return 1

        monkeypatch.setattr(process_module, "_Worker", SlowFirstBoot)
        pool = ProcessExecutor(workers=1)
        pid_file = tmp_path / "pid"
        one, two = gf.Graph(), gf.Graph()
        one.add("quick", quick)
        one.add("never", tools.square, args={"x": 2}, executor="process", when="${quick} > 1")
        two.add(
            "nap", tools.nap, args={"seconds": 2, "pid_file": str(pid_file)}, executor="process"
        )
        ended: dict[str, float] = {}
        naps: list[gf.RunResult] = []

        async def first() -> None:
            await gf.run(one, executors={"process": pool})
            ended["first"] = time.time()

        async def second() -> None:
            naps.append(await gf.run(two, executors={"process": pool}))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                await until(lambda: not pool._entered and pool._booting == 1)  # (it leaves)
                tg.start_soon(second)
                await until(lambda: pid_file.exists() and bool(pid_file.read_text()))
                gate.set()
        result = naps[0]["nap"]
        assert result.ok, result.error
        assert result.finished_at is not None and ended["first"] < result.finished_at

    def test_runs_in_a_with_block_share_workers_which_stop_when_it_ends(self) -> None:
        before = set(multiprocessing.active_children())
        g = gf.Graph()
        g.add("p", tools.pid, executor="process")
        options = gf.RunOptions(executors={"process": ProcessExecutor(workers=1)})
        pool = options.executors["process"]
        assert isinstance(pool, ProcessExecutor)
        with pool:
            first = gf.run_sync(g, options)["p"].output
            second = gf.run_sync(g, options)["p"].output
            assert first == second, "the second run had to start a worker of its own"
            assert not gone(first), "the worker stopped between the runs"
        assert gone(first)
        assert set(multiprocessing.active_children()) == before
        assert gf.run_sync(g, options)["p"].output not in (first, None)  # (usable again)
        assert set(multiprocessing.active_children()) == before

    async def test_an_async_with_block_keeps_workers_for_runs_also_at_once(self) -> None:
        before = set(multiprocessing.active_children())
        g = gf.Graph()
        g.add("p", tools.pid, executor="process")
        g.add("q", tools.pid, executor="process")
        pool = ProcessExecutor(workers=2)
        results: list[gf.RunResult] = []

        async def one() -> None:
            results.append(await gf.run(g, executors={"process": pool}))

        async with pool:
            await one()
            async with anyio.create_task_group() as tg:  # two runs at once, one pool
                tg.start_soon(one)
                tg.start_soon(one)
            # (the first run's two calls may take turns on one worker: a second one
            # starts when two calls want one at once)
            pids = {r[n].output for r in results for n in "pq"}
            again = await gf.run(g, executors={"process": pool})
            assert {again["p"].output, again["q"].output} <= pids
            alive = set(multiprocessing.active_children()) - before
            assert {p.pid for p in alive} == pids and len(pids) <= 2
        assert set(multiprocessing.active_children()) == before

    async def test_a_worker_killed_between_runs_is_replaced(self) -> None:
        g = gf.Graph()
        g.add("p", tools.pid, executor="process")
        pool = ProcessExecutor(workers=1)
        async with pool:
            first = (await gf.run(g, executors={"process": pool}))["p"].output
            os.kill(first, signal.SIGKILL)
            result = await gf.run(g, executors={"process": pool})
        assert result.ok, result.by_status("failed")
        assert result["p"].output != first

    async def test_a_run_on_another_threads_loop_is_refused_while_one_runs(self) -> None:
        g = gf.Graph()
        g.add("p", tools.pid, executor="process")
        pool = ProcessExecutor(workers=1)
        async with pool:
            with pytest.raises(RuntimeError, match="in use by a run on another thread"):
                await anyio.to_thread.run_sync(lambda: gf.run_sync(g, executors={"process": pool}))
            assert (await gf.run(g, executors={"process": pool})).ok  # (still usable here)

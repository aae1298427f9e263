"""DaskExecutor on a real local cluster (2 worker processes, one cluster per module).

The workers are named ``gpu`` (declares ``GPU=1``) and ``cpu`` (declares nothing):
a ``LocalCluster`` gives every worker the same resources, so the cluster is
spelt as a ``SpecCluster`` (what ``LocalCluster`` builds) of two nannies.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import graphflow as gf
from graphflow import NodeCall
from graphflow.executors import DaskExecutor, ProcessExecutor, RemoteValue
from graphflow.executors.dask import KILL_AFTER, DaskConnectError
from graphflow.store import SQLiteStore
from graphflow.workflow import load_workflow_text

from . import tools

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """distributed's client is asyncio-based (trio is refused: see the last test)."""
    return "asyncio"


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    worker = {"nthreads": 2, "host": "127.0.0.1", "silence_logs": logging.WARNING}
    cluster = distributed.SpecCluster(
        scheduler={
            "cls": distributed.Scheduler,
            "options": {"host": "127.0.0.1", "dashboard_address": ":0"},
        },
        workers={
            "gpu": {"cls": distributed.Nanny, "options": {**worker, "resources": {"GPU": 1}}},
            "cpu": {"cls": distributed.Nanny, "options": worker},
        },
        silence_logs=logging.WARNING,
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


# Tools (module level: the workers import them by reference).


def where() -> tuple[str, float]:
    """The worker running this task, and its free GPUs meanwhile (-1: it has none)."""
    worker = distributed.get_worker()
    return str(worker.name), float(worker.state.available_resources.get("GPU", -1))


def where_for(item: int) -> tuple[str, float]:
    return where()


@gf.tool(resources={"GPU": 1})
def on_a_gpu() -> tuple[str, float]:
    """A tool whose calls need a GPU unless a node says otherwise."""
    return where()


def stall_once(marker: str) -> str:
    """First run: write this worker's pid and hang; a run after that returns at once."""
    path = Path(marker)
    if path.exists():
        return "ran again"
    path.write_text(str(os.getpid()))
    time.sleep(60)
    return "never"


def lock_back() -> Any:
    return threading.Lock()


class Locked:
    """A tool that does not pickle: it holds a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, x: int) -> int:
        return x


def size(data: bytes) -> int:
    return len(data)


def nap(seconds: float, marker: str) -> None:
    Path(marker).touch()
    time.sleep(seconds)


def record(n: int) -> dict[str, Any]:
    return {"n": n, "data": b"x" * n}


def record_of(n: int) -> dict[str, Any]:
    return {"n": n, "items": list(range(n))}


def length(items: Any) -> int:
    return len(items)


def blob(n: int) -> bytes:
    return b"x" * n


async def async_size(data: bytes) -> int:
    assert isinstance(data, bytes)
    return len(data)


async def async_add(a: int, b: int) -> int:
    return a + b


def add(a: int, b: int) -> int:
    return a + b


def mixed_graph(on: str) -> gf.Graph:
    """The same graph, its middle on executor ``on``, failures included."""
    g = gf.Graph()
    g.add("sq", tools.square, args={"x": 3}, executor=on)
    g.add("proc", tools.square, args={"x": "${sq}"}, executor="process")
    g.add("thr", add, args={"a": "${sq}", "b": "${proc}"})
    g.add("asy", async_add, args={"a": "${thr}", "b": 1})
    g.add("back", add, args={"a": "${asy}", "b": "${proc}"}, executor=on)
    g.add("bad", tools.boom, args={"message": "bad input 'x'"}, executor=on)
    g.add("after_bad", add, args={"a": "${bad}", "b": 1})
    return g


async def scheduler_keys(address: str, prefix: str) -> list[str]:
    def keys(dask_scheduler: Any) -> list[str]:
        return [str(k) for k in dask_scheduler.tasks]

    async with distributed.Client(address, asynchronous=True) as client:
        found = await client.run_on_scheduler(keys)
    return [k for k in found if k.startswith(prefix)]


class TestDaskExecutor:
    async def test_a_mixed_graph_runs_as_it_does_locally(self, address: str) -> None:
        process = ProcessExecutor(workers=1)
        local = await gf.run(mixed_graph("thread"), executors={"process": process})
        remote = await gf.run(
            mixed_graph("dask"),
            executors={"dask": DaskExecutor(address), "process": ProcessExecutor(workers=1)},
        )
        assert remote["back"].output == 9 + 81 + 1 + 81
        for node_id, here in local.items():
            there = remote[node_id]
            assert (there.status, there.output) == (here.status, here.output), node_id
            if here.error is not None:
                assert there.error is not None
                assert (there.error.type, there.error.message) == (
                    here.error.type,
                    here.error.message,
                )

    async def test_a_node_needing_a_gpu_runs_only_on_the_worker_that_has_one(
        self, address: str
    ) -> None:
        g = gf.Graph()
        for i in range(8):  # by chance, 8 of 8 on one of two workers: 1 in 128
            g.add(f"gpu{i}", where, executor="dask", resources={"GPU": 1})
        g.add("each", where_for, for_each=[1, 2, 3], args={"item": "${item}"}, executor="dask")
        g.add("tool", on_a_gpu, executor="dask")  # the tool's default
        g.add("here", tools.square, args={"x": 3}, resources={"GPU": 1})  # threads ignore it
        g.add(
            "each_gpu",
            where_for,
            for_each=[1, 2],
            args={"item": "${item}"},
            executor="dask",
            resources={"GPU": 1},
        )
        result = await gf.run(g, executors={"dask": DaskExecutor(address)})
        on_gpu = ("gpu", 0.0)  # on worker "gpu", holding its one GPU
        assert [result[f"gpu{i}"].output for i in range(8)] == [on_gpu] * 8
        assert result["tool"].output == on_gpu
        assert result["each_gpu"].output == [on_gpu] * 2
        assert result["here"].output == 9
        names = {name for name, _ in result["each"].output}
        assert names <= {"gpu", "cpu"}, "no resources: any worker"

    async def test_a_yaml_node_needing_a_gpu_runs_on_the_worker_that_has_one(
        self, address: str
    ) -> None:
        wf = load_workflow_text(
            """\
            name: gpu
            nodes:
              train:
                tool: python
                args: {function: "tests.executors.test_dask:where"}
                executor: dask
                resources: {GPU: 1}
            """.replace("            ", "")
        )
        result = await gf.run(wf.graph, executors={"dask": DaskExecutor(address)})
        assert result["train"].output == ("gpu", 0.0), result["train"].error

    async def test_the_executors_table_gives_resources_to_nodes_without_their_own(
        self, address: str
    ) -> None:
        g = gf.Graph()
        g.add("table", where, executor="dask")
        g.add("items", where_for, for_each=[1, 2], args={"item": "${item}"}, executor="dask")
        # "own" declares a GPU; the table's TPU (no worker has one) would never run
        g.add("own", where, executor="dask", resources={"GPU": 1}, timeout=30)
        table = {"table": {"GPU": 1}, "items": {"GPU": 1}, "own": {"TPU": 1}}
        result = await gf.run(g, executors={"dask": DaskExecutor(address, resources=table)})
        assert result["table"].output == result["own"].output == ("gpu", 0.0)
        assert result["items"].output == [("gpu", 0.0)] * 2

    async def test_a_timeout_cancels_the_task_on_the_cluster(self, address: str) -> None:
        g = gf.Graph()
        g.add("slow", tools.nap, args={"seconds": 3}, executor="dask", timeout=0.5)
        result = await gf.run(g, executors={"dask": DaskExecutor(address)})
        error = result["slow"].error
        assert error is not None and error.timed_out == 0.5
        assert await scheduler_keys(address, f"graphflow-{result.run_id}") == []

    async def test_values_come_back_in_batches_each_once_a_timeout_among_them(
        self, address: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        g = gf.Graph()
        for i in range(40):
            g.add(f"sq{i}", tools.square, args={"x": i}, executor="dask")
        g.add("slow", tools.nap, args={"seconds": 3}, executor="dask", timeout=0.5)
        g.add("bad", tools.boom, args={"message": "no"}, executor="dask")
        async with distributed.Client(address, asynchronous=True) as client:
            fetched: list[str] = []
            gather = client.gather

            def counted(futures: list[Any], **kwargs: Any) -> Any:
                fetched.extend(f.key for f in futures)
                return gather(futures, **kwargs)

            monkeypatch.setattr(client, "gather", counted)
            result = await gf.run(g, executors={"dask": DaskExecutor(client=client)})
        assert [result[f"sq{i}"].output for i in range(40)] == [i * i for i in range(40)]
        assert sorted(fetched) == sorted(f"graphflow-{result.run_id}-sq{i}-1" for i in range(40))
        slow, bad = result["slow"].error, result["bad"].error
        assert slow is not None and slow.timed_out == 0.5
        assert bad is not None and (bad.type, bad.message) == ("ValueError", "no")
        assert await scheduler_keys(address, f"graphflow-{result.run_id}-slow") == []

    async def test_a_worker_killed_mid_task_ends_in_a_retry_not_a_hang(
        self, address: str, tmp_path: Path
    ) -> None:
        marker = tmp_path / "pid"
        g = gf.Graph()
        g.add(
            "victim",
            stall_once,
            args={"marker": str(marker)},
            executor="dask",
            retries=gf.Retry(1, backoff=0),
        )
        with anyio.fail_after(45):
            async with anyio.create_task_group() as tg:

                async def killer() -> None:
                    while True:  # the worker writes its pid when the task starts
                        if marker.exists() and marker.read_text():
                            break
                        await anyio.sleep(0.05)
                    os.kill(int(marker.read_text()), signal.SIGKILL)

                tg.start_soon(killer)
                result = await gf.run(g, executors={"dask": DaskExecutor(address)})
        # distributed reschedules the task on a live worker; had it given up
        # (KilledWorker), graphflow's retry would have run it again.
        assert result["victim"].output == "ran again", result["victim"].error

    async def test_what_does_not_pickle_fails_that_node_only(
        self, address: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        g = gf.Graph()
        g.add("first", tools.square, args={"x": 4}, executor="dask")
        g.add("lock", tools.square, args={"x": threading.Lock()}, executor="dask")
        g.add("lock_back", lock_back, executor="dask")
        g.add("fine", tools.square, args={"x": 5}, executor="dask")
        g.add("also_fine", tools.square, args={"x": 6}, executor="dask")
        locked = Locked()
        g.add("tool_a", locked, args={"x": 1}, executor="dask")
        g.add("tool_b", locked, args={"x": 2}, executor="dask")
        async with distributed.Client(address, asynchronous=True) as client:
            mapped: list[list[str]] = []
            submit_many = client.map

            def spied(*args: Any, key: list[str], **kwargs: Any) -> Any:
                mapped.append([k.rpartition("-")[0].rpartition("-")[2] for k in key])
                return submit_many(*args, key=key, **kwargs)

            monkeypatch.setattr(client, "map", spied)
            result = await gf.run(g, executors={"dask": DaskExecutor(client=client)})
        error = result["lock"].error
        assert error is not None and error.type == "PicklingError"
        assert "node 'lock'" in error.message and "_thread.lock" in error.message
        error = result["lock_back"].error
        assert error is not None and error.type == "PicklingError", error
        assert "result cannot be sent back" in error.message and "_thread.lock" in error.message
        assert (result["first"].output, result["fine"].output) == (16, 25)
        assert result["also_fine"].output == 36
        for node in ("tool_a", "tool_b"):  # the tool itself: each of its nodes, named
            error = result[node].error
            assert error is not None and error.type == "PicklingError", error
            assert f"node {node!r}" in error.message and "_thread.lock" in error.message
        # started in one tick, calls of one tool went to the cluster in one update;
        # one whose arguments might not pickle went on its own
        assert ["fine", "also_fine"] in mapped and ["tool_a", "tool_b"] in mapped, mapped
        assert not any("lock" in keys for keys in mapped), mapped

    async def test_a_client_closed_before_the_run_fails_each_node_saying_so(
        self, address: str
    ) -> None:
        client = await distributed.Client(address, asynchronous=True)
        await client.close()
        g = gf.Graph()
        for i in range(3):  # one update of three calls
            g.add(f"n{i}", tools.square, args={"x": i}, executor="dask")
        g.add("alone", tools.square, args={"x": threading.Lock()}, executor="dask")
        result = await gf.run(g, executors={"dask": DaskExecutor(client=client)})
        for node in ("n0", "n1", "n2", "alone"):
            error = result[node].error
            assert error is not None and error.type == "ClosedClientError", error
            assert "closed" in error.message.lower(), error

    async def test_outputs_kept_on_the_cluster_reach_others_as_values(self, address: str) -> None:
        g = gf.Graph()
        g.add("big", blob, args={"n": 1000}, executor="dask")
        g.add("on_dask", size, args={"data": "${big}"}, executor="dask")
        g.add("on_thread", size, args={"data": "${big}"})
        g.add("on_loop", async_size, args={"data": "${big}"})
        g.add("fails", tools.boom, args={"message": "no"}, executor="dask")
        executor = DaskExecutor(address, keep_on_cluster=True)
        result = await gf.run(g, executors={"dask": executor})
        assert result["big"].output == b"x" * 1000, "the result holds the value"
        sizes = {result[k].output for k in ("on_dask", "on_thread", "on_loop")}
        assert sizes == {1000}
        error = result["fails"].error
        assert error is not None and (error.type, error.message) == ("ValueError", "no")

    async def test_a_kept_output_that_does_not_pickle_fails_alone(self, address: str) -> None:
        # fetched at the run's end with the others: distributed merges concurrent
        # fetches into one request, which one unpicklable value used to fail whole
        g = gf.Graph()
        g.add("lock", lock_back, executor="dask")
        for i in range(5):
            g.add(f"ok{i}", blob, args={"n": i}, executor="dask")
        result = await gf.run(g, executors={"dask": DaskExecutor(address, keep_on_cluster=True)})
        assert [result[f"ok{i}"].output for i in range(5)] == [b"x" * i for i in range(5)]
        error = result["lock"].error
        assert error is not None and error.type == "PicklingError", error
        assert "node 'lock': its result cannot be sent back" in error.message

    async def test_kept_outputs_are_recorded_by_a_run_store(
        self, address: str, tmp_path: Path
    ) -> None:
        g = gf.Graph()
        g.add("big", blob, args={"n": 3}, executor="dask")
        g.add("n", size, args={"data": "${big}"}, executor="dask")
        executor = DaskExecutor(address, keep_on_cluster=True)
        store = tmp_path / "runs.db"
        result = await gf.run(
            g, executors={"dask": executor}, store=SQLiteStore(store, pickle=True)
        )
        assert result.ok, {k: r.error for k, r in result.items() if r.error}
        assert SQLiteStore(store, pickle=True).result(result.run_id)["big"].output == b"xxx"

    async def test_kept_outputs_read_inside_arguments_and_conditions_are_values(
        self, address: str
    ) -> None:
        g = gf.Graph()
        g.add("big", blob, args={"n": 6}, executor="dask")
        g.add("n", size, args={"data": "${big}"}, executor="dask")
        g.add("rec", record, args={"n": 4}, executor="dask")
        g.add("path", size, args={"data": "${rec.data}"}, executor="dask")
        g.add("nested", length, args={"items": ["${big}", "${big}"]}, executor="dask")
        g.add("text", length, args={"items": "n=${n}"}, executor="dask")
        g.add("when", size, args={"data": b"ab"}, executor="dask", when="${n} > 3")
        result = await gf.run(g, executors={"dask": DaskExecutor(address, keep_on_cluster=True)})
        assert result.ok, {k: r.error for k, r in result.items() if r.error}
        outputs = {k: result[k].output for k in ("n", "path", "nested", "text", "when")}
        assert outputs == {"n": 6, "path": 4, "nested": 2, "text": 3, "when": 2}

    async def test_a_cluster_of_its_own_is_started_and_closed(self) -> None:
        g = gf.Graph()
        g.add("sq", tools.square, args={"x": 4}, executor="dask")
        executor = DaskExecutor(cluster_kwargs={"n_workers": 1, "processes": False})
        result = await gf.run(g, executors={"dask": executor})
        assert result["sq"].output == 16
        with pytest.raises(RuntimeError, match="enter the DaskExecutor"):
            executor.client  # noqa: B018 - closed after the run

    async def test_a_cancelled_run_kills_its_own_cluster_s_busy_worker_without_waiting(
        self, tmp_path: Path
    ) -> None:
        started = tmp_path / "started"
        g = gf.Graph()
        g.add("nap", nap, args={"seconds": 60, "marker": str(started)}, executor="dask")
        executor = DaskExecutor(cluster_kwargs={"n_workers": 1, "processes": True})
        seen: list[str] = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
        nanny = logging.getLogger("distributed.nanny")  # (distributed may not propagate it)
        nanny.addHandler(handler)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: gf.run(g, executors={"dask": executor}))
                with anyio.fail_after(60):
                    while not started.exists():  # noqa: ASYNC110 - a file another process makes
                        await anyio.sleep(0.05)
                tg.cancel_scope.cancel()  # (as Ctrl-C does, the task running)
        finally:
            nanny.removeHandler(handler)
        waits = [message for message in seen if "still alive after" in message]
        # distributed's own close gives a busy worker 4 s before killing it
        assert waits == [f"Worker process still alive after {KILL_AFTER:.1f} seconds, killing"]

    async def test_resources_no_worker_of_its_own_cluster_has_fail_not_hang(self) -> None:
        g = gf.Graph()
        g.add("gpu", where, executor="dask", resources={"GPU": 1})
        g.add("two", where, executor="dask", resources={"GPU": 2})
        kwargs = {"n_workers": 1, "processes": False, "resources": {"GPU": 1}}
        result = await gf.run(g, executors={"dask": DaskExecutor(cluster_kwargs=kwargs)})
        assert result["gpu"].output[1] == 0.0
        error = result["two"].error
        assert error is not None and error.type == "ValueError"
        assert "needs worker resources {'GPU': 2.0}, which no worker" in error.message
        assert "(each has {'GPU': 1}" in error.message and "--dask-resources" in error.message


class Kept(RemoteValue):
    """A value "left remote" in the driver's own memory, for the core hook's test."""

    __slots__ = ("delay", "owner", "value")

    def __init__(self, value: Any, owner: object, delay: float = 0) -> None:
        self.value, self.owner, self.delay = value, owner, delay

    async def fetch(self) -> Any:
        if self.delay:
            await anyio.sleep(self.delay)
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


class Keeper:
    """An executor that keeps every output "remote" and shows what it received."""

    def __init__(self, fetch_delay: float = 0) -> None:
        self.fetch_delay = fetch_delay

    async def __aenter__(self) -> Keeper:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def call(self, call: NodeCall) -> Any:
        handles = {k: type(v).__name__ for k, v in call.arguments.items() if type(v) is Kept}
        return Kept(handles or call.tool(**call.arguments), self, self.fetch_delay)


class TestRemoteValueHook:
    async def test_handles_stay_on_their_executor_and_become_values_elsewhere(self) -> None:
        g = gf.Graph()
        g.add("a", tools.square, args={"x": 3}, executor="keep")
        g.add("same", size, args={"data": "${a}"}, executor="keep")
        g.add("thread", add, args={"a": "${a}", "b": 1})
        g.add("loop", async_add, args={"a": "${a}", "b": 1})
        g.add("lost", Kept, args={"value": OSError("gone"), "owner": None})
        result = await gf.run(g, executors={"keep": Keeper()})
        assert result["a"].output == 9, "the result holds the value"
        assert result["same"].output == {"data": "Kept"}, "its own executor got the handle"
        assert result["thread"].output == result["loop"].output == 10
        lost = result["lost"]
        assert lost.status == "failed" and lost.error is not None
        assert lost.error.message == "fetching its output failed: gone"

    async def test_values_read_inside_arguments_are_fetched_for_every_reader(self) -> None:
        g = gf.Graph()
        g.add("src", record_of, args={"n": 3000}, executor="keep")
        # 3,000 items: a runtime map is made 512 at a time, its gather's list last
        g.add("m", tools.square, args={"x": "${item}"}, for_each="${src.items}", executor="keep")
        g.add("path", add, args={"a": "${src.n}", "b": 1})
        g.add("text", length, args={"items": "n=${path}"}, executor="keep")
        g.add("when", add, args={"a": 1, "b": 1}, when="${path} > 3000")
        result = await gf.run(g, executors={"keep": Keeper()})
        assert result.ok, {k: r.error for k, r in result.items() if r.error}
        assert result["m"].output == [x * x for x in range(3000)]
        outputs = [result[k].output for k in ("path", "text", "when")]
        assert outputs == [3001, 6, 2]

    async def test_a_failed_fetch_fails_the_reading_node_with_its_own_error(self) -> None:
        g = gf.Graph()
        g.add("ok", record_of, args={"n": 1}, executor="keep")
        g.add("lost", Kept, args={"value": OSError("gone"), "owner": None})
        g.add("reads", length, args={"items": ["${ok}", "${lost}"]})  # (two fetches at once)
        result = await gf.run(g, executors={"keep": Keeper()})
        error = result["reads"].error
        assert error is not None and (error.type, error.message) == ("OSError", "gone")

    async def test_a_node_added_after_a_kept_output_is_done_reads_its_value(self) -> None:
        async with gf.Scheduler(executors={"keep": Keeper()}) as run:
            run.add("a", record_of, args={"n": 2}, executor="keep")
            await run.wait()
            run.add("b", add, args={"a": "${a.n}", "b": 1})
            result = await run.wait()
        assert result["b"].output == 3, result["b"].error

    async def test_a_slow_fetch_counts_against_the_reading_node_s_timeout(self) -> None:
        g = gf.Graph()
        g.add("a", record_of, args={"n": 1}, executor="keep")
        g.add("b", add, args={"a": "${a.n}", "b": 1}, timeout=0.1)
        result = await gf.run(g, executors={"keep": Keeper(fetch_delay=1)})
        error = result["b"].error
        assert error is not None and error.type == "TimeoutError", error
        assert "fetching the outputs it reads took over 0.1 s" in error.message


def test_trio_is_refused_with_a_clear_error() -> None:
    g = gf.Graph()
    g.add("sq", tools.square, args={"x": 4}, executor="dask")
    with pytest.raises(RuntimeError, match="asyncio only"):
        gf.run_sync(g, executors={"dask": DaskExecutor("tcp://127.0.0.1:1")}, async_backend="trio")


def test_importing_graphflow_does_not_import_dask() -> None:
    code = (
        "import sys, graphflow, graphflow.executors; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


def scheduler_of_task() -> str:
    """The address of the scheduler of the worker running this task."""
    return str(distributed.get_worker().scheduler.address)


class TestSharedExecutor:
    """One executor entered by several runs, or held open by its owner."""

    async def test_runs_at_once_share_its_cluster_which_closes_after_the_last(self) -> None:
        g = gf.Graph()
        g.add("at", scheduler_of_task, executor="dask")
        executor = DaskExecutor(cluster_kwargs={"n_workers": 1, "processes": False})
        results: list[gf.RunResult] = []

        async def one() -> None:
            results.append(await gf.run(g, executors={"dask": executor}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            tg.start_soon(one)
        assert [r.ok for r in results] == [True, True], [r.by_status("failed") for r in results]
        # (each run used to start a cluster of its own, the second taking the first's
        # place: that one was never closed, which pytest reports when it is collected)
        addresses = {r["at"].output for r in results}
        assert len(addresses) == 1, f"one cluster each: {addresses}"
        with pytest.raises(RuntimeError, match="enter the DaskExecutor"):
            executor.client  # noqa: B018 - closed after the last run

    async def test_runs_at_once_on_an_unreachable_scheduler_each_fail_with_one_error(
        self,
    ) -> None:
        """The second run waits for the first one's connection: when it fails, each
        fails alike, and the executor is left as it was (a third run fails the same)."""
        g = gf.Graph()
        g.add("at", scheduler_of_task, executor="dask")
        executor = DaskExecutor("tcp://127.0.0.1:1")

        async def one() -> None:
            await gf.run(g, executors={"dask": executor})

        with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
            with pytest.raises(ExceptionGroup) as both:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(one)
                    tg.start_soon(one)
            errors = [e for e in both.value.exceptions if isinstance(e, DaskConnectError)]
            assert len(errors) == len(both.value.exceptions) == 2, both.value.exceptions
            reasons = sorted(e.reason for e in errors)
            assert reasons[1] == "the run sharing this executor that connects failed", reasons
            with pytest.raises(DaskConnectError, match="cannot connect to the Dask scheduler"):
                await one()
        with pytest.raises(RuntimeError, match="enter the DaskExecutor"):
            executor.client  # noqa: B018 - never connected

    async def test_held_open_its_cluster_serves_each_run_until_the_block_ends(self) -> None:
        g = gf.Graph()
        g.add("at", scheduler_of_task, executor="dask")
        executor = DaskExecutor(cluster_kwargs={"n_workers": 1, "processes": False})
        async with executor:
            first = await gf.run(g, executors={"dask": executor})
            second = await gf.run(g, executors={"dask": executor})
            assert executor.client.status == "running"
        assert first.ok and second.ok
        assert first["at"].output == second["at"].output
        with pytest.raises(RuntimeError, match="enter the DaskExecutor"):
            executor.client  # noqa: B018 - closed with the block

"""Executors against their baselines: ``python -m benchmarks.executors [--quick]``.

(a) CPU-bound fan-out: 32 nodes of ~200 ms of pure Python on ``thread``,
    ``process`` (2 workers) and ``dask`` (LocalCluster, 2 worker processes x
    1 thread), against the sequential sum; goal: speed-up >= 0.8 x workers.
    ``process`` runs twice: with an executor of its own each run (its 2
    workers started by the run, as a run that is given none does) and held
    open around the turns (``with ProcessExecutor(2):``, its workers up and
    this module imported before, as the cluster's are). Beside them, the same
    tasks without graphflow: ``ProcessPoolExecutor`` (spawn, 2 workers) made
    for each turn, its start-up included, and one kept open, warmed before;
    and ``client.map`` + ``gather``; "raw ÷ this" (median over the turns) says
    how near each executor comes to what this machine gives the tools themselves.
    Each task returns the CPU time its thread got (``time.thread_time``), so
    every row shows the work it really ran next to its wall time: "CPU use"
    is that work / (wall x workers), 1.0 when its workers never waited.
    The rows take turns (sequential, thread, process, dask; again...) and
    each shows its median: a machine whose load drifts slows them all alike.
    The sequential sum runs in a thread, as the thread row's tasks do: this
    process hosts the cluster's scheduler, whose loop must not block.
    The first process row includes starting its 2 workers (a run pays it);
    the held one and the dask cluster are started before.
(b) Per-node overhead of the dask executor on no-op nodes, against raw
    ``client.submit`` + ``gather`` of as many no-op tasks on the same cluster;
    goal: <= 1.2x. Taking turns too, 11 of them (a turn's ratio ranged 0.8-2.6
    from one turn to the next on a 2-core VM); the ratio is the median of each turn's.

Both are CPU-bound on a 2-core machine: anything else running there (a test
suite) shows up as CPU use well under 1.0. The load average is printed.
(c) A chain of Dask nodes passing a 50 MB bytes object: outputs kept on the
    cluster (``keep_on_cluster=True``) against round-tripping through the driver.

Prints Markdown tables. Needs ``graphflow[dask]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import multiprocessing
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

import graphflow as gf
from graphflow.executors import DaskExecutor, ProcessExecutor, ThreadExecutor

from ._common import table

if TYPE_CHECKING:
    import distributed

WORKERS = 2
RAW_POOL = "raw ProcessPoolExecutor(2, spawn).map"
RAW_DASK = "raw client.map + gather"


def burn(loops: int) -> float:
    """Pure Python work: ``loops`` iterations of integer arithmetic (nothing
    releases the GIL); returns the CPU seconds this thread spent on it."""
    start = time.thread_time()
    total = 0
    for i in range(loops):
        total = (total + i * i) % 1_000_003
    return time.thread_time() - start


def noop(i: int) -> int:
    return i


def make_blob(mb: int) -> bytes:
    return bytes(mb * 1_000_000)


def touch(data: bytes) -> bytes:
    """A step of the chain: a new 50 MB object, derived from the last."""
    return data[1:] + data[:1]


def size(data: bytes) -> int:
    return len(data)


async def _await(future: Any) -> None:
    await future


def calibrate(seconds: float) -> int:
    """Loops of ``burn`` that take about ``seconds`` of CPU here (not of wall
    time: another process taking the core would shorten the work)."""
    burn(100_000)  # warm
    loops = 400_000
    spent = statistics.median(burn(loops) for _ in range(5))  # (min: the luckiest moment)
    return max(1, int(loops * seconds / spent))


async def wall(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """Best wall time of ``repeat`` awaits of ``fn()``."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        best = min(best, time.perf_counter() - start)
    return best


async def timed_cpu(fn: Callable[[], Awaitable[list[float]]]) -> tuple[float, float]:
    """Wall seconds of ``await fn()`` and the sum of the CPU seconds it returns."""
    start = time.perf_counter()
    cpu = await fn()
    return time.perf_counter() - start, sum(cpu)


def fan_out(n: int, loops: int, executor: str) -> gf.Graph:
    g = gf.Graph()
    for i in range(n):
        g.add(f"burn{i}", burn, args={"loops": loops}, executor=executor)
    return g


async def run_ok(graph: gf.Graph, **options: Any) -> gf.RunResult:
    result = await gf.run(graph, **options)
    assert result.ok, result.by_status("failed")
    return result


async def cpu_of(graph: gf.Graph, **options: Any) -> list[float]:
    """Run ``graph``; the CPU seconds each node's ``burn`` returned."""
    result = await run_ok(graph, **options)
    return [r.output for r in result.values()]


PROCESS = "process (2 workers, started by the run)"
HELD = "process, held open (2 workers up before)"
DASK = "dask (LocalCluster, 2 workers x 1 thread)"
RAW_HELD = "raw ProcessPoolExecutor(2, spawn), kept open"


async def bench_fan_out(client: distributed.Client, n: int, repeat: int) -> list[list[Any]]:
    # Calibrated and run sequentially in a thread, never on the loop: this
    # process hosts the cluster's scheduler, and seconds of a blocked loop
    # left the sequential sum 0.74 of a core (threads: 0.94) - the "thread
    # 1.29x faster than sequential" of pure GIL-bound work.
    loops = await anyio.to_thread.run_sync(calibrate, 0.2)
    spawn = multiprocessing.get_context("spawn")
    kept = concurrent.futures.ProcessPoolExecutor(WORKERS, mp_context=spawn)
    held = ProcessExecutor(WORKERS)

    async def sequential() -> list[float]:
        return await anyio.to_thread.run_sync(lambda: [burn(loops) for _ in range(n)])

    def pool_map() -> list[float]:  # start-up included, as the process row's
        with concurrent.futures.ProcessPoolExecutor(WORKERS, mp_context=spawn) as pool:
            return list(pool.map(burn, [loops] * n))

    async def raw_pool() -> list[float]:
        return await anyio.to_thread.run_sync(pool_map)

    async def raw_kept() -> list[float]:
        return await anyio.to_thread.run_sync(lambda: list(kept.map(burn, [loops] * n)))

    async def raw_dask() -> list[float]:
        futures = client.map(burn, [loops] * n, pure=False)
        return await client.gather(futures)  # type: ignore[no-any-return,no-untyped-call]

    def process(pool: ProcessExecutor) -> Callable[[], Awaitable[list[float]]]:
        return lambda: cpu_of(fan_out(n, loops, "process"), executors={"process": pool})

    runs: dict[str, tuple[int, Callable[[], Awaitable[list[float]]]]] = {
        "sequential sum": (1, sequential),
        "thread": (1, lambda: cpu_of(fan_out(n, loops, "thread"), executor=ThreadExecutor())),
        PROCESS: (WORKERS, lambda: process(ProcessExecutor(WORKERS))()),
        HELD: (WORKERS, process(held)),
        DASK: (
            WORKERS,
            lambda: cpu_of(
                fan_out(n, loops, "dask"), executors={"dask": DaskExecutor(client=client)}
            ),
        ),
        RAW_POOL: (WORKERS, raw_pool),
        RAW_HELD: (WORKERS, raw_kept),
        RAW_DASK: (WORKERS, raw_dask),
    }
    baseline = {PROCESS: RAW_POOL, HELD: RAW_HELD, DASK: RAW_DASK}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    with held, kept:
        # Warm, as the cluster is: each worker up, this module imported once.
        await cpu_of(
            fan_out(WORKERS * 2, 1000, "dask"), executors={"dask": DaskExecutor(client=client)}
        )
        await cpu_of(fan_out(WORKERS * 2, 1000, "process"), executors={"process": held})
        await anyio.to_thread.run_sync(lambda: list(kept.map(burn, [1000] * WORKERS * 2)))
        for _ in range(repeat):  # the rows take turns
            for name, (_, fn) in runs.items():
                times[name].append(await timed_cpu(fn))
    base = statistics.median(w for w, _ in times["sequential sum"])
    rows: list[list[Any]] = []
    for name, (workers, _) in runs.items():
        seconds = statistics.median(w for w, _ in times[name])
        cpu = statistics.median(c for _, c in times[name])
        speedup = base / seconds
        raw = baseline.get(name)
        against = "" if raw is None else f"{_turn_ratio(times[raw], times[name]):.2f}"
        rows.append(
            [
                name,
                f"{seconds:.2f}",
                f"{cpu:.2f}",
                f"{speedup:.2f}",
                f"{speedup / workers:.2f}",
                f"{cpu / (seconds * workers):.2f}",
                against,
            ]
        )
    return rows


def _turn_ratio(raw: list[tuple[float, float]], mine: list[tuple[float, float]]) -> float:
    """Median over the turns of raw wall time / this row's (1.0: as fast as raw)."""
    return statistics.median(r / m for (r, _), (m, _) in zip(raw, mine, strict=True))


async def bench_overhead(client: distributed.Client, n: int, repeat: int) -> list[list[Any]]:
    async def raw() -> None:
        futures = [client.submit(noop, i, pure=False) for i in range(n)]
        await client.gather(futures)  # type: ignore[no-untyped-call]

    async def raw_each() -> None:  # each future awaited on its own, as a node does
        futures = [client.submit(noop, i, pure=False) for i in range(n)]
        async with anyio.create_task_group() as tg:
            for future in futures:
                tg.start_soon(_await, future)

    def graph() -> gf.Graph:
        g = gf.Graph()
        for i in range(n):
            g.add(f"n{i}", noop, args={"i": i}, executor="dask")
        return g

    async def via_graphflow() -> None:
        await run_ok(graph(), executors={"dask": DaskExecutor(client=client)})

    await raw()  # warm the workers (imports, connections)
    await via_graphflow()
    runs = {
        "raw client.submit + one gather": raw,
        "raw client.submit + await each future": raw_each,
        "graphflow, executor='dask'": via_graphflow,
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):  # taking turns; each turn's ratio to its own raw run
        for name, fn in runs.items():
            times[name].append(await wall(fn, 1))
    raw_times = times["raw client.submit + one gather"]
    rows = []
    for name, seconds in times.items():
        ratio = statistics.median(s / r for s, r in zip(seconds, raw_times, strict=True))
        rows.append([name, f"{statistics.median(seconds) / n * 1e6:.0f}", f"{ratio:.2f}"])
    return rows


async def bench_chain(
    client: distributed.Client, steps: int, mb: int, repeat: int
) -> list[list[Any]]:
    def graph() -> gf.Graph:
        g = gf.Graph()
        g.add("s0", make_blob, args={"mb": mb}, executor="dask")
        for i in range(1, steps + 1):
            g.add(f"s{i}", touch, args={"data": f"${{s{i - 1}}}"}, executor="dask")
        g.add("size", size, args={"data": f"${{s{steps}}}"}, executor="dask")
        return g

    rows: list[list[Any]] = []
    for label, keep in (("through the driver", False), ("kept on the cluster", True)):
        executor = DaskExecutor(client=client, keep_on_cluster=keep)

        async def once(executor: DaskExecutor = executor) -> None:
            result = await run_ok(graph(), executors={"dask": executor})
            assert result["size"].output == mb * 1_000_000

        rows.append([label, f"{await wall(once, repeat):.2f}"])
    base = float(rows[0][1])
    for row in rows:
        row.append(f"{base / float(row[1]):.2f}")
    return rows


async def main(quick: bool) -> None:
    import distributed  # (here: a worker process importing this module's tools skips it)

    repeat = 1 if quick else 5
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    async with (
        distributed.LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
            asynchronous=True,
        ) as cluster,
        distributed.Client(cluster, asynchronous=True) as client,  # type: ignore[no-untyped-call]
    ):
        width = 8 if quick else 32
        fan = await bench_fan_out(client, width, repeat)
        print(f"\n(a) CPU-bound fan-out, {width} x ~200 ms CPU of pure Python\n")
        headers = [
            "executor",
            "wall s",
            "task CPU s",
            "speed-up",
            "per worker",
            "CPU use",
            "raw ÷ this",
        ]
        print(table(headers, fan))
        over = await bench_overhead(client, 200 if quick else 1000, 2 * repeat + 1)
        print("\n(b) no-op nodes on the same LocalCluster\n")
        print(table(["how", "µs per node", "ratio"], over))
        chain = await bench_chain(client, 4, 50, repeat)
        print("\n(c) chain of 6 Dask nodes passing 50 MB bytes\n")
        print(table(["outputs", "wall s", "speed-up"], chain))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    # The tools by their importable name, not as __main__'s: workers import
    # this module by name (cheaply, without dask) instead of re-running it.
    from benchmarks.executors import burn, make_blob, noop, size, touch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    anyio.run(main, parser.parse_args().quick)

"""Executors against their baselines: ``python -m benchmarks.executors [--quick]``.

(a) CPU-bound fan-out: 32 nodes of ~200 ms of pure Python on ``thread``,
    ``process`` (2 workers) and ``dask`` (LocalCluster, 2 worker processes x
    1 thread), against the sequential sum; goal: speed-up >= 0.8 x workers.
(b) Per-node overhead of the dask executor on no-op nodes, against raw
    ``client.submit`` + ``gather`` of as many no-op tasks on the same cluster;
    goal: <= 1.2x.
(c) A chain of Dask nodes passing a 50 MB bytes object: outputs kept on the
    cluster (``keep_on_cluster=True``) against round-tripping through the driver.

Prints Markdown tables. Needs ``graphflow[dask]``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

import graphflow as gf
from graphflow.executors import DaskExecutor, ProcessExecutor, ThreadExecutor

from ._common import table

if TYPE_CHECKING:
    import distributed

WORKERS = 2


def burn(loops: int) -> int:
    """Pure Python work: ``loops`` iterations of integer arithmetic."""
    total = 0
    for i in range(loops):
        total = (total + i * i) % 1_000_003
    return total


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
    """Loops of ``burn`` that take about ``seconds`` here."""
    loops = 100_000
    start = time.perf_counter()
    burn(loops)
    return max(1, int(loops * seconds / (time.perf_counter() - start)))


async def wall(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """Best wall time of ``repeat`` awaits of ``fn()``."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        best = min(best, time.perf_counter() - start)
    return best


def fan_out(n: int, loops: int, executor: str) -> gf.Graph:
    g = gf.Graph()
    for i in range(n):
        g.add(f"burn{i}", burn, args={"loops": loops}, executor=executor)
    return g


async def run_ok(graph: gf.Graph, **options: Any) -> gf.RunResult:
    result = await gf.run(graph, **options)
    assert result.ok, result.by_status("failed")
    return result


async def bench_fan_out(client: distributed.Client, n: int, repeat: int) -> list[list[Any]]:
    loops = calibrate(0.2)
    start = time.perf_counter()
    for _ in range(n):
        burn(loops)
    sequential = time.perf_counter() - start
    runs: dict[str, Callable[[], Awaitable[Any]]] = {
        "thread": lambda: run_ok(fan_out(n, loops, "thread"), executor=ThreadExecutor()),
        "process (2 workers)": lambda: run_ok(
            fan_out(n, loops, "process"), executors={"process": ProcessExecutor(WORKERS)}
        ),
        "dask (LocalCluster, 2 workers x 1 thread)": lambda: run_ok(
            fan_out(n, loops, "dask"), executors={"dask": DaskExecutor(client=client)}
        ),
    }
    rows: list[list[Any]] = [["sequential sum", f"{sequential:.2f}", "1.00", "-"]]
    for name, fn in runs.items():
        seconds = await wall(fn, repeat)
        speedup = sequential / seconds
        workers = 1 if name == "thread" else WORKERS
        rows.append([name, f"{seconds:.2f}", f"{speedup:.2f}", f"{speedup / workers:.2f}"])
    return rows


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
    base = await wall(raw, repeat)
    each = await wall(raw_each, repeat)
    ours = await wall(via_graphflow, repeat)
    return [
        ["raw client.submit + one gather", f"{base / n * 1e6:.0f}", "1.00"],
        ["raw client.submit + await each future", f"{each / n * 1e6:.0f}", f"{each / base:.2f}"],
        ["graphflow, executor='dask'", f"{ours / n * 1e6:.0f}", f"{ours / base:.2f}"],
    ]


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

    repeat = 1 if quick else 3
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
        fan = await bench_fan_out(client, 8 if quick else 32, repeat)
        print("\n(a) CPU-bound fan-out, 32 x ~200 ms of pure Python\n")
        print(table(["executor", "wall s", "speed-up", "speed-up / workers"], fan))
        over = await bench_overhead(client, 200 if quick else 1000, repeat)
        print("\n(b) no-op nodes on the same LocalCluster\n")
        print(table(["how", "µs per node", "ratio"], over))
        chain = await bench_chain(client, 4, 50, repeat)
        print("\n(c) chain of 6 Dask nodes passing 50 MB bytes\n")
        print(table(["outputs", "wall s", "speed-up"], chain))


if __name__ == "__main__":
    # The tools by their importable name, not as __main__'s: workers import
    # this module by name (cheaply, without dask) instead of re-running it.
    from benchmarks.executors import burn, make_blob, noop, size, touch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    anyio.run(main, parser.parse_args().quick)

"""Tool limits, named pools and read/write resource locks."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphflow as gf
from graphflow._limits import READ, WRITE, Limit, RWLock, release, try_acquire

pytestmark = pytest.mark.anyio


class Meter:
    """Records how many holders of each resource overlap."""

    def __init__(self) -> None:
        self.now: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.log: list[tuple[str, str, str]] = []  # (event, key, mode)

    async def hold(self, keys: dict[str, str], pause: int = 2) -> None:
        for key, mode in keys.items():
            self.log.append(("start", key, mode))
            self.now[key] += 1
            self.peak[key] = max(self.peak[key], self.now[key])
        for _ in range(pause):
            await anyio.lowlevel.checkpoint()
        for key, mode in keys.items():
            self.now[key] -= 1
            self.log.append(("end", key, mode))


async def test_a_tool_limit_caps_its_calls_across_nodes() -> None:
    meter = Meter()

    @gf.tool(limit=2)
    async def api(n: int) -> int:
        await meter.hold({"api": "slot"})
        return n

    g = gf.Graph()
    for i in range(8):
        g.add(f"n{i}", api, args={"n": i})
    result = await gf.run(g)
    assert result.ok and meter.peak["api"] == 2


async def test_a_named_pool_is_shared_by_several_tools() -> None:
    meter = Meter()

    @gf.tool(limit="key")
    async def search(q: str) -> str:
        await meter.hold({"key": "slot"})
        return q

    @gf.tool(limit="key")
    async def fetch(url: str) -> str:
        await meter.hold({"key": "slot"})
        return url

    g = gf.Graph(limits={"key": 3})
    for i in range(5):
        g.add(f"s{i}", search, args={"q": str(i)})
        g.add(f"f{i}", fetch, args={"url": str(i)})
    assert (await gf.run(g)).ok
    assert meter.peak["key"] == 3
    meter.peak.clear()
    assert (await gf.run(g, limits={"key": 1})).ok  # run() overrides the size
    assert meter.peak["key"] == 1


async def test_a_pool_without_a_size_is_refused_before_running() -> None:
    @gf.tool(limit="nowhere")
    async def t() -> None:
        return None

    g = gf.Graph()
    g.add("a", t)
    with pytest.raises(gf.OptionError, match="node 'a' needs a size for the pool 'nowhere'"):
        await gf.run(g)


async def test_writers_exclude_everyone_readers_share() -> None:
    writers: dict[int, int] = defaultdict(int)
    readers: dict[int, int] = defaultdict(int)
    peak_readers = 0
    violations: list[str] = []

    all_readers_in = anyio.Event()

    async def hold(customer_id: int, mode: str) -> None:
        nonlocal peak_readers
        if writers[customer_id] or (mode == "w" and readers[customer_id]):
            violations.append(f"{mode} on {customer_id}")
        (writers if mode == "w" else readers)[customer_id] += 1
        peak_readers = max(peak_readers, readers[1])
        if mode == "r" and customer_id == 1:
            if peak_readers == 4:
                all_readers_in.set()
            with anyio.fail_after(5):  # hangs (and fails) unless the readers may overlap
                await all_readers_in.wait()
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        (writers if mode == "w" else readers)[customer_id] -= 1

    @gf.tool(writes="customer:{customer_id}")
    async def update(customer_id: int) -> None:
        await hold(customer_id, "w")

    @gf.tool(reads="customer:{customer_id}")
    async def read(customer_id: int) -> None:
        await hold(customer_id, "r")

    g = gf.Graph()
    g.add("w0", update, args={"customer_id": 1})
    for i in range(4):
        g.add(f"r{i}", read, args={"customer_id": 1})
    g.add("w1", update, args={"customer_id": 1})
    g.add("other", update, args={"customer_id": 2})
    assert (await gf.run(g)).ok
    assert violations == []
    assert peak_readers == 4  # the readers overlapped each other


async def test_a_key_template_without_its_argument_fails_the_node() -> None:
    g = gf.Graph()
    g.add("a", lambda **kw: None, args={"id": 1}, writes=["doc:{doc_id}"])
    result = await gf.run(g)
    err = result["a"].error
    assert err is not None and err.type == "ResourceKeyError"
    assert "writes='doc:{doc_id}'" in err.message


def test_fifo_keeps_a_waiting_writer_ahead_of_new_readers() -> None:
    lock = RWLock("k")
    claims: dict[int, list[tuple[Any, int]]] = {
        1: [(lock, READ)],
        2: [(lock, WRITE)],
        3: [(lock, READ)],
    }
    assert try_acquire(1, claims[1])
    assert not try_acquire(2, claims[2])  # the writer waits for reader 1
    assert not try_acquire(3, claims[3])  # a new reader queues behind the writer
    assert release(claims[1], claims.__getitem__) == [2]
    assert release(claims[2], claims.__getitem__) == [3]


# -- properties ----------------------------------------------------------------

keys = st.sampled_from(["a", "b", "c"])
claim = st.dictionaries(keys, st.sampled_from(["r", "w"]), min_size=1, max_size=3)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    nodes=st.lists(st.tuples(claim, st.integers(0, 3)), min_size=1, max_size=25),
    cap=st.sampled_from([1, 3, None]),
    pool=st.sampled_from([None, 1, 2]),
)
def test_no_two_writers_ever_overlap_and_nothing_deadlocks(
    backend: str, nodes: list[tuple[dict[str, str], int]], cap: int | None, pool: int | None
) -> None:
    meter = Meter()
    writers: dict[str, int] = defaultdict(int)
    readers: dict[str, int] = defaultdict(int)
    violations: list[str] = []

    async def work(claims: dict[str, str], pause: int) -> None:
        for key, mode in claims.items():
            if writers[key] or (mode == "w" and readers[key]):
                violations.append(f"{key}:{mode}")
            (writers if mode == "w" else readers)[key] += 1
        await meter.hold({"pool": "slot"} if pool else {}, pause)
        for key, mode in claims.items():
            (writers if mode == "w" else readers)[key] -= 1

    g = gf.Graph(limits={"pool": pool} if pool else None)
    for i, (claims, pause) in enumerate(nodes):
        # declare the keys in a different order per node: acquisition order must not matter
        ordered = dict(sorted(claims.items(), reverse=bool(i % 2)))
        g.add(
            f"n{i}",
            work,
            args={"claims": ordered, "pause": pause},
            writes=[k for k, m in ordered.items() if m == "w"],
            reads=[k for k, m in ordered.items() if m == "r"],
            limits=["pool"] if pool else [],
        )

    async def main() -> gf.RunResult:
        with anyio.fail_after(10):  # a deadlock would hang here
            return await gf.run(g, concurrency=cap)

    result = anyio.run(main, backend=backend)
    assert result.ok and violations == []
    if pool:
        assert meter.peak["pool"] <= pool


def test_limit_capacity_is_checked() -> None:
    with pytest.raises(ValueError, match="capacity must be an int >= 1"):
        Limit("x", 0)

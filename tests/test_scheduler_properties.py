"""Properties of the scheduler on random DAGs, on both anyio backends.

Each generated graph has nodes 0..n-1 where node i depends on a few earlier
nodes, added in a shuffled order (so insertion order is not a topological
order). Tools are async (yielding 0-2 times) or sync (in a thread); a random
subset raises. Marks come from one counter, so "before" means strictly before.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphflow as gf
import graphflow._state as state_module
from graphflow import NodeStatus as S
from graphflow._state import RunState

BACKENDS = ["asyncio", "trio"]
SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@dataclass
class Dag:
    deps: list[list[int]]
    order: list[int]  # insertion order
    failing: set[int]
    sync: set[int]
    yields: list[int]
    all_done: set[int] = field(default_factory=set)


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 25, with_all_done: bool = False) -> Dag:
    n = draw(st.integers(1, max_nodes))
    deps = [
        sorted(draw(st.sets(st.integers(0, i - 1), max_size=min(3, i)))) if i else []
        for i in range(n)
    ]
    nodes = st.sets(st.integers(0, n - 1))
    return Dag(
        deps=deps,
        order=draw(st.permutations(range(n))),
        failing=draw(nodes),
        sync=draw(nodes),
        yields=draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)),
        all_done=draw(nodes) if with_all_done else set(),
    )


class Recorder:
    """Tools that record start/end marks and the peak number running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clock = itertools.count()
        self.start: dict[int, int] = {}
        self.end: dict[int, int] = {}
        self.calls: dict[int, int] = {}
        self.running = 0
        self.peak = 0

    def enter(self, i: int) -> None:
        with self.lock:
            self.start.setdefault(i, next(self.clock))
            self.calls[i] = self.calls.get(i, 0) + 1
            self.running += 1
            self.peak = max(self.peak, self.running)

    def leave(self, i: int, fails: bool) -> int:
        with self.lock:
            self.running -= 1
            self.end[i] = next(self.clock)
        if fails:
            raise RuntimeError(f"node {i} fails")
        return i

    def tool(self, dag: Dag, i: int) -> Any:
        fails = i in dag.failing
        if i in dag.sync:

            def sync_tool(**_kwargs: Any) -> int:
                self.enter(i)
                return self.leave(i, fails)

            return sync_tool

        async def async_tool(**_kwargs: Any) -> int:
            self.enter(i)
            for _step in range(dag.yields[i]):
                await anyio.lowlevel.checkpoint()
            return self.leave(i, fails)

        return async_tool


def build(dag: Dag, rec: Recorder) -> gf.Graph:
    g = gf.Graph()
    for i in dag.order:
        # half the edges as references, half as depends_on
        refs = {f"d{d}": f"${{n{d}}}" for d in dag.deps[i] if d % 2}
        explicit = [f"n{d}" for d in dag.deps[i] if not d % 2]
        trigger = "all_done" if i in dag.all_done else "all_success"
        g.add(f"n{i}", rec.tool(dag, i), args=refs, depends_on=explicit, trigger=trigger)
    return g


def execute(dag: Dag, backend: str, **options: Any) -> tuple[gf.RunResult, Recorder]:
    rec = Recorder()
    result = gf.run_sync(build(dag, rec), async_backend=backend, **options)
    return result, rec


def doomed(dag: Dag) -> set[int]:
    """Nodes with a failing ancestor (every node all_success)."""
    bad: set[int] = set()
    for i in range(len(dag.deps)):  # deps point to lower indexes: one pass suffices
        if any(d in dag.failing or d in bad for d in dag.deps[i]):
            bad.add(i)
    return bad


@pytest.mark.parametrize("backend", BACKENDS)
class TestProperties:
    @SETTINGS
    @given(dag=dags(), cap=st.sampled_from([1, 2, 5, None]))
    def test_every_node_one_result_deps_first_cap_held(
        self, backend: str, dag: Dag, cap: int | None
    ) -> None:
        result, rec = execute(dag, backend, concurrency=cap)
        n = len(dag.deps)
        # exactly one result per node, in graph (insertion) order
        assert list(result) == [f"n{i}" for i in dag.order]
        assert all(c == 1 for c in rec.calls.values())
        # no node starts before every one of its dependencies has finished
        for i, started in rec.start.items():
            for d in dag.deps[i]:
                assert d in rec.end and rec.end[d] < started
        # the cap is never exceeded
        assert rec.peak <= (cap or gf.DEFAULT_CONCURRENCY)
        # the failed nodes' descendants are skipped, and nothing else is
        skipped = doomed(dag)
        for i in range(n):
            r = result[f"n{i}"]
            if i in skipped:
                assert r.status == S.SKIPPED and i not in rec.start
                assert r.reason is not None and r.reason.startswith("upstream 'n")
            elif i in dag.failing:
                assert r.status == S.FAILED and r.attempts == 1
            else:
                assert r.status == S.SUCCEEDED and r.output == i
        assert result.ok == (not dag.failing)

    @SETTINGS
    @given(dag=dags(with_all_done=True))
    def test_all_done_nodes_wait_for_every_upstream_in_any_state(
        self, backend: str, dag: Dag
    ) -> None:
        result, rec = execute(dag, backend)
        for i in range(len(dag.deps)):
            r = result[f"n{i}"]
            upstream = [result[f"n{d}"] for d in dag.deps[i]]
            if i in rec.start:
                assert all(rec.end[d] < rec.start[i] for d in dag.deps[i] if d in rec.end)
                assert all(u.finished_at is not None for u in upstream)
            if i in dag.all_done:
                assert r.status != S.SKIPPED  # it ran, whatever happened upstream
            elif r.status == S.SKIPPED:
                assert any(u.status in (S.FAILED, S.SKIPPED) for u in upstream)
            else:
                assert all(u.status == S.SUCCEEDED for u in upstream)

    @SETTINGS
    @given(dag=dags(max_nodes=15), cap=st.sampled_from([1, 3, None]))
    def test_fail_fast_gives_every_node_one_result(
        self, backend: str, dag: Dag, cap: int | None
    ) -> None:
        result, rec = execute(dag, backend, concurrency=cap, fail_fast=True)
        assert list(result) == [f"n{i}" for i in dag.order]
        for i in range(len(dag.deps)):
            r = result[f"n{i}"]
            if r.status == S.SUCCEEDED:  # only what really ran to completion
                assert i in rec.end and i not in dag.failing and r.output == i
            elif r.status == S.SKIPPED:  # never started
                assert i not in rec.start and r.attempts == 0 and r.reason
            elif r.status == S.FAILED:
                assert i in dag.failing and i in rec.end
            else:  # cancelled: it had been dispatched when the run stopped
                assert r.attempts == 1 and r.reason and r.reason.startswith("fail_fast: 'n")
        failed = [k for k, r in result.items() if r.status == S.FAILED]
        assert len(failed) == (1 if dag.failing & set(rec.start) else 0) or cap != 1
        assert result.ok == (not failed and all(r.ok for r in result.values()))


@dataclass
class MapChain:
    length: int  # items
    runtime: bool  # the list comes from an upstream output at run time
    depth: int  # maps chained item-by-item over the first one
    failing: set[tuple[int, int]]  # (level, item) that raise
    yields: list[int]


@st.composite
def map_chains(draw: st.DrawFn) -> MapChain:
    length = draw(st.integers(0, 6))
    depth = draw(st.integers(1, 3))
    cells = st.tuples(st.integers(0, depth - 1), st.integers(0, max(length - 1, 0)))
    return MapChain(
        length=length,
        runtime=draw(st.booleans()),
        depth=depth,
        failing=draw(st.sets(cells, max_size=3)) if length else set(),
        yields=draw(st.lists(st.integers(0, 2), min_size=depth * 6, max_size=depth * 6)),
    )


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(chain=map_chains(), cap=st.sampled_from([1, 2, None]))
def test_for_each_chains_item_level_edges_and_one_result_each(
    backend: str, chain: MapChain, cap: int | None
) -> None:
    clock = itertools.count()
    start: dict[str, int] = {}
    end: dict[str, int] = {}

    def tool(level: int) -> Any:
        async def item_tool(item: Any, index: int) -> int:
            name = f"m{level}[{index}]"
            start[name] = next(clock)
            for _ in range(chain.yields[level * 6 + index]):
                await anyio.lowlevel.checkpoint()
            end[name] = next(clock)
            if (level, index) in chain.failing:
                raise RuntimeError(name)
            return index

        return item_tool

    async def make_list() -> list[int]:
        return list(range(chain.length))

    g = gf.Graph()
    g.add("source", make_list)
    for level in range(chain.depth):
        if level:
            over: Any = f"${{m{level - 1}}}"
        else:
            over = "${source}" if chain.runtime else list(range(chain.length))
        g.add(f"m{level}", tool(level), for_each=over, args={"item": "${item}", "index": "${item}"})
        # ("index" is the item itself at level 0 and the upstream item's output after)
    g.add("after", lambda xs: xs, args={"xs": f"${{m{chain.depth - 1}}}"}, trigger="all_done")

    result = gf.run_sync(g, async_backend=backend, concurrency=cap)
    items = [f"m{lv}[{i}]" for lv in range(chain.depth) for i in range(chain.length)]
    gathers = [f"m{lv}" for lv in range(chain.depth)]
    assert set(result) == {"source", "after", *items, *gathers}  # one result each
    for lv in range(1, chain.depth):
        for i in range(chain.length):
            here, up = f"m{lv}[{i}]", f"m{lv - 1}[{i}]"
            if here in start:  # item i waited for upstream item i only
                assert end[up] < start[here] and result[up].ok
            else:
                assert result[here].status == S.SKIPPED
                assert not result[up].ok
    for lv in range(chain.depth):
        mine = [result[f"m{lv}[{i}]"] for i in range(chain.length)]
        gather = result[f"m{lv}"]
        if all(r.ok for r in mine):
            assert gather.ok and gather.output == list(range(chain.length))
        else:
            assert gather.status == S.SKIPPED
    assert result["after"].ok  # all_done runs whatever happened


class RecordingStore:
    """A real ``SQLiteStore`` whose journal marks, on the recorder's clock, when
    each success's commit returned (the moment it became durable)."""

    def __init__(self, path: Any, rec: Recorder) -> None:
        from graphflow.store import SQLiteStore

        self.inner = SQLiteStore(path)
        self.rec = rec
        self.committed: dict[str, int] = {}

    async def open_run(self, info: gf.RunInfo) -> gf.RunJournal:
        journal = await self.inner.open_run(info)
        commit = journal.commit

        async def marked(results: Any) -> None:
            await commit(results)
            with self.rec.lock:
                mark = next(self.rec.clock)
            for r in results:
                self.committed[r.node_id] = mark

        journal.commit = marked  # type: ignore[method-assign]
        return journal


DURABLE = settings(SETTINGS, max_examples=20)


@pytest.mark.parametrize("backend", BACKENDS)
class TestDurableRuns:
    @DURABLE
    @given(dag=dags(), cap=st.sampled_from([1, 3, None]))
    def test_a_success_is_committed_before_any_dependent_starts(
        self, backend: str, dag: Dag, cap: int | None, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        rec = Recorder()
        store = RecordingStore(tmp_path_factory.mktemp("s") / "runs.db", rec)
        result = gf.run_sync(build(dag, rec), async_backend=backend, concurrency=cap, store=store)
        for i, started in rec.start.items():
            for d in dag.deps[i]:
                assert store.committed[f"n{d}"] < started
        # the store holds exactly what the run returned
        stored = store.inner.result(result.run_id)
        assert {k: (r.status, r.output) for k, r in stored.items()} == {
            k: (r.status, r.output) for k, r in result.items()
        }
        skipped = doomed(dag)
        assert {k for k, r in result.items() if r.status == S.SKIPPED} == {
            f"n{i}" for i in skipped
        }

    @DURABLE
    @given(dag=dags())
    def test_resume_runs_only_what_did_not_succeed(
        self, backend: str, dag: Dag, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        path = tmp_path_factory.mktemp("s") / "runs.db"
        first, _ = execute(dag, backend, store=path, workflow="w")
        succeeded = {k for k, r in first.items() if r.ok}
        # the same graph, now with nothing failing, resumed
        mended = Dag(dag.deps, dag.order, set(), dag.sync, dag.yields)
        again = Recorder()
        result = gf.run_sync(
            build(mended, again), async_backend=backend, store=path, resume="last", workflow="w"
        )
        assert result.run_id == first.run_id and result.ok
        ran_again = {f"n{i}" for i in again.calls}
        assert ran_again == set(result) - succeeded
        assert all(c == 1 for c in again.calls.values())
        assert all(result[f"n{i}"].output == i for i in range(len(dag.deps)))


# -- a runtime for_each made a few items at a time ----------------------------


@st.composite
def _maps(draw: st.DrawFn) -> tuple[int, set[int], set[int], int | None, int]:
    n = draw(st.integers(0, 14))
    fails = draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=3)) if n else set()
    chained_fails = draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=2)) if n else set()
    stop_at = draw(st.none() | st.integers(1, 60))
    return n, fails, chained_fails, stop_at, draw(st.integers(0, 2**16))


@given(_maps())
@settings(max_examples=150, deadline=None)
def test_made_a_few_at_a_time_a_map_ends_as_if_made_at_once(
    case: tuple[int, set[int], set[int], int | None, int],
) -> None:
    """Items made 3 a time at random moments between the run's steps (and maybe a stop):
    each node made has one result, and without a stop the same as all made at once."""
    n, fails, chained_fails, stop_at, seed = case

    def first(x: int) -> int:
        if x in fails:
            raise ValueError(f"item {x}")
        return 10 * x

    def second(x: int) -> int:
        if x // 10 in chained_fails:
            raise ValueError(f"chained {x}")
        return x + 1

    g = gf.Graph()
    g.add("src", lambda: list(range(n)))
    g.add("m", first, for_each="${src}", args={"x": "${item}"})
    g.add("c", second, for_each="${m}", args={"x": "${item}"})
    g.add("p", first, for_each="${src}", args={"x": "${item}"}, partial=True)
    g.add("end", lambda a, b: [a, b], args={"a": "${c}", "b": "${p}"}, trigger="all_done")
    with (
        patch.object(state_module, "EXPAND_EVERY", 3),
        patch.object(state_module, "WAITING_ENOUGH", 6),
    ):
        lazy = RunState(g.plan(), seed=0)
        lazy.on_expand = lambda: None  # (the test's driver calls expand_more)
        _drive(lazy, random.Random(seed), stop_at)
        eager = RunState(g.plan(), seed=0)
        _drive(eager, random.Random(seed), None)
    made = lazy.result()
    assert all(r is not None for r in lazy.results) and len(made) == len(lazy.specs)
    assert {"src", "m", "c", "p", "end"} <= set(made)
    if stop_at is None or lazy.stop_reason is None:
        at_once = eager.result()
        assert set(made) == set(at_once)
        for node_id, result in at_once.items():
            assert (made[node_id].status, made[node_id].output) == (result.status, result.output)


def _drive(state: RunState, rng: random.Random, stop_at: int | None) -> None:
    """Run nodes, and make the next items, in an order ``rng`` picks; maybe stop."""
    running: list[int] = []
    state.start()
    step = 0
    while state.ready or running or state.expanding:
        step += 1
        if stop_at is not None and step >= stop_at:
            state.stop("stopped by the test")
            for i in running:
                state.cancelled(i)
            break
        choice = rng.randrange(3)
        if choice == 0 and state.ready:
            i = state.ready.popleft()
            state.begin(i)
            running.append(i)
        elif choice == 1 and running:
            i = running.pop(rng.randrange(len(running)))
            spec = state.specs[i]
            try:
                output = spec.tool(**state.arguments(i))
                if spec.is_async:  # a gather: a coroutine that never suspends
                    try:
                        output.send(None)
                    except StopIteration as stop:
                        output = stop.value
            except Exception as exc:
                state.failed(i, exc)
                continue
            state.succeeded(i, output)
        elif choice == 2 and state.expanding:
            state.expand_more()
    state.finish()

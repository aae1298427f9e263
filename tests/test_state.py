"""RunState alone, with no event loop: transitions, skips, retries, stops and resume.

A small synchronous driver stands in for the scheduler: it takes ready nodes,
starts and finishes them in an order a seeded random generator picks, and can
stop the run at any step. Hypothesis draws the graphs, the failures and the
orders; the expected statuses come from a reference written from the rules.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import graphflow as gf
from graphflow import NodeStatus as S
from graphflow._state import RunState


@dataclass
class Case:
    """A random DAG: who depends on whom, who fails, who is flaky, who is all_done."""

    deps: list[list[int]]
    fails: set[int]
    flaky: dict[int, int]  # node -> attempts that fail before one succeeds (retries cover them)
    all_done: set[int]
    calls: Counter[str] = field(default_factory=Counter)

    def graph(self) -> gf.Graph:
        g = gf.Graph()
        for i, row in enumerate(self.deps):
            retries = self.flaky.get(i, 0)
            g.add(
                f"n{i}",
                self._tool(i),
                args={"up": [f"${{n{d}}}" for d in row]},
                retries=gf.Retry(retries, backoff=0) if retries else None,
                trigger="all_done" if i in self.all_done else "all_success",
            )
        return g

    def _tool(self, i: int) -> Any:
        def tool(up: list[Any]) -> int:
            self.calls[f"n{i}"] += 1
            if i in self.fails or self.calls[f"n{i}"] <= self.flaky.get(i, 0):
                raise ValueError(f"n{i} fails")
            return i

        return tool

    def expected(self) -> dict[str, S]:
        out: dict[int, S] = {}
        for i, row in enumerate(self.deps):
            upstream_ok = all(out[d] is S.SUCCEEDED for d in row)
            if not upstream_ok and i not in self.all_done:
                out[i] = S.SKIPPED
            else:
                out[i] = S.FAILED if i in self.fails else S.SUCCEEDED
        return {f"n{i}": s for i, s in out.items()}


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(1, 25))
    deps: list[list[int]] = [[]]
    for i in range(1, n):
        deps.append(sorted(set(draw(st.lists(st.integers(0, i - 1), max_size=3)))))
    nodes = st.integers(0, n - 1)
    fails = draw(st.sets(nodes, max_size=4))
    flaky = draw(st.dictionaries(nodes, st.integers(1, 2), max_size=4))
    all_done = draw(st.sets(nodes, max_size=3))
    return Case(deps, fails, {k: v for k, v in flaky.items() if k not in fails}, all_done)


def drive(state: RunState, rng: random.Random, stop_at: int | None = None) -> None:
    """Run ``state`` to the end, picking what happens next at random; maybe stop at a step."""
    running: list[int] = []
    backing_off: list[int] = []
    state.start()
    step = 0
    while state.ready or running or backing_off:
        step += 1
        if state.stop_reason is not None or (stop_at is not None and step >= stop_at):
            state.stop("stopped by the test")  # (no-op after fail_fast)
            for i in running + backing_off:  # what the scheduler's cancellation does
                state.cancelled(i)
            break
        choice = rng.randrange(3)
        if choice == 0 and state.ready:
            i = state.ready.popleft()
            if not state.claiming or state.claim(i):
                state.begin(i)
                running.append(i)
        elif choice == 1 and running:
            _finish(state, running.pop(rng.randrange(len(running))), backing_off)
        elif choice == 2 and backing_off:
            state.retry(backing_off.pop(rng.randrange(len(backing_off))))
    state.finish()


def _finish(state: RunState, i: int, backing_off: list[int]) -> None:
    spec = state.specs[i]
    try:
        output = spec.tool(**state.arguments(i))
        if spec.is_async:  # a for_each gather: a coroutine that never suspends
            output = _run_to_end(output)
    except Exception as exc:
        if state.failed(i, exc) is not None:
            backing_off.append(i)
        return
    state.succeeded(i, output)


def _run_to_end(coro: Any) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine suspended")


def new_state(case: Case, **options: Any) -> tuple[RunState, list[gf.Event]]:
    events: list[gf.Event] = []
    state = RunState(case.graph().plan(), emit=events.append, seed=0, **options)
    return state, events


class TestProperties:
    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(case=cases(), order=st.integers(0, 2**32))
    def test_statuses_follow_the_rules_in_any_order(self, case: Case, order: int) -> None:
        state, events = new_state(case)
        drive(state, random.Random(order))
        result = state.result()
        assert {k: r.status for k, r in result.items()} == case.expected()
        finished = Counter(e.node_id for e in events if e.result is not None)
        assert finished == Counter(list(result)), "exactly one finished event per node"
        assert events[0].kind == gf.EventKind.RUN_STARTED
        assert events[-1].kind == gf.EventKind.RUN_FINISHED
        for r in result.values():
            assert len(r.history) == r.attempts
            if r.status is S.SKIPPED:
                assert r.reason is not None and r.reason.startswith("upstream")

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(case=cases(), order=st.integers(0, 2**32), stop_at=st.integers(1, 60))
    def test_a_stopped_run_resumes_to_the_same_statuses(
        self, case: Case, order: int, stop_at: int
    ) -> None:
        first, _ = new_state(case)
        drive(first, random.Random(order), stop_at=stop_at)
        earlier = first.result()
        assert len(earlier) == len(case.deps), "a stopped run still records every node"
        succeeded_before = {k for k, r in earlier.items() if r.ok}
        calls_before = Counter(case.calls)
        second, _ = new_state(case, resume_from=earlier)
        drive(second, random.Random(order + 1))
        resumed = second.result()
        assert {k: r.status for k, r in resumed.items()} == case.expected()
        for node_id in succeeded_before:
            assert case.calls[node_id] == calls_before[node_id], f"{node_id} ran again"
            assert resumed[node_id] == earlier[node_id]


def total(values: list[int]) -> int:
    return sum(values)


class TestTransitions:
    def test_a_retry_is_recorded_in_the_history(self) -> None:
        case = Case([[]], set(), {0: 2}, set())
        state, events = new_state(case)
        drive(state, random.Random(1))
        r = state.result()["n0"]
        assert r.ok and r.attempts == 3 and len(r.history) == 3
        assert [a.error is not None for a in r.history] == [True, True, False]
        assert [e.kind for e in events].count(gf.EventKind.NODE_RETRYING) == 2

    def test_a_stop_cancels_running_nodes_and_skips_the_rest(self) -> None:
        case = Case([[], [0], []], set(), {}, set())
        state, _ = new_state(case)
        state.start()
        first = state.ready.popleft()
        state.begin(first)
        state.stop("enough")
        state.cancelled(first)
        state.finish()
        result = state.result()
        assert result[f"n{first}"].status is S.CANCELLED
        assert result[f"n{first}"].reason == "enough"
        assert {r.status for k, r in result.items() if k != f"n{first}"} == {S.SKIPPED}

    def test_fail_fast_asks_the_driver_to_stop_once(self) -> None:
        case = Case([[], []], {0}, {}, set())
        stops: list[str] = []
        state, _ = new_state(case, fail_fast=True)
        state.on_stop = lambda: stops.append(state.stop_reason or "")
        drive(state, random.Random(0))
        assert stops == ["fail_fast: 'n0' failed"]
        assert state.result()["n0"].status is S.FAILED
        assert state.result()["n1"].status in (S.SUCCEEDED, S.CANCELLED, S.SKIPPED)

    def test_runtime_for_each_resumes_item_by_item(self) -> None:
        calls: Counter[str] = Counter()

        def items() -> list[int]:
            calls["items"] += 1
            return [1, 2, 3]

        def double(x: int) -> int:
            calls[f"double{x}"] += 1
            if x == 2 and calls["double2"] == 1:
                raise ValueError("first time only")
            return 2 * x

        g = gf.Graph()
        g.add("items", items)
        g.add("double", double, for_each="${items}", args={"x": "${item}"})
        g.add("total", total, args={"values": "${double}"})
        first = RunState(g.plan())
        drive(first, random.Random(0))
        assert first.result()["double[1]"].status is S.FAILED
        second = RunState(g.plan(), resume_from=first.result())
        drive(second, random.Random(0))
        result = second.result()
        assert result["double"].output == [2, 4, 6]
        assert calls == Counter({"items": 1, "double1": 1, "double2": 2, "double3": 1})

    def test_the_run_id_is_kept(self) -> None:
        state = RunState(gf.Graph().plan(), run_id="nightly-42")
        state.start()
        state.finish()
        assert state.result().run_id == "nightly-42"

    def test_a_long_chain_resumes_without_recursion(self) -> None:
        g = gf.Graph()
        g.add("n0", total, args={"values": [1]})
        for k in range(1, 3000):
            g.add(f"n{k}", total, args={"values": [f"${{n{k - 1}}}"]})
        first = RunState(g.plan())
        drive(first, random.Random(0))
        second = RunState(g.plan(), resume_from=first.result())
        drive(second, random.Random(0))
        assert second.result()["n2999"] == first.result()["n2999"]

"""Results that round-trip: history, dependencies, pickling, to_dict/from_dict, encoding."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import pickle
import threading
from typing import Any

import pytest

from graphflow._results import (
    Attempt,
    DependencyIndex,
    NodeError,
    NodeResult,
    NodeStatus,
    RunResult,
)

S = NodeStatus
T0 = 1_700_000_000.125  # times with fractions, to show floats survive JSON exactly

DEPS: dict[str, tuple[str, ...]] = {
    "src": (),
    "m[0]": ("src",),
    "m[1]": ("src",),
    "m": ("m[0]", "m[1]"),
    "slow": (),
    "after": ("slow", "m"),
    "stop": ("src",),
}


def raised(exc: Exception, timed_out: float | None = None) -> NodeError:
    """The NodeError of ``exc`` raised for real, so that it carries a traceback."""
    try:
        raise exc
    except Exception as caught:
        return NodeError.from_exception(caught, timed_out=timed_out)


def sample_results() -> dict[str, NodeResult]:
    """One node per status, multi-attempt histories and for_each-like item ids."""
    flaky = raised(ConnectionError("reset"))
    timeouts = [raised(TimeoutError(), timed_out=0.5) for _ in range(3)]
    stopped = raised(ValueError("bad row"))
    return {
        "src": NodeResult(
            "src", S.SUCCEEDED, {"items": ["a", "b"]}, None, 2, T0, T0 + 2.5, None,
            (Attempt(T0, T0 + 1, flaky), Attempt(T0 + 1.5, T0 + 2.5)),
        ),
        "m[0]": NodeResult("m[0]", S.SUCCEEDED, "A", None, 1, T0 + 3, T0 + 4, None,
                           (Attempt(T0 + 3, T0 + 4),)),
        "m[1]": NodeResult("m[1]", S.SUCCEEDED, "B", None, 1, T0 + 3, T0 + 5, None,
                           (Attempt(T0 + 3, T0 + 5),)),
        "m": NodeResult("m", S.SUCCEEDED, ["A", "B"], None, 1, T0 + 5, T0 + 5.25, None,
                        (Attempt(T0 + 5, T0 + 5.25),)),
        "slow": NodeResult(
            "slow", S.FAILED, None, timeouts[-1], 3, T0, T0 + 9, None,
            tuple(Attempt(T0 + 3 * i, T0 + 3 * i + 0.5, e) for i, e in enumerate(timeouts)),
        ),
        "after": NodeResult("after", S.SKIPPED, None, None, 0, None, T0 + 9,
                            "upstream 'slow' failed"),
        "stop": NodeResult(
            "stop", S.CANCELLED, None, stopped, 1, T0 + 3, T0 + 9,
            "fail_fast: 'slow' failed while waiting to retry", (Attempt(T0 + 3, T0 + 4, stopped),),
        ),
    }  # fmt: skip


def index_of(deps: dict[str, tuple[str, ...]]) -> DependencyIndex:
    ids = list(deps)
    return DependencyIndex(ids, [[ids.index(d) for d in deps[i]] for i in ids])


def sample_run(index: bool = False) -> RunResult:
    return RunResult("run1", sample_results(), T0, T0 + 10, index_of(DEPS) if index else DEPS)


def one_node_run(output: Any) -> RunResult:
    result = NodeResult("n", S.SUCCEEDED, output, None, 1, T0, T0 + 1, None, (Attempt(T0, T0 + 1),))
    return RunResult("run1", {"n": result}, T0, T0 + 1, {"n": ()})


class TestRecords:
    def test_history_comes_last_so_positional_construction_still_works(self) -> None:
        r = NodeResult("a", S.SUCCEEDED, 1, None, 1, T0, T0 + 1, None)
        assert r.history == () and r.reason is None and r.finished_at == T0 + 1

    def test_a_timeout_is_a_field_not_a_message_to_match(self) -> None:
        timed_out = raised(TimeoutError(), timed_out=0.25)
        assert timed_out.timed_out == 0.25 and timed_out.message == "timed out after 0.25 s"
        plain = raised(TimeoutError("upstream API timed out after 3 s"))
        assert plain.timed_out is None

    def test_an_exception_whose_str_raises_is_still_recorded(self) -> None:
        class Broken(Exception):
            def __str__(self) -> str:
                raise RuntimeError("no")

        error = raised(Broken())
        assert error.type == "Broken" and "str() of Broken failed" in error.message

    def test_the_exception_object_is_not_compared(self) -> None:
        a, b = raised(ValueError("x")), raised(ValueError("x"))
        assert a.exception is not b.exception and a == dataclasses.replace(b, traceback=a.traceback)


class TestDependencies:
    def test_an_index_and_a_mapping_say_the_same(self) -> None:
        assert sample_run(index=True).dependencies() == sample_run().dependencies() == DEPS

    def test_without_dependencies_there_are_none(self) -> None:
        assert RunResult("r", sample_results(), T0, T0 + 1).dependencies() == {}

    def test_changing_the_returned_dict_does_not_change_the_run(self) -> None:
        run = sample_run(index=True)
        run.dependencies()["m"] = ()
        assert run.dependencies()["m"] == ("m[0]", "m[1]")

    def test_an_index_with_a_row_per_id_is_required(self) -> None:
        with pytest.raises(ValueError, match="2 ids but 1 rows"):
            DependencyIndex(["a", "b"], [[]])


class TestEquality:
    @pytest.mark.parametrize(
        "part", ["run_id", "time", "output", "history", "order", "dependencies"]
    )
    def test_equality_sees_every_part(self, part: str) -> None:
        assert changed(part) != sample_run() and sample_run() == sample_run()


def changed(part: str) -> RunResult:
    """``sample_run()`` with one part changed."""
    results, deps = sample_results(), DEPS
    run_id, finished_at = "run1", T0 + 10
    if part == "run_id":
        run_id = "run2"
    elif part == "time":
        finished_at += 1
    elif part == "output":
        results["m"].output = ["A"]
    elif part == "history":
        results["slow"].history = results["slow"].history[:2]
    elif part == "order":
        results = dict(reversed(results.items()))
    else:
        deps = {**DEPS, "m": ("m[0]",)}
    return RunResult(run_id, results, T0, finished_at, deps)


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


class WontUnpickle(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickle calls cls(*args): one arg, not two
        super().__init__(f"{a}:{b}")


class TestPickle:
    @pytest.mark.parametrize("index", [False, True], ids=["mapping", "index"])
    def test_a_run_pickles(self, index: bool) -> None:
        run = sample_run(index)
        back = pickle.loads(pickle.dumps(run))
        assert back == run and back.dependencies() == DEPS
        error = back["stop"].error
        assert isinstance(error.exception, ValueError) and error.exception.args == ("bad row",)

    def test_outputs_pickle_as_themselves_not_encoded(self) -> None:
        output = {"when": datetime.date(2024, 1, 2), "tags": {"a", "b"}, "pair": (1, 2)}
        back = pickle.loads(pickle.dumps(one_node_run(output)))
        assert back["n"].output == output

    @pytest.mark.parametrize(
        "exc", [Unpicklable(), WontUnpickle(1, 2)], ids=["cannot pickle", "cannot unpickle"]
    )
    def test_an_exception_that_will_not_travel_is_dropped(self, exc: Exception) -> None:
        run = sample_run()
        run["stop"].error = raised(exc)
        back = pickle.loads(pickle.dumps(run))
        assert back == run
        assert back["stop"].error is not None and back["stop"].error.exception is None
        assert back["stop"].error.message == str(exc)

    def test_a_copy_is_equal(self) -> None:
        run = sample_run(index=True)
        assert copy.deepcopy(run) == run

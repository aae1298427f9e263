"""Results that round-trip: history, dependencies, pickling, to_dict/from_dict, encoding."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import decimal
import enum
import json
import pickle
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import graphflow as gf
from graphflow._results import (
    OWN_ATTEMPT,
    Attempt,
    DependencyIndex,
    NodeError,
    NodeResult,
    NodeStatus,
    RunResult,
    encode_json,
)
from graphflow.cli._run import _write_json

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

    def test_one_attempt_is_the_results_own_times_and_error(self) -> None:
        error = raised(ValueError("bad"))
        own = NodeResult("a", S.FAILED, None, error, 1, T0, T0 + 1, None, OWN_ATTEMPT)
        given = NodeResult(
            "a", S.FAILED, None, error, 1, T0, T0 + 1, None, (Attempt(T0, T0 + 1, error),)
        )
        assert own.history == given.history == (Attempt(T0, T0 + 1, error),)
        assert own == given and repr(own) == repr(given)
        assert "history=(Attempt(started_at=" in repr(own)
        other = dataclasses.replace(given, history=(Attempt(T0, T0 + 2, error),))
        assert other != own and other.history[0].finished_at == T0 + 2
        never = NodeResult("b", S.SKIPPED, history=OWN_ATTEMPT)
        assert never.history == () and never.to_dict()["history"] == []

    def test_a_result_is_still_a_dataclass(self) -> None:
        r = NodeResult("a", S.SUCCEEDED, 1, None, 1, T0, T0 + 1, None, OWN_ATTEMPT)
        assert dataclasses.asdict(r)["history"] == (Attempt(T0, T0 + 1, None),)
        assert [f.name for f in dataclasses.fields(r)][8] == "history"
        match r:
            case NodeResult(node_id, status, output):
                assert (node_id, status, output) == ("a", S.SUCCEEDED, 1)
        assert pickle.loads(pickle.dumps(r)) == r and copy.deepcopy(r) == r

    def test_history_set_after_its_fields_is_kept_as_set(self) -> None:
        r = NodeResult("a", S.SUCCEEDED, 1, None, 1, T0, T0 + 1, None, OWN_ATTEMPT)
        tried = r.history
        r.status, r.error = S.FAILED, raised(OSError("fetch failed"))
        assert r.history[0].error is r.error  # (its one attempt, as its fields say now)
        r.history = tried
        assert r.history == (Attempt(T0, T0 + 1, None),)
        assert pickle.loads(pickle.dumps(r)) == r and copy.deepcopy(r) == r

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
        assert a.exception is not b.exception
        assert a == NodeError(b.type, b.message, a.traceback, b.timed_out, b.exception)

    def test_the_traceback_is_the_one_recorded_though_raised_again_since(self) -> None:
        def tool() -> None:
            raise ValueError("first")

        def elsewhere(exc: BaseException) -> None:
            raise exc

        try:
            tool()
        except ValueError as exc:
            error = NodeError.from_exception(exc)
            caught = exc
        with pytest.raises(ValueError):
            elsewhere(caught)  # (its traceback now has more frames)
        assert "in tool" in error.traceback and "in elsewhere" not in error.traceback
        assert error.traceback.endswith("ValueError: first\n")
        error.traceback = "replaced"
        assert error.traceback == "replaced" and pickle.loads(pickle.dumps(error)) == error


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


class Vanishing(Exception):
    """Unpickled where its class cannot be found (removed from this module meanwhile).

    Not a custom ``__init__``: once ``distributed`` is imported (``tests/cli``,
    ``tests/executors``), tblib's ``pickling_support.install()`` rebuilds any
    exception with ``__new__``, so that kind would unpickle after all."""


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
        "exc", [Unpicklable(), Vanishing("1:2")], ids=["cannot pickle", "cannot unpickle"]
    )
    def test_an_exception_that_will_not_travel_is_dropped(
        self, exc: Exception, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        run = sample_run()
        run["stop"].error = raised(exc)
        data = pickle.dumps(run)
        monkeypatch.delitem(globals(), "Vanishing")  # as in a process without its module
        back = pickle.loads(data)
        assert back == run
        assert back["stop"].error is not None and back["stop"].error.exception is None
        assert back["stop"].error.message == str(exc)

    def test_a_copy_is_equal(self) -> None:
        run = sample_run(index=True)
        assert copy.deepcopy(run) == run


class TestToDict:
    def test_existing_keys_are_kept(self) -> None:
        data = sample_run().to_dict()
        assert {"run_id", "ok", "started_at", "finished_at", "duration", "nodes"} <= set(data)
        assert data["ok"] is False and data["duration"] == 10
        old = {"node_id", "status", "output", "error", "attempts", "started_at", "finished_at"}
        assert all(old | {"duration", "reason"} <= set(n) for n in data["nodes"].values())

    def test_each_node_carries_history_error_and_dependencies(self) -> None:
        nodes = sample_run(index=True).to_dict()["nodes"]
        slow = nodes["slow"]
        assert slow["error"]["timed_out"] == 0.5 and slow["error"]["type"] == "TimeoutError"
        assert [a["error"]["timed_out"] for a in slow["history"]] == [0.5, 0.5, 0.5]
        assert nodes["src"]["history"][0]["error"]["message"] == "reset"
        assert nodes["src"]["history"][1] == {
            "started_at": T0 + 1.5, "finished_at": T0 + 2.5, "error": None
        }  # fmt: skip
        assert nodes["m"]["depends_on"] == ["m[0]", "m[1]"] and nodes["src"]["depends_on"] == []
        assert list(nodes) == list(DEPS)

    def test_unknown_dependencies_are_null_not_empty(self) -> None:
        data = RunResult("r", sample_results(), T0, T0 + 1).to_dict()
        assert all(n["depends_on"] is None for n in data["nodes"].values())


class Colour(enum.Enum):
    RED = "red"


class Point(BaseModel):
    x: int
    at: datetime.date


@dataclasses.dataclass
class Pair:
    left: int
    right: tuple[int, int]


class Opaque:
    """Neither JSON nor known to pydantic."""


class ReprRaises:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class HugeRepr:
    def __repr__(self) -> str:
        return "x" * 1_000_000


def deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def cyclic_list_of_long_strings() -> list[Any]:
    value: list[Any] = ["s" * 500] * 5
    value.append(value)
    return value


def cyclic_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"name": "loop"}
    value["self"] = value
    value["again"] = value
    return value


ENCODED: list[tuple[Any, Any]] = [
    ({3, 1, 2}, [1, 2, 3]),
    (datetime.datetime(2024, 5, 1, 12, 30), "2024-05-01T12:30:00"),
    ((1, "a"), [1, "a"]),
    (decimal.Decimal("1.50"), "1.50"),
    (Colour.RED, "red"),
    (Point(x=1, at=datetime.date(2024, 1, 2)), {"x": 1, "at": "2024-01-02"}),
    (Pair(1, (2, 3)), {"left": 1, "right": [2, 3]}),
    (b"bytes", "bytes"),
    ({1: "int key"}, {"1": "int key"}),
]

MARKED: list[tuple[str, Callable[[], Any], str]] = [
    ("cyclic dict", cyclic_dict, "builtins.dict"),
    ("cyclic list of long strings", cyclic_list_of_long_strings, "builtins.list"),
    ("100,000-deep list", lambda: deep_list(100_000), "builtins.list"),
    ("101-deep list", lambda: deep_list(101), "builtins.list"),
    ("repr raises", ReprRaises, "tests.test_results.ReprRaises"),
    ("1 MB repr", HugeRepr, "tests.test_results.HugeRepr"),
    ("opaque object", Opaque, "tests.test_results.Opaque"),
    ("non-UTF-8 bytes", lambda: b"\xff\xfe", "builtins.bytes"),
    ("int too long for json", lambda: 7**10_000, "builtins.int"),
]

ODD: list[Callable[[], Any]] = [lambda v=v: v for v, _ in ENCODED] + [m for _, m, _ in MARKED]


class TestEncodeJson:
    def test_json_native_values_are_kept_not_copied(self) -> None:
        value = {"a": [1, 2.5, None, True, {"b": "c"}], "deep": deep_list(99)}
        deepest = deep_list(100)  # 100 levels are kept; the 101-deep list below is not
        assert encode_json(value) is value and encode_json(deepest) is deepest

    @pytest.mark.parametrize(("value", "expected"), ENCODED)
    def test_other_values_take_pydantics_json_mode(self, value: Any, expected: Any) -> None:
        assert encode_json(value) == expected

    @pytest.mark.parametrize(("name", "make", "type_name"), MARKED, ids=[m[0] for m in MARKED])
    def test_what_cannot_be_encoded_becomes_a_bounded_marked_repr(
        self, name: str, make: Callable[[], Any], type_name: str
    ) -> None:
        encoded = encode_json(make())
        assert set(encoded) == {"__repr__", "__type__"}, name
        assert encoded["__type__"] == type_name
        assert 0 < len(encoded["__repr__"]) <= 1_000
        assert len(json.dumps(encoded)) < 1_200

    def test_an_unknown_object_is_marked_in_place_and_its_neighbours_survive(self) -> None:
        encoded = encode_json({"answer": 42, "when": datetime.date(2024, 1, 2), "x": Opaque()})
        assert encoded["answer"] == 42 and encoded["when"] == "2024-01-02"
        assert encoded["x"]["__type__"] == "tests.test_results.Opaque"

    def test_an_iterator_is_never_consumed(self) -> None:
        items: Iterator[int] = iter([1, 2, 3])
        assert "__repr__" in encode_json({"items": items})
        assert list(items) == [1, 2, 3]

    def test_the_cli_writes_json_for_any_output(self, tmp_path: Path) -> None:
        target = tmp_path / "run.json"
        _write_json(one_node_run({"deep": deep_list(100_000), "loop": cyclic_dict()}), str(target))
        output = json.loads(target.read_text())["nodes"]["n"]["output"]
        assert output["__type__"] == "builtins.dict"  # too deep and cyclic: marked as a whole
        assert output["__repr__"].startswith("{'deep': [[[")


def through_json(result: RunResult) -> RunResult:
    return RunResult.from_dict(json.loads(json.dumps(result.to_dict())))


class TestFromDict:
    @pytest.mark.parametrize("index", [False, True], ids=["mapping", "index"])
    def test_a_run_round_trips_through_json(self, index: bool) -> None:
        run = sample_run(index)
        back = through_json(run)
        assert back == run
        assert list(back) == list(run) and back.dependencies() == DEPS
        assert back["slow"].history[2].error == run["slow"].history[2].error

    def test_records_round_trip_on_their_own(self) -> None:
        for result in sample_results().values():
            assert NodeResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
        error = raised(TimeoutError(), timed_out=2.0)
        assert NodeError.from_dict(error.to_dict()) == error

    def test_dicts_written_before_history_and_dependencies_still_load(self) -> None:
        data = sample_run().to_dict()
        for node in data["nodes"].values():
            node.pop("history", None)
            del node["depends_on"]
            if node["error"] is not None:
                del node["error"]["timed_out"]
        back = RunResult.from_dict(data)
        src = back["src"]  # one attempt: its own start, end and error, as written now
        assert src.started_at is not None and src.finished_at is not None
        one = (Attempt(src.started_at, src.finished_at, src.error),)
        assert src.history == (one if src.attempts == 1 else ())
        assert back.dependencies() == {}
        assert back["slow"].error is not None and back["slow"].error.timed_out is None

    @pytest.mark.parametrize("make", ODD)
    def test_odd_outputs_survive_to_dict_and_json_and_decode_idempotently(
        self, make: Callable[[], Any]
    ) -> None:
        data = one_node_run(make()).to_dict()
        assert json.loads(json.dumps(data)) == data
        assert RunResult.from_dict(data).to_dict() == data


def edit(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    """Set (or, with ``...``, delete) ``data[path[0]][path[1]]...``."""
    *parents, last = path
    target: Any = data
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value


MALFORMED: list[tuple[tuple[str | int, ...], Any, str]] = [
    (("run_id",), ..., r"^run: missing field 'run_id'$"),
    (("nodes",), [], r"^run: field 'nodes' should be an object, got list \[\]$"),
    (("started_at",), "noon", r"^run: field 'started_at' should be a number, got str 'noon'$"),
    (("nodes", "src"), 7, r"^node 'src': expected an object, got int 7$"),
    (("nodes", "src", "status"), "done", r"^node 'src': field 'status' should be one of succeeded"),
    (("nodes", "src", "attempts"), "2", r"^node 'src': field 'attempts' should be an integer"),
    (("nodes", "src", "attempts"), True, r"^node 'src': field 'attempts' should be an integer"),
    (("nodes", "m", "output"), ..., r"^node 'm': missing field 'output'$"),
    (("nodes", "m", "node_id"), "n", r"^node 'm': field 'node_id' differs from the node's key$"),
    (("nodes", "m", "started_at"), [], r"^node 'm': field 'started_at' should be a number or null"),
    (("nodes", "m", "depends_on"), ["m[0]", 1], r"^node 'm': field 'depends_on' should hold str"),
    (("nodes", "slow", "error", "message"), ..., r"^node 'slow', error: missing field 'message'$"),
    (("nodes", "src", "history", 0, "started_at"), None,
     r"^node 'src', history\[0\]: field 'started_at' should be a number, got NoneType None$"),
    (("nodes", "src", "history", 1, "error"), "x",
     r"^node 'src', history\[1\]: field 'error' should be an object or null, got str 'x'$"),
    (("nodes", "slow", "error", "timed_out"), "0.5",
     r"^node 'slow', error: field 'timed_out' should be a number or null"),
    (("nodes", "after", "reason"), 5,
     r"^node 'after': field 'reason' should be a string or null, got int 5$"),
]  # fmt: skip


class TestMalformedInput:
    @pytest.mark.parametrize(("path", "value", "message"), MALFORMED)
    def test_one_short_value_error_names_the_node_and_field(
        self, path: tuple[str | int, ...], value: Any, message: str
    ) -> None:
        data = sample_run().to_dict()
        edit(data, path, value)
        with pytest.raises(ValueError, match=message) as caught:
            RunResult.from_dict(data)
        assert len(str(caught.value)) < 200

    def test_a_huge_value_is_quoted_briefly(self) -> None:
        data = sample_run().to_dict()
        data["nodes"]["src"]["attempts"] = "9" * 100_000
        with pytest.raises(ValueError, match="field 'attempts'") as caught:
            RunResult.from_dict(data)
        assert len(str(caught.value)) < 200

    def test_something_other_than_a_dict_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"^run: expected an object, got list"):
            RunResult.from_dict([1, 2])  # type: ignore[arg-type]


JSON_NATIVE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


class TestProperties:
    @settings(derandomize=True, max_examples=200, deadline=None)
    @given(outputs=st.lists(JSON_NATIVE, max_size=4), times=st.floats(0, 2e9))
    def test_json_native_outputs_round_trip_exactly(self, outputs: list[Any], times: float) -> None:
        results = {
            f"n{i}": NodeResult(f"n{i}", S.SUCCEEDED, out, None, 1, times, times + i)
            for i, out in enumerate(outputs)
        }
        deps = {f"n{i}": tuple(f"n{j}" for j in range(i)) for i in range(len(outputs))}
        run = RunResult("prop", results, times, times + 5, deps)
        assert all(encode_json(out) is out for out in outputs)
        assert through_json(run) == run


async def ok(x: Any) -> Any:
    await anyio.lowlevel.checkpoint()
    return x


async def boom() -> None:
    raise ValueError("boom")


async def hang() -> None:
    await anyio.sleep_forever()


def flaky_tool() -> Callable[[], str]:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("first call fails")
        return "second call works"

    return flaky


def real_graph() -> gf.Graph:
    g = gf.Graph()
    g.add("a", ok, args={"x": {"n": 1, "tags": ["x"]}})
    g.add("flaky", flaky_tool(), retries=gf.Retry(1, backoff=0))
    g.add("b", boom)
    g.add("c", ok, args={"x": "${b}"})
    g.add("d", ok, args={"x": ["${a.n}", "${flaky}"]})
    g.add("slow", hang, timeout=0.05)
    return g


class TestARealRun:
    def test_a_real_run_round_trips_through_json(self) -> None:
        run = gf.run_sync(real_graph())
        assert [r.status for r in run.values()] == [
            S.SUCCEEDED, S.SUCCEEDED, S.FAILED, S.SKIPPED, S.SUCCEEDED, S.FAILED
        ]  # fmt: skip
        assert through_json(run) == run
        assert through_json(run).dependencies()["d"] == ("a", "flaky")

    def test_the_scheduler_records_every_attempt(self) -> None:
        run = gf.run_sync(real_graph())
        assert [len(r.history) for r in run.values()] == [r.attempts for r in run.values()]
        first, second = run["flaky"].history
        assert first.error is not None and first.error.message == "first call fails"
        assert second.error is None and first.finished_at <= second.started_at
        assert run["b"].history[-1].error == run["b"].error

    def test_the_scheduler_records_which_timeout_expired(self) -> None:
        run = gf.run_sync(real_graph())
        error = run["slow"].error
        assert error is not None and error.timed_out == 0.05
        assert run["b"].error is not None and run["b"].error.timed_out is None

"""Which calls the Dask executor sends to the cluster together (``updates``)."""

from __future__ import annotations

import threading
from typing import Any

from graphflow.executors._submissions import BATCH_MAX, PLAIN_MAX, Submission, updates


def tool(**kwargs: Any) -> Any:
    return kwargs


def other(**kwargs: Any) -> Any:
    return kwargs


def apply(fn: Any, arguments: dict[str, Any]) -> Any:
    return fn(**arguments)


def call(name: str, arguments: dict[str, Any], fn: Any = tool, **resources: float) -> Submission:
    return Submission((apply, fn, arguments), f"key-{name}", name, resources or None)


def names(items: list[Submission]) -> list[list[str]]:
    return [[item.node_id for item in group] for group in updates(items)]


class Future:  # what a Dask future is to this module: any object not plain data
    pass


def test_calls_of_one_tool_with_plain_arguments_share_an_update_in_order() -> None:
    items = [
        call("a", {"x": 1, "s": "text", "f": 0.5, "n": None, "b": True}),
        call("b", {"rows": [[1, 2], (3, "x")], "map": {"k": {"v": b"bytes"}}}),
        call("c", {}, fn=other),
        call("d", {"x": 2}),
    ]
    assert names(items) == [["a", "b", "d"], ["c"]]


def test_resources_split_the_calls_of_one_tool() -> None:
    items = [call("a", {}, GPU=1), call("b", {}), call("c", {}, GPU=1.0), call("d", {}, GPU=2)]
    assert names(items) == [["a", "c"], ["b"], ["d"]]


def test_what_might_fail_an_update_goes_alone() -> None:
    items = [
        call("plain", {"x": 1}),
        call("lock", {"x": threading.Lock()}),  # might not pickle
        call("future", {"x": Future()}),  # a lost dependency cancels its whole update
        call("deep", {"x": [[[[["five levels"]]]]]}),
        call("big", {"x": "y" * PLAIN_MAX}),
        call("many", {"x": list(range(PLAIN_MAX // 8))}),
        call("key", {"x": {(1, 2): 3}}),
        call("subclass", {"x": MyInt(3)}),
        call("plain_too", {"x": [[[["four levels"]]]], "y": "y" * (PLAIN_MAX // 2)}),
    ]
    assert names(items) == [
        ["plain", "plain_too"],
        ["lock"],
        ["future"],
        ["deep"],
        ["big"],
        ["many"],
        ["key"],
        ["subclass"],
    ]


class MyInt(int):
    pass


def test_arguments_up_to_the_size_limit_are_batched_not_one_byte_more() -> None:
    # a dict of one "x": 8, its key 1 + 8, a string of n characters n + 8
    at_limit = PLAIN_MAX - 25
    items = [
        call("first", {}),
        call("at_limit", {"x": "a" * at_limit}),
        call("over", {"x": "a" * (at_limit + 1)}),
        call("wide_chars", {"x": "\u00e9" * (at_limit // 2)}),  # UTF-8: 2-4 bytes each
        call("long_key", {"k" * (at_limit + 1): "a"}),
        call("big_int", {"x": 10**200_000}),  # ~83 KB pickled
        call("small_int", {"x": 10**100}),
    ]
    assert names(items) == [
        ["first", "at_limit", "small_int"],
        ["over"],
        ["wide_chars"],
        ["long_key"],
        ["big_int"],
    ]


def test_an_update_holds_at_most_batch_max_calls_and_dropped_ones_none() -> None:
    items = [call(f"n{i}", {"i": i}) for i in range(2 * BATCH_MAX + 1)]
    items[1].dropped = True
    groups = names(items)
    assert [len(group) for group in groups] == [BATCH_MAX, BATCH_MAX]
    assert groups[0][:2] == ["n0", "n2"] and groups[1][-1] == f"n{2 * BATCH_MAX}"

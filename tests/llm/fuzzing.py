"""Strategies for the LLM edge's fuzz tests: hostile tool-call batches and mutated plans.

Shared by ``test_fuzz_batches.py`` and ``test_fuzz_plans.py``; not collected.

The budget: every fuzz test runs ``GRAPHFLOW_FUZZ_EXAMPLES`` examples (default
40, a few seconds per test), derandomized, so a failure reproduces. A larger
budget also raises each test's pytest timeout; for a longer hunt::

    GRAPHFLOW_FUZZ_EXAMPLES=2000 python -m pytest -q tests/llm/test_fuzz_batches.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import graphflow as gf

EXAMPLES = int(os.environ.get("GRAPHFLOW_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
TIMEOUT = 60 + EXAMPLES  # seconds per test: a larger budget gets a longer pytest-timeout


def nested_text(depth: int) -> str:
    """JSON arguments whose ``sku`` is ``depth`` nested lists."""
    return '{"sku": ' + "[" * depth + "]" * depth + "}"


def nested_value(depth: int) -> dict[str, Any]:
    """The same as a Python object, built without recursion."""
    inner: list[Any] = []
    for _ in range(depth - 1):
        inner = [inner]
    return {"sku": inner}


HUGE_ID = "i" * 10_000
HUGE_NAME = "n" * 100_000
HUGE_TEXT = "x" * 100_000
GIANT_INT_TEXT = "9" * 5_000

IDS: list[Any] = [
    *("", " ", " c0 ", "\n", "item", "c0", "c1", "c2", "c3", "x.y", "${c0}", "a$b", "{c0}"),
    *("call 1", "call 2", "call#1", "_call0", "_call1", "#0", "0", "1", "2", "é", HUGE_ID),
    *(7, None, 2.5, True, ["c0"], {"id": "c0"}, 10**5000),
]
NAMES: list[Any] = ["lookup", "orders", "echo", "fail", "huge", "grep"] * 3 + [
    *("nope", "", "join", "lookup ", HUGE_NAME, None, 3, ["lookup"]),
]
REF_TEXTS = [
    *("${}", "${c1.}", "${c0}", "${c1.sku}", "${c2.0}", "${c3.sku.x.y}", "${nowhere}"),
    *("${item}", "${ c0 }", "a ${c0} b", "$${c0}", "${", "}", "${call 1}", "${_call1}", "${2}"),
    *("${x.y}", "${" + HUGE_ID + "}", "${c0.-1}", "$c0", "${c0}${c1}"),
]
RAW_ARGUMENTS: list[Any] = [
    *("", "not json", "{", "[1, 2]", '"text"', "null", "7", '{"sku": NaN}', '{"sku": 1e999}'),
    '{"sku": ' + GIANT_INT_TEXT + "}",
    '{"user_id": -' + GIANT_INT_TEXT + "}",
    nested_text(500),
    nested_text(5_000),
    '{"sku": "' + HUGE_TEXT + '"}',
    '{"sku": "a", "sku": "b"}',
    '{"sku": "\\ud800"}',
    *(None, 5, ["sku"], {"sku": "dict, not text"}),
]
RAW_INPUTS: list[Any] = [
    *(None, "text", '{"sku": "json text"}', [1], 5, {1: "int key"}, {"": 1}),
    nested_value(500),
    nested_value(100_000),
    {"sku": HUGE_TEXT},
    {"user_id": 10**5000},
]

keys = st.sampled_from(["sku", "user_id", "reason", "pattern", "x", "", "${c0}"]) | st.text(
    max_size=4
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(REF_TEXTS)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
objects = st.dictionaries(keys, json_values, max_size=3)
ids = st.sampled_from(IDS) | st.text(max_size=6)
names = st.sampled_from(NAMES) | st.text(max_size=6)
arguments = objects.map(json.dumps) | st.sampled_from(RAW_ARGUMENTS)
inputs = objects | st.sampled_from(RAW_INPUTS)
max_chars = st.sampled_from([0, 1, 30, 200, 20_000])
backends = st.sampled_from(["asyncio", "trio"])
GARBAGE: list[Any] = [None, "text", 3, [], {}, {"type": None}]


@st.composite
def chat_batches(draw: st.DrawFn) -> list[Any] | None:
    """``message.tool_calls``: function calls, custom calls, garbage items, or None."""
    if draw(st.integers(0, 9)) == 0:
        return None  # what message.tool_calls is when the model made no call
    batch: list[Any] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["function"] * 6 + ["custom", "garbage"]))
        call_id, name = draw(ids), draw(names)
        if kind == "function":
            function = {"name": name, "arguments": draw(arguments)}
            batch.append({"id": call_id, "type": "function", "function": function})
        elif kind == "custom":
            custom = {"name": name, "input": draw(st.text(max_size=8))}
            batch.append({"id": call_id, "type": "custom", "custom": custom})
        else:
            batch.append(draw(st.sampled_from(GARBAGE)))
    return batch


@st.composite
def responses_batches(draw: st.DrawFn) -> list[Any] | None:
    """``response.output``: function and custom tool calls among messages, reasoning, garbage."""
    if draw(st.integers(0, 9)) == 0:
        return None
    batch: list[Any] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["function_call"] * 5 + ["custom", "message", "garbage"]))
        call_id, name = draw(ids), draw(names)
        if kind == "function_call":
            item = {"type": kind, "call_id": call_id, "name": name, "arguments": draw(arguments)}
        elif kind == "custom":
            item = {"type": "custom_tool_call", "call_id": call_id, "name": name, "input": "x"}
        elif kind == "message":
            item = {"type": "message", "role": "assistant", "content": []}
        else:
            item = draw(st.sampled_from(GARBAGE))
        batch.append(item)
    return batch


@st.composite
def anthropic_batches(draw: st.DrawFn) -> list[Any] | None:
    """``message.content``: tool_use blocks among text blocks and garbage."""
    if draw(st.integers(0, 9)) == 0:
        return None
    batch: list[Any] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["tool_use"] * 5 + ["text", "garbage"]))
        if kind == "tool_use":
            block = {"type": kind, "id": draw(ids), "name": draw(names), "input": draw(inputs)}
        elif kind == "text":
            block = {"type": "text", "text": draw(st.text(max_size=8))}
        else:
            block = draw(st.sampled_from(GARBAGE))
        batch.append(block)
    return batch


SEED_CHAT: list[dict[str, Any]] = [
    {"id": "c0", "type": "function", "function": {"name": "lookup", "arguments": '{"sku": "A"}'}},
    {
        "id": "c1",
        "type": "function",
        "function": {"name": "orders", "arguments": '{"user_id": "${c0.sku}"}'},
    },
    {"id": "c2", "type": "function", "function": {"name": "echo", "arguments": '{"x": "${c1}"}'}},
]


@st.composite
def mutated_chat_batches(draw: st.DrawFn) -> list[Any]:
    """``SEED_CHAT`` with a few fields replaced, removed, or items duplicated or dropped."""
    batch: list[Any] = json.loads(json.dumps(SEED_CHAT))
    for _ in range(draw(st.integers(1, 4))):
        if not batch:
            break
        k = draw(st.integers(0, len(batch) - 1))
        how = draw(st.sampled_from(["id", "name", "arguments", "drop_key", "dup", "del"]))
        _mutate(batch, k, how, draw)
    return batch


def _mutate(batch: list[Any], k: int, how: str, draw: st.DrawFn) -> None:
    item = batch[k]
    if not isinstance(item, dict):
        return
    if how == "id":
        item["id"] = draw(ids)
    elif how in ("name", "arguments"):
        function = item.setdefault("function", {})
        if isinstance(function, dict):
            function[how] = draw(names if how == "name" else arguments)
    elif how == "drop_key":
        item.pop(draw(st.sampled_from(["id", "type", "function"])), None)
    elif how == "dup":
        batch.insert(k, json.loads(json.dumps(item)))
    else:
        del batch[k]


@gf.tool
async def lookup(sku: str) -> dict[str, Any]:
    """Look up a product."""
    return {"sku": sku}


@gf.tool
async def orders(user_id: int) -> list[int]:
    """A user's orders."""
    return [user_id]


@gf.tool
async def echo(**arguments: Any) -> Any:
    """Return the arguments as given."""
    return arguments


@gf.tool
async def fail(reason: str = "") -> None:
    """Always fails."""
    raise RuntimeError(reason)


@gf.tool
def huge() -> str:
    """A long output, from a thread."""
    return "y" * 50_000


async def _grep(**arguments: Any) -> Any:
    return arguments


GREP = gf.Tool.from_schema(
    "grep",
    {"type": "object", "properties": {"pattern": {"type": "string"}}, "required": ["pattern"]},
    _grep,
)
TOOLBOX = gf.Toolbox([lookup, orders, echo, fail, huge, GREP])

SEED_PLANS = [
    '1. lookup(sku="a")\n2. orders(user_id=$1.sku)\n3. echo(x="got ${2.0} and $1")\n4. join()\n',
    "Thought: search both\n"
    '1. grep("Arthur\'s Magazine")\n'
    "2. grep(First for Women (magazine))\n"
    "Thought: I can answer the question now.\n3. join()<END_OF_PLAN>\n###\n"
    '1. lookup("again")\n2. join()<END_OF_PLAN>\n',
    '1. echo(x=[1, -2.5, {"a": (True, None)}])\n2. lookup(sku="costs $1.50")\n'
    "3. fail(reason=$2)\n4. echo(y=$3)\njoin()\n",
]
SNIPPETS = [
    *("$", "${", "}", "${}", "$1", "${1.sku}", "$9", "(", ")", "[", "]", "{", '"', "'", ",", "="),
    *("\n", " ", "#", ":", ".", "-", "0", "1", "join()", "<END_OF_PLAN>", "lookup(", "**x"),
    *("{[1]: 2}", "9" * 4_301 + ". ", "$" + "9" * 5_000, "-" * 100_000 + "1", "[" * 300),
    *("1+" * 20_000 + "1", "f(" * 50, "lambda: 0", "__gfref_1__", "\\d", "\x00"),
]


@st.composite
def mutated_plans(draw: st.DrawFn) -> str:
    """A seed plan with characters and lines inserted, deleted or duplicated."""
    text = draw(st.sampled_from(SEED_PLANS))
    for _ in range(draw(st.integers(1, 6))):
        edit: Callable[[str, int, st.DrawFn], str] = draw(
            st.sampled_from([_insert, _delete, _duplicate, _repeat_line])
        )
        text = edit(text, draw(st.integers(0, len(text))), draw)
    return text


def _insert(text: str, at: int, draw: st.DrawFn) -> str:
    piece = draw(st.sampled_from(SNIPPETS) | st.text(max_size=3))
    return text[:at] + piece + text[at:]


def _delete(text: str, at: int, draw: st.DrawFn) -> str:
    return text[:at] + text[at + draw(st.integers(1, 8)) :]


def _duplicate(text: str, at: int, draw: st.DrawFn) -> str:
    return text[:at] + text[at : at + draw(st.integers(1, 8))] + text[at:]


def _repeat_line(text: str, at: int, draw: st.DrawFn) -> str:
    lines = text.split("\n")
    k = min(at, len(lines) - 1)
    return "\n".join(lines[: k + 1] + [lines[k]] * draw(st.integers(1, 3)) + lines[k + 1 :])

"""Fuzz: whatever a model sends, each adapter answers every call and never raises.

Random and mutated OpenAI (Chat Completions and Responses) and Anthropic
batches go through the adapters. Hostile values come from ``fuzzing.py``: ids
that are empty, reserved, duplicated, 10,000 characters long or not strings;
unknown and huge tool names; arguments that are not JSON, not an object,
malformed or cyclic references, 5,000-digit integers, nesting 500 and 100,000
deep, huge strings.

Each test runs a fixed, derandomized set of examples (a failure reproduces):
``GRAPHFLOW_FUZZ_EXAMPLES`` per test, 40 by default (see ``fuzzing.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest
from anthropic.types import MessageParam, ToolResultBlockParam
from hypothesis import given
from openai.types.chat import ChatCompletionToolMessageParam
from openai.types.responses.response_custom_tool_call_output_param import (
    ResponseCustomToolCallOutputParam,
)
from openai.types.responses.response_input_param import FunctionCallOutput

from graphflow.llm import execute_anthropic, execute_openai, execute_openai_responses

from .conftest import conforms
from .fuzzing import (
    FUZZ,
    TIMEOUT,
    TOOLBOX,
    anthropic_batches,
    backends,
    chat_batches,
    max_chars,
    mutated_chat_batches,
    responses_batches,
)

pytestmark = pytest.mark.timeout(TIMEOUT)


def field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else None


def expected_ids(items: Sequence[Any] | None, key: str, kinds: set[str] | None) -> list[Any]:
    """The id each call's result must carry, in order (None: any string will do)."""
    calls = [i for i in items or [] if kinds is None or field(i, "type") in kinds]
    return [field(c, key) if isinstance(field(c, key), str) else None for c in calls]


def assert_ids(got: list[str], expected: list[Any]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert isinstance(g, str) and (e is None or g == e)


async def bounded(fn: Callable[[], Any]) -> Any:
    with anyio.fail_after(10):  # a batch of fast tools: anything longer is a hang
        return await fn()


class TestAdapters:
    @FUZZ
    @given(batch=chat_batches() | mutated_chat_batches(), limit=max_chars, backend=backends)
    def test_chat_completions(self, batch: list[Any] | None, limit: int, backend: str) -> None:
        call = functools.partial(execute_openai, batch, TOOLBOX, max_chars=limit)
        messages = anyio.run(bounded, call, backend=backend)
        assert_ids([m["tool_call_id"] for m in messages], expected_ids(batch, "id", None))
        for m in messages:
            conforms(ChatCompletionToolMessageParam, m)
            assert len(m["content"]) <= limit

    @FUZZ
    @given(batch=responses_batches(), limit=max_chars, backend=backends)
    def test_responses(self, batch: list[Any] | None, limit: int, backend: str) -> None:
        call = functools.partial(execute_openai_responses, batch, TOOLBOX, max_chars=limit)
        outputs = anyio.run(bounded, call, backend=backend)
        kinds = {"function_call", "custom_tool_call"}
        assert_ids([o["call_id"] for o in outputs], expected_ids(batch, "call_id", kinds))
        calls = [i for i in batch or [] if field(i, "type") in kinds]
        for item, out in zip(calls, outputs, strict=True):
            if item["type"] == "function_call":
                conforms(FunctionCallOutput, out)
            else:
                conforms(ResponseCustomToolCallOutputParam, out)
            assert len(out["output"]) <= limit

    @FUZZ
    @given(batch=anthropic_batches(), limit=max_chars, backend=backends)
    def test_anthropic(self, batch: list[Any] | None, limit: int, backend: str) -> None:
        call = functools.partial(execute_anthropic, batch, TOOLBOX, max_chars=limit)
        message = anyio.run(bounded, call, backend=backend)
        blocks = message["content"]
        assert message["role"] == "user" and isinstance(blocks, list)
        conforms(MessageParam, message)
        assert_ids([b["tool_use_id"] for b in blocks], expected_ids(batch, "id", {"tool_use"}))
        for b in blocks:
            conforms(ToolResultBlockParam, b)
            assert len(b["content"]) <= limit

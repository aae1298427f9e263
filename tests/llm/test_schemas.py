"""The schema mode that admits references, and the instructions that explain them."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import pytest
from anthropic.types import MessageParam, ToolParam
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionSystemMessageParam
from openai.types.responses import FunctionToolParam
from pydantic import Field, TypeAdapter

import graphflow as gf
from graphflow.llm import (
    REFERENCE_INSTRUCTIONS,
    REFERENCE_PATTERN,
    admit_references,
    describe_tools,
    execute_anthropic,
    execute_openai,
)

from . import tools
from .tools import TOOLBOX

REFERENCE = {"type": "string", "pattern": REFERENCE_PATTERN}


@gf.tool
def pick(
    n: int = 3, mode: str = "fast", tags: list[str] | None = None, anything: Any = None
) -> None:
    """Pick some.

    Args:
        n: how many.
    """


class TestDescribeTools:
    @pytest.mark.parametrize(
        ("provider", "sdk_type"),
        [
            ("openai", ChatCompletionFunctionToolParam),
            ("openai-responses", FunctionToolParam),
            ("anthropic", ToolParam),
        ],
    )
    def test_each_provider_format_is_valid_for_its_sdk(
        self, provider: Any, sdk_type: Any, check: Any
    ) -> None:
        for schema in describe_tools(TOOLBOX, provider):
            check(sdk_type, schema)

    def test_an_integer_parameter_also_takes_a_reference(self) -> None:
        (orders,) = [t for t in describe_tools(TOOLBOX) if t["function"]["name"] == "list_orders"]
        user_id = orders["function"]["parameters"]["properties"]["user_id"]
        assert user_id == {"anyOf": [{"type": "integer"}, REFERENCE]}
        assert orders["function"]["parameters"]["required"] == ["user_id"]

    def test_pydantic_reads_the_schema_as_an_int_or_a_reference(self) -> None:
        # The same type written in Python gives the same JSON schema, and a
        # validator of that schema takes 42 and "${1.user_id}" but not "forty-two".
        same = TypeAdapter(int | Annotated[str, Field(pattern=REFERENCE_PATTERN)])
        assert same.json_schema() == {"anyOf": [{"type": "integer"}, REFERENCE]}
        for value in (42, "${1.user_id}", "${call_a}", "${2.items.0.id}"):
            same.validate_python(value)
        for bad in ("forty-two", "${}", "x ${1}", "${1}${2}"):
            with pytest.raises(ValueError):
                same.validate_python(bad)

    def test_descriptions_and_defaults_stay_outside_and_any_stays_any(self) -> None:
        props = admit_references(pick.parameters())["properties"]
        assert props["n"] == {
            "description": "how many.",
            "default": 3,
            "anyOf": [{"type": "integer"}, REFERENCE],
        }
        assert props["mode"] == {"default": "fast", "type": "string"}  # a string takes one
        assert props["tags"]["anyOf"][-1] == REFERENCE  # appended to its own anyOf
        assert props["tags"]["anyOf"][:-1] == pick.parameters()["properties"]["tags"]["anyOf"]
        assert props["anything"] == pick.parameters()["properties"]["anything"]

    def test_without_references_the_toolbox_schemas_are_unchanged(self) -> None:
        assert describe_tools(TOOLBOX, "openai", references=False) == TOOLBOX.openai_schemas()
        assert describe_tools(TOOLBOX, "anthropic", references=False) == (
            TOOLBOX.anthropic_schemas()
        )
        describe_tools(TOOLBOX, "openai-responses")
        assert TOOLBOX["list_orders"].parameters()["properties"]["user_id"] == {"type": "integer"}

    def test_an_unknown_provider_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="got 'gemini'"):
            describe_tools(TOOLBOX, "gemini")  # type: ignore[arg-type]


class TestInstructions:
    def test_every_whole_reference_it_shows_matches_the_schema_pattern(self) -> None:
        shown = re.findall(r'"(\$\{[^"]*\})"', REFERENCE_INSTRUCTIONS)
        assert len(shown) >= 4
        assert all(re.fullmatch(REFERENCE_PATTERN, s) for s in shown), shown

    def test_it_is_a_system_message_for_each_sdk(self, check: Any) -> None:
        check(
            ChatCompletionSystemMessageParam, {"role": "system", "content": REFERENCE_INSTRUCTIONS}
        )
        check(MessageParam, {"role": "user", "content": REFERENCE_INSTRUCTIONS})


pytestmark = pytest.mark.anyio


async def test_a_reference_to_an_integer_parameter_runs_with_the_integer() -> None:
    tools.CALLS.clear()
    batch = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "find_user", "arguments": '{"email": "a@b.c"}'},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "list_orders", "arguments": '{"user_id": "${1.user_id}"}'},
        },
    ]
    messages = await execute_openai(batch, TOOLBOX)
    assert json.loads(messages[1]["content"]) == [{"order": 1, "user_id": 42}]
    assert tools.CALLS[-1] == "list_orders:42"  # the tool got the int, not "${1.user_id}"
    blocks = [
        {"type": "tool_use", "id": "toolu_1", "name": "find_user", "input": {"email": "x@y.z"}},
        {
            "type": "tool_use",
            "id": "toolu_2",
            "name": "list_orders",
            "input": {"user_id": "${toolu_1.user_id}"},
        },
    ]
    message = await execute_anthropic(blocks, TOOLBOX)
    assert json.loads(message["content"][1]["content"]) == [{"order": 1, "user_id": 42}]

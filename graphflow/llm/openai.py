"""OpenAI: tool calls in, tool messages out (Chat Completions and Responses API).

Accepts the SDK's objects or plain dicts; returns plain dicts the SDK accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._tools import Toolbox
from ._batch import Call, Outcome, execute_calls, field, parse_arguments


def calls_from_chat(tool_calls: Iterable[Any]) -> list[Call]:
    """``message.tool_calls`` (Chat Completions) as ``Call`` objects."""
    calls = []
    for tc in tool_calls:
        function = field(tc, "function")
        arguments, problem = parse_arguments(field(function, "arguments"))
        calls.append(Call(str(field(tc, "id")), str(field(function, "name")), arguments, problem))
    return calls


async def execute_openai(
    tool_calls: Iterable[Any], toolbox: Toolbox, **run_options: Any
) -> list[dict[str, Any]]:
    """Run a Chat Completions ``message.tool_calls`` batch as one graph.

    Args:
        tool_calls: the SDK's ``ChatCompletionMessageToolCall`` objects or dicts.
        toolbox: the tools the model may call.
        **run_options: for ``graphflow.run``, plus ``max_chars`` for each content.

    Returns:
        ``{"role": "tool", "tool_call_id", "content"}`` messages, one per call,
        in the order of the calls.
    """
    outcomes, _ = await execute_calls(calls_from_chat(tool_calls), toolbox, **run_options)
    return tool_messages(outcomes)


def tool_messages(outcomes: Iterable[Outcome]) -> list[dict[str, Any]]:
    """A ``{"role": "tool", "tool_call_id", "content"}`` message per outcome."""
    return [
        {"role": "tool", "tool_call_id": o.call.call_id, "content": o.content} for o in outcomes
    ]


def calls_from_responses(items: Iterable[Any]) -> list[Call]:
    """The ``function_call`` items of a Responses API output."""
    calls = []
    for item in items:
        if field(item, "type") != "function_call":
            continue
        arguments, problem = parse_arguments(field(item, "arguments"))
        calls.append(
            Call(str(field(item, "call_id")), str(field(item, "name")), arguments, problem)
        )
    return calls


async def execute_openai_responses(
    items: Iterable[Any], toolbox: Toolbox, **run_options: Any
) -> list[dict[str, Any]]:
    """Run the ``function_call`` items of ``response.output`` as one graph.

    Returns:
        ``{"type": "function_call_output", "call_id", "output"}`` items, one per call.
    """
    outcomes, _ = await execute_calls(calls_from_responses(items), toolbox, **run_options)
    return [
        {"type": "function_call_output", "call_id": o.call.call_id, "output": o.content}
        for o in outcomes
    ]

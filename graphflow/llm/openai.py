"""OpenAI: tool calls in, tool messages out (Chat Completions and Responses API).

Accepts the SDK's objects or plain dicts; returns plain dicts the SDK accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

from graphflow import RunOptions, RunOptionsArgs, Toolbox

from ._batch import DEFAULT_MAX_CHARS, Call, Outcome, execute_calls, field, parse_arguments


def calls_from_chat(tool_calls: Iterable[Any]) -> list[Call]:
    """``message.tool_calls`` (Chat Completions) as ``Call`` objects."""
    calls = []
    for tc in tool_calls:
        function = field(tc, "function")
        arguments, problem = parse_arguments(field(function, "arguments"))
        calls.append(Call(str(field(tc, "id")), str(field(function, "name")), arguments, problem))
    return calls


async def execute_openai(
    tool_calls: Iterable[Any],
    toolbox: Toolbox,
    options: RunOptions | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    **overrides: Unpack[RunOptionsArgs],
) -> list[dict[str, Any]]:
    """Run a Chat Completions ``message.tool_calls`` batch as one graph.

    Args:
        tool_calls: the SDK's ``ChatCompletionMessageToolCall`` objects or dicts.
        toolbox: the tools the model may call.
        options: how to run the batch (a ``graphflow.RunOptions``).
        max_chars: the longest content of a message (longer is cut, with a note).
        **overrides: ``RunOptions`` fields as keywords (``default_timeout=30``),
            applied on top of ``options``.

    Returns:
        ``{"role": "tool", "tool_call_id", "content"}`` messages, one per call,
        in the order of the calls.

    Raises:
        OptionError: an option is invalid or misspelt (nothing ran).
    """
    opts = RunOptions.build(options, overrides)
    calls = calls_from_chat(tool_calls)
    outcomes, _ = await execute_calls(calls, toolbox, opts, max_chars=max_chars)
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
    items: Iterable[Any],
    toolbox: Toolbox,
    options: RunOptions | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    **overrides: Unpack[RunOptionsArgs],
) -> list[dict[str, Any]]:
    """Run the ``function_call`` items of ``response.output`` as one graph.

    Args:
        items: ``response.output`` (SDK items or dicts); other items are ignored.
        toolbox: the tools the model may call.
        options: how to run the batch (a ``graphflow.RunOptions``).
        max_chars: the longest output of an item (longer is cut, with a note).
        **overrides: ``RunOptions`` fields as keywords, applied on top of ``options``.

    Returns:
        ``{"type": "function_call_output", "call_id", "output"}`` items, one per call.

    Raises:
        OptionError: an option is invalid or misspelt (nothing ran).
    """
    opts = RunOptions.build(options, overrides)
    calls = calls_from_responses(items)
    outcomes, _ = await execute_calls(calls, toolbox, opts, max_chars=max_chars)
    return [
        {"type": "function_call_output", "call_id": o.call.call_id, "output": o.content}
        for o in outcomes
    ]

"""OpenAI: tool calls in, tool messages out (Chat Completions and Responses API).

Accepts the SDK's objects or plain dicts; returns plain dicts the SDK accepts.
Every call gets one result, in order, whatever the model sent: ``None`` (what
``message.tool_calls`` is when the model made no call) is an empty batch, and a
custom (free-form) tool call, which graphflow does not run, is answered with an
error result of the kind the API expects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

from graphflow import RunOptions, RunOptionsArgs, Toolbox

from ._batch import DEFAULT_MAX_CHARS, Call, Outcome, execute_calls
from ._input import as_text, field, parse_arguments

CUSTOM_CALL_PROBLEM = "custom tool calls are not supported here (only function tools run)"


def calls_from_chat(tool_calls: Iterable[Any] | None) -> list[Call]:
    """``message.tool_calls`` (Chat Completions) as ``Call`` objects, one per item."""
    calls = []
    for tc in tool_calls or ():
        call_id = as_text(field(tc, "id"))
        if field(tc, "type") == "custom":
            name = as_text(field(field(tc, "custom"), "name"))
            calls.append(Call(call_id, name, problem=CUSTOM_CALL_PROBLEM, custom=True))
            continue
        function = field(tc, "function")
        arguments, problem = parse_arguments(field(function, "arguments"))
        calls.append(Call(call_id, as_text(field(function, "name")), arguments, problem))
    return calls


async def execute_openai(
    tool_calls: Iterable[Any] | None,
    toolbox: Toolbox,
    options: RunOptions | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    **overrides: Unpack[RunOptionsArgs],
) -> list[dict[str, Any]]:
    """Run a Chat Completions ``message.tool_calls`` batch as one graph.

    Args:
        tool_calls: the SDK's tool call objects or dicts (None: no call).
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


def calls_from_responses(items: Iterable[Any] | None) -> list[Call]:
    """The ``function_call`` and ``custom_tool_call`` items of a Responses API output."""
    calls = []
    for item in items or ():
        kind = field(item, "type")
        call_id, name = as_text(field(item, "call_id")), as_text(field(item, "name"))
        if kind == "custom_tool_call":
            calls.append(Call(call_id, name, problem=CUSTOM_CALL_PROBLEM, custom=True))
        elif kind == "function_call":
            arguments, problem = parse_arguments(field(item, "arguments"))
            calls.append(Call(call_id, name, arguments, problem))
    return calls


async def execute_openai_responses(
    items: Iterable[Any] | None,
    toolbox: Toolbox,
    options: RunOptions | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    **overrides: Unpack[RunOptionsArgs],
) -> list[dict[str, Any]]:
    """Run the ``function_call`` items of ``response.output`` as one graph.

    Args:
        items: ``response.output`` (SDK items or dicts); items other than tool
            calls are ignored.
        toolbox: the tools the model may call.
        options: how to run the batch (a ``graphflow.RunOptions``).
        max_chars: the longest output of an item (longer is cut, with a note).
        **overrides: ``RunOptions`` fields as keywords, applied on top of ``options``.

    Returns:
        One ``{"type": "function_call_output", "call_id", "output"}`` item per
        function call (``custom_tool_call_output`` for a custom tool call), in order.

    Raises:
        OptionError: an option is invalid or misspelt (nothing ran).
    """
    opts = RunOptions.build(options, overrides)
    calls = calls_from_responses(items)
    outcomes, _ = await execute_calls(calls, toolbox, opts, max_chars=max_chars)
    return output_items(outcomes)


def output_items(outcomes: Iterable[Outcome]) -> list[dict[str, Any]]:
    """A ``function_call_output`` (or ``custom_tool_call_output``) item per outcome."""
    return [
        {
            "type": "custom_tool_call_output" if o.call.custom else "function_call_output",
            "call_id": o.call.call_id,
            "output": o.content,
        }
        for o in outcomes
    ]

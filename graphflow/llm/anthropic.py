"""Anthropic Messages: ``tool_use`` blocks in, one user message of ``tool_result`` blocks out.

Accepts the SDK's blocks or plain dicts; every ``tool_use`` block gets one
result, in order, whatever the model sent (None is no block).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

from graphflow import RunOptions, RunOptionsArgs, Toolbox

from ._batch import DEFAULT_MAX_CHARS, Call, Outcome, execute_calls
from ._input import as_text, field, parse_arguments


def calls_from_blocks(content_blocks: Iterable[Any] | None) -> list[Call]:
    """The ``tool_use`` blocks of an assistant message's content."""
    calls = []
    for block in content_blocks or ():
        if field(block, "type") != "tool_use":
            continue
        arguments, problem = parse_arguments(field(block, "input"))
        call_id, name = as_text(field(block, "id")), as_text(field(block, "name"))
        calls.append(Call(call_id, name, arguments, problem))
    return calls


async def execute_anthropic(
    content_blocks: Iterable[Any] | None,
    toolbox: Toolbox,
    options: RunOptions | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    **overrides: Unpack[RunOptionsArgs],
) -> dict[str, Any]:
    """Run the ``tool_use`` blocks of a message as one graph.

    Args:
        content_blocks: ``message.content`` (SDK blocks or dicts); other blocks
            are ignored.
        toolbox: the tools the model may call.
        options: how to run the batch (a ``graphflow.RunOptions``).
        max_chars: the longest content of a block (longer is cut, with a note).
        **overrides: ``RunOptions`` fields as keywords, applied on top of ``options``.

    Returns:
        ``{"role": "user", "content": [tool_result, ...]}``: one block per
        ``tool_use_id``, in order, with ``is_error: true`` for failures.

    Raises:
        OptionError: an option is invalid or misspelt (nothing ran).
    """
    opts = RunOptions.build(options, overrides)
    calls = calls_from_blocks(content_blocks)
    outcomes, _ = await execute_calls(calls, toolbox, opts, max_chars=max_chars)
    return result_message(outcomes)


def result_message(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """One user message with a ``tool_result`` block per outcome, in order."""
    blocks: list[dict[str, Any]] = []
    for o in outcomes:
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": o.call.call_id,
            "content": o.content,
        }
        if o.is_error:
            block["is_error"] = True
        blocks.append(block)
    return {"role": "user", "content": blocks}

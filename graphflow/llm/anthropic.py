"""Anthropic Messages: ``tool_use`` blocks in, one user message of ``tool_result`` blocks out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._tools import Toolbox
from ._batch import Call, Outcome, execute_calls, field, parse_arguments


def calls_from_blocks(content_blocks: Iterable[Any]) -> list[Call]:
    """The ``tool_use`` blocks of an assistant message's content."""
    calls = []
    for block in content_blocks:
        if field(block, "type") != "tool_use":
            continue
        arguments, problem = parse_arguments(field(block, "input"))
        calls.append(Call(str(field(block, "id")), str(field(block, "name")), arguments, problem))
    return calls


async def execute_anthropic(
    content_blocks: Iterable[Any], toolbox: Toolbox, **run_options: Any
) -> dict[str, Any]:
    """Run the ``tool_use`` blocks of a message as one graph.

    Args:
        content_blocks: ``message.content`` (SDK blocks or dicts); other blocks are ignored.
        toolbox: the tools the model may call.
        **run_options: for ``graphflow.run``, plus ``max_chars`` for each content.

    Returns:
        ``{"role": "user", "content": [tool_result, ...]}``: one block per
        ``tool_use_id``, in order, with ``is_error: true`` for failures.
    """
    outcomes, _ = await execute_calls(calls_from_blocks(content_blocks), toolbox, **run_options)
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

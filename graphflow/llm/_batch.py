"""One batch of model tool calls as one graph, and its results as text a model reads.

Every call gets exactly one result, whatever goes wrong: arguments that are not
JSON, an unknown tool, a reference to a call that is not in the batch, calls
that reference each other in a cycle — each becomes an error result for that
call alone (and for the calls that needed it), never an exception that loses
the others and never a missing result, which would make the conversation
malformed.

A call's arguments may reference another call of the batch by id
(``"${call_abc.user_id}"``): that adds an edge, so independent calls run at
once and chains run in order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from graphflow import RunOptions, RunOptionsArgs

from .. import _refs
from .._graph import Graph
from .._results import NodeResult, NodeStatus, RunResult
from .._scheduler import run
from .._tools import Toolbox
from ..errors import CycleError, GraphError, NodeInputError

DEFAULT_MAX_CHARS = 20_000


class ToolCallError(NodeInputError):
    """Recorded for a call that cannot run as given (bad JSON, unknown tool, bad reference)."""


@dataclass(slots=True)
class Call:
    """One tool call from a model: its id, the tool's name and the parsed arguments."""

    call_id: str
    name: str
    arguments: Any = None
    problem: str | None = None  # why it cannot run as given


@dataclass(slots=True)
class Outcome:
    """The result of one call, as a model will read it."""

    call: Call
    result: NodeResult
    content: str

    @property
    def is_error(self) -> bool:
        return self.result.status is not NodeStatus.SUCCEEDED


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` for SDK objects."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def parse_arguments(raw: Any) -> tuple[Any, str | None]:
    """Arguments as a dict, from a JSON string (OpenAI) or a mapping (Anthropic)."""
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, Mapping):
        return dict(raw), None
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            return None, f"arguments are not valid JSON ({exc.msg} at character {exc.pos})"
        if isinstance(value, dict):
            return value, None
        return None, f"arguments must be a JSON object, got {type(value).__name__}"
    return None, f"arguments must be a JSON object, got {type(raw).__name__}"


def _failing(message: str) -> Any:
    async def cannot_run(**_: Any) -> None:
        raise ToolCallError(message)

    return cannot_run


def build_graph(calls: Sequence[Call], toolbox: Toolbox) -> tuple[Graph, list[str]]:
    """The batch as a graph; returns it and the node id of each call, by position."""
    ids = {c.call_id for c in calls}
    node_ids: list[str] = []
    problems: dict[str, str] = {}
    for k, call in enumerate(calls):
        node_id = call.call_id
        if node_id in node_ids or not node_id or any(ch in node_id for ch in ".${}"):
            node_id = f"_call{k}"
            problems[node_id] = f"call id {call.call_id!r} is unusable (a duplicate, or malformed)"
        node_ids.append(node_id)
        if node_id in problems:
            continue
        if call.problem:
            problems[node_id] = call.problem
        elif call.name not in toolbox:
            known = ", ".join(toolbox.names) or "none"
            problems[node_id] = f"unknown tool {call.name!r} (tools: {known})"
        else:
            for r in _refs.compile_args(call.arguments).refs:
                if r.node_id not in ids:
                    problems[node_id] = (
                        f"argument {r} refers to {r.node_id!r}, not a call of this batch"
                    )
    while True:
        graph = Graph()
        for call, node_id in zip(calls, node_ids, strict=True):
            if node_id in problems:
                graph.add(node_id, _failing(problems[node_id]))
            else:
                graph.add(node_id, toolbox[call.name], args=call.arguments)
        try:
            graph.validate()
            return graph, node_ids
        except CycleError as exc:  # those calls cannot run: tell the model why, run the rest
            for node_id in set(exc.cycle):
                problems[node_id] = (
                    f"calls reference each other in a cycle: {' -> '.join(exc.cycle)}"
                )
        except GraphError as exc:
            raise AssertionError(f"unexpected invalid batch graph: {exc}") from exc


async def execute_calls(
    calls: Sequence[Call],
    toolbox: Toolbox,
    options: RunOptions | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    **overrides: Unpack[RunOptionsArgs],
) -> tuple[list[Outcome], RunResult]:
    """Run a batch; one ``Outcome`` per call, in call order, and the ``RunResult``.

    Args:
        calls: the batch.
        toolbox: the tools the calls may name.
        options: how to run the batch's graph (a ``graphflow.RunOptions``).
        max_chars: the longest ``content`` of an outcome (longer is cut, with a note).
        **overrides: ``RunOptions`` fields as keywords, applied on top of ``options``.

    Raises:
        OptionError: an option is invalid (nothing ran).
    """
    opts = RunOptions.build(options, overrides)
    graph, node_ids = build_graph(calls, toolbox)
    result = await run(graph, opts)
    outcomes = []
    for call, node_id in zip(calls, node_ids, strict=True):
        r = result[node_id]
        outcomes.append(Outcome(call, r, content(r, call.name, max_chars)))
    return outcomes, result


def content(result: NodeResult, tool_name: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """What a model reads: the output (JSON unless a string), or ``Error: ...``."""
    if result.status is NodeStatus.SUCCEEDED:
        text = _as_text(result.output)
    elif result.status is NodeStatus.FAILED and result.error is not None:
        err = result.error
        if err.type == "TimeoutError" and err.message.startswith("timed out after"):
            text = f"Error: {tool_name} {err.message}"
        elif err.type == "ToolCallError":
            text = f"Error: {tool_name} was not called: {err.message}"
        elif err.type == "ToolArgumentError":
            text = f"Error: {err.message}"
        else:
            text = f"Error: {tool_name} failed: {err.type}: {err.message}"
    elif result.status is NodeStatus.SKIPPED:
        text = f"Error: {tool_name} was not run: {result.reason}"
    else:
        text = f"Error: {tool_name} was cancelled: {result.reason}"
    return truncate(text, max_chars)


def _as_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    dump = getattr(output, "model_dump", None)
    if callable(dump):
        output = dump(mode="json")
    try:
        return json.dumps(output, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(output)


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars``, with a note saying so."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[truncated: {len(text):,} characters in all, {max_chars:,} shown]"

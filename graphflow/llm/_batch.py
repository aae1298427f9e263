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

from graphflow import (
    CycleError,
    Graph,
    GraphError,
    NodeResult,
    NodeStatus,
    RunOptions,
    RunOptionsArgs,
    RunResult,
    ToolArgumentError,
    Toolbox,
    UnknownNodeError,
    run,
)
from graphflow.errors import NodeInputError

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
    """The batch as a graph; returns it and the node id of each call, by position.

    A call that cannot run (see the module docstring) becomes a node that
    records why, so that it still gets its one result; the graph is rebuilt
    until it validates, each time with the calls the last attempt blamed.
    """
    node_ids, problems = _node_ids(calls, toolbox)
    while True:
        graph = Graph()
        for call, node_id in zip(calls, node_ids, strict=True):
            _add_call(graph, node_id, call, toolbox, problems)
        try:
            graph.validate()
            return graph, node_ids
        except UnknownNodeError as exc:  # a reference to a call that is not in the batch
            problems[exc.node_id] = (
                f"an argument refers to {exc.missing!r}, not a call of this batch"
            )
        except CycleError as exc:  # those calls cannot run: tell the model why, run the rest
            for node_id in set(exc.cycle):
                problems[node_id] = (
                    f"calls reference each other in a cycle: {' -> '.join(exc.cycle)}"
                )
        except GraphError as exc:
            raise AssertionError(f"unexpected invalid batch graph: {exc}") from exc


def _node_ids(calls: Sequence[Call], toolbox: Toolbox) -> tuple[list[str], dict[str, str]]:
    """Each call's node id (its call id, when usable) and what is wrong with each call."""
    node_ids: list[str] = []
    problems: dict[str, str] = {}
    for k, call in enumerate(calls):
        node_id = call.call_id
        if not _usable(node_id, node_ids):
            node_id = f"_call{k}"  # a call id is the model's opaque string, not a node id
            while node_id in node_ids:
                node_id += "_"
            problems[node_id] = f"call id {call.call_id!r} is unusable (a duplicate, or malformed)"
        elif call.problem:
            problems[node_id] = call.problem
        elif call.name not in toolbox:
            known = ", ".join(toolbox.names) or "none"
            problems[node_id] = f"unknown tool {call.name!r} (tools: {known})"
        node_ids.append(node_id)
    return node_ids, problems


def _usable(call_id: str, taken: Sequence[str]) -> bool:
    """Whether ``call_id`` can be a node id: new, and accepted by ``Graph.add``'s rules."""
    if call_id in taken:
        return False
    try:
        Graph().add(call_id, _failing(""))
    except GraphError:
        return False
    return True


def _add_call(
    graph: Graph, node_id: str, call: Call, toolbox: Toolbox, problems: dict[str, str]
) -> None:
    """Add the call as a node, or, if it cannot run, a node recording why."""
    if node_id not in problems:
        try:
            graph.add(node_id, toolbox[call.name], args=call.arguments)
            return
        except GraphError as exc:  # a malformed reference ("${}") or an argument graphflow rejects
            problems[node_id] = str(exc)
    graph.add(node_id, _failing(problems[node_id]))


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
        if err.timed_out is not None:
            text = f"Error: {tool_name} timed out after {err.timed_out:g} s"
        elif isinstance(err.exception, ToolCallError):
            text = f"Error: {tool_name} was not called: {err.message}"
        elif isinstance(err.exception, ToolArgumentError):
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

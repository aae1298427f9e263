"""One batch of model tool calls as one graph, and its results as text a model reads.

Every call gets exactly one result, whatever goes wrong: arguments that are not
JSON, an unknown tool, a reference to a call that is not in the batch, calls
that reference each other in a cycle — each becomes an error result for that
call alone (and for the calls that needed it), never an exception that loses
the others and never a missing result, which would make the conversation
malformed. What the model sent is read by ``_input``, with limits.

A call's arguments may reference another call of the batch (``"${call_abc.user_id}"``):
that adds an edge, so independent calls run at once and chains run in order. A
reference names a call by its id or by its position in the batch, from 1
(``"${1.user_id}"``: hosted models cannot know the ids of the calls they are
writing, which the API assigns); an id wins over a position. A call id is the
model's opaque string: it is the call's node id when it can be one (no
whitespace, ``.``, ``$``, ``{`` or ``}``, not ``item``, at most 256 characters,
the first call with it); otherwise the call's node id is ``call N`` (its
position), and only its position can name it. A call is run whatever its id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Unpack

from graphflow import (
    CycleError,
    Graph,
    GraphError,
    NodeResult,
    NodeStatus,
    OptionError,
    RunOptions,
    RunOptionsArgs,
    RunResult,
    ToolArgumentError,
    Toolbox,
    compile_args,
    run,
)
from graphflow.errors import NodeInputError

from ._input import cut, quote, retarget

DEFAULT_MAX_CHARS = 20_000
_NODE_ID: Final = re.compile(r"[^\s.${}]{1,256}")


class ToolCallError(NodeInputError):
    """Recorded for a call that cannot run as given (bad JSON, unknown tool, bad reference)."""


@dataclass(slots=True)
class Call:
    """One tool call from a model: its id, the tool's name and the parsed arguments.

    Attributes:
        call_id: the model's id for the call, echoed in its result.
        name: the tool's name.
        arguments: the parsed arguments (a dict), or None when ``problem`` says why not.
        problem: why the call cannot run as given (it gets an error result).
        custom: an OpenAI custom (free-form) tool call, answered with an error.
    """

    call_id: str
    name: str
    arguments: Any = None
    problem: str | None = None
    custom: bool = False


@dataclass(slots=True)
class Outcome:
    """The result of one call, as a model will read it."""

    call: Call
    result: NodeResult
    content: str

    @property
    def is_error(self) -> bool:
        """Whether the call did not succeed (its content is an ``Error: ...`` text)."""
        return self.result.status is not NodeStatus.SUCCEEDED


def _failing(message: str) -> Any:
    async def cannot_run(**_: Any) -> None:
        raise ToolCallError(message)

    return cannot_run


def node_ids(calls: Sequence[Call]) -> list[str]:
    """Each call's node id: its call id if that can be one and is new, else ``call N``."""
    out: list[str] = []
    for position, call in enumerate(calls, 1):
        usable = call.call_id != "item" and _NODE_ID.fullmatch(call.call_id) is not None
        out.append(call.call_id if usable and call.call_id not in out else f"call {position}")
    return out  # "call N" holds a space, which a call id used as a node id cannot


def reference_names(calls: Sequence[Call], ids: Sequence[str]) -> dict[str, str]:
    """What a reference may name -> the node id: usable call ids, then positions from 1."""
    names = {c.call_id: n for c, n in zip(calls, ids, strict=True) if c.call_id == n}
    for position, node_id in enumerate(ids, 1):
        names.setdefault(str(position), node_id)  # an id wins over a position
    return names


def build_graph(calls: Sequence[Call], toolbox: Toolbox) -> tuple[Graph, list[str]]:
    """The batch as a graph; returns it and the node id of each call, by position.

    A call that cannot run (see the module docstring) becomes a node that
    records why, so that it still gets its one result; the graph is rebuilt
    until it validates, each time with the calls in the cycle it found.
    """
    ids = node_ids(calls)
    names = reference_names(calls, ids)
    prepared = [_prepare(call, names, toolbox) for call in calls]
    problems = {n: p for n, (_, p) in zip(ids, prepared, strict=True) if p is not None}
    while True:
        graph = Graph()
        for call, node_id, (args, _) in zip(calls, ids, prepared, strict=True):
            _add_call(graph, node_id, call, args, toolbox, problems)
        try:
            graph.validate()
            return graph, ids
        except CycleError as exc:  # those calls cannot run: tell the model why, run the rest
            for node_id in set(exc.cycle):
                cycle = cut(" -> ".join(exc.cycle), 400)
                problems[node_id] = f"calls reference each other in a cycle: {cycle}"


def _prepare(call: Call, names: Mapping[str, str], toolbox: Toolbox) -> tuple[Any, str | None]:
    """The call's arguments, references renamed to node ids; or why the call cannot run."""
    if call.problem is not None:
        return None, call.problem
    if not call.name:
        return None, "the call names no tool"
    if call.name not in toolbox:
        known = ", ".join(toolbox.names) or "none"
        return None, f"unknown tool {quote(call.name)} (tools: {known})"
    try:
        refs = compile_args(call.arguments).refs
    except ValueError as exc:  # "${}", "${a..b}"
        return None, cut(str(exc))
    for r in refs:
        if r.node_id not in names:
            return None, f"an argument refers to {quote(r.node_id)}, not a call of this batch"
    if all(names[r.node_id] == r.node_id for r in refs):
        return call.arguments, None
    return retarget(call.arguments, lambda head: names.get(head)), None


def _add_call(
    graph: Graph, node_id: str, call: Call, args: Any, toolbox: Toolbox, problems: dict[str, str]
) -> None:
    """Add the call as a node, or, if it cannot run, a node recording why."""
    if node_id not in problems:
        try:
            graph.add(node_id, toolbox[call.name], args=args)
            return
        except GraphError as exc:  # an argument graphflow rejects
            problems[node_id] = cut(str(exc))
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
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 0:
        raise OptionError("max_chars", max_chars, "expected an int >= 0")
    graph, ids = build_graph(calls, toolbox)
    result = await run(graph, opts)
    outcomes = []
    for call, node_id in zip(calls, ids, strict=True):
        r = result[node_id]
        outcomes.append(Outcome(call, r, content(r, cut(call.name) or "(unnamed)", max_chars)))
    return outcomes, result


def content(result: NodeResult, tool_name: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """What a model reads: the output (JSON unless a string), or ``Error: ...``.

    Args:
        result: the call's node result.
        tool_name: the tool's name, as the model wrote it.
        max_chars: the longest text returned (longer is cut, with a note).

    Returns:
        The text, at most ``max_chars`` characters.
    """
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
    """The output as text: itself if a string, else JSON, else ``str``, else its type."""
    if isinstance(output, str):
        return output
    try:
        dump = getattr(output, "model_dump", None)
        if callable(dump):
            output = dump(mode="json")
        return json.dumps(output, ensure_ascii=False, default=str)
    except Exception:  # not JSON: a cycle, a 5,000-digit int, 100,000 levels of lists
        pass
    try:
        return str(output)
    except Exception:
        return f"[output of type {type(output).__name__}, which cannot be shown as text]"


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, ending with a note saying so.

    The note is left out when ``max_chars`` leaves no room for it.
    """
    if len(text) <= max_chars:
        return text
    room = max_chars - len(_note(len(text), max_chars))
    if room <= 0:
        return text[:max_chars]
    return text[:room] + _note(len(text), room)


def _note(total: int, shown: int) -> str:
    return f"\n[truncated: {total:,} characters in all, {shown:,} shown]"

"""Errors graphflow raises, and the one it records.

Raised errors are the caller's mistake, found before anything runs::

    GraphError
     +-- CycleError          .cycle     "cycle: a -> b -> c -> a"
     +-- UnknownNodeError    .node_id, .missing
     +-- DuplicateNodeError  .node_id
     +-- SpecError           .path, .line, .column, .key
     +-- ToolNotFoundError   .name, .close_matches
     +-- OptionError         .option, .value
     +-- EventSinkError      .sink, .error, .result   (raised after the run)

Recorded errors are what a tool (or resolving its arguments) raised while the
graph ran: they become a ``NodeError`` in that node's ``NodeResult`` and never
escape ``run``. Those graphflow raises itself derive from ``NodeInputError``
(never retried): ``ReferenceResolutionError``, when a ``${node.path}`` does not
exist in the upstream output, and ``ToolArgumentError``, when arguments do not
validate against a tool's type hints.

This module is a leaf: it imports nothing from graphflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotation only: this module imports nothing from graphflow
    from ._results import RunResult


class GraphError(Exception):
    """Base of every error graphflow raises for a bad graph or workflow."""


class CycleError(GraphError):
    """The graph has a cycle; ``cycle`` lists it with the first node repeated last."""

    def __init__(self, cycle: Sequence[str], detail: str = "") -> None:
        self.cycle: list[str] = list(cycle)
        message = _cycle_text(self.cycle)
        super().__init__(message + (f" ({detail})" if detail else ""))


def _cycle_text(cycle: Sequence[str]) -> str:
    """``cycle: a -> b -> a``; a long one keeps both ends and says how long it is
    (``cycle of 5,000 nodes: n0 -> n1 -> n2 -> n3 -> … -> n4998 -> n4999 -> n0``)."""
    count = len(cycle) - 1
    if count <= _CYCLE_SHOWN:
        return "cycle: " + " -> ".join(cycle)
    shown = [*cycle[:4], "…", *cycle[-3:]]
    return f"cycle of {count:,} nodes: " + " -> ".join(shown)


_CYCLE_SHOWN = 8  # nodes of a cycle named in full; a longer one: its ends


class UnknownNodeError(GraphError):
    """``node_id`` depends on or references ``missing``, which is not in the graph."""

    def __init__(self, node_id: str, missing: str, how: str = "depends on") -> None:
        self.node_id = node_id
        self.missing = missing
        super().__init__(f"node {node_id!r} {how} unknown node {missing!r}")


class DuplicateNodeError(GraphError):
    """A node id was added twice."""

    def __init__(self, node_id: str, taken_by: str | None = None) -> None:
        self.node_id = node_id
        if taken_by is None:
            super().__init__(f"duplicate node id {node_id!r}: node ids must be unique")
        else:  # (an id the graph makes itself: a for_each item's)
            super().__init__(f"node id {node_id!r} is taken: it names {taken_by}")


class SpecError(GraphError):
    """A workflow file or node spec is invalid at ``path``:``line``:``column``, key ``key``."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.key = key
        self.reason = message
        where = path or ""
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}" if where else message)


class ToolNotFoundError(GraphError):
    """No tool is registered under ``name``; ``close_matches`` lists likely typos."""

    def __init__(self, name: str, close_matches: Sequence[str] = (), where: str = "") -> None:
        self.name = name
        self.close_matches = list(close_matches)
        hint = (
            f" (did you mean {', '.join(map(repr, self.close_matches))}?)" if close_matches else ""
        )
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}unknown tool {name!r}{hint}")


class OptionError(GraphError, ValueError):
    """A run option is invalid: ``option`` names it, ``value`` is what was given.

    Also a ``ValueError``, as the bare errors it replaces were.
    """

    def __init__(self, option: str, value: object, expected: str, got: str | None = None) -> None:
        self.option = option
        self.value = value
        super().__init__(f"option {option}: {expected}, got {got or _quoted(value)}")


class EventSinkError(GraphError):
    """An essential event sink failed, so the run was stopped.

    Raised by ``run`` after every node has a result: ``result`` holds them
    (``RunResult``), ``sink`` is the sink and ``error`` what it raised.
    """

    def __init__(self, sink: object, error: BaseException, result: RunResult | None = None) -> None:
        self.sink = sink
        self.error = error
        self.result = result
        super().__init__(
            f"essential event sink {_quoted(sink)} failed: {type(error).__name__}: "
            f"{_cut(str(error), 200)}; the run was stopped"
        )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quoted(value: object, limit: int = 120) -> str:
    """``repr(value)`` cut to ``limit`` characters: messages never echo unbounded input."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return _cut(text, limit)


class NodeInputError(Exception):
    """Recorded, never raised by ``run``: a node's input is wrong, so retrying cannot help."""


class ReferenceResolutionError(NodeInputError, LookupError):
    """Recorded, never raised by ``run``: a reference's path is not in the upstream output."""

    def __init__(self, reference: str, detail: str) -> None:
        self.reference = reference
        super().__init__(f"cannot resolve {reference}: {detail}")


class ResourceKeyError(NodeInputError, KeyError):
    """A ``writes``/``reads`` template names an argument the node was not given."""

    def __str__(self) -> str:
        return str(self.args[0])

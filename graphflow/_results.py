"""What a run records: one ``NodeResult`` per node, gathered in a ``RunResult``.

Every state transition is also an ``Event`` handed to the run's observers (the
log, a live view, a run store): the one seam through which state leaves a run.
"""

from __future__ import annotations

import traceback as _traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, final


class NodeStatus(StrEnum):
    """How a node ended. Compares equal to its string value."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class EventKind(StrEnum):
    """The dotted names of run and node events (also the structlog event names)."""

    RUN_STARTED = "run.started"
    NODE_STARTED = "node.started"
    NODE_RETRYING = "node.retrying"
    NODE_SUCCEEDED = "node.succeeded"
    NODE_FAILED = "node.failed"
    NODE_SKIPPED = "node.skipped"
    NODE_CANCELLED = "node.cancelled"
    RUN_FINISHED = "run.finished"


FINISHED_EVENT = {
    NodeStatus.SUCCEEDED: EventKind.NODE_SUCCEEDED,
    NodeStatus.FAILED: EventKind.NODE_FAILED,
    NodeStatus.SKIPPED: EventKind.NODE_SKIPPED,
    NodeStatus.CANCELLED: EventKind.NODE_CANCELLED,
}


@final
@dataclass(slots=True)
class NodeError:
    """A structured record of what a node raised.

    ``type`` is the exception's class name, ``message`` its text, ``traceback``
    the formatted traceback; ``exception`` is the object itself (not serialised).
    """

    type: str
    message: str
    traceback: str = ""
    timed_out: float | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_exception(
        cls, exc: BaseException, message: str | None = None, *, timed_out: float | None = None
    ) -> NodeError:
        """Record ``exc``; ``message`` overrides its text (e.g. to name a timeout)."""
        text = "".join(_traceback.format_exception(exc))
        text_message = str(exc) if message is None else message
        return cls(type(exc).__name__, text_message, text, timed_out, exc)

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}


class Attempt(NamedTuple):
    """One call of a node's tool: when it began and ended, and what it raised."""

    started_at: float
    finished_at: float
    error: NodeError | None = None


@final
class DependencyIndex:
    """Node ``ids[i]`` waited for ``ids[j]`` for each j in ``rows[i]``."""

    __slots__ = ("ids", "rows")

    def __init__(self, ids: Sequence[str], rows: Sequence[Sequence[int]]) -> None:
        self.ids = ids
        self.rows = rows

    def as_dict(self) -> dict[str, tuple[str, ...]]:
        ids = self.ids
        return {ids[i]: tuple(ids[j] for j in row) for i, row in enumerate(self.rows)}


@final
@dataclass(slots=True)
class NodeResult:
    """The outcome of one node.

    Attributes:
        node_id: the node.
        status: succeeded, failed, skipped or cancelled.
        output: what the tool returned (None unless succeeded).
        error: what it raised on its last attempt (failed or cancelled nodes).
        attempts: how many times the tool was called (0 if it never started).
        started_at: wall-clock time (``time.time()``) of the first attempt, or None.
        finished_at: wall-clock time the result was recorded.
        reason: why a node was skipped or cancelled, naming the node that caused it.
    """

    node_id: str
    status: NodeStatus
    output: Any = None
    error: NodeError | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = None
    history: tuple[Attempt, ...] = ()

    @property
    def duration(self) -> float | None:
        """Seconds from the first attempt's start to the end (None if it never started)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def ok(self) -> bool:
        return self.status is NodeStatus.SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the output is left as it is)."""
        return {
            "node_id": self.node_id,
            "status": str(self.status),
            "output": self.output,
            "error": self.error.to_dict() if self.error else None,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "reason": self.reason,
        }


@final
class RunResult(Mapping[str, NodeResult]):
    """node id -> ``NodeResult`` for every node of a run, in the graph's order."""

    __slots__ = ("run_id", "started_at", "finished_at", "_results", "_upstream")

    def __init__(
        self,
        run_id: str,
        results: dict[str, NodeResult],
        started_at: float,
        finished_at: float,
        dependencies: DependencyIndex | None = None,
    ) -> None:
        self.run_id = run_id
        self.started_at = started_at
        self.finished_at = finished_at
        self._results = results
        self._upstream = dependencies

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """node id -> the node ids it waited for, including nodes a for_each added at run time."""
        return self._upstream.as_dict() if self._upstream is not None else {}

    def __getitem__(self, node_id: str) -> NodeResult:
        return self._results[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={n}" for s, n in self.counts().items() if n)
        return f"<RunResult {self.run_id} ok={self.ok} {counts}>"

    @property
    def ok(self) -> bool:
        """True only when every node succeeded."""
        return all(r.status is NodeStatus.SUCCEEDED for r in self._results.values())

    @property
    def duration(self) -> float:
        """Wall-clock seconds the run took."""
        return self.finished_at - self.started_at

    def counts(self) -> dict[NodeStatus, int]:
        """How many nodes ended in each status."""
        counts = dict.fromkeys(NodeStatus, 0)
        for r in self._results.values():
            counts[r.status] += 1
        return counts

    def by_status(self, status: NodeStatus | str) -> list[NodeResult]:
        """The results with ``status``, in graph order."""
        return [r for r in self._results.values() if r.status == status]

    def outputs(self) -> dict[str, Any]:
        """node id -> output of every node that succeeded."""
        return {k: r.output for k, r in self._results.items() if r.status is NodeStatus.SUCCEEDED}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole run."""
        return {
            "run_id": self.run_id,
            "ok": self.ok,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "nodes": {k: r.to_dict() for k, r in self._results.items()},
        }


@final
@dataclass(slots=True)
class Event:
    """One state transition, handed to every observer of the run.

    ``result`` is set on the four node-finished kinds; ``error`` and ``delay``
    on ``node.retrying`` (the error of the failed attempt, the backoff in seconds).
    """

    kind: EventKind
    run_id: str
    time: float
    node_id: str | None = None
    attempt: int = 0
    result: NodeResult | None = None
    error: NodeError | None = None
    delay: float | None = None

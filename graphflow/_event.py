"""Events: every state transition of a run, handed to its sinks (``EventSink``).

The one seam through which state leaves a run: the log, a live view, a run
store, a tracer all read ``Event`` objects, whose ``kind`` is a dotted name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import final

from ._results import NodeError, NodeResult, NodeStatus


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

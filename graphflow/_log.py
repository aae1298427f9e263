"""graphflow's structlog events, as one observer of a run.

The library never configures logging (nor imports structlog). Until the application configures
structlog (any ``structlog.configure(...)``; the CLI does), graphflow emits
nothing and pays nothing: the scheduler asks ``observer()`` once per run and,
when it returns None, never builds an event. Node start/success events are
logged at debug level, retries and skips at info, failures at warning.
"""

from __future__ import annotations

import sys
from typing import Any

from ._event import Event, EventKind

_LEVEL = {
    EventKind.RUN_STARTED: "info",
    EventKind.NODE_STARTED: "debug",
    EventKind.NODE_RETRYING: "info",
    EventKind.NODE_SUCCEEDED: "debug",
    EventKind.NODE_FAILED: "warning",
    EventKind.NODE_SKIPPED: "info",
    EventKind.NODE_CANCELLED: "info",
    EventKind.RUN_FINISHED: "info",
}


class LogObserver:
    """Turns run events into structlog calls bound with the run id."""

    __slots__ = ("_log",)

    def __init__(self, run_id: str) -> None:
        import structlog

        self._log = structlog.get_logger("graphflow").bind(run_id=run_id)

    def __call__(self, event: Event) -> None:
        fields: dict[str, Any] = {}
        if event.node_id is not None:
            fields["node_id"] = event.node_id
        if event.attempt:
            fields["attempt"] = event.attempt
        result = event.result
        if result is not None:
            if result.duration is not None:
                fields["duration"] = round(result.duration, 6)
            if result.error is not None:
                fields["error"] = str(result.error)
            if result.reason:
                fields["reason"] = result.reason
        if event.error is not None:
            fields["error"] = str(event.error)
        if event.delay is not None:
            fields["delay"] = round(event.delay, 3)
        getattr(self._log, _LEVEL[event.kind])(str(event.kind), **fields)


def observer(run_id: str) -> LogObserver | None:
    """A log observer for this run, or None while structlog is unconfigured.

    An application that configured structlog has imported it, so graphflow
    looks in ``sys.modules`` and never imports structlog (or what it pulls in)
    itself.
    """
    structlog = sys.modules.get("structlog")
    if structlog is None or not structlog.is_configured():
        return None
    return LogObserver(run_id)

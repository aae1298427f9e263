"""What ``graphflow run`` says while it runs: one short line per event that
matters on stderr, and on request the full JSON event stream.

Levels, lowest first: ``debug`` (every start and success), ``info`` (the run
starting and finishing, skips, cancellations), ``warning`` (retries), ``error``
(failures). The default is ``warning``; ``-v`` is ``info``, ``-vv`` ``debug``,
``--quiet`` ``error`` (and no summary). The JSON stream (``--log-json``) is
every event, whatever the level, as structlog renders it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Final, TextIO

from graphflow import Event, EventKind, NodeError

from . import UsageError

LEVELS: Final = {"debug": 10, "info": 20, "warning": 30, "error": 40}

_LEVEL_OF: Final = {
    EventKind.RUN_STARTED: "info",
    EventKind.NODE_STARTED: "debug",
    EventKind.NODE_RETRYING: "warning",
    EventKind.NODE_SUCCEEDED: "debug",
    EventKind.NODE_FAILED: "error",
    EventKind.NODE_SKIPPED: "info",
    EventKind.NODE_CANCELLED: "info",
    EventKind.RUN_FINISHED: "info",
}
MAX_DETAIL: Final = 300
"""Characters of an error or reason shown on one event line."""


def level_of(verbose: int, quiet: bool, explicit: str | None) -> str:
    """The event-line level from ``--log-level``, else ``-v``/``-vv``/``--quiet``."""
    if explicit is not None:
        return explicit
    if quiet:
        return "error"
    return ("warning", "info", "debug")[min(verbose, 2)]


class EventLines:
    """An ``EventSink`` writing one short line per event at or above ``level``.

    An event below the level costs one set lookup: at the default level a
    run's starts and successes (all but a few of its events) do no other work.

    Args:
        level: a key of ``LEVELS``.
        stream: returns the stream to write to, looked up at each line (a live
            view replaces ``sys.stderr`` while it runs, to print above itself).
        hide: applied to each line before it is written (the workflow's ``redact``).
    """

    def __init__(
        self,
        level: str,
        stream: Callable[[], TextIO] = lambda: sys.stderr,
        hide: Callable[[str], str] = lambda text: text,
    ) -> None:
        threshold = LEVELS[level]
        self.kinds = frozenset(k for k, name in _LEVEL_OF.items() if LEVELS[name] >= threshold)
        self.stream = stream
        self.hide = hide
        self.started = time.monotonic()

    def __call__(self, event: Event) -> None:
        if event.kind not in self.kinds:
            return
        elapsed = time.monotonic() - self.started
        line = self.hide(f"[{elapsed:7.2f} s] {describe(event)}")
        print(line, file=self.stream(), flush=True)


def describe(event: Event) -> str:
    """One line saying what ``event`` means."""
    kind, node, result = event.kind, event.node_id, event.result
    if kind is EventKind.RUN_STARTED:
        return f"run {event.run_id} started"
    if kind is EventKind.RUN_FINISHED:
        return f"run {event.run_id} finished"
    if kind is EventKind.NODE_STARTED:
        return f"started {node}" + (f" (attempt {event.attempt})" if event.attempt > 1 else "")
    if kind is EventKind.NODE_RETRYING:
        delay = f"{event.delay:.2f} s" if event.delay is not None else "a moment"
        return f"retrying {node} in {delay}: attempt {event.attempt} failed: {_error(event.error)}"
    assert result is not None  # the four node-finished kinds carry their result
    took = f" after {result.duration:.2f} s" if result.duration is not None else ""
    if kind is EventKind.NODE_SUCCEEDED:
        return f"succeeded {node}{took}"
    if kind is EventKind.NODE_FAILED:
        return f"failed {node}{took}: {_error(result.error)}"
    verb = "skipped" if kind is EventKind.NODE_SKIPPED else "cancelled"
    return f"{verb} {node}: {_short(result.reason or '')}"


def _error(error: NodeError | None) -> str:
    if error is None:
        return "failed"
    return _short(f"{error.type}: {error.message}" if error.message else error.type)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


@contextlib.contextmanager
def json_event_stream(
    target: str | None, hide: Callable[[str], str] = lambda text: text
) -> Iterator[TextIO | None]:
    """Every event of the run as one JSON line on ``target`` (a file, or ``-``: stderr),
    each line passed through ``hide`` (the workflow's ``redact``) once rendered.

    structlog is configured only inside this block and reset after it: the
    library never configures logging, and with none configured it emits nothing.

    Yields:
        The stream written to (None without a target), for a caller that must
        flush it before exiting at once.
    """
    if target is None:
        yield None
        return
    import structlog

    stream, close = _open(target)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(default=repr),
            _after_rendering(hide),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        stream.flush()
        if close:
            stream.close()


def _after_rendering(hide: Callable[[str], str]) -> Callable[[Any, str, Any], Any]:
    """A structlog processor for after the renderer: ``hide`` on the rendered line."""

    def processor(_logger: Any, _method: str, line: Any) -> Any:
        return hide(line) if isinstance(line, str) else line

    return processor


def _open(target: str) -> tuple[TextIO, bool]:
    if target == "-":
        return sys.stderr, False
    try:
        return open(target, "w", encoding="utf-8"), True
    except OSError as exc:
        raise UsageError(f"--log-json {target}: {exc.strerror or exc}") from None

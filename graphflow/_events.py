"""Delivering a run's events to its sinks (``EventSink``), and closing them.

Plain-function sinks are called inline, on the loop, as each transition
happens (cheap: no task, no queue). An ``async def`` sink gets a queue and a
task of its own that awaits it one event at a time, in order, so a slow sink
never holds a node back; its task is shielded and ends when the run has
emitted its last event, so a cancelled run still delivers ``run.finished``.
After the last event every sink's ``aclose()`` (if it has one) is awaited.

A sink that raises: if it declares ``essential = True``, the run is stopped
(``stop``) and ``run`` raises ``EventSinkError`` once every node has a result;
otherwise a ``RuntimeWarning`` names it and the run goes on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Final

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._event import Event
from ._log import observer as log_observer
from ._results import RunResult
from ._spec import is_async_callable
from ._types import EventSink
from .errors import EventSinkError

CANCEL_GRACE: Final = 10.0
"""Seconds an ``async def`` sink may still take, once its run was cancelled, to
catch up with the events queued for it (then the rest are dropped, with a
warning): a cancelled run must end even if a sink hangs."""


class Sinks:
    """The sinks of one run (the structlog observer included, when logging is on)."""

    def __init__(self, sinks: Sequence[EventSink], run_id: str) -> None:
        log = log_observer(run_id)
        everything = (*sinks, log) if log is not None else tuple(sinks)
        self.inline = [s for s in everything if not is_async_callable(s)]
        self.queued = [s for s in everything if is_async_callable(s)]
        self.all = everything
        self.failure: tuple[EventSink, BaseException] | None = None
        self.stop: Callable[[str], None] | None = None  # set by the run: stops it
        self._sends: list[MemoryObjectSendStream[Event]] = []
        self._scopes: list[anyio.CancelScope] = []

    def __bool__(self) -> bool:
        return bool(self.all)

    def emit(self, event: Event) -> None:
        """Hand ``event`` to every sink (queued ones receive it in their own task)."""
        for sink in self.inline:
            try:
                sink(event)
            except Exception as exc:
                self._failed(sink, exc)
        for send in self._sends:
            send.send_nowait(event)

    def start(self, tg: TaskGroup) -> None:
        """Start one delivery task per ``async def`` sink in ``tg``."""
        for sink in self.queued:
            send, receive = anyio.create_memory_object_stream[Event](math.inf)
            self._sends.append(send)
            scope = anyio.CancelScope(shield=True)  # ends when the run closes the stream
            self._scopes.append(scope)
            tg.start_soon(self._deliver, sink, receive, scope)

    async def aclose(self, cancelled: bool = False) -> None:
        """After the last event: close inline sinks; queued ones close once caught up.

        Args:
            cancelled: the run was cancelled: queued sinks get ``CANCEL_GRACE``
                seconds to catch up, not forever.
        """
        for send in self._sends:
            send.close()  # each delivery task ends once it has taken what was sent
        self._sends = []
        if cancelled:
            for scope in self._scopes:
                scope.deadline = anyio.current_time() + CANCEL_GRACE
        for sink in self.inline:
            with anyio.CancelScope(shield=True):
                await self._close(sink)

    def raise_failure(self, result: RunResult) -> None:
        """Raise ``EventSinkError`` if an essential sink failed during the run."""
        if self.failure is not None:
            sink, error = self.failure
            raise EventSinkError(sink, error, result) from error

    async def _deliver(
        self, sink: EventSink, receive: MemoryObjectReceiveStream[Event], scope: anyio.CancelScope
    ) -> None:
        with receive:
            with scope:
                broken = False
                async for event in receive:
                    if broken:
                        continue
                    try:
                        await _awaited(sink(event))
                    except Exception as exc:
                        broken = _is_essential(sink)
                        self._failed(sink, exc)
            if scope.cancelled_caught:
                left = receive.statistics().current_buffer_used
                warnings.warn(
                    f"graphflow event sink {_name(sink)} dropped {left} events: "
                    f"still busy {CANCEL_GRACE:g} s after its run was cancelled",
                    RuntimeWarning,
                    stacklevel=1,
                )
            with anyio.CancelScope(shield=True):
                await self._close(sink)  # after its last event, not before

    async def _close(self, sink: EventSink) -> None:
        close = getattr(sink, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception as exc:
                self._failed(sink, exc)

    def failed(self, sink: EventSink, exc: BaseException) -> None:
        """``sink`` failed outside its delivery (a run journal's commit): as if it had raised."""
        self._failed(sink, exc)

    def _failed(self, sink: EventSink, exc: BaseException) -> None:
        if not _is_essential(sink):
            warnings.warn(
                f"graphflow event sink {_name(sink)} raised {_name(exc)}",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        if self.failure is None:
            self.failure = (sink, exc)
            if self.stop is not None:
                self.stop(f"essential event sink failed: {type(exc).__name__}: {exc}"[:300])


def _name(value: object) -> str:
    """A bounded ``repr``: a warning never echoes unbounded text."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:199] + "…"


def _is_essential(sink: object) -> bool:
    return getattr(sink, "essential", False) is True


async def _awaited(value: Any) -> None:
    if value is not None:
        await value

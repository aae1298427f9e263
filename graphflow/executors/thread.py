"""The default executor: plain functions in worker threads."""

from __future__ import annotations

import inspect
import math
import threading
from types import TracebackType
from typing import Any, Final, final

import anyio
import anyio.to_thread

from .._context import ENTERING
from .._types import NodeCall, ToolFn

_NEW, _RUNNING, _DONE, _DROPPED = range(4)

MAX_THREADS: Final = 256
"""Threads of the default executor when ``concurrency`` is ``math.inf``: plain
functions then run as wide as the graph allows, up to this many at once (each
thread reserves its own stack; the run's cap is the limit otherwise)."""


class _Entry:
    """A run's entry (``async with``; the owner's, outside any run, is keyed None):
    its calls now in threads, and how many times it is entered."""

    __slots__ = ("depth", "running")

    def __init__(self) -> None:
        self.depth = 0
        self.running = 0


class _Call:
    __slots__ = ("entry", "state")

    def __init__(self, entry: _Entry) -> None:
        self.state = _NEW
        self.entry = entry


class _Raised:
    """A ``BaseException`` (``SystemExit``, ``GeneratorExit``...) a tool raised in its
    thread, carried back to the loop as a value: raised in the worker thread itself,
    it would take anyio's thread machinery down instead of failing one node."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


@final
class ThreadExecutor:
    """Run each call in an anyio worker thread, so that no tool blocks the loop.

    A thread cannot be interrupted, so when a node times out or is cancelled
    the node is recorded at once and its thread is *abandoned* — but not
    orphaned: leaving the executor (at the end of every run, shielded) waits
    until every such thread has returned, so no thread outlives the run. A
    call abandoned before its thread picked it up never starts the tool.

    Runs may share one (``RunOptions(executor=...)``): ``threads`` then caps their
    calls together, and each run's exit waits for its own calls' threads only.
    Those runs must run on one event loop (another thread's loop is refused with
    ``RuntimeError``), unless ``threads`` is None.

    Args:
        threads: the most calls running in threads at once (None: anyio's
            default limiter, 40 threads). graphflow's default executor gets the
            run's ``concurrency``, or ``MAX_THREADS`` (256) when that is
            ``math.inf``. A call abandoned by its timeout or a cancellation
            gives its place back at once: its thread, which cannot be stopped,
            runs on beside the cap until the tool returns (holding the place
            instead would let tools that hang stall every call).
    """

    __slots__ = (
        "_cond",
        "_entered",
        "_entries",
        "_leaving",
        "_limiter",
        "_loop_thread",
        "_outside",
        "_spare",
        "_threads",
    )

    waits_for_capacity: Final = True  # with ``threads``, a call's timeout counts once it has one

    def __init__(self, threads: int | None = None) -> None:
        if threads is not None and (isinstance(threads, bool) or threads < 1):
            raise ValueError(f"threads must be an int >= 1 or None, got {threads!r}")
        self._threads = threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._spare: anyio.CapacityLimiter | None = None
        # All below guarded by ``_cond``, as are each ``_Call`` and ``_Entry``.
        self._entered = 0  # ``async with`` blocks open (runs sharing it), all on one loop
        self._leaving = 0  # exits waiting for their calls' threads (on the same limiters)
        self._loop_thread = 0  # the thread whose loop they run on, while either
        self._entries: dict[str | None, _Entry] = {}  # by run id (``ENTERING``)
        self._outside = _Entry()  # calls of no run that entered it
        self._cond = threading.Condition()

    async def __aenter__(self) -> ThreadExecutor:
        """Enter for a run.

        Raises:
            RuntimeError: with ``threads``, runs on another thread's event loop are inside.
        """
        here = threading.get_ident()
        with self._cond:
            busy = self._entered or self._leaving
            if busy and here != self._loop_thread and self._threads is not None:
                raise RuntimeError(
                    "this ThreadExecutor is in use by a run on another thread's event loop:"
                    " give each thread's runs a ThreadExecutor of their own"
                )
            if not busy:
                self._loop_thread = here
                if self._threads is not None:  # limiters of this event loop, shared by its runs
                    self._limiter = anyio.CapacityLimiter(self._threads)
                    # (``call``, for calls with a timeout: they hold ``_limiter``; on trio a
                    # thread keeps its token until it returns, even after its call is gone)
                    self._spare = anyio.CapacityLimiter(math.inf)
            self._entered += 1
            entry = self._entries.setdefault(ENTERING.get(), _Entry())
            entry.depth += 1
            self._cond.notify_all()  # (a last one out waiting for calls of no run: not last now)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave; wait until the calls of this entry's run (and, for the last one out,
        calls of no run) have returned from their threads."""
        run = ENTERING.get()
        with self._cond:
            entry = self._entries.get(run, self._outside)
            entry.depth -= 1
            if entry.depth <= 0:
                self._entries.pop(run, None)
            self._entered -= 1
            self._leaving += 1
            wait = entry.running or (not self._entered and self._outside.running)
        try:
            if wait:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._wait_idle, entry)
        finally:
            with self._cond:
                self._leaving -= 1

    async def call(self, call: NodeCall) -> Any:
        """Run ``call.tool(**call.arguments)`` in a worker thread."""
        state = _Call(self._entries.get(call.run_id, self._outside))
        try:
            if call.began is None:
                result = await self._to_thread(state, call, self._limiter)
            elif self._limiter is None:  # (anyio's default limiter: its wait counts)
                call.began()
                result = await self._to_thread(state, call, None)
            else:  # a timeout: it counts from when a thread is free, not while queued
                async with self._limiter:
                    call.began()
                    result = await self._to_thread(state, call, self._spare)
        except BaseException:
            with self._cond:
                if state.state == _NEW:
                    state.state = _DROPPED
            raise
        if isinstance(result, _Raised):
            raise result.exc
        if inspect.isawaitable(result):  # a plain function that returned a coroutine
            return await result
        return result

    async def _to_thread(
        self, state: _Call, call: NodeCall, limiter: anyio.CapacityLimiter | None
    ) -> Any:
        return await anyio.to_thread.run_sync(
            self._in_thread,
            state,
            call.tool,
            call.arguments,
            abandon_on_cancel=True,
            limiter=limiter,
        )

    def _in_thread(self, call: _Call, tool: ToolFn, kwargs: Any) -> Any:
        with self._cond:
            if call.state == _DROPPED:
                return None
            call.state = _RUNNING
            call.entry.running += 1
        try:
            return tool(**kwargs)
        except Exception:
            raise
        except BaseException as exc:
            return _Raised(exc)
        finally:
            with self._cond:
                call.state = _DONE
                call.entry.running -= 1
                self._cond.notify_all()

    def _wait_idle(self, entry: _Entry) -> None:
        """Until ``entry``'s calls (and, for the last one out, those made outside any
        entry) have returned."""
        outside = self._outside
        with self._cond:
            self._cond.wait_for(
                lambda: not entry.running and (self._entered or not outside.running)
            )

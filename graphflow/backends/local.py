"""The default backend: coroutines on the loop, plain functions in threads."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.to_thread

from .._types import ToolFn

_NEW, _RUNNING, _DONE, _DROPPED = range(4)


class _Call:
    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = _NEW


class LocalBackend:
    """Await async tools directly; run sync tools in anyio worker threads.

    A thread cannot be interrupted, so when a sync tool's node times out or is
    cancelled, the node is recorded at once and its thread is *abandoned* — but
    not orphaned: ``aclose`` (called at the end of every run, shielded) waits
    until every such thread has returned, so no thread outlives the run. A call
    abandoned before its thread picked it up never starts the tool at all.

    Args:
        threads: the most sync tools running in threads at once (None: anyio's
            default limiter, 40 threads).
    """

    __slots__ = ("_cond", "_limiter", "_running")

    def __init__(self, threads: int | None = None) -> None:
        self._limiter = anyio.CapacityLimiter(threads) if threads else None
        self._running = 0
        self._cond = threading.Condition()

    async def call(self, tool: ToolFn, kwargs: Mapping[str, Any], is_async: bool) -> Any:
        if is_async:
            return await tool(**kwargs)
        call = _Call()
        try:
            result = await anyio.to_thread.run_sync(
                self._in_thread, call, tool, kwargs, abandon_on_cancel=True, limiter=self._limiter
            )
        except BaseException:
            with self._cond:
                if call.state == _NEW:
                    call.state = _DROPPED
            raise
        if inspect.isawaitable(result):  # a plain function that returned a coroutine
            return await result
        return result

    def _in_thread(self, call: _Call, tool: ToolFn, kwargs: Mapping[str, Any]) -> Any:
        with self._cond:
            if call.state == _DROPPED:
                return None
            call.state = _RUNNING
            self._running += 1
        try:
            return tool(**kwargs)
        finally:
            with self._cond:
                call.state = _DONE
                self._running -= 1
                self._cond.notify_all()

    async def aclose(self) -> None:
        if self._running:
            await anyio.to_thread.run_sync(self._wait_idle)

    def _wait_idle(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._running == 0)

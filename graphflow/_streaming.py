"""``Scheduler``: a graph that grows while it runs.

    async with graphflow.Scheduler(concurrency=8) as s:
        s.add("user", find_user, args={"email": e})
        s.add("orders", fetch_orders, args={"user_id": "${user.id}"})
        async for result in s.results():      # completion order
            ...
        run_result = await s.wait()

``add`` may be called at any time, also from inside a running tool (follow-up
work): a node whose upstream is already done starts at once. Each ``add`` is
validated against what is known: an unknown reference or a duplicate id is
raised to the caller that added it. As references can only name nodes that
already exist, no cycle can form.

When is it done? By default, when every node added so far has finished. With
``streaming=True`` (a planner that is still writing), only once ``close()`` has
been called as well.
"""

from __future__ import annotations

import math
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Final, Unpack

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._event import Event
from ._graph import Plan
from ._options import RunOptions, RunOptionsArgs
from ._results import NodeResult, RunResult
from ._scheduler import open_run
from ._spec import NodeSpec, Retry, Trigger, build_spec
from ._state import RunState
from ._types import NodeId, ToolFn
from .errors import GraphError

_DONE: Final = object()


class Scheduler:
    """Run nodes as they are added; stream their results; return a ``RunResult``.

    Args:
        options: a ``RunOptions`` (``overrides`` are its fields as keywords,
            applied on top, as for ``graphflow.run``).
        streaming: be done only once ``close()`` has been called too.

    A stop (``fail_fast``, an essential event sink failing) cancels the body
    of the ``async with`` block too, as cancelling any task group does: code
    after ``await s.wait()`` does not run, and the block exits normally with
    every node's result in ``s.result``.
    """

    def __init__(
        self,
        options: RunOptions | None = None,
        *,
        streaming: bool = False,
        **overrides: Unpack[RunOptionsArgs],
    ) -> None:
        opts = RunOptions.build(options, overrides)
        self._pools = dict(opts.limits)
        self._options = opts.replace(observers=(*opts.observers, self._observe))
        self._streaming = streaming
        self._closed = False
        self._done = anyio.Event()
        self._send: MemoryObjectSendStream[Any]
        self._receive: MemoryObjectReceiveStream[Any]
        self._send, self._receive = anyio.create_memory_object_stream[Any](math.inf)
        self._stack: AsyncExitStack | None = None
        self._state: RunState | None = None

    async def __aenter__(self) -> Scheduler:
        stack = AsyncExitStack()
        stack.callback(self._receive.close)  # closed last, once every node has a result
        stack.callback(self._send.close)
        self._state = await stack.enter_async_context(
            open_run(Plan([], {}, [], [], {}, {}), self._options, grows=True)
        )
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack = self._stack
        assert stack is not None
        if exc_type is None:
            try:
                self.close()
                await self.wait()
            except BaseException:
                if not await stack.__aexit__(*sys.exc_info()):
                    raise
                return True
        return await stack.__aexit__(exc_type, exc, tb)

    def add(
        self,
        node_id: NodeId,
        tool: ToolFn,
        *,
        args: Mapping[str, Any] | None = None,
        depends_on: Iterable[NodeId] | NodeId = (),
        timeout: float | None = None,
        retries: int | Retry | None = None,
        trigger: Trigger | str = Trigger.ALL_SUCCESS,
        limits: Iterable[str] = (),
        writes: Iterable[str] = (),
        reads: Iterable[str] = (),
        when: str | None = None,
        executor: str | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> NodeSpec:
        """Add a node to the running graph; options as for ``Graph.add``.

        Raises:
            DuplicateNodeError, UnknownNodeError, SpecError: to this caller, at once.
            GraphError: the scheduler is closed or not entered.
        """
        state = self._state
        if state is None or self._closed or state.finished_at is not None:
            raise GraphError(f"cannot add {str(node_id)[:100]!r}: the scheduler is not open")
        known = set(self._pools)
        spec = build_spec(
            node_id,
            tool,
            args=args,
            depends_on=depends_on,
            timeout=timeout,
            retries=retries,
            trigger=trigger,
            limits=limits,
            writes=writes,
            reads=reads,
            when=when,
            executor=executor,
            resources=resources,
            pools=self._pools,
        )
        for name in self._pools.keys() - known:
            state.add_limit(name, self._pools[name])
        if self._done.is_set():
            self._done = anyio.Event()  # a new round of work
        state.add(spec)
        self._wake()
        return spec

    def close(self) -> None:
        """No more nodes will be added (needed with ``streaming=True`` to be done)."""
        self._closed = True
        self._check_done()

    async def results(self) -> AsyncIterator[NodeResult]:
        """Each node's result as it finishes, until the scheduler is done.

        Iterate inside the ``async with`` block (one consumer at a time).
        """
        if self._is_done() and self._receive.statistics().current_buffer_used == 0:
            return
        async for item in self._receive:
            if item is _DONE:
                if self._is_done():
                    return
                continue
            yield item

    async def wait(self) -> RunResult:
        """Wait until done; the ``RunResult`` of every node added."""
        while not self._is_done():
            await self._done.wait()
        return self.result

    @property
    def result(self) -> RunResult:
        """The results so far (every node, once done)."""
        if self._state is None:
            raise GraphError("the scheduler has not been entered")
        return self._state.result()

    def _wake(self) -> None:
        assert self._state is not None
        wake = self._state.on_wake
        if wake is not None:
            wake()

    def _is_done(self) -> bool:
        state = self._state
        finished = state is not None and state.unfinished == 0
        return finished and (self._closed or not self._streaming)

    def _check_done(self) -> None:
        if self._is_done() and not self._done.is_set():
            self._done.set()
            self._send.send_nowait(_DONE)

    def _observe(self, event: Event) -> None:
        if event.result is not None:
            self._send.send_nowait(event.result)
            self._check_done()

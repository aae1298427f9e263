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
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, Final

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._graph import NodeSpec, Plan, Retry, Trigger, build_spec
from ._results import Event, NodeResult, RunResult
from ._scheduler import prepare_run
from ._types import Backend, NodeId, Observer, ToolFn
from .errors import DuplicateNodeError, GraphError, UnknownNodeError

_DONE: Final = object()


class Scheduler:
    """Run nodes as they are added; stream their results; return a ``RunResult``.

    Takes the options of ``graphflow.run`` (``concurrency``, ``fail_fast``,
    ``default_timeout``, ``default_retries``, ``observers``, ``backend``,
    ``seed``, ``limits``), plus ``streaming``: wait for ``close()`` before
    being done.
    """

    def __init__(
        self,
        *,
        concurrency: float | None = None,
        fail_fast: bool = False,
        default_timeout: float | None = None,
        default_retries: int | Retry | None = None,
        observers: Iterable[Observer] = (),
        backend: Backend | None = None,
        seed: int | None = None,
        limits: Mapping[str, int] | None = None,
        streaming: bool = False,
    ) -> None:
        self._pools = dict(limits or {})
        self._streaming = streaming
        self._closed = False
        self._finished = 0
        self._done = anyio.Event()
        self._run = prepare_run(
            Plan([], {}, [], [], {}, {}),
            concurrency=concurrency,
            fail_fast=fail_fast,
            default_timeout=default_timeout,
            default_retries=default_retries,
            observers=(*observers, self._observe),
            backend=backend,
            seed=seed,
            limits=self._pools,
        )
        self._send: MemoryObjectSendStream[Any]
        self._receive: MemoryObjectReceiveStream[Any]
        self._send, self._receive = anyio.create_memory_object_stream[Any](math.inf)
        self._tg: TaskGroup | None = None

    async def __aenter__(self) -> Scheduler:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._run.start(self._tg)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        body_failed = exc is not None and not isinstance(exc, anyio.get_cancelled_exc_class())
        if body_failed:
            # the body failed: stop the nodes, then let the body's own exception
            # propagate (not wrapped in the task group's ExceptionGroup)
            self._tg.cancel_scope.cancel()
            exc_type = exc = tb = None
        try:
            if exc_type is None and not self._tg.cancel_scope.cancel_called:
                self.close()
                await self.wait()
        finally:
            try:
                suppress = await self._tg.__aexit__(exc_type, exc, tb)
            finally:
                await self._run.close()
                self._send.close()
                self._receive.close()
        return False if body_failed else suppress

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
    ) -> NodeSpec:
        """Add a node to the running graph; options as for ``Graph.add``.

        Raises:
            DuplicateNodeError, UnknownNodeError, SpecError: to this caller, at once.
            GraphError: the scheduler is closed or not entered.
        """
        if self._tg is None or self._closed:
            raise GraphError(f"cannot add {node_id!r}: the scheduler is not open")
        run = self._run
        if node_id in run.index:
            raise DuplicateNodeError(node_id)
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
            pools=self._pools,
        )
        for dep in spec.deps:
            if dep not in run.index:
                how = "depends on" if dep in spec.depends_on else "references"
                raise UnknownNodeError(node_id, dep, how)
        for name in self._pools.keys() - known:
            run.resources.add_limit(name, self._pools[name])
        if self._done.is_set():
            self._done = anyio.Event()  # a new round of work
        run._add(spec)
        if run.stop_reason is not None:
            run._finish_unstarted(running_too=False)
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
        return self._run.result()

    @property
    def result(self) -> RunResult:
        """The results so far (every node, once done)."""
        return self._run.result()

    def _is_done(self) -> bool:
        return self._finished == len(self._run.specs) and (self._closed or not self._streaming)

    def _check_done(self) -> None:
        if self._is_done() and not self._done.is_set():
            self._done.set()
            self._send.send_nowait(_DONE)

    def _observe(self, event: Event) -> None:
        if event.result is not None:
            self._finished += 1
            self._send.send_nowait(event.result)
            self._check_done()

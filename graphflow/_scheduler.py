"""The driver: runs a ``RunState`` on anyio — workers, timeouts, cancellation.

Policy
  A node starts the moment its own upstream nodes have finished; what is
  ready is decided by the state (``_state``), never by levels. The cap on
  concurrency is the number of *workers*: long-lived tasks that pull ready
  nodes from the state's deque. A worker is started only while ready work
  waits and fewer than ``concurrency`` workers exist; it exits when the deque
  is empty. So a 10,000-node fan-out costs a handful of tasks, not 10,000
  tasks plus a limiter each (see ../shared/PERFORMANCE.md).

What the driver keeps (all else is the state's)
  ``active``  workers alive; ``idle`` those of them not inside a node (just
              started, or between two nodes): they take work without a new
              worker being spawned.

Where a tool runs
  Coroutine functions (and graphflow's own gather nodes) are awaited on the
  loop; plain functions go to the run's ``Executor`` (threads by default) as
  a ``NodeCall``. A timeout wraps one attempt, not the backoff after it.
  An executor may return a ``RemoteValue`` (an output left on a cluster):
  from the first one on, the driver fetches such handles for nodes on other
  executors, inside their attempt's timeout (``_Driver._start_fetched``), and
  before the run ends for the results (``_fetch_results``).

Failure semantics
  A tool's exception is recorded by the state, never raised. A retry backs
  off in a separate sleeping task, so the node frees its worker meanwhile.
  A stop (``fail_fast``, an essential sink failing) cancels the task group:
  running nodes end ``cancelled``, unstarted ones ``skipped``. Cancellation
  from outside does the same and then propagates. Only the closing
  bookkeeping runs shielded.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Final, Unpack

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from ._events import Sinks
from ._graph import Graph, Plan, reject_unless_graph
from ._options import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from ._options import RunOptions, RunOptionsArgs
from ._results import NodeError, NodeResult, NodeStatus, RunResult
from ._spec import NodeSpec
from ._state import RunState
from ._types import Executor, NodeCall, RemoteValue
from .errors import GraphError, OptionError
from .executors.thread import MAX_THREADS, ThreadExecutor

_YIELD_EVERY: Final = 64  # a worker whose tools never suspend still yields this often


async def run(
    graph: Graph, options: RunOptions | None = None, **overrides: Unpack[RunOptionsArgs]
) -> RunResult:
    """Run every node of ``graph``, each as soon as its dependencies are done.

    Args:
        graph: the graph; validated first, so a bad graph runs nothing.
        options: a ``RunOptions``; ``overrides`` are its fields as keywords
            (``run(g, concurrency=8)``), applied on top of it.

    Returns:
        A ``RunResult`` with exactly one ``NodeResult`` per node.

    Raises:
        CycleError, UnknownNodeError, SpecError: the graph is invalid (nothing ran).
        OptionError: an option is invalid (nothing ran).
        EventSinkError: an essential event sink failed (its ``result`` has every node's).
    """
    opts = RunOptions.build(options, overrides)
    plan = reject_unless_graph(graph).plan()
    async with open_run(plan, opts) as state:
        pass
    return state.result()


def run_sync(
    graph: Graph,
    options: RunOptions | None = None,
    *,
    async_backend: str = "asyncio",
    **overrides: Unpack[RunOptionsArgs],
) -> RunResult:
    """Blocking twin of ``run`` for plain scripts: starts an event loop and runs the graph.

    Args:
        graph: the graph.
        options, overrides: as for ``run``.
        async_backend: ``"asyncio"`` or ``"trio"``.

    Raises:
        GraphError: called where an event loop is already running (``await run`` there).
    """
    opts = RunOptions.build(options, overrides)
    if _loop_running():
        raise GraphError("run_sync() cannot run inside an event loop: use await graphflow.run()")
    return anyio.run(functools.partial(run, graph, opts), backend=async_backend)


def _loop_running() -> bool:
    try:
        anyio.get_current_task()
    except Exception:  # no event loop in this thread
        return False
    return True


@asynccontextmanager
async def open_run(plan: Plan, options: RunOptions) -> AsyncIterator[RunState]:
    """Run ``plan``: the nodes run while the body does, and until each has a result.

    Leaving waits for every node; an exception in the body (not a
    cancellation) cancels the nodes and propagates as it is. On the way out
    the executor is left, every node gets a result, ``run.finished`` is
    emitted and the sinks are closed — also after a cancellation.
    """
    state = _new_state(plan, options)
    sinks = Sinks(options.observers, state.run_id)
    if sinks:
        state.emit = sinks.emit
        sinks.stop = state.stop
    executors = _executors(plan, options)
    state.executor_names = frozenset((*executors, "async"))
    failure: BaseException | None = None
    cancelled = False
    async with anyio.create_task_group() as delivery:
        sinks.start(delivery)
        try:
            async with (
                _held(options.resources),
                _entered_all(executors),
                _nodes(state, options.concurrency, executors),
            ):
                yield state
        except anyio.get_cancelled_exc_class():
            cancelled = True
            raise
        except BaseException as exc:  # kept out of the task group: it propagates unwrapped
            failure = exc
        finally:
            try:
                state.finish()
            finally:
                await sinks.aclose(cancelled)
    if failure is not None:
        raise failure
    if sinks.failure is not None:
        sinks.raise_failure(state.result())


def _new_state(plan: Plan, options: RunOptions) -> RunState:
    return RunState(
        plan,
        run_id=options.run_id,
        fail_fast=options.fail_fast,
        default_timeout=options.default_timeout,
        default_retry=options.default_retries,
        limits=options.limits,
        seed=options.seed,
        resume_from=options.resume_from,
    )


def _threads(concurrency: float) -> int:
    return MAX_THREADS if math.isinf(concurrency) else int(concurrency)


@asynccontextmanager
async def _held(resources: Sequence[AbstractAsyncContextManager[object]]) -> AsyncIterator[None]:
    """Enter each of the run's resources; leave them in reverse, shielded, whatever happens."""
    if not resources:
        yield
        return
    stack = AsyncExitStack()
    try:
        for resource in resources:
            await stack.enter_async_context(resource)
        yield
    except BaseException:  # each resource hears how the run ended (a cancellation, an error)
        with anyio.CancelScope(shield=True):
            if not await stack.__aexit__(*sys.exc_info()):
                raise
    else:
        with anyio.CancelScope(shield=True):
            await stack.aclose()


def _executors(plan: Plan, options: RunOptions) -> dict[str, Executor]:
    """The run's executors by name: ``thread`` (the default), those given, and built-ins used."""
    default = options.executor or ThreadExecutor(_threads(options.concurrency))
    table: dict[str, Executor] = {"thread": default, **options.executors}
    specs = [*plan.specs, *(m.spec for maps in plan.expansions.values() for m in maps)]
    for spec in specs:
        name = spec.executor
        if name is None or name in table or name == "async":
            continue
        if name != "process":
            raise OptionError(
                "executors",
                name,
                f"node {spec.node_id!r} runs on executor {name!r}, which this run does not "
                f"have: pass RunOptions(executors={{{name!r}: ...}})",
                got="none",
            )
        from .executors.process import ProcessExecutor  # (spawns nothing until a call)

        table[name] = ProcessExecutor()
    return table


@asynccontextmanager
async def _entered_all(executors: dict[str, Executor]) -> AsyncIterator[None]:
    """Enter each distinct executor once; leave them in reverse, shielded."""
    distinct = list({id(e): e for e in executors.values()}.values())
    async with AsyncExitStack() as stack:
        for executor in distinct:
            await stack.enter_async_context(_entered(executor))
        yield


@asynccontextmanager
async def _entered(executor: Executor) -> AsyncIterator[None]:
    """``async with executor``, its exit shielded: it waits for what the run left running."""
    await executor.__aenter__()
    try:
        yield
    except BaseException:
        with anyio.CancelScope(shield=True):
            await executor.__aexit__(*sys.exc_info())
        raise
    with anyio.CancelScope(shield=True):
        await executor.__aexit__(None, None, None)


@asynccontextmanager
async def _nodes(
    state: RunState, cap: float, executors: dict[str, Executor]
) -> AsyncIterator[None]:
    """The task group the nodes run in; the body's own exception propagates unwrapped."""
    failure: BaseException | None = None
    async with anyio.create_task_group() as tg:
        driver = _Driver(state, cap, executors, tg)
        state.on_stop = tg.cancel_scope.cancel
        state.on_wake = driver.wake
        state.start()
        driver.wake()
        try:
            yield
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # stop the nodes, then re-raise it as it was
            failure = exc
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if driver.remote:  # while the executors are still open
        await _fetch_results(state)
    # A tool that swallowed a cancellation from outside must not hide it (on trio,
    # the run would otherwise return normally from a cancelled scope).
    await anyio.lowlevel.checkpoint_if_cancelled()


async def _fetch_results(state: RunState) -> None:
    """Give the results the values of outputs left remote, all fetched at once."""
    async with anyio.create_task_group() as tg:
        for result in state.results:
            if result is not None and isinstance(result.output, RemoteValue):
                tg.start_soon(_fetch_into, result, result.output)


async def _fetch_into(result: NodeResult, remote: RemoteValue) -> None:
    """``result.output = await remote.fetch()``; a failed fetch fails the node."""
    try:
        result.output = await remote.fetch()
    except Exception as exc:
        result.output = None
        result.status = NodeStatus.FAILED
        result.error = NodeError.from_exception(exc, f"fetching its output failed: {exc}")


async def _fetched(kwargs: Any, owner: object) -> Any:
    """``kwargs`` with each top-level ``RemoteValue`` not made by ``owner`` fetched."""
    if type(kwargs) is not dict:
        return kwargs
    out = kwargs
    for name, value in kwargs.items():
        if isinstance(value, RemoteValue) and value.owner is not owner:
            if out is kwargs:
                out = dict(kwargs)
            out[name] = await value.fetch()
    return out


def _tool_errors(cancelled: type[BaseException]) -> tuple[type[BaseException], ...]:
    """What a tool may raise that fails its node rather than the run.

    Everything but the run's own cancellation — except ``KeyboardInterrupt`` on
    trio, which raises a real Ctrl-C inside whichever task is running (asyncio
    turns Ctrl-C into a cancellation, so there a ``KeyboardInterrupt`` inside a
    node can only be the tool's own).
    """
    if cancelled.__module__.startswith("asyncio"):
        return (Exception, SystemExit, GeneratorExit, KeyboardInterrupt)
    return (Exception, SystemExit, GeneratorExit)


class _Driver:
    """Workers that take ready nodes from the state and run them (module docstring)."""

    __slots__ = (
        "active",
        "cap",
        "cancelled_exc",
        "executor",
        "executors",
        "growing",
        "idle",
        "remote",
        "state",
        "tg",
        "tool_errors",
    )

    def __init__(
        self, state: RunState, cap: float, executors: dict[str, Executor], tg: TaskGroup
    ) -> None:
        self.state = state
        self.cap = cap
        self.executor = executors["thread"]  # where plain functions go by default
        self.executors = executors
        self.tg = tg
        self.active = 0
        self.idle = 0
        self.growing = False  # a _grow task is looking at the pool
        self.remote = False  # an executor returned a RemoteValue: fetch them from now on
        self.cancelled_exc = anyio.get_cancelled_exc_class()
        self.tool_errors = _tool_errors(self.cancelled_exc)

    def wake(self) -> None:
        """Ready work waits: make sure a worker will take it (module docstring, "Pool")."""
        ready = self.state.ready
        if not ready or self.state.stop_reason is not None:
            return
        if self.active == 0:
            self._spawn(1)
        if len(ready) > self.idle and not self.growing and self.active < self.cap:
            self.growing = True
            self.tg.start_soon(self._grow)

    def _spawn(self, count: int) -> None:
        for _ in range(count):
            self.active += 1
            self.idle += 1
            self.tg.start_soon(self._worker)

    async def _grow(self) -> None:
        """Each loop tick while work waits: if every worker is blocked in a tool, add workers.

        A worker between two nodes takes the next one itself, so a pool whose
        tools never suspend stays one worker; a pool whose tools all wait on
        I/O grows to one worker per waiting node (up to the cap), one tick later.
        """
        state = self.state
        ready = state.ready
        try:
            while ready and state.stop_reason is None and self.active < self.cap:
                await anyio.lowlevel.checkpoint()
                if self.idle == 0 and ready:
                    self._spawn(int(min(len(ready), self.cap - self.active)))
                    return
        finally:
            self.growing = False

    async def _worker(self) -> None:
        state = self.state
        ready = state.ready
        busy = False
        done = 0
        try:
            while ready and state.stop_reason is None:
                i = ready.popleft()
                if state.claiming and not state.claim(i):
                    continue  # parked until what blocks it is released
                self.idle -= 1
                busy = True
                await self._attempt(i)
                busy = False
                if len(ready) > self.idle and not self.growing:
                    self.wake()
                done += 1
                if done % _YIELD_EVERY == 0:
                    await anyio.lowlevel.checkpoint()
        finally:
            if not busy:
                self.idle -= 1
            self.active -= 1

    async def _attempt(self, i: int) -> None:
        """One attempt at node ``i``, told to the state (which may ask for a retry)."""
        state = self.state
        spec = state.specs[i]
        attempt = state.begin(i)
        timeout = state.timeouts[i]
        scope: anyio.CancelScope | None = None
        try:
            kwargs = state.arguments(i)
            call: Awaitable[Any]
            if self.remote:
                call = self._start_fetched(spec, kwargs, attempt, timeout)
            else:
                call = self._start(spec, kwargs, attempt, timeout)
            if timeout is None:
                output = await call
            else:
                with anyio.fail_after(timeout) as scope:
                    output = await call
                if scope.cancel_called:  # the tool swallowed its cancellation: still too late
                    raise TimeoutError(f"ignored its cancellation after {timeout:g} s")
        except self.cancelled_exc as exc:
            if anyio.current_effective_deadline() != -math.inf:  # not us: the tool's own
                self._failed(i, exc, timeout, scope)
                return
            state.cancelled(i)
            raise
        except self.tool_errors as exc:  # the node's failure, not the run's
            self._failed(i, exc, timeout, scope)
            return
        self.idle += 1
        if isinstance(output, RemoteValue):
            self.remote = True
        state.succeeded(i, output)

    def _failed(
        self, i: int, exc: BaseException, timeout: float | None, scope: anyio.CancelScope | None
    ) -> None:
        self.idle += 1
        timed_out = timeout if scope is not None and scope.cancel_called else None
        delay = self.state.failed(i, exc, timed_out)
        if delay is not None:
            self.tg.start_soon(self._retry_after, i, delay)

    def _start(
        self, spec: NodeSpec, kwargs: Any, attempt: int, timeout: float | None
    ) -> Awaitable[Any]:
        """The attempt's awaitable: a coroutine function's call, or its executor's ``call``."""
        where = spec.executor
        if (where is None and spec.is_async) or where == "async":
            return spec.tool(**kwargs)  # type: ignore[no-any-return]
        executor = self.executor if where is None else self.executors[where]
        node = NodeCall(
            self.state.run_id, spec.node_id, attempt, spec.tool, kwargs, timeout, spec.resources
        )
        return executor.call(node)

    async def _start_fetched(
        self,
        spec: NodeSpec,
        kwargs: Any,
        attempt: int,
        timeout: float | None,  # noqa: ASYNC109 - handed on in the NodeCall; enforced by the caller
    ) -> Any:
        """``_start`` once the ``RemoteValue`` arguments its executor cannot take are fetched."""
        where = spec.executor
        owner: object = None  # (the loop: nothing stays remote for it)
        if not ((where is None and spec.is_async) or where == "async"):
            owner = self.executor if where is None else self.executors[where]
        return await self._start(spec, await _fetched(kwargs, owner), attempt, timeout)

    async def _retry_after(self, i: int, delay: float) -> None:
        try:
            await anyio.sleep(delay)
        except self.cancelled_exc:
            reason = self.state.stop_reason or "run cancelled"
            self.state.cancelled(i, reason + " while waiting to retry")
            raise
        self.state.retry(i)
        self.wake()

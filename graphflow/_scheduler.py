"""Running a plan: ``run``, ``run_sync``, ``open_run`` — options, store, executors, sinks.

Policy
  A node starts the moment its own upstream nodes have finished; what is
  ready is decided by the state (``_state``), never by levels. The cap on
  concurrency is the number of *workers*: long-lived tasks that pull ready
  nodes from the state's deque. A worker is started only while ready work
  waits and fewer than ``concurrency`` workers exist; it exits when the deque
  is empty. So a 10,000-node fan-out costs a handful of tasks, not 10,000
  tasks plus a limiter each (see ../shared/PERFORMANCE.md).

The driver itself — its workers, where each tool runs, how a run store's
commits hold successes, failure semantics — is ``_driver``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Unpack

import anyio
import anyio.lowlevel

from ._context import ENTERING
from ._driver import Driver, fetch_results
from ._events import Sinks
from ._graph import Graph, Plan, reject_unless_graph
from ._options import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from ._options import RunOptions, RunOptionsArgs
from ._results import RunResult
from ._spec import NodeSpec, fingerprint, fingerprints
from ._state import RunState
from ._types import Executor, RunInfo, RunJournal
from .errors import GraphError, OptionError
from .executors.thread import MAX_THREADS, ThreadExecutor


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
        KeyboardInterrupt: Ctrl-C stopped the run (on trio too, where it reaches
            a task of the run and would come out in an exception group).
    """
    opts = RunOptions.build(options, overrides)
    if _loop_running():
        raise GraphError("run_sync() cannot run inside an event loop: use await graphflow.run()")
    try:
        return anyio.run(functools.partial(run, graph, opts), backend=async_backend)
    except BaseExceptionGroup as group:
        if group.split(KeyboardInterrupt)[1] is None:  # Ctrl-C, nothing else
            raise KeyboardInterrupt from group
        raise


def _loop_running() -> bool:
    try:
        anyio.get_current_task()
    except Exception:  # no event loop in this thread
        return False
    return True


@asynccontextmanager
async def open_run(plan: Plan, options: RunOptions, grows: bool = False) -> AsyncIterator[RunState]:
    """Run ``plan``: the nodes run while the body does, and until each has a result.

    Leaving waits for every node; an exception in the body (not a
    cancellation) cancels the nodes and propagates as it is. On the way out
    the executor is left, every node gets a result, ``run.finished`` is
    emitted and the sinks are closed — also after a cancellation.
    """
    executors = _executors(plan, options)
    journal = None if options.store is None else await _open_journal(plan, options, grows)
    if journal is None:
        _warn_uncached(plan)
    state = _new_state(plan, options, journal)
    if grows and journal is not None and hasattr(journal, "vet"):
        state.vet = _vetting(journal, dict(_fingerprints(plan)))
    sinks = Sinks(
        options.observers if journal is None else (*options.observers, journal), state.run_id
    )
    if sinks:
        state.emit = sinks.emit
        sinks.stop = state.stop
    state.executor_names = frozenset((*executors, "async"))
    failure: BaseException | None = None
    cancelled = False
    async with anyio.create_task_group() as delivery:
        sinks.start(delivery)
        try:
            async with (
                _held(options.resources),
                _entered_all(executors if grows else _used(plan, executors), state.run_id),
                _nodes(state, options.concurrency, executors, journal, sinks, options.cache),
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
                if failure is not None and journal is not None and hasattr(journal, "cut_short"):
                    journal.cut_short = True  # (its nodes skipped: not a run that succeeded)
                await sinks.aclose(cancelled)
    if failure is not None:
        raise failure
    if sinks.failure is not None:
        sinks.raise_failure(state.result())


async def _open_journal(plan: Plan, options: RunOptions, grows: bool) -> RunJournal:
    """The run's record in its store: a new run, or the one to resume."""
    assert options.store is not None
    info = RunInfo(
        run_id=options.resume or options.run_id or uuid.uuid4().hex[:12],
        workflow=options.workflow,
        nodes=_fingerprints(plan),
        labels=options.labels,
        resume=options.resume is not None,
        force=options.force,
        grows=grows,
    )
    return await options.store.open_run(info)


def _warn_uncached(plan: Plan) -> None:
    """``cache=`` needs a store: say so rather than ignore it."""
    uncached = [s.node_id for s in plan.specs if s.cache is not None]
    if uncached:
        names = ", ".join(repr(n[:60]) for n in uncached[:3])
        more = f" and {len(uncached) - 3} more" if len(uncached) > 3 else ""
        warnings.warn(
            f"graphflow: nodes {names}{more} ask for cache=, but the run has no store"
            " (no RunOptions(store=...), or the CLI's --no-store): they are not cached",
            RuntimeWarning,
            stacklevel=4,
        )


def _vetting(journal: RunJournal, prints: dict[str, str]) -> Callable[[NodeSpec], bool]:
    """``RunState.vet`` for a run that grows: fingerprint each added node (its
    upstream nodes' first) and ask the journal whether a stored success is its."""
    vet = journal.vet  # type: ignore[attr-defined]

    def vetted(spec: NodeSpec) -> bool:
        found = prints[spec.node_id] = fingerprint(spec, [prints.get(d, "") for d in spec.deps])
        return bool(vet(spec.node_id, found))

    return vetted


def _fingerprints(plan: Plan) -> dict[str, str]:
    """Each node's ``fingerprint`` (``_spec.fingerprints``). A for_each whose
    items are made at run time is planned as a gather with no arguments: its
    fingerprint is the declared node's (tool, item arguments)."""
    declared = {m.node_id: m.spec for maps in plan.expansions.values() for m in maps}
    specs = [declared.get(spec.node_id, spec) for spec in plan.specs]
    return dict(zip([s.node_id for s in specs], fingerprints(specs, plan.deps), strict=True))


def _new_state(plan: Plan, options: RunOptions, journal: RunJournal | None) -> RunState:
    if journal is None:
        run_id, earlier = options.run_id, options.resume_from
    else:
        run_id, earlier = journal.run_id, journal.earlier or options.resume_from
    return RunState(
        plan,
        run_id=run_id,
        fail_fast=options.fail_fast,
        default_timeout=options.default_timeout,
        default_retry=options.default_retries,
        limits=options.limits,
        seed=options.seed,
        resume_from=earlier,
    )


def _threads(concurrency: float) -> int:
    return MAX_THREADS if math.isinf(concurrency) else int(concurrency)


@asynccontextmanager
async def _held(resources: Sequence[AbstractAsyncContextManager[object]]) -> AsyncIterator[None]:
    """Enter each of the run's resources; leave them in reverse, shielded, whatever happens."""
    if not resources:
        yield
        return
    async with AsyncExitStack() as stack:
        for resource in resources:
            await stack.enter_async_context(_holding(resource))
        yield


@asynccontextmanager
async def _holding(resource: AbstractAsyncContextManager[object]) -> AsyncIterator[None]:
    """``async with resource``, its exit shielded by a scope entered *before* it.

    A shield opened only at exit would not do: a resource that holds a task
    group (an MCP session) must be left in the cancel scope it was entered in
    (anyio's scopes nest), so the shield is this outer scope, turned on.
    """
    with anyio.CancelScope() as scope:
        await resource.__aenter__()
        try:
            yield
        except BaseException:  # each resource hears how the run ended (a cancellation, an error)
            scope.shield = True
            if not await resource.__aexit__(*sys.exc_info()):
                raise
        else:
            scope.shield = True
            await resource.__aexit__(None, None, None)


def _executors(plan: Plan, options: RunOptions) -> dict[str, Executor]:
    """The run's executors by name: ``thread`` (the default), those given, and built-ins used."""
    default = options.executor or ThreadExecutor(_threads(options.concurrency))
    table: dict[str, Executor] = {"thread": default, **options.executors}
    for spec in _declared(plan):
        name = spec.executor
        if name is None or name in table or name == "async":
            continue
        if name != "process":
            known = sorted({*table, "async", "process"})
            close = difflib.get_close_matches(name[:100], known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(
                "executors",
                name,
                f"node {spec.node_id!r} runs on executor {name[:100]!r}, which this run does not "
                f"have{hint}: pass RunOptions(executors={{{name[:100]!r}: ...}})",
                got="none",
            )
        from .executors.process import ProcessExecutor  # (spawns nothing until a call)

        table[name] = ProcessExecutor()
    return table


def _used(plan: Plan, executors: dict[str, Executor]) -> dict[str, Executor]:
    """The executors some node of ``plan`` runs on: ``thread`` for a plain function
    that names none, as the driver routes it.

    One that no node runs on is not entered: a run of async tools given a
    ``DaskExecutor()`` starts no ``LocalCluster``, one given a ``ProcessExecutor``
    no worker. (A run that grows takes nodes no plan names: it enters them all.)
    """
    named = {spec.executor or ("async" if spec.is_async else "thread") for spec in _declared(plan)}
    return {name: e for name, e in executors.items() if name in named}


def _declared(plan: Plan) -> list[NodeSpec]:
    """The plan's nodes, a runtime ``for_each`` as declared (its items' spec)."""
    return [*plan.specs, *(m.spec for maps in plan.expansions.values() for m in maps)]


@asynccontextmanager
async def _entered_all(executors: dict[str, Executor], run_id: str) -> AsyncIterator[None]:
    """Enter each distinct executor once; leave them in reverse, shielded."""
    distinct = list({id(e): e for e in executors.values()}.values())
    async with AsyncExitStack() as stack:
        for executor in distinct:
            await stack.enter_async_context(_entered(executor, run_id))
        yield


@asynccontextmanager
async def _entered(executor: Executor, run_id: str) -> AsyncIterator[None]:
    """``async with executor``, its exit shielded: it waits for what the run left running.
    Both with ``ENTERING`` set to ``run_id`` (an executor shared by runs at once
    tells their entries apart by it)."""
    token = ENTERING.set(run_id)
    try:
        await executor.__aenter__()
    finally:
        ENTERING.reset(token)
    try:
        yield
    except BaseException:
        await _leave(executor, run_id, *sys.exc_info())
        raise
    await _leave(executor, run_id, None, None, None)


async def _leave(executor: Executor, run_id: str, *exc_info: Any) -> None:
    token = ENTERING.set(run_id)
    try:
        with anyio.CancelScope(shield=True):
            await executor.__aexit__(*exc_info)
    finally:
        ENTERING.reset(token)


@asynccontextmanager
async def _nodes(
    state: RunState,
    cap: float,
    executors: dict[str, Executor],
    journal: RunJournal | None,
    sinks: Sinks,
    caching: bool,
) -> AsyncIterator[None]:
    """The task group the nodes run in; the body's own exception propagates unwrapped."""
    failure: BaseException | None = None
    async with anyio.create_task_group() as tg:
        driver = Driver(state, cap, executors, tg)
        if journal is not None:
            driver.journal = journal
            driver.journal_failed = functools.partial(sinks.failed, journal)
            driver.caching = hasattr(journal, "cache_get")
            driver.cache_reads = caching
            tick = getattr(journal, "tick", None)
            driver.ticks = tick if inspect.iscoroutinefunction(tick) else None
        state.on_stop = tg.cancel_scope.cancel
        state.on_wake = driver.wake
        state.on_expand = driver.make_items
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
        await fetch_results(state)
    # A tool that swallowed a cancellation from outside must not hide it (on trio,
    # the run would otherwise return normally from a cancelled scope).
    await anyio.lowlevel.checkpoint_if_cancelled()

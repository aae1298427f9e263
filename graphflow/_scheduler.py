"""The scheduler: runs a validated graph eagerly on anyio.

Policy
  A node starts the moment its own upstream nodes have finished (Kahn's
  in-degree counting in ``_ready``), never held back by unrelated nodes of the
  same "level". The cap on concurrency is the number of *workers*: long-lived
  tasks that pull ready nodes from one deque. A worker is started only while
  ready work waits and fewer than ``concurrency`` workers exist; it exits when
  the deque is empty. So a 10,000-node fan-out costs a handful of tasks, not
  10,000 tasks plus a limiter each (see ../shared/PERFORMANCE.md).

State (one ``_Run`` per run, all indexed by node number)
  ``tracker``   pending in-degrees, which nodes are handed out or finished;
  ``ready``     nodes that may start now, not yet taken by a worker;
  ``active``    workers alive; ``idle`` those of them not inside a node (just
                started, or between two nodes) — they will take work without
                a new worker being spawned;
  ``results``   the one ``NodeResult`` of each node, set exactly once;
  ``attempts``, ``started``, ``last_error``  per-node progress of retries.

Transitions all pass through ``_record`` (which emits the event to observers)
and ``_release`` (which tells the tracker and queues what became ready).

Failure semantics
  A tool's exception is recorded, never raised; ``all_success`` descendants are
  skipped at once with the root cause named; other branches go on. Retries
  back off in a separate sleeping task, so the node frees its worker slot while
  it waits. ``fail_fast`` cancels the task group: running nodes end
  ``cancelled``, unstarted ones ``skipped``. Cancellation from outside does the
  same and then propagates.
"""

from __future__ import annotations

import functools
import math
import random
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from ._expand import gather_spec, item_spec
from ._graph import NO_RETRY, Graph, NodeSpec, Plan, Retry, Trigger, reject_unless_graph
from ._limits import READ, WRITE, ResourceBook
from ._log import observer as log_observer
from ._ready import READY, SKIP, ReadyTracker
from ._refs import Ref, resolve_path
from ._results import FINISHED_EVENT, Event, EventKind, NodeError, NodeResult, NodeStatus, RunResult
from ._types import Backend, Observer
from .backends.local import LocalBackend
from .errors import NodeInputError, ResourceKeyError

DEFAULT_CONCURRENCY: Final = 64
"""Nodes running at once unless told otherwise: enough for I/O-bound fan-outs,
few enough that a 10,000-item fan-out does not open 10,000 sockets at once.
Pass ``concurrency=math.inf`` to lift the cap."""

_YIELD_EVERY: Final = 64  # a worker whose tools never suspend still yields this often

_SUCCEEDED = NodeStatus.SUCCEEDED
_FAILED = NodeStatus.FAILED
_SKIPPED = NodeStatus.SKIPPED
_CANCELLED = NodeStatus.CANCELLED


async def run(
    graph: Graph,
    *,
    concurrency: float | None = None,
    fail_fast: bool = False,
    default_timeout: float | None = None,
    default_retries: int | Retry | None = None,
    observers: Iterable[Observer] = (),
    backend: Backend | None = None,
    seed: int | None = None,
    limits: Mapping[str, int] | None = None,
) -> RunResult:
    """Run every node of ``graph``, each as soon as its dependencies are done.

    Args:
        graph: the graph; validated first, so a bad graph runs nothing.
        concurrency: the most nodes running at once (default 64; ``1`` runs them
            one by one in dependency order; ``math.inf`` removes the cap).
        fail_fast: on the first failure, cancel running nodes (``cancelled``)
            and skip the rest (``skipped``).
        default_timeout: seconds per attempt for nodes that set no ``timeout``.
        default_retries: retry policy (an int or ``Retry``) for nodes that set no ``retries``.
        observers: callables given every ``Event`` of the run, on the loop.
        backend: where callables run (default ``LocalBackend``: async on the
            loop, sync in threads, at most ``concurrency`` threads).
        seed: seeds the retry jitter, for reproducible runs.
        limits: sizes of named pools (added to, and overriding, ``Graph(limits=...)``).

    Returns:
        A ``RunResult`` with exactly one ``NodeResult`` per node.

    Raises:
        CycleError, UnknownNodeError: the graph is invalid (nothing ran).
        ValueError: an option is out of range.
    """
    plan = reject_unless_graph(graph).plan()
    state = prepare_run(
        plan,
        concurrency=concurrency,
        fail_fast=fail_fast,
        default_timeout=default_timeout,
        default_retries=default_retries,
        observers=observers,
        backend=backend,
        seed=seed,
        limits=limits,
    )
    return await state.run()


def prepare_run(
    plan: Plan,
    *,
    concurrency: float | None = None,
    fail_fast: bool = False,
    default_timeout: float | None = None,
    default_retries: int | Retry | None = None,
    observers: Iterable[Observer] = (),
    backend: Backend | None = None,
    seed: int | None = None,
    limits: Mapping[str, int] | None = None,
) -> _Run:
    """The state of a run of ``plan`` with ``run``'s options (shared with ``Scheduler``)."""
    cap = _check_concurrency(concurrency)
    if isinstance(default_retries, Retry):
        retry = default_retries
    else:
        retry = NO_RETRY if default_retries is None else Retry(default_retries)
    return _Run(
        plan,
        cap=cap,
        fail_fast=fail_fast,
        timeout=default_timeout,
        retry=retry,
        observers=tuple(observers),
        backend=backend or LocalBackend(threads=None if math.isinf(cap) else int(cap)),
        seed=seed,
        limits=dict(limits or {}),
    )


def run_sync(graph: Graph, *, async_backend: str = "asyncio", **options: Any) -> RunResult:
    """Blocking twin of ``run`` for plain scripts: starts an event loop and runs the graph.

    Args:
        graph: the graph.
        async_backend: ``"asyncio"`` or ``"trio"``.
        **options: as for ``run``.
    """
    return anyio.run(functools.partial(run, graph, **options), backend=async_backend)


def _effective_timeout(node: float | None, default: float | None) -> float | None:
    """The node's own timeout, else the run's; ``math.inf`` means none at all."""
    chosen = default if node is None else node
    return None if chosen is None or math.isinf(chosen) else chosen


def _check_concurrency(concurrency: float | None) -> float:
    if concurrency is None:
        return DEFAULT_CONCURRENCY
    if isinstance(concurrency, bool) or not isinstance(concurrency, (int, float)):
        raise ValueError(f"concurrency must be a number >= 1 or math.inf, got {concurrency!r}")
    if not concurrency >= 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
    return concurrency if math.isinf(concurrency) else int(concurrency)


class _Run:
    """The state of one run of one plan (see the module docstring)."""

    def __init__(
        self,
        plan: Plan,
        *,
        cap: float,
        fail_fast: bool,
        timeout: float | None,
        retry: Retry,
        observers: Sequence[Observer],
        backend: Backend,
        seed: int | None,
        limits: dict[str, int],
    ) -> None:
        specs = plan.specs
        n = len(specs)
        grows = bool(plan.expansions)  # runtime for_each: nodes are added as the run goes
        self.specs = list(specs) if grows else specs
        self.index = dict(plan.index) if grows else plan.index
        self.expansions = plan.expansions
        self.counts: dict[str, int] = {}  # runtime map id -> how many items it expanded to
        dependents = [list(d) for d in plan.dependents] if grows else plan.dependents
        self.tracker = ReadyTracker(
            plan.deps, dependents, [s.trigger is Trigger.ALL_DONE for s in specs]
        )
        self.default_timeout = timeout
        self.timeouts = [_effective_timeout(s.timeout, timeout) for s in specs]
        self.resources = ResourceBook({**plan.limits, **limits})
        self.claiming = False  # does any node claim a limit or a resource key?
        for spec in specs:
            self._check_claims(spec)
        self.kwargs: dict[int, Any] = {}  # arguments rendered early, to name resource keys
        self.claim_error: dict[int, Exception] = {}
        self.default_retry = retry
        self.results: list[NodeResult | None] = [None] * n
        self.attempts = [0] * n
        self.started: list[float | None] = [None] * n
        self.last_error: dict[int, NodeError] = {}
        self.ready: deque[int] = deque()
        self.active = 0
        self.idle = 0
        self.cap = cap
        self.fail_fast = fail_fast
        self.stop_reason: str | None = None
        self.swept = False  # unstarted nodes were given results after a stop
        self.backend = backend
        self.rng = random.Random(seed)
        self.run_id = uuid.uuid4().hex[:12]
        log = log_observer(self.run_id)
        self.observers: tuple[Observer, ...] = (*observers, log) if log else tuple(observers)
        self.tg: TaskGroup | None = None
        self.started_at = time.time()
        self.finished_at: float | None = None
        self.cancelled_exc = anyio.get_cancelled_exc_class()

    # -- driving -------------------------------------------------------------

    async def run(self) -> RunResult:
        try:
            async with anyio.create_task_group() as tg:
                self.start(tg)
        finally:
            await self.close()
        return self.result()

    def start(self, tg: TaskGroup) -> None:
        """Begin: emit ``run.started`` and start the nodes that have no upstream."""
        self.started_at = time.time()
        self.tg = tg
        self._emit(EventKind.RUN_STARTED)
        self._push(self.tracker.start())

    async def close(self) -> None:
        """End (after the task group): wait for abandoned threads, give every node a result."""
        with anyio.CancelScope(shield=True):
            await self.backend.aclose()
        self._finish_unstarted()
        self.finished_at = time.time()
        self._emit(EventKind.RUN_FINISHED)

    def result(self) -> RunResult:
        results = {
            s.node_id: r for s, r in zip(self.specs, self.results, strict=True) if r is not None
        }
        specs = self.specs

        def upstream() -> dict[str, tuple[str, ...]]:
            return {s.node_id: s.deps for s in specs}

        return RunResult(
            self.run_id, results, self.started_at, self.finished_at or time.time(), upstream
        )

    def _push(self, nodes: Iterable[int]) -> None:
        """Queue ready nodes and start workers while work waits and the cap allows."""
        ready = self.ready
        ready.extend(nodes)
        assert self.tg is not None
        while len(ready) > self.idle and self.active < self.cap and self.stop_reason is None:
            self.active += 1
            self.idle += 1
            self.tg.start_soon(self._worker)

    async def _worker(self) -> None:
        ready = self.ready
        busy = False
        done = 0
        try:
            while ready and self.stop_reason is None:
                i = ready.popleft()
                if self.claiming and not self._acquire(i):
                    continue  # parked until what blocks it is released
                self.idle -= 1
                busy = True
                ok = await self._attempt(i)
                busy = False
                self.idle += 1
                if self.claiming:
                    self._release_claims(i, done=ok is not None)
                if ok is not None:
                    self._release(i, ok)
                done += 1
                if done % _YIELD_EVERY == 0:
                    await anyio.lowlevel.checkpoint()
        finally:
            if not busy:
                self.idle -= 1
            self.active -= 1

    async def _attempt(self, i: int) -> bool | None:
        """One attempt at node ``i``: True/False once it has a result, None if it will retry."""
        spec = self.specs[i]
        attempt = self.attempts[i] = self.attempts[i] + 1
        now = time.time()
        if self.started[i] is None:
            self.started[i] = now
        if self.observers:
            self._emit(EventKind.NODE_STARTED, i, attempt)
        timeout = self.timeouts[i]
        scope: anyio.CancelScope | None = None
        try:
            kwargs = self._claimed_kwargs(i, spec) if self.claiming else self._render(spec)
            if timeout is None:
                output = await self.backend.call(spec.tool, kwargs, spec.is_async)
            else:
                with anyio.fail_after(timeout) as scope:
                    output = await self.backend.call(spec.tool, kwargs, spec.is_async)
        except self.cancelled_exc:
            self._record(i, _CANCELLED, reason=self.stop_reason or "run cancelled")
            raise
        except Exception as exc:
            return self._failed(
                i, exc, timeout if scope is not None and scope.cancel_called else None
            )
        self._record(i, _SUCCEEDED, output=output)
        return True

    def _failed(self, i: int, exc: Exception, timed_out: float | None) -> bool | None:
        if timed_out is not None:
            error = NodeError.from_exception(exc, f"timed out after {timed_out:g} s")
        else:
            error = NodeError.from_exception(exc)
        spec = self.specs[i]
        retry = spec.retry or self.default_retry
        attempt = self.attempts[i]
        if (
            attempt <= retry.retries
            and isinstance(exc, retry.on)
            and not isinstance(exc, NodeInputError)
            and self.stop_reason is None
        ):
            delay = retry.delay(attempt, self.rng.random())
            self.last_error[i] = error
            self._emit(EventKind.NODE_RETRYING, i, attempt, error=error, delay=delay)
            assert self.tg is not None  # (the worker gives back its claims while it waits)
            self.tg.start_soon(self._retry_after, i, delay)
            return None
        self._record(i, _FAILED, error=error)
        return False

    async def _retry_after(self, i: int, delay: float) -> None:
        try:
            await anyio.sleep(delay)
        except self.cancelled_exc:
            reason = self.stop_reason or "run cancelled"
            self._record(
                i,
                _CANCELLED,
                error=self.last_error.get(i),
                reason=reason + " while waiting to retry",
            )
            raise
        self._push((i,))

    # -- bookkeeping ---------------------------------------------------------

    def _claimed_kwargs(self, i: int, spec: NodeSpec) -> Any:
        """The arguments rendered when the node's resource keys were named (or the error)."""
        if i in self.claim_error:
            raise self.claim_error.pop(i)
        return self.kwargs.pop(i) if i in self.kwargs else self._render(spec)

    def _render(self, spec: NodeSpec) -> Any:
        return spec.args if spec.template.constant else spec.template.render(self._lookup)

    def _lookup(self, ref: Ref) -> Any:
        j = self.index[ref.node_id]
        result = self.results[j]
        if result is None or result.status is not _SUCCEEDED:
            return None  # an all_done node reading an upstream that did not succeed
        return resolve_path(result.output, ref) if ref.path else result.output

    def _record(
        self,
        i: int,
        status: NodeStatus,
        *,
        output: Any = None,
        error: NodeError | None = None,
        reason: str | None = None,
    ) -> NodeResult:
        if self.results[i] is not None:  # e.g. cancelled twice: the first record stands
            return self.results[i]  # type: ignore[return-value]
        result = self.results[i] = NodeResult(
            self.specs[i].node_id,
            status,
            output,
            error,
            self.attempts[i],
            self.started[i],
            time.time(),
            reason,
        )
        if self.observers:
            self._emit(FINISHED_EVENT[status], i, self.attempts[i], result=result)
        if status is _FAILED and self.fail_fast and self.stop_reason is None:
            self.stop_reason = f"fail_fast: {result.node_id!r} failed"
            assert self.tg is not None
            self.tg.cancel_scope.cancel()
        return result

    def _release(self, i: int, ok: bool) -> None:
        if ok and i in self.expansions:  # before i's dependents are counted down
            self._expand(i)
        if ok:
            ready = self.tracker.done(i, True)
        else:
            skipped: list[tuple[int, int]] = []
            ready = self.tracker.done(i, False, skipped)
            for node, upstream in skipped:
                self._record(node, _SKIPPED, reason=self._skip_reason(node, upstream))
        if ready:
            self._push(ready)
        if self.stop_reason is not None and not self.swept:
            # fail_fast: nothing else will start. One sweep suffices: it finishes every
            # waiting node in the tracker, so no later release can make one ready.
            self._finish_unstarted(running_too=False)
            self.swept = True

    def _skip_reason(self, node: int, upstream: int) -> str:
        root = self.tracker.cause[node]
        root_result = self.results[root]
        how = root_result.status if root_result is not None else "failed"
        reason = f"upstream {self.specs[root].node_id!r} {how}"
        if upstream != root:
            reason += f" (via {self.specs[upstream].node_id!r})"
        return reason

    # -- limits --------------------------------------------------------------

    def _check_claims(self, spec: NodeSpec) -> None:
        if not (spec.limits or spec.writes or spec.reads):
            return
        missing = self.resources.missing(spec.limits)
        if missing is not None:
            raise ValueError(
                f"node {spec.node_id!r} needs limit {missing!r}, which has no size: "
                f"pass limits={{{missing!r}: N}} to Graph() or run()"
            )
        self.claiming = True

    def _acquire(self, i: int) -> bool:
        if not self.resources.prepared(i):
            spec = self.specs[i]
            self.resources.prepare(i, spec.limits, self._resource_keys(i, spec))
        return self.resources.acquire(i)

    def _resource_keys(self, i: int, spec: NodeSpec) -> dict[str, int]:
        """The node's resource keys, formatted from its arguments (rendered once, here)."""
        if not (spec.writes or spec.reads):
            return {}
        try:
            kwargs = self.kwargs[i] = self._render(spec)
            keys = {_format_key(t, kwargs, "reads"): READ for t in spec.reads}
            keys.update({_format_key(t, kwargs, "writes"): WRITE for t in spec.writes})
        except Exception as exc:  # recorded when the node runs: it then fails
            self.claim_error[i] = exc
            return {}
        return keys

    def _release_claims(self, i: int, done: bool) -> None:
        started = self.resources.release(i, done)
        if started:
            self._push(started)

    # -- runtime for_each ----------------------------------------------------

    def _expand(self, source: int) -> None:
        """``source`` succeeded: create the items of every map that waits on it."""
        for m in self.expansions[source]:
            gather = self.index[m.node_id]
            if self.results[gather] is not None:
                continue  # already skipped or failed
            if m.over is None:
                try:
                    values = self._for_each_values(m.source, m.node_id)
                except Exception as exc:
                    self._record(gather, _FAILED, error=NodeError.from_exception(exc))
                    self._release(gather, False)
                    continue
                count = len(values)
            elif m.over in self.counts:
                values, count = [], self.counts[m.over]
            else:
                continue  # the map it follows failed: the tracker skips this one
            self.counts[m.node_id] = count
            items = [
                self._add(item_spec(m.spec, k, values[k] if m.over is None else None, m.over))
                for k in range(count)
            ]
            self.specs[gather] = gather_spec(m.spec, count)
            outcome, upstream = self.tracker.add_deps(gather, items)
            if outcome == SKIP:
                self._skip_now(gather, upstream)

    def _for_each_values(self, source: Ref, node_id: str) -> list[Any]:
        result = self.results[self.index[source.node_id]]
        assert result is not None
        values = resolve_path(result.output, source) if source.path else result.output
        if not isinstance(values, (list, tuple)):
            raise TypeError(
                f"for_each of {node_id!r} needs a list, but {source} is {type(values).__name__}"
            )
        return list(values)

    def _add(self, spec: NodeSpec) -> int:
        """Add a node to the running graph (its upstream nodes are all known)."""
        self._check_claims(spec)
        i = len(self.specs)
        self.specs.append(spec)
        self.index[spec.node_id] = i
        self.results.append(None)
        self.attempts.append(0)
        self.started.append(None)
        self.timeouts.append(_effective_timeout(spec.timeout, self.default_timeout))
        deps = [self.index[d] for d in spec.deps]
        outcome, upstream = self.tracker.add(deps, spec.trigger is Trigger.ALL_DONE)
        if outcome == READY:
            self._push((i,))
        elif outcome == SKIP:
            self._skip_now(i, upstream)
        return i

    def _skip_now(self, i: int, upstream: int) -> None:
        self._record(i, _SKIPPED, reason=self._skip_reason(i, upstream))
        self._release(i, False)

    def _finish_unstarted(self, running_too: bool = True) -> None:
        """Give nodes still without a result one: the run is ending early.

        ``running_too=False`` (right after fail_fast) leaves the running ones to
        record their own cancellation when it reaches them.
        """
        self.tracker.finish_unstarted()
        reason = self.stop_reason or "run cancelled"
        for i, result in enumerate(self.results):
            if result is None and (running_too or not self.attempts[i]):
                status = _CANCELLED if self.attempts[i] else _SKIPPED
                self._record(i, status, error=self.last_error.get(i), reason=reason)

    def _emit(
        self,
        kind: EventKind,
        i: int | None = None,
        attempt: int = 0,
        *,
        result: NodeResult | None = None,
        error: NodeError | None = None,
        delay: float | None = None,
    ) -> None:
        if not self.observers:
            return
        node_id = None if i is None else self.specs[i].node_id
        event = Event(kind, self.run_id, time.time(), node_id, attempt, result, error, delay)
        for observe in self.observers:
            _notify(observe, event)


def _format_key(template: str, kwargs: Any, kind: str) -> str:
    try:
        return template.format_map(kwargs)
    except (KeyError, IndexError, ValueError) as exc:
        raise ResourceKeyError(
            f"{kind}={template!r}: cannot format it from the arguments ({exc!r})"
        ) from None


def _notify(observe: Callable[[Event], object], event: Event) -> None:
    try:
        observe(event)
    except Exception as exc:  # an observer's bug must not cost the run its results
        warnings.warn(
            f"graphflow observer {observe!r} raised {exc!r}", RuntimeWarning, stacklevel=2
        )

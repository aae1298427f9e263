"""The driver: a run's workers, each running ready nodes' attempts (``Driver``).

What the driver keeps (all else is the state's)
  ``active``  workers alive; ``idle`` those of them not inside a node (just
              started, or between two nodes): they take work without a new
              worker being spawned; ``parked`` those waiting for work while
              another worker runs a node (whose end may make work ready):
              ``wake`` sets one's event instead of spawning a task (anyio's
              ``start_soon`` costs ~45 µs, an event ~7), and so does
              ``_grow`` (a parked worker holds a place under the cap). No
              more workers park than are busy: the others end, so the pool
              shrinks. A worker with no work and no worker inside a node
              ends, and wakes the parked ones to end too (a retry, a commit
              or a node added later wakes the pool again).

Where a tool runs
  Coroutine functions (and graphflow's own gather nodes) are awaited on the
  loop; plain functions go to the run's ``Executor`` (threads by default) as
  a ``NodeCall``. A timeout wraps one attempt, not the backoff after it.
  An executor may return a ``RemoteValue`` (an output left on a cluster):
  from the first one on, the driver fetches such handles for nodes on other
  executors, inside their attempt's timeout (``Driver._start_fetched``), and
  before the run ends for the results (``fetch_results``). Where the driver
  reads the value itself: a path into it, or a list or string holding it,
  before the reading node's arguments are made (``read_inside``,
  ``Driver._bring_upstream``); a condition or a ``for_each`` list, or a run
  store recording it, as its node succeeds (``read_in_driver``).

With a run store (durable before visible)
  A success is held (``RunState.succeeded(hold=True)``) until the journal's
  ``commit`` returns, then released. The worker that finished it commits it
  itself when nothing else is ready (a chain: no task per link), else a
  ``_commit`` task does, beside the work; either way every success that
  arrives meanwhile goes in the next commit, so a fan-out commits in batches.
  A journal with a ``tick`` (``SQLiteStore``'s) has it called every
  ``TICK`` seconds while workers are alive, so that what is due without a
  commit (a long node's start row) is written anyway.

Runtime for_each
  A map over a big output is made in batches (``RunState.expand_more``): a
  ``_make_items`` task makes one a loop tick while the state is ``starved``
  of ready work, else waits for a worker to see it is (``refill``).

Failure semantics
  A tool's exception is recorded by the state, never raised. A retry backs
  off in a separate sleeping task, so the node frees its worker meanwhile.
  A stop (``fail_fast``, an essential sink failing) cancels the task group:
  running nodes end ``cancelled``, unstarted ones ``skipped``. Cancellation
  from outside does the same and then propagates. Only the closing
  bookkeeping runs shielded.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Final, final

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from ._context import CURRENT, idempotency_key
from ._refs import whole_ref
from ._results import NodeError, NodeResult, NodeStatus
from ._spec import NodeSpec, tool_identity
from ._state import RunState
from ._types import Executor, NodeCall, RemoteValue, RunJournal

_YIELD_EVERY: Final = 64  # a worker whose tools never suspend still yields this often
_SPAWN_EVERY: Final = 64  # workers added per loop tick at most (``Driver._grow``)
TICK: Final = 0.25  # seconds between a journal's ``tick`` calls while nodes run


async def fetch_results(state: RunState) -> None:
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
        tried = result.history  # (the call itself succeeded: its attempts stay as they were)
        result.output = None
        result.status = NodeStatus.FAILED
        result.error = NodeError.from_exception(exc, f"fetching its output failed: {exc}")
        result.history = tried  # (after the error: else one attempt would tell the new one)


def read_in_driver(state: RunState, i: int) -> bool:
    """Whether the run itself reads node ``i``'s output as it succeeds: a
    ``for_each`` list made from it, or a dependent's condition. A
    ``RemoteValue`` output is then fetched at once (``Driver._landed``)."""
    if i in state.expansions:
        return True
    node_id = state.specs[i].node_id
    for d in state.tracker.dependents[i]:
        condition = state.specs[d].condition
        if condition is not None and any(r.node_id == node_id for r in condition.refs):
            return True
    return False


def read_inside(spec: NodeSpec) -> set[str]:
    """The nodes whose output ``spec``'s arguments read otherwise than whole, as a
    top-level argument: through a path (``${big.key}``), inside a list, dict or
    string (a ``for_each`` gather's list too). Such a ``RemoteValue`` is fetched
    before the arguments are rendered (``Driver._bring_upstream``)."""
    counts = Counter(r.node_id for r in spec.template.refs)
    if type(spec.args) is dict:
        for value in spec.args.values():
            ref = whole_ref(value)
            if ref is not None and not ref.path:
                counts[ref.node_id] -= 1
    return {node_id for node_id, count in counts.items() if count > 0}


async def _fetch_output(result: NodeResult, remote: RemoteValue) -> None:
    result.output = await remote.fetch()


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """A task group's first error, out of its (nested) groups."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


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


async def _stored(hit: tuple[Any]) -> Any:
    """The awaitable of an attempt answered from the cache."""
    return hit[0]


def cache_key(spec: NodeSpec, kwargs: Any) -> str | None:
    """The node's cache key: its tool, version and arguments (or its ``key``
    template) hashed; None, with a warning, if it cannot be computed."""
    policy = spec.cache
    assert policy is not None
    try:
        if policy.key is not None:
            basis = policy.key.format_map(kwargs)
        else:
            basis = json.dumps(kwargs, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except Exception as exc:
        warnings.warn(
            f"graphflow: node {spec.node_id!r:.100} is not cached: its cache key cannot be"
            f" computed ({type(exc).__name__}: {str(exc)[:200]})",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    text = f"{tool_identity(spec.tool)}\0{policy.version}\0{basis}"
    return hashlib.sha256(text.encode()).hexdigest()


def _ignore(exc: BaseException) -> None:
    """(The default of ``Driver.journal_failed``: there is no journal.)"""


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


@final
class Driver:
    """Workers that take ready nodes from the state and run them (module docstring)."""

    __slots__ = (
        "active",
        "cap",
        "cancelled_exc",
        "executor",
        "executors",
        "growing",
        "refill",
        "idle",
        "committing",
        "cache_reads",
        "caching",
        "journal",
        "journal_failed",
        "parked",
        "remote",
        "uncommitted",
        "state",
        "tg",
        "ticker",
        "ticks",
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
        # Workers waiting for work while others run nodes (LIFO: a dict as an ordered
        # set): woken by ``wake``, cheaper than a new task (anyio's start_soon ~45 µs).
        self.parked: dict[anyio.Event, None] = {}
        self.refill: anyio.Event | None = None  # set when the state is starved (``_make_items``)
        self.remote = False  # an executor returned a RemoteValue: fetch them from now on
        self.journal: RunJournal | None = None  # the run store's: successes are committed
        self.journal_failed: Callable[[BaseException], None] = _ignore
        self.uncommitted: list[int] = []  # succeeded, held until committed (then released)
        self.committing = False  # a _commit task is draining ``uncommitted``
        self.caching = False  # nodes with ``cache=`` store their calls (the journal can)
        self.cache_reads = True  # ... and look them up (RunOptions.cache)
        self.ticks: Callable[[], Awaitable[object]] | None = None  # the journal's ``tick``
        self.ticker: anyio.CancelScope | None = None  # the ``_tick`` task's, while it runs
        self.cancelled_exc = anyio.get_cancelled_exc_class()
        self.tool_errors = _tool_errors(self.cancelled_exc)

    def wake(self) -> None:
        """Ready work waits: make sure a worker will take it (module docstring, "Pool")."""
        ready = self.state.ready
        if not ready or self.state.stop_reason is not None:
            return
        self._unpark(ready)
        if self.active == 0:
            self._spawn(1)
        if len(ready) > self.idle and not self.growing and self.active < self.cap:
            self.growing = True
            self.tg.start_soon(self._grow)

    def make_items(self) -> None:
        """The state has runtime ``for_each`` items left to make (``RunState.on_expand``)."""
        self.tg.start_soon(self._make_items)

    async def _make_items(self) -> None:
        """A batch a loop tick while the state is ``starved``; else wait until it is
        (``refill``, set by a worker): items are made as fast as they are taken."""
        state = self.state
        while state.expand_more():
            self.wake()
            if state.starved():
                await anyio.lowlevel.checkpoint()
            else:
                refill = self.refill = anyio.Event()
                await refill.wait()
        self.wake()

    def _spawn(self, count: int) -> None:
        for _ in range(count):
            self.active += 1
            self.idle += 1
            self.tg.start_soon(self._worker)

    async def _grow(self) -> None:
        """Each loop tick while work waits: if every worker is blocked in a tool, add workers.

        A worker between two nodes takes the next one itself, so a pool whose
        tools never suspend stays one worker; a pool whose tools all wait on
        I/O grows to one worker per waiting node (up to the cap), ``_SPAWN_EVERY``
        more each tick: so that the calls started first see their end before the
        loop has started 10,000 others (in one tick, ~1 s: 1 ms calls with a
        0.5 s timeout failed by the thousands), and their timings are theirs.
        """
        state = self.state
        ready = state.ready
        try:
            while ready and state.stop_reason is None and (self.active < self.cap or self.parked):
                await anyio.lowlevel.checkpoint()
                self._unpark(ready)  # (a parked worker holds a place under the cap)
                if self.idle == 0 and ready and self.active < self.cap:
                    self._spawn(int(min(len(ready), self.cap - self.active, _SPAWN_EVERY)))
        finally:
            self.growing = False

    async def _worker(self) -> None:
        """Run ready nodes; with none left, park while another worker runs a node
        (its end may make work ready: ``wake`` unparks this one), else end."""
        state = self.state
        ready = state.ready
        busy = False
        parked: anyio.Event | None = None
        done = 0
        try:
            while True:
                while ready and state.stop_reason is None:
                    i = ready.popleft()
                    if state.claiming and not state.claim(i):
                        continue  # parked until what blocks it is released
                    if self.refill is not None and state.starved():
                        self.refill.set()
                        self.refill = None
                    self.idle -= 1
                    busy = True
                    if self.ticker is None and self.ticks is not None:
                        self.ticker = anyio.CancelScope()
                        self.tg.start_soon(self._tick, self.ticker)
                    await self._attempt(i)
                    busy = False
                    if self.uncommitted and not self.committing:
                        if ready:  # commit beside the work that waits (a fan-out's batch)
                            self.committing = True
                            self.tg.start_soon(self._commit)
                        else:  # nothing else to do: commit here (a chain spawns no task a link)
                            self.idle -= 1
                            busy = True
                            await self._commit(inline=True)
                            busy = False
                            self.idle += 1
                    if len(ready) > self.idle:  # (a parked worker is woken, even while
                        self.wake()  # a _grow task runs: it may hold a place under the cap)
                    done += 1
                    if done % _YIELD_EVERY == 0:
                        await anyio.lowlevel.checkpoint()
                if state.stop_reason is not None or self._busy() <= len(self.parked):
                    break  # (no more parked than busy workers: the pool shrinks)
                if self.refill is not None and state.starved():  # (items may wait to be made)
                    self.refill.set()
                    self.refill = None
                parked = anyio.Event()
                self.idle -= 1
                self.parked[parked] = None
                await parked.wait()
                parked = None  # (``wake``, or the last one out, counted it idle again)
        finally:
            if parked is not None:  # cancelled while parked (or just as it was woken)
                if parked in self.parked:
                    del self.parked[parked]
                else:
                    self.idle -= 1  # (woken: counted idle, and never ran)
            elif not busy:
                self.idle -= 1
            self.active -= 1
            if len(self.parked) > self._busy():
                self._release_parked()  # (fewer nodes run: the extra parked ones end)
            if not self.active and self.ticker is not None:
                self.ticker.cancel()  # (no node runs: nothing to tick for, nor to wait for)
                self.ticker = None
            if self.refill is not None:  # (items may have ended unstarted: skipped)
                self.refill.set()
                self.refill = None

    def _busy(self) -> int:
        """Workers inside a node (or committing one inline): neither idle nor parked."""
        return self.active - self.idle - len(self.parked)

    def _unpark(self, ready: Any) -> None:
        """Wake as many parked workers as ready nodes wait beyond the idle ones."""
        parked = self.parked
        while parked and len(ready) > self.idle:
            parked.popitem()[0].set()
            self.idle += 1  # (counted idle now: it takes work once it runs)

    def _release_parked(self) -> None:
        """Wake the parked workers beyond the busy ones (all, when none is): each
        takes work, or ends."""
        parked = self.parked
        for _ in range(len(parked) - max(self._busy(), 0)):
            parked.popitem()[0].set()
            self.idle += 1

    async def _attempt(self, i: int) -> None:
        """One attempt at node ``i``, told to the state (which may ask for a retry)."""
        state = self.state
        spec = state.specs[i]
        attempt = state.begin(i)
        timeout = state.timeouts[i]
        scope: anyio.CancelScope | None = None
        token = None
        key = hit = None
        try:
            if self.remote:  # (kept outputs this node reads inside: their values first)
                await self._bring_upstream(i, timeout)
            kwargs = state.arguments(i)
            token = CURRENT.set((state, i, attempt, kwargs))
            call: Awaitable[Any]
            if spec.cache is not None and self.caching:
                key, hit = await self._cached(spec, kwargs)
            clock = None if timeout is None else _Clock(timeout)
            if hit is not None:
                call = _stored(hit)
            elif self.remote:
                call = self._start_fetched(spec, kwargs, attempt, timeout, clock)
            else:
                call = self._start(spec, kwargs, attempt, timeout, clock)
            if timeout is None:
                output = await call
                if isinstance(output, RemoteValue):
                    output = await self._landed(i, output)
            else:
                assert clock is not None
                with anyio.fail_after(None if clock.deferred else timeout) as scope:
                    clock.enter(scope)
                    output = await call
                    if isinstance(output, RemoteValue):  # (fetched within the timeout)
                        output = await self._landed(i, output)
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
        finally:
            if token is not None:
                CURRENT.reset(token)
        if self.journal is not None:
            self._succeeded_held(i, output, key, hit is not None)
            return
        self.idle += 1
        state.succeeded(i, output)

    async def _landed(self, i: int, output: RemoteValue) -> Any:
        """Node ``i``'s output left remote: kept as it is, or its value when the run
        reads it as the node succeeds (``read_in_driver``) or a store records it."""
        self.remote = True
        if self.journal is None and not read_in_driver(self.state, i):
            return output
        return await output.fetch()  # (a store records values, not handles)

    async def _bring_upstream(self, i: int, timeout: float | None) -> None:  # noqa: ASYNC109
        """Fetch, into their results, the kept outputs node ``i`` reads inside its
        arguments (``read_inside``), all at once and within its timeout: a failed
        fetch fails ``i`` (with the first error, as a tool's own)."""
        state = self.state
        inside: set[str] | None = None
        wanted: list[tuple[NodeResult, RemoteValue]] = []
        for j in state.deps[i]:
            result = state.results[j]
            if result is None or not isinstance(result.output, RemoteValue):
                continue
            if inside is None:
                inside = read_inside(state.specs[i])
            if result.node_id in inside:
                wanted.append((result, result.output))
        if not wanted:
            return
        with anyio.move_on_after(math.inf if timeout is None else timeout) as scope:
            try:
                async with anyio.create_task_group() as tg:
                    for result, remote in wanted:
                        tg.start_soon(_fetch_output, result, remote)
            except BaseExceptionGroup as group:
                raise _first(group) from None
        if scope.cancelled_caught:
            raise TimeoutError(f"fetching the outputs it reads took over {timeout:g} s")

    async def _cached(self, spec: NodeSpec, kwargs: Any) -> tuple[str | None, Any]:
        """The node's cache key, and the stored call it finds (a 1-tuple) or None."""
        assert self.journal is not None and spec.cache is not None
        key = cache_key(spec, kwargs)
        if key is None:
            return None, None
        if not self.cache_reads:  # (--no-cache: call the tool, store its output)
            return key, None
        return key, await self.journal.cache_get(key)  # type: ignore[attr-defined]

    def _succeeded_held(self, i: int, output: Any, key: str | None, cached: bool) -> None:
        """With a run store: record the success, release its dependents once committed.

        ``key``: the node's cache key (its output is stored under it, unless
        ``cached``: it came from there)."""
        journal = self.journal
        assert journal is not None
        spec = self.state.specs[i]
        if not cached:
            try:
                journal.check_output(spec.node_id, output)
            except Exception as exc:  # cannot be stored faithfully: the node fails (no retry)
                self._failed(i, exc, None, None)
                return
            if key is not None:
                assert spec.cache is not None
                ttl = spec.cache.ttl
                expires = None if ttl is None else time.time() + ttl
                journal.cache_put(key, spec.node_id, output, expires)  # type: ignore[attr-defined]
        self.idle += 1
        self.state.succeeded(i, output, hold=True, cached=cached)
        self.uncommitted.append(i)  # (its worker commits it, or has it committed: _worker)

    async def _tick(self, scope: anyio.CancelScope) -> None:
        """Call the journal's ``tick`` every ``TICK`` seconds until cancelled (when no
        worker is left); its failure stops the run, as a commit's does."""
        assert self.ticks is not None
        with scope:
            while True:
                await anyio.sleep(TICK)
                try:
                    await self.ticks()
                except Exception as exc:
                    self.journal_failed(exc)
                    return

    async def _commit(self, inline: bool = False) -> None:
        """Commit held successes in batches — all that arrived while the last commit
        ran go in the next — and release each batch's dependents once it is durable.

        ``inline``: run by a worker that goes on with what the last batch released
        (it wakes the pool itself, so a chain's link wakes nothing)."""
        assert self.journal is not None
        state = self.state
        self.committing = True
        try:
            while self.uncommitted:
                batch, self.uncommitted = self.uncommitted, []
                try:
                    await self.journal.commit([state.results[i] for i in batch])  # type: ignore[misc]
                except Exception as exc:  # the run stops (an essential sink failed)
                    self.journal_failed(exc)
                for i in batch:
                    state.release(i)
                if not inline or self.uncommitted:
                    self.wake()
        finally:
            self.committing = False

    def _failed(
        self, i: int, exc: BaseException, timeout: float | None, scope: anyio.CancelScope | None
    ) -> None:
        self.idle += 1
        timed_out = timeout if scope is not None and scope.cancel_called else None
        delay = self.state.failed(i, exc, timed_out)
        if delay is not None:
            self.tg.start_soon(self._retry_after, i, delay)

    def _start(
        self,
        spec: NodeSpec,
        kwargs: Any,
        attempt: int,
        timeout: float | None,
        clock: _Clock | None,
    ) -> Awaitable[Any]:
        """The attempt's awaitable: a coroutine function's call, or its executor's ``call``."""
        where = spec.executor
        if (where is None and spec.is_async) or where == "async":
            return spec.tool(**kwargs)  # type: ignore[no-any-return]
        executor = self.executor if where is None else self.executors[where]
        run_id = self.state.run_id
        key = idempotency_key(run_id, spec.node_id, spec.idempotency_key, kwargs)
        if clock is not None and getattr(executor, "waits_for_capacity", False):
            clock.defer()  # (it calls ``began`` when the tool starts)
        node = NodeCall(
            run_id,
            spec.node_id,
            attempt,
            spec.tool,
            kwargs,
            timeout,
            idempotency_key=key,
            resources=spec.resources,
            began=None if clock is None else clock.began,
        )
        return executor.call(node)

    async def _start_fetched(
        self,
        spec: NodeSpec,
        kwargs: Any,
        attempt: int,
        timeout: float | None,  # noqa: ASYNC109 - handed on in the NodeCall; enforced by the caller
        clock: _Clock | None,
    ) -> Any:
        """``_start`` once the ``RemoteValue`` arguments its executor cannot take are fetched."""
        where = spec.executor
        owner: object = None  # (the loop: nothing stays remote for it)
        if not ((where is None and spec.is_async) or where == "async"):
            owner = self.executor if where is None else self.executors[where]
        return await self._start(spec, await _fetched(kwargs, owner), attempt, timeout, clock)

    async def _retry_after(self, i: int, delay: float) -> None:
        try:
            await anyio.sleep(delay)
        except self.cancelled_exc:
            reason = self.state.stop_reason or "run cancelled"
            self.state.cancelled(i, reason + " while waiting to retry")
            raise
        self.state.retry(i)
        self.wake()


@final
class _Clock:
    """An attempt's timeout, which an executor may start late (``NodeCall.began``).

    Started when ``Executor.call`` is, unless the executor says it makes calls
    wait for capacity (``waits_for_capacity``): then ``began`` starts it. On
    the path that fetches remote arguments first, the fetch has spent part of
    it already: ``began`` gives the tool what is left.
    """

    __slots__ = ("deferred", "entered", "scope", "spent", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.scope: anyio.CancelScope | None = None  # ``fail_after``'s, once entered
        self.entered = 0.0
        self.spent = 0.0  # (fetching, before the clock was deferred)
        self.deferred = False

    def enter(self, scope: anyio.CancelScope) -> None:
        self.scope = scope
        self.entered = anyio.current_time()

    def defer(self) -> None:
        self.deferred = True
        if self.scope is not None:  # (entered already: outputs were fetched first)
            self.spent = anyio.current_time() - self.entered
            self.scope.deadline = math.inf

    def began(self) -> None:
        if self.scope is not None:
            self.scope.deadline = anyio.current_time() + self.timeout - self.spent

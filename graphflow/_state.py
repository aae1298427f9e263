"""The state of one run, apart from what drives it: pure, synchronous, no anyio.

In the spirit of graphlib's prepare/get_ready/done and of dask's
``start_state_from_dask``/``finish_task`` (``dask/local.py``): the driver
(``_scheduler``) takes nodes from ``ready``, tells the state what happened to
each (``begin``, ``succeeded``, ``failed``, ``cancelled``) and the state does
all the bookkeeping — records the one result of every node, releases or skips
what depends on it, expands runtime ``for_each`` maps, keeps limit and lock
claims, sweeps up after a stop, and emits one ``Event`` per transition. So
it can be tested without an event loop, and a resumed run is just a state
that starts with earlier results.

Per node (indexed by number, as in ``_ready``):
  ``results[i]``   its one ``NodeResult``, set exactly once (None: not yet);
  ``attempts[i]``  calls begun so far; ``started[i]`` when the first began;
  ``tried[i]``     when the current one began; ``earlier[i]`` the history of
                   the failed attempts before it (only for retried nodes);
  ``last_error``   the error of a node's latest failed attempt, while it retries.
The run: ``ready`` (may start now: the driver's queue), ``stop_reason`` (set
by fail_fast or ``stop``: nothing new starts), ``unfinished`` (nodes without
a result). Node transitions:

    waiting -> ready -> running -> succeeded | failed | (retrying -> ready)
    waiting -> skipped (an upstream failed, or the run stopped)
    running | retrying -> cancelled (the run stopped or was cancelled)
"""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, final

from ._condition import ConditionError
from ._event import FINISHED_EVENT, Event, EventKind
from ._expand import ResultRef, RuntimeMap, gather_spec, item_record, item_spec
from ._graph import Plan
from ._limits import NOT_RENDERED, Claims
from ._ready import READY, SKIP, ReadyTracker
from ._refs import Ref, copy_plain, resolve_path
from ._results import (
    OWN_ATTEMPT,
    Attempt,
    DependencyIndex,
    NodeError,
    NodeResult,
    NodeStatus,
    RunResult,
    _attempt,
)
from ._spec import NO_RETRY, NodeSpec, Retry, Trigger
from .errors import DuplicateNodeError, NodeInputError, OptionError, UnknownNodeError

_SUCCEEDED: Final = NodeStatus.SUCCEEDED
_FAILED: Final = NodeStatus.FAILED
_SKIPPED: Final = NodeStatus.SKIPPED
_CANCELLED: Final = NodeStatus.CANCELLED

Emit = Callable[[Event], None]
EXPAND_EVERY: Final = 512  # runtime for_each items made at once (``RunState._expand``)
WAITING_ENOUGH: Final = 4 * EXPAND_EVERY  # ... while fewer of a map's wait to start


class RunState:
    """Everything one run knows, and every transition it can make (module docstring)."""

    def __init__(
        self,
        plan: Plan,
        *,
        run_id: str | None = None,
        fail_fast: bool = False,
        default_timeout: float | None = None,
        default_retry: Retry | None = None,
        limits: Mapping[str, int] | None = None,
        seed: int | None = None,
        emit: Emit | None = None,
        resume_from: Mapping[str, NodeResult] | None = None,
    ) -> None:
        grows = bool(plan.expansions)  # runtime for_each: nodes are added as the run goes
        specs = self.specs = list(plan.specs) if grows else plan.specs
        self.index = dict(plan.index) if grows else plan.index
        self.deps = list(plan.deps) if grows else plan.deps
        self.expansions = plan.expansions
        self.map_sizes: dict[str, int] = {}  # runtime map id -> how many items it expanded to
        dependents = list(plan.dependents) if grows else plan.dependents  # (rows: as added to)
        self.tracker = ReadyTracker(
            plan.deps, dependents, [s.trigger is Trigger.ALL_DONE for s in specs]
        )
        self.default_timeout = default_timeout
        self.timeouts = [_effective_timeout(s.timeout, default_timeout) for s in specs]
        self.default_retry = default_retry or NO_RETRY
        self.claims = Claims({**plan.limits, **(limits or {})})
        for spec in specs:
            self.claims.check(spec)
        self.claiming = self.claims.used  # (read per node: kept flat)
        n = len(specs)
        self.results: list[NodeResult | None] = [None] * n
        self.attempts = [0] * n
        self.started: list[float | None] = [None] * n
        self.tried: list[float] = [0.0] * n
        self.earlier: dict[int, list[Attempt]] = {}
        self.last_error: dict[int, NodeError] = {}
        self.unfinished = n
        self.ready: deque[int] = deque()
        self.fail_fast = fail_fast
        self.stop_reason: str | None = None
        self.stop_cause: str | None = None
        self.on_stop: Callable[[], None] | None = None  # the driver cancels running nodes
        self.on_wake: Callable[[], None] | None = None  # the driver starts workers for ready ones
        self.on_expand: Callable[[], None] | None = None  # the driver calls ``expand_more``
        self.expanding: list[_Expansion] = []  # maps whose items are still being made
        self._making: dict[str, _Expansion] = {}  # the same, by map id (chained maps follow)
        self._expand_asked = False  # on_expand was called, and expand_more has work
        self.executor_names: frozenset[str] | None = None  # the driver's (None: not checked)
        self.swept = False  # unstarted nodes were given results after a stop
        self.rng = random.Random(seed)
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.emit = emit
        self.resume_from = resume_from
        self.vet: Callable[[NodeSpec], bool] | None = None  # (a store's: see ``add``)
        self.stale: set[str] = set()  # added nodes whose earlier success is of another node
        self._settling: list[int] = []
        self._draining = False
        self.conditional = any(s.condition is not None for s in specs)
        self.started_at = time.time()
        self.finished_at: float | None = None

    # -- what the driver calls -------------------------------------------------

    def start(self) -> None:
        """Begin: emit ``run.started`` and make the nodes without upstream ready."""
        self.started_at = time.time()
        self._event(EventKind.RUN_STARTED)
        self._queue(self.tracker.start())

    def claim(self, i: int) -> bool:
        """Take node ``i``'s limits and locks, all or none; False: it is parked.

        A parked node is made ready again (holding its claims) when what
        blocks it is released. Call only when ``claiming`` is true.
        """
        return self.claims.take(i, self.specs[i], self._render)

    def begin(self, i: int) -> int:
        """Node ``i`` starts an attempt: count it, emit ``node.started``; returns its number."""
        attempt = self.attempts[i] = self.attempts[i] + 1
        now = self.tried[i] = time.time()
        if self.started[i] is None:
            self.started[i] = now
        if self.emit is not None:
            self._event(EventKind.NODE_STARTED, i, attempt)
        return attempt

    def arguments(self, i: int) -> Any:
        """Node ``i``'s arguments, references resolved (raises what resolving raised)."""
        if self.claiming:
            rendered = self.claims.rendered(i)  # (raises what naming its keys raised)
            if rendered is not NOT_RENDERED:
                return rendered
        return self._render(self.specs[i])

    def _render(self, spec: NodeSpec) -> Any:
        template = spec.template
        if not template.shares:
            return spec.args
        # copied, so that no tool can change another node's output, its own
        # arguments for a retry, or the caller's (README: "Results are yours")
        rendered = spec.args if template.constant else template.render(self._lookup)
        return copy_plain(rendered)

    def succeeded(self, i: int, output: Any, hold: bool = False, cached: bool = False) -> None:
        """Node ``i``'s attempt returned ``output``: record it, release its dependents.

        ``hold``: record it but leave its dependents waiting until ``release(i)``
        (a run store commits the success first: durable before visible).
        ``cached``: the output is a stored earlier call's (``NodeResult.cached``).
        """
        self._record(i, _SUCCEEDED, output=output, cached=cached)
        if self.claiming:
            self._release_claims(i, done=True)
        if not hold:
            self._release(i, True)

    def release(self, i: int) -> None:
        """Node ``i``, recorded succeeded with ``hold``, may now feed its dependents."""
        self._release(i, True)

    def failed(self, i: int, exc: BaseException, timed_out: float | None = None) -> float | None:
        """Node ``i``'s attempt raised ``exc`` (``timed_out``: its timeout expired).

        Returns the seconds to wait before the node is retried (then call
        ``retry``), or None: the node is recorded failed and its dependents skipped.
        """
        message = f"timed out after {timed_out:g} s" if timed_out is not None else None
        error = NodeError.from_exception(exc, message, timed_out=timed_out)
        retry = self.specs[i].retry or self.default_retry
        attempt = self.attempts[i]
        if (
            attempt <= retry.retries
            and isinstance(exc, retry.on)
            and not isinstance(exc, NodeInputError)
            and self.stop_reason is None
        ):
            delay = retry.delay(attempt, self.rng.random())
            self.last_error[i] = error
            self.earlier.setdefault(i, []).append(Attempt(self.tried[i], time.time(), error))
            self._event(EventKind.NODE_RETRYING, i, attempt, error=error, delay=delay)
            if self.claiming:  # a node waiting to retry holds nothing
                self._release_claims(i, done=False)
            return delay
        self._record(i, _FAILED, error=error)
        if self.claiming:
            self._release_claims(i, done=True)
        self._release(i, False)
        return None

    def retry(self, i: int) -> None:
        """Node ``i`` has waited out its backoff: it is ready again."""
        self.ready.append(i)

    def cancelled(self, i: int, reason: str | None = None) -> None:
        """Node ``i`` was cancelled while running or waiting to retry."""
        why = reason or self.stop_reason or "run cancelled"
        self._record(i, _CANCELLED, error=self.last_error.get(i), reason=why, cause=self.stop_cause)

    def stop(self, reason: str, cause: str | None = None) -> None:
        """Start nothing new: running nodes are to be cancelled, the rest skipped.

        ``cause``: the node at the root of the stop, if one is (fail_fast).
        """
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_cause = cause
            if self.on_stop is not None:
                self.on_stop()

    def finish(self) -> None:
        """End of the run: give every node still without one a result; emit ``run.finished``."""
        self._stop_expanding(self.expanding)  # (maps cut short: their gathers are skipped below)
        self.expanding.clear()
        self._finish_unstarted()
        self.finished_at = time.time()
        self._event(EventKind.RUN_FINISHED)

    def result(self) -> RunResult:
        """The results so far (of every node, once ``finish`` has run)."""
        results = {
            s.node_id: r for s, r in zip(self.specs, self.results, strict=True) if r is not None
        }
        deps = DependencyIndex([s.node_id for s in self.specs], list(self.deps))
        end = self.finished_at or time.time()
        return RunResult(self.run_id, results, self.started_at, end, deps)

    def add(self, spec: NodeSpec) -> int:
        """Add a node while the run goes on; its upstream nodes must exist already.

        Raises:
            DuplicateNodeError, UnknownNodeError, OptionError: nothing was added.
        """
        if spec.node_id in self.index:
            raise DuplicateNodeError(spec.node_id)
        names = self.executor_names
        if spec.executor is not None and names is not None and spec.executor not in names:
            raise OptionError(
                "executors",
                spec.executor,
                f"node {spec.node_id!r} runs on executor {spec.executor!r}, which this run "
                f"does not have ({', '.join(sorted(names))})",
                got="none",
            )
        for dep in spec.deps:
            if dep not in self.index:
                how = "depends on" if dep in spec.depends_on else "references"
                raise UnknownNodeError(spec.node_id, dep, how)
        if self.vet is not None and not self.vet(spec):
            self.stale.add(spec.node_id)  # changed since the resumed run: it runs again
        i = self._add(spec)
        if self.stop_reason is not None:
            self._finish_unstarted(running_too=False)
        return i

    def add_limit(self, name: str, capacity: int) -> None:
        """Size a named pool that nodes added from now on may claim."""
        self.claims.book.add_limit(name, capacity)

    # -- recording and releasing ---------------------------------------------

    def _record(
        self,
        i: int,
        status: NodeStatus,
        *,
        output: Any = None,
        error: NodeError | None = None,
        reason: str | None = None,
        cause: str | None = None,
        cached: bool = False,
    ) -> None:
        if self.results[i] is not None:  # e.g. cancelled twice: the first record stands
            return
        now = time.time()
        attempts = self.attempts[i]
        history: tuple[Attempt, ...] = ()
        if attempts:  # (one attempt: the result's own start, end and error; see NodeResult)
            earlier = self.earlier.pop(i, None)
            if earlier is not None:
                history = (*earlier, _attempt(Attempt, (self.tried[i], now, error)))
            else:
                history = OWN_ATTEMPT
        result = self.results[i] = NodeResult(
            self.specs[i].node_id,
            status,
            output,
            error,
            attempts,
            self.started[i],
            now,
            reason,
            history,
            cause,
            cached,
        )
        self.unfinished -= 1
        if self.emit is not None:
            self._event(FINISHED_EVENT[status], i, attempts, result=result)
        if status is _FAILED and self.fail_fast:
            self.stop(f"fail_fast: {result.node_id!r} failed", cause=result.node_id)

    def _release(self, i: int, ok: bool) -> None:
        if ok and i in self.expansions:  # before i's dependents are counted down
            self._expand(i)
        if ok:
            ready = self.tracker.done(i, True)
        else:
            skipped: list[tuple[int, int]] = []
            ready = self.tracker.done(i, False, skipped)
            for node, upstream in skipped:
                self._skip(node, upstream)
        if ready:
            self._queue(ready)
        if self.stop_reason is not None and not self.swept:
            # Nothing else will start. One sweep suffices: it finishes every waiting
            # node in the tracker, so no later release can make one ready.
            self._finish_unstarted(running_too=False)
            self.swept = True

    def _queue(self, nodes: Iterable[int]) -> None:
        """Make ``nodes`` ready, but first settle those decided without running:
        restored from earlier results, or with a condition to evaluate."""
        if self.resume_from is None and not self.conditional:
            self.ready.extend(nodes)
            return
        for i in nodes:
            if self._earlier_success(i) is not None or self.specs[i].condition is not None:
                self._settling.append(i)
            else:
                self.ready.append(i)
        if self._draining:
            return  # the loop below, further up the stack, takes them
        self._draining = True
        try:
            while self._settling:  # a loop, not recursion: a settled chain may be long
                self._settle(self._settling.pop())
        finally:
            self._draining = False

    def _earlier_success(self, i: int) -> NodeResult | None:
        # Never run twice what succeeded, even an all_done node whose failed
        # upstream runs again (its output stays what it was): the durable contract.
        if self.resume_from is None:
            return None
        node_id = self.specs[i].node_id
        earlier = self.resume_from.get(node_id)
        if earlier is None or earlier.status is not _SUCCEEDED or node_id in self.stale:
            return None
        return earlier

    def _settle(self, i: int) -> None:
        if self.results[i] is not None:  # a stop swept it up while it waited here
            return
        earlier = self._earlier_success(i)
        if earlier is not None:
            self._restore(i, earlier)
            return
        condition = self.specs[i].condition
        assert condition is not None
        try:
            holds = condition.holds(self._lookup)
        except ConditionError as exc:
            self._record(i, _FAILED, error=NodeError.from_exception(exc))
            self._release(i, False)
            return
        if holds:
            self.ready.append(i)
            return
        reason = f"condition is false: {condition.text[:200]}"
        self._record(i, _SKIPPED, reason=reason, cause=self.specs[i].node_id)
        self._release(i, False)

    def _restore(self, i: int, earlier: NodeResult) -> None:
        self.results[i] = earlier
        self.attempts[i] = earlier.attempts
        self.unfinished -= 1
        if self.emit is not None:
            self._event(EventKind.NODE_SUCCEEDED, i, earlier.attempts, result=earlier)
        self._release(i, True)

    def _skip(self, node: int, upstream: int) -> None:
        root = self.specs[self.tracker.cause[node]].node_id
        self._record(node, _SKIPPED, reason=self._skip_reason(node, upstream), cause=root)

    def _skip_reason(self, node: int, upstream: int) -> str:
        root = self.tracker.cause[node]
        root_result = self.results[root]
        how = root_result.status if root_result is not None else "failed"
        reason = f"upstream {self.specs[root].node_id!r} {how}"
        if upstream != root:
            reason += f" (via {self.specs[upstream].node_id!r})"
        return reason

    def _finish_unstarted(self, running_too: bool = True) -> None:
        """Give nodes still without a result one: the run is ending early.

        ``running_too=False`` (right after a stop) leaves the running ones to
        record their own cancellation when it reaches them.
        """
        if not self.unfinished:
            return
        self.tracker.finish_unstarted()
        reason = self.stop_reason or "run cancelled"
        for i, result in enumerate(self.results):
            if result is None and (running_too or not self.attempts[i]):
                status = _CANCELLED if self.attempts[i] else _SKIPPED
                error = self.last_error.get(i)
                self._record(i, status, error=error, reason=reason, cause=self.stop_cause)

    def _lookup(self, ref: Ref) -> Any:
        result = self.results[self.index[ref.node_id]]
        if type(ref) is ResultRef:
            return item_record(result)
        if result is None or result.status is not _SUCCEEDED:
            return None  # an all_done node reading an upstream that did not succeed
        return resolve_path(result.output, ref) if ref.path else result.output

    def _event(
        self,
        kind: EventKind,
        i: int | None = None,
        attempt: int = 0,
        *,
        result: NodeResult | None = None,
        error: NodeError | None = None,
        delay: float | None = None,
    ) -> None:
        if self.emit is None:
            return
        node_id = None if i is None else self.specs[i].node_id
        self.emit(Event(kind, self.run_id, time.time(), node_id, attempt, result, error, delay))

    def _release_claims(self, i: int, done: bool) -> None:
        started = self.claims.release(i, done)
        if started:
            self.ready.extend(started)  # they hold their claims already

    # -- runtime for_each ----------------------------------------------------

    def _expand(self, source: int) -> None:
        """``source`` succeeded: create the items of every map that waits on it.

        ``EXPAND_EVERY`` items now, the rest by ``expand_more`` (each map's
        gather waits for its last item to be made): a map of 100,000 items would
        hold the loop for seconds, before the first item started, or Ctrl-C did.
        """
        if self.stop_reason is not None:
            return  # nothing new starts: the gathers are skipped with the rest
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
            elif m.over in self.map_sizes:
                values, count = [], self.map_sizes[m.over]
            else:
                continue  # the map it follows failed: the tracker skips this one
            self.map_sizes[m.node_id] = count
            over = None if m.over is None else self._making.get(m.over)
            job = _Expansion(m, gather, values, count, over)
            self.tracker.block(gather)  # (until its last item is made)
            if not self._expand_some(job):
                self.expanding.append(job)  # (a chained map's job follows its map's)
                self._making[m.node_id] = job
        if self.expanding and self.on_expand is None:
            while self.expand_more(lazily=False):  # (no driver to do it a tick at a time)
                pass
        elif self.expanding and not self._expand_asked:
            self._expand_asked = True
            assert self.on_expand is not None
            self.on_expand()

    def expand_more(self, lazily: bool = True) -> bool:
        """Make the next ``EXPAND_EVERY`` items of each map still being expanded.

        True while some are left. The driver calls it once a loop tick, or
        once ``starved`` (``on_expand``). ``lazily``: only for a map with
        fewer than ``WAITING_ENOUGH`` items made but not started: items are
        made as fast as they are run, no faster (a stopped run then has few
        to skip, and an unmade item takes no memory). A stopped run makes no
        more: its maps' gathers are skipped, the items made their upstream.
        """
        jobs, self.expanding = self.expanding, []
        for k, job in enumerate(jobs):  # in order: a chained map's items follow its map's
            if self.stop_reason is not None:
                self._stop_expanding(jobs[k:])
                break
            if lazily and not self._hungry(job):
                self.expanding.append(job)
            elif self._expand_some(job):
                del self._making[job.map.node_id]
            else:
                self.expanding.append(job)
        self._expand_asked = bool(self.expanding)
        return self._expand_asked

    def starved(self) -> bool:
        """Some map being expanded is ``_hungry``: ``expand_more`` would make items."""
        return any(self._hungry(job) for job in self.expanding)

    def _hungry(self, job: _Expansion) -> bool:
        """More of the map's items can be made, and too few wait to start.

        Too few: under ``WAITING_ENOUGH`` made but not started (ready, parked
        on the map's ``max_parallel``, or waiting for an upstream). Counted
        per map: nodes parked on another map's limit held back a free map's
        items. More than one batch: in a tick where thousands of calls end,
        the workers that find nothing ready end. A chained map's items are
        made only as far as its map's."""
        if job.made >= (job.count if job.over is None else job.over.made):
            return False
        items, k = job.items, job.begun
        attempts, results = self.attempts, self.results
        while k < len(items) and (attempts[items[k]] or results[items[k]] is not None):
            k += 1  # (items start about in the order made: this moves on, rarely back)
        job.begun = k
        return len(items) - k < WAITING_ENOUGH

    def _expand_some(self, job: _Expansion) -> bool:
        """The next items of ``job``; True once the map has all of them."""
        m, gather = job.map, job.gather
        origin = m.source.node_id if m.over is None else None
        values, spec = job.values, m.spec
        end = min(job.made + EXPAND_EVERY, job.count if job.over is None else job.over.made)
        items = [
            self._add(item_spec(spec, k, values[k] if origin else None, m.over, origin))
            for k in range(job.made, end)
        ]
        job.made = max(end, job.made)
        job.items += items
        if self.results[gather] is None and items:
            outcome, upstream = self.tracker.add_deps(gather, items)
            if outcome == SKIP:
                self._skip_now(gather, upstream)
        if job.made < job.count:
            return False
        self._list_made_items(job)
        if self.results[gather] is None:
            self._queue(self.tracker.unblock(gather))
        return True

    def _list_made_items(self, job: _Expansion) -> None:
        """The map's gather lists (and depends on) its items made: all, or those made
        before the run stopped (also when an item's failure skipped it meanwhile)."""
        spec = self.specs[job.gather] = gather_spec(job.map.spec, job.made)
        self.deps[job.gather] = tuple(self.index[d] for d in spec.deps)

    def _stop_expanding(self, jobs: list[_Expansion]) -> None:
        for job in jobs:
            self._list_made_items(job)
            self._making.pop(job.map.node_id, None)

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
        self.claims.check(spec)
        self.claiming = self.claims.used
        self.conditional = self.conditional or spec.condition is not None
        i = len(self.specs)
        self.specs.append(spec)
        self.index[spec.node_id] = i
        deps = tuple(self.index[d] for d in spec.deps)
        self.deps.append(deps)
        self.results.append(None)
        self.attempts.append(0)
        self.started.append(None)
        self.tried.append(0.0)
        self.timeouts.append(_effective_timeout(spec.timeout, self.default_timeout))
        self.unfinished += 1
        outcome, upstream = self.tracker.add(deps, spec.trigger is Trigger.ALL_DONE)
        if outcome == READY:
            self._queue((i,))
        elif outcome == SKIP:
            self._skip_now(i, upstream)
        return i

    def _skip_now(self, i: int, upstream: int) -> None:
        self._skip(i, upstream)
        self._release(i, False)


@final
@dataclass(slots=True)
class _Expansion:
    """A runtime map being expanded: ``made`` of its ``count`` items exist."""

    map: RuntimeMap
    gather: int  # the map node's index: its gather, blocked until the last item is made
    values: list[Any]  # the items' values (empty for a chained map: they are outputs)
    count: int
    over: _Expansion | None  # the map this one is chained over, if that is being expanded
    made: int = 0
    items: list[int] = field(default_factory=list)  # the items made, in order
    begun: int = 0  # items[:begun] have started or ended (``RunState._hungry``)


def _effective_timeout(node: float | None, default: float | None) -> float | None:
    """The node's own timeout, else the run's; ``math.inf`` means none at all."""
    chosen = default if node is None else node
    return None if chosen is None or chosen == float("inf") else chosen

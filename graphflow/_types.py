"""Shared type aliases and the protocols of graphflow's pluggable parts.

Seams, all public:
  ``Executor``   where a node's tool runs (threads by default; processes and
                 clusters plug in here). It gets one ``NodeCall`` per attempt.
  ``RemoteValue`` an output an executor keeps where it was made (a cluster's
                 memory); the driver fetches it for whoever else needs it.
  ``EventSink``  what hears about a run: every ``Event``, in order (a log, a
                 live view, a run store, a tracer).
  ``RunStore``   an event sink that also makes each success durable before
                 the nodes that depend on it start; it resumes runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, final, runtime_checkable

if TYPE_CHECKING:
    from ._event import Event
    from ._results import NodeResult

NodeId = str
ToolFn = Callable[..., Any]


@final
@dataclass(slots=True)
class NodeCall:
    """One attempt of one node, as handed to an ``Executor``.

    Attributes:
        run_id: the run.
        node_id: the node.
        attempt: 1 for the first call, 2 for the first retry, ...
        tool: the callable to run as ``tool(**arguments)``.
        arguments: its keyword arguments, references already resolved.
        timeout: seconds this attempt may take (None: no limit). graphflow
            enforces it around ``Executor.call``; an executor that can stop
            remote work (a process, a cluster task) may use it to do so.
        began: set when there is a timeout. An executor that makes calls wait
            for capacity (a free thread or process, a worker starting) says so
            with a true class attribute ``waits_for_capacity`` and calls
            ``call.began()``, on the event loop, once the tool really starts:
            the timeout counts from there, so a node queued behind others does
            not time out waiting. Otherwise it counts from ``Executor.call``.
        idempotency_key: the same for every attempt of this node in this run,
            across retries and resumes (the node's ``idempotency_key`` template
            over its arguments, else ``"RUN_ID/NODE_ID"``): a tool with side
            effects passes it on (an API's Idempotency-Key header) so that a
            call repeated after a crash does not act twice.
        resources: the worker resources the node asked for (``resources=``,
            e.g. ``{"GPU": 1}``), None if none. ``DaskExecutor`` submits the
            task with them, so it runs only on workers that declare them;
            executors on this machine (threads, processes) ignore them.
    """

    run_id: str
    node_id: NodeId
    attempt: int
    tool: ToolFn = field(repr=False)
    arguments: Mapping[str, Any] = field(repr=False)
    timeout: float | None = None
    idempotency_key: str = ""
    resources: Mapping[str, float] | None = None
    began: Callable[[], None] | None = field(default=None, repr=False, compare=False)


@runtime_checkable
class Executor(Protocol):
    """Where a node's tool runs: the seam between *when* (the scheduler) and *where*.

    Entered once per run (``async with``) before the first call and exited once
    after the last, also after a failure or a cancellation; exiting waits for
    anything the executor still has running. The scheduler keeps the routing
    it owns: coroutine functions are awaited on the loop and graphflow's own
    nodes (a ``for_each`` gather) never reach an executor, so an executor only
    implements what it changes — by default, the plain functions.

    Optional: a true class attribute ``waits_for_capacity`` says that calls
    may wait for room (a thread, a worker) and that ``call`` calls
    ``NodeCall.began()`` when the tool starts; a node's timeout counts from
    there. Without it the timeout counts from ``call``. (Not a member of the
    protocol, so that executors without it still are ``Executor``s.)
    """

    async def __aenter__(self) -> object: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...

    async def call(self, call: NodeCall) -> Any:
        """Run ``call.tool(**call.arguments)``; return its result or raise what it raised."""
        ...


class RemoteValue:
    """A node's output left where it was computed, as an executor may return it.

    The hook for data that should not travel through the driver (a large
    array between two nodes on the same cluster). The driver passes the handle
    as it is to nodes on the executor that made it (``owner``), and replaces it
    with ``await fetch()`` for a node anywhere else (a failed fetch fails that
    node) and, just before the run finishes, in every result still holding
    one. Only whole outputs, as top-level arguments, stay handles: where the
    driver reads the value itself it is fetched — for a reference into it
    (``${big.key}``) or a list, dict or string holding it, within the reading
    node's attempt (a failed fetch fails that node); for a condition or a
    ``for_each`` list, or when a run store records it, as its own node
    succeeds (a failed fetch fails it). An event sink may see the handle; so
    do ``writes``/``reads``/``idempotency_key`` templates. A plain base
    class rather than a protocol, so that the driver's check after each node
    is one cheap ``isinstance``; nothing is checked before the first one.
    """

    __slots__ = ()

    owner: object
    """The executor that made it, which takes it as an argument as it is."""

    async def fetch(self) -> Any:
        """The value, brought to the driver."""
        raise NotImplementedError


class EventSink(Protocol):
    """Called with every ``Event`` of a run, in order.

    A plain function is a sink: ``def sink(event): ...`` runs on the loop and
    must not block. An ``async def`` sink is awaited, one event at a time and
    in order, in a task of its own, so a slow sink never holds a node back.
    Two optional attributes:
      ``essential = True``  its failure stops the run (running nodes are
                            cancelled, the rest skipped) and ``run`` raises
                            ``EventSinkError`` with the results; a sink that
                            is not essential only gets a ``RuntimeWarning``.
      ``async def aclose()`` awaited once after the run's last event, also
                            after a failure or cancellation (a store flushes here).
    """

    def __call__(self, event: Event, /) -> object: ...


Observer = EventSink
"""The first name of ``EventSink``, kept for existing code."""


@final
@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a ``RunStore`` is told when a run opens.

    Attributes:
        run_id: the run (when resuming, the id of the run being resumed).
        workflow: what the run is of (``RunOptions.workflow``: a file, a name), or None.
        nodes: node id -> fingerprint of what the node does (its tool, arguments,
            upstream nodes, condition, ``for_each``): a changed node has a new one.
        labels: more that makes the run what it is (e.g. a hash of the inputs);
            a resume with different labels is refused like a changed node.
        resume: resume ``run_id`` (its succeeded nodes are not run again) rather
            than start a new run; ``"last"`` as ``run_id``: the latest run of ``workflow``.
        force: resume even if nodes or labels changed.
        grows: nodes are added while it runs (a ``Scheduler``): ``nodes`` are
            only those known at the start; the journal's ``vet`` hears of the rest.
    """

    run_id: str
    workflow: str | None
    nodes: Mapping[str, str]
    labels: Mapping[str, str]
    resume: bool = False
    force: bool = False
    grows: bool = False


@runtime_checkable
class RunStore(Protocol):
    """Where runs are made durable (``RunOptions(store=...)``); ``graphflow.store``
    has the SQLite one. One store serves many runs, one ``RunJournal`` each."""

    async def open_run(self, info: RunInfo) -> RunJournal:
        """Record a new run, or find the one to resume, and return its journal.

        Raises:
            GraphError: the store cannot be opened, or a resume was refused
                (an unknown run; changed nodes or labels), naming what and why.
        """
        ...


@runtime_checkable
class RunJournal(Protocol):
    """One run's record in a ``RunStore``; an essential ``EventSink`` too.

    It hears every transition. Its one extra duty is ``commit``: a node's
    success is handed to it and the node's dependents start only once
    ``commit`` has returned (durable before visible). The driver groups
    successes: all those that arrive while one commit is in flight go in the
    next, so a wide fan-out costs a few commits, not one per node.

    Attributes:
        run_id: the run's id (when resuming, the resumed run's).
        earlier: when resuming, the stored results of its succeeded nodes
            (they are not run again); else empty.
        essential: True (a journal that fails stops the run: ``EventSinkError``).

    A journal with a ``cut_short`` attribute has it set to True before it is
    closed when the run ended by an exception (an executor that could not
    start...): the nodes it never reached are recorded skipped, and the run
    is not one that succeeded. One with an ``async def tick(self)`` has it
    awaited every 0.25 s while nodes run, to write what is due without a
    commit (``SQLiteStore``: a long node's start); its failure stops the run.
    """

    run_id: str
    earlier: Mapping[str, NodeResult]
    essential: bool

    def __call__(self, event: Event, /) -> object: ...

    def check_output(self, node_id: str, output: Any) -> None:
        """Raise a ``NodeInputError`` (never retried) if ``output`` cannot be stored
        faithfully; called before the node is recorded succeeded."""
        ...

    async def commit(self, results: Sequence[NodeResult]) -> None:
        """Make these successes durable; return once they are (raise if they cannot be)."""
        ...

    async def aclose(self) -> None:
        """After the run's last event: write what is pending and close."""
        ...

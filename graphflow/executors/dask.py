"""``DaskExecutor``: run nodes on a Dask distributed cluster (``executor="dask"``).

Each attempt is one Dask task, submitted through an *asynchronous*
``distributed.Client`` and awaited on the run's loop, so no thread waits on
it. Its key is unique per run, node and attempt (``graphflow-<run>-<node>-<n>``)
and ``pure=False``: a retry is a new task, never a cached result.

Submissions are batched too: the attempts of one tool (and worker resources)
that start in one loop tick (at most 64) reach the cluster as one graph
update, one ``client.map``, instead of one ``client.submit`` each: on a
2-core machine hosting a ``LocalCluster`` that cut the driver's CPU per no-op
task by ~0.8 ms (see ``benchmarks.executors``). An update fails as a whole,
so only calls whose arguments are small plain data (exact ``str``, ``bytes``,
``int``, ``float``, ``bool``, None, and lists, tuples and dicts of them, four
levels deep, ~64 KiB in all) share one; any other call (a Dask future among
its arguments, an object that might not pickle) has an update of its own, and
its failure is its node's only. A tool that does not pickle fails each of its
nodes. Dask orders the tasks of an update itself (independent ones by key),
so calls that start together do not run in a promised order. An attempt
stopped before its tick ends is never submitted.

Results are fetched in batches: an attempt whose task finished joins the
next batch, and one ``client.gather`` brings back the values of the whole
batch, so a fan-out of small tasks costs a few round trips instead of one
per task (see ``benchmarks.executors``). A batch is fetched a loop tick
after its first value is ready, or, while a gather is in flight
(``MAX_GATHERS``), when that one ends; if other tasks of the executor are
still running then, it waits up to ``BATCH_WAIT`` for them to join (with
none running, as for the next step of a chain, it goes at once). A task
that failed or was cancelled is not in a batch (``await future`` raises its
error, as distributed tells it), and when a batch's gather fails (a result
that does not pickle, a worker lost meanwhile) its values are fetched again
one at a time, so that each attempt gets its own value or error. The gather
runs in an asyncio task of the executor's, not in an attempt: a timed-out
attempt stops waiting at once, and the others' values still come back.
(asyncio, not an anyio task group: the executor is asyncio-only, and its
exit runs in the scheduler's own cancel scope, which a task group entered
in ``__aenter__`` would not nest in. A tick's submissions go in an asyncio
``call_soon`` callback, after the attempts of that tick have queued theirs.)

Connecting: a scheduler that cannot be reached (after distributed's connect
timeout, 30 s by default) or an address it cannot parse raises
``DaskConnectError`` (a ``GraphError``, with ``.address`` and ``.reason``)
when the run enters the executor, before any node runs.

Timeouts and cancellation: when an attempt is cancelled (its timeout,
``fail_fast``, Ctrl-C) its task is cancelled on the cluster too (shielded):
a task still waiting never starts, and the scheduler forgets the key. One
already running finishes in its worker thread (distributed cannot interrupt
a thread; unlike ``ProcessExecutor`` nothing is killed) and its result is
dropped, so that thread stays busy until the function returns.

A worker that dies mid-task: the scheduler reschedules the task on another
worker, up to ``distributed.scheduler.allowed-failures`` times (default 3);
after that ``await`` raises ``KilledWorker``, which fails the attempt like
any tool error (graphflow's ``retries`` then apply). Either way, no hang.

Arguments, the tool and its result travel by cloudpickle; a value that does
not pickle fails that node only, naming it. Functions travel by name: their
module must import on the workers. A tool of a module the driver imported
from a folder not on ``sys.path`` (a workflow's ``tools:``) is sent as
(folder, module, name) and imported from that folder on the worker, which
works on one machine or a shared file system; elsewhere install the tools on
the workers (an unimportable tool in a pickle makes distributed's worker die
rather than fail the task: it ends ``KilledWorker`` after ``allowed-failures``).

Resources: a node's ``resources`` (``Graph.add(..., resources={"GPU": 1})``,
``@tool(resources=...)``, ``resources:`` in YAML; ``NodeCall.resources``) go
with its tasks as ``submit(..., resources=...)``, so they only run on workers
that declare them (``dask worker ... --resources "GPU=1"``,
``LocalCluster(resources=...)``) and hold them while they run. A task no
worker can host waits (Dask's rule) until such a worker joins or its timeout
ends it; on the ``LocalCluster`` the executor starts itself (nothing else
joins it), such a node fails at once with a ``ValueError`` saying so.
``DaskExecutor(resources={"train": {"GPU": 1}})`` gives resources by node id
from outside the graph (for graphs that do not declare them).

Remote values: with ``keep_on_cluster=True`` an attempt returns a
``DaskValue`` (its Dask future) instead of the value. Another node on this
executor receives the future as an argument, which Dask resolves on the
worker, so a large output never travels through the driver; any other
consumer, and the run's result, get the value (the driver fetches it; see
``graphflow.executors.RemoteValue``).

asyncio only: distributed's client runs on asyncio (tornado). On trio,
entering the executor raises ``RuntimeError`` saying so.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, cast, final

import anyio

from .._types import NodeCall, NodeId, RemoteValue, ToolFn
from ..errors import GraphError
from ._modules import apply_from, folder_of
from ._submissions import Submission, Tick, updates

try:
    import distributed
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the dask executor needs dask.distributed: pip install 'graphflow[dask]'"
    ) from exc


_LOCAL_CLUSTER: dict[str, Any] = {
    "processes": True,
    "dashboard_address": None,
    # No dashboard, but the scheduler's HTTP server (health, metrics) still
    # starts: on a free port, not 8787 (taken by any other cluster, with a warning).
    "scheduler_kwargs": {"dashboard_address": ":0"},
}
"""``LocalCluster`` defaults; dask's own pick the workers: one process per
core (at most), threads sharing the cores."""


def _apply(tool: ToolFn, arguments: dict[str, Any]) -> Any:
    """What a Dask worker runs: ``tool(**arguments)``.

    One positional dict, not ``**arguments`` to ``submit``: a tool argument
    called ``key``, ``pure`` or ``resources`` would be taken by ``submit``.
    """
    return tool(**arguments)


@final
class DaskValue(RemoteValue):
    """A node's output kept on the cluster: its Dask future, fetched on demand."""

    __slots__ = ("future", "node_id", "owner")

    def __init__(
        self, future: distributed.Future[Any], owner: DaskExecutor, node_id: str = ""
    ) -> None:
        self.future = future
        self.owner = owner
        self.node_id = node_id

    async def fetch(self) -> Any:
        """The value, fetched with the executor's next batch: one that cannot be
        fetched (a result that does not pickle) fails alone, never its batch."""
        try:
            return await cast(DaskExecutor, self.owner)._value(self.future)
        except TypeError as exc:
            raise _result_error(self.node_id, exc) from None

    def __repr__(self) -> str:
        return f"DaskValue({self.future.key!r})"


MAX_GATHERS = 1
"""Batches fetched at once; the next batch fills while they are in flight.

One: results of a fan-out arrive a few per loop tick, so batches of one tick
held 1-2 values (1,000 no-op nodes: ~500 gathers); while one gather is in
flight, the next batch collects everything that finishes meanwhile (~150
gathers). The price: a value waits for the gather in flight (one round trip,
or the transfer of a large value ahead of it) before its own starts."""

BATCH_WAIT = 0.02
"""Seconds a batch may wait for the executor's running tasks to join it.

Each gather is a round trip through the scheduler, paid in CPU by the
scheduler and the workers as well as the driver: on a 2-core machine a fan-out
of 1,000 no-op nodes made ~150 gathers of ~7 values each, 1.32x raw
``submit`` + one ``gather`` (median of 15 interleaved turns); waiting up to
20 ms while tasks still run, ~75 gathers of ~14, 1.21x. A value waits at most
this long for its siblings, never when none is running."""


KILL_AFTER = 0.8
"""Seconds a worker of the executor's own ``LocalCluster`` is given to stop when
the run ends (distributed waits 0.8 x the nanny's timeout) before it is killed:
idle, it stops in well under that; busy in a task, it is killed (its state goes
with the cluster)."""


class DaskConnectError(GraphError, ConnectionError):
    """The executor could not connect to its scheduler: nothing ran.

    A ``GraphError`` (the CLI prints it as one line, exit 2). ``address`` is the
    scheduler's (None: the LocalCluster started for the run), ``reason`` what
    distributed said.
    """

    def __init__(self, address: str | None, reason: str) -> None:
        self.address = address
        self.reason = reason
        where = f"at {address!r:.200}" if address else "started for the run"
        why = " ".join(reason.split())[:300]
        super().__init__(f"cannot connect to the Dask scheduler {where}: {why}")


@final
class _Batch:
    """Futures that finished, fetched together by one ``client.gather``."""

    __slots__ = ("done", "errors", "failed", "futures", "started", "values")

    def __init__(self) -> None:
        self.futures: dict[Any, distributed.Future[Any]] = {}  # key -> future
        self.values: dict[Any, Any] = {}
        self.errors: dict[Any, Exception] = {}  # key -> why its value could not be fetched
        self.failed = False  # the gather failed: each attempt fetches its own value
        self.started = False  # its gather task exists (it takes no more futures a tick later)
        self.done = anyio.Event()


@final
class DaskExecutor:
    """Run each call as a task on a Dask cluster.

    Args:
        address: a running scheduler (``"tcp://host:8786"``). With neither
            ``address`` nor ``client``, entering starts a ``LocalCluster``
            (``cluster_kwargs``; processes, no dashboard by default) and
            leaving shuts it down.
        client: an asynchronous ``distributed.Client`` already connected; it
            is used as it is and left open.
        cluster_kwargs: keyword arguments of the ``LocalCluster`` started
            (e.g. ``{"n_workers": 4, "threads_per_worker": 1}``).
        resources: worker resources by node id, for nodes that do not declare
            their own (``{"train": {"GPU": 1}}``; a ``for_each`` node's items
            share its entry). A node's own ``resources`` take precedence.
        keep_on_cluster: return ``DaskValue`` handles instead of values, so
            that outputs passed between Dask nodes stay on the cluster.

    Each run enters it (``async with``): the first one in connects (starting
    the ``LocalCluster``, if it is its own), runs entering meanwhile share that
    client, and the last one out closes it. To keep it between runs (a
    ``LocalCluster`` takes seconds to start), hold it open: ``async with
    DaskExecutor() as dask:`` around the runs. Runs sharing it at once must run
    on one event loop (another thread's loop is refused with ``RuntimeError``).

    Raises:
        ImportError: (at import) dask.distributed is not installed.
    """

    __slots__ = (
        "_address",
        "_batch",
        "_client",
        "_cluster",
        "_cluster_kwargs",
        "_entered",
        "_fetches",
        "_given",
        "_keep",
        "_loop_thread",
        "_opened",
        "_quiet",
        "_resources",
        "_running",
        "_tick",
    )

    def __init__(
        self,
        address: str | None = None,
        *,
        client: distributed.Client | None = None,
        cluster_kwargs: Mapping[str, Any] | None = None,
        resources: Mapping[NodeId, Mapping[str, float]] | None = None,
        keep_on_cluster: bool = False,
    ) -> None:
        if address is not None and client is not None:
            raise ValueError("give an address or a client, not both")
        if client is not None and not client.asynchronous:
            raise ValueError("the client must be asynchronous (Client(..., asynchronous=True))")
        self._address = address
        self._given = client
        self._client: distributed.Client | None = client
        self._cluster: distributed.LocalCluster | None = None
        self._cluster_kwargs = dict(cluster_kwargs or {})
        self._resources = {k: dict(v) for k, v in (resources or {}).items()}
        self._keep = keep_on_cluster
        self._batch: _Batch | None = None  # the batch still taking futures
        self._tick: Tick | None = None  # the submissions waiting for this tick's end
        self._fetches: set[asyncio.Task[None]] | None = None  # the batches' gathers
        self._running = 0  # attempts whose task has not finished yet
        self._quiet: asyncio.Event | None = None  # set when _running drops to 0
        self._entered = 0  # ``async with`` blocks open (runs, the owner's), all on one loop
        self._loop_thread = 0  # the thread whose loop they run on, while ``_entered``
        self._opened: anyio.Event | None = None  # set once the first entry has connected

    @property
    def client(self) -> distributed.Client:
        """The connected client (inside ``async with``)."""
        if self._client is None:
            raise RuntimeError("enter the DaskExecutor first (async with)")
        return self._client

    async def __aenter__(self) -> DaskExecutor:
        if not anyio.get_cancelled_exc_class().__module__.startswith("asyncio"):
            raise RuntimeError(
                "the dask executor runs on asyncio only (distributed's client is "
                "asyncio-based): run with async_backend='asyncio'"
            )
        if self._entered:  # another run, or the owner's block: share its client
            return await self._join()
        self._entered, self._loop_thread = 1, threading.get_ident()
        opened = self._opened = anyio.Event()
        try:
            await self._open()
        except BaseException:
            self._entered -= 1
            raise
        finally:
            self._opened = None
            opened.set()
        return self

    async def _join(self) -> DaskExecutor:
        """Enter an executor already entered on this loop (its client, once it has one)."""
        if threading.get_ident() != self._loop_thread:
            raise RuntimeError(
                "this DaskExecutor is in use by a run on another thread's event loop: "
                "give each thread's runs a DaskExecutor of their own"
            )
        self._entered += 1
        try:
            if self._opened is not None:  # (the first entry is still connecting)
                await self._opened.wait()
            if self._client is None:
                why = "the run sharing this executor that connects failed"
                raise DaskConnectError(self._address, why)
        except BaseException:
            self._entered -= 1
            raise
        return self

    async def _open(self) -> None:
        """Connect (starting a ``LocalCluster`` first, with no address nor client)."""
        self._fetches = set()
        if self._given is not None:
            self._client = self._given
            return
        address: Any = self._address
        if address is None:
            kwargs = {**_LOCAL_CLUSTER, **self._cluster_kwargs}
            self._cluster = await distributed.LocalCluster(  # type: ignore[no-untyped-call]
                asynchronous=True, **kwargs
            )
            address = self._cluster
        try:
            self._client = await distributed.Client(  # type: ignore[no-untyped-call]
                address, asynchronous=True
            )
        except (OSError, ValueError) as exc:  # (asyncio's TimeoutError is an OSError)
            await self._close_cluster()
            raise DaskConnectError(self._address, str(exc)) from exc
        except BaseException:
            await self._close_cluster()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered -= 1
        if self._entered:  # (the runs still inside keep the client, and the batches)
            return
        fetches, self._fetches, self._batch = self._fetches, None, None
        if fetches:  # (no attempt is waiting on a batch any more)
            for task in fetches:
                task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait(fetches)
        if self._given is not None:
            return
        client, self._client = self._client, None
        with anyio.CancelScope(shield=True):
            try:
                if client is not None:
                    await client.close()  # type: ignore[no-untyped-call]
            finally:
                await self._close_cluster()

    async def _close_cluster(self) -> None:
        """Close the ``LocalCluster`` this executor started. Its worker processes
        are stopped first with ``KILL_AFTER``: one still running a task nobody
        waits for (a run cancelled, Ctrl-C, a node timed out) held the close
        ~4 s, distributed's graceful wait, before its nanny killed it."""
        cluster, self._cluster = self._cluster, None
        if cluster is None:
            return
        nannies = [w for w in cluster.workers.values() if isinstance(w, distributed.Nanny)]
        with anyio.CancelScope(shield=True):  # (also from _open, which a cancel may reach)
            await asyncio.gather(  # (a nanny waits 0.8 x its timeout, then kills: Nanny.kill)
                *(n.close(timeout=KILL_AFTER / 0.8, reason="graphflow: closing") for n in nannies),
                return_exceptions=True,  # (one that failed to start: the cluster's close says)
            )
            await cluster.close()  # type: ignore[misc]

    async def call(self, call: NodeCall) -> Any:
        """Submit ``call.tool(**call.arguments)`` to the cluster and await it."""
        arguments = self._local(call.arguments)
        key = f"graphflow-{call.run_id}-{call.node_id}-{call.attempt}"
        resources = self._resources_of(call)
        if resources and self._cluster is not None:
            self._check_hostable(call, resources)
        folder = folder_of(call.tool)
        if folder is None:
            task: tuple[Any, ...] = (_apply, call.tool, arguments)
        else:
            name, qualname = call.tool.__module__, call.tool.__qualname__
            task = (apply_from, folder, name, qualname, arguments)
        future = await self._submit(Submission(task, key, call.node_id, resources))
        try:
            if self._keep:
                await distributed.wait(future)  # type: ignore[no-untyped-call]
                if future.status == "finished":
                    return DaskValue(future, self, call.node_id)
                return await future
            return await self._value(future)
        except TypeError as exc:
            raise _result_error(call.node_id, exc) from None
        except BaseException:
            with anyio.CancelScope(shield=True):
                await future.cancel(  # type: ignore[no-untyped-call]
                    reason=f"graphflow: node {call.node_id!r} stopped"
                )
            raise

    async def _submit(self, item: Submission) -> distributed.Future[Any]:
        """Submit ``item`` with the others of this loop tick (module docstring)."""
        self.client  # noqa: B018 (raises outside ``async with``)
        tick = self._tick
        if tick is None:  # (asyncio's call_soon: see the module docstring)
            tick = self._tick = Tick()
            asyncio.get_running_loop().call_soon(self._submit_tick, tick)
        tick.items.append(item)
        try:
            await tick.done.wait()
        except BaseException:
            item.dropped = True
            if item.future is not None:  # submitted meanwhile: cancel it on the cluster
                with anyio.CancelScope(shield=True):
                    await item.future.cancel(reason=f"graphflow: node {item.node_id!r} stopped")
            raise
        if item.future is not None:
            return cast("distributed.Future[Any]", item.future)
        if item.error is None:
            item.error = RuntimeError("its task was not submitted")
        if not item.sent:  # (the executor closed before the tick ended)
            raise item.error
        raise _unpicklable(item.node_id, item.error) from None

    def _submit_tick(self, tick: Tick) -> None:
        """Submit a tick's tasks, an update (``client.map``) per group of ``updates``."""
        if self._tick is tick:
            self._tick = None
        try:
            client = self.client
            for items in updates(tick.items):
                first = items[0]
                try:
                    if len(items) == 1:
                        first.future = client.submit(
                            *first.task, key=first.key, pure=False, resources=first.resources
                        )
                        continue
                    futures = client.map(
                        first.task[0],
                        *zip(*(item.task[1:] for item in items), strict=True),
                        key=[item.key for item in items],
                        pure=False,
                        resources=first.resources,
                    )
                except Exception as exc:  # (plain arguments: the tool does not pickle)
                    error: Exception = exc
                    sent = client.status == "running"
                    if not sent:  # (whatever it tried first, nothing can be sent)
                        error = distributed.client.ClosedClientError(
                            f"the Dask client is {client.status}: nothing was submitted"
                        )
                    for item in items:
                        item.error, item.sent = error, sent
                else:
                    for item, future in zip(items, futures, strict=True):
                        item.future = future
        except Exception as exc:  # (the executor closed meanwhile): each attempt fails
            for item in tick.items:
                if item.future is None and item.error is None:
                    item.error, item.sent = exc, False
        finally:
            tick.done.set()

    async def _value(self, future: distributed.Future[Any]) -> Any:
        """The future's value, fetched with the next batch (module docstring)."""
        self._running += 1
        try:
            await distributed.wait(future)  # type: ignore[no-untyped-call]
        finally:
            self._running -= 1
            if not self._running and self._quiet is not None:
                self._quiet.set()
        if future.status != "finished" or self._fetches is None:
            return await future  # its error or cancellation, as distributed raises it
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
        key = future.key
        batch.futures[key] = future
        if not batch.started and len(self._fetches) < MAX_GATHERS:
            self._start(batch)
        await batch.done.wait()
        if key in batch.values:
            return batch.values[key]
        error = batch.errors.get(key)
        if error is not None:
            raise error
        return await future

    def _start(self, batch: _Batch) -> None:
        assert self._fetches is not None
        batch.started = True
        task = asyncio.ensure_future(self._gather(batch))
        self._fetches.add(task)
        task.add_done_callback(self._gathered)

    def _gathered(self, task: asyncio.Task[None]) -> None:
        """A gather ended: start the batch that waited for it, if any."""
        if self._fetches is not None:
            self._fetches.discard(task)
            if self._batch is not None and not self._batch.started:
                self._start(self._batch)

    async def _gather(self, batch: _Batch) -> None:
        """Fetch a batch's values in one ``gather``, once its tick has passed."""
        try:
            await asyncio.sleep(0)  # those finishing in this tick join
            if self._running:  # and those still running, for a while
                await self._settle()
            if self._batch is batch:
                self._batch = None
            futures = [f for f in batch.futures.values() if f.status == "finished"]
            try:
                values = await self.client.gather(futures)  # type: ignore[no-untyped-call]
            except Exception:
                if len(futures) < 2:
                    raise
                await self._gather_each(batch, futures)
                return
            batch.values = {f.key: value for f, value in zip(futures, values, strict=True)}
        except (Exception, asyncio.CancelledError):
            # a worker lost meanwhile, the executor closing, or distributed's
            # shared gather cancelled by another caller's timeout: each of the
            # batch's attempts fetches its own value (or stops), as before
            batch.failed = True
        finally:
            batch.done.set()

    async def _gather_each(self, batch: _Batch, futures: list[distributed.Future[Any]]) -> None:
        """After a batch's gather failed: each value on its own, one after another.

        So that a value that cannot be fetched (a result that does not pickle)
        fails its own attempt only: attempts each awaiting their future at once
        would share one request (distributed merges concurrent gathers), and
        its error.
        """
        for future in futures:
            try:
                values = await self.client.gather([future])  # type: ignore[no-untyped-call]
            except Exception as exc:
                batch.errors[future.key] = exc
            else:
                batch.values[future.key] = values[0]

    async def _settle(self) -> None:
        """Until no task of this executor is running, or ``BATCH_WAIT`` has passed."""
        quiet = self._quiet = asyncio.Event()
        try:
            await asyncio.wait_for(quiet.wait(), BATCH_WAIT)
        except TimeoutError:
            pass
        finally:
            self._quiet = None

    def _check_hostable(self, call: NodeCall, resources: dict[str, float]) -> None:
        """On the cluster this executor started (no other worker will join): a task
        that no worker can host would wait forever, so fail its node instead.
        Its workers all have ``cluster_kwargs["resources"]`` (``LocalCluster``)."""
        has = self._cluster_kwargs.get("resources") or {}
        if all(has.get(name, 0) >= amount for name, amount in resources.items()):
            return
        declared = f"each has {has}" if has else "they declare none"
        raise ValueError(
            f"node {call.node_id!r} needs worker resources {resources}, which no worker "
            f"of the LocalCluster started for this run has ({declared}): give them in "
            "cluster_kwargs={'resources': ...} (from the command line: --dask-resources"
            " NAME=AMOUNT), or use a cluster whose workers have them"
        )

    def _resources_of(self, call: NodeCall) -> dict[str, float] | None:
        """The node's worker resources: its own (``NodeCall.resources``), else this
        executor's table by node id, a ``for_each`` item (``id[3]``) taking its node's."""
        own = call.resources
        if own:
            return dict(own)
        if not self._resources:
            return None
        node_id = call.node_id
        found = self._resources.get(node_id)
        if found is None and node_id.endswith("]"):
            found = self._resources.get(node_id.partition("[")[0])
        return found

    def _local(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments, with this executor's ``DaskValue`` handles as their futures."""
        out = dict(arguments)
        for name, value in out.items():
            if type(value) is DaskValue and value.owner is self:
                out[name] = value.future
        return out


_NOT_SERIALIZED = "Could not serialize object of type"  # distributed's own words


def _result_error(node_id: str, exc: TypeError) -> TypeError | pickle.PicklingError:
    """A result the worker could not send back, told as ``ProcessExecutor`` tells it;
    any other ``TypeError`` (the tool's own) as it is."""
    text = str(exc)
    if _NOT_SERIALIZED not in text[:80]:  # (as text, or first of the args' tuple)
        return exc
    if len(exc.args) == 1:  # the worker's text: the traceback's last line says why
        cause = text.strip().splitlines()[-1]  # "TypeError: cannot pickle '_thread.lock'..."
    else:  # (message, repr of the object)
        cause = "; ".join(str(arg)[:100] for arg in exc.args)
    return pickle.PicklingError(
        f"node {node_id!r}: its result cannot be sent back from the Dask worker ({cause[:200]})"
    )


def _unpicklable(node_id: str, exc: BaseException) -> pickle.PicklingError:
    while exc.__cause__ is not None or exc.__context__ is not None:  # the root cause
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return pickle.PicklingError(
        f"node {node_id!r}: its tool or arguments cannot be sent to the Dask cluster "
        f"({type(exc).__name__}: {str(exc)[:200]})"
    )

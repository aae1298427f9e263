"""``ProcessExecutor``: CPU-bound tools in worker processes, one call per worker at a time.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one task.
A node that overruns its timeout would keep its worker busy until the
function returns, and a cancelled run would wait for it. Here each worker is
one process with a pipe; a call that is cancelled (its timeout, ``fail_fast``,
Ctrl-C) kills that worker, and the next call starts a fresh one. So a timeout
frees its worker at once, at the price of that process.

Arguments, the tool and its result travel by pickle: a module-level function
or ``@graphflow.tool`` will do, a lambda or closure will not (the node fails,
naming what did not pickle). An exception the tool raises comes back as
itself when it pickles, else as ``RemoteError`` with its type, message and
traceback (one line: its type and text; the worker's traceback is a note in
the error's). Workers are started with ``spawn`` (never ``fork``: the run has
threads), so the tool's module must be importable in a fresh interpreter, or
be a module imported from a folder not on ``sys.path`` (a workflow's
``tools:``), which the worker imports from that folder. A call's timeout
counts once a worker has it (``waits_for_capacity``): waiting for a busy
worker, or for one to start, does not count; a worker's first call of a tool
imports that tool's module, which does. Workers ignore Ctrl-C (it reaches the
whole process group): the run decides, and kills those it cancels.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, Final, TypeVar, final

import anyio
import anyio.to_thread

from .._types import NodeCall
from ._modules import by_name

T = TypeVar("T")


class RemoteError(Exception):
    """What a tool raised in a worker process, when the exception itself did not pickle."""


class WorkerDied(Exception):
    """The worker process running the call died (killed, out of memory, ``os._exit``),
    or one could not be started for it."""


START_TIMEOUT: Final = 60.0
"""Seconds a worker process may take to start (``ProcessExecutor(start_timeout=)``)."""


def _ready_within(conn: Connection, timeout: float) -> bool:
    """``conn.poll(timeout)``, for any timeout (``math.inf``: none); ``poll`` itself
    overflows beyond ~24 days."""
    if timeout == math.inf:
        return conn.poll(None)
    deadline = time.monotonic() + timeout
    while not conn.poll(min(max(deadline - time.monotonic(), 0.0), 86_400.0)):
        if time.monotonic() >= deadline:
            return False
    return True


def _ignored(signum: int, frame: Any) -> None:  # pragma: no cover - in the worker
    return None


def _serve(conn: Connection) -> None:  # pragma: no cover - runs in the worker process
    """A worker's loop: say it is ready, then receive (tool, arguments), run, send back.

    Ctrl-C reaches the whole process group, workers too: they ignore it (the run
    kills those it cancels), so that it never comes back as a tool's own error.
    A handler that does nothing, not SIG_IGN: programs a tool starts would inherit
    SIG_IGN, and outlive the worker the run kills.
    """
    signal.signal(signal.SIGINT, _ignored)
    conn.send("ready")
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        try:
            job = pickle.loads(data)
        except BaseException as exc:  # e.g. the tool's module cannot be imported here
            text = "".join(traceback.format_exception(exc))
            conn.send(("unpicklable", ("call", f"{type(exc).__name__}: {_text(exc)}", text)))
            continue
        if job is None:
            return
        if job == "ping":  # are you alive? (asked of a worker that sat idle)
            conn.send("pong")
            continue
        tool, arguments = job
        try:
            outcome: tuple[str, Any] = ("ok", tool(**arguments))
        except BaseException as exc:  # the tool's failure, reported to the run
            outcome = ("error", exc)
            try:  # it must come back as itself: one that pickles but cannot be
                pickle.loads(pickle.dumps(exc))  # rebuilt would fail in the run instead
            except Exception as why:
                told = f"{type(exc).__name__}: {_text(exc)}"
                text = "".join(traceback.format_exception(exc))
                conn.send(("unpicklable", ("exception", told, f"{text}({why!r:.200})")))
                continue
        try:
            conn.send(outcome)
        except Exception as exc:  # the result or the exception does not pickle
            kind = "result" if outcome[0] == "ok" else "exception"
            text = "".join(traceback.format_exception(exc))
            conn.send(("unpicklable", (kind, f"{type(exc).__name__}: {_text(exc)}", text)))


def _text(exc: BaseException) -> str:  # pragma: no cover - in the worker
    """An exception's text on one line, at most 300 characters (whatever its __str__ does)."""
    try:
        text = " ".join(str(exc).split())
    except Exception:
        return "(its text could not be read)"
    return text if len(text) <= 300 else text[:299] + "…"


class _Worker:
    __slots__ = ("conn", "process")

    def __init__(
        self,
        context: Any,
        started: Callable[[BaseProcess], None] | None = None,
        timeout: float = START_TIMEOUT,
    ) -> None:
        """Start the process and wait until it is ready, at most ``timeout`` seconds
        (``started``: told the process before the wait, so that it can be killed
        meanwhile)."""
        parent, child = context.Pipe()
        self.process: BaseProcess = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.conn: Connection = parent
        if started is not None:
            started(self.process)
        try:  # booted (interpreter, imports) before any call may count it against a timeout
            up = _ready_within(parent, timeout)  # (a hung start held the run's exit for ever)
            ready = parent.recv() if up else None
        except (EOFError, OSError):
            self.process.join(1)
            code = self.process.exitcode
            raise WorkerDied(f"a worker process failed to start (exit code {code})") from None
        except BaseException:
            self.kill()
            raise
        if not up:
            self.kill()
            raise WorkerDied(
                f"a worker process did not start within {timeout:g} s (killed): does importing"
                " the main script wait for something? (its top-level code belongs under"
                " if __name__ == '__main__':)"
            )
        if ready != "ready":
            self.kill()
            raise WorkerDied(f"a worker process said {ready!r:.60} instead of being ready")

    def alive(self) -> bool:
        """Does the worker still answer? (One sat idle: it may have been killed meanwhile.)"""
        try:
            self.conn.send("ping")
            return bool(self.conn.recv() == "pong")
        except (EOFError, OSError):
            return False

    def exchange(self, tool: Any, arguments: Any) -> tuple[str, Any]:
        """Send one call and wait for its outcome (in a worker thread of the run)."""
        self.conn.send((tool, arguments))
        try:
            return self.conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            self.process.join(1)  # (reaped, so that its exit code is known)
            code = self.process.exitcode
            raise WorkerDied(f"the worker process died (exit code {code})") from None

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.kill()
        self.conn.close()


_NEW, _RUNNING, _DROPPED = range(3)  # a ``_Boot``'s state


@final
class _Boot:
    """One worker being started for one call (``ProcessExecutor._start``): ``_NEW``
    until its thread runs ``_boot``; ``_DROPPED`` once the call is gone."""

    __slots__ = ("state", "worker")

    def __init__(self) -> None:
        self.state = _NEW
        self.worker: _Worker | None = None


@final
class _Spare:
    """The worker ``__aenter__`` starts in a thread of its own (``_boot_spare``):
    ``process`` once started; ``dropped`` once the last one out no longer needs it;
    ``error`` if it failed to start (the call that claimed it fails with it)."""

    __slots__ = ("dropped", "error", "process", "thread")

    def __init__(self) -> None:
        self.thread: threading.Thread
        self.process: BaseProcess | None = None
        self.dropped = False
        self.error: WorkerDied | None = None


@final
class ProcessExecutor:
    """Run each call in a worker process (``spawn``), at most ``workers`` at once.

    Args:
        workers: the most worker processes (default: the number of CPUs).
        start_timeout: seconds a worker may take to start (its interpreter, and
            importing the main script) before it is killed and the call that
            waited for it fails with ``WorkerDied`` (a start that hangs would hold
            the run's exit); ``math.inf``: no limit. A tool's own module is
            imported with its first call, within the node's timeout.

    Each run enters it (``async with``): the first one in starts a worker, the
    others start as calls need them, and the last one out stops them all
    (those still running a call are killed), so no process outlives its use.
    To keep workers between runs (a loop of runs, an agent's turns), hold the
    executor open yourself: ``with ProcessExecutor(4) as pool:`` around
    ``run_sync`` calls, ``async with`` around ``await run(...)`` calls; the
    workers stop when your block ends. Runs that share it at once must run on
    one event loop (another thread's loop is refused with ``RuntimeError``).
    """

    __slots__ = (
        "_booting",
        "_context",
        "_entered",
        "_held",
        "_idle",
        "_limiter",
        "_lock",
        "_loop_thread",
        "_running",
        "_spare",
        "_start_timeout",
        "_threads",
        "_workers",
    )

    waits_for_capacity: Final = True  # a call's timeout counts once a worker has it

    def __init__(self, workers: int | None = None, *, start_timeout: float = START_TIMEOUT) -> None:
        count = workers if workers is not None else (os.cpu_count() or 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"workers must be an int >= 1 or None, got {workers!r}")
        if isinstance(start_timeout, bool) or not (
            isinstance(start_timeout, int | float) and start_timeout > 0
        ):
            raise ValueError(
                f"start_timeout must be a number of seconds > 0, got {start_timeout!r}"
            )
        self._workers = count
        self._start_timeout = float(start_timeout)
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._running: set[_Worker] = set()
        self._limiter: anyio.CapacityLimiter | None = None
        # Its thread calls (boots, exchanges: at most a few per worker) wait on no
        # one: anyio's default limiter (40, shared with the process) could hold a
        # boot before it starts, or an exchange after its timeout started.
        self._threads: anyio.CapacityLimiter | None = None
        self._booting = 0  # workers being started (in threads; ``_boot``)
        # guards ``_idle``, ``_running`` (as a whole), ``_booting``, each ``_Boot`` and
        # the fields below
        self._lock = threading.Condition()
        self._held = 0  # ``with`` blocks open: the workers outlive the runs
        self._entered = 0  # ``async with`` blocks open (runs, mostly), all on one loop
        self._loop_thread = 0  # the thread whose loop they run on, while ``_entered``
        # The worker the first entry starts (``_boot_spare``), while it starts and no
        # call has claimed it (``_take``).
        self._spare: _Spare | None = None

    def __enter__(self) -> ProcessExecutor:
        """Keep the workers between the runs made in the block (none is started here)."""
        with self._lock:
            self._held += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._held -= 1
            if self._held or self._entered:
                return
            self._drop_spare()
        self._close()

    async def __aenter__(self) -> ProcessExecutor:
        """Enter for a run (or hold it open between runs).

        Raises:
            RuntimeError: runs on another thread's event loop are inside.
        """
        here = threading.get_ident()
        with self._lock:
            if self._entered and here != self._loop_thread:
                raise RuntimeError(
                    "this ProcessExecutor is in use by a run on another thread's event "
                    "loop: give each thread's runs a ProcessExecutor of their own"
                )
            self._entered += 1
            if self._entered > 1:  # (another run, or the owner's block, on this loop)
                return self
            self._loop_thread = here
            if not self._idle:  # one starts now, while the run's first nodes do
                spare = _Spare()
                spare.thread = threading.Thread(target=self._boot_spare, args=(spare,), daemon=True)
                try:
                    spare.thread.start()
                except BaseException:  # ("can't start new thread": nothing to undo but this)
                    self._entered -= 1
                    raise
                self._booting += 1  # (``_boot_spare`` waits for the lock to count it down)
                self._spare = spare
        self._limiter = anyio.CapacityLimiter(self._workers)
        self._threads = anyio.CapacityLimiter(math.inf)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._entered -= 1
            if self._entered:
                return
            if not self._held:
                self._drop_spare()
        with anyio.CancelScope(shield=True):
            await self._in_thread(self._close)

    def _close(self) -> None:
        """Wait for the workers being started (the spare; those of cancelled calls),
        then stop every worker if nothing holds the executor any more (``_stopping``)."""
        self._wait_booted()
        for worker in self._stopping():
            worker.stop()

    def _drop_spare(self) -> None:
        """Kill the spare worker still starting that no call claimed (under the lock, by
        the last one out): nothing waits for it now, and it would be stopped once up
        (a run whose process nodes were all skipped, or a Ctrl-C, waited ~0.5 s)."""
        spare = self._spare
        if spare is not None:
            spare.dropped = True  # (killed as soon as it is started, if it is not yet)
            if spare.process is not None:
                spare.process.kill()

    def _stopping(self) -> list[_Worker]:
        """Every worker, taken out to be stopped, if nothing holds the executor now:
        none when the owner still does, or when a run entered while the last one out
        waited for workers being started (they are the new run's)."""
        with self._lock:
            if self._held or self._entered:
                return []
            workers = [*self._idle, *self._running]
            self._idle, self._running = [], set()
        return workers

    async def call(self, call: NodeCall) -> Any:
        """Run ``call.tool(**call.arguments)`` in a worker process.

        Waiting for a free worker, or for one to start, is not the call's time:
        ``call.began()`` starts its timeout once a worker has it."""
        _check_pickles(call)
        assert self._limiter is not None, "enter the executor first"
        tool, arguments = by_name(call.tool), dict(call.arguments)
        async with self._limiter:
            worker = await self._take()
            self._running.add(worker)
            if call.began is not None:
                call.began()
            try:
                kind, value = await anyio.to_thread.run_sync(
                    worker.exchange, tool, arguments, abandon_on_cancel=True, limiter=self._threads
                )
            except BaseException:  # cancelled (a timeout...) or died: this worker is done
                self._running.discard(worker)
                with anyio.CancelScope(shield=True):
                    await self._in_thread(worker.kill)
                raise  # (the next call that finds no idle worker starts one)
            self._running.discard(worker)
            self._add_idle(worker)
        return _outcome(call, kind, value)

    async def _take(self) -> _Worker:
        """An idle worker that is still alive (one may have been killed meanwhile), the
        one starting since the run began (the first call to want it waits for it), or
        a new one."""
        while True:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
                spare = None if worker is not None else self._spare
                if spare is not None:
                    self._spare = None  # (claimed: the next call starts its own)
            if worker is None and spare is not None:
                await self._in_thread(spare.thread.join, cancellable=True)
                if spare.error is not None:  # (a second start would fail alike: not waited for)
                    raise WorkerDied(str(spare.error))
                continue  # (up, it is idle: this call or another takes it)
            if worker is None:
                return await self._start()
            if await self._in_thread(worker.alive):
                return worker
            await self._in_thread(worker.kill)  # (reaps it, closes its pipe)

    async def _start(self) -> _Worker:
        """A new worker. Waiting for it can be cancelled (a timeout, Ctrl-C): the
        call ends at once, and the start goes on in its thread; the worker then
        joins the idle ones (leaving the executor waits for it, then stops it)."""
        boot = _Boot()
        with self._lock:
            self._booting += 1
        try:
            worker = await anyio.to_thread.run_sync(
                self._boot, boot, abandon_on_cancel=True, limiter=self._threads
            )
        except BaseException:
            with self._lock:
                if boot.state == _NEW:  # its thread never ran ``_boot``: it never will
                    self._booting -= 1
                    self._lock.notify_all()
                elif boot.worker is not None:  # up, but its call is gone: an idle one now
                    self._idle.append(boot.worker)
                boot.state = _DROPPED  # (a boot still running: ``_boot`` makes it idle)
            raise
        assert worker is not None  # (None only for a call that is gone)
        return worker

    def _boot(self, boot: _Boot) -> _Worker | None:
        """``_Worker(...)``, in a thread: handed to ``boot`` or, if the call that
        asked for it is gone, to the idle workers (under the lock: one has it)."""
        with self._lock:
            if boot.state == _DROPPED:  # (counted down by ``_start``)
                return None
            boot.state = _RUNNING
        worker: _Worker | None = None
        try:
            worker = _Worker(self._context, None, self._start_timeout)
        finally:
            with self._lock:
                self._booting -= 1
                if worker is not None and boot.state == _DROPPED:
                    self._idle.append(worker)
                else:
                    boot.worker = worker
                self._lock.notify_all()
        return worker

    def _add_idle(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)

    def _wait_booted(self) -> None:
        with self._lock:
            while self._booting:
                self._lock.wait()

    def _boot_spare(self, spare: _Spare) -> None:
        """``__aenter__``'s worker, in a thread of its own: idle once it is up. If it
        fails to start, the call that claimed it fails with ``WorkerDied`` saying why
        (``spare.error``): its own start would fail the same way, after as long."""
        worker: _Worker | None = None
        try:
            started = functools.partial(self._spare_started, spare)
            worker = _Worker(self._context, started, self._start_timeout)
        except WorkerDied as exc:
            if not spare.dropped:  # (killed by the last one out: nobody's error)
                spare.error = exc
        except BaseException:  # (a thread's error would be printed to stderr)
            pass
        finally:
            with self._lock:
                spare.process = None
                if worker is not None:
                    self._idle.append(worker)
                if self._spare is spare:
                    self._spare = None
                self._booting -= 1
                self._lock.notify_all()

    def _spare_started(self, spare: _Spare, process: BaseProcess) -> None:
        with self._lock:
            spare.process = process
            if spare.dropped:  # (the last one out left before it was started)
                process.kill()

    async def _in_thread(self, job: Callable[[], T], cancellable: bool = False) -> T:
        return await anyio.to_thread.run_sync(
            job, abandon_on_cancel=cancellable, limiter=self._threads
        )


def _check_pickles(call: NodeCall) -> None:
    for what, value in (("tool", call.tool), ("arguments", dict(call.arguments))):
        try:
            pickle.dumps(value)
        except Exception as exc:
            raise pickle.PicklingError(
                f"node {call.node_id!r}: its {what} cannot be sent to a worker process "
                f"({type(exc).__name__}: {str(exc)[:200]}); use module-level functions and "
                "picklable values"
            ) from None


def _outcome(call: NodeCall, kind: str, value: Any) -> Any:
    if kind == "ok":
        return value
    if kind == "error":
        raise value
    what, message, text = value
    if what == "result":
        raise pickle.PicklingError(
            f"node {call.node_id!r}: its result cannot be sent back from the worker ({message})"
        )
    if what == "call":
        raise RemoteError(f"node {call.node_id!r}: the worker could not load the call: {message}")
    # the tool's exception could not come back as itself: its type and text, one line
    # (the worker's traceback in the error's traceback, as a note)
    error = RemoteError(f"node {call.node_id!r}: {message} (raised in the worker; not picklable)")
    error.add_note(f"in the worker process:\n{text.rstrip()}")
    raise error

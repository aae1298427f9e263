"""``SQLiteStore``: runs, node transitions and successes in one SQLite file.

Layout (``_SCHEMA``)
  ``runs``   one row per run: id, workflow, labels, each node's fingerprint,
             status (``running`` until it ends), times, and the process that
             ran it last (so a run whose process died reads ``interrupted``).
  ``nodes``  one row per node of a run: its latest state — ``running`` or
             ``retrying`` while it runs, then its ``NodeResult``: status,
             attempts, times, the output as JSON (or pickled, if the store
             allows it) and, only when there is one, the rest (error, reason,
             cause, retry history) as ``to_dict()`` JSON in ``detail``.

Writing
  A run's ``_Journal`` is an inline event sink: each transition only replaces
  the node's pending row in a dict (a start: in ``started``, see below; no I/O
  on the loop). Rows are written in
  one transaction per ``commit`` — the driver hands over every success that
  arrived since the last commit, and holds their dependents until it returns —
  and once more when the run ends. Each journal has a writer thread of its own
  (started by the first write, ended by ``aclose``): a commit is one queue put
  and one wake-up of the loop, ~4x lighter than ``anyio.to_thread``, which a
  chain pays once per link; it also serialises the cache lookups. A node's
  start row waits until the node has run ``_START_AFTER`` (one that is done
  sooner has only its result written). So a crash loses at most transitions
  of nodes that had not succeeded: they run again, which the at-least-once
  contract allows. WAL mode and
  ``synchronous=NORMAL`` survive a killed process; ``synchronous="FULL"``
  also survives a power cut, at an fsync per commit.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import pickle
import queue
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, final

import anyio
import anyio.to_thread

from graphflow import (
    Attempt,
    Event,
    EventKind,
    NodeResult,
    NodeStatus,
    RunInfo,
    RunResult,
)
from graphflow.errors import NodeInputError

from ._db import MAX_DETAIL as _MAX_DETAIL
from ._db import StoreError as StoreError
from ._db import alive as _alive
from ._db import connect, connect_readonly, has_table, transaction
from ._db import rollback as _rollback
from ._db import unfaithful as _unfaithful
from ._db import what as _what
from ._resume import refusal

DEFAULT_STORE: Final = ".graphflow/runs.db"
"""Where the CLI keeps runs, relative to the workflow file's folder."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    workflow TEXT,
    labels TEXT NOT NULL,
    nodes TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    resumed INTEGER NOT NULL DEFAULT 0,
    host TEXT,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS runs_workflow ON runs (workflow, seq);
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    started_at REAL,
    finished_at REAL,
    output TEXT,
    output_pickle BLOB,
    detail TEXT,
    PRIMARY KEY (run_id, node_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    output TEXT,
    output_pickle BLOB,
    stored_at REAL NOT NULL,
    expires_at REAL,
    run_id TEXT NOT NULL,
    node_id TEXT NOT NULL
) WITHOUT ROWID;
"""
_compact: Final = json.JSONEncoder(separators=(",", ":")).encode  # (json.dumps with
# separators= builds an encoder per call: 3x slower per row on the writer thread)
_INSERT_ROW: Final = (
    "INSERT OR REPLACE INTO nodes (run_id, node_id, status, attempts, started_at, finished_at,"
    " output, output_pickle, detail) VALUES (?,?,?,?,?,?,?,?,?)"
)
_STATUS: Final = {status: status.value for status in NodeStatus}
_CHUNK: Final = 512 if sqlite3.sqlite_version_info >= (3, 32) else 64  # rows per INSERT
# statement: 9 parameters each; SQLite allows 32,766 since 3.32, 999 before
_FEW: Final = 16  # a commit of this many rows or fewer is one statement (of its exact size)
_LIVE: Final = ("running",)
_RUN_CHECKPOINT_PAGES: Final = 200  # WAL pages (4 KiB) written before a checkpoint
_COMPACT_BYTES: Final = 1 << 20  # free pages worth compacting away (``gc``)
_START_AFTER: Final = 0.25  # s: a node still running this long has its start row written
_ITEM: Final = re.compile(r"(.+)\[\d+\]")  # a for_each item's id: its node's, then [index]


class UnstorableOutputError(NodeInputError, TypeError):
    """A node's output cannot be stored faithfully as JSON (the node fails, unretried)."""


@final
@dataclass(frozen=True, slots=True)
class RunRecord:
    """One stored run, as ``SQLiteStore.runs`` lists it.

    ``status``: ``running``, ``interrupted`` (its process is gone: resume it),
    ``succeeded``, ``failed`` or ``cancelled``. ``counts``: nodes by status.
    """

    run_id: str
    workflow: str | None
    status: str
    started_at: float
    finished_at: float | None
    resumed: int
    labels: Mapping[str, str]
    counts: Mapping[str, int]


@final
class SQLiteStore:
    """Runs recorded in one SQLite file; a ``RunStore`` for ``RunOptions(store=...)``.

    Args:
        path: the file (created, with its folder, if missing).
        pickle: store outputs JSON cannot hold faithfully (tuples excepted,
            which become lists) as pickles. Loading a pickle runs code: only
            resume from store files you trust. Default: such an output fails its node.
        synchronous: SQLite's ``synchronous`` pragma: ``"NORMAL"`` (the
            default) survives a killed process; ``"FULL"`` a power cut too.
        timeout: seconds to wait for another process's write lock.
    """

    __slots__ = ("path", "pickle", "synchronous", "timeout")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pickle: bool = False,
        synchronous: str = "NORMAL",
        timeout: float = 10.0,
    ) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL, EXTRA or OFF, not {synchronous!r}")
        self.path = Path(path)
        self.pickle = pickle
        self.synchronous = synchronous.upper()
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    async def open_run(self, info: RunInfo) -> _Journal:
        """Record a new run, or find the one to resume (``RunStore``)."""
        return await anyio.to_thread.run_sync(self._open_run, info)

    # -- reading (blocking: for the CLI and for scripts) -------------------------
    # Reading opens the file read-only (``_db.connect_readonly``): it works on a
    # store the user may only read, and never creates or changes anything.

    def runs(
        self, workflow: str | None = None, limit: int | None = None, *, prefix: str | None = None
    ) -> list[RunRecord]:
        """Stored runs, newest first.

        Args:
            workflow: only this workflow's runs.
            limit: at most this many.
            prefix: only runs whose id starts with this.

        Node counts are read for the runs returned only, by the nodes' primary
        key: listing the latest few runs costs the same however large the store.
        """
        where: list[str] = []
        args: list[str | int] = []
        if workflow is not None:
            where.append("workflow = ?")
            args.append(workflow)
        if prefix is not None:
            where.append("substr(run_id, 1, ?) = ?")
            args += [len(prefix), prefix]
        chosen = (
            f"FROM runs {'WHERE ' + ' AND '.join(where) if where else ''}"
            " ORDER BY seq DESC LIMIT ?"
        )
        args.append(-1 if limit is None else limit)
        with self._reading() as db:
            rows = db.execute(
                "SELECT run_id, workflow, status, started_at, finished_at, resumed, labels,"
                f" host, pid {chosen}",
                args,
            ).fetchall()
            counts: dict[str, dict[str, int]] = {}
            for run_id, status, count in db.execute(
                f"SELECT run_id, status, count(*) FROM nodes WHERE run_id IN (SELECT run_id"
                f" {chosen}) GROUP BY run_id, status",
                args,
            ):
                counts.setdefault(run_id, {})[status] = count
        return [_record(row, counts.get(row[0], {})) for row in rows]

    def result(self, run_id: str) -> RunResult:
        """The stored results of ``run_id`` (nodes still ``running`` left out).

        Raises:
            StoreError: no such run, or the file cannot be read.
        """
        with self._reading() as db:
            run = db.execute(
                "SELECT started_at, finished_at FROM runs WHERE run_id = ?", [run_id]
            ).fetchone()
            if run is None:
                raise StoreError(self.path, f"no run {run_id!r}")
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM nodes WHERE run_id = ? AND status NOT IN"
                " ('running', 'retrying')",
                [run_id],
            ).fetchall()
        results = {}
        for row in rows:
            node = _node_result(row, self)
            results[node.node_id] = node
        return RunResult(run_id, results, run[0], run[1] or time.time())

    def nodes(self, run_id: str) -> list[dict[str, Any]]:
        """Every node row of ``run_id`` as JSON data (``running`` ones included), by start."""
        with self._reading() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM nodes WHERE run_id = ?", [run_id]).fetchall()
        found = [_node_dict(row, self) for row in rows]
        found.sort(key=lambda n: (n.get("started_at") is None, n.get("started_at") or 0))
        return found

    def declared(self, run_id: str) -> list[str]:
        """The ids of the nodes ``run_id`` was run with (its fingerprints' keys), in
        order: those with no row in ``nodes`` had not started, or not long enough
        for its start to be written (a quarter second), when the run last wrote."""
        with self._reading() as db:
            row = db.execute("SELECT nodes FROM runs WHERE run_id = ?", [run_id]).fetchone()
        try:
            found = json.loads(row[0]) if row is not None else {}
        except ValueError:
            return []
        return [str(node_id) for node_id in found] if isinstance(found, dict) else []

    def latest(self, workflow: str | None) -> str | None:
        """The id of the latest run of ``workflow`` (of any, if None), or None."""
        with self._reading() as db:
            return _latest(db, workflow)

    def gc(self, keep: int = 20, older_than: float | None = None) -> int:
        """Delete old runs: all but the newest ``keep`` of each workflow, and any
        started more than ``older_than`` seconds ago.

        Whatever their status: ``interrupted`` runs (their process died) go by the
        same rule as finished ones, and count among the newest ``keep``. Only a run
        in progress (``running``, its process alive or on another machine) stays.

        Cached calls (``cache=``) whose ``ttl`` has passed are deleted too, and, with
        ``older_than``, those stored before it (a cached call is not a run's: it is
        reused by any run while fresh, so ``keep`` does not touch it).

        A durable agent's conversation (``open_conversation``) goes with its runs:
        once none of its runs is left — this gc deleted its last, or it had none and
        started before ``older_than`` — its steps and calls are deleted too, unless
        it is in progress. (A conversation that keeps some runs keeps all its steps:
        a resume replays the steps, not the runs.)

        Then, when at least a quarter of the file (and 1 MiB) is free pages, the
        file is compacted (``VACUUM``; skipped, to be done by a later gc, while a
        run is in progress or another process writes to it): deleting rows alone
        never shrinks it.

        Returns:
            How many runs were deleted.
        """
        from ._conversations import prune  # (it imports this module)

        cutoff = time.time() - older_than if older_than is not None else None
        with self._writing() as db:
            runs = db.execute(
                "SELECT run_id, workflow, row_number() OVER (PARTITION BY workflow"
                " ORDER BY seq DESC), started_at, status, host, pid FROM runs"
            ).fetchall()
            live = {row[0] for row in runs if row[4] in _LIVE and _alive(row[5], row[6])}
            doomed = [
                (run_id, workflow)
                for run_id, workflow, rank, started, *_ in runs
                if (rank > keep or (cutoff is not None and started < cutoff)) and run_id not in live
            ]
            ids = [(run_id,) for run_id, _ in doomed]
            db.executemany("DELETE FROM nodes WHERE run_id = ?", ids)
            db.executemany("DELETE FROM runs WHERE run_id = ?", ids)
            prune(db, {workflow for _, workflow in doomed if workflow is not None}, cutoff)
            db.execute(
                "DELETE FROM cache WHERE expires_at <= ? OR stored_at < ?",
                [time.time(), -math.inf if cutoff is None else cutoff],
            )
        if not live:  # (VACUUM holds the write lock while it copies: their commits would wait)
            self._compact()
        return len(doomed)

    def _compact(self) -> None:
        """``VACUUM`` the file if much of it is free pages (``gc``)."""
        db = self._connect()
        try:
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            total = db.execute("PRAGMA page_count").fetchone()[0]
            size = db.execute("PRAGMA page_size").fetchone()[0]
            if free * size >= _COMPACT_BYTES and free * 4 >= total:
                db.execute("PRAGMA busy_timeout = 1000")  # (a writer elsewhere: next time)
                db.execute("VACUUM")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # (the WAL held it all)
        except sqlite3.OperationalError:  # busy or locked: the rows are gone all the same
            pass
        except sqlite3.Error as exc:
            raise StoreError(self.path, _what(exc)) from exc
        finally:
            db.close()

    # -- inside -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, self.timeout, self.synchronous, _SCHEMA)

    def _reading(self) -> _Connection:
        return _Connection(self, write=False)

    def _writing(self) -> _Connection:
        return _Connection(self, write=True)

    def _open_run(self, info: RunInfo) -> _Journal:
        if info.resume and not self.path.exists():  # (refused: not a new, empty store)
            raise StoreError(self.path, "no runs stored here yet: nothing to resume")
        db = self._connect()
        try:
            # A chain commits each link alone (~6 KB of WAL a link): checkpointing only
            # at the end left a 10,000-link run a 63 MB WAL to copy and delete on
            # close (0.15 s). Checkpoints in a commit now and then keep the file
            # small, reused from its start: SQLite's default, 1,000 pages (4 MB),
            # still took 0.015-0.02 s to truncate on close and stalled a commit
            # 6 ms; 200 pages: 0.01 s, 1.5-3 ms, about the same in all.
            db.execute(f"PRAGMA wal_autocheckpoint={_RUN_CHECKPOINT_PAGES}")
            run_id, earlier, stored = self._begin(db, info)
        except BaseException:
            db.close()
            raise
        journal = _Journal(self, db, run_id, earlier)
        journal.stored_prints = stored
        journal.prints = {**stored, **info.nodes} if info.grows else dict(info.nodes)
        return journal

    def _begin(
        self, db: sqlite3.Connection, info: RunInfo
    ) -> tuple[str, dict[str, NodeResult], dict[str, str]]:
        with transaction(db, self.path):
            found = self._find(db, info) if info.resume else None
            run_id, earlier, stored = found or (info.run_id, {}, {})
            nodes = {**stored, **info.nodes} if info.grows else dict(info.nodes)
            if found is None:
                self._insert(db, info)
            else:
                db.execute(
                    "UPDATE runs SET status = 'running', finished_at = NULL, nodes = ?,"
                    " labels = ?, resumed = resumed + 1, host = ?, pid = ?,"
                    " workflow = coalesce(?, workflow) WHERE run_id = ?",
                    [
                        json.dumps(nodes),
                        json.dumps(dict(info.labels)),  # (a forced resume's, like its nodes)
                        socket.gethostname(),
                        os.getpid(),
                        info.workflow,  # (forced from another file: now this one's run)
                        run_id,
                    ],
                )
        return run_id, earlier, stored

    def _insert(self, db: sqlite3.Connection, info: RunInfo) -> None:
        if db.execute("SELECT 1 FROM runs WHERE run_id = ?", [info.run_id]).fetchone():
            raise StoreError(
                self.path, f"run {info.run_id!r} exists already: resume it, or choose another id"
            )
        db.execute(
            "INSERT INTO runs (run_id, workflow, labels, nodes, status, started_at, host, pid)"
            " VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
            [
                info.run_id,
                info.workflow,
                json.dumps(dict(info.labels)),
                json.dumps(dict(info.nodes)),
                time.time(),
                socket.gethostname(),
                os.getpid(),
            ],
        )

    def _find(
        self, db: sqlite3.Connection, info: RunInfo
    ) -> tuple[str, dict[str, NodeResult], dict[str, str]]:
        """The run to resume, its succeeded nodes' results (those still the same) and
        its nodes' fingerprints. A run that grows (``Scheduler``) declares no nodes
        up front: those it adds later are vetted as they come (``_Journal.vet``)."""
        run_id = info.run_id
        if run_id == "last":
            latest = _latest(db, info.workflow)
            if latest is None:
                of = f" of {info.workflow!r}" if info.workflow is not None else ""
                raise StoreError(self.path, f"no earlier run{of} to resume")
            run_id = latest
        row = db.execute(
            "SELECT nodes, labels, status, host, pid, workflow FROM runs WHERE run_id = ?",
            [run_id],
        ).fetchone()
        if row is None:
            raise StoreError(self.path, f"no run {run_id!r} to resume")
        if row[5] is not None and info.workflow is not None and row[5] != info.workflow:
            if not info.force:  # forced (a renamed or moved file): it becomes this one's
                raise StoreError(
                    self.path,
                    f"run {run_id!r} is of workflow {str(row[5])[-150:]!r},"
                    f" not {str(info.workflow)[-150:]!r}: resume it with that one"
                    " (force=True, or --force, makes it this one's: a renamed or moved file)",
                )
        nodes, labels = json.loads(row[0]), json.loads(row[1])
        if row[2] == "running":
            self._refuse_if_running(run_id, row[3], row[4], info.force)
        declared = {n: f for n, f in nodes.items() if n in info.nodes} if info.grows else nodes
        why = refusal(declared, info.nodes, labels, info.labels)
        if why is not None and not info.force:
            raise StoreError(
                self.path,
                f"cannot resume {run_id!r}: {why} (force=True, or --force, resumes it anyway)",
            )
        earlier: dict[str, NodeResult] = {}
        stale = []
        for row in db.execute(
            f"SELECT {_COLUMNS} FROM nodes WHERE run_id = ? AND status = 'succeeded'", [run_id]
        ).fetchall():
            node_id = row[0]
            if (info.grows and node_id not in info.nodes) or _same(node_id, nodes, info.nodes):
                earlier[node_id] = _node_result(row, self)
            else:  # changed (forced): it runs again, and its old success is no more
                stale.append((run_id, node_id))  # (the run's new fingerprints hide the change)
        db.executemany("DELETE FROM nodes WHERE run_id = ? AND node_id = ?", stale)
        return run_id, earlier, nodes

    def _refuse_if_running(
        self, run_id: str, host: str | None, pid: int | None, force: bool
    ) -> None:
        if not _alive(host, pid):
            return
        if host == socket.gethostname():
            raise StoreError(self.path, f"run {run_id!r} is still running (process {pid})")
        if not force:  # another machine's process cannot be checked from here
            raise StoreError(
                self.path,
                f"run {run_id!r} is still running (process {pid} on {str(host)[:100]}), or was"
                " when that machine stopped: force=True, or --force, resumes it anyway",
            )


class _Connection:
    """``with``: a connection to the store, closed after, in one transaction: a
    write's (``BEGIN IMMEDIATE``), or a read-only one's, so that its queries see
    one state of the file. Every ``sqlite3.Error`` becomes a one-line ``StoreError``."""

    def __init__(self, store: SQLiteStore, write: bool) -> None:
        self.store = store
        self.write = write
        self.db: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        if self.write:
            self.db = self.store._connect()
            self._run("BEGIN IMMEDIATE")
            return self.db
        self.db = connect_readonly(self.store.path, self.store.timeout)
        try:
            if not has_table(self.db, "runs"):
                # A file made by a process killed before it wrote the tables (or
                # an empty one) holds no run: empty tables of this connection's own
                # (TEMP: the file is not written) let every read say so.
                self.db.executescript(_SCHEMA.replace(" TABLE IF", " TEMP TABLE IF"))
            self._run("BEGIN")
        except BaseException:
            self.db.close()
            raise
        return self.db

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        assert self.db is not None
        try:
            if self.write and kind is None:
                self._run("COMMIT")
            elif self.write:
                _rollback(self.db)
        finally:
            self.db.close()
        if isinstance(exc, sqlite3.Error):
            raise StoreError(self.store.path, _what(exc)) from exc

    def _run(self, sql: str) -> None:
        assert self.db is not None
        try:
            self.db.execute(sql)
        except sqlite3.Error as exc:
            raise StoreError(self.store.path, _what(exc)) from exc


@final
class _Journal:
    """One run's record (``RunJournal``): an inline event sink plus ``commit``."""

    essential = True

    def __init__(
        self,
        store: SQLiteStore,
        db: sqlite3.Connection,
        run_id: str,
        earlier: dict[str, NodeResult],
    ) -> None:
        self.store = store
        self.db: sqlite3.Connection | None = db
        self.run_id = run_id
        self.earlier: Mapping[str, NodeResult] = earlier
        self.pending: dict[str, NodeResult | tuple[str, int, float]] = {}
        self.started: dict[str, tuple[str, int, float]] = {}  # in start order (``_flush``)
        self.cache_rows: list[tuple[str, str, Any, float | None]] = []
        self.jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.writer: threading.Thread | None = None  # uses ``db``; started by the first write
        self.wake: Callable[[Callable[[], object]], object] = _no_loop
        self.stored_prints: Mapping[str, str] = {}  # the resumed run's node fingerprints
        self.prints: dict[str, str] = {}  # this run's, as the runs row should hold them
        self.prints_changed = False  # nodes were added while it ran: rewrite the row's
        self.finished_at: float | None = None
        self.broken = False  # a write failed: the run stops; nothing more is tried
        self.cut_short = False  # set by the run: it ended by an exception (nodes never ran)

    def __repr__(self) -> str:
        return f"<run {self.run_id!r} in {self.store!r}>"

    def __call__(self, event: Event) -> None:
        kind = event.kind
        node_id = event.node_id
        if node_id is None:
            if kind is EventKind.RUN_FINISHED:
                self.finished_at = event.time
            return
        result = event.result
        if result is not None:
            # Successes are committed by ``commit``; noted here too, so that one
            # whose commit never ran (the run was cancelled first) is written at
            # the end. A resumed node's stored result is not written again.
            if self.earlier.get(node_id) is not result:
                self.pending[node_id] = result
            if self.started:
                self.started.pop(node_id, None)
        elif kind is EventKind.NODE_STARTED or kind is EventKind.NODE_RETRYING:
            status = "running" if kind is EventKind.NODE_STARTED else "retrying"
            self.started.pop(node_id, None)  # (a retry's: moved to the end, its new time)
            self.started[node_id] = (status, event.attempt, event.time)

    def vet(self, node_id: str, fingerprint: str) -> bool:
        """A node added while the run goes on: record its fingerprint; True if the
        resumed run's stored success of that id (if any) is of the same node."""
        self.prints[node_id] = fingerprint
        self.prints_changed = True
        return self.stored_prints.get(node_id) == fingerprint

    def check_output(self, node_id: str, output: Any) -> None:
        """Raise ``UnstorableOutputError`` unless JSON holds ``output`` faithfully."""
        if self.store.pickle:
            return
        where = _unfaithful(output, "output", 0)
        if where is not None:
            if len(where) > _MAX_DETAIL // 2:  # a path 100 levels deep: keep its two ends
                where = where[:40] + "…" + where[-(_MAX_DETAIL // 2 - 41) :]
            raise UnstorableOutputError(
                f"output of {node_id[:100]!r} cannot be stored faithfully as JSON: {where}"
                " (return dicts with str keys, lists, str, int, float, bool or None;"
                " or keep it as it is: SQLiteStore(path, pickle=True), or from the CLI"
                " --no-store)"
            )

    async def cache_get(self, key: str) -> tuple[Any] | None:
        """The output stored under ``key`` and still fresh, as a 1-tuple; else None."""
        if self.broken:
            return None
        return await self._on_writer(self._cache_get, key, time.time())  # type: ignore[no-any-return]

    def cache_put(self, key: str, node_id: str, output: Any, expires_at: float | None) -> None:
        """Store ``output`` under ``key`` with the next commit (that of its node)."""
        self.cache_rows.append((key, node_id, output, expires_at))

    async def tick(self) -> None:
        """Write the start rows now due (nodes running ``_START_AFTER`` or more), and
        what else is pending: the driver calls it every ``_START_AFTER`` while nodes
        run, so that a long node's start is written though no success commits."""
        started = self.started
        if self.broken or not started:
            return
        if next(iter(started.values()))[2] >= time.time() - _START_AFTER:  # (oldest first)
            return
        await self._flush()

    async def commit(self, results: Sequence[NodeResult]) -> None:
        pending = self.pending
        for result in results:
            pending[result.node_id] = result
        await self._flush()

    async def aclose(self) -> None:
        try:
            if not self.broken:
                await self._flush(final=True)
        finally:
            db, self.db = self.db, None
            if self.writer is None:
                if db is not None:
                    db.close()
            else:  # the writer closes it, then ends (it is never left behind)
                if db is not None:
                    await self._on_writer(db.close)
                self.jobs.put(None)
                self.writer.join()  # (it has nothing left to do but return)
                self.writer = None

    async def _flush(self, final: bool = False) -> None:
        rows, self.pending = self.pending, {}
        if self.started:
            self._take_started(rows, math.inf if final else time.time() - _START_AFTER)
        if self.broken:
            raise StoreError(self.store.path, "an earlier write failed")
        cached, self.cache_rows = self.cache_rows, []
        prints = None
        if self.prints_changed:
            self.prints_changed = False
            prints = json.dumps(self.prints)
        try:
            await self._on_writer(self._write, rows, cached, prints, final)
        except BaseException:
            self.broken = True
            raise

    def _take_started(
        self, rows: dict[str, NodeResult | tuple[str, int, float]], before: float
    ) -> None:
        """Move into ``rows`` the start rows of nodes started before ``before``.

        A start is written only once its node has run ``_START_AFTER`` seconds
        (and at the end): a node that is done sooner has only its result
        written. Writing every start with the next commit made the first
        commits of a wide I/O DAG carry hundreds of rows (its roots' starts)
        while successes waited behind them: 0.2x more makespan on the 2,000-node
        benchmark. A killed run still shows every node that had run that long."""
        started = self.started
        taken = []
        for node_id, row in started.items():  # in start order: stop at the first too recent
            if row[2] >= before:
                break
            rows.setdefault(node_id, row)
            taken.append(node_id)
        for node_id in taken:
            del started[node_id]

    async def _on_writer(self, job: Callable[..., Any], *args: Any) -> Any:
        """``job(*args)`` on the journal's writer thread (started on first use);
        its result once done. Not cancellable once queued: a write is never
        left half-known (the run is cancelled after it, as after ``to_thread``)."""
        if self.writer is None:
            self.wake = _waker()
            self.writer = threading.Thread(
                target=_serve, args=(self.jobs,), name=f"graphflow store {self.run_id}", daemon=True
            )
            self.writer.start()
        done = anyio.Event()
        box: list[Any] = []
        wake = self.wake

        def run() -> None:
            try:
                box.append(job(*args))
            except BaseException as exc:
                box.append(_Raised(exc))
            try:
                wake(done.set)
            except RuntimeError:  # the loop is gone (cannot happen while awaited)
                pass

        with anyio.CancelScope(shield=True):
            self.jobs.put(run)  # (late: the writer wants the GIL as soon as it wakes)
            await done.wait()
        value = box[0]
        if type(value) is _Raised:
            raise value.exc
        return value

    def _cache_get(self, key: str, now: float) -> tuple[Any] | None:
        db = self.db
        assert db is not None
        try:
            row = db.execute(
                "SELECT output, output_pickle FROM cache WHERE key = ?"
                " AND (expires_at IS NULL OR expires_at > ?)",
                [key, now],
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(self.store.path, _what(exc)) from exc
        if row is None:
            return None
        text, blob = row
        try:
            if blob is not None:  # a pickle is loaded only when the store allows it
                return (pickle.loads(blob),) if self.store.pickle else None
            return (json.loads(text),)
        except Exception:  # an unreadable entry is a miss: the tool runs and replaces it
            return None

    def _write(
        self,
        rows: Mapping[str, NodeResult | tuple[str, int, float]],
        cached: list[tuple[str, str, Any, float | None]],
        prints: str | None,
        final: bool,
    ) -> None:
        """One commit, on the writer thread (rows are encoded there too, off the loop)."""
        db = self.db
        assert db is not None
        run_id = self.run_id
        encoded = [self._row(run_id, node_id, row) for node_id, row in rows.items()]
        try:
            if 0 < len(encoded) <= _FEW and not (cached or prints or final):
                # One statement, its own transaction: the GIL is let go once, not
                # three times (BEGIN, INSERT, COMMIT), each a wait to get it back
                # from a busy loop.
                db.execute(_insert_many(len(encoded)), [v for row in encoded for v in row])
                return
            with transaction(db, self.store.path):
                _insert(db, encoded)
                if cached:
                    now = time.time()
                    db.executemany(
                        "INSERT OR REPLACE INTO cache (key, output, output_pickle, stored_at,"
                        " expires_at, run_id, node_id) VALUES (?,?,?,?,?,?,?)",
                        [
                            (key, *self._output(output), now, expires, run_id, node_id)
                            for key, node_id, output, expires in cached
                        ],
                    )
                if prints is not None:
                    db.execute("UPDATE runs SET nodes = ? WHERE run_id = ?", [prints, run_id])
                if final:
                    db.execute(
                        "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                        [
                            "cancelled" if self.cut_short else _run_status(db, run_id),
                            self.finished_at or time.time(),
                            run_id,
                        ],
                    )
            if final:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise StoreError(self.store.path, _what(exc)) from exc

    def _row(
        self, run_id: str, node_id: str, row: NodeResult | tuple[str, int, float]
    ) -> tuple[Any, ...]:
        if isinstance(row, tuple):
            status, attempt, at = row
            return run_id, node_id, status, attempt, at, None, None, None, None
        output = row.output
        text, blob = ("null", None) if output is None else self._output(output)
        return (
            run_id,
            node_id,
            _STATUS[row.status],
            row.attempts,
            row.started_at,
            row.finished_at,
            text,
            blob,
            _detail(row),
        )

    def _output(self, output: Any) -> tuple[str | None, bytes | None]:
        """``output`` as JSON text, or (pickle=True, not JSON-faithful) as a pickle."""
        if self.store.pickle and _unfaithful(output, "output", 0) is not None:
            return None, pickle.dumps(output)
        return _compact(output), None


# -- helpers ---------------------------------------------------------------------


def _insert(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """``INSERT OR REPLACE`` ``rows`` into ``nodes``, up to ``_CHUNK`` in one statement.

    Not ``executemany``: it releases the GIL for each row, and a writer thread
    that needs it back after every row gets it only when the loop's thread
    lets go (at best when it waits, at worst every switch interval, 5 ms) —
    a busy run left its commits crawling. One statement per chunk releases it
    once per chunk (sizes are powers of two: a handful of cached statements)."""
    i, n = 0, len(rows)
    while i < n:
        size = min(_CHUNK, 1 << ((n - i).bit_length() - 1))
        db.execute(_insert_many(size), [v for row in rows[i : i + size] for v in row])
        i += size


@functools.cache
def _insert_many(size: int) -> str:
    return _INSERT_ROW + ",(?,?,?,?,?,?,?,?,?)" * (size - 1)


def _detail(result: NodeResult) -> str | None:
    """What a ``nodes`` row's columns do not say (error, reason, cause, retries,
    cached) as ``to_dict()`` JSON; None for a plain success or skip."""
    history = result.history
    if (
        not result.cached
        and result.error is None
        and result.reason is None
        and result.cause is None
        and (
            not history
            or (len(history) == 1 and history[0] == (result.started_at, result.finished_at, None))
        )
    ):
        return None
    data = result.to_dict()
    del data["output"]
    return _compact(data)


@final
class _Raised:
    """A writer job's exception, carried back to the awaiting task."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _serve(jobs: queue.SimpleQueue[Callable[[], None] | None]) -> None:
    """A journal's writer thread: run its jobs in order until told to stop (None)."""
    while (job := jobs.get()) is not None:
        job()


def _waker() -> Callable[[Callable[[], object]], object]:
    """From another thread, schedule a call on the running event loop (asyncio's
    ``call_soon_threadsafe`` or trio's ``run_sync_soon``): one wake-up, no wait —
    the lightest way back from the writer (``anyio.from_thread`` blocks it)."""
    try:
        return asyncio.get_running_loop().call_soon_threadsafe
    except RuntimeError:  # not asyncio: trio (the other backend anyio runs on)
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon


def _no_loop(_: Callable[[], object]) -> object:
    raise RuntimeError("the journal's writer was not started")


_COLUMNS: Final = (
    "node_id, status, attempts, started_at, finished_at, output, output_pickle, detail"
)


def _node_result(row: tuple[Any, ...], store: SQLiteStore) -> NodeResult:
    """A ``NodeResult`` from its ``nodes`` row (``_COLUMNS``)."""
    node_id, status, attempts, started, finished, text, blob, detail = row
    if blob is not None and not store.pickle:  # loading a pickle runs code: never unasked
        raise StoreError(
            store.path,
            f"the output of {str(node_id)[:100]!r} is a pickle: open the store with pickle=True"
            " to load it (loading a pickle runs code: only for a file you trust)",
        )
    try:
        if blob is not None:
            output = pickle.loads(blob)  # the store's owner opted in (pickle=True)
        else:
            output = None if text is None else json.loads(text)
        if detail is not None:
            data = json.loads(detail)
            data["output"] = None
            result = NodeResult.from_dict(data)
            result.output = output
            return result
        history = (Attempt(started, finished),) if attempts else ()
        return NodeResult(
            node_id, NodeStatus(status), output, None, attempts, started, finished, None, history
        )
    except Exception as exc:
        raise StoreError(
            store.path, f"the stored result of {node_id!r:.80} cannot be read: {exc}"
        ) from exc


def _node_dict(row: tuple[Any, ...], store: SQLiteStore) -> dict[str, Any]:
    """A ``nodes`` row as JSON data: ``NodeResult.to_dict()``, or a running node's state."""
    node_id, status, attempts, started = row[:4]
    if status in ("running", "retrying"):
        return {"node_id": node_id, "status": status, "attempts": attempts, "started_at": started}
    return _node_result(row, store).to_dict()


def _same(node_id: str, old: Mapping[str, str], new: Mapping[str, str]) -> bool:
    """Whether ``node_id`` does what it did: same fingerprint. An item made at run
    time (``price[3]`` of ``for_each: ${search.hits}``) has none of its own: it is
    the same if its for_each node is, so a forced resume reruns a changed one's items."""
    while node_id not in old and node_id not in new:
        match = _ITEM.fullmatch(node_id)
        if match is None:
            return True  # (not a node the run declared: nothing to compare)
        node_id = match.group(1)
    return old.get(node_id) == new.get(node_id)


def _latest(db: sqlite3.Connection, workflow: str | None) -> str | None:
    if workflow is None:
        row = db.execute("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
    else:
        row = db.execute(
            "SELECT run_id FROM runs WHERE workflow = ? ORDER BY seq DESC LIMIT 1", [workflow]
        ).fetchone()
    return None if row is None else str(row[0])


def _run_status(db: sqlite3.Connection, run_id: str) -> str:
    found = dict(
        db.execute(
            "SELECT status, count(*) FROM nodes WHERE run_id = ? GROUP BY status", [run_id]
        ).fetchall()
    )
    if found.get(NodeStatus.CANCELLED.value):
        return "cancelled"
    if found.get(NodeStatus.FAILED.value) or found.get("running") or found.get("retrying"):
        return "failed"
    return "succeeded"


def _record(row: tuple[Any, ...], counts: dict[str, int]) -> RunRecord:
    run_id, workflow, status, started, finished, resumed, labels, host, pid = row
    if status in _LIVE and not _alive(host, pid):
        status = "interrupted"
    return RunRecord(
        run_id, workflow, status, started, finished, resumed, json.loads(labels), counts
    )

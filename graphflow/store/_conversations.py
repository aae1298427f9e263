"""Agent conversations in the run store's SQLite file: what the model said, step by step.

A durable agent (``graphflow.llm.agent.run_agent`` / ``run_plan_agent`` with a
store) records, per conversation, each step the model or its tools took — a
turn's reply, the results the model read, a plan, a joiner's verdict — so that
resuming the conversation replays them instead of asking again. The tool calls
themselves are ordinary runs of the same store (one per turn or plan); this
module only keeps what lies between them.

Layout (``_SCHEMA``, beside ``runs`` and ``nodes``)
  ``conversations``       one row per conversation: id, kind (which loop, which
                          provider), a hash of how it started (the initial
                          messages, the question), labels, status, times, and
                          the process that ran it last.
  ``conversation_steps``  (conversation, step, what) -> JSON: step is the turn
                          or round number from 1; what is ``reply``,
                          ``results``, ``plan``, ``run``, ``ran``, ``verdict``.
  ``conversation_calls``  (conversation, key) -> output: the calls that
                          succeeded, by tool and arguments (``run_plan_agent``
                          answers a repeated call from here).

Each record is one transaction on a thread, committed before the loop goes on,
so a conversation killed at any moment resumes from its last record.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import sqlite3
import time
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

import anyio
import anyio.to_thread

from graphflow import RunResult

from ._resume import refusal

if TYPE_CHECKING:
    from ._sqlite import SQLiteStore
from ._db import StoreError, alive, connect, has_table, transaction, unfaithful, what

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS conversations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    started_with TEXT NOT NULL,
    labels TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    resumed INTEGER NOT NULL DEFAULT 0,
    host TEXT,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS conversations_kind ON conversations (kind, seq);
CREATE TABLE IF NOT EXISTS conversation_steps (
    conversation_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    what TEXT NOT NULL,
    data TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (conversation_id, step, what)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversation_calls (
    conversation_id TEXT NOT NULL,
    key TEXT NOT NULL,
    output TEXT,
    output_pickle BLOB,
    at REAL NOT NULL,
    PRIMARY KEY (conversation_id, key)
) WITHOUT ROWID;
"""


@final
class Conversation:
    """One conversation's record: the steps stored so far, and writing the next.

    Open one with ``open_conversation``; ``aclose`` it once done.

    Attributes:
        conversation_id: the conversation.
        resumed: it was stored already (its steps are replayed).
        steps: (step, what) -> the stored JSON data.
        calls: call key -> output, of the calls that succeeded (``remember``).
    """

    def __init__(
        self,
        store: SQLiteStore,
        db: sqlite3.Connection,
        conversation_id: str,
        resumed: bool,
        steps: dict[tuple[int, str], Any],
        calls: dict[str, Any],
    ) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.resumed = resumed
        self.steps = steps
        self.calls = calls
        self._db: sqlite3.Connection | None = db
        self._lock = anyio.Lock()  # one transaction at a time on the connection

    def __repr__(self) -> str:
        return f"<conversation {self.conversation_id!r} in {self.store!r}>"

    def step(self, step: int, what: str) -> Any:
        """The stored data of ``what`` at ``step``, or None."""
        return self.steps.get((step, what))

    async def record(self, step: int, what: str, data: Any) -> None:
        """Store ``data`` (JSON) as ``what`` at ``step``; return once it is durable.

        Raises:
            TypeError: ``data`` is not JSON.
            StoreError: it cannot be written.
        """
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        await self._write(
            "INSERT OR REPLACE INTO conversation_steps VALUES (?, ?, ?, ?, ?)",
            [self.conversation_id, step, what, text, time.time()],
        )
        self.steps[(step, what)] = json.loads(text)

    async def remember(self, key: str, output: Any) -> bool:
        """Store a call's output under ``key``; False (nothing stored) if it cannot
        be stored faithfully (as JSON, or pickled if the store allows pickles)."""
        text, blob = None, None
        if unfaithful(output, "output", 0) is None:
            text = json.dumps(output, separators=(",", ":"))
        elif self.store.pickle:
            blob = pickle.dumps(output)
        else:
            return False
        await self._write(
            "INSERT OR REPLACE INTO conversation_calls VALUES (?, ?, ?, ?, ?)",
            [self.conversation_id, key, text, blob, time.time()],
        )
        self.calls[key] = output
        return True

    async def has_run(self, run_id: str) -> bool:
        """Whether the store holds a run ``run_id`` (to resume it rather than start it)."""

        def find(db: sqlite3.Connection) -> bool:
            if not has_table(db, "runs"):  # (no run stored in this file yet)
                return False
            row = db.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone()
            return row is not None

        found: bool = await self._read(find)
        return found

    async def stored_result(self, run_id: str) -> RunResult | None:
        """The stored results of run ``run_id``, or None if there is no such run."""
        if not await self.has_run(run_id):
            return None
        return await anyio.to_thread.run_sync(self.store.result, run_id)

    async def finish(self, status: str) -> None:
        """Record how the conversation ended (``finished``, ``stopped``: max turns or rounds)."""
        await self._write(
            "UPDATE conversations SET status = ?, finished_at = ? WHERE conversation_id = ?",
            [status, time.time(), self.conversation_id],
        )

    async def aclose(self) -> None:
        """Close the connection (what was recorded stays)."""
        db, self._db = self._db, None
        if db is not None:
            db.close()

    async def _write(self, sql: str, args: list[Any]) -> None:
        def write() -> None:
            db = self._db
            if db is None:
                raise StoreError(self.store.path, f"{self!r} is closed")
            with transaction(db, self.store.path):
                db.execute(sql, args)

        async with self._lock:
            await anyio.to_thread.run_sync(write)

    async def _read(self, query: Any) -> Any:
        def read() -> Any:
            db = self._db
            if db is None:
                raise StoreError(self.store.path, f"{self!r} is closed")
            try:
                return query(db)
            except sqlite3.Error as exc:
                raise StoreError(self.store.path, what(exc)) from exc

        async with self._lock:
            return await anyio.to_thread.run_sync(read)


async def open_conversation(
    store: SQLiteStore,
    conversation_id: str,
    *,
    kind: str,
    started_with: str,
    labels: Mapping[str, str] | None = None,
    resume: bool = False,
    force: bool = False,
    what_started: str = "messages",
) -> Conversation:
    """Start a conversation, or find the stored one to resume, and load its steps.

    Args:
        store: the store whose file holds it.
        conversation_id: its id; with ``resume``, ``"last"`` is the latest of ``kind``.
        kind: which loop it is (a conversation of another kind is not resumed).
        started_with: a hash of how it started: a stored conversation that
            started otherwise is not resumed, unless ``force``.
        labels: more that defines it, compared like ``started_with``.
        resume: it must be stored already (else it is started if it is not).
        force: resume it even though ``started_with`` or ``labels`` differ.
        what_started: what ``started_with`` is a hash of, for the refusal.

    Raises:
        StoreError: the file cannot be used; or the conversation cannot be
            resumed (unknown, of another kind, still running, started otherwise).
    """
    ask = _Open(
        store, conversation_id, kind, started_with, dict(labels or {}), resume, force, what_started
    )
    db, conversation_id, resumed, steps, calls = await anyio.to_thread.run_sync(ask.open)
    return Conversation(store, db, conversation_id, resumed, steps, calls)  # (on the loop)


@dataclass(slots=True)
class _Open:
    """``open_conversation``'s work, on a thread."""

    store: SQLiteStore
    conversation_id: str
    kind: str
    started_with: str
    labels: dict[str, str]
    resume: bool
    force: bool
    what_started: str

    def open(
        self,
    ) -> tuple[sqlite3.Connection, str, bool, dict[tuple[int, str], Any], dict[str, Any]]:
        db = _connect(self.store)
        try:
            conversation_id, resumed = self._begin(db)
            steps, calls = _load(db, conversation_id, self.store)
        except BaseException:
            db.close()
            raise
        return db, conversation_id, resumed, steps, calls

    def _begin(self, db: sqlite3.Connection) -> tuple[str, bool]:
        with transaction(db, self.store.path):
            found = self._find(db)
            if found is None:
                self._insert(db)
            else:
                db.execute(
                    "UPDATE conversations SET status = 'running', finished_at = NULL,"
                    " resumed = resumed + 1, host = ?, pid = ? WHERE conversation_id = ?",
                    [socket.gethostname(), os.getpid(), found],
                )
        return (self.conversation_id, False) if found is None else (found, True)

    def _find(self, db: sqlite3.Connection) -> str | None:
        """The stored conversation to resume (None: start one), or a refusal."""
        path, conversation_id = self.store.path, self.conversation_id
        if self.resume and conversation_id == "last":
            row = db.execute(
                "SELECT conversation_id FROM conversations WHERE kind = ? ORDER BY seq DESC"
                " LIMIT 1",
                [self.kind],
            ).fetchone()
            if row is None:
                raise StoreError(path, f"no earlier {self.kind} conversation to resume")
            conversation_id = row[0]
        row = db.execute(
            "SELECT kind, started_with, labels, status, host, pid FROM conversations"
            " WHERE conversation_id = ?",
            [conversation_id],
        ).fetchone()
        if row is None:
            if self.resume:
                raise StoreError(path, f"no conversation {conversation_id!r} to resume")
            return None
        kind, started_with, labels, status, host, pid = row
        if kind != self.kind:
            raise StoreError(
                path, f"conversation {conversation_id!r} is a {kind} conversation, not {self.kind}"
            )
        if status == "running" and alive(host, pid):
            raise StoreError(
                path, f"conversation {conversation_id!r} is still running (process {pid})"
            )
        why = refusal({}, {}, json.loads(labels), self.labels)
        if started_with != self.started_with:
            why = f"different {self.what_started}" + (f"; {why}" if why else "")
        if why is not None and not self.force:
            raise StoreError(
                path,
                f"cannot resume conversation {conversation_id!r}: {why}"
                " (force=True resumes it anyway)",
            )
        return str(conversation_id)

    def _insert(self, db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO conversations (conversation_id, kind, started_with, labels, status,"
            " started_at, host, pid) VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
            [
                self.conversation_id,
                self.kind,
                self.started_with,
                json.dumps(self.labels),
                time.time(),
                socket.gethostname(),
                os.getpid(),
            ],
        )


def _connect(store: SQLiteStore) -> sqlite3.Connection:
    """A connection to the store's file, with these tables (the runs' are the run
    store's: a conversation looks a run up only once the run store made them)."""
    return connect(store.path, store.timeout, store.synchronous, _SCHEMA)


def prune(db: sqlite3.Connection, workflows: Set[str], cutoff: float | None) -> int:
    """Delete the conversations a ``SQLiteStore.gc`` leaves no run of, in its transaction.

    A conversation goes, steps and calls with it, when no run of it is left and
    either one of its runs was just deleted (``workflows``: the deleted runs'
    workflows; a conversation's runs are of ``conversation:ID``) or it started
    before ``cutoff``. One still in progress (its process alive) stays.

    Returns:
        How many conversations were deleted.
    """
    if not has_table(db, "conversations"):
        return 0
    doomed = []
    rows = db.execute("SELECT conversation_id, status, started_at, host, pid FROM conversations")
    for conversation_id, status, started, host, pid in rows.fetchall():
        workflow = f"conversation:{conversation_id}"
        if workflow not in workflows and (cutoff is None or started >= cutoff):
            continue
        if status == "running" and alive(host, pid):
            continue
        if db.execute("SELECT 1 FROM runs WHERE workflow = ? LIMIT 1", [workflow]).fetchone():
            continue
        doomed.append((conversation_id,))
    for table in ("conversation_steps", "conversation_calls", "conversations"):
        db.executemany(f"DELETE FROM {table} WHERE conversation_id = ?", doomed)
    return len(doomed)


def _load(
    db: sqlite3.Connection, conversation_id: str, store: SQLiteStore
) -> tuple[dict[tuple[int, str], Any], dict[str, Any]]:
    """The conversation's stored steps and calls."""
    path = store.path
    try:
        steps = {
            (step, what): json.loads(data)
            for step, what, data in db.execute(
                "SELECT step, what, data FROM conversation_steps WHERE conversation_id = ?",
                [conversation_id],
            )
        }
        calls = {
            key: _output(text, blob, store)
            for key, text, blob in db.execute(
                "SELECT key, output, output_pickle FROM conversation_calls"
                " WHERE conversation_id = ?",
                [conversation_id],
            )
        }
    except sqlite3.Error as exc:
        raise StoreError(path, what(exc)) from exc
    except (ValueError, pickle.UnpicklingError) as exc:  # not ours, or corrupt
        raise StoreError(path, f"conversation {conversation_id!r} cannot be read: {exc}") from exc
    return steps, calls


def _output(text: str | None, blob: bytes | None, store: SQLiteStore) -> Any:
    if blob is None:
        return None if text is None else json.loads(text)
    if not store.pickle:  # loading a pickle runs code: only when the owner opted in
        raise ValueError("a call's output is pickled: open the store with pickle=True to load it")
    return pickle.loads(blob)

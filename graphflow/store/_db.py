"""What the store's modules share: opening the SQLite file, its errors, whose process.

``_sqlite`` (runs) and ``_conversations`` (durable agents) keep their tables in
one file; each brings its own schema and uses these, neither the other's insides.

Reading never writes: ``connect_readonly`` opens the file with ``mode=ro``, so
``graphflow runs list``/``show`` work on a store the user may only read. A WAL
database read-only needs its ``-shm`` (SQLite 3.22+: it can be opened if the
``-wal`` and ``-shm`` exist or can be created, or if it is ``immutable``). In a
read-only folder where the last writer removed them (as it does on close),
nothing can be writing either, so the file is opened ``immutable``; with a
``-wal`` left behind (a killed writer) that would hide committed rows, so it is
refused instead, saying why.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from graphflow import GraphError

MAX_DETAIL: Final = 300
_SCALARS: Final = frozenset((str, int, float, bool, type(None)))
_MAX_INT: Final = 10**600  # (constants: ``10**600`` in an expression is computed each time)
_MIN_INT: Final = -_MAX_INT


class StoreError(GraphError):
    """The run store cannot be used: one line naming the file and what went wrong."""

    def __init__(self, path: str | os.PathLike[str], detail: str) -> None:
        self.path = str(path)
        detail = " ".join(str(detail).split())
        if len(detail) > MAX_DETAIL:
            detail = detail[: MAX_DETAIL - 1] + "…"
        super().__init__(f"run store {self.path}: {detail}")


_FOLDER: Final = "is a folder: give the store's file (e.g. .graphflow/runs.db)"


def connect(path: Path, timeout: float, synchronous: str, schema: str) -> sqlite3.Connection:
    """A read-write connection (the file and its folder created if missing), in WAL
    mode, with ``schema`` (``CREATE ... IF NOT EXISTS``) applied.

    Raises:
        StoreError: the file cannot be opened, or is not a database.
    """
    if path.is_dir():
        raise StoreError(path, _FOLDER)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(path, f"cannot open: {exc}") from exc
    try:
        _refuse_foreign(db, path)  # before anything is changed in it
        _write_ahead(db, timeout)
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.executescript(schema)
    except sqlite3.Error as exc:
        db.close()
        detail = what(exc)
        if "unable to open" in detail:  # (the file opened: what it could not is beside it)
            detail += " (is its folder read-only? SQLite keeps -wal and -shm files beside it)"
        raise StoreError(path, detail) from exc
    except StoreError:
        db.close()
        raise
    return db


def _write_ahead(db: sqlite3.Connection, timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, tried again for ``timeout`` seconds while it is busy.

    SQLite does not wait on its busy timeout here when waiting could deadlock,
    which is how processes opening a new store file at once meet (each holds a
    read lock, each wants the file's lock to change its mode): one got "database
    is locked" at once, 24 of 600 opens by 3 processes together, 5 s timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.005)


_OURS: Final = {  # the store's tables, and columns that only ours have together
    "runs": {"run_id", "workflow", "nodes", "labels"},
    "nodes": {"run_id", "node_id", "output_pickle", "detail"},
    "cache": {"key", "output_pickle", "stored_at", "expires_at"},
    "conversations": {"conversation_id", "kind", "started_with"},
    "conversation_steps": {"conversation_id", "step", "what"},
    "conversation_calls": {"conversation_id", "key", "output_pickle"},
}


def _refuse_foreign(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a database that holds tables and none of the store's, or a table of a
    store's name that is not the store's (an app's own ``cache``): another program's
    file, which opening it as a store would change (WAL mode, new tables)."""
    names = [
        name
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    ours = [name for name in names if name in _OURS]
    alien = next(
        (
            name
            for name in ours
            if not _OURS[name] <= {row[1] for row in db.execute(f"PRAGMA table_info({name})")}
        ),
        None,
    )
    if (names and not ours) or alien is not None:
        shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
        what = f"its table {alien} is not the store's; " if alien else ""
        detail = f"is not a graphflow run store ({what}it holds tables {shown}): give another file"
        raise StoreError(path, detail)


def connect_readonly(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that never writes the file (see the module docstring).

    Raises:
        StoreError: no such file, or it cannot be read.
    """
    if not path.exists():
        raise StoreError(path, "no such file (no run was stored there yet)")
    if path.is_dir():
        raise StoreError(path, _FOLDER)
    uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?mode=ro"
    try:
        db = _open(uri, timeout)
    except sqlite3.OperationalError as exc:
        if not _may_be_immutable(path):  # ("unable to open", or "readonly": the -shm)
            raise StoreError(path, what(exc) + _wal_hint(path)) from exc
        try:
            db = _open(uri + "&immutable=1", timeout)
        except sqlite3.Error as again:
            raise StoreError(path, what(again)) from again
    except sqlite3.Error as exc:
        raise StoreError(path, what(exc)) from exc
    try:
        _refuse_foreign(db, path)
    except BaseException:
        db.close()
        raise
    return db


def _open(uri: str, timeout: float) -> sqlite3.Connection:
    """Open ``uri`` and read its schema (where a WAL file that cannot be used fails)."""
    db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        db.close()
        raise
    return db


def _may_be_immutable(path: Path) -> bool:
    """Whether no writer can be at work and nothing committed waits in a ``-wal``:
    the folder is read-only (no ``-wal``/``-shm`` can be made) and no ``-wal`` with
    content is left."""
    wal = Path(f"{path}-wal")
    with contextlib.suppress(OSError):
        if wal.stat().st_size > 0:
            return False
    return not os.access(path.parent, os.W_OK)


def _wal_hint(path: Path) -> str:
    """Why a read-only folder's store with a ``-wal`` cannot be read, and what to do."""
    if os.access(path.parent, os.W_OK) or not Path(f"{path}-wal").exists():
        return ""
    return (
        f" (its folder is read-only and {path.name}-wal holds rows not yet in the file,"
        " which SQLite reads only with a -shm it can use: make the folder writable, or"
        " open the store once where it is)"
    )


def has_table(db: sqlite3.Connection, name: str) -> bool:
    """Whether the file has table ``name`` (a read-only reader cannot create it)."""
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return found is not None


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """``with``: a write transaction (``BEGIN IMMEDIATE``), committed when the body
    ends, rolled back if it raises; a ``sqlite3.Error`` (the body's, or the
    commit's) comes out as a one-line ``StoreError`` naming ``path``."""
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            rollback(db)
            raise
    except sqlite3.Error as exc:
        raise StoreError(path, what(exc)) from exc


def rollback(db: sqlite3.Connection) -> None:
    """Roll back what a failed statement left, if anything: SQLite has already
    rolled back after a full disk or an I/O error, and a second failure must not
    hide the first (which is the one to report)."""
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


def what(exc: sqlite3.Error) -> str:
    """An SQLite error as one line a user can act on."""
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return f"{text} (the file is not a graphflow run store, or it is corrupt)"
    if "readonly" in text:
        return f"{text} (the file or its folder is read-only)"
    if "locked" in text or "busy" in text:
        return f"{text} (another process holds it)"
    return text


def alive(host: str | None, pid: int | None) -> bool:
    """Whether the process that last ran a run (or conversation) may still be running it."""
    if host != socket.gethostname() or pid is None:
        return host is not None  # another machine's: assume so
    if pid == os.getpid():
        return False  # this process: the run is not in progress here (it would be open)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and only waits to be reaped (a killed run whose
    parent has not waited for it yet: it runs nothing). False where /proc is not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def unfaithful(value: Any, path: str, depth: int) -> str | None:
    """Where ``value`` stops being JSON that reads back equal (None: nowhere).
    Tuples are allowed: they read back as lists, as they do in every JSON tool."""
    found = _flaw(value, depth)
    if found is None:
        return None
    where, what = found
    return f"{path}{where} {what}"


def _flaw(value: Any, depth: int) -> tuple[str, str] | None:
    """``unfaithful``'s walk: (the path below ``value``, what is wrong there), or None.

    The path is spelled only on the way back from a flaw: every success of a
    run with a store is walked, and most have none (building each child's path
    text up front cost more than the walk)."""
    kind = type(value)
    if kind in _SCALARS:
        if kind is int and not _MIN_INT < value < _MAX_INT:
            return "", "is an int of more than 600 digits"
        return None
    if depth >= 100:
        return "", "is nested more than 100 levels deep"
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return "", f"has a key of type {type(key).__name__}"
            found = _flaw(item, depth + 1)
            if found is not None:
                return f"[{key[:40]!r}]{found[0]}", found[1]
        return None
    if kind is list or kind is tuple:
        for i, item in enumerate(value):
            found = _flaw(item, depth + 1)
            if found is not None:
                return f"[{i}]{found[0]}", found[1]
        return None
    hint = " (a pydantic model: return .model_dump())" if hasattr(kind, "model_dump") else ""
    return "", f"is a {kind.__module__}.{kind.__qualname__}"[:200] + hint

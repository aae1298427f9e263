"""What a run records: one ``NodeResult`` per node, gathered in a ``RunResult``.

Every state transition is also an ``Event`` handed to the run's observers (the
log, a live view, a run store): the one seam through which state leaves a run.

A ``RunResult`` is plain data: it pickles, and ``to_dict`` / ``from_dict`` turn it
into JSON-ready dicts and back, so that ``RunResult.from_dict(r.to_dict()) == r``
whenever every output is JSON-native. Each node keeps every attempt (``Attempt``)
and the run keeps who waited for whom (``RunResult.dependencies``).

The encoding rule is ``encode_json``'s (``_json``).

Decoding does not undo rules 2 and 3: ``from_dict`` hands such outputs back in
their encoded form, so ``RunResult.from_dict(d).to_dict() == d``.
"""

from __future__ import annotations

import gc
import pickle
import reprlib
import traceback as _traceback
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter
from types import TracebackType
from typing import Any, Final, NamedTuple, final

from ._json import encode_json as encode_json

_SHORT = reprlib.Repr()  # quotes received values in from_dict's errors
_SHORT.maxlevel = 1
_SHORT.maxstring = _SHORT.maxother = 40


class NodeStatus(StrEnum):
    """How a node ended. Compares equal to its string value."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


# -- records -------------------------------------------------------------------


@final
class NodeError:
    """A structured record of what a node raised.

    Attributes:
        type: the exception's class name.
        message: its text.
        traceback: the formatted traceback (formatted when first read: 200 µs
            a failure, 20 times a node's whole cost, paid by no run that
            never looks).
        timed_out: the timeout in seconds that expired, if that ended the
            attempt; None otherwise. Test this, not the message.
        exception: the exception itself: not serialised, not compared, and
            dropped when pickled if it does not survive pickling.
    """

    __slots__ = ("_formatted", "_tb", "exception", "message", "timed_out", "type")

    def __init__(
        self,
        type: str,
        message: str,
        traceback: str = "",
        timed_out: float | None = None,
        exception: BaseException | None = None,
    ) -> None:
        self.type = type
        self.message = message
        self._formatted: str | None = traceback
        self._tb: TracebackType | None = None  # (``_formatted`` is None: format this)
        self.timed_out = timed_out
        self.exception = exception

    @property
    def traceback(self) -> str:
        text = self._formatted
        if text is None:
            exc = self.exception
            assert exc is not None
            # the traceback as it was when recorded, even if the exception was raised again
            # since (``_tb`` is kept: two threads reading this at once both format it whole)
            text = self._formatted = "".join(_traceback.format_exception(type(exc), exc, self._tb))
        return text

    @traceback.setter
    def traceback(self, text: str) -> None:
        self._formatted, self._tb = text, None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeError):  # (final: no subclass to tell apart)
            return NotImplemented
        return (self.type, self.message, self.timed_out, self.traceback) == (
            other.type,
            other.message,
            other.timed_out,
            other.traceback,
        )

    __hash__ = None  # type: ignore[assignment]  # (mutable, as the dataclass it was)

    def __repr__(self) -> str:
        return (
            f"NodeError(type={self.type!r}, message={self.message!r},"
            f" traceback={self.traceback!r}, timed_out={self.timed_out!r})"
        )

    @classmethod
    def from_exception(
        cls, exc: BaseException, message: str | None = None, *, timed_out: float | None = None
    ) -> NodeError:
        """Record ``exc``.

        Args:
            exc: what the attempt raised.
            message: replaces its text.
            timed_out: the timeout (seconds) that expired, if that ended the
                attempt; the message then defaults to ``"timed out after N s"``.

        Returns:
            The record, holding ``exc`` itself too.
        """
        if message is None:
            message = f"timed out after {timed_out:g} s" if timed_out is not None else _text(exc)
        error = cls(type(exc).__name__, message, "", timed_out, exc)
        error._formatted, error._tb = None, exc.__traceback__
        return error

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeError:
        """Rebuild a record from ``to_dict()`` output (``exception`` is None).

        Raises:
            ValueError: ``data`` is malformed; the message names the field.
        """
        return _error_from(data, "error")

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type

    def __reduce__(self) -> tuple[Any, ...]:
        # The exception travels as its own pickle, unpickled on a best-effort
        # basis: one that cannot be pickled, or unpickled (a custom __init__, a
        # class missing in this process), is dropped instead of failing the run's.
        fields = (self.type, self.message, self.traceback, self.timed_out)
        return (_unpickle_error, (*fields, _pickled(self.exception)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: type, message, traceback and timed_out."""
        return {
            "type": self.type,
            "message": self.message,
            "traceback": self.traceback,
            "timed_out": self.timed_out,
        }


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not lose the record
        return f"<str() of {type(exc).__name__} failed>"


def _pickled(exc: BaseException | None) -> bytes | None:
    if exc is None:
        return None
    try:
        return pickle.dumps(exc, pickle.HIGHEST_PROTOCOL)
    except Exception:
        return None


def _unpickle_error(
    type_: str, message: str, traceback: str, timed_out: float | None, exc: bytes | None
) -> NodeError:
    exception = None
    if exc is not None:
        try:
            exception = pickle.loads(exc)
        except Exception:
            exception = None
    return NodeError(type_, message, traceback, timed_out, exception)


class Attempt(NamedTuple):
    """One call of a node's tool.

    Attributes:
        started_at: wall-clock time (``time.time()``) the call started.
        finished_at: wall-clock time it returned, raised or was cancelled.
        error: what it raised (None if it returned).
    """

    started_at: float
    finished_at: float
    error: NodeError | None = None


@final
@dataclass(slots=True)
class NodeResult:
    """The outcome of one node.

    Attributes:
        node_id: the node.
        status: succeeded, failed, skipped or cancelled.
        output: what the tool returned (None unless succeeded).
        error: what it raised on its last attempt (failed or cancelled nodes).
        attempts: how many times the tool was called (0 if it never started).
        started_at: wall-clock time (``time.time()``) of the first attempt, or None.
        finished_at: wall-clock time the result was recorded.
        reason: why a node was skipped or cancelled, naming the node that caused it.
        history: every attempt, in order (empty if the node never started).

    A node tried once (most of them) keeps no history of its own: its one
    attempt is ``Attempt(started_at, finished_at, error)``, made when
    ``history`` is read (``_HISTORY``). Two objects fewer per node for the
    garbage collector to walk in a big run. A one-attempt history that says
    the same is kept that way (and ``OWN_ATTEMPT`` says so without making the
    attempt, as a run does); so a result whose ``started_at``,
    ``finished_at`` or ``error`` is changed afterwards tells its one attempt
    anew, unless ``history`` is assigned after them.
    """

    node_id: str
    status: NodeStatus
    output: Any = None
    error: NodeError | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = None
    history: tuple[Attempt, ...] = ()
    cause: str | None = None
    """For a skipped or cancelled node: the node at the root of it (itself when
    its own condition was false, or the run stopped). Test this, not ``reason``."""
    cached: bool = False
    """Its output is an earlier call's, reused from the run store (``cache=``)."""

    @property
    def duration(self) -> float | None:
        """Seconds from the first attempt's start to the end (None if it never started)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def ok(self) -> bool:
        return self.status is NodeStatus.SUCCEEDED

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeResult:
        """Rebuild a result from ``to_dict()`` output; the output stays as encoded.

        Raises:
            ValueError: ``data`` is malformed; the message names the node and field.
        """
        node_id = data.get("node_id") if isinstance(data, Mapping) else None
        return _node_from(data, f"node {_SHORT.repr(node_id)}" if node_id else "node")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the output is encoded by the module's rule (``encode_json``)."""
        entry = _entry(self, None)
        del entry["depends_on"]
        return entry


_HISTORY: Final[Any] = NodeResult.__dict__["history"]
"""``NodeResult``'s slot for its history: None for a node's own one attempt."""


@final
class _OwnAttempt(tuple):  # type: ignore[type-arg]
    """The type of ``OWN_ATTEMPT``."""

    __slots__ = ()


OWN_ATTEMPT: Final[tuple[Attempt, ...]] = _OwnAttempt()
"""``NodeResult(..., history=OWN_ATTEMPT)``: its one attempt, as its own fields say
(``()`` if it never started), built without making that attempt."""


_attempt: Final = tuple.__new__
"""``_attempt(Attempt, (started, finished, error))``: an ``Attempt`` without its
``__new__``'s keyword handling (the run makes one per retried attempt)."""


def _history_of(r: NodeResult) -> tuple[Attempt, ...]:
    kept: tuple[Attempt, ...] | None = _HISTORY.__get__(r, NodeResult)
    if kept is None:
        return (_attempt(Attempt, (r.started_at, r.finished_at, r.error)),)
    return kept


def _set_history(r: NodeResult, history: Sequence[Attempt] | None) -> None:
    if history is OWN_ATTEMPT or history is None:  # (its own one attempt, if it started)
        _HISTORY.__set__(r, None if r.attempts else ())
    elif len(history) == 1 and history[0] == (r.started_at, r.finished_at, r.error):
        _HISTORY.__set__(r, None)
    else:
        _HISTORY.__set__(r, tuple(history))


# The dataclass's __init__, __eq__, __repr__, replace(), asdict() and pickling all
# go through this property, so they see every attempt as before.
setattr(NodeResult, "history", property(_history_of, _set_history, doc="Every attempt, in order."))  # noqa: B010


def _entry(r: NodeResult, depends_on: list[str] | None) -> dict[str, Any]:
    """``r.to_dict()`` with ``depends_on`` last (``history`` only when it says more).

    The one place the node encoding is spelled (``RunResult.to_dict`` calls it
    once a node, so it reads each field once and calls nothing it need not).
    Each entry starts as a copy of its status's row in ``_ROWS`` (why: ``_Row``)
    and is given only the values that are not None.
    """
    output, started, finished, error = r.output, r.started_at, r.finished_at, r.error
    if type(output) not in _PLAIN:  # (scalars, the common case, skip the encoder's call)
        output = encode_json(output)
    entry = _ROWS[r.status].copy()  # (the status filled in, every other value None)
    entry["node_id"] = r.node_id
    entry["output"] = output
    if error is not None:
        entry["error"] = error.to_dict()
    entry["attempts"] = r.attempts
    entry["started_at"] = started
    entry["finished_at"] = finished
    if started is not None and finished is not None:
        entry["duration"] = finished - started
    if r.reason is not None:
        entry["reason"] = r.reason
    if r.cause is not None:
        entry["cause"] = r.cause
    history = _HISTORY.__get__(r, NodeResult)
    if history is not None:
        # (one attempt is the node's own start, end and error: not written twice)
        del entry["depends_on"]  # (so that it stays last)
        entry["history"] = [
            {"started_at": s, "finished_at": f, "error": None if e is None else e.to_dict()}
            for s, f, e in history
        ]
    entry["depends_on"] = depends_on
    if r.cached:
        entry["cached"] = True
    return entry


@final
class _Row:
    """The keys of a node entry, as attributes: ``_ROWS`` are copies of an instance's dict.

    An instance's dict shares its key table with the class's other instances
    (CPython's key-sharing dictionaries, PEP 412), and so does every ``copy()``
    of it: an entry then holds only its 11 values, 296 bytes where a dict literal
    of 11 keys takes 464 (a table of 32 slots). Allocating 100,000 of them is
    most of what ``RunResult.to_dict`` costs. On a Python without key sharing
    the copies are ordinary dicts: the same entries.
    """

    def __init__(self, status: NodeStatus) -> None:
        self.node_id = None
        self.status = status._value_  # (in the order of the entry's keys)
        self.output = self.error = self.attempts = None
        self.started_at = self.finished_at = self.duration = self.reason = self.cause = None
        self.depends_on = None


_ROWS: Final[dict[NodeStatus, dict[str, Any]]] = {s: vars(_Row(s)) for s in NodeStatus}


_STATUS: Final = attrgetter("status")
_PLAIN: Final = frozenset({str, float, bool, type(None)})  # (ints may be too long for json)


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large, all-live structure.

    Each allocation would otherwise count towards a collection that walks
    every container built so far — half the time of ``to_dict`` at 100,000
    nodes — and finds nothing to free. Restored on the way out, whatever
    happens; a collector that was off stays off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@final
@dataclass(frozen=True, slots=True)
class DependencyIndex:
    """Who waited for whom, as indexes: cheap to hand over, small to pickle.

    Node ``i`` is ``ids[i]``; it waited for ``ids[j]`` for each ``j`` in ``rows[i]``.

    Raises:
        ValueError: ``ids`` and ``rows`` differ in length.
    """

    ids: Sequence[str]
    rows: Sequence[Sequence[int]]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.rows):
            raise ValueError(f"DependencyIndex: {len(self.ids)} ids but {len(self.rows)} rows")

    def to_dict(self) -> dict[str, tuple[str, ...]]:
        """node id -> the node ids it waited for."""
        ids = self.ids
        return {n: tuple([ids[j] for j in row]) for n, row in zip(ids, self.rows, strict=True)}


_Dependencies = Mapping[str, Sequence[str]] | DependencyIndex


@final
class RunResult(Mapping[str, NodeResult]):
    """node id -> ``NodeResult`` for every node of a run, in the graph's order.

    Args:
        run_id: the run.
        results: node id -> result, in the graph's order.
        started_at: wall-clock time (``time.time()``) the run started.
        finished_at: wall-clock time it ended.
        dependencies: node id -> the node ids it waited for, as a mapping or a
            ``DependencyIndex``; turned into a dict only when first asked for.
    """

    __slots__ = ("run_id", "started_at", "finished_at", "_results", "_source", "_deps")

    def __init__(
        self,
        run_id: str,
        results: dict[str, NodeResult],
        started_at: float,
        finished_at: float,
        dependencies: _Dependencies | None = None,
    ) -> None:
        self.run_id = run_id
        self.started_at = started_at
        self.finished_at = finished_at
        self._results = results
        self._source = dependencies
        self._deps: dict[str, tuple[str, ...]] | None = None

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """node id -> the node ids it waited for, including nodes a for_each added at run time."""
        return dict(self._dependencies())

    def dependency_index(self) -> DependencyIndex | None:
        """Who waited for whom as integer rows, when the run handed them over (else None).

        The cheap form for analysis of large runs: no dict of tuples is built.
        """
        return self._source if isinstance(self._source, DependencyIndex) else None

    def _dependencies(self) -> dict[str, tuple[str, ...]]:
        if self._deps is None:
            source = self._source
            if source is None:
                self._deps = {}
            elif isinstance(source, DependencyIndex):
                self._deps = source.to_dict()
            else:
                self._deps = {node_id: tuple(deps) for node_id, deps in source.items()}
        return self._deps

    def __getitem__(self, node_id: str) -> NodeResult:
        return self._results[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    # The dict's own views: Mapping's would call __getitem__ once a node.
    def keys(self) -> KeysView[str]:
        return self._results.keys()

    def values(self) -> ValuesView[NodeResult]:
        return self._results.values()

    def items(self) -> ItemsView[str, NodeResult]:
        return self._results.items()

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={n}" for s, n in self.counts().items() if n)
        return f"<RunResult {self.run_id} ok={self.ok} {counts}>"

    def __eq__(self, other: object) -> bool:
        """Same run id, times, dependencies, and node results in the same order."""
        if not isinstance(other, RunResult):
            return NotImplemented
        return (
            (self.run_id, self.started_at, self.finished_at)
            == (other.run_id, other.started_at, other.finished_at)
            and list(self._results.items()) == list(other._results.items())
            and self._dependencies() == other._dependencies()
        )

    __hash__ = None  # type: ignore[assignment]  # mutable results: no hash, like a dict

    def __reduce__(self) -> tuple[Any, ...]:
        source = self._source
        if source is not None and not isinstance(source, DependencyIndex):
            source = self._dependencies()  # a plain dict, whatever mapping was given
        args = (self.run_id, self._results, self.started_at, self.finished_at, source)
        return (RunResult, args)

    @property
    def ok(self) -> bool:
        """True only when every node succeeded."""
        statuses = list(map(_STATUS, self._results.values()))  # (C loops, not a generator)
        return statuses.count(NodeStatus.SUCCEEDED) == len(statuses)

    @property
    def passed(self) -> bool:
        """No node failed or was cancelled, and every skip goes back to a false condition.

        What a CI system calls a successful run (GitHub Actions: a job skipped by
        its ``if:`` does not fail the workflow). ``ok`` is stricter: every node
        succeeded.
        """
        results = self._results
        for r in results.values():
            if r.status is NodeStatus.SUCCEEDED:
                continue
            if r.status is not NodeStatus.SKIPPED or r.cause is None:
                return False
            root = results.get(r.cause)
            if root is None or root.status is not NodeStatus.SKIPPED or root.cause != root.node_id:
                return False
        return True

    @property
    def duration(self) -> float:
        """Wall-clock seconds the run took."""
        return self.finished_at - self.started_at

    def counts(self) -> dict[NodeStatus, int]:
        """How many nodes ended in each status."""
        counts = dict.fromkeys(NodeStatus, 0)
        for r in self._results.values():
            counts[r.status] += 1
        return counts

    def by_status(self, status: NodeStatus | str) -> list[NodeResult]:
        """The results with ``status``, in graph order."""
        return [r for r in self._results.values() if r.status == status]

    def outputs(self) -> dict[str, Any]:
        """node id -> output of every node that succeeded."""
        return {k: r.output for k, r in self._results.items() if r.status is NodeStatus.SUCCEEDED}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole run, from which ``from_dict`` rebuilds it.

        Never raises, nor does ``json.dumps`` of it: each output is encoded by the
        module's rule (``encode_json``): JSON-native values as they are, others
        in pydantic's JSON mode, and what even that cannot encode (cycles, more
        than 100 levels deep...) as ``{"__repr__": ..., "__type__": ...}``.

        Returns:
            ``run_id``, ``ok``, ``passed`` (the CLI exits 0 for a run that passed,
            unless a signal or its store stopped it), ``started_at``,
            ``finished_at``, ``duration`` and
            ``nodes``: node id -> ``NodeResult.to_dict()`` plus ``depends_on``,
            the node ids it waited for (null when not known), in the graph's order.
        """
        results = self._results
        with _collection_paused():  # 2 new containers a node, all kept: nothing to collect
            upstream = self._upstream_lists()
            nodes = dict(zip(results, map(_entry, results.values(), upstream), strict=True))
        return {
            "run_id": self.run_id,
            "ok": self.ok,
            "passed": self.passed,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "nodes": nodes,
        }

    def _upstream_lists(self) -> list[list[str] | None]:
        """Each node's ``depends_on`` for ``to_dict``, in the results' order.

        Straight from the run's ``DependencyIndex`` when it lists the same nodes
        in the same order (a finished run): no dict of tuples in between.
        """
        results = self._results
        source = self._source
        if isinstance(source, DependencyIndex):
            ids = source.ids
            if len(ids) == len(results) and list(ids) == list(results):
                at = ids.__getitem__
                return [[at(row[0])] if len(row) == 1 else [*map(at, row)] for row in source.rows]
        deps = self._dependencies()
        return [None if (up := deps.get(node_id)) is None else list(up) for node_id in results]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """Rebuild a run from ``to_dict()`` output (or ``json.loads`` of it).

        Outputs come back as encoded: equal to the originals when those were
        JSON-native, their encoded form otherwise. ``ok``, ``passed`` and
        ``duration`` are derived, so they are not read; ``history``, ``depends_on`` and
        ``timed_out`` may be missing (as in files written before they existed).

        Raises:
            ValueError: ``data`` is malformed; the message names the node and field.
        """
        _require_object(data, "run")
        run_id = _field(data, "run_id", _STRING, "run")
        started_at = _field(data, "started_at", _NUMBER, "run")
        finished_at = _field(data, "finished_at", _NUMBER, "run")
        nodes = _field(data, "nodes", _OBJECT, "run")
        results: dict[str, NodeResult] = {}
        deps: dict[str, tuple[str, ...]] = {}
        for node_id, entry in nodes.items():
            where = f"node {_SHORT.repr(node_id)}"
            result = results[node_id] = _node_from(entry, where)
            if result.node_id != node_id:
                raise ValueError(f"{where}: field 'node_id' differs from the node's key")
            upstream = _field(entry, "depends_on", _LIST, where, null=True, default=None)
            if upstream is not None:
                deps[node_id] = _strings(upstream, "depends_on", where)
        return cls(run_id, results, started_at, finished_at, deps)


# -- decoding: from_dict's checks ----------------------------------------------
# Every field is checked where it is read, so that malformed input raises one
# short ValueError naming the node and the field, never a KeyError from inside.

_MISSING: Any = object()
_STRING = "a string"
_NUMBER = "a number"
_INTEGER = "an integer"
_OBJECT = "an object"
_LIST = "a list"
_ANY = "any value"
_KINDS: dict[str, Callable[[object], bool]] = {
    _STRING: lambda v: isinstance(v, str),
    _NUMBER: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    _INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
    _OBJECT: lambda v: isinstance(v, Mapping),
    _LIST: lambda v: isinstance(v, list),
    _ANY: lambda v: True,
}


def _describe(value: object) -> str:
    return f"{type(value).__name__} {_SHORT.repr(value)}"


def _require_object(data: object, where: str) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object, got {_describe(data)}")


def _field(
    data: Mapping[str, Any],
    key: str,
    kind: str,
    where: str,
    *,
    null: bool = False,
    default: Any = _MISSING,
) -> Any:
    """``data[key]`` checked to be of ``kind`` (or None if ``null``); numbers as floats."""
    if key not in data:
        if default is _MISSING:
            raise ValueError(f"{where}: missing field {key!r}")
        return default
    value = data[key]
    if value is None and null:
        return None
    if not _KINDS[kind](value):
        expected = f"{kind} or null" if null else kind
        raise ValueError(f"{where}: field {key!r} should be {expected}, got {_describe(value)}")
    return float(value) if kind is _NUMBER else value


def _strings(values: list[Any], key: str, where: str) -> tuple[str, ...]:
    for value in values:
        if not isinstance(value, str):
            raise ValueError(f"{where}: field {key!r} should hold strings, got {_describe(value)}")
    return tuple(values)


def _status(text: str, where: str) -> NodeStatus:
    try:
        return NodeStatus(text)
    except ValueError:
        names = ", ".join(NodeStatus)
        got = _SHORT.repr(text)
        raise ValueError(f"{where}: field 'status' should be one of {names}; got {got}") from None


def _node_from(data: Mapping[str, Any], where: str) -> NodeResult:
    _require_object(data, where)
    error = _field(data, "error", _OBJECT, where, null=True)
    history = _field(data, "history", _LIST, where, default=None)
    attempts = _field(data, "attempts", _INTEGER, where)
    started = _field(data, "started_at", _NUMBER, where, null=True)
    finished = _field(data, "finished_at", _NUMBER, where, null=True)
    node_error = None if error is None else _error_from(error, f"{where}, error")
    if history is not None:
        tried = tuple(_attempt_from(a, f"{where}, history[{i}]") for i, a in enumerate(history))
    elif attempts == 1 and started is not None and finished is not None:
        tried = OWN_ATTEMPT  # written once, as the node's own
    else:
        tried = ()
    return NodeResult(
        _field(data, "node_id", _STRING, where),
        _status(_field(data, "status", _STRING, where), where),
        _field(data, "output", _ANY, where),
        node_error,
        attempts,
        started,
        finished,
        _field(data, "reason", _STRING, where, null=True),
        tried,
        _field(data, "cause", _STRING, where, null=True, default=None),
        _cached(data, where),
    )


def _cached(data: Mapping[str, Any], where: str) -> bool:
    value = data.get("cached", False)
    if type(value) is not bool:
        raise ValueError(f"{where}: field 'cached' must be true or false")
    return value


def _attempt_from(data: Mapping[str, Any], where: str) -> Attempt:
    _require_object(data, where)
    error = _field(data, "error", _OBJECT, where, null=True)
    return Attempt(
        _field(data, "started_at", _NUMBER, where),
        _field(data, "finished_at", _NUMBER, where),
        None if error is None else _error_from(error, f"{where}, error"),
    )


def _error_from(data: Mapping[str, Any], where: str) -> NodeError:
    _require_object(data, where)
    return NodeError(
        _field(data, "type", _STRING, where),
        _field(data, "message", _STRING, where),
        _field(data, "traceback", _STRING, where),
        _field(data, "timed_out", _NUMBER, where, null=True, default=None),
    )

"""``RunOptions``: every option of a run in one frozen, validated object.

Every entry point takes one (``run``, ``run_sync``, ``Scheduler``, the LLM
adapters and agent loops, a workflow's ``run_options()``) and also accepts the
same names as keywords, typed by ``RunOptionsArgs`` so that a misspelt option
is a type error for mypy and an ``OptionError`` at run time. Options are
checked where they are built, so a bad value is reported before anything runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypedDict, final

from ._results import NodeResult
from ._spec import Retry
from .errors import OptionError

if TYPE_CHECKING:
    from ._types import EventSink, Executor, RunStore

DEFAULT_CONCURRENCY: Final[float] = math.inf
"""No global cap unless told otherwise: every node starts the moment it is
ready, so an I/O DAG runs at its critical path (a cap of 64 made a 2,000-node
DAG take twice as long). What is really scarce has its own limit: threads
(``ThreadExecutor``), subprocesses and connections per host (the built-in
tools), and the pools a graph declares (``limits``)."""

_MAX_RUN_ID: Final = 128


class RunOptionsArgs(TypedDict, total=False):
    """The keyword form of ``RunOptions`` (for ``**options: Unpack[RunOptionsArgs]``)."""

    concurrency: float | None
    fail_fast: bool
    default_timeout: float | None
    default_retries: int | Retry | None
    limits: Mapping[str, int] | None
    seed: int | None
    observers: Iterable[EventSink]
    executor: Executor | None
    executors: Mapping[str, Executor] | None
    run_id: str | None
    resume_from: Mapping[str, NodeResult] | None
    resources: Iterable[AbstractAsyncContextManager[object]]
    store: RunStore | str | os.PathLike[str] | None
    resume: str | None
    force: bool
    workflow: str | None
    labels: Mapping[str, str] | None
    cache: bool


@final
@dataclass(frozen=True, slots=True, init=False)
class RunOptions:
    """How to run a graph.

    Args:
        concurrency: the most nodes running at once (default: no cap; ``1`` runs
            them one by one in dependency order).
        fail_fast: on the first failure, cancel running nodes (``cancelled``)
            and skip the rest (``skipped``).
        default_timeout: seconds per attempt for nodes that set no ``timeout``.
        default_retries: an int or a ``Retry``, for nodes that set no ``retries``.
        limits: sizes of named pools (added to, and overriding, ``Graph(limits=...)``).
        seed: seeds the retry jitter, for reproducible runs.
        observers: ``EventSink``s given every ``Event`` of the run.
        executor: where plain (sync) functions run (default: a
            ``ThreadExecutor`` with at most ``concurrency`` threads).
        executors: more executors by name, for nodes that choose one
            (``Graph.add(executor=...)``, ``@tool(executor=...)``); the names
            ``"thread"`` (the run's ``executor``) and ``"process"`` (a
            ``ProcessExecutor``, one worker per CPU) need no entry.
        run_id: the run's id (default: a new random one).
        resume_from: earlier results by node id (a ``RunResult`` will do):
            nodes that succeeded there are not run again and their outputs
            feed their dependents; every other node runs.
        resources: async context managers the run holds open while its nodes
            run (entered in order before the first node, in the run's own task,
            so context variables they set reach every node; left in reverse
            after the last, shielded, also after a failure or a cancellation;
            one may hold a task group) — e.g. a pooled HTTP client
            (``graphflow.builtin_tools.http.HttpPool``), MCP sessions
            (``graphflow.mcp.McpToolbox.session()``).
        store: a ``RunStore``, or the path of a SQLite file
            (``graphflow.store.SQLiteStore``): every transition is recorded and a
            node's success is committed before its dependents start, so a run that
            dies can be resumed (default: none).
        resume: with a ``store``: the id of a stored run to resume (``"last"``:
            the latest run of this ``workflow``), keeping its id; its succeeded
            nodes are not run again. Refused if the graph or ``labels`` changed.
        force: resume even though nodes or labels changed.
        workflow: what the run is of (a file path, a name), recorded by the
            store and matched by ``resume="last"``.
        labels: more that defines the run (e.g. a hash of its inputs), recorded
            and compared on resume.
        cache: with a store, nodes with ``cache=`` reuse stored calls (False:
            every node calls its tool; their outputs are stored for later runs).

    Raises:
        OptionError: an option is invalid (naming it and the value).
    """

    concurrency: float
    fail_fast: bool
    default_timeout: float | None
    default_retries: Retry | None
    limits: Mapping[str, int]
    seed: int | None
    observers: tuple[EventSink, ...]
    executor: Executor | None
    executors: Mapping[str, Executor]
    run_id: str | None
    resume_from: Mapping[str, NodeResult] | None
    resources: tuple[AbstractAsyncContextManager[object], ...]
    store: RunStore | None
    resume: str | None
    force: bool
    workflow: str | None
    labels: Mapping[str, str]
    cache: bool

    def __init__(
        self,
        concurrency: float | None = DEFAULT_CONCURRENCY,
        fail_fast: bool = False,
        default_timeout: float | None = None,
        default_retries: int | Retry | None = None,
        limits: Mapping[str, int] | None = None,
        seed: int | None = None,
        observers: Iterable[EventSink] = (),
        executor: Executor | None = None,
        executors: Mapping[str, Executor] | None = None,
        run_id: str | None = None,
        resume_from: Mapping[str, NodeResult] | None = None,
        resources: Iterable[AbstractAsyncContextManager[object]] = (),
        store: RunStore | str | os.PathLike[str] | None = None,
        resume: str | None = None,
        force: bool = False,
        workflow: str | None = None,
        labels: Mapping[str, str] | None = None,
        cache: bool = True,
    ) -> None:
        put = object.__setattr__  # frozen: each value is checked and normalised once, here
        put(self, "concurrency", _concurrency(concurrency))
        if not isinstance(fail_fast, bool):
            raise OptionError("fail_fast", fail_fast, "expected True or False")
        put(self, "fail_fast", fail_fast)
        put(self, "default_timeout", _timeout(default_timeout))
        put(self, "default_retries", _retries(default_retries))
        put(self, "limits", _limits(limits))
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise OptionError("seed", seed, "expected an int or None")
        put(self, "seed", seed)
        put(self, "observers", _sinks(observers))
        if executor is not None and not callable(getattr(executor, "call", None)):
            raise OptionError("executor", executor, "expected an Executor (with call())")
        put(self, "executor", executor)
        put(self, "executors", _executors(executors))
        _check_run_id(run_id)
        put(self, "run_id", run_id)
        put(self, "resume_from", _earlier(resume_from))
        put(self, "resources", _resources(resources))
        put(self, "store", _store(store))
        _check_resume(resume, self)
        put(self, "resume", resume)
        if not isinstance(force, bool):
            raise OptionError("force", force, "expected True or False")
        put(self, "force", force)
        if workflow is not None and not isinstance(workflow, str):
            raise OptionError("workflow", workflow, "expected a string or None")
        put(self, "workflow", workflow)
        put(self, "labels", _labels(labels))
        if not isinstance(cache, bool):
            raise OptionError("cache", cache, "expected True or False")
        put(self, "cache", cache)

    @classmethod
    def build(cls, options: RunOptions | None, overrides: Mapping[str, Any]) -> RunOptions:
        """``options`` (or the defaults) with ``overrides`` applied, validated."""
        if options is not None and not isinstance(options, RunOptions):
            raise OptionError("options", options, "expected a RunOptions")
        base = options or _DEFAULT
        if not overrides:
            return base
        unknown = [k for k in overrides if k not in _FIELDS]
        if unknown:
            close = difflib.get_close_matches(unknown[0], _FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(unknown[0], overrides[unknown[0]], f"no such run option{hint}")
        return dataclasses.replace(base, **overrides)

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes`` applied (validated like the original)."""
        return RunOptions.build(self, changes)


_FIELDS: Final = tuple(f.name for f in dataclasses.fields(RunOptions))


def _concurrency(value: object) -> float:
    if value is None:
        return DEFAULT_CONCURRENCY
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1:
        raise OptionError("concurrency", value, "expected a number >= 1 or math.inf")
    return value if isinstance(value, float) and math.isinf(value) else int(value)


def _timeout(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise OptionError("default_timeout", value, "expected seconds > 0, math.inf or None")
    return float(value)


def _retries(value: object) -> Retry | None:
    if value is None or isinstance(value, Retry):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OptionError("default_retries", value, "expected an int >= 0 or a Retry")
    return Retry(value)


def _limits(value: object) -> Mapping[str, int]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise OptionError("limits", value, "expected a mapping of pool name -> size")
    for name, size in value.items():
        if not isinstance(name, str) or isinstance(size, bool) or not isinstance(size, int):
            raise OptionError(f"limits[{name!r}]", size, "expected an int >= 1")
        if size < 1:
            raise OptionError(f"limits[{name!r}]", size, "expected an int >= 1")
    return MappingProxyType(dict(value))


def _sinks(value: object) -> tuple[EventSink, ...]:
    if callable(value) or isinstance(value, (str, bytes)):
        raise OptionError("observers", value, "expected an iterable of event sinks")
    try:
        sinks: tuple[EventSink, ...] = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise OptionError("observers", value, "expected an iterable of event sinks") from None
    for sink in sinks:
        if not callable(sink):
            raise OptionError("observers", sink, "expected a callable event sink")
    return sinks


def _earlier(value: object) -> Mapping[str, NodeResult] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise OptionError("resume_from", value, "expected a mapping of node id -> NodeResult")
    for node_id, result in value.items():
        if not isinstance(result, NodeResult):
            raise OptionError(
                f"resume_from[{str(node_id)[:100]!r}]",
                result,
                "expected a NodeResult (NodeResult.from_dict or RunResult.from_dict rebuilds one)",
            )
    return value


def _resources(value: object) -> tuple[AbstractAsyncContextManager[object], ...]:
    try:
        found: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise OptionError("resources", value, "expected async context managers") from None
    for resource in found:
        if not (hasattr(resource, "__aenter__") and hasattr(resource, "__aexit__")):
            raise OptionError("resources", resource, "expected an async context manager")
    return found


def _executors(value: object) -> Mapping[str, Executor]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise OptionError("executors", value, "expected a mapping of name -> Executor")
    for name, executor in value.items():
        if not isinstance(name, str) or not callable(getattr(executor, "call", None)):
            raise OptionError(f"executors[{name!r:.60}]", executor, "expected an Executor")
    return MappingProxyType(dict(value))


def _store(value: object) -> RunStore | None:
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        # A path names the SQLite store. Imported here, lazily: the core does not
        # depend on the store edge, and ``import graphflow`` stays free of sqlite3.
        from .store import SQLiteStore

        return SQLiteStore(value)
    if not callable(getattr(value, "open_run", None)):
        raise OptionError("store", value, "expected a RunStore or the path of a SQLite file")
    return value  # type: ignore[return-value]


def _check_resume(value: object, options: RunOptions) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_RUN_ID:
        raise OptionError("resume", value, "expected a run id or 'last'")
    if options.store is None:
        raise OptionError("resume", value, "needs a store to resume from (store=...)")
    if options.resume_from is not None:
        raise OptionError("resume", value, "give resume or resume_from, not both")
    if options.run_id is not None and options.run_id != value:
        raise OptionError("resume", value, f"the run keeps its id, not run_id={options.run_id!r}")


def _labels(value: object) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise OptionError("labels", value, "expected a mapping of str -> str")
    return MappingProxyType(dict(value))


def _check_run_id(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_RUN_ID:
        raise OptionError("run_id", value, f"expected a non-empty string of <= {_MAX_RUN_ID}")
    if not value.isprintable():
        raise OptionError("run_id", value, "expected printable characters only")


_DEFAULT: Final = RunOptions()

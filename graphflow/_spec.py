"""Node specs: what one node is (tool, arguments, edges, options), and their validation.

``NodeSpec`` is what ``Graph.add`` and ``Scheduler.add`` build (through
``build_spec``); ``Retry`` and ``Trigger`` are its options. Everything here
checks one node at a time; checks across nodes (unknown ids, cycles) happen
when a graph is planned (``_graph``).
"""

from __future__ import annotations

import inspect
import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from hashlib import blake2b
from types import FunctionType
from typing import Any, Final, final

from ._condition import Condition, parse_condition
from ._refs import Ref, Template, compile_args
from ._types import NodeId, ToolFn
from .errors import SpecError

ITEM: Final = "item"
"""The reference name bound to the current item inside a ``for_each`` node."""

_FORBIDDEN_IN_IDS = frozenset(".${}")


class Trigger(StrEnum):
    """When a node runs, given how its upstream nodes ended."""

    ALL_SUCCESS = "all_success"
    """Run only if every upstream node succeeded; otherwise skip (the default)."""
    ALL_DONE = "all_done"
    """Run once every upstream node finished in any state (cleanup, summaries)."""


@final
@dataclass(frozen=True, slots=True)
class Retry:
    """How a failed node is retried.

    Args:
        retries: extra attempts after the first (``Retry(2)`` = at most 3 calls).
        backoff: the delay before the first retry, in seconds; doubles each time.
        max_backoff: the cap on that delay.
        jitter: the fraction of each delay that is random (0 = none, 1 = "full
            jitter"), so that retries of many nodes do not arrive in lockstep.
        on: the exception types that are retried; others fail at once.
    """

    retries: int = 0
    backoff: float = 0.1
    max_backoff: float = 30.0
    jitter: float = 0.5
    on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries must be an int >= 0, got {self.retries!r}")
        if self.backoff < 0 or self.max_backoff < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("backoff and max_backoff must be >= 0 and jitter within [0, 1]")

    def delay(self, attempt: int, random: float) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        doublings = min(attempt - 1, 64)  # 2.0 ** 1024 overflows; by 2 ** 64 the cap binds
        base = min(self.max_backoff, self.backoff * 2.0**doublings)
        return base * (1 - self.jitter * random)


NO_RETRY = Retry()


@final
@dataclass(frozen=True, slots=True)
class Cache:
    """When a node's earlier result is reused instead of calling its tool again.

    Only in a run with a store (``RunOptions(store=...)``): a node whose tool is
    called with the same arguments (canonical JSON) — or the same rendered
    ``key`` — and the same ``version``, within ``ttl`` seconds of the stored
    call, takes that call's output; its result says so (``NodeResult.cached``).

    Args:
        ttl: seconds a result stays fresh (None: forever).
        key: a ``str.format`` template over the arguments (``"{sku}"``) to use
            instead of all of them.
        version: the tool's version: a new one never reuses an older result.
    """

    ttl: float | None = None
    key: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        if self.ttl is not None and (isinstance(self.ttl, bool) or not self.ttl > 0):
            raise ValueError(f"cache ttl must be seconds > 0 or None, got {self.ttl!r}")
        if self.key is not None and not isinstance(self.key, str):
            raise ValueError(f"cache key must be a str.format template, got {self.key!r:.100}")


def cache_policy(value: object) -> Cache | None:
    """``cache=`` as given (True, False, None, a ``Cache``, or a mapping of its fields)."""
    if value is None or value is False:
        return None
    if value is True:
        return Cache()
    if isinstance(value, Cache):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"ttl", "key", "version"}
        if unknown:
            raise ValueError(f"cache has no option {sorted(unknown)[0]!r} (ttl, key, version)")
        return Cache(**value)
    raise ValueError(f"cache must be True, False, a Cache or a mapping, got {value!r:.100}")


@final
@dataclass(slots=True)
class NodeSpec:
    """One node as added: what to call, with what, after what, and how."""

    node_id: NodeId
    tool: ToolFn
    args: Any
    depends_on: tuple[NodeId, ...]
    timeout: float | None
    retry: Retry | None
    trigger: Trigger
    template: Template = field(repr=False)
    is_async: bool = field(repr=False)
    for_each: Any = None
    max_parallel: int | None = None
    partial: bool = False
    """for_each: the gather keeps each item's record, failed items included"""
    condition: Condition | None = None
    """``when=``: run only if it holds once the upstream nodes are done; else skipped"""
    executor: str | None = None
    """where its calls run: a run's executor name (None: async on the loop, sync in threads)"""
    limits: tuple[str, ...] = ()
    """names of the limits (``Plan.limits``) this node takes a slot in while it runs"""
    writes: tuple[str, ...] = ()
    """resource keys (``str.format`` templates over the arguments) written exclusively"""
    reads: tuple[str, ...] = ()
    """resource keys read (shared with other readers, never with a writer)"""
    idempotency_key: str | None = None
    """a ``str.format`` template over the arguments (``current_call().idempotency_key``)"""
    cache: Cache | None = None
    """when an earlier call's stored output is reused (a run with a store)"""
    resources: dict[str, float] | None = None
    """worker resources each call needs (``{"GPU": 1}``), handed on in ``NodeCall.resources``"""
    item: tuple[Any] | None = None
    """a ``for_each`` item's value, as ``(value,)``, when bound to it (not read from
    another item's output): part of the item's fingerprint"""

    @property
    def deps(self) -> tuple[NodeId, ...]:
        """Every upstream node id (explicit and implied by references), without repeats."""
        if not self.template.refs and self.condition is None:
            return self.depends_on  # (repeats were dropped when the spec was built)
        seen = dict.fromkeys(self.depends_on)
        seen.update(dict.fromkeys(r.node_id for r in self.template.refs))
        if self.condition is not None:
            seen.update(dict.fromkeys(r.node_id for r in self.condition.refs))
        return tuple(seen)

    @property
    def tool_name(self) -> str:
        return str(getattr(self.tool, "__name__", None) or type(self.tool).__name__)


def is_async_callable(tool: ToolFn) -> bool:
    """True for coroutine functions, partials of them and objects with ``async __call__``."""
    if type(tool) is FunctionType:  # the common case, without inspect's unwrapping
        return bool(tool.__code__.co_flags & inspect.CO_COROUTINE)
    return inspect.iscoroutinefunction(tool) or inspect.iscoroutinefunction(
        getattr(type(tool), "__call__", None)  # noqa: B004 (the method, to inspect)
    )


def build_spec(
    node_id: NodeId,
    tool: ToolFn,
    *,
    args: Mapping[str, Any] | None = None,
    depends_on: Iterable[NodeId] | NodeId = (),
    timeout: float | None = None,
    retries: int | Retry | None = None,
    trigger: Trigger | str = Trigger.ALL_SUCCESS,
    limits: Iterable[str] = (),
    writes: Iterable[str] = (),
    reads: Iterable[str] = (),
    when: str | Condition | None = None,
    executor: str | None = None,
    idempotency_key: str | None = None,
    cache: object = None,
    resources: Mapping[str, float] | None = None,
    pools: dict[str, int],
) -> NodeSpec:
    """A validated node spec (``Graph.add`` and ``Scheduler.add`` share it).

    A ``Tool``'s own ``limit=N`` is recorded in ``pools`` as ``tool:<name>``.
    """
    _check_node_id(node_id)
    spec = _make_spec(node_id, tool, args, depends_on, timeout, retries, trigger)
    if when is not None:
        spec.condition = _condition(node_id, when)
    chosen = executor if executor is not None else getattr(tool, "executor", None)
    if chosen is not None:
        spec.executor = _executor_name(node_id, chosen, spec.is_async)
    if idempotency_key is not None or cache is not None or hasattr(tool, "cache"):
        _durability(spec, idempotency_key, cache)
    wanted = resources if resources is not None else getattr(tool, "resources", None)
    if wanted is not None:
        spec.resources = _resources(node_id, wanted)
    if type(tool) is FunctionType and not (limits or writes or reads):
        return spec  # a plain function claims nothing: no option to look for
    names = [limits] if isinstance(limits, str) else list(limits)
    tool_limit = getattr(tool, "limit", None)
    if isinstance(tool_limit, str):
        names.append(tool_limit)
    elif isinstance(tool_limit, int):
        name = f"tool:{spec.tool_name}"
        if pools.get(name, tool_limit) != tool_limit:
            raise SpecError(
                f"node {node_id!r}: tool {spec.tool_name!r} has limit {tool_limit}, "
                f"but another tool of that name has {pools[name]}",
                key=f"{node_id}.tool",
            )
        pools[name] = tool_limit
        names.append(name)
    spec.limits = tuple(dict.fromkeys(names))
    spec.writes = (*_strings(writes), *getattr(tool, "writes", ()))
    spec.reads = (*_strings(reads), *getattr(tool, "reads", ()))
    return spec


def _condition(node_id: str, when: object) -> Condition:
    if isinstance(when, Condition):
        return when
    try:
        return parse_condition(when)  # type: ignore[arg-type]
    except ValueError as exc:
        raise SpecError(f"node {node_id!r}: when: {exc}", key=f"{node_id}.when") from None


def _durability(spec: NodeSpec, idempotency_key: object, cache: object) -> None:
    """The spec's ``idempotency_key`` and ``cache`` (the node's, else its tool's);
    a key template that could never be rendered from the arguments is refused now,
    not found out at run time."""
    node_id = spec.node_id
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or not idempotency_key:
            message = f"idempotency_key must be a str.format template, got {idempotency_key!r:.100}"
            raise _bad(node_id, message, "idempotency_key")
        problem = _key_problem(idempotency_key, spec.args)
        if problem is not None:
            raise _bad(node_id, f"idempotency_key {problem}", "idempotency_key")
        spec.idempotency_key = idempotency_key
    try:
        spec.cache = cache_policy(cache if cache is not None else getattr(spec.tool, "cache", None))
    except (TypeError, ValueError) as exc:
        raise _bad(node_id, str(exc), "cache") from None
    key = None if spec.cache is None else spec.cache.key
    problem = None if key is None else _key_problem(key, spec.args)
    if problem is not None:
        raise _bad(node_id, f"cache key {problem}", "cache")


def _key_problem(template: str, args: Any) -> str | None:
    """Why ``template.format_map(arguments)`` cannot work, whatever the values: not a
    template, a positional field, or a field naming no argument; None if it may."""
    try:
        fields = _fields(template)
    except ValueError as exc:
        return f"{template!r:.100} is not a str.format template ({exc})"
    names = list(args) if isinstance(args, Mapping) else []
    for field_name in fields:
        first = re.split(r"[.\[]", field_name, maxsplit=1)[0]
        if not first or first.isdigit():
            return f"{template!r:.100}: name an argument in each {{}} (as {{sku}})"
        if first not in names:
            known = ", ".join(repr(n)[:40] for n in names[:10]) or "none"
            return f"{template!r:.100} names {first!r:.60}, not an argument (arguments: {known})"
    return None


def _executor_name(node_id: str, name: object, is_async: bool) -> str:
    if not isinstance(name, str) or not name or len(name) > 100:
        raise _bad(node_id, f"executor must be an executor's name, got {name!r:.100}", "executor")
    if name == "async" and not is_async:
        raise _bad(node_id, "executor 'async' runs coroutine functions only", "executor")
    if is_async and name in _PLAIN_ONLY:  # (its call would return a coroutine, there)
        message = (
            f"executor {name!r} runs plain functions, and this tool is an async def:"
            " it runs on the event loop (leave executor out)"
        )
        raise _bad(node_id, message, "executor")
    return name


def _fields(template: str, depth: int = 0) -> list[str]:
    """The field names of a ``str.format`` template, those nested in format specs
    (``{x:{width}}``) too; ValueError if it is not one (a conversion but !r, !s, !a)."""
    found = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if conversion not in (None, "r", "s", "a"):
            raise ValueError(f"unknown conversion !{conversion}")
        found.append(name)
        if spec and "{" in spec and depth < 2:  # (format allows one level of nesting)
            found += _fields(spec, depth + 1)
    return found


_PLAIN_ONLY: Final = ("thread", "process", "dask")  # graphflow's executors of plain functions


def _resources(node_id: str, resources: object) -> dict[str, float] | None:
    """``{"GPU": 1}``: resource names to positive amounts (None when empty)."""
    if not isinstance(resources, Mapping):
        got = type(resources).__name__
        raise _bad(node_id, f"resources must map names to amounts, got {got}", "resources")
    for name, amount in resources.items():
        if not isinstance(name, str) or not name or len(name) > 100:
            raise _bad(node_id, f"resources: {name!r:.100} is not a resource name", "resources")
        if (
            isinstance(amount, bool)
            or not isinstance(amount, (int, float))
            or not 0 < amount < math.inf
        ):
            message = f"resources: {name!r} must be a number > 0, got {amount!r:.100}"
            raise _bad(node_id, message, "resources")
    return {name: float(amount) for name, amount in resources.items()} or None


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _check_node_id(node_id: object) -> None:
    if (
        type(node_id) is str
        and node_id.strip()
        and node_id != ITEM
        and "." not in node_id
        and "$" not in node_id
        and "{" not in node_id
        and "}" not in node_id
    ):
        return  # the common case, checked cheaply
    if not isinstance(node_id, str) or not node_id.strip():
        raise SpecError(f"node id must be a non-empty string, got {node_id!r}", key="node_id")
    if node_id == ITEM:
        raise SpecError(f"node id {ITEM!r} is reserved for for_each items", key=node_id)
    bad = _FORBIDDEN_IN_IDS.intersection(node_id)
    if bad:
        raise SpecError(
            f"node id {node_id!r} may not contain {' '.join(sorted(bad))!r}", key=node_id
        )


def _make_spec(
    node_id: NodeId,
    tool: ToolFn,
    args: Mapping[str, Any] | None,
    depends_on: Iterable[NodeId] | NodeId,
    timeout: float | None,
    retries: int | Retry | None,
    trigger: Trigger | str,
) -> NodeSpec:
    if not callable(tool):
        raise _bad(node_id, f"tool must be callable, got {type(tool).__name__}", "tool")
    if args is None:
        args = {}
    if type(args) is not dict and not isinstance(args, Mapping):
        got = type(args).__name__
        raise _bad(node_id, f"args must be a mapping of keyword arguments, got {got}", "args")
    deps = (depends_on,) if isinstance(depends_on, str) else tuple(depends_on)
    if deps and not all(type(d) is str for d in deps):
        raise _bad(node_id, "depends_on must be node ids (strings)", "depends_on")
    if len(deps) > 1:
        deps = tuple(dict.fromkeys(deps))
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise _bad(node_id, f"timeout must be a number of seconds > 0, got {timeout!r}", "timeout")
    try:
        template = compile_args(args)
    except ValueError as exc:
        raise _bad(node_id, str(exc), "args") from None
    retry = None if retries is None else _retry(node_id, retries)
    trig = _trigger(node_id, trigger)
    is_async = is_async_callable(tool)
    return NodeSpec(node_id, tool, args, deps, timeout, retry, trig, template, is_async)


def _retry(node_id: str, retries: object) -> Retry:
    if isinstance(retries, Retry):
        return retries
    if isinstance(retries, int) and not isinstance(retries, bool):
        if retries < 0:
            raise _bad(node_id, f"retries must be >= 0, got {retries}", "retries")
        return Retry(retries)
    raise _bad(node_id, f"retries must be an int or a Retry, got {retries!r}", "retries")


def _trigger(node_id: str, trigger: object) -> Trigger:
    if trigger == "all_success":  # (a Trigger is a str: this is the common case, cheaply)
        return Trigger.ALL_SUCCESS
    if trigger == "all_done":
        return Trigger.ALL_DONE
    choices = ", ".join(repr(str(t)) for t in Trigger)
    raise _bad(node_id, f"trigger must be one of {choices}, got {trigger!r}", "trigger")


def _bad(node_id: str, message: str, field_name: str) -> SpecError:
    return SpecError(f"node {node_id!r}: {message}", key=f"{node_id}.{field_name}")


def set_for_each(
    spec: NodeSpec, for_each: Any, max_parallel: int | None, partial: bool = False
) -> None:
    def bad(message: str, field_name: str) -> SpecError:
        return SpecError(f"node {spec.node_id!r}: {message}", key=f"{spec.node_id}.{field_name}")

    if for_each is None and max_parallel is None and not partial and not spec.template.refs:
        return  # the common case
    if partial is not False and (partial is not True or for_each is None):
        raise bad(f"partial must be true or false, with for_each; got {partial!r}", "partial")
    uses_item = any(r.node_id == ITEM for r in spec.template.refs)
    if for_each is None:
        if uses_item:
            raise bad("${item} is only defined in a node with for_each", "args")
        if max_parallel is not None:
            raise bad("max_parallel needs for_each", "max_parallel")
        return
    if isinstance(for_each, str):
        try:
            template = compile_args(for_each)
        except ValueError as exc:  # a malformed reference
            raise bad(str(exc)[:300], "for_each") from None
        if len(template.refs) != 1 or template.render(lambda r: r) != template.refs[0]:
            got = repr(for_each)[:200]
            raise bad(f"for_each must be a list or one reference, got {got}", "for_each")
        for_each = template.refs[0]
    if not isinstance(for_each, (Ref, list, tuple)):
        raise bad(
            f"for_each must be a list or a reference, got {type(for_each).__name__}", "for_each"
        )
    if max_parallel is not None and (
        not isinstance(max_parallel, int) or isinstance(max_parallel, bool) or max_parallel < 1
    ):
        raise bad(f"max_parallel must be an int >= 1, got {max_parallel!r}", "max_parallel")
    spec.for_each = list(for_each) if isinstance(for_each, tuple) else for_each
    spec.max_parallel = max_parallel
    spec.partial = partial


_ADDRESS: Final = re.compile(r" at 0x[0-9a-fA-F]+")  # a repr's memory address: new every run


def tool_identity(tool: ToolFn) -> str:
    """A name for ``tool`` that is the same in every process: a ``Tool``'s name,
    else the callable's ``module.qualname``."""
    name = getattr(tool, "name", None)
    if isinstance(name, str):
        return name
    module = getattr(tool, "__module__", None) or type(tool).__module__
    return f"{module}.{getattr(tool, '__qualname__', None) or type(tool).__qualname__}"


def fingerprint(spec: NodeSpec, upstream: Iterable[str] = ()) -> str:
    """What the node does, as a short hash: its tool, arguments, condition,
    ``for_each`` (an item's value) and its ``upstream`` nodes' fingerprints (not its timeout,
    retries or limits, which may change without changing what a stored output
    means). A resumed run compares them to say which nodes changed; a change
    upstream changes every node below it."""
    return _fingerprint(spec, tool_identity(spec.tool), tuple(upstream))


def _fingerprint(spec: NodeSpec, name: str, upstream: tuple[str, ...]) -> str:
    condition = None if spec.condition is None else spec.condition.text
    text = repr((name, spec.args, spec.deps, condition, spec.for_each, upstream))
    if spec.item is not None:  # (its args say ${item}: the value is what tells items apart)
        text += f" item={spec.item[0]!r}"
    if " at 0x" in text:
        text = _ADDRESS.sub("", text)
    return blake2b(text.encode(), digest_size=8).hexdigest()


def fingerprints(specs: Sequence[NodeSpec], deps: Sequence[Sequence[int]]) -> list[str]:
    """``fingerprint`` of every node (``deps``: each one's upstream nodes, by
    index; acyclic), upstream nodes' first: in one pass when every node comes
    after its upstream nodes (as graphs are usually built), else depth first."""
    names: dict[int, str] = {}  # tool_identity by id(tool): many nodes share a tool
    found: list[str | None] = [None] * len(specs)

    def print_of(i: int, upstream: tuple[str, ...]) -> str:
        tool = specs[i].tool
        name = names.get(id(tool))
        if name is None:
            name = names[id(tool)] = tool_identity(tool)
        return _fingerprint(specs[i], name, upstream)

    for i, up in enumerate(deps):
        if found[i] is not None:  # (done already: an earlier node depends on it)
            continue
        upstream = [found[j] for j in up]
        if None not in upstream:
            found[i] = print_of(i, tuple(upstream))  # type: ignore[arg-type]
            continue
        stack = [i]  # an upstream node comes later: walk down to what is known
        while stack:
            k = stack[-1]
            waiting = [j for j in deps[k] if found[j] is None]
            if waiting:
                stack.extend(waiting)
                continue
            if found[k] is None:
                found[k] = print_of(k, tuple([found[j] for j in deps[k]]))  # type: ignore[misc]
            stack.pop()
    return found  # type: ignore[return-value]

"""The graph model: ``Graph``, its node specs, and validation.

A ``Graph`` is a plain description: nodes with a tool, arguments, explicit
dependencies and options. ``Graph.plan()`` validates it (unknown ids, cycles)
and compiles it into a ``Plan`` of integer-indexed adjacency lists, which is
what the scheduler walks. The plan is cached until the graph changes.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, final

from ._expand import ITEM, RuntimeMap, gather_spec, item_spec, map_limit
from ._expand import item_id as item_id_of
from ._refs import Ref, Template, compile_args
from ._types import NodeId, ToolFn
from .errors import CycleError, DuplicateNodeError, GraphError, SpecError, UnknownNodeError

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
        base = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return base * (1 - self.jitter * random)


NO_RETRY = Retry()


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
    limits: tuple[str, ...] = ()
    """names of the limits (``Plan.limits``) this node takes a slot in while it runs"""
    writes: tuple[str, ...] = ()
    """resource keys (``str.format`` templates over the arguments) written exclusively"""
    reads: tuple[str, ...] = ()
    """resource keys read (shared with other readers, never with a writer)"""

    @property
    def deps(self) -> tuple[NodeId, ...]:
        """Every upstream node id (explicit and implied by references), without repeats."""
        seen = dict.fromkeys(self.depends_on)
        seen.update(dict.fromkeys(r.node_id for r in self.template.refs))
        return tuple(seen)

    @property
    def tool_name(self) -> str:
        return str(getattr(self.tool, "__name__", None) or type(self.tool).__name__)


@final
@dataclass(slots=True)
class Plan:
    """A validated graph as the scheduler walks it: integer ids, adjacency lists."""

    specs: list[NodeSpec]
    index: dict[NodeId, int]
    deps: list[tuple[int, ...]]
    dependents: list[list[int]]
    expansions: dict[int, list[RuntimeMap]]
    """source node -> the runtime maps to expand when it succeeds, in chain order"""
    limits: dict[str, int]
    """limit name -> capacity, for the names in the specs' ``limits``"""


def is_async_callable(tool: ToolFn) -> bool:
    """True for coroutine functions, partials of them and objects with ``async __call__``."""
    return inspect.iscoroutinefunction(tool) or inspect.iscoroutinefunction(
        getattr(type(tool), "__call__", None)  # noqa: B004 (the method, to inspect)
    )


@final
class Graph:
    """A DAG of tool calls.

    Example::

        g = Graph()
        g.add("a", lookup, args={"sku": "A1"})
        g.add("best", pick, args={"products": ["${a}", ref("b")]})
    """

    __slots__ = ("_nodes", "_plan", "limits")

    def __init__(self, *, limits: Mapping[str, int] | None = None) -> None:
        """Args:
        limits: sizes of named pools that tools share (``@tool(limit="api")``).
        """
        self._nodes: dict[NodeId, NodeSpec] = {}
        self._plan: Plan | None = None
        self.limits: dict[str, int] = dict(limits or {})

    def add(
        self,
        node_id: NodeId,
        tool: ToolFn,
        *,
        args: Mapping[str, Any] | None = None,
        depends_on: Iterable[NodeId] | NodeId = (),
        timeout: float | None = None,
        retries: int | Retry | None = None,
        trigger: Trigger | str = Trigger.ALL_SUCCESS,
        for_each: Sequence[Any] | Ref | str | None = None,
        max_parallel: int | None = None,
        limits: Iterable[str] = (),
        writes: Iterable[str] = (),
        reads: Iterable[str] = (),
    ) -> NodeSpec:
        """Add a node that calls ``tool(**args)``.

        Args:
            node_id: unique id; may not contain ``.``, ``$``, ``{`` or ``}``.
            tool: any sync or async callable.
            args: keyword arguments; may hold ``ref(...)`` or ``"${node.path}"``
                anywhere (nested), each of which adds an edge.
            depends_on: nodes that must finish first even though no argument
                refers to them.
            timeout: seconds per attempt (None: the run's default; ``math.inf``: none).
            retries: extra attempts (an int) or a ``Retry`` policy (None: the run's default).
            trigger: ``"all_success"`` or ``"all_done"``.
            for_each: a list, or a reference to one (``"${search.hits}"``): the
                node runs once per item, as nodes ``node_id[0]``, ``node_id[1]``...
                with ``${item}`` bound to the item; ``node_id`` itself then
                outputs the list of item outputs. Over another ``for_each``
                node (``"${lookup}"``), item i waits only for that node's item i.
            max_parallel: the most items of this node running at once.
            limits: names of pools (sized in ``Graph(limits=...)``) this node
                takes a slot in while it runs; a ``Tool``'s ``limit`` is added.
            writes, reads: resource keys, ``str.format`` templates over the
                arguments (``"customer:{customer_id}"``); a ``Tool``'s are added.
                Writers of a key never overlap each other or its readers.

        Returns:
            The node's spec.

        Raises:
            DuplicateNodeError: ``node_id`` is already in the graph.
            SpecError: an option or a reference is malformed.
        """
        if node_id in self._nodes:
            raise DuplicateNodeError(node_id)
        spec = build_spec(
            node_id,
            tool,
            args=args,
            depends_on=depends_on,
            timeout=timeout,
            retries=retries,
            trigger=trigger,
            limits=limits,
            writes=writes,
            reads=reads,
            pools=self.limits,
        )
        _set_for_each(spec, for_each, max_parallel)
        self._nodes[node_id] = spec
        self._plan = None
        return spec

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __iter__(self) -> Iterator[NodeId]:
        return iter(self._nodes)

    def __getitem__(self, node_id: NodeId) -> NodeSpec:
        return self._nodes[node_id]

    def __repr__(self) -> str:
        return f"<Graph {len(self._nodes)} nodes>"

    def validate(self) -> None:
        """Raise ``UnknownNodeError`` or ``CycleError`` if the graph cannot run."""
        self.plan()

    def plan(self) -> Plan:
        """The validated, compiled graph (cached until the next ``add``)."""
        if self._plan is None:
            self._plan = _compile_plan(list(self._nodes.values()), self.limits)
        return self._plan

    def to_networkx(self) -> Any:
        """A ``networkx.DiGraph`` of the graph as it will run (``analysis.plan_graph``)."""
        from .analysis import plan_graph

        return plan_graph(self)


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
    pools: dict[str, int],
) -> NodeSpec:
    """A validated node spec (``Graph.add`` and ``Scheduler.add`` share it).

    A ``Tool``'s own ``limit=N`` is recorded in ``pools`` as ``tool:<name>``.
    """
    _check_node_id(node_id)
    spec = _make_spec(node_id, tool, args, depends_on, timeout, retries, trigger)
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


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _check_node_id(node_id: object) -> None:
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
    def bad(message: str, field_name: str) -> SpecError:
        return SpecError(f"node {node_id!r}: {message}", key=f"{node_id}.{field_name}")

    if not callable(tool):
        raise bad(f"tool must be callable, got {type(tool).__name__}", "tool")
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise bad(f"args must be a mapping of keyword arguments, got {type(args).__name__}", "args")
    deps = (depends_on,) if isinstance(depends_on, str) else tuple(depends_on)
    if not all(isinstance(d, str) for d in deps):
        raise bad("depends_on must be node ids (strings)", "depends_on")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise bad(f"timeout must be a number of seconds > 0, got {timeout!r}", "timeout")
    retry = retries
    if isinstance(retries, int) and not isinstance(retries, bool):
        if retries < 0:
            raise bad(f"retries must be >= 0, got {retries}", "retries")
        retry = Retry(retries)
    if retry is not None and not isinstance(retry, Retry):
        raise bad(f"retries must be an int or a Retry, got {retries!r}", "retries")
    try:
        trig = Trigger(trigger)
    except ValueError:
        choices = ", ".join(repr(str(t)) for t in Trigger)
        raise bad(f"trigger must be one of {choices}, got {trigger!r}", "trigger") from None
    try:
        template = compile_args(args)
    except ValueError as exc:
        raise bad(str(exc), "args") from None
    return NodeSpec(
        node_id,
        tool,
        args,
        deps,
        timeout,
        retry,
        trig,
        template,
        is_async_callable(tool),
    )


def _set_for_each(spec: NodeSpec, for_each: Any, max_parallel: int | None) -> None:
    def bad(message: str, field_name: str) -> SpecError:
        return SpecError(f"node {spec.node_id!r}: {message}", key=f"{spec.node_id}.{field_name}")

    uses_item = any(r.node_id == ITEM for r in spec.template.refs)
    if for_each is None:
        if uses_item:
            raise bad("${item} is only defined in a node with for_each", "args")
        if max_parallel is not None:
            raise bad("max_parallel needs for_each", "max_parallel")
        return
    if isinstance(for_each, str):
        template = compile_args(for_each)
        if len(template.refs) != 1 or template.render(lambda r: r) != template.refs[0]:
            raise bad(f"for_each must be a list or one reference, got {for_each!r}", "for_each")
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


def _compile_plan(declared: list[NodeSpec], pools: Mapping[str, int]) -> Plan:
    specs, runtime = expand_maps(declared)
    index: dict[NodeId, int] = {}
    for i, s in enumerate(specs):
        if s.node_id in index:
            raise DuplicateNodeError(s.node_id)
        index[s.node_id] = i
    deps: list[tuple[int, ...]] = []
    dependents: list[list[int]] = [[] for _ in specs]
    for i, spec in enumerate(specs):
        ids = spec.deps
        for dep in ids:
            if dep not in index:
                how = "depends on" if dep in spec.depends_on else "references"
                raise UnknownNodeError(spec.node_id, dep, how)
        row = tuple(index[d] for d in ids)
        deps.append(row)
        for d in row:
            dependents[d].append(i)
    _check_acyclic(specs, deps, dependents)
    expansions: dict[int, list[RuntimeMap]] = {}
    for m in runtime:
        expansions.setdefault(index[m.source.node_id], []).append(m)
    limits = {
        **pools,
        **{map_limit(s.node_id): s.max_parallel for s in declared if s.max_parallel},
    }
    return Plan(specs, index, deps, dependents, expansions, limits)


def _check_acyclic(
    specs: list[NodeSpec], deps: list[tuple[int, ...]], dependents: list[list[int]]
) -> None:
    """Kahn's count in pure Python; networkx only to name a cycle when there is one."""
    pending = [len(d) for d in deps]
    stack = [i for i, n in enumerate(pending) if n == 0]
    seen = 0
    while stack:
        i = stack.pop()
        seen += 1
        for j in dependents[i]:
            pending[j] -= 1
            if pending[j] == 0:
                stack.append(j)
    if seen == len(specs):
        return
    import networkx as nx

    stuck = [i for i, n in enumerate(pending) if n > 0]
    dg: nx.DiGraph[int] = nx.DiGraph()
    dg.add_edges_from((d, i) for i in stuck for d in deps[i] if pending[d] > 0)
    edges = nx.find_cycle(dg, source=min(stuck))
    cycle = [u for u, _ in edges]
    first = cycle.index(min(cycle))
    cycle = cycle[first:] + cycle[:first]
    ids = [specs[i].node_id for i in cycle]
    raise CycleError([*ids, ids[0]], "each node must finish before the next")


def expand_maps(declared: list[NodeSpec]) -> tuple[list[NodeSpec], list[RuntimeMap]]:
    """Expand static ``for_each`` nodes; return the flat specs and the runtime maps.

    Flat order: each map's items come right before its gather, where the map
    was declared. A runtime map keeps a placeholder gather that waits for its
    source (and for the map it is chained over) until the scheduler expands it.
    """
    by_id = {s.node_id: s for s in declared}
    kinds: dict[str, tuple[str, Any]] = {}  # map id -> ("static", values) | ("runtime", RuntimeMap)

    def classify(spec: NodeSpec, seen: tuple[str, ...]) -> tuple[str, Any]:
        if spec.node_id in kinds:
            return kinds[spec.node_id]
        source = spec.for_each
        if not isinstance(source, Ref):
            kind: tuple[str, Any] = ("static", source)
        elif source.node_id not in by_id:
            raise UnknownNodeError(spec.node_id, source.node_id, "iterates over")
        elif by_id[source.node_id].for_each is None or source.path:
            kind = ("runtime", RuntimeMap(spec.node_id, source, None, spec))
        elif source.node_id in seen or source.node_id == spec.node_id:
            start = seen.index(source.node_id) if source.node_id in seen else len(seen)
            loop = [*seen[start:], spec.node_id][::-1]  # upstream first
            first = min(range(len(loop)), key=lambda k: list(by_id).index(loop[k]))
            loop = loop[first:] + loop[:first]
            raise CycleError([*loop, loop[0]], "each for_each iterates over the one before it")
        else:
            parent_kind, parent = classify(by_id[source.node_id], (*seen, spec.node_id))
            if parent_kind == "static":
                kind = ("static", [Ref(item_id_of(source.node_id, i)) for i in range(len(parent))])
            else:
                kind = ("runtime", RuntimeMap(spec.node_id, parent.source, source.node_id, spec))
        kinds[spec.node_id] = kind
        return kind

    flat: list[NodeSpec] = []
    runtime: list[RuntimeMap] = []
    for spec in declared:
        if spec.for_each is None:
            flat.append(spec)
            continue
        kind, value = classify(spec, ())
        if kind == "static":
            over = spec.for_each.node_id if isinstance(spec.for_each, Ref) else None
            flat.extend(item_spec(spec, i, None if over else v, over) for i, v in enumerate(value))
            flat.append(gather_spec(spec, len(value)))
        else:
            extra = [value.source.node_id] + ([value.over] if value.over else [])
            flat.append(gather_spec(spec, 0, extra))
            runtime.append(value)
    by_map = {m.node_id: m for m in runtime}
    runtime.sort(key=lambda m: _chain_depth(m, by_map))
    return flat, runtime


def _chain_depth(m: RuntimeMap, maps: dict[str, RuntimeMap]) -> int:
    return 0 if m.over is None else 1 + _chain_depth(maps[m.over], maps)


def reject_unless_graph(graph: object) -> Graph:
    if not isinstance(graph, Graph):
        raise GraphError(f"expected a graphflow.Graph, got {type(graph).__name__}")
    return graph

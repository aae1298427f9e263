"""The graph model: ``Graph`` and its validation.

A ``Graph`` is a plain description: nodes (``NodeSpec``, built and checked one
at a time in ``_spec``) with a tool, arguments, explicit dependencies and
options. ``Graph.plan()`` validates it as a whole (unknown ids, cycles) and
compiles it into a ``Plan`` of integer-indexed adjacency lists, which is what
a run walks. The plan is cached until the graph changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, final

from ._expand import RuntimeMap, gather_spec, item_spec, map_limit
from ._expand import item_id as item_id_of
from ._refs import Ref
from ._spec import NO_RETRY as NO_RETRY
from ._spec import Cache, NodeSpec, build_spec, set_for_each
from ._spec import Retry as Retry
from ._spec import Trigger as Trigger
from ._spec import is_async_callable as is_async_callable
from ._types import NodeId, ToolFn
from .errors import CycleError, DuplicateNodeError, GraphError, UnknownNodeError


@final
@dataclass(slots=True)
class Plan:
    """A validated graph as the scheduler walks it: integer ids, adjacency lists."""

    specs: list[NodeSpec]
    index: dict[NodeId, int]
    deps: list[tuple[int, ...]]
    dependents: list[Sequence[int]]
    """Each node's dependents: tuples, which the collector stops tracking (``_compile_plan``)."""
    expansions: dict[int, list[RuntimeMap]]
    """source node -> the runtime maps to expand when it succeeds, in chain order"""
    limits: dict[str, int]
    """limit name -> capacity, for the names in the specs' ``limits``"""


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
        partial: bool = False,
        limits: Iterable[str] = (),
        writes: Iterable[str] = (),
        reads: Iterable[str] = (),
        when: str | None = None,
        executor: str | None = None,
        idempotency_key: str | None = None,
        cache: bool | Cache | Mapping[str, Any] | None = None,
        resources: Mapping[str, float] | None = None,
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
            partial: with ``for_each``, keep what the items did even when some
                fail: ``node_id`` runs once every item finished and outputs one
                record per item, ``{"node_id", "status", "output"}`` or
                ``{"node_id", "status", "error": {"type", "message"}, "reason"}``.
            limits: names of pools (sized in ``Graph(limits=...)``) this node
                takes a slot in while it runs; a ``Tool``'s ``limit`` is added.
            when: a condition (``"${check.ok} and ${check.n} > 3"``, see
                ``graphflow._condition``): once the upstream nodes are done, the
                node runs only if it holds, else it is skipped with the reason.
            executor: where its calls run: ``"thread"``, ``"process"``,
                ``"async"`` (coroutine functions only), or a name given to
                ``RunOptions(executors=...)``; default: the tool's own
                (``@tool(executor=...)``), else coroutines on the loop and plain
                functions in the run's ``executor`` (threads).
            resources: worker resources each call needs (``{"GPU": 1}``):
                a Dask node runs only on workers that declare them; threads and
                processes ignore them (use ``limits`` to cap local use).
                Default: the tool's own (``@tool(resources=...)``).
            writes, reads: resource keys, ``str.format`` templates over the
                arguments (``"customer:{customer_id}"``); a ``Tool``'s are added.
                Writers of a key never overlap each other or its readers.
            idempotency_key: a ``str.format`` template over the arguments
                (``"charge-{order_id}"``) that the tool reads from
                ``graphflow.current_call().idempotency_key`` (default: the run
                id and node id, the same across retries and resumes).
            cache: ``True``, a ``Cache`` or ``{"ttl": ..., "key": ..., "version": ...}``:
                in a run with a store, reuse the output of an earlier call with
                the same arguments (default: the tool's ``@tool(cache=...)``).

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
            when=when,
            executor=executor,
            idempotency_key=idempotency_key,
            cache=cache,
            resources=resources,
            pools=self.limits,
        )
        set_for_each(spec, for_each, max_parallel, partial)
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


def _compile_plan(declared: list[NodeSpec], pools: Mapping[str, int]) -> Plan:
    specs, runtime = expand_maps(declared)
    index = {s.node_id: i for i, s in enumerate(specs)}
    if len(index) != len(specs):
        _raise_duplicate(specs)
    if runtime:
        _check_item_ids(specs, {m.node_id for m in runtime})
    deps: list[tuple[int, ...]] = []
    dependents: list[list[int]] = [[] for _ in specs]
    for i, spec in enumerate(specs):
        ids = spec.deps
        if not ids:
            deps.append(())
            continue
        try:
            row = tuple([index[d] for d in ids])
        except KeyError:
            _raise_unknown(spec, index)
        deps.append(row)
        for d in row:
            dependents[d].append(i)
    _check_acyclic(specs, deps, dependents)
    # Tuples of ints, once made: the collector stops tracking them (lists stay
    # tracked), so a big graph's full collections walk 100,000 objects fewer.
    rows: list[Sequence[int]] = list(map(tuple, dependents))
    expansions: dict[int, list[RuntimeMap]] = {}
    for m in runtime:
        expansions.setdefault(index[m.source.node_id], []).append(m)
    limits = {
        **pools,
        **{map_limit(s.node_id): s.max_parallel for s in declared if s.max_parallel},
    }
    return Plan(specs, index, deps, rows, expansions, limits)


def _raise_duplicate(specs: list[NodeSpec]) -> NoReturn:
    seen: set[str] = set()
    for s in specs:
        if s.node_id in seen:
            raise DuplicateNodeError(s.node_id)
        seen.add(s.node_id)
    raise AssertionError("no duplicate found")


def _check_item_ids(specs: list[NodeSpec], maps: set[str]) -> None:
    """Refuse a node named as an item of a map expanded at run time (``m[3]``
    beside ``for_each: ${x}`` on ``m``): the item would silently take its place."""
    for s in specs:
        node_id = s.node_id
        if node_id[-1:] != "]":
            continue
        parent, _, index = node_id[:-1].rpartition("[")
        if parent in maps and index.isdigit() and index.isascii():
            raise DuplicateNodeError(
                node_id, f"item {index} of for_each node {parent!r}, made at run time"
            )


def _raise_unknown(spec: NodeSpec, index: Mapping[str, int]) -> NoReturn:
    dep = next(d for d in spec.deps if d not in index)
    how = "depends on" if dep in spec.depends_on else "references"
    raise UnknownNodeError(spec.node_id, dep, how)


def _check_acyclic(
    specs: list[NodeSpec], deps: list[tuple[int, ...]], dependents: list[list[int]]
) -> None:
    """Kahn's count; when nodes are left over, name one real cycle among them.

    Every node Kahn's count could not finish waits for at least one other such
    node (else its count would have reached zero). So walking from any of them
    to an unfinished upstream node, again and again, must come back to a node
    already walked: the walk from there on is a cycle, whatever order the
    nodes were added in (a node that only sits downstream of a cycle leads
    into it, never out of it).
    """
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
    walked: dict[int, int] = {}  # node -> its position in the walk
    node = next(i for i, n in enumerate(pending) if n > 0)
    while node not in walked:
        walked[node] = len(walked)
        node = next(d for d in deps[node] if pending[d] > 0)
    loop = list(walked)[walked[node] :][::-1]  # upstream first
    first = loop.index(min(loop))  # start at the node added first, for a stable message
    ids = [specs[i].node_id for i in loop[first:] + loop[:first]]
    raise CycleError([*ids, ids[0]], "each node must finish before the next")


def expand_maps(declared: list[NodeSpec]) -> tuple[list[NodeSpec], list[RuntimeMap]]:
    """Expand static ``for_each`` nodes; return the flat specs and the runtime maps.

    Flat order: each map's items come right before its gather, where the map
    was declared. A runtime map keeps a placeholder gather that waits for its
    source (and for the map it is chained over) until the scheduler expands it.
    Runtime maps come out in chain order (a map before those chained over it).
    Loops, not recursion: a chain of maps may be thousands long.
    """
    by_id = {s.node_id: s for s in declared}
    kinds: dict[str, tuple[str, Any]] = {}  # map id -> ("static", values) | ("runtime", RuntimeMap)
    flat: list[NodeSpec] = []
    runtime: list[RuntimeMap] = []
    for spec in declared:
        if spec.for_each is None:
            flat.append(spec)
            continue
        kind, value = _classify(spec, by_id, kinds)
        if kind == "static":
            over = spec.for_each.node_id if isinstance(spec.for_each, Ref) else None
            flat.extend(item_spec(spec, i, None if over else v, over) for i, v in enumerate(value))
            flat.append(gather_spec(spec, len(value)))
        else:
            extra = [value.source.node_id] + ([value.over] if value.over else [])
            flat.append(gather_spec(spec, 0, extra))
            runtime.append(value)
    maps = {m.node_id: m for m in runtime}
    depth: dict[str, int] = {}
    for m in runtime:  # a chained map's parent is a runtime map too, declared anywhere
        _chain_depth(m, maps, depth)
    runtime.sort(key=lambda m: depth[m.node_id])
    return flat, runtime


def _classify(
    spec: NodeSpec, by_id: dict[str, NodeSpec], kinds: dict[str, tuple[str, Any]]
) -> tuple[str, Any]:
    """Is map ``spec`` static or runtime? Walks up its chain of maps, then back down."""
    chain: list[NodeSpec] = []  # spec, the map it iterates over, that one's... (downstream first)
    position: dict[str, int] = {}
    current = spec
    while current.node_id not in kinds:
        if current.node_id in position:
            _loop_error(chain[position[current.node_id] :], by_id)
        position[current.node_id] = len(chain)
        chain.append(current)
        source = current.for_each
        if not _chained(source, by_id):
            break
        assert isinstance(source, Ref)
        current = by_id[source.node_id]
    for s in reversed(chain):
        kinds[s.node_id] = _kind(s, by_id, kinds)
    return kinds[spec.node_id]


def _chained(source: object, by_id: dict[str, NodeSpec]) -> bool:
    """Does a for_each over ``source`` iterate over another map, item by item?"""
    return (
        isinstance(source, Ref)
        and source.node_id in by_id
        and by_id[source.node_id].for_each is not None
        and not source.path
    )


def _kind(
    spec: NodeSpec, by_id: dict[str, NodeSpec], kinds: dict[str, tuple[str, Any]]
) -> tuple[str, Any]:
    source = spec.for_each
    if not isinstance(source, Ref):
        return ("static", source)
    if source.node_id not in by_id:
        raise UnknownNodeError(spec.node_id, source.node_id, "iterates over")
    if not _chained(source, by_id):
        return ("runtime", RuntimeMap(spec.node_id, source, None, spec))
    parent_kind, parent = kinds[source.node_id]
    if parent_kind == "static":
        return ("static", [Ref(item_id_of(source.node_id, i)) for i in range(len(parent))])
    return ("runtime", RuntimeMap(spec.node_id, parent.source, source.node_id, spec))


def _loop_error(loop_specs: list[NodeSpec], by_id: dict[str, NodeSpec]) -> None:
    order = {node_id: k for k, node_id in enumerate(by_id)}
    loop = [s.node_id for s in loop_specs][::-1]  # upstream first
    first = min(range(len(loop)), key=lambda k: order[loop[k]])
    loop = loop[first:] + loop[:first]
    raise CycleError([*loop, loop[0]], "each for_each iterates over the one before it")


def _chain_depth(m: RuntimeMap, maps: dict[str, RuntimeMap], depth: dict[str, int]) -> None:
    """Fill ``depth`` for ``m`` and the maps it is chained over (0: over a plain node)."""
    walk: list[RuntimeMap] = []
    node: RuntimeMap | None = m
    while node is not None and node.node_id not in depth:
        walk.append(node)
        node = maps[node.over] if node.over is not None else None
    base = depth[node.node_id] if node is not None else -1
    for k, w in enumerate(reversed(walk)):
        depth[w.node_id] = base + 1 + k


def reject_unless_graph(graph: object) -> Graph:
    if not isinstance(graph, Graph):
        raise GraphError(f"expected a graphflow.Graph, got {type(graph).__name__}")
    return graph

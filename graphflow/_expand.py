"""``for_each``: one node per item, plus a gather node that lists their outputs.

A map node ``M`` (``for_each`` set) becomes items ``M[0]``, ``M[1]``, ... that
call M's tool with ``${item}`` bound to one value, and a *gather* node ``M``
whose output is the list of item outputs. References to ``${M}`` therefore
wait for every item; an item that fails skips the gather by the usual rules.

When each item is known:
  static      ``for_each`` is a list: items exist when the plan is compiled.
  chained     ``for_each: ${Y}`` where Y is itself a map node: item i depends
              on ``Y[i]`` only (no barrier), and ``${item}`` is Y[i]'s output.
              Static if Y is, otherwise expanded together with Y.
  runtime     ``for_each: ${X.path}`` for any other node X: items are created
              once X succeeds (before anything downstream of X is released),
              the first ``EXPAND_EVERY`` at once and the rest as those are
              taken to run (``RunState.expand_more``); the gather waits for
              the last. Maps chained over it follow it batch by batch.

Everything here is pure; the plan compiler and the scheduler call it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ._refs import Lookup, Ref, Render, Template, resolve_path
from ._spec import ITEM, NodeSpec, Trigger


def item_id(map_id: str, index: int) -> str:
    return f"{map_id}[{index}]"


async def _collect(items: list[Any]) -> list[Any]:
    return items


_collect.__name__ = "for_each"


@dataclass(frozen=True, slots=True)
class RuntimeMap:
    """A map node expanded when ``source`` succeeds (or when ``over`` expands)."""

    node_id: str
    source: Ref  # the root non-map node whose output decides the count
    over: str | None  # the runtime map this one is chained over, if any
    spec: NodeSpec = field(repr=False, compare=False)  # the declared map node


@dataclass(frozen=True, slots=True)
class ResultRef(Ref):
    """A reference to a node's whole result, as a record (a ``partial`` gather's items)."""


def item_record(result: Any) -> dict[str, Any]:
    """What a ``partial`` gather lists for one item: its status and output or error."""
    record: dict[str, Any] = {"node_id": result.node_id, "status": str(result.status)}
    if result.ok:
        record["output"] = result.output
        return record
    error = result.error
    record["error"] = None if error is None else {"type": error.type, "message": error.message}
    record["reason"] = result.reason
    return record


def item_spec(
    spec: NodeSpec,
    index: int,
    value: Any = None,
    over: str | None = None,
    source: str | None = None,
) -> NodeSpec:
    """Item ``index`` of map node ``spec``: bound to ``value``, or to ``over[index]``'s output.

    ``source``: the node whose output the items were made from, at run time:
    an edge, so that who waited for whom (critical path, report) says so.
    """
    base: Template = spec.template
    node_refs = tuple(r for r in base.refs if r.node_id != ITEM)
    upstream = Ref(item_id(over, index)) if over is not None else None
    refs = (*node_refs, upstream) if upstream is not None else node_refs
    group = (map_limit(spec.node_id),) if spec.max_parallel else ()
    # (a partial, not a closure: 2 objects the collector tracks per item, not 5;
    # a run of 100,000 items keeps them all, and every full collection walks them)
    bind = functools.partial(_render_item, base.render, upstream, value)
    return replace(
        spec,
        node_id=item_id(spec.node_id, index),
        template=Template(refs, bind),
        depends_on=(
            spec.depends_on if source is None else tuple(dict.fromkeys((*spec.depends_on, source)))
        ),
        for_each=None,
        max_parallel=None,
        limits=(*spec.limits, *group),
        item=None if upstream is not None else (value,),
    )


def _render_item(render: Render, upstream: Ref | None, value: Any, lookup: Lookup) -> Any:
    """An item's arguments: its map's, ``${item}`` bound to ``value`` or ``upstream``'s output."""

    def sub(r: Ref) -> Any:
        if r.node_id != ITEM:
            return lookup(r)
        if upstream is not None:
            return lookup(Ref(upstream.node_id, r.path))
        return resolve_path(value, r) if r.path else value

    return render(sub)


def map_limit(map_id: str) -> str:
    """The name of the limit that holds a map node's ``max_parallel``."""
    return f"max_parallel:{map_id}"


def gather_spec(spec: NodeSpec, count: int, extra_deps: Sequence[str] = ()) -> NodeSpec:
    """The gather node of map ``spec`` over ``count`` items."""
    kind = ResultRef if spec.partial else Ref
    refs = tuple(kind(item_id(spec.node_id, i)) for i in range(count))

    def render(lookup: Lookup) -> dict[str, Any]:
        return {"items": [lookup(r) for r in refs]}

    own: tuple[str, ...] = ()
    if not count:  # no items: keep the map's own upstream, so that order still holds
        own = (*spec.depends_on, *(r.node_id for r in spec.template.refs if r.node_id != ITEM))
    depends_on = tuple(dict.fromkeys((*extra_deps, *own)))
    return replace(
        spec,
        tool=_collect,
        args={},
        depends_on=depends_on,
        template=Template(refs, render),
        is_async=True,
        timeout=None,
        retry=None,
        # a failed item skips the gather, unless it keeps partial results
        trigger=Trigger.ALL_DONE if spec.partial else Trigger.ALL_SUCCESS,
        condition=None,  # (the items carry the map's condition)
        executor=None,  # graphflow's own node: always on the loop
        for_each=None,
        max_parallel=None,
        limits=(),
    )

"""``graphflow validate`` and ``graphflow plan``."""

from __future__ import annotations

import argparse
import contextlib
import gc
from collections.abc import Iterator

from .. import analysis
from ..workflow import Workflow, load_workflow
from . import EXIT_OK, parse_inputs


def load(args: argparse.Namespace, listed: bool = True) -> Workflow:
    """The workflow; ``listed``: its ``mcp:`` servers' tools listed first, so that its
    nodes are checked against them (``McpConnectError``, one line, if one is down)."""
    inputs, tools = parse_inputs(args.input, args.inputs), tuple(args.tools)
    with collector_paused():
        wf = load_workflow(args.file, inputs, tools)
    if wf.mcp is None or not listed:
        return wf
    import anyio

    anyio.run(wf.mcp.list_tools)
    with collector_paused():
        return load_workflow(args.file, inputs, tools, mcp=wf.mcp)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a workflow is loaded (restored after).

    Loading builds tens of thousands of containers that all stay alive (a
    10,000-node file: ~0.06 s of collections that free nothing). The CLI owns
    its process: ``load_workflow`` itself leaves the collector alone.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """What is alive now (the loaded workflow, above all) left out of the collections
    made while the block runs: a 10,000-node run's own time falls by about a third.

    Unfrozen after. Not at all if something had frozen objects before (a caller
    of ``main`` in its own process): unfreezing would undo theirs too.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def command_validate(args: argparse.Namespace) -> int:
    wf = load(args)
    plan = wf.graph.plan()
    edges = sum(len(d) for d in plan.deps)
    print(f"ok: {wf.path}: workflow {wf.model.name!r}, {_counted(len(plan.specs), edges)}")
    for server, tools in (wf.mcp.listed if wf.mcp is not None else {}).items():
        names = ", ".join(sorted(tools)[:30]) + (", ..." if len(tools) > 30 else "")
        print(f"  mcp {server}: {len(tools)} tools: {names}")
    return EXIT_OK


def command_plan(args: argparse.Namespace) -> int:
    wf = load(args, listed=False)
    if args.format == "mermaid":
        print(analysis.to_mermaid(wf.graph))
        return EXIT_OK
    if args.format == "dot":
        print(analysis.to_dot(wf.graph))
        return EXIT_OK
    plan = wf.graph.plan()
    edges = sum(len(d) for d in plan.deps)  # what plan_graph counts, without networkx
    print(f"workflow {wf.model.name!r}: {_counted(len(plan.specs), edges)}")
    for depth, level in enumerate(analysis.levels(wf.graph)):
        together = "runs alone" if len(level) == 1 else f"{len(level)} can run together"
        print(f"  level {depth} ({together}): {', '.join(level)}")
    runtime = {m.node_id for maps in plan.expansions.values() for m in maps}
    if runtime:
        named = [s.node_id for s in plan.specs if s.node_id in runtime]
        print(f"  items known only at run time: {', '.join(named)}")
    chain = analysis.longest_chain(wf.graph)
    print(f"  longest chain ({_plural(len(chain), 'node')}): {' -> '.join(chain)}")
    return EXIT_OK


def _counted(nodes: int, edges: int) -> str:
    return f"{_plural(nodes, 'node')}, {_plural(edges, 'edge')}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"

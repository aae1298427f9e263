"""Workflows served as MCP tools (``graphflow mcp serve FILE...``).

Each workflow file is one tool: its name is the workflow's ``name``, its
input schema the file's ``inputs`` (required ones required, defaults shown),
its result the file's ``outputs:`` — or, without them, the outputs of the
nodes nothing depends on, by node id — as structured content and as JSON
text. A call loads the file with the given inputs and runs the whole graph;
the client sees progress after each node (nodes finished of all). A run
with a failed node answers ``is_error`` with one line per failure.

Served over stdio, or over streamable HTTP on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from graphflow import Event, GraphError, NodeStatus, RunResult, run

if TYPE_CHECKING:
    import mcp_types
    from mcp.server import Server

    from graphflow.workflow import Workflow

LOOPBACK: Final = "127.0.0.1"
_TOOL_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(slots=True)
class Served:
    """One workflow file offered as a tool."""

    path: str
    tools: tuple[str, ...]
    workflow: Workflow

    @property
    def name(self) -> str:
        return _TOOL_NAME.sub("_", self.workflow.model.name)[:64] or "workflow"

    def schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for name, spec in self.workflow.model.inputs.items():
            prop: dict[str, Any] = {}
            if spec.description:
                prop["description"] = spec.description
            if not spec.required and spec.default is not None:
                prop["default"] = spec.default
            properties[name] = prop
        required = [n for n, s in self.workflow.model.inputs.items() if s.required]
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def description(self) -> str:
        text = self.workflow.model.description or f"Runs the workflow {self.workflow.model.name!r}"
        return f"{text} ({len(self.workflow.graph)} nodes, run as a graph)"


async def load_served(paths: Sequence[str], tools: Sequence[str] = ()) -> list[Served]:
    """Each file loaded (required inputs as None), its ``mcp:`` servers listed: a broken
    file or a server that is down fails now, not at the first call. A call loads
    the file again with its arguments, checked against the servers' schemas.

    Raises:
        GraphError: a file is invalid, a server is down, or two workflows have one name.
    """
    from graphflow.workflow import load_workflow

    served: list[Served] = []
    for path in paths:
        # Its MCP tools are not listed yet, so they take any arguments: a
        # required input (None here) is checked against them at each call.
        wf = load_workflow(path, _required_inputs(path), tuple(tools))
        if wf.mcp is not None:
            await wf.mcp.list_tools()
        served.append(Served(path, tuple(tools), wf))
    names = [s.name for s in served]
    for name in names:
        if names.count(name) > 1:
            raise GraphError(f"two workflows are named {name!r}: each is one tool, named after it")
    return served


def _required_inputs(path: str) -> dict[str, Any]:
    """``{name: None}`` for the file's required inputs (the loader checks the file itself)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return {}  # the loader says what is wrong, located
    inputs = data.get("inputs") if isinstance(data, dict) else None
    if not isinstance(inputs, dict):
        return {}
    return {k: None for k, v in inputs.items() if isinstance(v, dict) and v.get("required")}


def build_server(served: Sequence[Served]) -> Server[Any]:
    """The MCP server offering ``served`` (the SDK's low-level ``Server``)."""
    import mcp_types as types
    from mcp.server import Server, ServerRequestContext

    by_name = {s.name: s for s in served}

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(name=s.name, description=s.description(), input_schema=s.schema())
                for s in served
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        found = by_name.get(params.name)
        if found is None:
            return _error(f"no workflow named {params.name!r} (served: {', '.join(by_name)})")
        return await _call(found, dict(params.arguments or {}), ctx.session.report_progress)

    return Server("graphflow", on_list_tools=list_tools, on_call_tool=call_tool)


async def _call(
    served: Served, arguments: dict[str, Any], progress: Any
) -> mcp_types.CallToolResult:
    from graphflow.workflow import load_workflow

    try:
        wf = load_workflow(served.path, arguments, served.tools, mcp=served.workflow.mcp)
    except GraphError as exc:
        return _error(str(exc))
    total = len(wf.graph)
    done = 0

    async def report(event: Event) -> None:
        nonlocal done
        if event.result is not None and event.node_id in wf.graph:
            done += 1
            status = event.result.status.value
            await progress(done, total, f"{event.node_id} {status}")

    result = await run(wf.graph, wf.run_options().replace(observers=[report]))
    return _answer(wf, result)


def _answer(wf: Workflow, result: RunResult) -> mcp_types.CallToolResult:
    failures = [
        f"{r.node_id} {r.status.value}: {r.error.message if r.error else r.reason or ''}"
        for r in result.values()
        if r.status in (NodeStatus.FAILED, NodeStatus.CANCELLED)
    ]
    if failures:
        return _error("\n".join(failures[:20]))
    if wf.declared_outputs:
        values: dict[str, Any] = dict(wf.outputs(result).values)
    else:
        plan = wf.graph.plan()
        ends = [s.node_id for i, s in enumerate(plan.specs) if not plan.dependents[i]]
        values = {node_id: result[node_id].output for node_id in ends if node_id in result}
    import mcp_types as types

    text = json.dumps(values, default=str, ensure_ascii=False)
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=values)


def _error(message: str) -> mcp_types.CallToolResult:
    import mcp_types as types

    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


async def serve_stdio(served: Sequence[Served]) -> None:
    """Serve over this process's stdin and stdout until stdin closes."""
    from mcp.server.stdio import stdio_server

    server = build_server(served)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


async def serve_http(served: Sequence[Served], port: int) -> None:
    """Serve streamable HTTP at ``http://127.0.0.1:PORT/mcp`` (loopback only)."""
    import uvicorn

    app = build_server(served).streamable_http_app(host=LOOPBACK)
    config = uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning")
    await uvicorn.Server(config).serve()

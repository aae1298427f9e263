"""The file's ``mcp:`` servers: an ``McpToolbox`` whose tools nodes name ``server.tool``.

A server is a ``command`` (stdio; ``env``, ``cwd``) or a ``url`` (streamable
HTTP; ``headers``), with ``concurrency``, ``timeout`` and
``destructive_lock`` (see ``graphflow.mcp.McpServer``). Its values may read
``${env.NAME}`` and ``${inputs.x}`` (a token in a header), not nodes.

Loading a file does not start its servers: its MCP tools take any
arguments and are checked against their servers' schemas when called. The
CLI lists the servers' tools first (``list_tools``) and loads the file
again with that toolbox, so that ``validate`` checks each node's arguments
against the server's schema and an unknown tool is a located error.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from graphflow import Retry
from graphflow.mcp import TRANSPORT_ERRORS, McpServer, McpToolbox

from ._text import quote

if TYPE_CHECKING:
    from ._nodes import GraphBuilder
    from ._spec import McpServerSpec

_NO_ITEM = "${item} is only defined in a node with for_each"
RESERVED = frozenset({"http"})
"""Prefixes of built-in tools (``http.get``): no server may take them."""


def file_toolbox(builder: GraphBuilder) -> McpToolbox | None:
    """The toolbox of the file's ``mcp:`` servers (None if it has none); problems recorded."""
    model = builder.model
    if model is None or not model.mcp:
        return None
    servers: dict[str, McpServer] = {}
    for name, spec in model.mcp.items():
        server = _server(builder, name, spec)
        if server is not None:
            servers[name] = server
    return McpToolbox(servers)


def _server(builder: GraphBuilder, name: str, spec: McpServerSpec) -> McpServer | None:
    loc = ("mcp", name)
    if name in RESERVED:
        taken = f"server name {quote(name)} is taken by the built-in {name}.* tools"
        builder.problems.at(taken, loc)
        return None
    if (spec.command is None) == (spec.url is None):
        builder.problems.at("an mcp server has a command (stdio) or a url (HTTP), not both", loc)
        return None
    before = len(builder.problems.found)
    values: Any = builder._substitute(spec.model_dump(exclude_none=True), loc, _NO_ITEM)
    if len(builder.problems.found) > before:
        return None
    if not _all_text(values):
        builder.problems.at("mcp: values may read ${env.NAME} and ${inputs.x}, not nodes", loc)
        return None
    options: dict[str, Any] = {"destructive_lock": spec.destructive_lock}
    if spec.concurrency is not None:
        options["concurrency"] = spec.concurrency
    if spec.timeout is not None:
        options["timeout"] = spec.timeout
    try:
        if spec.command is not None:
            return McpServer.stdio(
                values["command"], env=values.get("env"), cwd=values.get("cwd"), **options
            )
        return McpServer.http(values["url"], headers=values.get("headers"), **options)
    except ValueError as exc:
        builder.problems.at(str(exc), loc)
        return None


def _all_text(value: Any) -> bool:
    """No reference left (a ``Ref`` or a template for the core) in ``value``."""
    if isinstance(value, dict):
        return all(_all_text(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_text(v) for v in value)
    return isinstance(value, (str, int, float, bool)) and not (
        isinstance(value, str) and "${" in value
    )


def transport_only(retries: int | Retry | None) -> int | Retry | None:
    """A file's retries for an MCP node: on transport errors only (a tool's error stays)."""
    if retries is None:
        return None
    if isinstance(retries, int):
        return Retry(retries, on=TRANSPORT_ERRORS) if retries else 0
    return dataclasses.replace(retries, on=TRANSPORT_ERRORS)

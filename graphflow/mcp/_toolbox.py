"""``McpToolbox``: the tools of MCP servers as graphflow tools, one session per server.

Tools are named ``server.tool`` (the separator can be changed: model
providers want ``[A-Za-z0-9_-]`` names), so two servers' tools never collide;
their schemas are the servers' own (``Tool.from_schema``).

Sessions: ``toolbox.session()`` is an async context manager that opens one
session per server (in the task that enters it, one server after the
other) and closes them when it ends, in that same task, also after a failure
or a cancellation. Every call made in a task started inside it uses those
sessions (they are found through a context variable, as ``HttpPool`` is). Give
it to a run as a resource — ``run(graph, resources=[toolbox.session()])``:
opened before the first node, closed after the last — or hold one open across
several runs (an agent loop's turns): a session entered where one of the same
toolbox is already open does nothing, so state on a server lives as long as
the outermost one.

Annotations: a tool the server marks destructive (``destructiveHint`` and not
``readOnlyHint``) writes the resource key ``mcp:SERVER``, every other tool of
that server reads it: read-only calls run in parallel, a destructive one runs
alone on its server (unless the server's ``destructive_lock`` is off).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, final

import anyio
from anyio.abc import TaskGroup

from graphflow import Tool, Toolbox, ToolNotFoundError

from ._client import Connection
from ._errors import McpNotConnectedError, McpToolError
from ._servers import McpServer, check_name

if TYPE_CHECKING:
    import mcp_types

OPEN_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}, "additionalProperties": True}
"""The schema of a tool not listed yet: any arguments; its server checks them."""


@final
class McpToolbox(Toolbox):
    """The tools of several MCP servers, named ``server.tool``.

    Empty until listed: ``await toolbox.list_tools()`` (or entering
    ``toolbox.session()``) adds every server's tools. ``toolbox["files.read"]``
    before that gives a tool that takes any arguments and is checked against
    the server's schema when called.

    Args:
        servers: ``McpServer``s by name (letters, digits, ``_``, ``-``).
        separator: between a server's name and its tool's (``"__"`` suits
            model providers, which refuse dots in names).

    Raises:
        ValueError: a server name is not one.
    """

    def __init__(self, servers: Mapping[str, McpServer], *, separator: str = ".") -> None:
        super().__init__()
        for name, server in servers.items():
            check_name(name)
            if not isinstance(server, McpServer):
                raise ValueError(f"server {name!r}: expected an McpServer, got {server!r:.60}")
        self.servers = dict(servers)
        self.separator = separator
        self.listed: dict[str, dict[str, mcp_types.Tool]] = {}
        self._lazy: dict[str, Tool] = {}  # open tools handed out before a listing
        self._open: ContextVar[dict[str, Connection] | None] = ContextVar(
            f"graphflow_mcp_{id(self)}", default=None
        )

    def session(self) -> McpSession:
        """A new session with every server, for one run (or a longer block)."""
        return McpSession(self)

    async def list_tools(self) -> dict[str, list[str]]:
        """Connect to each server, list its tools, add them here, and disconnect.

        Returns:
            Each server's tool names (unqualified), by server.

        Raises:
            McpConnectError: a server cannot be reached or listed (one line).
        """
        async with self.session():
            pass
        return {name: list(tools) for name, tools in self.listed.items()}

    def _listed(self, connections: Mapping[str, Connection]) -> None:
        for name, connection in connections.items():
            self.listed[name] = dict(connection.tools)
            for tool_name, info in connection.tools.items():
                qualified = f"{name}{self.separator}{tool_name}"
                if qualified not in self:
                    self.add(self._tool(name, tool_name, info))

    def split(self, name: str) -> tuple[str, str] | None:
        """``(server, tool)`` for ``server.tool`` when ``server`` is one of these."""
        server, sep, tool_name = name.partition(self.separator)
        if sep and tool_name and server in self.servers:
            return server, tool_name
        return None

    def __getitem__(self, name: str) -> Tool:
        return self.resolve(name)

    def resolve(self, name: str) -> Tool:
        """The tool ``server.tool``: as listed, or (its server not listed yet) an open one.

        Raises:
            ToolNotFoundError: no such server, or its listing has no such tool.
        """
        found = self.get(name)
        if found is not None:
            return found
        parts = self.split(name)
        if parts is None or parts[0] in self.listed:
            close = difflib.get_close_matches(name, self.names, n=3, cutoff=0.6)
            raise ToolNotFoundError(name, close)
        lazy = self._lazy.get(name)
        if lazy is None:
            lazy = self._lazy[name] = self._tool(*parts, None)
        return lazy

    def _tool(self, server: str, tool_name: str, info: mcp_types.Tool | None) -> Tool:
        label = f"{server}{self.separator}{tool_name}"
        checked: list[Tool] = []  # an open tool's arguments, checked against the listing

        async def call(**arguments: Any) -> Any:
            connection = self._connection(server, label)
            listed = connection.tools.get(tool_name)
            if listed is None:
                known = ", ".join(sorted(connection.tools)[:20]) or "none"
                raise McpToolError(label, f"server {server!r} has no tool {tool_name!r} ({known})")
            if info is None:
                if not checked:
                    checked.append(Tool.from_schema(label, listed.input_schema, _never))
                arguments = checked[0].validate(arguments)
            return await connection.call(tool_name, arguments, label)

        schema = info.input_schema if info is not None else OPEN_SCHEMA
        description = (info.description or "") if info is not None else ""
        writes, reads = self._locks(server, info)
        return Tool.from_schema(
            label, schema, call, description=description, writes=writes, reads=reads
        )

    def _locks(self, server: str, info: mcp_types.Tool | None) -> tuple[list[str], list[str]]:
        """(writes, reads): see the module's docstring."""
        if info is None or not self.servers[server].destructive_lock:
            return [], []
        key = f"mcp:{server}"
        hints = info.annotations
        destructive = hints is not None and hints.destructive_hint is True
        if destructive and hints is not None and hints.read_only_hint is not True:
            return [key], []
        return [], [key]

    def _connection(self, server: str, label: str) -> Connection:
        connections = self._open.get()
        if connections is None or server not in connections:
            raise McpNotConnectedError(label)
        return connections[server]


async def _never(**arguments: Any) -> Any:  # the checker's function: never called
    raise AssertionError("not called")


@final
class McpSession:
    """One session per server of an ``McpToolbox``, for as long as it is entered.

    The servers are started and greeted at once, each by a task of its own
    that also closes it (see ``_client``). Entered where a session of the same
    toolbox is open, it does nothing.

    Raises:
        McpConnectError: on entering, a server cannot be reached or listed.
    """

    def __init__(self, toolbox: McpToolbox) -> None:
        self.toolbox = toolbox
        self._group: TaskGroup | None = None
        self._connections: list[Connection] = []
        self._token: Token[dict[str, Connection] | None] | None = None

    async def __aenter__(self) -> McpToolbox:
        box = self.toolbox
        if box._open.get() is not None:
            return box
        if self._group is not None:
            raise RuntimeError("this McpSession is already in use; make one per run")
        connections = {name: Connection(name, server) for name, server in box.servers.items()}
        self._connections = list(connections.values())
        self._group = group = anyio.create_task_group()
        await group.__aenter__()
        try:
            for connection in self._connections:
                group.start_soon(connection.host)
            for connection in self._connections:
                await connection.ready.wait()
                if connection.failure is not None:
                    raise connection.failure
        except BaseException:
            await self._close()
            raise
        box._listed(connections)
        self._token = box._open.set(connections)
        return box

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            self.toolbox._open.reset(self._token)
            self._token = None
        await self._close()

    async def _close(self) -> None:
        """Stop every connection and wait for their tasks (which shut the servers down)."""
        group, self._group = self._group, None
        if group is None:
            return
        for connection in self._connections:
            connection.stop()
        # Left in the scope it was entered in (a run's resources are shielded
        # from outside that scope; the SDK shields the servers' shutdown too).
        # The body's exception is not the group's business (it would come back
        # wrapped in an ExceptionGroup).
        await group.__aexit__(None, None, None)

"""One connection to one MCP server, through the official SDK (``mcp``, loaded here only).

Each connection lives in a task of its own (``host``), which opens the
transport and the SDK's session, and closes them, itself: the SDK's task
groups and cancel scopes must be left in the task that entered them (else
"exit cancel scope in a different task"), and a transport that fails (an
HTTP server gone) cancels the task it was entered in — the host, not the
run. Nothing here opens a session per call: a connection is one session, one
subprocess for stdio.

Calls: at most ``concurrency`` at once; each with the server's ``timeout``,
after which the SDK sends ``notifications/cancelled`` so the server stops too
(it does the same when the caller is cancelled, e.g. by a node's timeout).
"""

from __future__ import annotations

import math
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Final

import anyio

from ._errors import McpConnectError, McpTimeoutError, McpToolError, McpTransportError, cut
from ._servers import CONNECT_TIMEOUT, McpServer

if TYPE_CHECKING:
    import mcp
    import mcp_types

NO_LIMIT: Final = 10.0**9
"""The SDK's timeout for a server with ``timeout=math.inf`` (None would mean its default)."""
_MAX_PAGES: Final = 100


class Connection:
    """An open session with one server: its tools as listed, and calls within its limits."""

    def __init__(self, name: str, server: McpServer) -> None:
        self.name = name
        self.server = server
        self.limiter = anyio.CapacityLimiter(server.concurrency)
        self.tools: dict[str, mcp_types.Tool] = {}
        self._client: mcp.Client | None = None
        self._streams: Any = None
        self.ready = anyio.Event()  # set when connected and listed, or failed
        self.failure: Exception | None = None
        self._stop = anyio.Event()

    async def host(self) -> None:
        """Connect, list, hold the session until ``stop``, close it: all in this task.

        A failure is kept in ``failure`` (an ``McpConnectError`` before the
        session was ready), never raised: it must not cancel its siblings.
        """
        try:
            async with AsyncExitStack() as stack:
                await self.start(stack)
                await self.connect(stack)
                self.ready.set()
                await self._stop.wait()
        except Exception as exc:  # the transport's failure, seen when its task group ends
            if self.failure is None:
                connected = self.ready.is_set()
                self.failure = (
                    exc
                    if connected or isinstance(exc, McpConnectError)
                    else (McpConnectError(self.name, self.server.where, reason_of(exc)))
                )
        finally:
            self._client = None
            self.ready.set()

    def stop(self) -> None:
        """Let ``host`` close the session."""
        self._stop.set()

    async def start(self, stack: AsyncExitStack) -> None:
        """Start the server (stdio) or the HTTP client; closed with ``stack``.

        Raises:
            McpConnectError: the SDK is missing, or the command cannot start.
        """
        try:
            from mcp.client.stdio import StdioServerParameters, stdio_client
        except ImportError:
            missing = "the MCP SDK is not installed: pip install 'graphflow[mcp]'"
            raise McpConnectError(self.name, self.server.where, missing) from None
        server = self.server
        try:
            if server.command:
                parameters = StdioServerParameters(
                    command=server.command[0],
                    args=list(server.command[1:]),
                    env=dict(server.env) or None,
                    cwd=server.cwd,
                )
                self._streams = await stack.enter_async_context(stdio_client(parameters))
            else:
                self._streams = await stack.enter_async_context(await self._http(stack))
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            raise McpConnectError(self.name, server.where, reason_of(exc)) from None

    async def _http(self, stack: AsyncExitStack) -> Any:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        assert self.server.url is not None  # a server has a command or a url
        timeout = httpx2.Timeout(30.0, read=300.0)  # the SDK's own defaults
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=dict(self.server.headers), timeout=timeout)
        )
        return streamable_http_client(self.server.url, http_client=http)

    async def connect(self, stack: AsyncExitStack) -> None:
        """Greet the started server and list its tools.

        Raises:
            McpConnectError: it does not answer, or not as an MCP server (one line).
        """
        from mcp import Client

        try:
            client = Client(_Opened(self._streams), read_timeout_seconds=CONNECT_TIMEOUT)
            self._client = await stack.enter_async_context(client)
            self.tools = await self._list()
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            raise McpConnectError(self.name, self.server.where, reason_of(exc)) from None

    async def _list(self) -> dict[str, mcp_types.Tool]:
        assert self._client is not None
        tools: dict[str, mcp_types.Tool] = {}
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await self._client.list_tools(cursor=cursor)
            tools.update((t.name, t) for t in page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        return tools

    async def call(
        self,
        tool: str,
        arguments: dict[str, Any],
        label: str,
    ) -> Any:
        """Call ``tool``; its structured content, else its text.

        Raises:
            McpToolError: the tool reported an error, or the server refused the call.
            McpTimeoutError: no answer within the server's timeout.
            McpTransportError: the connection failed.
        """
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        client = self._client
        if client is None:
            why = reason_of(self.failure) if self.failure else "the session is closed"
            raise McpTransportError(label, why)
        timeout = self.server.timeout
        async with self.limiter:
            try:
                result = await client.call_tool(
                    tool,
                    arguments,
                    read_timeout_seconds=NO_LIMIT if math.isinf(timeout) else timeout,
                )
            except MCPError as exc:
                if exc.code == REQUEST_TIMEOUT:
                    raise McpTimeoutError(label, timeout) from None
                if exc.code == CONNECTION_CLOSED:
                    raise McpTransportError(label, exc.message) from None
                raise McpToolError(label, exc.message) from None
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                raise McpTransportError(label, reason_of(exc)) from None
        return output_of(result, label)


def output_of(result: mcp_types.CallToolResult, label: str) -> Any:
    """A node's output from a tool result: structured content, else the text; is_error raises."""
    if result.is_error:
        raise McpToolError(label, text_of(result.content) or "")
    if result.structured_content is not None:
        return result.structured_content
    return text_of(result.content)


def text_of(content: list[Any]) -> Any:
    """The text blocks joined by newlines; other blocks (images...) as their JSON form."""
    texts = [block.text for block in content if getattr(block, "type", None) == "text"]
    if texts or not content:
        return "\n".join(texts)
    return [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in content]


def reason_of(exc: BaseException) -> str:
    """One line about ``exc``: the first leaf of an exception group, its type and message."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or type(exc).__name__
    if cause is not None and not str(exc):
        text = f"{type(exc).__name__}: {cause}"
    return cut(text, 200)


class _Opened:
    """A transport already open: the SDK's ``Client`` enters it, the starter's stack closes it."""

    def __init__(self, streams: Any) -> None:
        self._streams = streams

    async def __aenter__(self) -> Any:
        return self._streams

    async def __aexit__(self, *exc_info: object) -> None:
        return None

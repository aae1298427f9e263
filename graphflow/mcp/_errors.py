"""What can go wrong talking to an MCP server::

    McpConnectError   (GraphError)    raised: a server cannot be reached or listed
    McpToolError                      recorded: the tool answered with is_error
    McpTransportError (ConnectionError) recorded: the connection failed mid-call
    McpTimeoutError   (TimeoutError)  recorded: no answer within the server's timeout
    McpNotConnectedError (RuntimeError) recorded: called outside any session

Only ``TRANSPORT_ERRORS`` are worth retrying: a tool that said "error" will say
it again, and a call that timed out was cancelled on the server.
"""

from __future__ import annotations

from typing import Final

from graphflow import GraphError

MAX_MESSAGE: Final = 300
"""Characters of a server's own text an error message quotes at most."""


def cut(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class McpConnectError(GraphError):
    """A server could not be started, reached, or listed (before anything ran)."""

    def __init__(self, server: str, where: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        super().__init__(f"mcp server {server!r} ({cut(where, 80)}): {cut(reason, 200)}")


class McpToolError(RuntimeError):
    """The tool ran and reported an error (``is_error``); the message is the server's."""

    def __init__(self, tool: str, message: str) -> None:
        self.tool = tool
        self.server_message = message
        super().__init__(f"{tool}: {cut(message) or 'the tool reported an error'}")


class McpTransportError(ConnectionError):
    """The connection to the server failed during a call (the server exited, the HTTP
    request failed)."""

    def __init__(self, tool: str, reason: str) -> None:
        self.tool = tool
        super().__init__(f"{tool}: connection to the mcp server failed: {cut(reason, 200)}")


class McpTimeoutError(TimeoutError):
    """No answer within the server's call timeout; the call was cancelled on the server."""

    def __init__(self, tool: str, seconds: float) -> None:
        self.tool = tool
        self.seconds = seconds
        super().__init__(f"{tool}: no answer after {seconds:g} s (cancelled on the server)")


class McpNotConnectedError(RuntimeError):
    """An MCP tool was called where no session of its toolbox is open."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        super().__init__(
            f"{tool}: no open session for its server: run with "
            "resources=[toolbox.session()] or inside 'async with toolbox.session():'"
        )


TRANSPORT_ERRORS: Final = (McpTransportError,)
"""The errors an MCP call is retried on by default (``Retry(on=TRANSPORT_ERRORS)``)."""

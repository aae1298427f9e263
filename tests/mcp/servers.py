"""Small MCP servers for the tests, run as real subprocesses.

``python servers.py KIND [--http PORT]``: KIND is ``alpha``, ``beta``,
``stateful`` or ``crashy``. Over HTTP the server listens on 127.0.0.1. A
server appends what happens to the file named by ``$MCP_TEST_LOG`` (one line
per event: ``started NAME``, ``cancelled TOOL``...), so tests can check what
the server itself saw.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations


def record(line: str) -> None:
    path = os.environ.get("MCP_TEST_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def alpha() -> MCPServer:
    server = MCPServer("alpha")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def shout(text: str) -> str:
        """The text in capitals."""
        return text.upper()

    @server.tool()
    def fail(why: str) -> str:
        """Always fails (a ToolError: MCPServer hides other exceptions' messages)."""
        raise ToolError(f"refused: {why}")

    @server.tool()
    async def slow(seconds: float, tag: str = "") -> str:
        """Sleeps; records a cancellation."""
        record(f"slow started {tag}")
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            record(f"slow cancelled {tag}")
            raise
        return "done"

    return server


def beta() -> MCPServer:
    server = MCPServer("beta")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def profile(n: int) -> dict[str, Any]:
        """A record for n."""
        return {"n": n, "square": n * n}

    @server.tool()
    def join(parts: list[str], sep: str = "-") -> str:
        """Join parts."""
        return sep.join(parts)

    return server


def stateful() -> MCPServer:
    server = MCPServer("stateful")
    items: list[str] = []
    active = {"now": 0, "most": 0}

    @server.tool(annotations=ToolAnnotations(destructive_hint=True))
    async def push(item: str) -> int:
        """Append an item; how many there are."""
        active["now"] += 1
        active["most"] = max(active["most"], active["now"])
        await anyio.sleep(0.05)
        items.append(item)
        active["now"] -= 1
        return len(items)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def items_now() -> dict[str, Any]:
        """The items so far, and the most pushes seen at once."""
        return {"items": list(items), "most_at_once": active["most"]}

    return server


def crashy() -> MCPServer:
    server = MCPServer("crashy")

    @server.tool()
    def ok() -> str:
        """Fine."""
        return "ok"

    @server.tool()
    async def crash() -> str:
        """The server process exits mid-call."""
        await anyio.sleep(0.05)
        os._exit(3)

    return server


KINDS = {"alpha": alpha, "beta": beta, "stateful": stateful, "crashy": crashy}

if __name__ == "__main__":
    kind = sys.argv[1]
    server = KINDS[kind]()
    record(f"started {kind}")
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        server.run("streamable-http", host="127.0.0.1", port=port)
    else:
        server.run()

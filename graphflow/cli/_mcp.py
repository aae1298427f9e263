"""``graphflow mcp serve FILE...``: workflows as MCP tools, over stdio or HTTP on loopback."""

from __future__ import annotations

import argparse

import anyio

from . import EXIT_OK, UsageError


def command_mcp(args: argparse.Namespace) -> int:
    """Serve until the client closes stdin (stdio) or the process is stopped (HTTP)."""
    if args.mcp_command != "serve":
        raise UsageError("graphflow mcp: expected a command: serve")
    if args.http is not None and not 0 < args.http < 65536:
        raise UsageError(f"--http must be a port (1-65535), got {args.http}")
    try:
        from graphflow.mcp import load_served, serve_http, serve_stdio
    except ImportError:  # pragma: no cover - the extra is missing
        raise UsageError("graphflow mcp needs the MCP SDK: pip install 'graphflow[mcp]'") from None

    async def main() -> None:
        served = await load_served(args.files, args.tools)
        if args.http is None:
            await serve_stdio(served)
        else:
            await serve_http(served, args.http)

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass
    return EXIT_OK

"""Real MCP servers for the tests: subprocesses over stdio, and over HTTP on 127.0.0.1.

MCP tests run on asyncio (each starts Python subprocesses, which is what
takes their time); ``test_trio`` checks that the other backend works too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from graphflow.mcp import McpServer

SERVERS = str(Path(__file__).with_name("servers.py"))
PYTHON = sys.executable
ROOT = str(Path(__file__).parents[2])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """The file the servers append what they saw to (``MCP_TEST_LOG``)."""
    return tmp_path / "server.log"


def stdio(kind: str, log: Path | None = None, **options: object) -> McpServer:
    env = {"MCP_TEST_LOG": str(log)} if log is not None else {}
    return McpServer.stdio([PYTHON, SERVERS, kind], env=env, **options)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


def spawn(argv: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a server listening on ``port``; wait until it does."""
    process = subprocess.Popen(
        argv,
        env={**os.environ, "PYTHONPATH": ROOT, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, process)
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def serve_http(kind: str) -> Iterator[str]:
    port = free_port()
    process = spawn([PYTHON, SERVERS, kind, "--http", str(port)], port)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(process)


@pytest.fixture(scope="session")
def alpha_url() -> Iterator[str]:
    """The ``alpha`` server over streamable HTTP, started once (a server takes seconds)."""
    yield from serve_http("alpha")


@pytest.fixture(scope="session")
def beta_url() -> Iterator[str]:
    """The ``beta`` server over streamable HTTP, started once."""
    yield from serve_http("beta")

"""``McpServer``: where an MCP server is, and how graphflow calls it.

Two transports: a command run as a subprocess speaking MCP on its stdin and
stdout (``McpServer.stdio``), or a streamable HTTP endpoint
(``McpServer.http``). The options say how calls to it are made; their
defaults are the module constants below.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, final

DEFAULT_CONCURRENCY: Final = 8
"""Calls in flight to one server at once, unless its ``concurrency`` says otherwise:
a stdio server is one process, often handling calls one by one; more calls
than this wait their turn in graphflow rather than queue up inside it."""

DEFAULT_TIMEOUT: Final = 60.0
"""Seconds one call may take before it is cancelled, on the server too."""

CONNECT_TIMEOUT: Final = 15.0
"""Seconds to start or reach a server and list its tools."""

SERVER_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*", re.ASCII)
"""A server's name: its tools are ``name.tool``, so it has no dot."""


@final
@dataclass(frozen=True, slots=True)
class McpServer:
    """One MCP server: a command (stdio) or a URL (streamable HTTP), and call options.

    Build one with ``McpServer.stdio`` or ``McpServer.http``.

    Attributes:
        command: the program and its arguments (stdio).
        env: variables added to the server's environment (stdio; the SDK passes
            only a safe subset of graphflow's own, such as PATH and HOME).
        cwd: the server's working directory (stdio).
        url: the endpoint (HTTP).
        headers: sent with every request (HTTP).
        concurrency: calls in flight at once (``DEFAULT_CONCURRENCY``).
        timeout: seconds per call, after which it is cancelled on the server
            too (``DEFAULT_TIMEOUT``; ``math.inf``: none).
        destructive_lock: a tool the server marks destructive runs alone on
            its server: it takes the write lock ``mcp:NAME``, which every other
            call to the server takes to read (so read-only tools still run in
            parallel with each other). False: no locks.
    """

    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    destructive_lock: bool = True

    def __post_init__(self) -> None:
        if bool(self.command) == bool(self.url):
            raise ValueError("an MCP server has a command (stdio) or a url (HTTP), not both")
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise ValueError(f"concurrency must be an int >= 1, got {self.concurrency!r}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be an int >= 1, got {self.concurrency!r}")
        if isinstance(self.timeout, bool) or not self.timeout > 0:
            raise ValueError(f"timeout must be seconds > 0 or math.inf, got {self.timeout!r}")

    @classmethod
    def stdio(
        cls,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT,
        destructive_lock: bool = True,
    ) -> McpServer:
        """A server run as ``command`` (``["python", "server.py"]``), over stdin and stdout."""
        if isinstance(command, str) or not command or not all(isinstance(c, str) for c in command):
            raise ValueError("command must be a non-empty list of strings, like ['python', 's.py']")
        return cls(
            command=tuple(command),
            env=MappingProxyType(dict(env or {})),
            cwd=cwd,
            concurrency=concurrency,
            timeout=timeout,
            destructive_lock=destructive_lock,
        )

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT,
        destructive_lock: bool = True,
    ) -> McpServer:
        """A server at a streamable HTTP endpoint (``http://127.0.0.1:8931/mcp``)."""
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url!r:.80}")
        return cls(
            url=url,
            headers=MappingProxyType(dict(headers or {})),
            concurrency=concurrency,
            timeout=timeout,
            destructive_lock=destructive_lock,
        )

    @property
    def where(self) -> str:
        """The command line or the URL, for messages."""
        return self.url or " ".join(self.command)

    @property
    def call_timeout(self) -> float | None:
        """``timeout`` as the SDK takes it (None: no limit)."""
        return None if math.isinf(self.timeout) else self.timeout


def check_name(name: object) -> str:
    """``name`` if it can name a server, else ``ValueError``."""
    if not isinstance(name, str) or not SERVER_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r:.60} is not a server name (letters, digits, _ and -, no dots: "
            "its tools are named server.tool)"
        )
    return name

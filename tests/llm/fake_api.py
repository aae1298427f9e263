"""A loopback fake of the OpenAI and Anthropic HTTP APIs, for the real SDK clients.

``serve()`` runs an ``http.server`` on 127.0.0.1 (a free port) that answers
each POST with the next scripted reply (a 500 once the script runs out) and
records what it received, in order. A client in another process (a durable
agent's child) may use it too: the count survives the child.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: a child process that needs neither starts faster
    import anthropic
    import openai


@dataclass
class FakeAPI:
    """Scripted replies for one endpoint; what was POSTed to it, in order."""

    replies: list[dict[str, Any]]
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    url: str = ""


@contextmanager
def serve() -> Iterator[FakeAPI]:
    """A running fake API (stopped on exit)."""
    api = FakeAPI([])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                api.received.append((self.path, body))
                n = len(api.received)
            status, reply = 200, {"error": {"message": f"request {n}: the script has no reply"}}
            if n <= len(api.replies):
                reply = api.replies[n - 1]
            else:
                status = 500
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def openai_client(url: str) -> openai.AsyncOpenAI:
    import openai

    http = openai.DefaultAsyncHttpxClient(trust_env=False)  # no proxy from the environment
    return openai.AsyncOpenAI(api_key="test", base_url=f"{url}/v1", max_retries=0, http_client=http)


def anthropic_client(url: str) -> anthropic.AsyncAnthropic:
    import anthropic

    http = anthropic.DefaultAsyncHttpxClient(trust_env=False)  # its own httpx, not ours
    return anthropic.AsyncAnthropic(api_key="test", base_url=url, max_retries=0, http_client=http)

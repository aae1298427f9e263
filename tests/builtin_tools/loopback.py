"""A real HTTP/1.1 server on loopback that counts connections and requests in flight."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Stats:
    """What the server saw: one entry per TCP connection, the peak of concurrent requests."""

    connections: set[tuple[str, int]] = field(default_factory=set)
    requests: int = 0
    in_flight: int = 0
    peak: int = 0
    pair_up: bool = False  # hold each request until another is in flight too
    cond: threading.Condition = field(default_factory=threading.Condition)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so that connection reuse is visible
    disable_nagle_algorithm = True  # headers and body are separate writes
    server: Server

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        stats = self.server.stats
        with stats.cond:
            stats.connections.add(self.client_address)
            stats.requests += 1
            stats.in_flight += 1
            stats.peak = max(stats.peak, stats.in_flight)
            stats.cond.notify_all()
            if stats.pair_up:
                stats.cond.wait_for(lambda: stats.in_flight >= 2, timeout=2)
        try:
            self._route()
        finally:
            with stats.cond:
                stats.in_flight -= 1

    def _route(self) -> None:
        if self.path.startswith("/json"):
            payload = {"path": self.path, "ua": self.headers["X-Test"]}
            self._send(200, json.dumps(payload).encode(), "application/json")
        elif self.path == "/slow":
            time.sleep(1.0)
            self._send(200, b"late", "text/plain")
        elif self.path == "/missing":
            self._send(404, b"no such thing", "text/plain")
        elif self.path == "/cookie":
            cookie = self.headers.get("Cookie") or ""
            self._send(200, cookie.encode(), "text/plain", Set_Cookie="session=abc; Path=/")
        else:
            self._send(200, b"plain text", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        payload = json.loads(self.rfile.read(length))
        self._send(201, json.dumps({"got": payload}).encode(), "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # a fan-out connects all at once; 5 drops SYNs (1 s retries)

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.stats = Stats()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def serve() -> Iterator[Server]:
    """A running server, shut down afterwards."""
    httpd = Server()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()

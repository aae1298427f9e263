"""http.request / http.get against a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import graphflow as gf
from graphflow.builtin_tools.http import HTTPStatusError, http_get, http_request

pytestmark = pytest.mark.anyio


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/json"):
            self._send(
                200,
                json.dumps({"path": self.path, "ua": self.headers["X-Test"]}).encode(),
                "application/json",
            )
        elif self.path == "/slow":
            time.sleep(1.0)
            self._send(200, b"late", "text/plain")
        elif self.path == "/missing":
            self._send(404, b"no such thing", "text/plain")
        else:
            self._send(200, b"plain text", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        payload = json.loads(self.rfile.read(length))
        self._send(201, json.dumps({"got": payload}).encode(), "application/json")


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_get_json_with_params_and_headers(server: str) -> None:
    result = await http_get(f"{server}/json", params={"q": "x"}, headers={"X-Test": "gf"})
    assert result["status"] == 200
    assert result["json"] == {"path": "/json?q=x", "ua": "gf"}
    assert result["headers"]["content-type"] == "application/json"


async def test_text_body_has_no_json(server: str) -> None:
    result = await http_get(f"{server}/plain")
    assert (result["text"], result["json"]) == ("plain text", None)


async def test_post_json(server: str) -> None:
    result = await http_request("post", f"{server}/items", json={"a": 1})
    assert (result["status"], result["json"]) == (201, {"got": {"a": 1}})


async def test_non_2xx_fails_unless_check_is_off(server: str) -> None:
    with pytest.raises(HTTPStatusError, match=r"GET .*/missing returned 404: no such thing"):
        await http_get(f"{server}/missing")
    assert (await http_get(f"{server}/missing", check=False))["status"] == 404


async def test_timeout(server: str) -> None:
    import httpx

    with pytest.raises(httpx.TimeoutException):
        await http_get(f"{server}/slow", timeout=0.2)


async def test_in_a_workflow_fan_out(server: str) -> None:
    from graphflow.workflow import load_workflow_text

    wf = load_workflow_text(
        "name: h\ninputs: {base: {}}\nnodes:\n"
        "  get:\n    tool: http.get\n    for_each: [a, b]\n"
        "    args: {url: '${inputs.base}/json/${item}'}\n"
        "  paths: {tool: echo, args: {p: '${get.0.json.path}', q: '${get.1.json.path}'}}\n",
        inputs={"base": server},
    )
    result = await gf.run(wf.graph)
    assert result["paths"].output == {"p": "/json/a", "q": "/json/b"}

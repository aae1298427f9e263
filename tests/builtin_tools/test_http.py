"""http.request / http.get against a real HTTP server on loopback."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import graphflow as gf
from graphflow.builtin_tools.http import (
    HttpPool,
    HTTPStatusError,
    current_pool,
    http_get,
    http_request,
)

from .loopback import Server, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def httpd() -> Iterator[Server]:
    with serve() as server:
        yield server


@pytest.fixture
def server(httpd: Server) -> str:
    return httpd.url


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


@pytest.mark.parametrize("pooled", [False, True])
async def test_timeout(server: str, pooled: bool) -> None:
    import httpx

    async with HttpPool() if pooled else contextlib.nullcontext():
        with pytest.raises(httpx.TimeoutException):
            await http_get(f"{server}/slow", timeout=0.2)


@pytest.mark.parametrize("pooled", [False, True])
async def test_a_request_that_fails_says_which_request(server: str, pooled: bool) -> None:
    """Was "ConnectError: All connection attempts failed", naming no URL."""
    import httpx

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/items"
    async with HttpPool() if pooled else contextlib.nullcontext():
        with pytest.raises(httpx.ConnectError, match=rf"^POST {url}: "):
            await http_request("post", url, json={})
        with pytest.raises(httpx.TimeoutException, match=rf"^GET {server}/slow: "):
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


class TestPool:
    async def test_calls_inside_a_pool_reuse_one_connection(self, httpd: Server) -> None:
        async with HttpPool():
            for _ in range(20):
                await http_get(f"{httpd.url}/plain")
        assert (httpd.stats.requests, len(httpd.stats.connections)) == (20, 1)

    async def test_calls_outside_a_pool_each_open_a_connection(self, httpd: Server) -> None:
        for _ in range(5):
            await http_get(f"{httpd.url}/plain")
        assert len(httpd.stats.connections) == 5

    async def test_a_run_inside_a_pool_shares_it_between_nodes(self, httpd: Server) -> None:
        graph = gf.Graph()
        for k in range(50):
            graph.add(f"get{k}", http_get, args={"url": f"{httpd.url}/json/{k}"})
        async with HttpPool(max_per_host=4):
            result = await gf.run(graph)
        assert result.ok
        assert httpd.stats.requests == 50
        assert len(httpd.stats.connections) <= 4  # a client per call would open 50

    async def test_max_per_host_caps_requests_in_flight(self, httpd: Server) -> None:
        httpd.stats.pair_up = True  # each request waits (up to 2 s) for a second one
        async with HttpPool(max_per_host=2), anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(http_get, f"{httpd.url}/plain")
        assert httpd.stats.peak == 2

    async def test_calls_share_no_cookies(self, server: str) -> None:
        async with HttpPool():
            first = await http_get(f"{server}/cookie")
            second = await http_get(f"{server}/cookie")
        assert first["headers"]["set-cookie"].startswith("session=abc")
        assert second["text"] == ""  # the cookie the first call received was not sent

    async def test_the_pool_belongs_to_its_block(self, server: str) -> None:
        async with HttpPool() as pool:
            assert current_pool() is pool
            with pytest.raises(RuntimeError, match="already in use"):
                await pool.__aenter__()
        assert current_pool() is None
        assert (await http_get(f"{server}/plain"))["status"] == 200  # a client of its own

    @pytest.mark.parametrize("limits", [{"max_connections": 0}, {"max_per_host": True}])
    def test_limits_are_checked(self, limits: dict[str, Any]) -> None:
        with pytest.raises(ValueError, match="must be an int >= 1"):
            HttpPool(**limits)

"""``http.request`` and ``http.get``: async HTTP with httpx, over a shared pool.

Inside ``async with HttpPool(...)`` every call of these tools, in every task
started inside it, shares one pooled ``httpx.AsyncClient``: connections are
kept alive and reused, and at most ``max_connections`` requests (and at most
``max_per_host`` to one host) are in flight at once. ``graphflow run`` wraps
each run in one. Outside a pool each call opens, and closes, a client of its
own: correct, but a new connection (and SSL context) per call.

The pool is found through a context variable, so it belongs to the task that
entered it and the tasks it starts (on one event loop, for one run); it is
closed when that block ends. Calls stay independent as with a client per call:
the shared client keeps no cookies.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, final

import anyio

from . import _checks

if TYPE_CHECKING:
    import httpx

CLOSE_TIMEOUT: Final = 5.0
"""Seconds ``HttpPool`` waits for its connections to close when it ends."""

_POOL: ContextVar[HttpPool | None] = ContextVar("graphflow_http_pool", default=None)


class HTTPStatusError(RuntimeError):
    """A non-2xx response with ``check`` on; the response summary is kept on the error."""

    def __init__(self, method: str, url: str, response: dict[str, Any]) -> None:
        self.response = response
        body = response["text"].strip().replace("\n", " ")[:200]
        super().__init__(
            f"{method} {url} returned {response['status']}" + (f": {body}" if body else "")
        )


@final
class HttpPool:
    """One pooled HTTP client shared by the ``http.*`` tools called inside it.

    Args:
        max_connections: the most requests in flight at once, and connections kept.
        max_per_host: the most requests in flight to one host (scheme, host
            and port) at once; None: only ``max_connections`` applies.
        eager: import httpx and build the client on entering, before any tool
            runs, rather than in the first call (which would hold the event
            loop for the import while other nodes wait to start).

    Raises:
        ValueError: a limit is not an int >= 1.
    """

    def __init__(
        self, max_connections: int = 100, max_per_host: int | None = None, eager: bool = True
    ) -> None:
        _check_limit("max_connections", max_connections)
        if max_per_host is not None:
            _check_limit("max_per_host", max_per_host)
        self.max_connections = max_connections
        self.max_per_host = max_per_host
        self._eager = eager
        self._client: httpx.AsyncClient | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._hosts: dict[tuple[str, str, int | None], anyio.CapacityLimiter] = {}
        self._token: Token[HttpPool | None] | None = None

    async def __aenter__(self) -> HttpPool:
        if self._token is not None:
            raise RuntimeError("this HttpPool is already in use; make one per run")
        self._limiter = anyio.CapacityLimiter(self.max_connections)
        if self._eager:
            self._open()
        self._token = _POOL.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _POOL.reset(self._token)
            self._token = None
        client, self._client = self._client, None
        if client is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT):
                await client.aclose()

    async def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """Send one request through the shared client, within the pool's limits."""
        client = self._client or self._open()
        assert self._limiter is not None  # set on entering
        async with self._limiter, self._host_limiter(url):
            return await client.request(method, url, **options)

    def _open(self) -> httpx.AsyncClient:
        import httpx

        no_cookies = CookieJar(DefaultCookiePolicy(allowed_domains=[]))  # calls stay independent
        limits = httpx.Limits(
            max_connections=self.max_connections, max_keepalive_connections=self.max_connections
        )
        self._client = httpx.AsyncClient(limits=limits, cookies=no_cookies)
        return self._client

    def _host_limiter(self, url: str) -> anyio.CapacityLimiter | _NoLimit:
        if self.max_per_host is None:
            return _NO_LIMIT
        import httpx

        parsed = httpx.URL(url)
        key = (parsed.scheme, parsed.host, parsed.port)
        limiter = self._hosts.get(key)
        if limiter is None:
            limiter = self._hosts[key] = anyio.CapacityLimiter(self.max_per_host)
        return limiter


class _NoLimit:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None


_NO_LIMIT: Final = _NoLimit()


def _check_limit(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def current_pool() -> HttpPool | None:
    """The ``HttpPool`` the calling task runs inside, if any."""
    return _POOL.get()


check_method: Final = _checks.string("method")
check_url: Final = _checks.string("url")
check_headers: Final = _checks.mapping("headers", of_strings=True)
check_params: Final = _checks.mapping("params")
check_timeout: Final = _checks.seconds("timeout", zero=False, none=True)
check_check: Final = _checks.flag("check")
check_follow_redirects: Final = _checks.flag("follow_redirects")


async def http_request(
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    data: Any = None,
    timeout: float = 30.0,  # noqa: ASYNC109 (the request's own limit, a tool argument)
    check: bool = True,
    follow_redirects: bool = True,
) -> dict[str, Any]:
    """Send one request; return ``{status, headers, text, json}``.

    ``json`` in the result is the parsed body when the response is JSON, else
    None. A non-2xx status fails the node unless ``check`` is false. Inside an
    ``HttpPool`` the request goes through its shared client (waiting for a
    free slot does not count against ``timeout``); outside one, through a
    client of its own.
    """
    for verify, value in (
        (check_method, method),
        (check_url, url),
        (check_headers, headers),
        (check_params, params),
        (check_timeout, timeout),
        (check_check, check),
        (check_follow_redirects, follow_redirects),
    ):
        verify(value)
    method = method.upper()
    options: dict[str, Any] = {
        "headers": headers,
        "params": params,
        "json": json,
        "data": data,
        "timeout": timeout,
        "follow_redirects": follow_redirects,
    }
    import httpx  # (imported once a tool runs: `import graphflow` does not pay for it)

    pool = _POOL.get()
    try:
        if pool is not None:
            response = await pool.request(method, url, **options)
        else:
            async with httpx.AsyncClient() as client:
                response = await client.request(method, url, **options)
    except httpx.TransportError as exc:  # "All connection attempts failed": to what?
        named = _name_request(exc, method, url)
        if named is exc:
            raise
        raise named from exc
    result = _summary(response)
    if check and not response.is_success:
        raise HTTPStatusError(method, url, result)
    return result


def _name_request(exc: httpx.TransportError, method: str, url: str) -> httpx.TransportError:
    """``exc`` again, its message saying which request failed (the same type, so that
    ``Retry(on=...)`` and ``except`` clauses still match it). The URL whole, as
    ``HTTPStatusError`` has it: cut, a secret in it could not be hidden (the CLI
    hides the whole value of each ``secrets:`` variable)."""
    try:
        return type(exc)(f"{method} {url}: {exc}", request=exc.request)
    except Exception:  # (an error with no request, or another constructor)
        return exc


def _summary(response: httpx.Response) -> dict[str, Any]:
    body: Any = None
    if "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
    return {
        "status": response.status_code,
        "headers": dict(response.headers),
        "text": response.text,
        "json": body,
    }


async def http_get(url: str, **options: Any) -> dict[str, Any]:
    """``http.request`` with method GET."""
    return await http_request("GET", url, **options)

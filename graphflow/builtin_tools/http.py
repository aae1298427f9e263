"""``http.request`` and ``http.get``: async HTTP with httpx (imported when first used)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class HTTPStatusError(RuntimeError):
    """A non-2xx response with ``check`` on; the response summary is kept on the error."""

    def __init__(self, method: str, url: str, response: dict[str, Any]) -> None:
        self.response = response
        body = response["text"].strip().replace("\n", " ")[:200]
        super().__init__(
            f"{method} {url} returned {response['status']}" + (f": {body}" if body else "")
        )


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
    None. A non-2xx status fails the node unless ``check`` is false.
    """
    import httpx

    async with httpx.AsyncClient(timeout=timeout, follow_redirects=follow_redirects) as client:
        response = await client.request(
            method.upper(), url, headers=headers, params=params, json=json, data=data
        )
    body: Any = None
    if "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
    result = {
        "status": response.status_code,
        "headers": dict(response.headers),
        "text": response.text,
        "json": body,
    }
    if check and not response.is_success:
        raise HTTPStatusError(method.upper(), url, result)
    return result


async def http_get(url: str, **options: Any) -> dict[str, Any]:
    """``http.request`` with method GET."""
    return await http_request("GET", url, **options)

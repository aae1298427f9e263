"""Built-in tools for workflows, by the names a workflow uses.

``echo``, ``sleep``, ``shell``, ``http.request``, ``http.get`` and ``python``.
Each is a plain function (importable from its module); ``BUILTINS`` maps the
workflow names to them, importing httpx only when an HTTP tool is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .basic import echo, python, sleep
from .http import http_get, http_request
from .shell import shell

BUILTINS: dict[str, Callable[..., Any]] = {
    "echo": echo,
    "sleep": sleep,
    "shell": shell,
    "http.request": http_request,
    "http.get": http_get,
    "python": python,
}

__all__ = ["BUILTINS", "echo", "http_get", "http_request", "python", "shell", "sleep"]

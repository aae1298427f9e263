"""Built-in tools for workflows, by the names a workflow uses.

``echo``, ``sleep``, ``shell``, ``http.request``, ``http.get`` and ``python``;
and the glue: ``json.parse``, ``json.dump``, ``text.lines``, ``text.join``, ``pick``.
Each is a plain function (importable from its module); ``BUILTINS`` maps the
workflow names to them, importing httpx only when an HTTP tool is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .basic import echo, python, sleep
from .glue import json_dump, json_parse, pick, text_join, text_lines
from .http import http_get, http_request
from .shell import shell

BUILTINS: dict[str, Callable[..., Any]] = {
    "echo": echo,
    "sleep": sleep,
    "shell": shell,
    "http.request": http_request,
    "http.get": http_get,
    "python": python,
    "json.parse": json_parse,
    "json.dump": json_dump,
    "text.lines": text_lines,
    "text.join": text_join,
    "pick": pick,
}

__all__ = [
    "BUILTINS",
    "echo",
    "http_get",
    "http_request",
    "json_dump",
    "json_parse",
    "pick",
    "python",
    "shell",
    "sleep",
    "text_join",
    "text_lines",
]

"""Built-in tools for workflows, by the names a workflow uses.

``echo``, ``sleep``, ``shell``, ``http.request``, ``http.get`` and ``python``;
and the glue: ``json.parse``, ``json.dump``, ``text.lines``, ``text.join``, ``pick``.
Each is a plain function (importable from its module); ``BUILTINS`` maps the
workflow names to them, importing httpx only when an HTTP tool is called.
``CHECKS`` holds, by tool and argument, the checks a tool makes of an argument
before it acts: ``graphflow validate`` makes them on constant arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .basic import check_args, check_function, check_seconds, echo, python, sleep
from .glue import check_items, check_text, json_dump, json_parse, pick, text_join, text_lines
from .http import http_get, http_request
from .shell import check_argv, shell

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

CHECKS: dict[str, dict[str, Callable[[Any], None]]] = {
    "sleep": {"seconds": check_seconds},
    "shell": {"argv": check_argv},
    "python": {"function": check_function, "args": check_args},
    "json.parse": {"text": check_text},
    "text.lines": {"text": check_text},
    "text.join": {"items": check_items},
}
"""Each tool's own checks of its arguments (raising ``TypeError``/``ValueError``
with the message the run would give), by the argument they check."""

__all__ = [
    "BUILTINS",
    "CHECKS",
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

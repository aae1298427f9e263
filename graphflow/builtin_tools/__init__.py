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
from typing import Any, Final

from . import basic as _basic
from . import glue as _glue
from . import http as _http
from . import shell as _shell
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

_HTTP: Final = {
    "url": _http.check_url,
    "headers": _http.check_headers,
    "params": _http.check_params,
    "timeout": _http.check_timeout,
    "check": _http.check_check,
    "follow_redirects": _http.check_follow_redirects,
}
CHECKS: dict[str, dict[str, Callable[[Any], None]]] = {
    "sleep": {"seconds": _basic.check_seconds},
    "shell": {
        "argv": _shell.check_argv,
        "cwd": _shell.check_cwd,
        "env": _shell.check_env,
        "stdin": _shell.check_stdin,
        "timeout": _shell.check_timeout,
        "check": _shell.check_check,
        "inherit_env": _shell.check_inherit_env,
    },
    "http.request": {"method": _http.check_method, **_HTTP},
    "http.get": _HTTP,
    "python": {
        "function": _basic.check_function,
        "args": _basic.check_args,
        "kwargs": _basic.check_kwargs,
    },
    "json.parse": {"text": _glue.check_text},
    "text.lines": {
        "text": _glue.check_text,
        "strip": _glue.check_strip,
        "skip_empty": _glue.check_skip_empty,
    },
    "text.join": {"items": _glue.check_items, "sep": _glue.check_sep},
    "pick": {"path": _glue.check_path},
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

"""Glue built-ins: the small steps a workflow otherwise writes a module for.

What GitHub Actions' expressions (``fromJSON``, ``toJSON``, ``join``) and Argo's
parameter paths offer, kept small: parse and write JSON, split text into lines
and join items back, pick a field out of a value. Plain functions, so they run
in the executor's threads like every sync tool (a large JSON text never holds
the event loop).
"""

from __future__ import annotations

import json
from typing import Any, Final

from .. import Ref, resolve_path
from . import _checks

_NO_DEFAULT: Any = object()


check_text: Final = _checks.string("text")
check_items: Final = _checks.sequence("items")
check_sep: Final = _checks.string("sep")
check_strip: Final = _checks.flag("strip")
check_skip_empty: Final = _checks.flag("skip_empty")
check_path: Final = _checks.string("path")


def json_parse(text: str) -> Any:
    """``text`` (a JSON document) as a value.

    Raises:
        ValueError: it is not JSON (the message names the line and column).
    """
    check_text(text)
    return json.loads(text)


def json_dump(value: Any, indent: int | None = None, sort_keys: bool = False) -> str:
    """``value`` as JSON text (``indent`` spaces per level; compact by default)."""
    return json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False)


def text_lines(text: str, strip: bool = True, skip_empty: bool = True) -> list[str]:
    """``text`` split into lines (each stripped and empty ones dropped, by default)."""
    check_text(text)
    check_strip(strip)
    check_skip_empty(skip_empty)
    lines = [line.strip() if strip else line for line in text.splitlines()]
    return [line for line in lines if line] if skip_empty else lines


def text_join(items: list[Any], sep: str = "\n") -> str:
    """``items`` joined with ``sep`` (non-strings as their JSON, strings as they are)."""
    check_items(items)
    check_sep(sep)
    return sep.join(i if isinstance(i, str) else json.dumps(i, ensure_ascii=False) for i in items)


def pick(value: Any, path: str, default: Any = _NO_DEFAULT) -> Any:
    """The part of ``value`` at ``path`` (``"items.0.price"``: keys, indexes, attributes).

    Args:
        value: any value, typically an upstream node's output.
        path: dotted steps, as in a ``${node.path}`` reference.
        default: returned when the path is not there (else that is an error).

    Raises:
        LookupError: the path is not in ``value`` and no default was given.
    """
    check_path(path)
    steps = tuple(path.split(".")) if path else ()
    try:
        return resolve_path(value, Ref("value", steps))
    except LookupError:
        if default is _NO_DEFAULT:
            raise
        return default

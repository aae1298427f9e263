"""What a model sends, read defensively: ids, names and arguments, with limits.

Nothing here raises on model input. A value of the wrong type becomes a
string (an id, a name) or a problem to report for that call (arguments); an
error message quotes at most ``QUOTE_CHARS`` characters of what it received;
arguments deeper than ``MAX_DEPTH`` levels or with more than ``MAX_ITEMS``
values are refused before anything recursive (reference compiling, argument
validation, JSON output) sees them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

QUOTE_CHARS: Final = 200
MAX_DEPTH: Final = 100
MAX_ITEMS: Final = 1_000_000
MAX_INT_DIGITS: Final = 4_300  # Python's own limit for int <-> str

# "${inner}" and the escape "$${": the reference syntax of graphflow's arguments.
_REFERENCE: Final = re.compile(r"\$(\$?)\{([^{}]*)\}")


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` for SDK objects (``default`` if missing)."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    try:
        return getattr(obj, name, default)
    except Exception:  # a property that raises is no value
        return default


def cut(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)``, at most ``limit`` characters, whatever the value."""
    if isinstance(value, str):
        return cut(repr(value[:limit]), limit)
    try:
        return cut(repr(value), limit)
    except Exception:  # a 5,000-digit int, a 100,000-deep list
        return f"<{type(value).__name__}>"


def as_text(value: object) -> str:
    """An id or a name as a string: itself, ``""`` for None, else its ``str`` if it has one."""
    if isinstance(value, str):
        return value
    if value is None or not isinstance(value, int | float):
        return ""
    try:
        return str(value)
    except ValueError:  # more digits than int -> str allows
        return ""


def parse_arguments(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Arguments as a dict, from a JSON string (OpenAI) or a mapping (Anthropic).

    Returns:
        ``(arguments, None)``, or ``(None, problem)`` saying why they cannot be used.
    """
    if raw is None or raw == "":
        return {}, None
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw, parse_int=_int)
        except json.JSONDecodeError as exc:
            return None, f"arguments are not valid JSON ({exc.msg} at character {exc.pos})"
        except (ValueError, RecursionError) as exc:
            return None, f"arguments cannot be read ({cut(str(exc) or type(exc).__name__)})"
    if not isinstance(value, Mapping):
        return None, f"arguments must be a JSON object, got {type(value).__name__}"
    problem = shape_problem(value)
    return (None, problem) if problem else (dict(value), None)


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer has {len(text.lstrip('-')):,} digits (at most 4,300)")
    return int(text)


def shape_problem(arguments: Mapping[Any, Any]) -> str | None:
    """Why ``arguments`` are unsafe to process (too deep, too many values, odd names), or None."""
    bad = next((k for k in arguments if not isinstance(k, str)), None)
    if bad is not None:
        return f"argument names must be strings, got {quote(bad)}"
    stack: list[tuple[Any, int]] = [(arguments, 1)]
    seen = 0
    while stack:  # no recursion: the input may be 100,000 levels deep
        value, depth = stack.pop()
        seen += 1
        if depth > MAX_DEPTH:
            return f"arguments are nested more than {MAX_DEPTH} levels deep"
        if seen > MAX_ITEMS:
            return f"arguments hold more than {MAX_ITEMS:,} values"
        if isinstance(value, Mapping):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list | tuple):
            stack.extend((v, depth + 1) for v in value)
    return None


def retarget(value: Any, rename: Callable[[str], str | None]) -> Any:
    """``value`` with each ``${head.path}`` whose ``rename(head)`` is a string renamed.

    ``$${`` escapes are kept as they are. Only strings holding a renamed
    reference are rebuilt; the depth was checked by ``shape_problem``.
    """

    def fix(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)
        head, dot, path = match.group(2).strip().partition(".")
        new = rename(head)
        return match.group(0) if new is None else "${" + new + dot + path + "}"

    if isinstance(value, str):
        return _REFERENCE.sub(fix, value) if "${" in value else value
    if isinstance(value, Mapping):
        return {k: retarget(v, rename) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [retarget(v, rename) for v in value]
    return value

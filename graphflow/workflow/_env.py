"""The process environment in a workflow: ``${env.NAME}``, ``env:`` and ``secrets:``.

``${env.NAME}`` is read from the environment when the file is loaded (like
``${inputs.x}``, its value is data); ``${env.NAME:-text}`` gives ``text``
when ``NAME`` is unset or empty, as a POSIX shell does. An unset variable
without a default is a located error.

``env:`` (top level and per node) sets variables for ``shell`` nodes; the
node's win over the file's, and ``args.env`` over both.

``secrets: [NAME, ...]`` names environment variables whose values must never
be shown: ``Workflow.secrets`` holds those values, and ``redact`` replaces
every occurrence of one in a value (strings anywhere in it, mapping keys,
numbers written out) with ``***``. Only exact occurrences are found: a
secret that a tool encodes or cuts is out of reach.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any, Final

from graphflow import Ref

from ._spec import NAME
from ._text import quote

MASK: Final = "***"
_DEFAULT: Final = ":-"


def env_reference(r: Ref) -> tuple[str, str | None]:
    """The variable ``${env.NAME:-default}`` names, and its default (``None``: none).

    Raises:
        ValueError: not ``${env.NAME}`` with ``NAME`` letters, digits and ``_``.
    """
    name, sep, default = ".".join(r.path).partition(_DEFAULT)
    if not NAME.fullmatch(name):
        raise ValueError(
            f"{quote(str(r), 40)} is not an environment variable: "
            "write ${env.NAME} or ${env.NAME:-default}"
        )
    return name, (default if sep else None)


def read_env(r: Ref, environ: Mapping[str, str]) -> str:
    """The value of ``${env.NAME}`` (or its default) in ``environ``.

    Raises:
        ValueError: the reference is malformed, or names an unset variable
            and has no default.
    """
    name, default = env_reference(r)
    value = environ.get(name)
    if value:
        return value
    if default is not None:
        return default
    if value is None:
        hint = f"${{env.{name}:-...}}" if len(name) <= 40 else "${env.NAME:-...}"
        raise ValueError(
            f"environment variable {quote(name, 44)} is not set (or give a default: {hint})"
        )
    return value


def redact(value: Any, secrets: Collection[str], mask: str = MASK) -> Any:
    """``value`` with every occurrence of a secret replaced by ``mask``.

    Args:
        value: text — a log line, a message, a whole JSON document (a secret
            is also found as JSON writes it, escapes and all) — or JSON-like
            data (mappings, lists, tuples, scalars) such as
            ``RunResult.to_dict()``; it is not changed.
        secrets: the strings to hide (empty ones are ignored).
        mask: what stands in their place.

    Returns:
        A copy with the secrets hidden in every string, mapping key and
        number (a number holding one becomes a string); ``value`` itself
        when there is nothing to hide.
    """
    forms = {form for s in secrets if s for form in _written(s)}
    if not forms:
        return value
    pattern = re.compile("|".join(map(re.escape, sorted(forms, key=len, reverse=True))))
    return _Redactor(pattern, mask).value(value)


def _written(secret: str) -> tuple[str, str, str]:
    """``secret`` as it is, and as it reads inside a JSON string (ASCII-only or not)."""
    return secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]


class _Redactor:
    """Walks JSON-like data; exact types first (``isinstance`` on ``Mapping`` is slow)."""

    def __init__(self, pattern: re.Pattern[str], mask: str) -> None:
        self.pattern = pattern
        self.mask = mask

    def value(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return self.pattern.sub(self.mask, value)
        if kind is dict:
            return {self.value(k): self.value(v) for k, v in value.items()}
        if kind is list:
            return [self.value(v) for v in value]
        if value is None or kind is bool:
            return value
        if kind is int or kind is float:
            text = str(value)
            return self.pattern.sub(self.mask, text) if self.pattern.search(text) else value
        return self.other(value)

    def other(self, value: Any) -> Any:
        """Subclasses of the types above, other mappings, tuples."""
        if isinstance(value, str):
            return self.pattern.sub(self.mask, value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            items = [self.value(v) for v in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.value(int(value) if isinstance(value, int) else float(value))
        return value


__all__ = ["MASK", "env_reference", "read_env", "redact"]

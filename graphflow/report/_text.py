"""Text that leaves a run for a report: secrets redacted first, then cut to size.

The order matters: a secret is replaced in each whole string *before* anything
is truncated, so a cut can never leave half a secret behind. Summaries of
outputs are written by a bounded walk (``summarize``), so a 100 MB output costs
no more than the few hundred characters that are shown of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Final

REDACTED: Final = "[redacted]"
OUTPUT_LIMIT: Final = 400  # characters of an output summary
ERROR_LIMIT: Final = 500  # characters of "Type: message"
TRACEBACK_LIMIT: Final = 2_000  # characters of a traceback's tail
_MAX_DEPTH: Final = 6  # levels of nesting shown in a summary


class Redactor:
    """Replaces every occurrence of any of ``secrets`` with ``[redacted]``.

    Args:
        secrets: the strings that must never appear; empty ones are ignored.
            The longest are matched first, so a secret that contains another
            is replaced whole.
    """

    __slots__ = ("_pattern",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        words = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, words))) if words else None

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced."""
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)


def cut(text: str, limit: int, *, keep_end: bool = False) -> str:
    """``text`` shortened to about ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    left = f"… ({len(text) - limit:,} more characters)"
    return left + text[-limit:] if keep_end else text[:limit] + left


def summarize(value: object, redact: Redactor, limit: int = OUTPUT_LIMIT) -> str:
    """A short, redacted, JSON-like text of ``value`` (a tool's output).

    Strings show as JSON strings, containers as JSON, other objects by their
    ``repr``; the walk stops once ``limit`` characters are written.
    """
    if isinstance(value, str):
        return cut(redact(value), limit)
    writer = _Summary(redact, limit)
    writer.write(value, 0)
    text = redact("".join(writer.parts))
    return text if len(text) <= limit else text[:limit] + " …"  # (the walk stopped early)


class _Summary:
    """A bounded walk over a value, appending its text to ``parts``."""

    __slots__ = ("limit", "parts", "redact", "size")

    def __init__(self, redact: Redactor, limit: int) -> None:
        self.redact = redact
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def write(self, value: object, depth: int) -> None:
        if self.size > self.limit:
            return
        if isinstance(value, Mapping):
            self._items(list(value.items()), depth, keyed=True)
        elif isinstance(value, list | tuple):
            self._items(list(enumerate(value)), depth, keyed=False)
        elif isinstance(value, str):
            self._add(self._string(value))
        elif value is None or isinstance(value, bool | int | float):
            self._add(json.dumps(value))
        else:
            self._add(cut(self.redact(_repr(value)), self.limit))

    def _items(self, items: list[tuple[object, object]], depth: int, *, keyed: bool) -> None:
        opening, closing = "{}" if keyed else "[]"
        if depth >= _MAX_DEPTH:
            self._add(opening + "…" + closing)
            return
        self._add(opening)
        for n, (key, item) in enumerate(items):
            if self.size > self.limit:
                self._add(", …")
                break
            if n:
                self._add(", ")
            if keyed:
                self._add(self._string(str(key)) + ": ")
            self.write(item, depth + 1)
        self._add(closing)

    def _string(self, text: str) -> str:
        return json.dumps(cut(self.redact(text), self.limit), ensure_ascii=False)

    def _add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)


def _repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not break the report
        return f"<{type(value).__name__}>"

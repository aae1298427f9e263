"""Bounds on what an error message echoes back from a workflow file.

A workflow file is untrusted input: a 100,000-character tool name must not
become 100,000 characters of stderr, and a control character or a line break
inside a key must not break the "one error, one line" rule. Every message
that quotes the input goes through ``quote`` (one value) or ``one_line`` (the
whole reason), so an answer stays within a few hundred characters.
"""

from __future__ import annotations

from typing import Final

QUOTE_LIMIT: Final = 60
"""Characters of one echoed value (a key, a tool name, a snippet)."""
REASON_LIMIT: Final = 200
"""Characters of one error's reason, after ``FILE:LINE:COL: ``."""
ELLIPSIS: Final = "…"


def one_line(text: str, limit: int = REASON_LIMIT) -> str:
    """``text`` on one printable line of at most ``limit`` characters.

    Args:
        text: any text; control characters and line breaks are escaped
            (``\\n``, ``\\x01``), as ``repr`` writes them.
        limit: the longest result; longer text is cut and ends with ``…``.

    Returns:
        The bounded text.
    """
    head = text[: limit + 1]  # escaping only lengthens: never look further than this
    printable = "".join(c if c.isprintable() else repr(c)[1:-1] for c in head)
    if len(printable) <= limit and len(head) == len(text):
        return printable
    return printable[: limit - 1] + ELLIPSIS


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)``, on one line, cut to ``limit`` characters with ``…``.

    Args:
        value: what the input said (a key, a name, a scalar).
        limit: the longest result.

    Returns:
        The bounded ``repr``; a value whose ``repr`` fails reads ``<type>``.
    """
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]  # repr of a huge string is never built
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ cannot take the message down
        text = f"<{type(value).__name__}>"
    return one_line(text, limit)

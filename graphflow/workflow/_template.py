"""``${...}`` in a workflow's strings: inputs and environment now, the rest left for the core.

A file's strings are read once here, with the core's syntax (``_PATTERN`` is
``graphflow._refs``'s): ``${node.path}`` a reference, ``$${...}`` a literal
``${...}``. An unclosed ``${`` is an error here (the core would read it as
text, silently). ``${inputs.x}`` and ``${env.NAME}`` (``${env.NAME:-default}``)
are *static*: replaced by their value when the file is loaded; everything else
is left *as written* for the core, which un-escapes ``$${`` exactly once.

A static value is data, never syntax: any ``${...}`` inside it is escaped
before the core sees it, so ``--input q='${secrets}'`` stays that text (and
in an ``if:`` condition it becomes a string literal, see ``literal``).
Static ``for_each`` items are not read by the core at all, so ``final``
renders them completely (escapes undone, inputs substituted as they are).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from graphflow import Ref
from graphflow import to_text as to_text  # the core's rule, so the two never differ

from ._text import QUOTE_LIMIT, one_line, quote

INPUTS: Final = "inputs"
ENV: Final = "env"
STATIC: Final = frozenset({INPUTS, ENV})
"""The reference names a file's loading substitutes (no node may take them)."""
_PATTERN: Final = re.compile(r"\$(\$?)\{([^{}]*)\}")  # as in graphflow._refs
_REFERENCE: Final = re.compile(r"\$\{[^{}]*\}")  # what the core would read as one
_WHOLE: Final = re.compile(r"\$\{[^{}$]*\}")  # a string that is one reference, nothing else

Lookup = Callable[[Ref], Any]


class TemplateError(ValueError):
    """A string's ``${...}`` is malformed or unclosed; the message says which."""


@dataclass(frozen=True, slots=True)
class Piece:
    """Part of a string: literal text, a ``$${...}`` escape, or a reference."""

    source: str
    """as written in the file"""
    ref: Ref | None = None
    escaped: bool = False

    @property
    def is_static(self) -> bool:
        """Known when the file is loaded: ``${inputs...}`` or ``${env...}``."""
        return self.ref is not None and self.ref.node_id in STATIC


def split(text: str) -> list[Piece]:
    """The pieces of ``text``; ``TemplateError`` if a ``${`` is unclosed or malformed."""
    if _WHOLE.fullmatch(text):  # the common case, "${node.key}", cheaply
        return [Piece(text, _parse(text))]
    pieces: list[Piece] = []
    pos = 0
    for match in _PATTERN.finditer(text):
        _add_text(pieces, text[pos : match.start()])
        if match.group(1):
            pieces.append(Piece(match.group(0), escaped=True))
        else:
            pieces.append(Piece(match.group(0), _parse(match.group(0))))
        pos = match.end()
    _add_text(pieces, text[pos:])
    return pieces


def _add_text(pieces: list[Piece], text: str) -> None:
    start = text.find("${")
    if start >= 0:
        snippet = quote(text[start:], 30)
        raise TemplateError(
            f"unclosed reference {snippet}: close it with '}}' (or write $${{ for a literal ${{)"
        )
    if text:
        pieces.append(Piece(text))


def _parse(source: str) -> Ref:
    """The reference ``${node.path}`` names, read by the core's rule (``parse_ref``).

    Compiling a template per reference, as ``compile_args`` would, was a third
    of the time a 10,000-node file took to validate.
    """
    inside = source[2:-1].strip()
    if inside.startswith(ENV + "."):  # the name and its default as written: may hold dots
        return Ref(ENV, (inside[len(ENV) + 1 :],))
    node_id, *path = inside.split(".")
    if not node_id or not all(path):  # "${}", "${a..b}"
        shown = one_line(source, QUOTE_LIMIT)
        message = f"malformed reference {shown}: write ${{node}} or ${{node.key}}"
        raise TemplateError(message)
    return Ref(node_id, tuple(path))


def holds_reference(text: str) -> bool:
    """Whether ``text`` holds a reference (not only ``$${...}`` escapes)."""
    return "${" in text and any(not m.group(1) for m in _PATTERN.finditer(text))


def refs(pieces: list[Piece]) -> list[Ref]:
    """The references among ``pieces``, in order."""
    return [p.ref for p in pieces if p.ref is not None]


def for_core(pieces: list[Piece], lookup: Lookup) -> Any:
    """The string the core compiles: inputs substituted and escaped, the rest as written.

    A string that is exactly one ``${inputs...}`` becomes the value itself,
    with its type (strings inside it escaped).
    """
    if len(pieces) == 1 and pieces[0].is_static:
        return escape_deep(lookup(_ref(pieces[0])))
    return "".join(escape(to_text(lookup(_ref(p)))) if p.is_static else p.source for p in pieces)


def condition(pieces: list[Piece], lookup: Lookup) -> str:
    """An ``if:`` condition for the core: each static value written as a literal."""
    return "".join(literal(lookup(_ref(p))) if p.is_static else p.source for p in pieces)


def literal(value: Any) -> str:
    """``value`` as a literal of the condition language (JSON is one), never a reference.

    ``$`` only occurs inside a JSON string, where ``\\u0024`` spells it: the
    core then finds no ``${`` to read as a reference.
    """
    return json.dumps(value, default=str).replace("$", "\\u0024")


def final(pieces: list[Piece], lookup: Lookup) -> Any:
    """The value itself (for what the core will not read): escapes undone, inputs in place."""
    if len(pieces) == 1 and pieces[0].is_static:
        return lookup(_ref(pieces[0]))
    return "".join(_final_text(p, lookup) for p in pieces)


def _final_text(piece: Piece, lookup: Lookup) -> str:
    if piece.escaped:
        return piece.source[1:]
    if piece.ref is not None:
        return to_text(lookup(piece.ref))
    return piece.source


def _ref(piece: Piece) -> Ref:
    assert piece.ref is not None
    return piece.ref


def escape(text: str) -> str:
    """``text`` such that the core reads it back as exactly ``text`` (never a reference)."""
    return _REFERENCE.sub(lambda m: "$" + m.group(0), text)


def escape_deep(value: Any) -> Any:
    """``value`` with every string in it escaped (the core reads nested strings too)."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, Mapping):
        return {k: escape_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_deep(v) for v in value]
    if isinstance(value, tuple):
        return tuple(escape_deep(v) for v in value)
    return value

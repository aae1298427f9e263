"""The errors a workflow file raises, and the collector that reports them all.

Every error names the file, line and column first (``FILE:LINE:COL: reason``),
on one line of a few hundred characters at most::

    SpecError
     +-- WorkflowCycleError        also a CycleError: .cycle
     +-- WorkflowToolNotFoundError also a ToolNotFoundError: .name, .close_matches
     +-- WorkflowErrors            several of the above: .errors, one line each

A file with several mistakes raises them together, in file order, as
``WorkflowErrors``; a file with one raises that one error.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Final

from graphflow import CycleError, SpecError, ToolNotFoundError

from ._env import redact
from ._loader import Document, Loc
from ._text import one_line, quote

MAX_REPORTED: Final = 20
"""Errors listed one per line; past this, one more line says how many were left out."""


class WorkflowCycleError(CycleError, SpecError):
    """A cycle in a workflow file: a ``CycleError`` located like every ``SpecError``.

    ``path``, ``line`` and ``column`` are where the cycle's first edge is written
    (``key`` its dotted key), so the message starts ``FILE:LINE:COL: cycle: ...``.
    """

    def __init__(
        self,
        cycle: Sequence[str],
        detail: str,
        *,
        path: str,
        line: int | None,
        column: int | None,
        key: str | None,
    ) -> None:
        self.cycle = list(cycle)
        message = one_line(f"{CycleError(self.cycle)} ({detail})")  # (its wording)
        SpecError.__init__(self, message, path=path, line=line, column=column, key=key)


class WorkflowToolNotFoundError(ToolNotFoundError, SpecError):
    """A node names a tool nobody provides: a ``ToolNotFoundError`` located in the file."""

    def __init__(
        self, name: str, close_matches: Sequence[str], *, path: str, line: int, column: int
    ) -> None:
        self.name = name
        self.close_matches = list(close_matches)
        hint = f" (did you mean {', '.join(map(quote, close_matches))}?)" if close_matches else ""
        message = f"unknown tool {quote(name)}{hint}"
        SpecError.__init__(self, message, path=path, line=line, column=column, key="tool")


class WorkflowErrors(SpecError):
    """Several mistakes in one workflow file, in file order, one line each.

    Located (``path``, ``line``, ``column``, ``key``) at the first; ``errors``
    holds every one, each a ``SpecError`` (maybe a ``WorkflowCycleError`` or a
    ``WorkflowToolNotFoundError``). The message lists at most ``MAX_REPORTED``
    of them, then one line saying how many more there are.
    """

    def __init__(self, errors: Sequence[SpecError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        lines = [str(e) for e in self.errors[:MAX_REPORTED]]
        left = len(self.errors) - MAX_REPORTED
        if left > 0:
            nxt = self.errors[MAX_REPORTED]
            lines.append(f"{nxt.path}:{nxt.line}:{nxt.column}: and {left} more errors")
        rest = "\n".join(lines[1:])
        reason = f"{first.reason}\n{rest}"
        SpecError.__init__(
            self, reason, path=first.path, line=first.line, column=first.column, key=first.key
        )


@dataclass(slots=True)
class Problems:
    """Errors found so far in one file; ``raise_if_any`` raises them in file order."""

    doc: Document
    found: list[SpecError] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.found.extend(self.doc.errors)

    def __bool__(self) -> bool:
        return bool(self.found)

    def add(self, error: SpecError) -> None:
        self.found.append(error)

    def at(self, message: str, loc: Loc, key: str | None = None) -> None:
        """Record ``message`` located at ``loc`` (bounded to one line)."""
        self.found.append(self.doc.error(message, loc, key))

    def raise_if_any(self, hide: Collection[str] = ()) -> None:
        """Raise the one error found, or ``WorkflowErrors`` for several; else return.

        Args:
            hide: secrets no message may quote (each becomes ``***``).
        """
        found = [_hidden(e, hide) for e in self.found] if hide else self.found
        ordered = sorted(found, key=lambda e: (e.line or 0, e.column or 0))
        unique = list({str(e): e for e in ordered}.values())
        if len(unique) == 1:
            raise unique[0]
        if unique:
            raise WorkflowErrors(unique)


def _hidden(error: SpecError, secrets: Collection[str]) -> SpecError:
    """``error``, or a plain ``SpecError`` like it whose message quotes no secret."""
    reason = redact(error.reason, secrets)
    if reason == error.reason:
        return error
    return SpecError(reason, path=error.path, line=error.line, column=error.column, key=error.key)

"""A workflow's ``outputs:``: named values read from a run's results.

    outputs:
      cheapest: ${cheapest.sku}
      report: "${summary.text} (${count} items)"

Each value is written like a node's arguments (references anywhere in it,
interpolated in longer strings); ``${inputs.x}`` and ``${env.NAME}`` were
substituted when the file was loaded. After a run, ``resolve_outputs`` reads
the references from the results: an output that refers to a node that did not
succeed, or to a key its output lacks, is ``None``, with a note saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphflow import Ref, ReferenceResolutionError, RunResult, compile_args, resolve_path

from ._text import one_line


@dataclass(frozen=True, slots=True)
class Outputs:
    """What a workflow's ``outputs:`` came to in one run.

    Attributes:
        values: output name -> value, in the file's order (``None`` when it
            could not be read).
        notes: output name -> why its value is ``None`` (one short line), for
            the outputs that could not be read.
    """

    values: dict[str, Any]
    notes: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """``{"values": {...}, "notes": {...}}`` (values as the tools returned them)."""
        return {"values": dict(self.values), "notes": dict(self.notes)}


class _Unreadable(Exception):
    """An output refers to something the run did not produce; the message says what."""


def resolve_outputs(declared: Mapping[str, Any], result: RunResult) -> Outputs:
    """Read each declared output from ``result``.

    Args:
        declared: output name -> value as the core reads arguments.
        result: the run's results (a resumed or partial run's will do).

    Returns:
        The ``Outputs``: every name in ``declared``, with notes for the unreadable.
    """
    values: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for name, value in declared.items():
        try:
            values[name] = _render(value, result)
        except _Unreadable as exc:
            values[name] = None
            notes[name] = one_line(str(exc))
    return Outputs(values, notes)


def _render(value: Any, result: RunResult) -> Any:
    template = compile_args(value)
    for r in template.refs:
        _require(r, result)
    try:
        return template.render(lambda r: resolve_path(result[r.node_id].output, r))
    except ReferenceResolutionError as exc:
        raise _Unreadable(str(exc)) from None


def _require(r: Ref, result: RunResult) -> None:
    got = result.get(r.node_id)
    if got is None:
        raise _Unreadable(f"node {r.node_id!r} did not run")
    if got.ok:
        return
    why = got.reason or (str(got.error) if got.error is not None else "")
    raise _Unreadable(f"node {r.node_id!r} {got.status}" + (f": {why}" if why else ""))


__all__ = ["Outputs", "resolve_outputs"]

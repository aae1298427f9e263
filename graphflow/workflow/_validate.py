"""From the parsed document to a ``WorkflowModel``, reporting every schema error.

pydantic reports every error of a document at once; each becomes one located
line. Then, so that a file with a schema error still has its other mistakes
(an unknown tool, a bad reference) reported, the parts that validated are
*salvaged*: the nodes and sections with errors are left out and the rest is
validated again, for the builder to check further. ``Checked.broken`` names
the sections left out, so the builder does not report what follows from them
(``${inputs.x}`` when ``inputs`` itself is wrong).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from graphflow import SpecError

from ._errors import Problems
from ._loader import Document, Loc
from ._spec import WorkflowModel, fields_at
from ._text import one_line, quote

_UNION_FIELDS: Final = frozenset({"retries", "depends_on", "for_each", "cache"})
_KIND: Final = {
    "constrained-int": "an integer",
    "int": "an integer",
    "str": "a string",
    "list[str]": "a list of strings",
    "list[any]": "a list",
    "RetrySpec": "a mapping",
    "CacheSpec": "a mapping",
    "bool": "true or false",
}


@dataclass(frozen=True, slots=True)
class Checked:
    """What validation left for the builder.

    Attributes:
        model: the valid part of the file (``None`` if no node is valid).
        node_ids: every node id the file writes, valid or not: references to
            a node with its own error are not reported again.
        broken: top-level sections with an error (``"inputs"``, ``"tools"``...).
    """

    model: WorkflowModel | None
    node_ids: frozenset[str]
    broken: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Error:
    loc: Loc
    type: str
    msg: str
    input: Any = None


def check_schema(doc: Document, problems: Problems) -> Checked:
    """Validate ``doc.data`` (a mapping), recording each error in ``problems``."""
    data: dict[Any, Any] = doc.data
    nodes = data.get("nodes")
    node_ids = frozenset(k for k in nodes if isinstance(k, str)) if isinstance(nodes, dict) else ()
    errors: list[_Error] = []
    try:
        model: WorkflowModel | None = WorkflowModel.model_validate(data)
    except ValidationError as exc:
        errors = [
            _Error(tuple(e["loc"]), e["type"], e["msg"], e.get("input")) for e in exc.errors()
        ]
        model = None
    for error in located(doc, choose(errors)):
        problems.add(error)
    locs = [e.loc for e in errors] + sorted(doc.bad, key=str)
    if model is not None and not locs:
        return Checked(model, frozenset(node_ids), frozenset())
    broken = frozenset(str(loc[0]) for loc in locs if loc and (loc[0] != "nodes" or len(loc) == 1))
    bad_nodes = {loc[1] for loc in locs if len(loc) >= 2 and loc[0] == "nodes"}
    return Checked(_salvage(data, broken, bad_nodes), frozenset(node_ids), broken)


def _salvage(
    data: dict[Any, Any], broken: frozenset[str], bad_nodes: set[Any]
) -> WorkflowModel | None:
    nodes = data.get("nodes")
    if "nodes" in broken or not isinstance(nodes, dict):
        return None
    kept = {k: v for k, v in data.items() if k not in broken}
    kept["name"] = kept.get("name", "")
    kept["nodes"] = {k: v for k, v in nodes.items() if k not in bad_nodes}
    if not kept["nodes"]:
        return None
    try:
        return WorkflowModel.model_validate(kept)
    except ValidationError:  # pragma: no cover - what is left validated once already
        return None


def choose(errors: Iterable[_Error]) -> list[_Error]:
    """One report per mistake: for a union field, the branch the writer meant.

    pydantic tries each member of ``retries: int | {...}`` and reports both; the
    member whose errors go deeper (or are not mere type errors) is the one the
    writer meant. If neither is, one error says what was expected.
    """
    chosen: list[_Error] = []
    groups: dict[Loc, dict[Any, list[_Error]]] = {}
    for error in errors:
        i = _union_index(error.loc)
        if i is None:
            chosen.append(error)
            continue
        stripped = _Error(error.loc[:i] + error.loc[i + 1 :], error.type, error.msg, error.input)
        groups.setdefault(error.loc[:i], {}).setdefault(error.loc[i], []).append(stripped)
    for field_loc, branches in groups.items():
        chosen.extend(_best_branch(field_loc, branches))
    return chosen


def _union_index(loc: Loc) -> int | None:
    """Where pydantic put the union member's name in ``loc``, if it did."""
    if len(loc) >= 4 and loc[0] == "nodes" and loc[2] in _UNION_FIELDS:
        return 3
    if len(loc) >= 3 and loc[:2] == ("defaults", "retries"):
        return 2
    return None


def _best_branch(field_loc: Loc, branches: Mapping[Any, list[_Error]]) -> list[_Error]:
    def score(errors: list[_Error]) -> tuple[bool, bool]:
        return max((len(e.loc) > len(field_loc), not _is_type_error(e)) for e in errors)

    best = max(branches.values(), key=score)
    if score(best) != (False, False):
        return best
    kinds = " or ".join(_KIND.get(str(tag), str(tag)) for tag in branches)
    return [_Error(field_loc, "union_type", f"expected {kinds}", best[0].input)]


def _is_type_error(error: _Error) -> bool:
    return error.type.endswith(("_type", "_parsing"))


def located(doc: Document, errors: list[_Error]) -> list[SpecError]:
    """Each error as a located ``SpecError``, leaving out what follows from another."""
    unknown = {(e.loc[:-1], str(e.loc[-1])) for e in errors if e.type == "extra_forbidden"}
    out = []
    for error in errors:
        if any(error.loc[: len(bad)] == bad for bad in doc.bad):
            continue  # the loader reported this value already
        if error.type == "missing" and _typo_of(error.loc, unknown):
            continue  # "unknown key 'tol' (did you mean 'tool'?)" says it
        out.append(_spec_error(doc, error))
    return out


def _typo_of(loc: Loc, unknown: set[tuple[Loc, str]]) -> bool:
    keys = [key for parent, key in unknown if parent == loc[:-1]]
    return bool(difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.6))


def _spec_error(doc: Document, error: _Error) -> SpecError:
    loc = error.loc
    if error.type == "extra_forbidden":
        key = str(loc[-1])
        allowed = fields_at(loc[:-1])
        close = difflib.get_close_matches(key[:100], allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
        return doc.error(f"unknown key {quote(key)}{hint}", loc)
    if error.type == "missing":
        return doc.error(f"missing required key {quote(str(loc[-1]))}", loc[:-1], key=_dotted(loc))
    message = error.msg.removeprefix("Value error, ")
    if loc and loc[-1] == "[key]":  # pydantic's name for a mapping key that failed
        written = loc[-2] if len(loc) >= 2 else ""
        if error.type == "value_error":  # a name that is a string, but not a valid one
            return doc.error(f"key {message}", loc[:-1])
        return doc.error(f"key {quote(written)} must be a string: quote it", loc[:-1])
    if _is_type_error(error):
        message += f" (got {quote(error.input, 40)})"
    elif error.type == "literal_error":
        choices = re.findall(r"'([^']*)'", message)  # "Input should be 'a', 'b' or 'c'"
        written = error.input
        close = []
        if isinstance(written, str):
            close = difflib.get_close_matches(written[:100], choices, n=1, cutoff=0.6)
        message += f" (got {quote(written, 40)}"
        message += f"; did you mean {close[0]!r}?)" if close else ")"
    return doc.error(f"{_dotted(loc) or 'workflow'}: {message}", loc)


def _dotted(loc: Loc) -> str:
    return ".".join(one_line(str(p), 40) for p in loc)

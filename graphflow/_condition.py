"""Conditions on nodes (``when=``): a small, safe expression language.

    ${check.ok} and ${check.count} > 3
    ${lookup.region} in ["eu", "uk"] or not ${flags.strict}

References (``${node.path}``) read upstream outputs, and add edges like any
reference. Besides them: literals (numbers, strings, ``true``/``false``/
``null`` and Python's spellings), lists, ``and``/``or``/``not``, comparisons
(``== != < <= > >=``, ``in``, ``not in``) and parentheses — nothing else:
the text is parsed with ``ast`` and walked, never evaluated, so no name,
call, attribute or subscript can run code. A false condition skips its node
(reason ``condition is false: ...``); one that cannot be evaluated (``null >
3``) fails it, and is never retried.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ._refs import Lookup, Ref, parse_ref
from .errors import NodeInputError

_MAX_TEXT: Final = 1_000
_REF: Final = re.compile(r"\$\{([^{}]*)\}")
_LITERALS: Final = {"true": True, "false": False, "null": None, "True": True, "False": False}
_LITERALS["None"] = None
_COMPARE: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


class ConditionError(NodeInputError):
    """Recorded when a node's condition cannot be evaluated (e.g. ``null > 3``)."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed ``when=`` expression: its text, the references it reads, its tree."""

    text: str
    refs: tuple[Ref, ...]
    tree: ast.expr

    def holds(self, lookup: Lookup) -> bool:
        """Evaluate with ``lookup`` resolving references; raises ``ConditionError``."""
        try:
            return bool(_value(self.tree, self.refs, lookup))
        except ConditionError:
            raise
        except Exception as exc:  # comparing what cannot be compared, a missing key...
            message = f"condition {self.text!r:.200}: {type(exc).__name__}: {exc}"
            raise ConditionError(message[:400]) from None


def parse_condition(text: str) -> Condition:
    """Parse a ``when=`` expression.

    Raises:
        ValueError: the text is not an expression of the language (one line, naming why).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a condition is a non-empty string, got {text!r:.100}")
    if len(text) > _MAX_TEXT:
        raise ValueError(f"a condition is at most {_MAX_TEXT} characters, got {len(text)}")
    refs: list[Ref] = []

    def placeholder(match: re.Match[str]) -> str:
        refs.append(parse_ref(match.group(1)))
        return f" __gf_ref_{len(refs) - 1} "

    code = _REF.sub(placeholder, text)
    try:
        tree = ast.parse(code.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ValueError(f"condition {text!r:.200} is not an expression ({exc})") from None
    _check(tree, text, len(refs))
    return Condition(text, tuple(refs), tree)


_ALLOWED: Final = (
    ast.BoolOp,
    ast.UnaryOp,
    ast.Compare,
    ast.Constant,
    ast.Name,
    ast.List,
    ast.Tuple,
    ast.And,
    ast.Or,
    ast.Not,
    ast.USub,
    ast.Load,
    *_COMPARE,
)


def _check(tree: ast.expr, text: str, refs: int) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "__gf_ref_" in node.value:
                raise ValueError(
                    f"condition {text!r:.200}: a reference inside quotes is "
                    "text, not a value: write ${node.path} without quotes"
                )
        if isinstance(node, ast.Name) and node.id.startswith("__gf_ref_"):
            suffix = node.id.removeprefix("__gf_ref_")
            if not suffix.isdigit() or int(suffix) >= refs:
                raise ValueError(f"condition {text!r:.200}: unknown name {node.id!r:.50}")
        if not isinstance(node, _ALLOWED):
            what = type(node).__name__
            raise ValueError(
                f"condition {text!r:.200}: {what} is not allowed (only literals, "
                "${...}, and/or/not and comparisons)"
            )
        if isinstance(node, ast.Name) and not (
            node.id in _LITERALS or node.id.startswith("__gf_ref_")
        ):
            raise ValueError(
                f"condition {text!r:.200}: unknown name {node.id!r:.50} "
                "(quote strings; references are written ${node.path})"
            )
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            if not isinstance(node.operand, ast.Constant):
                raise ValueError(f"condition {text!r:.200}: '-' only before a number")


def _value(node: ast.expr, refs: tuple[Ref, ...], lookup: Lookup) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _LITERALS:
            return _LITERALS[node.id]
        return lookup(refs[int(node.id.removeprefix("__gf_ref_"))])
    if isinstance(node, ast.List | ast.Tuple):
        return [_value(e, refs, lookup) for e in node.elts]
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, refs, lookup)
        return (not operand) if isinstance(node.op, ast.Not) else -operand
    if isinstance(node, ast.BoolOp):
        want_all = isinstance(node.op, ast.And)
        for value in node.values:
            if bool(_value(value, refs, lookup)) is not want_all:
                return not want_all
        return want_all
    assert isinstance(node, ast.Compare)
    left = _value(node.left, refs, lookup)
    for op, right_node in zip(node.ops, node.comparators, strict=True):
        right = _value(right_node, refs, lookup)
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True

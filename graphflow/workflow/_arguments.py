"""``validate`` checks a node's arguments as its tool will when it runs.

A ``Tool`` (``@graphflow.tool``, ``Tool.from_schema``) validates its arguments
against its model when called, so its constant arguments are checked here
against that model: names, required arguments, types. A plain function is
called as ``fn(**args)``, which checks only names, so only names are checked:
an argument it does not take, or a required one left out. Arguments holding a
reference are only known at run time: their names count, their values do not.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from graphflow import Ref, ReferenceResolutionError, Tool, ToolArgumentError, resolve_path

from ._text import quote


@dataclass(frozen=True, slots=True)
class ArgumentProblem:
    """One mistake in a node's arguments.

    Attributes:
        name: the argument at fault, or ``None`` for the arguments as a whole
            (a required one is missing).
        message: what is wrong.
    """

    name: str | None
    message: str
    checked: bool = False
    """Found in a value given through a reference (``item_problem``), not a name."""


def check_arguments(
    tool_name: str, fn: Callable[..., Any], args: Mapping[str, Any], constant: Collection[str]
) -> list[ArgumentProblem]:
    """What running ``fn(**args)`` would reject, as far as is known before the run.

    Args:
        tool_name: the name the workflow uses, for messages.
        fn: the tool.
        args: the node's arguments as written.
        constant: the names in ``args`` whose values hold no reference.

    Returns:
        The problems, in the order of ``args`` (missing arguments last).
    """
    if isinstance(fn, Tool):
        return _by_model(tool_name, fn, args, constant)
    try:  # names only: the same for every node that calls fn with these names
        return list(_cached_by_signature(tool_name, fn, tuple(args)))
    except TypeError:  # an unhashable callable
        return _by_signature(tool_name, fn, args)


def _by_signature(
    tool_name: str, fn: Callable[..., Any], args: Mapping[str, Any]
) -> list[ArgumentProblem]:
    params = _parameters(fn)
    if params is None:
        return []
    if any(p.kind is p.VAR_KEYWORD for p in params):
        named = None
    else:
        named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [] if named is None else [str(k) for k in args if k not in named]
    problems = [_unknown(tool_name, k, named or []) for k in unknown]
    for p in params:
        required = p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        if required and p.name not in args and not _typo(p.name, unknown):
            problems.append(_missing(tool_name, p.name))
    return problems


@functools.lru_cache(maxsize=1024)
def _cached_by_signature(
    tool_name: str, fn: Callable[..., Any], names: tuple[str, ...]
) -> tuple[ArgumentProblem, ...]:
    return tuple(_by_signature(tool_name, fn, dict.fromkeys(names)))


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter] | None:
    """``fn``'s parameters (``None``: it has no signature to read), read once per tool."""
    try:
        return _cached_parameters(fn)
    except TypeError:  # an unhashable callable: read each time
        return _read_parameters(fn)


def _read_parameters(fn: Callable[..., Any]) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin, a C callable)
        return None


_cached_parameters = functools.lru_cache(maxsize=1024)(_read_parameters)


def _by_model(
    tool_name: str, tool: Tool, args: Mapping[str, Any], constant: Collection[str]
) -> list[ArgumentProblem]:
    try:
        tool.validate({k: args[k] for k in constant})
        return []
    except ToolArgumentError as exc:
        errors = exc.errors
    except Exception as exc:  # a custom validator of the tool's own raising something else
        return [
            ArgumentProblem(None, f"checking the arguments of {quote(tool_name)} raised {exc!r}")
        ]
    names = [str(n) for n in tool.parameters().get("properties", {})]
    unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and e["loc"]]
    problems: list[ArgumentProblem] = []
    for error in errors:
        field = str(error["loc"][0]) if error["loc"] else None
        if error["type"] == "extra_forbidden" and field is not None:
            problems.append(_unknown(tool_name, field, names))
        elif error["type"] == "missing" and field is not None:
            if field not in args and not _typo(field, unknown):
                problems.append(_missing(tool_name, field))
        else:
            got = quote(error.get("input"), 40)
            message = f"tool {quote(tool_name)}: {field or 'arguments'}: {error['msg']} (got {got})"
            problems.append(ArgumentProblem(field, message))
    return problems


def _unknown(tool_name: str, name: str, known: list[str]) -> ArgumentProblem:
    close = difflib.get_close_matches(name[:100], known, n=1, cutoff=0.6)
    if close:
        hint = f" (did you mean {close[0]!r}?)"
    else:
        hint = f" (it takes: {', '.join(known)})" if known else " (it takes none)"
    return ArgumentProblem(name, f"tool {quote(tool_name)} has no argument {quote(name)}{hint}")


def _missing(tool_name: str, name: str) -> ArgumentProblem:
    return ArgumentProblem(None, f"tool {quote(tool_name)} needs argument {quote(name)}")


def _typo(name: str, unknown: list[str]) -> bool:
    """True if an unknown argument is probably ``name`` misspelt (reported as that)."""
    return bool(difflib.get_close_matches(name, [u[:100] for u in unknown], n=1, cutoff=0.6))


Render = Callable[[Callable[[Ref], Any]], Any]
"""An argument's value for a lookup of its references (``compile_args(value).render``)."""


def item_problem(
    tool_name: str,
    fn: Callable[..., Any],
    args: Mapping[str, Any],
    constant: Collection[str],
    renders: Mapping[str, Render],
    item: Any,
    checks: Mapping[str, Callable[[Any], None]] | None,
) -> ArgumentProblem | None:
    """What a ``for_each`` item would make ``fn`` reject, if anything.

    Args:
        tool_name, fn, args, constant: as for ``check_arguments``.
        renders: the arguments that read only ``${item...}``, compiled.
        item: the item's value.
        checks: a built-in's own checks by argument (``builtin_tools.CHECKS``).

    Returns:
        The first problem: a path the item does not have, then what the tool's
        model refuses (a ``Tool``), then a built-in's own checks (``checked``).
    """

    def lookup(ref: Ref) -> Any:
        return resolve_path(item, ref) if ref.path else item

    rendered: dict[str, Any] = {}
    for key, render in renders.items():
        try:
            rendered[key] = render(lookup)
        except ReferenceResolutionError as exc:
            return ArgumentProblem(key, str(exc))
    if isinstance(fn, Tool):  # (a plain function's names are checked already)
        given = {**args, **rendered}
        for problem in _by_model(tool_name, fn, given, [*constant, *rendered]):
            if problem.name in rendered:
                return ArgumentProblem(problem.name, problem.message, checked=True)
    for key, check in (checks or {}).items():
        if key in rendered:
            try:
                check(rendered[key])
            except (TypeError, ValueError, ArithmeticError) as exc:
                return ArgumentProblem(key, f"tool {quote(tool_name)}: {exc}", checked=True)
    return None


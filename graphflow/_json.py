"""The encoding rule: ``encode_json`` is the one place where a user's value (a
tool's output) becomes JSON; ``to_dict`` never raises, nor does ``json.dumps`` of
what it returns:

1. A JSON-native value is kept as it is, not copied: exactly ``dict`` with
   ``str`` keys, ``list``, ``str``, ``int`` (at most 600 digits, as ``json``
   refuses longer ones), ``float``, ``bool`` and ``None``, nested at most 100
   levels deep, no container reached twice.
2. Anything else goes through pydantic's JSON mode
   (``pydantic_core.to_jsonable_python``): sets and tuples become lists,
   datetimes ISO strings, Decimals strings, enums their values, dataclasses and
   pydantic models dicts, bytes UTF-8 text. An object pydantic does not know
   becomes a marked repr (rule 3) in its place, so its neighbours survive.
3. If that fails (a cycle, nesting deeper than 100 levels, an iterator, which is
   never consumed, bytes that are not UTF-8...), the whole value becomes a
   *marked repr*: ``{"__repr__": <reprlib repr, at most 1,000 characters>,
   "__type__": "module.QualName"}``.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from pydantic_core import to_jsonable_python

_MAX_DEPTH = 100  # levels of nesting kept; deeper values become a marked repr
_MAX_REPR = 1_000  # characters of a marked repr
_MAX_INT = 10**600  # json.dumps refuses ints longer than sys.get_int_max_str_digits() (>= 640)

_REPR = reprlib.Repr()  # bounded depth, so cyclic and deep values cannot recurse
_REPR.maxlevel = 4
_REPR.maxstring = _REPR.maxother = 200


def encode_json(value: object) -> Any:
    """``value`` as JSON-ready data, by the module's encoding rule; never raises.

    Args:
        value: anything, typically what a tool returned.

    Returns:
        ``value`` itself if it is JSON-native; else its pydantic JSON-mode form;
        else a marked repr ``{"__repr__": ..., "__type__": "module.QualName"}``.
    """
    if _is_native(value):
        return value
    if not _may_serialise(value, 1, set()):
        return _marked_repr(value)
    try:
        encoded = to_jsonable_python(value, fallback=_marked_repr)
    except Exception:  # a cycle, too deep, non-UTF-8 bytes, a property that raises...
        return _marked_repr(value)
    return encoded if _is_native(encoded) else _marked_repr(value)


def _is_native(value: object) -> bool:
    """Rule 1: is ``value`` JSON-native all the way down?"""
    if type(value) is dict or type(value) is list:
        return _native_container(value, 1, None)
    if type(value) is int:
        return -_MAX_INT < value < _MAX_INT
    return type(value) in _LEAVES


_LEAVES = frozenset({str, float, bool, type(None)})  # the native scalars, but int


def _native_container(value: dict[Any, Any] | list[Any], depth: int, seen: set[int] | None) -> bool:
    # The hot path of to_dict, hence exact type tests and scalars checked inline.
    # ``seen`` holds every container descended into (made at the first one: most
    # outputs are flat), so a cycle, or a shared container, which pydantic then
    # copies, leaves the fast path instead of being walked forever.
    items: Iterable[Any] = value
    if type(value) is dict:
        for key in value:
            if type(key) is not str:
                return False
        items = value.values()
    for v in items:
        t = type(v)
        if t in _LEAVES:
            continue
        if t is int:
            if -_MAX_INT < v < _MAX_INT:
                continue
            return False
        if (t is not dict and t is not list) or depth == _MAX_DEPTH:
            return False
        if seen is None:
            seen = {id(value)}
        if id(v) in seen:
            return False
        seen.add(id(v))
        if not _native_container(v, depth + 1, seen):
            return False
    return True


def _may_serialise(value: object, depth: int, seen: set[int]) -> bool:
    """May pydantic see ``value``? Not if it holds an iterator (pydantic would
    consume it, forever if it is endless) or is nested too deep to keep anyway."""
    if isinstance(value, Iterator):
        return False
    if not isinstance(value, dict | list | tuple | set | frozenset):
        return True
    if depth > _MAX_DEPTH:
        return False
    if id(value) in seen:
        return True  # shared, or a cycle (which pydantic reports)
    seen.add(id(value))
    children = chain(value, value.values()) if isinstance(value, dict) else value
    return all(_may_serialise(child, depth + 1, seen) for child in children)


def _marked_repr(value: object) -> dict[str, str]:
    """Rule 3: a bounded repr of ``value``, marked so that no reader takes it for data."""
    try:
        text = _REPR.repr(value)
    except Exception:  # reprlib guards instances, not e.g. an int too long to print
        text = f"<{type(value).__qualname__} object: repr failed>"
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return {"__repr__": text, "__type__": f"{type(value).__module__}.{type(value).__qualname__}"}

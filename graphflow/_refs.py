"""References from one node's arguments to another node's output.

Two spellings mean the same thing: ``ref("lookup", "price")`` and the string
``"${lookup.price}"``. A string that is exactly one reference becomes the
referenced value with its type; a reference inside a longer string is
interpolated as text (JSON for containers). ``$${`` escapes a literal ``${``.

Arguments are compiled once into a ``Template``: the references it holds (the
edges they imply) and a renderer. Arguments without references render to the
very object that was passed in, so the common case costs nothing per run.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .errors import ReferenceResolutionError

_PATTERN: Final = re.compile(r"\$(\$?)\{([^{}]*)\}")
_WHOLE: Final = re.compile(r"\$\{([^{}]*)\}")  # (fullmatch: a string that is one reference)

Path = tuple[str, ...]
Lookup = Callable[["Ref"], Any]


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to ``node_id``'s output, or to the value at ``path`` inside it."""

    node_id: str
    path: Path = ()

    def __str__(self) -> str:
        return "${" + ".".join((self.node_id, *self.path)) + "}"


class _Keep:
    """Returned by a lookup to leave a reference as it was (partial rendering)."""

    __slots__ = ()


KEEP: Final = _Keep()


def ref(node_id: str, path: str | Sequence[str | int] | None = None) -> Ref:
    """Reference ``node_id``'s output (or a value inside it) from another node's args.

    Args:
        node_id: the upstream node.
        path: ``"items.0.price"`` or ``["items", 0, "price"]``: keys of mappings,
            indexes of sequences, or attribute names, applied in order.

    Returns:
        A ``Ref``; placing it anywhere in ``args`` adds an edge from ``node_id``.
    """
    if path is None:
        parts: Path = ()
    elif isinstance(path, str):
        parts = tuple(path.split(".")) if path else ()
    else:
        parts = tuple(str(p) for p in path)
    return Ref(node_id, parts)


def parse_ref(text: str) -> Ref:
    """Parse the inside of ``${...}``: ``node`` or ``node.key.0``."""
    node_id, *path = text.strip().split(".")
    if not node_id or not all(path):
        raise ValueError(f"malformed reference ${{{text}}}")
    return Ref(node_id, tuple(path))


def resolve_path(value: Any, ref: Ref) -> Any:
    """Follow ``ref.path`` into ``value`` (the output of ``ref.node_id``)."""
    for depth, key in enumerate(ref.path):
        value = _step(value, key, ref, depth)
    return value


def _step(value: Any, key: str, ref: Ref, depth: int) -> Any:
    where = ".".join((ref.node_id, *ref.path[:depth])) or ref.node_id
    if isinstance(value, Mapping):
        if key in value:
            return value[key]
        keys = ", ".join(repr(k)[:40] for k in list(value)[:10]) or "none"
        detail = f"{where[:200]} has no key {key!r:.60} (keys: {keys})"
        raise ReferenceResolutionError(str(ref)[:200], detail[:400])
    if isinstance(value, (list, tuple)) and (key.isdigit() or key.startswith("-")):
        try:
            return value[int(key)]
        except (IndexError, ValueError):
            raise ReferenceResolutionError(
                str(ref)[:200], f"{where[:200]} has no index {key:.30} (length {len(value)})"
            ) from None
    if not key.startswith("_") and hasattr(value, key):
        return getattr(value, key)
    raise ReferenceResolutionError(
        str(ref)[:200], f"{where[:200]} is {type(value).__name__}, which has no {key!r:.60}"
    )


def to_text(value: Any) -> str:
    """How a referenced value reads inside a longer string."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


Render = Callable[[Lookup], Any]


@dataclass(slots=True)
class Template:
    """Compiled arguments: the references they hold and how to render them."""

    refs: tuple[Ref, ...]
    render: Render
    constant: bool = False
    """True when ``render`` returns the arguments as given (nothing to substitute)."""
    shares: bool = True
    """False when rendering can only give values no other node or call holds:
    constant arguments without a dict, list or set inside (strings, numbers...)."""


def compile_args(args: Any) -> Template:
    """Compile ``args`` (any nesting of dicts, lists, tuples, strings and Refs)."""
    if type(args) is dict and _all_scalars(args):  # the common case, checked cheaply
        return _EMPTY if not args else Template((), lambda _lookup: args, True, False)
    found: list[Ref] = []
    render = _compile(args, found)
    if render is None:
        plain = not isinstance(args, Mapping) or not any(map(_may_hold_mutable, args.values()))
        return Template((), lambda _lookup: args, constant=True, shares=not plain)
    return Template(tuple(found), render)


_MUTABLE: Final = (dict, list, set)


def _may_hold_mutable(value: object) -> bool:
    return isinstance(value, dict | list | set | tuple)


def copy_plain(value: Any) -> Any:
    """``value`` with every ``dict``, ``list`` and ``set`` in it copied.

    What one node received can then never change what another node, a retry
    or the caller sees. Exact dicts, lists and sets are copied in a loop, not
    a recursion (outputs may be deep), keeping sharing and cycles as they
    were; their subclasses (``OrderedDict``, ``defaultdict``) and tuples that
    hold one are deep-copied. Other objects (strings, numbers, a client, a
    model instance...) are shared as they are.
    """
    if type(value) not in _MUTABLE:
        return _copy_odd(value) if _may_hold_mutable(value) else value
    copies: dict[int, Any] = {id(value): type(value)()}
    stack = [(value, copies[id(value)])]
    while stack:
        source, target = stack.pop()
        if type(source) is set:
            target.update(source)  # (set members are hashable: nothing to copy inside)
            continue
        pairs = source.items() if type(source) is dict else enumerate(source)
        for key, item in pairs:
            if type(item) in _MUTABLE:
                copied = copies.get(id(item))
                if copied is None:
                    copied = copies[id(item)] = type(item)()
                    stack.append((item, copied))
                item = copied
            elif _may_hold_mutable(item):
                item = _copy_odd(item)
            if type(target) is dict:
                target[key] = item
            else:
                target.append(item)
    return copies[id(value)]


def _copy_odd(value: Any) -> Any:
    """A dict/list/set subclass, or a tuple holding a container: a deep copy, if it takes one."""
    if type(value) is tuple and not any(map(_may_hold_mutable, value)):
        return value  # a tuple of immutable values: nothing anyone could change
    try:
        return copy.deepcopy(value)
    except Exception:  # e.g. it holds a lock or a client: shared, as other objects are
        return value


def _all_scalars(args: dict[Any, Any]) -> bool:
    """No reference, and nothing mutable, among ``args``'s values?"""
    for v in args.values():
        t = type(v)
        if t is str:
            if "${" in v:
                return False
        elif t is not int and t is not float and t is not bool and v is not None:
            return False
    return True


_EMPTY: Final = Template((), lambda _lookup: {}, constant=True, shares=False)


def whole_ref(value: Any) -> Ref | None:
    """The reference ``value`` is as a whole (a ``Ref``, or a string that is one
    ``${...}``), else None."""
    if isinstance(value, Ref):
        return value
    if isinstance(value, str) and (whole := _WHOLE.fullmatch(value)) is not None:
        return parse_ref(whole.group(1))
    return None


def iter_refs(args: Any) -> Iterator[Ref]:
    """Every reference in ``args``, in order."""
    yield from compile_args(args).refs


def _compile(value: Any, found: list[Ref]) -> Render | None:
    """A renderer for ``value``, or None when it holds no reference (render = itself)."""
    if type(value) is str:  # the common case first
        return _compile_str(value, found)
    if isinstance(value, Ref):
        found.append(value)
        return lambda lookup: _whole(lookup, value, value)
    if isinstance(value, str):
        return _compile_str(value, found)
    if isinstance(value, Mapping):
        parts = {k: _compile(v, found) for k, v in value.items()}
        if not any(parts.values()):
            return None
        items = [(k, r, value[k]) for k, r in parts.items()]
        return lambda lookup: {k: (r(lookup) if r else v) for k, r, v in items}
    if isinstance(value, (list, tuple)):
        rendered = [(_compile(v, found), v) for v in value]
        if not any(r for r, _ in rendered):
            return None
        kind = type(value) if type(value) in (list, tuple) else list
        return lambda lookup: kind(r(lookup) if r else v for r, v in rendered)
    return None


def _whole(lookup: Lookup, ref: Ref, original: Any) -> Any:
    got = lookup(ref)
    return original if got is KEEP else got


def _compile_str(text: str, found: list[Ref]) -> Render | None:
    if "${" not in text:
        return None
    whole = _WHOLE.fullmatch(text)
    if whole is not None:  # "${node.key}", the common case: one regex match, no pieces
        one = parse_ref(whole.group(1))
        found.append(one)
        return lambda lookup: _whole(lookup, one, text)
    pieces: list[str | tuple[Ref, str]] = []
    pos = 0
    for match in _PATTERN.finditer(text):
        pieces.append(text[pos : match.start()])
        pos = match.end()
        if match.group(1):  # "$${...}" is a literal "${...}"
            pieces.append(match.group(0)[1:])
            continue
        r = parse_ref(match.group(2))
        found.append(r)
        pieces.append((r, match.group(0)))
    pieces.append(text[pos:])
    pieces = [p for p in pieces if p != ""]
    if not any(isinstance(p, tuple) for p in pieces):
        literal = "".join(p for p in pieces if isinstance(p, str))
        return lambda _lookup: literal
    if len(pieces) == 1 and isinstance(pieces[0], tuple):
        only, source = pieces[0]
        return lambda lookup: _whole(lookup, only, source)
    return lambda lookup: "".join(_piece_text(lookup, p) for p in pieces)


def _piece_text(lookup: Lookup, piece: str | tuple[Ref, str]) -> str:
    if isinstance(piece, str):
        return piece
    got = lookup(piece[0])
    return piece[1] if got is KEEP else to_text(got)

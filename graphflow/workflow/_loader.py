"""A safe YAML loader that remembers where every value came from.

PyYAML's SafeLoader parses the text into events and composes them into nodes
(no Python objects are built from tags); this module then walks the nodes
itself so that it can:
  - record the line and column of every key and value, by path;
  - refuse duplicate keys (PyYAML keeps the last one silently);
  - refuse merge keys (``<<``), whose silent overriding hides mistakes;
  - accept only plain YAML: mappings, sequences and the scalar types a
    workflow can use (null, bool, int, float, str, timestamp), each checked
    (``!!int abc`` is a located error, not a ``ValueError``);
  - bound the file's size, the nesting depth and the work an alias can cause
    (a "billion laughs" document), each with a clear message.

Depth is checked while the events are read, before PyYAML's composer (which
recurses once per level) sees a deeper collection: 500 ``[`` cost one event
each, never 500 Python frames. Problems that leave the rest of the document
readable (a duplicate key, a bad scalar, a tag) are collected in
``Document.errors`` so that every one of them is reported; the rest (invalid
YAML, too deep, too big) stop the reading at once.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from graphflow import SpecError

from ._text import one_line, quote

MAX_BYTES = 1 << 20  # 1 MiB
MAX_DEPTH = 64
MAX_NODES = 100_000  # values built, counting each alias expansion again

Loc = tuple[str | int, ...]
_YAML: Final = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset({_YAML + "map", _YAML + "seq"})
_SCALAR_TAGS: Final = {
    _YAML + "null": "null",
    _YAML + "bool": "bool",
    _YAML + "int": "int",
    _YAML + "float": "float",
    _YAML + "str": "str",
    _YAML + "timestamp": "timestamp",
}
_OPEN: Final = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE: Final = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


@dataclass(slots=True)
class Document:
    """Parsed YAML plus the (line, column) of each value, keyed by its path.

    Attributes:
        data: the parsed document (``None`` when empty).
        path: the file name errors start with.
        positions: ``(line, column)`` of each key and value, 1-based.
        errors: problems found while reading that did not stop it, in order.
        bad: the paths of those problems (their values are placeholders).
    """

    data: Any
    path: str
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    errors: list[SpecError] = field(default_factory=list)
    bad: set[Loc] = field(default_factory=set)

    def where(self, loc: Loc) -> tuple[int, int]:
        """The position of ``loc``, or of its nearest parent that has one (else 1:1)."""
        while loc not in self.positions and loc:
            loc = loc[:-1]
        return self.positions.get(loc, (1, 1))

    def error(self, message: str, loc: Loc, key: str | None = None) -> SpecError:
        """A ``SpecError`` located at ``loc``, its message bounded to one short line."""
        line, column = self.where(loc)
        dotted = key if key is not None else ".".join(str(p) for p in loc) or None
        return SpecError(one_line(message), path=self.path, line=line, column=column, key=dotted)


def load_file(path: str | Path, max_bytes: int = MAX_BYTES) -> Document:
    """Read and parse a YAML file with positions.

    Args:
        path: the file.
        max_bytes: files larger than this are refused before they are read.

    Returns:
        The ``Document``; problems that did not stop the reading are in ``errors``.

    Raises:
        SpecError: the file cannot be read, is too big, is not UTF-8 or not YAML.
    """
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > max_bytes:
            raise SpecError(
                f"file is {size:,} bytes; workflows are limited to {max_bytes:,}", path=name
            )
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(one_line(f"cannot read: {exc.strerror or exc}"), path=name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        message = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise SpecError(message, path=name, line=line, column=column) from None
    return load_text(text, name)


def load_text(text: str, path: str = "<string>") -> Document:
    """Parse YAML text with positions.

    Args:
        text: the YAML.
        path: the name errors start with.

    Returns:
        The ``Document``; problems that did not stop the reading are in ``errors``.

    Raises:
        SpecError: the text is not YAML, or is nested or aliased beyond the limits.
    """
    node, loader = _compose(text, path)
    doc = Document(None, path)
    if node is not None:
        doc.data = _Builder(loader, doc).build(node, (), 0)
    return doc


class _DepthLimitedLoader(yaml.SafeLoader):
    """A SafeLoader whose composer never sees a collection deeper than ``MAX_DEPTH``."""

    def __init__(self, text: str, path: str) -> None:
        super().__init__(text)
        self.path = path
        self.depth = 0

    def get_event(self) -> yaml.Event:
        event: yaml.Event = super().get_event()  # type: ignore[no-untyped-call]
        if isinstance(event, _OPEN):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _at(f"nesting deeper than {MAX_DEPTH} levels", self.path, event.start_mark)
        elif isinstance(event, _CLOSE):
            self.depth -= 1
        return event


def _compose(text: str, path: str) -> tuple[yaml.Node | None, yaml.SafeLoader]:
    try:
        loader = _DepthLimitedLoader(text, path)
    except yaml.reader.ReaderError as exc:  # the reader checks every character up front
        raise _bad_character(text, path, exc) from None
    try:
        return loader.get_single_node(), loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and problem.startswith("but "):  # "..., but found another document"
            problem = f"{exc.context}, {problem}"
        raise _at(f"invalid YAML: {problem}", path, mark) from None
    except yaml.YAMLError as exc:
        raise SpecError(one_line(f"invalid YAML: {exc}"), path=path) from None
    finally:
        loader.dispose()


def _bad_character(text: str, path: str, exc: yaml.reader.ReaderError) -> SpecError:
    at = exc.position
    line = text.count("\n", 0, at) + 1
    column = at - text.rfind("\n", 0, at)
    code = exc.character if isinstance(exc.character, int) else 0
    message = f"invalid YAML: character U+{code:04X} is not allowed (a control character?)"
    return SpecError(message, path=path, line=line, column=column)


def _at(message: str, path: str, mark: Any) -> SpecError:
    """A ``SpecError`` at a PyYAML mark (``yaml.Mark``, or its C twin), if any."""
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return SpecError(one_line(message), path=path, line=line, column=column)


class _Refused(Exception):
    """A value the loader will not build; the message says why."""


class _Builder:
    """Walks composed nodes into Python values, recording positions and problems."""

    def __init__(self, loader: yaml.SafeLoader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.count = 0

    def build(self, node: yaml.Node, loc: Loc, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            message = f"document expands to more than {MAX_NODES:,} values (an alias bomb?)"
            raise _at(message, self.doc.path, node.start_mark)
        if depth > MAX_DEPTH:  # aliases can nest what the events never did
            raise _at(f"nesting deeper than {MAX_DEPTH} levels", self.doc.path, node.start_mark)
        self.doc.positions.setdefault(loc, _position(node))
        try:
            if isinstance(node, yaml.MappingNode) and node.tag in _PLAIN_TAGS:
                return self.mapping(node, loc, depth)
            if isinstance(node, yaml.SequenceNode) and node.tag in _PLAIN_TAGS:
                return [self.build(v, (*loc, i), depth + 1) for i, v in enumerate(node.value)]
            return self.scalar(node)
        except _Refused as exc:
            self.refuse(str(exc), node)
            self.doc.bad.add(loc)  # a placeholder stands there: say nothing more about it
            return None

    def scalar(self, node: yaml.Node) -> Any:
        kind = _SCALAR_TAGS.get(node.tag)
        if kind is None or not isinstance(node, yaml.ScalarNode):
            raise _Refused(f"unsupported tag {quote(node.tag)}: only plain YAML is allowed")
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, LookupError, AttributeError, TypeError) as exc:
            # PyYAML's constructors trust the tag: "!!int abc" reaches int("abc")
            too_long = "digits" in str(exc)  # ValueError: Exceeds the limit (4300 digits)...
            detail = f" (over {sys.get_int_max_str_digits():,} digits)" if too_long else ""
            raise _Refused(f"{quote(node.value)} is not a valid {kind}{detail}") from None

    def refuse(self, message: str, node: yaml.Node) -> None:
        """Record a problem at ``node`` that does not stop the reading."""
        line, column = _position(node)
        self.doc.errors.append(
            SpecError(one_line(message), path=self.doc.path, line=line, column=column)
        )

    def mapping(self, node: yaml.MappingNode, loc: Loc, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            try:
                key = self.key(key_node)
            except _Refused as exc:
                self.refuse(str(exc), key_node)
                continue
            if key in out:
                first = self.doc.positions[(*loc, key)][0]
                self.refuse(f"duplicate key {quote(key)} (first at line {first})", key_node)
                continue
            self.doc.positions[(*loc, key)] = _position(key_node)
            out[key] = self.build(value_node, (*loc, key), depth + 1)
        return out

    def key(self, node: yaml.Node) -> Any:
        if node.tag == _YAML + "merge":
            raise _Refused("merge keys (<<) are not supported: write the keys out")
        if not isinstance(node, yaml.ScalarNode):
            raise _Refused("mapping keys must be plain scalars")
        self.count += 1
        return self.scalar(node)


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1

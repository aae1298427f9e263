"""A safe YAML loader that remembers where every value came from.

PyYAML's SafeLoader composes the document into nodes (no Python objects are
built from tags), then this module walks the nodes itself so that it can:
  - record the line and column of every key and value, by path;
  - refuse duplicate keys (PyYAML keeps the last one silently);
  - refuse merge keys (``<<``), whose silent overriding hides mistakes;
  - bound the work an alias can cause (a "billion laughs" document), the
    nesting depth, and the file's size — each with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from graphflow import SpecError

MAX_BYTES = 1 << 20  # 1 MiB
MAX_DEPTH = 64
MAX_NODES = 100_000  # values built, counting each alias expansion again

Loc = tuple[str | int, ...]
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


@dataclass(slots=True)
class Document:
    """Parsed YAML plus the (line, column) of each value, keyed by its path."""

    data: Any
    path: str
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: Loc) -> tuple[int | None, int | None]:
        """The position of ``loc``, or of its nearest parent that has one."""
        while loc not in self.positions and loc:
            loc = loc[:-1]
        return self.positions.get(loc, (None, None))

    def error(self, message: str, loc: Loc, key: str | None = None) -> SpecError:
        line, column = self.where(loc)
        dotted = key if key is not None else ".".join(str(p) for p in loc) or None
        return SpecError(message, path=self.path, line=line, column=column, key=dotted)


def load_file(path: str | Path, max_bytes: int = MAX_BYTES) -> Document:
    """Read and parse a YAML file with positions; raise ``SpecError`` on any problem."""
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > max_bytes:
            raise SpecError(
                f"file is {size:,} bytes; workflows are limited to {max_bytes:,}", path=name
            )
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", path=name) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=name) from None
    return load_text(text, name)


def load_text(text: str, path: str = "<string>") -> Document:
    """Parse YAML text with positions; raise ``SpecError`` on any problem."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise SpecError(f"invalid YAML: {problem}", path=path, line=line, column=col) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", path=path) from None
    finally:
        loader.dispose()
    doc = Document(None, path)
    if node is None:
        return doc
    doc.data = _Builder(loader, doc).build(node, (), 0)
    return doc


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.count = 0

    def build(self, node: yaml.Node, loc: Loc, depth: int) -> Any:
        self.count += 1
        mark = node.start_mark
        if self.count > MAX_NODES:
            raise SpecError(
                f"document expands to more than {MAX_NODES:,} values (an alias bomb?)",
                path=self.doc.path,
                line=mark.line + 1,
                column=mark.column + 1,
            )
        if depth > MAX_DEPTH:
            raise SpecError(
                f"nesting deeper than {MAX_DEPTH} levels",
                path=self.doc.path,
                line=mark.line + 1,
                column=mark.column + 1,
            )
        self.doc.positions.setdefault(loc, (mark.line + 1, mark.column + 1))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            raise SpecError(
                f"unsupported tag {node.tag!r}: only plain YAML is allowed",
                path=self.doc.path,
                line=mark.line + 1,
                column=mark.column + 1,
            )
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, loc, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, (*loc, i), depth + 1) for i, v in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise SpecError(
                f"invalid value: {exc.problem}",
                path=self.doc.path,
                line=mark.line + 1,
                column=mark.column + 1,
            ) from None

    def mapping(self, node: yaml.MappingNode, loc: Loc, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            kmark = key_node.start_mark
            at = {"path": self.doc.path, "line": kmark.line + 1, "column": kmark.column + 1}
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecError("merge keys (<<) are not supported: write the keys out", **at)
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError("mapping keys must be plain scalars", **at)
            key = self.loader.construct_object(key_node)
            if key in out:
                first = self.doc.positions.get((*loc, key), (None, None))[0]
                raise SpecError(
                    f"duplicate key {key!r} (first at line {first})", key=str(key), **at
                )
            self.doc.positions[(*loc, key)] = (kmark.line + 1, kmark.column + 1)
            out[key] = self.build(value_node, (*loc, key), depth + 1)
        return out

"""A safe YAML loader that remembers where every value came from.

PyYAML parses the text into events — with libyaml's C parser when PyYAML was
built with it (``yaml.__with_libyaml__``), else its pure-Python one, the same
events either way — and this module builds the values from the events
itself, never through PyYAML's composer or constructors' object graph, so
that it can:
  - record the line and column of every key and value, by path;
  - refuse duplicate keys (PyYAML keeps the last one silently);
  - refuse merge keys (``<<``), whose silent overriding hides mistakes;
  - accept only plain YAML: mappings, sequences and the scalar types a
    workflow can use (null, bool, int, float, str, timestamp), each checked
    (``!!int abc`` is a located error, not a ``ValueError``);
  - bound the file's size, the nesting depth and the work an alias can cause
    (a "billion laughs" document), each with a clear message.

Depth is checked as each collection's first event is read, before the
builder (which recurses once per level) goes deeper: 500 ``[`` stop at the
65th, never 500 Python frames. An alias is built by replaying the events its
anchor recorded, each value counted again and its depth checked where it
lands; an alias inside its own anchor is infinitely deep and refused.
Problems that leave the rest of the document readable (a duplicate key, a
bad scalar, a tag) are collected in ``Document.errors`` so that every one of
them is reported; the rest (invalid YAML, too deep, too big) stop the reading
at once.

Reading events with libyaml is what keeps a 10,000-node file well under a
second: PyYAML's pure-Python scanner and composer took 5 s of the 5.5 s that
``graphflow validate`` spent on one.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from graphflow import SpecError

from ._text import one_line, quote

MAX_BYTES = 1 << 20  # 1 MiB
MAX_DEPTH = 64
MAX_NODES = 1_000_000  # values in a document: more than MAX_BYTES can hold plainly
MAX_EXPANDED = 100_000  # values built by replaying aliases, in all (an alias bomb's)
LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))
"""Whether events come from libyaml (PyYAML built with it) rather than PyYAML's own parser."""

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
_STR: Final = _YAML + "str"
_MERGE: Final = _YAML + "merge"
_SEQUENCE_TAGS: Final = frozenset({None, "!", _YAML + "seq"})
_MAPPING_TAGS: Final = frozenset({None, "!", _YAML + "map"})
_OPEN: Final = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE: Final = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
_NON_PRINTABLE: Final = yaml.reader.Reader.NON_PRINTABLE  # what both parsers refuse
_IMPLICIT: Final = yaml.resolver.Resolver.yaml_implicit_resolvers
_MAYBE_NOT_STR: Final = None if None in _IMPLICIT else frozenset(_IMPLICIT)
"""First characters of the plain scalars that may be something else than a string."""


def _any_of(patterns: list[tuple[Any, re.Pattern[str]]]) -> re.Pattern[str] | None:
    """One regex matching where any of ``patterns`` does (None if they cannot be joined)."""
    parts = []
    for _, pattern in patterns:
        if "#" in pattern.pattern:  # a verbose-mode comment would swallow what follows
            return None
        flag = "x" if pattern.flags & re.VERBOSE else "-x"
        parts.append(f"(?{flag}:{pattern.pattern})")
    try:
        return re.compile("|".join(parts))
    except re.error:  # pragma: no cover - PyYAML's patterns join; keep resolve() if not
        return None


_NOT_STR: Final = {first: _any_of(patterns) for first, patterns in _IMPLICIT.items()}
"""By first character: a regex matching the plain scalars PyYAML reads as something
else than a string (null, bool, int, float, timestamp, ``<<``...): one C call
instead of PyYAML's resolve() for the many plain strings that start alike."""
Event = Any
"""A PyYAML event: which attributes it has (``anchor``, ``tag``, ``value``) depends
on its class, which the builder tests with ``type(event) is ...``."""


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
    bad = _NON_PRINTABLE.search(text)  # one C-speed scan, located in characters
    if bad is not None:
        raise _bad_character(text, path, bad.start())
    doc = Document(None, path)
    parser = _parser(text)
    try:
        doc.data = _Builder(doc, parser.get_event).document()
    except yaml.MarkedYAMLError as exc:  # only the parser raises these: the builder never does
        raise _invalid(exc, path) from None
    except yaml.YAMLError as exc:
        raise SpecError(one_line(f"invalid YAML: {exc}"), path=path) from None
    finally:
        parser.dispose()
    return doc


def _parser(text: str) -> Any:
    """libyaml's event parser if PyYAML has it, else PyYAML's own (same events, slower)."""
    if LIBYAML:
        return yaml.CSafeLoader(text)
    return yaml.SafeLoader(text)


def _invalid(exc: yaml.MarkedYAMLError, path: str) -> SpecError:
    """A parse error, worded alike by libyaml and PyYAML ("did not find expected ..." too)."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    problem = problem.removeprefix("did not find ")
    if exc.context and problem.startswith("but "):  # "..., but found another document"
        problem = f"{exc.context}, {problem}"
    return _at(f"invalid YAML: {problem}", path, mark)


def _bad_character(text: str, path: str, at: int) -> SpecError:
    line = text.count("\n", 0, at) + 1
    column = at - text.rfind("\n", 0, at)
    message = f"invalid YAML: character U+{ord(text[at]):04X} is not allowed (a control character?)"
    return SpecError(message, path=path, line=line, column=column)


def _at(message: str, path: str, mark: Any) -> SpecError:
    """A ``SpecError`` at a PyYAML mark (``yaml.Mark``, or its C twin), if any."""
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return SpecError(one_line(message), path=path, line=line, column=column)


def _position(event: Event) -> tuple[int, int]:
    mark = event.start_mark
    return mark.line + 1, mark.column + 1


def _text_of(event: Event) -> str | None:
    """The string a scalar event is, when it is plainly one with no anchor; else None.

    Quoted (or ``!``-tagged) scalars are strings; a plain one is when its first
    character starts none of PyYAML's implicit patterns (most keys and values).
    ``tag()`` decides the rest.
    """
    if type(event) is not yaml.ScalarEvent or event.anchor is not None:
        return None
    tag = event.tag
    if tag is not None and tag != "!":
        return None
    text: str = event.value
    if not event.implicit[0] or _plainly_str(text):
        return text
    return None


def _plainly_str(text: str) -> bool:
    """Whether a plain scalar surely reads as a string (False: ask PyYAML's resolve())."""
    if _MAYBE_NOT_STR is None:  # a resolver for any first character: no shortcut
        return False
    first = text[:1]
    if first not in _MAYBE_NOT_STR:
        return True
    pattern = _NOT_STR[first]
    return pattern is not None and pattern.match(text) is None


class _Refused(Exception):
    """A value the loader will not build; the message says why."""


class _Scalars(yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """PyYAML's own rules for what a plain scalar is (``3``, ``true``, ``2024-01-01``)."""

    def __init__(self) -> None:
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


class _Builder:
    """Builds values straight from events, recording positions and problems.

    ``pull`` gives the next event: the parser's, or, while an alias is built,
    its anchor's recorded events. Every event read from the parser is also
    appended to the recordings of the anchors still open around it.
    """

    def __init__(self, doc: Document, events: Callable[[], Event]) -> None:
        self.doc = doc
        self.pull = events  # the parser's own get_event: no Python frame per event
        self.count = 0
        self.limit = MAX_NODES  # what ``count`` may reach: lower while an alias is replayed
        self.expand_left = MAX_EXPANDED
        self.anchors: dict[str, list[Event] | None] = {}  # None: still being read
        self.anchor_lines: dict[str, int] = {}
        self.recording: list[list[Event]] = []
        self.replaying = False
        self.scalars = _Scalars()

    def document(self) -> Any:
        """The one document's value (``None`` for an empty stream)."""
        self.next_event()  # StreamStart
        start = self.next_event()
        if type(start) is yaml.StreamEndEvent:
            return None
        data = self.value(self.next_event(), (), 0)
        self.next_event()  # DocumentEnd
        after = self.next_event()
        if type(after) is yaml.DocumentStartEvent:
            message = "invalid YAML: expected a single document in the stream, but found another"
            raise _at(f"{message} document", self.doc.path, after.start_mark)
        return data

    def next_event(self) -> Event:
        event = self.pull()
        if self.recording:
            for recorded in self.recording:
                recorded.append(event)
        return event

    def value(self, event: Event, loc: Loc, depth: int) -> Any:
        """The value that starts with ``event`` (its other events are read here)."""
        if type(event) is yaml.AliasEvent:
            return self.alias(event, loc, depth)
        self.count += 1
        if self.count > self.limit:
            message = (
                f"aliases expand to more than {MAX_EXPANDED:,} values (an alias bomb?)"
                if self.limit < MAX_NODES
                else f"document has more than {MAX_NODES:,} values"
            )
            raise _at(message, self.doc.path, event.start_mark)
        self.doc.positions.setdefault(loc, _position(event))
        recorded = self.open_anchor(event)
        try:
            return self.checked(event, loc, depth)
        finally:
            self.close_anchor(event, recorded)

    def checked(self, event: Event, loc: Loc, depth: int) -> Any:
        try:
            if type(event) is yaml.ScalarEvent:
                return self.scalar(event)
            self.check_depth(event, depth)
            kind = type(event)
            if kind is yaml.MappingStartEvent and event.tag in _MAPPING_TAGS:
                return self.mapping(loc, depth)
            if kind is yaml.SequenceStartEvent and event.tag in _SEQUENCE_TAGS:
                return self.sequence(loc, depth)
            self.skip_rest(depth)
            raise _Refused(f"unsupported tag {quote(event.tag)}: only plain YAML is allowed")
        except _Refused as exc:
            self.refuse(str(exc), event)
            self.doc.bad.add(loc)  # a placeholder stands there: say nothing more about it
            return None

    def check_depth(self, event: Event, depth: int) -> None:
        """Refuse a collection at ``depth`` (0: the document's own) past ``MAX_DEPTH``."""
        if depth >= MAX_DEPTH:
            raise _at(f"nesting deeper than {MAX_DEPTH} levels", self.doc.path, event.start_mark)

    def events(self) -> Callable[[], Event]:
        """What reads the events of the collection being built: the parser's own
        ``get_event`` (no Python frame per event) unless an anchor is recording.

        Fixed for the whole collection: an anchor or alias inside one of its
        values is closed, and ``pull`` restored, before the next is read.
        """
        return self.next_event if self.recording else self.pull

    def sequence(self, loc: Loc, depth: int) -> list[Any]:
        out: list[Any] = []
        pull = self.events()
        while type(event := pull()) is not yaml.SequenceEndEvent:
            out.append(self.value(event, (*loc, len(out)), depth + 1))
        return out

    def mapping(self, loc: Loc, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        positions = self.doc.positions
        pull = self.events()
        while type(key_event := pull()) is not yaml.MappingEndEvent:
            key = _text_of(key_event)
            if key is not None and key not in out:  # a plain string key, the common case
                self.count += 1
            else:
                try:
                    key = self.key(key_event, depth)
                    if key in out:
                        first = positions[(*loc, key)][0]
                        raise _Refused(f"duplicate key {quote(key)} (first at line {first})")
                except _Refused as exc:
                    self.refuse(str(exc), key_event)
                    self.skip(pull(), depth + 1)
                    continue
            child = (*loc, key)
            mark = key_event.start_mark
            positions[child] = (mark.line + 1, mark.column + 1)
            event = pull()
            text = _text_of(event)
            if text is None:
                out[key] = self.value(event, child, depth + 1)
                continue
            # a plain string value: what value() does, less what cannot apply (no
            # anchor to record, a position already set at the key's)
            self.count += 1
            if self.count > self.limit:
                self.value(event, child, depth + 1)  # raises, as any value would
            out[key] = text
        return out

    def key(self, event: Event, depth: int) -> Any:
        """A mapping key: a plain scalar (an alias to one will do), never ``<<``."""
        self.count += 1
        if type(event) is yaml.AliasEvent:
            recorded = self.anchors.get(str(event.anchor))
            if recorded is not None and len(recorded) == 1:
                event = recorded[0]  # an alias to a scalar
        if type(event) is not yaml.ScalarEvent:
            self.skip(event, depth + 1)
            raise _Refused("mapping keys must be plain scalars")
        if self.tag(event) == _MERGE:
            raise _Refused("merge keys (<<) are not supported: write the keys out")
        return self.scalar(event)

    def tag(self, event: Event) -> str:
        """A scalar's tag: as written, else by PyYAML's rules for plain scalars."""
        tag = event.tag
        if tag is not None and tag != "!":
            return str(tag)
        if not event.implicit[0]:
            return _STR  # quoted, or tagged "!": a string
        text = event.value
        if _plainly_str(text):
            return _STR  # most keys and values: no need to try PyYAML's patterns
        resolved = self.scalars.resolve(  # type: ignore[no-untyped-call]
            yaml.ScalarNode, text, (True, False)
        )
        return str(resolved)

    def scalar(self, event: Event) -> Any:
        tag = self.tag(event)
        if tag == _STR:
            return event.value
        kind = _SCALAR_TAGS.get(tag)
        if kind is None:
            raise _Refused(f"unsupported tag {quote(tag)}: only plain YAML is allowed")
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
        try:
            return self.scalars.yaml_constructors[tag](self.scalars, node)
        except (yaml.YAMLError, ValueError, LookupError, AttributeError, TypeError) as exc:
            # PyYAML's constructors trust the tag: "!!int abc" reaches int("abc")
            too_long = "digits" in str(exc)  # ValueError: Exceeds the limit (4300 digits)...
            detail = f" (over {sys.get_int_max_str_digits():,} digits)" if too_long else ""
            raise _Refused(f"{quote(event.value)} is not a valid {kind}{detail}") from None

    def refuse(self, message: str, event: Event) -> None:
        """Record a problem at ``event`` that does not stop the reading."""
        line, column = _position(event)
        self.doc.errors.append(
            SpecError(one_line(message), path=self.doc.path, line=line, column=column)
        )

    def skip(self, event: Event, depth: int) -> None:
        """Read past the value starting with ``event``, building nothing (anchors still count)."""
        if type(event) is yaml.AliasEvent:
            return
        recorded = self.open_anchor(event)
        try:
            if isinstance(event, _OPEN):
                self.check_depth(event, depth)
                self.skip_rest(depth)
        finally:
            self.close_anchor(event, recorded)

    def skip_rest(self, depth: int) -> None:
        """Read past the rest of a collection whose start was read."""
        while not isinstance(event := self.next_event(), _CLOSE):
            self.skip(event, depth + 1)

    def open_anchor(self, event: Event) -> list[Event] | None:
        """Start recording the events of an anchored value (not while replaying one)."""
        anchor = event.anchor
        if anchor is None or self.replaying:
            return None
        if anchor in self.anchor_lines:
            message = f"duplicate anchor &{anchor} (first at line {self.anchor_lines[anchor]})"
            raise _at(one_line(message), self.doc.path, event.start_mark)
        self.anchor_lines[anchor] = event.start_mark.line + 1
        self.anchors[anchor] = None
        recorded = [event]
        self.recording.append(recorded)
        return recorded

    def close_anchor(self, event: Event, recorded: list[Event] | None) -> None:
        if recorded is not None:
            innermost = self.recording.pop()  # anchors nest as the values do
            assert innermost is recorded
            self.anchors[event.anchor] = recorded

    def alias(self, event: Event, loc: Loc, depth: int) -> Any:
        """The anchored value again, from its recorded events (counted and depth-checked)."""
        if event.anchor not in self.anchors:
            message = f"invalid YAML: found undefined alias {quote(event.anchor)}"
            raise _at(message, self.doc.path, event.start_mark)
        recorded = self.anchors[event.anchor]
        if recorded is None:  # *x inside &x: as deep as one cares to expand it
            message = f"nesting deeper than {MAX_DEPTH} levels (alias *{event.anchor} is in itself)"
            raise _at(one_line(message), self.doc.path, event.start_mark)
        saved = self.pull, self.replaying, self.recording
        outermost = not self.replaying
        if outermost:  # (what it builds counts against the aliases' budget too)
            before, self.limit = self.count, min(MAX_NODES, self.count + self.expand_left)
        # the open anchors recorded the alias itself, not what it stands for
        self.pull, self.replaying, self.recording = iter(recorded).__next__, True, []
        try:
            return self.value(self.pull(), loc, depth)
        finally:
            self.pull, self.replaying, self.recording = saved
            if outermost:
                self.expand_left -= self.count - before
                self.limit = MAX_NODES

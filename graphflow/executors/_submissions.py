"""How ``DaskExecutor`` groups the tasks of one loop tick into graph updates.

Pure: no Dask, no event loop. See the ``graphflow.executors.dask`` docstring.
"""

from __future__ import annotations

from typing import Any, final

import anyio

BATCH_MAX = 64
"""Tasks in one graph update (one ``client.map``)."""

PLAIN_MAX = 65_536
"""Bytes (roughly, as pickled) a batched call's arguments may hold: so that an
update of ``BATCH_MAX`` calls stays well under distributed's 10 MB
large-graph warning; bigger arguments go in an update of their own."""

_SCALARS = frozenset({int, float, bool, type(None)})


@final
class Submission:
    """One attempt's task, waiting for the end of its loop tick to be submitted."""

    __slots__ = ("dropped", "error", "future", "key", "node_id", "resources", "sent", "task")

    def __init__(
        self,
        task: tuple[Any, ...],
        key: str,
        node_id: str,
        resources: dict[str, float] | None,
    ) -> None:
        self.task = task  # (function, *its arguments): what ``client.submit`` takes
        self.key = key
        self.node_id = node_id
        self.resources = resources
        self.future: Any = None  # its ``distributed.Future``, once submitted
        self.error: Exception | None = None  # why it was not submitted
        self.sent = True  # False: the executor could not send anything (it closed)
        self.dropped = False  # its attempt stopped before the tick ended: not submitted


@final
class Tick:
    """The submissions of one loop tick, sent together."""

    __slots__ = ("done", "items")

    def __init__(self) -> None:
        self.items: list[Submission] = []
        self.done = anyio.Event()


def updates(items: list[Submission]) -> list[list[Submission]]:
    """The graph updates ``items`` go in, in the order they came.

    Calls of one tool with the same resources whose arguments are small plain
    data share an update (at most ``BATCH_MAX``); any other call has one of
    its own: an update fails as a whole when one of its tasks does not pickle,
    or loses a dependency (a Dask future the scheduler no longer holds).
    """
    groups: dict[tuple[Any, ...], list[Submission]] = {}
    for item in items:
        if item.dropped:
            continue
        if _plain_size(item.task[-1], PLAIN_MAX) < 0:
            groups[(id(item),)] = [item]
            continue
        needs = tuple(sorted(item.resources.items())) if item.resources else ()
        groups.setdefault((*map(id, item.task[:-1]), needs), []).append(item)
    return [
        group[start : start + BATCH_MAX]
        for group in groups.values()
        for start in range(0, len(group), BATCH_MAX)
    ]


def _plain_size(value: Any, limit: int, depth: int = 0) -> int:
    """Roughly ``value``'s size as pickled, if it is plain data no bigger than
    ``limit`` (str, bytes, int, float, bool, None, and lists, tuples and dicts
    of them, nested four levels in the arguments' dict); else -1. Plain data
    always pickles."""
    kind = type(value)
    if kind is int:
        size: int = value.bit_length() // 8 + 8
    elif kind in _SCALARS:
        size = 8
    elif kind is bytes:
        size = len(value) + 8
    elif kind is str:  # (pickled as UTF-8: up to 4 bytes a character)
        size = (len(value) if value.isascii() else 4 * len(value)) + 8
    else:
        size = -1
    if size >= 0:
        return size if size <= limit else -1
    if depth > 4 or not (kind is dict or kind is list or kind is tuple):
        return -1
    size = 8
    for element in value.items() if kind is dict else value:
        left = limit - size
        if kind is dict:  # (key, value): the key a scalar or a string
            key, element = element
            plain_key = type(key) is str or type(key) in _SCALARS
            key_size = _plain_size(key, limit) if plain_key else -1
            if key_size < 0:
                return -1
            left -= key_size
        part = _plain_size(element, left, depth + 1)
        if part < 0:
            return -1
        size = limit - left + part
        if size > limit:
            return -1
    return size

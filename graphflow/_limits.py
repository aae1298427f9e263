"""Limits on how many nodes of a group run at once, without holding a worker.

A node may belong to several limits (a fan-out's ``max_parallel``; later, a
tool's limit or a shared pool). A node starts only when *every* one of its
limits has room, and then takes a slot in all of them at once. The scheduler
is single-threaded between awaits, so "check all, then take all" is atomic:
no node ever holds one slot while waiting for another, hence no deadlock,
whatever order limits are declared in.

A node that cannot start is *parked* on the first full limit (no task, no
worker held); when a slot frees, parked nodes take it in the order they were
parked and are handed back to the scheduler already holding their slots.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import final


@final
class Limit:
    """At most ``capacity`` nodes holding this limit run at once."""

    __slots__ = ("capacity", "name", "parked", "used")

    def __init__(self, name: str, capacity: int) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"limit {name!r}: capacity must be an int >= 1, got {capacity!r}")
        self.name = name
        self.capacity = capacity
        self.used = 0
        self.parked: deque[int] = deque()

    def __repr__(self) -> str:
        return f"<Limit {self.name!r} {self.used}/{self.capacity}>"


def try_acquire(node: int, limits: Sequence[Limit]) -> bool:
    """Take a slot in every limit, or park ``node`` on the first full one and return False."""
    for limit in limits:
        if limit.used >= limit.capacity:
            limit.parked.append(node)
            return False
    for limit in limits:
        limit.used += 1
    return True


def release(limits: Sequence[Limit], limits_of: Callable[[int], Sequence[Limit]]) -> list[int]:
    """Give back a slot in each of ``limits``; return parked nodes that now hold their slots.

    Each freed limit is drained while it has room: a parked node that is still
    blocked by another of its limits is parked there instead — on a limit that
    is full, so its own release will try the node again. Nothing stalls.
    """
    started: list[int] = []
    for limit in limits:
        limit.used -= 1
    for limit in limits:
        while limit.parked and limit.used < limit.capacity:
            node = limit.parked.popleft()
            if try_acquire(node, limits_of(node)):
                started.append(node)
    return started

"""Limits and resource locks: what a node must hold while it runs.

A node *claims* resources before it starts:
  ``Limit``   a counting limit: a fan-out's ``max_parallel``, a tool's
              ``limit=2``, or a named pool shared by several tools
              ("this API key allows 5 requests at once");
  ``RWLock``  a resource key (``"customer:42"``): any number of readers, or
              one writer; a write never overlaps a read or another write.

No deadlock, whatever the order claims are declared in: a node takes *all* of
its claims at once or none. The scheduler is single-threaded between awaits,
so "check every claim, then take every claim" is atomic, and no node ever
holds one resource while it waits for another (no hold-and-wait, so no cycle
of waiters can form).

A node that cannot take its claims is *parked* on the first resource that
blocks it: no task, no worker held. Queues are first-come first-served: while
a resource has nodes parked on it, newcomers park behind them, so a waiting
writer is not starved by a stream of readers. When a resource is given back,
its queue is drained from the head while the head can take all its claims; a
head blocked by another resource moves to that resource's queue. Invariant:
a resource with a non-empty queue is held by someone (whose release will drain
it), so nothing stalls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, final

from .errors import OptionError, ResourceKeyError

if TYPE_CHECKING:
    from ._spec import NodeSpec

SLOT: Final = 0
READ: Final = 1
WRITE: Final = 2


class _Resource:
    __slots__ = ("name", "parked")

    def __init__(self, name: str) -> None:
        self.name = name
        self.parked: deque[int] = deque()

    def fits(self, mode: int) -> bool:
        raise NotImplementedError

    def take(self, mode: int) -> None:
        raise NotImplementedError

    def give(self, mode: int) -> None:
        raise NotImplementedError


@final
class Limit(_Resource):
    """At most ``capacity`` nodes holding this limit run at once."""

    __slots__ = ("capacity", "used")

    def __init__(self, name: str, capacity: int) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"limit {name!r}: capacity must be an int >= 1, got {capacity!r}")
        super().__init__(name)
        self.capacity = capacity
        self.used = 0

    def fits(self, mode: int) -> bool:
        return self.used < self.capacity

    def take(self, mode: int) -> None:
        self.used += 1

    def give(self, mode: int) -> None:
        self.used -= 1

    def __repr__(self) -> str:
        return f"<Limit {self.name!r} {self.used}/{self.capacity}>"


@final
class RWLock(_Resource):
    """Many readers or one writer."""

    __slots__ = ("readers", "writer")

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.readers = 0
        self.writer = False

    def fits(self, mode: int) -> bool:
        return not self.writer and (mode == READ or self.readers == 0)

    def take(self, mode: int) -> None:
        if mode == WRITE:
            self.writer = True
        else:
            self.readers += 1

    def give(self, mode: int) -> None:
        if mode == WRITE:
            self.writer = False
        else:
            self.readers -= 1

    def idle(self) -> bool:
        return not self.writer and not self.readers and not self.parked

    def __repr__(self) -> str:
        return f"<RWLock {self.name!r} readers={self.readers} writer={self.writer}>"


ClaimList = Sequence[tuple[_Resource, int]]


def _blocker(claims: ClaimList, fifo: bool) -> _Resource | None:
    for resource, mode in claims:
        if not resource.fits(mode) or (fifo and resource.parked):
            return resource
    return None


def try_acquire(node: int, claims: ClaimList) -> bool:
    """Take every claim, or park ``node`` on the first resource that blocks it."""
    blocker = _blocker(claims, fifo=True)
    if blocker is not None:
        blocker.parked.append(node)
        return False
    for resource, mode in claims:
        resource.take(mode)
    return True


def release(claims: ClaimList, claims_of: Callable[[int], ClaimList]) -> list[int]:
    """Give back ``claims``; return the parked nodes that now hold all of theirs."""
    for resource, mode in claims:
        resource.give(mode)
    started: list[int] = []
    for resource, _ in claims:
        queue = resource.parked
        while queue:
            head = queue[0]
            wanted = claims_of(head)
            blocker = _blocker(wanted, fifo=False)
            if blocker is resource:
                break  # first come, first served: the head waits for this one
            queue.popleft()
            if blocker is not None:
                blocker.parked.append(head)
                continue
            for r, mode in wanted:
                r.take(mode)
            started.append(head)
    return started


class ResourceBook:
    """The limits and locks of one run, and which node holds or waits for what."""

    def __init__(self, capacities: dict[str, int]) -> None:
        self.limits = {name: Limit(name, cap) for name, cap in capacities.items()}
        self.locks: dict[str, RWLock] = {}  # never dropped: cached claims may name them
        self.claims: dict[int, list[tuple[_Resource, int]]] = {}
        self.holding: set[int] = set()

    def add_limit(self, name: str, capacity: int) -> None:
        self.limits[name] = Limit(name, capacity)

    def missing(self, names: Sequence[str]) -> str | None:
        """The first of ``names`` that has no size, if any."""
        return next((n for n in names if n not in self.limits), None)

    def prepare(self, node: int, limits: Sequence[str], keys: dict[str, int]) -> None:
        """Record what ``node`` claims: slots in ``limits``, and ``keys`` in READ/WRITE mode."""
        claims: list[tuple[_Resource, int]] = [(self.limits[n], SLOT) for n in limits]
        for key, mode in keys.items():
            lock = self.locks.get(key)
            if lock is None:
                lock = self.locks[key] = RWLock(key)
            claims.append((lock, mode))
        self.claims[node] = claims

    def prepared(self, node: int) -> bool:
        return node in self.claims

    def acquire(self, node: int) -> bool:
        """True when ``node`` holds all its claims (now or already); False: it is parked."""
        if node in self.holding:
            return True
        claims = self.claims.get(node)
        if not claims:
            return True
        if try_acquire(node, claims):
            self.holding.add(node)
            return True
        return False

    def release(self, node: int, done: bool) -> list[int]:
        """``node`` lets go (``done``: for good); return the parked nodes that now hold theirs."""
        claims = self.claims.pop(node, None) if done else self.claims.get(node)
        if node not in self.holding or not claims:
            return []
        self.holding.discard(node)
        started = release(claims, self.claims.__getitem__)
        self.holding.update(started)
        return started


NOT_RENDERED: Final = object()
"""``Claims.rendered``: the node's arguments were not rendered early."""


class Claims:
    """What the nodes of one run claim and hold: ``RunState``'s part about resources.

    A node's resource keys are formatted from its arguments, so those are
    rendered when it first claims (``take``) and kept for its attempt
    (``rendered``); a key that cannot be formatted is kept as the error that
    attempt raises (a ``ResourceKeyError``: never retried).
    """

    __slots__ = ("book", "errors", "kwargs", "used")

    def __init__(self, capacities: Mapping[str, int]) -> None:
        self.book = ResourceBook(dict(capacities))
        self.used = False  # does any node claim a limit or a resource key?
        self.kwargs: dict[int, Any] = {}
        self.errors: dict[int, Exception] = {}

    def check(self, spec: NodeSpec) -> None:
        """Refuse a node that claims a pool without a size; note that claims are in use."""
        if not (spec.limits or spec.writes or spec.reads):
            return
        missing = self.book.missing(spec.limits)
        if missing is not None:
            raise OptionError(
                "limits",
                missing,
                f"node {spec.node_id!r} needs a size for the pool {missing!r} "
                f"(pass limits={{{missing!r}: N}} to Graph() or run())",
                got="none",
            )
        self.used = True

    def take(self, i: int, spec: NodeSpec, render: Callable[[NodeSpec], Any]) -> bool:
        """Node ``i`` takes all its claims or none; False: it is parked until released."""
        if not self.book.prepared(i):
            self.book.prepare(i, spec.limits, self._keys(i, spec, render))
        return self.book.acquire(i)

    def rendered(self, i: int) -> Any:
        """The arguments rendered when ``i`` claimed (or raise what rendering raised)."""
        if i in self.errors:
            raise self.errors.pop(i)
        return self.kwargs.pop(i, NOT_RENDERED)

    def release(self, i: int, done: bool) -> list[int]:
        """``i`` lets go (``done``: for good); the parked nodes that now hold theirs."""
        return self.book.release(i, done)

    def _keys(self, i: int, spec: NodeSpec, render: Callable[[NodeSpec], Any]) -> dict[str, int]:
        if not (spec.writes or spec.reads):
            return {}
        try:
            kwargs = self.kwargs[i] = render(spec)
            keys = {_format_key(t, kwargs, "reads"): READ for t in spec.reads}
            keys.update({_format_key(t, kwargs, "writes"): WRITE for t in spec.writes})
        except Exception as exc:  # raised by the node's attempt: it then fails
            self.kwargs.pop(i, None)
            self.errors[i] = exc
            return {}
        return keys


def _format_key(template: str, kwargs: Any, kind: str) -> str:
    try:
        return template.format_map(kwargs)
    except Exception as exc:  # an input error: never retried (a retry would hold no lock)
        raise ResourceKeyError(
            f"{kind}={template!r}: cannot format it from the arguments ({exc!r})"[:300]
        ) from None

"""In-degree bookkeeping for one run: which nodes are ready, which must be skipped.

Pure and synchronous (no event loop), O(1) per edge, in the spirit of
graphlib's prepare/get_ready/done. Nodes are integers 0..n-1.

Per node it keeps:
  ``pending[i]``  upstream nodes of i that have not finished yet (Kahn's in-degree);
  ``state[i]``    WAITING, then HANDED_OUT (ready, given to the scheduler), then
                  FINISHED — or straight from WAITING to FINISHED when skipped;
  ``cause[i]``    for a node skipped because of a failure upstream, the node at
                  the root of it (the failed one), so every skip can name it.

Skips are eager: when a node fails, each ``all_success`` dependent is skipped at
once (not when its last upstream finishes), and so on down. An ``all_done``
dependent only counts the failure as "finished" and waits for the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

WAITING: Final = 0
HANDED_OUT: Final = 1
FINISHED: Final = 2
READY: Final = 3  # outcomes of add()
SKIP: Final = 4


class ReadyTracker:
    """Which nodes may start now, given which have finished and how."""

    __slots__ = ("_remaining", "all_done", "cause", "dependents", "pending", "state", "succeeded")

    def __init__(
        self,
        deps: Sequence[Sequence[int]],
        dependents: list[Sequence[int]],
        all_done: list[bool],
    ) -> None:
        """``dependents`` and ``all_done`` are kept, not copied: copy them first if
        nodes will be added (``add``) and the lists are shared with another run."""
        self.pending = [len(d) for d in deps]
        self.state = bytearray(len(deps))
        self.succeeded = bytearray(len(deps))
        self.cause: list[int] = [-1] * len(deps)
        self.dependents = dependents
        self.all_done = all_done
        self._remaining = len(deps)

    def start(self) -> list[int]:
        """The nodes with no upstream at all: ready at once."""
        ready = [i for i, n in enumerate(self.pending) if n == 0]
        for i in ready:
            self.state[i] = HANDED_OUT
        return ready

    @property
    def remaining(self) -> int:
        """Nodes not finished yet."""
        return self._remaining

    def done(self, i: int, ok: bool, skipped: list[tuple[int, int]] | None = None) -> list[int]:
        """Node ``i`` finished (``ok``: succeeded). Returns the nodes now ready.

        When ``i`` did not succeed, the ``all_success`` nodes downstream of it are
        finished as skipped right here and appended to ``skipped`` as
        ``(node, direct_upstream)``; look up ``cause[node]`` for the root.
        """
        ready: list[int] = []
        self._finish(i)
        if ok:
            self.succeeded[i] = 1
            for d in self.dependents[i]:
                self._count_down(d, ready)
            return ready
        if skipped is None:
            skipped = []
        self.cause[i] = i if self.cause[i] < 0 else self.cause[i]
        stack = [i]
        while stack:
            failed = stack.pop()
            for d in self.dependents[failed]:
                if self.state[d] == FINISHED:
                    continue
                if self.all_done[d]:
                    self._count_down(d, ready)
                    continue
                self.cause[d] = self.cause[failed]
                self._finish(d)
                skipped.append((d, failed))
                stack.append(d)
        return ready

    def add(self, deps: Sequence[int], all_done: bool) -> tuple[int, int]:
        """Add a node while the run goes on; deps must be known nodes.

        Returns ``(outcome, upstream)``: outcome READY (handed out now), WAITING,
        or SKIP when an upstream already failed (``upstream`` names it; the
        caller records the skip and calls ``done(node, False)``).
        """
        node = len(self.pending)
        self.pending.append(0)
        self.state.append(WAITING)
        self.succeeded.append(0)
        self.cause.append(-1)
        self.dependents.append([])
        self.all_done.append(all_done)
        self._remaining += 1
        outcome, upstream = self.add_deps(node, deps)
        if outcome == WAITING and self.pending[node] == 0:
            self.state[node] = HANDED_OUT
            return READY, -1
        return outcome, upstream

    def _row(self, d: int) -> list[int]:
        """Node ``d``'s dependents as a list to add to (a plan's are tuples: copied once)."""
        row = self.dependents[d]
        if not isinstance(row, list):
            row = self.dependents[d] = list(row)
        return row

    def add_deps(self, node: int, deps: Sequence[int]) -> tuple[int, int]:
        """Make a waiting ``node`` also wait for ``deps`` (a gather getting its items)."""
        for d in deps:
            if self.state[d] != FINISHED:
                self.pending[node] += 1
                self._row(d).append(node)
            elif not self.succeeded[d] and not self.all_done[node]:
                self.cause[node] = self.cause[d] if self.cause[d] >= 0 else d
                return SKIP, d
        return WAITING, -1

    def block(self, node: int) -> None:
        """Keep a waiting ``node`` waiting until ``unblock`` (a gather whose items are made)."""
        self.pending[node] += 1

    def unblock(self, node: int) -> list[int]:
        """Undo one ``block``; returns ``[node]`` if it is ready now."""
        ready: list[int] = []
        self._count_down(node, ready)
        return ready

    def finish_unstarted(self) -> list[int]:
        """Mark every node not handed out as finished (the run is ending) and return them."""
        left = [i for i, s in enumerate(self.state) if s == WAITING]
        for i in left:
            self._finish(i)
        return left

    def _finish(self, i: int) -> None:
        if self.state[i] != FINISHED:
            self.state[i] = FINISHED
            self._remaining -= 1

    def _count_down(self, d: int, ready: list[int]) -> None:
        self.pending[d] -= 1
        if self.pending[d] == 0 and self.state[d] == WAITING:
            self.state[d] = HANDED_OUT
            ready.append(d)

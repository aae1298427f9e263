"""The pure bookkeeping: no event loop involved."""

from __future__ import annotations

from collections.abc import Sequence

from graphflow._ready import ReadyTracker


def tracker(deps: list[tuple[int, ...]], all_done: set[int] = frozenset()) -> ReadyTracker:  # type: ignore[assignment]
    dependents: list[list[int]] = [[] for _ in deps]
    for i, row in enumerate(deps):
        for d in row:
            dependents[d].append(i)
    rows: list[Sequence[int]] = [tuple(r) for r in dependents]  # (as a plan has them)
    return ReadyTracker(deps, rows, [i in all_done for i in range(len(deps))])


class TestReadyTracker:
    def test_releases_a_node_when_its_own_deps_are_done(self) -> None:
        # 0 -> 2, 1 -> 3: node 2 is ready as soon as 0 is done, whatever 1 does
        t = tracker([(), (), (0,), (1,)])
        assert t.start() == [0, 1]
        assert t.done(0, True) == [2]
        assert t.done(2, True) == []
        assert t.done(1, True) == [3]
        assert t.remaining == 1

    def test_join_waits_for_every_upstream(self) -> None:
        t = tracker([(), (), (0, 1)])
        t.start()
        assert t.done(1, True) == []
        assert t.done(0, True) == [2]

    def test_failure_skips_all_success_descendants_at_once(self) -> None:
        # 0 fails; 2 needs 0 and 1 (1 still running); 3 needs 2
        t = tracker([(), (), (0, 1), (2,)])
        t.start()
        skipped: list[tuple[int, int]] = []
        assert t.done(0, False, skipped) == []
        assert skipped == [(2, 0), (3, 2)]
        assert t.cause[3] == 0
        assert t.done(1, True) == []  # 2 is finished already: not handed out again
        assert t.remaining == 0

    def test_all_done_node_runs_after_a_failure_and_shields_its_descendants(self) -> None:
        t = tracker([(), (0,), (1,)], all_done={1})
        t.start()
        skipped: list[tuple[int, int]] = []
        assert t.done(0, False, skipped) == [1]
        assert skipped == []
        assert t.done(1, True) == [2]

    def test_finish_unstarted(self) -> None:
        t = tracker([(), (0,), (1,)])
        t.start()
        assert t.finish_unstarted() == [1, 2]
        assert t.remaining == 1

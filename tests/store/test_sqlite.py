"""``SQLiteStore`` through ``graphflow.run``: resume by id and ``last``, for_each items
resumed one by one, refusals naming what changed, reading (``runs``, ``result``,
``nodes``, ``gc``), outputs JSON cannot hold, and a store that fails mid-run.
A real SQLite file each time; the CLI and real processes are in ``tests/cli``."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

import graphflow as gf
from graphflow import EventSinkError
from graphflow import NodeStatus as S
from graphflow.store import SQLiteStore, StoreError, UnstorableOutputError, open_conversation

from . import crash

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.anyio


class Tools:
    """Tools that count their calls; ``failing`` names the calls that raise."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.failing: set[str] = set()

    def step(self, name: str, x: Any = None) -> str:
        self.calls[name] += 1
        if name in self.failing:
            raise RuntimeError(f"{name} failed")
        return name

    async def item(self, i: int) -> int:
        self.calls[f"item {i}"] += 1
        if f"item {i}" in self.failing:
            raise RuntimeError(f"item {i} failed")
        return i * 10

    def chain(self, b_args: dict[str, Any] | None = None) -> gf.Graph:
        """a -> b -> c."""
        g = gf.Graph()
        g.add("a", self.step, args={"name": "a"})
        g.add("b", self.step, args={"name": "b", "x": "${a}", **(b_args or {})})
        g.add("c", self.step, args={"name": "c", "x": "${b}"})
        return g


def resume_and_die(db: Path, flag: Path) -> None:
    """Resume the latest ``crash`` run in a real process that SIGKILLs itself mid-run."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.store.crash", str(db), str(flag)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def tools() -> Tools:
    return Tools()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


class TestResume:
    async def test_by_id_runs_only_what_did_not_succeed(self, tools: Tools, db: Path) -> None:
        tools.failing = {"b"}
        first = await gf.run(tools.chain(), store=db)
        assert [first[n].status for n in "abc"] == [S.SUCCEEDED, S.FAILED, S.SKIPPED]
        tools.failing = set()
        again = await gf.run(tools.chain(), store=db, resume=first.run_id)
        assert again.run_id == first.run_id and again.passed
        assert tools.calls == {"a": 1, "b": 2, "c": 1}
        assert again["a"].output == "a" and again["c"].output == "c"
        [record] = SQLiteStore(db).runs()
        assert (record.status, record.resumed, record.counts) == ("succeeded", 1, {"succeeded": 3})

    async def test_last_is_the_latest_run_of_the_same_workflow(
        self, tools: Tools, db: Path
    ) -> None:
        tools.failing = {"b"}
        mine = await gf.run(tools.chain(), store=db, workflow="mine")
        await gf.run(tools.chain(), store=db, workflow="other")
        tools.failing = set()
        again = await gf.run(tools.chain(), store=db, workflow="mine", resume="last")
        assert again.run_id == mine.run_id and again.passed
        assert SQLiteStore(db).latest("other") != mine.run_id
        with pytest.raises(StoreError, match=r"no earlier run of 'third' to resume$"):
            await gf.run(tools.chain(), store=db, workflow="third", resume="last")

    async def test_another_workflows_run_is_refused_unless_forced_then_it_is_this_ones(
        self, tools: Tools, db: Path
    ) -> None:
        """--force with another file's run took it over while it stayed listed as the
        other's; forcing is for a renamed or moved file: the run moves with it."""
        tools.failing = {"c"}
        theirs = await gf.run(tools.chain(), store=db, workflow="theirs")
        with pytest.raises(StoreError) as refused:
            await gf.run(tools.chain(), store=db, workflow="mine", resume=theirs.run_id)
        assert str(refused.value) == (
            f"run store {db}: run {theirs.run_id!r} is of workflow 'theirs', not 'mine':"
            " resume it with that one (force=True, or --force, makes it this one's:"
            " a renamed or moved file)"
        )
        assert tools.calls == {"a": 1, "b": 1, "c": 1}
        tools.failing = set()
        forced = await gf.run(
            tools.chain(), store=db, workflow="mine", resume=theirs.run_id, force=True
        )
        assert forced.passed and tools.calls == {"a": 1, "b": 1, "c": 2}
        assert [(r.run_id, r.workflow) for r in SQLiteStore(db).runs()] == [(theirs.run_id, "mine")]

    async def test_for_each_items_resume_one_by_one(self, tools: Tools, db: Path) -> None:
        def graph() -> gf.Graph:
            g = gf.Graph()
            g.add("each", tools.item, for_each=[0, 1, 2, 3, 4], args={"i": "${item}"})
            g.add("total", lambda xs: sum(xs), args={"xs": "${each}"})
            return g

        tools.failing = {"item 2", "item 4"}
        first = await gf.run(graph(), store=db)
        assert first["total"].status is S.SKIPPED
        tools.failing = set()
        again = await gf.run(graph(), store=db, resume=first.run_id)
        assert again["total"].output == 100
        assert tools.calls == {"item 0": 1, "item 1": 1, "item 2": 2, "item 3": 1, "item 4": 2}

    async def test_a_changed_for_each_list_is_refused_and_forced_reruns_the_changed_items(
        self, tools: Tools, db: Path
    ) -> None:
        """Items call the same tool with the same ``${item}`` arguments: their values
        tell them apart (a changed list was resumed with the old items' outputs)."""

        def graph(values: list[int]) -> gf.Graph:
            g = gf.Graph()
            g.add("each", tools.item, for_each=values, args={"i": "${item}"})
            g.add("after", tools.step, args={"name": "after", "x": "${each}"})
            return g

        tools.failing = {"after"}
        first = await gf.run(graph([1, 2, 3]), store=db)
        tools.failing = set()
        with pytest.raises(StoreError, match=r": changed 'each\[2\]', 'each', 'after' \(force"):
            await gf.run(graph([1, 2, 5]), store=db, resume=first.run_id)
        forced = await gf.run(graph([1, 2, 5]), store=db, resume=first.run_id, force=True)
        assert forced["each"].output == [10, 20, 50]  # not the stored [10, 20, 30]
        assert tools.calls == {"item 1": 1, "item 2": 1, "item 3": 1, "item 5": 1, "after": 2}

    async def test_a_changed_node_is_refused_naming_it_and_its_dependents(
        self, tools: Tools, db: Path
    ) -> None:
        tools.failing = {"c"}
        first = await gf.run(tools.chain(), store=db)
        changed = tools.chain(b_args={"x": ["${a}", 1]})
        changed.add("d", tools.step, args={"name": "d"})
        with pytest.raises(StoreError) as refused:
            await gf.run(changed, store=db, resume=first.run_id)
        assert str(refused.value) == (
            f"run store {db}: cannot resume {first.run_id!r}: changed 'b', 'c'; new 'd'"
            " (force=True, or --force, resumes it anyway)"
        )
        assert tools.calls == {"a": 1, "b": 1, "c": 1}  # nothing ran
        tools.failing = set()
        forced = await gf.run(changed, store=db, resume=first.run_id, force=True)
        assert forced.passed
        assert tools.calls == {"a": 1, "b": 2, "c": 2, "d": 1}  # a is the same: not again

    async def test_a_changed_for_each_made_at_run_time_is_refused_and_forced_reruns_its_items(
        self, tools: Tools, db: Path
    ) -> None:
        """Its items exist only once their source succeeded, so they have no
        fingerprint of their own: they follow their for_each node's."""

        def graph(k: int) -> gf.Graph:
            g = gf.Graph()
            g.add("src", lambda: [1, 2, 3])
            g.add("each", lambda i, k: i * k, for_each="${src}", args={"i": "${item}", "k": k})
            g.add("after", tools.step, args={"name": "after", "x": "${each}"})
            return g

        tools.failing = {"after"}
        first = await gf.run(graph(1), store=db)
        tools.failing = set()
        refused = r": changed 'each', 'after' \(force=True, or --force, resumes"
        with pytest.raises(StoreError, match=refused):
            await gf.run(graph(2), store=db, resume=first.run_id)
        forced = await gf.run(graph(2), store=db, resume=first.run_id, force=True)
        assert forced["each"].output == [2, 4, 6]  # not the stored [1, 2, 3]
        assert forced["after"].output == "after"

    def test_a_forced_resume_that_died_leaves_no_stale_success(self, tmp_path: Path) -> None:
        """A forced resume records the new fingerprints at once; if it dies before
        rerunning a changed node, that node's old success must not pass for the new
        node's at the next resume (which needs no force: nothing changes any more)."""
        db, flag = tmp_path / "runs.db", tmp_path / "die"
        first = gf.run_sync(crash.graph(1, str(flag)), store=db, workflow="crash")
        assert first["b"].output == 1 and not first.passed
        flag.touch()
        resume_and_die(db, flag)
        flag.unlink()
        again = gf.run_sync(crash.graph(2, str(flag)), store=db, workflow="crash", resume="last")
        assert again["b"].output == 2 and again["c"].output == 2

    async def test_a_run_another_machine_was_running_is_resumed_only_by_force(
        self, tools: Tools, db: Path
    ) -> None:
        """Its process cannot be checked from here (a container has a new host name
        each time it starts): refused, saying how to go on; forced, resumed."""
        tools.failing = {"b"}
        first = await gf.run(tools.chain(), store=db)
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE runs SET status = 'running', host = 'gone', pid = 42")
        conn.close()
        with pytest.raises(StoreError) as refused:
            await gf.run(tools.chain(), store=db, resume="last")
        assert str(refused.value).endswith(
            f"run {first.run_id!r} is still running (process 42 on gone), or was when that"
            " machine stopped: force=True, or --force, resumes it anyway"
        )
        tools.failing = set()
        again = await gf.run(tools.chain(), store=db, resume="last", force=True)
        assert again.passed and tools.calls == {"a": 1, "b": 2, "c": 1}

    async def test_other_labels_are_refused_and_a_forced_resume_keeps_its_own(
        self, tools: Tools, db: Path
    ) -> None:
        tools.failing = {"b"}
        first = await gf.run(tools.chain(), store=db, labels={"inputs": "1"})
        refused = r"different inputs \(force=True, or --force, resumes it anyway\)$"
        with pytest.raises(StoreError, match=refused):
            await gf.run(tools.chain(), store=db, resume=first.run_id, labels={"inputs": "2"})
        two = {"inputs": "2"}
        await gf.run(tools.chain(), store=db, resume=first.run_id, labels=two, force=True)
        assert SQLiteStore(db).runs()[0].labels == two  # what the run now is
        await gf.run(tools.chain(), store=db, resume=first.run_id, labels=two)  # no force needed
        with pytest.raises(StoreError, match=r"different inputs"):
            await gf.run(tools.chain(), store=db, resume=first.run_id, labels={"inputs": "1"})

    async def test_an_unknown_or_taken_run_id(self, tools: Tools, db: Path) -> None:
        for run in ("nope", "last"):
            with pytest.raises(StoreError, match=r"no runs stored here yet: nothing to resume$"):
                await gf.run(tools.chain(), store=db, resume=run)
        assert not db.exists(), "a refused resume created the store"  # noqa: ASYNC240
        first = await gf.run(tools.chain(), store=db)
        with pytest.raises(StoreError, match=r"no run 'nope' to resume$"):
            await gf.run(tools.chain(), store=db, resume="nope")
        with pytest.raises(StoreError, match=r"exists already: resume it, or choose another id$"):
            await gf.run(tools.chain(), store=db, run_id=first.run_id)
        assert tools.calls == {"a": 1, "b": 1, "c": 1}


class TestCancelled:
    async def test_a_cancelled_run_records_every_node_and_resumes(
        self, tools: Tools, db: Path
    ) -> None:
        """The cancellation comes as ``stop`` returns, before its success is committed:
        that success, the cancelled ``wait`` and the skipped ``after`` are all written
        by the time the run closes, with its status."""
        started, release = anyio.Event(), anyio.Event()
        scopes: list[anyio.CancelScope] = []

        async def wait(name: str) -> str:
            tools.calls[name] += 1
            started.set()
            await release.wait()
            return name

        async def stop(name: str, x: Any = None) -> str:
            tools.calls[name] += 1
            await started.wait()
            if scopes:
                scopes.pop().cancel()  # (no checkpoint until the driver has its output)
            return name

        g = tools.chain()
        g.add("wait", wait, args={"name": "wait"}, depends_on=["a"])
        g.add("stop", stop, args={"name": "stop", "x": "${a}"})
        g.add("after", tools.step, args={"name": "after", "x": ["${wait}", "${stop}"]})
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await gf.run(g, store=db, run_id="r1")
        rows = {n["node_id"]: n["status"] for n in SQLiteStore(db).nodes("r1")}
        assert {k: rows.get(k) for k in ("a", "stop", "wait", "after")} == {
            "a": "succeeded",
            "stop": "succeeded",
            "wait": "cancelled",
            "after": "skipped",
        }
        assert SQLiteStore(db).runs()[0].status == "cancelled"
        release.set()
        again = await gf.run(g, store=db, resume="r1")
        assert again.passed
        assert (tools.calls["a"], tools.calls["stop"], tools.calls["wait"]) == (1, 1, 2)


def writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("graphflow store")]


class TestWriter:
    """Each run's journal writes on a thread of its own, which never outlives the run."""

    async def test_it_writes_during_the_run_and_is_gone_after_it(
        self, tools: Tools, db: Path
    ) -> None:
        seen: list[int] = []

        def look(x: Any) -> str:
            seen.append(len(writers()))  # ``a`` was committed before this started
            return "seen"

        g = tools.chain()
        g.add("look", look, args={"x": "${a}"})
        assert (await gf.run(g, store=db)).passed
        assert seen == [1] and writers() == []

    async def test_a_long_chain_keeps_the_write_ahead_log_small(self, db: Path) -> None:
        """Each link of a chain is a commit of its own (~6 KB of WAL): 2,000 of them
        would leave ~12 MB to copy on close if only the run's end checkpointed, and
        closing takes longer the bigger the file is (SQLite truncates it)."""

        async def link(x: int) -> int:
            return x + 1

        def wal_size(x: int) -> int:
            return Path(f"{db}-wal").stat().st_size

        g = gf.Graph()
        g.add("n0", link, args={"x": 0})
        for i in range(1, 2_000):
            g.add(f"n{i}", link, args={"x": f"${{n{i - 1}}}"})
        g.add("size", wal_size, args={"x": "${n1999}"})
        result = await gf.run(g, store=db)
        assert result.passed and result["n1999"].output == 2_000
        assert 0 < result["size"].output < 1_500_000  # 200 pages (0.8 MB), and a little

    async def test_a_start_is_written_once_its_node_has_run_a_quarter_second(
        self, db: Path
    ) -> None:
        """A node done sooner has only its result written: the first commits of a wide
        DAG carried all its roots' starts while successes waited behind them.

        ``slow`` has run 0.3 s when ``quick`` is committed, ``late`` only just
        started (it lets ``quick`` return): ``look``, released by that commit,
        finds ``slow`` recorded running and no row of ``late``."""
        started = anyio.Event()
        release = anyio.Event()

        async def slow() -> str:
            await release.wait()
            return "slow"

        async def late(x: Any) -> str:
            started.set()
            await release.wait()
            return "late"

        async def quick() -> str:
            await started.wait()
            return "quick"

        def look(x: Any) -> dict[str, str]:
            with sqlite3.connect(db) as conn:
                rows = dict(conn.execute("SELECT node_id, status FROM nodes").fetchall())
            return rows

        async def free(x: Any) -> None:
            release.set()

        g = gf.Graph()
        g.add("slow", slow)
        g.add("x", anyio.sleep, args={"delay": 0.3})
        g.add("late", late, args={"x": "${x}"})
        g.add("quick", quick)
        g.add("look", look, args={"x": "${quick}"})
        g.add("free", free, args={"x": "${look}"})
        result = await gf.run(g, store=db)
        assert result.passed
        assert result["look"].output == {"x": "succeeded", "slow": "running", "quick": "succeeded"}
        stored = {n["node_id"]: n["status"] for n in SQLiteStore(db).nodes(result.run_id)}
        assert set(stored.values()) == {"succeeded"} and len(stored) == 6

    async def test_a_long_node_s_start_is_written_though_nothing_commits(self, db: Path) -> None:
        """Only ``long`` runs, so no success commits while it does: its start row
        waited for the next commit, and a run killed meanwhile had no record of it.
        The driver now ticks the journal every quarter second while nodes run."""
        release = anyio.Event()

        async def long() -> str:
            await release.wait()
            return "done"

        def stored() -> dict[str, str]:
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    return dict(conn.execute("SELECT node_id, status FROM nodes").fetchall())
            except sqlite3.Error:  # (not created yet)
                return {}

        g = gf.Graph()
        g.add("long", long)
        results: list[gf.RunResult] = []

        async def run() -> None:
            results.append(await gf.run(g, store=db))

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                while stored().get("long") != "running":  # noqa: ASYNC110 (another connection)
                    await anyio.sleep(0.02)
                release.set()
        assert results[0]["long"].output == "done"
        assert stored() == {"long": "succeeded"}

    async def test_gone_after_a_failed_write_and_after_a_cancellation(
        self, tools: Tools, db: Path
    ) -> None:
        def lock(name: str, x: Any = None) -> str:
            conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            conn.execute("BEGIN IMMEDIATE")
            held.append(conn)
            return tools.step(name, x)

        held: list[sqlite3.Connection] = []
        g = tools.chain()
        g.add("lock", lock, args={"name": "lock", "x": "${a}"})
        try:
            with pytest.raises(EventSinkError):
                await gf.run(g, store=SQLiteStore(db, timeout=0.1))
        finally:
            for conn in held:
                conn.close()
        assert writers() == []

        async def forever(x: Any) -> None:
            await anyio.sleep_forever()

        g = tools.chain()
        g.add("forever", forever, args={"x": "${a}"})
        with anyio.move_on_after(0.5):
            await gf.run(g, store=db)
        assert writers() == []

    async def test_a_wide_run_is_stored_whole(self, db: Path) -> None:
        """1,300 successes and failures after one root: written in batches of
        many rows per statement; the store reads back exactly what the run returned."""

        async def root() -> int:
            return 7

        async def leaf(i: int, x: int) -> Any:
            if i % 97 == 0:
                raise ValueError(f"leaf {i}")
            return None if i % 5 == 0 else {"i": i, "x": x, "s": "é" * (i % 3)}

        g = gf.Graph()
        g.add("root", root)
        for i in range(1_300):
            g.add(f"leaf{i}", leaf, args={"i": i, "x": "${root}"})
        result = await gf.run(g, store=db, run_id="wide")
        stored = SQLiteStore(db).result("wide")
        assert len(stored) == len(result) == 1_301
        for node_id in result:
            node, again = result[node_id], stored[node_id]
            assert (again.status, again.output, again.attempts) == (
                node.status,
                node.output,
                node.attempts,
            )
            assert (again.error and again.error.message) == (node.error and node.error.message)

    async def test_what_a_commit_releases_runs_at_once_not_one_by_one(self, db: Path) -> None:
        """``a``'s success is committed by the worker that ran it (nothing else was
        ready); the four nodes it releases must then run side by side: each waits
        until all four have started."""
        started = 0
        all_in = anyio.Event()

        async def root() -> int:
            return 1

        async def meet(x: int) -> int:
            nonlocal started
            started += 1
            if started == 4:
                all_in.set()
            with anyio.fail_after(10):  # (an upper bound: one by one never gets here)
                await all_in.wait()
            return x

        g = gf.Graph()
        g.add("a", root)
        for i in range(4):
            g.add(f"b{i}", meet, args={"x": "${a}"})
        result = await gf.run(g, store=db)
        assert result.passed and started == 4


async def kept(db: Path, conversation_id: str) -> bool:
    """Whether conversation ``conversation_id`` is still stored, with its step."""
    try:
        log = await open_conversation(
            SQLiteStore(db), conversation_id, kind="k", started_with="h", resume=True
        )
    except StoreError:
        return False
    await log.aclose()
    return bool(log.step(1, "reply") == {"text": conversation_id})


class TestReading:
    def test_gc_deletes_cached_calls_past_their_ttl_and_older_than(self, db: Path) -> None:
        def cached_keys() -> set[str]:
            conn = sqlite3.connect(db)
            try:
                return {key for (key,) in conn.execute("SELECT key FROM cache")}
            finally:
                conn.close()

        def graph() -> gf.Graph:
            g = gf.Graph()
            g.add("brief", lambda k: k, args={"k": "brief"}, cache={"ttl": 0.01, "key": "{k}"})
            g.add("long", lambda k: k, args={"k": "long"}, cache={"ttl": 3600, "key": "{k}"})
            g.add("ever", lambda k: k, args={"k": "ever"}, cache={"key": "{k}"})
            return g

        assert gf.run_sync(graph(), store=db).passed
        assert len(cached_keys()) == 3
        time.sleep(0.05)
        SQLiteStore(db).gc(keep=20)  # the run stays; the call past its ttl goes
        assert len(cached_keys()) == 2 and len(SQLiteStore(db).runs()) == 1
        SQLiteStore(db).gc(keep=20, older_than=0)
        assert cached_keys() == set()

    async def test_runs_result_nodes_and_gc(self, tools: Tools, db: Path) -> None:
        tools.failing = {"b"}
        old = await gf.run(tools.chain(), store=db, workflow="w", labels={"k": "v"})
        tools.failing = set()
        new = await gf.run(tools.chain(), store=db, workflow="w")
        other = await gf.run(tools.chain(), store=db, workflow="x")
        store = SQLiteStore(db)
        assert [r.run_id for r in store.runs()] == [other.run_id, new.run_id, old.run_id]
        assert [r.run_id for r in store.runs("w", limit=1)] == [new.run_id]
        record = store.runs("w")[1]
        assert (record.status, record.labels) == ("failed", {"k": "v"})
        assert record.counts == {"succeeded": 1, "failed": 1, "skipped": 1}
        assert record.finished_at is not None and record.finished_at >= record.started_at

        result = store.result(old.run_id)
        assert result["a"].output == "a" and result["b"].error is not None
        assert result["b"].error.message == "b failed"
        assert [n["status"] for n in store.nodes(old.run_id)] == ["succeeded", "failed", "skipped"]
        with pytest.raises(StoreError, match=r"no run 'nope'$"):
            store.result("nope")

        assert store.gc(keep=1) == 1  # w's older run; x's only run stays
        assert {r.run_id for r in store.runs()} == {new.run_id, other.run_id}
        assert store.gc(keep=5, older_than=3600) == 0
        assert store.gc(keep=5, older_than=0) == 2
        assert store.runs() == []

    def test_gc_shrinks_the_file_once_much_of_it_is_free(self, db: Path) -> None:
        """Deleting rows alone left a 25 MB store at 25 MB with 6,071 of its 6,078
        pages free (a scale trial): gc compacts it."""

        async def big(i: int) -> str:
            return "x" * 20_000 + str(i)

        g = gf.Graph()
        for i in range(200):
            g.add(f"n{i}", big, args={"i": i})
        first = gf.run_sync(g, store=db, workflow="w")
        second = gf.run_sync(g, store=db, workflow="w")
        store = SQLiteStore(db)
        both = db.stat().st_size
        assert both > 8_000_000  # two runs of 4 MB
        assert store.gc(keep=1) == 1 and [r.run_id for r in store.runs()] == [second.run_id]
        half = db.stat().st_size
        assert half < both * 0.6
        with subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE) as live:
            with sqlite3.connect(db) as raw:  # a run in progress: VACUUM would hold its commits
                raw.execute(
                    "INSERT INTO runs (run_id, workflow, labels, nodes, status, started_at, host,"
                    " pid) VALUES ('live', 'v', '{}', '{}', 'running', 0, ?, ?)",
                    [socket.gethostname(), live.pid],
                )
            raw.close()
            assert store.gc(keep=0) == 1 and first.run_id != second.run_id
            assert db.stat().st_size >= half * 0.9  # (deleted, not compacted)
            live.communicate(b"\n", timeout=30)
        with sqlite3.connect(db) as raw:
            raw.execute("DELETE FROM runs WHERE run_id = 'live'")
        raw.close()
        assert store.gc(keep=0) == 0
        assert db.stat().st_size < 500_000

    def test_gc_deletes_interrupted_runs_by_the_same_rule_and_keeps_one_in_progress(
        self, tmp_path: Path
    ) -> None:
        db, flag = tmp_path / "runs.db", tmp_path / "die"
        gf.run_sync(crash.graph(1, str(flag)), store=db, workflow="crash")
        flag.touch()  # the resume SIGKILLs its own process mid-run: interrupted
        resume_and_die(db, flag)
        store = SQLiteStore(db)
        (dead,) = store.runs()
        assert dead.status == "interrupted"
        with subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE) as live:
            with sqlite3.connect(db) as raw:  # a run whose process is alive: in progress
                raw.execute(
                    "INSERT INTO runs (run_id, workflow, labels, nodes, status, started_at, host,"
                    " pid) VALUES ('live', 'crash', '{}', '{}', 'running', 0, ?, ?)",
                    [socket.gethostname(), live.pid],
                )
            raw.close()
            assert store.gc(keep=0, older_than=0) == 1
            assert [(r.run_id, r.status) for r in store.runs()] == [("live", "running")]
            live.communicate(b"\n")
        assert store.gc(keep=0) == 1, "its process gone, it is interrupted: deleted"

    def test_listing_reads_the_nodes_of_the_runs_listed_only(self, db: Path) -> None:
        io = Path("/proc/self/io")
        if not io.exists():
            pytest.skip("reads are counted with /proc/self/io (Linux)")
        gf.run_sync(gf.Graph(), store=db, run_id="first")
        with sqlite3.connect(db) as raw:  # 40 older runs of 1,000 nodes each (~6 MB)
            for r in range(40):
                raw.execute(
                    "INSERT INTO runs (run_id, labels, nodes, status, started_at)"
                    " VALUES (?, '{}', '{}', 'succeeded', 0)",
                    [f"old{r}"],
                )
                raw.executemany(
                    "INSERT INTO nodes (run_id, node_id, status, attempts, output)"
                    " VALUES (?, ?, 'succeeded', 1, ?)",
                    [(f"old{r}", f"n{i}", '"' + "x" * 100 + '"') for i in range(1000)],
                )
        raw.close()
        gf.run_sync(gf.Graph(), store=db, run_id="newest")

        def read() -> int:
            return int(io.read_text().split("rchar:")[1].split()[0])

        store = SQLiteStore(db)
        before = read()
        (newest,) = store.runs(limit=1)
        assert read() - before < 1_000_000, "it read every run's nodes"
        assert newest.run_id == "newest"
        assert store.runs(limit=2)[1].counts == {"succeeded": 1000}

    async def test_gc_deletes_a_conversation_once_none_of_its_runs_is_left(self, db: Path) -> None:
        async def conversation(conversation_id: str, runs: int) -> None:
            store = SQLiteStore(db)
            log = await open_conversation(store, conversation_id, kind="k", started_with="h")
            await log.record(1, "reply", {"text": conversation_id})
            for turn in range(runs):  # its turns' runs, as the agent loops store them
                run_id, workflow = f"{conversation_id}/{turn}", f"conversation:{conversation_id}"
                await gf.run(gf.Graph(), store=db, workflow=workflow, run_id=run_id)
            await log.finish("finished")
            await log.aclose()

        await conversation("talk", runs=2)
        await conversation("quiet", runs=0)  # (a conversation no tool was called in)
        store = SQLiteStore(db)
        assert store.gc(keep=1) == 1  # one of talk's runs: talk keeps its steps
        assert store.gc(keep=1, older_than=3600) == 0
        assert {await kept(db, c) for c in ("talk", "quiet")} == {True}
        assert store.gc(keep=0) == 1  # talk's last run: talk goes too; quiet had none
        assert (await kept(db, "talk"), await kept(db, "quiet")) == (False, True)
        assert store.gc(keep=0, older_than=0) == 0  # no run, but quiet is older than that
        assert not await kept(db, "quiet")

    def test_reading_a_missing_file_does_not_create_it(self, db: Path) -> None:
        with pytest.raises(StoreError, match=r"no such file \(no run was stored there yet\)$"):
            SQLiteStore(db).runs()
        assert not db.exists()


class TestOutputs:
    async def test_an_output_json_cannot_hold_fails_its_node_unretried(
        self, tools: Tools, db: Path
    ) -> None:
        def odd() -> Any:
            tools.calls["odd"] += 1
            return {"ok": [1, 2], "bad": {1, 2}}

        g = gf.Graph()
        g.add("odd", odd, retries=2)
        g.add("after", tools.step, args={"name": "after", "x": "${odd}"})
        result = await gf.run(g, store=db)
        error = result["odd"].error
        assert error is not None and result["odd"].status is S.FAILED
        assert error.type == UnstorableOutputError.__name__
        assert error.message.startswith(
            "output of 'odd' cannot be stored faithfully as JSON: output['bad'] is a builtins.set"
        )
        assert error.message.endswith(
            "or keep it as it is: SQLiteStore(path, pickle=True), or from the CLI --no-store)"
        )
        assert tools.calls == {"odd": 1}  # never retried
        assert result["after"].status is S.SKIPPED

    async def test_a_pydantic_model_is_told_to_dump_itself(self, db: Path) -> None:
        import pydantic

        class Price(pydantic.BaseModel):
            amount: float

        async def price() -> dict[str, Any]:
            return {"best": Price(amount=9.5)}

        g = gf.Graph()
        g.add("price", price)
        error = (await gf.run(g, store=db))["price"].error
        assert error is not None
        assert "output['best'] is a " in error.message
        assert "Price (a pydantic model: return .model_dump())" in error.message

    async def test_the_message_stays_short_however_deep_the_value(self, db: Path) -> None:
        value: Any = set()
        for _ in range(150):
            value = {"k" * 60: value}
        g = gf.Graph()
        g.add("deep", lambda: value)
        result = await gf.run(g, store=db)
        message = result["deep"].error.message  # type: ignore[union-attr]
        assert "nested more than 100 levels deep" in message and len(message) < 450

    async def test_pickle_stores_it_and_a_resume_gets_it_back(self, tools: Tools, db: Path) -> None:
        def graph() -> gf.Graph:
            g = gf.Graph()
            g.add("odd", lambda: {"bad": frozenset({1, 2}), "pair": (1, 2)})
            g.add("after", tools.step, args={"name": "after", "x": "${odd}"})
            return g

        tools.failing = {"after"}
        store = SQLiteStore(db, pickle=True)
        first = await gf.run(graph(), store=store)
        assert store.result(first.run_id)["odd"].output == {
            "bad": frozenset({1, 2}),
            "pair": (1, 2),
        }
        tools.failing = set()
        again = await gf.run(graph(), store=store, resume=first.run_id)
        assert again["odd"].output["bad"] == frozenset({1, 2})
        assert again.passed

    async def test_a_pickle_is_never_loaded_unless_the_store_allows_it(
        self, tools: Tools, db: Path, tmp_path: Path
    ) -> None:
        """A store file is data: one from elsewhere must not run code when a run is
        resumed from it (the CLI never opts in)."""
        marker = tmp_path / "pwned"

        class Payload:
            def __reduce__(self) -> tuple[Any, ...]:
                return (Path.touch, (marker,))

        g = gf.Graph()
        g.add("odd", lambda: Payload())
        g.add("after", tools.step, args={"name": "after"}, depends_on=["odd"])
        tools.failing = {"after"}
        first = await gf.run(g, store=SQLiteStore(db, pickle=True))
        assert first["odd"].ok and not marker.exists()
        expected = (
            f"run store {db}: the output of 'odd' is a pickle: open the store with pickle=True"
            " to load it (loading a pickle runs code: only for a file you trust)"
        )
        with pytest.raises(StoreError) as refused:
            await gf.run(g, store=db, resume=first.run_id)
        assert str(refused.value) == expected
        with pytest.raises(StoreError):
            SQLiteStore(db).result(first.run_id)
        assert not marker.exists() and tools.calls == {"after": 1}
        SQLiteStore(db, pickle=True).result(first.run_id)  # opted in: loaded (and run)
        assert marker.exists()

    async def test_a_tuple_reads_back_as_a_list(self, db: Path) -> None:
        g = gf.Graph()
        g.add("pair", lambda: {"pair": (1, "x")})
        result = await gf.run(g, store=db)
        assert SQLiteStore(db).result(result.run_id)["pair"].output == {"pair": [1, "x"]}


class TestFaults:
    def test_a_new_file_another_connection_is_writing_is_waited_for(
        self, tools: Tools, db: Path
    ) -> None:
        """Processes opening a new store at once: SQLite refuses a change of journal mode
        at once ("database is locked") rather than wait on its busy timeout when waiting
        could deadlock, as with a peer's write transaction still open, held here 0.3 s."""
        peer = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        peer.execute("BEGIN IMMEDIATE")
        done = threading.Timer(0.3, peer.execute, ["COMMIT"])
        done.start()
        try:
            start = time.monotonic()
            result = gf.run_sync(tools.chain(), store=db)
        finally:
            done.join()
            peer.close()
        assert result.ok and time.monotonic() - start >= 0.3
        assert [r.status for r in SQLiteStore(db).runs()] == ["succeeded"]

    def test_another_programs_database_is_refused_and_left_as_it_was(
        self, tools: Tools, db: Path
    ) -> None:
        """A store path mistyped onto an app's own SQLite file: nothing is written to it
        (not even WAL mode), and reading it does not pretend it is an empty store."""
        app = sqlite3.connect(db)
        app.execute("CREATE TABLE users (id INTEGER)")
        app.commit()
        app.close()
        before = db.read_bytes()
        expected = (
            f"run store {db}: is not a graphflow run store (it holds tables users):"
            " give another file"
        )
        with pytest.raises(StoreError) as refused:
            gf.run_sync(tools.chain(), store=db)
        assert str(refused.value) == expected and tools.calls == {}
        with pytest.raises(StoreError, match="is not a graphflow run store"):
            SQLiteStore(db).runs()
        with pytest.raises(StoreError, match="is not a graphflow run store"):
            SQLiteStore(db).gc(keep=0)
        assert db.read_bytes() == before and not Path(f"{db}-wal").exists()

    def test_an_app_database_with_a_table_named_like_ours_is_refused(self, db: Path) -> None:
        app = sqlite3.connect(db)
        app.execute("CREATE TABLE cache (k TEXT, v BLOB)")
        app.commit()
        app.close()
        with pytest.raises(StoreError) as refused:
            SQLiteStore(db).runs()
        assert str(refused.value) == (
            f"run store {db}: is not a graphflow run store (its table cache is not the"
            " store's; it holds tables cache): give another file"
        )

    @pytest.fixture
    def garbage(self, db: Path) -> Path:
        db.write_bytes(b"not a database, " * 512)
        return db

    async def test_garbage_is_refused_before_anything_runs(
        self, tools: Tools, garbage: Path
    ) -> None:
        db = garbage
        with pytest.raises(StoreError, match=r"file is not a database \(the file is not a"):
            await gf.run(tools.chain(), store=db)
        assert tools.calls == {}

    async def test_a_lock_held_mid_run_stops_it_with_every_result(
        self, tools: Tools, db: Path
    ) -> None:
        """Another connection takes the write lock while ``a`` runs, so ``a``'s commit
        fails: ``run`` raises ``EventSinkError`` with the in-memory results, and a
        resume runs ``a`` again — it was never committed (at least once)."""
        holder: list[sqlite3.Connection] = []

        def lock(name: str, x: Any = None) -> str:
            if tools.calls[name] == 0:  # the first time only
                conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
                conn.execute("BEGIN IMMEDIATE")
                holder.append(conn)
            return tools.step(name, x)

        g = tools.chain()
        g.add("lock", lock, args={"name": "lock"})
        store = SQLiteStore(db, timeout=0.2)
        try:
            with pytest.raises(EventSinkError) as failed:
                await gf.run(g, store=store, run_id="r1")
        finally:
            for conn in holder:
                conn.close()
        error = failed.value.error
        assert isinstance(error, StoreError)
        assert str(error) == f"run store {db}: database is locked (another process holds it)"
        result = failed.value.result
        assert result is not None and result["lock"].status is S.SUCCEEDED
        assert {result[n].status for n in "abc"} <= {S.SUCCEEDED, S.SKIPPED, S.CANCELLED}
        again = await gf.run(g, store=store, resume="r1")
        assert again.passed and tools.calls["lock"] == 2

"""SIGKILL at random moments, then resume: the at-least-once, never-again contract.

Each repetition runs ``chaos_graph`` (13 tool nodes, up to 9 at once, each
appending its id to a side-effect log) in a real process with a real SQLite
file, SIGKILLs it at a random moment (a fixed seed picks the moments; some
repetitions kill the resumed run too), then resumes ``last`` until it passes.
After every kill the store is read as a new process finds it:

- the file passes ``PRAGMA integrity_check`` and lists the run;
- no node whose success was committed runs again (the log after the kill
  never names it), and the final resume runs exactly the uncommitted nodes once;
- durable before visible: every node that started (is in the log) had each of
  its upstream nodes' success committed;
- a run killed before it was recorded had run nothing.

In the end every node ran at least once and the run is ``succeeded``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from graphflow.store import SQLiteStore

from .chaos import TOOL_NODES, UPSTREAM, logged

ROOT: Final = Path(__file__).resolve().parents[2]
SEED: Final = 11
REPETITIONS: Final = 10
KILL_WITHIN: Final = 0.12  # seconds after the first node started: the nodes take about 0.1 s
EARLY: Final = 0.2  # the share of kills aimed at the run's start (before its first node)


class Forker:
    """The fork server (``tests/store/forker.py``) and the children it has running."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.store.forker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.children: set[int] = set()

    def _ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, f"the fork server died (exit {self.proc.poll()})"
        return answer.split()[1]

    def run(self, store: Path, log: Path, resume: str | None, backend: str) -> int:
        spec = {"store": str(store), "log": str(log), "resume": resume, "backend": backend}
        pid = int(self._ask("run " + json.dumps(spec)))
        self.children.add(pid)
        return pid

    def wait(self, pid: int) -> int:
        code = int(self._ask(f"wait {pid}"))
        self.children.discard(pid)
        return code

    def close(self) -> None:
        """Kill what is left, then the server; reap them all."""
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            for pid in list(self.children):
                self.wait(pid)
        finally:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@contextmanager
def forker() -> Iterator[Forker]:
    server = Forker()
    try:
        yield server
    finally:
        server.close()


@dataclass
class Tally:
    """What the kills hit, over all repetitions (shown with ``pytest -s``)."""

    kills: int = 0
    before_recorded: int = 0
    after_finished: int = 0
    reruns: int = 0  # nodes that ran again: started, killed before their commit
    committed_at_kill: list[int] = field(default_factory=list)


def test_sigkill_at_random_moments_then_resume_runs_each_uncommitted_node_once(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    tally = Tally()
    started = time.monotonic()
    with forker() as fork:
        for rep in range(REPETITIONS):
            folder = tmp_path / f"rep{rep}"
            folder.mkdir()
            backend = ("asyncio", "trio")[rep % 2]
            repetition(fork, rng, folder, backend, kills=1 + rep % 3 // 2, tally=tally)
    print(f"\n{REPETITIONS} repetitions in {time.monotonic() - started:.1f} s: {tally}")
    assert tally.kills >= REPETITIONS


def repetition(
    fork: Forker, rng: random.Random, folder: Path, backend: str, kills: int, tally: Tally
) -> None:
    store_path, log = folder / "runs.db", folder / "side-effects.log"
    committed: set[str] = set()
    seen: list[str] = []
    resume: str | None = None
    for attempt in range(kills + 1):
        pid = fork.run(store_path, log, resume, backend)
        if attempt < kills:
            if rng.random() >= EARLY and not set(TOOL_NODES) <= committed:
                first_line(log, after=len(seen))
            time.sleep(rng.uniform(0, KILL_WITHIN))
            os.kill(pid, signal.SIGKILL)
            code = fork.wait(pid)
            assert code in (-signal.SIGKILL, 0), code  # 0: it had finished already
            tally.kills += 1
            tally.after_finished += code == 0
        else:
            assert fork.wait(pid) == 0, f"the last resume did not pass ({folder})"
        lines = logged(str(log))
        new = lines[len(seen) :]
        assert lines[: len(seen)] == seen
        assert not set(new) & committed, f"ran again after its success was committed: {new}"
        if attempt == kills:  # not killed: it ran exactly what was not committed, once each
            assert sorted(new) == sorted(set(TOOL_NODES) - committed)
        seen = lines
        now = committed_nodes(store_path)
        if now is None:  # killed before the run was recorded
            assert lines == [], "nodes ran before their run was recorded"
            tally.before_recorded += 1
            resume = None
            continue
        assert committed <= now, "a committed success was lost"
        for node in set(lines):  # durable before visible
            missing = set(UPSTREAM[node]) - now
            assert not missing, f"{node} started before {missing} were committed"
        if attempt < kills:
            tally.committed_at_kill.append(len(now & set(TOOL_NODES)))
        committed, resume = now, "last"
    assert set(seen) == set(TOOL_NODES), "a node never ran"
    tally.reruns += sum(n - 1 for n in Counter(seen).values())
    [record] = SQLiteStore(store_path).runs()
    assert record.status == "succeeded"
    assert record.counts == {"succeeded": len(TOOL_NODES) + 1}  # + the for_each's own node


def first_line(log: Path, after: int, within: float = 5) -> None:
    """Wait until the log has more than ``after`` lines: the run's first node started."""
    deadline = time.monotonic() + within
    while len(logged(str(log))) <= after and time.monotonic() < deadline:
        time.sleep(0.002)


def committed_nodes(path: Path) -> set[str] | None:
    """The nodes whose success the store holds for its one run (None: no run yet),
    after checking that the file is intact as a new process opens it."""
    if not path.exists():
        return None
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    store = SQLiteStore(path)
    runs = store.runs()
    if not runs:
        return None
    [record] = runs
    assert record.status in ("interrupted", "succeeded"), record
    return {n["node_id"] for n in store.nodes(record.run_id) if n["status"] == "succeeded"}

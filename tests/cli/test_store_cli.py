"""``graphflow run`` with its run store, ``--resume``, and ``graphflow runs``, with a
real SQLite file and a side-effect log (each node's tool appends its id) telling
what ran. The CLI runs in this process (``main``), except where a real signal
is sent to a real process; the other faults — read-only, full, corrupt, two
writers — are in ``test_store_faults.py``, the SIGKILL chaos loop in
``tests/store/test_chaos.py``."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from graphflow.cli import main
from graphflow.store import SQLiteStore

from .runner import flow, gf, start


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRAPHFLOW_STORE", raising=False)
    monkeypatch.setenv("COLUMNS", "200")


class Ran:
    """One in-process ``graphflow`` command: its exit code and output."""

    def __init__(self, capsys: pytest.CaptureFixture[str], *args: str) -> None:
        try:
            self.returncode = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            self.returncode = int(exc.code or 0)
        self.stdout, self.stderr = capsys.readouterr()


def wait_for_log(tmp_path: Path, lines: list[str], within: float = 20) -> None:
    """Until the side-effect log reads ``lines`` (the tools ran, not just started)."""
    deadline = time.monotonic() + within
    while ran(tmp_path) != lines:
        assert time.monotonic() < deadline, ran(tmp_path)
        time.sleep(0.01)


def steps(tmp_path: Path, b_kwargs: str = "") -> str:
    """a -> b -> c, each appending its id to ``log``; b fails while ``b.fails`` exists."""
    log, fails = tmp_path / "log", tmp_path / "b.fails"
    call = "{function: 'tests.cli.targets:step', kwargs: {log: '" + str(log) + "', node: "
    return flow(
        tmp_path / "steps.yaml",
        f"""\
        name: steps
        inputs:
          n: {{default: 1}}
        nodes:
          a: {{tool: python, args: {call}a}}}}}}
          b:
            tool: python
            args: {call}b, fail_if: '{fails}'{b_kwargs}}}}}
            depends_on: [a]
          c:
            tool: python
            args: {call}c}}}}
            depends_on: [b]
        """,
    )


def ran(tmp_path: Path) -> list[str]:
    """The side-effect log: one node id per call, in order."""
    log = tmp_path / "log"
    return log.read_text().split() if log.exists() else []


def run_id_in(stdout: str) -> str:
    [line] = [line for line in stdout.splitlines() if line.startswith("run ")]
    return line.split()[1]


class TestWhereRunsAreStored:
    def test_beside_the_workflow_file_by_default_and_the_summary_says_so(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        folder = tmp_path / "flows"
        folder.mkdir()
        (tmp_path / "b.fails").touch()  # (not in folder: b passes)
        proc = Ran(capsys, "run", steps(folder))
        assert proc.returncode == 0, proc.stderr
        run_id = run_id_in(proc.stdout)
        assert proc.stdout.endswith(f"\nrun {run_id} stored in flows/.graphflow/runs.db\n")
        [record] = SQLiteStore(folder / ".graphflow" / "runs.db").runs()
        assert (record.run_id, record.status) == (run_id, "succeeded")
        assert (folder / ".graphflow").stat().st_mode & 0o777 == 0o700  # outputs hold secrets
        assert record.workflow == str((folder / "steps.yaml").resolve())

    def test_a_run_that_did_not_pass_says_how_to_resume_it(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (tmp_path / "b.fails").touch()
        store = tmp_path / "elsewhere.db"
        proc = Ran(capsys, "run", steps(tmp_path), "--store", str(store), "--json", "-")
        assert proc.returncode == 1
        run_id = json.loads(proc.stdout)["run_id"]  # stdout stays JSON: the line is on stderr
        assert proc.stderr.rstrip().endswith(
            f"run {run_id} stored in elsewhere.db; resume with --resume {run_id} --store {store}"
        )

    def test_the_environment_names_the_store_and_no_store_records_nothing(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = steps(tmp_path)
        monkeypatch.setenv("GRAPHFLOW_STORE", "env.db")
        assert Ran(capsys, "run", path).returncode == 0
        assert len(SQLiteStore(tmp_path / "env.db").runs()) == 1
        quiet = Ran(capsys, "run", path, "--no-store", "-q")
        assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")  # -q: nothing
        assert len(SQLiteStore(tmp_path / "env.db").runs()) == 1
        assert not (tmp_path / ".graphflow").exists()

    def test_a_tilde_in_the_store_path_is_the_home_folder(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No shell expands ``~`` in an environment variable's value: graphflow does."""
        home = tmp_path / "home"
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("GRAPHFLOW_STORE", "~/env.db")
        assert Ran(capsys, "run", steps(tmp_path)).returncode == 0
        assert len(SQLiteStore(home / "env.db").runs()) == 1
        assert not (tmp_path / "~").exists()


class TestResume:
    def test_resume_last_runs_only_what_did_not_succeed(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = steps(tmp_path)
        (tmp_path / "b.fails").touch()
        first = Ran(capsys, "run", path)
        assert first.returncode == 1
        assert ran(tmp_path) == ["a", "b"]
        (tmp_path / "b.fails").unlink()
        proc = Ran(capsys, "run", path, "--resume", "last")
        assert proc.returncode == 0, proc.stderr
        assert ran(tmp_path) == ["a", "b", "b", "c"]  # a succeeded: not again
        run_id = run_id_in(first.stdout)
        assert f"run {run_id} (resumed: 1 node not run again) stored in" in proc.stdout
        # its times are the first run's: not in this run's "one at a time" nor its path
        assert "; 1 restored from the stored run\n" in proc.stdout
        assert "critical path" not in proc.stdout
        [record] = SQLiteStore(tmp_path / ".graphflow" / "runs.db").runs()
        assert (record.run_id, record.status, record.resumed) == (run_id, "succeeded", 1)

    def test_resume_by_id_with_a_node_that_fails_again(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = steps(tmp_path)
        (tmp_path / "b.fails").touch()
        run_id = run_id_in(Ran(capsys, "run", path).stdout)
        unknown = Ran(capsys, "run", path, "--resume", "nope")
        assert unknown.returncode == 2 and "no run 'nope' ('graphflow runs list'" in unknown.stderr
        proc = Ran(capsys, "run", path, "--resume", run_id[:5])  # a prefix will do
        assert proc.returncode == 1
        assert ran(tmp_path) == ["a", "b", "b"]
        assert "RuntimeError: b failed" in proc.stdout
        assert f"resume with --resume {run_id}" in proc.stdout
        shown = Ran(capsys, "runs", "show", run_id, "--json")
        nodes = {n["node_id"]: n for n in json.loads(shown.stdout)["nodes"]}
        assert {k: v["status"] for k, v in nodes.items()} == {
            "a": "succeeded",
            "b": "failed",
            "c": "skipped",
        }
        assert "b failed" in nodes["b"]["error"]["message"]

    def test_a_changed_workflow_is_refused_saying_what_changed_unless_forced(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (tmp_path / "b.fails").touch()
        Ran(capsys, "run", steps(tmp_path))
        (tmp_path / "b.fails").unlink()
        path = steps(tmp_path, b_kwargs=", seconds: 0.01")
        proc = Ran(capsys, "run", path, "--resume", "last")
        assert (proc.returncode, proc.stdout) == (2, "")
        [line] = proc.stderr.splitlines()
        assert line.startswith("graphflow: error: run store ") and "runs.db: cannot resume" in line
        assert line.endswith("changed 'b', 'c' (force=True, or --force, resumes it anyway)")
        assert ran(tmp_path) == ["a", "b"]  # nothing ran
        forced = Ran(capsys, "run", path, "--resume", "last", "--force")
        assert forced.returncode == 0, forced.stderr
        assert ran(tmp_path) == ["a", "b", "b", "c"]

    def test_changed_inputs_are_refused_unless_forced(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = steps(tmp_path)
        (tmp_path / "b.fails").touch()
        Ran(capsys, "run", path, "--input", "n=1")
        proc = Ran(capsys, "run", path, "--resume", "last", "--input", "n=2")
        assert proc.returncode == 2
        [line] = proc.stderr.splitlines()
        assert line.endswith("different inputs (force=True, or --force, resumes it anyway)")
        same = Ran(capsys, "run", path, "--resume", "last", "--input", "n=1")
        assert same.returncode == 1  # accepted (the same inputs); b fails again
        forced = Ran(capsys, "run", path, "--resume", "last", "--force", "-q")
        assert forced.returncode == 1
        assert ran(tmp_path) == ["a", "b", "b", "b"]

    def test_usage_mistakes_are_one_line_and_exit_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = steps(tmp_path)
        for args, says in [
            (["--resume", "last", "--no-store"], "--resume needs the run store"),
            (["--store", "x.db", "--no-store"], "not allowed with argument"),
            (["--force"], "--force is for --resume"),
            (["--resume", "nope"], "no such file (no run was stored there yet)"),
            (["--resume", "last"], "no runs stored here yet: nothing to resume"),
            (["--store", "/dev/null/runs.db"], "run store /dev/null/runs.db: cannot create its"),
            (["--store", ""], "--store needs a file name (or --no-store to record nothing)"),
            (["--resume", ""], "--resume needs a run id (or a prefix of one), or last"),
        ]:
            proc = Ran(capsys, "run", path, *args)
            assert proc.returncode == 2, (args, proc.stderr)
            assert says in proc.stderr.splitlines()[-1]
            assert "Traceback" not in proc.stderr
        assert ran(tmp_path) == []
        assert not (tmp_path / ".graphflow").exists()  # (a refused resume made its folder)

    def test_sigint_records_cancelled_nodes_and_resume_completes(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = slow_flow(tmp_path)
        proc = start("run", path, cwd=tmp_path)
        try:
            wait_for_log(tmp_path, ["a", "b"])
            proc.send_signal(signal.SIGINT)
            stdout, _ = proc.communicate(timeout=20)
        finally:
            proc.kill()
            proc.communicate()
        assert proc.returncode == 130
        run_id = run_id_in(stdout)
        assert f"resume with --resume {run_id}" in stdout
        store = SQLiteStore(tmp_path / ".graphflow" / "runs.db")
        rows = {n["node_id"]: n["status"] for n in store.nodes(run_id)}
        assert rows == {"a": "succeeded", "b": "cancelled", "c": "skipped"}
        assert store.runs()[0].status == "cancelled"
        (tmp_path / "fast").touch()
        resumed = Ran(capsys, "run", path, "--resume", "last")
        assert resumed.returncode == 0, resumed.stderr
        assert ran(tmp_path) == ["a", "b", "b", "c"]

    def test_a_sigkilled_run_is_listed_interrupted_and_resumes(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = slow_flow(tmp_path)
        proc = start("run", path, cwd=tmp_path)
        try:
            wait_for_log(tmp_path, ["a", "b"])
            # b's start is written once it has run a quarter second, though nothing
            # commits meanwhile (the run's journal ticks): wait for it, then kill
            deadline = time.monotonic() + 20
            while "b" not in running_nodes(capsys) and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate(timeout=20)
        data = json.loads(Ran(capsys, "runs", "list", "--json").stdout)
        assert [(r["status"], r["counts"]) for r in data] == [
            ("interrupted", {"running": 1, "succeeded": 1})
        ]
        assert "1 interrupted, 1 succeeded" in Ran(capsys, "runs", "list").stdout
        shown = Ran(capsys, "runs", "show", "last")
        assert re.search(r"│ b +│ interrupted +│", shown.stdout), shown.stdout
        assert "1 node with no record when its process died: 'c' (not started" in shown.stdout
        stored = json.loads(Ran(capsys, "runs", "show", "last", "--json").stdout)
        assert stored["unrecorded"] == ["c"]
        (tmp_path / "fast").touch()
        resumed = Ran(capsys, "run", path, "--resume", "last")
        assert resumed.returncode == 0, resumed.stderr
        assert ran(tmp_path) == ["a", "b", "b", "c"]


def running_nodes(capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The nodes of the last stored run whose row says running (none if none yet)."""
    shown = Ran(capsys, "runs", "show", "last", "--json")
    if shown.returncode != 0:
        return set()
    return {n["node_id"] for n in json.loads(shown.stdout)["nodes"] if n["status"] == "running"}


def slow_flow(tmp_path: Path) -> str:
    """a -> b -> c; b waits a minute (cancellably) unless the file ``fast`` exists."""
    log, fast = tmp_path / "log", tmp_path / "fast"
    call = "{function: 'tests.cli.targets:"
    return flow(
        tmp_path / "slow.yaml",
        f"""\
        name: slow
        nodes:
          a: {{tool: python, args: {call}step', kwargs: {{log: '{log}', node: a}}}}}}
          b:
            tool: python
            args: {call}slow_step', kwargs: {{log: '{log}', node: b, unless: '{fast}'}}}}
            depends_on: [a]
          c:
            tool: python
            args: {call}step', kwargs: {{log: '{log}', node: c}}}}
            depends_on: [b]
        """,
    )


class TestRunsCommand:
    def _two_runs(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
        path = steps(tmp_path)
        (tmp_path / "b.fails").touch()
        failed = run_id_in(Ran(capsys, "run", path).stdout)
        (tmp_path / "b.fails").unlink()
        passed = run_id_in(Ran(capsys, "run", path).stdout)
        return failed, passed

    def test_show_hides_the_secrets_the_workflow_names(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = flow(
            tmp_path / "sec.yaml",
            """\
            name: sec
            secrets: [API_TOKEN]
            nodes:
              call: {tool: shell, args: {argv: [sh, -c, 'echo "token=$API_TOKEN"; exit 1']}}
            """,
        )
        monkeypatch.setenv("API_TOKEN", "s3cr3t  value")  # (squashed to one space, it once leaked)
        assert Ran(capsys, "run", path, "-q").returncode == 1
        for args in ((), ("--json",)):
            shown = Ran(capsys, "runs", "show", "last", *args)
            assert shown.returncode == 0, shown.stderr
            assert "token=***" in shown.stdout and "s3cr3t" not in shown.stdout

    def test_show_of_an_interrupted_run_says_its_running_nodes_were_interrupted(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Stored 'running' when its process died: the table says what became of them;
        --json keeps what was stored."""
        assert Ran(capsys, "run", steps(tmp_path), "-q").returncode == 0
        db = sqlite3.connect(tmp_path / ".graphflow" / "runs.db")
        db.execute("UPDATE nodes SET status = 'running', finished_at = NULL WHERE node_id = 'b'")
        db.execute("UPDATE runs SET status = 'running', pid = ?", [os.getpid()])  # (not alive:
        db.commit()  # a run of this process is never in progress when it is read)
        db.close()
        shown = Ran(capsys, "runs", "show", "last")
        assert ": interrupted, started " in shown.stdout
        assert re.search(r"│ b +│ interrupted +│", shown.stdout), shown.stdout
        stored = json.loads(Ran(capsys, "runs", "show", "last", "--json").stdout)
        assert {n["node_id"]: n["status"] for n in stored["nodes"]}["b"] == "running"

    def test_list_show_and_gc(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        failed, passed = self._two_runs(tmp_path, capsys)
        listed = Ran(capsys, "runs", "list")
        assert listed.returncode == 0, listed.stderr
        assert "runs in .graphflow/runs.db" in listed.stdout
        assert listed.stdout.index(passed) < listed.stdout.index(failed)  # newest first
        assert "1 failed, 1 skipped, 1 succeeded" in listed.stdout
        data = json.loads(Ran(capsys, "runs", "list", "--json", "--limit", "1").stdout)
        assert [(r["run_id"], r["status"]) for r in data] == [(passed, "succeeded")]
        assert data[0]["workflow"] == str((tmp_path / "steps.yaml").resolve())
        only = Ran(capsys, "runs", "list", "--workflow", "steps.yaml", "--json")
        assert len(json.loads(only.stdout)) == 2
        other = Ran(capsys, "runs", "list", "--workflow", "other.yaml", "--json")
        assert json.loads(other.stdout) == []
        none = Ran(capsys, "runs", "list", "--workflow", "other.yaml")  # (not an empty table)
        assert none.stdout == "no runs stored yet of other.yaml\n"

        shown = Ran(capsys, "runs", "show", failed[:6])  # a prefix will do
        assert shown.returncode == 0, shown.stderr
        assert f"run {failed} of steps.yaml: failed" in shown.stdout
        assert "RuntimeError: b failed" in shown.stdout
        assert "no record" not in shown.stdout  # (a finished run has a row for every node)
        last = json.loads(Ran(capsys, "runs", "show", "last", "--json").stdout)
        assert last["run"]["run_id"] == passed and last["unrecorded"] == []
        assert [n["node_id"] for n in last["nodes"]] == ["a", "b", "c"]
        assert last["nodes"][2]["output"] == "c"

        kept = Ran(capsys, "runs", "gc", "--older-than", "7d")
        assert kept.stdout == "deleted 0 runs from .graphflow/runs.db\n"
        gone = Ran(capsys, "runs", "gc", "--keep", "1")
        assert gone.stdout == "deleted 1 run from .graphflow/runs.db\n"
        data = json.loads(Ran(capsys, "runs", "list", "--json").stdout)
        assert [r["run_id"] for r in data] == [passed]

    def test_show_lists_at_most_50_rows_unless_all(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = flow(
            tmp_path / "wide.yaml",
            f"""\
            name: wide
            nodes:
              each:
                tool: python
                for_each: {list(range(60))}
                args: {{function: tests.cli.targets:check, kwargs: {{item: "${{item}}", bad: [7]}}}}
            """,
        )
        assert Ran(capsys, "run", path).returncode == 1
        shown = Ran(capsys, "runs", "show", "last")
        assert "each[7]" in shown.stdout and "each[8]" not in shown.stdout
        assert "ValueError: bad item 7" in shown.stdout
        assert shown.stdout.endswith(
            "60 more rows not listed: 1 skipped, 59 succeeded (--all lists them)\n"
        )
        every = Ran(capsys, "runs", "show", "last", "--all")
        assert "each[59]" in every.stdout and "more rows" not in every.stdout
        wide = tmp_path / "wide.yaml"  # all succeed: no empty table, the title
        wide.write_text(wide.read_text().replace("bad: [7]", "bad: []"))
        assert Ran(capsys, "run", path).returncode == 0
        quiet = Ran(capsys, "runs", "show", "last").stdout.splitlines()
        assert len(quiet) == 2 and quiet[0].startswith("run ") and ": succeeded, " in quiet[0]
        assert quiet[1] == "61 more rows not listed: 61 succeeded (--all lists them)"

    def test_mistakes_are_one_line_and_exit_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        for args in (["list"], ["gc"], ["show", "last"]):
            proc = Ran(capsys, "runs", *args, "--store", "none.db")
            assert (proc.returncode, proc.stdout) == (2, ""), args
            assert proc.stderr == (
                "graphflow: error: run store none.db: no such file (no run was stored there yet)\n"
            )
        assert not (tmp_path / "none.db").exists()
        for args in (["list"], ["show", "last"]):  # (in a folder where no workflow ran)
            proc = Ran(capsys, "runs", *args)
            assert proc.returncode == 2 and proc.stderr.endswith(
                "no such file (no run was stored there yet); a run is stored beside its"
                " workflow file: pass --workflow FILE, or --store PATH\n"
            )
        assert not (tmp_path / ".graphflow").exists()
        self._two_runs(tmp_path, capsys)
        for args, says in [
            (["show", "0000"], "no run '0000' ('graphflow runs list' lists them)"),
            (["gc", "--older-than", "soon"], "--older-than 'soon': expected an age like"),
            (["list", "--limit", "0"], "--limit must be >= 1"),
            (["gc", "--keep", "-1"], "--keep must be >= 0"),
        ]:
            proc = Ran(capsys, "runs", *args)
            assert proc.returncode == 2, args
            assert says in proc.stderr and len(proc.stderr.splitlines()) == 1
        for args, says in [
            (["show"], "the following arguments are required: RUN_ID"),
            ([], "the following arguments are required: ACTION"),
        ]:
            proc = Ran(capsys, "runs", *args)
            assert proc.returncode == 2 and says in proc.stderr.splitlines()[-1]


class TestCache:
    def test_cache_without_a_store_is_one_warning_line(self, tmp_path: Path) -> None:
        path = flow(
            tmp_path / "c.yaml", "name: c\nnodes:\n  x: {tool: echo, args: {a: 1}, cache: true}\n"
        )
        proc = gf("run", path, "--no-store", "-q", cwd=tmp_path)
        assert proc.returncode == 0
        assert proc.stderr == (
            "graphflow: warning: nodes 'x' ask for cache=, but the run has no store"
            " (no RunOptions(store=...), or the CLI's --no-store): they are not cached\n"
        )

    def test_a_cached_node_is_reused_across_runs_unless_no_cache(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        log = tmp_path / "log"
        call = "{function: 'tests.cli.targets:step', kwargs: {log: '" + str(log) + "', node: "
        path = flow(
            tmp_path / "cached.yaml",
            f"""\
            name: cached
            nodes:
              a: {{tool: python, args: {call}a}}}}, cache: {{ttl: 1h}}}}
              b: {{tool: python, args: {call}b}}}}, depends_on: [a]}}
            """,
        )
        for args in ((), (), ("--no-cache",), ()):
            proc = Ran(capsys, "run", path, "--json", "-", *args)
            assert proc.returncode == 0, proc.stderr
        assert ran(tmp_path) == ["a", "b", "b", "a", "b", "b"]
        nodes = json.loads(proc.stdout)["nodes"]
        assert nodes["a"]["cached"] is True and "cached" not in nodes["b"]
        shown = Ran(capsys, "run", path).stdout.splitlines()  # (the summary says so too)
        row_a = next(line for line in shown if line.startswith("│ a "))
        row_b = next(line for line in shown if line.startswith("│ b "))
        assert "from the cache: an earlier call's output" in row_a and "cache" not in row_b

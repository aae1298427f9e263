"""Real faults of a run store under a real ``graphflow run`` process: a read-only file
or folder, a full disk, a corrupt file, two processes writing one file, a killed
process nobody reaped. Each is one line naming the file and a clean exit code —
2 before anything ran, non-zero with every node's result printed when the store
failed mid-run — and never a traceback."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from graphflow.cli import main
from graphflow.store import SQLiteStore

from .runner import CLI, ENV, ROOT, flow, gf, start

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def echo_flow(tmp_path: Path) -> str:
    return flow(tmp_path / "echo.yaml", "name: echo\nnodes:\n  a: {tool: echo, args: {x: 1}}\n")


def big_flow(tmp_path: Path) -> str:
    """Eight 20 kB outputs after a small first node: a store on a tiny disk fills mid-run."""
    return flow(
        tmp_path / "big.yaml",
        """\
        name: big
        nodes:
          first: {tool: echo, args: {x: 1}}
          big:
            tool: python
            for_each: [0, 1, 2, 3, 4, 5, 6, 7]
            args: {function: "tests.cli.targets:blob", kwargs: {size: 20000, item: "${item}"}}
            depends_on: [first]
          last: {tool: echo, args: {x: "${big}"}}
        """,
    )


def without_dac_override() -> None:
    """(a ``preexec_fn``) Drop the capabilities that let root ignore file modes from
    the bounding set: after ``exec`` even root is held to them (``capabilities(7)``:
    a root process's new permitted set is its bounding set)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def gf_as_user(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``graphflow ARGS`` held to file modes, even when the tests run as root."""
    setup: Callable[[], None] | None = without_dac_override if os.geteuid() == 0 else None
    try:
        return subprocess.run(
            [*CLI, *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=ENV,
            timeout=60,
            preexec_fn=setup,
        )
    except subprocess.SubprocessError as exc:  # prctl refused: no CAP_SETPCAP here
        pytest.skip(f"cannot drop root's file-mode override: {exc}")


def stored_once(tmp_path: Path, what: str) -> tuple[str, Path, Path]:
    """A workflow run once into a store; the store's ``what`` (file, folder) to lock."""
    path = echo_flow(tmp_path)
    store = tmp_path / "store" / "runs.db"
    assert main(["run", path, "--store", str(store), "-q"]) == 0
    return path, store, store if what == "file" else store.parent


class TestReadOnly:
    """Read-only as the tests' user sees it: ``chmod``, and for root a child process
    that lost ``CAP_DAC_OVERRIDE`` (root otherwise writes any file, whatever its mode)."""

    def test_a_workflow_in_a_read_only_folder_says_where_else_to_store(
        self, tmp_path: Path
    ) -> None:
        folder = tmp_path / "shared"
        folder.mkdir()
        path = echo_flow(folder)
        folder.chmod(0o555)
        try:
            proc = gf_as_user("run", path, cwd=tmp_path)
        finally:
            folder.chmod(0o755)
        assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
        assert proc.stderr == (
            f"graphflow: error: run store {folder}/.graphflow/runs.db: cannot create its folder"
            f" {folder}/.graphflow (Permission denied): give --store PATH elsewhere,"
            " or --no-store\n"
        )

    @pytest.mark.parametrize("what", ["file", "folder"])
    def test_one_line_naming_the_file_exit_2_and_nothing_ran(
        self, tmp_path: Path, what: str
    ) -> None:
        path, store, locked = stored_once(tmp_path, what)
        locked.chmod(0o444 if what == "file" else 0o555)
        try:
            proc = gf_as_user("run", path, "--store", str(store), cwd=tmp_path)
        finally:
            locked.chmod(0o644 if what == "file" else 0o755)
        assert (proc.returncode, proc.stdout) == (2, "")
        assert proc.stderr == (
            f"graphflow: error: run store {store}: attempt to write a readonly database"
            " (the file or its folder is read-only)\n"
        )
        assert len(SQLiteStore(store).runs()) == 1  # the one before

    @pytest.mark.parametrize("what", ["file", "folder"])
    def test_runs_list_and_show_read_it_and_change_nothing(self, tmp_path: Path, what: str) -> None:
        _, store, locked = stored_once(tmp_path, what)
        before = sorted(p.name for p in store.parent.iterdir()), store.read_bytes()
        locked.chmod(0o444 if what == "file" else 0o555)
        try:
            listed = gf_as_user("runs", "list", "--json", "--store", str(store), cwd=tmp_path)
            shown = gf_as_user(
                "runs", "show", "last", "--json", "--store", str(store), cwd=tmp_path
            )
            gc = gf_as_user("runs", "gc", "--keep", "0", "--store", str(store), cwd=tmp_path)
        finally:
            locked.chmod(0o644 if what == "file" else 0o755)
        assert listed.returncode == 0, listed.stderr
        (run,) = json.loads(listed.stdout)
        assert (run["status"], run["counts"]) == ("succeeded", {"succeeded": 1})
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["nodes"][0]["output"] == {"x": 1}
        assert (gc.returncode, gc.stdout) == (2, ""), "deleting needs to write"
        assert gc.stderr.startswith(f"graphflow: error: run store {store}: ")
        assert "read-only" in gc.stderr and len(gc.stderr.splitlines()) == 1
        names, data = before
        if what == "file":  # (SQLite makes a -wal and -shm to read it, if it can)
            names = sorted({*names, "runs.db-shm", "runs.db-wal"})
        assert (sorted(p.name for p in store.parent.iterdir()), store.read_bytes()) == (names, data)

    def test_a_read_only_folder_whose_wal_cannot_be_read_is_one_line(self, tmp_path: Path) -> None:
        """A store copied with its -wal but not its -shm, into a folder one may only
        read: SQLite cannot read that -wal, and reading the file alone would miss
        committed runs; it is refused, saying why."""
        path = echo_flow(tmp_path)
        store = tmp_path / "store" / "runs.db"
        assert main(["run", path, "--store", str(store), "-q"]) == 0
        code = (  # a change committed to the -wal only: its writer died before a checkpoint
            "import os, sqlite3, sys; db = sqlite3.connect(sys.argv[1]);"
            " db.execute('PRAGMA wal_autocheckpoint=0');"
            " db.execute(\"UPDATE runs SET labels = json_object('k', 'v')\");"
            " db.commit(); os._exit(0)"
        )
        subprocess.run([sys.executable, "-c", code, str(store)], check=True, timeout=60)
        Path(f"{store}-shm").unlink()
        assert Path(f"{store}-wal").stat().st_size > 0
        store.parent.chmod(0o555)
        try:
            proc = gf_as_user("runs", "list", "--store", str(store), cwd=tmp_path)
        finally:
            store.parent.chmod(0o755)
        assert (proc.returncode, proc.stdout) == (2, "")
        assert proc.stderr.startswith(f"graphflow: error: run store {store}: ")
        assert "its folder is read-only and runs.db-wal holds rows" in proc.stderr
        assert len(proc.stderr.splitlines()) == 1
        (run,) = SQLiteStore(store).runs()  # where it can be written: the -wal's rows are read
        assert run.labels == {"k": "v"}


class TestFullDisk:
    def check(self, proc: subprocess.CompletedProcess[str], store: Path, says: str) -> None:
        assert proc.returncode == 1, proc.stderr
        assert "first " in proc.stdout and "big (8 items)" in proc.stdout  # the table, as usual
        assert (
            " only partly stored in " in proc.stdout
            and " stored in " not in proc.stdout.replace(" only partly stored in ", "")
        )
        assert "Traceback" not in proc.stderr and "cannot rollback" not in proc.stderr
        last = proc.stderr.splitlines()[-1]
        assert last.startswith(f"graphflow: error: run store {store}: ")
        assert says in last, last

    def test_a_tiny_filesystem_fills_mid_run(self, tmp_path: Path) -> None:
        """A 128 kB tmpfs, mounted in a mount namespace of the run's own (``unshare``),
        so it vanishes with the process: SQLite gets ``ENOSPC``, a real full disk."""
        unshare = shutil.which("unshare")
        disk = tmp_path / "disk"
        disk.mkdir()
        store = disk / "runs.db"
        mount = f'mount -t tmpfs -o size=128k tmpfs {disk} || exit 99; exec "$@"'
        command = [unshare or "unshare", "--mount", "--propagation", "private"]
        command += ["sh", "-c", mount, "sh", *CLI, "run", big_flow(tmp_path), "--store", str(store)]
        if os.geteuid() != 0 or unshare is None:
            pytest.skip("mounting a tmpfs needs root and unshare")
        proc = subprocess.run(
            command, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=60
        )
        if proc.returncode == 99 or "unshare failed" in proc.stderr:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()[:200]}")
        self.check(proc, store, "database or disk is full")

    def test_a_size_limited_file_fills_mid_run(self, tmp_path: Path) -> None:
        """``RLIMIT_FSIZE`` caps every file the run writes at 96 kB (SIGXFSZ ignored, so
        the write fails instead): the WAL outgrows it mid-run. Works without privileges."""

        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (96 * 1024, 96 * 1024))

        store = tmp_path / "runs.db"
        proc = subprocess.run(
            [*CLI, "run", big_flow(tmp_path), "--store", str(store)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=ENV,
            timeout=60,
            preexec_fn=limit,
        )
        self.check(proc, store, "")  # SQLite says "disk I/O error" or "database or disk is full"
        [record] = SQLiteStore(store).runs()  # what was committed is intact, and resumable
        assert record.status == "interrupted" and record.counts["succeeded"] >= 1


class TestCorrupt:
    def test_garbage_is_refused_before_anything_runs(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        store = tmp_path / "runs.db"
        store.write_bytes(os.urandom(8192))
        for args in (["run", echo_flow(tmp_path), "--store", str(store)], ["runs", "list"]):
            assert main([*args, "--store", str(store)] if args[0] == "runs" else args) == 2
            out, err = capsys.readouterr()
            assert out == ""
            assert err == (
                f"graphflow: error: run store {store}: file is not a database"
                " (the file is not a graphflow run store, or it is corrupt)\n"
            )

    def test_a_folder_given_as_the_store_is_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        folder = tmp_path / "runs"
        folder.mkdir()
        flow_path = echo_flow(tmp_path)
        for args in (["run", flow_path], ["runs", "list"], ["runs", "show", "last"]):
            assert main([*args, "--store", str(folder)]) == 2
            out, err = capsys.readouterr()
            assert (out, err) == (
                "",
                f"graphflow: error: run store {folder}: is a folder: give the store's file"
                " (e.g. .graphflow/runs.db)\n",
            )

    def test_a_damaged_page_is_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        store = tmp_path / "runs.db"
        path = echo_flow(tmp_path)
        for _ in range(3):
            assert main(["run", path, "--store", str(store), "-q"]) == 0
        size = store.stat().st_size
        with open(store, "r+b") as f:  # every page but the first (the header) is garbage
            f.seek(4096)
            f.write(os.urandom(size - 4096))
        for args in (["runs", "list"], ["run", path, "--resume", "last"]):
            code = main([*args, "--store", str(store)])
            out, err = capsys.readouterr()
            assert code == 2, (args, out, err)
            assert err.startswith(f"graphflow: error: run store {store}: ") and err.count("\n") == 1
            assert "corrupt" in err or "malformed" in err


class TestTwoWriters:
    def test_two_processes_write_one_store_at_once(self, tmp_path: Path) -> None:
        """Both runs wait for each other (a rendezvous node), then commit 12 items each,
        one at a time, so that their commits interleave."""
        go = tmp_path / "go"
        path = flow(
            tmp_path / "pair.yaml",
            f"""\
            name: pair
            inputs:
              who: {{default: x}}
            nodes:
              meet:
                tool: python
                args:
                  function: tests.cli.targets:rendezvous
                  kwargs: {{mark: "{tmp_path}/${{inputs.who}}.ready", go: "{go}"}}
              items:
                tool: python
                for_each: [{", ".join(map(str, range(12)))}]
                args: {{function: tests.cli.targets:blob, kwargs: {{size: 100, item: "${{item}}"}}}}
                depends_on: [meet]
                max_parallel: 1
            """,
        )
        store = tmp_path / "runs.db"
        procs = [start("run", path, "--store", str(store), "-i", f"who={who}") for who in "xy"]
        try:
            deadline = time.monotonic() + 30
            while not all((tmp_path / f"{who}.ready").exists() for who in "xy"):
                assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
                time.sleep(0.01)
            go.touch()
            outputs = [p.communicate(timeout=30) for p in procs]
        finally:
            for p in procs:
                p.kill()
                p.communicate()
        assert [p.returncode for p in procs] == [0, 0], outputs
        records = SQLiteStore(store).runs()
        assert [(r.status, r.counts) for r in records] == [("succeeded", {"succeeded": 14})] * 2
        ids = {out.splitlines()[-1].split()[1] for out, _ in outputs}
        assert ids == {r.run_id for r in records}
        data = json.loads(gf("runs", "list", "--store", str(store), "--json").stdout)
        assert {r["run_id"] for r in data} == ids


def test_a_killed_run_nobody_reaped_can_be_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SIGKILLed ``graphflow run`` whose parent has not waited for it is a zombie:
    it has exited, and its run is resumable (not 'still running')."""
    store = tmp_path / "runs.db"
    fast = tmp_path / "fast"
    path = flow(
        tmp_path / "hang.yaml",
        f"""\
        name: hang
        nodes:
          a: {{tool: echo, args: {{x: 1}}}}
          b:
            tool: python
            args:
              function: tests.cli.targets:slow_step
              kwargs: {{log: "{tmp_path}/log", node: b, unless: "{fast}"}}
            depends_on: [a]
        """,
    )
    proc = start("run", path, "--store", str(store))
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "log").exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        fast.touch()
        assert main(["run", path, "--store", str(store), "--resume", "last", "-q"]) == 0, (
            capsys.readouterr().err
        )
    finally:
        proc.kill()
        proc.communicate()

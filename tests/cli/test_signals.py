"""Real signals to a real ``graphflow run``, and the process table checked afterwards."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ..builtin_tools.processes import gone, read_pid
from .runner import flow, start, statuses


def shell_flow(tmp_path: Path) -> str:
    """``work`` is a shell node whose program and a background grandchild write their pids."""
    script = f"sleep 60 & echo $! > {tmp_path}/child.pid; echo $$ > {tmp_path}/leader.pid; wait"
    return flow(
        tmp_path / "work.yaml",
        f"""\
        name: work
        nodes:
          quick: {{tool: echo, args: {{x: 1}}}}
          work: {{tool: shell, args: {{argv: [sh, -c, "{script}"]}}}}
          after: {{tool: echo, args: {{x: "${{work}}"}}}}
        """,
    )


def wait_for_line(proc: subprocess.Popen[str], text: str, within: float = 20) -> list[str]:
    """stderr lines read until one containing ``text`` (the test's handshake with the CLI)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + within
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return seen
        assert time.monotonic() < deadline, seen
    raise AssertionError(f"{text!r} never came: {seen}")


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_a_signal_cancels_records_reports_kills_and_exits_128_plus_n(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    out = tmp_path / "out.json"
    proc = start("run", shell_flow(tmp_path), "--json", str(out))
    pids = [read_pid(tmp_path / "leader.pid"), read_pid(tmp_path / "child.pid")]
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == code, stderr
    assert f"graphflow: {signum.name}: cancelling the run" in stderr
    assert f"interrupted by {signum.name}: running nodes were cancelled" in stdout
    assert "1 succeeded, 1 skipped, 1 cancelled" in stdout
    data = json.loads(out.read_text())
    assert statuses(data) == {"quick": "succeeded", "work": "cancelled", "after": "skipped"}
    assert [pid for pid in pids if not gone(pid)] == [], (pids, stdout, stderr)  # the whole group


def stuck_flow(tmp_path: Path, more: str = "") -> tuple[str, Path]:
    """A workflow whose ``block`` holds a thread for 120 s, and ``more`` nodes (written
    at the indentation of ``block``); its path, and the file ``block`` makes once running."""
    marker = tmp_path / "block.running"
    text = f"""\
        name: stuck
        nodes:
          block:
            tool: python
            args:
              function: tests.cli.targets:block
              kwargs: {{marker: "{marker}", seconds: 120}}
        """
    return flow(tmp_path / "stuck.yaml", text.rstrip(" ") + more), marker


def test_a_second_ctrl_c_exits_at_once_naming_the_abandoned_thread(tmp_path: Path) -> None:
    path, marker = stuck_flow(
        tmp_path,
        f"""\
          work:
            tool: shell
            args: {{argv: [sh, -c, "echo $$ > {tmp_path}/leader.pid; sleep 120"]}}
          after: {{tool: echo, args: {{x: "${{block}}"}}}}
        """,
    )
    out = tmp_path / "out.json"
    proc = start("run", path, "--json", str(out))
    leader = read_pid(tmp_path / "leader.pid")
    _wait_file(marker)
    proc.send_signal(signal.SIGINT)
    seen = wait_for_line(proc, "cancelling the run")
    assert "it waits for the threads of block" in seen[-1]
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)  # the thread would block for 120 s
    assert proc.returncode == 130
    assert "graphflow: SIGINT again: exiting at once; abandoned threads: block" in stderr
    assert "interrupted by SIGINT" in stdout and "block" in stdout
    nodes = json.loads(out.read_text())["nodes"]
    assert statuses({"nodes": nodes}) == {
        "block": "cancelled",
        "work": "cancelled",
        "after": "skipped",
    }
    assert gone(leader)


def test_a_second_ctrl_c_exits_at_once_though_stdout_has_no_reader(tmp_path: Path) -> None:
    """``graphflow run ... --json - | head``, then Ctrl-C twice: the report on the way
    out met the broken pipe and left the CLI waiting for the thread, then a traceback."""
    path, marker = stuck_flow(tmp_path)
    proc = start("run", path, "--no-store", "--json", "-")
    _wait_file(marker)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader went away
    proc.send_signal(signal.SIGINT)
    wait_for_line(proc, "cancelling the run")
    proc.send_signal(signal.SIGINT)
    with proc.stderr:
        assert proc.wait(timeout=20) == 130  # the thread would block for 120 s
        stderr = proc.stderr.read()
    assert "Traceback" not in stderr and "abandoned threads: block" in stderr


def _wait_file(path: Path, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_ctrl_c_with_process_nodes_running_waits_for_no_threads(tmp_path: Path) -> None:
    """A process node's worker is killed at once: no 'waits for the threads of' it; and
    the workflow's own tool module runs in the worker (imported from its folder)."""
    (tmp_path / "napping.py").write_text(
        "import os, time\n\n"
        "def nap(pid_file: str) -> None:\n"
        "    with open(pid_file, 'w') as f:\n"
        "        print(os.getpid(), file=f)\n"
        "    time.sleep(60)\n"
    )
    path = flow(
        tmp_path / "wf.yaml",
        f"""\
        name: procs
        tools: [napping]
        nodes:
          nap: {{tool: nap, executor: process, args: {{pid_file: {tmp_path}/worker.pid}}}}
        """,
    )
    out = tmp_path / "out.json"
    proc = start("run", path, "--no-store", "--json", str(out))
    worker = read_pid(tmp_path / "worker.pid")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "graphflow: SIGINT: cancelling the run\n" in stderr and "threads of" not in stderr
    assert statuses(json.loads(out.read_text())) == {"nap": "cancelled"}
    assert gone(worker)

"""shell against real subprocesses."""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from graphflow.builtin_tools.shell import CommandFailed, shell

from .processes import gone, read_pid, running

pytestmark = pytest.mark.anyio
PY = sys.executable


async def test_captures_exit_code_stdout_and_stderr() -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr)"
    assert await shell([PY, "-c", code]) == {"exit_code": 0, "stdout": "out\n", "stderr": "err\n"}


async def test_nonzero_exit_fails_unless_check_is_off() -> None:
    argv = [PY, "-c", "import sys; print('bad input', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(CommandFailed, match="exited with 3: bad input") as info:
        await shell(argv)
    assert info.value.result["exit_code"] == 3
    assert (await shell(argv, check=False))["exit_code"] == 3


async def test_stdin_env_and_cwd(tmp_path: Path) -> None:
    code = "import os, sys; print(sys.stdin.read().upper(), os.environ['GF_TEST'], os.getcwd())"
    result = await shell([PY, "-c", code], stdin="hello", env={"GF_TEST": "v"}, cwd=str(tmp_path))
    assert result["stdout"].split() == ["HELLO", "v", str(tmp_path)]


async def test_env_without_inheritance() -> None:
    result = await shell(
        [PY, "-c", "import os; print(sorted(k for k in os.environ if k != 'LC_CTYPE'))"],
        env={"ONLY": "1"},
        inherit_env=False,
    )
    assert result["stdout"].strip() == "['ONLY']"


async def test_a_shell_string_is_refused() -> None:
    for bad in ("echo hi; rm -rf /", b"echo hi", [], ["echo", 1], {"echo": "hi"}):
        with pytest.raises(TypeError, match="argv must be a non-empty list"):
            await shell(bad)  # type: ignore[arg-type]


async def test_wrong_options_are_one_clear_error_before_anything_runs() -> None:
    """stdin: 5 came back as an ExceptionGroup from the writer's task group; check:
    "no" was taken as true."""
    cases: list[tuple[dict[str, Any], str]] = [
        ({"stdin": 5}, "stdin must be a string, got int"),
        ({"check": "no"}, "check must be true or false, got 'no'"),
        ({"timeout": float("nan")}, "timeout must be a number > 0, got nan"),
        ({"env": {"A": 1}}, "env must map names to strings"),
    ]
    for options, says in cases:
        with pytest.raises((TypeError, ValueError), match=says):
            await shell(["echo", "hi"], **options)


async def test_any_sequence_of_strings_is_an_argv() -> None:
    for argv in (("echo", "hi"), collections.deque(["echo", "hi"])):
        assert (await shell(argv))["stdout"] == "hi\n"


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await shell(["sh", "-c", script], timeout=1)  # (sh writes the pid well within 1 s)
    assert time.monotonic() - started < 30, "it waited for the grandchild's 60 s"
    assert gone(int(pidfile.read_text()))


async def test_cancellation_kills_the_group_and_reaps_the_program(tmp_path: Path) -> None:
    program, child = tmp_path / "program.pid", tmp_path / "child.pid"
    script = f"echo $$ > {program}; sleep 60 & echo $! > {child}; wait"
    async with anyio.create_task_group() as tg:
        tg.start_soon(shell, ["sh", "-c", script])
        grandchild = await anyio.to_thread.run_sync(read_pid, child)  # both running now
        tg.cancel_scope.cancel()
    assert not running(read_pid(program)), "reaped before shell() returned, not a moment later"
    assert gone(grandchild)


async def test_a_backgrounded_grandchild_does_not_hold_the_node(tmp_path: Path) -> None:
    # The node ends when its program exits; what it left in its group is killed.
    pidfile = tmp_path / "grandchild.pid"
    with anyio.fail_after(20):  # the grandchild would hold the pipe for 120 s
        result = await shell(["sh", "-c", f"sleep 120 & echo $! > {pidfile}; echo started"])
    assert result == {"exit_code": 0, "stdout": "started\n", "stderr": ""}
    assert gone(int(pidfile.read_text()))


async def test_output_written_by_the_group_before_the_program_exits_is_kept() -> None:
    script = "(echo from-child; echo child-err >&2) & wait; echo from-leader"
    result = await shell(["sh", "-c", script])
    assert result["stdout"].split() == ["from-child", "from-leader"]
    assert result["stderr"] == "child-err\n"


async def test_a_program_that_does_not_read_its_stdin_still_reports_its_exit() -> None:
    result = await shell([PY, "-c", "raise SystemExit(4)"], stdin="x" * 1_000_000, check=False)
    assert result["exit_code"] == 4

"""``shell``: run a program from an argv list (never through a shell string)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any, Final

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, Process

from . import _checks

DRAIN_GRACE: Final = 1.0
"""Seconds to keep reading a program's output after it exited and its process
group was killed: only a process that left the group (``setsid``, a daemon)
can still hold the pipes open by then, and it must not hold the node."""

_GROUPS: set[int] = set()
"""Process groups started by ``shell`` calls that have not finished yet (their
leaders' pids): what ``kill_process_groups`` kills."""


class CommandFailed(RuntimeError):
    """A command exited non-zero with ``check`` on; its output is kept on the error."""

    def __init__(self, argv: Sequence[str], result: dict[str, Any]) -> None:
        self.result = result
        tail = (result["stderr"] or result["stdout"]).strip().splitlines()[-3:]
        detail = (": " + " | ".join(tail)) if tail else ""
        super().__init__(f"{argv[0]} exited with {result['exit_code']}{detail}")


check_cwd: Final = _checks.string("cwd", none=True)
check_env: Final = _checks.mapping("env", of_strings=True)
check_stdin: Final = _checks.string("stdin", none=True)
check_timeout: Final = _checks.seconds("timeout", zero=False, none=True)
check_check: Final = _checks.flag("check")
check_inherit_env: Final = _checks.flag("inherit_env")


def check_argv(argv: Any) -> None:
    """``shell``'s check of ``argv`` (``validate`` makes it too, on a constant)."""
    if (
        isinstance(argv, str | bytes)
        or not isinstance(argv, Sequence)
        or not argv
        or not all(isinstance(a, str) for a in argv)
    ):
        raise TypeError("argv must be a non-empty list of strings (no shell string)")


async def shell(
    argv: Sequence[str],
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 (the command's own limit, a tool argument)
    check: bool = True,
    inherit_env: bool = True,
) -> dict[str, Any]:
    """Run ``argv`` and return ``{exit_code, stdout, stderr}``.

    The program runs in a new session, as the leader of its own process group.
    **The node ends when that program exits**: whatever it left running in its
    process group (``sh -c "sleep 60 & echo started"`` leaves ``sleep``) is then
    killed with SIGKILL, and its output is read until the pipes close, for at
    most ``DRAIN_GRACE`` seconds more (only a process that left the group, with
    ``setsid`` or by daemonising, can keep them open; it is not killed). On
    timeout or cancellation the whole group is killed at once. So no process
    of the group outlives the node; a program that needs a server running
    after it returns should not start that server from a ``shell`` node.

    Args:
        argv: the program and its arguments, e.g. ``["git", "ls-files"]``.
        cwd: the working directory.
        env: variables to set (added to this process's environment unless
            ``inherit_env`` is false).
        stdin: text written to the program's standard input.
        timeout: seconds before the whole process group is killed (the node
            then fails with ``TimeoutError``).
        check: fail the node on a non-zero exit (``CommandFailed``).
        inherit_env: start from this process's environment.

    Returns:
        ``{"exit_code": int, "stdout": str, "stderr": str}`` (undecodable bytes replaced).

    Raises:
        TypeError: ``argv`` is not a non-empty list of strings.
        CommandFailed: a non-zero exit with ``check`` on.
        TimeoutError: ``timeout`` expired.
    """
    check_argv(argv)
    check_cwd(cwd)
    check_env(env)
    check_stdin(stdin)
    check_timeout(timeout)
    check_check(check)
    check_inherit_env(inherit_env)
    full_env = {**os.environ, **(env or {})} if inherit_env else dict(env or {})
    # Shielded: cancelled between the fork and its return, asyncio kills the
    # program alone (not its group) and anything it had started is orphaned.
    with anyio.CancelScope(shield=True):
        process = await anyio.open_process(
            list(argv),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            cwd=cwd,
            env=full_env,
            start_new_session=True,
        )
    _GROUPS.add(process.pid)
    try:
        with anyio.fail_after(timeout):
            result = await _communicate(process, stdin)
    except BaseException:
        _kill_group(process.pid)
        raise
    finally:
        _GROUPS.discard(process.pid)
        with anyio.CancelScope(shield=True):
            await process.aclose()
    if check and result["exit_code"] != 0:
        raise CommandFailed(argv, result)
    return result


def kill_process_groups() -> list[int]:
    """SIGKILL every process group a ``shell`` call started and has not finished with.

    For a program about to exit without unwinding its tasks (the CLI's second
    Ctrl-C): normally each call kills its own group when it ends.

    Returns:
        The process group ids that were signalled.
    """
    groups = sorted(_GROUPS)
    for pgid in groups:
        _kill_group(pgid)
    return groups


async def _communicate(process: Process, stdin: str | None) -> dict[str, Any]:
    """Feed ``stdin``, read both pipes, and return once the program has exited."""
    out: list[bytes] = []
    err: list[bytes] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_drain, process.stdout, out)
        tg.start_soon(_drain, process.stderr, err)
        if stdin is not None and process.stdin is not None:
            await _feed(process.stdin, stdin)
        code = await process.wait()
        _kill_group(process.pid)  # what it left behind, so that the pipes close
        tg.cancel_scope.deadline = anyio.current_time() + DRAIN_GRACE
    return {
        "exit_code": code,
        "stdout": b"".join(out).decode(errors="replace"),
        "stderr": b"".join(err).decode(errors="replace"),
    }


async def _drain(stream: ByteReceiveStream | None, chunks: list[bytes]) -> None:
    if stream is not None:
        async for chunk in stream:
            chunks.append(chunk)


async def _feed(stream: ByteSendStream, text: str) -> None:
    try:
        await stream.send(text.encode())
        await stream.aclose()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # the program exited without reading all of it: its exit code says the rest


def _kill_group(pgid: int) -> None:
    """SIGKILL process group ``pgid`` (gone already: nothing to do)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass

"""``shell``: run a program from an argv list (never through a shell string)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream, Process


class CommandFailed(RuntimeError):
    """A command exited non-zero with ``check`` on; its output is kept on the error."""

    def __init__(self, argv: Sequence[str], result: dict[str, Any]) -> None:
        self.result = result
        tail = (result["stderr"] or result["stdout"]).strip().splitlines()[-3:]
        detail = (": " + " | ".join(tail)) if tail else ""
        super().__init__(f"{argv[0]} exited with {result['exit_code']}{detail}")


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

    Args:
        argv: the program and its arguments, e.g. ``["git", "ls-files"]``.
        cwd: the working directory.
        env: variables to set (added to this process's environment unless
            ``inherit_env`` is false).
        stdin: text written to the program's standard input.
        timeout: seconds before the whole process group is killed (the node
            then fails with ``TimeoutError``).
        check: fail the node on a non-zero exit (``CommandFailed``).

    The program runs in a new session; on timeout or cancellation its whole
    process group is killed, so no grandchild outlives the node.
    """
    if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError("argv must be a non-empty list of strings (no shell string)")
    full_env = {**os.environ, **(env or {})} if inherit_env else dict(env or {})
    process = await anyio.open_process(
        list(argv),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        cwd=cwd,
        env=full_env,
        start_new_session=True,
    )
    try:
        with anyio.fail_after(timeout):
            result = await _communicate(process, stdin)
    except BaseException:
        _kill_group(process)
        with anyio.CancelScope(shield=True):
            await process.wait()
        raise
    if check and result["exit_code"] != 0:
        raise CommandFailed(argv, result)
    return result


async def _communicate(process: Process, stdin: str | None) -> dict[str, Any]:
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

    async def drain(stream: ByteReceiveStream | None, name: str) -> None:
        if stream is not None:
            async for chunk in stream:
                chunks[name].append(chunk)

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain, process.stdout, "stdout")
        tg.start_soon(drain, process.stderr, "stderr")
        if stdin is not None and process.stdin is not None:
            await process.stdin.send(stdin.encode())
            await process.stdin.aclose()
    code = await process.wait()
    return {
        "exit_code": code,
        "stdout": b"".join(chunks["stdout"]).decode(errors="replace"),
        "stderr": b"".join(chunks["stderr"]).decode(errors="replace"),
    }


def _kill_group(process: Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

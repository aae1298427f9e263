"""Checking the process table for what a test started."""

from __future__ import annotations

import os
import time
from pathlib import Path


def running(pid: int) -> bool:
    """Is ``pid`` a live process? A zombie is not: it has exited, and only waits to
    be reaped by its parent (here PID 1, which reaps lazily)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` is no longer running, polling for ``within`` seconds: a
    SIGKILLed process is gone a moment after the signal, not at the same instant."""
    deadline = time.monotonic() + within
    while running(pid):
        if time.monotonic() > deadline:
            os.kill(pid, 9)  # do not leave it behind for the next test
            return False
        time.sleep(0.02)
    return True


def read_pid(path: Path, within: float = 20.0) -> int:
    """The pid a test's program wrote to ``path`` (waiting until it is there)."""
    deadline = time.monotonic() + within
    while True:
        text = path.read_text() if path.exists() else ""
        if text.endswith("\n"):
            return int(text)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} was not written within {within} s")
        time.sleep(0.01)

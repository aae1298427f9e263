"""Module-level tools for the process executor's tests (a worker process imports this)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import graphflow as gf


def pid() -> int:
    return os.getpid()


def nap(seconds: float, pid_file: str = "") -> int:
    if pid_file:
        Path(pid_file).write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


def started() -> float:
    """When this process started: seconds since boot, to a clock tick (Linux's /proc)."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    return ticks / os.sysconf("SC_CLK_TCK")


def square(x: int) -> int:
    return x * x


def boom(message: str) -> None:
    raise ValueError(message)


def lambda_back() -> Any:
    return lambda: 1


def die_once(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os._exit(3)
    return "second time lucky"


@gf.tool(executor="process")
def cube(x: int) -> int:
    """A tool that runs in a process unless told otherwise."""
    return x**3


class LockedError(Exception):
    """An exception holding a lock: it cannot be pickled back from a worker."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


class TwoArgs(Exception):
    """Pickles, but cannot be rebuilt from its args (pickle calls TwoArgs(message))."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")


def raise_locked() -> None:
    raise LockedError("bad thing happened")


def raise_two_args() -> None:
    raise TwoArgs(1, 2)


def nap_until_signalled(pid_file: str, seconds: float) -> str:
    """Write this worker's pid, then sleep through whatever signal arrives meanwhile."""
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(seconds)
    return "slept"


def start_slowly(conn: Any) -> None:
    """A worker's start that hangs (an import waiting on something): never ready."""
    time.sleep(60)

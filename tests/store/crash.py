"""A graph whose ``crash`` node SIGKILLs its own process while the file ``flag``
exists: a forced resume that dies before it reran what changed (see
``test_sqlite.py``). Run as ``python -m tests.store.crash DB FLAG``."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import graphflow as gf


def value(x: Any, after: Any = None) -> Any:
    return x


def maybe_die(flag: str) -> str:
    if os.path.exists(flag):
        os.kill(os.getpid(), signal.SIGKILL)
    return "alive"


def fails(x: Any) -> None:
    raise RuntimeError("c fails")


def graph(version: int, flag: str) -> gf.Graph:
    """Version 1: b -> c (c fails). Version 2: b's value changed, and b waits for ``crash``."""
    g = gf.Graph()
    if version == 1:
        g.add("b", value, args={"x": 1})
    else:
        g.add("crash", maybe_die, args={"flag": flag})
        g.add("b", value, args={"x": 2, "after": "${crash}"})
    g.add("c", fails if version == 1 else value, args={"x": "${b}"})
    return g


def main() -> None:
    db, flag = sys.argv[1:]
    gf.run_sync(graph(2, flag), store=db, workflow="crash", resume="last", force=True)


if __name__ == "__main__":  # (the tools must be this module's, not __main__'s: fingerprints)
    from tests.store.crash import main as imported

    imported()

"""Functions for the ``python`` built-in to call in tests."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import anyio.lowlevel


def block(seconds: float, ended: str) -> str:
    """Block this thread for ``seconds``, then write the wall-clock time to ``ended``."""
    time.sleep(seconds)
    Path(ended).write_text(repr(time.time()))
    return "done"


async def later(value: int) -> int:
    """An async target."""
    await anyio.lowlevel.checkpoint()
    return value * 2

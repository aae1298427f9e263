"""Functions that CLI test workflows call through the ``python`` built-in."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def cyclic() -> dict[str, Any]:
    """A dict that contains itself."""
    value: dict[str, Any] = {"name": "loop"}
    value["self"] = value
    return value


def deep(depth: int) -> list[Any]:
    """A list nested ``depth`` levels deep."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def check(item: int, bad: list[int]) -> int:
    """``item``, or ValueError for the items in ``bad``."""
    if item in bad:
        raise ValueError(f"bad item {item}")
    return item


def block(marker: str, seconds: float) -> str:
    """Write ``marker`` (the handshake: the thread is running), then block ``seconds``."""
    Path(marker).write_text("running\n")
    time.sleep(seconds)
    return "returned"


def blob(size: int, item: int = 0) -> str:
    """A string of ``size`` characters (an output that takes room in a store)."""
    return str(item) * size


def step(log: str, node: str, seconds: float = 0.0, fail_if: str = "") -> str:
    """Append ``node`` to ``log`` (a side effect: one line per call), sleep ``seconds``,
    then fail if the file ``fail_if`` exists."""
    with open(log, "a", encoding="utf-8") as f:
        f.write(node + "\n")
    time.sleep(seconds)
    if fail_if and Path(fail_if).exists():
        raise RuntimeError(f"{node} failed: {fail_if} exists")
    return node


async def slow_step(log: str, node: str, unless: str) -> str:
    """Append ``node`` to ``log``, then wait (cancellably) a minute unless the file
    ``unless`` exists."""
    import anyio

    async with await anyio.open_file(log, "a", encoding="utf-8") as f:
        await f.write(node + "\n")
    if not await anyio.Path(unless).exists():
        await anyio.sleep(60)
    return node


def rendezvous(mark: str, go: str, within: float = 30.0) -> str:
    """Create ``mark``, then wait until the file ``go`` exists (two runs start together)."""
    Path(mark).touch()
    deadline = time.monotonic() + within
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{go} never came")
        time.sleep(0.005)
    return mark

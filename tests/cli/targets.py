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

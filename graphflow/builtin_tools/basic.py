"""``echo``, ``sleep`` and ``python``."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import anyio


async def echo(**kwargs: Any) -> dict[str, Any]:
    """Return the arguments it was given, as a mapping (``${node.text}`` reads one back)."""
    return kwargs


async def sleep(seconds: float) -> float:
    """Sleep ``seconds`` (without blocking the loop) and return them."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"seconds must be a number >= 0, got {seconds!r}")
    await anyio.sleep(seconds)
    return seconds


async def python(function: str, kwargs: dict[str, Any] | None = None) -> Any:
    """Call ``package.module:function`` with ``kwargs``; await it if it is async.

    Args:
        function: ``"module.path:attribute"`` (the attribute may be dotted).
        kwargs: keyword arguments for the call.
    """
    module_name, sep, attr = function.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"function must look like 'package.module:function', got {function!r}")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{function} is {type(target).__name__}, not callable")
    if inspect.iscoroutinefunction(target):
        return await target(**(kwargs or {}))
    result = await anyio.to_thread.run_sync(lambda: target(**(kwargs or {})))
    return await result if inspect.isawaitable(result) else result

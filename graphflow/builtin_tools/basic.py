"""``echo``, ``sleep`` and ``python``."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Generator
from typing import Any, Final, cast

import anyio

from . import _checks


async def echo(**kwargs: Any) -> dict[str, Any]:
    """Return the arguments it was given, as a mapping (``${node.text}`` reads one back)."""
    return kwargs


async def sleep(seconds: float) -> float:
    """Sleep ``seconds`` (without blocking the loop) and return them."""
    check_seconds(seconds)
    await anyio.sleep(seconds)
    return seconds


check_seconds: Final = _checks.seconds("seconds", zero=True)
check_args: Final = _checks.sequence("args", none=True)
check_kwargs: Final = _checks.mapping("kwargs")


def python(
    function: str, kwargs: dict[str, Any] | None = None, args: list[Any] | None = None
) -> Any:
    """Call ``package.module:function`` with ``args`` (positional) and ``kwargs``.

    A plain (sync) tool, so the run calls it as it calls every sync tool: in its
    executor's worker thread, where the node's timeout and cancellation apply
    (the node fails at its timeout; the thread is abandoned, as any sync tool's
    is). The target is imported in that thread too, never on the event loop.
    For an ``async def`` target it returns an awaitable that the executor
    awaits on the event loop, still under the node's timeout.

    Args:
        function: ``"module.path:attribute"`` (the attribute may be dotted).
        kwargs: keyword arguments for the call.
        args: positional arguments for the call (``args: [3, 4]``).

    Returns:
        What the target returned (for an async target: an awaitable of it).

    Raises:
        ValueError: ``function`` is not ``module:attribute``.
        TypeError: the attribute is not callable.
    """
    check_args(args)
    check_kwargs(kwargs)
    target = _resolve(function)
    positional = tuple(args or ())
    if _is_async(target):
        return _Deferred(target, kwargs or {}, positional)
    return target(*positional, **(kwargs or {}))


def check_function(function: Any) -> None:
    """``python``'s check of ``function``'s form (``validate`` makes it too, on a
    constant; the import itself waits for the run)."""
    module_name, sep, attr = function.partition(":") if isinstance(function, str) else ("", "", "")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"function must look like 'package.module:function', got {_checks.short(function)}"
        )


def _resolve(function: str) -> Callable[..., Any]:
    check_function(function)
    module_name, _, attr = function.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{function} is {type(target).__name__}, not callable")
    return cast("Callable[..., Any]", target)


def _is_async(target: object) -> bool:
    """True for coroutine functions and objects with an ``async __call__``."""
    call = getattr(type(target), "__call__", None)  # noqa: B004 (the method, to inspect)
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(call)


class _Deferred:
    """An async target's call, made only when awaited: created in a worker
    thread and then dropped (the node was cancelled meanwhile), it leaves no
    never-awaited coroutine behind."""

    __slots__ = ("_args", "_kwargs", "_target")

    def __init__(
        self, target: Callable[..., Any], kwargs: dict[str, Any], args: tuple[Any, ...] = ()
    ) -> None:
        self._target = target
        self._kwargs = kwargs
        self._args = args

    def __await__(self) -> Generator[Any, None, Any]:
        return self._target(*self._args, **self._kwargs).__await__()  # type: ignore[no-any-return]

"""The built-in tools' checks of their arguments, before they act.

Each tool calls them on what it is given, and ``graphflow validate`` calls the
same functions (``CHECKS`` in the package) on a node's constant arguments, so a
file is refused for what its run would be refused, with the same message.
Values in messages are quoted short, whatever their size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

_SHOWN: Final = 60  # characters of a value quoted in a message

Check = Callable[[Any], None]


def short(value: Any) -> str:
    """``repr(value)``, cut to ``_SHOWN`` characters."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def seconds(name: str, *, zero: bool, none: bool = False) -> Check:
    """A number of seconds (>= 0 if ``zero``, else > 0; None too if ``none``)."""
    bound = ">= 0" if zero else "> 0"

    def check(value: Any) -> None:
        if value is None and none:
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number {bound}, got {short(value)}")
        try:
            number = float(value)
        except OverflowError:  # (an int with hundreds of digits: no timer takes it)
            number = math.nan
        if math.isnan(number) or number < 0 or (number == 0 and not zero):
            raise ValueError(f"{name} must be a number {bound}, got {short(value)}")

    return check


def string(name: str, *, none: bool = False) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, str) and not (value is None and none):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")

    return check


def flag(name: str) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be true or false, got {short(value)}")

    return check


def mapping(name: str, *, of_strings: bool = False) -> Check:
    """None, or a mapping with string keys (and, ``of_strings``, string values)."""

    def check(value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise TypeError(f"{name} must be a mapping of names, got {short(value)}")
        if of_strings and not all(isinstance(v, str) for v in value.values()):
            raise TypeError(f"{name} must map names to strings, got {short(value)}")

    return check


def sequence(name: str, *, none: bool = False) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, list | tuple) and not (value is None and none):
            raise TypeError(f"{name} must be a list, got {type(value).__name__}")

    return check

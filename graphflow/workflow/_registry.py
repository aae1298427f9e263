"""Where a workflow's tool names come from.

In order of precedence: the modules a workflow lists in ``tools:`` (or that
``--tools`` adds), then the built-ins, then installed packages' entry points in
the group ``graphflow.tools`` (loaded only when a name is looked up).

From a module, the tools are the names in its ``__all__`` if it has one, else
its public functions defined in that module.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from graphflow import ToolNotFoundError

from ..builtin_tools import BUILTINS

ENTRY_POINT_GROUP = "graphflow.tools"


class DuplicateToolError(ValueError):
    def __init__(self, name: str, first: str, second: str) -> None:
        super().__init__(f"tool {name!r} is defined by both {first} and {second}")


def module_tools(module: ModuleType) -> dict[str, Callable[..., Any]]:
    """The tools a module offers: its ``__all__``, else its own public functions."""
    names = getattr(module, "__all__", None)
    if names is not None:
        found = {n: getattr(module, n) for n in names}
        return {n: f for n, f in found.items() if callable(f)}
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and inspect.isfunction(obj)
        and obj.__module__ == module.__name__
    }


@contextmanager
def import_path(folder: Path | None) -> Iterator[None]:
    """Let ``tools:`` modules sit next to the workflow file."""
    if folder is None:
        yield
        return
    entry = str(folder.resolve())
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        try:
            sys.path.remove(entry)
        except ValueError:
            pass


class ToolRegistry:
    """Tool names to callables for one workflow."""

    def __init__(self, modules: Iterable[ModuleType] = ()) -> None:
        self._mine: dict[str, Callable[..., Any]] = {}
        self._origin: dict[str, str] = {}
        for module in modules:
            self.add_module(module)

    def add_module(self, module: ModuleType) -> None:
        for name, fn in module_tools(module).items():
            if name in self._mine and self._mine[name] is not fn:
                raise DuplicateToolError(name, self._origin[name], module.__name__)
            self._mine[name] = fn
            self._origin[name] = module.__name__

    def names(self) -> list[str]:
        eps = [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]
        return sorted({*self._mine, *BUILTINS, *eps})

    def resolve(self, name: str, where: str = "") -> Callable[..., Any]:
        """The callable for ``name``, or ``ToolNotFoundError`` listing close matches."""
        if name in self._mine:
            return self._mine[name]
        if name in BUILTINS:
            return BUILTINS[name]
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
            loaded = ep.load()
            if callable(loaded):
                return loaded  # type: ignore[no-any-return]
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.6)
        raise ToolNotFoundError(name, close, where)


def import_modules(names: Iterable[str], folder: Path | None) -> list[ModuleType]:
    with import_path(folder):
        return [importlib.import_module(n) for n in names]

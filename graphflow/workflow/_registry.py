"""Where a workflow's tool names come from.

In order of precedence: the modules a workflow lists in ``tools:`` (or that
``--tools`` adds), then the built-ins, then installed packages' entry points in
the group ``graphflow.tools`` (loaded only when a name is looked up).

From a module, the tools are the names in its ``__all__`` if it has one, else
its public functions and ``Tool`` objects (``@graphflow.tool``) defined in
that module. A ``Tool`` is known by its ``name`` (the function's, unless
``@tool(name=...)`` says otherwise), a plain function by its own name.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from graphflow import Tool, ToolNotFoundError

from ..builtin_tools import BUILTINS
from ._text import quote

if TYPE_CHECKING:
    from graphflow.mcp import McpToolbox

ENTRY_POINT_GROUP = "graphflow.tools"


class DuplicateToolError(ValueError):
    def __init__(self, name: str, first: str, second: str) -> None:
        super().__init__(f"tool {name!r} is defined by both {first} and {second}")


def module_tools(module: ModuleType) -> dict[str, Callable[..., Any]]:
    """The tools a module offers, by the names a workflow uses.

    Args:
        module: an imported module.

    Returns:
        The callables named in its ``__all__`` if it has one, else its public
        functions and ``Tool`` objects defined in it; a ``Tool`` under its ``name``.
    """
    names = getattr(module, "__all__", None)
    if names is not None:
        found = [getattr(module, n, None) for n in names if isinstance(n, str)]
        listed = zip(names, found, strict=False)
        return {_tool_name(n, f): f for n, f in listed if callable(f)}
    return {
        _tool_name(name, obj): obj
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or isinstance(obj, Tool))
        and getattr(obj, "__module__", None) == module.__name__
    }


def _tool_name(attribute: str, obj: object) -> str:
    return obj.name if isinstance(obj, Tool) else attribute


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
        self.mcp: McpToolbox | None = None
        for module in modules:
            self.add_module(module)

    def add_module(self, module: ModuleType) -> None:
        for name, fn in module_tools(module).items():
            if name in self._mine and self._mine[name] is not fn:
                raise DuplicateToolError(name, self._origin[name], module.__name__)
            self._mine[name] = fn
            self._origin[name] = module.__name__

    def add_mcp(self, toolbox: McpToolbox) -> None:
        """Resolve ``server.tool`` names through the file's MCP servers."""
        self.mcp = toolbox

    def is_mcp(self, name: str) -> bool:
        return self.mcp is not None and self.mcp.split(name) is not None

    def names(self) -> list[str]:
        eps = [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]
        listed = self.mcp.names if self.mcp is not None else []
        return sorted({*self._mine, *BUILTINS, *eps, *listed})

    def resolve(self, name: str, where: str = "") -> Callable[..., Any]:
        """The callable for ``name``, or ``ToolNotFoundError`` listing close matches."""
        if self.mcp is not None and self.is_mcp(name):
            return self.mcp.resolve(name)
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


_MODULE_NAME: Final = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", re.ASCII)


class ToolModuleError(ImportError):
    """A ``tools:`` module could not be imported; the message says why, in one line."""


def import_modules(names: Iterable[str], folder: Path | None) -> list[ModuleType]:
    """Import each module, ``folder`` first on the path.

    Raises:
        ToolModuleError: a name is not a module name (``""``, ``".x"``), or the
            module cannot be imported, or raises while it is (any exception).
    """
    with import_path(folder):
        return [_import(n) for n in names]


def _import(name: str) -> ModuleType:
    if not _MODULE_NAME.fullmatch(name):
        raise ToolModuleError(
            f"{quote(name)} is not a module name (like 'my_tools' or 'pkg.tools')"
        )
    try:
        return importlib.import_module(name)
    except Exception as exc:  # the module's own code may raise anything while importing
        raise ToolModuleError(f"cannot import tools module {quote(name)}: {exc}") from exc

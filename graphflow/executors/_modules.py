"""Tools whose module a worker process cannot import by name: a workflow's ``tools:``.

A workflow's tool modules are imported from the workflow file's folder, which
is not on ``sys.path``; pickle sends a module-level function by name, and a
worker (a spawned process, a Dask worker) would fail to import it. Such a
tool travels as (folder, module, qualified name) instead and is imported from
that folder in the worker: on one machine, or a shared file system.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from .._types import ToolFn

_FOLDERS: dict[str, str | None] = {}  # module name -> folder its tools are imported from


def folder_of(tool: ToolFn) -> str | None:
    """The folder to import ``tool``'s module from, if it is not on ``sys.path``
    (else None): the module's own folder, or for a module of a package the folder
    the package is in.

    Such a module (a workflow's ``tools:``, imported from the workflow's
    folder) is imported on the worker from that folder: pickle sends a
    module-level function by name, and the worker could not import it. Not a
    script's own functions (``__main__``: a spawned process re-imports the
    script, and cloudpickle sends them by value), nor what has no importable
    name (a lambda, a closure, a bound method).
    """
    name = getattr(tool, "__module__", None) or "__main__"
    qualname = getattr(tool, "__qualname__", "<")
    if name == "__main__" or "<" in qualname or inspect.ismethod(tool):
        return None
    if name in _FOLDERS:
        return _FOLDERS[name]
    top = name.partition(".")[0]
    package = sys.modules.get(top)
    path = getattr(package, "__file__", None)
    folder = None
    if path and importlib.machinery.PathFinder.find_spec(top) is None:
        folder = os.path.dirname(path)
        if hasattr(package, "__path__"):  # (.../pkg/__init__.py: pkg's own folder's parent)
            folder = os.path.dirname(folder)
    _FOLDERS[name] = folder
    return folder


def apply_from(folder: str, module: str, qualname: str, arguments: dict[str, Any]) -> Any:
    """A tool named by its module, imported (with ``folder`` on ``sys.path``, last,
    so that its siblings import too) in a worker, called with ``arguments``."""
    if module not in sys.modules:
        if folder not in sys.path:
            sys.path.append(folder)
        if importlib.util.find_spec(module.partition(".")[0]) is None:
            raise ModuleNotFoundError(f"no module {module!r} in {folder}", name=module)
        importlib.import_module(module)  # (a module that failed is not left half-made)
    tool: Any = sys.modules[module]
    for part in qualname.split("."):
        tool = getattr(tool, part)
    return tool(**arguments)


def by_name(tool: ToolFn) -> Callable[..., Any]:
    """``tool``, or, when its module is not importable by name (``folder_of``), a
    picklable stand-in that imports it from its folder and calls it."""
    folder = folder_of(tool)
    if folder is None:
        return tool
    return functools.partial(_call_from, folder, tool.__module__, tool.__qualname__)


def _call_from(folder: str, module: str, qualname: str, /, **arguments: Any) -> Any:
    return apply_from(folder, module, qualname, arguments)

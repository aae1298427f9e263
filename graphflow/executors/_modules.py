"""Tools whose module a worker process cannot import by name: a workflow's ``tools:``.

A workflow's tool modules are imported from the workflow file's folder, which
is not on ``sys.path``; pickle sends a module-level function by name, and a
worker (a spawned process, a Dask worker) would fail to import it. Such a
tool travels as (folder, module, qualified name) instead and is imported from
that folder in the worker: on one machine, or a shared file system.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

from .._types import ToolFn

_FOLDERS: dict[str, str | None] = {}  # module name -> folder its tools are imported from


def folder_of(tool: ToolFn) -> str | None:
    """The folder of ``tool``'s module if it is not on ``sys.path`` (else None).

    Such a module (a workflow's ``tools:``, imported from the workflow's
    folder) is imported on the worker from that folder: pickle sends a
    module-level function by name, and the worker could not import it. Not a
    script's own functions (``__main__``: a spawned process re-imports the
    script, and cloudpickle sends them by value), nor what has no importable
    name (a lambda, a closure).
    """
    name = getattr(tool, "__module__", None) or "__main__"
    qualname = getattr(tool, "__qualname__", "<")
    if name == "__main__" or "<" in qualname:
        return None
    if name in _FOLDERS:
        return _FOLDERS[name]
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    top = name.partition(".")[0]
    folder = None
    if path and "." not in name and importlib.machinery.PathFinder.find_spec(top) is None:
        folder = os.path.dirname(path)
    _FOLDERS[name] = folder
    return folder


def apply_from(folder: str, module: str, qualname: str, arguments: dict[str, Any]) -> Any:
    """A tool named by its module, imported from ``folder`` (in a worker), called."""
    if module not in sys.modules:
        path = os.path.join(folder, module + ".py")
        spec = importlib.util.spec_from_file_location(module, path)
        if spec is None or spec.loader is None or not os.path.isfile(path):
            raise ModuleNotFoundError(f"no module {module!r} in {folder}", name=module)
        loaded = sys.modules[module] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
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

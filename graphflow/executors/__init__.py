"""Executors: where a node's tool runs (the ``graphflow.Executor`` protocol).

``ThreadExecutor`` (the default) runs plain functions in worker threads;
``ProcessExecutor`` runs calls in worker processes (``executor="process"``);
``DaskExecutor`` runs them on a Dask cluster (``pip install 'graphflow[dask]'``;
imported on first use, so ``import graphflow.executors`` never imports dask).
Coroutine functions never reach an executor, they are awaited on the loop.
``RemoteValue`` is what an executor returns for an output it keeps remote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._types import RemoteValue as RemoteValue
from .process import ProcessExecutor as ProcessExecutor
from .thread import ThreadExecutor as ThreadExecutor

if TYPE_CHECKING:
    from .dask import DaskExecutor as DaskExecutor
    from .dask import DaskValue as DaskValue

__all__ = ["DaskExecutor", "DaskValue", "ProcessExecutor", "RemoteValue", "ThreadExecutor"]


def __getattr__(name: str) -> Any:
    """``DaskExecutor`` and ``DaskValue`` load dask only when first asked for."""
    if name in ("DaskExecutor", "DaskValue"):
        from . import dask

        return getattr(dask, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Executors: where a node's tool runs (the ``graphflow.Executor`` protocol).

``ThreadExecutor`` (the default) runs plain functions in worker threads;
``ProcessExecutor`` runs calls in worker processes (``executor="process"``);
coroutine functions never reach an executor, they are awaited on the loop.
Process and cluster executors plug in behind the same protocol.
"""

from .process import ProcessExecutor as ProcessExecutor
from .thread import ThreadExecutor as ThreadExecutor

__all__ = ["ProcessExecutor", "ThreadExecutor"]

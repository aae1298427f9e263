"""The first name of ``graphflow.executors``, kept so that existing imports work.

``LocalBackend`` is ``graphflow.executors.ThreadExecutor``.
"""

from ..executors.thread import ThreadExecutor as LocalBackend

__all__ = ["LocalBackend"]

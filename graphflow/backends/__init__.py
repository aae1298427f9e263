"""Backends: where a node's callable runs (see ``graphflow._types.Backend``).

``LocalBackend`` (the default) awaits coroutine functions on the event loop and
runs plain functions in worker threads. Process and cluster backends plug in
behind the same two methods.
"""

from .local import LocalBackend as LocalBackend

__all__ = ["LocalBackend"]

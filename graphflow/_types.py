"""Shared type aliases and the protocols for graphflow's pluggable parts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._results import Event

NodeId = str
ToolFn = Callable[..., Any]
Observer = Callable[["Event"], object]
"""Called synchronously, on the event loop, for every state transition of a run.

It must not block: a store that writes to disk should buffer and flush elsewhere.
"""


class Backend(Protocol):
    """Where a node's callable runs: the one seam between scheduling and execution.

    The scheduler decides *when* a node runs; a backend decides *where*. The local
    backend awaits coroutine functions on the loop and runs plain functions in
    worker threads; process and cluster backends plug in here.
    """

    async def call(self, tool: ToolFn, kwargs: Mapping[str, Any], is_async: bool) -> Any:
        """Run ``tool(**kwargs)`` and return its result (or raise what it raised)."""
        ...

    async def aclose(self) -> None:
        """Wait for anything the backend still has running; called once per run."""
        ...

"""``current_call()``: the node a tool is running for, from inside the tool.

The driver sets one context variable around each attempt (cheap: no object is
built unless a tool asks). Context variables follow the call into
``async def`` tools and into threads (``anyio.to_thread`` copies the context),
not into other processes or onto a cluster: there ``current_call()`` is None.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ._types import NodeCall
from .errors import NodeInputError

if TYPE_CHECKING:
    from ._state import RunState

CURRENT: ContextVar[tuple[RunState, int, int, Any] | None] = ContextVar(
    "graphflow_current_call", default=None
)
"""(state, node index, attempt, arguments) of the attempt running in this context."""

ENTERING: ContextVar[str | None] = ContextVar("graphflow_entering", default=None)
"""The id of the run entering or leaving its executors, while it does (an
executor shared by runs at once tells their entries apart by it; each call's
``NodeCall.run_id`` says whose it is)."""


class IdempotencyKeyError(NodeInputError, ValueError):
    """A node's ``idempotency_key`` template cannot be formatted from its arguments."""


def current_call() -> NodeCall | None:
    """The call being made, when called from inside a node's tool; else None.

    Returns:
        A ``NodeCall``: run id, node id, attempt, arguments, timeout, and the
        ``idempotency_key`` to hand to a side-effecting API.

    Raises:
        IdempotencyKeyError: the node's key template names a missing argument.
    """
    found = CURRENT.get()
    if found is None:
        return None
    state, i, attempt, arguments = found
    spec = state.specs[i]
    return NodeCall(
        state.run_id,
        spec.node_id,
        attempt,
        spec.tool,
        arguments,
        state.timeouts[i],
        idempotency_key(state.run_id, spec.node_id, spec.idempotency_key, arguments),
    )


def idempotency_key(run_id: str, node_id: str, template: str | None, arguments: Any) -> str:
    """The node's key: ``template`` formatted from ``arguments``, else ``RUN_ID/NODE_ID``."""
    if template is None:
        return f"{run_id}/{node_id}"
    try:
        return template.format_map(arguments)
    except Exception as exc:
        message = f"idempotency_key={template!r}: cannot format it from the arguments ({exc!r})"
        raise IdempotencyKeyError(message[:300]) from None

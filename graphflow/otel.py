"""OpenTelemetry traces of a run: one span per run, one per node attempt.

    pip install 'graphflow[otel]'

    from graphflow.otel import OpenTelemetrySink
    result = await graphflow.run(graph, observers=[OpenTelemetrySink(graph)])

An ``EventSink``: it turns the run's events into spans as they happen, with
the events' own times, so the spans line up with the ``RunResult``.

  ``graphflow.run``  the run, from ``run.started`` to ``run.finished``; the
                     child of the span that was current where the run was
                     started (the caller's), if any. Attributes
                     ``graphflow.run_id`` and ``graphflow.nodes.<status>``
                     (counts); status ERROR if a node failed or was cancelled.
                     A skipped node never ran, so it has no span: it is a
                     ``node.skipped`` event on this span, with its reason.
  ``<node id>``      one per attempt, a child of the run span, from
                     ``node.started`` to that attempt's end. Attributes
                     ``graphflow.node_id``, ``graphflow.attempt`` (1, 2, ...),
                     ``graphflow.status`` (how the attempt ended: succeeded,
                     failed or cancelled; a retried attempt is failed and has
                     ``graphflow.retry_delay``), ``graphflow.tool`` when the
                     graph was given, ``graphflow.reason`` for a cancellation;
                     when it raised: status ERROR, ``error.type`` and an
                     ``exception`` event (type, message, stacktrace).

This module is the only one that imports OpenTelemetry, and nothing in
``graphflow`` imports it: without the extra, graphflow never loads it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, final

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Span, Status, StatusCode, TracerProvider
except ImportError:  # one line that says what to do
    raise ImportError("graphflow.otel needs OpenTelemetry: pip install 'graphflow[otel]'") from None

from graphflow import Event, EventKind, NodeError, NodeStatus, __version__

if TYPE_CHECKING:
    from graphflow import Graph

__all__ = ["OpenTelemetrySink"]

RUN_SPAN: Final = "graphflow.run"
_ENDED: Final = {
    EventKind.NODE_SUCCEEDED: NodeStatus.SUCCEEDED,
    EventKind.NODE_FAILED: NodeStatus.FAILED,
    EventKind.NODE_CANCELLED: NodeStatus.CANCELLED,
    EventKind.NODE_SKIPPED: NodeStatus.SKIPPED,
}
_MESSAGE_LIMIT: Final = 300  # characters of an error in a span's status


@dataclass(slots=True)
class _Run:
    span: Span
    context: otel_context.Context
    attempts: dict[str, Span] = field(default_factory=dict)  # node id -> its open attempt
    counts: Counter[str] = field(default_factory=Counter)


@final
class OpenTelemetrySink:
    """An ``EventSink`` that emits one span per run and one per node attempt.

    Args:
        graph: the graph being run: its tools' names become ``graphflow.tool``
            (for_each items included). Without it the attribute is left out.
        tracer_provider: where spans go (default: the global provider, which
            is a no-op until the application configures one).
    """

    def __init__(
        self, graph: Graph | None = None, *, tracer_provider: TracerProvider | None = None
    ) -> None:
        self._tracer = trace.get_tracer("graphflow", __version__, tracer_provider=tracer_provider)
        self._tools, self._item_tools = _tool_names(graph) if graph is not None else ({}, {})
        self._runs: dict[str, _Run] = {}

    def __call__(self, event: Event) -> None:
        """Start or end the spans ``event`` starts or ends."""
        kind = event.kind
        if kind is EventKind.RUN_STARTED:
            self._run_started(event)
            return
        run = self._runs.get(event.run_id)
        if run is None:  # a run this sink did not see start
            return
        if kind is EventKind.NODE_STARTED:
            self._attempt_started(run, event)
        elif kind is EventKind.NODE_RETRYING:
            self._attempt_retried(run, event)
        elif kind in _ENDED:
            self._node_ended(run, event, _ENDED[kind])
        elif kind is EventKind.RUN_FINISHED:
            self._end_run(event.run_id, _ns(event.time))

    async def aclose(self) -> None:
        """End the spans of runs that never sent ``run.finished`` (a sink added mid-run)."""
        for run_id in list(self._runs):
            self._end_run(run_id, None)

    # -- one method per kind of event ------------------------------------------

    def _run_started(self, event: Event) -> None:
        span = self._tracer.start_span(
            RUN_SPAN,
            context=otel_context.get_current(),  # the caller's span, if any, is the parent
            start_time=_ns(event.time),
            attributes={"graphflow.run_id": event.run_id},
        )
        self._runs[event.run_id] = _Run(span, trace.set_span_in_context(span))

    def _attempt_started(self, run: _Run, event: Event) -> None:
        node_id = event.node_id or ""
        attributes: dict[str, str | int] = {
            "graphflow.run_id": event.run_id,
            "graphflow.node_id": node_id,
            "graphflow.attempt": event.attempt,
        }
        tool = self._tool(node_id)
        if tool is not None:
            attributes["graphflow.tool"] = tool
        run.attempts[node_id] = self._tracer.start_span(
            node_id, context=run.context, start_time=_ns(event.time), attributes=attributes
        )

    def _attempt_retried(self, run: _Run, event: Event) -> None:
        span = run.attempts.pop(event.node_id or "", None)
        if span is None:
            return
        span.set_attribute("graphflow.status", str(NodeStatus.FAILED))
        if event.delay is not None:
            span.set_attribute("graphflow.retry_delay", event.delay)
        if event.error is not None:
            _record_error(span, event.error, _ns(event.time))
        span.end(end_time=_ns(event.time))

    def _node_ended(self, run: _Run, event: Event, status: NodeStatus) -> None:
        run.counts[status] += 1
        result = event.result
        reason = result.reason if result is not None else None
        if status is NodeStatus.SKIPPED:
            attributes = {
                "graphflow.node_id": event.node_id or "",
                "graphflow.reason": reason or "",
            }
            run.span.add_event("node.skipped", attributes, timestamp=_ns(event.time))
            return
        span = run.attempts.pop(event.node_id or "", None)
        if span is None:  # cancelled while waiting to retry, or restored from an earlier run
            return
        span.set_attribute("graphflow.status", str(status))
        if reason:
            span.set_attribute("graphflow.reason", reason)
        if status is NodeStatus.FAILED and result is not None and result.error is not None:
            _record_error(span, result.error, _ns(event.time))
        span.end(end_time=_ns(event.time))

    def _end_run(self, run_id: str, end: int | None) -> None:
        run = self._runs.pop(run_id)
        for span in run.attempts.values():  # none, unless events went missing
            span.set_attribute("graphflow.status", str(NodeStatus.CANCELLED))
            span.end(end_time=end)
        for status in NodeStatus:
            run.span.set_attribute(f"graphflow.nodes.{status}", run.counts[status])
        bad = run.counts[NodeStatus.FAILED] + run.counts[NodeStatus.CANCELLED]
        if bad:
            run.span.set_status(Status(StatusCode.ERROR, f"{bad} nodes failed or were cancelled"))
        run.span.end(end_time=end)

    def _tool(self, node_id: str) -> str | None:
        tool = self._tools.get(node_id)
        if tool is None and node_id.endswith("]"):  # an item of a runtime for_each
            tool = self._item_tools.get(node_id[: node_id.rfind("[")])
        return tool


def _tool_names(graph: Graph) -> tuple[dict[str, str], dict[str, str]]:
    """node id -> tool name; runtime for_each node id -> its items' tool name."""
    from graphflow.analysis import plan_graph  # (networkx: only when a graph is given)

    tools: dict[str, str] = {}
    item_tools: dict[str, str] = {}
    for node_id, data in plan_graph(graph).nodes(data=True):
        if data.get("runtime_for_each"):
            item_tools[node_id] = str(data["tool"])
            tools[node_id] = "for_each"  # the gather, as for a static for_each
        else:
            tools[node_id] = str(data["tool"])
    return tools, item_tools


def _record_error(span: Span, error: NodeError, at: int) -> None:
    span.set_status(Status(StatusCode.ERROR, str(error)[:_MESSAGE_LIMIT]))
    span.set_attribute("error.type", error.type)
    if error.timed_out is not None:
        span.set_attribute("graphflow.timed_out", error.timed_out)
    exception = {
        "exception.type": error.type,
        "exception.message": error.message,
        "exception.stacktrace": error.traceback,
    }
    span.add_event("exception", exception, timestamp=at)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)

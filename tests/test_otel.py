"""graphflow.otel: spans collected with the SDK's in-memory exporter."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import graphflow as gf
from graphflow.otel import RUN_SPAN, OpenTelemetrySink

pytestmark = pytest.mark.anyio


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()  # not the global one: each test has its own
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def mixed_graph() -> gf.Graph:
    """Retries, a failure, a skip, and static and runtime for_each."""
    tries = 0

    async def fetch() -> dict[str, Any]:
        return {"items": [1, 2]}

    async def flaky() -> str:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise ConnectionError(f"refused {tries}")
        return "ok"

    async def bad() -> None:
        raise ValueError("bad input")

    async def double(x: int) -> int:
        return 2 * x

    async def triple(x: int) -> int:
        return 3 * x

    g = gf.Graph()
    g.add("fetch", fetch)
    g.add("flaky", flaky, depends_on="fetch", retries=gf.Retry(2, backoff=0.001, jitter=0))
    g.add("bad", bad, depends_on="fetch")
    g.add("after_bad", double, args={"x": "${bad}"})
    g.add("m", double, for_each="${fetch.items}", args={"x": "${item}"})
    g.add("s", triple, for_each=[1, 2], args={"x": "${item}"})
    return g


def by_node(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    nodes: dict[str, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        if span.name not in (RUN_SPAN, "caller"):
            nodes[str((span.attributes or {})["graphflow.node_id"])].append(span)
    return nodes


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_one_span_per_attempt_under_the_run_under_the_caller(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    g = mixed_graph()
    with provider.get_tracer("app").start_as_current_span("caller") as caller:
        result = await gf.run(g, observers=[OpenTelemetrySink(g, tracer_provider=provider)])
    spans = exporter.get_finished_spans()
    (run,) = [s for s in spans if s.name == RUN_SPAN]
    assert run.parent is not None and run.parent.span_id == caller.get_span_context().span_id
    assert {s.context.trace_id for s in spans if s.context} == {caller.get_span_context().trace_id}
    nodes = by_node(spans)
    assert {n: len(s) for n, s in nodes.items()} == {
        n: len(r.history) for n, r in result.items() if r.history
    }
    assert run.context is not None
    for node_id, attempts in nodes.items():
        assert [s.name for s in attempts] == [node_id] * len(attempts)
        assert [attrs(s)["graphflow.attempt"] for s in attempts] == list(
            range(1, len(attempts) + 1)
        )
        assert all(s.parent and s.parent.span_id == run.context.span_id for s in attempts)
        assert attrs(attempts[-1])["graphflow.status"] == result[node_id].status


async def test_retried_attempts_failed_and_say_their_delay(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    g = mixed_graph()
    result = await gf.run(g, observers=[OpenTelemetrySink(g, tracer_provider=provider)])
    flaky = by_node(exporter.get_finished_spans())["flaky"]
    assert [attrs(s)["graphflow.status"] for s in flaky] == ["failed", "failed", "succeeded"]
    assert [attrs(s).get("graphflow.retry_delay") for s in flaky] == [0.001, 0.002, None]
    assert [s.status.status_code for s in flaky] == [StatusCode.ERROR] * 2 + [StatusCode.UNSET]
    assert [e.attributes["exception.message"] for s in flaky for e in s.events if e.attributes] == [
        "refused 1",
        "refused 2",
    ]
    for span, attempt in zip(flaky, result["flaky"].history, strict=True):
        assert span.start_time is not None and span.end_time is not None
        assert span.start_time / 1e9 == pytest.approx(attempt.started_at, abs=0.05)
        assert span.end_time / 1e9 == pytest.approx(attempt.finished_at, abs=0.05)
    assert flaky[0].end_time <= flaky[1].start_time  # type: ignore[operator]  # the backoff


async def test_a_failure_records_its_error(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    g = mixed_graph()
    await gf.run(g, observers=[OpenTelemetrySink(g, tracer_provider=provider)])
    (bad,) = by_node(exporter.get_finished_spans())["bad"]
    assert bad.status.status_code is StatusCode.ERROR
    assert bad.status.description == "ValueError: bad input"
    assert attrs(bad)["error.type"] == "ValueError" and attrs(bad)["graphflow.status"] == "failed"
    (event,) = bad.events
    details = dict(event.attributes or {})
    assert event.name == "exception" and details["exception.type"] == "ValueError"
    assert details["exception.message"] == "bad input"
    assert "Traceback" in str(details["exception.stacktrace"])


async def test_a_skipped_node_is_an_event_on_the_run(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    g = mixed_graph()
    await gf.run(g, observers=[OpenTelemetrySink(g, tracer_provider=provider)])
    spans = exporter.get_finished_spans()
    assert "after_bad" not in by_node(spans)
    (run,) = [s for s in spans if s.name == RUN_SPAN]
    (skipped,) = [dict(e.attributes or {}) for e in run.events if e.name == "node.skipped"]
    assert skipped == {
        "graphflow.node_id": "after_bad",
        "graphflow.reason": "upstream 'bad' failed",
    }
    counts = {k: v for k, v in attrs(run).items() if k.startswith("graphflow.nodes.")}
    assert counts == {
        "graphflow.nodes.succeeded": 8,
        "graphflow.nodes.failed": 1,
        "graphflow.nodes.skipped": 1,
        "graphflow.nodes.cancelled": 0,
    }
    assert run.status.status_code is StatusCode.ERROR


async def test_for_each_items_name_their_tool(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    g = mixed_graph()
    await gf.run(g, observers=[OpenTelemetrySink(g, tracer_provider=provider)])
    tools = {
        n: attrs(s[0]).get("graphflow.tool")
        for n, s in by_node(exporter.get_finished_spans()).items()
    }
    assert tools == {
        "fetch": "fetch",
        "flaky": "flaky",
        "bad": "bad",
        "m[0]": "double",  # runtime for_each: items known once fetch succeeded
        "m[1]": "double",
        "m": "for_each",
        "s[0]": "triple",  # static for_each
        "s[1]": "triple",
        "s": "for_each",
    }


async def test_a_cancelled_attempt(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    started = anyio.Event()

    async def hang() -> None:
        started.set()
        await anyio.sleep_forever()

    async def boom() -> None:
        await started.wait()
        raise RuntimeError("stop")

    g = gf.Graph()
    g.add("hang", hang)
    g.add("boom", boom)
    sink = OpenTelemetrySink(g, tracer_provider=provider)
    await gf.run(g, observers=[sink], fail_fast=True)
    (hang_span,) = by_node(exporter.get_finished_spans())["hang"]
    assert attrs(hang_span)["graphflow.status"] == "cancelled"
    assert attrs(hang_span)["graphflow.reason"] == "fail_fast: 'boom' failed"


async def test_without_a_current_span_the_run_is_a_root(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    g = mixed_graph()
    await gf.run(g, observers=[OpenTelemetrySink(tracer_provider=provider)])
    spans = exporter.get_finished_spans()
    (run,) = [s for s in spans if s.name == RUN_SPAN]
    assert run.parent is None
    assert all("graphflow.tool" not in attrs(s) for s in spans)  # no graph given


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_graphflow_never_imports_opentelemetry() -> None:
    code = (
        "import sys, graphflow, graphflow.report\n"
        "g = graphflow.Graph(); g.add('a', lambda: 1); graphflow.run_sync(g)\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_the_extra_one_clear_import_error() -> None:
    done = python("import sys; sys.modules['opentelemetry'] = None; import graphflow.otel")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "ImportError: graphflow.otel needs OpenTelemetry: pip install 'graphflow[otel]'"
    )

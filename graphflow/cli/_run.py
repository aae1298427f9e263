"""``graphflow run``: run a workflow, show it live, summarise it, exit with its status."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

import anyio
from anyio.abc import TaskStatus

from graphflow import Event, EventSink, Graph, NodeResult, RunOptions, RunResult, run

from . import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from ._inspect import load
from ._view import LiveView, summary


class Collector:
    """Keeps every node's result as it arrives, so an interrupted run still has them."""

    def __init__(self, order: list[str]) -> None:
        self.results: dict[str, NodeResult | None] = dict.fromkeys(order)
        self.run_id = ""
        self.started = time.time()

    def __call__(self, event: Event) -> None:
        self.run_id = event.run_id
        if event.result is not None:
            self.results[event.result.node_id] = event.result

    def partial(self) -> RunResult:
        done = {k: r for k, r in self.results.items() if r is not None}
        return RunResult(self.run_id, done, self.started, time.time())


def configure_event_lines(stream: TextIO) -> None:
    """One JSON line per event on ``stream``: the CLI, not the library, configures this."""
    import structlog

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(default=str),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def command_run(args: argparse.Namespace) -> int:
    wf = load(args)
    options = command_line_options(args, wf.run_options())
    out = sys.stderr if args.json == "-" else sys.stdout
    live = args.live == "on" or (args.live == "auto" and out.isatty())
    collector = Collector([s.node_id for s in wf.graph.plan().specs])
    observers: list[EventSink] = [collector]
    view = LiveView(len(collector.results), out) if live else None
    if view is not None:
        observers.append(view)
    else:
        configure_event_lines(sys.stderr)
    options = options.replace(observers=(*options.observers, *observers))

    if view is not None:
        with view:
            result, interrupted = anyio.run(_execute, wf.graph, options)
    else:
        result, interrupted = anyio.run(_execute, wf.graph, options)
    result = result or collector.partial()

    summary(result, out, title=f"{wf.model.name} ({wf.path})", wall=result.duration)
    if interrupted:
        print("interrupted: running nodes were cancelled", file=out)
    if args.json:
        _write_json(result, args.json)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAILED


def command_line_options(args: argparse.Namespace, options: RunOptions) -> RunOptions:
    """The workflow file's ``options`` with ``--sequential``, ``--concurrency``, ``--fail-fast``."""
    if args.sequential:
        options = options.replace(concurrency=1)
    elif args.concurrency is not None:
        if args.concurrency < 1:
            raise UsageError(f"--concurrency must be >= 1, got {args.concurrency}")
        options = options.replace(concurrency=args.concurrency)
    if args.fail_fast:
        options = options.replace(fail_fast=True)
    return options


async def _execute(graph: Graph, options: RunOptions) -> tuple[RunResult | None, bool]:
    """Run under a scope that SIGINT/SIGTERM cancel; return (result or None, interrupted)."""
    interrupted = False
    result: RunResult | None = None
    run_scope = anyio.CancelScope()

    async def watch(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        nonlocal interrupted
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for _ in signals:
                interrupted = True
                run_scope.cancel()

    async with anyio.create_task_group() as tg:
        await tg.start(watch)
        with run_scope:
            result = await run(graph, options)
        tg.cancel_scope.cancel()
    return result, interrupted


def _write_json(result: RunResult, target: str) -> None:
    text = json.dumps(result.to_dict(), indent=2, default=repr)
    if target == "-":
        print(text)
        return
    try:
        Path(target).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--json {target}: {exc.strerror or exc}") from None

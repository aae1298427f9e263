"""``graphflow run``: run a workflow, show it, summarise it, exit with its status.

What is printed, and at which level, is described in ``_output``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from pathlib import Path

import anyio
from anyio.abc import TaskStatus

from graphflow import Event, EventSink, NodeResult, RunOptions, RunResult, run

from ..workflow import Workflow
from . import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from ._fanout import ItemCount, complete
from ._inspect import load
from ._output import EventLines, json_event_stream, level_of
from ._view import LiveView, summary


class Collector:
    """Keeps every node's result as it arrives, so an interrupted run still has them."""

    def __init__(self, wf: Workflow) -> None:
        specs = wf.graph.plan().specs
        self.results: dict[str, NodeResult | None] = {s.node_id: None for s in specs}
        self.run_id = ""
        self.started = time.time()

    def __call__(self, event: Event) -> None:
        self.run_id = event.run_id
        if event.result is not None:
            self.results[event.result.node_id] = event.result

    def partial(self) -> RunResult:
        """What the run recorded so far."""
        done = {k: r for k, r in self.results.items() if r is not None}
        return RunResult(self.run_id, done, self.started, time.time())


def command_run(args: argparse.Namespace) -> int:
    """``graphflow run``: the exit code (0, 1, or 130 when interrupted)."""
    return RunCommand(args, load(args)).main()


class RunCommand:
    """One ``graphflow run``: its sinks, its run, and what it prints at the end."""

    def __init__(self, args: argparse.Namespace, wf: Workflow) -> None:
        self.args = args
        self.wf = wf
        self.options = command_line_options(args, wf.run_options())
        self.out = sys.stderr if args.json == "-" else sys.stdout
        self.collector = Collector(wf)
        self.count = ItemCount(wf.graph)
        self.view = LiveView(lambda: self.count.total, self.out) if self._live() else None

    def _live(self) -> bool:
        if self.args.live == "off" or self.args.quiet:
            return False
        if self.out.isatty():
            return True
        if self.args.live == "on":
            print("graphflow: --live on: output is not a terminal; no live view", file=sys.stderr)
        return False

    def sinks(self) -> tuple[EventSink, ...]:
        """The CLI's observers: the collector first, so that the others see its state."""
        sinks: list[EventSink] = [self.collector, self.count]
        if self.view is not None:
            sinks.append(self.view)
        if self.args.log_json != "-":
            level = level_of(self.args.verbose, self.args.quiet, self.args.log_level)
            sinks.append(EventLines(level))
        return tuple(sinks)

    def main(self) -> int:
        options = self.options.replace(observers=(*self.options.observers, *self.sinks()))
        with json_event_stream(self.args.log_json), self.view or contextlib.nullcontext():
            result, interrupted = anyio.run(_execute, self.wf, options)
        if result is None:  # the CLI's own record, with the edges the graph declares
            result = complete(self.collector.partial(), self.wf.graph)
        return self.report(result, interrupted)

    def report(self, result: RunResult, interrupted: bool) -> int:
        """Print the summary (unless ``--quiet``), write ``--json``; return the exit code."""
        if not self.args.quiet:
            title = f"{self.wf.model.name} ({self.wf.path})"
            whole = complete(result, self.wf.graph)
            summary(whole, self.out, title=title, wall=result.duration, expand=self.args.all)
            if interrupted:
                print("interrupted: running nodes were cancelled", file=self.out)
        if self.args.json:
            _write_json(result, self.args.json)
        if interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if result.ok else EXIT_FAILED


async def _execute(wf: Workflow, options: RunOptions) -> tuple[RunResult | None, bool]:
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
            result = await run(wf.graph, options)
        tg.cancel_scope.cancel()
    return result, interrupted


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


def _write_json(result: RunResult, target: str) -> None:
    """``result.to_dict()`` as JSON to ``target`` (``-``: stdout); it never raises on outputs."""
    text = json.dumps(result.to_dict(), indent=2)
    if target == "-":
        print(text)
        return
    try:
        Path(target).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--json {target}: {exc.strerror or exc}") from None

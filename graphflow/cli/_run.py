"""``graphflow run``: run a workflow, show it, summarise it, exit with its status.

Signals follow the rule in ``_signals``; what is printed, the levels in ``_output``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TextIO

import anyio

from graphflow import (
    Event,
    EventKind,
    EventSink,
    EventSinkError,
    Graph,
    NodeResult,
    NodeStatus,
    RunOptions,
    RunResult,
    run,
)

from ..builtin_tools.http import HttpPool
from ..builtin_tools.shell import kill_process_groups
from ..workflow import Outputs, Workflow
from . import EXIT_FAILED, EXIT_OK, EXIT_PIPE, UsageError, parse_inputs
from ._dask import dask_executors
from ._fanout import ItemCount, complete, item_parent
from ._inspect import frozen, load
from ._output import EventLines, json_event_stream, level_of
from ._report import write_html
from ._signals import Interrupts, exit_code
from ._store import Restored, Stored, stored
from ._view import LiveView, Shown, encoded, summary

_HTTP_TOOLS = frozenset({"http_get", "http_request"})


class Collector:
    """Keeps every node's result as it arrives (so an interrupted run still has
    them), which nodes are running, and which sync nodes' threads were abandoned."""

    def __init__(self, wf: Workflow) -> None:
        specs = wf.graph.plan().specs
        self.results: dict[str, NodeResult | None] = {s.node_id: None for s in specs}
        # (in a thread: a process or dask node's call is killed or cancelled, not waited for)
        self.sync = {s.node_id for s in specs if not s.is_async and s.executor in (None, "thread")}
        self.running: dict[str, float] = {}  # node id -> monotonic start of its attempt
        self.abandoned: dict[str, float] = {}  # sync node id -> seconds it had run
        self.run_id = ""
        self.started = time.time()

    def __call__(self, event: Event) -> None:
        self.run_id = event.run_id
        node, result = event.node_id, event.result
        if event.kind is EventKind.NODE_STARTED and node is not None:
            self.running[node] = time.monotonic()
        elif event.kind is EventKind.NODE_RETRYING and node is not None:
            timed_out = event.error is not None and event.error.timed_out is not None
            self._ended(node, abandoned=timed_out)
        elif result is not None:
            self.results[result.node_id] = result
            timed_out = result.error is not None and result.error.timed_out is not None
            cut = timed_out or result.status is NodeStatus.CANCELLED
            self._ended(result.node_id, abandoned=cut)

    def _ended(self, node_id: str, abandoned: bool) -> None:
        since = self.running.pop(node_id, None)
        if abandoned and since is not None and self.is_sync(node_id):
            self.abandoned[node_id] = time.monotonic() - since

    def is_sync(self, node_id: str) -> bool:
        """Does ``node_id`` call a plain function (in a thread)?"""
        return node_id in self.sync or item_parent(node_id) in self.sync

    def running_sync(self) -> list[str]:
        """The sync nodes running now."""
        return [n for n in self.running if self.is_sync(n)]

    def partial(self, cause: str) -> RunResult:
        """What the run recorded so far. A node with no result yet is recorded
        ``cancelled`` if it was running, else ``skipped``, both naming ``cause``."""
        now = time.time()
        results = {
            node_id: r if r is not None else self._unfinished(node_id, cause, now)
            for node_id, r in self.results.items()
        }
        return RunResult(self.run_id, results, self.started, now)

    def _unfinished(self, node_id: str, cause: str, now: float) -> NodeResult:
        if node_id in self.running:
            return NodeResult(node_id, NodeStatus.CANCELLED, finished_at=now, reason=cause)
        return NodeResult(node_id, NodeStatus.SKIPPED, finished_at=now, reason=f"not run: {cause}")


def command_run(args: argparse.Namespace) -> int:
    """``graphflow run``: the exit code (0, 1, or 128 + a signal's number)."""
    store = stored(args, parse_inputs(args.input, args.inputs))  # (usage checked before loading)
    wf = load(args)
    with frozen():  # the graph, built once, is not walked by every collection of the run
        return RunCommand(args, wf, store).main()


class RunCommand:
    """One ``graphflow run``: its sinks, its run, and what it prints at the end."""

    def __init__(self, args: argparse.Namespace, wf: Workflow, store: Stored | None = None) -> None:
        self.args = args
        self.wf = wf
        self.store = store
        self.restored = Restored()
        self.options = command_line_options(args, wf.run_options(), wf.graph)
        if store is not None:
            self.options = self.options.replace(**store.options)
        check_executors(wf.graph, self.options, wf.path)
        self.pool = _http_pool(args, wf)
        self.out = sys.stderr if args.json == "-" else sys.stdout
        self.collector = Collector(wf)
        self.count = ItemCount(wf.graph)
        self.view = LiveView(lambda: self.count.total, self.out) if self._live() else None
        self.interrupts = Interrupts(self._cancelling, self._exit_now)
        self.log_stream: TextIO | None = None

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
        if self.store is not None:
            sinks.append(self.restored)
        if self.view is not None:
            sinks.append(self.view)
        if self.args.log_json != "-":
            level = level_of(self.args.verbose, self.args.quiet, self.args.log_level)
            sinks.append(EventLines(level, hide=self.wf.redact))
        return tuple(sinks)

    def main(self) -> int:
        options = self.options.replace(observers=(*self.options.observers, *self.sinks()))
        if self.store is not None:
            self.store.prepare()
        lost: EventSinkError | None = None
        with json_event_stream(self.args.log_json, self.wf.redact) as self.log_stream:
            with self.view or contextlib.nullcontext():
                try:
                    result = anyio.run(self._execute, options)
                except EventSinkError as exc:  # the run store failed mid-run: the run stopped
                    if exc.result is None:
                        raise
                    result, lost = exc.result, exc
        received = self.interrupts.received
        if result is None:  # the CLI's own record, with the edges the graph declares
            partial = self.collector.partial(f"interrupted by {_name(received)}")
            result = complete(partial, self.wf.graph)
        code = self.report(result, received, lost is not None)
        if lost is None:
            return code
        print(f"graphflow: error: {lost.error}", file=sys.stderr)  # (the store names its file)
        return max(code, EXIT_FAILED)

    async def _execute(self, options: RunOptions) -> RunResult | None:
        """The run, under the signal watcher; None if a signal cancelled it."""
        result: RunResult | None = None
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            await tg.start(self.interrupts.watch)
            assert self.interrupts.scope is not None  # made by watch
            try:
                async with self.pool:
                    with self.interrupts.scope:
                        result = await run(self.wf.graph, options)
            except Exception as exc:  # raised as itself, not in the task group's ExceptionGroup
                error = exc
            tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return result

    def _cancelling(self, signum: signal.Signals) -> None:
        message = f"graphflow: {signum.name}: cancelling the run"
        threads = self.collector.running_sync()
        if threads:
            message += (
                f"; it waits for the threads of {', '.join(threads)} (a sync tool cannot be "
                f"interrupted): {signum.name} again exits at once"
            )
        with contextlib.suppress(OSError, ValueError):  # a hung-up terminal is no reason to fail
            print(message, file=sys.stderr, flush=True)

    def _exit_now(self, signum: signal.Signals) -> NoReturn:
        kill_process_groups()
        if self.view is not None:
            self.view.live.stop()
        abandoned = dict.fromkeys([*self.collector.abandoned, *self.collector.running_sync()])
        names = ", ".join(abandoned) or "none"
        with contextlib.suppress(OSError, ValueError):
            print(
                f"graphflow: {signum.name} again: exiting at once; abandoned threads: {names}",
                file=sys.stderr,
            )
        code = exit_code(signum)
        try:
            cause = f"the CLI exited at a second {signum.name}"
            self.report(complete(self.collector.partial(cause), self.wf.graph), signum)
        except OSError:  # (a hung-up terminal: exit now all the same)
            pass
        except UsageError as exc:  # --json unwritable: say so, and still exit now
            with contextlib.suppress(OSError, ValueError):
                print(f"graphflow: error: {exc}", file=sys.stderr)
        for stream in (sys.stdout, sys.stderr, self.log_stream):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        os._exit(code)

    def report(self, result: RunResult, received: signal.Signals | None, lost: bool = False) -> int:
        """Print the summary (unless ``--quiet``), write ``--json``; return the exit code.

        Everything written passes through the workflow's ``redact``.
        """
        title = f"{self.wf.model.name} ({self.wf.path})"
        outputs = self.wf.outputs(result) if self.wf.declared_outputs else None
        gone = False  # stdout's reader went away (``| head``): the rest is written all the same
        if not self.args.quiet:
            shown = Shown(title, result.duration, self.args.all, outputs, self.wf.redact)
            try:
                self._summary(result, received, lost, shown)
            except BrokenPipeError:
                gone = True
            except OSError:  # a hung-up terminal must not lose --json
                pass
        if self.args.report:
            write_html(result, self.args.report, title, redact=self.wf.secrets)
        if self.args.json:
            try:
                _write_json(result, self.args.json, outputs, self.wf.redact)
            except BrokenPipeError:  # (--json -)
                gone = True
        if received is not None:
            return exit_code(received)
        if gone:
            return EXIT_PIPE
        return EXIT_OK if result.passed else EXIT_FAILED  # (skips by a false if: are fine)

    def _summary(
        self, result: RunResult, received: signal.Signals | None, lost: bool, shown: Shown
    ) -> None:
        """The table, what interrupted the run, and where the run is stored."""
        summary(complete(result, self.wf.graph), self.out, shown)
        if received is not None:
            print(
                f"interrupted by {received.name}: running nodes were cancelled",
                file=self.out,
            )
        if self.store is not None and (result.run_id or self.collector.run_id):
            run_id = result.run_id or self.collector.run_id
            passed = result.passed and received is None
            line = self.store.line(run_id, passed, self.restored.count, lost)
            print(line, file=self.out)


def _name(signum: signal.Signals | None) -> str:
    return signum.name if signum is not None else "a cancellation"


def _http_pool(args: argparse.Namespace, wf: Workflow) -> HttpPool:
    """The run's shared HTTP client, built up front when a node uses an ``http.*`` tool."""
    eager = any(spec.tool_name in _HTTP_TOOLS for spec in wf.graph.plan().specs)
    try:
        return HttpPool(args.http_max_connections, args.http_max_per_host, eager=eager)
    except ValueError as exc:
        raise UsageError(f"--http-{exc}".replace("_", "-")) from None


def command_line_options(
    args: argparse.Namespace, options: RunOptions, graph: Graph | None = None
) -> RunOptions:
    """The workflow file's ``options`` with ``--sequential``, ``--concurrency``, ``--fail-fast``,
    ``--no-cache`` and ``--dask``."""
    if args.sequential:
        options = options.replace(concurrency=1)
    elif args.concurrency is not None:
        if args.concurrency < 1:
            raise UsageError(f"--concurrency must be >= 1, got {args.concurrency}")
        options = options.replace(concurrency=args.concurrency)
    if args.fail_fast:
        options = options.replace(fail_fast=True)
    if getattr(args, "no_cache", False):
        options = options.replace(cache=False)
    if args.dask == "local" and graph is not None and first_on(graph, "dask") is None:
        # (a LocalCluster takes seconds to start and stop: not for nothing)
        dask_executors(args, start=False)  # (the --dask-* options are still checked)
        if not args.quiet:
            print("graphflow: --dask local: no node runs on executor dask", file=sys.stderr)
        return options
    dask = dask_executors(args)
    if dask:
        options = options.replace(executors={**options.executors, **dask})
    return options


def check_executors(graph: Graph, options: RunOptions, path: str) -> None:
    """A node on ``executor: dask`` needs ``--dask``: say so before anything runs."""
    if "dask" in options.executors:
        return
    needing = first_on(graph, "dask")
    if needing is not None:
        raise UsageError(
            f"{path}: node {needing!r:.100} runs on executor 'dask':"
            " pass --dask local or --dask ADDRESS"
        )


def first_on(graph: Graph, executor: str) -> str | None:
    """The first node (for_each nodes made at run time included) on ``executor``."""
    plan = graph.plan()
    specs = [*plan.specs, *(m.spec for maps in plan.expansions.values() for m in maps)]
    return next((s.node_id for s in specs if s.executor == executor), None)


def _write_json(
    result: RunResult,
    target: str,
    outputs: Outputs | None = None,
    hide: Callable[[str], str] = lambda text: text,
) -> None:
    """The run as JSON to ``target`` (``-``: stdout); it never raises on outputs.

    Args:
        result: the run; ``result.to_dict()`` is the document.
        target: a file name, or ``-``.
        outputs: the file's ``outputs:``, written under ``"outputs"`` if given.
        hide: applied to the whole text (the workflow's ``redact``).
    """
    data = result.to_dict()
    if outputs is not None:
        values = {name: encoded(value) for name, value in outputs.values.items()}
        data["outputs"] = {"values": values, "notes": dict(outputs.notes)}
    text = hide(json_text(data))  # the text: far cheaper than walking the data
    if target == "-":
        print(text)
        return
    try:
        Path(target).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--json {target}: {exc.strerror or exc}") from None


def json_text(data: dict[str, Any]) -> str:
    """``data`` as indented JSON, except that each node's record is one line.

    ``json.dumps`` with ``indent`` runs Python's pure encoder (3x slower: 0.3 s
    for 10,000 nodes); one compact line per node keeps the C encoder, and the
    file stays readable and greppable by node.
    """
    parts = []
    for key, value in data.items():
        if key == "nodes" and value:
            lines = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items()]
            shown = "{\n" + ",\n".join(lines) + "\n  }"
        else:
            shown = json.dumps(value, indent=2).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key)}: {shown}")
    return "{\n" + ",\n".join(parts) + "\n}"

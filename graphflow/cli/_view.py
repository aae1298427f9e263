"""What ``graphflow run`` shows: a live view while it runs, a summary after."""

from __future__ import annotations

import json
import time
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from graphflow import Event, EventKind, NodeStatus, RunResult

from .. import analysis

STYLE = {
    NodeStatus.SUCCEEDED: "green",
    NodeStatus.FAILED: "bold red",
    NodeStatus.SKIPPED: "yellow",
    NodeStatus.CANCELLED: "magenta",
}
MAX_RUNNING_SHOWN = 10


class LiveView:
    """An observer that keeps a rich Live display of running / finished nodes."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.running: dict[str, tuple[float, int]] = {}  # node -> (started, attempt)
        self.counts = dict.fromkeys(NodeStatus, 0)
        self.retrying = 0
        self.started = time.monotonic()
        self.console = Console(file=stream)
        self.live = Live(
            console=self.console, get_renderable=self.render, refresh_per_second=10, transient=True
        )

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.live.__exit__(exc_type, exc, tb)

    def __call__(self, event: Event) -> None:
        if event.kind is EventKind.NODE_STARTED and event.node_id:
            self.running[event.node_id] = (time.monotonic(), event.attempt)
        elif event.kind is EventKind.NODE_RETRYING and event.node_id:
            self.running.pop(event.node_id, None)
            self.retrying += 1
        elif event.result is not None:
            self.running.pop(event.result.node_id, None)
            self.counts[event.result.status] += 1
            done = sum(self.counts.values())
            self.total = max(self.total, done + len(self.running))

    def render(self) -> RenderableType:
        done = sum(self.counts.values())
        elapsed = time.monotonic() - self.started
        bar = ProgressBar(total=max(self.total, 1), completed=done, width=40)
        line = Text(f" {done}/{self.total} nodes  {elapsed:6.1f} s  ")
        for status, n in self.counts.items():
            if n:
                line.append(f"{n} {status}  ", style=STYLE[status])
        if self.running:
            line.append(f"{len(self.running)} running", style="cyan")
        rows = Table.grid(padding=(0, 2))
        now = time.monotonic()
        for node, (since, attempt) in list(self.running.items())[:MAX_RUNNING_SHOWN]:
            extra = f" (attempt {attempt})" if attempt > 1 else ""
            rows.add_row(Text("▶ " + node, style="cyan"), f"{now - since:5.1f} s{extra}")
        if len(self.running) > MAX_RUNNING_SHOWN:
            rows.add_row(f"  … {len(self.running) - MAX_RUNNING_SHOWN} more", "")
        return Group(_row(bar, line), rows)


def _row(*cells: Any) -> Table:
    grid = Table.grid()
    grid.add_row(*cells)
    return grid


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def summary(result: RunResult, stream: TextIO, *, title: str, wall: float) -> None:
    """The table of every node, then one line comparing wall time with one-at-a-time."""
    console = Console(file=stream, width=None if stream.isatty() else 120)
    table = Table(title=title, title_justify="left")
    for column in ("node", "status", "duration", "attempts", "error / reason"):
        table.add_column(column, overflow="fold")
    for node_id, r in result.items():
        detail = (
            str(r.error)
            if r.error is not None and r.status is NodeStatus.FAILED
            else (r.reason or "")
        )
        table.add_row(
            node_id,
            Text(str(r.status), style=STYLE[r.status]),
            _seconds(r.duration),
            str(r.attempts),
            detail[:160],
        )
    console.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in result.counts().items() if n)
    serial = sum(r.duration or 0.0 for r in result.values())
    line = f"{counts}. wall {wall:.2f} s; one at a time {serial:.2f} s"
    if wall > 0 and serial > 0:
        line += f" ({serial / wall:.1f}x)"
    cp, chain = analysis.critical_path(result)
    if chain:
        shown = chain if len(chain) <= 8 else [*chain[:3], "…", *chain[-3:]]
        line += f"; critical path {cp:.2f} s: {' -> '.join(shown)}"
    console.print(line, highlight=False, soft_wrap=True)
    _print_final_outputs(result, console)


def _print_final_outputs(result: RunResult, console: Console, limit: int = 400) -> None:
    """What the run was for: the outputs of the nodes nothing else depends on."""
    deps = result.dependencies()
    needed = {d for ds in deps.values() for d in ds}
    for node_id, r in result.items():
        if node_id in needed or f"{node_id}[0]" in needed or r.status is not NodeStatus.SUCCEEDED:
            continue  # (a for_each whose items feed another is not a final output)
        text = json.dumps(r.output, default=repr, ensure_ascii=False)
        if len(text) > limit:
            text = text[:limit] + f"… ({len(text):,} characters; --json has it all)"
        console.print(Text(f"{node_id}: ", style="bold") + Text(text), soft_wrap=True)

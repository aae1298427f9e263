"""What ``graphflow run`` shows: a live view while it runs, a summary after.

The summary's table has one row per node, except that a for_each node's items
are collapsed into its own row (item counts per status, the failed items by
id) unless ``expand`` is set (``--all``); beyond ``MAX_ROWS`` rows only the
failed and cancelled are listed, the rest counted, unless ``expand``. The
file's ``outputs:`` are printed after it, else at most ``MAX_OUTPUTS`` guessed
final outputs (nodes nothing depends on). Either is printed bounded:
at most ``OUTPUT_PREVIEW`` characters each, encoded without ever walking more
of the value than that, whatever it holds (cycles, deep nesting, objects).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from graphflow import Event, EventKind, NodeResult, NodeStatus, RunResult

from .. import analysis
from ..workflow import Outputs
from ._fanout import group_items, item_counts
from ._table import print_table

STYLE = {
    NodeStatus.SUCCEEDED: "green",
    NodeStatus.FAILED: "bold red",
    NodeStatus.SKIPPED: "yellow",
    NodeStatus.CANCELLED: "magenta",
}
MAX_RUNNING_SHOWN: Final = 10
MAX_ROWS: Final = 50
"""Rows of the summary table beyond which only failed and cancelled nodes are listed."""
MAX_OUTPUTS: Final = 10
"""Guessed final outputs printed (the rest are counted)."""
MAX_ITEMS_NAMED: Final = 10
"""Failed items named in a collapsed for_each row (the rest are counted)."""
OUTPUT_PREVIEW: Final = 400
"""Characters of each final output printed (``--json`` has all of it)."""
DETAIL: Final = 160


class LiveView:
    """An observer that keeps a rich Live display of running / finished nodes.

    Args:
        total: returns how many nodes the run has so far (it grows as runtime
            for_each items are created).
        stream: the terminal to draw on.
    """

    def __init__(self, total: Callable[[], int], stream: TextIO) -> None:
        self.total = total
        self.running: dict[str, tuple[float, int]] = {}  # node -> (started, attempt)
        self.counts = dict.fromkeys(NodeStatus, 0)
        self.started = time.monotonic()
        self.console = plain_console(stream, fit=False)
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
        elif event.result is not None:
            self.running.pop(event.result.node_id, None)
            self.counts[event.result.status] += 1

    def render(self) -> RenderableType:
        done = sum(self.counts.values())
        total = max(self.total(), done + len(self.running), 1)
        elapsed = time.monotonic() - self.started
        bar = ProgressBar(total=total, completed=done, width=40)
        line = Text(f" {done}/{total} nodes  {elapsed:6.1f} s  ")
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


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Raise it (rich's own exits 1): the CLI ends with 141, as a pipe's reader expects."""
        raise BrokenPipeError


def plain_console(stream: TextIO, fit: bool = True) -> Console:
    """A console that prints text as it is: node ids, errors and outputs come from
    tools and files, so ``[/x]`` is not markup (a closing tag that matches
    nothing made rich raise) and ``:smile:`` is not an emoji. ``fit``: 120
    columns unless a terminal says otherwise."""
    width = None if not fit or stream.isatty() else 120
    return _Console(file=stream, width=width, markup=False, emoji=False)


def _row(*cells: Any) -> Table:
    grid = Table.grid()
    grid.add_row(*cells)
    return grid


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the summary table."""

    node: str
    status: NodeStatus
    duration: float | None
    attempts: int
    detail: str


def summary(result: RunResult, stream: TextIO, shown: Shown) -> None:
    """The table of nodes, one line comparing wall time with one-at-a-time, the outputs.

    Args:
        result: the run, with every dependency (runtime items' too: see ``_fanout.complete``).
        stream: where to print.
        shown: the title, wall time, row bound, declared outputs and what to hide.
    """
    console = plain_console(stream)
    hide = shown.hide
    rows, rest = bounded_rows(result, shown.expand)
    print_table(
        console,
        hide(shown.title),
        ("node", "status", "duration", "attempts", "error / reason"),
        [
            (
                hide(row.node),
                str(row.status),
                "-" if row.duration is None else f"{row.duration:.2f} s",
                str(row.attempts),
                hide(row.detail),
            )
            for row in rows
        ],
        [STYLE[row.status] for row in rows],
    )
    if rest:
        console.print(hide(rest), highlight=False, soft_wrap=True)
    console.print(hide(_totals(result, shown.wall)), highlight=False, soft_wrap=True)
    outputs = shown.outputs
    pairs = final_outputs(result) if outputs is None else declared_outputs(outputs)
    for name, text in pairs:
        console.print(Text(f"{hide(name)}: ", style="bold") + Text(hide(text)), soft_wrap=True)


def _same(text: str) -> str:
    return text


@dataclass(frozen=True, slots=True)
class Shown:
    """How the summary is shown.

    Attributes:
        title: the table's title.
        wall: the run's wall time in seconds.
        expand: every node its own row, and one row per for_each item (``--all``).
        outputs: the file's ``outputs:`` as the run produced them, printed in
            place of the guessed final outputs; None when the file has none.
        hide: applied to every text printed (the workflow's ``redact``).
    """

    title: str
    wall: float
    expand: bool = False
    outputs: Outputs | None = None
    hide: Callable[[str], str] = _same


def bounded_rows(result: RunResult, expand: bool) -> tuple[list[Row], str]:
    """The table's rows, at most about ``MAX_ROWS`` unless ``expand``, and a line on the rest.

    Within the bound every row is shown in the run's order. Beyond it, only
    the failed and cancelled rows are listed (at most ``MAX_ROWS``), and the
    rest counted by status: a 10,000-node table is unreadable and took rich 8 s.
    """
    rows = list(table_rows(result, expand))
    if expand or len(rows) <= MAX_ROWS:
        return rows, ""
    urgent = [r for r in rows if r.status in (NodeStatus.FAILED, NodeStatus.CANCELLED)]
    shown = urgent[:MAX_ROWS]
    counts = Counter(r.status for r in rows)
    counts.subtract(r.status for r in shown)
    listed = ", ".join(f"{counts[s]} {s}" for s in NodeStatus if counts[s])
    rest = f"{len(rows) - len(shown)} more rows not listed: {listed} (--all to list every node)"
    return shown, rest


def table_rows(result: RunResult, expand: bool) -> Iterator[Row]:
    """Rows in the run's order; a for_each node's items folded into its row unless ``expand``."""
    groups = {} if expand else group_items(result)
    folded = {item for items in groups.values() for item in items}
    for node_id, r in result.items():
        if node_id in groups:
            yield _map_row(result, node_id, groups[node_id])
        elif node_id not in folded:
            yield Row(node_id, r.status, r.duration, r.attempts, _detail(r))


def _detail(r: NodeResult) -> str:
    failed = r.error is not None and r.status is NodeStatus.FAILED
    text = str(r.error) if failed else (r.reason or "")
    if r.cached and not text:  # (its "attempts 1" was an earlier run's call)
        text = CACHED
    return text if len(text) <= DETAIL else text[: DETAIL - 1] + "…"


CACHED: Final = "from the cache: an earlier call's output"


def _map_row(result: RunResult, map_id: str, items: list[str]) -> Row:
    gather = result[map_id]
    members = [result[i] for i in items]
    counts = item_counts(result, items)
    detail = ", ".join(f"{n} {s}" for s, n in counts.items() if s is not NodeStatus.FAILED)
    cached = sum(1 for r in members if r.cached)
    if cached:
        detail += f" ({cached} from the cache)"
    failed = [r for r in members if r.status is NodeStatus.FAILED]
    if failed:
        named = ", ".join(r.node_id for r in failed[:MAX_ITEMS_NAMED])
        more = f" and {len(failed) - MAX_ITEMS_NAMED} more" if len(failed) > MAX_ITEMS_NAMED else ""
        detail += f"{', ' if detail else ''}{len(failed)} failed: {named}{more}"
        detail += f" (first: {_detail(failed[0])})"
    elif gather.status is not NodeStatus.SUCCEEDED:
        detail += f"; {_detail(gather)}"
    starts = [r.started_at for r in members if r.started_at is not None]
    ends = [r.finished_at for r in (*members, gather) if r.finished_at is not None]
    span = max(ends) - min(starts) if starts and ends else None
    label = f"{map_id} ({len(items)} item{'s' if len(items) != 1 else ''})"
    return Row(label, gather.status, span, sum(r.attempts for r in members), detail[: 2 * DETAIL])


def _totals(result: RunResult, wall: float) -> str:
    """Counts, wall time against one at a time, and the critical path — of the nodes
    this run ran: a resumed run's restored nodes ran before it started (their
    times are the earlier run's), so they are counted apart."""
    counts = ", ".join(f"{n} {s}" for s, n in result.counts().items() if n)
    began = result.started_at
    ran = [r for r in result.values() if r.started_at is None or r.started_at >= began]
    serial = sum(r.duration or 0.0 for r in ran)
    line = f"{counts}. wall {wall:.2f} s; one at a time {serial:.2f} s"
    if wall > 0 and serial > 0:
        line += f" ({serial / wall:.1f}x)"
    restored = len(result) - len(ran)
    if restored:  # (a path through them would mix two runs' clocks)
        return line + f"; {restored} restored from the stored run"
    cp, chain = analysis.critical_path(result)
    if chain:
        shown = chain if len(chain) <= 8 else [*chain[:3], "…", *chain[-3:]]
        line += f"; critical path {cp:.2f} s: {' -> '.join(shown)}"
    return line


def final_outputs(result: RunResult) -> Iterator[tuple[str, str]]:
    """(node id, bounded JSON text) for the first ``MAX_OUTPUTS`` succeeded nodes
    that nothing depends on, then ("…", how many more) if there are more.

    Linear in the run's size: one pass over the dependencies, one over the nodes.

    Args:
        result: the run, with every dependency (runtime items' included).
    """
    needed = {d for ds in result.dependencies().values() for d in ds}
    more = 0
    for node_id, r in result.items():
        if node_id in needed or f"{node_id}[0]" in needed or r.status is not NodeStatus.SUCCEEDED:
            continue  # (a for_each whose items feed another is not a final output)
        more += 1
        if more <= MAX_OUTPUTS:
            yield node_id, preview(r)
    if more > MAX_OUTPUTS:
        yield "…", f"{more - MAX_OUTPUTS} more final outputs (--json has them all)"


def declared_outputs(outputs: Outputs) -> Iterator[tuple[str, str]]:
    """(name, bounded JSON text) for each of the file's ``outputs:``, its note if unread."""
    for name, value in outputs.values.items():
        note = outputs.notes.get(name)
        yield name, f"null ({note})" if note is not None else bounded(encoded(value))


def encoded(value: Any) -> Any:
    """``value`` as ``--json`` writes a node's output: cycles, over-deep nesting and
    unknown objects turned into a marked repr, so that encoding it never raises."""
    return NodeResult("output", NodeStatus.SUCCEEDED, output=value).to_dict()["output"]


def preview(r: NodeResult, limit: int = OUTPUT_PREVIEW) -> str:
    """``r``'s output as JSON, cut at ``limit`` characters; never raises."""
    return bounded(r.to_dict()["output"], limit)


def bounded(encoded: Any, limit: int = OUTPUT_PREVIEW) -> str:
    """``encoded`` (JSON-safe data) as JSON text, cut at ``limit`` characters.

    Rendered piece by piece, stopping once ``limit`` characters are out, so a
    huge value costs no more than its first ``limit`` characters.
    """
    pieces = json.JSONEncoder(ensure_ascii=False).iterencode(encoded)
    text = _take(pieces, limit + 1)
    if len(text) > limit:
        return text[:limit] + "… (cut; --json has all of it)"
    return text


def _take(pieces: Iterable[str], limit: int) -> str:
    out: list[str] = []
    size = 0
    for piece in pieces:
        out.append(piece)
        size += len(piece)
        if size >= limit:
            break
    return "".join(out)

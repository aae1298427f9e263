"""``graphflow runs``: the runs in a run store — ``list``, ``show RUN_ID|last``, ``gc``.

The store file is found as ``graphflow run`` finds it (``--store``,
``$GRAPHFLOW_STORE``, else ``.graphflow/runs.db`` beside ``--workflow FILE``, or
in the current folder). A missing file, an unknown run id or an unreadable
store is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from . import EXIT_OK, UsageError
from ._fanout import item_of
from ._store import ENV_STORE, find_run, shown_path, store_file

if TYPE_CHECKING:
    from graphflow.store import RunRecord, SQLiteStore

DEFAULT_LIMIT: Final = 20
"""Runs ``runs list`` shows unless told otherwise (newest first)."""
MAX_ROWS: Final = 50
"""Rows of ``runs show`` beyond which only nodes that did not succeed or skip are listed."""
_QUIET: Final = ("succeeded", "skipped")
_LIVE_NODE: Final = ("running", "retrying")  # a node's stored status while it ran
DETAIL: Final = 160
"""Characters of an error or reason in ``runs show``'s table."""
_AGE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_runs_parser(sub: Any) -> None:
    """The ``runs`` command and its three actions, on the CLI's subparsers ``sub``."""
    runs = sub.add_parser(
        "runs",
        help="the runs in a run store: list, show, gc",
        description="The runs 'graphflow run' recorded. The store: --store PATH, else "
        "$GRAPHFLOW_STORE, else .graphflow/runs.db beside --workflow FILE, or in the "
        "current folder.",
    )
    actions = runs.add_subparsers(
        dest="runs_command", metavar="ACTION", parser_class=type(runs), required=True
    )
    common = type(runs)(add_help=False)
    common.add_argument(
        "--store", metavar="PATH", help="the run store (default: as 'graphflow run' finds it)"
    )
    common.add_argument(  # SUPPRESS: do not undo a --debug given before the command
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    listing = actions.add_parser("list", parents=[common], help="stored runs, newest first")
    listing.add_argument("--workflow", metavar="FILE", help="only the runs of this workflow file")
    listing.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N")
    listing.add_argument("--json", action="store_true", help="as JSON on stdout")
    show = actions.add_parser("show", parents=[common], help="one run, a row per node")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id (or a prefix), or 'last'")
    show.add_argument("--workflow", metavar="FILE", help="with 'last': this file's latest run")
    show.add_argument("--json", action="store_true", help="as JSON on stdout (outputs too)")
    show.add_argument(
        "--all",
        action="store_true",
        help=f"a row for every node (default: beyond {MAX_ROWS} rows only the nodes that did "
        "not succeed or skip, the rest counted)",
    )
    gc = actions.add_parser(
        "gc", parents=[common], help="delete old runs (interrupted too; not one in progress)"
    )
    gc.add_argument(
        "--keep", type=int, default=20, metavar="N", help="newest runs kept per workflow (20)"
    )
    gc.add_argument(
        "--older-than", metavar="AGE", help="also delete runs started more than AGE ago: 7d, 12h"
    )


def command_runs(args: argparse.Namespace) -> int:
    """``graphflow runs ACTION``: the exit code."""
    from graphflow.store import SQLiteStore, StoreError

    workflow = getattr(args, "workflow", None)
    store = SQLiteStore(store_file(args.store, workflow))
    try:
        if args.runs_command == "list":
            return _list(store, args)
        if args.runs_command == "show":
            return _show(store, args)
        return _gc(store, args)
    except StoreError as exc:
        if store.path.exists() or args.store or os.environ.get(ENV_STORE) or workflow:
            raise
        hint = "; a run is stored beside its workflow file: pass --workflow FILE, or --store PATH"
        raise UsageError(f"{exc}{hint}") from None


def _list(store: SQLiteStore, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError(f"--limit must be >= 1, got {args.limit}")
    workflow = _workflow(args.workflow)
    records = store.runs(workflow, args.limit)
    if args.json:
        print(json.dumps([_record_data(r) for r in records], indent=2))
        return EXIT_OK
    from ._table import print_table

    title = f"runs in {shown_path(store.path)}" + (f" of {args.workflow}" if workflow else "")
    rows = [
        (
            r.run_id,
            shown_path(Path(r.workflow)) if r.workflow else "-",
            r.status + (f" (resumed {r.resumed}x)" if r.resumed else ""),
            _when(r.started_at),
            _took(r),
            _counts(r.counts, dead=r.status == "interrupted"),
        )
        for r in records
    ]
    columns = ("run", "workflow", "status", "started", "duration", "nodes")
    if records:
        print_table(_console(), title, columns, rows)
    else:
        print("no runs stored yet" + (f" of {args.workflow}" if workflow else ""))
    return EXIT_OK


def _show(store: SQLiteStore, args: argparse.Namespace) -> int:
    record = find_run(store, args.run_id, _workflow(args.workflow))
    declared = store.declared(record.run_id)
    nodes = _in_graph_order(store.nodes(record.run_id), declared)
    hide = _hider(record.workflow)
    recorded = {n.get("node_id") for n in nodes}
    missing = [n for n in declared if n not in recorded]
    if args.json:
        data = {"run": _record_data(record), "nodes": nodes, "unrecorded": missing}
        print(hide(json.dumps(data, indent=2)))
        return EXIT_OK
    from ._table import print_table
    from ._view import STYLE  # (as ``graphflow run``'s summary colours them)

    styled = {status.value: style for status, style in STYLE.items()}
    styled["interrupted"] = styled["cancelled"]
    flow = shown_path(Path(record.workflow)) if record.workflow else "-"
    title = (
        f"run {record.run_id} of {flow}: {record.status}, started {_when(record.started_at)},"
        f" {_took(record)}"
    )
    rows, rest = _bounded(nodes, args.all)
    dead = record.status == "interrupted"  # (its process is gone: nothing runs any more)
    cells, styles = [], []
    for node in rows:
        took = node.get("duration")
        status = str(node.get("status"))
        if dead and status in _LIVE_NODE:
            status = "interrupted"
        styles.append(styled.get(status))
        cells.append(
            (
                hide(str(node.get("node_id"))),
                status,
                str(node.get("attempts", "-")),
                "-" if took is None else f"{took:.2f} s",
                _detail(node, hide),
            )
        )
    if rows:
        columns = ("node", "status", "attempts", "duration", "error / reason")
        print_table(_console(), title, columns, cells, styles)
    else:  # (every row is a success or a skip, beyond MAX_ROWS: no empty frame)
        print(title)
    if rest:
        print(rest)
    if missing:
        print(hide(_unrecorded(missing, record.status)))
    return EXIT_OK


def _unrecorded(missing: list[str], status: str) -> str:
    """The line about a run's nodes that have no row (bounded, whatever their number)."""
    names = ", ".join(repr(n[:60]) for n in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    count = f"{len(missing)} node{'s' if len(missing) != 1 else ''}"
    if status not in ("interrupted", "running"):  # (its end wrote every start)
        return f"{count} never started: {names}{more}"
    when = "when its process died" if status == "interrupted" else "so far"
    return (
        f"{count} with no record {when}: {names}{more} (not started, or started less"
        " than a quarter second before the run last wrote)"
    )


def _bounded(nodes: list[dict[str, Any]], every: bool) -> tuple[list[dict[str, Any]], str]:
    """At most ``MAX_ROWS`` rows unless ``every``: beyond, only the nodes that did not
    succeed or skip are listed, and the rest counted (a 10,000-row table helps no one)."""
    if every or len(nodes) <= MAX_ROWS:
        return nodes, ""
    shown = [n for n in nodes if n.get("status") not in _QUIET][:MAX_ROWS]
    counts = Counter(str(n.get("status")) for n in nodes)
    counts.subtract(str(n.get("status")) for n in shown)
    listed = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if n)
    return shown, f"{len(nodes) - len(shown)} more rows not listed: {listed} (--all lists them)"


def _gc(store: SQLiteStore, args: argparse.Namespace) -> int:
    if args.keep < 0:
        raise UsageError(f"--keep must be >= 0, got {args.keep}")
    older = None if args.older_than is None else parse_age(args.older_than)
    if not store.path.exists():  # (opening it to write would create it)
        from graphflow.store import StoreError

        raise StoreError(store.path, "no such file (no run was stored there yet)")
    deleted = store.gc(keep=args.keep, older_than=older)
    print(f"deleted {deleted} run{'s' * (deleted != 1)} from {shown_path(store.path)}")
    return EXIT_OK


def parse_age(text: str) -> float:
    """Seconds from ``30s``, ``15m``, ``12h``, ``7d`` or ``2w``.

    Raises:
        UsageError: anything else.
    """
    match = _AGE.match(text)
    if match is None:
        raise UsageError(f"--older-than {text[:40]!r}: expected an age like 30s, 15m, 12h, 7d, 2w")
    return float(match.group(1)) * _UNIT[match.group(2)]


def _workflow(file: str | None) -> str | None:
    """A workflow file as runs record it: its absolute path."""
    return None if file is None else str(Path(file).resolve())


def _record_data(record: RunRecord) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    finished = record.finished_at
    data["duration"] = None if finished is None else finished - record.started_at
    return data


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _took(record: RunRecord) -> str:
    if record.finished_at is None:
        return "-"
    return f"{record.finished_at - record.started_at:.2f} s"


def _in_graph_order(nodes: list[dict[str, Any]], declared: list[str]) -> list[dict[str, Any]]:
    """``nodes`` in the order the run declared them (``run --all``'s), a for_each's
    items after their node, by index; any other after all, as they were."""
    order = {node_id: k for k, node_id in enumerate(declared)}
    last = len(order)

    def place(node: dict[str, Any]) -> tuple[int, int]:
        node_id = str(node.get("node_id"))
        at = order.get(node_id)
        if at is not None:
            return at, -1
        item = item_of(node_id)
        if item is not None and item[0] in order:
            return order[item[0]], item[1]
        return last, 0

    return sorted(nodes, key=place)


def _counts(counts: Any, dead: bool = False) -> str:
    """Nodes by status; a dead run's running ones were interrupted (as ``runs show`` says)."""
    if dead:
        live = sum(counts.get(s, 0) for s in _LIVE_NODE)
        counts = {s: n for s, n in counts.items() if s not in _LIVE_NODE}
        if live:
            counts["interrupted"] = counts.get("interrupted", 0) + live
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "-"


def _detail(node: dict[str, Any], hide: Callable[[str], str] = str) -> str:
    """The node's error or reason on one line, cut at ``DETAIL``; ``hide`` applies to
    the text as stored, before either (a secret with a newline still matches)."""
    error = node.get("error")
    if isinstance(error, dict):
        text = f"{error.get('type')}: {error.get('message')}" if error.get("message") else ""
        text = text or str(error.get("type"))
    else:
        text = str(node.get("reason") or "")
    text = " ".join(hide(text).split())
    return text if len(text) <= DETAIL else text[: DETAIL - 1] + "…"


def _hider(workflow: str | None) -> Callable[[str], str]:
    """What hides the run's secrets in text: the values, in this environment, of the
    variables its workflow file lists under ``secrets:`` (as ``graphflow run`` hid
    them); the text as it is when the file cannot be read or lists none."""
    from graphflow import SpecError
    from graphflow.workflow import redact, secret_names

    if workflow is None:
        return str
    try:
        names = secret_names(workflow)
    except SpecError:  # (moved, or no longer YAML: nothing to go by)
        return str
    values = frozenset(os.environ.get(n) or "" for n in names) - {""}
    return functools.partial(redact, secrets=values) if values else str


def _console() -> Any:
    import sys

    from ._view import plain_console

    return plain_console(sys.stdout)

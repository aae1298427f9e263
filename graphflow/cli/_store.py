"""``graphflow run``'s run store: which file, what to resume, and the line said after.

The store is on by default. Its file is ``--store PATH``, else
``$GRAPHFLOW_STORE``, else ``.graphflow/runs.db`` in the workflow file's folder
(``graphflow.store.DEFAULT_STORE``); ``--no-store`` turns it off. A run records
what it is of (the workflow file's absolute path, which ``--resume last``
matches) and a hash of its inputs (a resume with other inputs is refused,
unless ``--force``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from graphflow import Event, EventKind

from . import UsageError

if TYPE_CHECKING:
    from graphflow.store import RunRecord, SQLiteStore

ENV_STORE: Final = "GRAPHFLOW_STORE"
"""The environment variable naming the store file (``--store`` wins)."""


def add_store_options(run: argparse.ArgumentParser) -> None:
    """``--store``, ``--no-store``, ``--resume``, ``--force`` and ``--no-cache`` on
    ``graphflow run``."""
    group = run.add_argument_group("durable runs")
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--store",
        metavar="PATH",
        help=f"the SQLite run store (default: ${ENV_STORE}, else .graphflow/runs.db "
        "in the workflow file's folder)",
    )
    where.add_argument(
        "--no-store", action="store_true", help="record nothing (the run cannot be resumed)"
    )
    group.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="resume a stored run, keeping its id (or a prefix of it; 'last': this "
        "file's latest run): its succeeded nodes are not run again",
    )
    group.add_argument(
        "--force",
        action="store_true",
        help="with --resume: resume though the workflow or inputs changed",
    )
    group.add_argument(
        "--no-cache",
        action="store_true",
        help="nodes with cache: call their tools (their outputs are still stored)",
    )


def store_file(given: str | None, workflow_file: str | None) -> Path:
    """The store file: ``given`` (``--store``), ``$GRAPHFLOW_STORE``, else the
    default in ``workflow_file``'s folder (in the current folder without one)."""
    from graphflow.store import DEFAULT_STORE

    chosen = given or os.environ.get(ENV_STORE)
    if chosen:
        return Path(chosen).expanduser()  # ("~/runs.db" in $GRAPHFLOW_STORE: no shell expands it)
    folder = Path(workflow_file).parent if workflow_file is not None else Path()
    return folder / DEFAULT_STORE


def shown_path(path: Path) -> str:
    """``path`` as the user would type it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (OSError, ValueError):
        return str(path)


def inputs_hash(inputs: dict[str, Any]) -> str:
    """sha256 of the inputs as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Stored:
    """Where ``graphflow run`` records the run, and how it says so after.

    Attributes:
        path: the store file.
        options: the ``RunOptions`` fields that turn the store on.
        hint: what to add to ``--resume ID`` to resume (``--store PATH``, if given).
    """

    path: Path
    options: dict[str, Any]
    hint: str

    def prepare(self) -> None:
        """Create the store's folder, if missing, readable by its owner only: the
        store keeps outputs as the tools returned them, secrets included (a
        resume feeds them to dependents), where the summary hides them.

        Raises:
            UsageError: the folder cannot be made (a workflow in a read-only
                folder: the default store is beside it), saying what to do.
        """
        folder = self.path.parent
        if self.options.get("resume") is not None and not self.path.exists():
            return  # (refused when the run opens it: nothing to resume, nothing made)
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"run store {self.path}: cannot create its folder {folder}"
                f" ({exc.strerror or exc}): give --store PATH elsewhere, or --no-store"
            ) from None

    def line(self, run_id: str, passed: bool, restored: int, lost: bool = False) -> str:
        """``run ID stored in PATH``, and how to resume it if it did not pass.

        ``lost``: the store failed during the run (the error follows): only what
        was committed before is in it."""
        text = f"run {run_id}"
        if restored:
            text += f" (resumed: {restored} node{'s' * (restored != 1)} not run again)"
        if lost:
            text += f" only partly stored in {shown_path(self.path)} (the store failed)"
        else:
            text += f" stored in {shown_path(self.path)}"
        if not passed:
            text += f"; resume with --resume {run_id}{self.hint}"
        return text


def stored(args: argparse.Namespace, inputs: dict[str, Any]) -> Stored | None:
    """The run store for this ``graphflow run`` (None with ``--no-store``).

    Raises:
        UsageError: ``--resume`` with ``--no-store``, or ``--force`` without ``--resume``.
    """
    if args.no_store:
        if args.resume is not None:
            raise UsageError("--resume needs the run store: drop --no-store")
        return None
    if args.force and args.resume is None:
        raise UsageError("--force is for --resume: it resumes a run though it changed")
    if args.resume is not None and not args.resume.strip():
        raise UsageError("--resume needs a run id (or a prefix of one), or last")
    if args.store is not None and not args.store.strip():
        raise UsageError("--store needs a file name (or --no-store to record nothing)")
    path = store_file(args.store, args.file)
    resume = args.resume
    if resume is not None and resume != "last":  # an id, or a prefix of one, as runs show takes
        from graphflow.store import SQLiteStore

        resume = find_run(SQLiteStore(path), resume, None).run_id
    options = {
        "store": path,
        "workflow": str(Path(args.file).resolve()),
        "labels": {"inputs": inputs_hash(inputs)},
        "resume": resume,
        "force": args.force,
    }
    hint = f" --store {args.store}" if args.store else ""
    return Stored(path, options, hint)


def find_run(store: SQLiteStore, wanted: str, workflow: str | None) -> RunRecord:
    """The run ``wanted`` names: an id, the one run whose id starts with it, or ``last``."""
    from graphflow.store import StoreError

    if wanted == "last":
        latest = store.runs(workflow, limit=1)
        if not latest:
            of = f" of {workflow}" if workflow else ""
            raise StoreError(store.path, f"no run{of} stored yet")
        return latest[0]
    found = store.runs(prefix=wanted)  # (only those: not every run's counts)
    found = [r for r in found if r.run_id == wanted] or found
    if len(found) == 1:
        return found[0]
    if not found:
        raise StoreError(store.path, f"no run {wanted[:100]!r} ('graphflow runs list' lists them)")
    ids = ", ".join(r.run_id for r in found[:5])
    raise StoreError(store.path, f"{wanted[:100]!r} could be any of {ids}: give more of the id")


class Restored:
    """An event sink counting the nodes a resumed run did not run again: those
    that succeeded without starting (their stored result was restored)."""

    def __init__(self) -> None:
        self.started: set[str] = set()
        self.count = 0

    def __call__(self, event: Event) -> None:
        if event.kind is EventKind.NODE_STARTED and event.node_id is not None:
            self.started.add(event.node_id)
        elif event.kind is EventKind.NODE_SUCCEEDED and event.node_id not in self.started:
            self.count += 1

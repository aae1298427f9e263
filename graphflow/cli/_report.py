"""``graphflow report`` and ``graphflow run --report``: the HTML report of a run."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

from graphflow import RunResult

from . import EXIT_OK, UsageError


def write_html(result: RunResult, target: str, title: str, redact: Iterable[str] = ()) -> None:
    """Write the report of ``result`` to ``target``, or say in one line why not."""
    from graphflow.report import write_report

    try:
        write_report(result, target, title=title, redact=tuple(redact))
    except OSError as exc:
        raise UsageError(f"--report {target}: {exc.strerror or exc}") from None


def command_report(args: argparse.Namespace) -> int:
    """Read a ``--json`` results file and write its HTML report."""
    try:
        data = json.loads(Path(args.results).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{args.results}: {str(exc)[:200]}") from None
    try:
        result = RunResult.from_dict(data)
    except ValueError as exc:
        raise UsageError(f"{args.results}: {str(exc)[:200]}") from None
    write_html(result, args.output, title=f"run {result.run_id} ({args.results})")
    print(f"wrote {args.output}")
    return EXIT_OK

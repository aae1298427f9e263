"""The ``graphflow`` command line: the only code that prints, exits or configures logging.

Exit codes: 0 every node succeeded; 1 some node failed, was skipped or
cancelled, or the run store failed mid-run; 2 invalid workflow or usage, or a
run store that cannot be used (or a refused ``--resume``) before anything ran;
128 + N interrupted by signal N: 130 SIGINT (Ctrl-C), 143 SIGTERM, 129 SIGHUP
(see ``_signals`` for the rule, and for a second signal, which exits at once).
A user's mistake is one line on stderr, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from graphflow import GraphError, __version__

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130  # 130: 128 + SIGINT
EXIT_PIPE = 141  # 128 + SIGPIPE: what the reader of stdout that went away expects


class UsageError(Exception):
    """A bad command line (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"graphflow: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def build_parser() -> argparse.ArgumentParser:
    from ._dask import add_dask_options  # (after UsageError: it imports it)
    from ._runs import add_runs_parser
    from ._store import add_store_options

    parser = _Parser(
        prog="graphflow",
        description="Run tool calls as a dependency graph, each the moment its inputs are ready.",
    )
    parser.add_argument("--version", action="version", version=f"graphflow {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    common = _Parser(add_help=False)
    common.add_argument("file", help="the workflow YAML file")
    common.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="K=V",
        help="set an input (the value is read as YAML: 3, true, [a, b])",
    )
    common.add_argument("--inputs", metavar="FILE.json", help="inputs from a JSON object file")
    common.add_argument(
        "--tools", nargs="+", default=[], metavar="MOD", help="more modules to take tools from"
    )
    common.add_argument(  # SUPPRESS: do not undo a --debug given before the command
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )

    run = sub.add_parser("run", parents=[common], help="run a workflow")
    run.add_argument("--concurrency", "-c", type=int, metavar="N", help="nodes running at once")
    run.add_argument(
        "--sequential", action="store_true", help="one node at a time (--concurrency 1)"
    )
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    run.add_argument("--json", metavar="OUT", help="write the full result as JSON ('-': stdout)")
    run.add_argument(
        "--report", metavar="OUT.html", help="write a self-contained HTML report of the run"
    )
    run.add_argument(
        "--live",
        choices=["auto", "on", "off"],
        default="auto",
        help="live view while it runs (auto: when the output is a terminal)",
    )
    _add_output_options(run)
    _add_http_options(run)
    add_dask_options(run)
    add_store_options(run)

    sub.add_parser("validate", parents=[common], help="check a workflow without running it")

    plan = sub.add_parser("plan", parents=[common], help="show how a workflow would run")
    plan.add_argument("--format", choices=["text", "mermaid", "dot"], default="text")

    mcp = sub.add_parser("mcp", help="workflows as MCP tools: graphflow mcp serve FILE...")
    mcp_sub = mcp.add_subparsers(dest="mcp_command", metavar="COMMAND", parser_class=_Parser)
    serve = mcp_sub.add_parser("serve", help="serve each workflow file as one MCP tool (stdio)")
    serve.add_argument("files", nargs="+", metavar="FILE", help="workflow YAML files")
    serve.add_argument("--http", type=int, metavar="PORT", help="streamable HTTP on 127.0.0.1:PORT")
    serve.add_argument(
        "--tools", nargs="+", default=[], metavar="MOD", help="more modules to take tools from"
    )

    report = sub.add_parser(
        "report", help="an HTML report (timeline, graph, critical path) from a --json file"
    )
    report.add_argument("results", help="a RESULTS.json written by 'graphflow run --json'")
    report.add_argument("-o", "--output", default="report.html", metavar="OUT.html")
    report.add_argument(  # SUPPRESS: do not undo a --debug given before the command
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    add_runs_parser(sub)
    return parser


def _add_output_options(run: argparse.ArgumentParser) -> None:
    loud = run.add_mutually_exclusive_group()
    loud.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more event lines on stderr: -v skips, cancellations and the run; -vv everything",
    )
    loud.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="only failures on stderr, no summary: the exit code says the rest",
    )
    run.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        metavar="LEVEL",
        help="event lines at LEVEL and above: debug, info, warning (default: failures "
        "and retries), error (failures)",
    )
    run.add_argument(
        "--log-json",
        metavar="FILE",
        help="every event as one JSON line to FILE ('-': stderr, instead of the event lines)",
    )
    run.add_argument(
        "--all",
        action="store_true",
        help="a table row for every node and for_each item (default: one row per for_each; "
        "beyond 50 rows only the failed and cancelled, the rest counted)",
    )


def _add_http_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--http-max-connections",
        type=int,
        default=100,
        metavar="N",
        help="http.* requests in flight at once over the run's shared client (default 100)",
    )
    run.add_argument(
        "--http-max-per-host",
        type=int,
        metavar="N",
        help="http.* requests in flight to one host at once (default: no limit of its own)",
    )


def parse_inputs(pairs: Sequence[str], json_file: str | None) -> dict[str, Any]:
    """``--inputs FILE.json`` then each ``--input k=v`` (values read as YAML scalars)."""
    import yaml

    values: dict[str, Any] = {}
    if json_file:
        try:
            loaded = json.loads(Path(json_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--inputs {json_file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--inputs {json_file}: expected a JSON object")
        values.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--input {pair!r}: expected KEY=VALUE")
        try:
            values[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            values[key] = raw
    return values


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``graphflow`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_INVALID
    with warnings.catch_warnings():  # (restored after: main may be called in-process)
        warnings.showwarning = _warning_line
        return _dispatch(args)


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A warning as one line on stderr (``graphflow: warning: ...``), not Python's
    file, line and source: a CLI user did not write that code."""
    text = " ".join(str(message).split()).removeprefix("graphflow: ")
    if len(text) > 400:
        text = text[:399] + "…"
    with contextlib.suppress(OSError, ValueError):
        print(f"graphflow: warning: {text}", file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        if args.command == "run":
            from ._run import command_run

            return command_run(args)
        if args.command == "mcp":
            from ._mcp import command_mcp

            return command_mcp(args)
        if args.command == "report":
            from ._report import command_report

            return command_report(args)
        if args.command == "runs":
            from ._runs import command_runs

            return command_runs(args)
        from ._inspect import command_plan, command_validate

        return command_validate(args) if args.command == "validate" else command_plan(args)
    except (GraphError, UsageError) as exc:
        if args.debug:
            traceback.print_exc()
        for line in str(exc).splitlines() or [""]:  # (several: each its own error line)
            print(f"graphflow: error: {line}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError as exc:
        if _reader_gone():  # (``graphflow runs show X | head``: it has all it wanted)
            return EXIT_PIPE
        with contextlib.suppress(OSError, ValueError):  # (another pipe: say which)
            print(f"graphflow: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _reader_gone() -> bool:
    """Whether stdout or stderr is a pipe whose reader went away (poll says POLLERR)."""
    poll = select.poll()
    for stream in (sys.stdout, sys.stderr):
        try:
            poll.register(stream.fileno(), 0)  # (no events asked: errors are always told)
        except (AttributeError, OSError, ValueError):  # (no descriptor: a StringIO, closed)
            continue
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0))


def run_main() -> NoReturn:  # pragma: no cover - the console script
    # A dask client that failed to connect warns, when collected at exit (after the
    # one error line, and out of main's reach), of coroutines it never awaited.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"distributed\.")
    code = main()
    try:  # (else the interpreter's own flush at exit reports the broken pipe)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_PIPE
    sys.exit(code)

"""What ``graphflow run`` prints, off a terminal, at each level."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .runner import flow, gf, statuses

LAPTOPS = "workflows/compare_laptops.yaml"  # last_year fails once, then succeeds on retry


def fan_out(tmp_path: Path, items: int, bad: list[int]) -> str:
    return flow(
        tmp_path / "fan.yaml",
        f"""\
        name: fan
        nodes:
          fan:
            tool: python
            for_each: {list(range(items))}
            args:
              function: tests.cli.targets:check
              kwargs: {{item: "${{item}}", bad: {bad}}}
        """,
    )


class TestLevels:
    def test_by_default_stderr_has_retries_and_failures_only(self) -> None:
        proc = gf("run", LAPTOPS, "--input", "skus=[A1]")
        assert proc.returncode == 0, proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and "retrying last_year in " in lines[0]
        assert "ConnectionError: catalogue archive unavailable" in lines[0]
        assert "succeeded. wall" in proc.stdout

    def test_a_failure_is_one_line_even_when_quiet(self) -> None:
        proc = gf("run", "workflows/partial_failure.yaml", "--quiet")
        assert proc.returncode == 1
        assert proc.stdout == ""
        [line] = proc.stderr.splitlines()
        assert "failed fetch_config after " in line and "config server unreachable" in line

    def test_quiet_still_writes_json(self, tmp_path: Path) -> None:
        out = tmp_path / "r.json"
        proc = gf("run", LAPTOPS, "-q", "--json", str(out))
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
        assert json.loads(out.read_text())["ok"] is True

    def test_v_adds_skips_and_the_run_and_vv_adds_every_start(self) -> None:
        info = gf("run", "workflows/partial_failure.yaml", "-v").stderr
        assert "skipped apply_config: upstream 'fetch_config' failed" in info
        assert " started\n" in info and "started build" not in info
        debug = gf("run", "workflows/partial_failure.yaml", "-vv").stderr
        assert "started build" in debug and "succeeded build after " in debug

    def test_log_level_error_drops_retries(self) -> None:
        proc = gf("run", LAPTOPS, "--input", "skus=[A1]", "--log-level", "error")
        assert (proc.returncode, proc.stderr) == (0, "")

    def test_quiet_and_verbose_do_not_mix(self) -> None:
        proc = gf("run", LAPTOPS, "-q", "-v")
        assert proc.returncode == 2 and "not allowed with argument" in proc.stderr

    def test_log_json_file_has_every_event(self, tmp_path: Path) -> None:
        log = tmp_path / "events.jsonl"
        proc = gf("run", "workflows/partial_failure.yaml", "--log-json", str(log))
        events = [json.loads(line) for line in log.read_text().splitlines()]
        kinds = [e["event"] for e in events]
        assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
        assert kinds.count("node.started") == 4 and "node.skipped" in kinds
        assert "failed fetch_config" in proc.stderr  # the event lines are still there

    def test_live_on_off_a_terminal_says_it_cannot(self) -> None:
        proc = gf("run", LAPTOPS, "--live", "on")
        assert proc.returncode == 0
        assert proc.stderr.splitlines()[0] == (
            "graphflow: --live on: output is not a terminal; no live view"
        )
        assert "succeeded. wall" in proc.stdout


class TestFanOutTable:
    def test_a_thousand_items_are_one_row_naming_the_failed_ones(self, tmp_path: Path) -> None:
        proc = gf("run", fan_out(tmp_path, 1000, [7, 507]), "--json", str(tmp_path / "r.json"))
        assert proc.returncode == 1
        assert "fan (1000 items)" in proc.stdout and "998 succeeded" in proc.stdout
        assert "2 failed: fan[7], fan[507]" in proc.stdout
        assert "fan[999]" not in proc.stdout
        assert len(proc.stdout.splitlines()) < 15
        assert len(proc.stderr.splitlines()) == 2  # one line per failed item
        assert statuses(json.loads((tmp_path / "r.json").read_text()))["fan[507]"] == "failed"

    def test_all_expands_the_items(self, tmp_path: Path) -> None:
        proc = gf("run", fan_out(tmp_path, 30, [3]), "--all")
        assert proc.returncode == 1
        rows = [line for line in proc.stdout.splitlines() if "│ fan[" in line]
        assert len(rows) == 30
        assert "(30 items)" not in proc.stdout


class TestRuntimeForEach:
    FLOW = """\
        name: runtime
        nodes:
          listing: {tool: echo, args: {names: [a, b, c, d]}}
          each:
            tool: sleep
            for_each: ${listing.names}
            args: {seconds: 0.01}
          total: {tool: echo, args: {n: "${each}"}}
        """

    def test_critical_path_runs_through_the_source_and_only_the_end_is_final(
        self, tmp_path: Path
    ) -> None:
        proc = gf("run", flow(tmp_path / "rt.yaml", self.FLOW))
        assert proc.returncode == 0, proc.stderr
        totals = next(line for line in proc.stdout.splitlines() if "critical path" in line)
        assert totals.startswith("7 succeeded. wall ")
        chain = totals.split(": ", 1)[1].split(" -> ")
        assert (
            chain[0] == "listing"
            and chain[1].startswith("each[")
            and chain[2:]
            == [
                "each",
                "total",
            ]
        )
        finals = [
            line.split(":")[0]
            for line in proc.stdout.splitlines()
            if line.startswith(("listing:", "each:", "total:"))
        ]
        assert finals == ["total"]
        assert "each (4 items)" in proc.stdout


class TestOutputsThatCannotBeJson:
    @pytest.mark.parametrize(
        ("call", "marker"),
        [
            (
                "{function: 'tests.cli.targets:cyclic'}",
                "{'name': 'loop', 'self': {'name': 'loop', 'self': {'name': 'loop', 'self': "
                "{'name': 'loop', 'self': {...}}}}}",
            ),
            ("{function: 'tests.cli.targets:deep', kwargs: {depth: 100000}}", "[[[[[...]]]]]"),
        ],
    )
    def test_printed_bounded_and_written_to_json(
        self, tmp_path: Path, call: str, marker: str
    ) -> None:
        path = flow(
            tmp_path / "odd.yaml", f"name: odd\nnodes:\n  odd: {{tool: python, args: {call}}}\n"
        )
        out = tmp_path / "r.json"
        proc = gf("run", path, "--json", str(out), "--no-store")  # (a store refuses them)
        assert proc.returncode == 0, proc.stderr
        [line] = [line for line in proc.stdout.splitlines() if line.startswith("odd: ")]
        assert '"__repr__"' in line and marker in line and len(line) < 600
        output = json.loads(out.read_text())["nodes"]["odd"]["output"]
        assert output["__repr__"] == marker

    def test_a_long_output_is_cut(self, tmp_path: Path) -> None:
        path = flow(
            tmp_path / "long.yaml",
            "name: long\nnodes:\n  big: {tool: python, args: "
            "{function: 'tests.cli.targets:deep', kwargs: {depth: 0}}}\n"
            "  text: {tool: echo, args: {t: '" + "x" * 5000 + "'}}\n",
        )
        proc = gf("run", path)
        [line] = [line for line in proc.stdout.splitlines() if line.startswith("text: ")]
        assert line.endswith("… (cut; --json has all of it)") and len(line) < 500


class TestTextIsPrintedAsItIs:
    """Tool text and node ids reach the tables literally: a ``[/path]`` in an
    error was read as a closing markup tag, and rich raised (no summary, no
    ``--json``, and ``runs show`` failed on that run every time)."""

    def test_markup_and_emoji_codes_in_errors_ids_and_outputs(self, tmp_path: Path) -> None:
        path = flow(
            tmp_path / "markup.yaml",
            """\
            name: markup
            nodes:
              build:
                tool: shell
                args: {argv: [sh, -c, "echo '[/etc/a] :smile:' >&2; exit 1"]}
              "[bold]n[/bold]": {tool: echo, args: {v: "[red]x[/red]"}}
            """,
        )
        out = tmp_path / "out.json"
        proc = gf("run", path, "--json", str(out), cwd=tmp_path)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "[/etc/a] :smile:" in proc.stdout
        assert "│ [bold]n[/bold] │" in proc.stdout and '"[red]x[/red]"' in proc.stdout
        assert json.loads(out.read_text())["nodes"]["build"]["status"] == "failed"
        shown = gf("runs", "show", "last", cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert "[/etc/a] :smile:" in shown.stdout and "│ [bold]n[/bold] │" in shown.stdout

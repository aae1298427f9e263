"""The graphflow CLI through its real console script, in subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from graphflow.cli import main

from .runner import CLI, ENV, gf


class TestRun:
    def test_example_workflow_succeeds_with_summary_and_json(self, tmp_path: Path) -> None:
        out = tmp_path / "result.json"
        proc = gf("run", "workflows/compare_laptops.yaml", "--json", str(out))
        assert proc.returncode == 0, proc.stderr
        assert "14 succeeded. wall " in proc.stdout
        assert "one at a time" in proc.stdout and "critical path" in proc.stdout
        assert "summary: " in proc.stdout and "Brick 15" in proc.stdout
        data = json.loads(out.read_text())
        assert data["ok"] is True
        assert data["nodes"]["last_year"]["attempts"] == 2
        assert data["nodes"]["lookup"]["output"][1]["sku"] == "B2"

    def test_log_json_dash_writes_each_event_as_one_json_line_on_stderr(self) -> None:
        proc = gf(
            "run", "workflows/compare_laptops.yaml", "--input", "skus=[A1]", "--log-json", "-"
        )
        events = [json.loads(line) for line in proc.stderr.splitlines()]
        kinds = [e["event"] for e in events]
        assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
        assert "node.retrying" in kinds
        assert {e["run_id"] for e in events} == {events[0]["run_id"]}
        assert any(e.get("node_id") == "lookup[0]" for e in events)

    def test_inputs_from_the_command_line_and_a_file(self, tmp_path: Path) -> None:
        inputs = tmp_path / "in.json"
        inputs.write_text(json.dumps({"region": "us"}))
        proc = gf(
            "run", "workflows/compare_laptops.yaml", "--inputs", str(inputs), "-i", "skus=[B2, D4]"
        )
        assert proc.returncode == 0, proc.stderr
        assert "at 1099" in proc.stdout  # B2 at 999 +10% outside the eu

    def test_a_failure_exits_1_and_reports_the_skip(self) -> None:
        proc = gf("run", "workflows/partial_failure.yaml", "--json", "-")
        assert proc.returncode == 1
        data = json.loads(proc.stdout)
        assert data["nodes"]["fetch_config"]["status"] == "failed"
        assert data["nodes"]["apply_config"]["reason"] == "upstream 'fetch_config' failed"
        assert data["nodes"]["test"]["status"] == "succeeded"

    def test_sequential_and_fail_fast(self) -> None:
        proc = gf("run", "workflows/partial_failure.yaml", "--sequential", "--fail-fast")
        assert proc.returncode == 1
        assert "skipped" in proc.stdout and "fail_fast: 'fetch_config' failed" in proc.stdout

    def test_command_line_options_change_only_what_they_name(self, tmp_path: Path) -> None:
        flow = tmp_path / "stop.yaml"
        flow.write_text(
            textwrap.dedent(
                """\
                name: stop
                fail_fast: true
                concurrency: 4
                nodes:
                  broken: {tool: shell, args: {argv: [python3, -c, "raise SystemExit(3)"]}}
                  slow: {tool: sleep, args: {seconds: 30}}
                """
            )
        )
        started = time.monotonic()
        proc = gf("run", str(flow), "--concurrency", "2", "--json", "-", timeout=20)
        assert proc.returncode == 1, proc.stderr
        statuses = {k: v["status"] for k, v in json.loads(proc.stdout)["nodes"].items()}
        assert statuses == {"broken": "failed", "slow": "cancelled"}  # the file's fail_fast held
        assert time.monotonic() - started < 15

    def test_shell_workflow_over_the_repository(self) -> None:
        proc = gf("run", "workflows/repo_stats.yaml", "--json", "-")
        assert proc.returncode == 0, proc.stderr
        total = json.loads(proc.stdout)["nodes"]["total"]["output"]
        assert total["files"] > 10 and total["lines"] > 1000


class TestUserErrors:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["run", "missing.yaml"], "graphflow: error: missing.yaml: cannot read"),
            (
                ["run", "workflows/compare_laptops.yaml", "--input", "nope=1"],
                "unknown input 'nope'",
            ),
            (
                ["run", "workflows/compare_laptops.yaml", "--input", "oops"],
                "--input 'oops': expected KEY=VALUE",
            ),
            (
                ["run", "workflows/compare_laptops.yaml", "--concurrency", "0"],
                "--concurrency must be >= 1",
            ),
            (["frobnicate"], "invalid choice: 'frobnicate'"),
        ],
    )
    def test_exit_2_with_one_line_and_no_traceback(self, args: list[str], message: str) -> None:
        proc = gf(*args)
        assert proc.returncode == 2
        assert message in proc.stderr
        assert "Traceback" not in proc.stderr

    def test_invalid_workflow_names_file_line_and_column(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: x\nnodes:\n  a:\n    tool: echo\n    argz: {}\n")
        for command in ("run", "validate", "plan"):
            proc = gf(command, str(bad))
            assert proc.returncode == 2
            assert (
                proc.stderr.strip()
                == f"graphflow: error: {bad}:5:5: unknown key 'argz' (did you mean 'args'?)"
            )

    @pytest.mark.parametrize("command", ["validate", "plan", "run"])
    def test_a_cycle_is_one_located_line_even_when_only_a_first_node_reaches_it(
        self, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        flow = tmp_path / "loop.yaml"
        flow.write_text(
            textwrap.dedent(
                """\
                name: loop
                nodes:
                  report: {tool: echo, args: {v: "${a}"}}
                  a: {tool: echo, args: {v: "${b.k}"}}
                  b: {tool: echo, depends_on: [a]}
                """
            )
        )
        assert main([command, str(flow)]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.splitlines() == [
            f"graphflow: error: {flow}:5:32: cycle: a -> b -> a "
            "('b' needs 'a' at line 5; 'a' needs 'b' at line 4)"
        ]

    def test_debug_shows_the_traceback(self, tmp_path: Path) -> None:
        proc = gf("--debug", "validate", str(tmp_path / "none.yaml"))
        assert proc.returncode == 2 and "Traceback" in proc.stderr


class TestValidateAndPlan:
    def test_validate(self) -> None:
        proc = gf("validate", "workflows/compare_laptops.yaml")
        assert proc.returncode == 0
        assert proc.stdout.strip() == (
            "ok: workflows/compare_laptops.yaml: workflow 'compare-laptops', 14 nodes, 18 edges"
        )

    def test_plan_text(self) -> None:
        proc = gf("plan", "workflows/compare_laptops.yaml")
        assert proc.returncode == 0
        assert (
            "level 0 (4 can run together): lookup[0], lookup[1], lookup[2], lookup[3]"
            in proc.stdout
        )
        assert "longest chain (6 nodes): " in proc.stdout

    def test_plan_runtime_fan_out_and_exports(self) -> None:
        text = gf("plan", "workflows/repo_stats.yaml").stdout
        assert "items known only at run time: count" in text
        mermaid = gf("plan", "workflows/repo_stats.yaml", "--format", "mermaid").stdout
        assert mermaid.startswith("flowchart TD") and "n1 --> n2" in mermaid
        dot = gf("plan", "workflows/repo_stats.yaml", "--format", "dot").stdout
        assert dot.startswith("digraph graphflow {") and '"files" -> "python_files";' in dot

    def test_version(self) -> None:
        assert gf("--version").stdout.startswith("graphflow 0.")


def test_ctrl_c_cancels_prints_the_summary_and_exits_130(tmp_path: Path) -> None:
    flow = tmp_path / "slow.yaml"
    flow.write_text(
        textwrap.dedent(
            """\
            name: slow
            nodes:
              quick: {tool: echo, args: {x: 1}}
              long: {tool: sleep, args: {seconds: 30}}
              after: {tool: echo, args: {x: "${long}"}}
            """
        )
    )
    proc = subprocess.Popen(
        [*CLI, "run", str(flow), "--json", str(tmp_path / "out.json"), "-vv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=ENV,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    for line in proc.stderr:  # wait until 'long' is running
        if line.rstrip().endswith("started long"):
            break
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "interrupted" in stdout
    data = json.loads((tmp_path / "out.json").read_text())
    statuses = {k: v["status"] for k, v in data["nodes"].items()}
    assert statuses == {"quick": "succeeded", "long": "cancelled", "after": "skipped"}


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--no-store", "-q", "--json", "-", "--report", "{tmp}/r.html"],
        ["run", "--no-store", "--all", "--json", "{tmp}/out.json", "--report", "{tmp}/r.html"],
        ["plan"],
    ],
)
def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path, command: list[str]) -> None:
    """``graphflow ... | head -1``: was a BrokenPipeError traceback and exit 1; the
    files asked for are written all the same."""
    flow = tmp_path / "flow.yaml"
    nodes = "".join(f"  node_{i:034}: {{tool: echo, args: {{v: {i}}}}}\n" for i in range(3000))
    flow.write_text("name: wide\nnodes:\n" + nodes)  # (its output: far more than a pipe holds)
    args = [command[0], str(flow), *(a.format(tmp=tmp_path) for a in command[1:])]
    child = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline()
    child.stdout.close()  # the reader goes away
    with child.stderr:
        assert child.wait(timeout=60) == 141  # 128 + SIGPIPE, as for a process the pipe killed
        assert child.stderr.read() == ""
    for name in ("r.html", "out.json"):
        if f"{{tmp}}/{name}" in command:
            assert (tmp_path / name).stat().st_size > 0, name


def test_validate_counts_one_node_as_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "one.yaml"
    flow.write_text("name: one\nnodes:\n  a: {tool: echo}\n")
    assert main(["validate", str(flow)]) == 0
    assert capsys.readouterr().out == f"ok: {flow}: workflow 'one', 1 node, 0 edges\n"


def test_a_broken_pipe_not_of_stdout_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Only a reader of stdout or stderr that went away is a quiet 141."""
    import graphflow.cli._inspect as inspect_

    def broken(args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe: the MCP server's stdin")

    monkeypatch.setattr(inspect_, "command_validate", broken)
    assert main(["validate", str(tmp_path / "x.yaml")]) == 1
    assert capsys.readouterr().err == (
        "graphflow: error: [Errno 32] Broken pipe: the MCP server's stdin\n"
    )

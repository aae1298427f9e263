"""Large workflows: a bounded summary, bounded final outputs, and ``plan`` without networkx."""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path

import pytest

from graphflow import analysis
from graphflow.workflow import load_workflow

from .runner import gf

WIDE = 120


def wide(tmp_path: Path) -> str:
    """``WIDE`` independent echo nodes, and one that fails in the middle of them."""
    lines = ["name: wide", "nodes:"]
    lines += [f"  n{i}: {{tool: echo, args: {{v: {i}}}}}" for i in range(WIDE // 2)]
    lines += ["  broken: {tool: shell, args: {argv: [python3, -c, 'import sys; sys.exit(3)']}}"]
    lines += [f"  n{i}: {{tool: echo, args: {{v: {i}}}}}" for i in range(WIDE // 2, WIDE)]
    path = tmp_path / "wide.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class TestBoundedSummary:
    def test_beyond_fifty_rows_failures_are_listed_and_the_rest_counted(
        self, tmp_path: Path
    ) -> None:
        proc = gf("run", wide(tmp_path))
        assert proc.returncode == 1, proc.stderr
        assert re.search(r"│ broken +│ failed", proc.stdout)
        assert not re.search(r"│ n7 +│", proc.stdout)
        assert f"{WIDE} more rows not listed: {WIDE} succeeded (--all to list every node)" in (
            proc.stdout
        )

    def test_all_lists_every_node(self, tmp_path: Path) -> None:
        proc = gf("run", wide(tmp_path), "--all")
        assert all(re.search(rf"│ n{i} +│ succeeded", proc.stdout) for i in range(WIDE))
        assert "not listed" not in proc.stdout

    def test_final_outputs_are_ten_and_the_rest_counted(self, tmp_path: Path) -> None:
        proc = gf("run", wide(tmp_path))
        printed = re.findall(r"^n\d+: \{", proc.stdout, flags=re.MULTILINE)
        assert printed and len(printed) == 10
        assert f"…: {WIDE - 10} more final outputs (--json has them all)" in proc.stdout


@pytest.mark.parametrize("name", ["repo_stats.yaml", "compare_laptops.yaml"])
def test_plan_counts_what_the_networkx_export_holds(name: str) -> None:
    path = Path(__file__).resolve().parents[2] / "workflows" / name
    dg = analysis.plan_graph(load_workflow(path).graph)
    first = gf("plan", str(path)).stdout.splitlines()[0]
    assert first.endswith(f": {dg.number_of_nodes()} nodes, {dg.number_of_edges()} edges")


def test_json_has_one_line_per_node(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    gf("run", wide(tmp_path), "--json", str(out))
    text = out.read_text()
    assert json.loads(text)["nodes"]["broken"]["status"] == "failed"
    node_lines = [line for line in text.splitlines() if re.match(r'    "(n\d+|broken)": \{', line)]
    assert len(node_lines) == WIDE + 1


class TestCollectorLeftAsFound:
    """The CLI pauses the collector while loading and freezes the graph for the run;
    a program calling ``main`` in its own process gets its collector back as it was."""

    def run_in_process(self, tmp_path: Path) -> int:
        from graphflow.cli import main

        return main(["run", wide(tmp_path), "--no-store", "--quiet", "--live", "off"])

    def test_enabled_and_nothing_frozen_after_a_run(self, tmp_path: Path) -> None:
        assert gc.isenabled() and gc.get_freeze_count() == 0
        assert self.run_in_process(tmp_path) == 1  # (one node fails: the other path out)
        assert gc.isenabled()
        assert gc.get_freeze_count() == 0

    def test_a_disabled_collector_stays_off_and_a_callers_freeze_stays(
        self, tmp_path: Path
    ) -> None:
        gc.disable()
        gc.freeze()
        try:
            before = gc.get_freeze_count()
            assert self.run_in_process(tmp_path) == 1
            assert not gc.isenabled()
            assert 0 < gc.get_freeze_count() <= before  # nothing more frozen (some died)
        finally:
            gc.unfreeze()
            gc.enable()

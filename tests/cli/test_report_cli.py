"""graphflow run --report and graphflow report: one HTML file per run, from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphflow.cli import main

FLOW = Path(__file__).resolve().parents[2] / "workflows" / "partial_failure.yaml"


def test_run_writes_a_report_and_report_rebuilds_it_from_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html, results = tmp_path / "run.html", tmp_path / "run.json"
    code = main(["run", str(FLOW), "-q", "--json", str(results), "--report", str(html)])
    assert code == 1  # the workflow has a failing node, on purpose
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "partial" in page
    again = tmp_path / "again.html"
    assert main(["report", str(results), "-o", str(again)]) == 0
    assert again.stat().st_size > 1000 and "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("content", ["not json", '{"run_id": 3}', "[]"])
def test_a_bad_results_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["report", str(bad), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graphflow: error:") and "\n" not in err and len(err) < 400

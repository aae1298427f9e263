"""executor: on a workflow node, through the CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from graphflow.cli import main

FLOW = """\
    name: where
    nodes:
      here: {tool: python, args: {function: "os:getpid"}}
      there: {tool: python, args: {function: "os:getpid"}, executor: process}
    """


def test_a_node_runs_where_its_executor_key_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "where.yaml"
    flow.write_text(textwrap.dedent(FLOW))
    out = tmp_path / "r.json"
    assert main(["run", str(flow), "-q", "--json", str(out)]) == 0, capsys.readouterr().err
    nodes = json.loads(out.read_text())["nodes"]
    assert nodes["here"]["output"] != nodes["there"]["output"]


def test_an_unknown_executor_and_a_missing_dask_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "bad.yaml"
    flow.write_text(textwrap.dedent(FLOW).replace("executor: process", "executor: gpu"))
    assert main(["validate", str(flow)]) == 2
    assert "executor" in capsys.readouterr().err
    flow.write_text(textwrap.dedent(FLOW).replace("executor: process", "executor: dask"))
    assert main(["run", str(flow), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--dask" in err and "\n" not in err

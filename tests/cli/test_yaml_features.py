"""The new workflow keys end to end, through ``graphflow.cli.main`` in this process.

Each test writes a workflow, runs ``graphflow validate`` and ``graphflow run
--json``, and checks what a user would look at: the exit code, the JSON and,
for ``outputs:`` and ``secrets:``, what ``Workflow.outputs`` and
``Workflow.redact`` make of that JSON (the CLI is to print them).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

import graphflow as gf
from graphflow.cli import main
from graphflow.workflow import load_workflow

ROOT = Path(__file__).resolve().parents[2]

Run = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def gf_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """``graphflow run FILE --json OUT`` on a workflow's text: (exit code, the JSON)."""

    def go(text: str, *args: str) -> tuple[int, dict[str, Any]]:
        flow = tmp_path / "flow.yaml"
        flow.write_text(textwrap.dedent(text))
        assert main(["validate", str(flow)]) == 0, capsys.readouterr().err
        out = tmp_path / "result.json"
        code = main(["run", str(flow), "--live", "off", "--json", str(out), *args])
        capsys.readouterr()
        return code, json.loads(out.read_text())

    yield go
    structlog.reset_defaults()  # run configured event lines on a captured stream


def validate_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> list[str]:
    flow = tmp_path / "bad.yaml"
    flow.write_text(textwrap.dedent(text))
    capsys.readouterr()
    assert main(["validate", str(flow)]) == 2
    err = capsys.readouterr().err
    assert all(line.startswith("graphflow: error: ") for line in err.splitlines())
    return [line.removeprefix(f"graphflow: error: {flow}:") for line in err.splitlines()]


def test_if_skips_with_the_condition_as_the_reason(gf_run: Run) -> None:
    code, data = gf_run(
        """\
        name: gate
        inputs: {target: {default: staging}}
        nodes:
          check: {tool: echo, args: {ok: true, n: 5}}
          build: {tool: echo, if: "${check.ok} and ${check.n} > 3"}
          deploy: {tool: echo, if: "${inputs.target} == 'prod'", depends_on: build}
        """
    )
    nodes = data["nodes"]
    assert nodes["build"]["status"] == "succeeded"
    assert nodes["deploy"]["status"] == "skipped"
    assert nodes["deploy"]["reason"] == "condition is false: \"staging\" == 'prod'"
    assert code == 0  # skipped by a false if: only, as GitHub Actions has it
    assert data["passed"] is True and data["ok"] is False  # (--json says what the exit code says)


def test_partial_keeps_the_items_that_succeeded(gf_run: Run) -> None:
    code, data = gf_run(
        """\
        name: partial
        nodes:
          delays: {tool: echo, args: {d: [0, -1, 0.01]}}
          wait: {tool: sleep, for_each: "${delays.d}", partial: true, args: {seconds: "${item}"}}
          total: {tool: echo, args: {items: "${wait}"}}
        """
    )
    items = data["nodes"]["total"]["output"]["items"]
    assert [i["status"] for i in items] == ["succeeded", "failed", "succeeded"]
    assert [i.get("output") for i in items] == [0, None, 0.01]
    assert items[1]["error"]["type"] == "ValueError"
    assert code == 1


def test_outputs_from_the_json_of_a_run(gf_run: Run, tmp_path: Path) -> None:
    code, data = gf_run(
        """\
        name: outputs
        nodes:
          a: {tool: echo, args: {sku: B2, neg: -1}}
          bad: {tool: sleep, args: {seconds: "${a.neg}"}}
        outputs:
          cheapest: ${a.sku}
          broken: ${bad}
        """
    )
    assert code == 1
    outputs = load_workflow(tmp_path / "flow.yaml").outputs(gf.RunResult.from_dict(data))
    assert outputs.values == {"cheapest": "B2", "broken": None}
    assert outputs.notes["broken"].startswith("node 'bad' failed: ValueError")


def test_env_reaches_shell_nodes_and_env_references_read_the_environment(
    gf_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GF_TEST_REGION", "us-east-2")
    code, data = gf_run(
        """\
        name: env
        env: {REGION: "${env.GF_TEST_REGION}", TIER: "${env.GF_TEST_UNSET:-free}"}
        nodes:
          show:
            tool: shell
            env: {TIER: paid}
            args:
              argv: [python3, -c, "import os; print(os.environ['REGION'], os.environ['TIER'])"]
        """
    )
    assert code == 0
    assert data["nodes"]["show"]["output"]["stdout"] == "us-east-2 paid\n"


def test_secrets_are_hidden_in_the_json_and_by_redact(
    gf_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GF_TEST_TOKEN", "tok-5ecret")
    code, data = gf_run(
        """\
        name: secrets
        secrets: [GF_TEST_TOKEN]
        nodes:
          call: {tool: echo, args: {auth: "Bearer ${env.GF_TEST_TOKEN}"}}
        """
    )
    assert code == 0
    assert data["nodes"]["call"]["output"] == {"auth": "Bearer ***"}  # the CLI's --json
    wf = load_workflow(tmp_path / "flow.yaml")
    shown = json.dumps(wf.redact({"auth": "Bearer tok-5ecret"}))
    assert "tok-5ecret" not in shown and "Bearer ***" in shown


def test_limits_size_a_pool_the_nodes_share(gf_run: Run) -> None:
    code, data = gf_run(
        """\
        name: limits
        limits: {api: 2}
        nodes:
          call:
            tool: sleep
            for_each: [0.1, 0.1, 0.1, 0.1]
            limits: [api]
            args: {seconds: "${item}"}
        """
    )
    assert code == 0
    spans = [(n["started_at"], n["finished_at"]) for k, n in data["nodes"].items() if "[" in k]
    most = max(sum(s <= t < f for s, f in spans) for t, _ in spans)
    assert most == 2


def test_each_misuse_is_a_located_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = validate_errors(
        tmp_path,
        capsys,
        """\
        name: misuse
        secrets: [GF_TEST_NEVER_SET]
        limits: {api: 1}
        nodes:
          a:
            tool: echo
            if: ${a.ok} >
            limits: [web]
            env: {X: y}
          b: {tool: echo, partial: true, args: {v: "${env.GF_TEST_NEVER_SET_EITHER}"}}
        outputs: {r: "${zz}"}
        """,
    )
    assert lines == [
        "2:11: secret 'GF_TEST_NEVER_SET' is not set in the environment",
        "7:5: if: condition '${a.ok} >' is not an expression (invalid syntax (<unknown>, line 1))",
        "8:14: node 'a' claims a slot in the unknown pool 'web' (size it under limits: {web: N})",
        "9:5: env: sets a shell node's environment; tool 'echo' is not shell",
        "10:19: partial: true keeps a for_each node's item results: add for_each",
        "10:41: environment variable 'GF_TEST_NEVER_SET_EITHER' is not set "
        "(or give a default: ${env.GF_TEST_NEVER_SET_EITHER:-...})",
        "11:11: output 'r' references unknown node 'zz'",
    ]


def test_the_shipped_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAPHFLOW_REGION", raising=False)
    out = tmp_path / "result.json"
    flow = ROOT / "workflows" / "service_checks.yaml"
    try:
        code = main(["run", str(flow), "--live", "off", "--json", str(out)])
    finally:
        structlog.reset_defaults()
    capsys.readouterr()
    assert code == 1  # the cache probe fails on purpose
    outputs = load_workflow(flow).outputs(gf.RunResult.from_dict(json.loads(out.read_text())))
    assert outputs.values["first_probe"] == "api in eu-west-1: ok\n"
    assert [p["status"] for p in outputs.values["probes"]] == [
        *("succeeded", "succeeded", "failed", "succeeded")
    ]
    assert outputs.notes == {"paged": outputs.notes["paged"]}
    assert outputs.notes["paged"].startswith("node 'page' skipped: condition is false")

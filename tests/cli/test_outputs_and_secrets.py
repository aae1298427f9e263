"""``graphflow run`` prints the file's ``outputs:`` and never shows a secret."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .runner import CLI, ENV, ROOT, flow, gf

CHECKS = "workflows/service_checks.yaml"  # exits 1: its cache probe fails on purpose


class TestDeclaredOutputs:
    def test_printed_at_the_end_and_in_json_with_notes(self, tmp_path: Path) -> None:
        out = tmp_path / "run.json"
        proc = gf("run", CHECKS, "--json", str(out))
        assert proc.returncode == 1, proc.stderr
        assert "first_probe: " in proc.stdout and "api in " in proc.stdout
        assert "paged: null (" in proc.stdout  # page was skipped: its note says so
        assert "report: {" not in proc.stdout  # no guessed final output beside them
        outputs = json.loads(out.read_text())["outputs"]
        assert outputs["values"]["first_probe"].endswith(": ok\n")
        assert len(outputs["values"]["probes"]) == 4
        assert outputs["values"]["paged"] is None and set(outputs["notes"]) == {"paged"}

    def test_a_long_output_is_printed_bounded(self, tmp_path: Path) -> None:
        path = flow(
            tmp_path / "long.yaml",
            """\
            name: long
            nodes:
              big: {tool: echo, args: {text: "${inputs.text}"}}
            inputs:
              text: {default: ""}
            outputs:
              text: ${big.text}
            """,
        )
        proc = gf("run", path, "--input", f"text={'x' * 5000}")
        assert proc.returncode == 0, proc.stderr
        assert "text: " in proc.stdout and "… (cut; --json has all of it)" in proc.stdout
        assert "x" * 1000 not in proc.stdout

    def test_without_outputs_the_final_outputs_are_guessed_and_json_has_none(
        self, tmp_path: Path
    ) -> None:
        path = flow(
            tmp_path / "plain.yaml",
            """\
            name: plain
            nodes:
              a: {tool: echo, args: {v: 1}}
              b: {tool: echo, args: {w: "${a.v}"}}
            """,
        )
        out = tmp_path / "run.json"
        proc = gf("run", path, "--json", str(out))
        assert proc.returncode == 0, proc.stderr
        assert 'b: {"w": 1}' in proc.stdout and "a: {" not in proc.stdout
        assert "outputs" not in json.loads(out.read_text())


SECRET = "s3cr3t-t0ken-Zq"
LEAKY = """\
name: leaky
secrets: [GF_TEST_LEAKY_TOKEN]
nodes:
  echoed: {tool: echo, args: {auth: "Bearer ${env.GF_TEST_LEAKY_TOKEN}"}}
  refused:
    tool: shell
    env: {TOKEN: "${env.GF_TEST_LEAKY_TOKEN}"}
    args:
      argv: [python3, -c, "import os, sys; sys.exit('token ' + os.environ['TOKEN'] + ' refused')"]
outputs:
  auth: ${echoed.auth}
"""


def test_a_secret_appears_in_nothing_the_cli_writes(tmp_path: Path) -> None:
    path = flow(tmp_path / "leaky.yaml", LEAKY)
    files = {name: tmp_path / name for name in ("run.json", "events.jsonl", "report.html")}
    argv = [*CLI, "run", path, "-vv", "--json", str(files["run.json"])]
    argv += ["--log-json", str(files["events.jsonl"]), "--report", str(files["report.html"])]
    env = {**ENV, "GF_TEST_LEAKY_TOKEN": SECRET}
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    texts = {"stdout": proc.stdout, "stderr": proc.stderr}
    texts |= {name: f.read_text(encoding="utf-8") for name, f in files.items()}
    for name, text in texts.items():
        assert SECRET not in text, name
        # the report has its own mask (graphflow.report's, not the workflow's)
        assert ("[redacted]" if name == "report.html" else "***") in text, name
    assert "Bearer ***" in proc.stdout  # the declared output, hidden
    assert "token *** refused" in proc.stderr  # the failure's event line, hidden
    assert json.loads(files["run.json"].read_text())["outputs"]["values"]["auth"] == "Bearer ***"

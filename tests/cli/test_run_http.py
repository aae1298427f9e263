"""``graphflow run`` shares one HTTP client per run (a real loopback server)."""

from __future__ import annotations

import json
from pathlib import Path

from ..builtin_tools.loopback import serve
from .runner import flow, gf


def test_a_fan_out_of_gets_reuses_the_runs_connections(tmp_path: Path) -> None:
    path = flow(
        tmp_path / "gets.yaml",
        """\
        name: gets
        inputs: {base: {}}
        nodes:
          get:
            tool: http.get
            for_each: ITEMS
            args: {url: "${inputs.base}/json/${item}"}
        """.replace("ITEMS", str(list(range(50)))),
    )
    with serve() as httpd:
        proc = gf("run", path, "-i", f"base={httpd.url}", "--http-max-per-host", "4", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    outputs = json.loads(proc.stdout)["nodes"]["get"]["output"]
    assert [o["json"]["path"] for o in outputs] == [f"/json/{k}" for k in range(50)]
    assert httpd.stats.requests == 50
    assert len(httpd.stats.connections) <= 4  # a client per call opened one per request
    assert httpd.stats.peak <= 4


def test_limits_are_checked_on_the_command_line() -> None:
    proc = gf("run", "workflows/compare_laptops.yaml", "--http-max-per-host", "0")
    assert proc.returncode == 2
    assert "graphflow: error: --http-max-per-host must be an int >= 1, got 0" in proc.stderr

"""Running the CLI of the tree under test in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
# The tree under test, not wherever the console script's graphflow was installed from.
CLI = [sys.executable, "-m", "graphflow.cli"]
ENV = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}


def gf(
    *args: str, cwd: Path = ROOT, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``graphflow ARGS`` to completion, capturing its output (``env``: more variables)."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**ENV, **(env or {})},
    )


def start(*args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    """Start ``graphflow ARGS`` with its output piped, for a test that signals it."""
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=ENV,
    )


def flow(path: Path, text: str) -> str:
    """Write a workflow file (dedented) and return its path."""
    path.write_text(textwrap.dedent(text))
    return str(path)


def statuses(data: dict[str, Any]) -> dict[str, str]:
    """node id -> status, from ``--json`` output."""
    return {k: v["status"] for k, v in data["nodes"].items()}

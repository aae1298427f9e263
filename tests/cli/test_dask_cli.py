"""``graphflow run --dask local``: a LocalCluster for the run, end to end in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .runner import flow, gf

pytest.importorskip("distributed")

TOOLS = '''
import os
import graphflow as gf


@gf.tool(executor="dask")
def where(x: int) -> dict:
    return {"pid": os.getpid(), "double": 2 * x}


def here() -> int:
    return os.getpid()
'''


class TestDaskOption:
    def test_dask_local_runs_dask_nodes_on_a_cluster_of_its_own(self, tmp_path: Path) -> None:
        (tmp_path / "dask_tools.py").write_text(TOOLS)
        path = flow(
            tmp_path / "wf.yaml",
            """\
            name: dask-local
            tools: [dask_tools]
            nodes:
              remote: {tool: where, args: {x: 21}}
              local: {tool: here}
            """,
        )
        proc = gf("run", path, "--dask", "local", "--dask-workers", "1", "--json", "-")
        assert proc.returncode == 0, proc.stderr
        assert "LocalCluster of 1 worker processes x 1 threads" in proc.stderr
        nodes = json.loads(proc.stdout)["nodes"]
        assert nodes["remote"]["output"]["double"] == 42
        assert nodes["remote"]["output"]["pid"] != nodes["local"]["output"]

    def test_cluster_sizes_need_dask_local(self, tmp_path: Path) -> None:
        path = flow(tmp_path / "wf.yaml", "name: n\nnodes:\n  a: {tool: echo}\n")
        proc = gf("run", path, "--dask-workers", "2")
        assert proc.returncode == 2 and "--dask-workers needs --dask local" in proc.stderr

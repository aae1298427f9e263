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


def gpus_free() -> float:
    from distributed import get_worker

    return get_worker().state.available_resources["GPU"]


def here() -> int:
    return os.getpid()
'''


def gpu_flow(tmp_path: Path) -> str:
    (tmp_path / "dask_tools.py").write_text(TOOLS)
    return flow(
        tmp_path / "wf.yaml",
        """\
        name: dask-local
        tools: [dask_tools]
        nodes:
          remote: {tool: where, args: {x: 21}}
          local: {tool: here}
          gpu: {tool: gpus_free, executor: dask, resources: {GPU: 1}}
        """,
    )


# One `graphflow run` per test: each starts a LocalCluster (worker processes that
# import distributed), seconds on a quiet machine, many more on a loaded one.
OPTIONS = ("--dask", "local", "--dask-workers", "1", "--json", "-")


class TestDaskOption:
    def test_dask_local_runs_dask_nodes_on_a_cluster_of_its_own(self, tmp_path: Path) -> None:
        proc = gf("run", gpu_flow(tmp_path), *OPTIONS, "--dask-resources", "GPU=2")
        assert proc.returncode == 0, proc.stderr
        assert "LocalCluster of 1 worker processes x 1 threads, each with GPU=2" in proc.stderr
        nodes = json.loads(proc.stdout)["nodes"]
        assert nodes["gpu"]["output"] == 1.0, "holding 1 of 2"
        assert nodes["remote"]["output"]["double"] == 42
        assert nodes["remote"]["output"]["pid"] != nodes["local"]["output"]

    def test_without_dask_resources_a_node_needing_them_fails(self, tmp_path: Path) -> None:
        proc = gf("run", gpu_flow(tmp_path), *OPTIONS)
        assert proc.returncode == 1, "without --dask-resources, the gpu node fails"
        assert "LocalCluster of 1 worker processes x 1 threads for" in proc.stderr
        nodes = json.loads(proc.stdout)["nodes"]
        assert "needs worker resources {'GPU': 1.0}" in nodes["gpu"]["error"]["message"]
        assert nodes["remote"]["output"]["double"] == 42

    def test_cluster_sizes_need_dask_local(self, tmp_path: Path) -> None:
        path = flow(tmp_path / "wf.yaml", "name: n\nnodes:\n  a: {tool: echo}\n")
        proc = gf("run", path, "--dask-workers", "2")
        assert proc.returncode == 2 and "--dask-workers needs --dask local" in proc.stderr
        proc = gf("run", path, "--dask-resources", "GPU=1")
        assert proc.returncode == 2 and "--dask-resources needs --dask local" in proc.stderr
        proc = gf("run", path, "--dask", "local", "--dask-resources", "GPU=none")
        assert proc.returncode == 2
        assert "--dask-resources: 'GPU=none' is not NAME=N with N > 0" in proc.stderr

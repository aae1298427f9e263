"""``graphflow run --dask local``: a LocalCluster for the run, end to end in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .runner import flow, gf

pytest.importorskip("distributed")

TOOLS = """
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


def fails() -> None:
    raise ValueError("no luck")


def lock_back():
    import threading

    return threading.Lock()
"""


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

    def test_a_result_that_does_not_pickle_is_one_line_not_dask_s_tracebacks(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "dask_tools.py").write_text(TOOLS)
        text = "name: u\ntools: [dask_tools]\nnodes:\n  unp: {tool: lock_back, executor: dask}\n"
        path = flow(tmp_path / "u.yaml", text)
        proc = gf("run", path, "--dask", "local", "--dask-workers", "1", "-q", "--no-store")
        assert proc.returncode == 1
        # (distributed logged ~100 lines at CRITICAL, tracebacks, before graphflow's one)
        assert "CRITICAL" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        failed = [line for line in proc.stderr.splitlines() if "failed unp" in line]
        assert len(failed) == 1 and "PicklingError" in failed[0], proc.stderr

    def test_cluster_sizes_need_dask_local(self, tmp_path: Path) -> None:
        path = flow(tmp_path / "wf.yaml", "name: n\nnodes:\n  a: {tool: echo}\n")
        proc = gf("run", path, "--dask-workers", "2")
        assert proc.returncode == 2 and "--dask-workers needs --dask local" in proc.stderr
        proc = gf("run", path, "--dask-resources", "GPU=1")
        assert proc.returncode == 2 and "--dask-resources needs --dask local" in proc.stderr
        proc = gf("run", path, "--dask", "local", "--dask-workers", "100000")
        assert proc.returncode == 2
        assert "--dask-workers 100000 is more than 4 per core" in proc.stderr
        proc = gf("run", path, "--dask", "local", "--dask-resources", "GPU=1,GPU=2")
        assert proc.returncode == 2 and "--dask-resources: 'GPU' is given twice" in proc.stderr
        proc = gf("run", path, "--dask", "local", "--no-store", cwd=tmp_path)  # no dask node:
        assert proc.returncode == 0, proc.stderr  # no cluster started for nothing
        assert proc.stderr == "graphflow: --dask local: no node runs on executor dask\n"
        proc = gf("run", path, "--dask", "local", "--dask-resources", "GPU=none")
        assert proc.returncode == 2
        assert "--dask-resources: 'GPU=none' is not NAME=N with N > 0" in proc.stderr
        on_dask = gpu_flow(tmp_path)  # (a tool on dask by default)
        proc = gf("run", on_dask, "--no-store")
        assert proc.returncode == 2
        assert proc.stderr == (
            f"graphflow: error: {on_dask}: node 'remote' runs on executor 'dask':"
            " pass --dask local or --dask ADDRESS\n"
        )

    @pytest.mark.parametrize(
        ("address", "says"),
        [
            ("nonsense", "missing port number in address 'nonsense'"),
            ("", "missing port number"),
            ("http://127.0.0.1:18786", "scheme 'http' is not one of tcp, tls, ws, wss, ucx"),
            ("tcp://127.0.0.1:99999", "port 99999 is out of range"),
            ("x" * 5000, "missing port number in address 'xxx"),
        ],
    )
    def test_a_malformed_address_is_one_line_before_anything_runs(
        self, tmp_path: Path, address: str, says: str
    ) -> None:
        node = "{tool: pick, executor: dask, args: {value: {x: 1}, path: x}}"
        path = flow(tmp_path / "wf.yaml", f"name: n\nnodes:\n  a: {node}\n")
        proc = gf("run", path, "--dask", address, cwd=tmp_path)
        assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
        assert proc.stderr.startswith(f"graphflow: error: --dask {address[:100]!r}: {says}")
        assert len(proc.stderr.splitlines()) == 1 and len(proc.stderr) < 500
        assert not (tmp_path / ".graphflow").exists()

    def test_an_unreachable_scheduler_is_one_line_and_the_run_is_not_succeeded(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "dask_tools.py").write_text(TOOLS)
        path = flow(
            tmp_path / "wf.yaml",
            "name: n\ntools: [dask_tools]\nnodes:\n  a: {tool: here, executor: dask}\n",
        )
        env = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}  # (dask's default: 30 s)
        proc = gf("run", path, "--dask", "tcp://127.0.0.1:1", cwd=tmp_path, env=env)
        assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
        assert proc.stderr.startswith(
            "graphflow: error: cannot connect to the Dask scheduler at 'tcp://127.0.0.1:1': "
        )
        assert len(proc.stderr.splitlines()) == 1
        [run] = json.loads(gf("runs", "list", "--json", cwd=tmp_path).stdout)
        assert run["status"] == "cancelled"

    def test_a_failed_task_is_graphflows_one_line_not_dasks_log(self, tmp_path: Path) -> None:
        (tmp_path / "dask_tools.py").write_text(TOOLS)
        path = flow(
            tmp_path / "wf.yaml",
            "name: n\ntools: [dask_tools]\nnodes:\n  a: {tool: fails, executor: dask}\n",
        )
        proc = gf("run", path, *OPTIONS, "-q", "--no-store", cwd=tmp_path)
        assert proc.returncode == 1
        assert proc.stderr.splitlines() == [
            next(line for line in proc.stderr.splitlines() if "failed a after" in line)
        ]
        assert proc.stderr.rstrip().endswith("ValueError: no luck")

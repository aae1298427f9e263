"""``graphflow run --dask ADDRESS|local``: the run's ``dask`` executor.

Nodes choose it (``@graphflow.tool(executor="dask")``, ``Graph.add(executor=
"dask")``); the flag says where it is. ``local`` starts a ``LocalCluster`` for
the run and shuts it down after: worker processes and threads per worker are
dask's defaults for the machine (on up to 4 cores, one single-threaded worker
process per core) unless ``--dask-workers`` / ``--dask-threads`` say otherwise.
dask is imported only when the flag is given.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from graphflow import Executor

from . import UsageError

INSTALL = "the --dask option needs dask.distributed: pip install 'graphflow[dask]'"


def add_dask_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--dask",
        metavar="ADDRESS|local",
        help="run nodes with executor 'dask' on the Dask scheduler at ADDRESS "
        "(tcp://host:8786), or on a LocalCluster started for this run ('local')",
    )
    run.add_argument(
        "--dask-workers",
        type=int,
        metavar="N",
        help="--dask local: worker processes (default: dask's, one per core up to 4 cores)",
    )
    run.add_argument(
        "--dask-threads",
        type=int,
        metavar="N",
        help="--dask local: threads per worker process (default: dask's, 1 on up to 4 cores)",
    )


def dask_executors(args: argparse.Namespace) -> dict[str, Executor]:
    """``{"dask": DaskExecutor(...)}`` from ``--dask``; ``{}`` without it."""
    local_only = {"--dask-workers": args.dask_workers, "--dask-threads": args.dask_threads}
    given = [name for name, value in local_only.items() if value is not None]
    if args.dask is None:
        if given:
            raise UsageError(f"{given[0]} needs --dask local")
        return {}
    if args.dask != "local" and given:
        raise UsageError(f"{given[0]} applies to --dask local only, not to a running scheduler")
    for name, value in local_only.items():
        if value is not None and value < 1:
            raise UsageError(f"{name} must be >= 1, got {value}")
    try:
        from graphflow.executors.dask import DaskExecutor
    except ImportError:
        raise UsageError(INSTALL) from None
    if args.dask != "local":
        return {"dask": DaskExecutor(args.dask)}
    return {"dask": DaskExecutor(cluster_kwargs=_cluster_kwargs(args))}


def _cluster_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from distributed.deploy.utils import nprocesses_nthreads

    workers, threads = nprocesses_nthreads()  # type: ignore[no-untyped-call]
    workers = args.dask_workers or workers
    threads = args.dask_threads or threads
    print(
        f"graphflow: --dask local: a LocalCluster of {workers} worker processes x "
        f"{threads} threads for this run (--dask-workers, --dask-threads)",
        file=sys.stderr,
    )
    return {"n_workers": workers, "threads_per_worker": threads}

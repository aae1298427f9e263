"""``graphflow run --dask ADDRESS|local``: the run's ``dask`` executor.

Nodes choose it (``@graphflow.tool(executor="dask")``, ``Graph.add(executor=
"dask")``); the flag says where it is. ``local`` starts a ``LocalCluster`` for
the run and shuts it down after: worker processes and threads per worker are
dask's defaults for the machine (on up to 4 cores, one single-threaded worker
process per core) unless ``--dask-workers`` / ``--dask-threads`` say otherwise;
``--dask-resources GPU=1,MEM=4e9`` declares worker resources on each of its
workers (as ``dask worker --resources`` does), for nodes with ``resources:``.
dask is imported only when the flag is given.
"""

from __future__ import annotations

import argparse
import math
import os
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
    run.add_argument(
        "--dask-resources",
        metavar="NAME=N,...",
        help="--dask local: resources each worker declares (GPU=1), for nodes with resources:",
    )


def dask_executors(args: argparse.Namespace, start: bool = True) -> dict[str, Executor]:
    """``{"dask": DaskExecutor(...)}`` from ``--dask``; ``{}`` without it (or with
    ``start=False``: the options checked only)."""
    local_only = {
        "--dask-workers": args.dask_workers,
        "--dask-threads": args.dask_threads,
        "--dask-resources": args.dask_resources,
    }
    given = [name for name, value in local_only.items() if value is not None]
    if args.dask is None:
        if given:
            raise UsageError(f"{given[0]} needs --dask local")
        return {}
    if args.dask != "local" and given:
        raise UsageError(f"{given[0]} applies to --dask local only, not to a running scheduler")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    most = 4 * (cores or 1)  # (1,000 workers on 2 cores started 500 processes)
    for name, value in local_only.items():
        if isinstance(value, int) and value < 1:
            raise UsageError(f"{name} must be >= 1, got {value}")
        if isinstance(value, int) and value > most:
            raise UsageError(f"{name} {value} is more than 4 per core here (at most {most})")
    resources = _resources(args.dask_resources)
    if not start:
        return {}
    if not (args.debug or args.verbose):
        _quiet_dask()
    try:
        from graphflow.executors.dask import DaskExecutor
    except ImportError:
        raise UsageError(INSTALL) from None
    if args.dask != "local":
        return {"dask": DaskExecutor(_address(args.dask))}
    return {"dask": DaskExecutor(cluster_kwargs=_cluster_kwargs(args, resources))}


_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def _quiet_dask() -> None:
    """dask's own logs off (unless ``-v`` or ``--debug``): each failed task logged
    "Compute Failed" with a traceback, before graphflow's one line saying the same.
    Set in the environment before dask is imported, so that the LocalCluster's
    worker processes, which inherit it, read it too; a value the user set stays.
    Above CRITICAL: a result that does not pickle is logged at CRITICAL ("Failed
    to deserialize", ~100 lines of tracebacks) before the node's one line."""
    import logging

    off = logging.CRITICAL + 1
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", str(off))  # (dask reads ints too)
    for name in ("distributed", "distributed.client"):  # (if imported already)
        logging.getLogger(name).setLevel(off)


def _address(text: str) -> str:
    """``--dask ADDRESS`` checked before anything starts: ``[scheme://]host:port``."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, where = parse_address(text)
        if scheme not in _SCHEMES:
            raise ValueError(f"scheme {scheme!r} is not one of {', '.join(_SCHEMES)}")
        _, port = parse_host_port(where)
        if not 0 < int(port) < 65536:
            raise ValueError(f"port {port} is out of range")
    except (ValueError, TypeError) as exc:
        why = " ".join(str(exc).split())[:200]  # (dask's words repeat the whole address)
        message = f"--dask {text[:100]!r}: {why} (give tcp://host:port, or local)"
        raise UsageError(message) from None
    return text


def _resources(text: str | None) -> dict[str, float]:
    """``GPU=1,MEM=4e9`` as ``{"GPU": 1.0, "MEM": 4e9}`` (dask worker's syntax)."""
    found: dict[str, float] = {}
    for part in (text or "").replace(",", " ").split():
        name, _, amount = part.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = math.nan
        if not name or not 0 < value < math.inf:
            raise UsageError(f"--dask-resources: {part[:60]!r} is not NAME=N with N > 0")
        if name in found:
            raise UsageError(f"--dask-resources: {name[:60]!r} is given twice")
        found[name] = value
    return found


def _cluster_kwargs(args: argparse.Namespace, resources: dict[str, float]) -> dict[str, Any]:
    from distributed.deploy.utils import nprocesses_nthreads

    workers, threads = nprocesses_nthreads()  # type: ignore[no-untyped-call]
    workers = args.dask_workers or workers
    threads = args.dask_threads or threads
    has = "".join(f", each with {k}={v:g}" for k, v in resources.items())
    if not args.quiet:
        print(
            f"graphflow: --dask local: a LocalCluster of {workers} worker processes x "
            f"{threads} threads{has} for this run (--dask-workers, --dask-threads)",
            file=sys.stderr,
        )
    kwargs: dict[str, Any] = {"n_workers": workers, "threads_per_worker": threads}
    if resources:
        kwargs["resources"] = resources
    return kwargs

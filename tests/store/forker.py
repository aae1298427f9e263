"""A fork server for the chaos test: it imports graphflow once, then runs each run
in a child it forks, so that a test can SIGKILL dozens of runs in a few seconds
(a fresh interpreter costs ~0.5 s of imports; a fork, a millisecond).

Each child is a real process with its own SQLite connection, killed for real;
only its start is cheaper. One command per line on stdin, one answer on stdout:

  ``run JSON``  fork a child that runs ``chaos_graph`` with the store, log,
                resume and anyio backend in JSON  -> ``pid N``
  ``wait N``    reap child N                       -> ``exit CODE`` (-9: SIGKILLed)

A child exits 0 if its run passed, 1 if not, 3 if ``run`` raised (traceback on stderr).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, NoReturn

import anyio
import trio  # noqa: F401  (imported before forking, like everything a child needs)

import graphflow as gf
from graphflow.store import SQLiteStore

from .chaos import chaos_graph


def main() -> None:
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "run":
            spec = json.loads(arg)
            pid = os.fork()
            if pid == 0:
                child(spec)
            print(f"pid {pid}", flush=True)
        elif command == "wait":
            _, status = os.waitpid(int(arg), 0)
            print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)


def child(spec: dict[str, Any]) -> NoReturn:
    code = 3
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stdout is the protocol's
        store = SQLiteStore(spec["store"])
        options = gf.RunOptions(store=store, workflow="chaos", resume=spec.get("resume"))
        result = anyio.run(gf.run, chaos_graph(spec["log"]), options, backend=spec["backend"])
        code = 0 if result.passed else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main()

"""The chaos tests' workflow: tools that append a line to a side-effect log, then sleep.

``TOOL_NODES`` are the nodes whose tool writes the log (a for_each's own node
only gathers its items and writes nothing); ``UPSTREAM`` says what each waits
for, so a test can check that nothing started before its inputs were committed.
"""

from __future__ import annotations

import os
import time
from typing import Any, Final

import graphflow as gf

FAN: Final = 6
ITEMS: Final = 3
TOOL_NODES: Final = (
    *(f"s{i}" for i in range(FAN)),
    *(f"each[{i}]" for i in range(ITEMS)),
    "m0",
    "m1",
    "m2",
    "end",
)
UPSTREAM: Final[dict[str, tuple[str, ...]]] = {
    **{f"s{i}": () for i in range(FAN)},
    **{f"each[{i}]": () for i in range(ITEMS)},
    "m0": ("s0", "s1"),
    "m1": ("s2", "s3"),
    "m2": ("s4", "s5"),
    "end": ("m0", "m1", "m2", "each"),
}


def work(log: str, node: str, seconds: float, after: Any = None) -> dict[str, Any]:
    """Append ``node`` to ``log`` (the side effect), sleep, return a storable output.

    One ``os.write`` on an ``O_APPEND`` descriptor: a line is never torn, even
    by a SIGKILL, and lines of parallel nodes never interleave.
    """
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{node}\n".encode())
    finally:
        os.close(fd)
    time.sleep(seconds)
    return {"node": node, "after": after}


def chaos_graph(log: str) -> gf.Graph:
    """Six parallel nodes, a for_each of three, three joins of two, and a last node."""
    g = gf.Graph()
    for i in range(FAN):
        g.add(f"s{i}", work, args={"log": log, "node": f"s{i}", "seconds": 0.02 + 0.01 * (i % 3)})
    g.add(
        "each",
        work,
        for_each=list(range(ITEMS)),
        args={"log": log, "node": "each[${item}]", "seconds": 0.03},
    )
    for j in range(3):
        after = [f"${{s{2 * j}}}", f"${{s{2 * j + 1}}}"]
        g.add(f"m{j}", work, args={"log": log, "node": f"m{j}", "seconds": 0.02, "after": after})
    ends = ["${m0}", "${m1}", "${m2}", "${each}"]
    g.add("end", work, args={"log": log, "node": "end", "seconds": 0.01, "after": ends})
    return g


def logged(log: str) -> list[str]:
    """The log's lines: one per time a node's tool ran."""
    try:
        with open(log, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []

"""Tools for repo_stats.yaml."""

from __future__ import annotations

from typing import Any


def python_files(listing: str) -> list[str]:
    """The ``.py`` paths in a newline-separated listing."""
    return [line for line in listing.splitlines() if line.endswith(".py")]


def total_lines(counts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum ``wc -l`` outputs: the total and the three largest files."""
    sizes = []
    for result in counts:
        lines, _, path = result["stdout"].strip().partition(" ")
        sizes.append((int(lines), path))
    sizes.sort(reverse=True)
    return {"files": len(sizes), "lines": sum(n for n, _ in sizes), "largest": sizes[:3]}

"""Why a stored run cannot be resumed as it is: what changed since it ran."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

_SHOWN: Final = 5  # node ids named per kind of change; the rest are counted


def refusal(
    old_nodes: Mapping[str, str],
    new_nodes: Mapping[str, str],
    old_labels: Mapping[str, str],
    new_labels: Mapping[str, str],
) -> str | None:
    """One line saying what changed between a stored run and this one, or None.

    Nodes are compared by fingerprint (``RunInfo.nodes``), which covers each
    node's upstream nodes too, so a change names the node and its dependents.
    """
    parts = []
    changed = [n for n, f in new_nodes.items() if n in old_nodes and old_nodes[n] != f]
    added = [n for n in new_nodes if n not in old_nodes]
    removed = [n for n in old_nodes if n not in new_nodes]
    for what, ids in (("changed", changed), ("new", added), ("removed", removed)):
        if ids:
            parts.append(f"{what} {_names(ids)}")
    labels = sorted(k for k in {*old_labels, *new_labels} if old_labels.get(k) != new_labels.get(k))
    if labels:
        parts.append("different " + ", ".join(labels[:_SHOWN]))
    return "; ".join(parts) if parts else None


def _names(ids: list[str]) -> str:
    shown = ", ".join(repr(i[:60]) for i in ids[:_SHOWN])
    more = len(ids) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown

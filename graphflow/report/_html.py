"""One self-contained HTML file: header rendered here, the rest drawn by inline JS.

Nothing is fetched: the styles and scripts are inline, and a
Content-Security-Policy meta tag (``default-src 'none'``, the two scripts and
the stylesheet allowed by their SHA-256 hashes only) makes any request, or
any script that is not ours, fail — and the page's first script writes such a
failure into the page. The data travels as one JSON payload in a
``<script type="application/json">`` block, with ``<``, ``>`` and ``&``
escaped, so no output can close the block or inject markup; the drawing
script sets user text with ``textContent`` only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterable
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from typing import Final

from graphflow import NodeStatus, RunResult, __version__

from ._payload import Stats, build
from ._text import Redactor, cut

_JSON_ESCAPES: Final = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
_CHAIN_SHOWN: Final = 12  # critical-path nodes named in the header before "…"


def render_report(
    result: RunResult, *, title: str | None = None, redact: Iterable[str] = ()
) -> str:
    """The report of a run as one self-contained HTML page.

    Args:
        result: the run, as returned by ``graphflow.run`` or rebuilt with
            ``RunResult.from_dict``.
        title: the page's title (default: ``graphflow run <run id>``).
        redact: secrets that must not appear in the page: each occurrence in
            an output, error, traceback, reason or the title is replaced by
            ``[redacted]``. Node ids and the run id are shown as they are.

    Returns:
        The HTML text. It loads nothing from the network and opens offline.
    """
    redactor = Redactor(redact)
    heading = redactor(title) if title is not None else f"graphflow run {result.run_id}"
    payload, stats = build(result, redactor)
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    guard, script, style = _asset("guard.js"), _asset("report.js"), _asset("report.css")
    return _PAGE.format(
        policy=_policy(guard, script, style),
        version=__version__,
        title=escape(heading),
        style=style,
        guard=guard,
        header=_header(result, stats),
        data=data.translate(_JSON_ESCAPES),
        script=script,
    )


def write_report(
    result: RunResult,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    redact: Iterable[str] = (),
) -> Path:
    """Write ``render_report(result, ...)`` to ``path`` (UTF-8), replacing it whole.

    The page is written beside ``path`` first and then renamed, so an
    interrupted write never leaves half a report.

    Args:
        result: the run.
        path: the file to write; its folder must exist.
        title: the page's title (default: ``graphflow run <run id>``).
        redact: secrets that must not appear in the file (see ``render_report``).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OSError: the file could not be written.
    """
    target = Path(path)
    page = render_report(result, title=title, redact=redact)
    partial = target.with_name(f".{target.name}.partial")
    # backslashreplace: a lone surrogate in an id or output becomes a JSON escape
    partial.write_bytes(page.encode("utf-8", "backslashreplace"))
    partial.replace(target)
    return target


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _policy(*inline: str) -> str:
    guard, script, style = (_hash(text) for text in inline)
    return (
        f"default-src 'none'; script-src {guard} {script}; style-src {style}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _header(result: RunResult, stats: Stats) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(result.started_at))
    figures = [
        ("wall", "wall time", _seconds(stats.wall)),
        ("busy", "sum of node durations", _seconds(stats.busy)),
        (
            "critical",
            "critical path",
            f"{_seconds(stats.critical)} · {len(stats.critical_path)} node"
            + "s" * (len(stats.critical_path) != 1),
        ),
        ("parallelism", "achieved parallelism", f"{stats.parallelism:.2f}\u00d7"),
        ("peak", "peak concurrency", str(stats.peak)),
        ("attempts", "attempts", f"{stats.attempts} ({_plural(stats.retried, 'node')} retried)"),
    ]
    dl = "".join(
        f'<div><dt>{label}</dt><dd data-stat="{key}">{escape(value)}</dd></div>'
        for key, label, value in figures
    )
    return (
        f'<p class="run">run <code>{escape(result.run_id)}</code> · started {started} · '
        f"{len(result)} nodes</p>\n"
        f'<dl class="stats">{dl}</dl>\n{_counts(stats.counts)}\n{_chain(stats.critical_path)}'
    )


def _counts(counts: dict[NodeStatus, int]) -> str:
    chips = "".join(
        f'<li class="st-{s}{" zero" if not n else ""}" data-count="{s}"><b>{n}</b> {s}</li>'
        for s, n in counts.items()
    )
    return f'<ul class="counts">{chips}</ul>'


def _chain(path: list[str]) -> str:
    shown: list[str | None] = list(path)
    if len(path) > _CHAIN_SHOWN:
        shown = [*path[:6], None, *path[-5:]]
    names = " → ".join("…" if n is None else f"<code>{escape(cut(n, 60))}</code>" for n in shown)
    data = escape(json.dumps(path))
    return f'<p class="chain" data-critical-path="{data}">◆ critical path: {names}</p>'


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.1f} ms"
    if value < 60:
        return f"{value:.2f} s"
    return f"{int(value // 60)} min {value % 60:.0f} s"


_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="graphflow {version}">
<title>{title}</title>
<style>{style}</style>
<script>{guard}</script>
</head>
<body>
<header>
<h1>{title}</h1>
{header}
</header>
<ul id="gf-errors" hidden></ul>
<noscript><p>The timeline and the graph are drawn by this page's inline script.</p></noscript>
<main>
<section id="timeline">
<div class="tools"><h2>Timeline</h2>
<input id="tl-filter" type="search" placeholder="filter by node id" aria-label="filter by node id">
<select id="tl-status" aria-label="status"><option value="">every status</option>
<option>succeeded</option><option>failed</option><option>skipped</option><option>cancelled</option></select>
<select id="tl-sort" aria-label="order"><option value="graph">graph order</option>
<option value="start">by start time</option></select>
<button id="tl-expand" type="button">expand all</button>
<button id="tl-collapse" type="button">collapse all</button>
<button id="tl-out" type="button" aria-label="zoom out">&minus;</button>
<button id="tl-in" type="button" aria-label="zoom in">+</button>
<span class="legend">
<span><i class="st-succeeded"></i>succeeded</span>
<span><i class="st-failed"></i>failed</span>
<span><i class="st-retried"></i>retried attempt</span>
<span><i class="st-skipped"></i>skipped</span>
<span><i class="st-cancelled"></i>cancelled</span>
<span><i class="crit"></i>critical path</span>
</span>
</div>
<div id="tl-scroll"><div id="tl-axis"></div><div id="tl-body"></div></div>
</section>
<section id="graph">
<div class="tools"><h2>Graph</h2>
<button id="g-out" type="button" aria-label="zoom out">&minus;</button>
<button id="g-fit" type="button">fit</button>
<button id="g-in" type="button" aria-label="zoom in">+</button>
<span class="legend">dependency order, left to right · click a node for its details</span>
</div>
<div id="g-scroll"></div>
</section>
</main>
<aside id="details" hidden></aside>
<script type="application/json" id="gf-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

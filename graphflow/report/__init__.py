"""The self-contained HTML report of a run: a timeline, the graph, the figures.

    from graphflow.report import write_report
    write_report(result, "report.html", redact=[api_key])

One file with inline SVG, CSS and JS: it fetches nothing and opens offline.
"""

from ._html import render_report as render_report
from ._html import write_report as write_report

__all__ = ["render_report", "write_report"]

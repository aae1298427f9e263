"""The report opened in a real headless Chromium: the DOM after its scripts ran.

Nothing here skips: without Chromium these tests fail and say how to install it.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import pytest

from graphflow import Attempt, NodeResult, NodeStatus, RunResult
from graphflow.analysis import critical_path
from graphflow.report import render_report, write_report

from ._chromium import dump_dom, screenshot
from ._html import Page, parse
from .conftest import HOSTILE, HOSTILE_ERROR


@pytest.fixture(scope="module")
def report(mixed: RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(mixed, tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture(scope="module")
def dom(report: Path) -> Page:
    return parse(dump_dom(report))


def errors(page: Page) -> list[str]:
    return [e.text for e in page.by_id("gf-errors").children]


class TestRendered:
    def test_scripts_ran_without_errors_or_blocked_requests(self, dom: Page) -> None:
        body = dom.tags("body")[0]
        assert body.attrs.get("data-ready") == "1"
        assert errors(dom) == [] and "data-errors" not in body.attrs

    def test_one_bar_per_attempt_coloured_by_status(self, dom: Page, mixed: RunResult) -> None:
        bars = dom.find(class_="bar")
        ids = dom.payload()["ids"]
        per_node = Counter(ids[int(b.attrs["data-node"])] for b in bars)
        assert per_node == {n: len(r.history) for n, r in mixed.items() if r.history}
        for bar in bars:
            node = mixed[ids[int(bar.attrs["data-node"])]]
            last = int(bar.attrs["data-attempt"]) == len(node.history)
            assert bar.classes == {"bar", f"st-{node.status}" if last else "st-retried"}
        assert {c for b in bars for c in b.classes} >= {"st-succeeded", "st-failed", "st-cancelled"}

    def test_backoff_gaps_are_drawn(self, dom: Page) -> None:
        (flaky,) = dom.find(class_="tl-row", **{"data-id": "flaky"})
        assert sum(1 for e in flaky.children if "gap" in e.classes) == 2

    def test_a_skipped_node_is_marked_with_its_reason(self, dom: Page) -> None:
        (row,) = dom.find(class_="tl-row", **{"data-id": "after_boom"})
        assert "skipped: upstream 'boom' failed" in row.text
        assert [e.classes for e in row.children if "mark" in e.classes] == [{"mark", "st-skipped"}]

    def test_the_critical_path_is_marked_in_both_views(self, dom: Page, mixed: RunResult) -> None:
        _, chain = critical_path(mixed)
        graph = {e.attrs["data-id"] for e in dom.find(class_="node") if "crit" in e.classes}
        rows = {e.attrs["data-id"] for e in dom.find(class_="tl-row") if "crit" in e.classes}
        assert graph == rows == set(chain)
        (edges,) = dom.find(class_="crit-edge")
        assert edges.attrs["d"].count("M") == len(chain) - 1

    def test_graph_nodes_carry_their_status(self, dom: Page, mixed: RunResult) -> None:
        nodes = {e.attrs["data-id"]: e.classes for e in dom.find(class_="node")}
        assert nodes.keys() == mixed.keys()
        assert all(f"st-{mixed[n].status}" in classes for n, classes in nodes.items())

    def test_for_each_items_sit_under_their_node(self, dom: Page) -> None:
        rows = [e.attrs["data-id"] for e in dom.find(class_="tl-row")]
        at = rows.index("m")
        assert rows[at : at + 4] == ["m", "m[0]", "m[1]", "m[2]"]
        (toggle,) = [e for e in dom.elements if e.attrs.get("data-toggle")]
        assert dom.payload()["ids"][int(toggle.attrs["data-toggle"])] == "m"


def fan_outs(maps: int, items: int) -> RunResult:
    """``maps`` for_each nodes of ``items`` items each, every map after the one before."""
    results: dict[str, NodeResult] = {}
    deps: dict[str, list[str]] = {}
    for k in range(maps):
        names = [f"g{k}[{j}]" for j in range(items)]
        for j, name in enumerate(names):
            start = float(k) + j / items
            history = (Attempt(start, start + 0.5),)
            results[name] = NodeResult(name, NodeStatus.SUCCEEDED, j, None, 1, start, start + 0.5,
                                       None, history)  # fmt: skip
            deps[name] = [f"g{k - 1}"] if k else []
        gather = (Attempt(k + 1.5, k + 1.5),)
        results[f"g{k}"] = NodeResult(f"g{k}", NodeStatus.SUCCEEDED, [], None, 1, k + 1.5,
                                      k + 1.5, None, gather)  # fmt: skip
        deps[f"g{k}"] = names
    return RunResult("big", results, 0.0, maps + 2.0, deps)


class TestLarge:
    def test_two_thousand_nodes_draw_folded_and_windowed(self, tmp_path: Path) -> None:
        result = fan_outs(100, 19)
        assert len(result) == 2_000
        dom = parse(dump_dom(write_report(result, tmp_path / "big.html")))
        assert dom.tags("body")[0].attrs.get("data-ready") == "1" and errors(dom) == []
        rows = [e.attrs["data-id"] for e in dom.find(class_="tl-row")]
        assert 20 < len(rows) < 100  # only the rows in view (and a margin) are drawn
        assert rows == [f"g{k}" for k in range(len(rows))]  # items folded under their node
        graph = dom.find(class_="node")
        assert [e.attrs["data-id"] for e in graph] == [f"g{k}" for k in range(100)]
        assert graph[0].text.startswith("g0 \u00d719")


class TestHostileText:
    def test_outputs_and_errors_show_as_text(self, report: Path) -> None:
        page = parse(dump_dom(report, "#node=fetch"))
        assert HOSTILE in page.by_id("details").text  # shown, as text
        page = parse(dump_dom(report, "#node=boom"))
        assert HOSTILE_ERROR in page.by_id("details").text
        assert len(page.tags("script")) == 3 and not page.tags("img")
        assert page.tags("title")[0].text.startswith("graphflow run ")
        assert errors(page) == []


class TestTheChecksCanFail:
    """Controls: the page reports what the tests above check is absent."""

    def test_a_request_is_blocked_and_reported(self, mixed: RunResult, tmp_path: Path) -> None:
        html = render_report(mixed).replace(
            "<main>", '<main><img src="https://example.invalid/p.png">'
        )
        (tmp_path / "r.html").write_text(html)
        reported = errors(parse(dump_dom(tmp_path / "r.html")))
        assert reported == ["blocked request: img-src https://example.invalid/p.png"]

    def test_a_script_error_is_reported(self, mixed: RunResult, tmp_path: Path) -> None:
        page = render_report(mixed)
        start = page.index('<script type="application/json" id="gf-data">') + 45
        broken = page[:start] + '{"ids": 1}' + page[page.index("</script>", start) :]
        (tmp_path / "r.html").write_text(broken)
        dom = parse(dump_dom(tmp_path / "r.html"))
        assert [e.split(":")[0] for e in errors(dom)] == ["script error"]
        assert dom.tags("body")[0].attrs.get("data-ready") is None


def test_screenshot(report: Path, tmp_path: Path) -> None:
    shot = screenshot(report, tmp_path / "report.png")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 1400)
    assert len(data) > 20_000  # a blank page compresses to a few KB

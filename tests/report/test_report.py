"""The HTML report read as a file: its payload, header, escaping and redaction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import graphflow as gf
from graphflow import Attempt, NodeError, NodeResult, NodeStatus, RunResult
from graphflow.analysis import critical_path
from graphflow.report import render_report, write_report

from ._html import Page, parse
from .conftest import HOSTILE, HOSTILE_ERROR, SECRET


def page_of(result: RunResult, **options: Any) -> Page:
    return parse(render_report(result, **options))


def node_index(payload: dict[str, Any]) -> dict[str, int]:
    return {node_id: k for k, node_id in enumerate(payload["ids"])}


class TestPayload:
    def test_one_bar_per_attempt_at_its_recorded_times(self, mixed: RunResult) -> None:
        payload = page_of(mixed).payload()
        for node_id, k in node_index(payload).items():
            history = mixed[node_id].history
            expected = [
                round((t - mixed.started_at) * 1000, 2)
                for a in history
                for t in (a.started_at, a.finished_at)
            ]
            if not history:  # never started: one mark, when it was recorded
                expected = [
                    round((mixed[node_id].finished_at or 0) * 1000 - mixed.started_at * 1000, 2)
                ]
            assert payload["bars"][k] == expected, node_id
        assert len(payload["bars"][node_index(payload)["flaky"]]) == 2 * 3

    def test_the_backoff_gap_lies_between_attempts(self, mixed: RunResult) -> None:
        payload = page_of(mixed).payload()
        bars = payload["bars"][node_index(payload)["flaky"]]
        gaps = [bars[k + 1] - bars[k] for k in range(1, len(bars) - 1, 2)]
        assert len(gaps) == 2 and all(gap >= 10 for gap in gaps)  # Retry(backoff=0.01): >= 10 ms

    def test_every_status_and_every_attempt_error(self, mixed: RunResult) -> None:
        payload = page_of(mixed).payload()
        statuses = {
            n: payload["statuses"][int(c)]
            for n, c in zip(payload["ids"], payload["st"], strict=True)
        }
        assert statuses == {node_id: str(r.status) for node_id, r in mixed.items()}
        info = payload["info"][str(node_index(payload)["flaky"])]
        errors = [payload["strs"][k] if k >= 0 else None for k in info["ae"]]
        assert errors == [
            "ConnectionError: attempt 1 refused",
            "ConnectionError: attempt 2 refused",
            None,
        ]
        boom = payload["info"][str(node_index(payload)["boom"])]
        assert payload["strs"][boom["e"]] == f"ValueError: {HOSTILE_ERROR}"
        assert "Traceback" in payload["strs"][boom["tb"]]
        skipped = payload["info"][str(node_index(payload)["after_boom"])]
        assert payload["strs"][skipped["r"]] == "upstream 'boom' failed"

    def test_the_critical_path_is_the_analysis_one(self, mixed: RunResult) -> None:
        page = page_of(mixed)
        payload = page.payload()
        _, chain = critical_path(mixed)
        assert chain[:3] == ["fetch", "slow", "total"] and chain[3] in {"boom", "hang"}
        assert [payload["ids"][k] for k in payload["crit"]] == chain
        (marker,) = page.find(class_="chain")
        assert json.loads(marker.attrs["data-critical-path"]) == chain

    def test_for_each_items_are_grouped_under_their_node_by_dependencies(
        self, mixed: RunResult
    ) -> None:
        payload = page_of(mixed).payload()
        ids = payload["ids"]
        groups = {ids[g]: [ids[k] for k in items] for g, items in payload["groups"]}
        assert groups == {"m": ["m[0]", "m[1]", "m[2]"]}

    def test_a_name_alone_does_not_make_an_item(self) -> None:
        # "m[0]" that "m" does not wait for is a node of its own, not an item
        nodes = {
            n: NodeResult(n, NodeStatus.SUCCEEDED, 1, None, 1, 1.0, 2.0) for n in ("m[0]", "m")
        }
        result = RunResult("r", nodes, 0.0, 3.0, {"m[0]": (), "m": ()})
        assert page_of(result).payload()["groups"] == []

    def test_layers_follow_dependency_order(self, mixed: RunResult) -> None:
        payload = page_of(mixed).payload()
        layer = dict(zip(payload["ids"], payload["layer"], strict=True))
        assert layer["fetch"] == 0 and layer["slow"] == 1 and layer["m"] == 2
        assert layer["total"] == 3 and layer["boom"] == 4 and layer["after_boom"] == 5

    def test_from_a_results_file_the_report_is_the_same(self, mixed: RunResult) -> None:
        again = RunResult.from_dict(json.loads(json.dumps(mixed.to_dict())))
        assert render_report(again) == render_report(mixed)


def hand_made(nodes: list[NodeResult], wall: float = 4.0) -> RunResult:
    return RunResult("hand", {r.node_id: r for r in nodes}, 100.0, 100.0 + wall)


def ran(node_id: str, *spans: tuple[float, float], **extra: Any) -> NodeResult:
    history = tuple(Attempt(100.0 + a, 100.0 + b) for a, b in spans)
    start, end = history[0].started_at, history[-1].finished_at
    return NodeResult(
        node_id,
        NodeStatus.SUCCEEDED,
        extra.get("output"),
        None,
        len(history),
        start,
        end,
        None,
        history,
    )


class TestHeader:
    def test_figures(self) -> None:
        # a: 0-2, b: 1-3 with a retry gap, c: 2-4 (starts as a ends: not both at once)
        result = hand_made([ran("a", (0, 2)), ran("b", (1, 1.5), (2.5, 3)), ran("c", (2, 4))])
        page = page_of(result)
        stats = {e.attrs["data-stat"]: e.text for e in page.find() if "data-stat" in e.attrs}
        assert stats == {
            "wall": "4.00 s",
            "busy": "6.00 s",
            "critical": "2.00 s · 1 node",
            "parallelism": "1.50\u00d7",
            "peak": "2",
            "attempts": "4 (1 node retried)",
        }

    def test_counts_per_status(self, mixed: RunResult) -> None:
        counts = {
            e.attrs["data-count"]: e.text for e in page_of(mixed).find() if "data-count" in e.attrs
        }
        assert counts == {
            "succeeded": "8 succeeded",
            "failed": "1 failed",
            "skipped": "1 skipped",
            "cancelled": "1 cancelled",
        }

    def test_title(self, mixed: RunResult) -> None:
        assert page_of(mixed).tags("title")[0].text == f"graphflow run {mixed.run_id}"
        assert page_of(mixed, title="<b>nightly</b>").tags("h1")[0].text == "<b>nightly</b>"


class TestSelfContained:
    def test_nothing_is_loaded_and_only_our_scripts_may_run(self, mixed: RunResult) -> None:
        page = page_of(mixed)
        assert not [e for e in page.elements if "src" in e.attrs or "href" in e.attrs]
        (policy,) = page.find(**{"http-equiv": "Content-Security-Policy"})
        rules = dict(r.strip().split(" ", 1) for r in policy.attrs["content"].split(";"))
        assert rules["default-src"] == "'none'"
        assert all(s.startswith("'sha256-") for s in rules["script-src"].split())
        assert "unsafe-inline" not in policy.attrs["content"]

    def test_a_hostile_output_cannot_close_the_data_block(self, mixed: RunResult) -> None:
        html = render_report(mixed)
        page = parse(html)
        scripts = page.tags("script")
        assert [s.attrs.get("type") for s in scripts] == [None, "application/json", None]
        assert HOSTILE not in html and HOSTILE_ERROR not in html
        payload = page.payload()
        output = payload["strs"][payload["out"][node_index(payload)["fetch"]]]
        assert HOSTILE in output  # still there, as data


class TestRedaction:
    SECRETS = ("hunter2", "hunter2-longer", 'p<ss&"word')

    def leaky(self) -> RunResult:
        tb = "Traceback (most recent call last):\n  ...\nKeyError: 'hunter2-longer'"
        error = NodeError("KeyError", "no key hunter2-longer here", tb)
        fail = NodeResult(
            "fail",
            NodeStatus.FAILED,
            None,
            error,
            2,
            101.0,
            103.0,
            None,
            (
                Attempt(101.0, 101.5, NodeError("E", 'p<ss&"word refused')),
                Attempt(102.0, 103.0, error),
            ),
        )
        output = {"hunter2": ["x" * 395 + "hunter2", 'p<ss&"word'], "n": 1}
        skipped = NodeResult(
            "skip",
            NodeStatus.SKIPPED,
            finished_at=103.0,
            reason="condition is false: ${a.key} == 'hunter2'",
        )
        return hand_made([ran("a", (0, 1), output=output), fail, skipped])

    def test_secrets_appear_nowhere_in_the_file(self) -> None:
        html = render_report(self.leaky(), title="run with hunter2", redact=self.SECRETS)
        decoded = json.dumps(parse(html).payload(), ensure_ascii=False)
        for secret in self.SECRETS:
            assert secret not in html and secret not in decoded
        assert "hunte" not in html  # not even cut in half
        assert "<title>run with [redacted]</title>" in html
        for where in (
            '{\\"[redacted]\\": [\\"xxx',  # an output's key (a summary, JSON in JSON)
            "no key [redacted] here",  # an error message; the longer secret went whole
            "KeyError: '[redacted]'",  # a traceback
            "E: [redacted] refused",  # an earlier attempt's error
            "== '[redacted]'",  # a reason
        ):
            assert where in decoded, where

    def test_node_ids_stay(self) -> None:
        result = hand_made([ran("hunter2", (0, 1))])
        assert parse(render_report(result, redact=["hunter2"])).payload()["ids"] == ["hunter2"]

    def test_a_real_run(self, mixed: RunResult) -> None:
        assert SECRET in render_report(mixed).encode().decode()  # the control
        assert SECRET not in render_report(mixed, redact=[SECRET])


class TestWrite:
    def test_writes_the_page_whole(self, mixed: RunResult, tmp_path: Path) -> None:
        target = tmp_path / "report.html"
        target.write_text("old")
        assert write_report(mixed, target, title="t") == target
        assert target.read_text(encoding="utf-8") == render_report(mixed, title="t")
        assert [p.name for p in tmp_path.iterdir()] == ["report.html"]

    def test_large_outputs_are_summarised(self, tmp_path: Path) -> None:
        result = hand_made([ran("big", (0, 1), output={"rows": list(range(1_000_000))})])
        size = write_report(result, tmp_path / "r.html").stat().st_size
        assert size < 60_000
        payload = parse((tmp_path / "r.html").read_text()).payload()
        assert payload["strs"][payload["out"][0]].startswith('{"rows": [0, 1, 2, 3')


def test_an_empty_run(tmp_path: Path) -> None:
    payload = parse(render_report(RunResult("empty", {}, 1.0, 1.0))).payload()
    assert payload["ids"] == [] and payload["crit"] == []


def test_importing_graphflow_does_not_load_the_report() -> None:
    import subprocess
    import sys

    code = "import sys, graphflow; print(sorted(m for m in sys.modules if 'report' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert gf.RunResult is RunResult

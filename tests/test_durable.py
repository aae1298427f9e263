"""Idempotency keys (``current_call``) and result caching (``cache=``), with a real SQLite store."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import graphflow as gf
from graphflow import NodeStatus as S


class Calls:
    """Tools that count their calls and record what ``current_call()`` said."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count: dict[str, int] = {}
        self.keys: dict[str, list[str]] = {}

    def note(self) -> gf.NodeCall:
        call = gf.current_call()
        assert call is not None
        with self.lock:
            self.count[call.node_id] = self.count.get(call.node_id, 0) + 1
            self.keys.setdefault(call.node_id, []).append(call.idempotency_key)
        return call


class TestCurrentCall:
    def test_none_outside_a_node(self) -> None:
        assert gf.current_call() is None

    @pytest.mark.parametrize("backend", ["asyncio", "trio"])
    def test_async_and_thread_tools_see_their_own_call(self, backend: str) -> None:
        seen: dict[str, gf.NodeCall] = {}

        async def in_loop(x: int) -> int:
            call = gf.current_call()
            assert call is not None
            seen["a"] = call
            return x

        def in_thread(x: int) -> int:
            call = gf.current_call()
            assert call is not None
            seen["b"] = call
            return x

        g = gf.Graph()
        g.add("a", in_loop, args={"x": 1})
        g.add("b", in_thread, args={"x": "${a}"}, idempotency_key="order-{x}")
        result = gf.run_sync(g, async_backend=backend, run_id="r1")
        assert result.ok and gf.current_call() is None
        assert (seen["a"].node_id, seen["a"].attempt, seen["a"].arguments) == ("a", 1, {"x": 1})
        assert seen["a"].idempotency_key == "r1/a"
        assert seen["b"].idempotency_key == "order-1"

    def test_key_is_the_same_across_retries_and_a_resume(self, tmp_path: Path) -> None:
        calls = Calls()
        fail_first = {"n": 2}

        def flaky() -> str:
            calls.note()
            with calls.lock:
                fail_first["n"] -= 1
                if fail_first["n"] >= 0:
                    raise ConnectionError("try again")
            return "done"

        g = gf.Graph()
        g.add("pay", flaky, retries=gf.Retry(1, backoff=0))
        first = gf.run_sync(g, store=tmp_path / "runs.db")
        assert first["pay"].status == S.FAILED and first["pay"].attempts == 2
        again = gf.run_sync(g, store=tmp_path / "runs.db", resume=first.run_id)
        assert again.ok
        assert calls.keys["pay"] == [f"{first.run_id}/pay"] * 3

    def test_a_key_template_naming_no_argument_is_refused_when_added(self) -> None:
        def tool(x: int) -> None:
            gf.current_call()

        g = gf.Graph()
        for key, says in [
            ("{nope}", "idempotency_key '{nope}' names 'nope', not an argument (arguments: 'x')"),
            ("{x", "idempotency_key '{x' is not a str.format template"),
            ("k-{}", "idempotency_key 'k-{}': name an argument in each {} (as {sku})"),
            ("{x:{w}}", "idempotency_key '{x:{w}}' names 'w', not an argument (arguments: 'x')"),
            ("{x!z}", "idempotency_key '{x!z}' is not a str.format template (unknown conv"),
        ]:
            with pytest.raises(gf.SpecError) as refused:
                g.add("a", tool, args={"x": 1}, idempotency_key=key)
            assert str(refused.value).startswith(f"node 'a': {says}")
            assert refused.value.key == "a.idempotency_key"
        with pytest.raises(gf.SpecError, match=r"node 'c': cache key '\{sku\}' names 'sku'"):
            g.add("c", tool, args={"x": 1}, cache={"key": "{sku}"})

    def test_a_key_that_cannot_be_rendered_from_the_values_fails_the_node(self) -> None:
        def tool(x: list[int]) -> None:
            gf.current_call()

        g = gf.Graph()
        g.add("a", tool, args={"x": [1]}, idempotency_key="{x[3]}")  # (x has no item 3)
        g.add("b", tool, args={"x": [1]})
        result = gf.run_sync(g)
        assert result["a"].status == S.FAILED and result["b"].ok
        assert result["a"].error is not None
        assert "idempotency_key='{x[3]}'" in result["a"].error.message

    def test_executor_calls_carry_the_key(self) -> None:
        got: list[gf.NodeCall] = []

        class Recording:
            async def __aenter__(self) -> Recording:
                return self

            async def __aexit__(self, *exc: object) -> None:
                return None

            async def call(self, call: gf.NodeCall) -> Any:
                got.append(call)
                return call.tool(**call.arguments)

        g = gf.Graph()
        g.add("a", lambda sku: sku, args={"sku": "A1"}, idempotency_key="sku-{sku}")
        assert gf.run_sync(g, executor=Recording()).ok
        assert got[0].idempotency_key == "sku-A1"


def lookups(calls: Calls) -> Any:
    @gf.tool(cache=True)
    def lookup(sku: str, n: int = 1) -> dict[str, Any]:
        calls.note()
        return {"sku": sku, "price": 10 * n}

    return lookup


def graph(tool: Any, skus: list[str], **options: Any) -> gf.Graph:
    g = gf.Graph()
    for k, sku in enumerate(skus):
        g.add(f"l{k}", tool, args={"sku": sku}, **options)
    g.add(
        "total",
        lambda prices: sum(prices),
        args={"prices": [f"${{l{k}.price}}" for k in range(len(skus))]},
    )
    return g


class TestCache:
    def test_same_tool_same_arguments_is_reused_and_says_so(self, tmp_path: Path) -> None:
        calls = Calls()
        lookup = lookups(calls)
        store = tmp_path / "runs.db"
        first = gf.run_sync(graph(lookup, ["A", "B"]), store=store)
        assert first.ok and not any(r.cached for r in first.values())
        second = gf.run_sync(graph(lookup, ["A", "C"]), store=store)
        assert second.ok and second["total"].output == 20
        assert second["l0"].cached and second["l0"].output == {"sku": "A", "price": 10}
        assert not second["l1"].cached and not second["total"].cached
        assert calls.count == {"l0": 1, "l1": 2}
        # the flag survives the JSON round trip
        assert gf.RunResult.from_dict(second.to_dict())["l0"].cached

    def test_flag_is_stored(self, tmp_path: Path) -> None:
        from graphflow.store import SQLiteStore

        calls = Calls()
        lookup = lookups(calls)
        gf.run_sync(graph(lookup, ["A"]), store=tmp_path / "runs.db")
        second = gf.run_sync(graph(lookup, ["A"]), store=tmp_path / "runs.db")
        assert SQLiteStore(tmp_path / "runs.db").result(second.run_id)["l0"].cached

    def test_no_cache_calls_the_tool_but_still_stores(self, tmp_path: Path) -> None:
        calls = Calls()
        lookup = lookups(calls)
        store = tmp_path / "runs.db"
        gf.run_sync(graph(lookup, ["A"]), store=store)
        bypass = gf.run_sync(graph(lookup, ["A"]), store=store, cache=False)
        assert not bypass["l0"].cached and calls.count == {"l0": 2}
        assert gf.run_sync(graph(lookup, ["A"]), store=store)["l0"].cached

    def test_ttl_expires(self, tmp_path: Path) -> None:
        calls = Calls()

        def lookup(sku: str) -> dict[str, Any]:
            calls.note()
            return {"price": 1}

        store = tmp_path / "runs.db"
        gf.run_sync(graph(lookup, ["A"], cache={"ttl": 30}), store=store)
        assert gf.run_sync(graph(lookup, ["A"], cache={"ttl": 30}), store=store)["l0"].cached
        with sqlite3.connect(store) as db:  # age the entry past its ttl
            db.execute("UPDATE cache SET expires_at = ?", [time.time() - 1])
        assert not gf.run_sync(graph(lookup, ["A"], cache={"ttl": 30}), store=store)["l0"].cached
        assert calls.count == {"l0": 2}

    def test_a_new_version_or_another_tool_never_reuses(self, tmp_path: Path) -> None:
        calls = Calls()
        store = tmp_path / "runs.db"

        def make(version: str | None) -> Any:
            @gf.tool(name="lookup", cache=True, version=version)
            def lookup(sku: str) -> dict[str, Any]:
                calls.note()
                return {"price": 1}

            return lookup

        gf.run_sync(graph(make("1"), ["A"]), store=store)
        assert gf.run_sync(graph(make("1"), ["A"]), store=store)["l0"].cached
        assert not gf.run_sync(graph(make("2"), ["A"]), store=store)["l0"].cached

        @gf.tool(name="other", cache=True, version="1")
        def other(sku: str) -> dict[str, Any]:
            calls.note()
            return {"price": 2}

        assert not gf.run_sync(graph(other, ["A"]), store=store)["l0"].cached

    def test_a_key_template_picks_the_arguments_that_matter(self, tmp_path: Path) -> None:
        calls = Calls()

        def lookup(sku: str, trace_id: str) -> dict[str, Any]:
            calls.note()
            return {"price": 1}

        store = tmp_path / "runs.db"
        for trace in ("t1", "t2"):
            g = gf.Graph()
            g.add("l0", lookup, args={"sku": "A", "trace_id": trace}, cache={"key": "{sku}"})
            result = gf.run_sync(g, store=store)
        assert result["l0"].cached and calls.count == {"l0": 1}

    def test_a_key_that_cannot_be_computed_disables_caching_with_a_warning(
        self, tmp_path: Path
    ) -> None:
        calls = Calls()

        def lookup(when: object) -> int:
            calls.note()
            return 1

        g = gf.Graph()
        g.add("l0", lookup, args={"when": object()}, cache=True)
        with pytest.warns(RuntimeWarning, match="'l0' is not cached: its cache key cannot"):
            assert gf.run_sync(g, store=tmp_path / "runs.db").ok
        with pytest.warns(RuntimeWarning, match="is not cached"):
            assert not gf.run_sync(g, store=tmp_path / "runs.db")["l0"].cached

    def test_cache_without_a_store_is_said_not_ignored(self) -> None:
        g = gf.Graph()
        g.add("l0", lambda: 1, cache=True)
        with pytest.warns(RuntimeWarning, match="ask for cache=, but the run has no store"):
            assert gf.run_sync(g).ok

    def test_bad_policies_are_refused_naming_the_node(self) -> None:
        g = gf.Graph()
        with pytest.raises(gf.SpecError, match=r"node 'x'.*cache has no option 'tll'"):
            g.add("x", lambda: 1, cache={"tll": 3})
        with pytest.raises(gf.SpecError, match="ttl must be seconds > 0"):
            g.add("y", lambda: 1, cache={"ttl": -1})


class TestStoreEdges:
    @pytest.mark.parametrize("backend", ["asyncio", "trio"])
    def test_a_success_whose_commit_was_cancelled_is_still_written(
        self, backend: str, tmp_path: Path
    ) -> None:
        from graphflow.store import SQLiteStore

        async def quick() -> int:
            return 1

        async def broken() -> None:
            raise RuntimeError("boom")

        g = gf.Graph()
        g.add("a", quick)
        g.add("b", broken)  # fails in the same tick: fail_fast cancels a's commit
        g.add("c", quick, depends_on="a")
        result = gf.run_sync(g, async_backend=backend, store=tmp_path / "r.db", fail_fast=True)
        assert result["a"].ok and result["b"].status == S.FAILED
        stored = SQLiteStore(tmp_path / "r.db").result(result.run_id)
        assert {k: r.status for k, r in stored.items()} == {k: r.status for k, r in result.items()}


class TestGrowingRuns:
    @pytest.mark.anyio
    async def test_a_resumed_scheduler_reuses_only_nodes_that_are_the_same(
        self, tmp_path: Path
    ) -> None:
        calls: list[str] = []

        async def value(name: str, x: int) -> int:
            calls.append(name)
            return x

        async def boom() -> None:
            raise RuntimeError("boom")

        path = tmp_path / "runs.db"
        async with gf.Scheduler(store=path, run_id="r") as s:
            s.add("same", value, args={"name": "same", "x": 1})
            s.add("changed", value, args={"name": "changed", "x": 2})
            s.add("below", value, args={"name": "below", "x": "${changed}"})
            s.add("failed", boom)
        calls.clear()
        async with gf.Scheduler(store=path, resume="r") as s:
            s.add("same", value, args={"name": "same", "x": 1})
            s.add("changed", value, args={"name": "changed", "x": 20})
            s.add("below", value, args={"name": "below", "x": "${changed}"})
            s.add("failed", value, args={"name": "failed", "x": 4})
            result = await s.wait()
        assert result.ok and result.run_id == "r"
        assert sorted(calls) == ["below", "changed", "failed"]  # "same" was not run again
        assert {k: r.output for k, r in result.items()} == {
            "same": 1,
            "changed": 20,
            "below": 20,
            "failed": 4,
        }

"""RunOptions: one validated object that every entry point takes."""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

import anyio
import pytest

import graphflow as gf
from graphflow._options import RunOptionsArgs

pytestmark = pytest.mark.anyio


async def one() -> int:
    return 1


def graph() -> gf.Graph:
    g = gf.Graph()
    g.add("a", one)
    return g


class TestValidation:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("concurrency", 0),
            ("concurrency", "8"),
            ("fail_fast", "yes"),
            ("default_timeout", -1),
            ("default_retries", -2),
            ("limits", {"api": 0}),
            ("limits", ["api"]),
            ("seed", 1.5),
            ("observers", print),
            ("observers", [3]),
            ("executor", object()),
            ("run_id", ""),
            ("run_id", "x" * 500),
            ("resume_from", 3),
        ],
    )
    def test_a_bad_option_names_itself_and_the_value(self, field: str, value: Any) -> None:
        with pytest.raises(gf.OptionError) as caught:
            gf.RunOptions(**{field: value})
        assert caught.value.option.startswith(field)
        assert isinstance(caught.value, gf.GraphError) and isinstance(caught.value, ValueError)
        assert field in str(caught.value) and len(str(caught.value)) < 300

    def test_values_are_normalised_once(self) -> None:
        options = gf.RunOptions(concurrency=8.0, default_retries=2, observers=[print])
        assert options.concurrency == 8 and isinstance(options.concurrency, int)
        assert options.default_retries == gf.Retry(2)
        assert options.observers == (print,)
        assert gf.RunOptions(concurrency=None).concurrency == gf.DEFAULT_CONCURRENCY
        assert gf.RunOptions(concurrency=math.inf).concurrency == math.inf

    def test_options_are_frozen_and_replace_validates(self) -> None:
        options = gf.RunOptions(fail_fast=True)
        with pytest.raises(AttributeError):
            options.fail_fast = False  # type: ignore[misc]
        assert options.replace(concurrency=2) == gf.RunOptions(fail_fast=True, concurrency=2)
        with pytest.raises(gf.OptionError, match="concurrency"):
            options.replace(concurrency=-1)

    def test_a_misspelt_option_suggests_the_right_one(self) -> None:
        with pytest.raises(gf.OptionError, match=r"run option \(did you mean 'concurrency'"):
            gf.RunOptions.build(None, {"concurency": 3})

    def test_a_misspelt_executor_suggests_the_right_one(self) -> None:
        def plain() -> int:
            return 1

        g = gf.Graph()
        g.add("x", plain, executor="proces")
        with pytest.raises(gf.OptionError, match=r"'proces'.* \(did you mean 'process'\?\)"):
            gf.run_sync(g)
        g = gf.Graph()
        g.add("x", plain, executor="gpu")
        with pytest.raises(gf.OptionError, match=r"'gpu', which this run does not have: pass"):
            gf.run_sync(g)

    def test_the_keyword_form_lists_exactly_the_options(self) -> None:
        params = list(inspect.signature(gf.RunOptions).parameters)
        assert params == list(RunOptionsArgs.__annotations__)
        assert params == [f.name for f in dataclasses.fields(gf.RunOptions)]

    def test_limits_cannot_be_changed_afterwards(self) -> None:
        given = {"api": 2}
        options = gf.RunOptions(limits=given)
        given["api"] = 100
        assert options.limits["api"] == 2
        with pytest.raises(TypeError):
            options.limits["api"] = 3  # type: ignore[index]


class TestEntryPoints:
    async def test_run_takes_options_and_keywords_on_top(self) -> None:
        events: list[gf.Event] = []
        options = gf.RunOptions(run_id="r1", observers=[events.append])
        result = await gf.run(graph(), options, run_id="r2")
        assert result.run_id == "r2" and {e.run_id for e in events} == {"r2"}
        assert (await gf.run(graph(), options)).run_id == "r1"

    async def test_a_misspelt_keyword_is_refused_before_anything_runs(self) -> None:
        ran: list[str] = []

        async def tool() -> None:
            ran.append("x")

        g = gf.Graph()
        g.add("a", tool)
        with pytest.raises(gf.OptionError, match="fail_fst"):
            await gf.run(g, fail_fst=True)  # type: ignore[call-arg]
        assert ran == []

    async def test_the_scheduler_takes_options(self) -> None:
        async with gf.Scheduler(gf.RunOptions(run_id="s1"), concurrency=1) as s:
            s.add("a", one)
        assert s.result.run_id == "s1" and s.result["a"].output == 1

    def test_run_sync_takes_options(self) -> None:
        result = gf.run_sync(graph(), gf.RunOptions(run_id="sync"))
        assert result.run_id == "sync" and result.ok

    async def test_run_sync_inside_a_loop_says_to_await_run(self) -> None:
        with pytest.raises(gf.GraphError, match=r"await graphflow\.run"):
            gf.run_sync(graph())
        await anyio.lowlevel.checkpoint()


class TestResume:
    def test_earlier_results_must_be_node_results(self) -> None:
        with pytest.raises(gf.OptionError, match=r"resume_from\['a'\].*NodeResult"):
            gf.RunOptions(resume_from={"a": {"status": "succeeded"}})  # type: ignore[dict-item]

    async def test_what_succeeded_never_runs_again_even_all_done(self) -> None:
        attempt = 0

        async def flaky() -> int:
            nonlocal attempt
            attempt += 1
            if attempt == 1:
                raise ConnectionError("down")
            return 42

        async def report(up: Any) -> str:
            return f"a gave {up}"

        g = gf.Graph()
        g.add("a", flaky)
        g.add("report", report, args={"up": "${a}"}, trigger="all_done")
        first = await gf.run(g)
        assert first["report"].output == "a gave None"
        second = await gf.run(g, resume_from=first)
        assert second["a"].output == 42
        assert second["report"] == first["report"], "a node that succeeded is never run twice"

    async def test_a_run_resumes_from_earlier_results(self) -> None:
        calls: list[str] = []
        broken = True

        async def step(name: str) -> str:
            calls.append(name)
            if name == "b" and broken:
                raise ConnectionError("down")
            return name

        g = gf.Graph()
        g.add("a", step, args={"name": "a"})
        g.add("b", step, args={"name": "b"}, depends_on="a")
        g.add("c", step, args={"name": "${b}"})
        first = await gf.run(g)
        assert [r.status for r in first.values()] == ["succeeded", "failed", "skipped"]
        broken = False
        second = await gf.run(g, resume_from=first)
        assert second.ok and calls == ["a", "b", "b", "b"]
        assert second["a"] == first["a"], "the earlier result is kept as it was"
        assert second["c"].output == "b"


class TestResources:
    async def test_a_resource_is_held_open_while_the_nodes_run(self) -> None:
        import contextvars

        current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="none")
        log: list[str] = []

        class Pool:
            async def __aenter__(self) -> Pool:
                log.append("open")
                self.token = current.set("pooled")
                return self

            async def __aexit__(self, *exc: object) -> None:
                current.reset(self.token)
                log.append("closed")

        async def tool() -> str:
            log.append("node")
            return current.get()

        g = gf.Graph()
        g.add("a", tool)
        g.add("b", tool, depends_on="a")
        result = await gf.run(g, resources=[Pool()])
        assert [r.output for r in result.values()] == ["pooled", "pooled"]
        assert log == ["open", "node", "node", "closed"]

    async def test_it_is_closed_after_a_cancellation(self) -> None:
        closed: list[bool] = []

        class Pool:
            async def __aenter__(self) -> None:
                return None

            async def __aexit__(self, *exc: object) -> None:
                await anyio.lowlevel.checkpoint()  # shielded: this still runs
                closed.append(True)

        g = gf.Graph()
        g.add("a", anyio.sleep_forever)
        with anyio.move_on_after(0.05):
            await gf.run(g, resources=[Pool()])
        assert closed == [True]

    async def test_one_holding_a_task_group_is_left_in_its_own_scope(self) -> None:
        closed: list[bool] = []

        class Holder:  # as an MCP session does: a task group from enter to exit
            async def __aenter__(self) -> None:
                self.group = anyio.create_task_group()
                await self.group.__aenter__()
                self.group.start_soon(anyio.sleep_forever)

            async def __aexit__(self, *exc: object) -> None:
                self.group.cancel_scope.cancel()
                await self.group.__aexit__(None, None, None)
                await anyio.lowlevel.checkpoint()  # shielded: this still runs
                closed.append(True)

        g = gf.Graph()
        g.add("a", anyio.sleep_forever)
        with anyio.move_on_after(0.05):
            await gf.run(g, resources=[Holder()])
        assert closed == [True]

    def test_a_resource_must_be_an_async_context_manager(self) -> None:
        with pytest.raises(gf.OptionError, match="resources"):
            gf.RunOptions(resources=[object()])  # type: ignore[list-item]

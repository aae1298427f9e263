"""LLMCompiler-style numbered plans: parsing, and dispatch while the plan streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

import graphflow as gf
from graphflow.llm.plan import parse_plan, parse_task, run_plan

from .tools import TOOLBOX


class TestParse:
    def test_tasks_references_and_join(self) -> None:
        plan = (
            "Thought: find the user first\n"
            '1. find_user(email="a@b.c")\n'
            "2. list_orders($1.user_id)\n"
            '3. lookup(sku="order ${2.0.order} of $1")\n'
            "4. join()\n"
            '5. lookup(sku="never")\n'
        )
        tasks = parse_plan(plan, TOOLBOX)
        assert [(t.index, t.name, t.deps, t.error) for t in tasks] == [
            (1, "find_user", (), None),
            (2, "list_orders", (1,), None),
            (3, "lookup", (1, 2), None),
        ]
        assert tasks[1].args == {"user_id": gf.Ref("1", ("user_id",))}
        assert tasks[2].args == {"sku": "order ${2.0.order} of ${1}"}

    @pytest.mark.parametrize(
        ("line", "error"),
        [
            ("2. lookup(sku=$2)", "task 2 references $2, which is not a task defined before it"),
            ("2. lookup(sku=$5)", "task 2 references $5, which is not a task defined before it"),
            ("2. lookup(sku=open('x'))", "only literals and $N are allowed"),
            ("2. lookup(sku=))", "cannot parse the arguments of task 2"),
            ("2. nope(1)", "positional arguments need a known tool"),
            ("2. lookup(1, 2)", "lookup takes 1 arguments, got 2"),
        ],
    )
    def test_errors_are_per_task_not_ignored(self, line: str, error: str) -> None:
        task = parse_task(line, TOOLBOX, defined=[1])
        assert task is not None and task.error is not None and error in task.error

    def test_positional_arguments_follow_the_schema_of_a_schema_tool(self) -> None:
        schema = {
            "type": "object",
            "properties": {"file-path": {"type": "string"}, "class": {"type": "string"}},
            "required": ["file-path"],
        }
        grep = gf.Tool.from_schema("grep", schema, lambda **kw: kw)
        task = parse_task('1. grep("src/a.py", "Parser")', gf.Toolbox([grep]))
        assert task is not None and task.error is None
        assert task.args == {"file-path": "src/a.py", "class": "Parser"}
        too_many = parse_task('1. grep("a", "b", "c")', gf.Toolbox([grep]))
        assert too_many is not None and too_many.error == "task 1: grep takes 2 arguments, got 3"

    def test_literals(self) -> None:
        task = parse_task("1. lookup(sku=[1, -2.5, {'a': (True, None)}])", TOOLBOX)
        assert task is not None and task.args == {"sku": [1, -2.5, {"a": [True, None]}]}


pytestmark = pytest.mark.anyio


async def test_a_whole_plan_runs_with_errors_as_results() -> None:
    plan = (
        '1. find_user(email="a@b.c")\n'
        "2. list_orders(user_id=$1.user_id)\n"
        '3. explode(reason="tool bug")\n'
        "4. lookup(sku=$3)\n"
        "5. lookup(sku=$9)\n"
        "6. teleport()\n"
        "7. join()\n"
    )
    with anyio.fail_after(5):  # a failing tool must not hang the plan
        run = await run_plan(plan, TOOLBOX)
    r = run.result
    assert r["2"].output == [{"order": 1, "user_id": 42}]
    assert r["3"].status == "failed" and r["4"].status == "skipped"
    assert r["5"].error is not None and "references $9" in r["5"].error.message
    assert r["6"].error is not None and "unknown tool 'teleport'" in r["6"].error.message
    assert len(r) == 6


async def test_a_task_starts_when_its_dependency_finishes_while_the_plan_is_still_streaming() -> (
    None
):
    # The planner will not write line 3 until task 2 has started. Task 2 depends on
    # task 1, which finishes after line 2 arrived. A scheduler that waits for the next
    # line (or polls between lines) deadlocks here; ours starts task 2 on completion.
    task2_started = anyio.Event()
    task1_release = anyio.Event()

    @gf.tool
    async def step_one() -> int:
        await task1_release.wait()
        return 1

    @gf.tool
    async def step_two(x: int) -> int:
        task2_started.set()
        return x + 1

    box = gf.Toolbox([step_one, step_two, *TOOLBOX])

    async def planner() -> AsyncIterator[str]:
        yield "1. step_one()\n2. step_tw"
        yield "o(x=$1)\n"
        task1_release.set()  # task 1 finishes while the planner is still "thinking"
        await task2_started.wait()
        yield '3. lookup(sku="done")\n4. join()\n'

    with anyio.fail_after(5):
        run = await run_plan(planner(), box)
    assert run.result["2"].output == 2 and run.result["3"].ok


async def test_tasks_are_dispatched_line_by_line() -> None:
    started: list[str] = []
    first_started = anyio.Event()

    @gf.tool
    async def mark(name: str) -> str:
        started.append(name)
        first_started.set()
        return name

    async def planner() -> AsyncIterator[str]:
        yield '1. mark(name="first")\n'
        await first_started.wait()  # task 1 runs before the planner writes task 2
        yield '2. mark(name="second")\njoin()\n'

    with anyio.fail_after(5):
        run = await run_plan(planner(), gf.Toolbox([mark]))
    assert started == ["first", "second"] and run.result.ok


async def test_a_schema_tool_gets_its_positional_arguments_under_their_schema_names() -> None:
    seen: list[dict[str, object]] = []

    async def grep(**arguments: object) -> int:
        seen.append(arguments)
        return len(seen)

    schema = {
        "type": "object",
        "properties": {"file-path": {"type": "string"}, "class": {"type": "string"}},
    }
    box = gf.Toolbox([gf.Tool.from_schema("grep", schema, grep)])
    run = await run_plan('1. grep("src/a.py", "Parser")\njoin()\n', box)
    assert run.result.ok and seen == [{"file-path": "src/a.py", "class": "Parser"}]


async def test_a_reference_that_is_not_a_task_number_is_that_tasks_error() -> None:
    run = await run_plan('1. lookup(sku="${x}")\n2. lookup(sku="fine")\n', TOOLBOX)
    error = run.result["1"].error
    assert error is not None and error.message == "node '1' references unknown node 'x'"
    assert run.result["2"].ok


async def test_run_plan_takes_run_options_and_typed_overrides() -> None:
    with pytest.raises(gf.OptionError, match="did you mean 'fail_fast'"):
        await run_plan("1. hang()\n", TOOLBOX, fail_fsat=True)  # type: ignore[call-arg]
    with anyio.fail_after(5):
        run = await run_plan("1. hang()\n", TOOLBOX, gf.RunOptions(default_timeout=0.1))
    error = run.result["1"].error
    assert error is not None and error.timed_out == 0.1

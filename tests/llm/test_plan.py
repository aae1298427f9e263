"""LLMCompiler-style numbered plans: parsing, and dispatch while the plan streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

import graphflow as gf
from graphflow.llm.plan import PlanParser, parse_plan, parse_task, run_plan

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


@gf.tool
async def search(query: str) -> str:
    """Search an encyclopedia."""
    return f"about {query}"


@gf.tool
async def math(problem: str, context: list[str] | None = None) -> str:
    """Answer a math question, given context."""
    return f"{problem} | {context}"


COMPILER_TOOLS = gf.Toolbox([search, math])

# The shapes of LLMCompiler's few-shot planner prompts (configs/*/gpt_prompts.py):
# several example plans, each ending "N. join()<END_OF_PLAN>" and "###", quoted and
# unquoted arguments, "$N" inside lists of strings, and a line whose ")" is missing.
FEW_SHOT = (
    "Question: Which river is longer, the Danube or the Rhine?\n"
    '1. search("Danube")\n'
    "2. search('Rhine')\n"
    "Thought: I can answer the question now.\n"
    "3. join()<END_OF_PLAN>\n"
    "###\n"
    "\n"
    "Question: How far is Vienna from Budapest, halved?\n"
    "1. search(Vienna Budapest distance)\n"
    '2. math("half of the distance in km?", ["$1"])\n'
    "Thought: I can answer the question now.\n"
    "3. join()<END_OF_PLAN>\n"
    "###\n"
)


class TestLLMCompilerPlans:
    def test_a_prompt_of_several_plans_stops_at_the_first_join(self) -> None:
        tasks = parse_plan(FEW_SHOT, COMPILER_TOOLS)
        assert [(t.index, t.name, t.args, t.error) for t in tasks] == [
            (1, "search", {"query": "Danube"}, None),
            (2, "search", {"query": "Rhine"}, None),
        ]

    @pytest.mark.parametrize(
        ("line", "query"),
        [
            ("1. search(Rosetta)", "Rosetta"),
            ("1. search(Rosetta Stone)", "Rosetta Stone"),
            (
                "1. search(Alesha Popovich and Tugarin the Dragon)",
                "Alesha Popovich and Tugarin the Dragon",
            ),
            ("1. search(First for Women (magazine))", "First for Women (magazine)"),
            ("1. search(abs(4444.43 - 11790))", "abs(4444.43 - 11790)"),
            ("1. search(Arthur's Magazine)", "Arthur's Magazine"),
        ],
    )
    def test_unquoted_arguments_are_the_text_as_written(self, line: str, query: str) -> None:
        task = parse_task(line, COMPILER_TOOLS)
        assert task is not None and task.error is None and task.args == {"query": query}

    def test_unquoted_text_keeps_its_references(self) -> None:
        task = parse_task("2. search(population of $1 in ${1.year})", COMPILER_TOOLS, [1])
        assert task is not None and task.deps == (1,)
        assert task.args == {"query": "population of ${1} in ${1.year}"}

    def test_nothing_is_evaluated(self) -> None:
        task = parse_task("1. search(__import__('os').system('false'))", COMPILER_TOOLS)
        assert task is not None and task.args == {"query": "__import__('os').system('false')"}
        keyword = parse_task("1. search(query=__import__('os'))", COMPILER_TOOLS)
        assert keyword is not None and keyword.error is not None  # keywords mean Python: an error

    def test_a_line_whose_call_is_not_closed_is_an_error_task(self) -> None:
        plan = '1. search("cheetah")\n2. math("speed if 1.3 times slower?", ["$1"]\n3. math($2)\n'
        tasks = parse_plan(plan, COMPILER_TOOLS)
        assert tasks[1].error == "task 2: the call is not closed with ')'"
        assert tasks[2].error is None and tasks[2].deps == (2,)  # it will be skipped, not lost

    async def test_the_few_shot_plan_runs_with_list_references(self) -> None:
        second = FEW_SHOT.split("###\n", 1)[1]
        run = await run_plan(second, COMPILER_TOOLS)
        assert (
            run.result["2"].output
            == "half of the distance in km? | ['about Vienna Budapest distance']"
        )


class TestHostilePlans:
    """Each plan once made the parser raise, hang or misread; now each is tasks with errors."""

    @pytest.mark.parametrize(
        ("line", "error"),
        [
            ("1. lookup(sku={[1]: 2})", "a dict key must be a literal, not '[1]'"),
            ("1. lookup(sku={$1: 2})", "a dict key must be a literal, not '${1}'"),
            ("1. lookup(sku=" + "-" * 100_000 + "1)", "too deeply nested"),
            ("1. lookup(sku=" + "1+" * 20_000 + "1)", "too deeply nested"),
            ("1. lookup(sku=b'x')", "only literals and $N are allowed, not \"b'x'\""),
            ("9" * 4301 + '. lookup(sku="x")', "has 4,301 digits (at most 9)"),
            ("2. lookup(sku=$" + "9" * 5000 + ")", "which is not a task defined before it"),
        ],
    )
    def test_lines_that_cannot_run_are_tasks_with_errors(self, line: str, error: str) -> None:
        task = parse_task(line, TOOLBOX, [1])
        assert task is not None and task.error is not None
        assert error in task.error and len(task.error) < 400

    def test_a_price_is_text_and_so_is_an_escape_sequence(self) -> None:
        task = parse_task(r'2. lookup(sku="costs $1.50, matches \d+")', TOOLBOX, [1])
        assert task is not None and task.error is None and task.deps == ()
        assert task.args == {"sku": r"costs $1.50, matches \d+"}

    async def test_a_task_number_written_three_times_gives_three_results(self) -> None:
        plan = '1. lookup(sku="a")\n1. lookup(sku="b")\n1. lookup(sku="c")\n'
        run = await run_plan(plan, TOOLBOX)
        assert [t.node_id for t in run.tasks] == ["1", "1(again)", "1(again 2)"]
        assert run.result["1"].ok
        for node_id in ("1(again)", "1(again 2)"):
            error = run.result[node_id].error
            assert error is not None and error.message == "task 1 is defined twice"

    async def test_references_that_are_not_task_numbers_are_that_tasks_error(self) -> None:
        plan = '1. lookup(sku="Hello ${name}")\n2. lookup(sku="${}")\n3. lookup(sku="fine")\n'
        run = await run_plan(plan, TOOLBOX)
        assert [run.result[n].status for n in "123"] == ["failed", "failed", "succeeded"]

    def test_a_long_line_streamed_a_character_at_a_time_is_read_once(self) -> None:
        parser = PlanParser(TOOLBOX)
        line = '1. lookup(sku="' + "x" * 200_000 + '")\n'
        tasks = [t for char in line for t in parser.feed(char)]  # once quadratic: minutes
        assert [t.args for t in tasks + parser.finish()] == [{"sku": "x" * 200_000}]

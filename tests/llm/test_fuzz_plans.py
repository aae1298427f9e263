"""Fuzz: mutated numbered plans never make ``parse_plan`` or ``run_plan`` raise or hang.

Seed plans (graphflow's and LLMCompiler's shapes) get characters and lines
inserted, deleted and duplicated, and hostile snippets spliced in (``${}``, a
4,301-digit task number, 100,000 unary minuses, a dict with a list key...).
Each test runs ``GRAPHFLOW_FUZZ_EXAMPLES`` derandomized examples (see
``fuzzing.py``), each under a time limit, and the test under pytest's timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphflow.llm.plan import PlanParser, Task, parse_plan, run_plan

from .fuzzing import FUZZ, TIMEOUT, TOOLBOX, backends, mutated_plans

pytestmark = pytest.mark.timeout(TIMEOUT)

sizes = st.lists(st.integers(1, 40), max_size=8)


def pieces(text: str, cuts: list[int]) -> list[str]:
    """``text`` cut into chunks of the given sizes, the rest in one."""
    out = []
    for size in cuts:
        out.append(text[:size])
        text = text[size:]
    return [*out, text]


async def stream(chunks: list[str]) -> AsyncIterator[str]:
    for chunk in chunks:
        yield chunk


def seen(tasks: list[Task]) -> list[tuple[Any, ...]]:
    return [(t.node_id, t.name, t.args, t.deps, t.error) for t in tasks]


class TestMutatedPlans:
    @FUZZ
    @given(plan=mutated_plans(), cuts=sizes)
    def test_parsing_a_stream_reads_what_parsing_the_text_reads(
        self, plan: str, cuts: list[int]
    ) -> None:
        whole = parse_plan(plan, TOOLBOX)
        parser = PlanParser(TOOLBOX)
        streamed = [t for chunk in pieces(plan, cuts) for t in parser.feed(chunk)]
        assert seen(streamed + parser.finish()) == seen(whole)
        assert len({t.node_id for t in whole}) == len(whole)
        for task in whole:
            assert task.error is None or len(task.error) < 500

    @FUZZ
    @given(plan=mutated_plans(), cuts=sizes, backend=backends)
    def test_every_task_gets_one_result(self, plan: str, cuts: list[int], backend: str) -> None:
        async def both() -> None:
            for source in (plan, stream(pieces(plan, cuts))):
                run = await run_plan(source, TOOLBOX, default_timeout=5)
                assert sorted(t.node_id for t in run.tasks) == sorted(run.result)

        anyio.run(bounded, both, backend=backend)


async def bounded(fn: Callable[[], Awaitable[None]]) -> None:
    with anyio.fail_after(10):  # fast tools: anything longer is a hang
        await fn()

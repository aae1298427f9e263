"""The agent loop: ask the planner, run its tool calls as one graph, repeat.

``run_agent`` works with a chat planner: any async callable that takes the
transcript and returns the model's reply — an OpenAI Chat Completions message,
an OpenAI Responses API response, an Anthropic message (the SDK objects, or
dicts of the same shape). Each turn's tool calls run as one dependency-aware
graph; their results are appended; the loop ends at a reply without tool
calls (the answer) or after ``max_turns``. A planner that returns anything
else (a ``str``, a whole ``ChatCompletion``) is a ``TypeError`` at once.

``run_plan_agent`` works with an LLMCompiler-style planner that writes numbered
plans: run the plan (streamed, if the planner streams), then ask the joiner to
answer or to replan with the observations so far. A call that already
succeeded with the same arguments is not made again in a later round.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

import anyio
import anyio.to_thread

from graphflow import OptionError, RunOptions, RunOptionsArgs, RunResult, Tool, Toolbox

from ._batch import DEFAULT_MAX_CHARS, content, execute_calls
from ._dialects import DIALECTS, message_text
from .plan import PlanRun, run_plan
from .schemas import Provider


@dataclass(slots=True)
class Turn:
    """One planner call and, if it asked for tools, the graph that ran them."""

    planner_seconds: float
    calls: int = 0
    result: RunResult | None = None
    tool_seconds: float = 0.0


@dataclass(slots=True)
class AgentRun:
    """The transcript, the final message, and what each turn did."""

    messages: list[Any]
    final: Any
    turns: list[Turn] = field(default_factory=list)
    finished: bool = True  # False: max_turns ran out first
    seconds: float = 0.0

    @property
    def answer(self) -> str:
        """The text of the final message."""
        return message_text(self.final)


async def run_agent(
    planner: Callable[[list[Any]], Awaitable[Any]],
    toolbox: Toolbox,
    messages: Sequence[Any],
    options: RunOptions | None = None,
    *,
    provider: Provider = "openai",
    max_turns: int = 10,
    max_chars: int = DEFAULT_MAX_CHARS,
    **overrides: Unpack[RunOptionsArgs],
) -> AgentRun:
    """Loop planner -> tool calls (as one graph) -> results until an answer.

    Args:
        planner: ``async (transcript) -> reply``, e.g. a wrapper returning
            ``(await client.chat.completions.create(...)).choices[0].message``,
            ``await client.responses.create(input=transcript, ...)`` or
            ``await client.messages.create(messages=transcript, ...)``.
        toolbox: the tools.
        messages: the conversation so far (not modified); for
            ``"openai-responses"``, the input items.
        options: how to run each turn's calls (a ``graphflow.RunOptions``).
        provider: ``"openai"`` (Chat Completions), ``"openai-responses"`` or
            ``"anthropic"`` (Messages).
        max_turns: the most planner calls.
        max_chars: the longest tool result the planner reads (longer is cut, with a note).
        **overrides: ``RunOptions`` fields as keywords, applied on top of ``options``.

    Returns:
        The transcript, the final reply and its text, and each turn's results.

    Raises:
        OptionError: an option or ``provider`` is invalid or misspelt (found
            before the planner is called).
        TypeError: the planner returned something that is not a reply of
            ``provider``'s kind (a ``str``, a whole ``ChatCompletion``).
    """
    opts = RunOptions.build(options, overrides)
    dialect = DIALECTS.get(provider)
    if dialect is None:
        expected = "expected 'openai', 'openai-responses' or 'anthropic'"
        raise OptionError("provider", provider, expected)
    transcript = list(messages)
    started = time.monotonic()
    run = AgentRun(transcript, None, finished=False)
    for _ in range(max_turns):
        t0 = time.monotonic()
        reply = await planner(list(transcript))
        dialect.check(reply)
        turn = Turn(planner_seconds=time.monotonic() - t0)
        run.turns.append(turn)
        run.final = reply
        calls = dialect.append_reply(transcript, reply)
        if not calls:
            run.finished = True
            break
        t1 = time.monotonic()
        outcomes, turn.result = await execute_calls(calls, toolbox, opts, max_chars=max_chars)
        turn.calls, turn.tool_seconds = len(calls), time.monotonic() - t1
        dialect.append_results(transcript, outcomes)
    run.seconds = time.monotonic() - started
    return run


@dataclass(slots=True)
class Observation:
    """What one plan task did, as the joiner and the next planner call see it."""

    round: int
    task: str
    ok: bool
    content: str


@dataclass(slots=True)
class PlanAgentRun:
    answer: str | None
    rounds: list[PlanRun] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    seconds: float = 0.0


PlanPlanner = Callable[[str, list[Observation]], Awaitable[str | AsyncIterable[str]]]
Joiner = Callable[[str, list[Observation]], Awaitable[dict[str, str]]]


async def run_plan_agent(
    planner: PlanPlanner,
    joiner: Joiner,
    toolbox: Toolbox,
    question: str,
    options: RunOptions | None = None,
    *,
    max_rounds: int = 3,
    max_chars: int = DEFAULT_MAX_CHARS,
    **overrides: Unpack[RunOptionsArgs],
) -> PlanAgentRun:
    """Plan, run (streaming), join; replan with the observations until an answer.

    Args:
        planner: ``async (question, observations) -> plan`` (text or a stream of it).
        joiner: ``async (question, observations) -> {"answer": ...} | {"replan": reason}``.
        toolbox: the tools.
        question: the user's question.
        options: how to run each plan (a ``graphflow.RunOptions``).
        max_rounds: the most plans.
        max_chars: the longest observation content (longer is cut, with a note).
        **overrides: ``RunOptions`` fields as keywords, applied on top of ``options``.

    Raises:
        OptionError: an option is invalid or misspelt (found before the planner is called).
    """
    opts = RunOptions.build(options, overrides)
    started = time.monotonic()
    out = PlanAgentRun(None)
    done: dict[str, Any] = {}  # (tool, arguments) that succeeded -> output
    for round_no in range(1, max_rounds + 1):
        plan = await planner(question, list(out.observations))
        plan_run = await run_plan(plan, _reusing(toolbox, done), opts)
        out.rounds.append(plan_run)
        for task in plan_run.tasks:
            node = plan_run.result.get(task.node_id)
            if node is None:
                continue
            text = content(node, task.name, max_chars)
            out.observations.append(Observation(round_no, task.line, node.ok, text))
        verdict = await joiner(question, list(out.observations))
        if "answer" in verdict:
            out.answer = verdict["answer"]
            break
    out.seconds = time.monotonic() - started
    return out


def _reusing(toolbox: Toolbox, done: dict[str, Any]) -> Toolbox:
    """The same tools, except that a call already made with the same arguments is not repeated."""
    return Toolbox(_reuse(t, done) for t in toolbox)


def _reuse(t: Tool, done: dict[str, Any]) -> Tool:
    """``t`` with the same name, schema and options, answering repeated calls from ``done``."""

    async def call(**arguments: Any) -> Any:
        # The new tool checks its schema's top level only; ``t`` checks all it declares,
        # and its converted values make the key, so "3" and 3 for an int are one call.
        values = t.validate(arguments)
        key = json.dumps([t.name, values], sort_keys=True, default=str)
        if key not in done:
            if t.is_async:
                done[key] = await t(**arguments)
            else:  # never block the loop
                done[key] = await anyio.to_thread.run_sync(functools.partial(t, **arguments))
        return done[key]

    return Tool.from_schema(
        t.name,
        t.parameters(),
        call,
        description=t.description,
        limit=t.limit,
        writes=t.writes,
        reads=t.reads,
    )

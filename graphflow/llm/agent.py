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

Durable agents: with a store in the options (``store="agent.db"``), a loop is
a conversation recorded in it — each reply, plan and verdict, and each call's
result — under the ``run_id`` option (else a new id, in the returned
``run_id``). Calling the loop again with that ``run_id`` after a crash resumes
it: the model is not asked again for what it answered, a call that succeeded
is not run again, a call that was running runs again (``_durable``).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack

import anyio
import anyio.to_thread

from graphflow import OptionError, RunOptions, RunOptionsArgs, RunResult, Tool, Toolbox

from . import _durable
from ._batch import DEFAULT_MAX_CHARS, content, execute_calls
from ._dialects import DIALECTS, Dialect, message_text
from .plan import PlanRun, parse_plan, run_plan
from .schemas import Provider

if TYPE_CHECKING:
    from graphflow.store import Conversation


@dataclass(slots=True)
class Turn:
    """One planner call and, if it asked for tools, the graph that ran them."""

    planner_seconds: float
    calls: int = 0
    result: RunResult | None = None
    tool_seconds: float = 0.0
    replayed: bool = False  # a durable agent's stored reply: the planner was not asked


@dataclass(slots=True)
class AgentRun:
    """The transcript, the final message, and what each turn did."""

    messages: list[Any]
    final: Any
    turns: list[Turn] = field(default_factory=list)
    finished: bool = True  # False: max_turns ran out first
    seconds: float = 0.0
    run_id: str | None = None  # with a store: the conversation's id, to resume it

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

    With a store (``store="agent.db"`` or ``options=RunOptions(store=...)``) the
    loop is durable: each reply and the results the model read are recorded,
    and each turn's calls are the stored run ``"{run_id}/{turn}"``. Call it
    again with the same ``run_id`` (and the same ``messages``) after a crash
    and it resumes: answered turns are replayed without asking the planner, a
    call that succeeded is not run again, a call that was running runs again —
    at least once, so a tool with side effects should use the idempotency key
    of ``graphflow.current_call()``. A finished conversation is replayed whole.

    Args:
        planner: ``async (transcript) -> reply``, e.g. a wrapper returning
            ``(await client.chat.completions.create(...)).choices[0].message``,
            ``await client.responses.create(input=transcript, ...)`` or
            ``await client.messages.create(messages=transcript, ...)``.
        toolbox: the tools.
        messages: the conversation so far (not modified); for
            ``"openai-responses"``, the input items.
        options: how to run each turn's calls (a ``graphflow.RunOptions``).
            With a ``store``: ``run_id`` is the conversation's id (resumed if
            stored, else started; default: a new one); ``resume`` names one that
            must be stored (``"last"``: the latest); ``force`` resumes one that
            started with other ``messages`` or ``labels``, which is refused otherwise.
        provider: ``"openai"`` (Chat Completions), ``"openai-responses"`` or
            ``"anthropic"`` (Messages).
        max_turns: the most planner calls (replayed turns included).
        max_chars: the longest tool result the planner reads (longer is cut, with a note).
        **overrides: ``RunOptions`` fields as keywords, applied on top of ``options``.

    Returns:
        The transcript, the final reply and its text, each turn's results, and
        (with a store) the conversation's ``run_id``. A replayed reply is the
        stored JSON (a dict), not the SDK object.

    Raises:
        OptionError: an option or ``provider`` is invalid or misspelt (found
            before the planner is called).
        TypeError: the planner returned something that is not a reply of
            ``provider``'s kind (a ``str``, a whole ``ChatCompletion``), or,
            with a store, that is not JSON.
        graphflow.store.StoreError: the store cannot be used, or the
            conversation cannot be resumed (unknown, still running, other
            ``messages``), in one line; before the planner is called.
    """
    opts = RunOptions.build(options, overrides)
    dialect = DIALECTS.get(provider)
    if dialect is None:
        expected = "expected 'openai', 'openai-responses' or 'anthropic'"
        raise OptionError("provider", provider, expected)
    transcript = list(messages)
    started = time.monotonic()
    log = await _durable.open_log(
        opts, kind=f"run_agent {provider}", started_with=transcript, what_started="messages"
    )
    run = AgentRun(transcript, None, finished=False)
    try:
        if log is not None:
            run.run_id = log.conversation_id
        for number in range(1, max_turns + 1):
            if await _turn(run, number, planner, toolbox, dialect, opts, log, max_chars):
                run.finished = True
                break
        if log is not None:
            await log.finish("finished" if run.finished else "stopped")
    finally:
        if log is not None:
            await log.aclose()
    run.seconds = time.monotonic() - started
    return run


async def _turn(
    run: AgentRun,
    number: int,
    planner: Callable[[list[Any]], Awaitable[Any]],
    toolbox: Toolbox,
    dialect: Dialect,
    opts: RunOptions,
    log: Conversation | None,
    max_chars: int,
) -> bool:
    """One turn: the reply (asked, or replayed), then its calls; True if it was the answer."""
    t0 = time.monotonic()
    transcript = run.messages
    reply = None if log is None else log.step(number, "reply")
    turn = Turn(planner_seconds=0.0, replayed=reply is not None)
    if reply is None:
        reply = await planner(list(transcript))
        dialect.check(reply)  # (a replayed reply was checked before it was recorded)
        if log is not None:
            await log.record(number, "reply", _durable.reply_data(reply))
    turn.planner_seconds = time.monotonic() - t0
    run.turns.append(turn)
    run.final = reply
    calls = dialect.append_reply(transcript, reply)
    if not calls:
        return True
    t1 = time.monotonic()
    if log is None:
        outcomes, turn.result = await execute_calls(calls, toolbox, opts, max_chars=max_chars)
    else:
        outcomes, turn.result = await _durable.turn_calls(
            log, number, calls, toolbox, opts, max_chars
        )
    turn.calls, turn.tool_seconds = len(calls), time.monotonic() - t1
    dialect.append_results(transcript, outcomes)
    return False


@dataclass(slots=True)
class Observation:
    """What one plan task did, as the joiner and the next planner call see it."""

    round: int
    task: str
    ok: bool
    content: str


@dataclass(slots=True)
class PlanAgentRun:
    """The answer (None if the rounds ran out first), each plan's run, every observation."""

    answer: str | None
    rounds: list[PlanRun] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    seconds: float = 0.0
    run_id: str | None = None  # with a store: the conversation's id, to resume it


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

    With a store the loop is durable, as ``run_agent`` is: each plan (a streamed
    one as soon as it is complete), each round's observations and each verdict
    are recorded, and each call that succeeded, by tool and arguments. Called
    again with the same ``run_id`` (and ``question``), it replays what was
    recorded without asking the planner or the joiner again, and no call that
    succeeded runs again, in any round. A plan's run is ``"{run_id}/{round}"``
    (resumed if its plan was recorded; a plan the planner was still writing is
    asked for again and run as ``"{run_id}/{round}.{attempt}"``).

    Args:
        planner: ``async (question, observations) -> plan`` (text or a stream of it).
        joiner: ``async (question, observations) -> {"answer": ...} | {"replan": reason}``.
        toolbox: the tools.
        question: the user's question.
        options: how to run each plan (a ``graphflow.RunOptions``); with a
            ``store``, ``run_id``, ``resume`` and ``force`` are the
            conversation's, as for ``run_agent``.
        max_rounds: the most plans (replayed rounds included).
        max_chars: the longest observation content (longer is cut, with a note).
        **overrides: ``RunOptions`` fields as keywords, applied on top of ``options``.

    Raises:
        OptionError: an option is invalid or misspelt (found before the planner is called).
        graphflow.store.StoreError: the store cannot be used, or the
            conversation cannot be resumed (unknown, still running, another
            ``question``), in one line; before the planner is called.
    """
    opts = RunOptions.build(options, overrides)
    started = time.monotonic()
    log = await _durable.open_log(
        opts, kind="run_plan_agent", started_with=question, what_started="question"
    )
    out = PlanAgentRun(None)
    try:
        if log is not None:
            out.run_id = log.conversation_id
        tools = _Rounds(planner, toolbox, question, opts, log, max_chars)
        for round_no in range(1, max_rounds + 1):
            await tools.plan_and_run(out, round_no)
            verdict = await tools.verdict(joiner, out, round_no)
            if "answer" in verdict:
                out.answer = verdict["answer"]
                break
        if log is not None:
            await log.finish("finished" if out.answer is not None else "stopped")
    finally:
        if log is not None:
            await log.aclose()
    out.seconds = time.monotonic() - started
    return out


class _Rounds:
    """``run_plan_agent``'s rounds, each asked and run, or replayed from the ``log``."""

    def __init__(
        self,
        planner: PlanPlanner,
        toolbox: Toolbox,
        question: str,
        opts: RunOptions,
        log: Conversation | None,
        max_chars: int,
    ) -> None:
        self.planner = planner
        self.toolbox = toolbox
        self.question = question
        self.opts = opts
        self.log = log
        self.max_chars = max_chars
        # (tool, arguments) that succeeded -> output; durable: the stored ones, and each new one
        done: dict[str, Any] = {} if log is None else dict(log.calls)
        self.tools = _reusing(toolbox, done, None if log is None else log.remember)

    async def plan_and_run(self, out: PlanAgentRun, round_no: int) -> None:
        """Ask for a plan and run it; or replay a round whose observations were recorded."""
        log = self.log
        if log is not None:
            ran, text, run = (log.step(round_no, what) for what in ("ran", "plan", "run"))
            if ran is not None and text is not None and run is not None:  # the round is over
                run_id = run["run_id"]
                result = await log.stored_result(run_id) or RunResult(run_id, {}, 0.0, 0.0)
                out.rounds.append(PlanRun(parse_plan(text, self.toolbox), result))
                out.observations.extend(Observation(round_no, **o) for o in ran)
                return
        if log is None:
            plan = await self.planner(self.question, list(out.observations))
            opts = self.opts
        else:
            plan, opts = await self._durable_plan(log, out, round_no)
        plan_run = await run_plan(plan, self.tools, opts)
        out.rounds.append(plan_run)
        new = []
        for task in plan_run.tasks:
            node = plan_run.result.get(task.node_id)
            if node is not None:
                text = content(node, task.name, self.max_chars)
                new.append(Observation(round_no, task.line, node.ok, text))
        if log is not None:
            observed = [{"task": o.task, "ok": o.ok, "content": o.content} for o in new]
            await log.record(round_no, "ran", observed)
        out.observations.extend(new)

    async def _durable_plan(
        self, log: Conversation, out: PlanAgentRun, round_no: int
    ) -> tuple[str | AsyncIterable[str], RunOptions]:
        """The round's plan — recorded, or asked for and recorded — and its run's options."""
        text, run = log.step(round_no, "plan"), log.step(round_no, "run")
        if text is None or run is None:  # a new plan: a new run (its tasks are new)
            attempt = 1 if run is None else int(run["attempt"]) + 1
            run_id = f"{log.conversation_id}/{round_no}"
            run = {"run_id": run_id if attempt == 1 else f"{run_id}.{attempt}", "attempt": attempt}
            await log.record(round_no, "run", run)
            asked = await self.planner(self.question, list(out.observations))
            save = functools.partial(log.record, round_no, "plan")
            if isinstance(asked, str):
                await save(asked)
                text = asked
            else:
                text = _durable.recording(asked, save)
        return text, await _durable.run_options(log, self.opts, run["run_id"])

    async def verdict(self, joiner: Joiner, out: PlanAgentRun, round_no: int) -> dict[str, str]:
        """The joiner's verdict on the round: recorded, or asked for (and recorded)."""
        stored = None if self.log is None else self.log.step(round_no, "verdict")
        if stored is not None:
            return dict(stored)
        verdict = await joiner(self.question, list(out.observations))
        if self.log is not None:
            await self.log.record(round_no, "verdict", verdict)
        return verdict


def _reusing(
    toolbox: Toolbox,
    done: dict[str, Any],
    remember: Callable[[str, Any], Awaitable[bool]] | None = None,
) -> Toolbox:
    """The same tools, except that a call already made with the same arguments is not
    repeated; ``remember(key, output)`` makes each new success durable before it is used."""
    return Toolbox(_reuse(t, done, remember) for t in toolbox)


def _reuse(
    t: Tool, done: dict[str, Any], remember: Callable[[str, Any], Awaitable[bool]] | None
) -> Tool:
    """``t`` with the same name, schema and options, answering repeated calls from ``done``."""

    async def call(**arguments: Any) -> Any:
        # The new tool checks its schema's top level only; ``t`` checks all it declares,
        # and its converted values make the key, so "3" and 3 for an int are one call.
        values = t.validate(arguments)
        key = json.dumps([t.name, values], sort_keys=True, default=str)
        if key not in done:
            if t.is_async:
                output = await t(**arguments)
            else:  # never block the loop
                output = await anyio.to_thread.run_sync(functools.partial(t, **arguments))
            if remember is not None:
                await remember(key, output)
            done[key] = output
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

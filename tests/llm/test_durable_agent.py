"""Durable agents: a conversation recorded in a SQLite store, killed, and resumed.

The crash tests run the agent in a child process (``durable_child``) and kill
it with SIGKILL while a tool call is in flight; a second child resumes the
conversation. What ran is read from a side-effect log each tool call appends
to, what the model was asked from the loopback fake API, which lives in this
process and so outlives the child.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import graphflow as gf
from graphflow.llm.agent import Observation, run_agent, run_plan_agent
from graphflow.store import SQLiteStore, StoreError

from .fake_api import FakeAPI, anthropic_client, openai_client
from .test_sdk_loopback import chat_call, claude, completion, response
from .tools import TOOLBOX

ROOT = Path(__file__).resolve().parents[2]


def child(*args: str, hang: str = "") -> subprocess.Popen[str]:
    env = {**os.environ, "GF_HANG": hang}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.llm.durable_child", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when(
    proc: subprocess.Popen[str],
    log: Path,
    line: str,
    meanwhile: Callable[[], None] = lambda: None,
    limit: float = 20.0,
) -> None:
    """SIGKILL ``proc`` once ``log`` holds ``line`` (it is then mid-call), after ``meanwhile()``."""
    deadline = time.monotonic() + limit
    try:
        while line not in lines(log):
            if proc.poll() is not None:
                _, err = proc.communicate()
                raise AssertionError(f"the child ended ({proc.returncode}) first: {err[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {line!r} in {lines(log)}")
            time.sleep(0.01)
        meanwhile()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


STEPS_TURN_1 = [chat_call("a", "step", {"name": "a"}), chat_call("b", "step", {"name": "b"})]
STEPS_TURN_2 = [
    chat_call("c", "step", {"name": "c"}),
    chat_call("d", "step", {"name": "d", "after": "${c.name}"}),  # starts once c is committed
]


class TestKilledMidTurn:
    def test_run_agent_resumes_without_asking_again_or_rerunning_what_succeeded(
        self, fake_api: FakeAPI, tmp_path: Path
    ) -> None:
        fake_api.replies = [
            completion({"role": "assistant", "content": None, "tool_calls": STEPS_TURN_1}),
            completion({"role": "assistant", "content": None, "tool_calls": STEPS_TURN_2}),
            completion({"role": "assistant", "content": "all four done"}),
        ]
        store, log = str(tmp_path / "agent.db"), tmp_path / "calls.log"
        args = ("agent", store, str(log), "conv-42", fake_api.url)
        kill_when(child(*args, hang="d"), log, "start d conv-42/2/d")
        assert len(fake_api.received) == 2  # turns 1 and 2 were asked; d was running

        out = finish(child(*args))
        assert out == {
            "answer": "all four done",
            "run_id": "conv-42",
            "replayed": [True, True, False],
            "calls": [2, 2, 0],
        }
        assert len(fake_api.received) == 3  # only the turn it had not answered
        assert sorted(lines(log)) == sorted(
            [
                *("start a conv-42/1/a", "done a", "start b conv-42/1/b", "done b"),
                *("start c conv-42/2/c", "done c"),
                # in flight when killed: run again, once, with the same idempotency key
                *("start d conv-42/2/d", "start d conv-42/2/d", "done d"),
            ]
        )
        messages = fake_api.received[2][1]["messages"]
        assert [m.get("tool_call_id") for m in messages if m["role"] == "tool"] == list("abcd")
        assert json.loads(messages[-1]["content"]) == {"name": "d", "after": "c"}
        assert messages[1]["tool_calls"] == STEPS_TURN_1
        runs = {r.run_id: r.status for r in SQLiteStore(store).runs()}
        assert runs == {"conv-42/1": "succeeded", "conv-42/2": "succeeded"}

    def test_run_plan_agent_resumes_without_asking_again_or_rerunning_what_succeeded(
        self, tmp_path: Path
    ) -> None:
        store, log = str(tmp_path / "plan.db"), tmp_path / "calls.log"
        args = ("plan", store, str(log), "plan-7")
        first = child(*args, hang="p3")

        def a_second_process_is_refused() -> None:
            _, err = child(*args).communicate(timeout=30)
            last = err.strip().splitlines()[-1]
            assert last.endswith(f"conversation 'plan-7' is still running (process {first.pid})")

        kill_when(first, log, "start p3 plan-7/2/3", a_second_process_is_refused)
        assert lines(log) == [
            *("plan 1", "start p1 plan-7/1/1", "done p1", "join 1"),
            *("plan 2", "start p2 plan-7/2/2", "done p2"),  # p1: answered from round 1
            "start p3 plan-7/2/3",
        ]

        out = finish(child(*args))
        assert out["answer"] == (
            '{"name": "p1", "after": ""} {"name": "p2", "after": ""} {"name": "p3", "after": "p2"}'
        )
        assert out["run_id"] == "plan-7" and out["rounds"] == 2
        # neither the planner nor the joiner is asked again for what they answered
        assert lines(log)[8:] == ["start p3 plan-7/2/3", "done p3", "join 2"]


class TestResumeInProcess:
    pytestmark = pytest.mark.anyio

    async def test_changed_messages_are_refused_in_one_line_unless_forced(
        self, tmp_path: Path
    ) -> None:
        asked: list[int] = []

        async def planner(messages: list[Any]) -> dict[str, Any]:
            asked.append(len(messages))
            return {"role": "assistant", "content": "hello"}

        store = tmp_path / "a.db"
        first = [{"role": "user", "content": "hi"}]
        run = await run_agent(planner, TOOLBOX, first, store=store, run_id="c1")
        assert run.answer == "hello" and asked == [1]
        other = [{"role": "user", "content": "bye"}]
        with pytest.raises(StoreError) as info:
            await run_agent(planner, TOOLBOX, other, store=store, run_id="c1")
        assert str(info.value) == (
            f"run store {store}: cannot resume conversation 'c1': different messages"
            " (force=True resumes it anyway)"
        )
        with pytest.raises(StoreError, match="different messages; different team"):
            await run_agent(planner, TOOLBOX, other, store=store, run_id="c1", labels={"team": "x"})
        forced = await run_agent(planner, TOOLBOX, other, store=store, run_id="c1", force=True)
        assert forced.answer == "hello" and forced.turns[0].replayed and asked == [1]

    async def test_a_finished_conversation_is_replayed_whole(self, tmp_path: Path) -> None:
        asked: list[int] = []
        script: list[dict[str, Any]] = [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [chat_call("x", "lookup", {"sku": "A"})],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [chat_call("y", "lookup", {"sku": "B"})],
            },
            {"role": "assistant", "content": "10"},
        ]

        async def planner(messages: list[Any]) -> dict[str, Any]:
            asked.append(len(messages))
            return script[len(asked) - 1]

        store = tmp_path / "a.db"
        question = [{"role": "user", "content": "price of A?"}]
        first = await run_agent(planner, TOOLBOX, question, store=store)
        assert first.run_id is not None and asked == [1, 3, 5]
        again = await run_agent(planner, TOOLBOX, question, store=store, resume=first.run_id)
        assert again.messages == first.messages and again.answer == "10" and asked == [1, 3, 5]
        assert [t.replayed for t in again.turns] == [True, True, True]
        assert again.turns[0].result is not None and again.turns[0].result["x"].output == {
            "sku": "A",
            "price": 10,
        }
        last = await run_agent(planner, TOOLBOX, question, store=store, resume="last")
        assert last.run_id == first.run_id
        assert SQLiteStore(store).gc(keep=1) == 1  # turn 1's run is gone; the log replays it
        pruned = await run_agent(planner, TOOLBOX, question, store=store, run_id=first.run_id)
        assert pruned.messages == first.messages and asked == [1, 3, 5]
        assert pruned.turns[0].result is None and pruned.turns[1].result is not None
        # its last run gone, the finished conversation goes with it: nothing left to resume
        assert SQLiteStore(store).gc(keep=0) == 1
        with pytest.raises(StoreError, match=f"no conversation '{first.run_id}' to resume"):
            await run_agent(planner, TOOLBOX, question, store=store, resume=first.run_id)

    async def test_unknown_conversations_and_other_stores_are_refused(self, tmp_path: Path) -> None:
        async def planner(messages: list[Any]) -> dict[str, Any]:
            raise AssertionError("asked")

        store = tmp_path / "a.db"
        with pytest.raises(StoreError, match="no conversation 'nope' to resume"):
            await run_agent(planner, TOOLBOX, [], store=store, resume="nope")
        with pytest.raises(gf.OptionError, match="option run_id: a conversation id of at most"):
            await run_agent(planner, TOOLBOX, [], store=store, run_id="x" * 101)

        class Elsewhere:
            async def open_run(self, info: gf.RunInfo) -> gf.RunJournal:
                raise AssertionError("opened")

        with pytest.raises(gf.OptionError, match=r"option store: a graphflow\.store\.SQLiteStore"):
            await run_agent(planner, TOOLBOX, [], store=Elsewhere())

        async def joiner(question: str, observations: list[Observation]) -> dict[str, str]:
            return {"answer": "-"}

        async def plan(question: str, observations: list[Observation]) -> str:
            return "join()\n"

        await run_plan_agent(plan, joiner, TOOLBOX, "q1", store=store, run_id="p")
        with pytest.raises(StoreError, match="'p': different question"):
            await run_plan_agent(plan, joiner, TOOLBOX, "q2", store=store, run_id="p")
        with pytest.raises(StoreError, match="'p' is a run_plan_agent conversation, not run_agent"):
            await run_agent(planner, TOOLBOX, [], store=store, run_id="p")


class TestPlanCutOff:
    pytestmark = pytest.mark.anyio

    async def test_a_plan_cut_off_mid_stream_is_asked_again_and_no_succeeded_call_reruns(
        self, tmp_path: Path
    ) -> None:
        ran: list[str] = []
        started = anyio.Event()

        @gf.tool
        async def fetch(key: str) -> str:
            """Fetch ``key``."""
            ran.append(key)
            return key.upper()

        @gf.tool
        async def hold(value: str) -> str:
            """Hold ``value`` (the first time, until the plan is cut off)."""
            ran.append(f"hold {value}")
            if len(asked) == 1:
                started.set()
                await anyio.sleep_forever()
            return value

        asked: list[int] = []

        async def cut_off() -> AsyncIterator[str]:
            yield '1. fetch(key="a")\n2. hold(value=$1)\n'
            await started.wait()  # 1 succeeded (2 started after its commit)
            raise Crash

        async def planner(question: str, observations: list[Observation]) -> Any:
            asked.append(len(observations))
            return cut_off() if len(asked) == 1 else '1. fetch(key="a")\n2. hold(value=$1)\n'

        async def joiner(question: str, observations: list[Observation]) -> dict[str, str]:
            return {"answer": observations[-1].content}

        store, tools = tmp_path / "p.db", gf.Toolbox([fetch, hold])
        with pytest.raises((Crash, BaseExceptionGroup)):
            await run_plan_agent(planner, joiner, tools, "?", store=store, run_id="p")
        run = await run_plan_agent(planner, joiner, tools, "?", store=store, run_id="p")
        assert run.answer == "A" and asked == [0, 0]  # the cut-off plan was asked for again
        assert ran == ["a", "hold A", "hold A"]  # fetch succeeded: not run again
        assert sorted(r.run_id for r in SQLiteStore(store).runs()) == ["p/1", "p/1.2"]


class Crash(Exception):
    """The planner's process 'died' here."""


def crashing_at(turn: int, planner: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
    asked: list[int] = []

    async def wrapped(messages: list[Any]) -> Any:
        asked.append(1)
        if len(asked) == turn:
            raise Crash
        return await planner(messages)

    return wrapped


class TestReplayedRepliesExtendTheTranscriptAsTheSDKObjectsDid:
    """A reply is stored as JSON and replayed as a dict: the request after a
    resume is the one an uninterrupted run sends, byte for byte."""

    pytestmark = pytest.mark.anyio

    @pytest.mark.parametrize("provider", ["openai", "openai-responses", "anthropic"])
    async def test_after_a_crash_the_model_gets_the_same_request(
        self, provider: Any, fake_api: FakeAPI, tmp_path: Path
    ) -> None:
        fake_api.replies = SCRIPTS[provider]
        user = [{"role": "user", "content": "orders of a@b.c?"}]

        async def ask(planner: Any, run_id: str) -> Any:
            return await run_agent(
                planner, TOOLBOX, user, provider=provider, store=tmp_path / "s.db", run_id=run_id
            )

        async with (
            openai_client(fake_api.url) as oa,
            anthropic_client(fake_api.url) as claude_client,
        ):
            planner = PLANNERS[provider](oa, claude_client)
            whole = await ask(planner, "whole")
            sent = [body for _, body in fake_api.received]
            fake_api.received.clear()
            with pytest.raises(Crash):
                await ask(crashing_at(2, planner), "crashed")
            resumed = await ask(planner, "crashed")
        assert [body for _, body in fake_api.received] == sent
        assert resumed.messages == whole.messages and resumed.answer == whole.answer
        assert [t.replayed for t in resumed.turns] == [True, False]


def _openai(oa: Any, _: Any) -> Any:
    async def planner(messages: list[Any]) -> Any:
        return (await oa.chat.completions.create(model="m", messages=messages)).choices[0].message

    return planner


def _responses(oa: Any, _: Any) -> Any:
    async def planner(items: list[Any]) -> Any:
        return await oa.responses.create(model="m", input=items)

    return planner


def _anthropic(_: Any, client: Any) -> Any:
    async def planner(messages: list[Any]) -> Any:
        return await client.messages.create(model="m", max_tokens=10, messages=messages)

    return planner


PLANNERS = {"openai": _openai, "openai-responses": _responses, "anthropic": _anthropic}
_FUNCTION_CALL = {"type": "function_call", "status": "completed"}
_TEXT = {"type": "output_text", "text": "One order.", "annotations": []}
SCRIPTS: dict[str, list[dict[str, Any]]] = {
    "openai": [
        completion(
            {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    chat_call("c1", "find_user", {"email": "a@b.c"}),
                    chat_call("c2", "list_orders", {"user_id": "${c1.user_id}"}),
                ],
            }
        ),
        completion({"role": "assistant", "content": "One order."}),
    ]
    * 2,
    "openai-responses": [
        response(
            [
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": None},
                {**_FUNCTION_CALL, "id": "f1", "call_id": "c1", "name": "find_user"}
                | {"arguments": '{"email": "a@b.c"}'},
                {**_FUNCTION_CALL, "id": "f2", "call_id": "c2", "name": "list_orders"}
                | {"arguments": '{"user_id": "${c1.user_id}"}'},
            ]
        ),
        response([{"type": "message", "id": "m", "role": "assistant", "content": [_TEXT]}]),
    ]
    * 2,
    "anthropic": [
        claude(
            [
                {"type": "text", "text": "Looking.", "citations": None},
                {"type": "tool_use", "id": "t1", "name": "find_user", "input": {"email": "a@b.c"}},
                {"type": "tool_use", "id": "t2", "name": "list_orders"}
                | {"input": {"user_id": "${t1.user_id}", "note": None}},
            ],
            "tool_use",
        ),
        claude([{"type": "text", "text": "One order."}], "end_turn"),
    ]
    * 2,
}

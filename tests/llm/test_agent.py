"""The agent loops, with scripted planners returning the SDKs' own message objects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import Message, MessageParam, TextBlock, ToolUseBlock, Usage
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionToolMessageParam,
    ChatCompletionUserMessageParam,
)
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_message_function_tool_call import Function

import graphflow as gf
from graphflow.llm.agent import Observation, run_agent, run_plan_agent

from . import tools
from .tools import TOOLBOX

pytestmark = pytest.mark.anyio


def oa_call(
    call_id: str, name: str, arguments: dict[str, Any]
) -> ChatCompletionMessageFunctionToolCall:
    return ChatCompletionMessageFunctionToolCall(
        id=call_id, type="function", function=Function(name=name, arguments=json.dumps(arguments))
    )


async def test_openai_loop_runs_each_turn_as_a_graph_until_the_answer(check: Any) -> None:
    script = [
        ChatCompletionMessage(
            role="assistant",
            content=None,
            tool_calls=[
                oa_call("c1", "find_user", {"email": "a@b.c"}),
                oa_call("c2", "list_orders", {"user_id": "${c1.user_id}"}),
                oa_call("c3", "lookup", {"sku": "A1"}),
            ],
        ),
        ChatCompletionMessage(
            role="assistant", content=None, tool_calls=[oa_call("c4", "explode", {"reason": "x"})]
        ),
        ChatCompletionMessage(role="assistant", content="User 42 has one order."),
    ]
    seen: list[int] = []

    async def planner(messages: list[Any]) -> ChatCompletionMessage:
        seen.append(len(messages))
        return script[len(seen) - 1]

    run = await run_agent(planner, TOOLBOX, [{"role": "user", "content": "orders of a@b.c?"}])
    assert run.finished and run.answer == "User 42 has one order."
    assert [t.calls for t in run.turns] == [3, 1, 0]
    assert run.turns[0].result is not None and run.turns[0].result.ok
    assert seen == [1, 5, 7]  # user; + assistant + 3 tool results; + assistant + 1 result
    check(ChatCompletionUserMessageParam, run.messages[0])
    for message in run.messages[1:]:
        kind = (
            ChatCompletionToolMessageParam
            if message["role"] == "tool"
            else ChatCompletionAssistantMessageParam
        )
        check(kind, message)
    assert json.loads(run.messages[3]["content"]) == [{"order": 1, "user_id": 42}]
    assert run.messages[6]["content"].startswith("Error: explode failed")


async def test_openai_loop_stops_at_max_turns() -> None:
    async def planner(messages: list[Any]) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"c{len(messages)}",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"sku": "A"}'},
                }
            ],
        }

    run = await run_agent(planner, TOOLBOX, [{"role": "user", "content": "loop"}], max_turns=3)
    assert not run.finished and len(run.turns) == 3


async def test_anthropic_loop(check: Any) -> None:
    usage = Usage(input_tokens=1, output_tokens=1)
    script = [
        Message(
            id="m1",
            type="message",
            role="assistant",
            model="claude",
            usage=usage,
            stop_reason="tool_use",
            content=[
                TextBlock(type="text", text="Looking up."),
                ToolUseBlock(type="tool_use", id="t1", name="find_user", input={"email": "q@r.s"}),
                ToolUseBlock(
                    type="tool_use", id="t2", name="list_orders", input={"user_id": "${t1.user_id}"}
                ),
            ],
        ),
        Message(
            id="m2",
            type="message",
            role="assistant",
            model="claude",
            usage=usage,
            stop_reason="end_turn",
            content=[TextBlock(type="text", text="One order.")],
        ),
    ]

    async def planner(messages: list[Any]) -> Message:
        return script[(len(messages) - 1) // 2]

    run = await run_agent(
        planner, TOOLBOX, [{"role": "user", "content": "orders?"}], provider="anthropic"
    )
    assert run.answer == "One order." and [t.calls for t in run.turns] == [2, 0]
    for message in run.messages:
        check(MessageParam, message)
    results = run.messages[2]["content"]
    assert [b["tool_use_id"] for b in results] == ["t1", "t2"]
    assert json.loads(results[1]["content"]) == [{"order": 1, "user_id": 42}]


async def test_plan_agent_replans_without_repeating_succeeded_calls() -> None:
    tools.CALLS.clear()
    plans = [
        '1. find_user(email="a@b.c")\n2. explode(reason="flaky")\njoin()\n',
        '1. find_user(email="a@b.c")\n2. list_orders(user_id=$1.user_id)\njoin()\n',
    ]

    async def planner(question: str, observations: list[Observation]) -> str:
        return plans[len({o.round for o in observations})]

    async def joiner(question: str, observations: list[Observation]) -> dict[str, str]:
        if all(o.ok for o in observations if o.round == observations[-1].round):
            return {"answer": observations[-1].content}
        return {"replan": "a step failed"}

    run = await run_plan_agent(planner, joiner, TOOLBOX, "orders of a@b.c?")
    assert json.loads(run.answer or "") == [{"order": 1, "user_id": 42}]
    assert len(run.rounds) == 2
    assert tools.CALLS.count("find_user:a@b.c") == 1  # succeeded in round 1: not called again
    assert [o.ok for o in run.observations] == [True, False, True, True]


async def test_a_misspelt_option_fails_before_the_planner_is_called() -> None:
    asked: list[Any] = []

    async def planner(messages: list[Any]) -> dict[str, Any]:
        asked.append(messages)
        return {"role": "assistant", "content": "done"}

    async def plan_planner(question: str, observations: list[Observation]) -> str:
        asked.append(question)
        return "join()\n"

    async def joiner(question: str, observations: list[Observation]) -> dict[str, str]:
        return {"answer": ""}

    with pytest.raises(gf.OptionError, match="concurrrency"):
        await run_agent(planner, TOOLBOX, [], concurrrency=2)  # type: ignore[call-arg]
    with pytest.raises(gf.OptionError, match="concurrrency"):
        await run_plan_agent(plan_planner, joiner, TOOLBOX, "q", concurrrency=2)  # type: ignore[call-arg]
    assert asked == []


async def test_run_options_and_max_chars_reach_each_turns_calls() -> None:
    script: list[dict[str, Any]] = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "h", "type": "function", "function": {"name": "hang", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "big", "arguments": "{}"}},
            ],
        },
        {"role": "assistant", "content": "gave up"},
    ]

    async def planner(messages: list[Any]) -> dict[str, Any]:
        return script[0 if len(messages) == 1 else 1]

    options = gf.RunOptions(default_timeout=1)  # ends "hang"; only an upper bound for "big"
    messages = [{"role": "user", "content": "?"}]
    run = await run_agent(planner, TOOLBOX, messages, options, max_chars=100)
    assert run.finished and run.answer == "gave up"
    assert run.messages[2]["content"] == "Error: hang timed out after 1 s"
    assert run.messages[3]["content"] == "x" * 52 + (
        "\n[truncated: 5,000 characters in all, 52 shown]"
    )


async def test_plan_agent_tools_keep_every_check_of_the_original_tool() -> None:
    @gf.tool
    async def total(numbers: list[int]) -> int:
        """Add numbers up."""
        return sum(numbers)

    plan = '1. total(numbers=[1, "x"])\n2. total([1, "2"])\n3. total(numbers=7)\njoin()\n'

    async def planner(question: str, observations: list[Observation]) -> str:
        return plan

    async def joiner(question: str, observations: list[Observation]) -> dict[str, str]:
        return {"answer": "-"}

    run = await run_plan_agent(planner, joiner, gf.Toolbox([total]), "?")
    first, second, third = run.observations
    assert not first.ok and first.content.startswith(  # below the schema's top level
        "Error: invalid arguments for total: numbers.1: Input should be a valid integer"
    )
    assert second.ok and second.content == "3"
    assert not third.ok and third.content.startswith(
        "Error: invalid arguments for total: numbers: Input should be a valid list"
    )


class TestPlannerReplies:
    @pytest.mark.parametrize(
        ("provider", "reply", "hint"),
        [
            ("openai", "The answer is 42.", "return completion.choices[0].message"),
            ("openai", None, "return completion.choices[0].message"),
            ("openai-responses", "The answer is 42.", "return the Response"),
            ("openai-responses", {"role": "assistant", "content": "hi"}, "a dict with 'output'"),
            ("anthropic", b"bytes", "return the Message of client.messages.create"),
        ],
    )
    async def test_a_reply_of_the_wrong_kind_is_a_type_error_at_once(
        self, provider: Any, reply: Any, hint: str
    ) -> None:
        asked: list[int] = []

        async def planner(messages: list[Any]) -> Any:
            asked.append(len(messages))
            return reply

        with pytest.raises(TypeError, match="the planner returned") as info:
            await run_agent(planner, TOOLBOX, [{"role": "user", "content": "?"}], provider=provider)
        assert hint in str(info.value) and asked == [1]

    async def test_a_whole_chat_completion_is_named_in_the_error(self) -> None:
        message = ChatCompletionMessage(role="assistant", content="hi")
        completion = ChatCompletion(
            id="c",
            object="chat.completion",
            created=0,
            model="m",
            choices=[Choice(index=0, finish_reason="stop", message=message)],
        )

        async def planner(messages: list[Any]) -> ChatCompletion:
            return completion

        with pytest.raises(TypeError, match=r"returned ChatCompletion .*choices\[0\]\.message"):
            await run_agent(planner, TOOLBOX, [{"role": "user", "content": "?"}])

    async def test_an_unknown_provider_fails_before_the_planner_is_called(self) -> None:
        async def planner(messages: list[Any]) -> Any:
            raise AssertionError("called")

        with pytest.raises(gf.OptionError, match="option provider: expected 'openai'"):
            await run_agent(planner, TOOLBOX, [], provider="gemini")  # type: ignore[arg-type]

    async def test_an_anthropic_dict_reply_with_text_content_is_the_answer(
        self, check: Any
    ) -> None:
        async def planner(messages: list[Any]) -> dict[str, Any]:
            return {"role": "assistant", "content": "done"}

        messages = [{"role": "user", "content": "?"}]
        run = await run_agent(planner, TOOLBOX, messages, provider="anthropic")
        assert run.finished and run.answer == "done"
        check(MessageParam, run.messages[1])

    async def test_a_responses_answer_is_the_text_of_its_messages(self) -> None:
        text = {"type": "output_text", "text": "42", "annotations": []}
        reply = {
            "output": [{"type": "reasoning", "summary": []}, {"type": "message", "content": [text]}]
        }

        async def planner(items: list[Any]) -> dict[str, Any]:
            return reply

        run = await run_agent(planner, TOOLBOX, [], provider="openai-responses")
        assert run.finished and run.answer == "42" and len(run.messages) == 2

"""run_agent with the real ``openai`` and ``anthropic`` clients, against a loopback fake API.

The fake server (``http.server`` on 127.0.0.1, a free port) answers each POST
with the next scripted reply and records what it received: the first reply is
a batch of tool calls, the second an answer. The tests check the second
request as the provider would: a result for every call id, in order, each
well-formed for the SDK's own param types. No network beyond loopback.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import MessageParam, ToolParam
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionToolMessageParam,
)
from openai.types.responses import FunctionToolParam, ResponseInputItemParam

from graphflow.llm import REFERENCE_INSTRUCTIONS, describe_tools
from graphflow.llm.agent import run_agent

from .conftest import conforms
from .fake_api import FakeAPI, anthropic_client, openai_client
from .tools import TOOLBOX

pytestmark = pytest.mark.anyio


def chat_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    function = {"name": name, "arguments": json.dumps(arguments)}
    return {"id": call_id, "type": "function", "function": function}


def completion(message: dict[str, Any]) -> dict[str, Any]:
    choice = {"index": 0, "finish_reason": "stop", "message": message}
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}


CHAT_CALLS = [
    chat_call("call_a", "find_user", {"email": "a@b.c"}),
    chat_call("call_b", "list_orders", {"user_id": "${1.user_id}"}),
    {"id": "call_c", "type": "custom", "custom": {"name": "shell", "input": "ls"}},
    chat_call("call_d", "lookup", {"sku": "A1"}),
]


async def test_openai_chat_completions(fake_api: FakeAPI) -> None:
    fake_api.replies = [
        completion({"role": "assistant", "content": None, "tool_calls": CHAT_CALLS}),
        completion({"role": "assistant", "content": "User 42 has one order."}),
    ]
    async with openai_client(fake_api.url) as client:

        async def planner(messages: list[Any]) -> Any:
            tools: Any = describe_tools(TOOLBOX, "openai")
            reply = await client.chat.completions.create(model="m", messages=messages, tools=tools)
            return reply.choices[0].message

        system = {"role": "system", "content": REFERENCE_INSTRUCTIONS}
        run = await run_agent(planner, TOOLBOX, [system, {"role": "user", "content": "orders?"}])
    assert run.answer == "User 42 has one order." and [t.calls for t in run.turns] == [4, 0]
    (path1, first), (path2, second) = fake_api.received
    assert path1 == path2 == "/v1/chat/completions"
    for tool in first["tools"]:
        conforms(ChatCompletionFunctionToolParam, tool)
    assistant, *results = second["messages"][2:]
    conforms(ChatCompletionAssistantMessageParam, assistant)
    assert assistant["tool_calls"] == CHAT_CALLS  # the custom call is sent back as it came
    for message in results:
        conforms(ChatCompletionToolMessageParam, message)
    assert [m["tool_call_id"] for m in results] == ["call_a", "call_b", "call_c", "call_d"]
    assert json.loads(results[1]["content"]) == [{"order": 1, "user_id": 42}]
    assert results[2]["content"].startswith("Error: shell was not called: custom tool calls")


RESPONSE_OUTPUT: list[dict[str, Any]] = [
    {"type": "reasoning", "id": "rs_1", "summary": []},
    {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_a",
        "name": "find_user",
        "arguments": '{"email": "a@b.c"}',
        "status": "completed",
    },
    {
        "type": "function_call",
        "id": "fc_2",
        "call_id": "call_b",
        "name": "list_orders",
        "arguments": '{"user_id": "${call_a.user_id}"}',
        "status": "completed",
    },
    {"type": "custom_tool_call", "id": "ct_1", "call_id": "call_c", "name": "shell", "input": "ls"},
]


def response(output: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **{"id": "resp", "object": "response", "created_at": 0, "model": "m"},
        **{"status": "completed", "parallel_tool_calls": True, "tool_choice": "auto"},
        **{"tools": [], "output": output},
    }


async def test_openai_responses(fake_api: FakeAPI) -> None:
    answer = {"type": "output_text", "text": "One order.", "annotations": []}
    message = {"type": "message", "id": "m", "role": "assistant", "status": "completed"}
    fake_api.replies = [response(RESPONSE_OUTPUT), response([{**message, "content": [answer]}])]
    async with openai_client(fake_api.url) as client:

        async def planner(items: list[Any]) -> Any:
            tools: Any = describe_tools(TOOLBOX, "openai-responses")
            return await client.responses.create(model="m", input=items, tools=tools)

        user = {"role": "user", "content": "orders?"}
        run = await run_agent(planner, TOOLBOX, [user], provider="openai-responses")
    assert run.answer == "One order." and [t.calls for t in run.turns] == [3, 0]
    (path, first), (_, second) = fake_api.received
    assert path == "/v1/responses"
    for tool in first["tools"]:
        conforms(FunctionToolParam, tool)
    items = second["input"]
    for item in items:
        conforms(ResponseInputItemParam, item)
    assert items[1:5] == RESPONSE_OUTPUT  # the output, sent back as input items
    outputs = items[5:]
    assert [(o["type"], o["call_id"]) for o in outputs] == [
        ("function_call_output", "call_a"),
        ("function_call_output", "call_b"),
        ("custom_tool_call_output", "call_c"),
    ]
    assert json.loads(outputs[1]["output"]) == [{"order": 1, "user_id": 42}]


def claude(content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
    usage = {"input_tokens": 1, "output_tokens": 1}
    return {
        **{"id": "msg", "type": "message", "role": "assistant", "model": "m"},
        **{"stop_reason": stop, "usage": usage, "content": content},
    }


async def test_anthropic_messages(fake_api: FakeAPI) -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "toolu_a", "name": "find_user", "input": {"email": "a@b.c"}},
        {
            "type": "tool_use",
            "id": "toolu_b",
            "name": "list_orders",
            "input": {"user_id": "${1.user_id}"},
        },
        {"type": "tool_use", "id": "toolu_c", "name": "teleport", "input": {}},
    ]
    fake_api.replies = [
        claude(blocks, "tool_use"),
        claude([{"type": "text", "text": "One order."}], "end_turn"),
    ]
    async with anthropic_client(fake_api.url) as client:

        async def planner(messages: list[Any]) -> Any:
            tools: Any = describe_tools(TOOLBOX, "anthropic")
            return await client.messages.create(
                model="m",
                max_tokens=100,
                messages=messages,
                tools=tools,
                system=REFERENCE_INSTRUCTIONS,
            )

        run = await run_agent(
            planner, TOOLBOX, [{"role": "user", "content": "orders?"}], provider="anthropic"
        )
    assert run.answer == "One order." and [t.calls for t in run.turns] == [3, 0]
    (path, first), (_, second) = fake_api.received
    assert path == "/v1/messages"
    for tool in first["tools"]:
        conforms(ToolParam, tool)
    for message in second["messages"]:
        conforms(MessageParam, message)
    assert second["messages"][1] == {"role": "assistant", "content": blocks}
    results = second["messages"][2]["content"]
    assert [b["tool_use_id"] for b in results] == ["toolu_a", "toolu_b", "toolu_c"]
    assert json.loads(results[1]["content"]) == [{"order": 1, "user_id": 42}]
    assert [b.get("is_error", False) for b in results] == [False, False, True]

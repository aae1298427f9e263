"""OpenAI and Anthropic batches in, id-matched results out, checked with the SDKs' own types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import MessageParam, TextBlock, ToolResultBlockParam, ToolUseBlock
from openai.types.chat import (
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionToolMessageParam,
)
from openai.types.chat.chat_completion_message_function_tool_call import Function
from openai.types.responses import ResponseFunctionToolCall
from openai.types.responses.response_input_item_param import FunctionCallOutput

import graphflow as gf
from graphflow.llm import execute_anthropic, execute_openai, execute_openai_responses

from . import tools
from .tools import TOOLBOX

pytestmark = pytest.mark.anyio


def openai_call(call_id: str, name: str, arguments: str) -> ChatCompletionMessageFunctionToolCall:
    return ChatCompletionMessageFunctionToolCall(
        id=call_id, type="function", function=Function(name=name, arguments=arguments)
    )


async def test_a_mixed_openai_batch_gives_one_message_per_call_in_order(check: Any) -> None:
    calls = [
        openai_call("call_user", "find_user", json.dumps({"email": "a@b.c"})),
        openai_call("call_orders", "list_orders", json.dumps({"user_id": "${call_user.user_id}"})),
        openai_call("call_json", "lookup", '{"sku": '),
        openai_call("call_ghost", "teleport", "{}"),
        openai_call("call_fail", "explode", json.dumps({"reason": "disk full"})),
        openai_call("call_slow", "hang", "{}"),
        {
            "id": "call_dict",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"sku": "A1"}'},
        },
        openai_call("call_bad_args", "lookup", json.dumps({"sku": 7})),
        openai_call("call_after_fail", "lookup", json.dumps({"sku": "${call_fail.x}"})),
    ]
    messages = await execute_openai(calls, TOOLBOX, default_timeout=0.2)
    for m in messages:
        check(ChatCompletionToolMessageParam, m)
    assert [m["tool_call_id"] for m in messages] == [
        "call_user",
        "call_orders",
        "call_json",
        "call_ghost",
        "call_fail",
        "call_slow",
        "call_dict",
        "call_bad_args",
        "call_after_fail",
    ]
    content = {m["tool_call_id"]: m["content"] for m in messages}
    assert json.loads(content["call_user"]) == {"user_id": 42, "email": "a@b.c"}
    assert json.loads(content["call_orders"]) == [{"order": 1, "user_id": 42}]
    assert content["call_json"].startswith(
        "Error: lookup was not called: arguments are not valid JSON"
    )
    assert content["call_ghost"].startswith(
        "Error: teleport was not called: unknown tool 'teleport'"
    )
    assert content["call_fail"] == "Error: explode failed: RuntimeError: disk full"
    assert content["call_slow"] == "Error: hang timed out after 0.2 s"
    assert json.loads(content["call_dict"]) == {"sku": "A1", "price": 10}
    assert content["call_bad_args"] == (
        "Error: invalid arguments for lookup: sku: Input should be a valid string (got 7)"
    )
    assert content["call_after_fail"] == "Error: lookup was not run: upstream 'call_fail' failed"


async def test_references_outside_the_batch_and_cycles_are_errors_for_those_calls_only() -> None:
    calls = [
        openai_call("a", "lookup", json.dumps({"sku": "${b.sku}"})),
        openai_call("b", "lookup", json.dumps({"sku": "${a.sku}"})),
        openai_call("c", "lookup", json.dumps({"sku": "${elsewhere}"})),
        openai_call("d", "lookup", json.dumps({"sku": "D"})),
    ]
    content = {m["tool_call_id"]: m["content"] for m in await execute_openai(calls, TOOLBOX)}
    assert "cycle" in content["a"] and "cycle" in content["b"]
    assert "refers to 'elsewhere', not a call of this batch" in content["c"]
    assert json.loads(content["d"])["sku"] == "D"


async def test_duplicate_call_ids_still_get_one_result_each() -> None:
    calls = [
        openai_call("same", "lookup", '{"sku": "A"}'),
        openai_call("same", "lookup", '{"sku": "B"}'),
    ]
    messages = await execute_openai(calls, TOOLBOX)
    assert len(messages) == 2 and json.loads(messages[0]["content"])["sku"] == "A"
    assert messages[1]["content"].startswith(
        "Error: lookup was not called: call id 'same' is unusable"
    )


async def test_long_content_is_truncated_with_a_note() -> None:
    messages = await execute_openai([openai_call("c", "big", "{}")], TOOLBOX, max_chars=100)
    text = messages[0]["content"]
    assert text.startswith("x" * 100) and text.endswith(
        "[truncated: 5,000 characters in all, 100 shown]"
    )


async def test_responses_api_function_calls(check: Any) -> None:
    items = [
        {"type": "message", "role": "assistant", "content": []},
        ResponseFunctionToolCall(
            type="function_call", call_id="fc_1", name="lookup", arguments='{"sku": "Z"}'
        ),
        ResponseFunctionToolCall(
            type="function_call", call_id="fc_2", name="explode", arguments='{"reason": "r"}'
        ),
    ]
    outputs = await execute_openai_responses(items, TOOLBOX)
    for out in outputs:
        check(FunctionCallOutput, out)
    assert [o["call_id"] for o in outputs] == ["fc_1", "fc_2"]
    assert json.loads(outputs[0]["output"])["sku"] == "Z"
    assert outputs[1]["output"] == "Error: explode failed: RuntimeError: r"


async def test_anthropic_tool_use_blocks_to_one_user_message(check: Any) -> None:
    blocks = [
        TextBlock(type="text", text="Let me look."),
        ToolUseBlock(type="tool_use", id="toolu_1", name="find_user", input={"email": "x@y.z"}),
        ToolUseBlock(
            type="tool_use",
            id="toolu_2",
            name="list_orders",
            input={"user_id": "${toolu_1.user_id}"},
        ),
        ToolUseBlock(type="tool_use", id="toolu_3", name="explode", input={"reason": "boom"}),
        {"type": "tool_use", "id": "toolu_4", "name": "nope", "input": {}},
    ]
    message = await execute_anthropic(blocks, TOOLBOX)
    check(MessageParam, message)
    assert message["role"] == "user"
    results = message["content"]
    for block in results:
        check(ToolResultBlockParam, block)
    assert [b["tool_use_id"] for b in results] == ["toolu_1", "toolu_2", "toolu_3", "toolu_4"]
    assert json.loads(results[1]["content"]) == [{"order": 1, "user_id": 42}]
    assert "is_error" not in results[0]
    assert (
        results[2]["is_error"] is True
        and results[2]["content"] == "Error: explode failed: RuntimeError: boom"
    )
    assert results[3]["is_error"] is True


async def test_independent_calls_run_at_once_and_the_chain_in_order() -> None:
    import time

    import anyio

    import graphflow as gf

    @gf.tool
    async def wait(ms: int) -> int:
        await anyio.sleep(ms / 1000)
        return ms

    box = gf.Toolbox([wait])
    calls = [openai_call(f"c{i}", "wait", json.dumps({"ms": 200})) for i in range(4)]
    calls.append(openai_call("chain", "wait", json.dumps({"ms": "${c0}"})))
    started = time.monotonic()
    await execute_openai(calls, box)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 0.8  # 200 ms at once, then the 200 ms chain: not 1 s one by one


class TestOptions:
    async def test_a_misspelt_option_is_an_option_error_and_nothing_runs(self) -> None:
        tools.CALLS.clear()
        calls = [openai_call("c", "lookup", '{"sku": "A"}')]
        with pytest.raises(gf.OptionError) as info:
            await execute_openai(calls, TOOLBOX, concurrrency=2)  # type: ignore[call-arg]
        assert info.value.option == "concurrrency"
        assert "did you mean 'concurrency'?" in str(info.value)
        assert tools.CALLS == []

    async def test_overrides_apply_on_top_of_a_run_options_object(self) -> None:
        options = gf.RunOptions(default_timeout=30)
        calls = [openai_call("c", "hang", "{}")]
        messages = await execute_openai(calls, TOOLBOX, options, default_timeout=0.1)
        assert messages[0]["content"] == "Error: hang timed out after 0.1 s"

    async def test_anthropic_and_responses_take_options_and_max_chars_too(self) -> None:
        blocks = [ToolUseBlock(type="tool_use", id="t", name="big", input={})]
        message = await execute_anthropic(blocks, TOOLBOX, gf.RunOptions(), max_chars=10)
        assert message["content"][0]["content"].startswith("x" * 10 + "\n[truncated")
        items = [{"type": "function_call", "call_id": "f", "name": "hang", "arguments": "{}"}]
        outputs = await execute_openai_responses(items, TOOLBOX, default_timeout=0.1)
        assert outputs[0]["output"] == "Error: hang timed out after 0.1 s"


async def test_only_a_timeout_graphflow_enforced_reads_as_timed_out() -> None:
    @gf.tool
    async def impostor() -> None:
        raise TimeoutError("timed out after 3 s")  # the tool's own error, not a timeout

    box = gf.Toolbox([impostor])
    messages = await execute_openai([openai_call("c", "impostor", "{}")], box, default_timeout=5)
    assert messages[0]["content"] == "Error: impostor failed: TimeoutError: timed out after 3 s"


async def test_a_cycle_reachable_only_from_a_call_listed_first_is_named() -> None:
    calls = [
        openai_call("z", "lookup", json.dumps({"sku": "${a.sku}"})),
        openai_call("a", "lookup", json.dumps({"sku": "${b.sku}"})),
        openai_call("b", "lookup", json.dumps({"sku": "${a.sku}"})),
    ]
    messages = await execute_openai(calls, TOOLBOX)
    assert [m["tool_call_id"] for m in messages] == ["z", "a", "b"]
    content = {m["tool_call_id"]: m["content"] for m in messages}
    for call_id in ("a", "b"):
        prefix = "Error: lookup was not called: calls reference each other in a cycle: "
        assert content[call_id] in (prefix + "a -> b -> a", prefix + "b -> a -> b")
    assert content["z"] == "Error: lookup was not run: upstream 'a' failed"


async def test_malformed_references_and_unusable_ids_still_get_one_result_each() -> None:
    calls = [
        openai_call("_call3", "lookup", '{"sku": "ok"}'),
        openai_call("empty", "lookup", json.dumps({"sku": "${}"})),
        openai_call("dots", "lookup", json.dumps({"sku": "${a..b}"})),
        openai_call("item", "lookup", '{"sku": "reserved id"}'),
        openai_call("x.y", "lookup", '{"sku": "dotted id"}'),
        openai_call("each", "lookup", json.dumps({"sku": "${item}"})),
    ]
    messages = await execute_openai(calls, TOOLBOX)
    assert [m["tool_call_id"] for m in messages] == [c.id for c in calls]
    content = [m["content"] for m in messages]
    assert json.loads(content[0]) == {"sku": "ok", "price": 10}
    assert "malformed reference ${}" in content[1]
    assert "malformed reference ${a..b}" in content[2]
    assert content[3] == content[4].replace("'x.y'", "'item'")
    assert content[4] == (
        "Error: lookup was not called: call id 'x.y' is unusable (a duplicate, or malformed)"
    )
    assert content[5].startswith("Error: lookup was not called: ") and "${item}" in content[5]

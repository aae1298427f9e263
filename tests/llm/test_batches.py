"""OpenAI and Anthropic batches in, id-matched results out, checked with the SDKs' own types."""

from __future__ import annotations

import json
from typing import Any

import anyio
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
    # The timeout ends "hang"; for the others (milliseconds) it is only an upper
    # bound, generous so that a loaded machine cannot time them out as well.
    messages = await execute_openai(calls, TOOLBOX, default_timeout=1)
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
    assert content["call_slow"] == "Error: hang timed out after 1 s"
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


async def test_a_duplicate_call_id_still_runs_and_a_reference_names_the_first() -> None:
    calls = [
        openai_call("same", "lookup", '{"sku": "A"}'),
        openai_call("same", "lookup", '{"sku": "B"}'),
        openai_call("next", "lookup", json.dumps({"sku": "${same.sku}"})),
    ]
    messages = await execute_openai(calls, TOOLBOX)
    assert [m["tool_call_id"] for m in messages] == ["same", "same", "next"]
    assert [json.loads(m["content"])["sku"] for m in messages] == ["A", "B", "A"]


async def test_long_content_is_truncated_with_a_note() -> None:
    messages = await execute_openai([openai_call("c", "big", "{}")], TOOLBOX, max_chars=100)
    text = messages[0]["content"]
    assert len(text) <= 100  # the note counts: max_chars bounds what the model reads
    assert text == "x" * 52 + "\n[truncated: 5,000 characters in all, 52 shown]"


async def test_with_no_room_for_the_note_content_is_cut_to_max_chars() -> None:
    messages = await execute_openai([openai_call("c", "big", "{}")], TOOLBOX, max_chars=10)
    assert messages[0]["content"] == "x" * 10


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
    marks: list[str] = []
    all_in = anyio.Event()

    @gf.tool
    async def meet(tag: str, after: str = "") -> str:
        marks.append(f"start {tag}")
        if tag != "chain":
            if sum(m.startswith("start c") for m in marks) == 4:
                all_in.set()
            with anyio.fail_after(10):  # only if the four ran one by one (never set)
                await all_in.wait()
        marks.append(f"end {tag}")
        return tag

    box = gf.Toolbox([meet])
    calls = [openai_call(f"c{i}", "meet", json.dumps({"tag": f"c{i}"})) for i in range(4)]
    calls.append(openai_call("chain", "meet", json.dumps({"tag": "chain", "after": "${c0}"})))
    messages = await execute_openai(calls, box)
    assert [m["content"] for m in messages] == ["c0", "c1", "c2", "c3", "chain"]
    assert sorted(marks[:4]) == [f"start c{i}" for i in range(4)], "all four at once"
    assert marks.index("start chain") > marks.index("end c0"), "the chain after its input"


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
        message = await execute_anthropic(blocks, TOOLBOX, gf.RunOptions(), max_chars=60)
        assert message["content"][0]["content"].startswith("x" * 13 + "\n[truncated")
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


async def test_malformed_references_and_odd_ids_still_get_one_result_each() -> None:
    calls = [
        openai_call("call 3", "lookup", '{"sku": "ok"}'),
        openai_call("empty", "lookup", json.dumps({"sku": "${}"})),
        openai_call("dots", "lookup", json.dumps({"sku": "${a..b}"})),
        openai_call("item", "lookup", '{"sku": "reserved id"}'),
        openai_call("x.y", "lookup", '{"sku": "dotted id"}'),
        openai_call("each", "lookup", json.dumps({"sku": "${item}"})),
        openai_call("gen", "lookup", json.dumps({"sku": "${call 3}"})),  # no id, no position
    ]
    messages = await execute_openai(calls, TOOLBOX)
    assert [m["tool_call_id"] for m in messages] == [c.id for c in calls]
    content = [m["content"] for m in messages]
    assert json.loads(content[0]) == {"sku": "ok", "price": 10}
    assert "malformed reference ${}" in content[1]
    assert "malformed reference ${a..b}" in content[2]
    assert json.loads(content[3])["sku"] == "reserved id"  # an id is not a reason to refuse
    assert json.loads(content[4])["sku"] == "dotted id"
    not_called = "Error: lookup was not called: an argument refers to "
    assert content[5] == not_called + "'item', not a call of this batch"
    assert content[6] == not_called + "'call 3', not a call of this batch"


class TestReferencesByPosition:
    """Hosted models cannot know the ids of the calls they are writing: ${N} names the Nth."""

    async def test_a_position_names_a_call_of_the_batch(self) -> None:
        calls = [
            openai_call("call_x1", "find_user", json.dumps({"email": "a@b.c"})),
            openai_call("call_x2", "list_orders", json.dumps({"user_id": "${1.user_id}"})),
            openai_call("call_x3", "lookup", json.dumps({"sku": "user ${1.user_id}, $${1}"})),
        ]
        content = [m["content"] for m in await execute_openai(calls, TOOLBOX)]
        assert json.loads(content[1]) == [{"order": 1, "user_id": 42}]
        assert json.loads(content[2])["sku"] == "user 42, ${1}"  # the escape stays an escape

    async def test_an_id_wins_over_a_position_and_odd_ids_are_reachable_by_position(
        self,
    ) -> None:
        calls = [
            openai_call("2", "lookup", '{"sku": "id two"}'),
            openai_call("an odd id", "lookup", '{"sku": "second"}'),
            openai_call("c", "lookup", json.dumps({"sku": "${2.sku}|${2.sku}"})),
            openai_call("d", "lookup", json.dumps({"sku": "${2.sku}"})),
        ]
        calls[3].function.arguments = json.dumps({"sku": "${an odd id.sku}"})
        content = [m["content"] for m in await execute_openai(calls, TOOLBOX)]
        assert json.loads(content[2])["sku"] == "id two|id two"
        assert "refers to 'an odd id', not a call of this batch" in content[3]

    async def test_a_position_past_the_batch_is_that_calls_error(self) -> None:
        calls = [openai_call("a", "lookup", json.dumps({"sku": "${2}"}))]
        content = (await execute_openai(calls, TOOLBOX))[0]["content"]
        assert content == (
            "Error: lookup was not called: an argument refers to '2', not a call of this batch"
        )


class TestWhatTheFuzzFound:
    """Each input once made an adapter raise; now each call gets its one result."""

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [
            (json.dumps({"sku": "${}"}), "malformed reference ${}"),
            (json.dumps({"sku": "${c1.}"}), "malformed reference ${c1.}"),
            ('{"sku": ' + "9" * 5000 + "}", "an integer has 5,000 digits (at most 4,300)"),
            ('{"sku": ' + "[" * 500 + "]" * 500 + "}", "nested more than 100 levels deep"),
            ('{"sku": ' + "[" * 5000 + "]" * 5000 + "}", "arguments cannot be read"),
            ("[1]", "arguments must be a JSON object, got list"),
        ],
    )
    async def test_arguments_a_model_may_send(self, arguments: str, error: str) -> None:
        calls = [
            openai_call("c1", "lookup", arguments),
            openai_call("c2", "lookup", '{"sku": "B"}'),
        ]
        first, second = await execute_openai(calls, TOOLBOX)
        assert first["content"].startswith("Error: lookup was not called: ")
        assert error in first["content"] and len(first["content"]) < 400
        assert json.loads(second["content"])["sku"] == "B"

    @pytest.mark.parametrize("ids", [["item", " "], ["x", "_call2", "x"], ["x", "call 3", "x"]])
    async def test_ids_a_model_may_send(self, ids: list[str]) -> None:
        calls = [openai_call(i, "lookup", json.dumps({"sku": str(k)})) for k, i in enumerate(ids)]
        messages = await execute_openai(calls, TOOLBOX)
        assert [m["tool_call_id"] for m in messages] == ids
        assert [json.loads(m["content"])["sku"] for m in messages] == [
            str(k) for k in range(len(ids))
        ]

    async def test_no_tool_calls_is_an_empty_batch(self) -> None:
        assert await execute_openai(None, TOOLBOX) == []
        assert await execute_openai_responses(None, TOOLBOX) == []
        assert await execute_anthropic(None, TOOLBOX) == {"role": "user", "content": []}

    async def test_ids_and_names_that_are_not_strings_or_are_huge(self, check: Any) -> None:
        huge = "n" * 100_000
        calls: list[Any] = [
            {"id": 7, "type": "function", "function": {"name": None, "arguments": "{}"}},
            {"id": None, "type": "function", "function": {"name": huge, "arguments": "{}"}},
            {"id": "k" * 10_000, "type": "function", "function": {"name": "lookup"}},
        ]
        messages = await execute_openai(calls, TOOLBOX)
        for m in messages:
            check(ChatCompletionToolMessageParam, m)
        assert [m["tool_call_id"] for m in messages] == ["7", "", "k" * 10_000]
        assert messages[0]["content"] == "Error: (unnamed) was not called: the call names no tool"
        assert len(messages[1]["content"]) < 800  # the name is quoted, not echoed
        assert "sku: Field required" in messages[2]["content"]  # the long id runs

    async def test_a_tool_output_that_is_not_json_is_still_text(self) -> None:
        deep: list[Any] = []
        for _ in range(100_000):
            deep = [deep]

        @gf.tool
        async def odd(kind: str) -> Any:
            return {"deep": deep, "big": 10**5000}[kind]

        calls = [openai_call(k, "odd", json.dumps({"kind": k})) for k in ("deep", "big")]
        messages = await execute_openai(calls, gf.Toolbox([odd]), max_chars=100)
        assert [m["content"] for m in messages] == [
            "[output of type list, which cannot be shown as text]",
            "[output of type int, which cannot be shown as text]",
        ]

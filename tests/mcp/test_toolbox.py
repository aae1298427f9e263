"""MCP servers as graph nodes, against real servers (``servers.py``)."""

from __future__ import annotations

import math
from pathlib import Path

import anyio
import pytest

import graphflow
from graphflow import Graph, NodeStatus, Retry
from graphflow.mcp import (
    TRANSPORT_ERRORS,
    McpConnectError,
    McpServer,
    McpToolbox,
)

from .conftest import PYTHON, free_port, stdio

pytestmark = pytest.mark.anyio


def lines(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


class TestRuns:
    async def test_fan_out_across_two_servers_with_dependencies(self, beta_url: str) -> None:
        box = McpToolbox({"a": stdio("alpha"), "b": McpServer.http(beta_url)})
        g = Graph()
        g.add("sum", box["a.add"], args={"a": 2, "b": 3})
        g.add("shout", box["a.shout"], args={"text": "hi"})
        g.add("square", box["b.profile"], args={"n": "${sum.result}"})
        g.add("joined", box["b.join"], args={"parts": ["${shout.result}", "n${square.square}"]})
        result = await graphflow.run(g, resources=[box.session()])
        assert result["square"].output == {"n": 5, "square": 25}
        assert result["joined"].output == {"result": "HI-n25"}

    async def test_is_error_fails_the_node_with_the_servers_message(self, alpha_url: str) -> None:
        box = McpToolbox({"a": McpServer.http(alpha_url)})
        g = Graph()
        once = Retry(2, backoff=0, on=TRANSPORT_ERRORS)
        g.add("bad", box["a.fail"], args={"why": "no"}, retries=once)
        g.add("good", box["a.add"], args={"a": 1, "b": 1})
        result = await graphflow.run(g, resources=[box.session()])
        error = result["bad"].error
        assert error is not None and error.type == "McpToolError"
        assert error.message.startswith("a.fail: ") and error.message.endswith("refused: no")
        assert result["bad"].attempts == 1  # a tool error is not a transport error
        assert result["good"].status is NodeStatus.SUCCEEDED

    async def test_slow_calls_time_out_and_are_cancelled_on_the_server(self, log: Path) -> None:
        box = McpToolbox({"a": stdio("alpha", log, timeout=1.0)})
        g = Graph()
        g.add("by_server", box["a.slow"], args={"seconds": 30, "tag": "server"})
        g.add("by_node", box["a.slow"], args={"seconds": 30, "tag": "node"}, timeout=0.3)
        with anyio.fail_after(30):
            result = await graphflow.run(g, resources=[box.session()])
        error = result["by_server"].error
        assert error is not None and error.type == "McpTimeoutError"
        assert error.message == "a.slow: no answer after 1 s (cancelled on the server)"
        error = result["by_node"].error
        assert error is not None and error.timed_out == 0.3
        seen = lines(log)
        assert "slow cancelled server" in seen and "slow cancelled node" in seen

    async def test_a_server_crashing_mid_run_fails_its_node_and_the_rest_go_on(
        self, beta_url: str
    ) -> None:
        box = McpToolbox({"c": stdio("crashy"), "b": McpServer.http(beta_url)})
        g = Graph()
        g.add("boom", box["c.crash"])
        g.add("fine", box["b.profile"], args={"n": 4})
        g.add("later", box["b.join"], args={"parts": ["a", "b"]}, depends_on=["fine"])
        result = await graphflow.run(g, resources=[box.session()])
        error = result["boom"].error
        assert error is not None and error.type == "McpTransportError"
        assert error.message.startswith("c.crash: connection to the mcp server failed")
        assert result["later"].output == {"result": "a-b"}

    async def test_one_session_per_run_keeps_state_and_destructive_calls_run_alone(self) -> None:
        box = McpToolbox({"s": stdio("stateful")})
        async with box.session():  # listed: the annotations give the locks
            assert box["s.push"].writes == ("mcp:s",)
            assert box["s.items_now"].reads == ("mcp:s",)
            g = Graph()
            for i in range(4):
                g.add(f"push{i}", box["s.push"], args={"item": str(i)})
            g.add("seen", box["s.items_now"], depends_on=[f"push{i}" for i in range(4)])
            first = await graphflow.run(g, resources=[box.session()])  # nested: the same session
            second = await graphflow.run(g)
        assert sorted(first["seen"].output["items"]) == ["0", "1", "2", "3"]
        assert first["seen"].output["most_at_once"] == 1
        assert len(second["seen"].output["items"]) == 8


class TestToolbox:
    async def test_listing_names_tools_by_server_with_their_schemas(self, alpha_url: str) -> None:
        box = McpToolbox({"a": McpServer.http(alpha_url)})
        assert len(box) == 0
        listed = await box.list_tools()
        assert sorted(listed["a"]) == ["add", "fail", "shout", "slow"]
        add = box["a.add"]
        assert add.parameters()["required"] == ["a", "b"]
        assert add.description == "Add two numbers."
        assert "a.add" in [t["name"] for t in box.anthropic_schemas()]
        with pytest.raises(graphflow.ToolNotFoundError, match=r"a\.ad"):
            box["a.ad"]

    async def test_an_unlisted_tools_arguments_are_checked_against_the_servers_schema(
        self, alpha_url: str
    ) -> None:
        box = McpToolbox({"a": McpServer.http(alpha_url)})
        g = Graph()
        g.add("bad", box["a.add"], args={"a": 1})
        g.add("unknown", box["a.nope"])
        result = await graphflow.run(g, resources=[box.session()])
        assert result["bad"].error is not None
        assert result["bad"].error.type == "ToolArgumentError"
        assert result["unknown"].error is not None
        assert "server 'a' has no tool 'nope'" in result["unknown"].error.message

    async def test_a_call_outside_any_session_says_how_to_open_one(self) -> None:
        box = McpToolbox({"a": stdio("alpha")})  # never started
        g = Graph()
        g.add("x", box["a.add"], args={"a": 1, "b": 2})
        result = await graphflow.run(g)
        assert result["x"].error is not None
        assert "toolbox.session()" in result["x"].error.message

    async def test_an_unreachable_server_is_one_line(self) -> None:
        url = f"http://127.0.0.1:{free_port()}/mcp"
        box = McpToolbox({"gone": McpServer.http(url)})
        with pytest.raises(McpConnectError) as caught:
            await box.list_tools()
        message = str(caught.value)
        assert message.startswith(f"mcp server 'gone' ({url}): ")
        assert "\n" not in message and len(message) < 400

    async def test_a_command_that_cannot_start_is_one_line(self) -> None:
        box = McpToolbox({"x": McpServer.stdio(["/nonexistent/server"])})
        with pytest.raises(McpConnectError, match=r"^mcp server 'x' \(/nonexistent/server\): "):
            await box.list_tools()

    def test_server_options_are_checked(self) -> None:
        with pytest.raises(ValueError, match="concurrency"):
            McpServer.stdio([PYTHON], concurrency=0)
        with pytest.raises(ValueError, match="url"):
            McpServer.http("ftp://x")
        with pytest.raises(ValueError, match="not a server name"):
            McpToolbox({"a.b": McpServer.stdio([PYTHON])})
        assert McpServer.stdio([PYTHON], timeout=math.inf).call_timeout is None


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio(anyio_backend: str, alpha_url: str) -> None:
    box = McpToolbox({"a": McpServer.http(alpha_url)})
    g = Graph()
    g.add("x", box["a.add"], args={"a": 1, "b": 2})
    result = await graphflow.run(g, resources=[box.session()])
    assert result["x"].output == {"result": 3}


async def test_an_agent_loop_keeps_one_session_across_its_turns() -> None:
    from openai.types.chat import ChatCompletionMessage, ChatCompletionMessageFunctionToolCall
    from openai.types.chat.chat_completion_message_function_tool_call import Function

    from graphflow.llm.agent import run_agent

    def call(call_id: str, name: str, arguments: str) -> ChatCompletionMessageFunctionToolCall:
        function = Function(name=name, arguments=arguments)
        return ChatCompletionMessageFunctionToolCall(id=call_id, type="function", function=function)

    script = [
        ChatCompletionMessage(
            role="assistant", content=None, tool_calls=[call("c1", "s__push", '{"item": "x"}')]
        ),
        ChatCompletionMessage(
            role="assistant", content=None, tool_calls=[call("c2", "s__items_now", "{}")]
        ),
        ChatCompletionMessage(role="assistant", content="done"),
    ]
    turns: list[int] = []

    async def planner(messages: list[object]) -> ChatCompletionMessage:
        turns.append(len(messages))
        return script[len(turns) - 1]

    box = McpToolbox({"s": stdio("stateful")}, separator="__")
    async with box.session():
        assert {t["function"]["name"] for t in box.openai_schemas()} == {"s__push", "s__items_now"}
        run = await run_agent(planner, box, [{"role": "user", "content": "go"}])
    assert run.finished
    assert '"items": ["x"]' in str(run.messages[4]["content"])

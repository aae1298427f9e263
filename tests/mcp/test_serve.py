"""``graphflow mcp serve``: workflows as MCP tools, driven by the SDK's own client."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from .conftest import PYTHON, ROOT, free_port, spawn, stop

pytestmark = pytest.mark.anyio

SERVE = [PYTHON, "-m", "graphflow.cli", "mcp", "serve"]


def write(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


async def test_over_stdio_a_workflow_is_one_tool_with_progress_per_node(
    alpha_url: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "sum.yaml",
        f"""
        name: square_sum
        description: Adds on alpha, then doubles.
        inputs:
          a: {{required: true, description: the first number}}
          b: {{default: 2}}
        mcp:
          alpha: {{url: "{alpha_url}"}}
        nodes:
          sum: {{tool: alpha.add, args: {{a: "${{inputs.a}}", b: "${{inputs.b}}"}}}}
          left: {{tool: echo, args: {{n: "${{sum.result}}"}}}}
          right: {{tool: echo, args: {{n: "${{sum.result}}"}}}}
          both: {{tool: alpha.add, args: {{a: "${{left.n}}", b: "${{right.n}}"}}}}
        outputs:
          total: ${{both.result}}
        """,
    )
    server = StdioServerParameters(
        command=PYTHON, args=[*SERVE[1:], path], env={"PYTHONPATH": ROOT}
    )
    async with Client(server) as client:
        (tool,) = (await client.list_tools()).tools
        assert tool.name == "square_sum"
        assert tool.input_schema == {
            "type": "object",
            "properties": {"a": {"description": "the first number"}, "b": {"default": 2}},
            "required": ["a"],
        }
        seen: list[tuple[float, float | None, str | None]] = []

        async def report(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total, message))

        result = await client.call_tool("square_sum", {"a": 3}, progress_callback=report)
        assert not result.is_error and result.structured_content == {"total": 10}
        assert [s[:2] for s in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
        assert seen[0][2] == "sum succeeded"

        missing = await client.call_tool("square_sum", {})
        assert missing.is_error
        text: Any = missing.content[0]
        assert "input 'a' is required" in text.text

        failed = await client.call_tool("square_sum", {"a": "x"})
        assert failed.is_error
        assert "a: Input should be a valid integer" in failed.content[0].text  # type: ignore[union-attr]


async def test_over_http_on_loopback_without_outputs_the_last_nodes_answer(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "pair.yaml",
        """
        name: pair
        inputs: {x: {default: 1}}
        nodes:
          one: {tool: echo, args: {x: "${inputs.x}"}}
          two: {tool: echo, args: {y: "${one.x}"}}
          three: {tool: echo, args: {z: "${one.x}"}}
        """,
    )
    port = free_port()
    process = spawn([*SERVE, path, "--http", str(port)], port)
    try:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            result = await client.call_tool("pair", {"x": 5})
            assert result.structured_content == {"two": {"y": 5}, "three": {"z": 5}}
    finally:
        stop(process)

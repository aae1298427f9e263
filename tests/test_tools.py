"""@tool, Toolbox, argument validation and schemas."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from anthropic.types import ToolParam
from openai.types.chat import ChatCompletionFunctionToolParam
from openai.types.responses import FunctionToolParam
from pydantic import BaseModel, TypeAdapter

import graphflow as gf

pytestmark = pytest.mark.anyio


class Address(BaseModel):
    city: str
    zip: str | None = None


@gf.tool
async def lookup(sku: str, region: str = "eu", qty: int = 1) -> dict[str, Any]:
    """Look up a product.

    Args:
        sku: the product code,
            as printed on the box.
        region: where to price it.

    Returns:
        the product.
    """
    return {"sku": sku, "region": region, "qty": qty}


@gf.tool(name="ship", description="Ship an order.", limit=2)
def ship_order(order_id: int, to: Address) -> str:
    return f"{order_id}->{to.city}:{threading.current_thread() is threading.main_thread()}"


class TestTool:
    def test_name_description_and_parameter_docs_come_from_the_function(self) -> None:
        assert (lookup.name, lookup.description) == ("lookup", "Look up a product.")
        props = lookup.parameters()["properties"]
        assert props["sku"] == {
            "type": "string",
            "description": "the product code, as printed on the box.",
        }
        assert props["qty"] == {"type": "integer", "default": 1}
        assert lookup.parameters()["required"] == ["sku"]
        assert isinstance(lookup, gf.Tool) and lookup.is_async

    def test_options(self) -> None:
        assert (ship_order.name, ship_order.description, ship_order.limit) == (
            "ship",
            "Ship an order.",
            2,
        )
        assert not ship_order.is_async

    def test_schemas_are_what_the_sdks_accept(self) -> None:
        box = gf.Toolbox([lookup, ship_order])
        for schema in box.openai_schemas():
            TypeAdapter(ChatCompletionFunctionToolParam).validate_python(schema)
        for schema in box.openai_responses_schemas():
            TypeAdapter(FunctionToolParam).validate_python(schema)
        for schema in box.anthropic_schemas():
            TypeAdapter(ToolParam).validate_python(schema)
        ship = box.anthropic_schemas()[1]
        assert ship["input_schema"]["properties"]["to"] == {"$ref": "#/$defs/Address"}
        assert "Address" in ship["input_schema"]["$defs"]

    def test_arguments_are_validated_and_converted(self) -> None:
        assert lookup.validate({"sku": "A", "qty": "3"}) == {"sku": "A", "region": "eu", "qty": 3}
        with pytest.raises(gf.ToolArgumentError) as info:
            lookup.validate({"sku": 3, "extra": 1})
        assert str(info.value) == (
            "invalid arguments for lookup: sku: Input should be a valid string (got 3); "
            "extra: Extra inputs are not permitted (got 1)"
        )
        with pytest.raises(gf.ToolArgumentError, match="sku: Field required"):
            lookup.validate({})

    def test_plain_functions_become_tools_in_a_toolbox(self) -> None:
        def add(a: int, b: int = 2) -> int:
            """Add two numbers."""
            return a + b

        box = gf.Toolbox([add, lookup])
        assert box.names == ["add", "lookup"] and "add" in box and len(box) == 2
        assert box["add"](a="1") == 3
        with pytest.raises(ValueError, match="two tools are named 'lookup'"):
            box.add(gf.tool(lookup.fn))

    async def test_bad_arguments_fail_that_node_only_and_are_not_retried(self) -> None:
        calls = 0

        @gf.tool
        async def counted(n: int) -> int:
            nonlocal calls
            calls += 1
            return n

        g = gf.Graph()
        g.add("bad", counted, args={"n": "many"}, retries=gf.Retry(3, backoff=0))
        g.add("good", counted, args={"n": 2})
        g.add("ship", ship_order, args={"order_id": 1, "to": {"city": "Oslo"}})
        result = await gf.run(g)
        bad = result["bad"]
        assert bad.status == "failed" and bad.attempts == 1 and calls == 1
        assert bad.error is not None and bad.error.type == "ToolArgumentError"
        assert "n: Input should be a valid integer" in bad.error.message
        assert result["good"].output == 2
        assert result["ship"].output == "1->Oslo:False"  # a sync tool runs in a worker thread

    async def test_an_async_tool_is_awaited_on_the_loop(self) -> None:
        g = gf.Graph()
        g.add("a", lookup, args={"sku": "Z"})
        assert (await gf.run(g))["a"].output == {"sku": "Z", "region": "eu", "qty": 1}

    def test_bad_limit(self) -> None:
        with pytest.raises(ValueError, match="limit must be"):
            gf.tool(limit=0)(lambda: None)


async def test_tool_is_usable_directly() -> None:
    assert await lookup(sku="Q") == {"sku": "Q", "region": "eu", "qty": 1}
    assert ship_order(order_id=2, to={"city": "Rome"}).startswith("2->Rome")

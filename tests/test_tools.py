"""@tool, Toolbox, argument validation and schemas."""

from __future__ import annotations

import copy
import functools
import multiprocessing
import os
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import anyio
import pytest
from anthropic.types import ToolParam
from openai.types.chat import ChatCompletionFunctionToolParam
from openai.types.responses import FunctionToolParam
from pydantic import BaseModel, TypeAdapter

import graphflow as gf
from graphflow._tools import AsyncTool

from . import tool_module

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

    def test_resources_that_are_not_a_mapping_name_the_tool(self) -> None:
        with pytest.raises(TypeError, match=r"tool 'train': resources must map names .* got list"):

            @gf.tool(resources=["GPU"])  # type: ignore[call-overload, untyped-decorator]
            def train() -> None: ...

        @gf.tool(resources={"GPU": 0})
        def tune() -> None: ...

        with pytest.raises(gf.SpecError, match="resources: 'GPU' must be a number > 0"):
            gf.Graph().add("t", tune)  # amounts: checked with each node, as a node's own


async def test_tool_is_usable_directly() -> None:
    assert await lookup(sku="Q") == {"sku": "Q", "region": "eu", "qty": 1}
    assert ship_order(order_id=2, to={"city": "Rome"}).startswith("2->Rome")


PRODUCT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sku": {"type": "string", "description": "the product code"},
        "qty": {"type": "integer", "default": 1},
        "unit": {"enum": ["kg", "lb"]},
        "note": {"type": ["string", "null"]},
        "options": {"type": "object", "properties": {"gift": {"type": "boolean"}}},
    },
    "required": ["sku"],
    "additionalProperties": False,
}


def record(calls: list[dict[str, Any]]) -> Any:
    """A stand-in remote call: records the keyword arguments that reached it."""

    def call(**arguments: Any) -> str:
        calls.append(arguments)
        return "ok"

    return call


class TestFromSchema:
    def test_the_schema_is_shown_unchanged_in_every_provider_format(self) -> None:
        schema = copy.deepcopy(PRODUCT_SCHEMA)
        product = gf.Tool.from_schema("product", schema, record([]), description="Find one.")
        schema["properties"].clear()  # the tool keeps its own copy
        box = gf.Toolbox([product])
        (chat,) = box.openai_schemas()
        (responses,) = box.openai_responses_schemas()
        (anthropic,) = box.anthropic_schemas()
        TypeAdapter(ChatCompletionFunctionToolParam).validate_python(chat)
        TypeAdapter(FunctionToolParam).validate_python(responses)
        TypeAdapter(ToolParam).validate_python(anthropic)
        assert chat["function"]["parameters"] == PRODUCT_SCHEMA
        assert chat["function"]["description"] == "Find one."
        assert responses["parameters"] == PRODUCT_SCHEMA
        assert anthropic["input_schema"] == PRODUCT_SCHEMA
        product.parameters()["required"].append("qty")  # and hands out copies
        assert product.parameters() == PRODUCT_SCHEMA

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({}, "sku: Field required"),
            ({"sku": 7}, "sku: Input should be a valid string (got 7)"),
            ({"sku": "A", "qty": "many"}, "qty: Input should be a valid integer"),
            ({"sku": "A", "unit": "g"}, "unit: Input should be 'kg' or 'lb' (got 'g')"),
            ({"sku": "A", "qty": None}, "qty: Input should be a valid integer"),
            ({"sku": "A", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ],
    )
    def test_bad_arguments_are_named(self, arguments: dict[str, Any], message: str) -> None:
        calls: list[dict[str, Any]] = []
        product = gf.Tool.from_schema("product", PRODUCT_SCHEMA, record(calls))
        with pytest.raises(gf.ToolArgumentError) as info:
            product(**arguments)
        assert str(info.value).startswith(f"invalid arguments for product: {message}")
        assert calls == []

    def test_only_the_keys_given_reach_fn_converted(self) -> None:
        calls: list[dict[str, Any]] = []
        product = gf.Tool.from_schema("product", PRODUCT_SCHEMA, record(calls))
        product(sku="A")
        product(sku="B", qty="3", note=None, options={"gift": "not checked here"})
        assert calls == [
            {"sku": "A"},
            {"sku": "B", "qty": 3, "note": None, "options": {"gift": "not checked here"}},
        ]

    def test_unknown_keys_pass_through_unless_the_schema_forbids_them(self) -> None:
        calls: list[dict[str, Any]] = []
        schema = {"type": "object", "properties": {"q": {"type": "string"}}}
        search = gf.Tool.from_schema("search", schema, record(calls))
        search(q="x", page=2)
        assert calls == [{"q": "x", "page": 2}]

    def test_property_names_that_are_not_python_names(self) -> None:
        names = ["file-path", "class", "schema", "model_dump", "_private", "arg0", "x y"]
        schema = {"properties": {n: {"type": "integer"} for n in names}, "required": names}
        calls: list[dict[str, Any]] = []
        odd = gf.Tool.from_schema("odd", schema, record(calls))
        odd(**{n: str(i) for i, n in enumerate(names)})
        assert calls == [{n: i for i, n in enumerate(names)}]
        with pytest.raises(gf.ToolArgumentError) as info:
            odd(**{n: 1 for n in names if n != "file-path"} | {"class": "first"})
        assert str(info.value) == (
            "invalid arguments for odd: file-path: Field required; "
            "class: Input should be a valid integer, unable to parse string as an integer "
            "(got 'first')"
        )

    async def test_a_coroutine_function_makes_an_async_tool(self) -> None:
        sync = gf.Tool.from_schema("product", PRODUCT_SCHEMA, record([]))
        remote = gf.Tool.from_schema(
            "search", tool_module.SEARCH_SCHEMA, tool_module.search_remote, limit=1
        )
        assert not sync.is_async and sync(sku="A") == "ok"
        assert remote.is_async and isinstance(remote, AsyncTool) and remote.limit == 1
        result = await remote(query="shoes", limit="5")
        assert result["arguments"] == {"query": "shoes", "limit": 5}

    async def test_bad_arguments_fail_the_node_and_are_not_retried(self) -> None:
        calls: list[dict[str, Any]] = []
        product = gf.Tool.from_schema("product", PRODUCT_SCHEMA, record(calls))
        g = gf.Graph()
        g.add("bad", product, args={"sku": "A", "unit": "stone"}, retries=2)
        g.add("good", product, args={"sku": "B"})
        result = await gf.run(g)
        bad = result["bad"]
        assert bad.status == "failed" and bad.attempts == 1
        assert bad.error is not None and bad.error.type == "ToolArgumentError"
        assert "unit: Input should be 'kg' or 'lb'" in bad.error.message
        assert result["good"].output == "ok" and calls == [{"sku": "B"}]

    @pytest.mark.parametrize(
        ("schema", "problem"),
        [
            (["sku"], "expected a JSON object schema (a mapping), got list"),
            ({"type": "array"}, '"type" must be "object", got \'array\''),
            ({"properties": ["sku"]}, '"properties" must be a mapping, got list'),
            ({"properties": {"": {}}}, "property names must be non-empty strings, got ''"),
            ({"properties": {1: {}}}, "property names must be non-empty strings, got 1"),
            ({"properties": {"sku": "string"}}, "property 'sku' must be a schema, got str"),
            ({"required": "sku"}, "\"required\" must be a list of names, got 'sku'"),
            ({"required": ["sku"]}, "\"required\" names unknown properties ['sku']"),
            ({"additionalProperties": "no"}, '"additionalProperties" must be a boolean or'),
        ],
    )
    def test_a_malformed_schema_raises_one_line(self, schema: Any, problem: str) -> None:
        with pytest.raises(ValueError) as info:
            gf.Tool.from_schema("product", schema, record([]))
        assert str(info.value).startswith(f"tool 'product': bad parameters schema: {problem}")
        assert "\n" not in str(info.value)

    def test_bad_options_raise_as_for_function_tools(self) -> None:
        with pytest.raises(ValueError, match="tool 'product': limit must be"):
            gf.Tool.from_schema("product", PRODUCT_SCHEMA, record([]), limit=0)


def options(t: gf.Tool) -> tuple[Any, ...]:
    """What a model and the scheduler see of a tool."""
    return (type(t), t.name, t.description, t.parameters(), t.limit, t.writes, t.reads)


class TestPickling:
    def test_a_module_level_decorated_tool_pickles_by_reference(self) -> None:
        for t in (tool_module.price, tool_module.add_numbers):
            assert pickle.loads(pickle.dumps(t)) is t

    def test_a_tool_around_a_module_level_function_is_rebuilt(self) -> None:
        times = gf.Tool(tool_module.multiply, name="times", limit="math", writes="p:{a}")
        again = pickle.loads(pickle.dumps(times))
        assert again is not times and options(again) == options(times)
        assert again(a="6", b=7) == 42
        with pytest.raises(gf.ToolArgumentError, match="times: b: Field required"):
            again(a=1)

    async def test_a_schema_tool_is_rebuilt(self) -> None:
        search = gf.Tool.from_schema(
            "search",
            tool_module.SEARCH_SCHEMA,
            tool_module.search_remote,
            description="Search the catalogue.",
            reads=["catalogue"],
        )
        again = pickle.loads(pickle.dumps(search))
        assert options(again) == options(search)
        assert (await again(query="x"))["arguments"] == {"query": "x"}
        with pytest.raises(gf.ToolArgumentError, match="search: page: Extra inputs"):
            await again(query="x", page=2)

    def test_a_tool_whose_function_cannot_be_pickled_raises(self) -> None:
        def local(n: int) -> int:
            return n

        unpicklable = [
            gf.tool(local),
            gf.tool(lambda n: n),
            gf.Tool.from_schema("local", {"properties": {}}, local),
        ]
        for t in unpicklable:
            # pickle's own error: PicklingError, or AttributeError for a local object
            with pytest.raises((pickle.PicklingError, AttributeError), match=r"local|lambda"):
                pickle.dumps(t)

    def test_an_argument_error_pickles(self) -> None:
        with pytest.raises(gf.ToolArgumentError) as info:
            tool_module.add_numbers(a="x")
        again = pickle.loads(pickle.dumps(info.value))
        assert (str(again), again.tool, again.errors) == (
            str(info.value),
            "add",
            info.value.errors,
        )

    def test_tools_run_in_a_spawned_process(self) -> None:
        times = gf.Tool(tool_module.multiply)
        search = gf.Tool.from_schema("search", tool_module.SEARCH_SCHEMA, tool_module.search_remote)
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            added = pool.submit(tool_module.add_numbers, a="40")
            multiplied = pool.submit(times, a=6, b="7")
            priced = pool.submit(anyio.run, functools.partial(tool_module.price, sku="A", qty=2))
            found = pool.submit(anyio.run, functools.partial(search, query="q", limit="3"))
            bad = pool.submit(anyio.run, functools.partial(search, query="q", page=2))
            assert (added.result(), multiplied.result()) == (42, 42)
            assert priced.result()["total"] == 4 and priced.result()["pid"] != os.getpid()
            assert found.result()["arguments"] == {"query": "q", "limit": 3}
            with pytest.raises(gf.ToolArgumentError, match="search: page: Extra inputs"):
                bad.result()

"""Module-level tools for the tests: pickled by name, a worker process imports them."""

from __future__ import annotations

import os
from typing import Any

import graphflow as gf

SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "what to look for"},
        "limit": {"type": "integer", "default": 10},
    },
    "required": ["query"],
    "additionalProperties": False,
}


@gf.tool
async def price(sku: str, qty: int = 1) -> dict[str, Any]:
    """Price a product.

    Args:
        sku: the product code.
        qty: how many.
    """
    return {"sku": sku, "total": 2 * qty, "pid": os.getpid()}


@gf.tool(name="add", description="Add two numbers.", limit=2, writes="sum:{a}", reads="n:{b}")
def add_numbers(a: int, b: int = 2) -> int:
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two numbers (a plain function, wrapped by the tests)."""
    return a * b


async def search_remote(**arguments: Any) -> dict[str, Any]:
    """Stands in for an MCP server's tool: returns what reached it, and where."""
    return {"arguments": arguments, "pid": os.getpid()}

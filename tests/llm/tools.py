"""Tools shared by the LLM tests (fixed behaviour, no network)."""

from __future__ import annotations

from typing import Any

import anyio

import graphflow as gf

CALLS: list[str] = []


@gf.tool
async def find_user(email: str) -> dict[str, Any]:
    """Find a user by email."""
    CALLS.append(f"find_user:{email}")
    await anyio.sleep(0.01)
    return {"user_id": 42, "email": email}


@gf.tool
async def list_orders(user_id: int) -> list[dict[str, Any]]:
    """A user's orders."""
    CALLS.append(f"list_orders:{user_id}")
    return [{"order": 1, "user_id": user_id}]


@gf.tool
def lookup(sku: str) -> dict[str, Any]:
    """Look up a product (sync: runs in a thread)."""
    CALLS.append(f"lookup:{sku}")
    return {"sku": sku, "price": 10}


@gf.tool
async def explode(reason: str) -> None:
    """Always fails."""
    raise RuntimeError(reason)


@gf.tool
async def hang() -> None:
    """Never returns."""
    await anyio.sleep_forever()


@gf.tool
async def big() -> str:
    """A long output."""
    return "x" * 5000


TOOLBOX = gf.Toolbox([find_user, list_orders, lookup, explode, hang, big])

"""Tools for compare_laptops.yaml: a simulated, offline product catalogue.

Latencies are fixed per SKU so runs are repeatable; ``lookup_previous_model``
fails its first call in each process (a simulated outage) to show a retry.
"""

from __future__ import annotations

from typing import Any

import anyio

CATALOGUE = {
    "A1": {"name": "Aero 14", "price": 1299, "in_stock": True, "previous": "A0"},
    "B2": {"name": "Brick 15", "price": 999, "in_stock": True, "previous": "B1"},
    "C3": {"name": "Comet 13", "price": 899, "in_stock": False, "previous": "C2"},
    "D4": {"name": "Dune 16", "price": 1099, "in_stock": True, "previous": "D3"},
}
LATENCY = {"A1": 0.30, "B2": 0.45, "C3": 0.25, "D4": 0.35}
_outage = {"calls": 0}


async def lookup_product(sku: str, region: str) -> dict[str, Any]:
    """Look a SKU up in the catalogue (regional prices: +10% outside the EU)."""
    await anyio.sleep(LATENCY.get(sku, 0.3))
    if sku not in CATALOGUE:
        raise KeyError(f"no product {sku!r}")
    item = CATALOGUE[sku]
    factor = 1.0 if region == "eu" else 1.1
    return {"sku": sku, "name": item["name"], "price": round(item["price"] * factor)}


async def check_stock(product: dict[str, Any]) -> dict[str, Any]:
    """Ask the warehouse whether a product is in stock."""
    await anyio.sleep(0.2)
    return {**product, "in_stock": CATALOGUE[product["sku"]]["in_stock"]}


def pick_cheapest(products: list[dict[str, Any]]) -> dict[str, Any]:
    """The cheapest product in stock (a plain function: it runs in a worker thread)."""
    in_stock = [p for p in products if p["in_stock"]]
    if not in_stock:
        raise LookupError("nothing is in stock")
    return min(in_stock, key=lambda p: p["price"])


async def fetch_reviews(sku: str) -> dict[str, Any]:
    """Average review stars for a SKU."""
    await anyio.sleep(0.4)
    return {"sku": sku, "stars": 4.2 if sku != "C3" else 3.1}


async def lookup_previous_model(sku: str) -> dict[str, Any]:
    """Last year's model of a SKU; the first call in a process hits an outage."""
    _outage["calls"] += 1
    await anyio.sleep(0.2)
    if _outage["calls"] == 1:
        raise ConnectionError("catalogue archive unavailable (simulated outage)")
    previous = CATALOGUE[sku]["previous"]
    return {"sku": previous, "name": CATALOGUE[sku]["name"] + " (last year)"}

"""One real run with every outcome, shared by the report's tests."""

from __future__ import annotations

from typing import Any, Final

import anyio
import pytest

import graphflow as gf

SECRET: Final = "hunter2-Zq9"
HOSTILE: Final = "</script><script>alert(1)</script>"
HOSTILE_ERROR: Final = '<img src=x onerror="document.title=1">'


async def mixed_run() -> gf.RunResult:
    """succeeded, failed, retried, skipped, cancelled and fan-out nodes.

    ``slow`` takes 0.2 s and everything else next to nothing, so the critical
    path starts fetch -> slow -> total. ``boom`` fails once ``hang`` has
    started, and fail_fast cancels ``hang``: events, not sleeps, order them.
    """
    hang_started = anyio.Event()
    tries = 0

    async def fetch() -> dict[str, Any]:
        return {"html": HOSTILE, "token": SECRET}

    async def flaky() -> str:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise ConnectionError(f"attempt {tries} refused")
        return "third time lucky"

    async def square(x: int) -> int:
        return x * x

    async def slow() -> str:
        await anyio.sleep(0.2)
        return "slow"

    async def total(xs: list[int]) -> int:
        return sum(xs)

    async def hang() -> None:
        hang_started.set()
        await anyio.sleep_forever()

    async def boom() -> None:
        await hang_started.wait()
        raise ValueError(HOSTILE_ERROR)

    async def never() -> None:
        raise AssertionError("after_boom must be skipped")

    g = gf.Graph()
    g.add("fetch", fetch)
    g.add("flaky", flaky, depends_on="fetch", retries=gf.Retry(2, backoff=0.01, jitter=0))
    g.add("m", square, for_each=[1, 2, 3], args={"x": "${item}"}, depends_on="fetch")
    g.add("slow", slow, depends_on="fetch")
    g.add("total", total, args={"xs": "${m}"}, depends_on=["flaky", "slow"])
    g.add("hang", hang, depends_on="total")
    g.add("boom", boom, depends_on="total")
    g.add("after_boom", never, depends_on="boom")
    return await gf.run(g, fail_fast=True)


@pytest.fixture(scope="session")
def mixed() -> gf.RunResult:
    """The mixed run (run once: tests only read it)."""
    result = anyio.run(mixed_run)
    statuses = {node_id: str(r.status) for node_id, r in result.items()}
    assert statuses == {
        "fetch": "succeeded",
        "flaky": "succeeded",
        "m[0]": "succeeded",
        "m[1]": "succeeded",
        "m[2]": "succeeded",
        "m": "succeeded",
        "slow": "succeeded",
        "total": "succeeded",
        "hang": "cancelled",
        "boom": "failed",
        "after_boom": "skipped",
    }, "the fixture run itself went wrong"
    assert len(result["flaky"].history) == 3
    return result

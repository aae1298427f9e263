"""A simulated 3-turn agent task: graphflow vs one call at a time.

    python -m benchmarks.agent [--llm-latency 0.5]

The task (an order-research question) needs 12 tool calls with fixed
latencies: find a user then list their orders (a chain), three product
lookups and three review fetches (independent), then three price histories
and a shipping estimate. Every variant runs through the real ``run_agent``
loop with a scripted planner that sleeps ``--llm-latency`` per call:

  one call per turn       ReAct-style: the model sees each result before the
                          next call (13 planner calls, tools one at a time);
  batched, sequential     the same 3 turns as graphflow, but each batch's
                          calls run one after another (concurrency=1);
  graphflow               3 turns, each batch as one dependency-aware graph:
                          independent calls at once, the chain in order.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import anyio

import graphflow as gf
from graphflow.llm.agent import run_agent

from ._common import table

LATENCY = {
    "find_user": 0.30,
    "list_orders": 0.30,
    "lookup": 0.40,
    "reviews": 0.50,
    "price_history": 0.40,
    "shipping": 0.35,
}


def make_tool(name: str) -> gf.Tool:
    async def call(key: str | int = "") -> dict[str, Any]:
        await anyio.sleep(LATENCY[name])
        return {"tool": name, "key": key, "user_id": 42}

    call.__name__ = name
    return gf.tool(call)


TOOLBOX = gf.Toolbox([make_tool(n) for n in LATENCY])
SKUS = ["A1", "B2", "C3"]


def call(call_id: str, name: str, key: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps({"key": key})},
    }


def turns() -> list[list[dict[str, Any]]]:
    first = [call("u", "find_user", "a@b.c"), call("o", "list_orders", "${u.user_id}")]
    first += [call(f"l{i}", "lookup", s) for i, s in enumerate(SKUS)]
    first += [call(f"r{i}", "reviews", s) for i, s in enumerate(SKUS)]
    second = [call(f"p{i}", "price_history", s) for i, s in enumerate(SKUS)]
    second.append(call("s", "shipping", "42"))  # a value the model read in turn 1
    return [first, second]


def _literal(c: dict[str, Any]) -> dict[str, Any]:
    arguments = c["function"]["arguments"].replace("${u.user_id}", "42")
    return {**c, "function": {**c["function"], "arguments": arguments}}


def scripted(batches: list[list[dict[str, Any]]], latency: float) -> Any:
    script = [*batches, []]

    async def planner(messages: list[Any]) -> dict[str, Any]:
        await anyio.sleep(latency)
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        calls = script[turn]
        if not calls:
            return {"role": "assistant", "content": "answer"}
        return {"role": "assistant", "content": None, "tool_calls": calls}

    return planner


async def measure(
    batches: list[list[dict[str, Any]]], latency: float, **options: Any
) -> tuple[int, float, float]:
    started = time.perf_counter()
    messages = [{"role": "user", "content": "?"}]
    run = await run_agent(scripted(batches, latency), TOOLBOX, messages, max_turns=20, **options)
    wall = time.perf_counter() - started
    assert run.finished and all(t.result is None or t.result.ok for t in run.turns)
    return len(run.turns), wall, sum(t.tool_seconds for t in run.turns)


async def main_async(latency: float) -> None:
    batched = turns()
    # one call per turn: the model has seen each result, so it writes values, not references
    one_by_one = [[_literal(c)] for batch in batched for c in batch]
    rows = []
    results = {
        "one call per turn (ReAct-style)": await measure(one_by_one, latency),
        "batched turns, calls one at a time": await measure(batched, latency, concurrency=1),
        "graphflow (batched turns, graph per turn)": await measure(batched, latency),
    }
    base = results["one call per turn (ReAct-style)"][1]
    for name, (n_turns, wall, tools) in results.items():
        rows.append([name, n_turns, f"{tools:.2f}", f"{wall:.2f}", f"**{base / wall:.2f}x**"])
    print(f"planner latency {latency:.2f} s per call; 12 tool calls")
    print(table(["variant", "planner calls", "tool time s", "wall s", "speed-up"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm-latency", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0, help="unused: latencies are fixed")
    args = parser.parse_args()
    anyio.run(main_async, args.llm_latency)


if __name__ == "__main__":
    main()

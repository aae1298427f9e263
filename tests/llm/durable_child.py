"""A durable agent in a process of its own, for the tests that kill it.

    python -m tests.llm.durable_child agent|plan STORE LOG CONVERSATION [URL]

``agent``: ``run_agent`` with the real OpenAI client against the fake API at
URL. ``plan``: ``run_plan_agent`` with a scripted planner (the second plan
streamed) and joiner. Every tool call, plan and verdict appends a line to LOG
("start X KEY", KEY the call's idempotency key; "done X", "plan N", "join N"),
so what ran survives the process; a step named in ``GF_HANG`` (comma-separated)
starts and never finishes. The result is printed as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

import graphflow as gf
from graphflow.llm.agent import Observation, run_agent, run_plan_agent

from .fake_api import openai_client

LOG = Path(os.environ.get("GF_LOG", os.devnull))


def mark(line: str) -> None:
    with LOG.open("a") as f:  # one write per line: whole lines, whatever kills the process
        f.write(line + "\n")


@gf.tool
async def step(name: str, after: str = "") -> dict[str, str]:
    """Do step ``name`` (after the step ``after`` returned)."""
    call = gf.current_call()
    mark(f"start {name} {call.idempotency_key if call else '-'}")
    if name in os.environ.get("GF_HANG", "").split(","):
        await anyio.sleep_forever()  # in flight when the process is killed
    mark(f"done {name}")
    return {"name": name, "after": after}


TOOLS = gf.Toolbox([step])

PLANS: list[str | list[str]] = [
    '1. step(name="p1")\njoin()\n',
    [
        'Thought: again.\n1. step(name="p1")\n2. step(name="p2")\n',
        '3. step("p3", $2.name)\njoin()\n',
    ],
]


async def chunks(parts: list[str]) -> AsyncIterator[str]:
    for part in parts:
        yield part


async def plan_agent(store: str, conversation: str) -> dict[str, Any]:
    async def planner(question: str, observations: list[Observation]) -> Any:
        round_no = len({o.round for o in observations}) + 1
        mark(f"plan {round_no}")
        plan = PLANS[round_no - 1]
        return plan if isinstance(plan, str) else chunks(plan)

    async def joiner(question: str, observations: list[Observation]) -> dict[str, str]:
        round_no = observations[-1].round
        mark(f"join {round_no}")
        if round_no == 1:
            return {"replan": "one more step"}
        return {"answer": " ".join(o.content for o in observations if o.round == round_no)}

    run = await run_plan_agent(planner, joiner, TOOLS, "do it", store=store, run_id=conversation)
    return {"answer": run.answer, "run_id": run.run_id, "rounds": len(run.rounds)}


async def agent(store: str, conversation: str, url: str) -> dict[str, Any]:
    async with openai_client(url) as client:

        async def planner(messages: list[Any]) -> Any:
            reply = await client.chat.completions.create(model="m", messages=messages)
            return reply.choices[0].message

        messages = [{"role": "user", "content": "do the steps"}]
        run = await run_agent(planner, TOOLS, messages, store=store, run_id=conversation)
    return {
        "answer": run.answer,
        "run_id": run.run_id,
        "replayed": [t.replayed for t in run.turns],
        "calls": [t.calls for t in run.turns],
    }


def main(argv: list[str]) -> None:
    mode, store, log, conversation, *url = argv
    global LOG
    LOG = Path(log)
    if mode == "agent":
        out = anyio.run(agent, store, conversation, url[0])
    else:
        out = anyio.run(plan_agent, store, conversation)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Durable agent loops: what ``run_agent`` and ``run_plan_agent`` record and replay.

With a store in the options, a loop is a *conversation* with an id (the
``run_id`` option, else a new one) recorded in the store's SQLite file
(``graphflow.store.open_conversation``). Before the loop acts on a step it
records it: a turn's reply before its calls run, the results the model read
before the next turn, a plan before (or, streamed, as soon as it is complete)
its tasks run, a joiner's verdict. Each turn's or plan's calls are a stored run
``"{conversation}/{n}"``. Running the conversation again replays what was
recorded — the model is not asked again for a step it answered, a completed
turn's calls are not run again — and resumes the first step that was not:
its run resumed, so its calls that succeeded are not run again and those in
flight run again (at least once; ``graphflow.current_call()`` gives a tool an
idempotency key that stays the same when that happens).

Replies are stored as JSON: an SDK object as ``model_dump(mode="json",
exclude_none=True, by_alias=True)``, the form the dialects send back, so a
replayed reply (a dict) extends the transcript exactly as the object did.
``graphflow.store`` is imported here, only when a store is given.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from graphflow import NodeResult, NodeStatus, OptionError, RunOptions, RunResult, Toolbox

from ._batch import Call, Outcome, execute_calls, node_ids
from ._input import quote
from .plan import PlanParser

if TYPE_CHECKING:
    from graphflow.store import Conversation

MAX_CONVERSATION_ID: Final = 100  # its runs' ids ("{id}/{turn}") stay within run ids' 128
_ADDRESS: Final = re.compile(r" at 0x[0-9a-fA-F]+")


async def open_log(
    options: RunOptions, *, kind: str, started_with: Any, what_started: str
) -> Conversation | None:
    """The conversation to record into (None without a store): started, or resumed.

    ``options.resume`` names one that must be stored (``"last"``: the latest of
    ``kind``); ``options.run_id`` one resumed if stored, else started; neither, a
    new one. A stored one that started with other ``started_with`` (or labels)
    is refused unless ``options.force``.
    """
    store = options.store
    if store is None:
        return None
    from graphflow.store import SQLiteStore, open_conversation

    if not isinstance(store, SQLiteStore):
        expected = "a graphflow.store.SQLiteStore or a SQLite path for a durable agent"
        raise OptionError("store", store, expected)
    name, conversation_id = "resume", options.resume
    if conversation_id is None:
        name, conversation_id = "run_id", options.run_id or uuid.uuid4().hex[:12]
    if len(conversation_id) > MAX_CONVERSATION_ID:
        expected = f"a conversation id of at most {MAX_CONVERSATION_ID} characters"
        raise OptionError(name, conversation_id, expected)
    return await open_conversation(
        store,
        conversation_id,
        kind=kind,
        started_with=fingerprint(started_with),
        labels=options.labels,
        resume=options.resume is not None,
        force=options.force,
        what_started=what_started,
    )


def fingerprint(value: Any) -> str:
    """A short hash of ``value`` as JSON (SDK objects by their dump; others by ``repr``)."""
    text = json.dumps(value, sort_keys=True, default=_loose, ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _loose(value: Any) -> Any:
    dumped = _sdk_dump(value)
    return dumped if dumped is not None else _ADDRESS.sub("", repr(value))


def _sdk_dump(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json", exclude_none=True, by_alias=True) if callable(dump) else None


def reply_data(reply: Any) -> Any:
    """The reply as the JSON data that is stored and replayed.

    Raises:
        TypeError: it holds something that is not JSON (nor an SDK object).
    """

    def sdk_only(value: Any) -> Any:
        dumped = _sdk_dump(value)
        if dumped is None:
            raise TypeError(f"a {type(value).__name__}")
        return dumped

    try:
        return json.loads(json.dumps(reply, default=sdk_only, allow_nan=False))
    except (TypeError, ValueError) as exc:
        message = f"the planner's reply cannot be stored as JSON ({exc}): {quote(reply, 80)}"
        raise TypeError(message) from None


async def run_options(log: Conversation, options: RunOptions, run_id: str) -> RunOptions:
    """``options`` for one of the conversation's runs: ``run_id``, resumed if stored."""
    stored = await log.has_run(run_id)
    return options.replace(
        run_id=None if stored else run_id,
        resume=run_id if stored else None,
        workflow=f"conversation:{log.conversation_id}",
        labels=None,
    )


async def turn_calls(
    log: Conversation,
    turn: int,
    calls: Sequence[Call],
    toolbox: Toolbox,
    options: RunOptions,
    max_chars: int,
) -> tuple[list[Outcome], RunResult | None]:
    """The outcomes of a turn's calls: replayed if the model read them already,
    else from the turn's run (resumed if stored), recorded before they are returned."""
    run_id = f"{log.conversation_id}/{turn}"
    stored = log.step(turn, "results")
    if isinstance(stored, list) and len(stored) == len(calls):
        result = await log.stored_result(run_id)
        outcomes = []
        for call, node_id, done in zip(calls, node_ids(calls), stored, strict=True):
            node = result.get(node_id) if result is not None else None
            if node is None:  # the run was deleted (``gc``): its status is enough
                node = NodeResult(node_id, NodeStatus(done["status"]))
            outcomes.append(Outcome(call, node, done["content"]))
        return outcomes, result
    opts = await run_options(log, options, run_id)
    outcomes, result = await execute_calls(calls, toolbox, opts, max_chars=max_chars)
    read = [{"status": o.result.status.value, "content": o.content} for o in outcomes]
    await log.record(turn, "results", read)
    return outcomes, result


def recording(
    stream: AsyncIterable[str], save: Callable[[str], Awaitable[None]]
) -> AsyncIterator[str]:
    """``stream`` as it is, calling ``save(plan)`` once the plan is complete
    (``join()`` or its end) — before the chunk that completed it is passed on."""

    async def chunks() -> AsyncIterator[str]:
        parser = PlanParser()
        text: list[str] = []
        saved = False
        try:
            async for chunk in stream:
                text.append(chunk)
                parser.feed(chunk)
                if parser.joined and not saved:
                    saved = True
                    await save("".join(text))
                yield chunk
            if not saved:
                await save("".join(text))
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

    return chunks()

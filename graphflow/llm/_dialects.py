"""Each provider's conversation, as ``run_agent`` reads and extends it.

A dialect knows what a planner's reply looks like, how to append it to the
transcript as the provider expects it sent back (well-formed even when the
model sent odd calls: a custom tool call stays a custom tool call), which tool
calls it asks for, and how their results are appended.

- ``openai``: Chat Completions. The reply is ``completion.choices[0].message``;
  it is appended as an assistant message; results are ``tool`` messages.
- ``openai-responses``: the Responses API. The reply is the ``Response``; its
  ``output`` items are appended as input items; results are
  ``function_call_output`` (``custom_tool_call_output``) items.
- ``anthropic``: Messages. The reply is the ``Message``; it is appended as an
  assistant message; results are one user message of ``tool_result`` blocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._batch import Call, Outcome
from ._input import as_text, field, quote
from .anthropic import calls_from_blocks, result_message
from .openai import calls_from_chat, calls_from_responses, output_items, tool_messages
from .schemas import Provider


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one provider's replies are recognised, appended and answered."""

    keys: tuple[str, ...]
    """a reply has at least one of these keys (a dict) or attributes (an SDK object)"""
    expected: str
    """what a planner should return, for the error message when it does not"""
    append_reply: Callable[[list[Any], Any], list[Call]]
    append_results: Callable[[list[Any], list[Outcome]], None]

    def check(self, reply: Any) -> None:
        """Raise ``TypeError`` unless ``reply`` looks like this provider's reply."""
        if isinstance(reply, Mapping):
            ok = any(k in reply for k in self.keys)
        else:
            ok = not isinstance(reply, str | bytes) and any(hasattr(reply, k) for k in self.keys)
        if not ok:
            got = f"{type(reply).__name__} {quote(reply, 80)}"
            raise TypeError(f"the planner returned {got}, not {self.expected}")


def message_text(message: Any) -> str:
    """The text of a reply: its content, its text blocks, or its output's message texts."""
    content = field(message, "content")
    if isinstance(content, str):
        return content
    if content is None:
        output = field(message, "output")  # a Responses API response
        parts = [p for i in output or () if field(i, "type") == "message" for p in _parts(i)]
        return "".join(as_text(field(p, "text")) for p in parts)
    return "".join(as_text(field(b, "text")) for b in content if field(b, "type") == "text")


def _parts(item: Any) -> list[Any]:
    return [p for p in field(item, "content") or () if field(p, "type") == "output_text"]


def _openai_reply(transcript: list[Any], message: Any) -> list[Call]:
    calls = field(message, "tool_calls") or []
    out: dict[str, Any] = {"role": "assistant", "content": field(message, "content")}
    if calls:
        out["tool_calls"] = [_openai_tool_call(c) for c in calls]
    transcript.append(out)
    return calls_from_chat(calls)


def _openai_tool_call(call: Any) -> dict[str, Any]:
    """A tool call as sent back: function or custom, each with the fields its type requires."""
    call_id = as_text(field(call, "id"))
    if field(call, "type") == "custom":
        custom = field(call, "custom")
        text = {"name": as_text(field(custom, "name")), "input": as_text(field(custom, "input"))}
        return {"id": call_id, "type": "custom", "custom": text}
    function = field(call, "function")
    arguments = field(function, "arguments")
    if not isinstance(arguments, str):
        arguments = _json(arguments)
    name = as_text(field(function, "name"))
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _json(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except Exception:  # not JSON: a cycle, 100,000 levels
        return ""


def _responses_reply(transcript: list[Any], response: Any) -> list[Call]:
    items = list(field(response, "output") or ())
    transcript.extend(_dumped(item) for item in items)
    return calls_from_responses(items)


def _anthropic_reply(transcript: list[Any], message: Any) -> list[Call]:
    content = field(message, "content")
    if isinstance(content, str) or content is None:  # a dict message with text only
        transcript.append({"role": "assistant", "content": content or ""})
        return []
    blocks = list(content)
    transcript.append({"role": "assistant", "content": [_anthropic_block(b) for b in blocks]})
    return calls_from_blocks(blocks)


def _anthropic_block(block: Any) -> Any:
    kind = field(block, "type")
    if kind == "text":
        return {"type": "text", "text": as_text(field(block, "text"))}
    if kind == "tool_use":
        return {
            "type": "tool_use",
            "id": as_text(field(block, "id")),
            "name": as_text(field(block, "name")),
            "input": field(block, "input"),
        }
    return _dumped(block)


def _dumped(item: Any) -> Any:
    """An SDK object as the dict the SDK sends (a dict or anything else as it is)."""
    dump = getattr(item, "model_dump", None)
    return dump(mode="json", exclude_none=True, by_alias=True) if callable(dump) else item


def _extend(transcript: list[Any], results: list[Any]) -> None:
    transcript.extend(results)


DIALECTS: Final[dict[Provider, Dialect]] = {
    "openai": Dialect(
        ("content", "tool_calls"),
        "a Chat Completions message (return completion.choices[0].message, "
        "or a dict with 'content' and maybe 'tool_calls')",
        _openai_reply,
        lambda transcript, outcomes: _extend(transcript, tool_messages(outcomes)),
    ),
    "openai-responses": Dialect(
        ("output",),
        "a Responses API response (return the Response of client.responses.create, "
        "or a dict with 'output')",
        _responses_reply,
        lambda transcript, outcomes: _extend(transcript, output_items(outcomes)),
    ),
    "anthropic": Dialect(
        ("content",),
        "an Anthropic message (return the Message of client.messages.create, "
        "or a dict with 'content')",
        _anthropic_reply,
        lambda transcript, outcomes: transcript.append(result_message(outcomes)),
    ),
}

r"""Tool schemas that let a model send dependent calls, and the text that tells it how.

A tool's schema says ``user_id: {"type": "integer"}``, so a model that follows
it cannot send ``"${1.user_id}"`` (the first call's ``user_id``) in one batch.
``describe_tools(toolbox, provider, references=True)`` gives each parameter a
second choice, a string that is exactly one reference::

    {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^\\$\\{[^{}]+\\}$"}]}

and ``REFERENCE_INSTRUCTIONS`` explains the syntax (put it in the system
prompt). Nothing else changes: a reference is resolved before the tool's
arguments are validated, so the tool receives the integer.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final, Literal

from graphflow import Toolbox

Provider = Literal["openai", "openai-responses", "anthropic"]

REFERENCE_PATTERN: Final = r"^\$\{[^{}]+\}$"
"""A string that is exactly one reference: ``"${1}"``, ``"${1.user_id}"``, ``"${call_a.id}"``."""


REFERENCE_INSTRUCTIONS: Final = """\
The tool calls you make in one reply run at the same time, unless one needs the \
result of another. To pass a result on, give an argument the value "${N}": the \
whole result of the N-th tool call of the same reply, counting from 1. Use \
"${N.key}" for a part of it, such as "${1.user_id}" or "${2.items.0.id}" (keys \
and list positions, separated by dots). A call's id works in place of N. The \
call that holds the reference waits for call N and receives the value itself: a \
number stays a number, a list stays a list. Inside a longer string the value is \
inserted as text, as in "orders of ${1.name}". Refer only to calls of the same \
reply, and never in a circle. If call N fails, the calls that need it are not \
run, and their results say why. To write a literal "${", write "$${".\
"""
"""Instructions for a system prompt: how to make dependent calls in one reply."""


def admit_references(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an object schema where each property also accepts a reference string.

    Args:
        parameters: a tool's parameters (a JSON object schema with ``properties``).

    Returns:
        The schema with each property ``p`` as ``{"anyOf": [p, reference]}``, where
        ``reference`` is a string matching ``REFERENCE_PATTERN``
        (``title``, ``description`` and ``default`` stay outside the ``anyOf``); a
        property that takes any string or any value already is left as it is.
    """
    schema = copy.deepcopy(dict(parameters))
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        schema["properties"] = {name: _admit(prop) for name, prop in properties.items()}
    return schema


def _admit(prop: Any) -> Any:
    if not isinstance(prop, Mapping) or not prop:
        return prop  # true, false, {}: any value already, or none at all
    outer = {k: prop[k] for k in ("title", "description", "default") if k in prop}
    inner = {k: v for k, v in prop.items() if k not in outer}
    if inner in ({}, {"type": "string"}):
        return dict(prop)  # a plain string parameter takes a reference as it is
    reference = {"type": "string", "pattern": REFERENCE_PATTERN}
    if set(inner) == {"anyOf"} and isinstance(inner["anyOf"], list):
        return {**outer, "anyOf": [*inner["anyOf"], reference]}
    return {**outer, "anyOf": [inner, reference]}


# provider -> the Toolbox method giving its schemas, and where the parameters sit in each
_FORMATS: Final = {
    "openai": ("openai_schemas", ("function", "parameters")),
    "openai-responses": ("openai_responses_schemas", ("parameters",)),
    "anthropic": ("anthropic_schemas", ("input_schema",)),
}


def describe_tools(
    toolbox: Toolbox, provider: Provider = "openai", *, references: bool = True
) -> list[dict[str, Any]]:
    """Every tool's schema for a provider's ``tools=`` parameter.

    Args:
        toolbox: the tools.
        provider: ``"openai"`` (Chat Completions), ``"openai-responses"`` or ``"anthropic"``.
        references: let each parameter also take a reference (``admit_references``);
            False gives the toolbox's own schemas.

    Returns:
        One schema per tool, in the provider's format.

    Raises:
        ValueError: ``provider`` is not one of the three.
    """
    if provider not in _FORMATS:
        raise ValueError(
            f"provider must be 'openai', 'openai-responses' or 'anthropic', got {provider!r}"
        )
    method, path = _FORMATS[provider]
    tools: list[dict[str, Any]] = getattr(toolbox, method)()
    for tool in tools if references else ():
        holder = tool["function"] if len(path) == 2 else tool
        holder[path[-1]] = admit_references(holder[path[-1]])
    return tools

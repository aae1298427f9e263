"""Tools described by a JSON schema instead of a signature (``Tool.from_schema``).

The schema's top level becomes a pydantic model: required fields, JSON types,
enums, and no unknown keys when ``additionalProperties`` is false. Deeper
checks are the callee's (an MCP server validates its own inputs).
"""

from __future__ import annotations

import copy
import functools
import keyword
import operator
from collections.abc import Collection, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list[Any],
    "object": dict[str, Any],
    "null": None,
}


class SchemaArguments(BaseModel):
    """Base of the argument models built from a JSON schema: each keeps its schema.

    The schema travels with the model, so a tool given another tool's ``model``
    shows the same schema and passes on the same keys.
    """

    model_config = ConfigDict(extra="allow")
    json_schema: ClassVar[dict[str, Any]] = {}


class _ClosedSchemaArguments(SchemaArguments):
    """For a schema with ``"additionalProperties": false``."""

    model_config = ConfigDict(extra="forbid")


def _bad_schema(tool: str, problem: str) -> ValueError:
    return ValueError(f"tool {tool!r}: bad parameters schema: {problem}")


def _properties(tool: str, schema: object) -> tuple[Mapping[str, Any], set[str], bool]:
    """The schema's properties, its required names and whether it forbids other keys."""
    if not isinstance(schema, Mapping):
        raise _bad_schema(tool, f"expected a JSON object schema (a mapping), got {_kind(schema)}")
    if schema.get("type", "object") != "object":
        raise _bad_schema(tool, f'"type" must be "object", got {_short(schema["type"])}')
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        raise _bad_schema(tool, f'"properties" must be a mapping, got {_kind(properties)}')
    for key, prop in properties.items():
        if not isinstance(key, str) or not key:
            raise _bad_schema(tool, f"property names must be non-empty strings, got {_short(key)}")
        if not isinstance(prop, Mapping | bool):
            raise _bad_schema(tool, f"property {key!r} must be a schema, got {_kind(prop)}")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise _bad_schema(tool, f'"required" must be a list of names, got {_short(required)}')
    unknown = [r for r in required if r not in properties]
    if unknown:
        raise _bad_schema(tool, f'"required" names unknown properties {_short(unknown)}')
    additional = schema.get("additionalProperties", True)
    if not isinstance(additional, Mapping | bool):
        got = _short(additional)
        raise _bad_schema(tool, f'"additionalProperties" must be a boolean or a schema, got {got}')
    return properties, set(required), additional is False


def _kind(value: object) -> str:
    return type(value).__name__


def _short(value: object) -> str:
    """``repr(value)``, cut to a length fit for a one-line message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _annotation(prop: Mapping[str, Any] | bool) -> Any:
    """The Python type checking one property at the top level only (see ``from_schema``)."""
    if isinstance(prop, bool):
        return Any
    enum = prop.get("enum")
    if isinstance(enum, list) and enum and all(_is_literal(v) for v in enum):
        return Literal[tuple(enum)]
    kinds = prop.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if not isinstance(kinds, list) or not kinds or any(k not in _JSON_TYPES for k in kinds):
        return Any
    return functools.reduce(operator.or_, [_JSON_TYPES[k] for k in kinds])


def _is_literal(value: object) -> bool:
    return value is None or isinstance(value, str | int | float)


def _field_name(key: str, taken: Collection[str]) -> str:
    """``key`` itself when pydantic can use it as a field name, else a fresh one.

    Keys that are keywords, private (``_x``) or BaseModel names (``schema``,
    ``model_dump``) get a made-up name; the key stays the field's alias, which
    is what validation and error messages use.
    """
    safe = key.isidentifier() and not keyword.iskeyword(key)
    if safe and not key.startswith(("_", "model_")) and not hasattr(_ClosedSchemaArguments, key):
        return key
    name = f"arg{len(taken)}"
    while name in taken:
        name += "_"
    return name


def schema_model(tool: str, schema: Mapping[str, Any]) -> type[SchemaArguments]:
    properties, required, closed = _properties(tool, schema)
    fields: dict[str, Any] = {}
    for key, prop in properties.items():
        name = _field_name(key, set(properties) | set(fields))
        default = ... if key in required else _default(prop)
        fields[name] = (_annotation(prop), Field(default, alias=key))
    base = _ClosedSchemaArguments if closed else SchemaArguments
    model = create_model(f"{tool}_arguments", __base__=base, **fields)
    model.json_schema = copy.deepcopy(dict(schema))
    return model


def _default(prop: Mapping[str, Any] | bool) -> Any:
    return prop.get("default") if isinstance(prop, Mapping) else None


def given_arguments(parsed: BaseModel, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The keys the caller gave, with their validated values (extras as given)."""
    values = {
        key: getattr(parsed, name)
        for name, info in type(parsed).model_fields.items()
        if (key := info.alias or name) in arguments
    }
    values.update(parsed.model_extra or {})
    return values

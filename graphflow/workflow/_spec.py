"""The workflow file's schema, as strict pydantic models.

Unknown keys are errors (``extra="forbid"``); the loader turns pydantic's
error locations into file:line:column with a "did you mean" for typos.

Top-level keys: ``name`` (required), ``description``, ``tools``, ``inputs``,
``env``, ``secrets``, ``limits``, ``defaults``, ``concurrency``,
``fail_fast``, ``mcp``, ``nodes`` (required) and ``outputs``. Node keys: ``tool``
(required), ``args``, ``depends_on``, ``if``, ``for_each``, ``max_parallel``,
``partial``, ``limits``, ``env``, ``timeout``, ``retries``, ``trigger``, ``executor``,
``cache``, ``idempotency_key``, ``resources``,
``description``. What each means is in ``graphflow.workflow``'s docstring.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ._text import quote

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
"""An environment variable's name, as ``env:``, ``secrets:`` and ``${env.NAME}`` write it."""
POOL = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*", re.ASCII)
"""A ``limits:`` pool's name (no ``:``: the core names its own pools ``tool:x``...)."""
MCP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*", re.ASCII)
"""An ``mcp:`` server's name: its tools are ``name.tool``, so no dot."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
MAX_CONCURRENCY = 1_000_000
"""The largest ``concurrency`` and ``max_parallel`` a file may ask for (more is a typo)."""


def parse_duration(value: Any) -> Any:
    """Seconds from a number or ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 500ms, 30s, 5m")
    seconds: float | None = None
    if isinstance(value, (int, float)):
        seconds = _seconds(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = _seconds(match.group(1)) * _UNIT[match.group(2)]
    if seconds is None:
        raise ValueError(f"{quote(value, 40)} is not a duration: use seconds or 500ms, 30s, 5m, 1h")
    return seconds


def _seconds(number: float | str) -> float:
    try:
        seconds = float(number)
    except OverflowError:  # an int of hundreds of digits
        raise ValueError("a duration this long is not a number of seconds") from None
    if math.isnan(seconds):
        raise ValueError("a duration is a number of seconds, not NaN")
    if isinstance(number, str) and math.isinf(seconds):  # "999...9s": .inf is how to say it
        raise ValueError("a duration this long is not a number of seconds")
    return seconds


def env_text(value: Any) -> Any:
    """An ``env:`` value as the text a process sees: numbers and booleans are written out."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def condition_text(value: Any) -> Any:
    """``if: true`` / ``if: false`` as the conditions ``true`` / ``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _named(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise ValueError(f"{quote(value, 40)} is not {what}")
        return value

    return BeforeValidator(check)


def _amount(value: Any) -> Any:
    """A number, or one written as text: YAML 1.1 reads ``4e9`` as a string."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{quote(value, 40)} is not an amount: use a number > 0")
    return value


def _listed(value: Any) -> Any:
    """``limits: api`` as ``limits: [api]``."""
    return [value] if isinstance(value, str) else value


EnvName = Annotated[str, _named(NAME, "a variable name (letters, digits and _)")]
EnvValue = Annotated[str, BeforeValidator(env_text)]
PoolName = Annotated[str, _named(POOL, "a pool name (letters, digits, _ . -)")]
Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Backoff = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
ResourceName = Annotated[str, Field(min_length=1, max_length=100)]
Amount = Annotated[float, BeforeValidator(_amount), Field(gt=0, allow_inf_nan=False)]
"""A ``resources:`` amount (``GPU: 1``, ``memory: 4e9``): a number > 0."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class RetrySpec(_Strict):
    """``retries: {attempts: 3, backoff: 0.5s, max_backoff: 5s}``: at most 3 calls in all."""

    attempts: int = Field(ge=1, description="calls in all, the first one included")
    backoff: Backoff = 0.1
    max_backoff: Backoff = 30.0
    jitter: float = Field(0.5, ge=0, le=1)


Retries = Annotated[int, Field(ge=0)] | RetrySpec


class InputSpec(_Strict):
    default: Any = None
    description: str = ""
    required: bool = False


class CacheSpec(_Strict):
    """``cache: {ttl: 1h, key: "{sku}", version: "2"}`` (or ``cache: true``)."""

    ttl: Duration | None = None
    key: Annotated[str, Field(min_length=1)] | None = None
    version: str | int | float | None = None  # (version: 2 is as good as "2")


class Defaults(_Strict):
    timeout: Duration | None = None
    retries: Retries | None = None


class NodeModel(_Strict):
    tool: str
    # (factories: pydantic deep-copies a mutable default for every node otherwise)
    args: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] | str = Field(default_factory=list)
    if_: Annotated[str, BeforeValidator(condition_text)] | None = Field(None, alias="if")
    for_each: list[Any] | str | None = None
    max_parallel: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)
    partial: bool = False
    limits: Annotated[list[PoolName], BeforeValidator(_listed)] = Field(default_factory=list)
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    timeout: Duration | None = None
    retries: Retries | None = None
    trigger: Literal["all_success", "all_done"] = "all_success"
    executor: Literal["async", "thread", "process", "dask"] | None = None
    cache: bool | CacheSpec | None = False  # (null: no cache, as false)
    idempotency_key: Annotated[str, Field(min_length=1)] | None = None
    resources: dict[ResourceName, Amount] | None = None
    description: str = ""


class McpServerSpec(_Strict):
    """``mcp: {files: {command: [python, s.py], env: {...}}, web: {url: ..., headers: {...}}}``."""

    command: list[str] | None = Field(None, min_length=1)
    env: dict[EnvName, EnvValue] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    concurrency: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)
    timeout: Duration | None = None
    destructive_lock: bool = True


McpName = Annotated[str, _named(MCP_NAME, "a server name (letters, digits, _ and -)")]


class WorkflowModel(_Strict):
    name: str
    description: str = ""
    tools: list[str] = []
    inputs: dict[str, InputSpec] = {}
    env: dict[EnvName, EnvValue] = {}
    secrets: list[EnvName] = []
    limits: dict[PoolName, Annotated[int, Field(ge=1, le=MAX_CONCURRENCY)]] = {}
    defaults: Defaults = Defaults()
    concurrency: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)
    fail_fast: bool = False
    mcp: dict[McpName, McpServerSpec] = {}
    nodes: dict[str, NodeModel] = Field(min_length=1)
    outputs: dict[str, Any] = {}


def _keys(model: type[BaseModel]) -> tuple[str, ...]:
    """The keys a file writes for ``model`` (``if``, not the attribute ``if_``)."""
    return tuple(f.alias or name for name, f in model.model_fields.items())


FIELDS: dict[str, tuple[str, ...]] = {
    "workflow": _keys(WorkflowModel),
    "node": _keys(NodeModel),
    "retries": _keys(RetrySpec),
    "defaults": _keys(Defaults),
    "cache": _keys(CacheSpec),
    "input": _keys(InputSpec),
    "mcp": _keys(McpServerSpec),
}


def fields_at(loc: tuple[str | int, ...]) -> tuple[str, ...]:
    """The keys allowed in the mapping at ``loc`` (for "did you mean" hints)."""
    if not loc:
        return FIELDS["workflow"]
    if loc[0] == "nodes" and len(loc) == 2:
        return FIELDS["node"]
    if loc[-1] == "retries" or (len(loc) >= 2 and loc[-2] == "retries"):
        return FIELDS["retries"]
    if loc[0] == "defaults" and len(loc) == 1:
        return FIELDS["defaults"]
    if loc[0] == "inputs" and len(loc) == 2:
        return FIELDS["input"]
    if loc[0] == "mcp" and len(loc) == 2:
        return FIELDS["mcp"]
    if loc[0] == "nodes" and len(loc) >= 3 and loc[2] == "cache":
        return FIELDS["cache"]
    return ()


__all__ = [
    "CacheSpec",
    "Duration",
    "NodeModel",
    "RetrySpec",
    "WorkflowModel",
    "fields_at",
    "parse_duration",
]

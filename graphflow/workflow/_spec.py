"""The workflow file's schema, as strict pydantic models.

Unknown keys are errors (``extra="forbid"``); the loader turns pydantic's
error locations into file:line:column with a "did you mean" for typos.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ._text import quote

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


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Backoff = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


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


class Defaults(_Strict):
    timeout: Duration | None = None
    retries: Retries | None = None


class NodeModel(_Strict):
    tool: str
    args: dict[str, Any] = {}
    depends_on: list[str] | str = []
    for_each: list[Any] | str | None = None
    max_parallel: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)
    timeout: Duration | None = None
    retries: Retries | None = None
    trigger: Literal["all_success", "all_done"] = "all_success"
    description: str = ""


class WorkflowModel(_Strict):
    name: str
    description: str = ""
    tools: list[str] = []
    inputs: dict[str, InputSpec] = {}
    defaults: Defaults = Defaults()
    concurrency: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)
    fail_fast: bool = False
    nodes: dict[str, NodeModel] = Field(min_length=1)


FIELDS: dict[str, tuple[str, ...]] = {
    "workflow": tuple(WorkflowModel.model_fields),
    "node": tuple(NodeModel.model_fields),
    "retries": tuple(RetrySpec.model_fields),
    "defaults": tuple(Defaults.model_fields),
    "input": tuple(InputSpec.model_fields),
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
    return ()


__all__ = ["Duration", "NodeModel", "RetrySpec", "WorkflowModel", "fields_at", "parse_duration"]

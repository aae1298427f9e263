from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter

from .fake_api import FakeAPI, serve


@functools.cache
def _adapter(typed_dict: Any) -> TypeAdapter[Any]:
    return TypeAdapter(typed_dict)  # building one costs ~30 ms: once per SDK type


def conforms(typed_dict: Any, value: Any) -> None:
    """``value`` validates as the SDK's TypedDict and has no key it does not know."""
    _adapter(typed_dict).validate_python(value)
    if hasattr(typed_dict, "__required_keys__"):  # a TypedDict, not a Union of them
        known = typed_dict.__required_keys__ | typed_dict.__optional_keys__
        assert set(value) <= known, set(value) - known


@pytest.fixture
def check() -> Any:
    return conforms


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    with serve() as api:
        yield api

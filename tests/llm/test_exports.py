"""graphflow.llm's public face: a sorted ``__all__`` of names that exist."""

from __future__ import annotations

import graphflow.llm


def test_all_is_sorted_and_every_name_exists() -> None:
    assert graphflow.llm.__all__ == sorted(set(graphflow.llm.__all__))
    for name in graphflow.llm.__all__:
        assert hasattr(graphflow.llm, name), name
        assert name in (graphflow.llm.__doc__ or ""), f"{name} is not in the module docstring"

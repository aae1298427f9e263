from __future__ import annotations

import pytest

from graphflow.builtin_tools import BUILTINS
from graphflow.builtin_tools.basic import echo, python, sleep

pytestmark = pytest.mark.anyio


async def test_echo_returns_its_args() -> None:
    assert await echo(text="hi", n=2) == {"text": "hi", "n": 2}


async def test_sleep_returns_seconds_and_refuses_nonsense() -> None:
    assert await sleep(0) == 0
    with pytest.raises(ValueError, match="seconds"):
        await sleep(-1)


async def test_python_calls_sync_and_async_functions() -> None:
    assert await python("json:dumps", {"obj": [1]}) == "[1]"
    assert await python("graphflow.builtin_tools.basic:echo", {"kwargs": None}) == {"kwargs": None}
    assert await python("os.path:basename", {"p": "/a/b.txt"}) == "b.txt"


@pytest.mark.parametrize(
    ("target", "error"),
    [("json.dumps", ValueError), ("json:nope", AttributeError), ("json:__name__", TypeError)],
)
async def test_python_bad_targets(target: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        await python(target)


def test_builtin_names() -> None:
    assert sorted(BUILTINS) == ["echo", "http.get", "http.request", "python", "shell", "sleep"]

from __future__ import annotations

from pathlib import Path

import pytest

import graphflow as gf
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
    assert python("json:dumps", {"obj": [1]}) == "[1]"
    assert await python("graphflow.builtin_tools.basic:echo", {"kwargs": None}) == {"kwargs": None}
    assert python("os.path:basename", {"p": "/a/b.txt"}) == "b.txt"


async def test_python_in_a_run_calls_async_targets_on_the_loop() -> None:
    graph = gf.Graph()
    graph.add(
        "twice",
        python,
        args={"function": "tests.builtin_tools.targets:later", "kwargs": {"value": 21}},
    )
    assert (await gf.run(graph))["twice"].output == 42


async def test_python_sync_function_fails_at_the_node_timeout(tmp_path: Path) -> None:
    ended = tmp_path / "ended"
    graph = gf.Graph()
    graph.add(
        "slow",
        python,
        args={
            "function": "tests.builtin_tools.targets:block",
            "kwargs": {"seconds": 1.0, "ended": str(ended)},
        },
        timeout=0.2,
    )
    result = (await gf.run(graph))["slow"]
    assert result.status is gf.NodeStatus.FAILED
    assert result.error is not None and result.error.timed_out == 0.2
    assert result.finished_at is not None
    assert result.finished_at < float(ended.read_text())  # failed before the function returned


@pytest.mark.parametrize(
    ("target", "error"),
    [("json.dumps", ValueError), ("json:nope", AttributeError), ("json:__name__", TypeError)],
)
def test_python_bad_targets(target: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        python(target)


def test_builtin_names() -> None:
    assert sorted(BUILTINS) == [
        "echo",
        "http.get",
        "http.request",
        "json.dump",
        "json.parse",
        "pick",
        "python",
        "shell",
        "sleep",
        "text.join",
        "text.lines",
    ]

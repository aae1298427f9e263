"""The glue built-ins, alone and in a workflow run through the CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from graphflow.builtin_tools.basic import python
from graphflow.builtin_tools.glue import json_dump, json_parse, pick, text_join, text_lines
from graphflow.cli import main


class TestGlue:
    def test_json_both_ways(self) -> None:
        assert json_parse('{"a": [1, 2]}') == {"a": [1, 2]}
        assert json_dump({"b": 1, "a": "é"}, sort_keys=True) == '{"a": "é", "b": 1}'
        with pytest.raises(ValueError, match="line 1 column"):
            json_parse("{nope")

    def test_lines_and_join(self) -> None:
        assert text_lines(" a \n\n b\n") == ["a", "b"]
        assert text_lines("a\n\n", skip_empty=False) == ["a", ""]
        assert text_join(["a", 1, {"k": 2}], ", ") == 'a, 1, {"k": 2}'

    def test_pick_follows_a_path_or_gives_the_default(self) -> None:
        value = {"items": [{"price": 3}]}
        assert pick(value, "items.0.price") == 3
        assert pick(value, "items.5.price", default=None) is None
        with pytest.raises(LookupError, match="no index 5"):
            pick(value, "items.5")

    def test_python_takes_positional_arguments(self) -> None:
        assert python("operator:add", args=[2, 3]) == 5
        assert python("builtins:max", args=[[1, 7, 3]], kwargs={"default": 0}) == 7


def test_a_workflow_glues_shell_output_without_a_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "glue.yaml"
    flow.write_text(
        textwrap.dedent(
            """\
            name: glue
            nodes:
              listing:
                tool: shell
                args: {argv: [python3, -c, "print('{\\"files\\": [\\"a\\", \\"b\\"]}')"]}
              parsed: {tool: json.parse, args: {text: "${listing.stdout}"}}
              first: {tool: pick, args: {value: "${parsed}", path: files.0}}
              joined: {tool: text.join, args: {items: "${parsed.files}", sep: "+"}}
            """
        )
    )
    out = tmp_path / "result.json"
    assert main(["run", str(flow), "--json", str(out), "-q"]) == 0
    nodes = json.loads(out.read_text())["nodes"]
    assert nodes["first"]["output"] == "a" and nodes["joined"]["output"] == "a+b"

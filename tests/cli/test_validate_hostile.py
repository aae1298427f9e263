"""``graphflow validate`` on hostile and mistaken files, as a user runs it.

Each answer is exit 0, or exit 2 with one ``FILE:LINE:COL: reason`` line per
mistake on stderr, never a traceback. The subprocess tests run the installed
console script on this checkout's code (``PYTHONPATH``), as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from graphflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = shutil.which("graphflow", path=str(Path(sys.executable).parent)) or "graphflow"
PREFIX = "graphflow: error: "


def graphflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The console script, importing graphflow from this checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, cwd=cwd, timeout=60, env=env
    )


def answer_lines(stderr: str) -> list[str]:
    """stderr's lines, without the CLI's ``graphflow: error:`` before the first."""
    return [line.removeprefix(PREFIX) for line in stderr.removesuffix("\n").split("\n")]


def validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["validate", str(path)])
    return code, answer_lines(capsys.readouterr().err)


class TestConsoleScript:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("name: x\nnodes: " + "[" * 500 + "]" * 500 + "\n", ":2:71: nesting deeper than 64"),
            ("name: x\nnodes:\n  a: {tool: ec\x01ho}\n", ":3:15: invalid YAML: character U+0001"),
            ("name: x\nnodes:\n  a: {tool: " + "t" * 100_000 + "}\n", ":3:7: unknown tool 'ttt"),
        ],
    )
    def test_a_hostile_file_gets_one_short_line_and_no_traceback(
        self, tmp_path: Path, text: str, expected: str
    ) -> None:
        flow = tmp_path / "hostile.yaml"
        flow.write_text(text)
        proc = graphflow("validate", str(flow), cwd=tmp_path)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        (line,) = proc.stderr.splitlines()
        assert line.startswith(f"{PREFIX}{flow}{expected}")
        assert len(line) - len(str(flow)) <= 250  # whatever the input's size

    def test_four_mistakes_four_lines_in_file_order(self, tmp_path: Path) -> None:
        flow = tmp_path / "four.yaml"
        flow.write_text(
            textwrap.dedent(
                """\
                name: four
                nodes:
                  a: {tool: ech}
                  b: {tool: sleep, args: {secs: 1}}
                  c: {tool: echo, argz: 1}
                  d: {tool: echo, args: {v: "${zz.x"}}
                """
            )
        )
        proc = graphflow("validate", str(flow), cwd=tmp_path)
        assert proc.returncode == 2
        assert answer_lines(proc.stderr) == [
            f"{flow}:3:7: unknown tool 'ech' (did you mean 'echo'?)",
            f"{flow}:4:27: tool 'sleep' has no argument 'secs' (did you mean 'seconds'?)",
            f"{flow}:5:19: unknown key 'argz' (did you mean 'args'?)",
            f"{flow}:6:26: unclosed reference '${{zz.x': close it with '}}' "
            "(or write $${ for a literal ${)",
        ]

    def test_run_refuses_what_validate_refuses_before_running_anything(
        self, tmp_path: Path
    ) -> None:
        # was: validate passed, then run failed the node with a TypeError and no location
        flow = tmp_path / "args.yaml"
        flow.write_text("name: x\nnodes:\n  a: {tool: sleep, args: {secs: 1}}\n")
        for command in ("validate", "run"):
            proc = graphflow(command, str(flow), cwd=tmp_path)
            assert proc.returncode == 2, command
            assert proc.stderr == (
                f"{PREFIX}{flow}:3:27: tool 'sleep' has no argument 'secs' "
                "(did you mean 'seconds'?)\n"
            )

    def test_an_escaped_reference_reaches_the_tool_as_text(self, tmp_path: Path) -> None:
        # was: validate counted an edge to b, and run printed "template: 1"
        flow = tmp_path / "escape.yaml"
        flow.write_text(
            textwrap.dedent(
                """\
                name: escape
                inputs: {greeting: {default: hello}}
                nodes:
                  a: {tool: echo, args: {template: "${inputs.greeting} $${b.v}"}}
                  b: {tool: echo, args: {v: 1}}
                """
            )
        )
        proc = graphflow("validate", str(flow), cwd=tmp_path)
        assert proc.stdout == f"ok: {flow}: workflow 'escape', 2 nodes, 0 edges\n"
        out = tmp_path / "result.json"
        proc = graphflow("run", str(flow), "--live", "off", "--json", str(out), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        nodes = json.loads(out.read_text())["nodes"]
        assert nodes["a"]["output"] == {"template": "hello ${b.v}"}

    def test_typed_tools_module_next_to_the_file(self, tmp_path: Path) -> None:
        # issue 9: "unknown tool 'add'" for a module of @gf.tool functions without __all__
        (tmp_path / "math_tools.py").write_text(
            "import graphflow as gf\n\n\n@gf.tool\ndef add(a: int, b: int) -> int:\n"
            "    return a + b\n"
        )
        flow = tmp_path / "typed.yaml"
        flow.write_text(
            "name: typed\ntools: [math_tools]\nnodes:\n  s: {tool: add, args: {a: 2, b: 3}}\n"
        )
        out = tmp_path / "result.json"
        proc = graphflow("run", str(flow), "--live", "off", "--json", str(out), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(out.read_text())["nodes"]["s"]["output"] == 5


NODE = "name: x\nnodes:\n  a: {tool: echo, args: {v: %s}}\n"


class TestMeasuredOnMain:
    """The inputs issue 8 measured as tracebacks or floods, each now one located line."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (NODE % '"a\x01b"', "3:31: invalid YAML: character U+0001 is not allowed"),
            ("a: " + "[" * 500 + "]" * 500, "1:67: nesting deeper than 64 levels"),
            (NODE % "!!int abc", "3:29: 'abc' is not a valid int"),
            (NODE % "!!float abc", "3:29: 'abc' is not a valid float"),
            (NODE % "!!bool maybe", "3:29: 'maybe' is not a valid bool"),
            (NODE % "!!timestamp abc", "3:29: 'abc' is not a valid timestamp"),
            (NODE % "!!map abc", "3:29: unsupported tag 'tag:yaml.org,2002:map'"),
            (NODE % "!custom abc", "3:29: unsupported tag '!custom'"),
            (
                "name: x\nconcurrency: " + "1" * 4301 + "\nnodes: {a: {tool: echo}}\n",
                "2:14: '11111111",
            ),
            ("name: x\ntools: ['']\nnodes: {a: {tool: echo}}\n", "2:9: '' is not a module name"),
            ("name: x\ntools: ['.x']\nnodes: {a: {tool: echo}}\n", "2:9: '.x' is not a module"),
            (NODE % "'${b.y'", "3:26: unclosed reference '${b.y'"),
            (NODE % "'$${not_a_ref} ${nope}'", "3:26: node 'a' references unknown node 'nope'"),
        ],
    )
    def test_one_located_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
    ) -> None:
        flow = tmp_path / "f.yaml"
        flow.write_text(text)
        code, lines = validate(flow, capsys)
        assert code == 2
        assert len(lines) == 1 and len(lines[0]) - len(str(flow)) <= 220, lines
        assert lines[0].startswith(f"{flow}:{expected}")

    def test_a_100000_character_tool_name_is_quoted_short(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        flow = tmp_path / "f.yaml"
        flow.write_text("name: x\nnodes:\n  a: {tool: " + "t" * 100_000 + "}\n")
        code, lines = validate(flow, capsys)
        assert (code, lines) == (2, [f"{flow}:3:7: unknown tool '{'t' * 58}…"])

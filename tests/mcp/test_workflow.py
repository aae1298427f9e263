"""The YAML ``mcp:`` key: servers in a workflow file, checked by ``validate``, run by ``run``."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from graphflow import Retry, SpecError
from graphflow.cli import main
from graphflow.mcp import TRANSPORT_ERRORS, McpTransportError
from graphflow.workflow import load_workflow_text

from .conftest import PYTHON, SERVERS, free_port


def write(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


class TestFile:
    def test_servers_and_namespaced_tools_load_without_starting_anything(self) -> None:
        wf = load_workflow_text(
            """
            name: t
            defaults: {retries: 1}
            mcp:
              files: {command: [python, s.py], env: {ROOT: "${env.HOME:-/}"}, timeout: 5s}
              web: {url: "http://127.0.0.1:1/mcp", headers: {X-Token: "${inputs.token}"}}
            inputs: {token: {default: abc}}
            nodes:
              read: {tool: files.read_file, args: {path: notes.txt}, retries: 2}
              find: {tool: web.search, args: {q: x}}
              here: {tool: echo, args: {x: 1}}
            """,
            environ={"HOME": "/home/me"},
        )
        assert wf.mcp is not None
        files, web = wf.mcp.servers["files"], wf.mcp.servers["web"]
        assert files.command == ("python", "s.py") and dict(files.env) == {"ROOT": "/home/me"}
        assert files.timeout == 5.0 and dict(web.headers) == {"X-Token": "abc"}
        read, find, here = (wf.graph[n].retry for n in ("read", "find", "here"))
        assert read == Retry(2, on=TRANSPORT_ERRORS)
        assert find == Retry(1, on=TRANSPORT_ERRORS)  # the file's default, for MCP too
        assert here is None  # the file's default applies at run time, to every error
        assert wf.run_options().resources  # a session for the run

    @pytest.mark.parametrize(
        ("server", "message"),
        [
            ("{command: [a], url: 'http://x'}", "a command (stdio) or a url (HTTP), not both"),
            ("{}", "a command (stdio) or a url (HTTP), not both"),
            ("{url: 'ftp://x'}", "url must start with http:// or https://"),
            ("{command: [a], colour: red}", "colour"),
            ("{command: [a], env: {X: '${n.out}'}}", "not nodes"),
        ],
    )
    def test_a_bad_server_is_a_located_error(self, server: str, message: str) -> None:
        text = f"name: t\nmcp:\n  s: {server}\nnodes:\n  n: {{tool: echo}}\n"
        with pytest.raises(SpecError, match=r"^<string>:3:") as caught:
            load_workflow_text(text)
        assert message in str(caught.value)

    @pytest.mark.parametrize(
        ("name", "message"),
        [("a.b", "'a.b' is not a server name"), ("http", "'http' is taken by the built-in")],
    )
    def test_server_names_cannot_hold_dots_or_take_builtin_prefixes(
        self, name: str, message: str
    ) -> None:
        text = f"name: t\nmcp:\n  {name}: {{command: [x]}}\nnodes:\n  n: {{tool: echo}}\n"
        with pytest.raises(SpecError, match=r"^<string>:3:3: ") as caught:
            load_workflow_text(text)
        assert message in str(caught.value)


class TestValidate:
    def test_lists_each_servers_tools(
        self, alpha_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write(
            tmp_path / "ok.yaml",
            f"""
            name: ok
            mcp:
              a: {{url: "{alpha_url}"}}
            nodes:
              sum: {{tool: a.add, args: {{a: 1, b: 2}}}}
            """,
        )
        assert main(["validate", path]) == 0
        out = capsys.readouterr().out
        assert "mcp a: 4 tools: add, fail, shout, slow" in out

    def test_checks_arguments_against_the_servers_schemas(
        self, alpha_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write(
            tmp_path / "bad.yaml",
            f"""
            name: bad
            mcp:
              a: {{url: "{alpha_url}"}}
            nodes:
              sum: {{tool: a.add, args: {{a: 1, b: two}}}}
              typo: {{tool: a.ad}}
              missing: {{tool: a.shout}}
            """,
        )
        assert main(["validate", path]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[0].startswith(f"graphflow: error: {path}:6:") and "b: Input should be" in err[0]
        assert err[1] == (
            f"graphflow: error: {path}:7:10: unknown tool 'a.ad' (did you mean 'a.add', 'a.fail'?)"
        )
        assert err[2] == f"graphflow: error: {path}:8:13: tool 'a.shout' needs argument 'text'"

    def test_an_unreachable_server_is_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        url = f"http://127.0.0.1:{free_port()}/mcp"
        path = write(
            tmp_path / "down.yaml",
            f"name: d\nmcp:\n  web: {{url: '{url}'}}\nnodes:\n  x: {{tool: web.search}}\n",
        )
        assert main(["validate", path]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and len(err) < 300
        assert err.startswith(f"graphflow: error: mcp server 'web' ({url}): ")


def test_run_keeps_one_session_per_server_and_reads_outputs(
    alpha_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "flow.yaml",
        f"""
        name: flow
        inputs: {{n: {{default: 4}}}}
        mcp:
          a: {{url: "{alpha_url}"}}
          s: {{command: ["{PYTHON}", "{SERVERS}", stateful]}}
        nodes:
          sum: {{tool: a.add, args: {{a: 1, b: "${{inputs.n}}"}}}}
          one: {{tool: s.push, args: {{item: "n${{sum.result}}"}}}}
          two: {{tool: s.push, args: {{item: b}}}}
          seen: {{tool: s.items_now, depends_on: [one, two]}}
        outputs:
          seen: ${{seen.items}}
          most: ${{seen.most_at_once}}
        """,
    )
    out = tmp_path / "out.json"
    assert main(["run", path, "--json", str(out), "--live", "off", "-q"]) == 0
    result = json.loads(out.read_text())
    values = result["outputs"]["values"]
    assert sorted(values["seen"]) == ["b", "n5"]
    assert values["most"] == 1  # push is destructive: one at a time
    capsys.readouterr()


def test_transport_errors_are_the_ones_retried() -> None:
    assert TRANSPORT_ERRORS == (McpTransportError,)


def test_the_mcp_edge_and_the_loader_import_no_sdk() -> None:
    code = (
        "import sys, graphflow.mcp, graphflow.workflow; "
        "print(sorted({'mcp', 'mcp_types', 'httpx2', 'uvicorn'} & set(sys.modules)))"
    )
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

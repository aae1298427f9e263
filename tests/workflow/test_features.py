"""``if:``, ``partial:``, ``outputs:``, ``env:``, ``${env.NAME}``, ``secrets:`` and ``limits:``.

What each key does once loaded, and one located error for each misuse.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

import graphflow as gf
from graphflow.workflow import Outputs, Workflow, load_workflow, load_workflow_text, redact

ENV = {"HOME": "/home/me", "EMPTY": "", "TOKEN": "s3cr3t-t0ken"}


def load(text: str, **kwargs: Any) -> Workflow:
    kwargs.setdefault("environ", ENV)
    return load_workflow_text(textwrap.dedent(text), **kwargs)


def error_of(text: str, **kwargs: Any) -> str:
    with pytest.raises(gf.GraphError) as info:
        load(text, **kwargs)
    return str(info.value)


def run(wf: Workflow) -> gf.RunResult:
    return gf.run_sync(wf.graph, wf.run_options())


class TestMisuse:
    """Every misuse of a new key is one located line."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "name: x\nnodes:\n  a: {tool: echo}\n  b:\n    tool: echo\n    if: ${a.n} >\n",
                "<string>:6:5: if: condition '${a.n} >' is not an expression",
            ),
            (
                "name: x\nnodes:\n  b:\n    tool: echo\n    if: __import__('os')\n",
                "<string>:5:5: if: condition \"__import__('os')\": Call is not allowed",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo}\n  b:\n    tool: echo\n    if: ${aa.n} > 1\n",
                "<string>:6:5: node 'b' references unknown node 'aa' (did you mean 'a'?)",
            ),
            (
                "name: x\nnodes:\n  b:\n    tool: echo\n    if: ${inputs.q}\n",
                "<string>:5:5: ${inputs.q} names unknown input 'q' (inputs: none)",
            ),
            (
                "name: x\nnodes:\n  b:\n    tool: echo\n    for_each: [1]\n    if: ${item} > 0\n",
                "<string>:6:5: ${item} cannot be read in if:",
            ),
            (
                "name: x\nnodes:\n  b:\n    tool: echo\n    if: [x]\n",
                "<string>:5:5: nodes.b.if: Input should be a valid string",
            ),
            (
                "name: x\nnodes:\n  b:\n    tool: echo\n    partial: true\n",
                "<string>:5:5: partial: true keeps a for_each node's item results: add for_each",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo}\noutputs:\n  r: ${aa.x}\n",
                "<string>:5:3: output 'r' references unknown node 'aa' (did you mean 'a'?)",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo}\noutputs:\n  r: ${item}\n",
                "<string>:5:3: ${item} is only defined in a node with for_each",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo}\noutputs: [a]\n",
                "<string>:4:1: outputs: Input should be a valid dictionary",
            ),
            (
                "name: x\nenv:\n  1PATH: x\nnodes:\n  a: {tool: echo}\n",
                "<string>:3:3: key '1PATH' is not a variable name",
            ),
            (
                "name: x\nenv:\n  A: ${a.x}\nnodes:\n  a: {tool: echo}\n",
                "<string>:3:3: the file's env: reads only ${inputs...} and ${env...}",
            ),
            (
                "name: x\nnodes:\n  a:\n    tool: echo\n    env: {A: b}\n",
                "<string>:5:5: env: sets a shell node's environment; tool 'echo' is not shell",
            ),
            (
                "name: x\nenv: {A: b}\nnodes:\n  a: {tool: echo}\n"
                "  s:\n    tool: shell\n    args: {argv: [ls], env: '${a}'}\n",
                "<string>:7:24: args.env is not a mapping, so env: cannot be added to it",
            ),
            (
                "name: x\nnodes:\n  a:\n    tool: echo\n    args: {v: '${env.NOPE}'}\n",
                "<string>:5:12: environment variable 'NOPE' is not set "
                "(or give a default: ${env.NOPE:-...})",
            ),
            (
                "name: x\nnodes:\n  a:\n    tool: echo\n    args: {v: '${env.A.B}'}\n",
                "<string>:5:12: '${env.A.B}' is not an environment variable",
            ),
            (
                "name: x\nnodes:\n  env: {tool: echo}\n",
                "<string>:3:3: node id 'env' is reserved: ${env.NAME} reads the environment",
            ),
            (
                "name: x\nsecrets: [TOKEN, NOPE]\nnodes:\n  a: {tool: echo}\n",
                "<string>:2:18: secret 'NOPE' is not set in the environment",
            ),
            (
                "name: x\nlimits: {api: 0}\nnodes:\n  a: {tool: echo}\n",
                "<string>:2:10: limits.api: Input should be greater than or equal to 1",
            ),
            (
                "name: x\nlimits: {'a:b': 1}\nnodes:\n  a: {tool: echo}\n",
                "<string>:2:10: key 'a:b' is not a pool name",
            ),
            (
                "name: x\nlimits: {api: 2}\nnodes:\n  a:\n    tool: echo\n    limits: [apj]\n",
                "<string>:6:14: node 'a' claims a slot in the unknown pool 'apj' "
                "(did you mean 'api'? or size it under limits: {apj: N})",
            ),
            (
                "name: x\nnodes:\n  a:\n    tool: echo\n    limits: api\n",
                "<string>:5:5: node 'a' claims a slot in the unknown pool 'api'",
            ),
            (
                "name: x\nnodes:\n  a:\n    tool: echo\n    limits: {api: 1}\n",
                "<string>:5:5: nodes.a.limits: Input should be a valid list",
            ),
            (
                "name: x\nnodes:\n  a:\n    tool: echo\n    iff: x\n",
                "<string>:5:5: unknown key 'iff' (did you mean 'if'?)",
            ),
        ],
    )
    def test_located(self, text: str, expected: str) -> None:
        assert error_of(text).startswith(expected)

    def test_a_tool_that_claims_an_unsized_pool(self, tmp_path: Path) -> None:
        (tmp_path / "pooled_tools.py").write_text(
            "import graphflow as gf\n\n@gf.tool(limit='api')\nasync def call() -> int:\n"
            "    return 1\n"
        )
        (tmp_path / "f.yaml").write_text(
            "name: x\ntools: [pooled_tools]\nnodes:\n  a: {tool: call}\n"
        )
        with pytest.raises(gf.SpecError) as info:
            load_workflow(tmp_path / "f.yaml")
        assert str(info.value).startswith(
            f"{tmp_path / 'f.yaml'}:4:7: tool 'call' claims a slot in the unknown pool 'api'"
        )

    def test_every_misuse_in_one_file_is_reported(self) -> None:
        message = error_of(
            """\
            name: x
            limits: {api: 1}
            nodes:
              a: {tool: echo, if: "${zz}", limits: [web]}
              b: {tool: echo, env: {A: b}, partial: true}
            outputs: {r: "${yy}"}
            """
        )
        assert [line.split(": ", 1)[1].split(" (")[0] for line in message.splitlines()] == [
            "node 'a' references unknown node 'zz'",
            "node 'a' claims a slot in the unknown pool 'web'",
            "env: sets a shell node's environment; tool 'echo' is not shell",
            "partial: true keeps a for_each node's item results: add for_each",
            "output 'r' references unknown node 'yy'",
        ]


class TestIf:
    def test_false_skips_with_the_condition_as_reason_true_runs(self) -> None:
        wf = load(
            """\
            name: x
            inputs: {env: {default: prod}}
            nodes:
              check: {tool: echo, args: {ok: true, n: 5}}
              deploy: {tool: echo, if: "${check.ok} and ${check.n} > 3"}
              rollback: {tool: echo, if: "not ${check.ok}"}
              notify: {tool: echo, if: "${inputs.env} == 'prod'"}
              quiet: {tool: echo, if: false}
            """
        )
        result = run(wf)
        assert result["deploy"].ok and result["notify"].ok
        assert result["rollback"].status == "skipped"
        assert result["rollback"].reason == "condition is false: not ${check.ok}"
        assert result["quiet"].status == "skipped"

    def test_an_input_is_a_literal_never_code_nor_a_reference(self) -> None:
        text = """\
        name: x
        inputs: {q: {default: ""}}
        nodes:
          a: {tool: echo, args: {v: 1}}
          b: {tool: echo, if: "${inputs.q} == 'x'"}
        """
        for hostile in ["1 == 1 or 1", "true", "') or True or ('", "${a.v}", "$${a}"]:
            wf = load(text, inputs={"q": hostile})
            assert wf.graph["b"].deps == ()  # no edge to a: the input is not a reference
            assert run(wf)["b"].status == "skipped", hostile
        assert run(load(text, inputs={"q": "x"}))["b"].ok


class TestPartial:
    def test_the_aggregate_gets_every_item_failed_ones_marked(self) -> None:
        wf = load(
            """\
            name: x
            nodes:
              delays: {tool: echo, args: {d: [0, -1, 0]}}
              each:
                tool: sleep
                for_each: ${delays.d}  # (a list in the file is checked by validate)
                partial: true
                args: {seconds: "${item}"}
              total: {tool: echo, args: {items: "${each}"}}
            """
        )
        result = run(wf)
        items = result["total"].output["items"]
        assert [i["status"] for i in items] == ["succeeded", "failed", "succeeded"]
        assert items[1]["error"]["type"] == "ValueError"


class TestOutputs:
    FLOW = """\
    name: x
    inputs: {who: {default: me}}
    nodes:
      a: {tool: echo, args: {sku: B2, n: 3, neg: -1}}
      bad: {tool: sleep, args: {seconds: "${a.neg}"}}
      after_bad: {tool: echo, args: {v: "${bad}"}}
      never: {tool: echo, if: "false"}
    outputs:
      cheapest: ${a.sku}
      line: "${a.sku} x${a.n} for ${inputs.who} ($${not_a_ref})"
      both: ["${a.n}", "${inputs.who}"]
      failed: ${bad}
      skipped: ${after_bad.v}
      condition: ${never}
      missing_key: ${a.nope}
      constant: 42
    """

    def test_values_in_file_order_and_why_each_null_is_null(self) -> None:
        wf = load(self.FLOW)
        outputs = wf.outputs(run(wf))
        assert list(outputs.values) == [
            *("cheapest", "line", "both", "failed", "skipped", "condition", "missing_key"),
            "constant",
        ]
        assert outputs.values["cheapest"] == "B2"
        assert outputs.values["line"] == "B2 x3 for me (${not_a_ref})"
        assert outputs.values["both"] == [3, "me"]
        assert outputs.values["constant"] == 42
        assert {k for k, v in outputs.values.items() if v is None} == set(outputs.notes)
        assert outputs.notes["failed"].startswith("node 'bad' failed: ValueError: seconds must")
        assert outputs.notes["skipped"].startswith("node 'after_bad' skipped: ")
        assert outputs.notes["condition"] == "node 'never' skipped: condition is false: false"
        assert outputs.notes["missing_key"].startswith("cannot resolve ${a.nope}")

    def test_a_pure_function_of_the_result_even_read_back_from_json(self) -> None:
        wf = load(self.FLOW)
        result = run(wf)
        again = gf.RunResult.from_dict(result.to_dict())
        assert wf.outputs(again) == wf.outputs(result)
        partial = gf.RunResult("r", {"a": result["a"]}, 0.0, 1.0)  # an interrupted run
        assert wf.outputs(partial).notes["failed"] == "node 'bad' did not run"

    def test_none_declared(self) -> None:
        wf = load("name: x\nnodes:\n  a: {tool: echo}\n")
        assert wf.outputs(run(wf)) == Outputs({}, {})


class TestEnv:
    def test_env_references_are_read_when_loaded_with_defaults(self) -> None:
        wf = load(
            """\
            name: x
            nodes:
              a:
                tool: echo
                args:
                  home: ${env.HOME}
                  empty: "[${env.EMPTY}]"
                  unset: ${env.UNSET:-fallback.value}
                  empty_default: ${env.EMPTY:-was empty}
            """,
            environ={"HOME": "/home/${me}", "EMPTY": ""},
        )
        assert run(wf)["a"].output == {
            "home": "/home/${me}",  # data, never a reference
            "empty": "[]",
            "unset": "fallback.value",
            "empty_default": "was empty",
        }

    def test_shell_env_file_then_node_then_args_each_wins(self) -> None:
        wf = load(
            """\
            name: x
            inputs: {level: {default: 3}}
            env: {A: file, B: file, C: file, LEVEL: "${inputs.level}", HOME_COPY: "${env.HOME}"}
            nodes:
              up: {tool: echo, args: {v: up}}
              s:
                tool: shell
                env: {B: node, C: node, FROM_UP: "${up.v}"}
                args:
                  argv: [python3, -c, "import os, json; print(json.dumps(dict(os.environ)))"]
                  env: {C: args}
            """
        )
        assert wf.graph["s"].deps == ("up",)
        seen = json.loads(run(wf)["s"].output["stdout"])
        assert {k: seen[k] for k in ("A", "B", "C", "LEVEL", "HOME_COPY", "FROM_UP")} == {
            "A": "file",
            "B": "node",
            "C": "args",
            "LEVEL": "3",
            "HOME_COPY": "/home/me",
            "FROM_UP": "up",
        }


class TestSecrets:
    def test_the_values_are_exposed_and_hidden_everywhere_in_a_value(self) -> None:
        wf = load(
            "name: x\nsecrets: [TOKEN]\nnodes:\n  a: {tool: echo, args: {t: '${env.TOKEN}'}}\n"
        )
        assert wf.secrets == {"s3cr3t-t0ken"}
        data = run(wf).to_dict()
        assert "s3cr3t-t0ken" in str(data)
        assert "s3cr3t-t0ken" not in str(wf.redact(data))
        assert wf.redact(data)["nodes"]["a"]["output"] == {"t": "***"}

    def test_redact(self) -> None:
        value = {"k-abc": ["abc-abcd", ("x", 1234)], "n": 91234, "t": True}
        assert redact(value, {"abc", "abcd", "1234", ""}) == {
            "k-***": ["***-***", ("x", "***")],
            "n": "9***",
            "t": True,
        }
        assert redact("nothing to hide", set()) == "nothing to hide"

    @pytest.mark.parametrize("ascii_only", [True, False])
    def test_redact_finds_a_secret_in_json_text_as_json_escapes_it(self, ascii_only: bool) -> None:
        secret = 'p"w\\d é\n'
        text = json.dumps({"out": f"token={secret}"}, ensure_ascii=ascii_only)
        assert secret not in json.loads(redact(text, {secret}))["out"]
        assert json.loads(redact(text, {secret})) == {"out": "token=***"}

    def test_a_message_never_quotes_a_secret(self, tmp_path: Path) -> None:
        (tmp_path / "secret_check_tools.py").write_text(
            "import graphflow as gf\n\n@gf.tool\ndef wait(seconds: int) -> int:\n"
            "    return seconds\n"
        )
        (tmp_path / "f.yaml").write_text(
            "name: x\ntools: [secret_check_tools]\nsecrets: [TOKEN]\n"
            "nodes:\n  a: {tool: wait, args: {seconds: '${env.TOKEN}'}}\n"
        )
        with pytest.raises(gf.SpecError) as info:
            load_workflow(tmp_path / "f.yaml", environ=ENV)
        assert "seconds" in str(info.value) and "(got '***')" in str(info.value)
        assert "s3cr3t" not in str(info.value)


class TestLimits:
    def test_pools_reach_the_graph_and_hold_the_nodes_to_their_size(self) -> None:
        wf = load(
            """\
            name: x
            limits: {api: 1}
            nodes:
              a: {tool: sleep, args: {seconds: 0.05}, limits: [api]}
              b: {tool: sleep, args: {seconds: 0.05}, limits: api}
              c: {tool: sleep, args: {seconds: 0.05}}
            """
        )
        assert wf.graph.limits == {"api": 1}
        assert wf.graph["a"].limits == ("api",) and wf.graph["b"].limits == ("api",)
        result = run(wf)
        a, b = sorted((result["a"], result["b"]), key=lambda r: r.started_at or 0)
        assert a.finished_at is not None and b.started_at is not None
        assert b.started_at >= a.finished_at  # one slot: one after the other


def test_the_module_docstring_example_loads_and_runs() -> None:
    import graphflow.workflow

    doc = graphflow.workflow.__doc__ or ""
    example = doc.split("``trigger``)::\n\n", 1)[1].split("\n\n", 1)[0]
    wf = load(textwrap.dedent(example), environ={"API_TOKEN": "t"})
    assert wf.graph["deploy"].limits == ("api",)
    result = run(wf)
    assert result["deploy"].reason == "condition is false: ${check.ok} and \"staging\" == 'prod'"
    assert wf.outputs(result).notes == {
        "deployed": f"node 'deploy' skipped: {result['deploy'].reason}"
    }


class TestDurabilityKeys:
    FLOW = """
        name: durable
        nodes:
          a:
            tool: echo
            args: {message: "7"}
            cache: {ttl: 1h, key: "{message}"}
            idempotency_key: "order-{message}"
          b:
            tool: echo
            args: {message: "${a}"}
            cache: true
          c:
            tool: echo
            args: {message: "c"}
            cache: {version: 2}
    """

    def test_cache_and_idempotency_key_reach_the_nodes(self, tmp_path: Path) -> None:
        wf = load(self.FLOW)
        specs = {s.node_id: s for s in wf.graph.plan().specs}
        assert specs["a"].cache == gf.Cache(ttl=3600.0, key="{message}")
        assert specs["a"].idempotency_key == "order-{message}"
        assert specs["b"].cache == gf.Cache()
        assert specs["c"].cache == gf.Cache(version="2")  # a number will do
        first = gf.run_sync(wf.graph, store=tmp_path / "r.db")
        second = gf.run_sync(wf.graph, store=tmp_path / "r.db")
        assert first.ok and second.ok
        assert [second[n].cached for n in "ab"] == [True, True]

    def test_cache_null_is_no_cache(self) -> None:
        wf = load(self.FLOW.replace("cache: true", "cache: null"))
        assert {s.node_id: s for s in wf.graph.plan().specs}["b"].cache is None

    @pytest.mark.parametrize(
        ("cache", "expected"),
        [
            ("{tll: 3}", "unknown key 'tll' (did you mean 'ttl'?)"),
            ("7", "nodes.b.cache: expected true or false or a mapping (got 7)"),
            ("{ttl: soon}", "'soon' is not a duration"),
        ],
    )
    def test_a_bad_cache_is_one_located_line(self, cache: str, expected: str) -> None:
        text = self.FLOW.replace("cache: true", f"cache: {cache}")
        message = error_of(text)
        assert expected in message and len(message.splitlines()) == 1

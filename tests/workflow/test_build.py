"""Every validation error names the file, line, column and key; valid files run."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import graphflow as gf
from graphflow.workflow import WorkflowErrors, load_workflow, load_workflow_text, parse_duration
from graphflow.workflow._errors import MAX_REPORTED


def load(text: str, **kwargs: Any) -> Any:
    return load_workflow_text(textwrap.dedent(text), **kwargs)


def error_of(text: str, **kwargs: Any) -> str:
    with pytest.raises(gf.GraphError) as info:
        load(text, **kwargs)
    return str(info.value)


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "name: x\nnodes:\n  a:\n    tool: echo\n    argz: {v: 1}\n",
                "<string>:5:5: unknown key 'argz' (did you mean 'args'?)",
            ),
            (
                "name: x\nnodez: {}\n",
                "<string>:2:1: unknown key 'nodez' (did you mean 'nodes'?)",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo, retries: {attempts: 2, backof: 1s}}\n",
                "<string>:3:42: unknown key 'backof' (did you mean 'backoff'?)",
            ),
            ("nodes:\n  a: {tool: echo}\n", "<string>:1:1: missing required key 'name'"),
            ("name: x\nnodes:\n  a: {args: {}}\n", "<string>:3:3: missing required key 'tool'"),
            (
                "name: x\nnodes:\n  a: {tool: echo, timeout: 5 parsecs}\n",
                "<string>:3:19: nodes.a.timeout: '5 parsecs' is not a duration",
            ),
            (
                "name: x\nnodes:\n  a: {tool: ech}\n",
                "<string>:3:7: unknown tool 'ech' (did you mean 'echo'?)",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo, args: {v: '${bb.k}'}}\n  b: {tool: echo}\n",
                "<string>:3:26: node 'a' references unknown node 'bb' (did you mean 'b'?)",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo, depends_on: [b, zz]}\n  b: {tool: echo}\n",
                "<string>:3:35: node 'a' depends on unknown node 'zz'",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo, args: {v: '${inputs.nope}'}}\n",
                "<string>:3:26: ${inputs.nope} names unknown input 'nope' (inputs: none)",
            ),
            (
                "name: x\ninputs: {r: {default: eu}}\n"
                "nodes:\n  a: {tool: echo, args: {v: '${inputs.r.x}'}}\n",
                "<string>:4:26: cannot resolve ${inputs.r.x}: inputs.r is str, which has no 'x'",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo, args: {v: '${item}'}}\n",
                "<string>:3:26: ${item} is only defined in a node with for_each",
            ),
            (
                "name: x\nnodes:\n  a.b: {tool: echo}\n",
                "<string>:3:3: node id 'a.b' may not contain '.'",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo, args: {v: '${}'}}\n",
                "<string>:3:26: malformed reference ${}",
            ),
            ("- just\n- a list\n", "<string>:1:1: a workflow is a mapping"),
            (
                "name: x\nnodes:\n  a: {tool: echo, resources: {GPU: 0}}\n",
                "<string>:3:31: nodes.a.resources.GPU: Input should be greater than 0",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo, resources: {GPU: lots}}\n",
                "<string>:3:31: nodes.a.resources.GPU: 'lots' is not an amount",
            ),
            (
                "name: x\nnodes:\n  a: {tool: echo, resources: [GPU]}\n",
                "<string>:3:19: nodes.a.resources: Input should be a valid dictionary",
            ),
            (
                "name: x\ninputs: {r: {required: true}}\nnodes:\n  a: {tool: echo}\n",
                "<string>:2:10: input 'r' is required: pass --input r=...",
            ),
        ],
    )
    def test_located_errors(self, text: str, expected: str) -> None:
        assert error_of(text).startswith(expected)

    def test_a_did_you_mean_for_the_first_20_unknown_names_each_once(self) -> None:
        """A renamed node that thousands of references still name took minutes:
        each reference walked every node id with difflib. Now once per name, for
        the first 20 names (the report shows 20 errors)."""
        nodes = [
            f"  step_{i}: {{tool: echo, args: {{v: '${{steps_{i}.v}}', w: '${{steps_0.v}}'}}}}"
            for i in range(30)
        ]
        with pytest.raises(WorkflowErrors) as info:
            load_workflow_text("name: renamed\nnodes:\n" + "\n".join(nodes) + "\n")
        reasons = [e.reason for e in info.value.errors]
        assert len(reasons) == 60
        again = {r for r in reasons if "unknown node 'steps_0'" in r}
        assert again == {
            "node 'step_0' references unknown node 'steps_0' (did you mean 'step_0'?)"
        } | {
            f"node 'step_{i}' references unknown node 'steps_0' (did you mean 'step_0'?)"
            for i in range(1, 30)
        }
        hinted = {r.split("'")[3] for r in reasons if "did you mean" in r}
        assert hinted == {f"steps_{i}" for i in range(20)}

    def test_cycle_names_the_path_and_the_line_of_each_edge(self) -> None:
        text = """\
        name: x
        nodes:
          a:
            tool: echo
            args: {v: "${c}"}
          b:
            tool: echo
            depends_on: [a]
          c:
            tool: echo
            args: {v: "x ${b.k}"}
        """
        with pytest.raises(gf.CycleError) as info:
            load(text)
        assert info.value.cycle == ["a", "b", "c", "a"]
        assert str(info.value) == (
            "<string>:8:18: cycle: a -> b -> c -> a ('b' needs 'a' at line 8; "
            "'c' needs 'b' at line 11; 'a' needs 'c' at line 5)"
        )
        assert isinstance(info.value, gf.SpecError)  # located like every other error
        assert (info.value.line, info.value.column) == (8, 18)
        assert info.value.key == "nodes.b.depends_on.0"

    def test_a_cycle_reachable_only_from_a_node_declared_first_is_located(self) -> None:
        text = """\
        name: x
        nodes:
          report: {tool: echo, args: {v: "${a}"}}
          a: {tool: echo, args: {v: "${b.k}"}}
          b: {tool: echo, depends_on: a}
        """
        with pytest.raises(gf.CycleError) as info:
            load(text)
        assert info.value.cycle == ["a", "b", "a"]
        assert str(info.value) == (
            "<string>:5:19: cycle: a -> b -> a ('b' needs 'a' at line 5; 'a' needs 'b' at line 4)"
        )

    def test_a_required_input_not_given_is_said_once_not_where_it_is_read(self) -> None:
        text = (
            "name: x\ninputs: {xs: {required: true}, n: {default: 3}}\nnodes:\n"
            "  each: {tool: echo, for_each: '${inputs.xs}', args: {x: '${item}'}}\n"
            "  a: {tool: echo, args: {x: '${inputs.xs}', t: '${inputs.typo}'}}\n"
        )
        assert error_of(text).splitlines() == [
            "<string>:2:10: input 'xs' is required: pass --input xs=...",
            "<string>:5:45: ${inputs.typo} names unknown input 'typo' (inputs: xs, n)",
        ]

    def test_unknown_input_given(self) -> None:
        message = error_of("name: x\ninputs: {a: {}}\nnodes:\n  n: {tool: echo}\n", inputs={"b": 1})
        assert message == "<string>: unknown input 'b' (this workflow's inputs: a)"

    def test_errors_name_the_file(self, tmp_path: Path) -> None:
        path = tmp_path / "flow.yaml"
        path.write_text("name: x\nnodes:\n  a: {tool: nope}\n")
        with pytest.raises(gf.ToolNotFoundError) as info:
            load_workflow(path)
        assert str(info.value).startswith(f"{path}:3:7: unknown tool 'nope'")


class TestDurations:
    @pytest.mark.parametrize(
        ("raw", "seconds"),
        [
            (2, 2.0),
            (0.5, 0.5),
            ("500ms", 0.5),
            ("30s", 30.0),
            ("5m", 300.0),
            ("1h", 3600.0),
            ("7", 7.0),
        ],
    )
    def test_forms(self, raw: object, seconds: float) -> None:
        assert parse_duration(raw) == seconds

    @pytest.mark.parametrize(
        "raw", ["5 parsecs", "", "-1s", True, None, 10**400, "9" * 400 + "s", float("nan")]
    )
    def test_refused(self, raw: object) -> None:
        with pytest.raises(ValueError, match="duration"):
            parse_duration(raw)

    def test_a_huge_number_is_a_located_error_not_an_overflow(self) -> None:
        message = error_of(f"name: x\nnodes:\n  a: {{tool: echo, timeout: {'9' * 400}}}\n")
        assert message.startswith("<string>:3:19: nodes.a.timeout: a duration this long")


class TestLimits:
    @pytest.mark.parametrize(
        "text",
        [
            "name: x\nconcurrency: 1000001\nnodes:\n  a: {tool: echo}\n",
            "name: x\nnodes:\n  a: {tool: echo, for_each: [1], max_parallel: 1000001}\n",
        ],
    )
    def test_more_than_a_million_at_once_is_refused(self, text: str) -> None:
        # a 4,000-digit concurrency passed validate and failed run (OverflowError)
        assert "less than or equal to 1000000" in error_of(text)


class TestBuild:
    def test_options_reach_the_graph(self) -> None:
        wf = load(
            """\
            name: opts
            defaults: {timeout: 30s, retries: 1}
            concurrency: 3
            fail_fast: true
            nodes:
              a:
                tool: sleep
                args: {seconds: 0}
                timeout: 500ms
                retries: {attempts: 3, backoff: 200ms, max_backoff: 1s}
              b: {tool: echo, depends_on: a, trigger: all_done}
            """
        )
        a, b = wf.graph["a"], wf.graph["b"]
        assert a.timeout == 0.5
        assert a.retry == gf.Retry(2, backoff=0.2, max_backoff=1.0)
        assert b.deps == ("a",) and b.trigger == "all_done"
        assert wf.run_options() == gf.RunOptions(
            concurrency=3, fail_fast=True, default_timeout=30.0, default_retries=gf.Retry(1)
        )
        unset = load("name: x\nnodes:\n  a: {tool: echo}\n").run_options()
        assert unset == gf.RunOptions()

    def test_resources_reach_the_graph(self) -> None:
        wf = load(
            """\
            name: res
            nodes:
              a: {tool: echo, resources: {GPU: 1, memory: 4e9}}
              b: {tool: echo}
            """
        )
        specs = {s.node_id: s for s in wf.graph.plan().specs}
        assert specs["a"].resources == {"GPU": 1.0, "memory": 4e9}
        assert specs["b"].resources is None

    def test_inputs_are_substituted_with_their_types(self) -> None:
        wf = load(
            """\
            name: inputs
            inputs:
              skus: {default: [A1, B2]}
              region: {default: eu}
            nodes:
              a: {tool: echo, args: {skus: "${inputs.skus}", where: "in ${inputs.region}"}}
            """,
            inputs={"region": "us"},
        )
        result = gf.run_sync(wf.graph)
        assert result["a"].output == {"skus": ["A1", "B2"], "where": "in us"}

    def test_an_escaped_reference_stays_literal_text(self) -> None:
        wf = load(
            """\
            name: escapes
            inputs: {region: {default: eu}}
            nodes:
              a: {tool: echo, args: {v: "costs $${price}", w: "${b} in ${inputs.region}"}}
              b: {tool: echo, args: {x: 1}}
            """
        )
        result = gf.run_sync(wf.graph)
        assert result["a"].output == {"v": "costs ${price}", "w": '{"x": 1} in eu'}

    def test_the_issue_example_runs_with_item_level_fan_out(self, tmp_path: Path) -> None:
        (tmp_path / "shop_tools.py").write_text(
            textwrap.dedent(
                """\
                PRICES = {"A1": 30, "B2": 20, "C3": 25}

                async def lookup_product(sku, region):
                    return {"sku": sku, "price": PRICES[sku], "region": region}

                def pick_cheapest(products):
                    return min(products, key=lambda p: p["price"])

                calls = []

                def lookup_previous_model(sku):
                    calls.append(sku)
                    if len(calls) == 1:
                        raise ConnectionError("flaky")
                    return {"sku": sku + "-old"}
                """
            )
        )
        (tmp_path / "flow.yaml").write_text(
            textwrap.dedent(
                """\
                name: compare-laptops
                tools: [shop_tools]
                inputs:
                  skus: {default: [A1, B2, C3]}
                  region: {default: eu}
                defaults: {timeout: 30s, retries: 1}
                concurrency: 8
                nodes:
                  lookup:
                    tool: lookup_product
                    for_each: ${inputs.skus}
                    args: {sku: "${item}", region: "${inputs.region}"}
                    max_parallel: 2
                  cheapest:
                    tool: pick_cheapest
                    args: {products: "${lookup}"}
                  last_year:
                    tool: lookup_previous_model
                    args: {sku: "${cheapest.sku}"}
                    timeout: 10s
                    retries: {attempts: 3, backoff: 0.01s, max_backoff: 5s}
                  summary:
                    tool: echo
                    args: {text: "cheapest ${cheapest.sku}, last year ${last_year.sku}"}
                    trigger: all_done
                    depends_on: [last_year]
                """
            )
        )
        wf = load_workflow(tmp_path / "flow.yaml")
        result = gf.run_sync(wf.graph, wf.run_options())
        assert result.ok
        assert [result[f"lookup[{i}]"].output["sku"] for i in range(3)] == ["A1", "B2", "C3"]
        assert result["last_year"].attempts == 2
        assert result["summary"].output == {"text": "cheapest B2, last year B2-old"}
        assert str(tmp_path) not in sys.path  # the import path was restored

    def test_module_tools_shadow_builtins_and_use_all(self, tmp_path: Path) -> None:
        (tmp_path / "mine.py").write_text(
            "__all__ = ['echo']\ndef echo(**kw):\n    return 'mine'\ndef hidden():\n    return 1\n"
        )
        text = "name: x\ntools: [mine]\nnodes:\n  a: {tool: echo}\n  b: {tool: hidden}\n"
        (tmp_path / "f.yaml").write_text(text)
        with pytest.raises(gf.ToolNotFoundError, match="unknown tool 'hidden'"):
            load_workflow(tmp_path / "f.yaml")

    def test_unimportable_tools_module(self, tmp_path: Path) -> None:
        (tmp_path / "f.yaml").write_text(
            "name: x\ntools: [no_such_mod]\nnodes:\n  a: {tool: echo}\n"
        )
        with pytest.raises(
            gf.SpecError, match=r"f.yaml:2:9: cannot import tools module 'no_such_mod'"
        ):
            load_workflow(tmp_path / "f.yaml")

    def test_entry_point_tools(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # a real installed distribution (a dist-info on sys.path) declaring an entry point
        (tmp_path / "ep_tools.py").write_text("def shout(text):\n    return text.upper()\n")
        dist = tmp_path / "ep_tools-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-tools\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text("[graphflow.tools]\nshout = ep_tools:shout\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        wf = load("name: x\nnodes:\n  a: {tool: shout, args: {text: hi}}\n")
        assert gf.run_sync(wf.graph)["a"].output == "HI"


class TestToolModules:
    def test_typed_tools_are_found_without_all(self, tmp_path: Path) -> None:
        # issue 9: "@gf.tool" functions gave "unknown tool 'add'" unless __all__ listed them
        (tmp_path / "typed_tools.py").write_text(
            textwrap.dedent(
                """\
                import graphflow as gf

                @gf.tool
                def add(a: int, b: int) -> int:
                    return a + b

                @gf.tool(name="times")
                async def multiply(a: int, b: int) -> int:
                    return a * b

                def plain(x):
                    return x
                """
            )
        )
        (tmp_path / "flow.yaml").write_text(
            textwrap.dedent(
                """\
                name: typed
                tools: [typed_tools]
                nodes:
                  s: {tool: add, args: {a: 2, b: "3"}}
                  p: {tool: times, args: {a: "${s}", b: 10}}
                  q: {tool: plain, args: {x: "${p}"}}
                """
            )
        )
        wf = load_workflow(tmp_path / "flow.yaml")
        result = gf.run_sync(wf.graph)
        assert [result[n].output for n in ("s", "p", "q")] == [5, 50, 50]

    def test_a_typed_tool_is_known_by_its_name(self, tmp_path: Path) -> None:
        (tmp_path / "named_tools.py").write_text(
            "import graphflow as gf\n\n"
            "@gf.tool(name='times')\ndef multiply(a, b):\n    return a * b\n"
        )
        (tmp_path / "f.yaml").write_text(
            "name: x\ntools: [named_tools]\nnodes:\n  a: {tool: multiply}\n"
        )
        with pytest.raises(gf.ToolNotFoundError, match="unknown tool 'multiply'"):
            load_workflow(tmp_path / "f.yaml")

    def test_tools_imported_from_elsewhere_are_not_the_modules_own(self, tmp_path: Path) -> None:
        (tmp_path / "reexports.py").write_text("from graphflow.builtin_tools import sleep as nap\n")
        (tmp_path / "f.yaml").write_text("name: x\ntools: [reexports]\nnodes:\n  a: {tool: nap}\n")
        with pytest.raises(gf.ToolNotFoundError, match="unknown tool 'nap'"):
            load_workflow(tmp_path / "f.yaml")

    @pytest.mark.parametrize("name", ["", ".x", "a..b", "1abc", "a b", "x-" * 500])
    def test_a_name_that_is_not_a_module_name(self, tmp_path: Path, name: str) -> None:
        # "" and ".x" raised ValueError and TypeError out of importlib
        (tmp_path / "f.yaml").write_text(
            f"name: x\ntools: [{name!r}]\nnodes:\n  a: {{tool: echo}}\n"
        )
        with pytest.raises(gf.SpecError) as info:
            load_workflow(tmp_path / "f.yaml")
        assert str(info.value).startswith(f"{tmp_path / 'f.yaml'}:2:9: ")
        assert "is not a module name" in str(info.value)
        assert len(info.value.reason) <= 200

    def test_a_module_that_raises_while_imported(self, tmp_path: Path) -> None:
        (tmp_path / "broken_tools.py").write_text("raise RuntimeError('no config file')\n")
        (tmp_path / "f.yaml").write_text(
            "name: x\ntools: [broken_tools]\nnodes:\n  a: {tool: echo}\n"
        )
        with pytest.raises(gf.SpecError) as info:
            load_workflow(tmp_path / "f.yaml")
        assert info.value.reason == "cannot import tools module 'broken_tools': no config file"


class TestEveryError:
    """Issue 9: "a file with four mistakes showed one, not even the first"."""

    FOUR = """\
    name: x
    nodes:
      a: {tool: ech}
      b: {tool: echo, timeout: 5 parsecs}
      c: {tool: echo, argz: 1}
      d: {tool: echo, args: {v: "${zz}"}}
    """

    def test_four_mistakes_four_lines_in_file_order(self) -> None:
        with pytest.raises(WorkflowErrors) as info:
            load(self.FOUR)
        assert str(info.value).splitlines() == [
            "<string>:3:7: unknown tool 'ech' (did you mean 'echo'?)",
            "<string>:4:19: nodes.b.timeout: '5 parsecs' is not a duration: "
            "use seconds or 500ms, 30s, 5m, 1h",
            "<string>:5:19: unknown key 'argz' (did you mean 'args'?)",
            "<string>:6:26: node 'd' references unknown node 'zz'",
        ]
        errors = info.value.errors
        assert isinstance(errors[0], gf.ToolNotFoundError) and errors[0].name == "ech"
        assert (info.value.line, info.value.column) == (3, 7)  # located at the first

    def test_a_misspelt_required_key_is_one_mistake(self) -> None:
        assert error_of("name: x\nnodes:\n  a: {tol: echo}\n") == (
            "<string>:3:7: unknown key 'tol' (did you mean 'tool'?)"
        )

    @pytest.mark.parametrize(
        ("field", "expected"),
        [
            ("executor: proces", "(got 'proces'; did you mean 'process'?)"),
            ("trigger: al_done", "(got 'al_done'; did you mean 'all_done'?)"),
            ("executor: gpu", "'process' or 'dask' (got 'gpu')"),
            ("executor: 3", "'process' or 'dask' (got 3)"),
        ],
    )
    def test_a_misspelt_choice_says_what_was_written_and_what_was_meant(
        self, field: str, expected: str
    ) -> None:
        assert error_of(f"name: x\nnodes:\n  a: {{tool: echo, {field}}}\n").endswith(expected)

    @pytest.mark.parametrize(
        ("field", "expected"),
        [
            ("retries: x", "<string>:3:19: nodes.a.retries: expected an integer or a mapping"),
            ("retries: -1", "<string>:3:19: nodes.a.retries: Input should be greater than"),
            ("for_each: 3", "<string>:3:19: nodes.a.for_each: expected a list or a string"),
            ("depends_on: [1]", "<string>:3:32: nodes.a.depends_on.0: Input should be a valid"),
        ],
    )
    def test_a_union_field_reports_what_was_meant(self, field: str, expected: str) -> None:
        assert error_of(f"name: x\nnodes:\n  a: {{tool: echo, {field}}}\n").startswith(expected)

    def test_what_follows_from_a_reported_mistake_is_not_reported(self, tmp_path: Path) -> None:
        text = """\
        name: x
        tools: [no_such_module]
        inputs: {r: {requird: true}}
        nodes:
          a: {tool: from_that_module, args: {v: "${inputs.r}"}}
          b: {tool: echo, timeot: 1}
          c: {tool: echo, args: {v: "${b}"}}
          d: {tool: echo, timeout: !!int x}
        """
        assert error_of(text).splitlines() == [
            "<string>:2:9: cannot import tools module 'no_such_module': "
            "No module named 'no_such_module'",
            "<string>:3:14: unknown key 'requird' (did you mean 'required'?)",
            "<string>:6:19: unknown key 'timeot' (did you mean 'timeout'?)",
            "<string>:8:28: 'x' is not a valid int",
        ]

    def test_a_flood_of_mistakes_is_capped(self) -> None:
        nodes = "".join(f"  n{i}: {{tool: nope{i}}}\n" for i in range(30))
        lines = error_of(f"name: x\nnodes:\n{nodes}").splitlines()
        assert len(lines) == MAX_REPORTED + 1
        assert lines[-1] == f"<string>:{3 + MAX_REPORTED}:9: and 10 more errors"

    def test_cycles_are_looked_for_once_everything_else_is_right(self) -> None:
        # with nodes left out for their own mistakes, what is left may look cyclic or not
        text = (
            "name: x\nnodes:\n  a: {tool: echo, depends_on: b}\n  b: {tool: echo, depends_on: a}\n"
        )
        with pytest.raises(gf.CycleError):
            load(text)
        assert error_of(text + "  c: {tool: nope}\n") == "<string>:5:7: unknown tool 'nope'"

    def test_hostile_sizes_give_short_answers(self) -> None:
        name = "t" * 100_000  # was 100 KB of stderr
        other = "u" * 100_000
        text = f"name: x\nnodes:\n  ? {name}\n  : {{tool: {name}, args: {{v: '${{{other}}}'}}}}\n"
        lines = error_of(text).splitlines()
        assert len(lines) == 2  # the unknown tool, the unknown node
        assert all(len(line) <= 200 for line in lines), [line[:80] for line in lines]


class TestReferences:
    def test_an_escape_beside_an_input_is_unescaped_once(self) -> None:
        # issue 8: "$${b.v}" was un-escaped twice: a spurious edge, and "1" instead of "${b.v}"
        wf = load(
            """\
            name: x
            inputs: {i: {default: 1}}
            nodes:
              a: {tool: echo, args: {v: "${inputs.i} $${b.v}", w: "$${b.v}"}}
              b: {tool: echo, args: {v: 1}}
            """
        )
        assert wf.graph["a"].deps == ()
        result = gf.run_sync(wf.graph)
        assert result["a"].output == {"v": "1 ${b.v}", "w": "${b.v}"}

    def test_an_escaped_name_that_is_no_node_is_text(self) -> None:
        wf = load('name: x\nnodes:\n  a: {tool: echo, args: {v: "$${not_a_ref}"}}\n')
        assert gf.run_sync(wf.graph)["a"].output == {"v": "${not_a_ref}"}

    def test_an_inputs_value_is_data_never_a_reference(self) -> None:
        wf = load(
            """\
            name: x
            inputs: {q: {}, many: {}}
            nodes:
              a:
                tool: echo
                args: {whole: "${inputs.q}", part: "q=${inputs.q}", l: "${inputs.many}"}
              b: {tool: echo, args: {v: 1}}
            """,
            inputs={"q": "${b.v}", "many": ["${b}", {"k": "$${b}"}]},
        )
        assert wf.graph["a"].deps == ()
        assert gf.run_sync(wf.graph)["a"].output == {
            "whole": "${b.v}",
            "part": "q=${b.v}",
            "l": ["${b}", {"k": "$${b}"}],
        }

    @pytest.mark.parametrize(
        ("value", "column"), [("${b.y", 26), ("costs ${b} and ${c", 26), ("${a${b}}", 26)]
    )
    def test_an_unclosed_reference_is_a_located_error(self, value: str, column: int) -> None:
        # issue 9: "${b.y" was silently a literal
        text = (
            f"name: x\nnodes:\n  a: {{tool: echo, args: {{v: '{value}'}}}}\n  b: {{tool: echo}}\n"
        )
        assert error_of(text).startswith(f"<string>:3:{column}: unclosed reference '${{")

    def test_for_each_items_are_values(self) -> None:
        wf = load(
            """\
            name: x
            inputs: {r: {default: eu}}
            nodes:
              a:
                tool: echo
                for_each: ["$${x}", "in ${inputs.r}", "${inputs.r}", [1, "${inputs.r}"]]
                args: {v: "${item}"}
            """
        )
        outputs = gf.run_sync(wf.graph)["a"].output
        assert [o["v"] for o in outputs] == ["${x}", "in eu", "eu", [1, "eu"]]

    def test_a_reference_inside_a_for_each_list_is_refused(self) -> None:
        # the core binds static items as they are: "${b.v}" would reach the tool as text
        text = """\
        name: x
        nodes:
          a: {tool: echo, for_each: [1, "${b.v}"], args: {v: "${item}"}}
          b: {tool: echo}
        """
        assert error_of(text).startswith(
            "<string>:3:33: a for_each list holds values, not references"
        )

    @pytest.mark.parametrize(
        ("for_each", "message"),
        [
            ("'${inputs.r}'", "for_each: ${inputs.r} is str, not a list"),
            ("abc", "for_each must be a list or one reference, got 'abc'"),
            ("'${b} ${b}'", "for_each must be a list or one reference"),
        ],
    )
    def test_for_each_is_a_list_or_one_reference(self, for_each: str, message: str) -> None:
        text = (
            "name: x\ninputs: {r: {default: eu}}\nnodes:\n"
            f"  a: {{tool: echo, for_each: {for_each}, args: {{v: '${{item}}'}}}}\n"
            "  b: {tool: echo}\n"
        )
        assert error_of(text).startswith(f"<string>:4:19: {message}")


TYPED_TOOLS = """\
import graphflow as gf


@gf.tool
def add(a: int, b: int = 0) -> int:
    return a + b


def _search(**arguments):
    return arguments


search = gf.Tool.from_schema(
    "search",
    {"properties": {"q": {"type": "string"}, "k": {"type": "integer"}}, "required": ["q"]},
    _search,
)


def plain(x, *, y=1):
    return x


def anything(**kwargs):
    return kwargs
"""


class TestArguments:
    """Issue 9: "validate checks tool arguments" as the run would."""

    def test_a_misspelt_argument_fails_validate_at_its_line(self) -> None:
        # was: validate passed, run failed with a TypeError and no location
        assert error_of("name: x\nnodes:\n  a: {tool: sleep, args: {secs: 1}}\n") == (
            "<string>:3:27: tool 'sleep' has no argument 'secs' (did you mean 'seconds'?)"
        )

    def test_a_missing_argument(self) -> None:
        assert error_of("name: x\nnodes:\n  a: {tool: sleep}\n") == (
            "<string>:3:7: tool 'sleep' needs argument 'seconds'"
        )

    @pytest.mark.parametrize(
        ("node", "expected"),
        [
            (
                "{tool: shell, args: {argv: 'ls -l'}}",
                "3:27: tool 'shell': argv must be a non-empty list of strings (no shell string)",
            ),
            ("{tool: sleep, args: {seconds: abc}}", "3:27: tool 'sleep': seconds must be a number"),
            ("{tool: sleep, args: {seconds: -1}}", "3:27: tool 'sleep': seconds must be a number"),
            (
                "{tool: python, args: {function: os}}",
                "3:28: tool 'python': function must look like",
            ),
            ("{tool: python, args: {function: 'os:getcwd', args: 1}}", "tool 'python': args must"),
            ("{tool: text.join, args: {items: 'a,b'}}", "3:31: tool 'text.join': items must be a"),
            ("{tool: json.parse, args: {text: 3}}", "3:32: tool 'json.parse': text must be a str"),
            ("{tool: sleep, args: {seconds: .nan}}", "seconds must be a number >= 0, got nan"),
            ("{tool: shell, args: {argv: [ls], timeout: abc}}", "timeout must be a number > 0"),
            ("{tool: shell, args: {argv: [ls], timeout: -1}}", "timeout must be a number > 0"),
            ("{tool: shell, args: {argv: [ls], cwd: 3}}", "cwd must be a string, got int"),
            ("{tool: shell, args: {argv: [ls], env: {A: 1}}}", "env must map names to strings"),
            ("{tool: shell, args: {argv: [ls], env: 'A=1'}}", "env must be a mapping of names"),
            ("{tool: shell, args: {argv: [ls], stdin: 5}}", "stdin must be a string, got int"),
            ("{tool: shell, args: {argv: [ls], check: 'no'}}", "check must be true or false"),
            ("{tool: python, args: {function: 'os:getcwd', kwargs: [1]}}", "kwargs must be a"),
            ("{tool: text.join, args: {items: [a], sep: 5}}", "sep must be a string, got int"),
            ("{tool: text.lines, args: {text: a, strip: 'no'}}", "strip must be true or false"),
            ("{tool: pick, args: {value: 1, path: 5}}", "path must be a string, got int"),
            ("{tool: http.get, args: {url: 5}}", "url must be a string, got int"),
            (
                "{tool: http.get, args: {url: 'http://x', headers: [a]}}",
                "headers must be a mapping",
            ),
            ("{tool: http.request, args: {method: 1, url: 'http://x'}}", "method must be a string"),
        ],
    )
    def test_a_built_in_s_own_checks_of_a_constant_fail_validate(
        self, node: str, expected: str
    ) -> None:
        """validate passed these; the run failed each node with the same message."""
        assert expected in error_of(f"name: x\nnodes:\n  a: {node}\n")

    def test_a_huge_value_is_quoted_short(self) -> None:
        message = error_of(
            "name: x\nnodes:\n  a: {tool: sleep, args: {seconds: '" + "9" * 5000 + "'}}\n"
        )
        assert len(message) < 200 and message.endswith("…")

    def test_a_value_read_from_an_input_says_so(self) -> None:
        """An optional input not given is None, which the run would refuse too: the
        message names where the value came from. A required one not given is said
        once, where it is declared (not again as None where it is read)."""
        text = (
            "name: x\ninputs: {delay: {}}\nnodes:\n"
            "  a: {tool: sleep, args: {seconds: '${inputs.delay}'}}\n"
        )
        assert error_of(text).endswith("got None (read from '${inputs.delay}')")
        assert load(text, inputs={"delay": 1}).graph
        assert "got None" not in error_of(text.replace("{}", "{required: true}"))

    @pytest.mark.parametrize(
        ("node", "expected"),
        [
            (
                "{tool: echo, for_each: [1, {name: b}, 3], args: {who: '${item.name}'}}",
                "3:55: for_each item 0 (1): cannot resolve ${item.name}: item is int, which "
                "has no 'name'",
            ),
            (
                "{tool: sleep, for_each: [0.1, a, b, c], args: {seconds: '${item}'}}",
                "3:53: for_each item 1 ('a'): tool 'sleep': seconds must be a number >= 0, "
                "got 'a' (read from '${item}')",
            ),
            (
                "{tool: shell, for_each: [[ls], ls], args: {argv: '${item}'}}",
                "3:49: for_each item 1 ('ls'): tool 'shell': argv must be a non-empty list",
            ),
        ],
    )
    def test_a_for_each_list_in_the_file_has_its_items_checked(
        self, node: str, expected: str
    ) -> None:
        """validate passed these; the run failed every item with the same message."""
        assert error_of(f"name: x\nnodes:\n  a: {node}\n").startswith(f"<string>:{expected}")

    @pytest.mark.usefixtures("typed")
    def test_a_for_each_item_is_checked_against_the_tool_s_model(self) -> None:
        text = "name: x\ntools: [arg_tools]\nnodes:\n  n: {tool: add, for_each: [1, x], "
        text += "args: {a: '${item}'}}\n"
        assert error_of(text).startswith(
            "<string>:4:43: for_each item 1 ('x'): tool 'add': a: Input should be a valid integer"
        )

    def test_items_in_a_shell_node_s_env_are_located_there(self) -> None:
        text = "name: x\nnodes:\n  a: {tool: shell, for_each: [1], env: {N: '${item}'}, "
        text += "args: {argv: [env]}}\n"
        assert error_of(text).startswith(
            "<string>:3:35: for_each item 0 (1): tool 'shell': env must map names to strings"
        )

    def test_an_int_too_big_for_a_timer_is_refused_in_one_line(self) -> None:
        big = "9" * 400
        text = f"name: x\nnodes:\n  a: {{tool: sleep, for_each: [{big}], "
        text += "args: {seconds: '${item}'}}\n"
        text += f"  b: {{tool: shell, args: {{argv: [ls], timeout: {big}}}}}\n"
        lines = error_of(text).splitlines()
        assert "for_each item 0 (9999" in lines[0] and "seconds must be a number >= 0" in lines[0]
        assert "timeout must be a number > 0, got 9999" in lines[1]
        assert all(len(line) < 400 for line in lines)

    def test_partial_items_may_fail_by_design(self) -> None:
        text = (
            "name: x\nnodes:\n"
            "  a: {tool: sleep, for_each: [0, -1], partial: true, args: {seconds: '${item}'}}\n"
        )
        result = gf.run_sync(load(text).graph)
        assert [r["status"] for r in result["a"].output] == ["succeeded", "failed"]

    def test_for_each_items_that_fit_and_items_from_a_node_pass(self) -> None:
        text = (
            "name: x\nnodes:\n"
            "  a: {tool: sleep, for_each: [0, 0.01], args: {seconds: '${item}'}}\n"
            "  b: {tool: echo, for_each: [{n: 1}, {n: 2}], args: {v: '${item.n}'}}\n"
            "  c: {tool: echo, args: {v: [1]}}\n"
            "  d: {tool: sleep, for_each: '${c.v}', args: {seconds: '${item}'}}\n"
            "  e: {tool: echo, for_each: [x], args: {v: '${item}', w: '${c.v}'}}\n"
        )
        result = gf.run_sync(load(text).graph)
        assert result.ok and result["b"].output == [{"v": 1}, {"v": 2}]

    def test_a_built_in_s_argument_from_a_reference_waits_for_the_run(self) -> None:
        text = (
            "name: x\nnodes:\n  n: {tool: echo, args: {v: 1}}\n"
            "  a: {tool: sleep, args: {seconds: '${n.v}'}}\n"
            "  b: {tool: shell, args: {argv: [echo, '${n.v}']}}\n"
        )
        wf = load(text)
        assert set(wf.graph) == {"n", "a", "b"}

    @pytest.fixture
    def typed(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        (tmp_path / "arg_tools.py").write_text(TYPED_TOOLS)
        monkeypatch.syspath_prepend(str(tmp_path))

    @pytest.mark.usefixtures("typed")
    @pytest.mark.parametrize(
        ("node", "expected"),
        [
            ("{tool: add, args: {a: x}}", "4:25: tool 'add': a: Input should be a valid integer"),
            ("{tool: add, args: {b: 1}}", "4:18: tool 'add' needs argument 'a'"),
            ("{tool: add, args: {a: 1, c: 2}}", "4:31: tool 'add' has no argument 'c' (it takes"),
            ("{tool: search, args: {q: a, k: x}}", "4:34: tool 'search': k: Input should be"),
            ("{tool: search, args: {k: 1}}", "4:21: tool 'search' needs argument 'q'"),
            ("{tool: plain, args: {x: 1, z: 2}}", "4:33: tool 'plain' has no argument 'z'"),
            ("{tool: plain, args: {y: 2}}", "4:20: tool 'plain' needs argument 'x'"),
        ],
    )
    def test_constant_arguments_are_checked_as_the_tool_will(
        self, node: str, expected: str
    ) -> None:
        assert error_of(f"name: x\ntools: [arg_tools]\nnodes:\n  n: {node}\n").startswith(
            f"<string>:{expected}"
        )

    @pytest.mark.usefixtures("typed")
    def test_what_is_known_only_at_run_time_is_not_judged(self) -> None:
        wf = load(
            """\
            name: x
            tools: [arg_tools]
            inputs: {n: {default: "4"}}
            nodes:
              s: {tool: echo, args: {v: "not a number"}}
              a: {tool: add, args: {a: "${s.v}"}}
              b: {tool: add, args: {a: "${inputs.n}", b: "${item}"}, for_each: [1, 2]}
              c: {tool: plain, args: {x: "${s}", y: "any value: plain functions check none"}}
              d: {tool: anything, args: {whatever: 1}}
            """
        )
        result = gf.run_sync(wf.graph)
        assert result["b"].output == [5, 6]
        assert result["a"].error is not None  # the run itself still checks

    @pytest.mark.usefixtures("typed")
    def test_an_input_substituted_into_a_typed_argument_is_checked(self) -> None:
        text = "name: x\ntools: [arg_tools]\ninputs: {n: {default: 3}}\n"
        text += "nodes:\n  a: {tool: add, args: {a: '${inputs.n}'}}\n"
        assert load(text)
        message = error_of(text, inputs={"n": "three"})
        assert message.startswith("<string>:5:25: tool 'add': a: Input should be a valid integer")


class TestWholeGraph:
    def test_a_node_named_like_a_for_each_item_is_located(self) -> None:
        text = "name: x\nnodes:\n  m: {tool: echo, for_each: [1]}\n  m[0]: {tool: echo}\n"
        assert error_of(text) == (
            "<string>:4:3: node id 'm[0]' is taken by a for_each item "
            "(a for_each node m runs as m[0], m[1], ...): rename the node"
        )

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("name: x\nnodes:\n  1: {tool: echo}\n", "<string>:3:3: key 1 must be a string"),
            (
                "name: x\nnodes:\n  a: {tool: echo, args: {2: v}}\n",
                "<string>:3:26: key 2 must be a string",
            ),
            (
                "name: x\n---\nname: y\n",
                "<string>:2:1: invalid YAML: expected a single document in the stream, "
                "but found another document",
            ),
        ],
    )
    def test_messages_say_what_to_change(self, text: str, expected: str) -> None:
        assert error_of(text).startswith(expected)

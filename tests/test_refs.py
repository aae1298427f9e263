from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import graphflow as gf
from graphflow._refs import KEEP, Ref, compile_args, parse_ref, resolve_path


def render(args: Any, outputs: dict[str, Any]) -> Any:
    return compile_args(args).render(lambda r: resolve_path(outputs[r.node_id], r))


class TestParse:
    def test_string_and_object_forms_agree(self) -> None:
        assert parse_ref("a.items.0") == gf.ref("a", "items.0") == gf.ref("a", ["items", 0])

    @pytest.mark.parametrize("text", ["", "a..b", ".a", "a."])
    def test_malformed(self, text: str) -> None:
        with pytest.raises(ValueError, match="malformed"):
            parse_ref(text)

    def test_str_round_trip(self) -> None:
        assert str(Ref("a", ("b", "0"))) == "${a.b.0}"


class TestRender:
    def test_whole_string_reference_keeps_type(self) -> None:
        assert render({"x": "${a.n}"}, {"a": {"n": 3}}) == {"x": 3}

    def test_reference_inside_text_is_interpolated(self) -> None:
        got = render({"x": "n=${a.n}, l=${a.l}, s=${a.s}"}, {"a": {"n": 3, "l": [1], "s": "hi"}})
        assert got == {"x": "n=3, l=[1], s=hi"}

    def test_nested_containers_and_ref_objects(self) -> None:
        args = {"deep": [{"v": gf.ref("a", "k")}, ("${b}", 1)], "plain": {"k": [1, 2]}}
        got = render(args, {"a": {"k": "A"}, "b": 2})
        assert got == {"deep": [{"v": "A"}, (2, 1)], "plain": {"k": [1, 2]}}
        assert got["plain"] is args["plain"]  # no reference inside: not copied

    def test_args_without_refs_render_to_themselves(self) -> None:
        args = {"a": [1, 2], "b": "text"}
        assert compile_args(args).render(lambda r: None) is args

    def test_escaped_dollar_is_literal(self) -> None:
        template = compile_args({"x": "cost $${a} and ${a}"})
        assert [r.node_id for r in template.refs] == ["a"]
        assert template.render(lambda r: 5) == {"x": "cost ${a} and 5"}

    def test_index_and_attribute_paths(self) -> None:
        @dataclass
        class Product:
            sku: str

        assert render("${a.0.sku}", {"a": [Product("X")]}) == "X"

    def test_keep_leaves_reference_text(self) -> None:
        template = compile_args({"x": "${a}", "y": "p ${a} q", "z": gf.ref("a")})
        assert template.render(lambda r: KEEP) == {"x": "${a}", "y": "p ${a} q", "z": gf.ref("a")}

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("${a.missing}", "a has no key 'missing' (keys: 'k')"),
            ("${a.k.5}", "a.k has no index 5 (length 2)"),
            ("${a.k.0.x}", "a.k.0 is int, which has no 'x'"),
        ],
    )
    def test_missing_path_names_the_reference(self, text: str, message: str) -> None:
        with pytest.raises(gf.ReferenceResolutionError) as info:
            render(text, {"a": {"k": [1, 2]}})
        assert str(info.value) == f"cannot resolve {text}: {message}"

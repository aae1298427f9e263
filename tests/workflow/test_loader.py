from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from graphflow import SpecError
from graphflow.workflow import _loader
from graphflow.workflow._loader import MAX_DEPTH, load_file, load_text


@pytest.fixture(autouse=True, params=["libyaml", "pure-python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every case runs on both event sources: libyaml's, and PyYAML's own when it is absent."""
    if request.param == "libyaml" and not _loader.LIBYAML:
        pytest.skip("PyYAML was built without libyaml")
    monkeypatch.setattr(_loader, "LIBYAML", request.param == "libyaml")
    return str(request.param)


def problems(text: str) -> list[str]:
    """What the loader found wrong without stopping, one located line each."""
    return [str(e) for e in load_text(text, "f.yaml").errors]


def fatal(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_text(text, "f.yaml")
    return str(info.value)


class TestPositions:
    def test_every_key_and_item_has_line_and_column(self) -> None:
        doc = load_text("a: 1\nb:\n  c: [x, y]\n  d: {e: 5}\n")
        assert doc.data == {"a": 1, "b": {"c": ["x", "y"], "d": {"e": 5}}}
        assert doc.positions[("b", "c")] == (3, 3)
        assert doc.positions[("b", "c", 1)] == (3, 10)
        assert doc.positions[("b", "d", "e")] == (4, 7)
        assert doc.errors == []

    def test_where_falls_back_to_the_nearest_parent(self) -> None:
        doc = load_text("a:\n  b: 1\n")
        assert doc.where(("a", "b", "missing")) == (2, 3)

    def test_a_byte_order_mark_is_allowed(self) -> None:
        assert load_text("\ufeffname: x\n").data == {"name": "x"}


class TestRefusals:
    """Mistakes that leave the rest readable: each recorded, the reading goes on."""

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("a: 1\nb: 2\na: 3\n", "f.yaml:3:1: duplicate key 'a' (first at line 1)"),
            ("n:\n  x: 1\n  x: 2\n", "f.yaml:3:3: duplicate key 'x' (first at line 2)"),
            ("b: &m {x: 1}\nc:\n  <<: *m\n", "f.yaml:3:3: merge keys (<<) are not supported"),
            ("a: !!python/object/apply:os.system [ls]\n", "f.yaml:1:4: unsupported tag"),
            ("a: !!python/name:os.system x\n", "f.yaml:1:4: unsupported tag"),
            ("a: !!set {x: null}\n", "f.yaml:1:4: unsupported tag 'tag:yaml.org,2002:set'"),
            ("? [a, b]\n: 1\n", "f.yaml:1:3: mapping keys must be plain scalars"),
            # each of these raised ValueError, KeyError or AttributeError out of PyYAML
            ("a: !!int abc\n", "f.yaml:1:4: 'abc' is not a valid int"),
            ("a: !!float abc\n", "f.yaml:1:4: 'abc' is not a valid float"),
            ("a: !!bool maybe\n", "f.yaml:1:4: 'maybe' is not a valid bool"),
            ("a: !!timestamp abc\n", "f.yaml:1:4: 'abc' is not a valid timestamp"),
            ("a: 2024-13-45\n", "f.yaml:1:4: '2024-13-45' is not a valid timestamp"),
            ("a: !!map abc\n", "f.yaml:1:4: unsupported tag 'tag:yaml.org,2002:map'"),
            ("a: !custom {x: 1}\n", "f.yaml:1:4: unsupported tag '!custom'"),
            ("a: !!binary aGk=\n", "f.yaml:1:4: unsupported tag 'tag:yaml.org,2002:binary'"),
            ("!!int k: 1\n", "f.yaml:1:1: 'k' is not a valid int"),
            ("!!map k: 1\n", "f.yaml:1:1: unsupported tag 'tag:yaml.org,2002:map'"),
        ],
    )
    def test_located_and_collected(self, text: str, message: str) -> None:
        found = problems(text)
        assert len(found) == 1
        assert found[0].startswith(message)

    def test_an_integer_too_long_to_read_is_a_located_error(self) -> None:
        (found,) = problems("concurrency: " + "1" * 4301 + "\n")
        assert found.startswith("f.yaml:1:14: '11111")
        assert found.endswith("1… is not a valid int (over 4,300 digits)")
        assert len(found) < 120

    def test_every_problem_is_kept_and_its_value_is_a_placeholder(self) -> None:
        doc = load_text("a: !!int x\nb: ok\nc: !!bool y\nb: again\n", "f.yaml")
        assert doc.data == {"a": None, "b": "ok", "c": None}
        assert [str(e) for e in doc.errors] == [
            "f.yaml:1:4: 'x' is not a valid int",
            "f.yaml:3:4: 'y' is not a valid bool",
            "f.yaml:4:1: duplicate key 'b' (first at line 2)",
        ]
        assert doc.bad == {("a",), ("c",)}  # what later checks should not report again

    def test_a_huge_key_is_quoted_short(self) -> None:
        key = "k" * 100_000
        (found,) = problems(f"? {key}\n: 1\n? {key}\n: 2\n")  # long keys need "? "
        assert found.startswith("f.yaml:3:3: duplicate key 'kkk")
        assert len(found) < 120


class TestLimits:
    """What stops the reading: one located error, raised at once."""

    def test_invalid_yaml(self) -> None:
        assert fatal("a: [1\n").startswith("f.yaml:2:1: invalid YAML: expected ',' or ']'")

    @pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f", "\ufffe"])
    def test_a_control_character_is_located(self, char: str) -> None:
        # was a ReaderError traceback: the reader checks characters before any parsing
        message = fatal(f"name: x\nnodes:\n  a: {{tool: ec{char}ho}}\n")
        assert message.startswith(f"f.yaml:3:15: invalid YAML: character U+{ord(char):04X}")

    @pytest.mark.parametrize(
        "text",
        [
            "a: " + "[" * 500 + "]" * 500,  # was a RecursionError with 203 KB of traceback
            "a: " + "{b: " * 500 + "1" + "}" * 500,
            "a: " + "[" * 100_000,  # unclosed, and deep: depth is found first
            "".join(f"{'  ' * i}k{i}:\n" for i in range(200)),  # block nesting
            "- " * 500 + "x\n",
        ],
    )
    def test_absurd_nesting_is_refused_while_reading_events(self, text: str) -> None:
        assert f"nesting deeper than {MAX_DEPTH} levels" in fatal(text)

    def test_the_depth_limit_itself_is_allowed(self) -> None:
        inner = MAX_DEPTH - 1  # the top-level mapping is the first level
        assert load_text("a: " + "[" * inner + "]" * inner).errors == []
        fatal("a: " + "[" * (inner + 1) + "]" * (inner + 1))

    def test_a_recursive_alias(self) -> None:
        assert f"nesting deeper than {MAX_DEPTH}" in fatal("a: &x [*x]\n")

    def test_aliases_nesting_deeper_than_the_text(self) -> None:
        lines = ["a0: &a0 " + "[" * 40 + "]" * 40]
        lines += [f"a{i}: &a{i} " + "[" * 40 + f"*a{i - 1}" + "]" * 40 for i in range(1, 3)]
        assert f"nesting deeper than {MAX_DEPTH}" in fatal("\n".join(lines))

    def test_alias_bomb(self) -> None:
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
        assert "aliases expand to more than 100,000 values (an alias bomb?)" in fatal(
            "\n".join(lines)
        )

    def test_only_what_aliases_build_counts_against_the_bomb_limit(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A 10,000-node workflow of 630 KB (no alias) was refused as "an alias
        bomb?": plain values now count against ``MAX_NODES`` (more than a file of
        ``MAX_BYTES`` can hold), replayed ones against ``MAX_EXPANDED`` too."""
        monkeypatch.setattr(_loader, "MAX_EXPANDED", 50)
        monkeypatch.setattr(_loader, "MAX_NODES", 500)
        plain = "a: [" + ",".join(["1"] * 400) + "]\nb: {k: v}\n"
        assert len(load_text(plain, "f.yaml").data["a"]) == 400
        aliased = "x: &x [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + "\n".join(f"y{i}: *x" for i in range(5))
        assert len(load_text(aliased, "f.yaml").data) == 6  # 45 values replayed
        bomb = aliased + "\ny5: *x\n"  # 54
        assert "aliases expand to more than 50 values (an alias bomb?)" in fatal(bomb)
        too_many = "a: [" + ",".join(["1"] * 500) + "]\n"
        assert "document has more than 500 values" in fatal(too_many)

    def test_oversized_file(self, tmp_path: Path) -> None:
        big = tmp_path / "big.yaml"
        big.write_text("x: " + "a" * 2000)
        with pytest.raises(
            SpecError, match=r"big.yaml: file is 2,003 bytes; workflows are limited to 1,000"
        ):
            load_file(big, max_bytes=1000)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(SpecError, match=r"nope\.yaml: cannot read"):
            load_file(tmp_path / "nope.yaml")

    def test_binary_file_names_the_line_of_the_bad_byte(self, tmp_path: Path) -> None:
        binary = tmp_path / "bin.yaml"
        binary.write_bytes(b"name: x\nnodes: \xff\xfe\n")
        with pytest.raises(SpecError) as info:
            load_file(binary)
        assert str(info.value) == f"{binary}:2:8: not UTF-8 text (invalid start byte at byte 15)"


class TestAliases:
    def test_an_alias_is_its_anchor_value_again_with_the_anchor_position(self) -> None:
        doc = load_text("a: &v {x: [1, 2]}\nb: *v\n")
        assert doc.data == {"a": {"x": [1, 2]}, "b": {"x": [1, 2]}}
        assert doc.data["a"] is not doc.data["b"]  # built twice: editing one leaves the other
        assert doc.positions[("b", "x", 1)] == (1, 15)

    def test_an_anchor_in_a_refused_entry_still_defines_its_alias(self) -> None:
        doc = load_text("a: 1\na: &v 2\nb: *v\n", "f.yaml")
        assert doc.data == {"a": 1, "b": 2}
        assert [str(e) for e in doc.errors] == ["f.yaml:2:1: duplicate key 'a' (first at line 1)"]

    def test_an_alias_to_a_scalar_is_a_key(self) -> None:
        assert load_text("k: &k name\n*k : x\n").data == {"k": "name", "name": "x"}

    def test_an_undefined_alias(self) -> None:
        assert fatal("a: *nope\n") == "f.yaml:1:4: invalid YAML: found undefined alias 'nope'"

    def test_a_second_anchor_of_the_same_name(self) -> None:
        assert fatal("a: &v 1\nb: &v 2\n") == "f.yaml:2:4: duplicate anchor &v (first at line 1)"


class TestBothParsers:
    def test_same_values_and_positions_from_libyaml_and_pure_python(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if not yaml.__with_libyaml__:
            pytest.skip("PyYAML was built without libyaml")
        root = Path(__file__).resolve().parents[2] / "workflows"
        for path in sorted(root.glob("*.yaml")):
            monkeypatch.setattr(_loader, "LIBYAML", True)
            fast = load_file(path)
            monkeypatch.setattr(_loader, "LIBYAML", False)
            slow = load_file(path)
            assert (fast.data, fast.positions) == (slow.data, slow.positions), path.name


class TestPlainScalars:
    WORDS: tuple[str, ...] = (
        *"n1 null Null NULL ~ no No NO n y yes Yes on off Off true True TRUE false 1 1.5 -1 +1"
        " 0x1F 0o17 0b101 1_000 1e3 1.0e+3 .inf -.inf .nan .NaN 2024-01-01 2024-01-01T10:00:00Z"
        " 2024-1-1 << < = == ! & * tool nodes name note nan inf 12:30 1:20:30 190:20:30"
        " 6.8523015e+5 685.230_15e+03 0. .5 +.5 - + ._ 0o 1__ nope o Y N nO 0x 0b2 -0".split(),
        "",
        "yes please",
        "1 2",
    )

    def test_the_shortcut_never_calls_a_string_what_pyyaml_resolves_otherwise(self) -> None:
        scalars = _loader._Scalars()
        for text in self.WORDS:
            tag = scalars.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
            if _loader._plainly_str(text):
                assert tag == "tag:yaml.org,2002:str", text

    def test_values_of_every_kind_read_as_pyyaml_reads_them(self) -> None:
        words = [w for w in self.WORDS if w not in {"<<", "=", "!", "&", "*", "-"}]
        text = "".join(f"k{i}: {w}\n" for i, w in enumerate(words))
        assert load_text(text).data == yaml.safe_load(text)

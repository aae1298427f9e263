from __future__ import annotations

from pathlib import Path

import pytest

from graphflow import SpecError
from graphflow.workflow._loader import MAX_DEPTH, load_file, load_text


class TestPositions:
    def test_every_key_and_item_has_line_and_column(self) -> None:
        doc = load_text("a: 1\nb:\n  c: [x, y]\n  d: {e: 5}\n")
        assert doc.data == {"a": 1, "b": {"c": ["x", "y"], "d": {"e": 5}}}
        assert doc.positions[("b", "c")] == (3, 3)
        assert doc.positions[("b", "c", 1)] == (3, 10)
        assert doc.positions[("b", "d", "e")] == (4, 7)

    def test_where_falls_back_to_the_nearest_parent(self) -> None:
        doc = load_text("a:\n  b: 1\n")
        assert doc.where(("a", "b", "missing")) == (2, 3)


class TestRefusals:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("a: 1\nb: 2\na: 3\n", "f.yaml:3:1: duplicate key 'a' (first at line 1)"),
            ("n:\n  x: 1\n  x: 2\n", "f.yaml:3:3: duplicate key 'x' (first at line 2)"),
            ("b: &m {x: 1}\nc:\n  <<: *m\n", "f.yaml:3:3: merge keys (<<) are not supported"),
            ("a: [1\n", "f.yaml:2:1: invalid YAML: expected ',' or ']'"),
            ("a: !!python/object/apply:os.system [ls]\n", "f.yaml:1:4: unsupported tag"),
            ("a: !!python/name:os.system x\n", "f.yaml:1:4: invalid value: could not determine"),
            ("a: !!set {x: null}\n", "f.yaml:1:4: unsupported tag 'tag:yaml.org,2002:set'"),
            ("? [a, b]\n: 1\n", "f.yaml:1:3: mapping keys must be plain scalars"),
        ],
    )
    def test_bad_documents(self, text: str, message: str) -> None:
        with pytest.raises(SpecError) as info:
            load_text(text, "f.yaml")
        assert str(info.value).startswith(message)

    def test_alias_bomb(self) -> None:
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
        with pytest.raises(SpecError, match="more than 100,000 values"):
            load_text("\n".join(lines), "bomb.yaml")

    def test_absurd_nesting(self) -> None:
        with pytest.raises(SpecError, match=f"nesting deeper than {MAX_DEPTH}"):
            load_text("a: " + "[" * 100 + "]" * 100, "deep.yaml")

    def test_oversized_file(self, tmp_path: Path) -> None:
        big = tmp_path / "big.yaml"
        big.write_text("x: " + "a" * 2000)
        with pytest.raises(
            SpecError, match=r"big.yaml: file is 2,003 bytes; workflows are limited to 1,000"
        ):
            load_file(big, max_bytes=1000)

    def test_missing_and_binary_files(self, tmp_path: Path) -> None:
        with pytest.raises(SpecError, match=r"nope\.yaml: cannot read"):
            load_file(tmp_path / "nope.yaml")
        binary = tmp_path / "bin.yaml"
        binary.write_bytes(b"\xff\xfe\x00")
        with pytest.raises(SpecError, match="not UTF-8"):
            load_file(binary)

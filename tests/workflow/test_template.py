"""``${...}`` in workflow strings, read with the core's syntax."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphflow as gf
from graphflow.workflow._template import TemplateError, escape, refs, split

# text rich in the characters that matter: $ { } . and letters
TRICKY = st.text(alphabet="${}.ab ", max_size=30) | st.text(max_size=30)


class TestEscape:
    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(TRICKY)
    def test_the_core_reads_an_escaped_text_back_as_that_text(self, text: str) -> None:
        template = gf.compile_args(escape(text))
        assert template.refs == ()
        assert template.render(lambda r: pytest.fail(f"looked up {r}")) == text

    @pytest.mark.parametrize(
        ("text", "escaped"),
        [
            ("${b}", "$${b}"),
            ("$${b}", "$$${b}"),
            ("${a", "${a"),
            ("x ${a} ${b.c}", "x $${a} $${b.c}"),
        ],
    )
    def test_examples(self, text: str, escaped: str) -> None:
        assert escape(text) == escaped


class TestSplit:
    def test_references_and_escapes(self) -> None:
        pieces = split("a ${b.c} $${d} e")
        assert [p.source for p in pieces] == ["a ", "${b.c}", " ", "$${d}", " e"]
        assert refs(pieces) == [gf.ref("b", "c")]
        assert pieces[3].escaped

    @pytest.mark.parametrize("text", ["${b.y", "a ${b} and ${c", "${a${b}}", "$${x", "${{x}}"])
    def test_an_unclosed_reference_is_an_error(self, text: str) -> None:
        # the core reads these as literal text, silently
        with pytest.raises(TemplateError, match="unclosed reference"):
            split(text)

    @pytest.mark.parametrize("text", ["${}", "${a..b}", "${.a}", "${a.}"])
    def test_a_malformed_reference_is_an_error(self, text: str) -> None:
        with pytest.raises(TemplateError, match="malformed reference"):
            split(text)

    def test_the_snippet_quoted_is_short(self) -> None:
        with pytest.raises(TemplateError) as info:
            split("${" + "x" * 100_000)
        assert len(str(info.value)) < 120

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(TRICKY)
    def test_split_finds_the_references_the_core_finds(self, text: str) -> None:
        try:
            pieces = split(text)
        except TemplateError:
            return
        assert tuple(refs(pieces)) == gf.compile_args(text).refs
        assert "".join(p.source for p in pieces) == text

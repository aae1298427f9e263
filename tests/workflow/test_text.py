"""Error messages never echo more than a few hundred characters, always on one line."""

from __future__ import annotations

import pytest

from graphflow.workflow._text import QUOTE_LIMIT, REASON_LIMIT, one_line, quote


class TestOneLine:
    def test_short_text_is_unchanged(self) -> None:
        assert one_line("unknown tool 'ech'") == "unknown tool 'ech'"

    def test_long_text_is_cut_with_an_ellipsis(self) -> None:
        cut = one_line("x" * 100_000)
        assert len(cut) == REASON_LIMIT
        assert cut == "x" * (REASON_LIMIT - 1) + "…"

    def test_text_of_exactly_the_limit_is_not_cut(self) -> None:
        assert one_line("y" * REASON_LIMIT) == "y" * REASON_LIMIT

    @pytest.mark.parametrize(
        ("raw", "shown"),
        [("a\nb", "a\\nb"), ("a\x01b", "a\\x01b"), ("a\u2028b", "a\\u2028b"), ("tab\t", "tab\\t")],
    )
    def test_line_breaks_and_control_characters_are_escaped(self, raw: str, shown: str) -> None:
        assert one_line(raw) == shown

    def test_escapes_count_towards_the_limit(self) -> None:
        cut = one_line("\x00" * 1000, 50)
        assert len(cut) == 50 and cut.endswith("…") and "\x00" not in cut


class TestQuote:
    def test_repr_of_a_short_value(self) -> None:
        assert quote("add") == "'add'"
        assert quote(3) == "3"

    def test_a_huge_name_is_cut(self) -> None:
        shown = quote("t" * 100_000)
        assert len(shown) == QUOTE_LIMIT
        assert shown.startswith("'ttt") and shown.endswith("…")

    def test_an_int_too_long_to_print_does_not_raise(self) -> None:
        assert quote(10**5000) == "<int>"

    def test_a_failing_repr_does_not_raise(self) -> None:
        class Hostile:
            def __repr__(self) -> str:
                raise RuntimeError("no")

        assert quote(Hostile()) == "<Hostile>"

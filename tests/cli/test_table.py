"""Tables beyond a screenful are drawn as text, and look as rich draws them."""

from __future__ import annotations

import io
import random

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from graphflow.cli._table import RICH_ROWS, print_table

COLUMNS = ("node", "status", "duration", "attempts", "error / reason")


def console(width: int = 120, terminal: bool = False) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, force_terminal=terminal, markup=False), out


def rows(n: int, seed: int = 0) -> list[tuple[str, ...]]:
    rng = random.Random(seed)
    return [
        (
            f"node-{i}",
            rng.choice(["succeeded", "failed"]),
            f"{rng.random():.2f} s",
            "1",
            "x" * rng.randrange(0, 30),
        )
        for i in range(n)
    ]


def test_a_long_table_reads_as_rich_draws_it() -> None:
    many = rows(RICH_ROWS + 50)
    ours, out = console()
    print_table(ours, "a run", COLUMNS, many)
    theirs, expected = console()
    table = Table(title="a run", title_justify="left")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for row in many:
        table.add_row(*row)
    theirs.print(table)
    assert out.getvalue().splitlines() == [
        line.rstrip() for line in expected.getvalue().splitlines()
    ]


def test_long_cells_fold_within_the_console_width() -> None:
    many = rows(RICH_ROWS + 1)
    many[7] = ("n" * 300, "failed", "-", "3", "boom " * 80)
    ours, out = console(width=100)
    print_table(ours, "t", COLUMNS, many)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 100 for line in lines)
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│")]
    first = next(k for k, c in enumerate(cells) if c[0].startswith("nnn"))
    end = next(k for k, c in enumerate(cells) if c[0] == "node-8")
    tall = cells[first:end]  # (row 7, on as many lines as its longest cell needs)
    assert "".join(c[0] for c in tall) == "n" * 300  # (folded, not cut)
    assert "".join(c[4] for c in tall).replace(" ", "") == "boom" * 80
    assert all(set(c[4].split()) <= {"boom"} for c in tall)  # (folded between words)


def test_the_styled_column_keeps_its_colour_on_a_terminal() -> None:
    many = rows(RICH_ROWS + 1)
    ours, out = console(terminal=True)
    print_table(ours, "t", COLUMNS, many, ["green" if r[1] == "succeeded" else "red" for r in many])
    first = next(line for line in out.getvalue().splitlines() if "node-0 " in line)
    assert "\x1b[3" in first  # (an SGR colour around the status)
    assert "node-0" in first and "\x1b[3" not in first.split("node-0")[0]


def test_wide_characters_and_a_narrow_console_keep_the_lines_even() -> None:
    """Widths counted in characters, not terminal cells, left a row of CJK ids
    wider than the others; a header wider than its column overflowed it."""
    many = rows(RICH_ROWS + 1)
    many[3] = ("節点" * 12, "failed", "-", "1", "エラー " * 30)
    ours, out = console(width=60)
    print_table(ours, "t", COLUMNS, many)
    lines = [line for line in out.getvalue().splitlines()[1:] if line]
    assert len({cell_len(line) for line in lines}) == 1  # (every line as wide)
    assert max(cell_len(line) for line in lines) <= 60

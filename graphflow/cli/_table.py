"""Tables of nodes and runs: rich's for a screenful, lines of our own beyond.

rich lays out a table cell by cell (measuring, wrapping, styling each): ~0.5 ms
a row, so ``graphflow runs show --all`` of a 10,000-node run took 8 s, and a
``run --all`` as long after the run itself. Beyond ``RICH_ROWS`` rows the
same table (rich's default box, a column per field, long cells folded onto
more lines) is drawn here as text: ~0.05 s for 10,000 rows.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Final

from rich.cells import cell_len, chop_cells
from rich.console import Console
from rich.table import Table
from rich.text import Text

RICH_ROWS: Final = 100
"""Tables of up to this many rows are rich's own."""
_MIN_WIDTH: Final = 8  # columns a folded column keeps, however narrow the console


def print_table(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    styles: Sequence[str | None] | None = None,
    styled: int = 1,
) -> None:
    """Print a table: ``rows`` of cells (text as it is: no markup).

    Args:
        styles: a style per row for the cell in column ``styled`` (None: plain).
    """
    if len(rows) <= RICH_ROWS:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")
        for k, row in enumerate(rows):
            cells: list[str | Text] = list(row)
            style = None if styles is None else styles[k]
            if style is not None:
                cells[styled] = Text(row[styled], style=style)
            table.add_row(*cells)
        console.print(table)
        return
    widths = _widths(columns, rows, console.width)
    text = Text(no_wrap=True, overflow="ignore")
    text.append(title + "\n")
    text.append(_rule("┏", "━", "┳", "┓", widths))
    text.append(_line([_fold(c, w) for c, w in zip(columns, widths, strict=True)], widths, "┃"))
    text.append(_rule("┡", "━", "╇", "┩", widths))
    for k, row in enumerate(rows):
        folded = [_fold(cell, width) for cell, width in zip(row, widths, strict=True)]
        style = None if styles is None else styles[k]
        if style is None:
            text.append(_line(folded, widths, "│"))
        else:
            _append_styled(text, folded, widths, styled, style)
    text.append(_rule("└", "─", "┴", "┘", widths).rstrip("\n"))
    console.print(text, soft_wrap=True, highlight=False)


def _widths(columns: Sequence[str], rows: Sequence[Sequence[str]], total: int) -> list[int]:
    """Each column's width (in terminal cells): its longest cell's, the widest shrunk
    to fit ``total``."""
    widths = [cell_len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            if len(cell) > widths[i] or (not cell.isascii() and cell_len(cell) > widths[i]):
                widths[i] = cell_len(cell)
    room = total - (3 * len(widths) + 1)  # ("│ " before each cell, " │" after the last)
    cap = max(widths)  # the widest are cut to a common width until the table fits
    while cap > _MIN_WIDTH and sum(min(w, cap) for w in widths) > room:
        cap -= 1
    return [min(w, cap) for w in widths]


def _fold(cell: str, width: int) -> list[str]:
    if len(cell) <= width and "\n" not in cell and (cell.isascii() or cell_len(cell) <= width):
        return [cell]
    parts = []
    for line in cell.splitlines() or [""]:
        if line.isascii():  # at spaces where it can, as rich does (long words cut)
            parts += textwrap.wrap(line, width, break_on_hyphens=False) or [""]
        else:
            parts += chop_cells(line, width) or [""]
    return parts


def _pad(text: str, width: int) -> str:
    return text.ljust(width) if text.isascii() else text + " " * (width - cell_len(text))


def _rule(left: str, fill: str, cross: str, right: str, widths: Sequence[int]) -> str:
    return left + cross.join(fill * (w + 2) for w in widths) + right + "\n"


def _padded(folded: Sequence[Sequence[str]], widths: Sequence[int]) -> list[list[str]]:
    """A row's cells, line by line (a folded cell makes the row taller), padded."""
    height = max(len(parts) for parts in folded)
    return [
        [
            _pad(parts[h] if h < len(parts) else "", w)
            for parts, w in zip(folded, widths, strict=True)
        ]
        for h in range(height)
    ]


def _line(folded: Sequence[Sequence[str]], widths: Sequence[int], bar: str) -> str:
    return "".join(
        f"{bar} " + f" {bar} ".join(cells) + f" {bar}\n" for cells in _padded(folded, widths)
    )


def _append_styled(
    text: Text, folded: Sequence[Sequence[str]], widths: Sequence[int], styled: int, style: str
) -> None:
    for cells in _padded(folded, widths):
        text.append("│ " + "".join(c + " │ " for c in cells[:styled]))
        text.append(cells[styled], style=style)
        text.append("".join(" │ " + c for c in cells[styled + 1 :]) + " │\n")

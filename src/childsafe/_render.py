"""Plain-text and Markdown tables for the command-line interface.

Nothing here knows about policies: cells are strings, and the caller decides what goes
in them. Text tables are left-aligned with two spaces between columns and never end a
line in spaces; one column may be wrapped so a table fits a terminal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Final

__all__ = ["WIDTH", "markdown_table", "pairs", "table", "wrap"]

WIDTH: Final = 120
"""The terminal width the text output is laid out for."""

_GAP: Final = "  "
_MIN_WRAP: Final = 24


def wrap(text: str, width: int, *, sep: str = "; ") -> list[str]:
    """``text`` in lines of at most ``width`` characters, breaking after ``sep`` first.

    Items joined by ``sep`` (citation labels) stay whole on a line where they fit; an
    item longer than a line is wrapped at spaces.

    >>> wrap("Ofcom ICU F1; ICO Children's code std 7; NSPCC Wild West Web", 30)
    ['Ofcom ICU F1;', "ICO Children's code std 7;", 'NSPCC Wild West Web']
    """
    items = text.split(sep)
    pieces = [f"{item}{sep.rstrip()}" for item in items[:-1]] + items[-1:]
    lines: list[str] = []
    line = ""
    for piece in pieces:
        candidate = f"{line} {piece}" if line else piece
        if len(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        if len(piece) <= width:
            line = piece
        else:
            *full, line = textwrap.wrap(
                piece, width, break_long_words=False, break_on_hyphens=False
            )
            lines.extend(full)
    lines.append(line)
    return lines


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    indent: int = 2,
    wrap_column: int | None = None,
    width: int = WIDTH,
) -> list[str]:
    """An aligned text table: a header, a rule of dashes, then one line per row.

    ``wrap_column`` (an index) is wrapped to whatever width the other columns leave
    (at least 24 characters); every other column is as wide as its widest cell.

    >>> print("\\n".join(table(["band", "dm"], [["under_13", "connections"]], indent=0)))
    band      dm
    --------  -----------
    under_13  connections
    """
    columns = len(headers)
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(columns)]
    if wrap_column is not None:
        others = sum(w for i, w in enumerate(widths) if i != wrap_column)
        room = width - indent - others - len(_GAP) * (columns - 1)
        widths[wrap_column] = min(widths[wrap_column], max(room, _MIN_WRAP))
    pad = " " * indent
    out = [_line(pad, headers, widths), _line(pad, ["-" * w for w in widths], widths)]
    for row in rows:
        cells = [[cell] for cell in row]
        if wrap_column is not None:
            cells[wrap_column] = wrap(row[wrap_column], widths[wrap_column])
        out.extend(
            _line(pad, [c[depth] if depth < len(c) else "" for c in cells], widths)
            for depth in range(max(len(c) for c in cells))
        )
    return out


def _line(pad: str, cells: Sequence[str], widths: Sequence[int]) -> str:
    text = _GAP.join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True))
    return f"{pad}{text}".rstrip()


def pairs(
    items: Sequence[tuple[str, str]],
    *,
    indent: int = 0,
    width: int = WIDTH,
    sep: str | None = None,
) -> list[str]:
    """``label  value`` lines with the values aligned and wrapped under each other.

    Values are wrapped at spaces, or with :func:`wrap` when ``sep`` is given.

    >>> print("\\n".join(pairs([("policy", "minimum"), ("jurisdiction", "GB")])))
    policy        minimum
    jurisdiction  GB
    """
    label_width = max(len(label) for label, _ in items)
    room = max(width - indent - label_width - len(_GAP), _MIN_WRAP)
    out: list[str] = []
    for label, value in items:
        if sep is None:
            lines = textwrap.wrap(value, room, break_long_words=False, break_on_hyphens=False)
        else:
            lines = wrap(value, room, sep=sep)
        for i, line in enumerate(lines or [""]):
            head = label if i == 0 else ""
            out.append(f"{' ' * indent}{head.ljust(label_width)}{_GAP}{line}".rstrip())
    return out


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table, with ``|`` and ``*`` in cells escaped.

    >>> print("\\n".join(markdown_table(["a", "b"], [["x|y", "parent*"]])))
    | a | b |
    |---|---|
    | x\\|y | parent\\* |
    """

    def esc(cell: str) -> str:
        return cell.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")

    out = [
        "| " + " | ".join(esc(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    out.extend("| " + " | ".join(esc(c) for c in row) + " |" for row in rows)
    return out

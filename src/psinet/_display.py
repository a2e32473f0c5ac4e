"""How psinet's objects show themselves in Jupyter: small HTML tables, escaped.

IPython calls ``obj._repr_html_()`` for a notebook cell's rich output and
``obj._repr_pretty_(p, cycle)`` for the plain-text one (the terminal, ``print`` of a
list, ...). The objects build their rows; this module only renders them, so every
table looks alike and every piece of text is HTML-escaped.

>>> html_table(["l", "shape"], [["0", "(2, 3)"]], caption="a <b>table</b>")[:47]
'<table class="psinet"><caption>a &lt;b&gt;table'
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

Array = np.ndarray

_STYLE = "font-family: monospace; text-align: right"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain-text table: columns padded to their widest cell, two spaces apart, and a
    line of dashes under the header; one string per line.

    >>> text_table(["l", "shape"], [["0", "(2, 3)"]])
    ['l  shape', '--------', '0  (2, 3)']
    """
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    caption: str = "",
    footer: str = "",
    raw_cells: bool = False,
) -> str:
    """An HTML table: every header and cell escaped, unless ``raw_cells`` (cells that
    are themselves HTML built by :func:`html_matrix`)."""
    esc = html.escape
    head = "".join(f"<th>{esc(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td style="{_STYLE}">{c if raw_cells else esc(str(c))}</td>' for c in row)
        + "</tr>"
        for row in rows
    )
    parts = ['<table class="psinet">']
    if caption:
        parts.append(f"<caption>{esc(caption)}</caption>")
    parts.append(f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    if footer:
        parts.append(f"<p>{esc(footer)}</p>")
    return "".join(parts)


def fmt(value: float) -> str:
    """A number to 4 significant digits, as the tables print it."""
    return f"{value:.4g}"


def matrix_text(a: Array) -> str:
    """A small 2-D array as rows of 4-significant-digit numbers, ``[[…], […]]``."""
    rows = np.atleast_2d(a)
    return "[" + ", ".join("[" + ", ".join(fmt(float(v)) for v in r) + "]" for r in rows) + "]"


def html_matrix(a: Array) -> str:
    """A small 2-D array as an HTML table of numbers (escaped text only)."""
    rows = np.atleast_2d(a)
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(float(v)))}</td>" for v in r) + "</tr>"
        for r in rows
    )
    return f'<table style="{_STYLE}">{cells}</table>'


def pretty(p: Any, cycle: bool, text: str, short: str) -> None:
    """The ``_repr_pretty_`` body: ``short`` inside a reference cycle, else ``text``."""
    p.text(short if cycle else text)

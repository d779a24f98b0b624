"""Reading a small spreadsheet (CSV or XLSX) people prepared by hand: a header row, then rows of text.

Every cell is read as text (no guessing of numbers or dates, so "007" and "0.10" stay exact), trimmed;
blank rows are dropped. Line numbers are the spreadsheet's own (the header is line 1).
"""

from __future__ import annotations

import csv
from pathlib import Path


class TableProblem(ValueError):
    """The file cannot be read as a table; the message says why."""


def read_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(line number, {column: cell})])."""
    if not path.exists():
        raise TableProblem(f"{path}: file not found")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows = _xlsx_rows(path)
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")  # Excel writes a BOM
        except UnicodeDecodeError:
            raise TableProblem(f"{path}: not UTF-8 text; save it as CSV UTF-8 or XLSX") from None
        rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise TableProblem(f"{path}: the file is empty")
    header = [h.strip() for h in rows[0]]
    out = []
    for line, cells in enumerate(rows[1:], start=2):
        row = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}
        if any(row.values()):
            out.append((line, row))
    return header, out


def _xlsx_rows(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook  # only for XLSX files

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a damaged file
        raise TableProblem(f"{path}: not a readable XLSX file ({exc.__class__.__name__})") from None
    sheet = book.worksheets[0]
    rows = [["" if v is None else _cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    return rows


def _cell_text(value: object) -> str:
    """A typed cell as the text a person sees: integral numbers without ".0", dates as ISO."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:  # beyond: Excel lost digits
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return, attr-defined]
    return str(value)

"""Reading spreadsheets (CSV or XLSX) as rows of text: the one reader behind every file import.

Every cell is read as text (no guessing of numbers or dates, so "007" and "0.10" stay exact); a typed XLSX
cell becomes the text Excel shows. Line numbers are the spreadsheet's own (the first row is line 1).
CSV: UTF-8 (with or without Excel's BOM), UTF-16 by its BOM, or the encoding given; the delimiter (comma,
semicolon or tab) is read from the first non-blank line. The old binary .xls format is refused.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any


class TableProblem(ValueError):
    """The file cannot be read as a table; the message says why."""


def read_rows(path: Path, encoding: str | None = None, sheet: str | None = None) -> list[tuple[int, list[str]]]:
    """[(line number, [cell text])] of the file's rows (of `sheet`, or the first, in a workbook)."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise TableProblem(f"{path.name}: file not found") from None
    except IsADirectoryError:
        raise TableProblem(f"{path.name} is a folder, not a file") from None
    suffix = path.suffix.casefold()
    if suffix == ".xls":
        raise TableProblem(f"{path.name}: the old .xls format is not read; save it as .xlsx or CSV")
    if suffix in (".xlsx", ".xlsm") or head.startswith(b"PK\x03\x04"):
        return _read_xlsx(path, sheet)
    return _read_csv(path, encoding)


def read_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A small table people prepared by hand: (header, [(line number, {column: trimmed cell})]); the header is
    line 1 and blank rows are dropped."""
    rows = read_rows(path)
    if not rows:
        raise TableProblem(f"{path.name}: the file is empty")
    header = [h.strip() for h in rows[0][1]]
    out = []
    for line, cells in rows[1:]:
        row = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}
        if any(row.values()):
            out.append((line, row))
    return header, out


def parse_day(text: str) -> date:
    """A YYYY-MM-DD cell as a date; a spreadsheet's date cell reads as midnight (2026-11-01 00:00:00, see
    `_xlsx_text`) and is taken as its day. ValueError for anything else (2026-13-01, 20261101, 2026-11-01 08:00)."""
    day_text = text.removesuffix(" 00:00:00")
    if not _DAY.fullmatch(day_text):
        raise ValueError(text)
    return date.fromisoformat(day_text)


def joined_problems(problems: list[str], limit: int = 10) -> str:
    """An import's problems as one message: the first `limit`, then how many more."""
    more = f"; and {len(problems) - limit} more" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _read_csv(path: Path, encoding: str | None) -> list[tuple[int, list[str]]]:
    raw = path.read_bytes()
    if encoding is None:
        encoding = "utf-16" if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise TableProblem(f"{path.name} is not {encoding} text ({exc.__class__.__name__}); save it as "
                           "'CSV UTF-8', or pass encoding= (e.g. 'gb18030' for Excel on Chinese Windows)") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((",", ";", "\t"), key=lambda d: (_outside_quotes(first).count(d), d == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return [(n, row) for n, row in enumerate(reader, start=1)]


def _outside_quotes(line: str) -> str:
    return re.sub(r'"[^"]*"', "", line)


def _read_xlsx(path: Path, sheet: str | None) -> list[tuple[int, list[str]]]:
    import openpyxl  # deferred: only XLSX files pay for it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:   # openpyxl raises several unrelated types for a damaged file
        raise TableProblem(f"{path.name} is not a readable XLSX workbook ({exc.__class__.__name__})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise TableProblem(f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        return [(n, [_xlsx_text(v) for v in row])
                for n, row in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1)]
    finally:
        book.close()


def _xlsx_text(value: Any) -> str:
    """A cell as the text Excel shows (numbers to 15 significant digits, its own precision)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):       # written as an exact integer
        return str(value)
    if isinstance(value, float):     # an id past 15 digits comes out as 5.7646123456789e+17: reported, not trusted
        return format(value, ".15g")
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)

"""Reading spreadsheets (CSV or XLSX) as rows of text: the one reader behind every file import.

Every cell is read as text (no guessing of numbers or dates, so "007" and "0.10" stay exact); a typed XLSX
cell becomes the text Excel shows. Line numbers are the spreadsheet's own (the first row is line 1).
Rows stream: `iter_rows` holds one row at a time (CSV through the csv module over an incrementally decoded
file, XLSX through openpyxl's read-only mode), so memory stays flat whatever the file's size; a big import reads
the file more than once (`Table.rows` starts over) instead of keeping it.
CSV encoding: the one given (utf-8 read as utf-8-sig: Excel's "CSV UTF-8" starts with a BOM), else by its BOM
(UTF-8, UTF-16 LE/BE), else UTF-8 when the whole file decodes as UTF-8, else GB18030 (a superset of GBK: Excel on
Chinese Windows) when the whole file decodes as GB18030 and at least MIN_GB2312_PERCENT of its multi-byte
characters are in the GB2312 byte range (lead 0xA1-0xF7, trail 0xA1-0xFE), else refused. Merely decoding as
GB18030 is not enough: a cp1252 file whose accented letters are each followed by a letter does too ('Jürgen' ->
'J黵gen'). A share, not every character, so a GBK name such as 王喆 (喆 is not GB2312) or a four-byte GB18030
character (𠮷) in an otherwise Chinese file is read. An explicit --encoding gb18030 reads any of them. A leading
BOM left in the first cell (whatever the encoding given) is dropped. The delimiter (comma, semicolon or tab) is
read from the first non-blank line. The old binary .xls format is refused.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

CHUNK = 1 << 20          # bytes read at a time when detecting an encoding
# A file is read as GB18030 when at least this share (percent) of its multi-byte characters are GB2312 byte pairs.
# In Chinese text the GB2312 level-1/2 characters (and full-width punctuation) are the great majority; a cp1252 or
# Latin-1 file gives pairs whose trail byte is an ASCII letter, outside the range; Big5's common characters have a
# trail byte in 0x40-0x7E about 40 % of the time.
MIN_GB2312_PERCENT = 90
# GB18030 as its decoder reads it, one run of a kind at a time: ASCII; GB2312-range pairs; other pairs (GBK and
# GB18030's two-byte codes); four-byte sequences. The decoder itself settles which codes are valid.
_GB18030_RUN = re.compile(rb"(?P<ascii>[\x00-\x7f]+)"
                          rb"|(?P<gb2312>(?:[\xa1-\xf7][\xa1-\xfe])+)"
                          rb"|(?P<pair>(?:(?![\xa1-\xf7][\xa1-\xfe])[\x81-\xfe][\x40-\x7e\x80-\xfe])+)"
                          rb"|(?P<four>(?:[\x81-\xfe][\x30-\x39][\x81-\xfe][\x30-\x39])+)")


class TableProblem(ValueError):
    """The file cannot be read as a table; the message says why."""


@dataclass(frozen=True)
class Table:
    """A spreadsheet file ready to be read, as many times as needed: CSV (its `encoding` settled) or XLSX."""

    path: Path
    encoding: str | None      # None for a workbook
    sheet: str | None = None
    detected: bool = False    # the encoding was told from the file, not given

    @property
    def read_as(self) -> str | None:
        """The encoding to name in an import's summary ("GB18030"): one detected other than UTF-8, else None."""
        if not self.detected or self.encoding in (None, "utf-8-sig"):
            return None
        return (self.encoding or "").upper()

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number, [cell text]) of each row, from the first, one at a time."""
        if self.encoding is None:
            return _xlsx_rows(self.path, self.sheet)
        return _csv_rows(self.path, self.encoding)


def open_table(path: Path, encoding: str | None = None, sheet: str | None = None) -> Table:
    """The file as a Table: refused (TableProblem) when it is missing, a folder, an .xls, or CSV text in no
    encoding we can tell (see the module docstring)."""
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
        return Table(path, None, sheet)
    if encoding:
        return Table(path, _check_encoding(path, encoding))
    return Table(path, detect_encoding(path, head), detected=True)


def iter_rows(path: Path, encoding: str | None = None, sheet: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """(line number, [cell text]) of the file's rows (of `sheet`, or the first, in a workbook), one at a time."""
    return open_table(path, encoding, sheet).rows()


def read_rows(path: Path, encoding: str | None = None, sheet: str | None = None) -> list[tuple[int, list[str]]]:
    """[(line number, [cell text])] of a small file's rows (see `iter_rows` for a big one)."""
    return list(iter_rows(path, encoding, sheet))


def read_table(path: Path, encoding: str | None = None) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A small table people prepared by hand: (header, [(line number, {column: trimmed cell})]); the header is
    line 1 and blank rows are dropped. `encoding`: a CSV's, as `--encoding` gives it (default: detected)."""
    rows = read_rows(path, encoding)
    if not rows:
        raise TableProblem(f"{path.name}: the file is empty")
    header = [h.strip() for h in rows[0][1]]
    out = []
    for line, cells in rows[1:]:
        row = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}
        if any(row.values()):
            out.append((line, row))
    return header, out


def read_note(path: Path, encoding: str | None = None) -> str:
    """What an import's summary line adds for a CSV read in a detected encoding other than UTF-8 ("; read as
    GB18030"), else "". Detects again (one streaming pass): for the small tables, whose importers return rows."""
    if encoding:
        return ""
    try:
        return note_for(open_table(path))
    except TableProblem:
        return ""


def note_for(table: Table) -> str:
    """`read_note` of a table already opened."""
    return f"; read as {table.read_as}" if table.read_as else ""


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


def detect_encoding(path: Path, head: bytes = b"") -> str:
    """The CSV file's encoding by its BOM, else UTF-8 when the whole file decodes as that, else GB18030 when it is
    mostly GB2312-range text (`_gb2312_text`), read in chunks, never whole; TableProblem otherwise."""
    if not head:
        with path.open("rb") as f:
            head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _decodes(path, "utf-8-sig"):
        return "utf-8-sig"
    if _gb2312_text(path):
        return "gb18030"
    raise TableProblem(f"{path.name} is not UTF-8 text and its encoding cannot be told; save it as 'CSV UTF-8', or "
                       "pass its encoding with --encoding (e.g. --encoding cp1252 for Western Excel, --encoding "
                       "gb18030 for Chinese: it reads GBK too)")


def _gb2312_text(path: Path) -> bool:
    """Whether the whole file decodes as GB18030 and at least MIN_GB2312_PERCENT of its multi-byte characters are
    GB2312-range pairs (read a chunk at a time; a character split at a chunk's end is carried to the next)."""
    decoder = codecs.getincrementaldecoder("gb18030")()
    in_range = multi = 0
    carry = b""
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
            data, pos = carry + chunk, 0
            while match := _GB18030_RUN.match(data, pos):
                run = match.end() - pos
                if match.lastgroup == "gb2312":
                    in_range += run // 2
                multi += {"ascii": 0, "gb2312": run // 2, "pair": run // 2, "four": run // 4}[match.lastgroup or ""]
                pos = match.end()
            carry = data[pos:]
            if len(carry) > 3:          # not the start of one character: a byte GB18030 has no place for
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return not carry and in_range * 100 >= MIN_GB2312_PERCENT * multi


def _check_encoding(path: Path, encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise TableProblem(f"unknown encoding {encoding!r} (e.g. utf-8, gbk, gb18030, utf-16, cp1252)") from None
    # utf-8, utf8, UTF_8...: read as utf-8-sig, as Excel's "CSV UTF-8" starts with a BOM (not the first header's)
    read = "utf-8-sig" if name == "utf-8" else encoding
    if not _decodes(path, read):
        raise TableProblem(f"{path.name} is not {encoding} text; pass the file's own encoding with --encoding, or "
                           "save it as 'CSV UTF-8'")
    return read


def _decodes(path: Path, encoding: str) -> bool:
    """Whether the whole file decodes in `encoding`, read a chunk at a time."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _csv_rows(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding=encoding, newline="") as f:
        first = next((line for line in f if line.strip()), "")
    delimiter = max((",", ";", "\t"), key=lambda d: (_outside_quotes(first).count(d), d == ","))
    with path.open(encoding=encoding, newline="") as f:
        for n, cells in enumerate(csv.reader(f, delimiter=delimiter), start=1):
            if n == 1 and cells and cells[0].startswith("\ufeff"):
                cells[0] = cells[0][1:]     # a BOM the encoding given kept (utf-16-le and -be do)
            yield n, cells


def _outside_quotes(line: str) -> str:
    return re.sub(r'"[^"]*"', "", line)


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[tuple[int, list[str]]]:
    import openpyxl  # deferred: only XLSX files pay for it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:   # openpyxl raises several unrelated types for a damaged file
        raise TableProblem(f"{path.name} is not a readable XLSX workbook ({exc.__class__.__name__})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise TableProblem(f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        # read-only mode trusts the sheet's <dimension> tag, which other writers get wrong (A1:D5 over 11 rows)
        ws.reset_dimensions()
        for n, row in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
            yield n, [_xlsx_text(v) for v in row]
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

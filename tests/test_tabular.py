"""storage.tabular's helpers shared by the file imports: a day cell (Excel's midnight included) and the
problems' message."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest

from services.fx import FxInputError, parse_rate
from storage.tabular import joined_problems, parse_day, read_rows


def test_a_day_cell_is_yyyy_mm_dd_or_a_spreadsheets_midnight() -> None:
    assert [parse_day("2026-11-01"), parse_day("2026-11-01 00:00:00")] == [date(2026, 11, 1)] * 2
    for text in ("20261101", "2026-11-01 08:00:00", "2026-13-01", "2026-11-1", ""):
        with pytest.raises(ValueError):
            parse_day(text)
    # the fx rates read their day through it
    assert parse_rate("2026-11-02 00:00:00", "eur", "usd", "1.1").day == date(2026, 11, 2)
    with pytest.raises(FxInputError) as refused:
        parse_rate("20261102", "EUR", "USD", "1.1")
    assert str(refused.value) == "day '20261102' is not a date (YYYY-MM-DD)"


def test_problems_are_the_first_ten_then_a_count() -> None:
    problems = [f"line {n}: bad" for n in range(2, 14)]
    assert joined_problems(problems) == "; ".join(problems[:10]) + "; and 2 more"
    assert joined_problems(problems[:10]) == "; ".join(problems[:10])
    assert joined_problems(problems, limit=20) == "; ".join(problems)


def test_an_xlsx_whose_dimension_tag_is_wrong_is_read_whole(tmp_path: Path) -> None:
    """Read-only openpyxl trusts <dimension ref>: a sheet declaring A1:D5 over 11 rows gave 4 records silently."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    rows = [["member", "name", "role", "team"]] + [[f"m{i}", f"Name {i}", "host", "t1"] for i in range(1, 11)]
    for row in rows:
        sheet.append(row)
    plain = tmp_path / "plain.xlsx"
    book.save(plain)
    path = tmp_path / "wrong.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b'<dimension ref="A1:D11" />' in data
                data = data.replace(b'<dimension ref="A1:D11" />', b'<dimension ref="A1:D5" />')
            dst.writestr(item, data)
    assert read_rows(path) == [(n, row) for n, row in enumerate(rows, start=1)]

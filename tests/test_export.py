"""The XLSX export (services.export, `kpibot export`, `/export`) and `kpibot month close` on the command line:
sheets per month newest first, the same numbers /mykpi shows, closed months read from their final scores, no
formula ever written, a lead's export holds only their team. The demo is seeded for 2026-11-22 (DEMO_NOW)."""

from __future__ import annotations

import getpass
import io
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.chart_cache import ChartCache
from cards.model import File, Note
from cards.render_text import render_text
from scoring.periods import PeriodKind
from scoring.rules import Rules
from services.container import Services
from services.errors import UserError
from services.export import export
from services.month_close import close
from services.my_kpi import my_kpi
from storage.queries import member_by_code
from tests.clock import DEMO_NOW
from tests.conftest import dispatcher_for, seeded_by_cli
from tests.test_cli import NOW, InProcess
from tests.test_commands import say


def services_of(engine: Engine) -> Services:
    return Services(engine, Rules(), "Asia/Shanghai", "en", ChartCache())


def sheets(content: bytes) -> dict[str, list[dict[str, Any]]]:
    """Each sheet as rows keyed by the header; asserts that no cell of the workbook is a formula."""
    book = openpyxl.load_workbook(io.BytesIO(content))
    out = {}
    for sheet in book.worksheets:
        cells = list(sheet.iter_rows())
        assert [c.coordinate for row in cells for c in row if c.data_type == "f"] == []
        header = [c.value for c in cells[0]]
        out[sheet.title] = [dict(zip(header, (c.value for c in row), strict=True)) for row in cells[1:]]
    return out


def row_of(rows: list[dict[str, Any]], code: str) -> dict[str, Any]:
    return next(r for r in rows if r["code"] == code)


def test_the_demo_export_has_a_sheet_per_month_with_mykpis_numbers(demo_app: Services, demo_engine: Engine) -> None:
    result = export(demo_app, None, 3, DEMO_NOW)
    book = sheets(result.content)
    assert list(book) == ["2026-11", "2026-10", "2026-09", "About"] == [*result.months, "About"]
    assert (result.members, result.finance) == (8, True)
    with Session(demo_engine) as s:
        host1, lead2 = member_by_code(s, "host1"), member_by_code(s, "lead2")
    assert host1 is not None and lead2 is not None
    for member in (host1, lead2):
        mine = my_kpi(demo_app, member, PeriodKind.MONTH, DEMO_NOW)
        card = mine.score.scorecard
        assert card is not None and mine.rank is not None
        row = row_of(book["2026-11"], member.code)
        assert (row["score"], row["grade"], row["rank"], row["rank of"]) == (
            float(card.score or 0), card.grade, *mine.rank)
        net = card.result("net_gmv")
        assert (row["net_gmv actual"], row["net_gmv target"]) == (float(net.actual or 0), float(net.target or 0))
    assert (row_of(book["2026-11"], "host1")["score"], row_of(book["2026-11"], "host1")["rank"]) == (113.3, 1)
    # nothing paid yet in this store (seed_demo pays no month): the finance columns are there, empty
    buyer1 = row_of(book["2026-10"], "buyer1")
    assert (buyer1["score"], buyer1["commission earned"], buyer1["currency"]) == (105.1, None, None)
    assert {r["code"] for r in book["2026-11"]} == {"host1", "host2", "host3", "buyer1", "operator1", "selector1",
                                                   "lead1", "lead2"}
    # numbers in their unit, and an About sheet naming each column's metric and unit
    sheet = openpyxl.load_workbook(io.BytesIO(result.content))["2026-11"]
    formats = {c.value: sheet.cell(row=2, column=c.column).number_format for c in sheet[1]}
    assert (formats["code"], formats["net_gmv actual"], formats["net_gmv achievement"], formats["roi actual"],
            formats["score"], formats["commission paid"]) == ("General", "#,##0.00", "0.0%", "0.00%", "0.0",
                                                              "#,##0.00")
    about = {r["column"]: (r["metric"], r["unit"]) for r in book["About"]}
    assert (about["net_gmv actual"], about["roi target"], about["net_gmv achievement"], about["code"]) == (
        ("Net GMV", "USD"), ("ROI", "%"), ("Net GMV", "%"), (None, None))


def test_a_closed_month_is_read_from_its_final_scores_and_no_text_becomes_a_formula(demo_copy: Engine) -> None:
    services = services_of(demo_copy)
    close(services, 2026, 10, DEMO_NOW, "cli:tester")
    with demo_copy.begin() as c:   # what the final score says is what the export shows, whatever comes later
        c.execute(text("UPDATE final_score SET score = 12.5 WHERE member_id = "
                       "(SELECT id FROM member WHERE code = 'host1')"))
        for code, name in (("host1", "=1+1"), ("host2", "+SUM(A1)"), ("host3", "-2+3"), ("buyer1", "@cmd"),
                           ("operator1", "\t=x"), ("selector1", "\r=y")):
            c.execute(text("UPDATE member SET name = :n WHERE code = :c"), {"n": name, "c": code})
    book = sheets(export(services, None, 2, DEMO_NOW).content)
    assert row_of(book["2026-10"], "host1")["score"] == 12.5
    names = {r["code"]: r["name"] for r in book["2026-11"]}
    assert [names[c] for c in ("host1", "host2", "host3", "buyer1", "operator1", "selector1")] == [
        "=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=x", "\n=y"]   # XML keeps no bare CR


def test_a_lead_exports_their_team_only_and_without_pay(demo_app: Services, demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        lead1, host1 = member_by_code(s, "lead1"), member_by_code(s, "host1")
    assert lead1 is not None and host1 is not None
    result = export(demo_app, lead1, 12, DEMO_NOW)
    book = sheets(result.content)
    assert list(book) == [f"2026-{m:02d}" for m in range(11, 0, -1)] + ["2025-12", "About"]
    assert (result.teams, result.finance) == (("直播一组 Live US/UK",), False)
    assert {r["code"] for r in book["2026-11"]} == {"host1", "host3", "buyer1", "operator1", "selector1", "lead1"}
    assert "commission earned" not in book["2026-11"][0]
    with pytest.raises(UserError) as refused:
        export(demo_app, host1, 12, DEMO_NOW)
    assert refused.value.key == "export.forbidden"


def test_export_in_chat_comes_with_the_workbook(demo_engine: Engine) -> None:
    d = dispatcher_for(demo_engine)
    card = say(d, "lead2", "/export 2")
    assert card.title == "Export · Shopee 印尼组"
    notes = [b.text for b in card.blocks if isinstance(b, Note)]
    assert notes == ["2 months, 2026-10 to 2026-11 (one sheet each, newest first); 2 members in 2026-11."]
    files = [b for b in card.blocks if isinstance(b, File)]
    assert [f.name for f in files] == ["kpibot-2026-10-2026-11.xlsx"]
    assert {r["code"] for r in sheets(files[0].content)["2026-11"]} == {"host2", "lead2"}
    refused = render_text(say(d, "lead2", "/export " + "x" * 500))
    assert "x" * 100 not in refused and refused.startswith("kpibot\n")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> InProcess:
    return InProcess(capsys, monkeypatch)


def test_month_close_and_export_on_the_command_line(tmp_path: Path, cli: InProcess) -> None:
    seeded_by_cli(tmp_path / "kpibot.db", NOW)   # as `kpibot seed-demo` leaves it (October paid), copied
    early = cli(tmp_path, "month", "close", "2026-11")
    assert (early.returncode, early.stdout) == (2, "")
    assert early.stderr.startswith("kpibot: 2026-11 is not over yet for buyer1")
    done = cli(tmp_path, "month", "close", "2026-10")
    assert (done.returncode, done.stdout, done.stderr) == (
        0, "2026-10 closed: 8 final scores frozen, 0 commission payouts recorded\n", "")
    again = cli(tmp_path, "month", "close", "2026-10")
    assert (again.returncode, again.stdout) == (
        0, f"2026-10 is closed already (on 2026-11-22 12:00 UTC by cli:{getpass.getuser()}); nothing changed\n")
    out = tmp_path / "scores.xlsx"
    made = cli(tmp_path, "export", "--months", "2", "--out", str(out))
    assert (made.returncode, made.stdout, made.stderr) == (
        0, f"{out}: 2 months (2026-10 to 2026-11, newest first), 8 members in 2026-11\n", "")
    book = sheets(out.read_bytes())
    assert list(book) == ["2026-11", "2026-10", "About"]
    buyer1 = row_of(book["2026-10"], "buyer1")   # paid by seed-demo on November 2nd
    assert (buyer1["score"], buyer1["commission earned"], buyer1["currency"]) == (105.1, 7201.44, "CNY")
    kept = cli(tmp_path, "export", "--out", str(out))
    assert (kept.returncode, kept.stderr) == (2, f"kpibot: {out} exists; add --force to overwrite it\n")
    assert cli(tmp_path, "export", "--months", "1", "--out", str(out), "--force").returncode == 0
    assert list(sheets(out.read_bytes())) == ["2026-11", "About"]


def test_the_exported_workbook_is_readable_by_its_owner_only(tmp_path: Path, cli: InProcess) -> None:
    """The command line's workbook has the commission columns: 0600 like a backup, also when --force replaces a
    file others could read."""
    seeded_by_cli(tmp_path / "kpibot.db", NOW)
    old = os.umask(0o022)
    try:
        out = tmp_path / "scores.xlsx"
        assert cli(tmp_path, "export", "--months", "1", "--out", str(out)).returncode == 0
        assert out.stat().st_mode & 0o777 == 0o600
        out.chmod(0o644)
        assert cli(tmp_path, "export", "--months", "1", "--out", str(out), "--force").returncode == 0
        assert out.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
    assert list(sheets(out.read_bytes())) == ["2026-11", "About"]


def test_adjustments_read_as_people_write_numbers() -> None:
    """A decided value stored as 304.0000 read "= 304.0000" beside "= 470.00" (third new-user trial)."""
    from services.export import _adjusted
    assert _adjusted([{"appeal": 3, "status": "approved", "metric": "net_gmv", "value": "304.0000"},
                      {"appeal": 4, "status": "partly_approved", "metric": "roi", "value": "1.50"}]) == (
        "#3 approved (net_gmv = 304); #4 partly_approved (roi = 1.5)")

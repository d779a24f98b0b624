"""The XLSX export (`kpibot export`, `/export`): one sheet per month, newest first, each row a member with every
metric's actual, target and achievement, the score, grade, rank, trial flag and adjustments (approved appeals),
and the commission columns for those who may see pay.

A closed month is read from its final scores (services.month_close); an open month is scored live as /mykpi
scores it. Written with pandas and openpyxl; a text cell that a spreadsheet would read as a formula (starting
with = + - @, a tab or a carriage return) is stored as a string cell, never a formula (OWASP CSV injection).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session

from cards.format import plain_number
from cards.i18n import lang_of
from scoring.metrics import CATALOG, Unit
from scoring.money import from_minor
from scoring.periods import local_today
from scoring.roles import Role, at_least
from services.container import Services
from services.errors import UserError
from services.month_close import month_rows
from services.scorecards import Inputs
from storage.models import CommissionCorrection, CommissionPayout, FinalScore, Member, Team
from storage.month_close import closed, final_scores
from storage.queries import all_members

if TYPE_CHECKING:
    import pandas as pd
    from openpyxl.worksheet.worksheet import Worksheet

MAX_MONTHS = 24
ABOUT = "About"        # the last sheet: what each column is, its metric's name and its unit
# a cell's number format by what the column holds (a ratio 0.25 shows 25.00 %; an achievement 1 shows 100.0 %)
FORMATS = {Unit.MONEY: "#,##0.00", Unit.COUNT: "#,##0", Unit.RATIO: "0.00%", Unit.SECONDS: "#,##0",
           Unit.DAYS: "0.0", "achievement": "0.0%", "score": "0.0", "pay": "#,##0.00"}
RISKY = ("=", "+", "-", "@", "\t", "\r")   # what a spreadsheet may take for the start of a formula


@dataclass(frozen=True)
class Export:
    content: bytes
    months: tuple[str, ...]     # the sheets, newest first
    members: int                # rows of the newest month
    teams: tuple[str, ...]      # the teams covered (names)
    finance: bool               # the commission columns are in


def may_export(viewer: Member | None) -> bool:
    """Leads (their team), managers and admins (all); None is the command line (all)."""
    return viewer is None or at_least(viewer.role, Role.LEAD)


def sees_finance(viewer: Member | None) -> bool:
    """Commission columns: the command line, finance staff, managers and admins (services.commission's rule)."""
    return viewer is None or viewer.finance or at_least(viewer.role, Role.MANAGER)


def last_months(now: datetime, tz: str, months: int) -> list[tuple[int, int]]:
    """The last `months` months up to the current one in zone `tz`, newest first."""
    today = local_today(now, tz)
    index = today.year * 12 + today.month - 1
    return [((index - i) // 12, (index - i) % 12 + 1) for i in range(months)]


def export(services: Services, viewer: Member | None, months: int, now: datetime) -> Export:
    """The workbook for `viewer` (None: the command line, everything). Raises UserError when the viewer may not
    export (export.forbidden) or a lead has no team (error.not_in_team)."""
    if not may_export(viewer):
        raise UserError("export.forbidden")
    if not 1 <= months <= MAX_MONTHS:
        raise UserError("export.months", most=MAX_MONTHS)
    import pandas as pd  # loaded by an export only: every command module is imported when the bot starts

    finance = sees_finance(viewer)
    with Session(services.engine) as session:
        every = list(session.execute(select(Team).order_by(Team.code)).scalars())
        everyone = viewer is None or at_least(viewer.role, Role.MANAGER)
        scope = every if everyone else [t for t in every if viewer is not None and t.id == viewer.team_id]
        if not scope and not everyone:
            raise UserError("error.not_in_team")
        teamless = [m for m in all_members(session) if m.team_id is None and m.active] if everyone else []
        inputs = Inputs.load(session, services.rules, now, skip_missing_fx=True)
        sheets: list[tuple[str, pd.DataFrame]] = []
        counts = []
        for year, month in last_months(now, services.org_timezone, months):
            period = f"{year:04d}-{month:02d}"
            rows = _month_rows(session, inputs, scope, teamless, year, month)
            frame = _frame(session, rows, period, finance)
            sheets.append((period, frame))
            counts.append(len(frame))
    lang = lang_of(viewer.locale if viewer is not None else services.org_locale)
    units = _units([c for _, frame in sheets for c in frame.columns], services.rules.reporting_currency)
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets:
            frame.to_excel(writer, sheet_name=name, index=False)
            _as_text(writer.sheets[name])
            _readable(writer.sheets[name], list(frame.columns), units)
        _about(units, lang).to_excel(writer, sheet_name=ABOUT, index=False)
        _as_text(writer.sheets[ABOUT])
    return Export(buffer.getvalue(), tuple(n for n, _ in sheets), counts[0] if counts else 0,
                  tuple(t.name for t in scope), finance)


def _month_rows(session: Session, inputs: Inputs, scope: list[Team], teamless: list[Member], year: int,
                month: int) -> list[FinalScore]:
    """The month's final scores of the teams in scope (and the teamless members): frozen ones once it is
    closed, else scored now as the views score it."""
    period = f"{year:04d}-{month:02d}"
    team_ids = {t.id for t in scope}
    if closed(session, period) is not None:
        ids = {m.id for m in teamless}
        return [r for r in final_scores(session, period)
                if (r.team_id in team_ids if r.team_id is not None else r.member_id in ids)]
    return month_rows(session, inputs, scope, teamless, year, month)


def _frame(session: Session, rows: list[FinalScore], period: str, finance: bool) -> pd.DataFrame:
    import pandas as pd

    members = {m.id: m for m in all_members(session)}
    teams = {t.id: t.name for t in session.execute(select(Team)).scalars()}
    keys: list[str] = []
    for r in rows:
        keys += [m["key"] for m in r.metrics if m["key"] not in keys]
    payouts = {p.member_id: p for p in session.execute(
        select(CommissionPayout).where(CommissionPayout.period == period)).scalars()} if finance else {}
    corrected: dict[int, int] = {}   # appeals approved after the payout: beside it, never in it
    for c in session.execute(select(CommissionCorrection).where(CommissionCorrection.period == period)).scalars() \
            if finance else ():
        corrected[c.member_id] = corrected.get(c.member_id, 0) + c.amount_minor
    records = []
    for r in sorted(rows, key=lambda r: (teams.get(r.team_id or 0, ""), r.rank or 10**6, members[r.member_id].code)):
        member = members[r.member_id]
        record: dict[str, Any] = {"code": member.code, "name": member.name, "team": teams.get(r.team_id or 0, ""),
                                  "role": r.role}
        by_key = {m["key"]: m for m in r.metrics}
        for key in keys:
            m = by_key.get(key, {})
            record[f"{key} actual"] = _number(m.get("actual"))
            record[f"{key} target"] = _number(m.get("target"))
            record[f"{key} achievement"] = _number(m.get("achievement"))
        record |= {"score": r.score, "grade": r.grade, "rank": r.rank, "rank of": r.rank_of,
                   "trial": "yes" if r.trial else "",
                   # the row's own: frozen with it (refinalised by each appeal on a closed month) or just computed
                   "adjustments": _adjusted(r.adjustments)}
        if finance:
            paid = payouts.get(r.member_id)
            record |= {
                "commission earned": from_minor(paid.earned_minor, paid.currency) if paid else None,
                "commission paid": from_minor(paid.paid_minor, paid.currency) if paid else None,
                "commission correction": from_minor(corrected.get(r.member_id, 0), paid.currency) if paid else None,
                "commission clawback": from_minor(paid.clawback_minor + paid.clawed_back_minor, paid.currency)
                if paid else None,
                "currency": paid.currency if paid else ""}
        records.append(record)
    columns = ["code", "name", "team", "role", *[f"{k} {c}" for k in keys for c in ("actual", "target", "achievement")],
               "score", "grade", "rank", "rank of", "trial", "adjustments"]
    if finance:
        columns += ["commission earned", "commission paid", "commission correction", "commission clawback",
                    "currency"]
    return pd.DataFrame.from_records(records, columns=columns)


def _number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _adjusted(items: list[dict[str, Any]]) -> str:
    """`#12 approved (net_gmv = 1500)`, one per approved appeal, and `#8 O-1 credited to eq (-200.00 USD)` per
    order another member's appeal took; empty without."""
    return "; ".join(_lost_line(a) if a.get("status") == "credited_away" else
                     f"#{a['appeal']} {a['status']}" + (f" ({a['metric']}" + (f" = {_plain(a['value'])}"
                     if a.get("value") else "") + ")" if a.get("metric") else "") for a in items)


def _plain(value: object) -> str:
    """A stored decimal as people write it (cards.format.plain_number): 304.0000 -> 304; text as it is."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    return plain_number(number) if number.is_finite() else str(value)


def _lost_line(a: dict[str, Any]) -> str:
    return f"#{a['appeal']} {a.get('order', '')} credited to {a.get('to', '')} ({a.get('value', '')})"


@dataclass(frozen=True)
class ColumnUnit:
    format: str | None           # FORMATS key
    metric: str | None           # the metric's key, for its name
    unit: str                    # as the About sheet says it: USD, %, count ...


def _units(columns: list[str], currency: str) -> dict[str, ColumnUnit]:
    """What each column holds: metric columns ("net_gmv actual") take their metric's unit (money in the reporting
    currency); achievements are shares of target; commission columns are in the row's currency column."""
    said = {Unit.MONEY: currency, Unit.COUNT: "count", Unit.RATIO: "%", Unit.SECONDS: "s", Unit.DAYS: "days"}
    out: dict[str, ColumnUnit] = {}
    for column in dict.fromkeys(columns):
        key, _, part = column.rpartition(" ")
        metric = CATALOG.get(key)
        if metric is not None and part in ("actual", "target"):
            out[column] = ColumnUnit(metric.unit, key, said[metric.unit])
        elif metric is not None and part == "achievement":
            out[column] = ColumnUnit("achievement", key, "%")
        elif column == "score":
            out[column] = ColumnUnit("score", None, "points")
        elif column.startswith("commission "):
            out[column] = ColumnUnit("pay", None, "currency column")
        else:
            out[column] = ColumnUnit(None, None, "")
    return out


def _readable(sheet: Worksheet, columns: list[str], units: dict[str, ColumnUnit]) -> None:
    """Numbers shown in their unit, the header and the member's code and name kept in view, columns wide enough."""
    from openpyxl.utils import get_column_letter

    sheet.freeze_panes = "C2"
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(10, min(36, len(column) + 2))
        fmt = FORMATS.get(units[column].format) if units[column].format else None
        if fmt is not None:
            for cell in sheet[letter][1:]:
                cell.number_format = fmt


def _about(units: dict[str, ColumnUnit], lang: str) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame.from_records(
        [{"column": column, "metric": CATALOG[u.metric].name(lang) if u.metric else "", "unit": u.unit}
         for column, u in units.items()], columns=["column", "metric", "unit"])


def _as_text(sheet: Worksheet) -> None:
    """Every cell whose text could start a formula is stored as a plain string (never data type "f")."""
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith(RISKY):
                cell.data_type = "s"

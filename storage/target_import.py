"""Import monthly targets and country baselines from a CSV or XLSX file (`kpibot targets import FILE`).

Columns (header row, any order): period (YYYY-MM), team, member, country, metric, value.
- member given: the member's target (team, when also given, must be the member's team);
- team and country given: the team's baseline in that country (cumulative metrics only);
- team given: the team's target;
- neither: the company's target.
`metric` is a metric key or name; `value` is in the metric's unit: money in the reporting currency, rates
as "8%" or 0.08. Every row is checked before anything is written; a file with a bad row changes nothing
and names the line and the reason. With a Guard (what `kpibot targets import` passes) a value of 0 needs
`zero` (it takes the metric out of the score), and a settled month (storage.targets.settled, in the row's
subject's zone) needs `force`; a forced row is audited as target.force / baseline.force.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session

from scoring.metrics import Unit, lookup_metric
from scoring.periods import parse_month
from scoring.targets import parse_amount, quantum, rounded
from scoring.text import BadText, country_code, shown
from storage.member_import import ImportProblem
from storage.models import Member, Team
from storage.queries import member_by_code, teams
from storage.tabular import TableProblem, joined_problems, read_table
from storage.targets import Subject, set_baseline, set_target, settled, zone_of

COLUMNS = ("period", "team", "member", "country", "metric", "value")
REQUIRED = ("period", "metric", "value")


@dataclass(frozen=True)
class TargetRow:
    line: int
    subject: Subject
    country: str | None
    period: str
    metric_key: str
    value: Decimal


@dataclass(frozen=True)
class Guard:
    now: datetime
    org_zone: str          # the company's months
    force: bool = False    # rows of settled months are written (and audited as forced)
    zero: bool = False     # values of 0 are meant


@dataclass(frozen=True)
class TargetImport:
    targets: int
    baselines: int


def import_targets(session: Session, path: Path, org_id: int, by: Member | None, currency: str,
                   guard: Guard | None = None, encoding: str | None = None) -> TargetImport:
    """`currency`: the reporting currency, whose cents money targets are rounded to. `guard`: None only for a
    store's own seeding (no zero or settled-month check)."""
    rows = _check(session, path, currency, encoding)
    forced = _guarded(session, rows, guard) if guard is not None else {}
    for row in rows:
        why = forced.get(row.line)
        if row.country and row.subject.team is not None:
            set_baseline(session, row.subject.team, row.country, row.period, row.metric_key, row.value, by, why)
        else:
            set_target(session, org_id, row.subject, row.period, row.metric_key, row.value, by, why)
    session.flush()
    baselines = sum(1 for r in rows if r.country)
    return TargetImport(len(rows) - baselines, baselines)


def _guarded(session: Session, rows: list[TargetRow], guard: Guard) -> dict[int, str]:
    """Each row's line -> why its month is settled, for the rows written anyway (`force`); ImportProblem naming
    the lines of 0 without `zero` and of settled months without `force`."""
    problems: list[str] = []
    forced: dict[int, str] = {}
    for row in rows:
        if row.value == 0 and not guard.zero:
            problems.append(f"line {row.line}: a target of 0 takes {row.metric_key} out of the score; "
                            "add --zero if that is meant")
        why = settled(session, row.period, zone_of(session, row.subject, guard.org_zone), guard.now)
        if why == "closed":
            problems.append(f"line {row.line}: {row.period} is closed (kpibot month close): its targets change "
                            "only through an approved appeal")
        elif why is not None and not guard.force:
            problems.append(f"line {row.line}: " + (f"commission for {row.period} is already paid"
                                                    if why == "paid" else f"{row.period} is over")
                            + ", so its targets are settled; add --force to change them anyway (audited)")
        elif why is not None:
            forced[row.line] = why
    if problems:
        raise ImportProblem(joined_problems(problems, limit=20))
    return forced


def _check(session: Session, path: Path, currency: str, encoding: str | None) -> list[TargetRow]:
    try:
        header, raw = read_table(path, encoding)
    except TableProblem as exc:
        raise ImportProblem(str(exc)) from None
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h and h not in COLUMNS]
    if missing or unknown:
        raise ImportProblem(f"{path}: the columns are {', '.join(COLUMNS)}"
                            + (f"; missing: {', '.join(missing)}" if missing else "")
                            + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    by_code = {t.code: t for t in teams(session)}
    problems: list[str] = []
    out: list[TargetRow] = []
    seen: dict[tuple[str, str | None, str, str], int] = {}
    for line, row in raw:
        where = f"line {line}"
        try:
            text = row.get("period", "")
            # a spreadsheet may have turned 2026-12 into a date: 2026-12-01T00:00:00
            year, month = parse_month(text[:7] if len(text) >= 10 and text[7] == "-" else text)
            period = f"{year:04d}-{month:02d}"
        except ValueError:
            problems.append(f"{where}: period {row.get('period', '')!r} is not YYYY-MM")
            continue
        metric = lookup_metric(row.get("metric", ""))
        if metric is None:
            problems.append(f"{where}: unknown metric {row.get('metric', '')!r}")
            continue
        try:
            value = rounded(parse_amount(row.get("value", ""), metric.unit is Unit.RATIO), quantum(metric, currency))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        team: Team | None = None
        if row.get("team"):
            team = by_code.get(row["team"])
            if team is None:
                problems.append(f"{where}: no team {row['team']!r} (teams: {', '.join(sorted(by_code)) or 'none'})")
                continue
        country = row.get("country", "").upper() or None
        if row.get("member"):
            member = member_by_code(session, row["member"])
            if member is None or not member.active:
                problems.append(f"{where}: no active member {row['member']!r}")
                continue
            if team is not None and member.team_id != team.id:
                problems.append(f"{where}: {member.code} is not in team {team.code}")
                continue
            if country:
                problems.append(f"{where}: a country baseline is for a team, not a member")
                continue
            subject = Subject("member", member=member)
        elif team is not None:
            subject = Subject("team", team=team)
            if country:
                try:
                    country = country_code(country)
                except BadText as exc:
                    problems.append(f"{where}: country {shown(country)!r} {exc}")
                    continue
            if country and not metric.cumulative:
                problems.append(f"{where}: {metric.key} does not add up across countries; set the team's target")
                continue
        elif country:
            problems.append(f"{where}: a country baseline needs its team")
            continue
        else:
            subject = Subject("company")
        key = (subject.key, country, period, metric.key)
        if key in seen:
            problems.append(f"{where}: the same target as line {seen[key]}")
            continue
        seen[key] = line
        out.append(TargetRow(line, subject, country, period, metric.key, value))
    if problems:
        raise ImportProblem(joined_problems(problems, limit=20))
    return out

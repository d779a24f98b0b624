"""Reads the commands need, returning model rows or scoring values. One place for each query."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from scoring.fx import FxRate, FxTable
from scoring.periods import period_zone
from scoring.roles import Role
from scoring.templates import Stage, Template, TemplateError, WeightedMetric, parse_percent
from storage.models import (
    CountryBaseline,
    FxRateRow,
    KpiTemplate,
    KpiTemplateMetric,
    Member,
    Organisation,
    Shop,
    Target,
    Team,
    TeamCountry,
)


def member_by_code(session: Session, code: str) -> Member | None:
    return session.execute(select(Member).where(Member.code == code)).scalars().first()


def team_of(session: Session, member: Member) -> Team | None:
    return session.get(Team, member.team_id) if member.team_id is not None else None


def member_zone(session: Session, member: Member) -> str:
    """The zone the member's periods are counted in (scoring.periods.period_zone): their team's, else their own."""
    team = team_of(session, member)
    return period_zone(member.timezone, team.timezone if team else None)


def team_countries(session: Session, team_id: int) -> list[str]:
    """The countries a team sells in, as `kpibot teams add|set --country` stored them, sorted."""
    return list(session.execute(select(TeamCountry.country).where(TeamCountry.team_id == team_id)
                                .order_by(TeamCountry.country)).scalars())


def teams(session: Session) -> list[Team]:
    return list(session.execute(select(Team).order_by(Team.code)).scalars())


def find_team(session: Session, name: str) -> Team | None:
    """By code or name, case-insensitively."""
    wanted = name.strip().casefold()
    return next((t for t in teams(session) if wanted in (t.code.casefold(), t.name.casefold())), None)


def team_shops(session: Session, team_id: int) -> list[Shop]:
    return list(session.execute(select(Shop).where(Shop.team_id == team_id).order_by(Shop.code)).scalars())


def team_members(session: Session, team_id: int) -> list[Member]:
    return list(session.execute(
        select(Member).where(Member.team_id == team_id, Member.active).order_by(Member.code)  # type: ignore[arg-type]
    ).scalars())


def active_members(session: Session) -> list[Member]:
    return list(session.execute(select(Member).where(Member.active).order_by(Member.code)).scalars())  # type: ignore[arg-type]


def all_members(session: Session) -> list[Member]:
    """Also those who left: a month they worked is still theirs to be paid for."""
    return list(session.execute(select(Member).order_by(Member.code)).scalars())


def has_organisation(session: Session) -> bool:
    return session.execute(select(Organisation.id).limit(1)).first() is not None


def organisation(session: Session, name: str) -> Organisation:
    """The store's organisation (the first one), made with `name` when there is none yet (flushed, not
    committed)."""
    org = session.execute(select(Organisation).order_by(Organisation.id)).scalars().first()
    if org is None:
        org = Organisation(code="default", name=name)
        session.add(org)
        session.flush()
    return org


def load_templates(session: Session) -> list[Template]:
    """Every version of the active templates, oldest first. One that no longer validates (a metric left the
    catalog, a row edited by hand) comes back with `problem` set instead of raising: it breaks only the cards
    of the members it scores."""
    rows = session.execute(
        select(KpiTemplate).where(KpiTemplate.active)  # type: ignore[arg-type]
        .order_by(KpiTemplate.effective_from, KpiTemplate.id)
    ).scalars().all()
    metrics: dict[int, list[KpiTemplateMetric]] = defaultdict(list)
    for m in session.execute(select(KpiTemplateMetric).order_by(KpiTemplateMetric.position)).scalars():
        metrics[m.template_id].append(m)
    return [_template(t, metrics[t.id or 0]) for t in rows]


def _template(row: KpiTemplate, metrics: list[KpiTemplateMetric]) -> Template:
    weighted = tuple(WeightedMetric(m.metric_key, m.weight) for m in metrics)
    try:
        template = Template(row.name, Role(row.role), weighted, Stage(row.stage) if row.stage else None, row.trial,
                            row.effective_from, row.achievement_cap, decode_grade_bands(row.grade_bands))
    except (ValueError, TemplateError) as exc:   # an unknown role or stage, unreadable bands
        return Template(row.name, Role.HOST, weighted, None, row.trial, row.effective_from,
                        problem=f"KPI template {row.name!r}: {exc}")
    found = template.problems()
    return replace(template, problem="; ".join(found)) if found else template


def encode_grade_bands(bands: tuple[tuple[str, Decimal], ...] | None) -> str | None:
    return None if bands is None else ",".join(f"{grade}:{floor}" for grade, floor in bands)


def decode_grade_bands(text: str | None) -> tuple[tuple[str, Decimal], ...] | None:
    if not text:
        return None
    pairs = [part.split(":", 1) for part in text.split(",")]
    if any(len(p) != 2 for p in pairs):
        raise TemplateError(f"unreadable grade bands {text!r}")
    return tuple((grade, parse_percent(floor)) for grade, floor in pairs)


def monthly_targets(session: Session, subject: str, periods: list[str],
                    baselines: bool = True) -> dict[str, dict[tuple[int, int], Decimal]]:
    """Targets of one subject ("member:7", "team:2", "company") by metric, then by (year, month). A team
    month without a target of its own for a metric takes the sum of its country baselines (unless
    `baselines` is false)."""
    out: dict[str, dict[tuple[int, int], Decimal]] = defaultdict(
        dict, monthly_targets_of(session, [subject], periods).get(subject, {}))
    if baselines and subject.startswith("team:"):
        for key, by_month in country_baselines(session, int(subject[5:]), periods).items():
            for month, by_country in by_month.items():
                out[key].setdefault(month, sum(by_country.values(), Decimal(0)))
    return dict(out)


def monthly_targets_of(session: Session, subjects: list[str],
                       periods: list[str]) -> dict[str, dict[str, dict[tuple[int, int], Decimal]]]:
    """monthly_targets of several members' subjects ("member:7") in one query (no team baselines)."""
    out: dict[str, dict[str, dict[tuple[int, int], Decimal]]] = defaultdict(lambda: defaultdict(dict))
    for subject, key, period, value in session.execute(
        select(Target.subject, Target.metric_key, Target.period, Target.value)
        .where(Target.subject.in_(subjects), Target.period.in_(periods))  # type: ignore[attr-defined]
    ):
        out[subject][key][_year_month(period)] = value
    return {subject: dict(by_key) for subject, by_key in out.items()}


def country_baselines(session: Session, team_id: int,
                      periods: list[str]) -> dict[str, dict[tuple[int, int], dict[str, Decimal]]]:
    """A team's country baselines by metric, then (year, month), then country."""
    out: dict[str, dict[tuple[int, int], dict[str, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    rows = session.execute(
        select(CountryBaseline.metric_key, CountryBaseline.period, CountryBaseline.country, CountryBaseline.value)
        .where(CountryBaseline.team_id == team_id, CountryBaseline.period.in_(periods))  # type: ignore[attr-defined]
        .order_by(CountryBaseline.country)
    )
    for key, period, country, value in rows:
        out[key][_year_month(period)][country] = value
    return {k: dict(v) for k, v in out.items()}


def _year_month(period: str) -> tuple[int, int]:
    year, month = period.split("-")
    return int(year), int(month)


def fx_table(session: Session, until: date, skip_missing: bool = False) -> FxTable:
    """Every rate up to `until`; `skip_missing`: an amount with no rate at all is left out (scoring.fx)."""
    rows = session.execute(
        select(FxRateRow.day, FxRateRow.base, FxRateRow.quote, FxRateRow.rate).where(FxRateRow.day <= until)
    )
    return FxTable([FxRate(d, b, q, r) for d, b, q, r in rows], skip_missing=skip_missing)

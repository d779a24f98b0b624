"""Targets: whom a target is for, who may see and set it, what a month's targets show (progress, members' and
teams' shares, country baselines), and importing them from a file.

`/target` (commands.target) calls these to show targets; `kpibot targets import` (bot.cli.targets) calls
import_file. Setting, sharing out and baselines are in services.target_setting, which shares the helpers here.
Who may see what: anyone their own targets, leads their team's, managers and admins everyone's. Who may set
what: admins everything; managers any team's and member's targets; leads their own team's and its members';
nobody but an admin their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session

from cards.i18n import t
from scoring.metrics import CATALOG, Context, Metric
from scoring.periods import Window, local_today, month_window
from scoring.roles import Role, Scope, at_least
from scoring.score import achievement
from services.container import Services
from services.errors import UserError
from services.scorecards import Inputs, TypicalTargets, headline_key, in_trial, template_for, with_typical_targets
from storage.activity import load_activity, load_team_activity
from storage.audit import audit
from storage.models import Member, Team
from storage.queries import (
    country_baselines,
    find_team,
    member_by_code,
    member_zone,
    monthly_targets,
    team_members,
    team_of,
    teams,
)
from storage.target_import import Guard, TargetImport, import_targets
from storage.targets import Subject
from storage.targets import zone_of as storage_zone_of

COMPANY_WORDS = frozenset({"company", "公司", "全公司"})


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def period(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Who:
    """Whom a target is for, as a command names it and passes it back: the company, a team or a member."""

    scope: str      # company | team | member
    key: str        # as targets are stored: "company", "team:2", "member:7"
    code: str       # what /target takes: "company", a team's or a member's code
    name: str       # the company's in the asker's language


@dataclass(frozen=True)
class TargetLine:
    metric_key: str
    target: Decimal
    actual: Decimal | None          # the month so far, as the scorecard measures it
    achieved: Decimal | None


@dataclass(frozen=True)
class Shares:
    """The headline target and its parts, by name: those who share it, and those measured on the team's own
    orders, who each get all of it."""

    metric_key: str
    whole: Decimal
    shared: tuple[tuple[str, Decimal | None], ...]
    measured: tuple[tuple[str, Decimal | None], ...] = ()


@dataclass(frozen=True)
class CountryLine:
    country: str
    metric_key: str
    baseline: Decimal
    actual: Decimal | None


@dataclass(frozen=True)
class BaselineGap:
    """A team target of its own that differs from the sum of its country baselines."""

    metric_key: str
    baselines: Decimal
    team: Decimal


@dataclass(frozen=True)
class Countries:
    lines: tuple[CountryLine, ...]
    gaps: tuple[BaselineGap, ...]


@dataclass(frozen=True)
class Overview:
    """What /target shows of one subject's month."""

    who: Who
    month: Month
    targets: dict[str, Decimal]            # by metric
    lines: tuple[TargetLine, ...]
    members: Shares | None                 # a team's: how its members share its headline target
    countries: Countries | None            # a team's baselines by country, when it has any
    teams: Shares | None                   # the company's: how its teams share its headline target
    trial_until: date | None               # a member on trial: the day it ends
    trial_template: str | None             # else a member whose template is on trial: its name
    may_set: bool                          # the asker may set these targets
    typical: TypicalTargets | None = None  # a member in trial: targets that are the SOP's typical values


# --- whom a target is for ---------------------------------------------------------------------------------------

def resolve(services: Services, caller: Member, word: str | None, lang: str) -> Who:
    """WHO as typed (see subject_named)."""
    with Session(services.engine) as session:
        return who_of(subject_named(session, caller, word), lang)


def subject_named(session: Session, caller: Member, word: str | None) -> Subject:
    """WHO as typed, when the caller may see its targets; without one: a lead's team, a manager's or admin's
    company, anyone else themselves. A subject the caller may not see and one that does not exist get the same
    answer (target.not_visible, naming nobody), so a refusal never tells who exists or their name."""
    subject = _subject_named(session, caller, word)
    if word is not None and subject.scope != "company" and not may_see(session, caller, subject):
        raise UserError("target.not_visible")
    return subject


def _subject_named(session: Session, caller: Member, word: str | None) -> Subject:
    if word is None:
        own = team_of(session, caller)
        if caller.role == Role.LEAD and own is not None:
            return Subject("team", team=own)
        if at_least(caller.role, Role.MANAGER):
            return Subject("company")
        return Subject("member", member=caller)
    if word.casefold() in COMPANY_WORDS:
        return Subject("company")
    member = member_by_code(session, word)
    if member is not None and member.active:
        return Subject("member", member=member)
    team = find_team(session, word)
    if team is not None:
        return Subject("team", team=team)
    if not at_least(caller.role, Role.MANAGER):   # who sees only some subjects is not told which others exist
        raise UserError("target.not_visible")
    raise UserError("target.no_subject", name=word, teams=", ".join(x.code for x in teams(session)))


def subject_of(session: Session, who: Who) -> Subject:
    """The subject `who` was resolved from, read again in `session`."""
    scope, _, row_id = who.key.partition(":")
    if scope == "team":
        team = session.get(Team, int(row_id))
        if team is not None:
            return Subject("team", team=team)
    elif scope == "member":
        member = session.get(Member, int(row_id))
        if member is not None:
            return Subject("member", member=member)
    else:
        return Subject("company")
    raise UserError("target.no_subject", name=who.code, teams=", ".join(x.code for x in teams(session)))


def who_of(subject: Subject, lang: str) -> Who:
    return Who(subject.scope, subject.key, subject.code, name_of(subject, lang))


def name_of(subject: Subject, lang: str) -> str:
    if subject.member is not None:
        return subject.member.name
    return subject.team.name if subject.team is not None else t(lang, "target.company")


def current_month(services: Services, member: Member, now: datetime) -> tuple[int, int]:
    """(year, month) of `now` in the member's period zone (storage.queries.member_zone: their team's)."""
    with Session(services.engine) as session:
        today = local_today(now, member_zone(session, member))
    return today.year, today.month


def zone_of(session: Session, subject: Subject, services: Services) -> str:
    return storage_zone_of(session, subject, services.org_timezone)


# --- permissions -------------------------------------------------------------------------------------------------

def _team_of_subject(session: Session, subject: Subject) -> Team | None:
    if subject.team is not None:
        return subject.team
    return team_of(session, subject.member) if subject.member is not None else None


def may_set(session: Session, who: Member, subject: Subject) -> bool:
    """Admins set everything; nobody else sets their own target."""
    if who.role == Role.ADMIN:
        return True
    if subject.member is not None and subject.member.id == who.id:
        return False
    if subject.scope == "company":
        return False
    if at_least(who.role, Role.MANAGER):
        return True
    team = _team_of_subject(session, subject)
    return who.role == Role.LEAD and team is not None and team.id == who.team_id


def may_see(session: Session, who: Member, subject: Subject) -> bool:
    if at_least(who.role, Role.MANAGER) or (subject.member is not None and subject.member.id == who.id):
        return True
    team = _team_of_subject(session, subject)
    return who.role == Role.LEAD and subject.scope != "company" and team is not None and team.id == who.team_id


def check_set(session: Session, caller: Member, subject: Subject, name: str) -> None:
    if not may_set(session, caller, subject):
        raise UserError("target.forbidden_set", who=name)


# --- reading -----------------------------------------------------------------------------------------------------

def month_targets(session: Session, subject_key: str, month: Month, baselines: bool = True) -> dict[str, Decimal]:
    """The subject's targets of one month, by metric."""
    by_metric = monthly_targets(session, subject_key, [month.period], baselines)
    return {k: v[(month.year, month.month)] for k, v in by_metric.items() if (month.year, month.month) in v}


def actuals(session: Session, inputs: Inputs, subject: Subject, window: Window,
            keys: list[str]) -> dict[str, Decimal | None]:
    """Month so far of each targeted metric, as the subject's scorecard measures it."""
    if not keys:
        return {}
    ctx = Context(window, inputs.now, inputs.rules, inputs.fx)
    needs = frozenset().union(*(CATALOG[k].reads for k in keys))
    if subject.member is not None:
        activity = load_activity(session, subject.member, window.start, window.end, needs, inputs.facts)
        return {k: CATALOG[k].compute(activity, ctx) for k in keys}
    if subject.team is not None:
        activity = load_team_activity(session, subject.team.id or 0, window.start, window.end, needs, inputs.facts)
        return {k: CATALOG[k].compute(activity, ctx) for k in keys}
    out: dict[str, Decimal | None] = {}
    per_team = [load_team_activity(session, x.id or 0, window.start, window.end, needs, inputs.facts)
                for x in teams(session)]
    for k in keys:  # the company's total: its teams' sum, for what adds up
        if CATALOG[k].cumulative:
            values = [v for v in (CATALOG[k].compute(a, ctx) for a in per_team) if v is not None]
            out[k] = sum(values, Decimal(0)) if values else None
        else:
            out[k] = None
    return out


def children(session: Session, parent: Subject, metric: Metric) -> tuple[list[Subject], list[Subject]]:
    """(those the target is shared among, those who get all of it). Teams share the company's. In a team,
    hosts share it; ad buyers, operators and selectors are measured on the team's own orders
    (storage.activity), so for an order metric each of them gets the team's whole target."""
    if parent.scope == "company":
        return [Subject("team", team=x) for x in teams(session)], []
    assert parent.team is not None
    members = [(m, Role.parse(m.role)) for m in team_members(session, parent.team.id or 0)]
    scored = [(m, role) for m, role in members if role.has_kpis and role.level < Role.LEAD.level]
    shared = [Subject("member", member=m) for m, role in scored if role.scope is Scope.OWN]
    whole = [Subject("member", member=m) for m, role in scored if role.scope is Scope.TEAM and "orders" in metric.reads]
    return shared, whole


def overview(services: Services, caller: Member, word: str | None, month: Month, now: datetime,
             lang: str) -> Overview:
    """What `caller` may see of WHO's targets in `month` (see subject_named), with progress as of `now`."""
    with Session(services.engine) as session:
        subject = subject_named(session, caller, word)
        if not may_see(session, caller, subject):
            raise UserError("target.forbidden_see", who=name_of(subject, lang))
        inputs = Inputs.load(session, services.rules, now)
        window = month_window(month.year, month.month, zone_of(session, subject, services))
        targets = month_targets(session, subject.key, month)
        typical = None
        if subject.member is not None:
            targets, typical = _typical_targets(session, inputs, subject.member, window, month, targets)
        so_far = actuals(session, inputs, subject, window, list(targets))
        lines = []
        for key, target in targets.items():
            actual = so_far.get(key)
            done = achievement(CATALOG[key], actual, target) if actual is not None else None
            lines.append(TargetLine(key, target, actual, done))
        team = subject.team if subject.scope == "team" else None
        trial_until, trial_template = (_trial(session, inputs, subject.member, window) if subject.member is not None
                                       else (None, None))
        return Overview(
            who=who_of(subject, lang), month=month, targets=targets, lines=tuple(lines),
            members=_member_shares(session, team, month, targets, lang) if team is not None else None,
            countries=_countries(session, inputs, team, month) if team is not None else None,
            teams=_team_shares(session, month, targets) if subject.scope == "company" else None,
            trial_until=trial_until, trial_template=trial_template, may_set=may_set(session, caller, subject),
            typical=typical)


def _typical_targets(session: Session, inputs: Inputs, member: Member, window: Window, month: Month,
                     targets: dict[str, Decimal]) -> tuple[dict[str, Decimal], TypicalTargets | None]:
    """A member in trial is measured against the SOP's typical values where they have no target of their own
    (services.scorecards.with_typical_targets): /target shows those too, as the scorecard uses them."""
    if not in_trial(member, window, inputs.now):
        return targets, None
    team = team_of(session, member)
    template = template_for(member, team, inputs, month.period)
    if template is None or template.problem is not None:
        return targets, None
    key = (month.year, month.month)
    filled, typical = with_typical_targets(session, member, team, template, {k: {key: v} for k, v in targets.items()},
                                           [month.period])
    return {k: v[key] for k, v in filled.items() if key in v}, typical


def _member_shares(session: Session, team: Team, month: Month, targets: dict[str, Decimal],
                   lang: str) -> Shares | None:
    key = headline_key(targets)
    if key is None:
        return None
    shared, whole_to = children(session, Subject("team", team=team), CATALOG[key])

    def part(s: Subject) -> tuple[str, Decimal | None]:
        return name_of(s, lang), month_targets(session, s.key, month).get(key)

    return Shares(key, targets[key], tuple(part(s) for s in shared), tuple(part(s) for s in whole_to))


def _team_shares(session: Session, month: Month, targets: dict[str, Decimal]) -> Shares | None:
    key = headline_key(targets)
    if key is None:
        return None
    return Shares(key, targets[key], tuple((x.name, month_targets(session, f"team:{x.id}", month).get(key))
                                           for x in teams(session)))


def _countries(session: Session, inputs: Inputs, team: Team, month: Month) -> Countries | None:
    baselines = country_baselines(session, team.id or 0, [month.period])
    if not baselines:
        return None
    window = month_window(month.year, month.month, team.timezone)
    ctx = Context(window, inputs.now, inputs.rules, inputs.fx)
    lines = []
    for key, by_month in baselines.items():
        metric = CATALOG[key]
        for country, value in by_month.get((month.year, month.month), {}).items():
            activity = load_team_activity(session, team.id or 0, window.start, window.end, metric.reads,
                                          inputs.facts, country)
            lines.append(CountryLine(country, key, value, metric.compute(activity, ctx)))
    own = month_targets(session, f"team:{team.id}", month, baselines=False)
    gaps = []
    for key, by_month in baselines.items():
        total = sum(by_month.get((month.year, month.month), {}).values(), Decimal(0))
        if key in own and own[key] != total:
            gaps.append(BaselineGap(key, total, own[key]))
    return Countries(tuple(lines), tuple(gaps))


def _trial(session: Session, inputs: Inputs, member: Member, window: Window) -> tuple[date | None, str | None]:
    """The member's own trial, else their template's, as /mykpi shows it (no scoring needed to know)."""
    if in_trial(member, window, inputs.now) and member.trial_until is not None:
        return member.trial_until, None
    template = template_for(member, team_of(session, member), inputs)
    return None, (template.name if template and template.trial else None)


# --- importing ---------------------------------------------------------------------------------------------------

def import_file(services: Services, path: Path, org_id: int, now: datetime, force: bool = False,
                zero: bool = False, encoding: str | None = None) -> TargetImport:
    """Targets and country baselines from a CSV or XLSX file (storage.target_import), all or nothing: raises
    storage.member_import.ImportProblem, naming the lines, and writes nothing when a row is wrong (a value of 0
    without `zero`, a settled month without `force`, as /target set)."""
    with Session(services.engine) as session:
        result = import_targets(session, path, org_id, None, services.rules.reporting_currency,
                                Guard(now, services.org_timezone, force, zero), encoding)
        audit(session, None, "import.targets", "import", path.name,
              {"targets": result.targets, "baselines": result.baselines, "force": force}, at=now)
        session.commit()
    return result

"""/target: see and set monthly targets; share a target out; per-country baselines.

    /target [WHO] [YYYY-MM]                              targets, progress and the weekly split
    /target set WHO METRIC VALUE [YYYY-MM]               set one target
    /target split WHO METRIC [even|share|CODE=W ...] [YYYY-MM]
                                                         company -> teams, team -> members
    /target baseline TEAM COUNTRY METRIC VALUE [YYYY-MM] a team's baseline in one country

WHO is `company`, a team (code or name) or a member (code); default: the caller. Who may set what: admins
everything; managers any team's and member's targets; leads their own team's and its members'. Anyone may
see their own targets, leads their team's, managers and admins everyone's. Definitions of the split are in
scoring.targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session

from cards.format import metric_value, percent
from cards.i18n import t
from cards.model import Block, Button, Buttons, Card, Fields, Note, Table, Text, Tone
from commands.context import Request
from commands.spec import Command
from scoring.metrics import CATALOG, Context, Metric, Unit, lookup_metric
from scoring.periods import Window, local_today, month_window, parse_month
from scoring.roles import Role, Scope, at_least
from scoring.score import achievement
from scoring.targets import (
    AmountError,
    SplitError,
    decompose,
    parse_amount,
    quantum,
    rounded,
    weekly_split,
    weights_from_last_period,
)
from services.errors import UserError
from services.scorecards import Inputs, headline_key, in_trial, template_for
from storage.activity import load_activity, load_team_activity
from storage.models import Member, Team
from storage.queries import (
    country_baselines,
    find_team,
    member_by_code,
    monthly_targets,
    team_members,
    team_of,
    team_shops,
    teams,
)
from storage.targets import Subject, set_baseline, set_target, set_targets

USAGE = "/target [company|TEAM|MEMBER] [YYYY-MM]"
USAGE_SET = "/target set WHO METRIC VALUE [YYYY-MM]"
USAGE_SPLIT = "/target split company|TEAM METRIC [even|share|CODE=WEIGHT ...] [YYYY-MM]"
USAGE_BASELINE = "/target baseline TEAM COUNTRY METRIC VALUE [YYYY-MM]"
MAX_WEIGHT = Decimal(10) ** 9
COMPANY_WORDS = frozenset({"company", "公司", "全公司"})
ACTIONS = {"set": "set", "设置": "set", "split": "split", "拆分": "split", "分解": "split",
           "baseline": "baseline", "基线": "baseline"}


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def period(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def _month_targets(session: Session, subject_key: str, month: Month, baselines: bool = True) -> dict[str, Decimal]:
    """The subject's targets of one month, by metric."""
    by_metric = monthly_targets(session, subject_key, [month.period], baselines)
    return {k: v[(month.year, month.month)] for k, v in by_metric.items() if (month.year, month.month) in v}


def handle(req: Request) -> Card:
    args = req.args
    action = ACTIONS.get(args[0].lower()) if args else None
    with Session(req.services.engine) as session:
        if action == "set":
            return _set(req, session, args[1:])
        if action == "split":
            return _split(req, session, args[1:])
        if action == "baseline":
            return _baseline(req, session, args[1:])
        return _show(req, session, args)


# --- reading the arguments ---------------------------------------------------------------------------------

def _month_arg(req: Request, args: tuple[str, ...]) -> tuple[Month, tuple[str, ...]]:
    """A trailing YYYY-MM, else the caller's current month."""
    if args:
        try:
            year, month = parse_month(args[-1])
            return Month(year, month), args[:-1]
        except ValueError:
            pass
    today = local_today(req.now, req.member.timezone)
    return Month(today.year, today.month), args


def _subject(session: Session, req: Request, word: str | None) -> Subject:
    """WHO as typed; without one: a lead's team, a manager's or admin's company, anyone else themselves."""
    if word is None:
        own = team_of(session, req.member)
        if req.member.role == Role.LEAD and own is not None:
            return Subject("team", team=own)
        if at_least(req.member.role, Role.MANAGER):
            return Subject("company")
        return Subject("member", member=req.member)
    if word.casefold() in COMPANY_WORDS:
        return Subject("company")
    member = member_by_code(session, word)
    if member is not None and member.active:
        return Subject("member", member=member)
    team = find_team(session, word)
    if team is not None:
        return Subject("team", team=team)
    raise UserError("target.no_subject", name=word, teams=", ".join(x.code for x in teams(session)))


def _metric(word: str) -> Metric:
    metric = lookup_metric(word)
    if metric is None:
        raise UserError("target.no_metric", name=word, metrics=", ".join(CATALOG))
    return metric


def _value(word: str, metric: Metric, usage: str, currency: str) -> Decimal:
    try:
        return rounded(parse_amount(word, metric.unit is Unit.RATIO), quantum(metric, currency))
    except AmountError as exc:
        raise UserError(exc.key, usage=usage, **exc.values) from None


# --- permissions ---------------------------------------------------------------------------------------------

def _team_of_subject(session: Session, subject: Subject) -> Team | None:
    if subject.team is not None:
        return subject.team
    return team_of(session, subject.member) if subject.member is not None else None


def _may_set(session: Session, who: Member, subject: Subject) -> bool:
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


def _may_see(session: Session, who: Member, subject: Subject) -> bool:
    if at_least(who.role, Role.MANAGER) or (subject.member is not None and subject.member.id == who.id):
        return True
    team = _team_of_subject(session, subject)
    return who.role == Role.LEAD and subject.scope != "company" and team is not None and team.id == who.team_id


def _check_set(session: Session, req: Request, subject: Subject) -> None:
    if not _may_set(session, req.member, subject):
        raise UserError("target.forbidden_set", who=_name(subject, req.lang))


# --- showing ----------------------------------------------------------------------------------------------------

def _name(subject: Subject, lang: str) -> str:
    if subject.member is not None:
        return subject.member.name
    return subject.team.name if subject.team is not None else t(lang, "target.company")


def _zone(subject: Subject, req: Request) -> str:
    if subject.member is not None:
        return subject.member.timezone
    return subject.team.timezone if subject.team is not None else req.services.org_timezone


def _show(req: Request, session: Session, args: tuple[str, ...]) -> Card:
    month, rest = _month_arg(req, args)
    if len(rest) > 1:
        raise UserError("error.bad_args", problem=" ".join(rest), usage=USAGE)
    subject = _subject(session, req, rest[0] if rest else None)
    if not _may_see(session, req.member, subject):
        raise UserError("target.forbidden_see", who=_name(subject, req.lang))
    lang, currency = req.lang, req.services.rules.reporting_currency
    inputs = Inputs.load(session, req.services.rules, req.now)
    window = month_window(month.year, month.month, _zone(subject, req))
    targets = _month_targets(session, subject.key, month)
    actuals = _actuals(session, inputs, subject, window, list(targets))
    blocks: list[Block] = []
    if targets:
        rows = []
        for key, target in targets.items():
            metric = CATALOG[key]
            actual = actuals.get(key)
            done = achievement(metric, actual, target) if actual is not None else None
            rows.append((metric.name(lang), metric_value(target, metric.unit, currency, lang),
                         metric_value(actual, metric.unit, currency, lang), percent(done)))
        blocks.append(Table((t(lang, "target.metric"), t(lang, "target.target"), t(lang, "target.so_far"),
                             t(lang, "target.achieved")), tuple(rows)))
        weekly = _weekly_block(targets, month, currency, lang)
        if weekly is not None:
            blocks.extend(weekly)
    else:
        blocks.append(Text(t(lang, "target.none", who=_name(subject, lang), month=month.period)))
    if subject.scope == "team" and subject.team is not None:
        blocks.extend(_members_block(session, subject.team, month, targets, currency, lang))
        blocks.extend(_countries_block(session, inputs, subject.team, month, currency, lang))
    if subject.scope == "company":
        blocks.extend(_teams_block(session, month, targets, currency, lang))
    if subject.member is not None:
        blocks.extend(_trial_note(session, inputs, subject.member, window, lang))
    if _may_set(session, req.member, subject):
        blocks.append(Note(t(lang, "target.how_to_set", usage=USAGE_SET)))
    return Card(t(lang, "target.title", who=_name(subject, lang), month=month.period), tuple(blocks),
                Tone.INFO, lang)


def _actuals(session: Session, inputs: Inputs, subject: Subject, window: Window,
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


def _weekly_block(targets: dict[str, Decimal], month: Month, currency: str, lang: str) -> list[Block] | None:
    key = headline_key(targets)
    if key is None:
        return None
    metric = CATALOG[key]
    weeks = weekly_split(targets[key], month.year, month.month, quantum(metric, currency))
    rows = tuple((f"{w.first_day:%m-%d} – {w.last_day:%m-%d}", str(w.days),
                  metric_value(w.value, metric.unit, currency, lang)) for w in weeks)
    return [Text(t(lang, "target.weekly", metric=metric.name(lang)), strong=True),
            Table((t(lang, "target.week"), t(lang, "target.days"), t(lang, "target.target")), rows)]


def _share_rows(parts: list[tuple[str, Decimal | None]], whole: Decimal | None, metric: Metric, currency: str,
                lang: str) -> tuple[tuple[str, ...], ...]:
    return tuple((name, metric_value(v, metric.unit, currency, lang),
                  percent(v / whole if (v is not None and whole) else None, 1)) for name, v in parts)


def _members_block(session: Session, team: Team, month: Month, targets: dict[str, Decimal], currency: str,
                   lang: str) -> list[Block]:
    key = headline_key(targets)
    if key is None:
        return []
    metric = CATALOG[key]
    shared, whole_to = _children(session, Subject("team", team=team), metric)

    def target_of(s: Subject) -> Decimal | None:
        return _month_targets(session, s.key, month).get(key)

    parts = [(_name(s, lang), target_of(s)) for s in shared]
    rows = _share_rows(parts, targets[key], metric, currency, lang) + tuple(
        (_name(s, lang), metric_value(target_of(s), metric.unit, currency, lang), t(lang, "target.team_measured"))
        for s in whole_to)
    if not rows:
        return []
    blocks: list[Block] = [Text(t(lang, "target.members", metric=metric.name(lang)), strong=True),
                           Table((t(lang, "target.member"), t(lang, "target.target"), t(lang, "target.share")), rows)]
    if parts:
        total = sum((v for _, v in parts if v is not None), Decimal(0))
        blocks.append(Note(t(lang, "target.sum_check", sum=metric_value(total, metric.unit, currency, lang),
                             whole=metric_value(targets[key], metric.unit, currency, lang))))
    return blocks


def _countries_block(session: Session, inputs: Inputs, team: Team, month: Month, currency: str,
                     lang: str) -> list[Block]:
    baselines = country_baselines(session, team.id or 0, [month.period])
    if not baselines:
        return []
    window = month_window(month.year, month.month, team.timezone)
    ctx = Context(window, inputs.now, inputs.rules, inputs.fx)
    rows = []
    for key, by_month in baselines.items():
        metric = CATALOG[key]
        for country, value in by_month.get((month.year, month.month), {}).items():
            activity = load_team_activity(session, team.id or 0, window.start, window.end, metric.reads,
                                          inputs.facts, country)
            actual = metric.compute(activity, ctx)
            rows.append((country, metric.name(lang), metric_value(value, metric.unit, currency, lang),
                         metric_value(actual, metric.unit, currency, lang),
                         percent(actual / value if (actual is not None and value) else None)))
    blocks: list[Block] = [Text(t(lang, "target.countries"), strong=True),
                           Table((t(lang, "target.country"), t(lang, "target.metric"), t(lang, "target.baseline"),
                                  t(lang, "target.so_far"), t(lang, "target.achieved")), tuple(rows))]
    own = _month_targets(session, f"team:{team.id}", month, baselines=False)
    for key, by_month in baselines.items():
        metric, total = CATALOG[key], sum(by_month.get((month.year, month.month), {}).values(), Decimal(0))
        if key in own and own[key] != total:
            blocks.append(Note(t(lang, "target.baselines_differ", metric=metric.name(lang),
                                 sum=metric_value(total, metric.unit, currency, lang),
                                 team=metric_value(own[key], metric.unit, currency, lang))))
    return blocks


def _teams_block(session: Session, month: Month, targets: dict[str, Decimal], currency: str,
                 lang: str) -> list[Block]:
    key = headline_key(targets)
    if key is None:
        return []
    metric = CATALOG[key]
    parts = [(x.name, _month_targets(session, f"team:{x.id}", month).get(key)) for x in teams(session)]
    return [Text(t(lang, "target.teams", metric=metric.name(lang)), strong=True),
            Table((t(lang, "target.team"), t(lang, "target.target"), t(lang, "target.share")),
                  _share_rows(parts, targets[key], metric, currency, lang))]


def _trial_note(session: Session, inputs: Inputs, member: Member, window: Window, lang: str) -> list[Block]:
    """The member's own trial, else their template's, as /mykpi shows it (no scoring needed to know)."""
    if in_trial(member, window, inputs.now) and member.trial_until is not None:
        return [Note(t(lang, "mykpi.trial", day=member.trial_until.isoformat()))]
    template = template_for(member, team_of(session, member), inputs)
    return [Note(t(lang, "mykpi.template_trial", name=template.name))] if template and template.trial else []


# --- setting ------------------------------------------------------------------------------------------------------

def _set(req: Request, session: Session, args: tuple[str, ...]) -> Card:
    month, rest = _month_arg(req, args)
    if len(rest) != 3:
        raise UserError("error.bad_args", problem=" ".join(args) or "—", usage=USAGE_SET)
    subject = _subject(session, req, rest[0])
    metric = _metric(rest[1])
    value = _value(rest[2], metric, USAGE_SET, req.services.rules.reporting_currency)
    _check_set(session, req, subject)
    org_id = (subject.member or subject.team or req.member).org_id
    before = set_target(session, org_id, subject, month.period, metric.key, value, req.member)
    session.commit()
    lang, currency = req.lang, req.services.rules.reporting_currency
    fields = [(t(lang, "target.target"), metric_value(value, metric.unit, currency, lang))]
    if before is not None:
        fields.append((t(lang, "target.before"), metric_value(before, metric.unit, currency, lang)))
    blocks: list[Block] = [Fields(tuple(fields))]
    weekly = _weekly_block({metric.key: value}, month, currency, lang) if metric.cumulative else None
    blocks.extend(weekly or [])
    blocks.append(Buttons((Button(t(lang, "target.show"), "target", (subject.code, month.period)),)))
    return Card(t(lang, "target.set_title", who=_name(subject, lang), metric=metric.name(lang), month=month.period),
                tuple(blocks), Tone.GOOD, lang)


def _baseline(req: Request, session: Session, args: tuple[str, ...]) -> Card:
    month, rest = _month_arg(req, args)
    if len(rest) != 4:
        raise UserError("error.bad_args", problem=" ".join(args) or "—", usage=USAGE_BASELINE)
    subject = _subject(session, req, rest[0])
    if subject.team is None:
        raise UserError("target.baseline_team")
    country = rest[1].upper()
    if len(country) != 2 or not country.isalpha():
        raise UserError("error.bad_args", problem=rest[1], usage=USAGE_BASELINE)
    metric = _metric(rest[2])
    if not metric.cumulative:
        raise UserError("target.baseline_cumulative", metric=metric.name(req.lang))
    value = _value(rest[3], metric, USAGE_BASELINE, req.services.rules.reporting_currency)
    _check_set(session, req, subject)
    sells_in = sorted({shop.region for shop in team_shops(session, subject.team.id or 0)})
    if country not in sells_in:
        raise UserError("target.baseline_country", country=country, team=subject.team.name,
                        countries=", ".join(sells_in) or "—")
    set_baseline(session, subject.team, country, month.period, metric.key, value, req.member)
    session.commit()
    return _show(req, session, (subject.team.code, month.period))


def _split(req: Request, session: Session, args: tuple[str, ...]) -> Card:
    month, rest = _month_arg(req, args)
    if len(rest) < 2:
        raise UserError("error.bad_args", problem=" ".join(args) or "—", usage=USAGE_SPLIT)
    parent = _subject(session, req, rest[0])
    if parent.scope == "member":
        raise UserError("target.split_parent")
    metric = _metric(rest[1])
    _check_set(session, req, parent)
    whole = _month_targets(session, parent.key, month).get(metric.key)
    if whole is None:
        raise UserError("target.split_no_target", who=_name(parent, req.lang), metric=metric.name(req.lang),
                        month=month.period)
    children, whole_to = _children(session, parent, metric)
    if not children:
        raise UserError("target.split_nobody", who=_name(parent, req.lang))
    method = rest[2:] or ("even",)
    weights = _weights(session, req, children, metric, month, method)
    currency = req.services.rules.reporting_currency
    try:
        parts = decompose(whole, weights, quantum(metric, currency), metric.cumulative)
    except SplitError as exc:
        raise UserError(exc.key, usage=USAGE_SPLIT) from None
    org_id = (parent.team or req.member).org_id
    set_targets(session, org_id, {**parts, **dict.fromkeys(whole_to, whole)}, month.period, metric.key, req.member)
    session.commit()
    lang = req.lang
    weight_sum = sum(weights.values(), Decimal(0))
    rows = tuple((_name(s, lang), percent(weights[s] / weight_sum, 1) if metric.cumulative else "—",
                  metric_value(v, metric.unit, currency, lang)) for s, v in parts.items())
    rows += tuple((_name(s, lang), t(lang, "target.team_measured"), metric_value(whole, metric.unit, currency, lang))
                  for s in whole_to)
    total = sum(parts.values(), Decimal(0))
    blocks: list[Block] = [
        Fields(((t(lang, "target.whole"), metric_value(whole, metric.unit, currency, lang)),
                (t(lang, "target.method"), t(lang, f"target.method_{_method_name(method)}")))),
        Table((t(lang, "target.member" if parent.scope == "team" else "target.team"), t(lang, "target.share"),
               t(lang, "target.target")), rows),
    ]
    if metric.cumulative:
        blocks.append(Note(t(lang, "target.sum_check", sum=metric_value(total, metric.unit, currency, lang),
                             whole=metric_value(whole, metric.unit, currency, lang))))
    blocks.append(Buttons((Button(t(lang, "target.show"), "target", (parent.code, month.period)),)))
    return Card(t(lang, "target.split_title", who=_name(parent, lang), metric=metric.name(lang), month=month.period),
                tuple(blocks), Tone.GOOD, lang)


def _children(session: Session, parent: Subject, metric: Metric) -> tuple[list[Subject], list[Subject]]:
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


def _method_name(method: tuple[str, ...]) -> str:
    word = method[0].lower()
    return {"share": "share", "份额": "share", "even": "even", "平均": "even"}.get(word, "weights")


def _weights(session: Session, req: Request, children: list[Subject], metric: Metric, month: Month,
             method: tuple[str, ...]) -> dict[Subject, Decimal]:
    name = _method_name(method)
    if name == "even":
        return dict.fromkeys(children, Decimal(1))
    if name == "share":
        return weights_from_last_period(_last_period(session, req, children, metric, month))
    given: dict[str, Decimal] = {}
    for word in method:
        code, sep, weight = word.partition("=")
        try:
            value = Decimal(weight)
            if not sep or not value.is_finite() or not 0 <= value <= MAX_WEIGHT:
                raise ValueError
        except (ValueError, ArithmeticError):
            raise UserError("error.bad_args", problem=word, usage=USAGE_SPLIT) from None
        given[code.casefold()] = value
    by_code = {c.code.casefold(): c for c in children}
    unknown = [c for c in given if c not in by_code]
    missing = [c.code for c in children if c.code.casefold() not in given]
    if unknown or missing:
        raise UserError("target.split_weights", unknown=", ".join(unknown) or "—", missing=", ".join(missing) or "—")
    return {by_code[c]: w for c, w in given.items()}


def _last_period(session: Session, req: Request, children: list[Subject], metric: Metric,
                 month: Month) -> dict[Subject, Decimal | None]:
    """Each child's actual of the metric in the month before `month`, in the child's own zone."""
    year, prev = (month.year, month.month - 1) if month.month > 1 else (month.year - 1, 12)
    inputs = Inputs.load(session, req.services.rules, req.now)
    out: dict[Subject, Decimal | None] = {}
    for child in children:
        window = month_window(year, prev, _zone(child, req))
        out[child] = _actuals(session, inputs, child, window, [metric.key])[metric.key]
    return out


SPEC = Command("target", ("目标",), "help.target", USAGE, handle, writes=True)

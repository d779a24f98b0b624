"""/target: see and set monthly targets; share a target out; per-country baselines.

    /target [WHO] [YYYY-MM]                              targets, progress and the weekly split
    /target set WHO METRIC VALUE [YYYY-MM]               set one target
    /target split WHO METRIC [even|share|CODE=W ...] [YYYY-MM]
                                                         company -> teams, team -> members
    /target baseline TEAM COUNTRY METRIC VALUE [YYYY-MM] a team's baseline in one country

Setting, sharing out and baselines take two flags anywhere after the action: `--force` rewrites a settled
month (commission paid for it, or over in the subject's zone), audited as such; `--zero` allows a target of 0,
which takes the metric out of the score (refused without it). A phone's "—force" counts too.

WHO is `company`, a team (code or name) or a member (code); default: the caller. Who may set what: admins
everything; managers any team's and member's targets; leads their own team's and its members'. Anyone may
see their own targets, leads their team's, managers and admins everyone's (services.targets decides; it and
services.target_setting read and write the store). Definitions of the split are in scoring.targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cards.format import metric_value, percent
from cards.i18n import t
from cards.model import Block, Button, Buttons, Card, Fields, Note, Table, Text, Tone
from cards.sop_card import trial_targets_note
from commands.context import Request
from commands.periods import month_arg
from commands.spec import Command
from scoring.metrics import CATALOG, Metric, Unit, lookup_metric
from scoring.targets import (
    AmountError,
    SplitError,
    parse_amount,
    quantum,
    rounded,
    weekly_split,
    weights_from_last_period,
)
from services.errors import UserError
from services.scorecards import headline_key
from services.target_setting import SplitPlan, last_period, plan_split, set_baseline, set_target, split
from services.targets import Countries, Month, Overview, Shares, Who, current_month, overview, resolve

USAGE = "/target [company|TEAM|MEMBER] [YYYY-MM]"
USAGE_SET = "/target set WHO METRIC VALUE [YYYY-MM]"
USAGE_SPLIT = "/target split company|TEAM METRIC [even|share|CODE=WEIGHT ...] [YYYY-MM]"
USAGE_BASELINE = "/target baseline TEAM COUNTRY METRIC VALUE [YYYY-MM]"
MAX_WEIGHT = Decimal(10) ** 9
ACTIONS = {"set": "set", "设置": "set", "split": "split", "拆分": "split", "分解": "split",
           "baseline": "baseline", "基线": "baseline"}


@dataclass(frozen=True)
class Flags:
    force: bool = False     # rewrite a settled month
    zero: bool = False      # a target of 0 (the metric out of the score) is meant


def handle(req: Request) -> Card:
    args = req.args
    action = ACTIONS.get(args[0].lower()) if args else None
    if action is None:
        return _show(req, args)
    rest, flags = _flags(args[1:])
    if action == "set":
        return _set(req, rest, flags)
    if action == "split":
        return _split(req, rest, flags)
    return _baseline(req, rest, flags)


def _flags(args: tuple[str, ...]) -> tuple[tuple[str, ...], Flags]:
    """The words without --force / --zero (a phone may turn -- into a dash: "—force"), and the flags."""
    def flag(word: str) -> str | None:
        bare = word.lstrip("-—–")
        return bare.casefold() if bare != word and bare.casefold() in ("force", "zero") else None
    found = {f for w in args if (f := flag(w)) is not None}
    return tuple(w for w in args if flag(w) is None), Flags("force" in found, "zero" in found)


# --- reading the arguments ---------------------------------------------------------------------------------

def _month_arg(req: Request, args: tuple[str, ...]) -> tuple[Month, tuple[str, ...]]:
    """A trailing YYYY-MM, else the caller's current month (in their period zone, as every view counts it)."""
    given = month_arg(args[-1]) if args else None     # "2026-13" is refused as no month, not taken for a name
    if given is not None:
        return Month(*given), args[:-1]
    return Month(*current_month(req.services, req.member, req.now)), args


def _subject(req: Request, word: str | None) -> Who:
    return resolve(req.services, req.member, word, req.lang)


def _metric(word: str) -> Metric:
    metric = lookup_metric(word)
    if metric is None:
        raise UserError("target.no_metric", name=word, metrics=", ".join(CATALOG))
    return metric


def _value(word: str, metric: Metric, usage: str, currency: str, zero: bool, lang: str) -> Decimal:
    """The amount typed; 0 only with --zero: a target of 0 takes the metric out of the score."""
    try:
        value = rounded(parse_amount(word, metric.unit is Unit.RATIO), quantum(metric, currency))
    except AmountError as exc:
        raise UserError(exc.key, usage=usage, **exc.values) from None
    if value == 0 and not zero:
        raise UserError("target.zero", metric=metric.name(lang))
    return value


# --- showing ----------------------------------------------------------------------------------------------------

def _show(req: Request, args: tuple[str, ...]) -> Card:
    month, rest = _month_arg(req, args)
    if len(rest) > 1:
        raise UserError("error.bad_args", problem=" ".join(rest), usage=USAGE)
    view = overview(req.services, req.member, rest[0] if rest else None, month, req.now, req.lang)
    return _overview_card(view, req.lang, req.services.rules.reporting_currency)


def _overview_card(view: Overview, lang: str, currency: str) -> Card:
    who, month = view.who, view.month
    blocks: list[Block] = []
    if view.lines:
        rows = []
        for line in view.lines:
            metric = CATALOG[line.metric_key]
            rows.append((metric.name(lang), metric_value(line.target, metric.unit, currency, lang),
                         metric_value(line.actual, metric.unit, currency, lang), percent(line.achieved)))
        blocks.append(Table((t(lang, "target.metric"), t(lang, "target.target"), t(lang, "target.so_far"),
                             t(lang, "target.achieved")), tuple(rows)))
        weekly = _weekly_block(view.targets, month, currency, lang)
        if weekly is not None:
            blocks.extend(weekly)
    else:
        blocks.append(Text(t(lang, "target.none", who=who.name, month=month.period)))
    if view.members is not None:
        blocks.extend(_members_block(view.members, currency, lang))
    if view.countries is not None:
        blocks.extend(_countries_block(view.countries, currency, lang))
    if view.teams is not None:
        blocks.extend(_teams_block(view.teams, currency, lang))
    if view.trial_until is not None:
        blocks.append(Note(t(lang, "mykpi.trial", day=view.trial_until.isoformat())))
    elif view.trial_template is not None:
        blocks.append(Note(t(lang, "mykpi.template_trial", name=view.trial_template)))
    if view.typical is not None:
        blocks.append(trial_targets_note(view.typical.values, view.typical.stage, view.typical.region, lang))
    if view.may_set:
        blocks.append(Note(t(lang, "target.how_to_set", usage=USAGE_SET)))
    return Card(t(lang, "target.title", who=who.name, month=month.period), tuple(blocks), Tone.INFO, lang)


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


def _share_rows(parts: tuple[tuple[str, Decimal | None], ...], whole: Decimal | None, metric: Metric, currency: str,
                lang: str) -> tuple[tuple[str, ...], ...]:
    return tuple((name, metric_value(v, metric.unit, currency, lang),
                  percent(v / whole if (v is not None and whole) else None, 1)) for name, v in parts)


def _members_block(shares: Shares, currency: str, lang: str) -> list[Block]:
    metric = CATALOG[shares.metric_key]
    rows = _share_rows(shares.shared, shares.whole, metric, currency, lang) + tuple(
        (name, metric_value(v, metric.unit, currency, lang), t(lang, "target.team_measured"))
        for name, v in shares.measured)
    if not rows:
        return []
    blocks: list[Block] = [Text(t(lang, "target.members", metric=metric.name(lang)), strong=True),
                           Table((t(lang, "target.member"), t(lang, "target.target"), t(lang, "target.share")), rows)]
    if shares.shared:
        total = sum((v for _, v in shares.shared if v is not None), Decimal(0))
        blocks.append(Note(t(lang, "target.sum_check", sum=metric_value(total, metric.unit, currency, lang),
                             whole=metric_value(shares.whole, metric.unit, currency, lang))))
    return blocks


def _countries_block(countries: Countries, currency: str, lang: str) -> list[Block]:
    rows = []
    for line in countries.lines:
        metric, actual, value = CATALOG[line.metric_key], line.actual, line.baseline
        rows.append((line.country, metric.name(lang), metric_value(value, metric.unit, currency, lang),
                     metric_value(actual, metric.unit, currency, lang),
                     percent(actual / value if (actual is not None and value) else None)))
    blocks: list[Block] = [Text(t(lang, "target.countries"), strong=True),
                           Table((t(lang, "target.country"), t(lang, "target.metric"), t(lang, "target.baseline"),
                                  t(lang, "target.so_far"), t(lang, "target.achieved")), tuple(rows))]
    for gap in countries.gaps:
        metric = CATALOG[gap.metric_key]
        blocks.append(Note(t(lang, "target.baselines_differ", metric=metric.name(lang),
                             sum=metric_value(gap.baselines, metric.unit, currency, lang),
                             team=metric_value(gap.team, metric.unit, currency, lang))))
    return blocks


def _teams_block(shares: Shares, currency: str, lang: str) -> list[Block]:
    metric = CATALOG[shares.metric_key]
    return [Text(t(lang, "target.teams", metric=metric.name(lang)), strong=True),
            Table((t(lang, "target.team"), t(lang, "target.target"), t(lang, "target.share")),
                  _share_rows(shares.shared, shares.whole, metric, currency, lang))]


# --- setting ------------------------------------------------------------------------------------------------------

def _set(req: Request, args: tuple[str, ...], flags: Flags) -> Card:
    month, rest = _month_arg(req, args)
    if len(rest) != 3:
        raise UserError("error.bad_args", problem=" ".join(args) or "—", usage=USAGE_SET)
    who = _subject(req, rest[0])
    metric = _metric(rest[1])
    value = _value(rest[2], metric, USAGE_SET, req.services.rules.reporting_currency, flags.zero, req.lang)
    before = set_target(req.services, req.member, who, month, metric, value, req.now, flags.force)
    lang, currency = req.lang, req.services.rules.reporting_currency
    fields = [(t(lang, "target.target"), metric_value(value, metric.unit, currency, lang))]
    if before is not None:
        fields.append((t(lang, "target.before"), metric_value(before, metric.unit, currency, lang)))
    blocks: list[Block] = [Fields(tuple(fields))]
    weekly = _weekly_block({metric.key: value}, month, currency, lang) if metric.cumulative else None
    blocks.extend(weekly or [])
    blocks.append(Buttons((Button(t(lang, "target.show"), "target", (who.code, month.period)),)))
    return Card(t(lang, "target.set_title", who=who.name, metric=metric.name(lang), month=month.period),
                tuple(blocks), Tone.GOOD, lang)


def _baseline(req: Request, args: tuple[str, ...], flags: Flags) -> Card:
    month, rest = _month_arg(req, args)
    if len(rest) != 4:
        raise UserError("error.bad_args", problem=" ".join(args) or "—", usage=USAGE_BASELINE)
    team = _subject(req, rest[0])
    if team.scope != "team":
        raise UserError("target.baseline_team")
    country = rest[1].upper()
    if len(country) != 2 or not country.isalpha():
        raise UserError("error.bad_args", problem=rest[1], usage=USAGE_BASELINE)
    metric = _metric(rest[2])
    if not metric.cumulative:
        raise UserError("target.baseline_cumulative", metric=metric.name(req.lang))
    value = _value(rest[3], metric, USAGE_BASELINE, req.services.rules.reporting_currency, flags.zero, req.lang)
    set_baseline(req.services, req.member, team, country, month, metric, value, req.now, flags.force)
    return _show(req, (team.code, month.period))


def _split(req: Request, args: tuple[str, ...], flags: Flags) -> Card:
    month, rest = _month_arg(req, args)
    if len(rest) < 2:
        raise UserError("error.bad_args", problem=" ".join(args) or "—", usage=USAGE_SPLIT)
    parent = _subject(req, rest[0])
    if parent.scope == "member":
        raise UserError("target.split_parent")
    metric = _metric(rest[1])
    plan = plan_split(req.services, req.member, parent, month, metric, req.lang)
    method = rest[2:] or ("even",)
    weights = _weights(req, plan, method)
    try:
        parts = split(req.services, req.member, plan, weights, req.now, flags.force)
    except SplitError as exc:
        raise UserError(exc.key, usage=USAGE_SPLIT) from None
    lang, currency, whole = req.lang, req.services.rules.reporting_currency, plan.whole
    weight_sum = sum(weights.values(), Decimal(0))
    rows = tuple((s.name, percent(weights[s] / weight_sum, 1) if metric.cumulative else "—",
                  metric_value(v, metric.unit, currency, lang)) for s, v in parts.items())
    rows += tuple((s.name, t(lang, "target.team_measured"), metric_value(whole, metric.unit, currency, lang))
                  for s in plan.whole_to)
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
    return Card(t(lang, "target.split_title", who=parent.name, metric=metric.name(lang), month=month.period),
                tuple(blocks), Tone.GOOD, lang)


def _method_name(method: tuple[str, ...]) -> str:
    word = method[0].lower()
    return {"share": "share", "份额": "share", "even": "even", "平均": "even"}.get(word, "weights")


def _weights(req: Request, plan: SplitPlan, method: tuple[str, ...]) -> dict[Who, Decimal]:
    name = _method_name(method)
    if name == "even":
        return dict.fromkeys(plan.children, Decimal(1))
    if name == "share":
        return weights_from_last_period(last_period(req.services, plan, req.now))
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
    by_code = {c.code.casefold(): c for c in plan.children}
    unknown = [c for c in given if c not in by_code]
    missing = [c.code for c in plan.children if c.code.casefold() not in given]
    if unknown or missing:
        raise UserError("target.split_weights", unknown=", ".join(unknown) or "—", missing=", ".join(missing) or "—")
    return {by_code[c]: w for c, w in given.items()}


SPEC = Command("target", ("目标",), "help.target", USAGE, handle, writes=True)

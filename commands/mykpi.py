"""/mykpi [day|week|month]: the caller's numbers against target, pace, score, grade, rank and a chart. Also
/mykpi yesterday (昨天, kemarin): the local day before today in the member's zone, named with its date, and
/mykpi why [METRIC] [YYYY-MM] (为什么, kenapa): why the month's score is what it is (services.why)."""

from __future__ import annotations

from dataclasses import replace

from cards.counting import counting_note
from cards.fx_notes import fx_notes
from cards.i18n import t
from cards.kpi_cards import Headline, Todo, mykpi_card
from cards.model import Card, Text, Tone
from cards.sop_card import trial_targets_note
from cards.why_card import why_card
from commands.context import Request
from commands.periods import month_arg, parse_period
from commands.spec import Command
from scoring.metrics import lookup_metric
from scoring.periods import PeriodKind, Window
from services.errors import UserError
from services.my_kpi import my_kpi
from services.why import NoTemplate, explain

USAGE = "/mykpi [day|week|month]"   # and why [METRIC] [YYYY-MM]: README, docs/metrics.md
WHY_USAGE = "/mykpi why [METRIC] [YYYY-MM]"
WHY_WORDS = frozenset({"why", "为什么", "原因", "明细", "kenapa", "mengapa"})


def handle(req: Request) -> Card:
    if req.args and req.args[0].lower() in WHY_WORDS:
        return why(req, req.args[1:])
    kind = parse_period(req.args, USAGE)
    member = req.member
    lang = req.lang
    kpi = my_kpi(req.services, member, kind, req.now)
    mine = kpi.score
    period_name = _period_name(kind, mine.window, lang)
    if mine.scorecard is None:
        role = t(lang, f"role.{member.role}")
        return Card(t(lang, "mykpi.title", name=member.name, period=period_name),
                    (Text(t(lang, "mykpi.no_template", role=role)),), Tone.NEUTRAL, lang)
    series = kpi.series
    assert series is not None
    headline = Headline(
        key=series.key, month_label=series.window.label,
        day_labels=tuple(str(d.day) for d in series.window.days()), cumulative=series.cumulative,
        target=series.target, today=series.today, today_target=series.today_target,
        expected_now=series.expected_now, today_index=series.today_index, target_path=series.target_path,
    )
    card = mykpi_card(
        name=member.name, lang=lang, period=str(kind), period_name=period_name,
        card=mine.scorecard, headline=headline, rank=kpi.rank,
        currency=req.services.rules.reporting_currency, trial_until=member.trial_until,
        as_of=req.now.astimezone(mine.window.zone), tz=mine.window.tz, charts=req.services.charts,
        typical=(trial_targets_note(mine.typical.values, mine.typical.stage, mine.typical.region, lang)
                 if mine.typical is not None else None),
        todo=(Todo(kpi.outlook.key, kpi.outlook.target, kpi.outlook.landing, kpi.outlook.next_grade,
                   kpi.outlook.yesterday, kpi.outlook.today) if kpi.outlook is not None else None),
    )
    # the exchange-rate notes, then the counting rules as the card's last line (cards.counting)
    notes = (*fx_notes(kpi.fx_stale, kpi.fx_missing, lang), counting_note(req.services.rules, lang))
    return replace(card, blocks=(*card.blocks, *notes))


def why(req: Request, args: tuple[str, ...]) -> Card:
    """/mykpi why [METRIC] [YYYY-MM]: the trail of every metric of the member's month, or of one."""
    lang, member = req.lang, req.member
    period = None
    words = list(args)
    if words and (month := month_arg(words[-1])) is not None:
        period = f"{month[0]:04d}-{month[1]:02d}"
        words.pop()
    if len(words) > 1:
        raise UserError("error.bad_args", problem=" ".join(words), usage=WHY_USAGE)
    key = None
    if words:
        metric = lookup_metric(words[0])
        key = metric.key if metric is not None else words[0]
    try:
        trail = explain(req.services, member, key, period, req.now)
    except NoTemplate:
        return Card(t(lang, "why.title", name=member.name, period=period or ""),
                    (Text(t(lang, "mykpi.no_template", role=t(lang, f"role.{member.role}"))),), Tone.NEUTRAL, lang)
    return why_card(trail, lang)


def _period_name(kind: PeriodKind, window: Window, lang: str) -> str:
    """The period as the card names it: "This month", or "Yesterday (2026-10-31)", which says which day it was."""
    if kind is PeriodKind.YESTERDAY:
        return t(lang, "period.yesterday", day=window.label)
    return t(lang, f"period.{kind}")


SPEC = Command("mykpi", ("我的KPI", "我的业绩", "kpi"), "help.mykpi", USAGE, handle, cacheable=True,
               id_aliases=("kpisaya",))

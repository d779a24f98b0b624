"""/mykpi [day|week|month]: the caller's numbers against target, pace, score, grade, rank and a chart. Also
/mykpi yesterday (昨天, kemarin): the local day before today in the member's zone, named with its date."""

from __future__ import annotations

from dataclasses import replace

from cards.counting import counting_note
from cards.fx_notes import fx_notes
from cards.i18n import t
from cards.kpi_cards import Headline, Todo, mykpi_card
from cards.model import Card, Text, Tone
from cards.sop_card import trial_targets_note
from commands.context import Request
from commands.periods import parse_period
from commands.spec import Command
from scoring.periods import PeriodKind, Window
from services.my_kpi import my_kpi

USAGE = "/mykpi [day|week|month]"


def handle(req: Request) -> Card:
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


def _period_name(kind: PeriodKind, window: Window, lang: str) -> str:
    """The period as the card names it: "This month", or "Yesterday (2026-10-31)", which says which day it was."""
    if kind is PeriodKind.YESTERDAY:
        return t(lang, "period.yesterday", day=window.label)
    return t(lang, f"period.{kind}")


SPEC = Command("mykpi", ("我的KPI", "我的业绩", "kpi"), "help.mykpi", USAGE, handle, cacheable=True,
               id_aliases=("kpisaya",))

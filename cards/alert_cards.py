"""Lag alerts: the private nudge a member gets when behind pace, and the summary their lead gets."""

from __future__ import annotations

from datetime import date

from cards.format import metric_value, percent
from cards.i18n import t
from cards.kpi_cards import at_least_shown, pace_text
from cards.model import Button, Buttons, Card, Fields, Note, Table, Tone
from scoring.outlook import needed_per_day
from scoring.score import MetricResult


def nudge_card(*, lang: str, name: str, result: MetricResult, days_left: int, currency: str) -> Card:
    metric = result.metric
    unit = metric.unit
    items = [(t(lang, "alert.so_far"), f"{metric_value(result.actual, unit, currency, lang)} / "
                                       f"{metric_value(result.target, unit, currency, lang)} "
                                       f"({percent(result.achievement)})"),
             (t(lang, "mykpi.pace"), pace_text(result.pace_shown, lang))]
    # as /mykpi's "needed per day" (scoring.outlook), rounded up to what can be shown
    per_day = at_least_shown(needed_per_day(result.actual, result.target, days_left), unit, currency) \
        if result.actual is not None else None
    if per_day is not None:
        items.append((t(lang, "alert.per_day", days=days_left), metric_value(per_day, unit, currency, lang)))
    return Card(t(lang, "alert.title", name=name, metric=metric.name(lang)), (
        Fields(tuple(items)), Note(t(lang, "alert.why")),
        Buttons((Button(t(lang, "alert.open"), "mykpi", ("month",), primary=True),))), Tone.WARN, lang)


def lead_summary_card(*, lang: str, team: str, day: date, at: str,
                      rows: list[tuple[str, MetricResult]]) -> Card:
    """Who was behind on `day`, each judged at `at` ("HH:MM") in their own zone (bot/jobs/alerts.py)."""
    table = Table((t(lang, "team.member"), t(lang, "team.key_metric"), t(lang, "mykpi.pace")),
                  tuple((name, f"{r.metric.name(lang)} {percent(r.achievement)}", pace_text(r.pace_shown, lang))
                        for name, r in rows))
    return Card(t(lang, "alert.summary_title", team=team, n=len(rows), day=day.isoformat()),
                (table, Note(t(lang, "alert.summary_why", time=at))), Tone.WARN, lang)

"""Card builders for scores: the member's /mykpi card, the team table and the ranking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

from cards.chart_cache import ChartCache
from cards.charts import ProgressChart
from cards.format import metric_value, percent
from cards.i18n import t
from cards.model import Block, Button, Buttons, Card, Fields, Note, Progress, Table, Text, Tone
from scoring.metrics import CATALOG, Unit
from scoring.money import minor_unit
from scoring.outlook import Landing, NextGrade
from scoring.pace import Pace
from scoring.score import LeftOut, MetricResult, Scorecard


def tone_for(grade: str | None) -> Tone:
    return {"S": Tone.GOOD, "A": Tone.GOOD, "B": Tone.INFO, "C": Tone.WARN, "D": Tone.BAD}.get(grade or "",
                                                                                             Tone.NEUTRAL)


def pace_text(pace: Pace | None, lang: str, with_status: bool = True) -> str:
    """The one wording of a pace (scoring.pace): "94% of pace · behind", "进度 94%（落后）", "no pace yet"; "—"
    without a pace. `with_status=False`: the figure alone ("94% of pace"), where a status column says the rest."""
    if pace is None:
        return "—"
    status = t(lang, f"pace.{pace.status}")
    if pace.percent is None:
        return status
    if not with_status:
        return t(lang, "pace.figure", percent=f"{pace.percent:,}")
    return t(lang, "pace.shown", percent=f"{pace.percent:,}", status=status)


@dataclass(frozen=True)
class Headline:
    """The headline metric's month: today and so far against target, with its daily series (cumulative, or for a
    level metric month-to-date as of each day)."""

    key: str
    month_label: str
    day_labels: tuple[str, ...]
    cumulative: list[Decimal | None]
    target: Decimal | None
    today: Decimal | None
    today_target: Decimal | None
    expected_now: Decimal | None = None   # the month's headline result's expected by now (cumulative only)
    today_index: int | None = None        # index of today in day_labels
    target_path: list[Decimal] | None = None   # the target expected by the end of each day (the team's shape)


@dataclass(frozen=True)
class Todo:
    """What to do (scoring.outlook) for the headline metric `key`, against its month `target`."""

    key: str
    target: Decimal | None
    landing: Landing | None
    next_grade: NextGrade | None
    yesterday: Decimal | None
    today: Decimal | None


def todo_fields(todo: Todo, score: Decimal | None, currency: str, lang: str) -> Fields:
    """The month-end forecast, what each day left needs, the next grade, and yesterday against today."""
    metric = CATALOG[todo.key]
    name = metric.name(lang)

    def value(v: Decimal | None) -> str:
        return metric_value(v, metric.unit, currency, lang)

    rows: list[tuple[str, str]] = []
    land = todo.landing
    if land is not None:
        if land.forecast is None:
            shown = t(lang, "mykpi.forecast_later")
        elif todo.target:
            shown = t(lang, "mykpi.forecast_value", value=value(land.forecast),
                      ratio=percent(land.forecast / todo.target))
        else:
            shown = value(land.forecast)
        rows.append((t(lang, "mykpi.forecast", metric=name), shown))
        if land.reached or land.needed_per_day is not None:
            label = (t(lang, "mykpi.needed_last") if land.days_left == 1
                     else t(lang, "mykpi.needed", days=land.days_left))
            rows.append((label, t(lang, "mykpi.reached") if land.reached
                         else value(at_least_shown(land.needed_per_day, metric.unit, currency))))
    if score is not None:
        nxt = todo.next_grade
        rows.append((t(lang, "mykpi.next_grade"), t(lang, "mykpi.top_grade") if nxt is None
                     else t(lang, "mykpi.next_grade_value", grade=nxt.grade, points=nxt.points)))
    rows.append((t(lang, "mykpi.yesterday_today", metric=name), f"{value(todo.yesterday)} / {value(todo.today)}"))
    return Fields(tuple(rows))


def at_least_shown(needed: Decimal | None, unit: Unit, currency: str) -> Decimal | None:
    """What a day must bring, rounded UP to what can be shown (a cent, a whole order), so that bringing the shown
    figure every day reaches the target: 8,652.26 over 9 days is 961.37 a day, not 961.36 (0.02 short)."""
    if needed is None:
        return None
    if unit is Unit.MONEY:
        return needed.quantize(minor_unit(currency), rounding=ROUND_CEILING)
    if unit is Unit.COUNT:
        return needed.to_integral_value(rounding=ROUND_CEILING)
    return needed


def metric_progress(r: MetricResult, currency: str, lang: str) -> Progress:
    m = r.metric
    label = f"{m.name(lang)} ({r.weight}%)"
    actual = metric_value(r.actual, m.unit, currency, lang)
    if r.target is None:
        return Progress(label, None, f"{actual} · {t(lang, 'mykpi.no_target')}")
    parts = [f"{actual} / {metric_value(r.target, m.unit, currency, lang)}"]
    if r.achievement is not None:
        parts.append(f"{t(lang, 'mykpi.achievement')} {percent(r.achievement)}")
    if r.pace_shown is not None:
        parts.append(pace_text(r.pace_shown, lang))
    elif m.lower_is_better and r.actual is not None:
        parts.append("↓")
    return Progress(label, r.achievement, " · ".join(parts))


def _headline_fields(h: Headline, currency: str, lang: str, period_name: str,
                     result: MetricResult | None, over: bool = False) -> list[tuple[str, str]]:
    """Today and the period so far against target, with the pace; for a period that is over (`over`: /mykpi
    yesterday) its total alone: no today, no "so far", no expected by now."""
    unit = CATALOG[h.key].unit
    name = CATALOG[h.key].name(lang)

    def against(value: Decimal | None, target: Decimal | None) -> str:
        text = metric_value(value, unit, currency, lang)
        if target is None:
            return f"{text} · {t(lang, 'mykpi.no_target')}"
        ratio = value / target if (value is not None and target) else None
        return f"{text} / {metric_value(target, unit, currency, lang)} ({percent(ratio)})"

    if over:
        return [] if result is None else [(f"{period_name} · {name}", against(result.actual, result.target))]
    rows = [(f"{t(lang, 'mykpi.today')} · {name}", against(h.today, h.today_target))]
    if result is not None:
        rows.append((f"{t(lang, 'mykpi.period_total', period=period_name)} · {name}",
                     against(result.actual, result.target)))
        if result.pace_shown is not None:
            rows.append((t(lang, "mykpi.pace"), pace_text(result.pace_shown, lang) + " · "
                         + t(lang, "mykpi.expected", value=metric_value(result.expected, unit, currency, lang))))
    return rows


def not_scored_notes(card: Scorecard, lang: str, tz: str) -> list[Note]:
    """Why there is no score yet (the minimum of data) and which metrics are left out: those with nothing to judge
    yet apart from those without a target or a value."""
    notes = []
    if card.first_score_at is not None:
        when = card.first_score_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
        key = "mykpi.not_yet_activity" if card.awaiting_activity else "mykpi.not_yet_score"
        notes.append(Note(t(lang, key, time=when)))
    waiting = [r.metric.name(lang) for r in card.results if r.left_out is LeftOut.NOT_YET]
    if waiting:
        notes.append(Note(t(lang, "mykpi.not_scored_yet", metrics=", ".join(waiting))))
    other = [r.metric.name(lang) for r in card.results if r.scored is None and r.left_out is not LeftOut.NOT_YET]
    if other:
        notes.append(Note(t(lang, "mykpi.not_scored", metrics=", ".join(other))))
    return notes


def mykpi_card(*, name: str, lang: str, period: str, period_name: str, card: Scorecard, headline: Headline,
               rank: tuple[int, int] | None, currency: str, trial_until: date | None, as_of: datetime, tz: str,
               charts: ChartCache, typical: Note | None = None, todo: Todo | None = None) -> Card:
    """`typical`: the note naming the targets that are the SOP's typical values (a member in trial); `todo`: what
    to do to land the month."""
    result = next((r for r in card.results if r.metric.key == headline.key), None)
    blocks: list[Block] = [
        Fields((
            (t(lang, "mykpi.score"), "—" if card.score is None else f"{card.score}"),
            (t(lang, "mykpi.grade"), card.grade or "—"),
            (t(lang, "mykpi.rank"), t(lang, "mykpi.rank_value", pos=rank[0], total=rank[1]) if rank else "—"),
        )),
        Fields(tuple(_headline_fields(headline, currency, lang, period_name, result, over=period == "yesterday"))),
    ]
    if todo is not None:
        blocks.append(Text(t(lang, "mykpi.todo"), strong=True))
        blocks.append(todo_fields(todo, card.score, currency, lang))
    blocks.extend(metric_progress(r, currency, lang) for r in card.results)
    blocks.extend(not_scored_notes(card, lang, tz))
    if not card.binding:
        blocks.append(Note(t(lang, "mykpi.trial", day=trial_until.isoformat()) if trial_until
                           else t(lang, "mykpi.template_trial", name=card.template.name)))
    if typical is not None:
        blocks.append(typical)
    if any(v is not None for v in headline.cumulative) and headline.target is not None:
        chart = headline_chart(name, headline, currency, lang)
        blocks.append(charts.image(chart, chart.title))
    blocks.append(Note(t(lang, "mykpi.as_of", time=as_of.strftime("%Y-%m-%d %H:%M"), tz=tz,
                         template=card.template.name)))
    blocks.append(Buttons((
        Button(t(lang, "button.day"), "mykpi", ("day",), primary=period == "day"),
        Button(t(lang, "button.week"), "mykpi", ("week",), primary=period == "week"),
        Button(t(lang, "button.month"), "mykpi", ("month",), primary=period == "month"),
        Button(t(lang, "button.refresh"), "mykpi", (period,)),
        Button(t(lang, "why.button"), "mykpi", ("why",)),   # why the score is what it is (cards.why_card)
    )))
    title = t(lang, "mykpi.title", name=name, period=period_name)
    return Card(title, tuple(blocks), tone_for(card.grade), lang)


def headline_chart(name: str, headline: Headline, currency: str, lang: str) -> ProgressChart:
    """The headline metric's month as a chart: cumulative against the target line with the expected-by-now mark,
    or a level metric's month-to-date value against its flat target (a ratio in percent, as the card shows it)."""
    metric = CATALOG[headline.key]
    assert headline.target is not None
    scale = 100.0 if metric.unit is Unit.RATIO else 1.0   # drawing only: floats never feed a figure shown as text

    def drawn(value: Decimal | None) -> float | None:
        return None if value is None else float(value) * scale

    level = not metric.cumulative
    return ProgressChart(
        title=t(lang, "mykpi.chart_title_level" if level else "mykpi.chart_title", name=name,
                period=headline.month_label, metric=metric.name(lang)),
        day_labels=headline.day_labels,
        cumulative=tuple(drawn(v) for v in headline.cumulative),
        target_total=float(headline.target) * scale,
        unit=currency if metric.unit is Unit.MONEY else "%" if metric.unit is Unit.RATIO else "",
        target_label=t(lang, "mykpi.chart_target"), actual_label=t(lang, "mykpi.chart_actual"),
        expected_now=None if level else drawn(headline.expected_now),
        now_index=headline.today_index,
        gap_label=t(lang, "mykpi.chart_gap", gap="{gap}"),
        cumulative_line=not level,
        target_path=None if level or headline.target_path is None else tuple(
            float(v) * scale for v in headline.target_path),
    )


@dataclass(frozen=True)
class TeamRow:
    name: str
    role: str
    score: Decimal | None
    grade: str | None
    key_metric: str
    lagging: bool
    shared: bool = False   # measured on the team's figure: points to the "Team (shared)" row, no status of its own


def team_order(row: TeamRow) -> tuple[bool, Decimal, str]:
    """Best score first, unscored last, then by name."""
    return row.score is None, -(row.score or 0), row.name


def team_card(*, title: str, lang: str, rows: list[TeamRow], summary: list[tuple[str, str]],
              shared: TeamRow | None = None) -> Card:
    """`shared`: the team's own figure (services.team_rows), first, for the rows marked `shared`."""
    ordered = sorted(rows, key=team_order)

    def status(r: TeamRow) -> str:
        if r.shared:
            return "—"
        return "⚠ " + t(lang, "team.lagging") if r.lagging else t(lang, "team.ok")

    table_rows = [(r.name, t(lang, f"role.{r.role}"), "—" if r.score is None else str(r.score), r.grade or "—",
                   r.key_metric, status(r)) for r in ordered]
    if shared is not None:
        table_rows.insert(0, (shared.name, "—", "—", "—", shared.key_metric, status(shared)))
    table = Table(
        (t(lang, "team.member"), t(lang, "team.role"), t(lang, "team.score"), t(lang, "team.grade"),
         t(lang, "team.key_metric"), t(lang, "team.status")),
        tuple(table_rows),
    )
    lagging = [r.name for r in ([shared] if shared else []) + ordered if r.lagging]
    message = t(lang, "team.lagging_summary", names=", ".join(lagging)) if lagging else t(lang, "team.nobody_lagging")
    blocks: list[Block] = [Fields(tuple(summary))] if summary else []
    blocks += [table, Text(message, strong=bool(lagging))]
    return Card(title, tuple(blocks), Tone.WARN if lagging else Tone.GOOD, lang)


RANK_ROWS = 20   # a card has a size limit (30 KB on Feishu): the top rows, plus the caller's own


def rank_card(*, title: str, lang: str, rows: list[tuple[str, str, Decimal | None, str | None]],
              highlight: str | None) -> Card:
    """rows: (name, team, score, grade); `highlight` marks the caller's own row."""
    scored = sorted((r for r in rows if r[2] is not None), key=lambda r: (-(r[2] or 0), r[0]))
    if not scored:
        return Card(title, (Text(t(lang, "rank.empty")),), Tone.NEUTRAL, lang)
    table_rows = []
    for i, (name, team, score, grade) in enumerate(scored):
        if i >= RANK_ROWS and name != highlight:
            continue
        position = 1 + sum(1 for r in scored if (r[2] or 0) > (score or 0))
        mark = " ◀" if name == highlight else ""
        table_rows.append((str(position), name + mark, team, str(score), grade or "—"))
    headers = (t(lang, "rank.position"), t(lang, "team.member"), t(lang, "whoami.team"), t(lang, "team.score"),
               t(lang, "team.grade"))
    return Card(title, (Table(headers, tuple(table_rows)),), Tone.INFO, lang)

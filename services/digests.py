"""The team lead's digest: the daily card (and the Monday weekly report) a subscribed group chat gets
(bot.jobs.digests), and the answer to `/digest`.

Daily, as of the moment it is built, in the team's time zone:
- the team's net GMV this month against its target, with pace (actual against the target times the share
  of the month gone) and yesterday's net GMV against the day before;
- every member's score, grade and headline achievement, with the laggards marked (as /team);
- the month's top products and top creators;
- one chart: the team's cumulative net GMV against the target line, and each member's achievement.
Weekly: the same for last week (Monday to Sunday). Members' money figures (their net GMV) are shown only
when the chat is marked for finance.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from cards.digest_chart import DigestChart
from cards.format import metric_value, money, percent
from cards.fx_notes import fx_notes
from cards.i18n import t
from cards.kpi_cards import TeamRow, pace_text, team_order
from cards.model import Block, Button, Buttons, Card, Fields, Image, Note, Table, Text, Tone
from scoring.facts import Activity
from scoring.metrics import CATALOG, Context
from scoring.periods import PeriodKind, Window, month_window, window_for
from scoring.score import score_metric, window_target
from scoring.series import cumulative_series
from services.container import Services
from services.scorecards import Inputs, MemberScore, headline_metric, month_key, score_member
from services.team_rows import row_for, total_text
from storage.activity import load_team_activity
from storage.leaders import Leader, top_creators, top_products
from storage.models import Team
from storage.queries import monthly_targets, team_members

HEADLINE = "net_gmv"


def build_digest(session: Session, services: Services, team: Team, lang: str, now: datetime, finance: bool = False,
                 weekly: bool = False) -> Card:
    rules, currency = services.rules, services.rules.reporting_currency
    inputs = Inputs.load(session, rules, now, skip_missing_fx=True)
    if weekly:
        window = window_for(PeriodKind.WEEK, now - timedelta(days=7), team.timezone)
        title = t(lang, "digest.weekly_title", team=team.name, period=f"{window.first_day} – {window.last_day}")
    else:
        window = window_for(PeriodKind.MONTH, now, team.timezone)
        title = t(lang, "digest.title", team=team.name, day=window.local_day(now).isoformat())
    month = month_window(window.last_day.year, window.last_day.month, team.timezone)
    ctx = Context(window, now, rules, inputs.fx)
    metric = CATALOG[HEADLINE]
    activity = load_team_activity(session, team.id or 0, min(window.start, month.start), max(window.end, month.end),
                                  {"orders"})
    periods = sorted({month_key(d) for d in (*window.days(), month.first_day)})
    team_targets = monthly_targets(session, f"team:{team.id}", periods).get(HEADLINE, {})
    team_total = score_metric(metric, Decimal(100), metric.compute(activity, ctx) or Decimal(0),
                              window_target(metric, team_targets, window.days()), window.elapsed_fraction(now), rules)
    fields = [(t(lang, "team.total", metric=metric.name(lang)), total_text(team_total, currency, lang))]
    if team_total.pace_shown is not None:
        fields.append((t(lang, "mykpi.pace"), pace_text(team_total.pace_shown, lang)))
    if not weekly:
        fields.append((t(lang, "digest.yesterday"), _yesterday(activity, ctx, now, team, currency, lang)))
    scores = [score_member(session, inputs, m, team, window) for m in team_members(session, team.id or 0)]
    ranked = sorted(((s, row_for(s, lang, currency)) for s in scores), key=lambda pair: team_order(pair[1]))
    head = [t(lang, "team.member"), t(lang, "team.score"), t(lang, "team.key_metric"), t(lang, "team.status")]
    if finance:
        head.insert(3, metric.name(lang))
    member_rows = []
    for score, r in ranked:
        cells = [r.name, "—" if r.score is None else f"{r.score} {r.grade or ''}".strip(), r.key_metric,
                 "⚠ " + t(lang, "team.lagging") if r.lagging else t(lang, "team.ok")]
        if finance:
            net = metric.compute(score.activity, ctx)
            cells.insert(3, metric_value(net, metric.unit, currency, lang))
        member_rows.append(tuple(cells))
    lagging = [r.name for _, r in ranked if r.lagging]
    blocks: list[Block] = [Fields(tuple(fields)), Table(tuple(head), tuple(member_rows)),
                           Text(t(lang, "team.lagging_summary", names=", ".join(lagging)) if lagging
                                else t(lang, "team.nobody_lagging"), strong=bool(lagging))]
    for key, leaders in (("digest.top_products", top_products(session, team.id or 0, window.start, window.end,
                                                              rules, inputs.fx)),
                         ("digest.top_creators", top_creators(session, team.id or 0, window.start, window.end,
                                                              rules, inputs.fx))):
        if leaders:
            blocks.append(_leaders_table(t(lang, key), leaders, currency, lang))
    blocks.append(_chart(services, team, lang, month, activity, Context(month, now, rules, inputs.fx),
                         window_target(metric, team_targets, month.days()), ranked, currency))
    as_of = now.astimezone(window.zone).strftime("%Y-%m-%d %H:%M")
    blocks.extend(fx_notes(inputs.fx.stale, inputs.fx.missing, lang))
    blocks.append(Note(t(lang, "digest.as_of", time=as_of, tz=team.timezone)))
    blocks.append(Buttons((Button(t(lang, "button.refresh"), "digest"),)))
    return Card(title, tuple(blocks), Tone.WARN if lagging else Tone.GOOD, lang)


def _yesterday(activity: Activity, ctx: Context, now: datetime, team: Team, currency: str, lang: str) -> str:
    today = window_for(PeriodKind.DAY, now, team.timezone)
    yesterday = window_for(PeriodKind.DAY, today.start - timedelta(hours=12), team.timezone)
    before = window_for(PeriodKind.DAY, yesterday.start - timedelta(hours=12), team.timezone)
    metric = CATALOG[HEADLINE]
    value = metric.compute(activity, Context(yesterday, now, ctx.rules, ctx.fx)) or Decimal(0)
    prior = metric.compute(activity, Context(before, now, ctx.rules, ctx.fx)) or Decimal(0)
    change = "" if not prior else f" ({'+' if value >= prior else ''}{percent(value / prior - 1, 1)} " \
                                  f"{t(lang, 'digest.vs_day_before')})"
    return money(value, currency) + change


def _leaders_table(title: str, leaders: list[Leader], currency: str, lang: str) -> Table:
    return Table((title, t(lang, "digest.orders"), t(lang, "digest.units"), CATALOG[HEADLINE].name(lang)),
                 tuple((x.name, f"{x.orders:,}", f"{x.units:,}", money(x.net, currency)) for x in leaders))


def _chart(services: Services, team: Team, lang: str, month: Window, activity: Activity, ctx: Context,
           target: Decimal | None, ranked: list[tuple[MemberScore, TeamRow]], currency: str) -> Image:
    series = cumulative_series(HEADLINE, activity, ctx)
    achievements = []
    for s, r in ranked:
        head = s.scorecard.result(headline_metric(s.template)) if s.scorecard and s.template else None
        ratio = head.achievement if head is not None else None
        achievements.append((r.name, None if ratio is None else float(ratio), r.lagging))
    chart = DigestChart(
        title=f"{team.name} · {month.label}",
        day_labels=tuple(str(d.day) for d in month.days()),
        cumulative=tuple(None if v is None else float(v) for v in series),
        target_total=None if target is None else float(target),
        unit=currency, members=tuple(achievements),
        actual_label=t(lang, "mykpi.chart_actual"), target_label=t(lang, "mykpi.chart_target"),
        achievement_label=t(lang, "digest.achievement"))
    return services.charts.image(chart, chart.title)

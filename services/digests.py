"""The team lead's digest: the daily card (and the Monday weekly report) a subscribed group chat gets
(bot.jobs.digests), and the answer to `/digest`.

Daily, as of the moment it is built, in the team's time zone:
- the team's net GMV this month against its target, with pace (actual against the target times the share
  of the month gone) and yesterday's net GMV against the day before;
- every member's score, grade and headline achievement, with the laggards marked (as /team); members in trial
  are marked after their name. Members of a team-scoped role (scoring.roles Scope.TEAM: ad buyer, operator,
  selector, lead) are measured on the team's net GMV, not on their own: that figure is shown once, as the
  "Team (shared)" line against the team's target and pace, first in the table; their own rows keep their score
  and grade and point to that line instead of repeating the team's figure against their personal targets, so
  one shortfall is not shown (nor named behind) once per person. The chart has one bar for them too;
- the month's top products and top creators so far (storage.leaders: net GMV, nothing after now);
- one chart: the team's cumulative net GMV against the target line, and each member's achievement.
Weekly: the same for last week (Monday to Sunday). Members' money figures (their net GMV) are shown only
when the chat is marked for finance.
"""

from __future__ import annotations

from dataclasses import replace
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
from scoring.pace import PaceStatus
from scoring.periods import PeriodKind, Window, month_window, window_for
from scoring.roles import Role, Scope, UnknownRole
from scoring.score import MetricResult, score_metric, window_target
from scoring.series import cumulative_series
from scoring.shape import expected_share
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
    # the day before yesterday may be in the previous month (on the 1st and 2nd): load back to it
    days = _days_back(now, team)
    activity = load_team_activity(session, team.id or 0, min(window.start, month.start, days[-1].start),
                                  max(window.end, month.end), {"orders"})
    periods = sorted({month_key(d) for d in (*window.days(), month.first_day)})
    team_targets = monthly_targets(session, f"team:{team.id}", periods).get(HEADLINE, {})
    team_total = score_metric(metric, Decimal(100), metric.compute(activity, ctx) or Decimal(0),
                              window_target(metric, team_targets, window.days()),
                              expected_share(window, now, inputs.shape_for(session, team, window.tz)), rules)
    fields = [(t(lang, "team.total", metric=metric.name(lang)), total_text(team_total, currency, lang))]
    if team_total.pace_shown is not None:
        fields.append((t(lang, "mykpi.pace"), pace_text(team_total.pace_shown, lang)))
    if not weekly:
        fields.append((t(lang, "digest.yesterday"), _yesterday(activity, ctx, now, days, currency, lang)))
    scores = [score_member(session, inputs, m, team, window) for m in team_members(session, team.id or 0)]
    ranked = sorted(((s, row_for(s, lang, currency)) for s in scores), key=lambda pair: team_order(pair[1]))
    shared = [(s, r) for s, r in ranked if _team_scoped(s)]
    team_row = _team_row(team_total, lang) if shared else None
    head = [t(lang, "team.member"), t(lang, "team.score"), t(lang, "team.key_metric"), t(lang, "team.status")]
    if finance:
        head.insert(3, metric.name(lang))
    member_rows = []
    if team_row is not None:
        cells = [team_row.name, "—", team_row.key_metric, _status(team_row, lang)]
        if finance:
            cells.insert(3, metric_value(team_total.actual, metric.unit, currency, lang))
        member_rows.append(tuple(cells))
    for score, r in ranked:
        if _team_scoped(score):
            r = replace(r, key_metric=t(lang, "digest.on_team_figure"), lagging=False)
        cells = [r.name, "—" if r.score is None else f"{r.score} {r.grade or ''}".strip(), r.key_metric,
                 "—" if _team_scoped(score) else _status(r, lang)]
        if finance:
            net = metric.compute(score.activity, ctx)
            cells.insert(3, "—" if _team_scoped(score) else metric_value(net, metric.unit, currency, lang))
        member_rows.append(tuple(cells))
    own = [(s, r) for s, r in ranked if not _team_scoped(s)]
    lagging = [r.name for r in ([team_row] if team_row else []) + [r for _, r in own] if r.lagging]
    blocks: list[Block] = [Fields(tuple(fields)), Table(tuple(head), tuple(member_rows)),
                           Text(t(lang, "team.lagging_summary", names=", ".join(lagging)) if lagging
                                else t(lang, "team.nobody_lagging"), strong=bool(lagging))]
    until = min(window.end, now)
    for key, leaders in (("digest.top_products", top_products(session, team.id or 0, window.start, until, now,
                                                              rules, inputs.fx)),
                         ("digest.top_creators", top_creators(session, team.id or 0, window.start, until, now,
                                                              rules, inputs.fx))):
        if leaders:
            blocks.append(_leaders_table(t(lang, key), leaders, currency, lang))
    month_target = window_target(metric, team_targets, month.days())
    month_ctx = Context(month, now, rules, inputs.fx)
    team_bar = None
    if team_row is not None:
        month_actual = metric.compute(activity, month_ctx) or Decimal(0)
        team_bar = (team_row.name, float(month_actual / month_target) if month_target else None, team_row.lagging)
    blocks.append(_chart(services, team, lang, month, activity, month_ctx, month_target, own, team_bar, currency))
    as_of = now.astimezone(window.zone).strftime("%Y-%m-%d %H:%M")
    blocks.extend(fx_notes(inputs.fx.stale, inputs.fx.missing, lang))
    blocks.append(Note(t(lang, "digest.as_of", time=as_of, tz=team.timezone)))
    blocks.append(Buttons((Button(t(lang, "button.refresh"), "digest"),)))
    return Card(title, tuple(blocks), Tone.WARN if lagging else Tone.GOOD, lang)


def _days_back(now: datetime, team: Team) -> tuple[Window, Window]:
    """Yesterday and the day before, in the team's zone (either may be in the previous month)."""
    today = window_for(PeriodKind.DAY, now, team.timezone)
    yesterday = window_for(PeriodKind.DAY, today.start - timedelta(hours=12), team.timezone)
    return yesterday, window_for(PeriodKind.DAY, yesterday.start - timedelta(hours=12), team.timezone)


def _yesterday(activity: Activity, ctx: Context, now: datetime, days: tuple[Window, Window], currency: str,
               lang: str) -> str:
    yesterday, before = days
    metric = CATALOG[HEADLINE]
    value = metric.compute(activity, Context(yesterday, now, ctx.rules, ctx.fx)) or Decimal(0)
    prior = metric.compute(activity, Context(before, now, ctx.rules, ctx.fx)) or Decimal(0)
    change = "" if not prior else f" ({'+' if value >= prior else ''}{percent(value / prior - 1, 1)} " \
                                  f"{t(lang, 'digest.vs_day_before')})"
    return money(value, currency) + change


def _team_scoped(score: MemberScore) -> bool:
    """Measured on the team's figures (a team-scoped role whose headline is the team's net GMV)."""
    try:
        scope = Role.parse(score.member.role).scope
    except UnknownRole:
        return False
    return scope is Scope.TEAM and score.template is not None and headline_metric(score.template) == HEADLINE


def _team_row(total: MetricResult, lang: str) -> TeamRow:
    """The team's own net GMV against the team's target, as one row, behind when its pace is."""
    key_metric = f"{total.metric.name(lang)} {percent(total.achievement)}"
    pace = total.pace_shown
    if pace is not None:
        key_metric += " · " + pace_text(pace, lang, with_status=False)
    behind = pace is not None and pace.status is PaceStatus.BEHIND
    return TeamRow(t(lang, "digest.team_line"), "", None, None, key_metric, behind)


def _status(row: TeamRow, lang: str) -> str:
    return "⚠ " + t(lang, "team.lagging") if row.lagging else t(lang, "team.ok")


def _leaders_table(title: str, leaders: list[Leader], currency: str, lang: str) -> Table:
    return Table((title, t(lang, "digest.orders"), t(lang, "digest.units"), CATALOG[HEADLINE].name(lang)),
                 tuple((x.name, f"{x.orders:,}", f"{x.units:,}", money(x.net, currency)) for x in leaders))


def _chart(services: Services, team: Team, lang: str, month: Window, activity: Activity, ctx: Context,
           target: Decimal | None, ranked: list[tuple[MemberScore, TeamRow]],
           team_bar: tuple[str, float | None, bool] | None, currency: str) -> Image:
    """`team_bar`: the team-scoped members' one bar (the team's achievement), first; then the others'."""
    series = cumulative_series(HEADLINE, activity, ctx)
    achievements = [team_bar] if team_bar is not None else []
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

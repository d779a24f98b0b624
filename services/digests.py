"""The team lead's digest: the daily card (and the Monday weekly report) a subscribed group chat gets
(bot.jobs.digests), and the answer to `/digest`.

Daily, as of the moment it is built, in the team's time zone:
- the team's net GMV this month against its target, with pace (actual against the target times the share
  of the month gone) and yesterday's net GMV against the day before;
- every member's score, grade and headline achievement, with the laggards marked, as /team shows them
  (services.team_rows): members in trial are marked after their name, and the team-scoped roles (ad buyer,
  operator, selector, lead), measured on the team's net GMV, share one "Team (shared)" line against the team's
  target and pace, first in the table, instead of one shortfall per person. The chart has one bar for them too;
- the month's top products and top creators so far (storage.leaders: net GMV, nothing after now);
- one chart: the team's cumulative net GMV against the target line, and each member's pace (100 % = on pace;
  "no pace yet" shown as a note without a bar).
Weekly: the same for last week (Monday to Sunday). Members' money figures (their net GMV) are shown only
when the chat is marked for finance. The counting rules (cards.counting) are the card's last line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from cards.counting import counting_note
from cards.digest_chart import DigestChart
from cards.format import metric_value, money, percent
from cards.fx_notes import fx_notes
from cards.i18n import lang_of, t
from cards.kpi_cards import TeamRow, pace_text
from cards.model import Block, Button, Buttons, Card, Fields, Image, Note, Table, Text, Tone
from scoring.facts import Activity
from scoring.metrics import CATALOG, Context
from scoring.periods import PeriodKind, Window, month_window, window_for
from scoring.score import MetricResult, window_target
from scoring.series import cumulative_series
from services.container import Services
from services.scorecards import Inputs, MemberScore, month_key, pace_metric, score_members
from services.team_access import sees_team
from services.team_rows import TEAM_FIGURE, team_rows, team_total, total_text
from storage.activity import load_team_activity
from storage.leaders import Leader
from storage.leaders import leaders as top_leaders
from storage.models import DigestSubscription, Member, Team
from storage.queries import monthly_targets, team_members

# (language, how to build the card) -> the card, kept or built: a cache the caller owns (shared_digest)
KeepCard = Callable[[str, Callable[[], Card]], Card]
SUBSCRIPTION = "subscription"   # the kind of scope a subscribed chat's card has
HEADLINE = TEAM_FIGURE   # the team's figure, which the team-scoped roles share (services.team_rows)


def build_digest(session: Session, services: Services, team: Team, lang: str, now: datetime, finance: bool = False,
                 weekly: bool = False, inputs: Inputs | None = None) -> Card:
    """`inputs`: loaded for `now` already (the digest job shares them among the cards of one tick)."""
    rules, currency = services.rules, services.rules.reporting_currency
    inputs = inputs or Inputs.load(session, rules, now, skip_missing_fx=True)
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
                                  max(window.end, month.end), {"orders"}, inputs.facts, tz=window.tz)
    total = team_total(session, inputs, team, window, HEADLINE, activity)
    fields = [(t(lang, "team.total", metric=metric.name(lang)), total_text(total, currency, lang))]
    if total.pace_shown is not None:
        fields.append((t(lang, "mykpi.pace"), pace_text(total.pace_shown, lang)))
    if not weekly:
        fields.append((t(lang, "digest.yesterday"), _yesterday(activity, ctx, now, days, currency, lang)))
    # the job's cards of one team in several languages share one scoring (their `inputs` are the tick's)
    key = ("digest scores", team.id, window)
    if key not in inputs.memo:
        inputs.memo[key] = score_members(session, inputs, team,
                                         [(m, window) for m in team_members(session, team.id or 0)])
    scores: list[MemberScore] = inputs.memo[key]  # type: ignore[assignment]
    rows = team_rows(scores, total, lang, currency)
    team_row = rows.shared
    head = [t(lang, "team.member"), t(lang, "team.score"), t(lang, "team.key_metric"), t(lang, "team.status")]
    if finance:
        head.insert(3, metric.name(lang))
    member_rows = []
    if team_row is not None:
        cells = [team_row.name, "—", team_row.key_metric, _status(team_row, lang)]
        if finance:
            cells.insert(3, metric_value(total.actual, metric.unit, currency, lang))
        member_rows.append(tuple(cells))
    for score, r in rows.members:
        cells = [r.name, "—" if r.score is None else f"{r.score} {r.grade or ''}".strip(), r.key_metric,
                 _status(r, lang)]
        if finance:
            net = metric.compute(score.activity, ctx)
            cells.insert(3, "—" if r.shared else metric_value(net, metric.unit, currency, lang))
        member_rows.append(tuple(cells))
    own = [(s, r) for s, r in rows.members if not r.shared]
    lagging = rows.lagging()
    blocks: list[Block] = [Fields(tuple(fields)), Table(tuple(head), tuple(member_rows)),
                           Text(t(lang, "team.lagging_summary", names=", ".join(lagging)) if lagging
                                else t(lang, "team.nobody_lagging"), strong=bool(lagging))]
    until = min(window.end, now)
    key = ("digest leaders", team.id, window.start, until)   # as the scores: one read for the team's cards
    if key not in inputs.memo:
        inputs.memo[key] = top_leaders(session, team.id or 0, window.start, until, now, rules, inputs.fx)
    products, creators = inputs.memo[key]  # type: ignore[misc]
    for key, leaders in (("digest.top_products", products), ("digest.top_creators", creators)):
        if leaders:
            blocks.append(_leaders_table(t(lang, key), leaders, currency, lang))
    month_targets = monthly_targets(session, f"team:{team.id}", [month_key(month.first_day)]).get(HEADLINE, {})
    month_target = window_target(metric, month_targets, month.days())
    month_ctx = Context(month, now, rules, inputs.fx)
    team_bar = _pace_bar(team_row.name, total, team_row.lagging, lang) if team_row is not None else None
    blocks.append(_chart(services, team, lang, month, activity, month_ctx, month_target, own, team_bar, currency))
    as_of = now.astimezone(window.zone).strftime("%Y-%m-%d %H:%M")
    blocks.extend(fx_notes(inputs.fx.stale, inputs.fx.missing, lang))
    blocks.append(Note(t(lang, "digest.as_of", time=as_of, tz=team.timezone)))
    # the team goes with the button, so a refresh of a team named in /digest shows that team again
    blocks.append(Buttons((Button(t(lang, "button.refresh"), "digest", (team.code,)),)))
    blocks.append(counting_note(rules, lang))   # the counting rules, the card's last line (as /mykpi)
    return Card(title, tuple(blocks), Tone.WARN if lagging else Tone.GOOD, lang)


def subscription_digest(session: Session, services: Services, sub: DigestSubscription, now: datetime,
                        weekly: bool = False, inputs: Inputs | None = None) -> Card:
    """The card a subscribed chat gets: its team's digest in the subscription's language, members' money only
    where the chat is marked for finance, scoped to the subscription (a click on it rebuilds this, see
    shared_digest)."""
    team = session.get(Team, sub.team_id)
    if team is None:
        raise LookupError(f"team {sub.team_id} no longer exists")
    card = build_digest(session, services, team, lang_of(sub.locale), now, sub.finance, weekly, inputs)
    return replace(card, scope=shared_scope(sub, weekly))


def shared_scope(sub: DigestSubscription, weekly: bool) -> str:
    """A subscription card's scope (Card.scope): "subscription:12", or "subscription:12:weekly"."""
    return f"{SUBSCRIPTION}:{sub.id}" + (":weekly" if weekly else "")


def shared_digest(services: Services, platform: str, chat: str, scope: str, clicker: Member | None,
                  now: datetime, keep: KeepCard | None = None) -> Card | str:
    """A click on a shared digest card (cards.clicks): the card of the subscription in `scope`, rebuilt as the
    subscription has it whoever clicks, or the refusal's i18n key: "click.stale" when the scope names no active
    subscription of this chat on this platform, "click.not_allowed" when the clicker may not see its team
    (services.team_access.sees_team; someone unbound sees none). `keep`, when given, is asked for the card with
    the subscription's language and how to build it (the Dispatcher's card cache, keyed by the scope, never by
    the clicker)."""
    kind, _, rest = scope.partition(":")
    number, _, period = rest.partition(":")
    if kind != SUBSCRIPTION or not number.isdigit() or period not in ("", "weekly"):
        return "click.stale"
    with Session(services.engine) as session:
        sub = session.get(DigestSubscription, int(number))
        if sub is None or not sub.active or sub.platform != platform or sub.chat_id != chat:
            return "click.stale"
        if clicker is None or not sees_team(clicker, sub.team_id):
            return "click.not_allowed"

        def build() -> Card:
            return subscription_digest(session, services, sub, now, weekly=period == "weekly")

        return build() if keep is None else keep(lang_of(sub.locale), build)


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


def _status(row: TeamRow, lang: str) -> str:
    if row.shared:
        return "—"
    return "⚠ " + t(lang, "team.lagging") if row.lagging else t(lang, "team.ok")


def _leaders_table(title: str, leaders: list[Leader], currency: str, lang: str) -> Table:
    return Table((title, t(lang, "digest.orders"), t(lang, "digest.units"), CATALOG[HEADLINE].name(lang)),
                 tuple((x.name, f"{x.orders:,}", f"{x.units:,}", money(x.net, currency)) for x in leaders))


def _pace_bar(name: str, head: MetricResult | None, lagging: bool, lang: str) -> tuple[str, float | None, bool, str]:
    """One bar of the chart: the shown pace percent as a ratio (1.0 = on pace), or no bar and a note ("no pace
    yet"; "—" for a headline without a pace: a level metric, no target)."""
    pace = head.pace_shown if head is not None else None
    if pace is None:
        return name, None, lagging, "—"
    if pace.percent is None:
        return name, None, lagging, t(lang, "digest.no_pace_yet")
    return name, pace.percent / 100, lagging, ""


def _chart(services: Services, team: Team, lang: str, month: Window, activity: Activity, ctx: Context,
           target: Decimal | None, ranked: list[tuple[MemberScore, TeamRow]],
           team_bar: tuple[str, float | None, bool, str] | None, currency: str) -> Image:
    """`team_bar`: the team-scoped members' one bar (the team's pace), first; then the others' pace."""
    series = cumulative_series(HEADLINE, activity, ctx)
    bars = [team_bar] if team_bar is not None else []
    for s, r in ranked:
        head = s.scorecard.result(pace_metric(s.template)) if s.scorecard and s.template else None
        bars.append(_pace_bar(r.name, head, r.lagging, lang))
    chart = DigestChart(
        title=f"{team.name} · {month.label}",
        day_labels=tuple(str(d.day) for d in month.days()),
        cumulative=tuple(None if v is None else float(v) for v in series),
        target_total=None if target is None else float(target),
        unit=currency, members=tuple(bar[:3] for bar in bars),
        actual_label=t(lang, "mykpi.chart_actual"), target_label=t(lang, "mykpi.chart_target"),
        achievement_label=t(lang, "digest.pace_bars"), notes=tuple(bar[3] for bar in bars))
    return services.charts.image(chart, chart.title)

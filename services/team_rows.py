"""A team's members as rows: score, grade, headline achievement and pace, and who is behind; `/team` and the
digest show the same rows (`team_rows`). A member in trial is marked after their name ("Emily Carter (trial)").

Members of a team-scoped role (scoring.roles Scope.TEAM: ad buyer, operator, selector, lead) are measured on the
team's net GMV, not on their own: that figure is one "Team (shared)" row against the team's target and pace;
their own rows keep their score and grade and point to that row, never flagged behind on it, so one shortfall is
not shown (nor named behind) once per person."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from sqlmodel import Session

from cards.format import metric_value, percent
from cards.i18n import t
from cards.kpi_cards import TeamRow, pace_text, team_order
from scoring.facts import Activity
from scoring.metrics import CATALOG, Context
from scoring.pace import PaceStatus
from scoring.periods import Window
from scoring.roles import Role, Scope, UnknownRole
from scoring.score import MetricResult, score_metric, window_target
from scoring.shape import expected_share
from services.scorecards import Inputs, MemberScore, headline_metric, month_key, pace_metric
from storage.activity import load_team_activity
from storage.models import Team
from storage.queries import monthly_targets

LAG_GRADES = ("C", "D")   # behind, for a headline without a pace: one of these grades
TEAM_FIGURE = "net_gmv"   # the team's figure the team-scoped roles are measured on


@dataclass(frozen=True)
class TeamRows:
    """A team's table: the shared row (when a member is team-scoped), then every member, best first."""

    shared: TeamRow | None                           # the team's TEAM_FIGURE against its target and pace
    members: tuple[tuple[MemberScore, TeamRow], ...]

    def lagging(self) -> list[str]:
        """Who is behind: the shared row (as "Team (shared)") and the members measured on their own figures."""
        return [r.name for r in ([self.shared] if self.shared else []) + [r for _, r in self.members] if r.lagging]


def team_total(session: Session, inputs: Inputs, team: Team, window: Window, key: str = TEAM_FIGURE,
               activity: Activity | None = None) -> MetricResult:
    """The team's own figure of `key` in `window` (its shops' activity; `activity` when already loaded for a wider
    range) against the team's target, paced on the team's usual shape: the shared row of /team and the digest,
    and what the lead summary of lag alerts judges. A total over no orders is 0, not "no value"."""
    metric = CATALOG[key]
    if activity is None:
        activity = load_team_activity(session, team.id or 0, window.start, window.end, metric.reads, inputs.facts,
                                      tz=window.tz)
    targets = monthly_targets(session, f"team:{team.id}", sorted({month_key(d) for d in window.days()})).get(key, {})
    actual = metric.compute(activity, Context(window, inputs.now, inputs.rules, inputs.fx))
    if actual is None and metric.cumulative:
        actual = Decimal(0)
    return score_metric(metric, Decimal(100), actual, window_target(metric, targets, window.days()),
                        expected_share(window, inputs.now, inputs.shape_for(session, team, window.tz)), inputs.rules)


def team_rows(scores: list[MemberScore], team_total: MetricResult, lang: str, currency: str) -> TeamRows:
    """The rows `/team` and the digest show; `team_total`: the team's TEAM_FIGURE in the same window."""
    ranked = sorted(((s, row_for(s, lang, currency)) for s in scores), key=lambda pair: team_order(pair[1]))
    members = tuple((s, replace(r, key_metric=t(lang, "digest.on_team_figure"), lagging=False, shared=True))
                    if team_scoped(s) else (s, r) for s, r in ranked)
    shared = shared_row(team_total, lang) if any(r.shared for _, r in members) else None
    return TeamRows(shared, members)


def team_scoped(score: MemberScore) -> bool:
    """Measured on the team's figures: a team-scoped role judged on the team's TEAM_FIGURE (pace_metric), whatever
    its own card leads with (an ad buyer's ROI)."""
    try:
        scope = Role.parse(score.member.role).scope
    except UnknownRole:
        return False
    return scope is Scope.TEAM and score.template is not None and pace_metric(score.template) == TEAM_FIGURE


def shared_row(total: MetricResult, lang: str) -> TeamRow:
    """The team's own figure against the team's target, as one row, behind when its pace is."""
    key_metric = f"{total.metric.name(lang)} {percent(total.achievement)}"
    pace = total.pace_shown
    if pace is not None:
        key_metric += " · " + pace_text(pace, lang, with_status=False)
    behind = pace is not None and pace.status is PaceStatus.BEHIND
    return TeamRow(t(lang, "digest.team_line"), "", None, None, key_metric, behind)


def row_for(score: MemberScore, lang: str, currency: str) -> TeamRow:
    card = score.scorecard
    name, role = shown_name(score.member.name, score.trial, lang), score.member.role
    if card is None or score.template is None:
        return TeamRow(name, role, None, None, "—", False)
    head = card.result(headline_metric(score.template))
    key_metric = f"{head.metric.name(lang)} {percent(head.achievement)}"
    pace = head.pace_shown
    if pace is not None:
        key_metric += " · " + pace_text(pace, lang, with_status=False)
    # the status column agrees with the pace the row shows (scoring.pace); the grade decides only without a pace
    lagging = pace.status is PaceStatus.BEHIND if pace is not None else card.grade in LAG_GRADES
    return TeamRow(name, role, card.score, card.grade, key_metric, lagging)


def shown_name(name: str, trial: bool, lang: str) -> str:
    """The name as others see it: marked when the member is in trial (their score is not binding)."""
    return t(lang, "trial.mark", name=name) if trial else name


def total_text(result: MetricResult, currency: str, lang: str) -> str:
    """"actual / target (achievement)", or the actual alone without a target."""
    unit = result.metric.unit
    text = metric_value(result.actual, unit, currency, lang)
    if result.target and result.achievement is not None:
        text += f" / {metric_value(result.target, unit, currency, lang)} ({percent(result.achievement)})"
    return text

"""A team's members as rows: score, grade, headline achievement and pace, and who is behind; `/team` and the
digest show the same rows. A member in trial is marked after their name ("Emily Carter (trial)")."""

from __future__ import annotations

from cards.format import metric_value, percent
from cards.i18n import t
from cards.kpi_cards import TeamRow, pace_text
from scoring.pace import PaceStatus
from scoring.score import MetricResult
from services.scorecards import MemberScore, headline_metric

LAG_GRADES = ("C", "D")   # behind, for a headline without a pace: one of these grades


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

"""Score snapshots: a member's month score written down for a local day (score_snapshot, one row per member,
period and day). The shop refresh (bot.jobs.refresh) writes today's rows of the teams whose data changed, the
daily job (bot.jobs.score_snapshots) the rows of days that have ended; both through here."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy import Table
from sqlmodel import Session

from scoring.periods import PeriodKind, local_today
from scoring.score import MetricResult
from services.container import Services
from services.scorecards import Inputs, MemberScore, score_current, team_scores
from storage.models import Member, ScoreSnapshot, Team
from storage.queries import teams
from storage.upsert import upsert_rows

SNAPSHOT = cast(Table, ScoreSnapshot.__table__)  # type: ignore[attr-defined]
SNAPSHOT_KEY = ("member_id", "period", "as_of_day")
TEAM_WORKERS = 2   # teams scored at once (each_team)
T = TypeVar("T")


def snapshot_row(session: Session, inputs: Inputs, member: Member, team: Team, computed_at: datetime,
                 score: MemberScore | None = None) -> dict[str, Any] | None:
    """The score_snapshot row of `member`'s month score as of `inputs.now` (the day of that moment in the member's
    period zone, the team's: services.scorecards.member_window), or of `score` when already scored so; None for a
    member without a KPI template."""
    score = score or score_current(session, inputs, member, team, PeriodKind.MONTH)
    if score.scorecard is None or score.template is None:
        return None
    card = score.scorecard
    return {"member_id": member.id, "period": score.window.label,
            "as_of_day": local_today(inputs.now, score.window.tz), "template_name": score.template.name,
            "score": card.score, "grade": card.grade, "binding": card.binding,
            "details": {"metrics": [_metric(r) for r in card.results]}, "computed_at": computed_at}


def write_snapshots(services: Services, rows: list[dict[str, Any]]) -> int:
    """Upsert `rows` (snapshot_row) in one transaction; the number written."""
    if rows:
        with services.engine.begin() as conn:
            upsert_rows(conn, SNAPSHOT, SNAPSHOT_KEY, rows)
    return len(rows)


def snapshot_scores(services: Services, team_ids: set[int] | None, now: datetime,
                    written_at: datetime | None = None) -> int:
    """Upsert today's month score of every active member of `team_ids` (None: every team), as of `now`; the
    number written. A member without a KPI template gets none, nor does one whose day of `now` (in the team's zone,
    the members' period zone) has ended
    by `written_at` (default `now`; a long refresh may end the next day): that day's row is the daily job's."""
    written_at = written_at or now
    with Session(services.engine) as session:
        inputs = Inputs.load(session, services.rules, now)
        chosen = [team for team in teams(session) if (team_ids is None or team.id in team_ids)
                  and local_today(now, team.timezone) >= local_today(written_at, team.timezone)]

    def rows_of(team: Team) -> list[dict[str, Any]]:
        with Session(services.engine) as session:
            return [row for score in team_scores(session, inputs, team, PeriodKind.MONTH)
                    if (row := snapshot_row(session, inputs, score.member, team, now, score)) is not None]

    return write_snapshots(services, each_team(chosen, rows_of))


def each_team(chosen: list[Team], work: Callable[[Team], list[T]]) -> list[T]:
    """What `work` gives for each team, TEAM_WORKERS teams at a time, in the teams' order: one team's reads wait on
    the database while another is scored. The teams may share an Inputs (its fact cache, rates and memos): each
    team's entries are under keys of its own and a dict set is atomic, so the worst is a value worked out twice."""
    with ThreadPoolExecutor(TEAM_WORKERS, thread_name_prefix="score-snapshots") as pool:
        return [item for items in pool.map(work, chosen) for item in items]


def _metric(r: MetricResult) -> dict[str, Any]:
    def text(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {"key": r.metric.key, "weight": text(r.weight), "actual": text(r.actual), "target": text(r.target),
            "achievement": text(r.achievement), "pace": text(r.pace), "scored": text(r.scored)}

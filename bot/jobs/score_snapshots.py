"""Score snapshots: a member's month score written down for a local day (score_snapshot, one row per member,
period and day), the history a month's final scores are read from.

Two jobs write them, through services.snapshots:
- the shop refresh (bot.jobs.refresh) upserts *today's* row of every member of the teams whose data changed, as
  of now (`snapshot_scores`): today's row follows the data through the day;
- the daily job here (`run_due_score_snapshots`), at [schedule] score_time in each member's period zone (their
  team's), upserts the row of the local day that has just *ended*, scored as of its last microsecond with every
  fact known by then (late orders, refunds, file imports). So every member has a finished row for every day,
  also where no shop has an API and the refresh never runs, and the last day of a month holds the month's score
  as it stood when the month ended.

Each (member, day) of the daily job is claimed in the store first (storage.schedule, every due member in one
transaction), like the digests: two schedulers write it once, and a failure is retried by a later tick. Days
missed while the bot was down are made up by the first run after it is back, back to the member's last run (at
most CATCH_UP_DAYS).

A finished row is the score as it stood when the day ended: facts dated later (a refund in the next month) are
not in it, though /mykpi's view of a past month shows them. Data synced or imported after score_time for the
day before is not in it either: set score_time after the last import of the day.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session

from bot.logs import log_failure
from scoring.periods import PeriodKind, Window
from scoring.sendtime import due_day
from services.container import Services
from services.messaging import Messenger
from services.scorecards import Inputs, MemberScore, member_window, score_members
from services.snapshots import each_team, snapshot_row, write_snapshots
from storage.models import Member, Team
from storage.queries import active_members, teams
from storage.schedule import SCORE_SNAPSHOT as KIND
from storage.schedule import claim_sends, finish_sends, last_sent_days, sent_today

log = logging.getLogger(__name__)

CATCH_UP_DAYS = 35   # days missed while the bot was down that a run makes up, at most (a month and its turn)


def day_end(day: date, tz: str) -> datetime:
    """The last microsecond of local `day` in `tz`, in UTC: the moment a finished day is scored as of."""
    return Window(PeriodKind.DAY, day, day, tz).end.astimezone(UTC) - timedelta(microseconds=1)


def days_to_finish(today: date, last_run: date | None) -> list[date]:
    """The local days a run on `today` finishes: yesterday, and back to the day of the member's last run (whose
    own day was not over then) when runs were missed, at most CATCH_UP_DAYS; only yesterday the first time."""
    first = today - timedelta(days=1) if last_run is None else max(last_run, today - timedelta(days=CATCH_UP_DAYS))
    return [first + timedelta(days=i) for i in range((today - first).days)]


def run_due_score_snapshots(services: Services, messengers: Mapping[str, Messenger], now: datetime, instance: str, *,
                            at: time) -> list[tuple[str, date, bool]]:
    """The daily job's tick: each member whose `at` has passed today in their team's zone gets the finished rows
    of the days that ended since their last run (days_to_finish), once. Returns (member code, day, written) for each day
    handled in this tick.

    Every due member is claimed in one transaction, the teams are scored two at a time (each_team; reads only),
    then every row is written in one transaction and every claim finished in another: three commits a run, not
    three a team (on PostgreSQL each was a round trip and a flush, half a second of a 25-team run)."""
    del messengers   # a scheduler job's signature (bot.scheduler): this job sends nothing
    engine = services.engine
    with Session(engine) as session:
        all_teams = teams(session)
        members_of: dict[int | None, list[Member]] = {team.id: [] for team in all_teams}
        for member in active_members(session):   # one read for every team, each team's in code order
            if member.team_id in members_of:
                members_of[member.team_id].append(member)
    # the members' days are the team's (scoring.periods.period_zone): their rows are finished on its clock
    due = {f"member:{m.id}": d for team in all_teams if (d := due_day(now, at, team.timezone)) is not None
           for m in members_of[team.id]}
    done = sent_today(engine, KIND, due)
    todo = {subject: day for subject, day in due.items() if subject not in done}
    last = last_sent_days(engine, KIND, list(todo))
    won = claim_sends(engine, KIND, todo, instance, now)
    claimed_of = {team.id: [(m, subject, due[subject], days_to_finish(due[subject], last.get(subject)))
                            for m in members_of[team.id] if (subject := f"member:{m.id}") in won]
                  for team in all_teams}
    chosen = [team for team in all_teams if claimed_of[team.id]]
    if not chosen:
        return []
    with Session(engine) as session:
        inputs = Inputs.load(session, services.rules, now)
    scored = each_team(chosen, lambda team: _score_team(services, team, inputs, claimed_of[team.id], now))
    rows_of = {subject: rows for _, team_rows, _ in scored for subject, rows in team_rows.items()}
    codes = {subject: member.code for team in chosen for member, subject, _, _ in claimed_of[team.id]}
    errors = {subject: error for _, _, team_errors in scored for subject, error in team_errors.items()}
    errors |= _write(services, rows_of, codes)
    finished = [team for team, _, _ in scored]
    finish_sends(engine, KIND, {subject: (today, errors.get(subject)) for team in finished
                                for _, subject, today, _ in claimed_of[team.id]}, instance, now)
    done_now = [(member.code, day, errors.get(subject) is None) for team in finished
                for member, subject, _, days in claimed_of[team.id] for day in days]
    if done_now:
        log.info("score snapshots at %s: %d members' finished days written", now.isoformat(),
                 sum(ok for _, _, ok in done_now))
    return done_now


def _score_team(services: Services, team: Team, inputs: Inputs, claimed: list[tuple[Member, str, date, list[date]]],
               now: datetime) -> list[tuple[Team, dict[str, list[dict[str, Any]]], dict[str, str | None]]]:
    """One team's claimed members scored: [(team, their rows by subject, errors by subject)], or [] when the team
    failed as a whole (one team's failure never stops the others: its claims are taken over once stale)."""
    with Session(services.engine) as session:
        try:
            return [(team, *_team_rows(session, inputs, team, claimed, now))]
        except Exception:
            session.rollback()
            log_failure(log, "score snapshots of team %s failed; its claims are retried after they go stale",
                        team.code)
            return []


def _team_rows(session: Session, inputs: Inputs, team: Team, claimed: list[tuple[Member, str, date, list[date]]],
               now: datetime) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str | None]]:
    """The claimed members' finished days scored: their rows and their errors by subject (a member's failure is
    theirs)."""
    at_day = {day: dataclasses.replace(inputs, now=day_end(day, team.timezone)) for *_, days in claimed for day in days}
    scored = _team_scores(session, at_day, team, claimed)
    errors: dict[str, str | None] = {}
    rows_of: dict[str, list[dict[str, Any]]] = {}
    for member, subject, _, days in claimed:
        try:
            rows_of[subject] = [row for day in days if (row := snapshot_row(
                session, at_day[day], member, team, now, scored.get((member.id, day)))) is not None]
        except Exception as exc:   # one member's failure never stops the others; retried next tick
            log_failure(log, "score snapshots of %s for %s to %s failed", member.code, days[0], days[-1])
            errors[subject] = f"unexpected {type(exc).__name__}"
    return rows_of, errors


def _write(services: Services, rows_of: dict[str, list[dict[str, Any]]],
           codes: dict[str, str]) -> dict[str, str | None]:
    """Write the members' rows (every team's) in one transaction; when that fails, member by member, so that one
    member's bad row fails only that member. The errors by subject."""
    try:
        write_snapshots(services, [row for rows in rows_of.values() for row in rows])
        return {}
    except Exception:   # one by one below: the failure is the failing member's
        log.debug("score snapshots: writing a team's rows together failed; one by one", exc_info=True)
    errors: dict[str, str | None] = {}
    for subject, rows in rows_of.items():
        try:
            write_snapshots(services, rows)
        except Exception as exc:
            log_failure(log, "score snapshots of %s could not be written", codes[subject])
            errors[subject] = f"unexpected {type(exc).__name__}"
    return errors


def _team_scores(session: Session, at_day: dict[date, Inputs], team: Team,
                 claimed: list[tuple[Member, str, date, list[date]]]) -> dict[tuple[int | None, date], MemberScore]:
    """The month scores of the claimed members on each of their days, a day's members read together
    (services.scorecards.score_members); {} when that fails: each member is then scored alone, and a failure is
    that member's."""
    out: dict[tuple[int | None, date], MemberScore] = {}
    try:
        for day, inputs in at_day.items():
            members = [m for m, _, _, days in claimed if day in days]
            for m, score in zip(members, score_members(session, inputs, team, [
                    (m, member_window(PeriodKind.MONTH, inputs.now, m, team)) for m in members]), strict=True):
                out[m.id, day] = score
    except Exception:   # the per-member path reports it, member by member
        session.rollback()   # on PostgreSQL a failed statement aborts the transaction the retries need
        log.debug("score snapshots: scoring %s's members together failed; one by one", team.name, exc_info=True)
        return {}
    return out

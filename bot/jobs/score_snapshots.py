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

Each (member, day) of the daily job is claimed in the store first (storage.schedule, a team's members in one
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
import threading
from collections.abc import Callable, Mapping
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
from storage.queries import team_members, teams
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
    handled in this tick."""
    del messengers   # a scheduler job's signature (bot.scheduler): this job sends nothing
    with Session(services.engine) as session:
        all_teams = teams(session)
    shared: list[Inputs] = []    # loaded once somebody is due, then shared by the teams
    lock = threading.Lock()

    def inputs_now(session: Session) -> Inputs:
        with lock:
            if not shared:
                shared.append(Inputs.load(session, services.rules, now))
            return shared[0]

    done_now = each_team(all_teams, lambda team: _team_tick(services, team, now, instance, at, inputs_now))
    if done_now:
        log.info("score snapshots at %s: %d members' finished days written", now.isoformat(),
                 sum(ok for _, _, ok in done_now))
    return done_now


def _team_tick(services: Services, team: Team, now: datetime, instance: str, at: time,
               inputs_now: Callable[[Session], Inputs]) -> list[tuple[str, date, bool]]:
    """One team's members in the tick: claimed, scored, written, their claims finished."""
    with Session(services.engine) as session:
        members = team_members(session, team.id or 0)
        # the members' days are the team's (scoring.periods.period_zone): their rows are finished on its clock
        due = {f"member:{m.id}": d for m in members if (d := due_day(now, at, team.timezone)) is not None}
        done = sent_today(services.engine, KIND, due)
        last = last_sent_days(services.engine, KIND, [subject for subject in due if subject not in done])
        won = claim_sends(services.engine, KIND, {s: d for s, d in due.items() if s not in done}, instance, now)
        claimed = [(member, subject, due[subject], days_to_finish(due[subject], last.get(subject)))
                   for member in members if (subject := f"member:{member.id}") in won]
        if not claimed:
            return []
        try:
            errors = _team_rows(services, session, inputs_now(session), team, claimed, now)
            finish_sends(services.engine, KIND, {subject: (today, errors.get(subject))
                                                 for _, subject, today, _ in claimed}, instance, now)
        except Exception:   # one team's failure never stops the others: its claims are taken over later
            session.rollback()
            log_failure(log, "score snapshots of team %s failed; its claims are retried after they go stale",
                        team.code)
            return []
        return [(member.code, day, errors.get(subject) is None) for member, subject, _, days in claimed
                for day in days]


def _team_rows(services: Services, session: Session, inputs: Inputs, team: Team,
               claimed: list[tuple[Member, str, date, list[date]]], now: datetime) -> dict[str, str | None]:
    """Score and write the claimed members' finished days; the errors by subject (a member's failure is theirs)."""
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
    return errors | _write(services, rows_of, {subject: member.code for member, subject, _, _ in claimed})


def _write(services: Services, rows_of: dict[str, list[dict[str, Any]]],
           codes: dict[str, str]) -> dict[str, str | None]:
    """Write the members' rows in one transaction; when that fails, member by member, so that one member's bad row
    fails only that member. The errors by subject."""
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

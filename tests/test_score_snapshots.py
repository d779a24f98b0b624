"""The daily score snapshot, on SQLite and PostgreSQL: at [schedule] score_time in each member's own zone the day
that ended is scored as of its last moment (figures worked out by hand), once whatever the ticks and replicas,
made up after downtime on the next local day, and a month's last day holds its final score. The world (teams,
members, template, targets, orders) is the refresh job's (tests/test_refresh_job.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal as D
from time import sleep

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.jobs.refresh import run_refresh
from bot.jobs.score_snapshots import day_end, run_due_score_snapshots
from storage.models import ScheduledSend, ScoreSnapshot
from storage.schedule import SCORE_SNAPSHOT as KIND
from tests.fakes.memory_source import MemorySource
from tests.test_refresh_job import NOW, World, build_world, order, snapshots

pytestmark = pytest.mark.wallclock   # reads the system clock: scripts/test-dates.sh moves it

SIX = time(6, 0)


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def shanghai(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_the_end_of_a_day_is_its_last_microsecond_in_the_zone_also_on_a_daylight_saving_day() -> None:
    assert day_end(date(2026, 11, 15), "Asia/Shanghai") == datetime(2026, 11, 15, 15, 59, 59, 999_999, tzinfo=UTC)
    # 8 March 2026 in New York has 23 hours; its end is midnight EDT (UTC-4)
    assert day_end(date(2026, 3, 8), "America/New_York") == datetime(2026, 3, 9, 3, 59, 59, 999_999, tzinfo=UTC)
    assert day_end(date(2026, 11, 30), "UTC") == datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC)


def test_the_day_that_ended_is_snapshotted_once_at_score_time_in_each_members_zone(world: World) -> None:
    engine = world.services.engine
    run_refresh(world.context(), NOW)          # A1, A2 (10.00 refunded), A3 (cancelled): today's row, 16 Nov
    us1 = world.sources["us1"]
    assert isinstance(us1, MemorySource)
    us1.data["orders"] += [order("A4", "20.00", shanghai(15, 18)),    # the evening of the 15th (Shanghai)
                           order("A5", "40.00", shanghai(16, 7))]     # the next morning: not the 15th's
    run_refresh(world.context(), shanghai(16, 7, 30))

    # the bot was down at 06:00 and is back at 08:00 Shanghai (00:00 UTC): op1's 15 November is due; op2 (UTC)
    # is at midnight, six hours before their score time; admins are in no team
    done = run_due_score_snapshots(world.services, {}, shanghai(16, 8), "replica-1", at=SIX)
    assert done == [("op1", date(2026, 11, 15), True)]
    # op1 as of 23:59:59.999999 on the 15th: A1 100.00 + A2 50.00 - 10.00 + A4 20.00 = 160.00 net GMV in 3
    # orders (A5 was paid after the day ended, A3 was cancelled). Half of November (Shanghai) had passed, less
    # a microsecond: pace targets 300.00 and 4. Net GMV 160 / 300 = 0.53333, orders 3 / 4 = 0.75;
    # score = (50 x 0.53333 + 30 x 0.75) / 80 x 100 = 49.1667 / 80 x 100 = 61.46 -> 61.5, grade D
    rows = {(r[0], r[2]): r for r in snapshots(engine)}
    assert rows[world.ids["op1"], date(2026, 11, 15)] == (
        world.ids["op1"], "2026-11", date(2026, 11, 15), "operator-basic", D("61.5"), "D", True)
    with Session(engine) as s:
        details = s.execute(select(ScoreSnapshot.details).where(
            ScoreSnapshot.as_of_day == date(2026, 11, 15))).scalar_one()
        computed = s.execute(select(ScoreSnapshot.computed_at).where(
            ScoreSnapshot.as_of_day == date(2026, 11, 15))).scalar_one()
    assert [(m["key"], m["actual"], m["target"]) for m in details["metrics"]] == [
        ("net_gmv", "160.00", "600"), ("orders", "3", "8"), ("refund_rate", None, None)]
    assert computed == shanghai(16, 8)
    # the refresh's row of the 16th is today's, as of 07:30 and with A5: 200.00 net GMV in 4 orders; 15 days and
    # 7.5 hours of 30 passed (0.5104167): pace targets 306.25 and 4.0833; net GMV 0.65306, orders 0.97959;
    # score = (50 x 0.65306 + 30 x 0.97959) / 80 x 100 = 62.0408 / 80 x 100 = 77.55 -> 77.6, grade C
    assert [(r[2], r[4], r[5]) for r in snapshots(engine) if r[2] == date(2026, 11, 16)] == [
        (date(2026, 11, 16), D("77.6"), "C")]

    # later ticks that day, and another replica, write nothing again
    assert run_due_score_snapshots(world.services, {}, shanghai(16, 8, 1), "replica-1", at=SIX) == []
    assert run_due_score_snapshots(world.services, {}, shanghai(16, 9), "replica-2", at=SIX) == []
    # 06:00 in UTC: op2's 15 November (their team sold nothing, no targets: a row without a score)
    done = run_due_score_snapshots(world.services, {}, datetime(2026, 11, 16, 6, 0, tzinfo=UTC), "replica-2", at=SIX)
    assert done == [("op2", date(2026, 11, 15), True)]
    assert [r for r in snapshots(engine) if r[0] == world.ids["op2"]] == [
        (world.ids["op2"], "2026-11", date(2026, 11, 15), "operator-basic", None, None, True)]
    with Session(engine) as s:
        claims = s.execute(select(ScheduledSend.subject, ScheduledSend.local_day, ScheduledSend.status).where(
            ScheduledSend.kind == KIND).order_by(ScheduledSend.subject)).all()
    assert [tuple(c) for c in claims] == [(f"member:{world.ids['op1']}", date(2026, 11, 16), "sent"),
                                          (f"member:{world.ids['op2']}", date(2026, 11, 16), "sent")]


def test_a_months_last_day_holds_its_final_score_after_the_month_has_turned(world: World) -> None:
    us1 = world.sources["us1"]
    assert isinstance(us1, MemorySource)
    us1.data["orders"] += [order("A4", "20.00", shanghai(15, 18)), order("B1", "500.00", shanghai(1, 3, month=12))]
    run_refresh(world.context(), shanghai(1, 5, month=12))
    done = run_due_score_snapshots(world.services, {}, shanghai(1, 6, month=12), "replica-1", at=SIX)
    # 22:00 UTC on 30 November: op2's 06:00 has passed too, so their 29th is written
    assert done == [("op1", date(2026, 11, 30), True), ("op2", date(2026, 11, 29), True)]
    # the whole of November (less a microsecond): net GMV 160 / 600 = 0.26667, orders 3 / 8 = 0.375 (December's
    # B1 is not November's); score = (50 x 0.26667 + 30 x 0.375) / 80 x 100 = 24.5833 / 80 x 100 = 30.73 -> 30.7
    rows = [r for r in snapshots(world.services.engine) if r[0] == world.ids["op1"]]
    assert (world.ids["op1"], "2026-11", date(2026, 11, 30), "operator-basic", D("30.7"), "D", True) in rows


def test_the_scheduler_runs_the_daily_snapshot_when_given_a_score_time(world: World) -> None:
    from bot.scheduler import start_scheduler, stop_scheduler

    run_refresh(world.context(), NOW)
    scheduler = start_scheduler(world.services, {}, lambda: shanghai(16, 6, 30), score_time=SIX)
    try:
        assert sorted(job.id for job in scheduler.get_jobs()) == ["appeals", "digests", "lag-alerts", "prune",
                                                                   "score-snapshots"]
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while date(2026, 11, 15) not in [r[2] for r in snapshots(world.services.engine)]:
            assert datetime.now(UTC) < deadline, "the first tick wrote no snapshot of 15 November"
            sleep(0.05)
    finally:
        stop_scheduler(scheduler)
    # A1 100.00 + A2 50.00 - 10.00 = 140.00 in 2 orders as of the end of the 15th: pace targets 300.00 and 4;
    # (50 x 0.46667 + 30 x 0.5) / 80 x 100 = 47.9, as the refresh's row at that moment (test_refresh_job)
    assert [r for r in snapshots(world.services.engine) if r[2] == date(2026, 11, 15)] == [
        (world.ids["op1"], "2026-11", date(2026, 11, 15), "operator-basic", D("47.9"), "D", True)]


def test_a_refresh_that_ends_after_the_day_did_leaves_the_days_finished_row_alone(world: World) -> None:
    engine = world.services.engine
    run_refresh(world.context(clock=lambda: shanghai(15, 12)), shanghai(15, 12))
    assert run_due_score_snapshots(world.services, {}, shanghai(16, 6), "replica-1", at=SIX)[0] == \
        ("op1", date(2026, 11, 15), True)
    finished = [r for r in snapshots(engine) if r[2] == date(2026, 11, 15)]
    # A1 100.00 + A2 50.00 - 10.00 = 140.00 in 2 orders at the end of the 15th: 47.9 (test_refresh_job's figures)
    assert finished == [(world.ids["op1"], "2026-11", date(2026, 11, 15), "operator-basic", D("47.9"), "D", True)]
    # a refresh that started at 23:50 on the 15th syncs a new order and ends at 06:10 on the 16th: the 15th is
    # over, so it writes no row for it (it would be the score as of 23:50, over the finished one)
    us1 = world.sources["us1"]
    assert isinstance(us1, MemorySource)
    us1.data["orders"].append(order("A4", "20.00", shanghai(15, 23, 45)))
    late = run_refresh(world.context(clock=lambda: shanghai(16, 6, 10)), shanghai(15, 23, 50))
    assert (late.changed, late.snapshots) == ([world.ids["us1"]], 0)
    assert [r for r in snapshots(engine) if r[2] == date(2026, 11, 15)] == finished
    with Session(engine) as s:
        assert s.execute(select(ScoreSnapshot.computed_at).where(
            ScoreSnapshot.as_of_day == date(2026, 11, 15))).scalar_one() == shanghai(16, 6)


def test_days_missed_while_the_bot_was_down_are_made_up_back_to_the_last_run(world: World) -> None:
    engine = world.services.engine
    run_refresh(world.context(clock=lambda: shanghai(13, 12)), shanghai(13, 12))   # A1, A2, A3
    op1 = [(code, day) for code, day, ok in
           run_due_score_snapshots(world.services, {}, shanghai(14, 6), "replica-1", at=SIX) if code == "op1" and ok]
    assert op1 == [("op1", date(2026, 11, 13))]
    # down from the 14th at 07:00 to the 16th at 09:00: the 14th and the 15th are made up
    done = run_due_score_snapshots(world.services, {}, shanghai(16, 9), "replica-1", at=SIX)
    assert [(code, day) for code, day, _ in done if code == "op1"] == [("op1", date(2026, 11, 14)),
                                                                       ("op1", date(2026, 11, 15))]
    # 140.00 net GMV in 2 orders on each day. At the end of the 13th, 13/30 of the month: pace targets 260.00 and
    # 3.4667: (50 x 0.53846 + 30 x 0.57692) / 80 x 100 = 44.2308 / 80 x 100 = 55.29 -> 55.3, grade D;
    # the 14th, 14/30: 140 / 280 = 0.5, 2 / 3.7333 = 0.53571: (25 + 16.0714) / 80 x 100 = 51.34 -> 51.3;
    # the 15th, 15/30: 47.9 (test_refresh_job's figures)
    assert [(r[2], r[4], r[5]) for r in snapshots(engine) if r[0] == world.ids["op1"]] == [
        (date(2026, 11, 13), D("55.3"), "D"), (date(2026, 11, 14), D("51.3"), "D"),
        (date(2026, 11, 15), D("47.9"), "D")]


def test_a_run_finishes_yesterday_and_back_to_the_last_run_at_most_35_days() -> None:
    from bot.jobs.score_snapshots import days_to_finish

    today = date(2026, 12, 3)
    assert days_to_finish(today, None) == [date(2026, 12, 2)]
    assert days_to_finish(today, date(2026, 12, 2)) == [date(2026, 12, 2)]
    assert days_to_finish(today, date(2026, 11, 29)) == [date(2026, 11, 29), date(2026, 11, 30), date(2026, 12, 1),
                                                         date(2026, 12, 2)]
    assert days_to_finish(today, date(2026, 1, 1)) == [date(2026, 10, 29) + timedelta(days=i) for i in range(35)]


def test_a_run_claims_every_due_member_at_once_and_writes_every_teams_rows_in_one_transaction(world: World) -> None:
    """Three commits a run whatever the number of teams (the claims, the rows, the claims finished): on PostgreSQL
    each commit is a round trip and a flush, and three a team were half a second of a 25-team run."""
    engine = world.services.engine
    commits: list[object] = []

    def committed(conn: object) -> None:
        commits.append(conn)

    event.listen(engine, "commit", committed)
    try:
        # 06:00 UTC on the 16th is 14:00 in Shanghai: op1 (Shanghai team) and op2 (UTC team) are both due
        done = run_due_score_snapshots(world.services, {}, datetime(2026, 11, 16, 6, 0, tzinfo=UTC), "r1", at=SIX)
    finally:
        event.remove(engine, "commit", committed)
    assert sorted(done) == [("op1", date(2026, 11, 15), True), ("op2", date(2026, 11, 15), True)]
    assert len(commits) == 3
    assert sorted((r[0], r[2]) for r in snapshots(engine)) == [(world.ids["op1"], date(2026, 11, 15)),
                                                               (world.ids["op2"], date(2026, 11, 15))]

"""The daily maintenance job (bot/jobs/prune.py) on SQLite and PostgreSQL, on a pinned clock: processed events
older than a week and scheduled-send claims older than 60 days are deleted in batches, exact row counts before and
after; what the jobs still read stays (a member's newest score-snapshot claim, an ongoing streak's notice)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.jobs.prune import EVENT_RETENTION, SEND_RETENTION, Pruned, run_prune
from bot.jobs.score_snapshots import CATCH_UP_DAYS
from scoring.alerts import AlertRules
from scoring.rules import Rules
from services.container import Services
from storage import events, schedule
from storage.events import claim
from storage.models import ProcessedEvent, ScheduledSend, Shop, ShopHealth
from storage.schedule import SCORE_SNAPSHOT as SNAPSHOT
from storage.schedule import SHOP_UNHEALTHY as NOTICE
from storage.schedule import claim_send, last_sent_days, sent_today, streak_subject
from tests.conftest import org_and_team

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def app_of(engine: Engine) -> Services:
    from cards.chart_cache import ChartCache

    return Services(engine, Rules(), "UTC", "en", ChartCache(), AlertRules(enabled=False))


def add_events(engine: Engine, *received: tuple[str, datetime]) -> None:
    with Session(engine) as s:
        s.add_all(ProcessedEvent(platform="feishu", event_id=event_id, received_at=at) for event_id, at in received)
        s.commit()


def event_ids(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.execute(select(ProcessedEvent.event_id).order_by(ProcessedEvent.event_id)).scalars())


def add_sends(engine: Engine, *rows: tuple[str, str, int, str]) -> None:
    """(kind, subject, days before TODAY, status)."""
    with Session(engine) as s:
        s.add_all(ScheduledSend(kind=kind, subject=subject, local_day=TODAY - timedelta(days=ago), status=status,
                                claimed_by="replica-0", claimed_at=NOW - timedelta(days=ago))
                  for kind, subject, ago, status in rows)
        s.commit()


def sends(engine: Engine) -> list[tuple[str, str, int, str]]:
    with Session(engine) as s:
        rows = s.execute(select(ScheduledSend.kind, ScheduledSend.subject, ScheduledSend.local_day,
                                ScheduledSend.status)).all()
    return sorted((kind, subject, (TODAY - day).days, status) for kind, subject, day, status in rows)


def count(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_events_older_than_the_cutoff_are_deleted_in_batches(engine: Engine) -> None:
    week = NOW - EVENT_RETENTION
    add_events(engine, *((f"old-{i}", week - timedelta(days=1, minutes=i)) for i in range(5)),
               ("edge", week), ("day-old", NOW - timedelta(days=1)), ("new", NOW - timedelta(minutes=1)))
    assert count(engine, ProcessedEvent) == 8
    assert events.prune(engine, week, batch=2) == 5           # batches of 2, 2 and 1
    assert event_ids(engine) == ["day-old", "edge", "new"]
    assert events.prune(engine, week, batch=2) == 0
    assert count(engine, ProcessedEvent) == 3
    # the dedupe still works: a kept event is a redelivery, a new one is claimed
    assert (claim(engine, "feishu", "new"), claim(engine, "feishu", "fresh")) == (False, True)
    assert count(engine, ProcessedEvent) == 4


def test_the_job_deletes_events_by_the_earlier_of_its_clock_and_the_wall_clock(engine: Engine) -> None:
    add_events(engine, ("ten-days", NOW - timedelta(days=10)), ("five-days", NOW - timedelta(days=5)),
               ("just-now", NOW))
    services = app_of(engine)
    # a scheduler clock pinned 30 days ahead of the wall clock that stamped the rows deletes nothing received
    # in the last week by the wall clock
    ahead = run_prune(services, {}, NOW + timedelta(days=30), "replica-1", wall=lambda: NOW)
    assert ahead == Pruned(events=1, sends=0)
    assert event_ids(engine) == ["five-days", "just-now"]
    later = run_prune(services, {}, NOW + timedelta(days=6), "replica-1", wall=lambda: NOW + timedelta(days=6))
    assert later == Pruned(events=1, sends=0)
    assert event_ids(engine) == ["just-now"]


def test_claims_older_than_the_retention_are_deleted_but_what_the_jobs_read_stays(engine: Engine) -> None:
    keep_days = SEND_RETENTION.days
    with Session(engine) as s:
        org, team = org_and_team(s)
        shops = [Shop(org_id=org.id, team_id=team.id, code=code, name=code, platform="tiktok_shop", region="US",
                      currency="USD", timezone="UTC") for code in ("sick", "well")]
        s.add_all(shops)
        s.flush()
        sick, well = shops[0].id or 0, shops[1].id or 0
        since = NOW - timedelta(days=100)
        s.add_all([ShopHealth(shop_id=sick, consecutive_failures=40, unhealthy_since=since),
                   ShopHealth(shop_id=well, consecutive_failures=0, unhealthy_since=None)])
        s.commit()
    ongoing = f"{streak_subject(sick, since)}7"
    ended = f"{streak_subject(well, NOW - timedelta(days=200))}7"
    ended_earlier_streak = f"{streak_subject(sick, NOW - timedelta(days=300))}7"
    add_sends(engine,
              ("digest", "subscription:1", keep_days + 1, "sent"),      # deleted
              ("digest", "subscription:1", keep_days, "sent"),          # the last day kept
              ("digest", "subscription:1", 1, "sent"),
              ("weekly", "subscription:1", 90, "failed"),               # deleted
              ("lag_alert", "member:1", 61, "sending"),                 # deleted
              (SNAPSHOT, "member:1", 100, "sent"),                      # deleted: member:1 ran since
              (SNAPSHOT, "member:1", 70, "sent"),                       # deleted
              (SNAPSHOT, "member:1", 10, "sent"),
              (SNAPSHOT, "member:2", 90, "sent"),                       # deleted
              (SNAPSHOT, "member:2", 80, "sent"),                       # member:2's newest: kept
              (SNAPSHOT, "member:2", 75, "failed"),                     # deleted: not a sent claim
              (NOTICE, ongoing, 100, "sent"),                           # its streak goes on: kept
              (NOTICE, ended, 200, "sent"),                             # deleted
              (NOTICE, ended_earlier_streak, 300, "sent"),              # deleted
              (NOTICE, f"{streak_subject(well, NOW - timedelta(days=3))}7", 3, "sent"))
    assert count(engine, ScheduledSend) == 15
    assert run_prune(app_of(engine), {}, NOW, "replica-1", wall=lambda: NOW, batch=2) == Pruned(events=0, sends=9)
    assert sends(engine) == sorted([
        ("digest", "subscription:1", keep_days, "sent"), ("digest", "subscription:1", 1, "sent"),
        (SNAPSHOT, "member:1", 10, "sent"), (SNAPSHOT, "member:2", 80, "sent"),
        (NOTICE, ongoing, 100, "sent"), (NOTICE, f"{streak_subject(well, NOW - timedelta(days=3))}7", 3, "sent")])
    assert run_prune(app_of(engine), {}, NOW, "replica-1", wall=lambda: NOW, batch=2) == Pruned(events=0, sends=0)
    assert count(engine, ScheduledSend) == 6
    # what the jobs read is unchanged: member:2's last run (the snapshot job makes up 35 days from it), the
    # ongoing streak's notice (not sent again), and a fresh claim still goes through once
    assert last_sent_days(engine, SNAPSHOT, ["member:1", "member:2"]) == {
        "member:1": TODAY - timedelta(days=10), "member:2": TODAY - timedelta(days=80)}
    assert sent_today(engine, NOTICE, {ongoing: (NOW - timedelta(days=100)).date()}) == {ongoing}
    assert claim_send(engine, "digest", "subscription:1", TODAY, "replica-1", NOW)
    assert not claim_send(engine, "digest", "subscription:1", TODAY, "replica-2", NOW)
    assert count(engine, ScheduledSend) == 7


def test_prune_without_kept_kinds_deletes_every_old_claim(engine: Engine) -> None:
    add_sends(engine, *((SNAPSHOT, f"member:{i}", 61 + i, "sent") for i in range(5)), (SNAPSHOT, "member:9", 3, "sent"))
    assert schedule.prune(engine, TODAY - SEND_RETENTION, batch=3) == 5
    assert sends(engine) == [(SNAPSHOT, "member:9", 3, "sent")]


def test_the_claims_retention_outlasts_the_score_snapshot_catch_up() -> None:
    # a day of time zones either side of the UTC day the cutoff is taken in
    assert (SEND_RETENTION.days, EVENT_RETENTION.days, CATCH_UP_DAYS) == (60, 7, 35)
    assert SEND_RETENTION.days > CATCH_UP_DAYS + 1

"""Claims on scheduled sends made many at a time (storage.schedule.claim_sends / finish_sends), on SQLite and
PostgreSQL, on a pinned clock: exactly the subjects a one-by-one claim would win are won, each claim row ends in
the state and attempt count worked out by hand, and a second process claiming the same subjects wins none."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.engine import make_engine
from storage.migrate import upgrade
from storage.models import ScheduledSend
from storage.schedule import MAX_ATTEMPTS, STALE_AFTER, claim_sends, finish_sends

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DAY, OTHER_DAY = date(2026, 11, 22), date(2026, 11, 23)
KIND = "score_snapshot"


def existing(engine: Engine) -> None:
    """One claim in each state a batch meets."""
    rows = [("member:sent", DAY, "sent", NOW - timedelta(hours=1), 1),
            ("member:failed", DAY, "failed", NOW - timedelta(minutes=1), 2),
            ("member:worn", DAY, "failed", NOW - timedelta(minutes=1), MAX_ATTEMPTS),
            ("member:busy", DAY, "sending", NOW - STALE_AFTER + timedelta(seconds=1), 1),
            ("member:stale", OTHER_DAY, "sending", NOW - STALE_AFTER - timedelta(seconds=1), 3)]
    with Session(engine) as s:
        s.add_all(ScheduledSend(kind=KIND, subject=subject, local_day=day, status=status, claimed_by="old",
                                claimed_at=at, attempts=attempts) for subject, day, status, at, attempts in rows)
        s.add(ScheduledSend(kind="digest", subject="member:new", local_day=DAY, status="sent", claimed_by="old",
                            claimed_at=NOW))   # another kind's claim on the same subject does not count
        s.commit()


def states(engine: Engine) -> dict[tuple[str, date], tuple[str, str, int, str | None]]:
    with Session(engine) as s:
        return {(r.subject, r.local_day): (r.status, r.claimed_by, r.attempts, r.error)
                for r in s.execute(select(ScheduledSend).where(ScheduledSend.kind == KIND)).scalars()}


def test_a_batch_wins_what_one_by_one_claims_would_and_records_each_outcome(engine: Engine) -> None:
    existing(engine)
    wanted = {"member:new": DAY, "member:new2": OTHER_DAY, "member:sent": DAY, "member:failed": DAY,
              "member:worn": DAY, "member:busy": DAY, "member:stale": OTHER_DAY}

    won = claim_sends(engine, KIND, wanted, "me", NOW)

    assert won == {"member:new", "member:new2", "member:failed", "member:stale"}
    assert claim_sends(engine, KIND, wanted, "rival", NOW) == set()
    finish_sends(engine, KIND, {"member:new": (DAY, None), "member:new2": (OTHER_DAY, "unexpected ValueError"),
                                "member:failed": (DAY, None), "member:stale": (OTHER_DAY, "x" * 600)}, "me", NOW)
    assert states(engine) == {
        ("member:new", DAY): ("sent", "me", 1, None),
        ("member:new2", OTHER_DAY): ("failed", "me", 1, "unexpected ValueError"),
        ("member:sent", DAY): ("sent", "old", 1, None),
        ("member:failed", DAY): ("sent", "me", 3, None),
        ("member:worn", DAY): ("failed", "old", MAX_ATTEMPTS, None),
        ("member:busy", DAY): ("sending", "old", 1, None),
        ("member:stale", OTHER_DAY): ("failed", "me", 4, "x" * 500),
    }
    # the failed ones are claimed again by a later tick, the sent ones never
    assert claim_sends(engine, KIND, wanted, "later", NOW) == {"member:new2", "member:stale"}


def test_a_batch_larger_than_one_statement_claims_every_subject_once(engine: Engine) -> None:
    wanted = {f"member:{i}": DAY for i in range(1203)}
    assert claim_sends(engine, KIND, wanted, "me", NOW) == set(wanted)
    assert claim_sends(engine, KIND, wanted, "me", NOW) == set()
    assert claim_sends(engine, KIND, {}, "me", NOW) == set()
    assert len(states(engine)) == 1203


@pytest.mark.postgres
def test_two_processes_claiming_the_same_subjects_at_once_win_each_exactly_once(tmp_path: Path) -> None:
    """Two engines (two processes' pools) race claim_sends over the same 400 subjects, new ones and failed ones,
    on PostgreSQL, ten rounds: every subject is won by exactly one of them."""
    from tests.conftest import POSTGRES

    url = POSTGRES.create().render_as_string(hide_password=False)
    first, second = make_engine(url), make_engine(url)
    try:
        upgrade(first)
        for round_ in range(10):
            day = DAY + timedelta(days=round_)
            wanted = {f"member:{i}": day for i in range(400)}
            with Session(first) as s:   # a quarter of them failed before: taken over, not inserted
                s.add_all(ScheduledSend(kind=KIND, subject=f"member:{i}", local_day=day, status="failed",
                                        claimed_by="old", claimed_at=NOW, attempts=1) for i in range(0, 400, 4))
                s.commit()
            barrier = threading.Barrier(2)
            won: dict[str, set[str]] = {}
            threads = [threading.Thread(target=_race, args=(barrier, won, n, e, wanted))
                       for n, e in (("a", first), ("b", second))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert won["a"] | won["b"] == set(wanted) and not won["a"] & won["b"]
    finally:
        first.dispose()
        second.dispose()


def _race(barrier: threading.Barrier, won: dict[str, set[str]], name: str, engine: Engine,
          wanted: dict[str, date]) -> None:
    barrier.wait()
    won[name] = claim_sends(engine, KIND, wanted, name, NOW)

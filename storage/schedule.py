"""Claims on scheduled sends: each (kind, subject, local day) goes out once, whatever the number of
scheduler processes sharing the store, and a restart does not send it again.

A claim inserts the row as "sending" (the unique key lets one process win). A failed send is released as
"failed" and may be claimed again by a later tick, up to MAX_ATTEMPTS; a claim left "sending" for longer
than STALE_AFTER (its process died mid-send) may be taken over, accepting the small risk of a second copy
over losing the message.

The claim's key (`send_key`) also goes to the platform as the message's idempotency key (Feishu's `uuid`,
DingTalk's card `outTrackId`, see services.messaging): a takeover of a send the platform already took, or
the retry of one whose answer was lost, then gives the receiver no second copy where the platform allows it.

Claims are read only around the day they are for (and, for some kinds, back to the subject's last one):
`prune` and `prune_kind` delete old ones; bot/jobs/prune.py says what is kept and why that is safe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, delete, exists, func, not_, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.models import ScheduledSend, ShopHealth
from storage.upsert import dialect_insert

MAX_ATTEMPTS = 5
STALE_AFTER = timedelta(minutes=15)
_CHUNK = 500   # claims inserted per statement (7 parameters a row: far under SQLite's limit)

# the kinds of claims the jobs make, beside the digests' and alerts'
SCORE_SNAPSHOT = "score_snapshot"   # the daily score snapshot of a member's finished day (bot/jobs/score_snapshots.py)
SHOP_UNHEALTHY = "shop_unhealthy"   # an admin's notice of a shop's unhealthy streak (bot/jobs/refresh.py)
# an admin's notice, once ever, of a live/video handle matching no member, and of a currency with no exchange
# rate at all (services.handle_notices, services.fx_notices); never pruned
UNMATCHED_HANDLE = "unmatched_handle"
FX_MISSING = "fx_missing"
ONCE_EVER = (UNMATCHED_HANDLE, FX_MISSING)


def send_key(kind: str, subject: str, day: date) -> str:
    """The claim's identity as one string: the idempotency key of the message the claim sends."""
    return f"{kind}|{subject}|{day.isoformat()}"


def sent_today(engine: Engine, kind: str, days: dict[str, date]) -> set[str]:
    """Of `days` (subject -> its local day), the subjects already sent that day: a tick skips them without
    working out again whether they are due."""
    if not days:
        return set()
    with Session(engine) as session:
        rows = session.execute(select(ScheduledSend.subject, ScheduledSend.local_day).where(
            ScheduledSend.kind == kind, ScheduledSend.status == "sent",  # type: ignore[arg-type]
            ScheduledSend.local_day.in_(sorted(set(days.values()))),  # type: ignore[attr-defined]
            ScheduledSend.subject.in_(list(days))))  # type: ignore[attr-defined]
        return {subject for subject, day in rows if days.get(subject) == day}


def last_sent_days(engine: Engine, kind: str, subjects: list[str]) -> dict[str, date]:
    """Of `subjects`, the last local day each was sent on (subjects never sent are left out)."""
    if not subjects:
        return {}
    with Session(engine) as session:
        rows = session.execute(select(ScheduledSend.subject, func.max(ScheduledSend.local_day)).where(
            ScheduledSend.kind == kind, ScheduledSend.status == "sent",  # type: ignore[arg-type]
            ScheduledSend.subject.in_(subjects)).group_by(ScheduledSend.subject))  # type: ignore[attr-defined]
        return {subject: day for subject, day in rows}


def claim_send(engine: Engine, kind: str, subject: str, day: date, by: str, now: datetime) -> bool:
    """True when this process may send it now."""
    return subject in claim_sends(engine, kind, {subject: day}, by, now)


def claim_sends(engine: Engine, kind: str, days: Mapping[str, date], by: str, now: datetime) -> set[str]:
    """Of `days` (subject -> its local day), the subjects this process may send now, claimed in one transaction:
    a new claim is inserted; a failed one (under MAX_ATTEMPTS) or a stale "sending" one is taken over. Rows go in
    subject order, so two processes claiming the same subjects wait for each other rather than deadlock."""
    send = cast(Table, ScheduledSend.__table__)  # type: ignore[attr-defined]
    subjects = sorted(days)
    won: set[str] = set()
    with engine.begin() as conn:
        for start in range(0, len(subjects), _CHUNK):
            rows = [{"kind": kind, "subject": s, "local_day": days[s], "status": "sending", "claimed_by": by,
                     "claimed_at": now, "attempts": 1} for s in subjects[start:start + _CHUNK]]
            won.update(conn.execute(dialect_insert(conn, send).values(rows).on_conflict_do_nothing()
                                    .returning(send.c.subject)).scalars())
        for day, taken in sorted(_by_day({s: days[s] for s in subjects if s not in won}).items()):
            retake = (update(send)
                      .where(send.c.kind == kind, send.c.subject.in_(taken), send.c.local_day == day,
                             send.c.attempts < MAX_ATTEMPTS,
                             or_(send.c.status == "failed",
                                 (send.c.status == "sending") & (send.c.claimed_at < now - STALE_AFTER)))
                      .values(status="sending", claimed_by=by, claimed_at=now, attempts=send.c.attempts + 1)
                      .returning(send.c.subject))
            won.update(conn.execute(retake).scalars())
    return won


def finish_send(engine: Engine, kind: str, subject: str, day: date, by: str, now: datetime,
                error: str | None = None) -> None:
    """Record the outcome of a claimed send: sent, or failed (to be retried by a later tick)."""
    finish_sends(engine, kind, {subject: (day, error)}, by, now)


def finish_sends(engine: Engine, kind: str, outcomes: Mapping[str, tuple[date, str | None]], by: str,
                 now: datetime) -> None:
    """finish_send for many claims in one transaction: `outcomes` is subject -> (local day, error or None)."""
    send = cast(Table, ScheduledSend.__table__)  # type: ignore[attr-defined]
    alike: dict[tuple[date, str | None], list[str]] = defaultdict(list)
    for subject in sorted(outcomes):
        day, error = outcomes[subject]
        alike[day, error[:500] if error else None].append(subject)
    with engine.begin() as conn:
        for (day, error), subjects in alike.items():
            conn.execute(update(send)
                         .where(send.c.kind == kind, send.c.subject.in_(subjects), send.c.local_day == day,
                                send.c.claimed_by == by)
                         .values(status="failed" if error else "sent", sent_at=None if error else now, error=error))


def _by_day(days: Mapping[str, date]) -> dict[date, list[str]]:
    out: dict[date, list[str]] = defaultdict(list)
    for subject, day in days.items():
        out[day].append(subject)
    return out


def prune(engine: Engine, before: date, *, keep_newest: Collection[str] = (), spare: Collection[str] = (),
          batch: int = 1000) -> int:
    """Delete the claims of local days before `before`, `batch` rows per transaction; the number deleted.
    Of the kinds in `keep_newest`, each subject's newest sent claim stays (a job reads it back to see where it
    left off); the kinds in `spare` are not touched (see `prune_kind`)."""
    send = cast(Table, ScheduledSend.__table__)  # type: ignore[attr-defined]
    newer = send.alias("newer")
    newest_sent = and_(send.c.kind.in_(list(keep_newest)), send.c.status == "sent", ~exists().where(
        newer.c.kind == send.c.kind, newer.c.subject == send.c.subject, newer.c.status == "sent",
        newer.c.local_day > send.c.local_day))
    old = select(send.c.id).where(send.c.local_day < before, send.c.kind.not_in(list(spare)),
                                  not_(newest_sent)).limit(batch)
    deleted = 0
    while True:
        with engine.begin() as conn:
            count = conn.execute(delete(send).where(send.c.id.in_(old.scalar_subquery()))).rowcount
        deleted += count
        if count < batch:
            return deleted


def prune_kind(engine: Engine, kind: str, before: date, keep: Callable[[str], bool], batch: int = 1000) -> int:
    """Delete the claims of `kind` of local days before `before` whose subject `keep` does not keep; for kinds
    whose claims stay needed as long as something else lasts, and that have few rows."""
    with Session(engine) as session:
        ids = [i for i, subject in session.execute(select(ScheduledSend.id, ScheduledSend.subject).where(
            ScheduledSend.kind == kind, ScheduledSend.local_day < before))  # type: ignore[arg-type]
            if not keep(subject)]
    for start in range(0, len(ids), batch):
        with engine.begin() as conn:
            conn.execute(delete(ScheduledSend).where(ScheduledSend.id.in_(ids[start:start + batch])))  # type: ignore[union-attr]
    return len(ids)


def streak_subject(shop_id: int, since: datetime) -> str:
    """The start of the subject of every admin's notice of one unhealthy streak (the admin's member id follows)."""
    return f"shop:{shop_id}:{int(since.timestamp())}:"


def ongoing_streaks(engine: Engine) -> set[str]:
    """`streak_subject` of every shop unhealthy now: their notices are still read
    (bot/jobs/prune.py keeps them)."""
    with Session(engine) as session:
        rows = session.execute(select(ShopHealth.shop_id, ShopHealth.unhealthy_since).where(
            ShopHealth.unhealthy_since.is_not(None)))  # type: ignore[union-attr]
        return {streak_subject(shop_id, since) for shop_id, since in rows}

"""Platform events already handled: a redelivered event, also after a restart, is answered once.

A claim has a state. A worker claims an event's ids before it answers ("claimed"); once the platform accepted
the reply the claim becomes "answered" and every later delivery is dropped. A reply that failed releases the
claim (its rows are deleted), so the platform's redelivery is answered. A claim neither answered nor released
(the process was killed between claim and reply) may be taken over by a redelivery once its lease is over.

The rows are only needed while a platform may deliver the event again (seconds to minutes after a late ack
or a reconnect): `prune` deletes old ones (bot/jobs/prune.py keeps a week).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, delete, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from storage.models import ProcessedEvent
from storage.order_sums import NO_ORDERS
from storage.upsert import dialect_insert

CLAIMED, ANSWERED = "claimed", "answered"
# How long a claim holds before a redelivery may take it over. An answer takes a worker seconds: the store's
# reads, a chart, the reply with its retries (5 tries, backoff capped at 5 s), and a DingTalk group answer may
# wait up to a minute for the group's turn. Two minutes is past all of that, so a live worker's claim is never
# taken over, and short enough that a message whose process died is answered on the platform's next redelivery.
CLAIM_LEASE = timedelta(minutes=2)


def claim(engine: Engine, platform: str, *event_ids: str | None, token: str = "", wait_s: float | None = None,
          now: datetime | None = None) -> bool:
    """Claim all the ids of one event in one transaction: True when this delivery is to answer it, False when
    it was answered, or is being answered (a redelivery, also one handled at the same moment by another worker
    or process). A claim left unanswered for CLAIM_LEASE is taken over. `token` names this claim for `settle`.
    `wait_s` bounds how long the claim waits for the store's locks (the answer path must not wait long: the
    store's error then says it is busy)."""
    ids = sorted({i for i in event_ids if i})
    if not ids:
        raise ValueError("an event needs at least one id")
    at = now or datetime.now(UTC)
    rows = [{"platform": platform, "event_id": i, "received_at": at, "state": CLAIMED, "claimed_at": at,
             "claim_token": token} for i in ids]
    try:
        with _bounded(engine, wait_s) as conn:
            conn.execute(ProcessedEvent.__table__.insert(), rows)  # type: ignore[attr-defined]
        return True
    except IntegrityError:
        pass
    return _take_over(engine, platform, ids, token, at, wait_s)


def record_answered(engine: Engine, platform: str, *event_ids: str | None, wait_s: float | None = None,
                    now: datetime | None = None) -> None:
    """Record an event answered without a claim first: one whose reply the platform sends once however often it
    is sent (Feishu's idempotency uuid, DingTalk's card outTrackId), answered from a kept card
    (bot.platforms.common.answer_kept). A later delivery then
    finds it answered. Ids already stored (another worker's claim or answer) are left as they are."""
    ids = sorted({i for i in event_ids if i})
    if not ids:
        raise ValueError("an event needs at least one id")
    at = now or datetime.now(UTC)
    with _bounded(engine, wait_s) as conn:
        conn.execute(dialect_insert(conn, ProcessedEvent.__table__).on_conflict_do_nothing(),  # type: ignore[attr-defined]
                     [{"platform": platform, "event_id": i, "received_at": at, "state": ANSWERED, "claimed_at": at,
                       "claim_token": ""} for i in ids])


def _take_over(engine: Engine, platform: str, ids: list[str], token: str, at: datetime,
               wait_s: float | None) -> bool:
    """Take over a claim whose lease is over (the rows that exist are all claimed and stale); the ids not stored
    yet are added. The update re-checks its condition under the row lock, so two takers get one claim."""
    table = ProcessedEvent.__table__  # type: ignore[attr-defined]
    mine = and_(table.c.platform == platform, table.c.event_id.in_(ids))
    try:
        with _bounded(engine, wait_s) as conn:
            # the update first: it takes the write lock (SQLite) and the rows' locks (PostgreSQL) before the read
            taken = conn.execute(update(table).where(mine, table.c.state == CLAIMED,
                                                     or_(table.c.claimed_at.is_(None),
                                                         table.c.claimed_at < at - CLAIM_LEASE))
                                 .values(state=CLAIMED, claimed_at=at, claim_token=token)).rowcount
            stored = set(conn.execute(select(table.c.event_id).where(mine)).scalars())
            if not stored or taken != len(stored):
                raise _NotOurs
            missing = [i for i in ids if i not in stored]
            if missing:
                conn.execute(table.insert(), [{"platform": platform, "event_id": i, "received_at": at,
                                               "state": CLAIMED, "claimed_at": at, "claim_token": token}
                                              for i in missing])
        return True
    except (IntegrityError, _NotOurs):
        return False


class _NotOurs(Exception):
    """Rolls back a takeover that found a claim still held or answered."""


def settle(engine: Engine, platform: str, event_ids: tuple[str | None, ...], token: str, answered: bool,
           wait_s: float | None = None) -> bool:
    """End this worker's claim: answered (the platform accepted the reply, or there was nothing to say), or
    released (the reply failed: the rows go, so a redelivery is answered). A claim taken over since is left as
    it is. False when the claim was no longer this worker's."""
    table = ProcessedEvent.__table__  # type: ignore[attr-defined]
    ids = sorted({i for i in event_ids if i})
    ours = and_(table.c.platform == platform, table.c.event_id.in_(ids), table.c.state == CLAIMED,
                table.c.claim_token == token)
    with _bounded(engine, wait_s) as conn:
        if answered:
            count = conn.execute(update(table).where(ours).values(state=ANSWERED)).rowcount
        else:
            count = conn.execute(delete(table).where(ours)).rowcount
    return bool(count)


@contextmanager
def _bounded(engine: Engine, wait_s: float | None) -> Iterator[Connection]:
    """A transaction that waits at most `wait_s` seconds for locks (SQLite's busy timeout, PostgreSQL's lock and
    statement timeouts), then raises the store's OperationalError; the connection's own setting is restored.
    SQLite's is set on the driver's connection, outside any transaction (a PRAGMA through SQLAlchemy would begin
    one, and ending it cost a commit each way on every message answered)."""
    with engine.connect() as conn:
        conn.info[NO_ORDERS] = True   # only processed_event is written here: no order sums to fold at commit
        raw = conn.connection.driver_connection if wait_s is not None and conn.dialect.name == "sqlite" else None
        before = None
        if raw is not None:
            before = raw.execute("PRAGMA busy_timeout").fetchone()[0]
            raw.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
        try:
            with conn.begin():
                if wait_s is not None and raw is None:
                    ms = int(wait_s * 1000)
                    # one statement, and no wait for the WAL flush: a claim lost with the database server's crash
                    # (not this process's) at worst lets a redelivery be answered again
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}; SET LOCAL statement_timeout = {ms}; "
                                         f"SET LOCAL synchronous_commit TO OFF")
                yield conn
        finally:
            conn.info.pop(NO_ORDERS, None)   # the info lives with the pooled connection: its next user folds
            if raw is not None and before is not None:
                raw.execute(f"PRAGMA busy_timeout = {int(before)}")


def prune(engine: Engine, before: datetime, batch: int = 1000) -> int:
    """Delete the events received before `before`, `batch` rows per transaction (each batch found through the
    received_at index), so no transaction locks the table long; the number deleted."""
    oldest = select(ProcessedEvent.id).where(ProcessedEvent.received_at < before).limit(batch)  # type: ignore[arg-type]
    deleted = 0
    while True:
        with engine.begin() as conn:
            count = conn.execute(delete(ProcessedEvent).where(
                ProcessedEvent.id.in_(oldest.scalar_subquery()))).rowcount  # type: ignore[union-attr]
        deleted += count
        if count < batch:
            return deleted

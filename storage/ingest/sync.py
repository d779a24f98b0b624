"""Syncs shops from their sources into the store: resumable after a crash, exact, one shop's failure isolated.

Per resource, a run fetches the window [high_water - overlap, now) (everything on the first sync). Pages are
written as they come, `write_pages` (10) at a time, into one open transaction that commits every `batch_s`
(2 s) or `batch_pages` (1,000) pages, whichever comes first, and after the last page. A batch is that ONE
transaction, together with the resource's SyncCursor: the resume token of the page after the batch's last one,
the run's window and the newest update time stored so far. So after a crash, also kill -9 in the middle of a
batch, the batch's pages and its cursor are both gone or both there; the next run continues the same query
from the stored token (in the stored window, then catches up to now), so it fetches at most that one batch
again; a page fetched twice, and the overlap re-fetched on every run, are absorbed by the writer's upserts:
nothing lost, nothing doubled. When the resource finishes, in the transaction of its last batch, high_water
becomes the newest platform update time seen (never beyond the window's end, never backwards) and the run
state is cleared. `progress` is called once per page, after its batch committed.
Committing by time is what makes a first sync of a large shop fast: on SQLite every commit writes each index
page its orders touched to the WAL, and the time indexes (paid_at, shipped_at) are touched at random
places, so a commit per 2,000 orders cost a third of a 1,000,000-order sync and a commit per 2 s a tenth
(tests/benchmarks/bench_sync.py). An open batch holds SQLite's write lock, so other writers wait up to 2 s,
and it is never held while waiting for the platform: before asking for a page, an open batch is committed
unless the source says that page is ready or will be within 50 ms (`page_ready`, which prefetching sources
offer). Pages not yet written are not held against that: from a source without `page_ready` (Shopee, Amazon,
Shopify) up to `write_pages` pages wait in memory for the platform's next ones, no lock held; a crash then
fetches them again.

Failures: an error that survives the source's own retries (a SourceError, or anything else a source or the
writer raises) fails that resource only: SyncCursor.failures += 1 and last_error are stored, high_water does
not move (pages already written stay, with the token that continues after them), and the shop's other
resources still run, unless the platform could not be connected to at all (SourceError.unreachable): they
are then failed as "not tried", not made to wait through the same retries (a down host cost each resource its
connect timeouts and backoff). When the SOURCE raises (anything, also KeyboardInterrupt), the pages it gave
before are written first, with the token after them. A REQUEST error on the first call of a resumed run drops the stored
token (it may have expired), so the next run starts the window again. Errors that are not Exceptions
(KeyboardInterrupt, a kill) are not caught: an open batch's transaction rolls back and the next run resumes.

Health: a run with a failed resource adds one to ShopHealth.consecutive_failures; at `unhealthy_after` the
shop turns unhealthy. `unhealthy_since` is claimed by one conditional UPDATE, so exactly one run, in whatever
process, gets `notify` per unhealthy streak; a fully successful run clears the streak (`recovered`). Both
transitions are written to the audit log. Telling the admins is the refresh job's (bot.jobs.refresh), claimed
apart, so a streak a CLI sync started is told too. The stored error texts are SourceError messages, which never
hold a secret; other exceptions are stored and logged by type and place only, since their text may hold a URL.

One sync of a given shop at a time is assumed (the scheduler leader runs them); two at once stay correct
(idempotent upserts) but may fetch pages twice.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.engine import Connection, Engine

from storage.audit import audit
from storage.ingest.heap import frozen_heap
from storage.ingest.records import FailureKind, Page, Record, Source, SourceError, latest_update
from storage.ingest.writer import StoreWriter, WriteCounts, WriteTransaction
from storage.models import ShopHealth, SyncCursor
from storage.upsert import upsert

log = logging.getLogger(__name__)

CURSOR = cast(Table, SyncCursor.__table__)  # type: ignore[attr-defined]
HEALTH = cast(Table, ShopHealth.__table__)  # type: ignore[attr-defined]

Progress = Callable[[str, int, int], None]   # (resource, pages so far, records so far)

# Pages per transaction, how long a fetched page may wait for its commit, and how many pages are written
# together inside it: see the module docstring.
BATCH_PAGES = 1000
BATCH_S = 2.0
WRITE_PAGES = 10
# How long an open batch waits for a prefetching source's next page before it commits first (a page in flight
# takes milliseconds; a platform's pacing or a retry takes seconds).
READY_WAIT_S = 0.05


@dataclass(slots=True)
class ResourceReport:
    resource: str
    pages: int = 0
    records: int = 0
    counts: WriteCounts = field(default_factory=WriteCounts)
    resumed: bool = False            # continued an interrupted run from its stored token
    error: str | None = None         # why it failed (no secrets); None when it finished
    error_kind: str | None = None    # a FailureKind, or "unexpected"

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class SyncReport:
    shop_id: int
    resources: list[ResourceReport] = field(default_factory=list)
    consecutive_failures: int = 0    # failed runs in a row, this one included
    unhealthy: bool = False
    notify: bool = False             # this run started an unhealthy streak (audited once; bot.jobs.refresh tells)
    recovered: bool = False          # this run ended an unhealthy streak
    error: str | None = None         # the shop's sync itself broke (bot.jobs.refresh), e.g. the store went away
    error_kind: str | None = None    # of `error` when the shop could not be synced at all (shop_failed)

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.resources)

    @property
    def failed(self) -> list[str]:
        return [r.resource for r in self.resources if not r.ok]

    @property
    def counts(self) -> WriteCounts:
        total = WriteCounts()
        for r in self.resources:
            total += r.counts
        return total


@dataclass(frozen=True, slots=True)
class _Cursor:
    high_water: datetime | None = None
    resume: str | None = None
    run_since: datetime | None = None
    run_until: datetime | None = None
    run_high_water: datetime | None = None

    @property
    def in_progress(self) -> bool:
        return self.run_until is not None


def sync_shop(engine: Engine, shop_id: int, source: Source, resources: Sequence[str] | None, now: datetime,
              overlap: timedelta = timedelta(minutes=10), progress: Progress | None = None, *,
              unhealthy_after: int = 3, writer: StoreWriter | None = None, since: datetime | None = None,
              batch_pages: int = BATCH_PAGES, batch_s: float = BATCH_S, write_pages: int = WRITE_PAGES) -> SyncReport:
    """Sync `resources` of one shop (None: all the source offers) up to `now`; never raises for a failing
    source (the report says so). The caller owns `source` and closes it. `since` re-fetches [since, now) (a
    backfill), from earlier when the stored data ends before `since` (the high water less the overlap, or an
    interrupted run's window), so a backfill never leaves a gap; the interrupted run is then done by it."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    wanted = tuple(source.resources if resources is None else resources)
    unknown = [r for r in wanted if r not in source.resources]
    if unknown:
        raise ValueError(f"the source does not offer {', '.join(unknown)}")
    writer = writer or StoreWriter(engine)
    report = SyncReport(shop_id)
    unreachable: str | None = None   # the error of a call that could not connect at all (SourceError.unreachable)
    with frozen_heap():
        for resource in wanted:
            rep = ResourceReport(resource)
            report.resources.append(rep)
            if unreachable is not None:   # its calls would wait through the same retries and fail alike
                _failed(engine, shop_id, resource, rep, f"not tried: {unreachable}", FailureKind.SERVER, now)
                log.warning("shop %s %s not tried: %s", shop_id, resource, unreachable)
                continue
            try:
                _sync_resource(engine, writer, shop_id, source, resource, now, overlap, progress, rep, since,
                               _Batching(batch_pages, batch_s, write_pages))
            except SourceError as exc:
                _failed(engine, shop_id, resource, rep, str(exc), exc.kind, now)
                log.warning("shop %s %s failed after %d pages: %s", shop_id, resource, rep.pages, exc)
                if exc.unreachable:
                    unreachable = f"{resource}: {exc}"
            except Exception as exc:
                _failed(engine, shop_id, resource, rep, f"unexpected {type(exc).__name__} at {_where(exc)}",
                        "unexpected", now)
                log.error("shop %s %s failed after %d pages: unexpected %s at %s", shop_id, resource, rep.pages,
                          type(exc).__name__, _where(exc))
            else:
                c = rep.counts
                log.info("shop %s %s: %d pages, %d records (%d new, %d updated, %d unchanged, %d pending)", shop_id,
                         resource, rep.pages, rep.records, c.inserted, c.updated, c.unchanged, c.pending)
    _health(engine, report, now, unhealthy_after)
    return report


# --- one resource -------------------------------------------------------------------------------------------

def _sync_resource(engine: Engine, writer: StoreWriter, shop_id: int, source: Source, resource: str,
                   now: datetime, overlap: timedelta, progress: Progress | None, rep: ResourceReport,
                   since_override: datetime | None = None, batching: _Batching | None = None) -> None:
    batching = batching or _Batching(BATCH_PAGES, BATCH_S, WRITE_PAGES)
    cursor = _load(engine, shop_id, resource)
    while True:
        if cursor.in_progress and since_override is None:   # an interrupted run: continue its own query
            rep.resumed = True
            since, until, resume, seen = cursor.run_since, cast(datetime, cursor.run_until), cursor.resume, \
                cursor.run_high_water
        else:
            since = None if cursor.high_water is None else cursor.high_water - overlap
            if since_override is not None:   # a backfill: from its day, or earlier when the stored data ends earlier
                since = since_override if since is None else min(since, since_override)
                if cursor.in_progress and cursor.run_since is not None:   # the interrupted run's window too
                    since = min(since, cursor.run_since)
            until, resume, seen = now, None, None
        finished, pages = False, 0
        batch = _Batch(writer, shop_id, resource, since, until, cursor.high_water, now, rep, progress, batching)
        listing = source.pages(resource, since=since, until=until, resume=resume)
        ready = cast(Callable[[float], bool] | None, getattr(source, "page_ready", None))
        try:
            while True:
                if batch.open and (ready is None or not ready(READY_WAIT_S)):
                    batch.commit()   # never wait for the platform with the transaction (SQLite's write lock) open
                try:
                    page = next(listing)
                except StopIteration:
                    break
                except BaseException:
                    if batch.sizes:   # the pages fetched before the source failed are kept
                        batch.commit()
                    raise
                newest = page.high_water or latest_update(page.records)
                if newest is not None:
                    seen = min(max(seen, newest) if seen else newest, until)
                batch.add(page, seen)
                pages += 1
                if batch.last or batch.due():
                    batch.commit()
                if page.resume is None:
                    finished = True
                    break
            if batch.sizes:   # the listing ended without its last page: keep what it gave
                batch.commit()
        except BaseException:
            batch.roll_back()   # what the open transaction holds goes, with its cursor
            raise
        finally:
            close = getattr(listing, "close", None)
            if close is not None:
                close()
        if not finished:
            if pages:   # its last page promised another: never take that for the end (what is left is kept)
                raise SourceError(FailureKind.SERVER, "the source stopped before its last page")
            with engine.begin() as conn:   # nothing (more) in the window
                _finisher(shop_id, resource, cursor.high_water, seen, now)(conn)
        if since_override is not None or not cursor.in_progress or until >= now:
            return
        cursor = _load(engine, shop_id, resource)   # the resumed window is done; now catch up to `now`


@dataclass(frozen=True, slots=True)
class _Batching:
    pages: int          # at most this many pages per transaction
    seconds: float      # and no written page waits longer than this for its commit
    write_pages: int    # pages written together (one statement per table), inside the transaction


@dataclass(slots=True)
class _Batch:
    """The open transaction of one window's pages. Pages are written as they come, `write_pages` at a time (the
    last few may wait in `pending`); `resume` and `seen` are those after the last page added."""

    writer: StoreWriter
    shop_id: int
    resource: str
    since: datetime | None          # the window
    until: datetime
    high_water: datetime | None     # the stored one, before this run
    now: datetime
    rep: ResourceReport
    progress: Progress | None
    batching: _Batching
    pending: list[Record] = field(default_factory=list)   # added, not written yet
    pending_pages: int = 0
    sizes: list[int] = field(default_factory=list)   # records per page since the last commit (report, progress)
    counts: WriteCounts = field(default_factory=WriteCounts)   # what the open transaction wrote
    started: float = 0.0
    resume: str | None = None
    seen: datetime | None = None
    last: bool = False
    _open: ExitStack | None = None
    _txn: WriteTransaction | None = None

    def add(self, page: Page, seen: datetime | None) -> None:
        if not self.sizes:
            self.started = time.monotonic()
        self.pending.extend(page.records)
        self.pending_pages += 1
        self.sizes.append(len(page.records))
        self.resume, self.seen, self.last = page.resume, seen, page.resume is None
        if self.pending_pages >= self.batching.write_pages:
            self._write_pending()

    @property
    def open(self) -> bool:
        return self._txn is not None

    def due(self) -> bool:
        return len(self.sizes) >= self.batching.pages or time.monotonic() - self.started >= self.batching.seconds

    def commit(self) -> None:
        """The pages since the last commit with the cursor after the last of them, committed; then progress, per
        page. Anything failing rolls them all back."""
        try:
            txn = self._write_pending()
            save = _finisher(self.shop_id, self.resource, self.high_water, self.seen, self.now) if self.last \
                else _saver(self.shop_id, self.resource, self.since, self.until, self.resume, self.seen)
            save(txn.conn)
            opened, self._open, self._txn = self._open, None, None
            assert opened is not None
            opened.close()   # the commit
        except BaseException:
            self.roll_back()
            raise
        rep, sizes, self.sizes = self.rep, self.sizes, []
        rep.counts += self.counts
        self.counts = WriteCounts()
        for size in sizes:
            rep.pages += 1
            rep.records += size
            if self.progress is not None:
                self.progress(self.resource, rep.pages, rep.records)

    def roll_back(self) -> None:
        """Drop what the open transaction holds (nothing to do when none is open)."""
        opened, self._open, self._txn = self._open, None, None
        self.pending, self.pending_pages, self.sizes, self.counts = [], 0, [], WriteCounts()
        if opened is not None:
            opened.__exit__(_RolledBack, _RolledBack(), None)

    def _write_pending(self) -> WriteTransaction:
        if self._txn is None:
            self._open = ExitStack()
            self._txn = self._open.enter_context(self.writer.transaction())
        if self.pending:
            self.counts += self._txn.write(self.shop_id, self.pending)
        self.pending, self.pending_pages = [], 0
        return self._txn


class _RolledBack(Exception):
    """Given to an open transaction's context to make it roll back (a sync batch that failed)."""


def _load(engine: Engine, shop_id: int, resource: str) -> _Cursor:
    with engine.connect() as conn:
        row = conn.execute(select(CURSOR.c.high_water, CURSOR.c.cursor, CURSOR.c.run_since, CURSOR.c.run_until,
                                  CURSOR.c.run_high_water)
                           .where(CURSOR.c.shop_id == shop_id, CURSOR.c.resource == resource)).first()
    return _Cursor(*row) if row is not None else _Cursor()


def _saver(shop_id: int, resource: str, since: datetime | None, until: datetime, resume: str | None,
           seen: datetime | None) -> Callable[[Connection], None]:
    """The cursor after a page that has a next one: the run's window and the next page's token."""
    def save(conn: Connection) -> None:
        run = {"cursor": resume, "run_since": since, "run_until": until, "run_high_water": seen}
        upsert(conn, CURSOR, ("shop_id", "resource"), {"shop_id": shop_id, "resource": resource, "failures": 0, **run},
               run)
    return save


def _finisher(shop_id: int, resource: str, high_water: datetime | None, seen: datetime | None,
              now: datetime) -> Callable[[Connection], None]:
    """The cursor after the last page: the new high water, no run in progress, the failure streak ended."""
    newest = high_water if seen is None or (high_water is not None and high_water > seen) else seen

    def finish(conn: Connection) -> None:
        upsert(conn, CURSOR, ("shop_id", "resource"), {
            "shop_id": shop_id, "resource": resource, "cursor": None, "run_since": None, "run_until": None,
            "run_high_water": None, "high_water": newest, "last_success_at": now, "failures": 0, "last_error": None})
    return finish


def _failed(engine: Engine, shop_id: int, resource: str, rep: ResourceReport, error: str, kind: str,
            now: datetime) -> None:
    rep.error, rep.error_kind = error[:500], str(kind)
    values: dict[str, Any] = {"shop_id": shop_id, "resource": resource, "failures": 1, "last_error": rep.error}
    changes: dict[str, Any] = {"failures": CURSOR.c.failures + 1, "last_error": rep.error}
    if rep.resumed and rep.pages == 0 and kind == FailureKind.REQUEST:
        # the stored token was refused (expired?): the next run starts this window again from its beginning
        changes.update(cursor=None, run_since=None, run_until=None, run_high_water=None)
    with engine.begin() as conn:
        upsert(conn, CURSOR, ("shop_id", "resource"), values, changes)


def shop_failed(engine: Engine, shop_id: int, error: str, kind: str, now: datetime,
                unhealthy_after: int = 3) -> SyncReport:
    """Record a run in which the shop could not be synced at all (e.g. its tokens cannot be opened) as a failed
    run in its health, `error` its last error, exactly as a run whose resources all failed."""
    report = SyncReport(shop_id, error=error[:500], error_kind=kind)
    _health(engine, report, now, unhealthy_after)
    return report


# --- shop health --------------------------------------------------------------------------------------------------

def _health(engine: Engine, report: SyncReport, now: datetime, unhealthy_after: int) -> None:
    shop_id = report.shop_id
    with engine.begin() as conn:
        _audit_counts(conn, report, now)
        upsert(conn, HEALTH, ("shop_id",), {"shop_id": shop_id, "consecutive_failures": 0},
                {"shop_id": HEALTH.c.shop_id})
        this_shop = HEALTH.c.shop_id == shop_id
        if report.failed or report.error:
            error = ("; ".join(f"{r.resource}: {r.error}" for r in report.resources if not r.ok)
                     or report.error or "")[:500]
            report.consecutive_failures = conn.execute(
                update(HEALTH).where(this_shop)
                .values(consecutive_failures=HEALTH.c.consecutive_failures + 1, last_error=error, last_failure_at=now)
                .returning(HEALTH.c.consecutive_failures)).scalar_one()
            report.unhealthy = report.consecutive_failures >= unhealthy_after
            if report.unhealthy:
                claimed = conn.execute(update(HEALTH).where(this_shop, HEALTH.c.unhealthy_since.is_(None))
                                       .values(unhealthy_since=now)).rowcount
                report.notify = claimed == 1
                if report.notify:
                    audit(conn, None, "shop_unhealthy", "shop", str(shop_id),
                          {"consecutive_failures": report.consecutive_failures, "resources": report.failed,
                           "last_error": error}, at=now)
                    log.warning("shop %s is unhealthy after %d failed syncs: %s", shop_id,
                                report.consecutive_failures, error)
        else:
            claimed = conn.execute(update(HEALTH).where(this_shop, HEALTH.c.unhealthy_since.is_not(None))
                                   .values(unhealthy_since=None)).rowcount
            before = conn.execute(select(HEALTH.c.consecutive_failures).where(this_shop)).scalar_one()
            conn.execute(update(HEALTH).where(this_shop).values(consecutive_failures=0, last_success_at=now))
            report.recovered = claimed == 1
            if report.recovered:
                audit(conn, None, "shop_recovered", "shop", str(shop_id), {"failures_before": before}, at=now)
                log.info("shop %s recovered after %d failed syncs", shop_id, before)


def _audit_counts(conn: Connection, report: SyncReport, now: datetime) -> None:
    """A run that wrote something is audited with its counts per resource (a run that changed nothing is not: it
    alters no score); failures are the health rows'."""
    wrote = {r.resource: {"new": r.counts.inserted, "updated": r.counts.updated, "pending": r.counts.pending}
             for r in report.resources if r.counts.inserted or r.counts.updated or r.counts.pending}
    if wrote:
        audit(conn, None, "sync.run", "shop", str(report.shop_id),
              {"resources": wrote, "failed": report.failed}, at=now)


def _where(exc: BaseException) -> str:
    """file:line where an exception was raised: enough to find a bug, without the message (it may hold a URL)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"

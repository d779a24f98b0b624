"""The shop refresh job: sync every shop that has an API, credit the new orders, recompute the affected teams'
scores, and tell the admins once when a shop keeps failing.

One run, in order:
1. take the refresh lease in the store (below); without it another replica is refreshing, or just did: skip;
2. each shop with a source (bot.shop_sources) is synced on its own: one shop's failure, even a broken source,
   never stops the others; a shop that cannot be built (no credentials, no tokens) is skipped with a log line;
   one whose stored tokens KPIBOT_TOKEN_KEY cannot open, or whose platform has no app credentials in the
   configuration, is skipped too, but counted as a failed sync (health, last error, the sync failure metric)
   with one WARNING per run and cause naming those shops and the fix;
3. storage.attribution credits the orders written in the shops that changed (and orders an earlier run left
   due) to creators; services.crediting then credits those shops' orders of the last RECREDIT to hosts;
4. today's ScoreSnapshot of every member of the teams those shops belong to is upserted (period YYYY-MM, as of
   the member's day in their period zone, the team's), scored exactly as /mykpi scores them
   (bot.jobs.score_snapshots; the daily job there finishes each day's row after the day has ended);
5. the card cache of this process is cleared, so the next /mykpi shows the new numbers;
6. an unhealthy shop is reported to its organisation's admins, one short private message each, in their
   language, once per unhealthy streak and admin (claimed in the store: `tell_unhealthy`), also when a
   `kpibot sync` started the streak; a notice a platform refused is retried by the next runs, and an admin
   bound later is told then;
7. each live/video handle that matches no member is reported to its organisation's admins, once per
   (platform, handle) ever (services.handle_notices), whether a sync, a file import or `kpibot sync` wrote it;
8. each currency of the shops, or of the orders written since the last run, with no exchange rate at all is
   reported to the admins, once per currency ever (services.fx_notices: the same claims as the daily [fx] job,
   so it also works when [fx] is off and rates are typed by hand); with [fx] on, not before the first ECB
   rate is stored (the daily job's first fetch would likely fill it).

Scheduling: the job is an in-memory APScheduler job (bot/scheduler.py) whose function is the running process's
`RefreshContext.scheduled`, so nothing is pickled and no registry is needed. What must outlive the process is in
the lease row: its first run after a start is due an interval after the last run of any replica
(`first_run_at`), at once when that time has passed (runs missed while the bot was down become one run).

The lease: several replicas sharing the store each have a scheduler with the refresh job, so each may fire
it. The row "refresh" of `job_lease` is the lease: a conditional UPDATE takes it when the last run has
finished and started at least half an interval ago, or when its holder stopped renewing it for STALE_AFTER
(it died). While running, the holder renews it (heartbeat_at) after every shop and at most once a minute
during long syncs. So two replicas never refresh at once, and a replica firing a moment
after another's run does not run it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import metrics
from bot.card_cache import CardCache
from bot.logs import log_failure
from bot.shop_sources import NoCredentials, NoSource, TokensLocked
from cards.i18n import MESSAGES, t
from cards.model import Card, Text, Tone
from services.admin_notices import admins_of, tell_admins
from services.container import Services
from services.crediting import RECREDIT, CreditRun, credit_shops
from services.fx import ECB, newest_day
from services.fx_notices import CurrencyWatch, tell_missing_rates
from services.handle_notices import tell_unknown_handles
from services.live_shifts import close_overdue
from services.messaging import Messenger
from services.snapshots import snapshot_scores
from storage.attribution import AttributionCounts, attribute_orders
from storage.audit import acting_as, job_actor
from storage.ingest.records import Source
from storage.ingest.sync import SyncReport, shop_failed, sync_shop
from storage.ingest.writer import StoreWriter
from storage.models import JobLease, Order, Shop, ShopHealth
from storage.schedule import SHOP_UNHEALTHY as NOTICE
from storage.schedule import STALE_AFTER, streak_subject
from storage.token_cipher import LOCKED_FIX

log = logging.getLogger(__name__)

LEASE = "refresh"
HEARTBEAT_S = 60.0


class Stopping(BaseException):
    """Raised between two pages when the process is shutting down. A BaseException, so sync_shop does not take
    it for a failing shop: the pages written so far stay, with the token the next run resumes from."""


@dataclass
class RefreshContext:
    """What the refresh job needs from the running process."""

    services: Services
    source_for: Callable[[Shop], Source]    # raises bot.shop_sources.NoSource for a shop without one
    messengers: Mapping[str, Messenger]
    clock: Callable[[], datetime]
    instance: str                           # names this process in the lease
    interval: timedelta
    cache: CardCache | None = None
    unhealthy_after: int = 3
    stopping: threading.Event = field(default_factory=threading.Event)
    fx_feed: bool = False                   # the daily [fx] job runs: tell of currencies once it stored rates
    currencies: CurrencyWatch = field(default_factory=CurrencyWatch)   # orders read for their currency

    def scheduled(self) -> None:
        """The scheduler's job function: one run as of the clock's now; a failure is logged, never raised."""
        try:
            with acting_as(job_actor("refresh"), self.clock):   # what it audits (syncs, shop health) names this job
                run_refresh(self, self.clock())
        except Exception:
            log_failure(log, "the shop refresh failed; it runs again at the next interval")


@dataclass
class RefreshResult:
    ran: bool                                            # False: another run held the lease, nothing done
    reports: dict[str, SyncReport] = field(default_factory=dict)     # shop code -> its sync
    skipped: dict[str, str] = field(default_factory=dict)            # shop code -> why
    changed: list[int] = field(default_factory=list)                 # shop ids with new or updated rows
    attribution: AttributionCounts | None = None
    credit: CreditRun | None = None                      # orders credited to hosts (services.crediting)
    snapshots: int = 0
    told: list[str] = field(default_factory=list)                    # admin codes told of an unhealthy shop
    handles_told: list[str] = field(default_factory=list)   # "admin:platform:handle" of unmatched-handle notices
    currencies_told: list[str] = field(default_factory=list)   # "admin:currency" of no-exchange-rate notices


def first_run_at(engine: Engine, interval: timedelta, now: datetime, last_now: datetime) -> datetime:
    """When a just-started scheduler first fires the refresh (in scheduler time `now`): an interval after the
    last run of any replica (the lease's taken_at, in the refresh clock's `last_now`), at once when that has
    passed or nothing ran yet; never later than an interval from now (a clock pinned in the future)."""
    with Session(engine) as session:
        taken = session.execute(select(JobLease.taken_at).where(JobLease.name == LEASE)).scalar_one_or_none()  # type: ignore[arg-type]
    if taken is None:
        return now
    return now + min(max(taken + interval - last_now, timedelta(0)), interval)


def run_refresh(ctx: RefreshContext, now: datetime) -> RefreshResult:
    engine = ctx.services.engine
    if not take_lease(engine, ctx.instance, now, ctx.interval / 2):
        log.info("shop refresh at %s: another run holds the lease or ran less than half an interval ago; skipped",
                 now.isoformat())
        return RefreshResult(ran=False)
    result = RefreshResult(ran=True)
    error: str | None = None
    try:
        _sync_shops(ctx, now, result)
        _after_sync(ctx, now, result)
        result.handles_told = _tell_unknown_handles(ctx, now)
        result.currencies_told = _tell_missing_rates(ctx, now)
    except Stopping:
        error = "stopped by a shutdown"
        log.info("shop refresh stopped by a shutdown; the next run resumes where it stopped")
    except Exception as exc:
        error = f"{type(exc).__name__}"
        raise
    finally:
        release_lease(engine, ctx.instance, ctx.clock(), error)
    log.info("shop refresh at %s: %d shops synced (%d failed, %d skipped), %d changed, %d snapshots, %d admins told",
             now.isoformat(), len(result.reports), sum(not r.ok for r in result.reports.values()),
             len(result.skipped), len(result.changed), result.snapshots, len(result.told))
    return result


def _sync_shops(ctx: RefreshContext, now: datetime, result: RefreshResult) -> None:
    engine = ctx.services.engine
    with Session(engine) as session:
        shops = list(session.execute(select(Shop).order_by(Shop.code)).scalars())
    writer = StoreWriter(engine, ctx.services.buyer_key)
    beat = _Heartbeat(ctx)
    locked: list[str] = []
    uncredentialed: list[str] = []
    try:
        for shop in shops:
            if ctx.stopping.is_set():
                raise Stopping
            _sync_one(ctx, shop, now, result, writer, beat, locked, uncredentialed)
    finally:
        if locked:
            log.warning("shop refresh: %d shop(s) skipped, their API tokens cannot be opened: %s; %s",
                        len(locked), ", ".join(locked), LOCKED_FIX)
        if uncredentialed:
            log.warning("shop refresh: %d shop(s) skipped, their platform has no app credentials in the "
                        "configuration: %s", len(uncredentialed), ", ".join(uncredentialed))


def _sync_one(ctx: RefreshContext, shop: Shop, now: datetime, result: RefreshResult, writer: StoreWriter,
              beat: _Heartbeat, locked: list[str], uncredentialed: list[str]) -> None:
    engine = ctx.services.engine
    try:
        source = ctx.source_for(shop)
    except (TokensLocked, NoCredentials) as exc:   # the shop stops syncing until fixed: a failure
        result.skipped[shop.code] = str(exc)
        (locked if isinstance(exc, TokensLocked) else uncredentialed).append(f"{shop.code} ({exc.reason})")
        kind = "tokens_locked" if isinstance(exc, TokensLocked) else "no_credentials"
        report = shop_failed(engine, shop.id or 0, exc.reason, kind, now, ctx.unhealthy_after)
        metrics.synced(0, 1)
        if report.unhealthy:
            result.told += tell_unhealthy(ctx, shop, report, now)
        return
    except Exception as exc:      # NoSource, or a source that cannot even be built
        result.skipped[shop.code] = str(exc) if isinstance(exc, NoSource) else f"unexpected {type(exc).__name__}"
        log.info("shop refresh: %s skipped: %s", shop.code, result.skipped[shop.code])
        return
    try:
        report = sync_shop(engine, shop.id or 0, source, None, now, progress=beat.progress, writer=writer,
                           unhealthy_after=ctx.unhealthy_after)
    except Exception as exc:      # sync_shop itself broke (e.g. the store went away mid-run)
        log.error("shop %s: sync broke: %s", shop.code, type(exc).__name__)
        report = SyncReport(shop.id or 0, error=f"unexpected {type(exc).__name__}")
    finally:
        try:
            source.close()
        except Exception:
            log.warning("shop %s: closing its source failed", shop.code, exc_info=True)
    result.reports[shop.code] = report
    counts = report.counts
    metrics.synced(counts.inserted + counts.updated + counts.unchanged + counts.pending, 0 if report.ok else 1)
    if counts.inserted or counts.updated:
        result.changed.append(shop.id or 0)
    beat.renew()
    if report.unhealthy:
        result.told += tell_unhealthy(ctx, shop, report, now)


def _after_sync(ctx: RefreshContext, now: datetime, result: RefreshResult) -> None:
    """Attribute and rescore the shops that changed, and any shop whose orders still wait for attribution (a
    run stopped by a shutdown, or an attribution that failed, left them due). First, shifts hosts opened with
    /live start and never ended are closed at the maximum (services.live_shifts)."""
    try:
        close_overdue(ctx.services, now)
    except Exception:
        log_failure(log, "closing the shifts left open failed; crediting counts them as ending at the maximum")
    with Session(ctx.services.engine) as session:
        due = set(session.execute(select(Order.shop_id).where(Order.attribution_due).distinct()).scalars())  # type: ignore[arg-type]
    affected = sorted(set(result.changed) | due)
    if not affected:
        return
    try:
        result.attribution = attribute_orders(ctx.services.engine, affected)
    except Exception:
        log_failure(log, "attribution after the refresh failed; scores are recomputed without it")
    try:   # the recent orders again: sessions arrive after their orders
        result.credit = credit_shops(ctx.services.engine, affected, tail=ctx.services.live_tail, since=now - RECREDIT,
                                     max_shift=ctx.services.max_shift)
    except Exception:
        log_failure(log, "crediting hosts after the refresh failed; scores are recomputed without it")
    with Session(ctx.services.engine) as session:
        team_ids = {s.team_id for s in session.execute(select(Shop).where(Shop.id.in_(affected))).scalars()}  # type: ignore[union-attr]
    result.snapshots = snapshot_scores(ctx.services, None if None in team_ids else {i for i in team_ids if i}, now,
                                       written_at=ctx.clock())
    if ctx.cache is not None:
        ctx.cache.clear()


# --- telling the admins ---------------------------------------------------------------------------------------

def _tell_unknown_handles(ctx: RefreshContext, now: datetime) -> list[str]:
    """services.handle_notices after the run; a failure is logged and leaves the run's results standing."""
    try:
        return tell_unknown_handles(ctx.services, ctx.messengers, ctx.instance, now)
    except Exception:
        log_failure(log, "reporting handles that match no member failed; the next run tries again")
        return []


def _tell_missing_rates(ctx: RefreshContext, now: datetime) -> list[str]:
    """services.fx_notices over the orders written since the last run; a failure is logged."""
    try:
        if ctx.fx_feed and newest_day(ctx.services, ECB) is None:
            return []   # the daily job's first fetch has not stored rates yet: it tells once it has
        return tell_missing_rates(ctx.services, ctx.messengers, ctx.instance, now, ctx.currencies)
    except Exception:
        log_failure(log, "reporting currencies without an exchange rate failed; the next run tries again")
        return []


def failure_text(report: SyncReport, lang: str) -> str:
    """Why the shop's last sync failed, in the admin's language: each failed resource with the kind of failure.
    The platform's own words and internal details stay in the log and in `kpibot shops list`."""
    sep, colon = ("；", "：") if lang == "zh" else ("; ", ": ")

    def kind(k: str | None) -> str:
        return t(lang, f"shop.failure.{k}" if f"shop.failure.{k}" in MESSAGES else "shop.failure.unexpected")

    def resource(name: str) -> str:
        return t(lang, f"shop.resource.{name}") if f"shop.resource.{name}" in MESSAGES else name

    failed = [f"{resource(r.resource)}{colon}{kind(r.error_kind)}" for r in report.resources if not r.ok]
    return sep.join(failed) or kind(report.error_kind or "unexpected")


def tell_unhealthy(ctx: RefreshContext, shop: Shop, report: SyncReport, now: datetime) -> list[str]:
    """Tell each admin of the shop's organisation that `shop` is unhealthy, one private message in their language,
    once per unhealthy streak, whichever run started the streak (a `kpibot sync` marks a shop unhealthy too, but
    tells nobody). Each admin's notice is claimed in the store (services.admin_notices), keyed by the streak's
    start: one that went out is not sent again; one a platform refused is retried by the next runs (up to
    MAX_ATTEMPTS); an admin bound on no connected platform is told once they are. The admins told."""
    engine = ctx.services.engine
    with Session(engine) as session:
        since = session.execute(select(ShopHealth.unhealthy_since).where(
            ShopHealth.shop_id == shop.id)).scalar_one_or_none()  # type: ignore[arg-type]
        admins = admins_of(session, shop.org_id)
    if since is None:   # recovered meanwhile
        return []

    def card_for(lang: str) -> Card:
        text = t(lang, "shop.unhealthy", shop=f"{shop.name} ({shop.code})", failures=report.consecutive_failures,
                 error=failure_text(report, lang))
        return Card(t(lang, "shop.unhealthy_title", shop=shop.name), (Text(text),), Tone.BAD, lang)

    return tell_admins(engine, ctx.messengers, admins, NOTICE, streak_subject(shop.id or 0, since),
                       since.astimezone(UTC).date(), card_for, ctx.instance, now, f"shop {shop.code} is unhealthy")


# --- the lease ---------------------------------------------------------------------------------------------------

def take_lease(engine: Engine, by: str, now: datetime, min_gap: timedelta,
               stale_after: timedelta = STALE_AFTER) -> bool:
    """True when this process may refresh now (see the module docstring)."""
    lease = JobLease
    with Session(engine) as session:
        session.add(JobLease(name=LEASE, holder=by, taken_at=now))
        try:
            session.commit()
            return True
        except IntegrityError:
            session.rollback()
        free = and_(lease.finished_at.is_not(None), lease.taken_at <= now - min_gap)  # type: ignore[union-attr,operator]
        abandoned = and_(lease.finished_at.is_(None),  # type: ignore[union-attr]
                         func.coalesce(lease.heartbeat_at, lease.taken_at) < now - stale_after)
        taken = session.execute(update(lease).where(lease.name == LEASE, or_(free, abandoned)).values(  # type: ignore[arg-type]
            holder=by, taken_at=now, heartbeat_at=None, finished_at=None, error=None, runs=lease.runs + 1))
        session.commit()
        return taken.rowcount == 1  # type: ignore[attr-defined]


def renew_lease(engine: Engine, by: str, now: datetime) -> bool:
    with engine.begin() as conn:
        return conn.execute(update(JobLease).where(
            JobLease.name == LEASE, JobLease.holder == by, JobLease.finished_at.is_(None))  # type: ignore[arg-type,union-attr]
            .values(heartbeat_at=now)).rowcount == 1


def release_lease(engine: Engine, by: str, now: datetime, error: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(update(JobLease).where(JobLease.name == LEASE, JobLease.holder == by)  # type: ignore[arg-type]
                     .values(finished_at=now, error=error[:500] if error else None))


class _Heartbeat:
    """Renews the lease at most once a HEARTBEAT_S and stops a sync between pages when the process stops."""

    def __init__(self, ctx: RefreshContext) -> None:
        self.ctx, self.last = ctx, time.monotonic()

    def progress(self, _resource: str, _pages: int, _records: int) -> None:
        if self.ctx.stopping.is_set():
            raise Stopping
        if time.monotonic() - self.last >= HEARTBEAT_S:
            self.renew()

    def renew(self) -> None:
        self.last = time.monotonic()
        if not renew_lease(self.ctx.services.engine, self.ctx.instance, self.ctx.clock()):
            log.warning("the refresh lease of %s was taken over (this run was thought dead)", self.ctx.instance)

"""The scheduled shop refresh, on SQLite and PostgreSQL: snapshots scored as /mykpi scores (figures worked out
by hand), one failing shop isolated and its admins told once, the refresh lease across replicas, and the
in-memory scheduler job (first run due from the lease after a restart, missed runs made up once, never
overlapping, exactly once across replicas, stopped at shutdown)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.card_cache import CardCache
from bot.jobs import refresh
from bot.jobs.refresh import RefreshContext, RefreshResult, run_refresh, take_lease
from bot.scheduler import REFRESH_JOB, start_scheduler, stop_scheduler
from bot.shop_sources import NoSource
from cards.chart_cache import ChartCache
from cards.model import Card, Text, Tone
from scoring.alerts import AlertRules
from scoring.rules import Rules
from services.container import Services
from storage.identity import bind_identity
from storage.ingest.records import (
    FailureKind,
    OrderRecord,
    OrderStatus,
    Page,
    RefundKind,
    RefundRecord,
    RefundStatus,
    Source,
    SourceError,
)
from storage.ingest.sync import WRITE_PAGES, sync_shop
from storage.models import (
    JobLease,
    KpiTemplate,
    KpiTemplateMetric,
    Member,
    Order,
    Organisation,
    ScoreSnapshot,
    Shop,
    Target,
    Team,
)
from tests.fakes.memory_source import MemorySource
from tests.recording_messenger import Recorder

pytestmark = pytest.mark.wallclock   # reads the system clock: scripts/test-dates.sh moves it

# 00:00 on 16 November in Shanghai: half of op1's month (in Shanghai) has passed
NOW = datetime(2026, 11, 15, 16, 0, tzinfo=UTC)
EVERY = timedelta(minutes=30)


def utc(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def order(pid: str, merchandise: str, paid: datetime, *, cancelled: datetime | None = None,
          refund: str | None = None) -> OrderRecord:
    amount = D(merchandise)
    refunds = (RefundRecord(f"{pid}-R", RefundKind.REFUND, RefundStatus.COMPLETED, "USD", D(refund), utc(12),
                            utc(12)),) if refund else ()
    return OrderRecord(pid, OrderStatus.CANCELLED if cancelled else OrderStatus.PAID, "USD", amount, D(0), amount,
                       D(0), D(0), amount, created_at=paid, updated_at=cancelled or paid, paid_at=paid,
                       cancelled_at=cancelled, refunds=refunds)


@dataclass
class World:
    services: Services
    sources: dict[str, Source]
    ids: dict[str, int]
    feishu: Recorder = field(default_factory=lambda: Recorder("feishu"))
    dingtalk: Recorder = field(default_factory=lambda: Recorder("dingtalk"))

    def source_for(self, shop: Shop) -> Source:
        if shop.code not in self.sources:
            raise NoSource(f"shop {shop.code}: no [platforms.{shop.platform}] credentials in the configuration; "
                           "skipped")
        return self.sources[shop.code]

    def context(self, instance: str = "replica-1", cache: CardCache | None = None,
                clock: Callable[[], datetime] = lambda: NOW, interval: timedelta = EVERY) -> RefreshContext:
        return RefreshContext(services=self.services, source_for=self.source_for,
                              messengers={"feishu": self.feishu, "dingtalk": self.dingtalk}, clock=clock,
                              instance=instance, interval=interval, cache=cache)


def build_world(engine: Engine) -> World:
    """Team live (Shanghai) sells in shop us1, team other (UTC) in uk1; operators op1 and op2 are measured on
    their team's orders with one template: net GMV 50 %, orders 30 %, refund rate 20 % (no target: left out).
    op1's November targets: net GMV 600.00 USD, 8 orders. Three admins, two of them bound."""
    with Session(engine) as s:
        org = Organisation(code="o", name="Org")
        s.add(org)
        s.flush()
        live = Team(org_id=org.id, code="live", name="Live", timezone="Asia/Shanghai", locale="en")
        other = Team(org_id=org.id, code="other", name="Other", timezone="UTC", locale="en")
        s.add_all([live, other])
        s.flush()
        s.add_all([Shop(org_id=org.id, team_id=live.id, code="us1", name="TikTok US", platform="tiktok_shop",
                        region="US", currency="USD", timezone="America/Los_Angeles"),
                   Shop(org_id=org.id, team_id=other.id, code="uk1", name="TikTok UK", platform="tiktok_shop",
                        region="GB", currency="USD", timezone="Europe/London"),
                   Shop(org_id=org.id, team_id=None, code="amz1", name="Amazon", platform="amazon", region="US",
                        currency="USD", timezone="America/New_York")])
        people = [Member(org_id=org.id, team_id=live.id, code="op1", name="Op One", role="operator",
                         timezone="Asia/Shanghai", locale="en"),
                  Member(org_id=org.id, team_id=other.id, code="op2", name="Op Two", role="operator",
                         timezone="UTC", locale="en"),
                  Member(org_id=org.id, code="admin1", name="Ada", role="admin", timezone="UTC", locale="en"),
                  Member(org_id=org.id, code="admin2", name="Bai", role="admin", timezone="Asia/Shanghai",
                         locale="zh-CN"),
                  Member(org_id=org.id, code="admin3", name="Cal", role="admin", timezone="UTC", locale="en")]
        s.add_all(people)
        s.flush()
        bind_identity(s, people[2], "feishu", "ou_admin1")
        bind_identity(s, people[3], "dingtalk", "0042")
        template = KpiTemplate(org_id=org.id, name="operator-basic", role="operator")
        s.add(template)
        s.flush()
        s.add_all([KpiTemplateMetric(template_id=template.id, metric_key=key, weight=D(weight), position=i)
                   for i, (key, weight) in enumerate((("net_gmv", 50), ("orders", 30), ("refund_rate", 20)))])
        op1 = people[0]
        s.add_all([Target(org_id=org.id, scope="member", subject=f"member:{op1.id}", member_id=op1.id,
                          period="2026-11", metric_key=key, value=D(value))
                   for key, value in (("net_gmv", "600"), ("orders", "8"))])
        s.commit()
        ids = {x.code: x.id or 0 for x in s.execute(select(Shop)).scalars()}
        ids |= {m.code: m.id or 0 for m in s.execute(select(Member)).scalars()}
    services = Services(engine, Rules(), "Asia/Shanghai", "en", ChartCache(), AlertRules(enabled=False))
    us1 = MemorySource({"orders": [
        order("A1", "100.00", utc(3, 2)),
        order("A2", "50.00", utc(10), refund="10.00"),
        order("A3", "30.00", utc(10), cancelled=utc(11)),
    ]})
    return World(services, {"us1": us1, "uk1": MemorySource({"orders": []})}, ids)


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def snapshots(engine: Engine) -> list[tuple[Any, ...]]:
    with Session(engine) as s:
        return [(x.member_id, x.period, x.as_of_day, x.template_name, x.score, x.grade, x.binding)
                for x in s.execute(select(ScoreSnapshot).order_by(ScoreSnapshot.id)).scalars()]


# --- one run ---------------------------------------------------------------------------------------------------------

def test_a_refresh_syncs_attributes_and_snapshots_the_scores_of_the_teams_that_changed(world: World) -> None:
    cache = CardCache()
    cache.put(cache.key("mykpi", (), 1, "en", NOW), Card("stale"))
    result = run_refresh(world.context(cache=cache), NOW)
    assert result.ran
    assert {code: r.ok for code, r in result.reports.items()} == {"uk1": True, "us1": True}
    assert result.skipped == {"amz1": "shop amz1: no [platforms.amazon] credentials in the configuration; skipped"}
    assert result.changed == [world.ids["us1"]]
    assert result.attribution is not None and result.attribution.orders == 3
    # op1, measured on us1's orders in November (Shanghai): A1 100.00 + A2 50.00 - 10.00 refunded = 140.00 net GMV
    # in 2 orders (A3 was cancelled). Half the month has passed, so the pace targets are 300.00 and 4:
    # net GMV 140 / 300 = 0.4667, orders 2 / 4 = 0.5; refund rate has no target and is left out:
    # score = (50 x 0.46667 + 30 x 0.5) / 80 x 100 = 38.3333 / 80 x 100 = 47.9 -> grade D.
    # op2's team sold nothing new: no snapshot for op2.
    assert result.snapshots == 1
    assert snapshots(world.services.engine) == [
        (world.ids["op1"], "2026-11", date(2026, 11, 16), "operator-basic", D("47.9"), "D", True)]
    with Session(world.services.engine) as s:
        details = s.execute(select(ScoreSnapshot.details)).scalar_one()
    # the refund rate reads orders counted 14 days before now or earlier: none yet (A1 was paid 12.6 days ago)
    assert [(m["key"], m["actual"], m["target"]) for m in details["metrics"]] == [
        ("net_gmv", "140.00", "600"), ("orders", "2", "8"), ("refund_rate", None, None)]
    assert cache.get(cache.key("mykpi", (), 1, "en", NOW)) is None      # cleared: /mykpi shows the new numbers

    # half an hour later a new order arrives (20.00, paid on the 15th): the same day's snapshot is updated in place
    later = NOW + EVERY
    us1 = world.sources["us1"]
    assert isinstance(us1, MemorySource)
    us1.data["orders"].append(order("A4", "20.00", utc(15, 10)))
    second = run_refresh(world.context(), later)
    assert (second.ran, second.changed, second.snapshots) == (True, [world.ids["us1"]], 1)
    rows = snapshots(world.services.engine)
    assert len(rows) == 1 and rows[0][2] == date(2026, 11, 16)
    # elapsed = (15 days + 30 min) / 30 days = 0.500694; net GMV 160 / (600 x 0.500694) = 0.532594,
    # orders 3 / (8 x 0.500694) = 0.748960; score = (50 x 0.532594 + 30 x 0.748960) / 80 x 100
    # = (26.6297 + 22.4688) / 80 x 100 = 61.37 -> 61.4
    assert rows[0][4:6] == (D("61.4"), "D")
    third = run_refresh(world.context(), later + EVERY)                  # nothing new: nothing rescored
    assert (third.ran, third.changed, third.snapshots, third.attribution) == (True, [], 0, None)


def test_one_failing_shop_never_stops_the_others_and_admins_are_told_once(world: World) -> None:
    world.sources["us1"] = MemorySource({"orders": []},
                                        down=SourceError(FailureKind.AUTH, "the seller revoked the authorization"))
    uk1 = world.sources["uk1"]
    assert isinstance(uk1, MemorySource)
    for run in range(1, 5):
        uk1.data["orders"].append(order(f"B{run}", "10.00", utc(run)))
        result = run_refresh(world.context(), NOW + run * EVERY)
        assert result.ran
        assert not result.reports["us1"].ok and result.reports["us1"].consecutive_failures == run
        assert result.reports["uk1"].ok and result.changed == [world.ids["uk1"]]    # uk1 keeps syncing
        assert result.told == (["admin1", "admin2"] if run == 3 else [])
    with Session(world.services.engine) as s:
        assert s.execute(select(Order.platform_order_id).join(Shop).where(Shop.code == "uk1")
                         .order_by(Order.platform_order_id)).scalars().all() == ["B1", "B2", "B3", "B4"]
    # once each, across four failing runs, in each admin's language; admin3 is bound nowhere
    assert world.feishu.sent == [("ou_admin1", Card("Shop sync failing: TikTok US", (Text(
        "TikTok US (us1) has failed to sync 3 times in a row, so its numbers are out of date. Last error: orders: "
        "the authorization was refused (revoked or expired). Check its API tokens and the platform's status "
        "(kpibot shops list). The bot keeps retrying; you are told once until it recovers."),), Tone.BAD, "en"))]
    assert world.dingtalk.sent == [("0042", Card("店铺同步失败：TikTok US", (Text(
        "店铺 TikTok US (us1) 已连续 3 次同步失败，数据未更新。最近错误：订单：授权被拒绝（已撤销或过期）。"
        "请检查该店铺的 API 授权和平台状态（kpibot shops list）。"
        "系统会继续重试；恢复前只提醒这一次。"),),
        Tone.BAD, "zh"))]


def test_a_notice_no_platform_took_is_retried_and_a_streak_a_cli_sync_started_is_told(world: World) -> None:
    """Per admin and unhealthy streak: refused notices are retried, a streak `kpibot sync` started is told by
    the next refresh, and an admin who binds a platform later is told then; each once."""
    down = SourceError(FailureKind.AUTH, "the seller revoked the authorization")
    world.sources["us1"] = MemorySource({"orders": []}, down=down)
    world.feishu.accept = world.dingtalk.accept = False      # both platforms refuse at the third failure
    told = []
    for run in range(1, 6):
        if run == 4:
            world.feishu.accept = world.dingtalk.accept = True
        told.append(run_refresh(world.context(), NOW + run * EVERY).told)
    assert told == [[], [], [], ["admin1", "admin2"], []]    # retried by the fourth run, then once only
    assert [user for user, _ in world.feishu.sent + world.dingtalk.sent] == ["ou_admin1", "0042"]

    # `kpibot sync` (sync_shop without the refresh) fails uk1 three times: it marks uk1 unhealthy but tells
    # nobody; the next refresh, uk1 still failing, tells the admins, once
    uk1 = world.ids["uk1"]
    for run in range(1, 4):
        report = sync_shop(world.services.engine, uk1, MemorySource({"orders": []}, down=down), None, NOW + run * EVERY)
        assert (report.consecutive_failures, report.notify) == (run, run == 3)
    world.sources["uk1"] = MemorySource({"orders": []}, down=down)
    world.feishu.sent.clear()
    assert run_refresh(world.context(), NOW + 6 * EVERY).told == ["admin1", "admin2"]
    assert [card.title for _, card in world.feishu.sent] == ["Shop sync failing: TikTok UK"]
    assert run_refresh(world.context(), NOW + 7 * EVERY).told == []
    # admin3, bound on no platform so far, binds Feishu: told of both streaks at the next run, once
    with Session(world.services.engine) as s:
        admin3 = s.execute(select(Member).where(Member.code == "admin3")).scalar_one()
        bind_identity(s, admin3, "feishu", "ou_admin3")
        s.commit()
    world.feishu.sent.clear()
    assert run_refresh(world.context(), NOW + 8 * EVERY).told == ["admin3", "admin3"]
    assert sorted(card.title for _, card in world.feishu.sent) == ["Shop sync failing: TikTok UK",
                                                                   "Shop sync failing: TikTok US"]
    assert run_refresh(world.context(), NOW + 9 * EVERY).told == []


def test_a_source_that_breaks_unexpectedly_is_isolated(world: World) -> None:
    class Broken:
        resources = ("orders",)

        def pages(self, resource: str, since: datetime | None, until: datetime,
                  resume: str | None = None) -> Iterator[Page]:
            raise RuntimeError("https://api.example/?access_token=SECRET")

        def close(self) -> None:
            raise OSError("already closed")

    world.sources["us1"] = Broken()
    result = run_refresh(world.context(), NOW)
    raised_at = Broken.pages.__code__.co_firstlineno + 2   # the `raise` line
    us1 = result.reports["us1"]
    assert (us1.ok, us1.resources[0].error) == (False, f"unexpected RuntimeError at test_refresh_job.py:{raised_at}")
    assert result.reports["uk1"].ok


# --- the lease: one refresh at a time across replicas ----------------------------------------------------------

def test_a_second_replica_does_not_run_the_same_refresh(world: World) -> None:
    first = run_refresh(world.context("replica-1"), NOW)
    assert first.ran and first.changed
    # the other replica fires the same slot a moment later: the run is done, it is not repeated
    assert not run_refresh(world.context("replica-2"), NOW + timedelta(seconds=20)).ran
    assert not run_refresh(world.context("replica-2"), NOW + timedelta(minutes=14)).ran
    # the next slot: whichever replica fires first runs it
    assert run_refresh(world.context("replica-2"), NOW + EVERY).ran
    assert not run_refresh(world.context("replica-1"), NOW + EVERY).ran


def test_replicas_never_refresh_at_the_same_time(world: World) -> None:
    entered, release = threading.Event(), threading.Event()
    us1 = world.sources["us1"]

    class Slow:
        resources = ("orders",)

        def pages(self, resource: str, since: datetime | None, until: datetime,
                  resume: str | None = None) -> Iterator[Page]:
            entered.set()
            assert release.wait(10)
            yield from us1.pages(resource, since, until, resume)

        def close(self) -> None:
            pass

    world.sources["us1"] = Slow()
    every = timedelta(minutes=10)          # the next slot comes before a silent holder counts as dead (15 min)
    results: list[RefreshResult] = []
    one = threading.Thread(target=lambda: results.append(run_refresh(world.context("replica-1", interval=every),
                                                                     NOW)))
    one.start()
    assert entered.wait(10)
    # replica-2 fires the next slot while replica-1 is still busy with it: it stays out
    assert not run_refresh(world.context("replica-2", interval=every), NOW + every).ran
    release.set()
    one.join(10)
    assert results[0].ran and results[0].changed == [world.ids["us1"]]
    assert run_refresh(world.context("replica-2", interval=every), NOW + every).ran


def test_a_lease_whose_holder_died_is_taken_over(world: World) -> None:
    engine = world.services.engine
    assert take_lease(engine, "dead-replica", NOW, EVERY / 2)         # it never renews nor releases
    assert not run_refresh(world.context("replica-2"), NOW + timedelta(minutes=14)).ran
    assert run_refresh(world.context("replica-2"), NOW + timedelta(minutes=16)).ran
    with Session(engine) as s:
        lease = s.execute(select(JobLease)).scalars().one()
    assert (lease.name, lease.holder, lease.taken_at, lease.runs, lease.error) == \
        ("refresh", "replica-2", NOW + timedelta(minutes=16), 2, None)
    assert (lease.heartbeat_at, lease.finished_at) == (NOW, NOW)   # the world's clock stands at NOW


# --- the scheduler's in-memory job ------------------------------------------------------------------------------

@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """Every call of the refresh the scheduler makes (the refresh itself is replaced by a recorder)."""
    calls: list[datetime] = []

    def record(ctx: RefreshContext, now: datetime) -> RefreshResult:
        calls.append(now)
        return RefreshResult(ran=True)

    monkeypatch.setattr(refresh, "run_refresh", record)
    return calls


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def start(world: World, every: timedelta = EVERY, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Any:
    return start_scheduler(world.services, {}, clock, refresh_every=every, source_for=world.source_for)


def last_run(engine: Engine, taken_at: datetime) -> None:
    """The lease as a finished run of another replica left it."""
    with Session(engine) as s:
        s.add(JobLease(name="refresh", holder="replica-0", taken_at=taken_at, finished_at=taken_at))
        s.commit()


def test_the_refresh_is_an_in_memory_job_over_the_process_services(world: World, runs: list[datetime]) -> None:
    scheduler = start(world)
    try:
        wait_for(lambda: len(runs) == 1)                  # nothing ran before: at once
        job = scheduler.get_job(REFRESH_JOB)
        ctx = job.func.__self__
        assert (type(ctx), ctx.services, ctx.interval, job.func.__name__) == (RefreshContext, world.services, EVERY,
                                                                         "scheduled")
        assert (job.trigger.interval, job.coalesce, job.max_instances, job.misfire_grace_time) == (EVERY, True, 1,
                                                                                                   None)
        assert timedelta(minutes=29) < job.next_run_time - runs[0] <= EVERY
        assert sorted(j.id for j in scheduler.get_jobs()) == ["appeals", "digests", "lag-alerts", "prune",
                                                              "shop-refresh"]
        assert [type(store).__name__ for store in scheduler._jobstores.values()] == ["MemoryJobStore"]
    finally:
        stop_scheduler(scheduler)
    assert not inspect(world.services.engine).has_table("apscheduler_jobs")   # nothing of the scheduler in the store


def test_a_restart_first_refreshes_an_interval_after_the_last_run_in_the_lease(world: World,
                                                                               runs: list[datetime]) -> None:
    last_run(world.services.engine, NOW - timedelta(minutes=10))
    before = datetime.now(UTC)
    scheduler = start(world, clock=lambda: NOW)
    after = datetime.now(UTC)
    try:
        upcoming = scheduler.get_job(REFRESH_JOB).next_run_time
        assert before + timedelta(minutes=20) <= upcoming <= after + timedelta(minutes=20)
        assert runs == []
    finally:
        stop_scheduler(scheduler)


def test_runs_missed_while_down_are_made_up_once(world: World, runs: list[datetime]) -> None:
    last_run(world.services.engine, NOW - timedelta(hours=3))      # down for three hours: six runs were missed
    scheduler = start(world, clock=lambda: NOW)
    try:
        wait_for(lambda: len(runs) == 1)
        assert scheduler.get_job(REFRESH_JOB).next_run_time > datetime.now(UTC) + timedelta(minutes=29)
        time.sleep(0.3)
        assert runs == [NOW]
    finally:
        stop_scheduler(scheduler)


def test_the_first_run_is_due_from_the_lease_and_never_later_than_an_interval(engine: Engine) -> None:
    start_at = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)       # the scheduler's time; the refresh clock's is NOW
    assert refresh.first_run_at(engine, EVERY, start_at, NOW) == start_at                      # never ran
    last_run(engine, NOW - timedelta(minutes=10))
    assert refresh.first_run_at(engine, EVERY, start_at, NOW) == start_at + timedelta(minutes=20)
    assert refresh.first_run_at(engine, timedelta(hours=1), start_at, NOW) == start_at + timedelta(minutes=50)
    assert refresh.first_run_at(engine, EVERY, start_at, NOW + timedelta(minutes=45)) == start_at   # overdue
    # a clock that went back (or a lease written by a clock pinned ahead): at most an interval from now
    assert refresh.first_run_at(engine, EVERY, start_at, NOW - timedelta(days=1)) == start_at + EVERY


def test_replicas_started_together_refresh_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, bool]] = []
    real = refresh.run_refresh

    def recorded(ctx: RefreshContext, now: datetime) -> RefreshResult:
        result = real(ctx, now)
        ran.append((ctx.instance, result.ran))
        return result

    monkeypatch.setattr(refresh, "run_refresh", recorded)
    replicas = [start(world, clock=lambda: NOW) for _ in range(2)]
    try:
        wait_for(lambda: any(ok for _, ok in ran), 30)   # the first fires at once; the second at once too, or,
        for scheduler in replicas:                       # when the first's run was in the lease already, half
            scheduler.get_job(REFRESH_JOB).func()        # an hour later: both fire that slot again now
    finally:
        for scheduler in replicas:
            stop_scheduler(scheduler)
    assert len(ran) in (3, 4) and sorted(ok for _, ok in ran) == [False] * (len(ran) - 1) + [True]
    with Session(world.services.engine) as s:
        lease = s.execute(select(JobLease)).scalars().one()
    assert (lease.holder, lease.runs, lease.taken_at, lease.error) == (
        next(who for who, ok in ran if ok), 1, NOW, None)
    assert snapshots(world.services.engine) == [
        (world.ids["op1"], "2026-11", date(2026, 11, 16), "operator-basic", D("47.9"), "D", True)]


def test_stopping_the_scheduler_stops_a_refresh_in_progress(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    running, told = threading.Event(), []

    def waits_for_the_stop(ctx: RefreshContext, now: datetime) -> RefreshResult:
        running.set()
        told.append(ctx.stopping.wait(10))
        return RefreshResult(ran=True)

    monkeypatch.setattr(refresh, "run_refresh", waits_for_the_stop)
    scheduler = start(world)
    assert running.wait(10)
    stop_scheduler(scheduler)          # waits for the run, which ends as soon as it is told
    assert told == [True]


def test_a_run_never_overlaps_itself(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    active, most, done = [0], [0], []
    lock = threading.Lock()

    def slow(ctx: RefreshContext, now: datetime) -> RefreshResult:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(1.6)
        with lock:
            active[0] -= 1
            done.append(now)
        return RefreshResult(ran=True)

    monkeypatch.setattr(refresh, "run_refresh", slow)
    scheduler = start(world, timedelta(seconds=1))     # due every second, each run takes 1.6 s
    try:
        wait_for(lambda: len(done) >= 2, 15)
    finally:
        stop_scheduler(scheduler)
    assert most[0] == 1


def test_a_refresh_stops_between_pages_at_shutdown_and_the_next_run_resumes(world: World) -> None:
    ctx = world.context()
    backlog = MemorySource({"orders": [order(f"C{i:02d}", "1.00", utc(2) + timedelta(minutes=i))
                                       for i in range(WRITE_PAGES + 5)]}, page_size=1)

    class ShutdownDuringFirstPage:
        resources = ("orders",)

        def pages(self, resource: str, since: datetime | None, until: datetime,
                  resume: str | None = None) -> Iterator[Page]:
            for page in backlog.pages(resource, since, until, resume):
                ctx.stopping.set()        # SIGTERM arrives while the first page is being fetched
                yield page

        def close(self) -> None:
            pass

    world.sources["us1"] = ShutdownDuringFirstPage()
    stopped = run_refresh(ctx, NOW)
    assert stopped.ran and "us1" not in stopped.reports and stopped.snapshots == 0
    with Session(world.services.engine) as s:
        # the first transaction's pages stay (this source fetches nothing ahead, so the sync commits every
        # WRITE_PAGES pages, before asking for the next); then it stopped
        assert s.execute(select(func.count()).select_from(Order)).scalar_one() == WRITE_PAGES
        lease = s.execute(select(JobLease)).scalars().one()
        assert (lease.holder, lease.error, lease.finished_at is None) == (ctx.instance, "stopped by a shutdown", False)
    world.sources["us1"] = backlog
    resumed = run_refresh(world.context(), NOW + EVERY)
    assert resumed.reports["us1"].resources[0].resumed and resumed.reports["us1"].counts.inserted == 5
    with Session(world.services.engine) as s:
        assert s.execute(select(func.count()).select_from(Order)).scalar_one() == WRITE_PAGES + 5


def test_the_admins_read_why_a_shop_fails_in_their_language_never_the_platforms_words() -> None:
    from storage.ingest.sync import ResourceReport, SyncReport

    report = SyncReport(7, resources=[
        ResourceReport("orders"),
        ResourceReport("returns", error="returns: server error 502 at https://x/?sign=abc", error_kind="server"),
        ResourceReport("lives", error="unexpected KeyError at tiktok_shop.py:123", error_kind="unexpected"),
        ResourceReport("videos", error="videos: refused", error_kind="request")])
    assert refresh.failure_text(report, "en") == (
        "returns: the platform did not answer properly (server errors or timeouts); live sessions: an internal "
        "error (details in the bot's log); videos: the platform refused the request")
    assert refresh.failure_text(report, "zh") == \
        "退货退款：平台无响应或服务器出错（超时）；直播场次：内部错误（详见机器人日志）；videos：平台拒绝了请求"
    broke = SyncReport(7, error="unexpected OSError at sync.py:9")
    assert refresh.failure_text(broke, "zh") == "内部错误（详见机器人日志）"

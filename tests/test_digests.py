"""Daily digests: when they are due (daylight saving, three zones), exactly once with two schedulers and
across restarts, retried after a failure, the Monday weekly report, finance figures only where allowed, and
delivery through the real adapters to the fake Feishu and the fake DingTalk."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.jobs import digests as digests_job
from bot.jobs.digests import DRAW_APART_FROM, run_due_digests
from bot.platforms.feishu import FeishuAdapter
from cards import chart_cache
from cards.chart_cache import ChartCache
from cards.chart_worker import draw_chart
from cards.model import Buttons, Card, Fields, Image, Note, Table, Tone
from scoring.rules import Rules
from scoring.sendtime import due_day, send_moment
from services.container import Services
from services.digests import build_digest
from storage.models import DigestSubscription, ScheduledSend, Team
from storage.queries import find_team
from storage.schedule import STALE_AFTER, claim_send, send_key
from tests.conftest import connected_dingtalk, connected_feishu, seeded_demo
from tests.fakes.feishu import FakeFeishu

pytestmark = pytest.mark.wallclock   # reads the system clock: scripts/test-dates.sh moves it

LA, SHANGHAI, JAKARTA = "America/Los_Angeles", "Asia/Shanghai", "Asia/Jakarta"


def utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


def test_send_moments_follow_daylight_saving_in_los_angeles() -> None:
    nine = time(9, 0)
    assert send_moment(date(2026, 3, 7), nine, LA) == utc("2026-03-07T17:00")    # PST, UTC-8
    assert send_moment(date(2026, 3, 8), nine, LA) == utc("2026-03-08T16:00")    # PDT from 02:00 that day
    assert send_moment(date(2026, 10, 31), nine, LA) == utc("2026-10-31T16:00")
    assert send_moment(date(2026, 11, 1), nine, LA) == utc("2026-11-01T17:00")   # PST again
    assert send_moment(date(2026, 3, 8), time(2, 30), LA) == utc("2026-03-08T10:30")   # skipped: 03:30 PDT
    assert send_moment(date(2026, 11, 1), time(1, 30), LA) == utc("2026-11-01T08:30")  # repeated: the first
    assert due_day(utc("2026-03-08T15:59"), nine, LA) is None
    assert due_day(utc("2026-03-08T16:00"), nine, LA) == date(2026, 3, 8)
    assert due_day(utc("2026-03-09T06:59"), nine, LA) == date(2026, 3, 8)        # 23:59 local: still due
    assert due_day(utc("2026-03-09T07:00"), nine, LA) is None                    # the next local day, too early
    assert due_day(utc("2026-11-23T00:59"), nine, SHANGHAI) is None
    assert due_day(utc("2026-11-23T01:00"), nine, SHANGHAI) == date(2026, 11, 23)
    assert due_day(utc("2026-11-23T01:59"), nine, JAKARTA) is None
    assert due_day(utc("2026-11-23T02:00"), nine, JAKARTA) == date(2026, 11, 23)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = seeded_demo(tmp_path_factory.mktemp("digests") / "kpibot.db")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def services(store: Engine) -> Services:
    return Services(store, Rules(), SHANGHAI, "en", ChartCache())


@pytest.fixture(scope="module")
def feishu(store: Engine, services: Services) -> Iterator[tuple[FakeFeishu, FeishuAdapter]]:
    with connected_feishu(store, services) as connected:
        yield connected


@pytest.fixture(autouse=True)
def no_subscriptions(store: Engine) -> None:
    with store.begin() as c:
        c.execute(text("DELETE FROM scheduled_send"))
        c.execute(text("DELETE FROM digest_subscription"))


def subscribe(store: Engine, team: str, chat: str, at: str, tz: str, platform: str = "feishu",
              finance: bool = False, weekly: bool = True, locale: str = "en") -> int:
    with Session(store) as session:
        found = find_team(session, team)
        assert found is not None
        sub = DigestSubscription(team_id=found.id or 0, platform=platform, chat_id=chat, send_time=at, timezone=tz,
                                 locale=locale, finance=finance, weekly=weekly)
        session.add(sub)
        session.commit()
        return sub.id or 0


def sent_to(fake: FakeFeishu, chat: str) -> list[dict]:
    return [m for m in fake.messages if m.get("chat_id") == chat and m.get("kind") == "create"]


def title_of(message: dict) -> str:
    return str(message["content"]["header"]["title"]["content"])


def test_shanghai_and_jakarta_teams_get_their_digest_at_their_own_nine(
        services: Services, feishu: tuple[FakeFeishu, FeishuAdapter], store: Engine) -> None:
    fake, adapter = feishu
    subscribe(store, "live-us", "oc_sh", "09:00", SHANGHAI)
    subscribe(store, "shopee-id", "oc_jkt", "09:00", JAKARTA, locale="zh")
    messengers = {"feishu": adapter}
    assert run_due_digests(services, messengers, utc("2026-11-22T00:59"), "a") == []
    assert [s.kind for s in run_due_digests(services, messengers, utc("2026-11-22T01:00"), "a")] == ["digest"]
    assert len(sent_to(fake, "oc_sh")) == 1 and sent_to(fake, "oc_jkt") == []
    assert run_due_digests(services, messengers, utc("2026-11-22T01:30"), "a") == []
    run_due_digests(services, messengers, utc("2026-11-22T02:00"), "a")
    assert len(sent_to(fake, "oc_jkt")) == 1 and len(sent_to(fake, "oc_sh")) == 1
    assert title_of(sent_to(fake, "oc_sh")[0]) == "直播一组 Live US/UK · daily digest 2026-11-21"   # LA's day
    assert title_of(sent_to(fake, "oc_jkt")[0]) == "Shopee 印尼组 · 日报 2026-11-22"
    # the digest chart goes as Feishu's native charts: the team line, then the member bars; no PNG uploaded
    elements = sent_to(fake, "oc_jkt")[0]["content"]["body"]["elements"]
    charts = [e["chart_spec"]["type"] for e in elements if e["tag"] == "chart"]
    assert charts == ["line", "bar"] and not [e for e in elements if e["tag"] == "img"]
    assert [c.path for c in fake.calls if c.path == "/open-apis/im/v1/images"] == []


def test_the_digest_follows_daylight_saving_in_los_angeles(
        services: Services, feishu: tuple[FakeFeishu, FeishuAdapter], store: Engine) -> None:
    fake, adapter = feishu
    subscribe(store, "live-us", "oc_la", "09:00", LA)
    messengers = {"feishu": adapter}
    assert run_due_digests(services, messengers, utc("2026-11-01T16:30"), "a") == []      # 08:30 PST
    assert len(run_due_digests(services, messengers, utc("2026-11-01T17:00"), "a")) == 1   # 09:00 PST
    assert run_due_digests(services, messengers, utc("2026-10-31T16:00"), "a")[0].day == date(2026, 10, 31)  # PDT
    assert len(sent_to(fake, "oc_la")) == 2


def test_exactly_once_with_two_schedulers_and_after_a_restart(
        services: Services, feishu: tuple[FakeFeishu, FeishuAdapter], store: Engine) -> None:
    fake, adapter = feishu
    subscribe(store, "shopee-id", "oc_twice", "09:00", JAKARTA, weekly=False)
    now = utc("2026-11-22T02:05")
    barrier = threading.Barrier(2)
    results: dict[str, list] = {}

    def scheduler(name: str) -> None:
        barrier.wait()
        results[name] = run_due_digests(services, {"feishu": adapter}, now, name)

    threads = [threading.Thread(target=scheduler, args=(n,)) for n in ("replica-1", "replica-2")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert sorted(len(r) for r in results.values()) == [0, 1]
    assert len(sent_to(fake, "oc_twice")) == 1
    assert run_due_digests(services, {"feishu": adapter}, utc("2026-11-22T09:00"), "after-restart") == []
    assert len(sent_to(fake, "oc_twice")) == 1


def test_a_digest_missed_while_down_goes_out_on_recovery_the_same_day_only(
        services: Services, feishu: tuple[FakeFeishu, FeishuAdapter], store: Engine) -> None:
    fake, adapter = feishu
    subscribe(store, "shopee-id", "oc_down", "09:00", JAKARTA, weekly=False)
    # down from 08:00 to 23:30 Jakarta time on the 20th: it goes out at 23:30, once
    assert [s.day for s in run_due_digests(services, {"feishu": adapter}, utc("2026-11-20T16:30"), "a")] == \
        [date(2026, 11, 20)]
    # down all of the 21st, back at 08:00 on the 22nd: nothing for the 21st, and the 22nd's waits for 09:00
    assert run_due_digests(services, {"feishu": adapter}, utc("2026-11-22T01:00"), "a") == []
    assert [s.day for s in run_due_digests(services, {"feishu": adapter}, utc("2026-11-22T02:00"), "a")] == \
        [date(2026, 11, 22)]
    with Session(store) as session:
        days = sorted(r.local_day for r in session.execute(select(ScheduledSend)).scalars())
    assert days == [date(2026, 11, 20), date(2026, 11, 22)]
    assert len(sent_to(fake, "oc_down")) == 2


def test_a_failed_send_is_retried_by_the_next_tick(
        services: Services, feishu: tuple[FakeFeishu, FeishuAdapter], store: Engine) -> None:
    fake, adapter = feishu
    subscribe(store, "shopee-id", "oc_retry", "09:00", JAKARTA, weekly=False)
    fake.fail_next(adapter.attempts, path_contains="/im/v1/messages")     # every try of this tick fails
    first = run_due_digests(services, {"feishu": adapter}, utc("2026-11-22T02:00"), "a")
    assert [s.ok for s in first] == [False] and sent_to(fake, "oc_retry") == []
    with Session(store) as session:
        row = session.execute(select(ScheduledSend)).scalar_one()
        assert (row.status, row.attempts) == ("failed", 1)
    second = run_due_digests(services, {"feishu": adapter}, utc("2026-11-22T02:01"), "a")
    assert [s.ok for s in second] == [True] and len(sent_to(fake, "oc_retry")) == 1
    with Session(store) as session:
        row = session.execute(select(ScheduledSend)).scalar_one()
        assert (row.status, row.attempts) == ("sent", 2)


def _crashed_mid_send(store: Engine, sub: int, day: date, at: datetime) -> str:
    """What a replica killed mid-send leaves: its claim stuck in "sending" (the platform got the message or not)."""
    assert claim_send(store, "digest", f"subscription:{sub}", day, "crashed", at)
    return send_key("digest", f"subscription:{sub}", day)


def test_a_digest_taken_over_after_a_crash_is_not_doubled_on_feishu(
        services: Services, feishu: tuple[FakeFeishu, FeishuAdapter], store: Engine) -> None:
    fake, adapter = feishu
    sub = subscribe(store, "shopee-id", "oc_crash", "09:00", JAKARTA, weekly=False)
    at, day = utc("2026-11-22T02:00"), date(2026, 11, 22)
    key = _crashed_mid_send(store, sub, day, at)
    first = Card("sent before the crash", (Note("x"),), Tone.NEUTRAL, "en")
    assert adapter.send_to_chat("oc_crash", first, key)             # Feishu took it; the replica died then
    assert run_due_digests(services, {"feishu": adapter}, at + STALE_AFTER - STALE_AFTER / 15, "b") == []
    taken = run_due_digests(services, {"feishu": adapter}, at + STALE_AFTER + STALE_AFTER / 15, "b")
    assert [(s.kind, s.day, s.ok) for s in taken] == [("digest", day, True)]
    sent = sent_to(fake, "oc_crash")
    assert [title_of(m) for m in sent] == ["sent before the crash"]   # the same uuid: Feishu kept the first
    with Session(store) as session:
        row = session.execute(select(ScheduledSend)).scalar_one()
        assert (row.status, row.attempts, row.claimed_by) == ("sent", 2, "b")
    # the key is per receiver: the same claim's key sent to another chat is another message
    assert adapter.send_to_chat("oc_crash_other", first, key)
    assert len(sent_to(fake, "oc_crash_other")) == 1 and len(sent_to(fake, "oc_crash")) == 1


def test_a_digest_taken_over_after_a_crash_is_not_doubled_on_a_dingtalk_card(
        services: Services, store: Engine) -> None:
    sub = subscribe(store, "shopee-id", "cid_crash", "09:00", JAKARTA, platform="dingtalk", weekly=False)
    at, day = utc("2026-11-22T02:00"), date(2026, 11, 22)
    key = _crashed_mid_send(store, sub, day, at)
    with connected_dingtalk(store, services) as (fake, adapter):
        first = Card("sent before the crash", (Note("x"), Buttons(())), Tone.NEUTRAL, "en")
        assert adapter.send_to_chat("cid_crash", first, key)
        taken = run_due_digests(services, {"dingtalk": adapter}, at + STALE_AFTER + STALE_AFTER / 15, "b")
        assert [(s.kind, s.ok) for s in taken] == [("digest", True)]
        delivered = [d for d in fake.delivered if d.target == "cid_crash"]
        assert [(d.via, fake.cards[d.out_track_id or ""].params["title"]) for d in delivered] == \
            [("card", "sent before the crash")]
        creates = [c for c in fake.calls if c.path == "/v1.0/card/instances/createAndDeliver"]
        assert len(creates) == 2 and len(fake.cards) == 1    # the second create found the instance there


def test_a_keyed_dingtalk_card_whose_delivery_failed_is_delivered_once_by_the_retry(
        services: Services, store: Engine) -> None:
    """The first try's createAndDeliver fails every attempt (and so does the markdown fallback): nothing counts as
    sent and no instance is left behind; the retry with the same key delivers the card exactly once, and a third
    try finds it there and does not deliver it again."""
    with connected_dingtalk(store, services, attempts=2) as (fake, adapter):
        card = Card("digest", (Note("x"), Buttons(())), Tone.NEUTRAL, "en")
        fake.fail_next(2, "createAndDeliver")
        fake.fail_next(2, "groupMessages")
        assert adapter.send_to_chat("cid_retry", card, "digest:subscription:9:2026-11-22") is False
        assert fake.cards == {} and [d for d in fake.delivered if d.target == "cid_retry"] == []
        assert adapter.send_to_chat("cid_retry", card, "digest:subscription:9:2026-11-22") is True
        assert adapter.send_to_chat("cid_retry", card, "digest:subscription:9:2026-11-22") is True
        delivered = [(d.via, d.target) for d in fake.delivered if d.target == "cid_retry"]
        assert delivered == [("card", "cid_retry")] and len(fake.cards) == 1
        assert [c.path for c in fake.calls if "/card/instances" in c.path] == \
            ["/v1.0/card/instances/createAndDeliver"] * 4


def test_monday_also_brings_the_weekly_report_for_last_week(
        services: Services, feishu: tuple[FakeFeishu, FeishuAdapter], store: Engine) -> None:
    fake, adapter = feishu
    subscribe(store, "live-us", "oc_monday", "09:00", LA)
    monday = utc("2026-11-23T17:00")     # Monday 09:00 PST
    assert sorted(s.kind for s in run_due_digests(services, {"feishu": adapter}, monday, "a")) == ["digest", "weekly"]
    titles = sorted(title_of(m) for m in sent_to(fake, "oc_monday"))
    assert titles == ["直播一组 Live US/UK · daily digest 2026-11-23",
                      "直播一组 Live US/UK · weekly report 2026-11-16 – 2026-11-22"]


def _team_net_gmv_by_hand(store: Engine, team: str, start: datetime, end: datetime) -> Decimal:
    """Net GMV of a team's orders paid in [start, end), from the raw rows: merchandise less refunds (capped at
    the merchandise), cancelled orders left out, converted at the rate of the UTC paid day."""
    with store.connect() as c:
        rates = {(date.fromisoformat(str(r.day)), r.base, r.quote): Decimal(str(r.rate)) for r in c.execute(text(
            "SELECT day, base, quote, rate FROM fx_rate"))}
        rows = c.execute(text(
            "SELECT o.currency, o.paid_at, o.merchandise_minor, o.refunded_minor FROM shop_order o "
            "JOIN shop s ON s.id = o.shop_id JOIN team t ON t.id = s.team_id "
            "WHERE t.code = :team AND o.cancelled_at IS NULL AND o.paid_at IS NOT NULL"), {"team": team}).all()
    total = Decimal(0)
    for currency, paid_at, merchandise, refunded in rows:
        paid = paid_at if isinstance(paid_at, datetime) else datetime.fromisoformat(str(paid_at))
        paid = paid.replace(tzinfo=UTC) if paid.tzinfo is None else paid
        if not start <= paid < end:
            continue
        net = Decimal(merchandise - min(refunded, merchandise)).scaleb(-2)     # USD and GBP: cents and pence
        if currency != "USD":
            day = paid.astimezone(UTC).date()
            rate = max(((d, r) for (d, b, q), r in rates.items() if b == currency and q == "USD" and d <= day),
                       default=None)
            if rate is None:
                inverse = max((d, r) for (d, b, q), r in rates.items() if b == "USD" and q == currency and d <= day)
                net = net / inverse[1]
            else:
                net = net * rate[1]
        total += net
    return total


def test_the_digest_numbers_and_finance_figures_only_in_finance_chats(services: Services, store: Engine) -> None:
    now = utc("2026-11-22T17:00")      # 09:00 in Los Angeles
    zone = ZoneInfo(LA)
    with Session(store) as session:
        team = session.execute(select(Team).where(Team.code == "live-us")).scalar_one()
        plain = build_digest(session, services, team, "en", now)
        finance = build_digest(session, services, team, "en", now, finance=True)
    fields = dict(next(b for b in plain.blocks if isinstance(b, Fields)).items)
    month_start = datetime(2026, 11, 1, tzinfo=zone)
    expected = _team_net_gmv_by_hand(store, "live-us", month_start, now)
    shown = fields["Team Net GMV"].split(" USD")[0].replace(",", "")
    assert Decimal(shown) == expected.quantize(Decimal("0.01"))
    members_plain = next(b for b in plain.blocks if isinstance(b, Table))
    members_finance = next(b for b in finance.blocks if isinstance(b, Table))
    assert "Net GMV" not in members_plain.headers and "Net GMV" in members_finance.headers
    # the team line first, then the six members; the team-scoped four show no money of their own (the team's is
    # on the team line)
    assert len(members_plain.rows) == 7 and all("USD" not in " ".join(r) for r in members_plain.rows)
    assert sorted(r[0] for r in members_finance.rows if r[3] == "—") == ["Chen Hao 陈浩", "Liu Yang 刘洋",
                                                                         "Sun Li 孙丽", "Zhao Lei 赵磊"]
    assert members_finance.rows[0][3] == fields["Team Net GMV"].split(" / ")[0]
    assert next(b for b in plain.blocks if isinstance(b, Image)).png[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_scheduled_digest_reaches_a_dingtalk_group_as_a_card_with_its_chart(services: Services,
                                                                              store: Engine) -> None:
    subscribe(store, "shopee-id", "cid_leads", "09:00", JAKARTA, platform="dingtalk", locale="zh")
    with connected_dingtalk(store, services) as (fake, adapter):
        sent = run_due_digests(services, {"dingtalk": adapter}, utc("2026-11-22T02:00"), "a")
        assert [s.ok for s in sent] == [True]
        delivered = [d for d in fake.delivered if d.target == "cid_leads"]
        assert len(delivered) == 1 and delivered[0].via == "card" and delivered[0].space == "group"
        params = fake.cards[delivered[0].out_track_id or ""].params
        assert params["title"] == "Shopee 印尼组 · 日报 2026-11-22"
        assert fake.media[params["chart"]][:8] == b"\x89PNG\r\n\x1a\n"
        assert fake.throttled == []


def test_a_big_tick_draws_its_charts_in_a_worker_process(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """DRAW_APART_FROM digests due at once: their charts are drawn by a worker process (cards.chart_worker), each
    once, and the groups get the very PNGs this process draws; the next tick finds them sent and claims nothing."""
    monkeypatch.setattr(chart_cache, "spare_cores", lambda: 1)        # whatever the machine running the tests has
    services = Services(store, Rules(), SHANGHAI, "en", ChartCache())   # its own cache: no chart drawn yet
    teams, locales = ("shopee-id", "live-us"), ("zh", "en")
    for i in range(DRAW_APART_FROM):
        subscribe(store, teams[i % 2], f"cid_big_{i}", "09:00", JAKARTA, platform="dingtalk",
                  locale=locales[i // 2 % 2], finance=i % 4 == 3, weekly=False)
    now = utc("2026-11-22T02:00")
    with connected_dingtalk(store, services) as (fake, adapter):
        sent = run_due_digests(services, {"dingtalk": adapter}, now, "a")
        assert [s.ok for s in sent] == [True] * DRAW_APART_FROM
        assert services.charts.drawn_apart == 4 and services.charts.renders == 4   # two teams, two languages
        pngs = {fake.media[fake.cards[d.out_track_id or ""].params["chart"]] for d in fake.delivered}
        with Session(store) as session:
            charts = [next(b for b in build_digest(session, services, find_team(session, team) or Team(), lang, now)
                           .blocks if isinstance(b, Image)).chart for team in teams for lang in locales]
        assert pngs == {draw_chart(c) for c in charts if c is not None} and len(pngs) == 4
        claims: list[str] = []
        monkeypatch.setattr(digests_job, "claim_send", lambda *a, **k: claims.append(a[2]) or False)
        assert run_due_digests(services, {"dingtalk": adapter}, utc("2026-11-22T02:01"), "b") == []
        assert claims == []                 # all sent today: none even tried


def _by_hand(store: Engine, team: str, start: datetime, end: datetime, now: datetime) -> tuple[
        Decimal, dict[str, tuple[set[int], int, Decimal]]]:
    """Net GMV of a team's orders paid in [start, min(end, now)] as seen at `now` (refunds completed and
    cancellations by then), from the raw rows; and per product (orders, units, net line amounts: each order's
    refunds shared among its lines by amount). USD and GBP only (the live-us shops), GBP at the latest rate."""
    def when(value: object) -> datetime | None:
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment

    with store.connect() as c:
        rates = {(date.fromisoformat(str(r.day)), r.base): Decimal(str(r.rate)) for r in c.execute(text(
            "SELECT day, base, rate FROM fx_rate WHERE quote = 'USD'"))}
        orders = c.execute(text(
            "SELECT o.id, o.currency, o.paid_at, o.cancelled_at, o.merchandise_minor FROM shop_order o "
            "JOIN shop s ON s.id = o.shop_id JOIN team t ON t.id = s.team_id "
            "WHERE t.code = :team AND o.paid_at IS NOT NULL"), {"team": team}).all()
        refunds = c.execute(text("SELECT order_id, amount_minor, completed_at FROM refund "
                                 "WHERE status = 'completed'")).all()
        lines = c.execute(text("SELECT l.order_id, p.name, l.quantity, l.amount_minor FROM order_line l "
                               "JOIN product p ON p.id = l.product_id")).all()
    total, products = Decimal(0), {}
    for oid, currency, paid_at, cancelled_at, merchandise in orders:
        paid, cancelled = when(paid_at), when(cancelled_at)
        assert paid is not None
        if not (start <= paid < end and paid <= now) or (cancelled is not None and cancelled <= now):
            continue
        refunded = min(merchandise, sum(a for o, a, at in refunds if o == oid and (when(at) or now) <= now))
        rate = Decimal(1) if currency == "USD" else \
            max((d, r) for (d, b), r in rates.items() if b == currency and d <= paid.astimezone(UTC).date())[1]
        total += Decimal(merchandise - refunded).scaleb(-2) * rate
        for o, name, quantity, amount in lines:
            if o == oid:
                seen, units, net = products.get(name, (set(), 0, Decimal(0)))
                share = Decimal(amount) * (1 - Decimal(refunded) / Decimal(merchandise))
                products[name] = (seen | {oid}, units + quantity, net + share.scaleb(-2) * rate)
    return total, products


@pytest.mark.parametrize(("day", "yesterday", "before", "shown"), [
    # on the 1st, yesterday is 31 October and the day before 30 October: both before the month shown
    (1, date(2026, 10, 31), date(2026, 10, 30), "2,560.38 USD (+58.6% vs the day before)"),
    # on the 2nd, yesterday is the 1st and the day before 31 October
    (2, date(2026, 11, 1), date(2026, 10, 31), "3,000.94 USD (+20.8% vs the day before)"),
])
def test_yesterday_on_the_first_and_second_of_a_month_reads_the_previous_month(
        services: Services, store: Engine, day: int, yesterday: date, before: date, shown: str) -> None:
    zone = ZoneInfo(LA)
    now = datetime(2026, 11, day, 9, 0, tzinfo=zone)
    with Session(store) as session:
        team = session.execute(select(Team).where(Team.code == "live-us")).scalar_one()
        card = build_digest(session, services, team, "en", now)
    fields = dict(next(b for b in card.blocks if isinstance(b, Fields)).items)
    assert fields["Yesterday"] == shown

    def net(d: date) -> Decimal:
        start = datetime(d.year, d.month, d.day, tzinfo=zone)
        return _by_hand(store, "live-us", start, start + (datetime(2026, 1, 2) - datetime(2026, 1, 1)), now)[0]

    value, prior = net(yesterday), net(before)
    assert shown == f"{value.quantize(Decimal('0.01')):,} USD (+{(value / prior - 1) * 100:.1f}% vs the day before)"


def test_top_products_are_ranked_by_net_line_amounts_with_nothing_after_now(services: Services,
                                                                            store: Engine) -> None:
    zone = ZoneInfo(LA)
    now = datetime(2026, 11, 2, 9, 0, tzinfo=zone)
    with Session(store) as session:
        team = session.execute(select(Team).where(Team.code == "live-us")).scalar_one()
        card = build_digest(session, services, team, "en", now)
    table = next(b for b in card.blocks if isinstance(b, Table) and b.headers[0] == "Top products")
    assert table.headers == ("Top products", "Orders", "Units", "Net GMV")
    assert table.rows == (("Silk Pillowcase", "16", "19", "471.43 USD"),
                          ("Cloud Slides 云朵拖鞋", "22", "24", "462.71 USD"),
                          ("Stainless Tumbler 40oz", "14", "15", "430.25 USD"))
    _, products = _by_hand(store, "live-us", datetime(2026, 11, 1, tzinfo=zone), datetime(2026, 12, 1, tzinfo=zone),
                           now)
    best = sorted(products.items(), key=lambda kv: -kv[1][2])[:3]
    assert tuple((name, str(len(o)), str(u), f"{n.quantize(Decimal('0.01')):,} USD")
                 for name, (o, u, n) in best) == table.rows


def test_team_scoped_roles_share_one_team_line(services: Services, store: Engine) -> None:
    # the ad buyer, operator, selector and lead are measured on the team's net GMV: shown once, against the
    # team's target, not four times against their own targets; they keep their own score and grade
    now = utc("2026-11-22T17:00")      # 09:00 in Los Angeles
    with Session(store) as session:
        team = session.execute(select(Team).where(Team.code == "live-us")).scalar_one()
        card = build_digest(session, services, team, "en", now)
    fields = dict(next(b for b in card.blocks if isinstance(b, Fields)).items)
    rows = next(b for b in card.blocks if isinstance(b, Table)).rows
    assert fields["Team Net GMV"] == "63,904.95 USD / 88,800.00 USD (72%)"
    # expected by now follows the team's usual month (scoring.shape): 102 % (101 % on clock time)
    assert fields["Pace"] == "102% of pace · on pace"
    assert rows[0] == ("Team (shared)", "—", "Net GMV 72% · 102% of pace", "ok")
    shared = [r for r in rows[1:] if r[2] == "team figure, see Team (shared)"]
    assert sorted(r[0] for r in shared) == ["Chen Hao 陈浩", "Liu Yang 刘洋", "Sun Li 孙丽", "Zhao Lei 赵磊"]
    assert all(r[3] == "—" for r in shared)
    assert sorted(r[0] for r in rows[1:] if r not in shared) == ["Emily Carter (trial)", "Lin Xiaoyu 林小雨"]

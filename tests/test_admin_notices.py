"""Admin notices sent once ever, on SQLite and PostgreSQL, received by fake platforms with a pinned clock: a
live/video handle that matches no member (after each shop refresh) and a currency with no exchange rate at all
(after the daily exchange-rate job); each once per handle or currency and admin across runs and replicas,
nothing when everything matches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.fx_feed import FeedError
from bot.jobs.fx_rates import run_fx_rates
from bot.jobs.prune import run_prune
from bot.jobs.refresh import RefreshContext, RefreshResult, run_refresh
from bot.shop_sources import NoSource
from cards.chart_cache import ChartCache
from cards.model import Card, Text, Tone
from scoring.fx import FxRate
from scoring.rules import Rules
from services.container import Services
from storage.crediting import set_handle
from storage.identity import bind_identity
from storage.ingest.records import Source
from storage.models import ContentPost, FxRateRow, LiveSession, Member, MemberHandle, Order, Organisation, Shop
from tests.recording_messenger import Recorder

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
EVERY = timedelta(minutes=30)
LONG = "\x1bx" + "y" * 60      # a handle with a control character, longer than a notice shows


@dataclass
class World:
    services: Services
    feishu: Recorder = field(default_factory=lambda: Recorder("feishu"))
    dingtalk: Recorder = field(default_factory=lambda: Recorder("dingtalk"))
    context: RefreshContext | None = None     # one process's refresh: its CurrencyWatch lasts across runs

    @property
    def messengers(self) -> dict[str, Recorder]:
        return {"feishu": self.feishu, "dingtalk": self.dingtalk}

    def refresh(self, at: datetime, instance: str = "replica-1", fx_feed: bool = True) -> list[str]:
        """One refresh run (no shop has a source: nothing is synced); the handle notices it sent. `fx_feed`: [fx]
        is on, so while no ECB rate is stored the run tells of no currency (the handle tests see only theirs)."""
        return self.refresh_run(at, instance, fx_feed).handles_told

    def refresh_run(self, at: datetime, instance: str = "replica-1", fx_feed: bool = False) -> RefreshResult:
        def no_source(shop: Shop) -> Source:
            raise NoSource(f"shop {shop.code}: no source")
        if self.context is None or self.context.instance != instance:
            self.context = RefreshContext(services=self.services, source_for=no_source, messengers=self.messengers,
                                          clock=lambda: at, instance=instance, interval=EVERY, fx_feed=fx_feed)
        self.context.clock, self.context.fx_feed = (lambda: at), fx_feed
        result = run_refresh(self.context, at)
        assert result.ran
        return result

    def sent(self) -> list[tuple[str, Card]]:
        return self.feishu.sent + self.dingtalk.sent


@pytest.fixture
def world(engine: Engine) -> World:
    """Shops us1 (TikTok, USD) and vn1 (TikTok, VND) of one organisation; host anna holds the TikTok handle
    "anna"; admin1 (English) is bound on Feishu, admin2 (Chinese) on DingTalk, admin3 (Indonesian) on Feishu,
    admin4 nowhere; a second organisation's admin is told nothing of the first's."""
    with Session(engine) as s:
        org, other = Organisation(code="o", name="Org"), Organisation(code="p", name="Other")
        s.add_all([org, other])
        s.flush()
        s.add_all([Shop(org_id=org.id, code="us1", name="TikTok US", platform="tiktok_shop", region="US",
                        currency="USD", timezone="UTC"),
                   Shop(org_id=org.id, code="vn1", name="TikTok VN", platform="tiktok_shop", region="VN",
                        currency="VND", timezone="Asia/Ho_Chi_Minh")])
        people = [Member(org_id=org.id, code=code, name=code, role=role, timezone="UTC", locale=locale)
                  for code, role, locale in (("anna", "host", "en"), ("admin1", "admin", "en"),
                                             ("admin2", "admin", "zh-CN"), ("admin3", "admin", "id"),
                                             ("admin4", "admin", "en"))]
        people.append(Member(org_id=other.id, code="padmin", name="P", role="admin", timezone="UTC", locale="en"))
        s.add_all(people)
        s.flush()
        set_handle(s, people[0], "tiktok", "anna")
        bind_identity(s, people[1], "feishu", "ou_admin1")
        bind_identity(s, people[2], "dingtalk", "0042")
        bind_identity(s, people[3], "feishu", "ou_admin3")
        bind_identity(s, people[5], "feishu", "ou_padmin")
        s.commit()
    return World(Services(engine, Rules(), "UTC", "en", ChartCache()))


def shop_id(engine: Engine, code: str) -> int:
    with Session(engine) as s:
        return s.execute(select(Shop.id).where(Shop.code == code)).scalar_one()


def add_session(engine: Engine, shop: str, pid: str, handle: str | None) -> None:
    with Session(engine) as s:
        s.add(LiveSession(shop_id=shop_id(engine, shop), platform_session_id=pid, started_at=NOW - timedelta(hours=5),
                          ended_at=NOW - timedelta(hours=3), currency="USD", host_handle=handle))
        s.commit()


def add_video(engine: Engine, shop: str, pid: str, handle: str | None) -> None:
    with Session(engine) as s:
        s.add(ContentPost(shop_id=shop_id(engine, shop), platform_post_id=pid, published_at=NOW - timedelta(days=1),
                          author_handle=handle))
        s.commit()


# --- handles matching no member ------------------------------------------------------------------------------

def test_a_handle_matching_no_member_is_told_once_to_each_admin_in_their_language(world: World) -> None:
    engine = world.services.engine
    add_session(engine, "us1", "L1", "@Anna")               # anna's: matches
    add_session(engine, "us1", "L2", "shop_official")
    add_session(engine, "us1", "L3", "Shop_Official")       # the same handle as compared
    add_video(engine, "vn1", "V1", "@shop_official")        # in another shop of the same platform
    add_session(engine, "us1", "L4", None)                  # no handle: nothing to report
    told = world.refresh(NOW)
    assert told == ["admin1:tiktok:shop_official", "admin2:tiktok:shop_official", "admin3:tiktok:shop_official"]
    assert world.feishu.sent == [
        ("ou_admin1", Card("Account matches no member: shop_official", (Text(
            "The tiktok account shop_official matches no member, so orders are not credited to anyone through its "
            "2 live sessions and 1 video in TikTok US (us1), TikTok VN (vn1) (a roster shift on air may still credit "
            "them). If it is a member's account, run: kpibot "
            "members handle MEMBER shop_official --platform tiktok. You are told once about this account."),),
            Tone.WARN, "en")),
        ("ou_admin3", Card("Akun tidak cocok dengan anggota: shop_official", (Text(
            "Akun tiktok shop_official tidak cocok dengan anggota mana pun, jadi pesanan tidak dikreditkan ke siapa "
            "pun melalui 2 sesi live dan 1 video dari akun ini di TikTok US (us1), TikTok VN (vn1) (shift jadwal "
            "yang sedang siaran masih bisa mengkreditkannya). Jika ini akun "
            "seorang anggota, jalankan: kpibot members handle MEMBER shop_official --platform tiktok. Anda diberi "
            "tahu sekali tentang akun ini."),), Tone.WARN, "id"))]
    assert world.dingtalk.sent == [
        ("0042", Card("账号未匹配任何成员：shop_official", (Text(
            "tiktok 账号 shop_official 未匹配任何成员，因此订单不会通过它在 TikTok US (us1), TikTok VN (vn1) 的 "
            "2 场直播和 1 条视频计入任何人（排班表中在播的班次仍可能计入）。如果这是某位成员的账号，请运行："
            "kpibot members handle MEMBER shop_official "
            "--platform tiktok。此账号只提醒这一次。"),), Tone.WARN, "zh"))]

    # the next run, another replica, more sessions of it, the maintenance job a year later: never again
    add_session(engine, "us1", "L5", "shop_official")
    assert world.refresh(NOW + EVERY) == []
    assert world.refresh(NOW + 2 * EVERY, instance="replica-2") == []
    run_prune(world.services, {}, NOW + timedelta(days=365), "i", wall=lambda: NOW + timedelta(days=365))
    assert world.refresh(NOW + timedelta(days=365)) == []
    assert len(world.sent()) == 3


def test_a_new_handle_is_told_once_and_one_that_was_told_stays_told_after_it_was_matched(world: World) -> None:
    engine = world.services.engine
    add_session(engine, "us1", "L1", "guest")
    assert world.refresh(NOW) == ["admin1:tiktok:guest", "admin2:tiktok:guest", "admin3:tiktok:guest"]
    # an admin gives anna the handle, then takes it away again: not told again; a new handle is
    with Session(engine) as s:
        anna = s.execute(select(Member).where(Member.code == "anna")).scalar_one()
        set_handle(s, anna, "tiktok", "guest")
        s.commit()
    assert world.refresh(NOW + EVERY) == []
    with Session(engine) as s:
        s.execute(delete(MemberHandle).where(MemberHandle.handle == "guest"))  # type: ignore[arg-type]
        s.commit()
    add_video(engine, "vn1", "V1", LONG)
    assert world.refresh(NOW + 2 * EVERY) == [f"admin1:tiktok:{LONG}", f"admin2:tiktok:{LONG}",
                                              f"admin3:tiktok:{LONG}"]
    # shown without the control character, cut to 40 characters (the last "…"); the command asks for the handle
    shown = "x" + "y" * 38 + "…"
    assert world.feishu.sent[-2] == ("ou_admin1", Card(f"Account matches no member: {shown}", (Text(
        f"The tiktok account {shown} matches no member, so orders are not credited to anyone through its 1 video "
        "in TikTok VN (vn1) (a roster shift on air may still credit them). If it is a member's account, run: "
        "kpibot members handle MEMBER "
        "HANDLE --platform tiktok. You are told once about this account."),), Tone.WARN, "en"))
    assert world.refresh(NOW + 3 * EVERY) == []


def test_a_notice_a_platform_refused_is_sent_by_the_next_run(world: World) -> None:
    add_session(world.services.engine, "us1", "L1", "guest")
    world.feishu.accept = False
    assert world.refresh(NOW) == ["admin2:tiktok:guest"]
    world.feishu.accept = True
    assert world.refresh(NOW + EVERY) == ["admin1:tiktok:guest", "admin3:tiktok:guest"]
    assert world.refresh(NOW + 2 * EVERY) == []
    assert [user for user, _ in world.sent()] == ["ou_admin1", "ou_admin3", "0042"]


def test_a_first_run_with_twelve_handles_sends_each_admin_one_message_listing_ten(world: World) -> None:
    engine = world.services.engine
    for n in range(12):
        add_session(engine, "us1", f"L{n}", f"guest{n:02}")
    add_video(engine, "vn1", "V1", "guest00")
    add_video(engine, "vn1", "V2", "guest00")
    told = world.refresh(NOW)
    assert len(told) == 36 and told[:4] == ["admin1:tiktok:guest00", "admin2:tiktok:guest00",
                                            "admin3:tiktok:guest00", "admin1:tiktok:guest01"]
    assert [user for user, _ in world.sent()] == ["ou_admin1", "ou_admin3", "0042"]
    command = "kpibot members handle MEMBER {} --platform tiktok"
    assert world.feishu.sent[0] == ("ou_admin1", Card("12 accounts match no member", (
        Text("These accounts match no member, so orders are not credited to anyone through their live sessions "
             "and videos (a roster shift on air may still credit them). If one is a member's account, run the "
             "command shown with it. You are told once about each account."),
        Text("tiktok guest00: 1 live session and 2 videos in TikTok US (us1), TikTok VN (vn1). Run: "
             + command.format("guest00")),
        *(Text(f"tiktok guest{n:02}: 1 live session in TikTok US (us1). Run: " + command.format(f"guest{n:02}"))
          for n in range(1, 10)),
        Text("And 2 more: kpibot credit --unmatched lists them all.")), Tone.WARN, "en"))
    assert world.feishu.sent[1][1].title == "12 akun tidak cocok dengan anggota"
    assert world.feishu.sent[1][1].blocks[1:3] == (
        Text("tiktok guest00: 1 sesi live dan 2 video di TikTok US (us1), TikTok VN (vn1). Jalankan: "
             + command.format("guest00")),
        Text("tiktok guest01: 1 sesi live di TikTok US (us1). Jalankan: " + command.format("guest01")))
    assert world.feishu.sent[1][1].blocks[-1] == Text("Dan 2 lainnya: kpibot credit --unmatched menampilkan semuanya.")
    zh = world.dingtalk.sent[0][1]
    assert (zh.title, zh.blocks[1], zh.blocks[-1]) == (
        "12 个账号未匹配任何成员",
        Text("tiktok guest00：TikTok US (us1), TikTok VN (vn1) 的 1 场直播和 2 条视频。运行："
             + command.format("guest00")),
        Text("还有 2 个：kpibot credit --unmatched 可列出全部。"))
    # the two counted are told too; the next run and a new handle: one message of the new handle alone
    assert world.refresh(NOW + EVERY) == []
    add_session(engine, "us1", "L99", "late")
    assert world.refresh(NOW + 2 * EVERY) == ["admin1:tiktok:late", "admin2:tiktok:late", "admin3:tiktok:late"]
    assert world.feishu.sent[-2][1].blocks == (Text(
        "The tiktok account late matches no member, so orders are not credited to anyone through its 1 live "
        "session in TikTok US (us1) (a roster shift on air may still credit them). If it is a member's account, "
        "run: kpibot members handle MEMBER late --platform tiktok. "
        "You are told once about this account."),)
    assert len(world.sent()) == 6


def test_a_refused_message_of_several_handles_is_sent_whole_by_the_next_run(world: World) -> None:
    engine = world.services.engine
    add_session(engine, "us1", "L1", "guest")
    add_session(engine, "us1", "L2", "other")
    world.feishu.accept = False
    assert world.refresh(NOW) == ["admin2:tiktok:guest", "admin2:tiktok:other"]
    add_session(engine, "us1", "L3", "third")      # admin2 is told of it alone; admin1 and admin3 of all three
    world.feishu.accept = True
    assert world.refresh(NOW + EVERY) == ["admin1:tiktok:guest", "admin3:tiktok:guest", "admin1:tiktok:other",
                                          "admin3:tiktok:other", "admin1:tiktok:third", "admin2:tiktok:third",
                                          "admin3:tiktok:third"]
    assert [(user, card.title) for user, card in world.sent()] == [
        ("ou_admin1", "3 accounts match no member"), ("ou_admin3", "3 akun tidak cocok dengan anggota"),
        ("0042", "2 个账号未匹配任何成员"), ("0042", "账号未匹配任何成员：third")]
    assert world.refresh(NOW + 2 * EVERY) == []


def test_an_admin_added_later_gets_one_message_of_every_handle_still_unmatched(world: World) -> None:
    engine = world.services.engine
    for n in range(3):
        add_session(engine, "us1", f"L{n}", f"guest{n}")
    assert len(world.refresh(NOW)) == 9
    with Session(engine) as s:
        org_id = s.execute(select(Organisation.id).where(Organisation.code == "o")).scalar_one()
        late = Member(org_id=org_id, code="admin5", name="admin5", role="admin", timezone="UTC", locale="en")
        s.add(late)
        s.flush()
        bind_identity(s, late, "feishu", "ou_admin5")
        s.commit()
    assert world.refresh(NOW + EVERY) == ["admin5:tiktok:guest0", "admin5:tiktok:guest1", "admin5:tiktok:guest2"]
    assert [(user, card.title) for user, card in world.feishu.sent[-1:]] == [
        ("ou_admin5", "3 accounts match no member")]
    assert len(world.sent()) == 4


def test_nothing_is_told_when_every_handle_matches(world: World) -> None:
    engine = world.services.engine
    add_session(engine, "us1", "L1", "@ANNA")     # anna's handle
    add_video(engine, "vn1", "V1", "admin1")      # a member's code matches too
    add_session(engine, "us1", "L2", None)
    assert world.refresh(NOW) == []
    assert world.sent() == []


# --- currencies without an exchange rate ---------------------------------------------------------------------

ECB = [FxRate(date(2026, 12, 2), "EUR", "USD", D("1.0851")), FxRate(date(2026, 12, 2), "EUR", "IDR", D("17233.10"))]


def fx_run(world: World, rates: list[FxRate] | None = ECB, instance: str = "replica-1",
           at: datetime = NOW) -> tuple[str, ...]:
    """One run of the daily exchange-rate job whose feed gives `rates` (None: the fetch fails)."""
    def fetch(_url: str) -> list[FxRate]:
        if rates is None:
            raise FeedError("the feed is down")
        return rates
    return run_fx_rates(world.services, world.messengers, at, instance, url="daily", history_url="history",
                        fetch=fetch).told


def add_order(engine: Engine, shop: str, pid: str, currency: str, order_id: int | None = None) -> None:
    with Session(engine) as s:
        s.add(Order(id=order_id, shop_id=shop_id(engine, shop), platform_order_id=pid, status="paid",
                    currency=currency, created_at=NOW - timedelta(days=1)))
        s.commit()


def add_rate(engine: Engine, base: str, quote: str, rate: str) -> None:
    with Session(engine) as s:
        s.add(FxRateRow(day=date(2026, 12, 1), base=base, quote=quote, rate=D(rate), source="manual"))
        s.commit()


def test_a_currency_with_no_rate_at_all_is_told_once_per_currency(world: World) -> None:
    engine = world.services.engine
    add_rate(engine, "VND", "USD", "0.0000393")     # the VN shop's currency has a rate
    add_order(engine, "us1", "A1", "IDR")      # IDR -> USD goes through EUR: it has a rate
    add_order(engine, "us1", "A2", "GBP")      # no GBP rate at all
    add_order(engine, "vn1", "B1", "VND")
    told = fx_run(world)
    assert told == ("admin1:GBP", "admin2:GBP", "admin3:GBP")
    assert world.feishu.sent == [
        ("ou_admin1", Card("No exchange rate for GBP", (Text(
            "There is no GBP->USD exchange rate at all, so amounts in GBP (TikTok US (us1)) are left out of every "
            "card. Store one with kpibot fx set YYYY-MM-DD GBP USD RATE, or many with kpibot fx import FILE.csv "
            "(columns day,base,quote,rate). You are told once about this currency."),), Tone.WARN, "en")),
        ("ou_admin3", Card("Tidak ada kurs untuk GBP", (Text(
            "Tidak ada kurs GBP->USD sama sekali, jadi jumlah dalam GBP (TikTok US (us1)) tidak dihitung di semua "
            "kartu. Simpan satu dengan kpibot fx set YYYY-MM-DD GBP USD RATE, atau banyak sekaligus dengan kpibot "
            "fx import FILE.csv (kolom day,base,quote,rate). Anda diberi tahu sekali tentang mata uang ini."),),
            Tone.WARN, "id"))]
    assert world.dingtalk.sent == [
        ("0042", Card("GBP 没有汇率", (Text(
            "GBP 到 USD 完全没有汇率，所有卡片都未计入 GBP 金额（TikTok US (us1)）。"
            "请用 kpibot fx set YYYY-MM-DD GBP USD RATE 添加一个，"
            "或用 kpibot fx import FILE.csv（列：day,base,quote,rate）批量导入。此币种只提醒这一次。"),),
            Tone.WARN, "zh"))]
    # the next day, another replica, a failed fetch, a refresh: never again
    assert fx_run(world, at=NOW + timedelta(days=1)) == ()
    assert fx_run(world, instance="replica-2", at=NOW + timedelta(days=1)) == ()
    assert fx_run(world, rates=None, at=NOW + timedelta(days=2)) == ()
    assert world.refresh_run(NOW + timedelta(days=2)).currencies_told == []
    assert len(world.sent()) == 3


def test_several_new_currencies_reach_each_admin_in_one_message(world: World) -> None:
    engine = world.services.engine
    add_order(engine, "us1", "A1", "GBP")
    add_order(engine, "vn1", "B1", "VND")
    assert fx_run(world) == ("admin1:GBP", "admin2:GBP", "admin3:GBP", "admin1:VND", "admin2:VND", "admin3:VND")
    assert [user for user, _ in world.sent()] == ["ou_admin1", "ou_admin3", "0042"]
    assert world.feishu.sent[0] == ("ou_admin1", Card("2 currencies have no exchange rate", (
        Text("There is no exchange rate at all from these currencies to USD, so their amounts are left out of every "
             "card. Store one with the command shown with it, or many with kpibot fx import FILE.csv (columns "
             "day,base,quote,rate). You are told once about each currency."),
        Text("GBP (TikTok US (us1)): kpibot fx set YYYY-MM-DD GBP USD RATE"),
        Text("VND (TikTok VN (vn1)): kpibot fx set YYYY-MM-DD VND USD RATE")), Tone.WARN, "en"))
    assert world.feishu.sent[1] == ("ou_admin3", Card("2 mata uang tidak punya kurs", (
        Text("Tidak ada kurs sama sekali dari mata uang berikut ke USD, jadi jumlahnya tidak dihitung di semua kartu. "
             "Simpan satu dengan perintah yang menyertainya, atau banyak sekaligus dengan kpibot fx import FILE.csv "
             "(kolom day,base,quote,rate). Anda diberi tahu sekali tentang setiap mata uang."),
        Text("GBP (TikTok US (us1)): kpibot fx set YYYY-MM-DD GBP USD RATE"),
        Text("VND (TikTok VN (vn1)): kpibot fx set YYYY-MM-DD VND USD RATE")), Tone.WARN, "id"))
    assert world.dingtalk.sent == [("0042", Card("2 种币种没有汇率", (
        Text("以下币种到 USD 完全没有汇率，所有卡片都未计入它们的金额。请用各自后面的命令添加，"
             "或用 kpibot fx import FILE.csv（列：day,base,quote,rate）批量导入。每个币种只提醒这一次。"),
        Text("GBP（TikTok US (us1)）：kpibot fx set YYYY-MM-DD GBP USD RATE"),
        Text("VND（TikTok VN (vn1)）：kpibot fx set YYYY-MM-DD VND USD RATE")), Tone.WARN, "zh"))]
    assert fx_run(world, at=NOW + timedelta(days=1)) == ()


def test_with_fx_off_the_refresh_tells_of_a_currency_once_reading_only_new_orders(world: World) -> None:
    engine = world.services.engine
    add_rate(engine, "VND", "USD", "0.0000393")     # rates typed by hand, no daily job: GBP forgotten
    add_order(engine, "us1", "A1", "GBP")
    assert world.refresh_run(NOW).currencies_told == ["admin1:GBP", "admin2:GBP", "admin3:GBP"]
    assert world.feishu.sent[0][1].title == "No exchange rate for GBP"
    watch = world.context.currencies if world.context else None
    assert watch is not None and watch.settled == {(1, "USD"), (1, "VND")}
    last = watch.last_order
    # the next run reads no order it read before; an order in a new currency is told once, also by a replica's
    # refresh or the daily job, which claim the same notices
    assert world.refresh_run(NOW + EVERY).currencies_told == []
    assert watch.last_order == last
    add_order(engine, "vn1", "B1", "THB")
    assert world.refresh_run(NOW + 2 * EVERY).currencies_told == ["admin1:THB", "admin2:THB", "admin3:THB"]
    assert watch.last_order == (last or 0) + 1
    assert world.refresh_run(NOW + 3 * EVERY, instance="replica-2").currencies_told == []
    assert fx_run(world, at=NOW + timedelta(days=1)) == ()
    assert len(world.sent()) == 6
    # an id handed out before a look but committed after it (a sync's batch) is read by the next look all the same
    add_order(engine, "vn1", "B3", "SGD", order_id=(last or 0) + 10)
    assert world.refresh_run(NOW + 4 * EVERY).currencies_told == ["admin1:SGD", "admin2:SGD", "admin3:SGD"]
    add_order(engine, "vn1", "B2", "MYR", order_id=(last or 0) + 5)
    assert world.refresh_run(NOW + 5 * EVERY).currencies_told == ["admin1:MYR", "admin2:MYR", "admin3:MYR"]


def test_a_refresh_with_fx_on_waits_for_the_first_stored_rates(world: World) -> None:
    add_order(world.services.engine, "us1", "A1", "GBP")
    assert world.refresh_run(NOW, fx_feed=True).currencies_told == []
    assert fx_run(world, rates=None) == ()           # the first fetch failed: nobody is told yet
    assert world.refresh_run(NOW + EVERY, fx_feed=True).currencies_told == []
    assert world.sent() == []
    assert world.refresh_run(NOW + 2 * EVERY).currencies_told == [
        "admin1:GBP", "admin2:GBP", "admin3:GBP", "admin1:VND", "admin2:VND", "admin3:VND"]


def test_no_currency_notice_when_every_currency_has_a_rate_or_the_first_fetch_failed(world: World) -> None:
    engine = world.services.engine
    add_order(engine, "us1", "A1", "IDR")
    assert fx_run(world, rates=None) == ()          # nothing stored yet: the next run will likely fill the store
    with Session(engine) as s:
        assert s.execute(select(FxRateRow)).all() == []
        s.add(FxRateRow(day=date(2026, 12, 1), base="VND", quote="USD", rate=D("0.0000393"), source="manual"))
        s.commit()
    assert fx_run(world) == ()
    assert world.sent() == []

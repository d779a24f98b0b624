"""A host's shift told in chat, `/live start [SHOP]` .. `/live end` (commands.live, services.live_shifts), through
the console chat path with a pinned clock, on SQLite and PostgreSQL: the orders paid inside it are credited to the
host by rule `roster` as a roster file's line would be, a forgotten end closes at the maximum, a file line for the
same time does not double it, the errors; and migration 0016 (live_roster.ended_at may be empty) up and down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.dispatch import Dispatcher, Incoming
from cards.chart_cache import ChartCache
from cards.model import Card, Note, Text
from cards.render_text import render_text
from scoring.crediting import Credit, CreditRule, OnAir, Shift, credit, shifts_of
from scoring.rules import Rules
from services.container import Services
from services.live_shifts import close_overdue
from storage.ingest.records import OrderRecord, OrderStatus
from storage.ingest.writer import StoreWriter
from storage.migrate import head_revision, upgrade
from storage.models import LiveRoster, Member, Order, Shop, Team
from storage.roster_import import import_roster
from tests.card_reading import fields
from tests.conftest import fresh_engine, org_and_team

T0 = datetime(2026, 11, 22, 12, tzinfo=UTC)
LONG = "x" * 60   # a shop code longer than a reply repeats


class Chat:
    """The console chat path with a clock the test moves."""

    def __init__(self, engine: Engine) -> None:
        self.now = T0
        self.services = Services(engine, Rules(), "UTC", "en", ChartCache(), max_shift=timedelta(hours=8))
        self.dispatcher = Dispatcher(self.services, clock=lambda: self.now)

    def say(self, user: str, message: str) -> Card:
        card = self.dispatcher.handle_message(Incoming("console", user, message))
        assert card is not None
        return card

    def text(self, user: str, message: str) -> str:
        return render_text(self.say(user, message))


def words(card: Card) -> list[str]:
    """The card's sentences: its text and note blocks, in order."""
    return [b.text for b in card.blocks if isinstance(b, Text | Note)]


def _setup(engine: Engine) -> dict[str, int]:
    """Team t with one shop (own-us, UTC) and host1; team t2 with three shops and host2; a manager."""
    with Session(engine) as s:
        org, team = org_and_team(s)
        team2 = Team(org_id=org.id or 0, code="t2", name="T2", timezone="UTC", locale="en")
        s.add(team2)
        s.flush()
        shops = {code: Shop(org_id=org.id or 0, team_id=tid, code=code, name=code, platform="tiktok_shop",
                            region="US", currency="USD", timezone="UTC")
                 for code, tid in (("own-us", team.id), ("tts-us", team2.id), ("tts-uk", team2.id), (LONG, team2.id))}
        s.add_all(shops.values())
        s.add_all([Member(org_id=org.id or 0, team_id=tid, code=code, name=code, role=role, timezone="UTC",
                          locale="en")
                   for code, role, tid in (("host1", "host", team.id), ("host2", "host", team2.id),
                                           ("boss", "manager", None))])
        s.commit()
        return {code: shop.id or 0 for code, shop in shops.items()}


def _order(pid: str, paid: datetime) -> OrderRecord:
    return OrderRecord(pid, OrderStatus.PAID, "USD", subtotal=D("20"), discount=D("0"), merchandise=D("20"),
                       shipping=D("0"), tax=D("0"), total=D("20"), created_at=paid, updated_at=paid, paid_at=paid)


def _credits(engine: Engine) -> dict[str, tuple[str | None, str | None]]:
    with Session(engine) as s:
        return {pid: (code, rule) for pid, code, rule in s.execute(
            select(Order.platform_order_id, Member.code, Order.credit_rule)  # type: ignore[call-overload]
            .outerjoin(Member, Member.id == Order.member_id).order_by(Order.platform_order_id))}


def _shifts(engine: Engine) -> list[tuple[str, datetime, datetime | None]]:
    with Session(engine) as s:
        return [tuple(r) for r in s.execute(  # type: ignore[misc]
            select(Member.code, LiveRoster.started_at, LiveRoster.ended_at)  # type: ignore[call-overload]
            .join(Member, Member.id == LiveRoster.member_id).order_by(LiveRoster.started_at))]


def test_start_and_end_credit_the_orders_paid_in_the_shift_to_the_host(engine: Engine) -> None:
    shops, chat = _setup(engine), Chat(engine)
    card = chat.say("host1", "/live start")   # the team's only shop
    assert card.title == "On air · own-us"
    assert render_text(card).splitlines()[2] == (
        "You are on air for own-us since 2026-11-22 12:00 UTC. Say /live end when you stop; a shift left open "
        "ends 8 hours after it began.")
    assert _shifts(engine) == [("host1", T0, None)]
    chat.now = T0 + timedelta(minutes=10)
    assert chat.text("host1", "/live start own-us").splitlines()[2] == (
        "You are already on air for own-us since 2026-11-22 12:00 UTC. Say /live end first.")

    StoreWriter(engine).write_page(shops["own-us"], [_order("BEFORE", T0 - timedelta(minutes=1)),
                                                     _order("IN", T0 + timedelta(minutes=30))])
    chat.now = T0 + timedelta(hours=1)
    card = chat.say("host1", "/live end")
    assert card.title == "Off air · own-us"
    assert fields(card) == {"Shop": "own-us", "Start": "2026-11-22 12:00 UTC", "End": "2026-11-22 13:00 UTC",
                            "Orders credited to you": "1"}
    assert words(card) == ["Orders paid in the shift (and up to 30 minutes after) count in your /mykpi now."]
    assert _credits(engine) == {"BEFORE": (None, None), "IN": ("host1", "roster")}
    assert _shifts(engine) == [("host1", T0, T0 + timedelta(hours=1))]
    assert chat.text("host1", "/live end").splitlines()[2] == (
        "You have no shift open. Say /live start [SHOP] when you go on air.")

    # an order of the shift's tail synced later is the host's too, by the same rule, on the next crediting run
    StoreWriter(engine).write_page(shops["own-us"], [_order("TAIL", T0 + timedelta(minutes=80)),
                                                     _order("LATE", T0 + timedelta(minutes=95))])
    from services.crediting import credit_shops
    assert credit_shops(engine, [shops["own-us"]]).counts.roster == 2
    assert _credits(engine) == {"BEFORE": (None, None), "IN": ("host1", "roster"), "LATE": (None, None),
                                "TAIL": ("host1", "roster")}
    # kpibot credit --explain names the shift, in the shop's zone, and whether the order fell in its tail
    from services.crediting import explain
    assert [e.lines() for e in explain(engine, "TAIL", timedelta(minutes=30))] == [[
        "order TAIL (shop own-us), paid 2026-11-22 13:20 (UTC)",
        "credited to host1 by the shift roster: on air for the shop's own account (2026-11-22 12:00 to 2026-11-22 "
        "13:00; paid in the 30-minute tail after it)"]]
    assert explain(engine, "IN", timedelta(minutes=30))[0].lines()[1] == (
        "credited to host1 by the shift roster: on air for the shop's own account (2026-11-22 12:00 to 2026-11-22 "
        "13:00; paid on air, tail 30 min)")


def test_a_forgotten_end_closes_at_the_maximum(engine: Engine) -> None:
    shops, chat = _setup(engine), Chat(engine)
    chat.say("host1", "/开播")   # the Chinese alias
    StoreWriter(engine).write_page(shops["own-us"], [_order("H7", T0 + timedelta(hours=7)),
                                                     _order("H9", T0 + timedelta(hours=9))])
    chat.now = T0 + timedelta(hours=20)
    card = chat.say("host1", "/下播")
    assert fields(card) == {"Shop": "own-us", "Start": "2026-11-22 12:00 UTC", "End": "2026-11-22 20:00 UTC",
                            "Orders credited to you": "1"}
    assert words(card) == ["The shift was left open longer than 8 hours, so it ends at the maximum.",
                           "Orders paid in the shift (and up to 30 minutes after) count in your /mykpi now."]
    assert _credits(engine) == {"H7": ("host1", "roster"), "H9": (None, None)}

    # a new /live start closes a forgotten shift first and says so
    chat.say("host1", "/live start")
    chat.now = T0 + timedelta(days=2)
    assert words(chat.say("host1", "/live start")) == [
        "You are on air for own-us since 2026-11-24 12:00 UTC. Say /live end when you stop; a shift left open "
        "ends 8 hours after it began.",
        "Your shift on own-us from 2026-11-23 08:00 UTC was never ended: it was closed at 2026-11-23 16:00 UTC, "
        "the 8-hour maximum."]
    # the refresh job's sweep closes what nobody ends
    assert close_overdue(chat.services, T0 + timedelta(days=2, hours=7)) == []
    [closed] = close_overdue(chat.services, T0 + timedelta(days=2, hours=9))
    assert (closed.shop, closed.ended_at, closed.capped) == ("own-us", T0 + timedelta(days=2, hours=8), True)
    assert _shifts(engine)[-1] == ("host1", T0 + timedelta(days=2), T0 + timedelta(days=2, hours=8))


def test_a_roster_file_line_for_the_same_time_takes_the_chat_shift_s_place(engine: Engine, tmp_path: Path) -> None:
    shops, chat = _setup(engine), Chat(engine)
    StoreWriter(engine).write_page(shops["own-us"], [_order("IN", T0 + timedelta(minutes=30))])
    chat.say("host1", "/live start")
    chat.now = T0 + timedelta(hours=1)
    chat.say("host1", "/live end")
    roster = tmp_path / "roster.csv"
    roster.write_text("shop,member,start,end\nown-us,host1,2026-11-22T11:55,2026-11-22T13:05\n", encoding="utf-8")
    with Session(engine) as s:
        assert import_roster(s, roster) == [shops["own-us"]]
        s.commit()
    assert _shifts(engine) == [("host1", T0 - timedelta(minutes=5), T0 + timedelta(minutes=65))]   # one, not two
    from services.crediting import credit_shops
    assert credit_shops(engine, [shops["own-us"]]).counts.roster == 1
    assert _credits(engine) == {"IN": ("host1", "roster")}
    # while the roster has them on air, /live start would only double it
    chat.now = T0 + timedelta(minutes=62)
    assert chat.text("host1", "/live start").splitlines()[2] == (
        "The roster already has you on air for own-us from 2026-11-22 11:55 UTC to 2026-11-22 13:05 UTC.")


def test_shop_choice_and_errors(engine: Engine) -> None:
    _setup(engine)
    chat = Chat(engine)
    cut = "x" * 40
    assert chat.text("host2", "/live start").splitlines()[2] == (
        f"Your team has several shops: name one, e.g. /live start SHOP. The shops: tts-uk, tts-us, {cut}")
    assert chat.text("host2", "/live start nope").splitlines()[2] == (
        f"Your team has no shop 'nope'. The shops: tts-uk, tts-us, {cut}")
    assert chat.text("host2", "/live start " + "y" * 300).splitlines()[2] == (
        f"Your team has no shop '{'y' * 40}'. The shops: tts-uk, tts-us, {cut}")
    assert chat.say("host2", "/live start TTS-US").title == "On air · tts-us"
    assert chat.text("boss", "/live start").splitlines()[2] == (
        "Only members scored on KPIs (hosts and the like) go on air.")
    assert chat.text("host1", "/live").splitlines()[2] == (
        "Say /live start [SHOP] when you go on air and /live end when you stop.")
    assert chat.text("host1", "/live dance").splitlines()[2] == (
        "I couldn't read that: dance. Try: /live start [SHOP] | /live end")
    assert chat.text("host1", "/live end now").splitlines()[2] == (
        "I couldn't read that: now. Try: /live start [SHOP] | /live end")
    assert _shifts(engine) == [("host2", T0, None)]


def test_indonesian_and_chinese_hosts_are_told_their_own_commands(engine: Engine) -> None:
    _setup(engine)
    with Session(engine) as s:   # host2 reads Indonesian; host1 Chinese
        for code, locale in (("host2", "id"), ("host1", "zh")):
            s.execute(select(Member).where(Member.code == code)).scalar_one().locale = locale
        s.commit()
    chat = Chat(engine)
    # /siaran is /live: it takes mulai|selesai first, and a bare shop is refused naming the Indonesian shortcuts
    assert chat.text("host2", "/siaran tts-us").splitlines()[2] == (
        "Saya tidak bisa membaca itu: tts-us. Coba: /mulaisiaran [TOKO] | /selesaisiaran")
    assert chat.text("host2", "/mulaisiaran").splitlines()[2] == (
        "Tim Anda punya beberapa toko: sebutkan satu, mis. /mulaisiaran TOKO. Toko: tts-uk, tts-us, " + "x" * 40)
    card = chat.say("host2", "/mulaisiaran tts-us")
    assert (card.title, words(card)) == ("Siaran · tts-us", [
        "Anda siaran untuk tts-us sejak 2026-11-22 12:00 UTC. Kirim /selesaisiaran saat selesai; shift yang "
        "dibiarkan terbuka berakhir 8 jam setelah dimulai."])
    assert chat.text("host2", "/siaran mulai tts-us").splitlines()[2] == (
        "Anda sudah siaran untuk tts-us sejak 2026-11-22 12:00 UTC. Kirim /selesaisiaran dulu.")
    chat.now = T0 + timedelta(hours=1)
    assert chat.say("host2", "/selesaisiaran").title == "Selesai siaran · tts-us"
    assert chat.text("host2", "/siaran").splitlines()[2] == (
        "Kirim /mulaisiaran [TOKO] saat mulai siaran dan /selesaisiaran saat selesai.")
    assert chat.text("host2", "/selesaisiaran").splitlines()[2] == (
        "Tidak ada shift yang terbuka. Kirim /mulaisiaran [TOKO] saat mulai siaran.")
    # Chinese readers are told /开播 and /下播, whichever name they typed
    assert chat.text("host1", "/直播 own-us").splitlines()[2] == "无法识别：own-us。试试：/开播 [店铺] | /下播"
    assert words(chat.say("host1", "/直播 开始")) == [
        "你已于 2026-11-22 13:00 UTC 在 own-us 开播。下播时请发 /下播；未下播的班次在开播 8 小时后自动结束。"]
    assert chat.text("host1", "/live start").splitlines()[2] == (
        "你已于 2026-11-22 13:00 UTC 在 own-us 开播，请先 /下播。")
    assert chat.text("host1", "/直播").splitlines()[2] == "开播时发 /开播 [店铺]，下播时发 /下播。"


def test_an_end_within_a_minute_cancels_and_one_shift_is_open_at_most(engine: Engine) -> None:
    shops, chat = _setup(engine), Chat(engine)
    assert chat.say("host1", "/live start").title == "On air · own-us"
    StoreWriter(engine).write_page(shops["own-us"], [_order("NEXT", T0 + timedelta(minutes=20))])
    chat.now = T0 + timedelta(seconds=59)
    assert chat.text("host1", "/live end").splitlines()[2] == (
        "Shift cancelled: it ended within a minute of its start, so it credits no orders.")
    assert (_shifts(engine), _credits(engine)) == ([], {"NEXT": (None, None)})
    # the store holds one open shift per member, whatever two replicas do at the same instant
    assert chat.say("host1", "/live start").title == "On air · own-us"
    with Session(engine) as s:
        member = s.execute(select(Member).where(Member.code == "host1")).scalar_one()
        s.add(LiveRoster(shop_id=shops["own-us"], member_id=member.id or 0, started_at=T0 + timedelta(hours=1)))
        with pytest.raises(IntegrityError):
            s.commit()
    assert _shifts(engine) == [("host1", T0 + timedelta(seconds=59), None)]


def test_a_shift_without_a_session_credits_by_the_roster_rule_pure() -> None:
    shift = Shift(7, T0, T0 + timedelta(hours=1))
    session = OnAir(1, 9, T0, T0 + timedelta(hours=1))
    assert credit(T0 + timedelta(minutes=70), None, [], timedelta(minutes=30), [shift]) == Credit(7, CreditRule.ROSTER)
    assert credit(T0 + timedelta(minutes=95), None, [], timedelta(minutes=30), [shift]) == Credit(None, None)
    # a session whose host is known comes first (rule 2), the platform before both (rule 1)
    assert credit(T0, None, [session], roster=[shift]) == Credit(9, CreditRule.LIVE_SESSION, 1)
    assert credit(T0, 5, [session], roster=[shift]) == Credit(5, CreditRule.PLATFORM)


def test_an_open_shift_ends_at_the_next_shift_s_start_pure() -> None:
    # 101 opened at 12:00 and never ended; 202 ran 14:00-16:00; 303 left one open from 17:00 with nothing after
    rows = [(101, T0, None), (202, T0 + timedelta(hours=2), T0 + timedelta(hours=4)),
            (303, T0 + timedelta(hours=5), None)]
    assert shifts_of(rows, timedelta(hours=8)) == [Shift(101, T0, T0 + timedelta(hours=2)),
                                                   Shift(202, T0 + timedelta(hours=2), T0 + timedelta(hours=4)),
                                                   Shift(303, T0 + timedelta(hours=5), T0 + timedelta(hours=13))]
    assert shifts_of(rows, timedelta(hours=1))[0] == Shift(101, T0, T0 + timedelta(hours=1))   # the cap first
    # an order at 16:40 (after 202's tail) is nobody's, not the forgotten shift's
    assert credit(T0 + timedelta(hours=4, minutes=40), None, [], timedelta(minutes=30),
                  shifts_of(rows, timedelta(hours=8))) == Credit(None, None)


def test_a_forgotten_shift_does_not_take_the_next_roster_host_s_orders(engine: Engine, tmp_path: Path) -> None:
    shops, chat = _setup(engine), Chat(engine)
    chat.say("host1", "/live start")   # 12:00, never ended
    roster = tmp_path / "roster.csv"
    roster.write_text("shop,member,start,end\nown-us,host2,2026-11-22T14:00,2026-11-22T16:00\n", encoding="utf-8")
    with Session(engine) as s:
        import_roster(s, roster)
        s.commit()
    StoreWriter(engine).write_page(shops["own-us"], [_order("A", T0 + timedelta(hours=1)),
                                                     _order("B", T0 + timedelta(hours=4, minutes=40))])
    from services.crediting import credit_shops
    assert credit_shops(engine, [shops["own-us"]]).counts.roster == 1
    assert _credits(engine) == {"A": ("host1", "roster"), "B": (None, None)}


def test_going_on_air_closes_another_member_s_open_shift_on_the_shop(engine: Engine) -> None:
    shops, chat = _setup(engine), Chat(engine)
    with Session(engine) as s:   # host3 of host1's team; replies name members by their display names
        host1 = s.execute(select(Member).where(Member.code == "host1")).scalar_one()
        host1.name = "Lily"
        s.add(Member(org_id=host1.org_id, team_id=host1.team_id, code="host3", name="Esc One", role="host",
                     timezone="Asia/Shanghai", locale="zh"))
        s.commit()
    chat.say("host1", "/live start")
    StoreWriter(engine).write_page(shops["own-us"], [_order("H1", T0 + timedelta(minutes=30)),
                                                     _order("H3", T0 + timedelta(hours=2, minutes=10)),
                                                     _order("H3B", T0 + timedelta(hours=4, minutes=40))])
    from services.crediting import credit_shops
    credit_shops(engine, [shops["own-us"]])   # the refresh job, while host1's shift is still open
    assert _credits(engine) == {"H1": ("host1", "roster"), "H3": ("host1", "roster"), "H3B": ("host1", "roster")}
    chat.now = T0 + timedelta(hours=2)
    card = chat.say("host3", "/live start")
    assert card.title == "开播 · own-us"
    assert words(card)[1:] == ["Lily 在 own-us 的班次仍未下播，现已在 2026-11-22 22:00 Asia/Shanghai 结束。"]
    assert _shifts(engine) == [("host1", T0, T0 + timedelta(hours=2)), ("host3", T0 + timedelta(hours=2), None)]
    assert _credits(engine) == {"H1": ("host1", "roster"), "H3": ("host3", "roster"), "H3B": ("host3", "roster")}
    # host1's own /live end later says who ended her shift, not only that none is open
    chat.now = T0 + timedelta(hours=3)
    assert chat.text("host1", "/live end").splitlines()[2] == (
        "Your shift on own-us ended at 2026-11-22 14:00 UTC, when Esc One went on air.")
    chat.now = T0 + timedelta(hours=4)
    chat.say("host3", "/live end")
    assert _credits(engine) == {"H1": ("host1", "roster"), "H3": ("host3", "roster"), "H3B": (None, None)}
    assert chat.text("host3", "/live end").splitlines()[2] == (   # ended by herself: nobody took over
        "你没有进行中的班次。开播时请发 /开播 [店铺]。")
    from cards.i18n import t
    assert [t(lang, "live.taken_over", shop="own-us", end="14:00", host="Esc One") for lang in ("zh", "id")] == [
        "你在 own-us 的班次已在 14:00 结束：Esc One 开播接班了。",
        "Shift Anda di own-us berakhir pada 14:00, saat Esc One mulai siaran."]
    # in English and Indonesian
    from commands.live import started_card
    from services.live_shifts import Ended, Started, TookOver
    ended = Ended("own-us", T0, T0 + timedelta(hours=2), False, 1)
    started = Started("own-us", T0 + timedelta(hours=2), None, (TookOver("host1", ended),))
    assert words(started_card(started, "UTC", 8, "en"))[1:] == [
        "host1's shift on own-us was still open; it now ends at 2026-11-22 14:00 UTC."]
    assert words(started_card(started, "UTC", 8, "id"))[1:] == [
        "Shift host1 di own-us masih terbuka; kini berakhir pada 2026-11-22 14:00 UTC."]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_0016_lets_a_shift_be_open_and_back(backend: str, tmp_path: Path) -> None:
    """An open shift (no end) is stored from 0016 on; the downgrade ends each open shift 8 hours after its start
    and makes the end required again; 0016 goes up again."""
    from alembic import command

    from storage.migrate import _config

    eng = fresh_engine(backend, tmp_path)
    assert upgrade(eng, "0015") == (None, "0015")
    assert {c["name"]: c["nullable"] for c in inspect(eng).get_columns("live_roster")}["ended_at"] is False
    shops = _setup(eng)
    with eng.begin() as c:
        c.execute(text("INSERT INTO live_roster (shop_id, member_id, started_at, ended_at) "
                       "SELECT :s, id, '2026-11-22 10:00:00', '2026-11-22 11:00:00' FROM member WHERE code = 'host1'"),
                  {"s": shops["own-us"]})
    assert upgrade(eng) == ("0015", head_revision())
    with eng.begin() as c:
        c.execute(text("INSERT INTO live_roster (shop_id, member_id, started_at, ended_at) "
                       "SELECT :s, id, '2026-11-22 12:00:00', NULL FROM member WHERE code = 'host1'"),
                  {"s": shops["own-us"]})
    assert _shifts(eng) == [("host1", T0 - timedelta(hours=2), T0 - timedelta(hours=1)), ("host1", T0, None)]

    cfg = _config(eng)
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")
    assert _shifts(eng) == [("host1", T0 - timedelta(hours=2), T0 - timedelta(hours=1)),
                            ("host1", T0, T0 + timedelta(hours=8))]
    with pytest.raises(IntegrityError), eng.begin() as c:
        c.execute(text("INSERT INTO live_roster (shop_id, member_id, started_at, ended_at) "
                       "SELECT :s, id, '2026-11-23 12:00:00', NULL FROM member WHERE code = 'host1'"),
                  {"s": shops["own-us"]})
    assert upgrade(eng) == ("0015", head_revision())
    assert {c["name"]: c["nullable"] for c in inspect(eng).get_columns("live_roster")}["ended_at"] is True
    eng.dispose()

"""Crediting orders to hosts (services.crediting, scoring.crediting), on SQLite and PostgreSQL: members' handles,
an order paid inside a host's live session or its tail, the platform's own-account affiliate credit first, a
late session re-crediting, the roster for sessions without a handle, --explain and unmatched handles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from scoring.crediting import DEFAULT_TAIL, Credit, CreditRule, OnAir, Shift, by_shift, credit
from scoring.periods import PeriodKind
from scoring.rules import Rules
from services.container import Services
from services.crediting import Unmatched, credit_shops, explain
from services.my_kpi import my_kpi
from storage.crediting import CreditCounts, HandleTaken, set_handle
from storage.ingest.records import AffiliateRecord, LiveRecord, OrderRecord, OrderStatus, PostRecord
from storage.ingest.writer import StoreWriter
from storage.models import LiveSession, Member, Order, Shop
from storage.queries import member_by_code
from storage.roster_import import import_roster
from tests.clock import DEMO_NOW
from tests.conftest import org_and_team

START = datetime(2026, 11, 10, 18, tzinfo=UTC)   # host1's session: 18:00 to 20:00 UTC
END = START + timedelta(hours=2)


def _order(pid: str, paid: datetime, merch: str = "20.00") -> OrderRecord:
    return OrderRecord(pid, OrderStatus.PAID, "USD", subtotal=D(merch), discount=D("0"), merchandise=D(merch),
                       shipping=D("0"), tax=D("0"), total=D(merch), created_at=paid, updated_at=paid, paid_at=paid)


def _live(sid: str, handle: str | None, start: datetime = START, end: datetime = END) -> LiveRecord:
    return LiveRecord(sid, handle, "Evening live", start, end, "USD", D("0"), 100, 200, 6000, 30, 5)


def _setup(engine: Engine) -> tuple[int, dict[str, int]]:
    """A TikTok shop and three members: host1 (handle lin.live), host2 (handle @Mei.Sells), and host3 without."""
    with Session(engine) as s:
        org, team = org_and_team(s)
        shop = Shop(org_id=org.id, team_id=team.id, code="tts-us", name="TTS US", platform="tiktok_shop",
                    region="US", currency="USD", timezone="UTC")
        s.add(shop)
        members = {code: Member(org_id=org.id or 0, team_id=team.id, code=code, name=code, role="host",
                                timezone="UTC", locale="en") for code in ("host1", "host2", "host3")}
        s.add_all(members.values())
        s.flush()
        assert set_handle(s, members["host1"], "tiktok", "lin.live") is True
        assert set_handle(s, members["host2"], "tiktok_shop", "@Mei.Sells") is True
        assert set_handle(s, members["host2"], "tiktok", "mei.sells") is False   # the same, as compared
        with pytest.raises(HandleTaken, match=r"tiktok handle lin\.live already belongs to host1"):
            set_handle(s, members["host2"], "tiktok", "@LIN.live")
        s.commit()
        return shop.id or 0, {code: m.id or 0 for code, m in members.items()}


def _credits(engine: Engine) -> dict[str, tuple[str | None, str | None, str | None]]:
    """platform order id -> (member code, rule, session id)."""
    with Session(engine) as s:
        rows = s.execute(select(Order.platform_order_id, Member.code, Order.credit_rule,
                                LiveSession.platform_session_id)
                         .outerjoin(Member, Member.id == Order.member_id)
                         .outerjoin(LiveSession, LiveSession.id == Order.live_session_id)).all()
    return {pid: (code, rule, sid) for pid, code, rule, sid in rows}


def test_live_session_tail_platform_first_and_late_sessions(engine: Engine) -> None:
    shop, _ = _setup(engine)
    writer = StoreWriter(engine)
    writer.write_page(shop, [
        _order("IN", START + timedelta(minutes=30)),
        _order("TAIL10", END + timedelta(minutes=10)),
        _order("TAIL40", END + timedelta(minutes=40)),
        _order("BEFORE", START - timedelta(seconds=1)),
        _order("OWN", START + timedelta(minutes=45)),            # host2's own creator account sold it
        _order("LATE", START + timedelta(days=1, minutes=5)),    # its session arrives later
        _live("L1", "@Lin.Live"),
        AffiliateRecord("OWN", "P1", "mei.sells", "VIDEO", "v1", D("0.10"), "USD", D("20.00"), 1, 0, "COMPLETED",
                        START, START),
    ])

    run = credit_shops(engine, [shop], tail=timedelta(minutes=30))

    assert run.counts == CreditCounts(orders=6, platform=1, live_session=2, nobody=3, changed=3)
    assert run.unmatched == []
    assert _credits(engine) == {"IN": ("host1", "live_session", "L1"), "TAIL10": ("host1", "live_session", "L1"),
                                "TAIL40": (None, None, None), "BEFORE": (None, None, None),
                                "OWN": ("host2", "platform", None), "LATE": (None, None, None)}

    # the next day's session of host2 arrives after its order, together with one of a handle nobody holds
    writer.write_page(shop, [_live("L2", "mei.sells", START + timedelta(days=1), END + timedelta(days=1)),
                             _live("L3", "ghost.host", START + timedelta(days=2), END + timedelta(days=2)),
                             PostRecord("V1", "ghost.host", START, 10)])
    run = credit_shops(engine, [shop], tail=timedelta(minutes=30))
    assert run.counts == CreditCounts(orders=6, platform=1, live_session=3, nobody=2, changed=1)
    assert run.unmatched == [Unmatched("tts-us", "ghost.host", 2)]
    assert _credits(engine)["LATE"] == ("host2", "live_session", "L2")

    assert [e.lines() for e in explain(engine, "TAIL10", timedelta(minutes=30))] == [[
        "order TAIL10 (shop tts-us), paid 2026-11-10 20:10 (UTC)",
        "credited to host1 by live session L1 (2026-11-10 18:00 to 2026-11-10 20:00; paid in the 30-minute tail "
        "after it)"]]
    assert [e.lines() for e in explain(engine, "OWN")] == [[
        "order OWN (shop tts-us), paid 2026-11-10 18:45 (UTC)",
        "credited to host2 by the platform: affiliate order of their own creator handle"]]
    assert [e.lines() for e in explain(engine, "TAIL40")] == [[
        "order TAIL40 (shop tts-us), paid 2026-11-10 20:40 (UTC)",
        "credited to nobody: no own-account affiliate data, no host's live session and no roster shift on air "
            "(tail 30 min)"]]

    # the tail is half-open: 40 minutes do not take an order paid 40 minutes after the end, 45 do
    assert credit_shops(engine, [shop], tail=timedelta(minutes=40)).counts.live_session == 3
    assert credit_shops(engine, [shop], tail=timedelta(minutes=45)).counts.live_session == 4
    assert _credits(engine)["TAIL40"] == ("host1", "live_session", "L1")


def test_a_shop_fed_by_export_files_matches_handles_of_any_platform(engine: Engine) -> None:
    # a TikTok export imported into a "file" shop names hosts by their TikTok handles, which the shop does not say;
    # a handle that names two members on two platforms says nobody
    shop_id, ids = _setup(engine)
    with Session(engine) as s:
        shop = s.get(Shop, shop_id)
        assert shop is not None
        shop.platform = "file"
        host3 = s.get(Member, ids["host3"])
        assert host3 is not None
        set_handle(s, host3, "shopee", "lin.live")   # host1 is lin.live on TikTok
        s.commit()
    StoreWriter(engine).write_page(shop_id, [_order("M", START + timedelta(minutes=5)),
                                             _order("C", START + timedelta(days=1, minutes=5)),
                                             _live("L1", "mei.sells"),
                                             _live("L2", "lin.live", START + timedelta(days=1),
                                                   END + timedelta(days=1))])
    run = credit_shops(engine, [shop_id], tail=timedelta(minutes=30))
    assert (run.counts.live_session, run.unmatched) == (1, [Unmatched("tts-us", "lin.live", 1)])
    assert _credits(engine) == {"M": ("host2", "live_session", "L1"), "C": (None, None, None)}


def test_the_roster_names_the_host_of_a_session_without_a_handle(engine: Engine, tmp_path: Path) -> None:
    shop, _ = _setup(engine)
    StoreWriter(engine).write_page(shop, [_order("R1", START + timedelta(minutes=5)), _live("OWN1", None)])
    assert credit_shops(engine, [shop]).counts.live_session == 0
    roster = tmp_path / "roster.csv"
    roster.write_text("shop,member,start,end\ntts-us,host3,2026-11-10T17:55,2026-11-10T20:05\n", encoding="utf-8")
    with Session(engine) as s:
        assert import_roster(s, roster) == [shop]
        s.commit()
    run = credit_shops(engine, [shop])
    assert (run.hosts_changed, run.counts.live_session, run.counts.roster) == (1, 0, 1)
    assert _credits(engine) == {"R1": ("host3", "roster", "OWN1")}   # rule roster: the roster said who


def test_hosts_taking_turns_each_get_the_orders_paid_in_their_shift(engine: Engine, tmp_path: Path) -> None:
    # the session carries the shop account's own handle, which no member holds: the roster says who was on air,
    # shift by shift (the host who opened the session does not take the orders of the next one)
    shop, _ = _setup(engine)
    StoreWriter(engine).write_page(shop, [_order("S1", START + timedelta(minutes=30)),
                                          _order("S2", START + timedelta(minutes=90)),
                                          _order("T", END + timedelta(minutes=10)),
                                          _live("OWN1", "acme.official")])
    roster = tmp_path / "roster.csv"
    roster.write_text("shop,member,start,end\ntts-us,host3,2026-11-10T18:00,2026-11-10T19:00\n"
                      "tts-us,host1,2026-11-10T19:00,2026-11-10T20:00\n", encoding="utf-8")
    with Session(engine) as s:
        import_roster(s, roster)
        s.commit()
    run = credit_shops(engine, [shop])
    assert (run.counts.roster, run.unmatched) == (3, [])   # the roster named its hosts
    assert _credits(engine) == {"S1": ("host3", "roster", "OWN1"), "S2": ("host1", "roster", "OWN1"),
                                "T": ("host1", "roster", "OWN1")}


def test_a_handle_the_store_cannot_keep_is_refused(engine: Engine) -> None:
    _setup(engine)
    with Session(engine) as s:
        host3 = member_by_code(s, "host3")
        assert host3 is not None
        with pytest.raises(ValueError, match=r"^a platform is named in lower-case letters, digits and _ "
                                             r"\(at most 32\), e.g. tiktok; got 'bad plat'$"):
            set_handle(s, host3, "bad plat", "x")
        with pytest.raises(ValueError, match=r"^a handle has at most 128 characters; got 129$"):
            set_handle(s, host3, "tiktok", "h" * 129)
        assert set_handle(s, host3, "tiktok", "h" * 128) is True


def test_rule_precedence_is_pure() -> None:
    sessions = [OnAir(1, 10, START, END), OnAir(2, 20, END - timedelta(minutes=5), END + timedelta(hours=1))]
    assert credit(END + timedelta(minutes=1), None, sessions) == Credit(20, CreditRule.LIVE_SESSION, 2)  # on air
    assert credit(END - timedelta(minutes=1), None, sessions) == Credit(20, CreditRule.LIVE_SESSION, 2)  # latest
    assert credit(START, 30, sessions) == Credit(30, CreditRule.PLATFORM)
    assert credit(None, None, sessions) == Credit(None, None)
    assert timedelta(minutes=30) == DEFAULT_TAIL


def test_an_order_in_host1s_session_counts_in_her_mykpi(demo_copy: Engine) -> None:
    """The demo's host1 (America/Los_Angeles): an order of 12.34 USD paid inside a new session of her handle
    raises her November net GMV by exactly 12.34 USD."""
    services = Services(demo_copy, Rules(), "Asia/Shanghai", "en", _charts())
    with Session(demo_copy) as s:
        shop = s.execute(select(Shop).where(Shop.code == "tts-us")).scalar_one()
        host1 = member_by_code(s, "host1")
        assert host1 is not None
        set_handle(s, host1, "tiktok", "lin.live")
        s.commit()
        shop_id = shop.id or 0
    credit_shops(demo_copy, [shop_id])

    def net() -> D:
        with Session(demo_copy) as s:
            member = member_by_code(s, "host1")
            assert member is not None
            scorecard = my_kpi(services, member, PeriodKind.MONTH, DEMO_NOW).score.scorecard
        assert scorecard is not None
        return scorecard.result("net_gmv").actual  # type: ignore[return-value]

    before = net()
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    StoreWriter(demo_copy).write_page(shop_id, [_live("NEW-LIVE", "lin.live", at, at + timedelta(hours=1)),
                                                _order("NEW-ORDER", at + timedelta(minutes=20), "12.34")])
    credit_shops(demo_copy, [shop_id])
    assert _credits(demo_copy)["NEW-ORDER"] == ("host1", "live_session", "NEW-LIVE")
    assert net() - before == D("12.34")


def _charts():  # type: ignore[no-untyped-def]
    from cards.chart_cache import ChartCache

    return ChartCache()


def test_the_cli_sets_handles_lists_unmatched_and_explains(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import seeded_by_cli
    from tests.test_cli import NOW, InProcess

    cli = InProcess(capsys, monkeypatch)
    config = '[store]\nurl = "sqlite:///store.db"\n[attribution]\nlive_tail_minutes = 10\n'
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    seeded_by_cli(tmp_path / "store.db", NOW)   # as `kpibot db upgrade` and `seed-demo` leave it, copied
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    assert cli(tmp_path, "members", "handle", "host1", "--platform", "tiktok", "@Lin.Live").stdout == \
        "host1: handle added; handles: tiktok=lin.live\n"
    taken = cli(tmp_path, "members", "handle", "host2", "--platform", "tiktok", "lin.live")
    assert (taken.returncode, taken.stderr) == (2, "kpibot: tiktok handle lin.live already belongs to host1\n")
    (tmp_path / "members.csv").write_text("member,tiktok_handle,shopee_handle\nhost2,mei.sells,mei_sg\n",
                                          encoding="utf-8")
    assert cli(tmp_path, "members", "import", "members.csv").stdout == "imported members.csv: 0 new, 1 updated\n"
    clash = tmp_path / "clash.csv"
    clash.write_text("member,tiktok_handle\nhost3,LIN.LIVE\n", encoding="utf-8")
    bad = cli(tmp_path, "members", "import", "clash.csv")
    assert (bad.returncode, bad.stderr) == (
        2, "kpibot: nothing imported: line 2: tiktok_handle LIN.LIVE already belongs to host1\n")

    engine_url = f"sqlite:///{tmp_path / 'store.db'}"
    from storage.engine import make_engine

    engine = make_engine(engine_url)
    with Session(engine) as s:
        shop_id = s.execute(select(Shop.id).where(Shop.code == "tts-us")).scalar_one()
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    StoreWriter(engine).write_page(shop_id, [_live("NEW-LIVE", "lin.live", at, at + timedelta(hours=1)),
                                             _live("ODD-LIVE", "nobody.here", at, at + timedelta(hours=1)),
                                             _order("NEW-ORDER", at + timedelta(minutes=65), "12.34")])
    engine.dispose()
    # --unmatched only reads (the sessions written since were not credited yet): nothing is credited by it
    assert cli(tmp_path, "credit", "--unmatched").stdout == (
        "tts-us       nobody.here              1 session, 0 videos\n"
        "link each to its member: kpibot members handle MEMBER HANDLE --platform P\n")
    both = cli(tmp_path, "credit", "--explain", "NEW-ORDER", "--unmatched")   # neither silently ignored
    assert (both.returncode, both.stdout, both.stderr.splitlines()[-1]) == (
        2, "", "kpibot credit: error: argument --unmatched: not allowed with argument --explain")
    assert cli(tmp_path, "credit", "--explain", "NEW-ORDER").stdout.splitlines()[1].startswith("credited to nobody")
    assert cli(tmp_path, "credit").returncode == 0
    assert cli(tmp_path, "credit", "--explain", "NEW-ORDER").stdout == (
        "order NEW-ORDER (shop tts-us), paid 2026-11-21 02:05 (America/Los_Angeles)\n"
        "credited to host1 by live session NEW-LIVE (2026-11-21 01:00 to 2026-11-21 02:00; paid in the 10-minute "
        "tail after it)\n")
    missing = cli(tmp_path, "credit", "--explain", "NO-SUCH")
    assert (missing.returncode, missing.stderr) == (2, "kpibot: no order 'NO-SUCH'\n")


def test_time_no_shift_covers_stays_the_sessions_own_host() -> None:
    # a roster covering 18:30-19:00 of an 18:00-20:00 session opened by host 10: the rest stays host 10's
    session = OnAir(1, 10, START, END)
    pieces = by_shift(session, [Shift(20, START + timedelta(minutes=30), START + timedelta(hours=1))])
    assert pieces == [OnAir(1, 10, START, START + timedelta(minutes=30)),
                      OnAir(1, 20, START + timedelta(minutes=30), START + timedelta(hours=1), by_roster=True),
                      OnAir(1, 10, START + timedelta(hours=1), END)]
    assert credit(START + timedelta(minutes=90), None, pieces) == Credit(10, CreditRule.LIVE_SESSION, 1)
    assert credit(START + timedelta(minutes=45), None, pieces) == Credit(20, CreditRule.ROSTER, 1)
    assert by_shift(session, []) == [session]


def test_a_roster_imported_twice_keeps_one_row_a_shift_and_names_bad_lines(engine: Engine, tmp_path: Path) -> None:
    from sqlalchemy import func

    from storage.models import LiveRoster
    from storage.roster_import import RosterProblem

    _setup(engine)
    roster = tmp_path / "roster.csv"
    roster.write_text("shop,member,start,end\ntts-us,host3,2026-11-10T18:00,2026-11-10T19:00\n", encoding="utf-8")
    for end in ("19:00", "19:30"):   # the second import moves the shift's end
        roster.write_text(f"shop,member,start,end\ntts-us,host3,2026-11-10T18:00,2026-11-10T{end}\n",
                          encoding="utf-8")
        with Session(engine) as s:
            import_roster(s, roster)
            s.commit()
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(LiveRoster)).scalar_one() == 1
        assert s.execute(select(LiveRoster.ended_at)).scalar_one() == datetime(2026, 11, 10, 19, 30, tzinfo=UTC)
    roster.write_text("shop,member,start,end\nnope,host3,2026-11-10T18:00,2026-11-10T19:00\n"
                      f"tts-us,{'x' * 300},2026-11-10T18:00,2026-11-10T19:00\n", encoding="utf-8")
    with Session(engine) as s, pytest.raises(RosterProblem) as refused:
        import_roster(s, roster)
    assert str(refused.value) == (f"line 2: no shop 'nope'; line 3: no member {'x' * 40!r} in shop tts-us's "
                                  "organisation")


def test_someone_on_air_beats_a_tail_whichever_kind_pure() -> None:
    # host 101's session 18:00-20:00; host 202 on air from 20:00 (a chat shift or a roster line): an order paid at
    # 20:10 is 202's, whether or not the shop's own session (split into shift pieces) was synced yet
    at = END + timedelta(minutes=10)
    session, shift = OnAir(1, 101, START, END), Shift(202, END, END + timedelta(hours=2))
    assert credit(at, None, [session], DEFAULT_TAIL, [shift]) == Credit(202, CreditRule.ROSTER)
    own = OnAir(2, 101, START, END + timedelta(hours=2))   # the shop's own account, 18:00-22:00, split by shift
    pieces = by_shift(own, [Shift(101, START, END), shift])
    assert credit(at, None, [session, *pieces], DEFAULT_TAIL, [Shift(101, START, END), shift]) == \
        Credit(202, CreditRule.ROSTER, 2)
    # and the other way round: a session on air beats a shift's tail
    assert credit(at, None, [OnAir(3, 303, END, END + timedelta(hours=1))], DEFAULT_TAIL,
                  [Shift(202, START, END)]) == Credit(303, CreditRule.LIVE_SESSION, 3)
    # among several on air, the latest started, whatever its kind
    assert credit(at, None, [OnAir(4, 404, START, END + timedelta(hours=1))], DEFAULT_TAIL, [shift]) == \
        Credit(202, CreditRule.ROSTER)
    assert credit(at, None, [OnAir(5, 505, END + timedelta(minutes=5), END + timedelta(hours=1))], DEFAULT_TAIL,
                  [shift]) == Credit(505, CreditRule.LIVE_SESSION, 5)
    # a tail credits only when nobody is on air: then the latest started tail
    assert credit(END + timedelta(hours=2, minutes=10), None, [session], DEFAULT_TAIL, [shift]) == \
        Credit(202, CreditRule.ROSTER)
    assert credit(END + timedelta(minutes=40), None, [session], DEFAULT_TAIL, []) == Credit(None, None)


def test_an_ended_session_s_tail_does_not_take_the_next_host_s_orders(engine: Engine, tmp_path: Path) -> None:
    shop, _ = _setup(engine)
    StoreWriter(engine).write_page(shop, [_live("L1", "lin.live"), _order("NEXT", END + timedelta(minutes=10)),
                                          _order("TAIL", END + timedelta(minutes=5))])
    assert _credits(engine) == {"NEXT": (None, None, None), "TAIL": (None, None, None)}
    credit_shops(engine, [shop])
    assert _credits(engine) == {"NEXT": ("host1", "live_session", "L1"), "TAIL": ("host1", "live_session", "L1")}
    roster = tmp_path / "roster.csv"
    roster.write_text("shop,member,start,end\ntts-us,host2,2026-11-10T20:08,2026-11-10T22:00\n", encoding="utf-8")
    with Session(engine) as s:
        import_roster(s, roster)
        s.commit()
    run = credit_shops(engine, [shop])
    assert (run.counts.live_session, run.counts.roster, run.counts.changed) == (1, 1, 1)
    assert _credits(engine) == {"NEXT": ("host2", "roster", None), "TAIL": ("host1", "live_session", "L1")}


def test_the_cli_counts_roster_credits(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from storage.engine import make_engine
    from tests.test_cli import InProcess

    cli = InProcess(capsys, monkeypatch)
    (tmp_path / "config.toml").write_text('[store]\nurl = "sqlite:///store.db"\n', encoding="utf-8")
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    shop, _ = _setup(engine)
    StoreWriter(engine).write_page(shop, [_order("R1", START + timedelta(minutes=30)),
                                          _order("R2", START + timedelta(hours=3))])
    engine.dispose()
    (tmp_path / "roster.csv").write_text("shop,member,start,end\ntts-us,host3,2026-11-10T18:00,2026-11-10T19:00\n",
                                         encoding="utf-8")
    assert cli(tmp_path, "lives", "roster", "import", "roster.csv").stdout == (
        "roster roster.csv: imported; 0 sessions got their host, 0 orders credited by live session, 1 by the roster\n")
    assert cli(tmp_path, "credit").stdout == (
        "host credit: 2 paid orders, 0 by the platform, 0 by live session, 1 by the roster, 1 nobody's (0 changed); "
        "0 handles match no member\n")
    # attribution prints the host credit line when only the roster credited (it was left out before)
    assert cli(tmp_path, "attribute", "--shop", "tts-us").stdout.splitlines()[-1] == (
        "host credit: 2 paid orders, 0 by the platform, 0 by live session, 1 by the roster, 1 nobody's; "
        "0 handles match no member")


def test_the_admins_notice_and_credit_unmatched_list_the_same_handles(engine: Engine, tmp_path: Path) -> None:
    from services.handle_notices import unknown_handles
    from storage.crediting import UnmatchedRows, unmatched_handles

    shop, _ = _setup(engine)
    roster = tmp_path / "roster.csv"
    roster.write_text("shop,member,start,end\ntts-us,host3,2026-11-11T18:00,2026-11-11T20:00\n", encoding="utf-8")
    with Session(engine) as s:
        import_roster(s, roster)
        s.commit()
    day = timedelta(days=1)
    StoreWriter(engine).write_page(shop, [_live("L1", "ghost"),                           # nobody: listed
                                          _live("L2", "acme.official", START + day, END + day),   # the roster's
                                          _live("L3", "@"),            # no handle: listed once as "", not now
                                          PostRecord("V1", "@Ghost", START, 10),          # the same handle
                                          PostRecord("V2", "host3", START, 10)])          # a member's code
    run = credit_shops(engine, [shop])
    assert run.unmatched == [Unmatched("tts-us", "ghost", 2)]
    with engine.connect() as conn:
        assert unmatched_handles(conn) == [UnmatchedRows(shop, "ghost", sessions=1, videos=1)]
        [found] = unknown_handles(conn)
    assert (found.platform, found.handle, found.sessions, found.videos, found.shops) == (
        "tiktok", "ghost", 1, 1, ["TTS US (tts-us)"])

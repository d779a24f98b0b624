"""Commission from the store: month closing, clawback across months, the plan's currency, the basis metrics,
and /commission with its what-if and who may see whom. Every figure is computed by hand in the comments."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.model import Buttons
from cards.render_text import render_text
from scoring.commission import Basis, Plan, PlanKind, Tier
from scoring.facts import Activity, LineFact, OrderFact, RefundFact
from scoring.fx import FxTable
from scoring.metrics import CATALOG, Context
from scoring.periods import month_window
from scoring.rules import Rules
from services.commission import MonthNotOver, NoPlanInForce, close_month, estimate
from services.scorecards import Inputs
from storage.commission import load_plans, save_plan
from storage.migrate import head_revision, upgrade
from storage.models import CommissionPayout, FxRateRow, Member, Order, OrderLine, Product, Refund, Shop, Sku, Team
from storage.queries import member_by_code
from tests.conftest import dispatcher_for, fresh_engine, org_and_team
from tests.test_commands import fields, host1_net_gmv_minor, say

D = Decimal


def at(day: int, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


# --- the basis metrics (pure) -------------------------------------------------------------------------------------

def test_gross_profit_and_new_customers_by_hand() -> None:
    returned = OrderFact(1, "USD", D("100"), 2, at(3), paid_at=at(3),
                         refunds=(RefundFact(D("50"), at(6), returned_units=1),),
                         lines=(LineFact(7, 2, D("30"), "USD"),), new_customer=True)
    unknown_cost = OrderFact(2, "USD", D("200"), 1, at(4), paid_at=at(4), lines=(LineFact(8, 1, None, None),))
    cancelled = OrderFact(3, "USD", D("80"), 1, at(5), paid_at=at(5), cancelled_at=at(5),
                          lines=(LineFact(8, 1, D("10"), "USD"),), new_customer=True)
    ctx = Context(month_window(2026, 11, "UTC"), at(20), Rules(), FxTable([]))
    activity = Activity(orders=(returned, unknown_cost, cancelled))
    # net GMV 100 - 50 + 200 = 250; cost kept: 30 x (1 of 2 units kept) = 15; the unknown cost counts as 0
    assert CATALOG["gross_profit"].compute(activity, ctx) == D("235")
    # the cancelled order's buyer does not count
    assert CATALOG["new_customers"].compute(activity, ctx) == D(1)


# --- month closing and clawback (both backends) ---------------------------------------------------------------------

PLAN = Plan("host-plan", "host", Basis.NET_GMV, PlanKind.TIERED, (Tier(D(0), D("0.10")), Tier(D(1000), D("0.20"))),
            "USD")


def _store(engine: Engine) -> tuple[Member, Shop]:
    with Session(engine) as s:
        org, team = org_and_team(s)
        shop = Shop(org_id=org.id, team_id=team.id, code="s", name="S", platform="file", region="US",
                    currency="USD", timezone="UTC")
        host = Member(org_id=org.id, team_id=team.id, code="h", name="Host", role="host", timezone="UTC",
                      locale="en")
        s.add_all([shop, host])
        s.flush()
        save_plan(s, org.id or 0, PLAN)
        s.commit()
        s.refresh(host)
        s.refresh(shop)
        return host, shop


def _order(s: Session, shop: Shop, host: Member, ref: str, cents: int, paid: datetime, buyer: str) -> Order:
    order = Order(shop_id=shop.id or 0, platform_order_id=ref, status="COMPLETED", currency="USD",
                  merchandise_minor=cents, total_minor=cents, units=1, created_at=paid, paid_at=paid,
                  member_id=host.id, buyer_ref=buyer)
    s.add(order)
    s.flush()
    return order


def _refund(s: Session, order: Order, ref: str, cents: int, done: datetime) -> None:
    s.add(Refund(order_id=order.id or 0, platform_refund_id=ref, kind="refund", status="completed", currency="USD",
                 amount_minor=cents, requested_at=done, completed_at=done))


def _inputs(s: Session, now: datetime) -> Inputs:
    return Inputs.load(s, Rules(), now)


def test_refunds_after_payout_are_taken_back_once_from_the_next_month(engine: Engine) -> None:
    host, shop = _store(engine)
    with Session(engine) as s:
        a = _order(s, shop, host, "A", 60000, at(3, 10), "b1")
        b = _order(s, shop, host, "B", 70000, at(9, 10), "b2")
        s.commit()
        # October: 1,300.00 -> 1,000 x 10 % + 300 x 20 % = 160.00
        (oct_payout,) = close_month(s, _inputs(s, at(2)), 2026, 10).paid
        s.commit()
        assert (oct_payout.earned_minor, oct_payout.clawback_minor, oct_payout.paid_minor) == (16000, 0, 16000)
        assert close_month(s, _inputs(s, at(3)), 2026, 10).paid == []   # closed once
        _refund(s, b, "R1", 40000, at(5))     # October now 900.00 -> 90.00: 70.00 to take back
        _order(s, shop, host, "C", 50000, at(10), "b1")   # November 500.00 -> 50.00
        s.commit()
        nov = estimate(s, _inputs(s, at(20)), host, 2026, 11)
        assert nov is not None
        assert (nov.statement.earned, nov.statement.clawback, nov.statement.payable) == (
            D("50.00"), D("70.00"), D("-20.00"))
        assert [(c.period, c.amount, c.in_plan) for c in nov.clawbacks] == [("2026-10", D("70.00"), D("70.00"))]
        # at November's pace (19.5 of 30 days gone: 500 / 0.65) the month would reach 769.23... -> 76.92
        assert nov.projected_basis is not None and nov.projected_basis.quantize(D("0.01")) == D("769.23")
        (nov_payout,) = close_month(s, _inputs(s, at(2, 12)), 2026, 11).paid
        s.commit()
        assert (nov_payout.earned_minor, nov_payout.clawback_minor, nov_payout.paid_minor) == (5000, 7000, -2000)
        s.refresh(oct_payout)
        assert oct_payout.clawed_back_minor == 7000
        # December: nothing new is taken back for October ...
        dec = estimate(s, _inputs(s, at(10, 12)), host, 2026, 12)
        assert dec is not None and dec.clawbacks == () and dec.statement.payable == D("0.00")
        # ... until another October refund: 800.00 -> 80.00, and October keeps 160 - 70 = 90: 10.00 more
        _refund(s, a, "R2", 10000, at(11, 12))
        s.commit()
        dec = estimate(s, _inputs(s, at(12, 12)), host, 2026, 12)
        assert dec is not None and [(c.period, c.amount) for c in dec.clawbacks] == [("2026-10", D("10.00"))]
        # the closed months' cards show them as they were paid, and what is still to come back
        d = dispatcher_for(engine, now=at(12, 12))
        oct_card = fields(say(d, "h", "/commission 2026-10"))
        assert (oct_card["Earned"], oct_card["Paid on 2026-11-02"], oct_card["Taken back since"],
                oct_card["To take back from the next payout"]) == ("160.00 USD", "160.00 USD", "70.00 USD", "10.00 USD")
        nov_card = fields(say(d, "h", "/commission 2026-11"))
        assert (nov_card["Earned"], nov_card["Taken back in this payout"], nov_card["Paid on 2026-12-02"]) == (
            "50.00 USD", "-70.00 USD", "-20.00 USD")
        assert "2027-01 has not started yet." in render_text(say(d, "h", "/commission 2027-01"))


def test_a_month_is_closed_only_once_it_is_over_in_every_members_zone(engine: Engine) -> None:
    host, shop = _store(engine)
    with Session(engine) as s:
        # a member's month is their team's (scoring.periods.period_zone): w (living in Tokyo) is in a Los Angeles
        # team; u lives in Honolulu (month end 10:00 UTC) in the UTC team, so u's month is over at 00:00 UTC
        la = Team(org_id=host.org_id, code="la", name="LA", timezone="America/Los_Angeles", locale="en")
        s.add(la)
        s.flush()
        west = Member(org_id=host.org_id, team_id=la.id, code="w", name="West", role="host",
                      timezone="Asia/Tokyo", locale="en")
        s.add_all([west, Member(org_id=host.org_id, team_id=host.team_id, code="u", name="In UTC", role="host",
                                timezone="Pacific/Honolulu", locale="en")])
        _order(s, shop, host, "A", 130000, at(3, 10), "b1")
        s.commit()
        # November ends at 2026-12-01 00:00 UTC for h but at 08:00 UTC (00:00 in Los Angeles) for w
        for now in (at(20), datetime(2026, 12, 1, 7, 59, tzinfo=UTC)):
            with pytest.raises(MonthNotOver) as refused:
                close_month(s, _inputs(s, now), 2026, 11)
            assert str(refused.value) == "2026-11 is not over yet for w: it ends 2026-12-01 00:00 America/Los_Angeles"
        assert s.execute(select(CommissionPayout)).scalars().all() == []
        with pytest.raises(MonthNotOver):      # a month not begun is not over either
            close_month(s, _inputs(s, at(20)), 2027, 1)
        closed = close_month(s, _inputs(s, datetime(2026, 12, 1, 8, tzinfo=UTC)), 2026, 11)
        assert sorted((m.member_id, m.paid_minor) for m in closed.paid) == [(host.id, 0), (west.id, 0),
                                                                             (west.id + 1, 0)]
        october = close_month(s, _inputs(s, datetime(2026, 12, 1, 8, tzinfo=UTC)), 2026, 10)
        assert sorted((m.member_id, m.paid_minor) for m in october.paid) == [(host.id, 16000), (west.id, 0),
                                                                              (west.id + 1, 0)]


def test_a_month_is_paid_under_the_plan_in_force_then(engine: Engine) -> None:
    host, shop = _store(engine)     # PLAN (10 % to 1,000, then 20 %) in force from the beginning
    flat = Plan("host-flat", "host", Basis.NET_GMV, PlanKind.TIERED, (Tier(D(0), D("0.05")),), "USD")
    with Session(engine) as s:
        save_plan(s, host.org_id, flat, "2026-12")
        _order(s, shop, host, "A", 130000, at(3, 11), "b1")
        _order(s, shop, host, "B", 130000, at(3, 12), "b2")
        s.commit()
        # November: 1,300.00 under PLAN -> 1,000 x 10 % + 300 x 20 % = 160.00; December under host-flat: 65.00
        (nov,) = close_month(s, _inputs(s, at(2, 12)), 2026, 11).paid
        assert (nov.plan_name, nov.paid_minor) == ("host-plan", 16000)
        dec = estimate(s, _inputs(s, at(20, 12)), host, 2026, 12)
        assert dec is not None and (dec.plan.name, dec.statement.earned) == ("host-flat", D("65.00"))
        # a replacement for December switches host-flat off for December only; January follows December
        save_plan(s, host.org_id, replace(flat, name="host-flat2", tiers=(Tier(D(0), D("0.06")),)), "2026-12")
        s.commit()
        plans = load_plans(s)
        assert [(p.name, p.role) for p in plans.in_force("2027-01")] == [("host-flat2", "host")]
        assert plans.for_role("host", "2026-11") == PLAN
        assert plans.for_role("lead", "2026-11") is None
        assert [(v.plan.name, v.effective_from, v.active) for v in plans.versions] == [
            ("host-plan", "0001-01", True), ("host-flat", "2026-12", False), ("host-flat2", "2026-12", True)]


def test_a_month_before_every_plan_is_not_closed(engine: Engine) -> None:
    with Session(engine) as s:
        org, team = org_and_team(s)
        s.add(Member(org_id=org.id, team_id=team.id, code="h", name="Host", role="host", timezone="UTC",
                     locale="en"))
        save_plan(s, org.id or 0, PLAN, "2026-12")      # created in December, in force from December
        s.commit()
        with pytest.raises(NoPlanInForce) as refused:
            close_month(s, _inputs(s, at(7, 12)), 2026, 10)
        assert str(refused.value) == ("no commission plan is in force in 2026-10: a plan pays from the month it "
                                      "takes effect (kpibot commission plans; kpibot commission plan ... --from "
                                      "YYYY-MM)")
        assert s.execute(select(CommissionPayout)).scalars().all() == []


def test_a_paid_month_is_measured_again_under_the_plan_and_role_it_was_paid_under(engine: Engine) -> None:
    host, shop = _store(engine)
    with Session(engine) as s:
        _order(s, shop, host, "A", 130000, at(3, 10), "b1")
        s.commit()
        close_month(s, _inputs(s, at(2)), 2026, 10)     # 160.00 under 10 % / 20 %
        s.commit()
        # the plan is edited (same name, flat 5 %) and the host becomes a lead: no refund, nothing to take back
        save_plan(s, 1, Plan("host-plan", "host", Basis.NET_GMV, PlanKind.TIERED, (Tier(D(0), D("0.05")),), "USD"))
        save_plan(s, 1, Plan("lead-plan", "lead", Basis.NET_GMV, PlanKind.TIERED, (Tier(D(0), D("0.01")),), "USD"))
        member = s.get(Member, host.id)
        assert member is not None
        member.role = "lead"
        s.commit()
        est = estimate(s, _inputs(s, at(20)), member, 2026, 11)
        assert est is not None and est.plan.name == "lead-plan" and est.clawbacks == ()


def test_a_clawback_in_another_currency_is_converted_and_booked_in_its_own(engine: Engine) -> None:
    host, shop = _store(engine)
    with Session(engine) as s:
        a = _order(s, shop, host, "A", 130000, at(3, 10), "b1")
        s.commit()
        close_month(s, _inputs(s, at(2)), 2026, 10)     # 160.00 USD
        save_plan(s, 1, Plan("host-jpy", "host", Basis.NET_GMV, PlanKind.TIERED, (Tier(D(0), D("0.10")),), "JPY"))
        s.add(FxRateRow(day=date(2026, 11, 20), base="USD", quote="JPY", rate=D("150.5")))
        _refund(s, a, "R1", 40005, at(5))   # October now 899.95 -> 89.995 -> 90.00 (half up): 70.00 USD back
        s.commit()
        est = estimate(s, _inputs(s, at(20)), host, 2026, 11)
        assert est is not None
        (c,) = est.clawbacks
        # 70.00 USD x 150.5 = 10,535 JPY (no minor unit)
        assert (c.amount, c.currency, c.in_plan, est.statement.payable) == (D("70.00"), "USD", D("10535"),
                                                                            D("-10535"))
        (nov,) = close_month(s, _inputs(s, at(2, 12)), 2026, 11).paid
        s.commit()
        assert (nov.currency, nov.clawback_minor) == ("JPY", 10535)
        october = s.get(type(nov), 1)
        assert october is not None and (october.currency, october.clawed_back_minor) == ("USD", 7000)


def test_a_negative_gross_profit_earns_nothing_and_the_card_says_so(engine: Engine) -> None:
    host, shop = _store(engine)
    with Session(engine) as s:
        save_plan(s, 1, Plan("host-profit", "host", Basis.GROSS_PROFIT, PlanKind.ACCELERATOR,
                             (Tier(D(0), D("0.10")), Tier(D(500), D("0.2"))), "USD"))
        product = Product(shop_id=shop.id or 0, platform_product_id="P1", name="Loss leader")
        s.add(product)
        s.flush()
        sku = Sku(product_id=product.id or 0, platform_sku_id="S1", name="Loss leader", currency="USD",
                  unit_cost_minor=20000)
        s.add(sku)
        s.flush()
        order = _order(s, shop, host, "A", 10000, at(10), "b1")
        s.add(OrderLine(order_id=order.id or 0, platform_line_id="L1", product_id=product.id, sku_id=sku.id,
                        quantity=1, currency="USD", unit_price_minor=10000, amount_minor=10000))
        s.commit()
    d = dispatcher_for(engine, now=at(20))
    f = fields(say(d, "h", "/commission"))
    # sold at 100.00 what cost 200.00
    assert (f["Basis so far"], f["Earned"], f["Current rate"]) == ("-100.00 USD", "0.00 USD", "10.00%")


def test_a_plan_in_another_currency_converts_the_basis_at_the_anchor_days_rate(engine: Engine) -> None:
    host, shop = _store(engine)
    with Session(engine) as s:
        save_plan(s, 1, Plan("host-cny", "host", Basis.NET_GMV, PlanKind.ACCELERATOR,
                             (Tier(D(0), D("0.01")), Tier(D(5000), D("0.02"))), "CNY", cap=D("60")))
        s.add_all([FxRateRow(day=date(2026, 11, 20), base="USD", quote="CNY", rate=D("7.1")),
                   FxRateRow(day=date(2026, 11, 30), base="USD", quote="CNY", rate=D("7.3"))])
        _order(s, shop, host, "C", 50000, at(10), "b1")
        s.commit()
        # 500.00 USD at 7.1 on the 20th = 3,550.00 CNY, under the 5,000 threshold: 1 % = 35.50 CNY
        running = estimate(s, _inputs(s, at(20)), host, 2026, 11)
        assert running is not None and running.plan.name == "host-cny"
        assert (running.basis, running.fx_rate, running.statement.earned) == (D("3550.0"), D("7.1"), D("35.50"))
        _order(s, shop, host, "D", 30000, at(25), "b2")
        s.commit()
        # month over: 800.00 USD at the 30th's 7.3 = 5,840.00 CNY -> 2 % of all = 116.80, capped at 60.00
        over = estimate(s, _inputs(s, at(5, 12)), host, 2026, 11)
        assert over is not None
        assert (over.basis, over.statement.earned, over.statement.capped) == (D("5840.0"), D("60.00"), True)


def test_new_customers_are_buyers_first_orders_anywhere(engine: Engine) -> None:
    host, shop = _store(engine)
    with Session(engine) as s:
        _order(s, shop, host, "A", 1000, at(3, 10), "old")
        _order(s, shop, host, "B", 1000, at(3), "old")      # returning buyer
        _order(s, shop, host, "C", 1000, at(4), "new")
        _order(s, shop, host, "D", 1000, at(8), "new")      # the same new buyer again
        _order(s, shop, host, "E", 1000, at(9), "other")
        s.commit()
        save_plan(s, 1, Plan("host-new", "host", Basis.NEW_CUSTOMERS, PlanKind.TIERED, (Tier(D(0), D("2.5")),),
                             "USD"))
        s.commit()
        est = estimate(s, _inputs(s, at(20)), host, 2026, 11)
        assert est is not None and (est.basis, est.statement.earned) == (D(2), D("5.00"))


# --- /commission -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(module_demo: Engine) -> Engine:
    return module_demo


@pytest.mark.parametrize("command", ["/commission {}", "/commission {} 2026-10", "/commission whatif 60k {}"])
def test_a_refusal_does_not_tell_whether_the_member_exists(demo: Engine, command: str) -> None:
    """A host asking for someone else's commission gets the same answer whether that someone exists or not
    (before, /commission nosuchmember said "No member nosuchmember.")."""
    d = dispatcher_for(demo)
    existing = render_text(say(d, "host1", command.format("host2")))
    unknown = render_text(say(d, "host1", command.format("nosuchmember")))
    assert existing == unknown == ("kpibot\n======\nOnly finance staff, managers and admins see other people's "
                                   "commission.\n")
    assert render_text(say(d, "manager1", "/commission nosuchmember")) == "kpibot\n======\n没有成员 nosuchmember。\n"


def test_commission_card_what_if_and_who_sees_whom(demo: Engine) -> None:
    d = dispatcher_for(demo)
    card = say(d, "host1", "/commission")
    assert card.title == "Commission · Lin Xiaoyu 林小雨 · 2026-11"
    f = fields(card)
    assert f["Plan"] == "host-gmv · tiered (each tier's rate on its part) · Net GMV"
    basis = D(host1_net_gmv_minor(demo)) / 100      # plain SQL, independent of the scoring code
    assert 20000 < basis < 50000                     # so: 2 % of the first 20,000 and 3 % of the rest
    assert f["Basis so far"] == f"{basis:,.2f} USD"
    assert f["Earned"] == f"{(400 + (basis - 20000) * D('0.03')).quantize(D('0.01'), ROUND_HALF_UP):,} USD"
    # what-if: 60,000 -> 400 + 900 + 500 = 1,800.00; effective 3 %
    whatif = fields(say(d, "host1", "/commission whatif 60k"))
    assert (whatif["You would earn"], whatif["Rate reached"], whatif["Effective rate"]) == (
        "1,800.00 USD", "5.00%", "3.00%")
    # an accelerator: 100,000 reaches 0.8 %, paid on everything: 800.00
    assert fields(say(d, "lead2", "/commission whatif 100000"))["You would earn"] == "800.00 USD"
    assert "Only finance staff, managers and admins" in render_text(say(d, "host1", "/commission host2"))
    assert say(d, "manager1", "/commission host1").title == "提成 · Lin Xiaoyu 林小雨 · 2026-11"
    with Session(demo) as s:
        host3 = member_by_code(s, "host3")
        assert host3 is not None
        host3.finance = True
        s.add(host3)
        s.commit()
    assert say(d, "host3", "/commission host1").title == "Commission · Lin Xiaoyu 林小雨 · 2026-11"
    assert "There is no commission plan for managers" in render_text(say(d, "admin1", "/commission manager1"))
    assert render_text(say(d, "host1", "/commission whatif lots")).rstrip().endswith(
        "lots is not a number. Try: /commission whatif AMOUNT [MEMBER]")
    # a manager's what-if button on host1's card works out host1's what-if, not the manager's
    card = say(d, "manager1", "/commission host1")
    button = next(b for b in card.blocks if isinstance(b, Buttons)).buttons[0]
    assert button.args == ("whatif", "50000", "host1")
    assert say(d, "manager1", button.as_text).title == "提成试算 · Lin Xiaoyu 林小雨 · 50,000.00 USD"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_0020_versions_plans_by_month_and_back(backend: str, tmp_path: Path) -> None:
    """Plans stored before 0020 take effect from the beginning; a name may then have a version per month; the
    downgrade keeps each name's first version."""
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import _config

    eng = fresh_engine(backend, tmp_path)
    assert upgrade(eng, "0019") == (None, "0019")
    row = ("INSERT INTO commission_plan (org_id, name, role, basis, kind, currency, tiers, active{}) VALUES "
           "(1, 'host-plan', 'host', 'net_gmv', 'tiered', 'USD', '[[\"0\", \"{}\"]]', true{})")
    with eng.begin() as c:
        c.execute(text("INSERT INTO organisation (id, code, name, created_at) VALUES (1, 'o', 'O', "
                       "'2026-11-01 00:00:00')"))
        c.execute(text(row.format("", "0.1", "")))
    assert upgrade(eng) == ("0019", head_revision())
    with eng.begin() as c:
        c.execute(text(row.format(", effective_from", "0.2", ", '2026-12'")))
    with Session(eng) as s:
        assert [(v.plan.name, v.effective_from, v.plan.tiers[0].rate) for v in load_plans(s).versions] == [
            ("host-plan", "0001-01", D("0.1")), ("host-plan", "2026-12", D("0.2"))]
    cfg = _config(eng)
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0019")
    with eng.begin() as c:
        rows = c.execute(text("SELECT name, tiers FROM commission_plan")).all()
        # the JSON column reads back as text on SQLite and as a list on PostgreSQL
        assert [(n, json.loads(t) if isinstance(t, str) else t) for n, t in rows] == [("host-plan", [["0", "0.1"]])]
    assert upgrade(eng) == ("0019", head_revision())
    eng.dispose()

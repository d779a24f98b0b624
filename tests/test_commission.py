"""Commission plans, computed by hand: tier boundaries, marginal vs accelerator, caps, clawback, currency."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from scoring.commission import Basis, Closed, Plan, PlanError, PlanKind, Tier, earned, paid_amount, statement

TIERS = (Tier(D(0), D("0.02")), Tier(D(10_000), D("0.03")), Tier(D(20_000), D("0.05")))
TIERED = Plan("host-tiered", "host", Basis.NET_GMV, PlanKind.TIERED, TIERS, "USD", cap=D(2_000))
ACCELERATOR = Plan("host-accelerator", "host", Basis.NET_GMV, PlanKind.ACCELERATOR, TIERS, "USD")


@pytest.mark.parametrize(("amount", "expected"), [
    ("0", "0.00"), ("-50", "0.00"),                       # nothing, and a net negative month pays nothing
    ("8000", "160.00"),                                   # 8,000 x 2 %
    ("10000", "200.00"),                                  # the boundary: all of it still in the first tier
    ("15000", "350.00"),                                  # 10,000 x 2 % + 5,000 x 3 %
    ("25000", "750.00"),                                  # 200 + 10,000 x 3 % + 5,000 x 5 %
    ("60000", "2000.00"),                                 # 200 + 300 + 40,000 x 5 % = 2,500, capped at 2,000
])
def test_tiered_pays_each_tier_on_its_own_slice(amount: str, expected: str) -> None:
    assert paid_amount(TIERED, D(amount)) == D(expected)


@pytest.mark.parametrize(("amount", "expected"), [
    ("9999.99", "200.00"),                                # 9,999.99 x 2 % = 199.9998, rounded half up
    ("10000", "300.00"),                                  # crossing 10,000 lifts all of it to 3 %
    ("25000", "1250.00"),                                 # 25,000 x 5 %
])
def test_accelerator_pays_the_whole_amount_at_the_highest_rate_reached(amount: str, expected: str) -> None:
    assert paid_amount(ACCELERATOR, D(amount)) == D(expected)


def test_the_same_month_pays_more_under_an_accelerator_past_a_threshold() -> None:
    assert (paid_amount(TIERED, D(15_000)), paid_amount(ACCELERATOR, D(15_000))) == (D("350.00"), D("450.00"))


def test_refunds_after_payout_are_clawed_back_in_the_next_statement() -> None:
    # October paid 350.00 on 15,000; 3,000 was refunded since, so October now earns 200 + 2,000 x 3 % = 260.00
    october = Closed("2026-10", D("350.00"), D(12_000))
    november = statement(TIERED, D(8_000), (october,))
    assert (november.earned, november.clawback, november.payable) == (D("160.00"), D("90.00"), D("70.00"))
    small = statement(TIERED, D(1_000), (october,))
    assert small.payable == D("-70.00")                   # shown, not hidden: 20.00 earned - 90.00
    late_orders = Closed("2026-10", D("350.00"), D(16_000))
    assert statement(TIERED, D(0), (late_orders,)).clawback == D(0)   # never a clawback for a bigger month


def test_cap_and_next_tier_are_reported() -> None:
    capped = statement(TIERED, D(60_000))
    assert capped.capped and capped.earned == D("2000.00") and capped.next_tier is None
    middle = statement(TIERED, D(15_000))
    assert not middle.capped and middle.next_tier == Tier(D(20_000), D("0.05"))


def test_currency_minor_units_and_a_count_basis() -> None:
    vnd = Plan("vn-host", "host", Basis.NET_GMV, PlanKind.TIERED, (Tier(D(0), D("0.01")),), "VND")
    assert paid_amount(vnd, D(1_234_567)) == D(12_346)    # 12,345.67 rounds to whole dong (no minor unit)
    assert earned(vnd, D(1_234_567)) == D("12345.67")
    assert paid_amount(TIERED, D("0.25")) == D("0.01")    # 0.005 USD rounds half up to a cent
    customers = (Tier(D(0), D(5)), Tier(D(50), D(8)))
    per_customer = Plan("acq", "operator", Basis.NEW_CUSTOMERS, PlanKind.TIERED, customers, "USD")
    assert paid_amount(per_customer, D(60)) == D("330.00")     # 50 x 5 + 10 x 8
    whole = Plan("acq+", "operator", Basis.NEW_CUSTOMERS, PlanKind.ACCELERATOR, customers, "USD")
    assert paid_amount(whole, D(60)) == D("480.00")            # 60 x 8


@pytest.mark.parametrize(("tiers", "cap", "problem"), [
    ((Tier(D(100), D("0.02")),), None, "must start at 0"),
    ((Tier(D(0), D("0.02")), Tier(D(0), D("0.03"))), None, "rise strictly"),
    ((Tier(D(0), D("-0.02")),), None, "cannot be negative"),
    ((Tier(D(0), D("0.02")),), D(-1), "cap cannot be negative"),
])
def test_a_plan_that_makes_no_sense_is_refused(tiers: tuple[Tier, ...], cap: D | None, problem: str) -> None:
    with pytest.raises(PlanError, match=problem):
        Plan("bad", "host", Basis.NET_GMV, PlanKind.TIERED, tiers, "USD", cap=cap)

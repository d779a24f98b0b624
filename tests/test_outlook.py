"""What /mykpi says to do (scoring.outlook): the month-end forecast, the amount needed per remaining day, the
distance to the next grade, yesterday against today, and the counting-rules footer (cards.counting).

The demo figures are worked out by hand from plain SQL sums of host1's orders per Los Angeles day (integer
cents), never from the scoring code. host1 lives in America/Los_Angeles; summer time ends at 02:00 on 1 Nov
2026, so 31 Oct runs 07:00-07:00 UTC, 1 Nov 07:00-08:00 (next day) UTC, and later November days 08:00-08:00 UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.dispatch import Incoming
from cards.counting import counting_text
from cards.format import money
from cards.model import Card, Note
from cards.render_feishu import render_feishu
from scoring.outlook import Landing, NextGrade, forecast, landing, needed_per_day, next_grade
from scoring.periods import month_window
from scoring.rules import DEFAULT_GRADE_BANDS, CountOrdersAt, Rules
from scoring.shape import expected_share
from services.scorecards import Inputs
from storage.queries import member_by_code, team_of
from tests.card_reading import fields
from tests.conftest import DEMO_NOW, dispatcher_for

FEISHU_CARD_LIMIT = 30 * 1024


def mykpi(engine: Engine, now: datetime, user: str = "host1") -> Card:
    card = dispatcher_for(engine, now=now).handle_message(Incoming("console", user, "/mykpi"))
    assert card is not None
    return card


def cents(engine: Engine, start: str, end: str, now: datetime) -> int:
    """host1's net GMV in cents over orders paid in [start, end) UTC and not after `now`, refunds completed by
    `now` taken off (each capped at its order), cancelled orders left out."""
    stop = min(end, now.strftime("%Y-%m-%d %H:%M:%S.999999"))
    with engine.connect() as c:
        rows = c.execute(text(
            "SELECT o.id, o.merchandise_minor FROM shop_order o JOIN member m ON m.id = o.member_id "
            "WHERE m.code = 'host1' AND o.paid_at >= :start AND o.paid_at < :stop "
            "AND (o.cancelled_at IS NULL OR o.cancelled_at > :now)"),
            {"start": start, "stop": stop, "now": now.strftime("%Y-%m-%d %H:%M:%S")}).all()
        refunds = dict(c.execute(text(
            "SELECT order_id, SUM(amount_minor) FROM refund WHERE status = 'completed' AND completed_at <= :now "
            "GROUP BY order_id"), {"now": now.strftime("%Y-%m-%d %H:%M:%S")}).all())
    return sum(amount - min(refunds.get(oid, 0), amount) for oid, amount in rows)


def usd(amount_cents: int | Decimal) -> str:
    return money(Decimal(amount_cents) / 100, "USD")


def month_share(engine: Engine, now: datetime) -> Decimal:
    """The share of November's usual activity passed at `now` for host1's team (its learned pace shape)."""
    with Session(engine) as session:
        host = member_by_code(session, "host1")
        assert host is not None
        team = team_of(session, host)
        assert team is not None
        inputs = Inputs.load(session, Rules(), now)
        return expected_share(month_window(2026, 11, host.timezone), now, inputs.shape_for(session, team,
                                                                                           host.timezone))


# --- the pure rules ------------------------------------------------------------------------------------------

def test_the_forecast_is_where_the_pace_points() -> None:
    # the month so far over the share of the month's usual activity passed by now
    assert forecast(Decimal(300), Decimal("0.1")) == Decimal(3000)
    assert forecast(Decimal(38000), Decimal("0.95")) == Decimal(40000)
    assert forecast(Decimal(300), Decimal("0.0999")) is None     # under the 10 % minimum: no forecast yet
    assert forecast(Decimal(0), Decimal(1)) == Decimal(0)


def test_needed_per_remaining_day_counts_today() -> None:
    month = [Decimal(100), Decimal(250), Decimal(300), *[None] * 27]
    assert landing(month, 2, Decimal(3100), Decimal("0.1")) == Landing(Decimal(300), Decimal(3000), Decimal(100),
                                                                      False, 28)
    assert needed_per_day(Decimal(300), Decimal(3100), 28) == Decimal(100)   # (3,100 - 300) / 28 days
    assert needed_per_day(Decimal(900), Decimal(1000), 1) == Decimal(100)   # the last day: all that is missing
    assert needed_per_day(Decimal(1000), Decimal(1000), 5) is None          # reached
    assert needed_per_day(Decimal(10), None, 5) is None
    assert needed_per_day(Decimal(10), Decimal(0), 5) is None
    reached = landing(month, 2, Decimal(300), Decimal("0.1"))
    assert (reached.reached, reached.needed_per_day) == (True, None)


@pytest.mark.parametrize(("score", "expected"), [
    (Decimal("78.8"), NextGrade("B", Decimal("6.2"))),
    (Decimal("0"), NextGrade("C", Decimal("70"))),
    (Decimal("99.9"), NextGrade("A", Decimal("0.1"))),
    (Decimal("100"), NextGrade("S", Decimal("20"))),
    (Decimal("120"), None),        # the top grade
    (Decimal("146.3"), None),
    (None, None),                  # no score
])
def test_the_distance_to_the_next_grade(score: Decimal | None, expected: NextGrade | None) -> None:
    assert next_grade(score, DEFAULT_GRADE_BANDS) == expected


# --- on the demo store -----------------------------------------------------------------------------------------

def test_what_to_do_on_the_22nd(demo_engine: Engine) -> None:
    card = mykpi(demo_engine, DEMO_NOW)               # 04:00 on 22 Nov in Los Angeles
    f = fields(card)
    month = cents(demo_engine, "2026-11-01 07:00:00", "2026-11-22 08:00:00", DEMO_NOW)   # 1-21 Nov, full days
    today = cents(demo_engine, "2026-11-22 08:00:00", "2026-11-23 08:00:00", DEMO_NOW)
    yesterday = cents(demo_engine, "2026-11-21 08:00:00", "2026-11-22 08:00:00", DEMO_NOW)
    assert (month, today, yesterday) == (3894774, 0, 177551)
    assert f["This month so far · Net GMV"] == "38,947.74 USD / 47,600.00 USD (82%)"
    # the month so far over the share of November's usual activity passed at 04:00 on the 22nd (the team's shape)
    share = month_share(demo_engine, DEMO_NOW)
    assert share.quantize(Decimal("0.0001")) == Decimal("0.7016")
    assert usd(month / share) == "55,513.56 USD"
    assert f["Month-end forecast · Net GMV"] == "55,513.56 USD (117% of target)"
    # (47,600.00 - 38,947.74) / 9 days (22-30 Nov) = 961.362..., rounded UP to the cent: 9 x 961.37 reaches the
    # target, 9 x 961.36 = 8,652.24 would leave it 0.02 short
    assert f["Needed per day · 9 days left"] == "961.37 USD"
    assert (4760000 - month - today) / Decimal(9) == Decimal("96136.22222222222222222222222")
    # expected by now follows the team's shape (scoring.shape), so the score is 113.3, not the clock-time 113.0
    assert (f["Score"], f["Grade"], f["Next grade"]) == ("113.3", "A", "S in 6.7 points")   # 120 - 113.3
    assert f["Yesterday / today so far · Net GMV"] == "1,775.51 USD / 0.00 USD"
    blocks = [b.text for b in card.blocks if isinstance(b, Note)]
    assert blocks[-1] == "Orders counted at payment · refunds netted"
    assert len(json.dumps(render_feishu(card, {i.key: "img_x" for i in card.images()}),
                          ensure_ascii=False).encode()) < FEISHU_CARD_LIMIT


def test_on_the_1st_yesterday_is_the_last_day_of_the_previous_month_in_the_members_zone(demo_engine: Engine) -> None:
    now = datetime(2026, 11, 1, 20, tzinfo=UTC)        # 13:00 on 1 Nov in Los Angeles (already 2 Nov in Shanghai)
    f = fields(mykpi(demo_engine, now))
    today = cents(demo_engine, "2026-11-01 07:00:00", "2026-11-02 08:00:00", now)
    yesterday = cents(demo_engine, "2026-10-31 07:00:00", "2026-11-01 07:00:00", now)   # 31 Oct, LA
    assert (today, yesterday) == (6027, 130790)
    assert f["Yesterday / today so far · Net GMV"] == "1,307.90 USD / 60.27 USD"
    assert month_share(demo_engine, now) < Decimal("0.1")
    assert f["Month-end forecast · Net GMV"] == "not yet (under 10% of the month's usual activity)"
    # (47,600.00 - 60.27) / 30 days = 1,584.6577
    assert f["Needed per day · 30 days left"] == "1,584.66 USD"


def test_on_the_last_day_of_the_month_all_that_is_missing_is_needed_today(demo_engine: Engine) -> None:
    now = datetime(2026, 11, 30, 20, tzinfo=UTC)       # 12:00 on 30 Nov in Los Angeles
    f = fields(mykpi(demo_engine, now))
    before = cents(demo_engine, "2026-11-01 07:00:00", "2026-11-30 08:00:00", now)     # 1-29 Nov
    today = cents(demo_engine, "2026-11-30 08:00:00", "2026-12-01 08:00:00", now)
    assert (before, today) == (3894774, 0)
    assert f["Needed today · last day"] == "8,652.26 USD"                      # 47,600.00 - 38,947.74
    # 38,947.74 over the share of November's usual activity passed at 12:00 on the 30th
    share = month_share(demo_engine, now)
    assert share.quantize(Decimal("0.0001")) == Decimal("0.9664")
    assert usd(before / share) == "40,302.26 USD"
    assert f["Month-end forecast · Net GMV"] == "40,302.26 USD (85% of target)"


def test_a_reached_target_says_so(demo_copy: Engine) -> None:
    with demo_copy.begin() as c:
        c.execute(text("UPDATE target SET value = 30000 WHERE metric_key = 'net_gmv' AND period = '2026-11' "
                       "AND subject = (SELECT 'member:' || id FROM member WHERE code = 'host1')"))
    f = fields(mykpi(demo_copy, DEMO_NOW))
    assert f["This month so far · Net GMV"] == "38,947.74 USD / 30,000.00 USD (130%)"
    assert f["Needed per day · 9 days left"] == "target reached"
    assert f["Month-end forecast · Net GMV"] == "55,513.56 USD (185% of target)"   # 55,513.56 / 30,000


def test_mykpi_yesterday_has_no_plan_for_the_month_but_the_footer(demo_engine: Engine) -> None:
    d = dispatcher_for(demo_engine)
    card = d.handle_message(Incoming("console", "host1", "/mykpi yesterday"))
    assert card is not None
    assert not any(k.startswith(("Month-end forecast", "Next grade")) for k in fields(card))
    assert [b.text for b in card.blocks if isinstance(b, Note)][-1] == "Orders counted at payment · refunds netted"


def test_what_to_do_in_chinese_and_indonesian(demo_copy: Engine) -> None:
    def card_in(locale: str) -> dict[str, str]:
        with demo_copy.begin() as c:
            c.execute(text("UPDATE member SET locale = :l WHERE code = 'host1'"), {"l": locale})
        return fields(mykpi(demo_copy, DEMO_NOW))

    zh = card_in("zh-CN")
    assert zh["月底预计 · 实际GMV"] == "55,513.56 USD（目标的 117%）"
    assert zh["每日还需 · 剩余 9 天"] == "961.37 USD"
    assert zh["距下一等级"] == "S 还差 6.7 分"
    assert zh["昨日 / 今日至今 · 实际GMV"] == "1,775.51 USD / 0.00 USD"
    id_ = card_in("id-ID")
    assert id_["Perkiraan akhir bulan · GMV bersih"] == "55,513.56 USD (117% dari target)"
    assert id_["Perlu per hari · sisa 9 hari"] == "961.37 USD"
    assert id_["Grade berikutnya"] == "S kurang 6.7 poin"


@pytest.mark.parametrize(("rules", "lang", "line"), [
    (Rules(), "en", "Orders counted at payment · refunds netted"),
    (Rules(count_orders_at=CountOrdersAt.SHIPPED, net_refunds=False), "en",
     "Orders counted at shipment · refunds not netted"),
    (Rules(), "zh", "订单按付款时间计入 · 退款已扣除"),
    (Rules(count_orders_at=CountOrdersAt.SHIPPED), "id", "Pesanan dihitung saat pengiriman · refund dikurangkan"),
])
def test_the_counting_footer(rules: Rules, lang: str, line: str) -> None:
    assert counting_text(rules, lang) == line

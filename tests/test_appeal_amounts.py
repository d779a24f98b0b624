"""Appeals review findings (issue 23): an order credited away is valued one way everywhere (the loser's notice, the
export's adjustments, the why trail: services.order_amounts.counted_amount), and a closed month's commission
correction measures the member as the month closed, not where they are now.

The world is tests.test_appeal_adjustments.build (a UTC team, hosts h1 and h2, November 2026, a 10 % commission on
net GMV); the clock is pinned by passing the moments. Real store, SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.appeal_cards import lost_card
from cards.model import Text
from cards.why_card import why_blocks
from scoring.trail import Adjustment
from services.appeals import decide, facts, get, losers
from services.export import export
from services.month_close import close
from services.why import explain
from storage.models import CommissionCorrection, FxRateRow, Member, Order, Team
from tests.test_appeal_adjustments import AFTER, appeal, build
from tests.test_appeal_adjustments import decide as decide_adjustment

D = Decimal


def test_an_order_credited_away_shows_one_amount_in_the_notice_the_export_and_the_trail(engine: Engine) -> None:
    """B1 (h2's) is an EUR order: 400.00 merchandise, 420.00 in all, 50.00 refunded; EUR->USD 1.10 on its paid day.
    Net GMV counts (400.00 - 50.00) x 1.10 = 385.00 USD, so that is what h2's notice, the export's adjustments
    cell and h2's trail all say (not the 420.00 EUR total, nor 350.00 EUR)."""
    w = build(engine)
    with Session(engine) as s:
        b1 = s.execute(select(Order).where(Order.platform_order_id == "B1")).scalar_one()
        b1.currency, b1.total_minor, b1.refunded_minor = "EUR", 42_000, 5_000
        s.add_all([b1, FxRateRow(day=date(2026, 11, 11), base="EUR", quote="USD", rate=D("1.10"))])
        s.commit()
    aid = appeal(w, "attribution", ["B1"])
    decide_adjustment(w, aid)

    [(loser, orders)] = losers(w.services, aid)
    assert (loser.code, orders) == ("h2", ["B1 (385.00 USD)"])
    shown = get(w.services, aid)
    assert shown is not None
    notice = [b.text for b in lost_card(facts(w.services, shown), orders, "en").blocks if isinstance(b, Text)]
    assert notice == [f"Appeal #{aid} of Ana (h1), approved by -, credited to them: B1 (385.00 USD). Your 2026-11 "
                      "numbers no longer count these."]

    book = load_workbook(io.BytesIO(export(w.services, None, 2, AFTER).content))
    sheet = book["2026-11"]
    header = [c.value for c in sheet[1]]
    cells = {row[0]: row[header.index("adjustments")] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert cells["h2"] == f"#{aid} B1 credited to h1 (-385.00 USD)"

    why = explain(w.services, w.h2, None, "2026-11", AFTER)
    assert why.metric("net_gmv").adjustments == (
        Adjustment("credited_away", aid, ref="B1", value=D("-385.00"), to="h1"),)
    lines = [b.text for b in why_blocks(why, "en", "net_gmv") if isinstance(b, Text)]
    assert lines[-1] == f"· order B1 credited to h1 by appeal #{aid} (-385.00 USD)"


def test_a_correction_measures_the_member_in_the_team_and_zone_they_closed_with(engine: Engine) -> None:
    """h2 also sold B2 (100.00 USD, paid 30 Nov 20:00 UTC): November closes on 2 Dec with h2 paid 10 % of
    400.00 + 100.00 = 50.00. h2 then moves to a team in Asia/Tokyo, where 30 Nov 20:00 UTC is already 1 Dec. An
    admin approves h1's appeal taking B1 from h2 on 3 Dec: h2's correction is measured in November as it closed
    (UTC, B2 counted): 10 % of 100.00 - 50.00 = -40.00 (measured in Tokyo's November it would be -50.00); h1 earns
    10 % of 400.00 more: +40.00."""
    w = build(engine)
    with Session(engine) as s:
        shop_id = s.execute(select(Order.shop_id).where(Order.platform_order_id == "B1")).scalar_one()
        s.add(Order(shop_id=shop_id, platform_order_id="B2", status="COMPLETED", currency="USD",
                    merchandise_minor=10_000, total_minor=10_000, units=1, created_at=datetime(2026, 11, 30, 20,
                                                                                              tzinfo=UTC),
                    paid_at=datetime(2026, 11, 30, 20, tzinfo=UTC), member_id=w.h2.id, credit_rule="live_session"))
        admin = Member(org_id=w.h2.org_id, code="boss", name="Bo", role="admin", timezone="UTC", locale="en")
        s.add(admin)
        s.commit()
        s.refresh(admin)
        s.expunge(admin)
    closed = close(w.services, 2026, 11, AFTER, "cli:tester")
    assert (closed.scores, closed.payouts) == (2, 2)
    with Session(engine) as s:
        tokyo = Team(org_id=w.h2.org_id, code="jp", name="Japan", timezone="Asia/Tokyo", locale="en")
        s.add(tokyo)
        s.flush()
        h2 = s.get(Member, w.h2.id)
        assert h2 is not None
        h2.team_id = tokyo.id
        s.add(h2)
        s.commit()
    aid = appeal(w, "attribution", ["B1"])
    decided = decide(w.services, admin, aid, "approve", None, None, datetime(2026, 12, 3, 9, tzinfo=UTC))
    assert decided.appeal.status == "approved"
    with Session(engine) as s:
        rows = s.execute(select(CommissionCorrection).order_by(CommissionCorrection.id)).scalars().all()
        assert [(r.member_id, r.appeal_id, r.basis_amount, r.amount_minor, r.currency, r.by) for r in rows] == [
            (w.h1.id, aid, D("1100.00"), 4_000, "USD", "boss"),
            (w.h2.id, aid, D("100.00"), -4_000, "USD", "boss")]


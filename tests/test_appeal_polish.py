"""Appeals polish from the second new-user trial (issue 23): the member who loses an order reads why, amounts as
the metric counts them, claimed values checked, buttons that work, names and zones in the reader's terms, evidence
not found named. The clock is pinned by passing the moments; the real store on both backends."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.model import Text
from cards.why_card import why_blocks
from scoring.trail import Adjustment
from services.appeals import approver_card, get
from services.export import _adjusted
from services.month_close import adjustments
from services.why import explain
from storage.models import Order
from tests.test_appeal_adjustments import AFTER, DECIDED, appeal, build
from tests.test_appeal_adjustments import decide as decide_adjustment
from tests.test_appeal_command import texts


def _b1_total(engine: Engine, cents: int) -> None:
    """B1 paid 420.00 in all (20.00 shipping): its merchandise, 400.00, is what net GMV counts."""
    with Session(engine) as s:
        b1 = s.execute(select(Order).where(Order.platform_order_id == "B1")).scalar_one()
        b1.total_minor = cents
        s.add(b1)
        s.commit()


def test_the_member_who_loses_an_order_reads_it_in_their_trail_and_export(engine: Engine) -> None:
    """B1 (h2's, 400.00 merchandise) credited to h1 by appeal #1: h2's net GMV trail says so with -400.00, so its
    lines add up to 0; the month's adjustments (final_score, the export's column) list it too."""
    w = build(engine)
    _b1_total(engine, 42_000)
    aid = appeal(w, "attribution", ["B1"])
    decide_adjustment(w, aid)
    why = explain(w.services, w.h2, None, "2026-11", AFTER)
    assert why.metric("net_gmv").adjustments == (
        Adjustment("credited_away", aid, ref="B1", value=D("-400.00"), to="h1"),)
    assert why.metric("orders").adjustments == (Adjustment("credited_away", aid, ref="B1", to="h1"),)
    assert why.metric("live_sessions").adjustments == ()
    lines = [b.text for b in why_blocks(why, "en", "net_gmv") if isinstance(b, Text)]
    assert lines[-2:] == ["Changed by appeals:", f"· order B1 credited to h1 by appeal #{aid} (-400.00 USD)"]
    assert [b.text for b in why_blocks(why, "zh", "orders") if isinstance(b, Text)][-1] == (
        f"· 订单 B1 经第 {aid} 号申诉改计给 h1")
    with Session(engine) as s:
        made = adjustments(s, w.h2.id or 0, "2026-11")
    assert made == [{"appeal": aid, "status": "credited_away", "metric": "net_gmv", "value": "-400.00 USD",
                     "note": None, "order": "B1", "to": "h1"}]
    assert _adjusted(made) == f"#{aid} B1 credited to h1 (-400.00 USD)"


def test_the_card_shows_the_amount_the_metric_counts_not_the_order_total(engine: Engine) -> None:
    w = build(engine)
    _b1_total(engine, 42_000)
    aid = appeal(w, "attribution", ["B1"])
    shown = get(w.services, aid)
    assert shown is not None
    card = texts(approver_card(w.services, shown, w.lead, DECIDED))
    assert ("Approving would change: Credit 1 order(s) to h1, taken from the member each is credited to now (who "
            "loses it): B1 (h2, 400.00 USD)") in card

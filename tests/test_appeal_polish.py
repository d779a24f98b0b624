"""Appeals polish from the second new-user trial (issue 23): the member who loses an order reads why, amounts as
the metric counts them, claimed values checked, buttons that work, names and zones in the reader's terms, evidence
not found named. The clock is pinned by passing the moments; the real store on both backends."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.dispatch import Dispatcher, Incoming
from cards.model import Text
from cards.why_card import why_blocks
from scoring.trail import Adjustment
from services.appeals import approver_card, decide, file_appeal, get
from services.errors import UserError
from services.export import _adjusted
from services.month_close import adjustments
from services.order_amounts import rates
from services.why import explain
from storage.models import Appeal, KpiTemplate, KpiTemplateMetric, Member, Order, TeamLead
from tests.test_appeal_adjustments import AFTER, DECIDED, DURING, appeal, build
from tests.test_appeal_adjustments import decide as decide_adjustment
from tests.test_appeal_command import texts
from tests.test_appeals_service import NOW, World, world


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
        made = adjustments(s, w.h2.id or 0, "2026-11", w.services.rules, rates(s))
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


def _with_refund_rate(w: World) -> None:
    """The buyer's template also scores the refund rate (a share of a whole): ROI 40, CPC 30, cost per visitor 20,
    refund rate 10."""
    with Session(w.services.engine) as s:
        template = s.execute(select(KpiTemplate)).scalar_one()
        roi = s.execute(select(KpiTemplateMetric).where(KpiTemplateMetric.metric_key == "roi")).scalar_one()
        roi.weight = D(40)
        s.add(roi)
        s.add(KpiTemplateMetric(template_id=template.id, metric_key="refund_rate", weight=D(10), position=3))
        s.commit()


def _say(w: World, who: str) -> Callable[[str], list[str]]:
    d = Dispatcher(w.services, clock=lambda: NOW)

    def say(text: str) -> list[str]:
        card = d.handle_message(Incoming("console", who, text))
        assert card is not None
        return texts(card)
    return say


def test_a_claim_the_metric_cannot_have_is_refused(engine: Engine) -> None:
    """A share is 0..100 %; ROI (a ratio, not a share) may exceed 1; exponents, NaN and infinity are no numbers.
    A partial approval is held to the same."""
    w = world(engine)
    _with_refund_rate(w)
    say = _say(w, "buyer1")
    assert say("/appeal refund_rate 2026-11 refund =150% not my fault")[1] == (
        "150.0% is not a value for Refund rate: a share is from 0% to 100%, e.g. =35%.")
    assert say("/appeal cpc =1e9 wrong")[1] == "1e9 is not a value for CPC: give an amount of 0 or more, e.g. =5200."
    assert say("/appeal cpc =NaN wrong")[1] == "NaN is not a value for CPC: give an amount of 0 or more, e.g. =5200."
    assert say("/appeal cpc =inf wrong")[1] == "inf is not a value for CPC: give an amount of 0 or more, e.g. =5200."
    with Session(engine) as s:
        assert s.execute(select(Appeal)).scalars().all() == []
    filed = file_appeal(w.services, w.buyer, "refund_rate", None, "refund", "not my fault", [], NOW,
                        value_claimed=D("0.75"))
    with pytest.raises(UserError) as refused:
        decide(w.services, w.lead, filed.appeal.id or 0, "partly", D("1.5"), None, NOW)
    assert (refused.value.key, refused.value.values) == ("appeal.bad_value.share",
                                                         {"text": "150.0%", "metric": "refund_rate"})
    roi = file_appeal(w.services, w.buyer, "roi", None, "other", "spend doubled", [], NOW, value_claimed=D("3"))
    assert roi.appeal.value_claimed == D("3")


def test_ratio_values_are_percentages_on_the_card_button_and_receipt(engine: Engine) -> None:
    w = world(engine)
    _with_refund_rate(w)
    receipt = _say(w, "buyer1")("/appeal refund_rate refund =30% not my fault")
    assert receipt[-1] == "Category: refund (not the member's fault); value claimed: 30.0%."
    shown = get(w.services, 1)
    assert shown is not None
    card = texts(approver_card(w.services, shown, w.lead, NOW))
    assert "Approving would change: Set buyer1's Refund rate for 2026-11 to 30.0%" in card
    roi = file_appeal(w.services, w.buyer, "roi", None, "other", "spend doubled", [], NOW, value_claimed=D("3"))
    assert "[Partly: 275.0%] /appeal partly 2 275%" in texts(approver_card(w.services, roi, w.lead, NOW))


def test_approve_shows_only_when_approving_applies_something(engine: Engine) -> None:
    """No claimed value, no evidence: nothing to apply, so no Approve; Partly needs a value too; Reject stays."""
    w = world(engine)
    filed = file_appeal(w.services, w.buyer, "roi", None, "other", "spend doubled", [], NOW)
    buttons = [line for line in texts(approver_card(w.services, filed, w.lead, NOW)) if line.startswith("[")]
    assert buttons == ["[Reject: evidence missing] /appeal reject 1 #evidence_missing",
                       "[Reject: the order is not yours] /appeal reject 1 #not_yours",
                       "[Reject: the target was right] /appeal reject 1 #target_right"]


def test_a_chinese_reader_reads_the_metric_by_its_name(engine: Engine) -> None:
    w = world(engine)
    with Session(engine) as s:
        buyer = s.get(Member, w.buyer.id)
        assert buyer is not None
        buyer.locale = "zh"
        s.add(buyer)
        s.commit()
    say = _say(w, "buyer1")
    say("/appeal cpc 太高 =1")
    assert say("/appeal cpc 还是太高")[1] == "你对 2026-11 的 点击成本CPC 已有一条待处理的申诉。"
    assert say("/appeal cpc =-1 错")[1] == "-1 不是 点击成本CPC 的有效值：请填写 0 或以上的金额，例如 =5200。"


def test_not_theirs_to_see_and_times_carry_their_zone(engine: Engine) -> None:
    """The manager is neither the appellant, the approver (lead1) nor an admin; the lead reads times in Shanghai
    (12:00 UTC is 20:00 CST), the admin in UTC."""
    w = world(engine)
    with Session(engine) as s:
        lead = s.get(Member, w.lead.id)
        assert lead is not None
        lead.timezone = "Asia/Shanghai"
        s.add(lead)
        s.commit()
        s.refresh(lead)
        s.expunge(lead)
    filed = file_appeal(w.services, w.buyer, "roi", None, "other", "spend doubled", [], NOW, value_claimed=D("3"))
    assert _say(w, "manager1")("/appeal show 1")[1] == (
        "Appeal #1 is not yours to see: only its member, its approver and admins may.")
    assert "Filed: 2026-11-04 20:00 CST" in texts(approver_card(w.services, filed, lead, NOW))
    assert "Filed: 2026-11-04 12:00 UTC" in _say(w, "admin1")("/appeal show 1")


def test_the_receipt_names_the_references_not_found(engine: Engine) -> None:
    """O-99 is no order; live:zz names no shop; 2026-13-02 is no day; links are never looked up. Filed all the
    same."""
    w = build(engine)
    with Session(engine) as s:
        s.add(TeamLead(team_id=w.lead.team_id, member_id=w.lead.id))
        s.commit()
    say = _say_h1(w)
    receipt = say("/appeal net_gmv attribution mine evidence: B1 O-99 live:zz:2026-11-02T20:00/22:00 "
                  "live:us1:2026-13-02T20:00/22:00 live:us1:2026-11-02T20:00/22:00 https://x.example/a")
    assert receipt[:1] == ["Appeal #1 filed"], receipt
    assert receipt[-1] == ("Not found (filed all the same; your approver decides): O-99, "
                           "live:zz:2026-11-02T20:00/22:00, live:us1:2026-13-02T20:00/22:00")


def _say_h1(w: object) -> Callable[[str], list[str]]:
    d = Dispatcher(w.services, clock=lambda: DURING)  # type: ignore[attr-defined]

    def say(text: str) -> list[str]:
        card = d.handle_message(Incoming("console", "h1", text))
        assert card is not None
        return texts(card)
    return say

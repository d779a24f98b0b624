"""Appeals, final review (issue 23): a closed month's appeal values are as of its close, an appeal past its decision
window is nobody's to decide (no buttons, no reminder, escalation or re-routing, not in /appeals), and a card offers
Approve only when approving would succeed. The real store on both backends; the clock is pinned by passing the
moments (days apart are stated moments, no sleeps)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.jobs.appeals import run_appeals
from cards.model import Buttons
from services import appeals
from services.month_close import close
from services.why import explain
from storage.models import AdSpend, Appeal, AuditLog, Member, Order, Refund, Shop, TeamLead
from tests.recording_messenger import Recorder
from tests.test_appeal_adjustments import appeal, build, propose
from tests.test_appeal_command import texts
from tests.test_appeals_job import bind, copies
from tests.test_appeals_service import NOW, world
from tests.test_closed_month import _finals, _october, _services
from tests.test_commission_store import at


def test_a_closed_months_appeal_is_valued_as_of_the_close(engine: Engine) -> None:
    """October closed with h2's net GMV 1,000.00; a 400.00 refund of h2's order C completes the day after. h2's
    appeal of October (order A is theirs) is valued as /mykpi why shows October: 1,000.00 when filed and now, not
    600.00; approved, its decided value is what refinalise froze (2,300.00 with A), not 1,900.00."""
    _, other, lead = _october(engine)
    services = _services(engine)
    with Session(engine) as s:
        s.add(Refund(order_id=3, platform_refund_id="late", kind="refund", status="completed", currency="USD",
                     amount_minor=40000, requested_at=at(2, 11), completed_at=at(2, 11)))
        s.commit()
    assert explain(services, other, "net_gmv", "2026-10", at(3, 11)).metric("net_gmv").actual == D("1000.00")
    filed = appeals.file_appeal(services, other, "net_gmv", "2026-10", "attribution", "A was my sale", ["A"],
                                at(3, 11))
    assert filed.appeal.value_now == D("1000.00")
    assert appeals.facts(services, filed, now=at(3, 11)).value_current == D("1000.00")
    done = appeals.decide(services, lead, filed.appeal.id or 0, "approve", None, None, at(4, 11))
    assert (done.appeal.status, done.appeal.decided_value) == ("approved", D("2300.00"))
    assert _finals(engine)["h2"][3] == "2300.00"


def test_an_appeal_past_its_decision_window_is_left_alone(engine: Engine) -> None:
    """October (the buyer's ROI 4) is closed on 4 November and appealed the same day; its decision window (7 days
    from the month's end) is over on 8 November 00:00 UTC. Before, the lead's card offers decisions and /appeals
    lists it; after, the card says it can no longer be decided (no buttons, the delivered copies updated in place),
    /appeals leaves it out, and the job neither reminds (8 Nov 13:00: waiting 4 days), re-routes (the lead
    deactivated) nor escalates it (9 Nov 12:01: waiting 5 days)."""
    w = world(engine)
    bind(engine, w.buyer, w.lead, w.manager)
    with Session(engine) as s:
        shop = s.execute(select(Shop)).scalars().one()
        s.add(AdSpend(shop_id=shop.id, member_id=w.buyer.id, campaign_id="c1", day=date(2026, 10, 10),
                      currency="USD", spend_minor=1_000, attributed_gmv_minor=4_000))
        s.commit()
    close(w.services, 2026, 10, NOW, "cli:admin")
    filed = appeals.file_appeal(w.services, w.buyer, "roi", "2026-10", "other", "spend counted twice", [], NOW,
                                value_claimed=D("5"))
    aid = filed.appeal.id or 0
    feishu, dingtalk = Recorder("feishu"), Recorder("dingtalk")
    messengers = {"feishu": feishu, "dingtalk": dingtalk}
    run_appeals(w.services, messengers, NOW + timedelta(minutes=1), "i1")
    assert [(u, any(isinstance(b, Buttons) for b in c.blocks)) for u, c in feishu.sent] == [("ou_lead1", True)]
    assert [v.appeal.id for v in appeals.open_for(w.services, w.lead, NOW)] == [aid]

    shut = datetime(2026, 11, 8, 13, tzinfo=UTC)
    assert appeals.locked(w.services, filed.appeal, shut) is True
    card = texts(appeals.approver_card(w.services, filed, w.admin, shut))
    assert [line for line in card if line.startswith("[") or "can no longer" in line or "Approving" in line] == [
        "This appeal can no longer be decided: 2026-10 is closed and its 7 days for appeals are over."]
    mine = texts(appeals.approver_card(w.services, filed, w.buyer, shut))
    assert [line for line in mine if line.startswith("[")] == [f"[Withdraw] /appeal withdraw {aid}"]
    assert appeals.open_for(w.services, w.lead, shut) == []
    assert appeals.open_for(w.services, w.admin, shut) == []

    run_appeals(w.services, messengers, shut, "i1")
    assert len(feishu.sent) == len(dingtalk.sent) == 1          # no reminder
    assert [(u, r, [b for b in c.blocks if isinstance(b, Buttons)]) for u, r, c in feishu.updated + dingtalk.updated] \
        == [("ou_lead1", "0", []), ("lead1", "0", [])]
    assert [c[3] for c in copies(engine)] == ["locked", "locked"]
    with Session(engine) as s:
        s.get_one(Member, w.lead.id).active = False
        s.commit()
    run_appeals(w.services, messengers, shut + timedelta(minutes=1), "i1")
    run_appeals(w.services, messengers, NOW + timedelta(days=5, minutes=1), "i1")
    assert len(feishu.sent) == len(dingtalk.sent) == 1 and len(feishu.updated) == len(dingtalk.updated) == 1
    with Session(engine) as s:
        row = s.get_one(Appeal, aid)
        assert (row.status, row.level, row.approver_member_id, row.reminded_at) == ("open", 0, w.lead.id, None)
        assert [a for a in s.execute(select(AuditLog.action)).scalars() if a.startswith("appeal.")] == ["appeal.file"]


def test_no_approve_when_an_order_named_is_outside_the_month(engine: Engine) -> None:
    """h1's November refund appeal names A2 (November) and O1 (paid 20 October): approving as claimed is refused
    (apply_decision), so the proposal is None and the lead's card offers no Approve (Reject stays); with A2 alone
    it is offered."""
    w = build(engine)
    with Session(engine) as s:
        shop = s.execute(select(Shop)).scalars().one()
        s.add(Order(shop_id=shop.id, platform_order_id="O1", status="COMPLETED", currency="USD",
                    merchandise_minor=15000, total_minor=15000, units=1, created_at=datetime(2026, 10, 20, tzinfo=UTC),
                    paid_at=datetime(2026, 10, 20, tzinfo=UTC), member_id=w.h1.id, credit_rule="live_session"))
        s.add(TeamLead(team_id=w.h1.team_id or 0, member_id=w.lead.id or 0))   # kpibot teams set --lead lead1
        s.commit()
    mixed, alone = appeal(w, "refund", ["A2", "O1"]), appeal(w, "refund", ["A2"])
    assert propose(w, mixed) is None
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    for aid, approve in ((mixed, []), (alone, [f"[Approve] /appeal approve {alone}"])):
        shown = appeals.get(w.services, aid)
        assert shown is not None
        buttons = texts(appeals.approver_card(w.services, shown, w.lead, now))
        assert [b for b in buttons if b.startswith("[Approve")] == approve
        assert f"[Reject: evidence missing] /appeal reject {aid} #evidence_missing" in buttons

"""The appeals flow as users met it (issue 23, new-user trial and security review), on both backends: who loses a
credited order, the real decided value, teams, the reader's buttons, =VALUE anywhere, the value when appealed and
now, and an approver who no longer fits their level. The clock is pinned by passing the moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.dispatch import Dispatcher, Incoming
from bot.jobs.appeals import run_appeals
from cards.model import Card, Fields, Text
from cards.why_card import why_blocks
from scoring.trail import Adjustment
from services.appeals import approver_card, decide, file_appeal, get, reroute
from services.errors import UserError
from services.targets import import_file
from services.why import explain
from storage.audit import acting_as, job_actor
from storage.models import Appeal, AuditLog, Member, Shop, Team, TeamLead
from tests.recording_messenger import Recorder
from tests.test_appeal_adjustments import AFTER, DECIDED, DURING, appeal, build
from tests.test_appeal_adjustments import decide as decide_adjustment
from tests.test_appeal_command import texts
from tests.test_appeals_job import bind, strong
from tests.test_appeals_service import NOW, world


def _lead_leads(engine: Engine, member: Member) -> None:
    with Session(engine) as s:
        s.add(TeamLead(team_id=member.team_id, member_id=member.id))
        s.commit()


def test_a_credit_says_who_loses_and_records_the_value_as_scored(engine: Engine) -> None:
    """h1 claims B1 (h2's, 400.00) with "=1500": approving credits it; her net GMV becomes 700 + 400 = 1,100.00,
    which the appeal, its card and its audit row record, never the claim."""
    w = build(engine)
    _lead_leads(engine, w.lead)
    aid = appeal(w, "attribution", ["B1"], claimed=D("1500"))
    shown = get(w.services, aid)
    assert shown is not None
    open_card = texts(approver_card(w.services, shown, w.lead, DECIDED))
    assert ("Approving would change: Credit 1 order(s) to h1, taken from the member each is credited to now (who "
            "loses it): B1 (h2, 400.00 USD)") in open_card
    done = decide(w.services, w.lead, aid, "approve", None, None, DECIDED)
    assert done.appeal.decided_value == D("1100.00")
    card = texts(approver_card(w.services, done, w.lead, DECIDED))
    assert "Result: Net GMV for 2026-11 is now 1,100.00 USD." in card
    with Session(engine) as s:
        row = s.execute(select(AuditLog).where(AuditLog.action == "appeal.approve")).scalar_one()
        assert row.details["after"]["decided_value"] == "1100.00"


def test_a_lead_moves_orders_within_their_team_only_an_admin_across(engine: Engine) -> None:
    w = build(engine)
    _lead_leads(engine, w.lead)
    with Session(engine) as s:
        shop = s.execute(select(Shop)).scalar_one()
        other = Team(org_id=shop.org_id, code="t2", name="T2", timezone="UTC", locale="en")
        s.add(other)
        s.flush()
        shop.team_id = other.id
        admin = Member(org_id=shop.org_id, code="adm", name="Adm", role="admin", timezone="UTC", locale="en")
        s.add_all([shop, admin])
        s.commit()
        s.refresh(admin)
        s.expunge(admin)
    aid = appeal(w, "attribution", ["B1"])
    with pytest.raises(UserError) as refused:
        decide(w.services, w.lead, aid, "approve", None, None, DECIDED)
    assert (refused.value.key, refused.value.values) == ("appeal.other_team_order", {"order": "B1", "id": aid})
    with Session(engine) as s:
        assert s.get(Appeal, aid).status == "open"  # type: ignore[union-attr]
    assert decide(w.services, admin, aid, "approve", None, None, DECIDED).appeal.status == "approved"


def test_the_appellant_gets_withdraw_and_the_approver_the_decisions(engine: Engine) -> None:
    w = world(engine)
    filed = file_appeal(w.services, w.buyer, "roi", None, "other", "spend doubled", [], NOW, value_claimed=D("3"))
    mine = approver_card(w.services, filed, w.buyer, NOW)
    assert texts(mine)[-1] == "[Withdraw] /appeal withdraw 1"
    assert not any(line.startswith("[Approve]") for line in texts(mine))
    theirs = texts(approver_card(w.services, filed, w.lead, NOW))
    assert "[Approve] /appeal approve 1" in theirs
    assert "[Withdraw] /appeal withdraw 1" not in theirs
    manager = texts(approver_card(w.services, filed, w.manager, NOW))   # neither: no button at all
    assert [line for line in manager if line.startswith("[")] == []


def test_value_when_appealed_and_value_now(engine: Engine) -> None:
    """ROI 2.5 when appealed on 4 November; approved as claimed (3): the card shows both."""
    w = world(engine)
    filed = file_appeal(w.services, w.buyer, "roi", None, "other", "spend doubled", [], NOW, value_claimed=D("3"))
    assert "Value when appealed (2026-11-04): 250.0%" in texts(approver_card(w.services, filed, w.lead, NOW))
    done = decide(w.services, w.lead, filed.appeal.id or 0, "approve", None, None, NOW)
    card = texts(approver_card(w.services, done, w.lead, NOW + timedelta(hours=1)))
    assert card[2:6] == ["Metric: ROI", "Month: 2026-11", "Value when appealed (2026-11-04): 250.0%",
                         "Value now: 300.0%"]
    assert "Result: ROI for 2026-11 is now 300.0%." in card


def test_a_claimed_value_anywhere_and_refused_in_the_metrics_unit(engine: Engine) -> None:
    w = world(engine)
    d = Dispatcher(w.services, clock=lambda: NOW)

    def say(text: str) -> Card:
        card = d.handle_message(Incoming("console", "buyer1", text))
        assert card is not None
        return card

    filed = say("/appeal roi bogus =4 order missing evidence: =9")
    assert texts(filed)[-2:] == ["Category: other; value claimed: 400.0%.",
                                 "Not found (filed all the same; your approver decides): =9"]
    with Session(engine) as s:
        row = s.get(Appeal, 1)
        assert row is not None
        assert (row.category, row.value_claimed, row.reason, row.evidence) == ("other", D("4"),
                                                                               "bogus order missing", ["=9"])
    assert texts(say("/appeal cpc =-5% wrong"))[1] == ("-5% is not a value for CPC: give an amount of 0 or more, "
                                                       "e.g. =5200.")


def test_an_approver_who_no_longer_fits_cannot_decide_and_the_job_moves_it(engine: Engine) -> None:
    """lead1 stops leading the team: they may no longer decide; reroute moves it to the manager (level 1), audited."""
    w = world(engine)
    filed = file_appeal(w.services, w.buyer, "roi", None, "other", "r", [], NOW)
    aid = filed.appeal.id or 0
    assert reroute(w.services, aid, NOW) is None   # still fits: nothing moves
    with Session(engine) as s:
        for row in s.execute(select(TeamLead)).scalars():
            s.delete(row)
        s.commit()
    with pytest.raises(UserError) as refused:
        decide(w.services, w.lead, aid, "reject", None, "no", NOW)
    assert refused.value.key == "appeal.not_yours"
    with acting_as(job_actor("appeals")):
        moved = reroute(w.services, aid, NOW + timedelta(hours=1))
    assert moved is not None
    assert (moved.approver.code if moved.approver else None, moved.appeal.level) == ("manager1", 1)
    with Session(engine) as s:
        assert [(r.actor, r.action) for r in s.execute(select(AuditLog).order_by(AuditLog.id)).scalars()] == [
            ("buyer1", "appeal.file"), ("job:appeals", "appeal.reroute")]
    assert decide(w.services, w.manager, aid, "reject", None, "no", NOW).appeal.status == "rejected"


def test_the_member_who_loses_an_order_is_told_once(engine: Engine) -> None:
    """B1 credited from h2 to h1: the appeals job tells h2 privately, once across two replicas; h1 hears of the
    decision as before."""
    w = build(engine)
    _lead_leads(engine, w.lead)
    bind(engine, w.h1, w.h2)
    aid = appeal(w, "attribution", ["B1"])
    decide(w.services, w.lead, aid, "approve", None, None, DECIDED)
    feishu, dingtalk = Recorder("feishu"), Recorder("dingtalk")
    for minute, replica in ((1, "i1"), (2, "i2")):
        run_appeals(w.services, {"feishu": feishu, "dingtalk": dingtalk}, DECIDED + timedelta(minutes=minute),
                    replica)
    assert [(u, c.title) for u, c in feishu.sent] == [("ou_h1", f"Your appeal #{aid} was decided"),
                                                     ("ou_h2", "An appeal moved your order(s)")]
    assert texts(feishu.sent[1][1])[1] == (f"Appeal #{aid} of Ana (h1), approved by Lee, credited to them: "
                                           "B1 (400.00 USD). Your 2026-11 numbers no longer count these.")
    assert dingtalk.sent == []


def test_the_job_moves_an_appeal_from_a_lead_who_left(engine: Engine) -> None:
    """lead1 got #1's card, then stopped leading: the next tick gives it to the manager; lead1's copies say so."""
    w = world(engine)
    bind(engine, w.buyer, w.lead, w.manager)
    feishu = Recorder("feishu")
    file_appeal(w.services, w.buyer, "roi", None, "other", "mine", [], NOW)
    run_appeals(w.services, {"feishu": feishu}, NOW + timedelta(minutes=1), "i1")
    with Session(engine) as s:
        for row in s.execute(select(TeamLead)).scalars():
            s.delete(row)
        s.commit()
    run_appeals(w.services, {"feishu": feishu}, NOW + timedelta(hours=1), "i1")
    assert [(u, c.title) for u, c in feishu.sent] == [("ou_lead1", "Appeal #1 · Buyer1 (buyer1)"),
                                                     ("ou_manager1", "Appeal #1 · Buyer1 (buyer1)")]
    assert [(u, strong(c)) for u, _, c in feishu.updated] == [
        ("ou_lead1", ["Escalated to Manager1 (manager) on 2026-11-04 13:00 UTC: decide it there."])]


def test_a_new_lead_on_the_same_level_gets_the_card(engine: Engine) -> None:
    """lead1 got #1's card, then lead2 took the team over the same day: the next tick gives lead2 the card (the
    send is claimed per approver, not only per level and day)."""
    w = world(engine)
    with Session(engine) as s:
        lead2 = Member(org_id=w.lead.org_id, team_id=w.lead.team_id, code="lead2", name="Lead2", role="lead",
                       timezone="UTC", locale="en")
        s.add(lead2)
        s.commit()
        s.refresh(lead2)
        s.expunge(lead2)
    bind(engine, w.buyer, w.lead, lead2)
    feishu = Recorder("feishu")
    file_appeal(w.services, w.buyer, "roi", None, "other", "mine", [], NOW)
    run_appeals(w.services, {"feishu": feishu}, NOW + timedelta(minutes=1), "i1")
    with Session(engine) as s:
        for row in s.execute(select(TeamLead)).scalars():
            s.delete(row)
        s.add(TeamLead(team_id=lead2.team_id, member_id=lead2.id))
        s.commit()
    run_appeals(w.services, {"feishu": feishu}, NOW + timedelta(hours=1), "i1")
    assert [(u, c.title) for u, c in feishu.sent] == [("ou_lead1", "Appeal #1 · Buyer1 (buyer1)"),
                                                     ("ou_lead2", "Appeal #1 · Buyer1 (buyer1)")]


def test_the_why_trail_lists_the_appeals_that_changed_the_month(engine: Engine) -> None:
    """h1's November net GMV measures 700.00 (A1 600 + A2 300 - 200 refunded); B1 credited by one appeal, then
    set to 1,250.00 by a partial approval of another: the trail names both, and the measured value."""
    w = build(engine)
    credit = appeal(w, "attribution", ["B1"])
    decide_adjustment(w, credit)
    override = appeal(w, "other", [], claimed=D("1500"))
    decide_adjustment(w, override, D("1250"))
    session_appeal = appeal(w, "activity", ["live:us1:2026-11-20T20:00/22:00"], metric="live_sessions")
    decide_adjustment(w, session_appeal)
    why = explain(w.services, w.h1, None, "2026-11", AFTER)
    assert why.metric("net_gmv").adjustments == (
        Adjustment("override", override, value=D("1250"), measured=D("1100.00")),
        Adjustment("credit_order", credit, ref="B1"))
    assert why.metric("live_sessions").adjustments == (
        Adjustment("add_session", session_appeal, ref="us1 2026-11-20 20:00–22:00"),)
    lines = [b.text for b in why_blocks(why, "en", "net_gmv") if isinstance(b, Text)]
    assert lines[1:] == ["Largest 3", "Changed by appeals:",
                         f"· set to 1,250.00 USD by appeal #{override} (measured 1,100.00 USD)",
                         f"· order B1 credited by appeal #{credit}"]
    assert [b.text for b in why_blocks(why, "zh", "live_sessions") if isinstance(b, Text)][1:] == [
        "最大 3 笔", "申诉调整：", f"· 直播 us1 2026-11-20 20:00–22:00 经第 {session_appeal} 号申诉补记"]


def test_the_why_trail_says_what_scored_is_judged_against_and_an_imported_target(engine: Engine,
                                                                               tmp_path: Path) -> None:
    """On 25 November 12:00 (24.5 of 30 days gone, clock pace) h1's net GMV 700.00 against 1,000.00: expected by
    now 816.67 (82 %), pace 700 / 816.67 = 86 %; the target came from targets.csv, imported on 20 November."""
    w = build(engine)
    csv = tmp_path / "targets.csv"
    csv.write_text("period,member,metric,value\n2026-11,h1,net_gmv,1000\n", encoding="utf-8")
    with Session(engine) as s:
        org_id = s.execute(select(Shop.org_id)).scalar_one()
    import_file(w.services, csv, org_id, datetime(2026, 11, 20, 9, tzinfo=UTC))
    why = explain(w.services, w.h1, "net_gmv", None, DURING)
    rows = dict(next(b for b in why_blocks(why, "en", "net_gmv") if isinstance(b, Fields)).items)
    assert (rows["Target"], rows["Achievement"], rows["Scored against"]) == (
        "1,000.00 USD · imported (targets.csv, 2026-11-20)", "70%",
        "expected by now 816.67 USD (82% of the target): pace 86%")
    assert rows["Scored against"].endswith(rows[next(k for k in rows if k.startswith("Scored ("))])
    orders = explain(w.services, w.h1, "orders", "2026-11", AFTER)   # November is over: judged on the target
    assert dict(next(b for b in why_blocks(orders, "en", "orders") if isinstance(b, Fields)).items)[
        "Scored against"] == "the target"

"""services.appeals on both backends: filing (window, metric, routing), deciding once (compare-and-swap, two
threads), withdrawing, escalating and the audit rows."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.chart_cache import ChartCache
from scoring.alerts import AlertRules
from scoring.rules import Rules
from services.appeal_routing import AppealRules
from services.appeals import decide, escalate, file_appeal, open_for, withdraw
from services.container import Services
from services.errors import UserError
from storage.audit import acting_as, job_actor
from storage.audit_read import read_audit
from storage.models import AdSpend, Appeal, AuditLog, KpiTemplate, KpiTemplateMetric, Member, Shop, TeamLead
from tests.conftest import org_and_team

NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    services: Services
    buyer: Member
    lead: Member
    manager: Member
    admin: Member


def world(engine: Engine, *, lead: bool = True, manager: bool = True) -> World:
    """An ad buyer scored on ROI, CPC and cost per visitor, with spend on the 1st, 2nd and 4th of November 2026
    (ROI 2.5 by the 4th), in a team with a lead, and a manager and an admin in the organisation."""
    with Session(engine) as s:
        org, team = org_and_team(s)
        shop = Shop(org_id=org.id, team_id=team.id, code="us1", name="US", platform="tiktok_shop", region="US",
                    currency="USD", timezone="UTC")
        people = {code: Member(org_id=org.id, team_id=team.id if role in ("ad_buyer", "lead") else None, code=code,
                               name=code.title(), role=role, timezone="UTC", locale="en",
                               active=(code != "lead1" or lead) and (code != "manager1" or manager))
                  for code, role in (("buyer1", "ad_buyer"), ("lead1", "lead"), ("manager1", "manager"),
                                     ("admin1", "admin"))}
        s.add_all([shop, *people.values()])
        s.flush()
        s.add(TeamLead(team_id=team.id, member_id=people["lead1"].id))
        template = KpiTemplate(org_id=org.id, name="buyer", role="ad_buyer")
        s.add(template)
        s.flush()
        s.add_all([KpiTemplateMetric(template_id=template.id, metric_key=k, weight=D(w), position=i)
                   for i, (k, w) in enumerate((("roi", 50), ("cpc", 30), ("cost_per_visitor", 20)))])
        s.add_all([AdSpend(shop_id=shop.id, member_id=people["buyer1"].id, campaign_id="c1",
                           day=date(2026, 11, d), currency="USD", spend_minor=spend, attributed_gmv_minor=gmv)
                   for d, spend, gmv in ((1, 10_000, 25_000), (2, 5_000, 20_000), (4, 15_000, 30_000))])
        s.commit()
        for m in people.values():
            s.refresh(m)
        s.expunge_all()
    services = Services(engine, Rules(), "UTC", "en", ChartCache(), AlertRules(enabled=False),
                        appeals=AppealRules(window=timedelta(days=7)))
    return World(services, people["buyer1"], people["lead1"], people["manager1"], people["admin1"])


def audit_rows(engine: Engine) -> list[tuple[str, str, str | None]]:
    with Session(engine) as s:
        return [(r.actor, r.action, r.entity_id) for r in s.execute(select(AuditLog).order_by(AuditLog.id)).scalars()]


def test_an_appeal_is_filed_with_the_value_mykpi_shows_and_goes_to_the_lead(engine: Engine) -> None:
    w = world(engine)
    filed = file_appeal(w.services, w.buyer, "ROI", None, "attribution", "order\x1b 123 is mine\n", ["o-123"], NOW,
                        value_claimed=D("3"))
    a = filed.appeal
    assert (a.metric_key, a.period, a.category, a.reason, a.evidence) == ("roi", "2026-11", "attribution",
                                                                          "order 123 is mine", ["o-123"])
    assert (a.value_now, a.value_claimed, a.status, a.level) == (D("2.5"), D("3"), "open", 0)
    assert (filed.approver.code if filed.approver else None, a.assigned_at) == ("lead1", NOW)
    assert audit_rows(engine) == [("buyer1", "appeal.file", str(a.id))]
    with pytest.raises(UserError) as again:
        file_appeal(w.services, w.buyer, "roi", "2026-11", "other", "twice", [], NOW)
    assert again.value.key == "appeal.already_open"


def test_the_window_for_last_month_and_the_metric_and_routing_rules(engine: Engine) -> None:
    w = world(engine, lead=False, manager=False)
    # October ended at 2026-11-01 00:00 UTC: 7 days later it is open, a second later it is not
    inside = datetime(2026, 11, 8, 0, 0, tzinfo=UTC)
    filed = file_appeal(w.services, w.buyer, "cpc", "2026-10", "other", "cpc was wrong", [], inside)
    assert (filed.appeal.period, filed.appeal.value_now, filed.approver.code if filed.approver else None,
            filed.appeal.level) == ("2026-10", None, "admin1", 2)   # no lead, no manager: the admin
    for period, now, key in (("2026-10", inside + timedelta(seconds=1), "appeal.period_closed"),
                             ("2026-09", NOW, "appeal.period_closed"),
                             ("2026-12", NOW, "appeal.period_closed")):
        with pytest.raises(UserError) as refused:
            file_appeal(w.services, w.buyer, "roi", period, "other", "r", [], now)
        assert (refused.value.key, refused.value.values["period"]) == (key, period)
    with pytest.raises(UserError) as unknown:
        file_appeal(w.services, w.buyer, "net_gmv", None, "other", "r", [], NOW)
    assert (unknown.value.key, unknown.value.values["metrics"]) == ("appeal.unknown_metric",
                                                                   "roi, cpc, cost_per_visitor")
    with pytest.raises(UserError) as empty:
        file_appeal(w.services, w.buyer, "roi", None, "other", " \x07 ", [], NOW)
    assert empty.value.key == "appeal.needs_reason"


def test_nobody_to_decide_is_a_clear_refusal(engine: Engine) -> None:
    w = world(engine, lead=False, manager=False)
    with Session(engine) as s:
        admin = s.get(Member, w.admin.id)
        assert admin is not None
        admin.active = False
        s.commit()
    with pytest.raises(UserError) as refused:
        file_appeal(w.services, w.buyer, "roi", None, "other", "r", [], NOW)
    assert refused.value.key == "appeal.no_approver"


def test_reject_needs_a_reason_and_only_the_approver_or_an_admin_decides(engine: Engine) -> None:
    w = world(engine)
    a = file_appeal(w.services, w.buyer, "roi", None, "other", "r", [], NOW).appeal
    assert a.id is not None
    for who, outcome, note, key in ((w.lead, "reject", None, "appeal.reject_needs_reason"),
                                    (w.lead, "partly", None, "appeal.partly_needs_value"),
                                    (w.manager, "reject", "no", "appeal.not_yours"),
                                    (w.buyer, "reject", "no", "appeal.own_appeal")):
        with pytest.raises(UserError) as refused:
            decide(w.services, who, a.id, outcome, None, note, NOW)
        assert refused.value.key == key
    assert [v.appeal.id for v in open_for(w.services, w.lead, NOW)] == [a.id]
    assert [v.appeal.id for v in open_for(w.services, w.admin, NOW)] == [a.id]
    assert open_for(w.services, w.manager, NOW) == []
    later = NOW + timedelta(hours=1)
    done = decide(w.services, w.admin, a.id, "reject", None, "target was right", later)
    assert (done.appeal.status, done.appeal.decision_note, done.appeal.decided_at,
            done.decider.code if done.decider else None) == ("rejected", "target was right", later, "admin1")
    with pytest.raises(UserError) as replay:
        decide(w.services, w.lead, a.id, "reject", None, "again", later)
    assert replay.value.key == "appeal.already_rejected"
    assert open_for(w.services, w.lead, NOW) == []
    assert audit_rows(engine) == [("buyer1", "appeal.file", str(a.id)), ("admin1", "appeal.reject", str(a.id))]


def test_withdraw_and_escalate(engine: Engine) -> None:
    w = world(engine)
    a = file_appeal(w.services, w.buyer, "roi", None, "other", "r", [], NOW).appeal
    assert a.id is not None
    with pytest.raises(UserError) as foreign:
        withdraw(w.services, w.lead, a.id, NOW)
    assert foreign.value.key == "appeal.not_your_appeal"
    with acting_as(job_actor("appeals")):   # as bot.scheduler runs the appeals job
        up = escalate(w.services, a.id, NOW + timedelta(days=5))
    assert up is not None
    assert (up.approver.code if up.approver else None, up.appeal.level) == ("manager1", 1)
    with pytest.raises(UserError) as old:
        decide(w.services, w.lead, a.id, "reject", None, "no", NOW)
    assert old.value.key == "appeal.not_yours"
    gone = withdraw(w.services, w.buyer, a.id, NOW + timedelta(days=6))
    assert gone.appeal.status == "withdrawn"
    with pytest.raises(UserError) as after:
        decide(w.services, w.manager, a.id, "reject", None, "no", NOW)
    assert after.value.key == "appeal.already_withdrawn"
    assert [r[:2] for r in audit_rows(engine)] == [("buyer1", "appeal.file"), ("job:appeals", "appeal.escalate"),
                                                   ("buyer1", "appeal.withdraw")]


def test_two_deciders_at_once_make_exactly_one_decision(engine: Engine) -> None:
    """The lead and an admin reject in two threads, both past the checks before either writes: one wins."""
    w = world(engine)
    a = file_appeal(w.services, w.buyer, "roi", None, "other", "r", [], NOW).appeal
    assert a.id is not None
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def run(who: Member) -> None:
        barrier.wait()
        try:
            decide(w.services, who, a.id or 0, "reject", None, f"by {who.code}", NOW)
            outcomes[who.code] = "won"
        except UserError as exc:
            outcomes[who.code] = exc.key

    threads = [threading.Thread(target=run, args=(m,)) for m in (w.lead, w.admin)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(outcomes.values()) == ["appeal.already_decided", "won"] or \
        sorted(outcomes.values()) == ["appeal.already_rejected", "won"]
    winner = next(code for code, o in outcomes.items() if o == "won")
    with Session(engine) as s:
        row = s.get(Appeal, a.id)
        assert row is not None
        assert (row.status, row.decision_note) == ("rejected", f"by {winner}")
    assert [r[:2] for r in audit_rows(engine)] == [("buyer1", "appeal.file"), (winner, "appeal.reject")]


def test_approve_applies_the_adjustment_in_the_decision_and_nothing_to_apply_changes_nothing(engine: Engine) -> None:
    """Approving as claimed overrides ROI to 3 (the value a new appeal of it then sees); an approval with nothing
    to apply is refused and leaves the appeal open, with no audit row."""
    w = world(engine)
    bare = file_appeal(w.services, w.buyer, "cpc", None, "other", "no value", [], NOW).appeal
    with pytest.raises(UserError) as nothing:
        decide(w.services, w.lead, bare.id or 0, "approve", None, None, NOW)
    assert nothing.value.key == "appeal.nothing_to_apply"
    with Session(engine) as s:
        row = s.get(Appeal, bare.id)
        assert row is not None and row.status == "open"
    claimed = file_appeal(w.services, w.buyer, "roi", None, "other", "spend was double counted", [], NOW,
                          value_claimed=D("3")).appeal
    done = decide(w.services, w.lead, claimed.id or 0, "approve", None, None, NOW)
    assert (done.appeal.status, done.appeal.decided_value) == ("approved", D("3"))
    again = file_appeal(w.services, w.buyer, "roi", None, "other", "check", [], NOW)
    assert again.appeal.value_now == D("3")
    assert [r[:2] for r in audit_rows(engine)] == [("buyer1", "appeal.file"), ("buyer1", "appeal.file"),
                                                   ("lead1", "appeal.override"), ("lead1", "appeal.approve"),
                                                   ("buyer1", "appeal.file")]


def test_an_approved_appeal_on_a_closed_month_moves_its_final_scores(engine: Engine) -> None:
    """October is closed with the buyer's ROI 4 (40.00 of GMV on 10.00 of spend); an appeal of it, within the
    window, approved as claimed (5) refinalises October: the frozen ROI becomes 5 and the change is audited."""
    from services.month_close import close
    from storage.models import FinalScore
    w = world(engine)
    with Session(engine) as s:
        shop = s.execute(select(Shop)).scalars().one()
        s.add(AdSpend(shop_id=shop.id, member_id=w.buyer.id, campaign_id="c1", day=date(2026, 10, 10),
                      currency="USD", spend_minor=1_000, attributed_gmv_minor=4_000))
        s.commit()

    def october_roi() -> str:
        with Session(engine) as s:
            row = s.execute(select(FinalScore).where(FinalScore.period == "2026-10",
                                                     FinalScore.member_id == w.buyer.id)).scalars().one()
            return next(m["actual"] for m in row.metrics if m["key"] == "roi")

    close(w.services, 2026, 10, NOW, "cli:admin")
    assert october_roi() == "4"
    appeal = file_appeal(w.services, w.buyer, "roi", "2026-10", "other", "spend counted twice", [], NOW,
                         value_claimed=D("5")).appeal
    decide(w.services, w.lead, appeal.id or 0, "approve", None, None, NOW)
    assert october_roi() == "5"
    assert [r[:2] for r in audit_rows(engine)][-3:] == [("lead1", "appeal.override"),
                                                        ("lead1", "final_score.refinalise"),
                                                        ("lead1", "appeal.approve")]


def test_finance_reads_the_appeal_decisions_as_pay_changes(engine: Engine) -> None:
    """/audit for a finance member (storage.audit_read pay=True) lists the decisions decide writes, with their
    adjustments; the filing and the withdrawal are not pay changes."""
    w = world(engine)
    later = NOW + timedelta(hours=1)
    approved = file_appeal(w.services, w.buyer, "roi", None, "other", "roi is 3", [], NOW, value_claimed=D("3"))
    decide(w.services, w.lead, approved.appeal.id or 0, "approve", None, None, later)
    partly = file_appeal(w.services, w.buyer, "cpc", None, "other", "cpc is 1", [], NOW, value_claimed=D("1"))
    decide(w.services, w.lead, partly.appeal.id or 0, "partly", D("2"), None, later)
    rejected = file_appeal(w.services, w.buyer, "cost_per_visitor", None, "other", "cpv", [], NOW)
    decide(w.services, w.lead, rejected.appeal.id or 0, "reject", None, "no", later)
    withdrawn = file_appeal(w.services, w.buyer, "roi", None, "other", "again", [], NOW)
    withdraw(w.services, w.buyer, withdrawn.appeal.id or 0, later)
    with Session(engine) as s:
        pay = read_audit(s, pay=True)
    assert sorted(r.action for r in pay.rows) == ["appeal.approve", "appeal.override", "appeal.override",
                                                  "appeal.partly", "appeal.reject"]


def test_finance_reads_commission_corrections_as_pay_changes(engine: Engine) -> None:
    """A correction an appeal books beside a paid month (services.month_close) is a pay change; a target is not."""
    from storage.audit import audit
    with Session(engine) as s:
        audit(s, "lead1", "commission_correction.add", "commission_correction", "2026-10:buyer1", {}, NOW)
        audit(s, "lead1", "target.set", "target", "buyer1", {}, NOW)
        s.commit()
        assert [r.action for r in read_audit(s, pay=True).rows] == ["commission_correction.add"]


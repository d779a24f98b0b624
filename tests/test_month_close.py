"""kpibot month close: commission closed and final scores frozen in one transaction; a closed month refuses
target, template and plan changes; refinalise (for an approved appeal) recomputes the team as of the close.
The demo is seeded for 2026-11-22 (tests.clock.DEMO_NOW), so October is over in every zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.cli.commission import _effective_month
from bot.usage import UsageError
from cards.chart_cache import ChartCache
from cards.render_text import render_text
from scoring.periods import PeriodKind
from scoring.rules import Rules
from scoring.shipped_templates import DEFAULT_TEMPLATES
from services.commission import MonthNotOver
from services.container import Services
from services.month_close import close, refinalise
from services.my_kpi import my_kpi
from services.templates import apply_templates
from storage.commission import payout_for
from storage.models import AuditLog, CommissionCorrection, FinalScore, MonthClose, Refund
from storage.month_close import final_scores
from storage.queries import member_by_code
from storage.targets import Subject, set_target
from tests.clock import DEMO_NOW
from tests.conftest import dispatcher_for
from tests.test_commands import say
from tests.test_commission_store import _order, _store, at

D = Decimal


def services_of(engine: Engine) -> Services:
    return Services(engine, Rules(), "Asia/Shanghai", "en", ChartCache())


Shown = tuple[Decimal | None, str | None, int | None, int | None]   # score, grade, rank, of


def finals(engine: Engine, period: str = "2026-10") -> dict[str, Shown]:
    with Session(engine) as s:
        codes = {m.id: m.code for m in s.execute(text("SELECT id, code FROM member")).all()}
        return {codes[f.member_id]: (f.score, f.grade, f.rank, f.rank_of) for f in final_scores(s, period)}


OCTOBER = {   # the demo's October as /rank ranks it within each team (live-us: six scored, shopee-id: two)
    "host1": (D("87.9"), "B", 4, 6), "host3": (D("93.8"), "B", 3, 6), "buyer1": (D("105.1"), "A", 1, 6),
    "operator1": (D("72.9"), "C", 5, 6), "selector1": (D("27.9"), "D", 6, 6), "lead1": (D("96.9"), "B", 2, 6),
    "host2": (D("94.9"), "B", 2, 2), "lead2": (D("95.7"), "B", 1, 2),
}


def test_closing_a_month_freezes_its_scores_and_closes_commission_once(demo_copy: Engine) -> None:
    services = services_of(demo_copy)
    result = close(services, 2026, 10, DEMO_NOW, "cli:tester")
    assert (result.already, result.scores, result.payouts, result.no_plan) == (False, 8, 8, False)
    assert finals(demo_copy) == OCTOBER
    with Session(demo_copy) as s:
        row = s.get(MonthClose, "2026-10")
        assert row is not None and (row.closed_at, row.closed_by) == (DEMO_NOW, "cli:tester")
        host1 = member_by_code(s, "host1")
        assert host1 is not None
        frozen = s.execute(select(FinalScore).where(FinalScore.member_id == host1.id)).scalars().one()
        assert (frozen.template_name, frozen.role, frozen.trial) == ("host", "host", False)
        assert frozen.metrics[0] == {"key": "net_gmv", "weight": "40", "actual": "41717.82", "target": "46900",
                                     "achievement": "0.8895057569296375266524520256", "points": "35.58"}
        audits = s.execute(select(AuditLog).where(AuditLog.action == "month.close")).scalars().all()
        assert [(a.actor, a.entity_id, a.details) for a in audits] == [
            ("cli:tester", "2026-10", {"final_scores": 8, "payouts": 8, "commission": "closed"})]
    again = close(services, 2026, 10, DEMO_NOW + timedelta(days=1), "cli:other")
    assert (again.already, again.closed_by, again.closed_at) == (True, "cli:tester", DEMO_NOW)
    with Session(demo_copy) as s:
        assert s.execute(text("SELECT COUNT(*) FROM audit_log WHERE action = 'month.close'")).scalar() == 1
        assert s.execute(text("SELECT COUNT(*) FROM final_score")).scalar() == 8


def test_a_month_not_over_is_not_closed(demo_copy: Engine) -> None:
    with pytest.raises(MonthNotOver):
        close(services_of(demo_copy), 2026, 11, DEMO_NOW, "cli:tester")
    with Session(demo_copy) as s:
        assert s.execute(text("SELECT COUNT(*) FROM month_close")).scalar() == 0
        assert s.execute(text("SELECT COUNT(*) FROM final_score")).scalar() == 0
        assert s.execute(text("SELECT COUNT(*) FROM commission_payout WHERE period = '2026-11'")).scalar() == 0


def test_a_closed_month_refuses_targets_and_plans_even_forced(demo_copy: Engine) -> None:
    services = services_of(demo_copy)
    close(services, 2026, 10, DEMO_NOW, "cli:tester")
    card = say(dispatcher_for(demo_copy), "manager1", "/target set host1 net_gmv 50000 2026-10 --force")
    assert render_text(card) == ("kpibot\n======\n"
                                 "2026-10 已结账：其目标、得分和提成只能通过批准的申诉（/appeal）修改。\n")
    with Session(demo_copy) as s:
        with pytest.raises(UsageError, match=r"^--from 2026-10: 2026-10 is closed \(kpibot month close\)"):
            _effective_month(s, "2026-10", "Asia/Shanghai", DEMO_NOW)
        assert _effective_month(s, "2026-12", "Asia/Shanghai", DEMO_NOW) == "2026-12"
    assert finals(demo_copy) == OCTOBER


def test_late_data_stays_out_of_a_closed_month_also_when_refinalised(demo_copy: Engine) -> None:
    """A late refund of host1's largest October order reaches the store a minute after the close: the frozen
    scores stay, and refinalise (what an approved appeal calls) recomputes as of the close, so neither the team's
    scores and ranks nor host1's payout move and no correction is recorded; the refinalise is audited."""
    services = services_of(demo_copy)
    close(services, 2026, 10, DEMO_NOW, "cli:tester")
    late = DEMO_NOW + timedelta(minutes=1)
    with Session(demo_copy) as s:
        order_id, amount = s.execute(text(
            "SELECT o.id, o.merchandise_minor FROM shop_order o JOIN member m ON m.id = o.member_id "
            "WHERE m.code = 'host1' AND o.paid_at >= '2026-10-01 07:00:00' AND o.paid_at < '2026-11-01 07:00:00' "
            "AND o.cancelled_at IS NULL AND NOT EXISTS (SELECT 1 FROM refund r WHERE r.order_id = o.id) "
            "ORDER BY o.merchandise_minor DESC, o.id LIMIT 1")).one()
        s.add(Refund(order_id=order_id, platform_refund_id="late-1", kind="refund", status="completed",
                     currency="USD", amount_minor=amount, requested_at=late, completed_at=late))
        s.commit()
    assert finals(demo_copy) == OCTOBER
    later = DEMO_NOW + timedelta(hours=1)
    with Session(demo_copy) as s:
        host1 = member_by_code(s, "host1")
        assert host1 is not None
        before = payout_for(s, host1.id or 0, "2026-10")
        assert before is not None
        paid_before = (before.basis_amount, before.earned_minor, before.paid_minor)
        refinalise(s, services, host1, "2026-10", later, "lead1")
        s.commit()
        host1_id = host1.id or 0
    assert finals(demo_copy) == OCTOBER
    with Session(demo_copy) as s:
        after = payout_for(s, host1_id, "2026-10")
        assert after is not None
        assert (after.basis_amount, after.earned_minor, after.paid_minor) == paid_before == PAYOUT_PAID
        assert s.execute(select(CommissionCorrection)).scalars().all() == []
        rows = s.execute(select(AuditLog).where(AuditLog.action.in_(  # type: ignore[attr-defined]
            ("final_score.refinalise", "commission_correction.add"))).order_by(AuditLog.id)).scalars().all()
        assert [(a.actor, a.action, a.entity_id) for a in rows] == [
            ("lead1", "final_score.refinalise", "2026-10:host1")]
        shown = {"score": "87.9", "grade": "B", "rank": 4, "rank_of": 6}
        assert (rows[0].details["before"]["host1"], rows[0].details["after"]["host1"]) == (shown, shown)


PAYOUT_PAID = (D("41717.82"), 105153, 105153)   # host1's October as paid: basis, earned and paid cents


def test_on_an_empty_store_the_final_score_is_the_one_mykpi_showed_last(engine: Engine) -> None:
    """A store set up as kpibot's own commands do (organisation, team, member, the shipped templates applied, a
    target, a plan): November's final score and rank are what /mykpi showed at the month's last second; on
    both backends."""
    host, shop = _store(engine)
    with Session(engine) as s:
        apply_templates(s, host.org_id, list(DEFAULT_TEMPLATES), None, at(1, 11), "UTC")
        set_target(s, host.org_id, Subject("member", member=host), "2026-11", "net_gmv", D("2000"), None)
        _order(s, shop, host, "A", 130000, at(3, 11), "b1")
        s.commit()
    services = Services(engine, Rules(), "UTC", "en", ChartCache())
    last = my_kpi(services, host, PeriodKind.MONTH, datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
    assert last.score.scorecard is not None
    result = close(services, 2026, 11, datetime(2026, 12, 1, 8, tzinfo=UTC), "cli:tester")
    assert (result.scores, result.payouts) == (1, 1)
    assert finals(engine, "2026-11") == {"h": (last.score.scorecard.score, last.score.scorecard.grade, 1, 1)}
    assert last.rank == (1, 1)
    with Session(engine) as s:
        (row,) = final_scores(s, "2026-11")
        net = next(m for m in row.metrics if m["key"] == "net_gmv")
        assert (net["actual"], net["target"], net["achievement"]) == ("1300.00", "2000", "0.65")

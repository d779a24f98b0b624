"""What an approved appeal changes (services.appeal_adjustments), on SQLite and PostgreSQL, on an empty store.

A UTC team with a shop us1 and two hosts scored 40 % on net GMV (target 1,000.00 USD), 40 % on live sessions
(target 4) and 20 % on orders (target 4) in November 2026. November is scored as of 2 December (`AFTER`: the
month is over, so a cumulative metric is judged against its whole target and every figure can be worked out by
hand; the clock is pinned by passing these moments):
- h1: sessions on 2 and 4 Nov (20:00-22:00); order A1 600.00 paid in the first, A2 300.00 in the second with
  200.00 refunded on 8 Nov.
  net GMV 700.00 -> 0.7; sessions 2 / 4 -> 0.5; orders 2 / 4 -> 0.5; score 0.7 x 40 + 0.5 x 40 + 0.5 x 20 = 58.0.
- h2: 4 sessions (1, 6, 11, 16 Nov); order B1 400.00 paid in the one of 11 Nov, sold by creator zed's affiliate
  link; h1 is also the creator ana on the shop's platform. net GMV 0.4, sessions 1.0, orders 0.25: 16 + 40 + 5 = 61.0.
The views that must agree (/mykpi, /rank, the snapshot, commission) are read on 25 November (`DURING`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.chart_cache import ChartCache
from cards.i18n import t
from scoring.commission import Basis, Plan, PlanKind, Tier
from scoring.periods import PeriodKind, month_window
from scoring.rules import CountOrdersAt, Rules
from services.appeal_adjustments import Proposal, apply_decision, parse_session_evidence, proposal_for
from services.commission import estimate
from services.container import Services
from services.crediting import credit_shops, explain
from services.errors import UserError
from services.my_kpi import my_kpi
from services.ranking import ranking
from services.scorecards import Inputs, score_member
from services.snapshots import snapshot_row
from storage.activity import load_team_activity
from storage.attribution import attribute_orders
from storage.commission import save_plan
from storage.ingest.records import OrderRecord, OrderStatus
from storage.ingest.writer import StoreWriter
from storage.models import (
    AffiliateLine,
    Appeal,
    AppealAdjustment,
    AuditLog,
    Creator,
    KpiTemplate,
    KpiTemplateMetric,
    LiveSession,
    Member,
    Order,
    Refund,
    Shop,
    Target,
    Team,
)
from tests.conftest import org_and_team

D = Decimal
AFTER = datetime(2026, 12, 2, 12, tzinfo=UTC)
DURING = datetime(2026, 11, 25, 12, tzinfo=UTC)
DECIDED = datetime(2026, 12, 1, 9, tzinfo=UTC)
NOV = month_window(2026, 11, "UTC")


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@dataclass
class World:
    engine: Engine
    services: Services
    h1: Member
    h2: Member
    lead: Member


def build(engine: Engine) -> World:
    with Session(engine) as s:
        org, team = org_and_team(s)
        shop = Shop(org_id=org.id, team_id=team.id, code="us1", name="US", platform="tiktok_shop", region="US",
                    currency="USD", timezone="UTC")
        h1, h2, lead = (Member(org_id=org.id, team_id=team.id, code=c, name=n, role=r, timezone="UTC", locale="en")
                        for c, n, r in (("h1", "Ana", "host"), ("h2", "Budi", "host"), ("lead1", "Lee", "lead")))
        s.add_all([shop, h1, h2, lead])
        s.flush()
        template = KpiTemplate(org_id=org.id, name="host", role="host")
        s.add(template)
        s.flush()
        s.add_all([KpiTemplateMetric(template_id=template.id, metric_key=k, weight=D(w), position=i)
                   for i, (k, w) in enumerate((("net_gmv", 40), ("live_sessions", 40), ("orders", 20)))])
        s.add_all([Target(org_id=org.id, scope="member", subject=f"member:{m.id}", member_id=m.id, period="2026-11",
                          metric_key=k, value=D(v))
                   for m in (h1, h2) for k, v in (("net_gmv", "1000"), ("live_sessions", "4"), ("orders", "4"))])
        save_plan(s, org.id or 0, Plan("host-plan", "host", Basis.NET_GMV, PlanKind.TIERED, (Tier(D(0), D("0.10")),),
                                       "USD"))
        orders = {}
        for ref, host, cents, day in (("A1", h1, 60000, 2), ("A2", h1, 30000, 4), ("B1", h2, 40000, 11)):
            orders[ref] = Order(shop_id=shop.id, platform_order_id=ref, status="COMPLETED", currency="USD",
                                merchandise_minor=cents, total_minor=cents, units=1, created_at=at(day, 21),
                                paid_at=at(day, 21), member_id=host.id, credit_rule="live_session")
        s.add(Creator(org_id=org.id, handle="ana", platform="tiktok_shop", member_id=h1.id))
        s.add(AffiliateLine(shop_id=shop.id, platform_order_id="B1", platform_product_id="P1", platform_sku_id="",
                            creator_handle="zed", content_type="VIDEO", commission_rate=D("0.1"), currency="USD",
                            amount_minor=40000, quantity=1, status="COMPLETED", created_at=at(11, 21),
                            updated_at=at(11, 21)))
        s.add_all(orders.values())
        s.flush()
        s.add(Refund(order_id=orders["A2"].id, platform_refund_id="R1", kind="refund", status="completed",
                     currency="USD", amount_minor=20000, requested_at=at(7), completed_at=at(8)))
        for i, (host, day) in enumerate([(h1, 2), (h1, 4), *((h2, d) for d in (1, 6, 11, 16))]):
            s.add(LiveSession(shop_id=shop.id, host_member_id=host.id, platform_session_id=f"L{i}",
                              started_at=at(day, 20), ended_at=at(day, 22), currency="USD"))
        s.commit()
        for m in (h1, h2, lead):
            s.refresh(m)
        s.expunge_all()
    attribute_orders(engine, everything=True)   # B1 -> zed, by its affiliate line
    return World(engine, Services(engine, Rules(), "UTC", "en", ChartCache()), h1, h2, lead)


def appeal(world: World, category: str, evidence: list[str], metric: str | None = "net_gmv",
           claimed: Decimal | None = None) -> int:
    with Session(world.engine) as s:
        row = Appeal(member_id=world.h1.id, metric_key=metric, period="2026-11", category=category,
                     reason="wrong numbers", evidence=evidence, value_claimed=claimed,
                     approver_member_id=world.lead.id)
        s.add(row)
        s.commit()
        return row.id or 0


def decide(world: World, appeal_id: int, value: Decimal | None = None) -> list[tuple[str, int | None, str | None]]:
    with Session(world.engine) as s:
        made = apply_decision(s, s.get(Appeal, appeal_id), world.lead, value, DECIDED)  # type: ignore[arg-type]
        s.commit()
        return [(a.kind, a.order_id, a.metric_key) for a in made]


def propose(world: World, appeal_id: int) -> Proposal | None:
    with Session(world.engine) as s:
        return proposal_for(s, s.get(Appeal, appeal_id))  # type: ignore[arg-type]


def november(world: World, member: Member) -> tuple[Decimal | None, ...]:
    """(net GMV, live sessions, orders, score) of the member's November as of 2 December."""
    with Session(world.engine) as s:
        team = s.get(Team, member.team_id)
        score = score_member(s, Inputs.load(s, Rules(), AFTER), member, team, NOV)
        assert score.scorecard is not None
        card = score.scorecard
        return (card.result("net_gmv").actual, card.result("live_sessions").actual, card.result("orders").actual,
                card.score)


def audit_rows(world: World) -> list[tuple[str, str, dict[str, object]]]:
    with Session(world.engine) as s:
        return [(r.actor, r.action, r.details) for r in s.execute(select(AuditLog).order_by(AuditLog.id)).scalars()
                if r.action.startswith("appeal.")]


@pytest.fixture
def world(engine: Engine) -> World:
    return build(engine)


def test_before_any_appeal_by_hand(world: World) -> None:
    assert november(world, world.h1) == (D("700.00"), D(2), D(2), D("58.0"))
    assert november(world, world.h2) == (D("400.00"), D(4), D(1), D("61.0"))


def test_override_replaces_the_months_value_in_score_rank_and_commission(world: World) -> None:
    aid = appeal(world, "other", [], claimed=D("1000"))
    assert propose(world, aid) == Proposal("override", "appeal.proposal.override",
                                           {"metric": "net_gmv", "value": "1000", "member": "h1",
                                            "period": "2026-11"})
    assert decide(world, aid) == [("override", None, "net_gmv")]
    # net GMV 1,000 -> 1.0; 40 + 20 + 10 = 70.0: ahead of h2's 61.0
    assert november(world, world.h1) == (D("1000"), D(2), D(2), D("70.0"))
    assert november(world, world.h2) == (D("400.00"), D(4), D(1), D("61.0"))
    with Session(world.engine) as s:
        commission = estimate(s, Inputs.load(s, Rules(), AFTER), world.h1, 2026, 11)
        assert commission is not None and (commission.basis, commission.statement.earned) == (D("1000"), D("100.00"))
    assert audit_rows(world) == [("lead1", "appeal.override", {
        "appeal": aid, "member": world.h1.id, "period": "2026-11", "before": {"metric": "net_gmv", "value": ""},
        "after": {"metric": "net_gmv", "value": "1000"}, "members": ["h1"]})]


def test_a_partial_approval_overrides_with_its_value(world: World) -> None:
    aid = appeal(world, "attribution", ["NO-SUCH-ORDER"], claimed=D("1100"))
    assert decide(world, aid, D("850.50")) == [("override", None, "net_gmv")]
    # 850.50 / 1,000 x 40 + 20 + 10 = 64.02 -> 64.0
    assert november(world, world.h1) == (D("850.50"), D(2), D(2), D("64.0"))


def test_nothing_to_apply_is_a_user_error(world: World) -> None:
    aid = appeal(world, "other", ["see chat"], metric=None)
    assert propose(world, aid) is None
    with pytest.raises(UserError) as raised:
        decide(world, aid)
    assert raised.value.key == "appeal.nothing_to_apply"
    assert t("en", raised.value.key).startswith("Nothing to apply")
    with Session(world.engine) as s:
        assert s.execute(select(AppealAdjustment)).scalars().all() == []


def test_one_number_after_an_override(world: World) -> None:
    """/mykpi, /rank, the score snapshot and the commission estimate read the same month on 25 November."""
    aid = appeal(world, "other", [], claimed=D("1000"))
    decide(world, aid)
    mine = my_kpi(world.services, world.h1, PeriodKind.MONTH, DURING)
    assert mine.score.scorecard is not None
    rows = {name: score for name, _, score, _ in ranking(world.services, world.h1, PeriodKind.MONTH, DURING).rows}
    with Session(world.engine) as s:
        inputs = Inputs.load(s, Rules(), DURING)
        snap = snapshot_row(s, inputs, world.h1, s.get(Team, world.h1.team_id), DURING)  # type: ignore[arg-type]
        commission = estimate(s, Inputs.load(s, Rules(), DURING), world.h1, 2026, 11)
    assert commission is not None and snap is not None
    assert mine.score.scorecard.result("net_gmv").actual == commission.basis == D("1000")
    assert rows["Ana"] == snap["score"] == mine.score.scorecard.score
    assert mine.rank == (1, 2)


def test_session_evidence_is_read() -> None:
    found = parse_session_evidence(" live:us1:2026-11-05T20:00/01:30 ")
    assert found is not None
    assert (found.shop, found.start, found.end) == ("us1", datetime(2026, 11, 5, 20), datetime(2026, 11, 6, 1, 30))
    assert parse_session_evidence("live:us1:2026-11-31T20:00/22:00") is None
    assert parse_session_evidence("live us1 yesterday") is None
    assert datetime(2026, 11, 6, 1, 30) - datetime(2026, 11, 5, 20) == timedelta(hours=5, minutes=30)


def credits(world: World) -> dict[str, tuple[str | None, str | None, str | None, str | None]]:
    """platform order id -> (host code, credit rule, creator handle, attribution rule)."""
    with Session(world.engine) as s:
        codes = {m.id: m.code for m in s.execute(select(Member)).scalars()}
        handles = {c.id: c.handle for c in s.execute(select(Creator)).scalars()}
        return {o.platform_order_id: (codes.get(o.member_id), o.credit_rule, handles.get(o.creator_id),
                                      o.attribution_rule)
                for o in s.execute(select(Order)).scalars()}


def test_crediting_gives_what_the_store_was_built_with(world: World) -> None:
    credit_shops(world.engine)
    assert credits(world) == {"A1": ("h1", "live_session", None, None), "A2": ("h1", "live_session", None, None),
                              "B1": ("h2", "live_session", "zed", "affiliate")}


def test_credit_order_moves_the_order_and_crediting_never_takes_it_back(world: World) -> None:
    aid = appeal(world, "attribution", [" B1 ", "NOT-OURS"])
    # B1 is h2's now: the approver reads who loses it and how much (the task's change; it said only "B1")
    assert propose(world, aid) == Proposal("credit_order", "appeal.proposal.credit_order_from",
                                           {"orders": "B1 (h2, 400.00 USD)", "count": "1", "member": "h1",
                                            "period": "2026-11"})
    with Session(world.engine) as s:
        b1 = s.execute(select(Order).where(Order.platform_order_id == "B1")).scalar_one()
    assert decide(world, aid) == [("credit_order", b1.id, None)]
    # h1: net GMV 700 + 400 = 1,100 -> 1.1 x 40 = 44; sessions 20; orders 3 / 4 x 20 = 15: 79.0
    # h2: net GMV 0, orders 0, sessions 40: 40.0
    assert november(world, world.h1) == (D("1100.00"), D(2), D(3), D("79.0"))
    assert november(world, world.h2) == (D("0"), D(4), D(0), D("40.0"))
    # a shop sync brings B1 again, delivered now (the store's writer), then attribution and crediting run again
    b1_delivered = OrderRecord("B1", OrderStatus.DELIVERED, "USD", D("400.00"), D(0), D("400.00"), D(0), D(0),
                               D("400.00"), at(11, 21), at(14), paid_at=at(11, 21), shipped_at=at(12),
                               delivered_at=at(14))
    assert StoreWriter(world.engine).write_page(b1.shop_id, [b1_delivered]).updated == 1
    attribute_orders(world.engine)
    attribute_orders(world.engine, everything=True)
    credit_shops(world.engine)
    assert credits(world)["B1"] == ("h1", "appeal", "ana", "appeal")
    assert explain(world.engine, "B1")[0].lines()[1] == (
        "credited to h1 by an approved appeal (services.appeal_adjustments); crediting leaves it as is")
    assert november(world, world.h1) == (D("1100.00"), D(2), D(3), D("79.0"))
    assert audit_rows(world) == [("lead1", "appeal.credit_order", {
        "appeal": aid, "member": world.h1.id, "period": "2026-11",
        "before": {"order": "B1", "member": "h2", "rule": "live_session", "creator": b1.creator_id},
        "after": {"order": "B1", "member": "h1", "rule": "appeal", "creator": _creator_id(world, "ana")},
        "members": ["h1", "h2"]})]


def test_crediting_an_order_already_the_appellants_is_not_offered(world: World) -> None:
    """A1 is h1's already: an attribution appeal naming it offers no credit (approving changed nothing and still
    wrote a credit row); with a claimed value it is an override of that value instead."""
    assert propose(world, appeal(world, "attribution", ["A1"])) is None
    assert propose(world, appeal(world, "attribution", ["A1"], claimed=Decimal("2000"))) == Proposal(
        "override", "appeal.proposal.override", {"metric": "net_gmv", "value": "2000", "member": "h1",
                                                 "period": "2026-11"})


def _creator_id(world: World, handle: str) -> int:
    with Session(world.engine) as s:
        return s.execute(select(Creator.id).where(Creator.handle == handle)).scalar_one()


def test_exclude_order_takes_its_gmv_and_refunds_out_of_the_appellants_numbers_only(world: World) -> None:
    aid = appeal(world, "refund", ["A2"])
    assert propose(world, aid) == Proposal("exclude_order", "appeal.proposal.exclude_order",
                                           {"orders": "A2", "count": "1", "member": "h1", "period": "2026-11"})
    assert [k for k, _, _ in decide(world, aid)] == ["exclude_order"]
    # h1: net GMV 600 -> 24; sessions 20; orders 1 / 4 x 20 = 5: 49.0
    assert november(world, world.h1) == (D("600.00"), D(2), D(1), D("49.0"))
    with Session(world.engine) as s:
        inputs = Inputs.load(s, Rules(), AFTER)
        commission = estimate(s, inputs, world.h1, 2026, 11)
        assert commission is not None and commission.basis == D("600.00")
        team = load_team_activity(s, world.h1.team_id or 0, NOV.start, NOV.end, {"orders"})
        assert sorted(o.merchandise for o in team.orders) == [D("300.00"), D("400.00"), D("600.00")]
    credit_shops(world.engine)
    assert november(world, world.h1) == (D("600.00"), D(2), D(1), D("49.0"))
    assert [a for _, a, _ in audit_rows(world)] == ["appeal.exclude_order"]


def test_add_session_counts_in_every_metric_that_reads_sessions(world: World) -> None:
    aid = appeal(world, "activity", ["live:us1:2026-11-20T20:00/22:00"], metric="live_sessions")
    assert propose(world, aid) == Proposal("add_session", "appeal.proposal.add_session",
                                           {"shop": "us1", "start": "2026-11-20 20:00", "end": "22:00",
                                            "member": "h1"})
    assert [k for k, _, _ in decide(world, aid)] == ["add_session"]
    # h1: sessions 3 / 4 x 40 = 30; 28 + 30 + 10 = 68.0
    assert november(world, world.h1) == (D("700.00"), D(3), D(2), D("68.0"))
    credit_shops(world.engine)   # host matching leaves the appeal's session with its host
    with Session(world.engine) as s:
        live = s.execute(select(LiveSession).where(LiveSession.platform_session_id == f"appeal:{aid}")).scalar_one()
        assert (live.host_member_id, live.started_at, live.ended_at) == (world.h1.id, at(20, 20), at(20, 22))
    assert november(world, world.h1) == (D("700.00"), D(3), D(2), D("68.0"))
    assert audit_rows(world)[0][2]["after"] == {"session": f"appeal:{aid}", "shop": "us1",
                                               "start": "2026-11-20T20:00", "end": "2026-11-20T22:00"}


def test_one_number_after_a_credit(world: World) -> None:
    """After an order is credited to h1, /mykpi, /rank, the snapshot and commission agree on 25 November."""
    decide(world, appeal(world, "attribution", ["B1"]))
    mine = my_kpi(world.services, world.h1, PeriodKind.MONTH, DURING)
    assert mine.score.scorecard is not None
    rows = {name: score for name, _, score, _ in ranking(world.services, world.h1, PeriodKind.MONTH, DURING).rows}
    with Session(world.engine) as s:
        snap = snapshot_row(s, Inputs.load(s, Rules(), DURING), world.h1, s.get(Team, world.h1.team_id), DURING)  # type: ignore[arg-type]
        commission = estimate(s, Inputs.load(s, Rules(), DURING), world.h1, 2026, 11)
    assert commission is not None and snap is not None
    assert mine.score.scorecard.result("net_gmv").actual == commission.basis == D("1100.00")
    assert rows["Ana"] == snap["score"] == mine.score.scorecard.score


def _october_order(world: World, ref: str, cents: int, paid: datetime, shipped: datetime | None = None) -> None:
    """An order of h1's in the shop, paid (and shipped) when given."""
    with Session(world.engine) as s:
        shop = s.execute(select(Shop)).scalars().one()
        s.add(Order(shop_id=shop.id, platform_order_id=ref, status="COMPLETED", currency="USD",
                    merchandise_minor=cents, total_minor=cents, units=1, created_at=paid, paid_at=paid,
                    shipped_at=shipped, member_id=world.h1.id, credit_rule="live_session"))
        s.commit()


def test_orders_of_another_month_are_refused_when_filing_and_approving(world: World) -> None:
    """O1 was paid on 20 October: an appeal of November naming it is refused when filed (services.appeals,
    on 25 November) and, filed before this rule, when approved, naming it; there is no proposal (the card offers
    no Approve that would fail); nothing changes."""
    from services.appeals import file_appeal
    _october_order(world, "O1", 15000, datetime(2026, 10, 20, 12, tzinfo=UTC))
    with pytest.raises(UserError) as filed:
        file_appeal(world.services, world.h1, "net_gmv", "2026-11", "refund", "not my fault", ["A2", "O1"], DURING)
    assert (filed.value.key, filed.value.values) == ("appeal.orders_outside_month",
                                                     {"orders": "O1", "period": "2026-11"})
    assert t("en", filed.value.key, **filed.value.values) == (
        "Not counted in 2026-11: O1 (paid, or shipped where orders count at shipment, in another month or "
        "not yet): appeal each order in the month it counts in; nothing changed.")
    aid = appeal(world, "refund", ["A2", "O1"])
    assert propose(world, aid) is None
    with pytest.raises(UserError) as approved:
        decide(world, aid)
    assert (approved.value.key, approved.value.values) == ("appeal.orders_outside_month",
                                                           {"orders": "O1", "period": "2026-11"})
    with Session(world.engine) as s:
        assert s.execute(select(AppealAdjustment)).scalars().all() == []
    assert november(world, world.h1) == (D("700.00"), D(2), D(2), D("58.0"))


def test_an_exclusion_applies_to_its_appeals_month_only(world: World) -> None:
    """X (150.00) was paid on 31 October 22:00 UTC and shipped on 3 November; h1's October appeal excludes it
    (counted at payment). Counted at shipment (an organisation switching), X is November's and still counts
    there: h1's November net GMV at shipment is X alone, 150.00; October at payment leaves it out."""
    _october_order(world, "X", 15000, datetime(2026, 10, 31, 22, tzinfo=UTC), datetime(2026, 11, 3, 9, tzinfo=UTC))
    with Session(world.engine) as s:
        row = Appeal(member_id=world.h1.id, metric_key="net_gmv", period="2026-10", category="refund",
                     reason="not my fault", evidence=["X"], approver_member_id=world.lead.id)
        s.add(row)
        s.commit()
        aid = row.id or 0
    assert [k for k, _, _ in decide(world, aid)] == ["exclude_order"]
    with Session(world.engine) as s:
        team = s.get(Team, world.h1.team_id)
        shipped = Inputs.load(s, Rules(count_orders_at=CountOrdersAt.SHIPPED), AFTER)
        card = score_member(s, shipped, world.h1, team, NOV).scorecard
        assert card is not None and card.result("net_gmv").actual == D("150.00")
        october = score_member(s, Inputs.load(s, Rules(), AFTER), world.h1, team, month_window(2026, 10, "UTC"))
        assert october.scorecard is not None and october.scorecard.result("net_gmv").actual == D("0")

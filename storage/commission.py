"""Commission plans and payouts in the store; the arithmetic is scoring.commission's."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from scoring.commission import Basis, Plan, PlanKind, Tier
from storage.audit import audit
from storage.models import CommissionPayout, CommissionPlan


@dataclass(frozen=True)
class Plans:
    """Every plan by name (an old month's clawback uses the plan it was paid under), and the active ones."""

    by_name: dict[str, Plan]
    active: tuple[str, ...]

    def for_role(self, role: str) -> Plan | None:
        return next((self.by_name[n] for n in self.active if self.by_name[n].role == role), None)


def load_plans(session: Session) -> Plans:
    """Plans, validated (a malformed plan raises PlanError naming it)."""
    rows = list(session.execute(select(CommissionPlan).order_by(CommissionPlan.name)).scalars())
    return Plans({r.name: Plan(r.name, r.role, Basis(r.basis), PlanKind(r.kind),
                               tuple(Tier(Decimal(a), Decimal(b)) for a, b in r.tiers), r.currency, r.cap)
                  for r in rows}, tuple(r.name for r in rows if r.active))


def plan_snapshot(plan: Plan) -> dict[str, Any]:
    """The plan as a payout keeps it: a later edit of the plan must not change how a paid month is measured."""
    return {"name": plan.name, "role": plan.role, "basis": plan.basis.value, "kind": plan.kind.value,
            "currency": plan.currency, "tiers": [[str(t.threshold), str(t.rate)] for t in plan.tiers],
            "cap": None if plan.cap is None else str(plan.cap)}


def plan_from_snapshot(snap: dict[str, Any]) -> Plan:
    return Plan(snap["name"], snap["role"], Basis(snap["basis"]), PlanKind(snap["kind"]),
                tuple(Tier(Decimal(a), Decimal(b)) for a, b in snap["tiers"]), snap["currency"],
                None if snap["cap"] is None else Decimal(snap["cap"]))


def save_plan(session: Session, org_id: int, plan: Plan) -> None:
    """Create or replace a plan by name; the role's other plans are switched off (one plan per role)."""
    for other in session.execute(select(CommissionPlan).where(CommissionPlan.org_id == org_id,
                                                              CommissionPlan.role == plan.role)).scalars():
        other.active = False
    row = session.execute(select(CommissionPlan).where(CommissionPlan.org_id == org_id,
                                                       CommissionPlan.name == plan.name)).scalars().first()
    row = row or CommissionPlan(org_id=org_id, name=plan.name, role=plan.role, basis="", kind="", currency="")
    row.role, row.basis, row.kind, row.currency = plan.role, plan.basis.value, plan.kind.value, plan.currency
    row.tiers = [[str(t.threshold), str(t.rate)] for t in plan.tiers]
    row.cap, row.active = plan.cap, True
    session.add(row)
    audit(session, "system", "commission_plan.save", "commission_plan", plan.name,
          {"role": plan.role, "tiers": row.tiers})


def payouts_before(session: Session, member_id: int, period: str) -> list[CommissionPayout]:
    """The member's payouts for months before `period` (YYYY-MM), oldest first."""
    return list(session.execute(
        select(CommissionPayout).where(CommissionPayout.member_id == member_id, CommissionPayout.period < period)
        .order_by(CommissionPayout.period)).scalars())


def payout_for(session: Session, member_id: int, period: str) -> CommissionPayout | None:
    return session.execute(select(CommissionPayout).where(CommissionPayout.member_id == member_id,
                                                          CommissionPayout.period == period)).scalars().first()

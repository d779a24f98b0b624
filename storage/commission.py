"""Commission plans and payouts in the store; the arithmetic is scoring.commission's."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from scoring.commission import Basis, Plan, PlanKind, Tier
from storage.audit import audit
from storage.models import CommissionCorrection, CommissionPayout, CommissionPlan

BEGINNING = "0001-01"   # the effective month of a plan in force in every month (those stored before 0020)


@dataclass(frozen=True)
class PlanVersion:
    plan: Plan
    effective_from: str    # "YYYY-MM": the first month it pays
    active: bool           # False once another plan of its role replaced it in the same month


@dataclass(frozen=True)
class Plans:
    """Every version of every plan, by effective month (then as stored): a month is paid under the role's
    latest active version from that month or before."""

    versions: tuple[PlanVersion, ...]

    def for_role(self, role: str, period: str) -> Plan | None:
        """The role's plan in force in `period` ("YYYY-MM"), or None."""
        return next((v.plan for v in reversed(self.versions)
                     if v.active and v.plan.role == role and v.effective_from <= period), None)

    def in_force(self, period: str) -> tuple[Plan, ...]:
        """Each role's plan in force in `period`."""
        roles = dict.fromkeys(v.plan.role for v in self.versions)
        return tuple(p for p in (self.for_role(r, period) for r in roles) if p is not None)


def load_plans(session: Session) -> Plans:
    """Plans, validated (a malformed plan raises PlanError naming it)."""
    rows = list(session.execute(select(CommissionPlan)
                                .order_by(CommissionPlan.effective_from, CommissionPlan.id)).scalars())
    return Plans(tuple(PlanVersion(Plan(r.name, r.role, Basis(r.basis), PlanKind(r.kind),
                                        tuple(Tier(Decimal(a), Decimal(b)) for a, b in r.tiers), r.currency, r.cap),
                                   r.effective_from, r.active) for r in rows))


def plan_snapshot(plan: Plan) -> dict[str, Any]:
    """The plan as a payout keeps it: a later edit of the plan must not change how a paid month is measured."""
    return {"name": plan.name, "role": plan.role, "basis": plan.basis.value, "kind": plan.kind.value,
            "currency": plan.currency, "tiers": [[str(t.threshold), str(t.rate)] for t in plan.tiers],
            "cap": None if plan.cap is None else str(plan.cap)}


def plan_from_snapshot(snap: dict[str, Any]) -> Plan:
    return Plan(snap["name"], snap["role"], Basis(snap["basis"]), PlanKind(snap["kind"]),
                tuple(Tier(Decimal(a), Decimal(b)) for a, b in snap["tiers"]), snap["currency"],
                None if snap["cap"] is None else Decimal(snap["cap"]))


def save_plan(session: Session, org_id: int, plan: Plan, effective_from: str = BEGINNING) -> None:
    """Create or replace the version of a plan in force from `effective_from` ("YYYY-MM"); the role's other
    plans of that month are switched off (one plan per role and month). Earlier months keep their plans."""
    for other in session.execute(select(CommissionPlan).where(
            CommissionPlan.org_id == org_id, CommissionPlan.role == plan.role,
            CommissionPlan.effective_from == effective_from)).scalars():
        other.active = False
    row = session.execute(select(CommissionPlan).where(
        CommissionPlan.org_id == org_id, CommissionPlan.name == plan.name,
        CommissionPlan.effective_from == effective_from)).scalars().first()
    before = _plan_shape(row) if row is not None else None
    row = row or CommissionPlan(org_id=org_id, name=plan.name, role=plan.role, basis="", kind="", currency="",
                                effective_from=effective_from)
    row.role, row.basis, row.kind, row.currency = plan.role, plan.basis.value, plan.kind.value, plan.currency
    row.tiers = [[str(t.threshold), str(t.rate)] for t in plan.tiers]
    row.cap, row.active = plan.cap, True
    session.add(row)
    audit(session, None, "commission_plan.save", "commission_plan", plan.name,
          {"role": plan.role, "tiers": row.tiers, "effective_from": effective_from, "before": before,
           "after": _plan_shape(row)})


def _plan_shape(row: CommissionPlan) -> dict[str, Any]:
    return {"role": row.role, "basis": row.basis, "kind": row.kind, "currency": row.currency,
            "tiers": [list(t) for t in row.tiers], "cap": None if row.cap is None else str(row.cap),
            "active": row.active}


def payouts_before(session: Session, member_id: int, period: str) -> list[CommissionPayout]:
    """The member's payouts for months before `period` (YYYY-MM), oldest first."""
    return list(session.execute(
        select(CommissionPayout).where(CommissionPayout.member_id == member_id, CommissionPayout.period < period)
        .order_by(CommissionPayout.period)).scalars())


def paid_from(session: Session, period: str) -> str | None:
    """The latest month paid (any member) from `period` on, or None: a paid month keeps the plan it had."""
    return session.execute(select(func.max(CommissionPayout.period))
                           .where(CommissionPayout.period >= period)).scalar_one_or_none()


def payout_for(session: Session, member_id: int, period: str) -> CommissionPayout | None:
    return session.execute(select(CommissionPayout).where(CommissionPayout.member_id == member_id,
                                                          CommissionPayout.period == period)).scalars().first()


def corrections_for(session: Session, member_id: int, period: str) -> list[CommissionCorrection]:
    """The corrections appeals made to the member's paid month, oldest first."""
    return list(session.execute(
        select(CommissionCorrection).where(CommissionCorrection.member_id == member_id,
                                           CommissionCorrection.period == period)
        .order_by(CommissionCorrection.id)).scalars())


def corrected_minor(session: Session, member_id: int, period: str) -> int:
    """The sum of the corrections of the member's paid month, in its payout's minor units (0: none)."""
    return sum(c.amount_minor for c in corrections_for(session, member_id, period))

"""Commission: a member's estimate for a month (basis, tier, rate, clawbacks) and closing a month.

The basis (net GMV, gross profit, new customers) is the metric of the same name (scoring.metrics), over the
member's month in their own time zone, as their scorecard measures it. Money bases are converted from the
reporting currency into the plan's currency at the rate of the month's anchor day (today, or its last day
once it is over). The estimate takes back, from this month, what refunds since have cost the months already
paid (the last CLAWBACK_MONTHS of them), as the month's closing does. A month is measured under the plan in
force then (storage.commission.Plans.for_role: the role's latest version from that month or before); a paid
month keeps the plan it was paid under (its payout's snapshot). `/commission` (month_view, what_if), the
month-close job and `kpibot commission close` (close_month) all call these.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from sqlmodel import Session

from scoring.commission import Basis, Closed, Plan, Statement, paid_amount, statement
from scoring.commission import clawback as clawback_of
from scoring.fx import MissingRate
from scoring.metrics import CATALOG, Context
from scoring.money import from_minor, round_money, to_minor
from scoring.outlook import forecast
from scoring.periods import PeriodKind, Window, local_today, month_window, parse_month, window_for
from scoring.roles import Role, at_least
from scoring.score import anchor_day
from scoring.shape import expected_share
from services.container import Services
from services.errors import UserError
from services.scorecards import Inputs, month_key
from storage.activity import load_activity
from storage.adjustments import month_overrides
from storage.audit import audit
from storage.commission import (
    Plans,
    corrected_minor,
    corrections_for,
    load_plans,
    payout_for,
    payouts_before,
    plan_from_snapshot,
    plan_snapshot,
)
from storage.models import CommissionCorrection, CommissionPayout, Member
from storage.queries import all_members, member_by_code, member_zone, team_of

CLAWBACK_MONTHS = 12


@dataclass(frozen=True)
class Clawback:
    period: str            # the closed month it comes from
    amount: Decimal        # in that month's payout currency: what is booked against it
    currency: str
    in_plan: Decimal       # the same, in the current plan's currency: what this statement takes
    payout: CommissionPayout  # the closed month's payout, which the clawback is booked against


@dataclass(frozen=True)
class Estimate:
    member: Member
    plan: Plan
    window: Window
    basis: Decimal                               # in the plan's currency (a count for new customers)
    statement: Statement
    clawbacks: tuple[Clawback, ...]              # closed months with something to take back now
    projected_basis: Decimal | None              # the month-end forecast (scoring.outlook); None once over or too early
    fx_rate: Decimal | None                      # reporting -> plan currency, when they differ
    fx_day: date
    reporting: str                               # the reporting currency the basis is measured in


class NoPlan(Exception):
    """The member's role has no commission plan (the command names the role in the caller's language)."""

    def __init__(self, role: str) -> None:
        super().__init__(role)
        self.role = role


@dataclass(frozen=True)
class PaidMonth:
    """A closed month as it was paid, and what it would pay measured again now (refunds since)."""

    member: Member
    payout: CommissionPayout
    plan: Plan                 # the plan it was paid under
    earns_now: Decimal         # in the payout's currency
    corrections: tuple[CommissionCorrection, ...] = ()   # top-ups (or amounts owed) appeals made since, oldest first


@dataclass(frozen=True)
class WhatIf:
    """What the member would earn this month with `amount` of their plan's basis, beside what they earn now."""

    member: Member
    plan: Plan
    amount: Decimal
    earns: Decimal             # with `amount`, in the plan's currency
    capped: bool               # `earns` hit the plan's cap
    basis_now: Decimal
    earns_now: Decimal


def is_money(plan: Plan) -> bool:
    return plan.basis is not Basis.NEW_CUSTOMERS


def measure(session: Session, inputs: Inputs, member: Member, window: Window, plan: Plan,
            role: str | None = None) -> tuple[Decimal, Decimal | None, date]:
    """(basis in the plan's currency, the conversion rate used or None, the rate's day). `role`: the role the
    member had then, for a month paid before a role change."""
    metric = CATALOG[plan.basis.value]
    activity = load_activity(session, member, window.start, window.end, metric.reads, inputs.facts, role,
                             tz=window.tz)
    value = metric.compute(activity, Context(window, inputs.now, inputs.rules, inputs.fx)) or Decimal(0)
    if window.kind is PeriodKind.MONTH:   # a value an approved appeal set for the month (services.scorecards)
        value = month_overrides(session, member.id, [window.label]).get((metric.key, window.label), value)
    day = anchor_day(window, inputs.now)
    reporting = inputs.rules.reporting_currency
    if not is_money(plan) or plan.currency == reporting:
        return value, None, day
    rate = inputs.fx.rate(reporting, plan.currency, day)
    return value * rate, rate, day


def clawbacks(session: Session, inputs: Inputs, member: Member, period: str, plan: Plan,
              day: date) -> tuple[Clawback, ...]:
    """What refunds since have cost the member's paid months before `period` (the last CLAWBACK_MONTHS), each
    measured again under the plan and role it was paid under."""
    out = []
    for paid in payouts_before(session, member.id or 0, period)[-CLAWBACK_MONTHS:]:
        then = plan_from_snapshot(paid.plan)
        window = month_window(*parse_month(paid.period), member_zone(session, member))
        now_basis, _, _ = measure(session, inputs, member, window, then, paid.role)
        # what the month earned, with what appeals corrected since (month_close.refinalise), less what was taken
        keeps = from_minor(paid.earned_minor + corrected_minor(session, member.id or 0, paid.period)
                           - paid.clawed_back_minor, paid.currency)
        amount = clawback_of(then, Closed(paid.period, keeps, now_basis))
        if amount <= 0:
            continue
        in_plan = amount if paid.currency == plan.currency else round_money(
            amount * inputs.fx.rate(paid.currency, plan.currency, day), plan.currency)
        out.append(Clawback(paid.period, amount, paid.currency, in_plan, paid))
    return tuple(out)



def estimate(session: Session, inputs: Inputs, member: Member, year: int, month: int,
             plans: Plans | None = None) -> Estimate | None:
    """The member's statement for a month as of `inputs.now`; None without a plan for their role."""
    plans = plans if plans is not None else load_plans(session)
    plan = plans.for_role(member.role, f"{year:04d}-{month:02d}")
    if plan is None:
        return None
    window = month_window(year, month, member_zone(session, member))
    basis, rate, day = measure(session, inputs, member, window, plan)
    taken = clawbacks(session, inputs, member, month_key(window.first_day), plan, day)
    result = statement(plan, basis)
    total = sum((c.in_plan for c in taken), Decimal(0))
    result = replace(result, clawback=total, payable=result.earned - total)
    # where the month lands at its pace so far: /mykpi's forecast (scoring.outlook), on the team's pace shape
    projected = None
    if inputs.now < window.end:     # a month that is over needs no projection (nor its team's shape)
        share = expected_share(window, inputs.now, inputs.shape_for(session, team_of(session, member), window.tz))
        projected = forecast(basis, share) if share < 1 else None
    return Estimate(member, plan, window, basis, result, taken, projected, rate, day, inputs.rules.reporting_currency)


@dataclass(frozen=True)
class Closing:
    paid: list[CommissionPayout]
    failed: list[tuple[str, str]]    # (member code, why): the others are closed all the same


class MonthNotOver(Exception):
    """The month is not over yet in some member's zone: nobody's month is closed."""

    def __init__(self, period: str, member: str, ends: datetime) -> None:
        super().__init__(f"{period} is not over yet for {member}: it ends {ends:%Y-%m-%d %H:%M} {ends.tzinfo}")
        self.period, self.member, self.ends = period, member, ends


class NoPlanInForce(Exception):
    """No role has a commission plan in force in the month (plans take effect from their effective month)."""

    def __init__(self, period: str) -> None:
        super().__init__(f"no commission plan is in force in {period}: a plan pays from the month it takes effect "
                         "(kpibot commission plans; kpibot commission plan ... --from YYYY-MM)")
        self.period = period


def month_over(session: Session, members: list[Member], year: int, month: int, now: datetime) -> None:
    """Raise MonthNotOver naming the member whose month ends last (the latest zone), unless the month is over in
    every member's period zone (storage.queries.member_zone; month_window: local midnight after its last day)."""
    windows = [(month_window(year, month, member_zone(session, m)), m) for m in members]
    last = max(windows, key=lambda wm: wm[0].end, default=None)
    if last is not None and now < last[0].end:
        raise MonthNotOver(last[0].label, last[1].code, last[0].end)


def close_month(session: Session, inputs: Inputs, year: int, month: int) -> Closing:
    """Record the month's payout of every member whose role has a plan in force in the month, not yet closed
    (also members who left since: they earned it); each clawback taken is booked against the month it comes
    from. The month must be over in every member's period zone, else MonthNotOver, and some plan must be in force
    then, else NoPlanInForce; either way nothing is closed. A member whose statement cannot be made (a missing
    FX rate) is reported and skipped. No commit. Run one close at a time."""
    plans = load_plans(session)
    period = f"{year:04d}-{month:02d}"
    out = Closing([], [])
    members = all_members(session)
    month_over(session, members, year, month, inputs.now)
    if not plans.in_force(period):
        raise NoPlanInForce(period)
    for member in members:
        if payout_for(session, member.id or 0, period) is not None:
            continue
        try:
            est = estimate(session, inputs, member, year, month, plans)
        except (MissingRate, ValueError, ArithmeticError) as exc:
            out.failed.append((member.code, str(exc)))
            continue
        if est is None or (not member.active and est.basis == 0 and not est.clawbacks):
            continue
        cur = est.plan.currency
        for c in est.clawbacks:
            c.payout.clawed_back_minor += to_minor(c.amount, c.currency)
            session.add(c.payout)
        payout = CommissionPayout(
            member_id=member.id or 0, period=period, plan_name=est.plan.name, plan=plan_snapshot(est.plan),
            role=member.role, basis_amount=est.basis, earned_minor=to_minor(est.statement.earned, cur),
            clawback_minor=to_minor(est.statement.clawback, cur), paid_minor=to_minor(est.statement.payable, cur),
            currency=cur, paid_at=inputs.now)
        session.add(payout)
        out.paid.append(payout)
        audit(session, None, "commission.close", "commission_payout", f"{member.code}:{period}",
              {"plan": est.plan.name, "currency": cur, "basis": str(est.basis), "earned_minor": payout.earned_minor,
               "clawback_minor": payout.clawback_minor, "paid_minor": payout.paid_minor,
               "clawbacks_taken": [{"period": c.payout.period, "amount": str(c.amount), "currency": c.currency}
                                   for c in est.clawbacks]})
    session.flush()
    return out


def _sees_others(member: Member) -> bool:
    """Finance staff, managers and admins see everyone's commission."""
    return member.finance or at_least(member.role, Role.MANAGER)


def _member_named(session: Session, viewer: Member, code: str | None) -> Member:
    """The viewer, or the member named (for finance staff, managers and admins only). Someone who may not see
    others gets the same refusal whether or not the member exists, so a refusal never tells who does."""
    if code is None:
        return viewer
    if not _sees_others(viewer):   # permission first: the store is not even asked
        if code == viewer.code:
            return viewer
        raise UserError("commission.forbidden")
    other = member_by_code(session, code)
    if other is None:
        raise UserError("commission.no_member", name=code)
    return other


def month_view(services: Services, viewer: Member, code: str | None, month: tuple[int, int] | None,
               now: datetime) -> Estimate | PaidMonth:
    """/commission [MEMBER] [YYYY-MM]: the month's estimate, or the month as paid once it is closed. The member
    is the viewer unless named; the month is the member's current one (in their period zone) unless given. Raises
    UserError (no such member, not allowed, a month not begun) and NoPlan."""
    with Session(services.engine) as session:
        inputs = Inputs.load(session, services.rules, now)
        member = _member_named(session, viewer, code)
        zone = member_zone(session, member)
        if month is None:
            today = local_today(now, zone)
            month = (today.year, today.month)
        window = month_window(*month, zone)
        if window.start > now:
            raise UserError("commission.future", month=window.label)
        paid = payout_for(session, member.id or 0, window.label)
        if paid is not None:
            then = plan_from_snapshot(paid.plan)
            basis_now, _, _ = measure(session, inputs, member, window, then, paid.role)
            return PaidMonth(member, paid, then, paid_amount(then, basis_now),
                             tuple(corrections_for(session, member.id or 0, window.label)))
        est = estimate(session, inputs, member, *month)
    if est is None:
        raise NoPlan(member.role)
    return est


def what_if(services: Services, viewer: Member, code: str | None, amount: Decimal, now: datetime) -> WhatIf:
    """/commission whatif AMOUNT [MEMBER]: the member is the viewer unless named (as for month_view). Raises
    UserError and NoPlan as month_view does."""
    with Session(services.engine) as session:
        inputs = Inputs.load(session, services.rules, now)
        member = _member_named(session, viewer, code)
        window = window_for(PeriodKind.MONTH, now, member_zone(session, member))
        plan = load_plans(session).for_role(member.role, window.label)
        if plan is None:
            raise NoPlan(member.role)
        basis_now, _, _ = measure(session, inputs, member, window, plan)
    return WhatIf(member, plan, amount, paid_amount(plan, amount), statement(plan, amount).capped, basis_now,
                  paid_amount(plan, basis_now))

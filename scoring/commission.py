"""Commission plans and what they pay (pure).

A plan pays on one basis, the member's metric of the same name over their month: net GMV or gross profit
(money, converted from the reporting currency into the plan's currency at the rate of the month's anchor
day: today, or its last day once it is over), or new customers (a count, paid per customer). Thresholds and
the cap are in the plan's currency. Tiers start at thresholds:
- tiered (marginal): each tier's rate applies to the part of the amount inside that tier, like income tax;
- accelerator (whole amount): the rate of the highest tier reached applies to the whole amount, so crossing
  a threshold lifts everything already earned.
An optional cap limits what one period pays. Amounts stay exact Decimals; what is paid is rounded half up to
the currency's minor unit at the end, once.

Refunds after payout claw back: a closed period is measured again with the refunds that arrived since,
and whatever it still keeps above what it now earns is taken from the next statement (and booked against
the closed period, so the same refund is never taken twice). The plan a month was paid under is the one
used to measure it again. A statement never hides a
clawback: when it exceeds what the period earns, the payable amount is negative and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from scoring.money import round_money


class PlanKind(StrEnum):
    TIERED = "tiered"
    ACCELERATOR = "accelerator"


class Basis(StrEnum):
    NET_GMV = "net_gmv"
    GROSS_PROFIT = "gross_profit"
    NEW_CUSTOMERS = "new_customers"


@dataclass(frozen=True)
class Tier:
    threshold: Decimal      # where the tier starts (money in the plan's currency, or a count)
    rate: Decimal           # 0.03 = 3 % of money; for new customers, money per customer


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class Plan:
    name: str
    role: str
    basis: Basis
    kind: PlanKind
    tiers: tuple[Tier, ...]
    currency: str
    cap: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.tiers or self.tiers[0].threshold != 0:
            raise PlanError(f"plan {self.name}: the first tier must start at 0")
        thresholds = [t.threshold for t in self.tiers]
        if thresholds != sorted(set(thresholds)):
            raise PlanError(f"plan {self.name}: tier thresholds must rise strictly")
        if any(t.rate < 0 for t in self.tiers):
            raise PlanError(f"plan {self.name}: a rate cannot be negative")
        if self.cap is not None and self.cap < 0:
            raise PlanError(f"plan {self.name}: the cap cannot be negative")


def check_rates(plan: Plan, max_rate: Decimal) -> None:
    """Refuse a money-based plan whose tier pays more than `max_rate` of the basis (1 = 100 %, the most a share
    can be; [commission] max_tier_rate). A new-customers plan pays money per customer: not a share, not capped."""
    if plan.basis is Basis.NEW_CUSTOMERS:
        return
    for tier in plan.tiers:
        if tier.rate > max_rate:
            raise PlanError(f"plan {plan.name}: the rate from {tier.threshold} is {tier.rate} "
                            f"({_percent(tier.rate)}); at most {max_rate} ({_percent(max_rate)}) is allowed "
                            "([commission] max_tier_rate)")


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f} %"


def earned(plan: Plan, amount: Decimal) -> Decimal:
    """What `amount` of the basis earns in one period, exact (before rounding), capped."""
    if amount <= 0:
        return Decimal(0)
    if plan.kind is PlanKind.ACCELERATOR:
        total = amount * rate_at(plan, amount)
    else:
        total = Decimal(0)
        bounds = [t.threshold for t in plan.tiers[1:]] + [None]
        for tier, upper in zip(plan.tiers, bounds, strict=True):
            if amount <= tier.threshold:
                break
            top = amount if upper is None else min(amount, upper)
            total += (top - tier.threshold) * tier.rate
    return min(total, plan.cap) if plan.cap is not None else total


def paid_amount(plan: Plan, amount: Decimal) -> Decimal:
    """`earned`, rounded half up to the plan currency's minor unit: what a payout pays."""
    return _round(earned(plan, amount), plan.currency)


@dataclass(frozen=True)
class Closed:
    """A period already paid: what it still keeps (its commission less what later statements already took
    back), and its basis measured again today (refunds since included)."""

    period: str
    paid: Decimal
    amount_now: Decimal


@dataclass(frozen=True)
class Statement:
    basis_amount: Decimal
    earned: Decimal          # this period, rounded
    capped: bool
    clawback: Decimal        # taken back for closed periods (>= 0)
    payable: Decimal         # earned - clawback; negative when the clawback is larger
    next_tier: Tier | None   # the next threshold to reach, for "x more to the next rate"


def clawback(plan: Plan, closed: Closed) -> Decimal:
    """What to take back for one closed period: what it keeps above what its basis earns today (>= 0)."""
    return max(Decimal(0), closed.paid - paid_amount(plan, closed.amount_now))


def rate_at(plan: Plan, amount: Decimal) -> Decimal:
    """The rate that applies to the next unit of the basis at `amount` (the whole amount's, for an
    accelerator); the first tier's below zero (a negative gross profit earns nothing)."""
    return next((t.rate for t in reversed(plan.tiers) if amount >= t.threshold), plan.tiers[0].rate)


def statement(plan: Plan, amount: Decimal, closed: tuple[Closed, ...] = ()) -> Statement:
    now = paid_amount(plan, amount)
    clawback_total = sum((clawback(plan, c) for c in closed), Decimal(0))
    uncapped = earned(replace(plan, cap=None), amount)
    next_tier = next((t for t in plan.tiers if t.threshold > amount), None)
    return Statement(amount, now, plan.cap is not None and uncapped > plan.cap, clawback_total, now - clawback_total,
                     next_tier)


def _round(value: Decimal, currency: str) -> Decimal:
    return round_money(value, currency)

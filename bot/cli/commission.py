"""kpibot commission: plans, and closing a finished month (services.commission.close_month, as /commission)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from bot.cli.common import organisation_of
from bot.config import Config
from bot.usage import UsageError
from scoring.commission import Basis, Plan, PlanKind, Tier, check_rates
from scoring.money import exponent, from_minor
from scoring.periods import local_today, parse_month
from services.commission import MonthNotOver, NoPlanInForce, close_month
from services.container import Services
from services.scorecards import Inputs, month_key
from storage.commission import BEGINNING, load_plans, paid_from, save_plan
from storage.models import (
    Member,
)
from storage.month_close import closed_from

TIER_USAGE = "--tier FROM:RATE, e.g. --tier 0:0.02 --tier 20000:0.03 (RATE 0.03 = 3 %)"


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _commission(services, args, config, clock)


def _number(text: str) -> Decimal:
    """A finite decimal; ValueError otherwise."""
    try:
        value = Decimal(text.strip())
    except ArithmeticError:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value


def tier_of(text: str) -> Tier:
    """One --tier FROM:RATE; a UsageError with the expected form otherwise."""
    start, sep, rate = text.partition(":")
    try:
        if not sep:
            raise ValueError(text)
        return Tier(_number(start), _number(rate))
    except ValueError:
        raise UsageError(f"--tier {text!r} is not FROM:RATE; use {TIER_USAGE}") from None


def _commission(services: Services, args: argparse.Namespace, config: Config, clock: Any) -> int:
    with Session(services.engine) as session:
        if args.action == "plan":
            org = organisation_of(session)
            tiers = tuple(tier_of(x) for x in args.tier)
            try:
                cap = _number(args.cap) if args.cap else None
            except ValueError:
                raise UsageError(f"--cap {args.cap!r} is not a number") from None
            try:
                plan = Plan(args.name, args.role, Basis(args.basis), PlanKind(args.kind), tiers,
                            args.currency.upper(), cap)
                check_rates(plan, config.commission.max_tier_rate)
                exponent(plan.currency)
            except (ValueError, ArithmeticError) as exc:
                raise UsageError(f"the plan is not valid: {exc}") from None
            effective = _effective_month(session, args.effective_from, services.org_timezone, clock())
            save_plan(session, org.id or 0, plan, effective)
            session.commit()
            print(f"plan {plan.name} saved for {plan.role}s, in force from {effective}")
            return 0
        if args.action == "close":
            year, month = parse_month(args.period)
            try:
                closing = close_month(session, Inputs.load(session, services.rules, clock()), year, month)
            except MonthNotOver as exc:
                raise UsageError(f"{exc}; a month is closed once it is over in every member's team's zone, "
                                 "nothing closed") from None
            except NoPlanInForce as exc:
                raise UsageError(f"{exc}; nothing closed") from None
            session.commit()
            for payout in closing.paid:
                member = session.get(Member, payout.member_id)
                print(f"{member.code if member else payout.member_id:<12} {payout.plan_name:<24} "
                      f"{from_minor(payout.paid_minor, payout.currency)} {payout.currency}"
                      + (f" (after {from_minor(payout.clawback_minor, payout.currency)} taken back)"
                         if payout.clawback_minor else ""))
            for code, why in closing.failed:
                print(f"{code:<12} not closed: {why}", file=sys.stderr)
            print(f"{args.period}: {len(closing.paid)} payouts recorded"
                  + (f", {len(closing.failed)} members not closed (see above); run it again once fixed"
                     if closing.failed else ""))
            return 1 if closing.failed else 0
        for version in load_plans(session).versions:
            plan = version.plan
            tiers = ", ".join(f"from {t.threshold}: {t.rate}" for t in plan.tiers)
            since = "always" if version.effective_from == BEGINNING else f"from {version.effective_from}"
            print(f"{plan.name:<24} {plan.role:<9} {plan.kind.value:<12} {plan.basis.value:<14} {plan.currency} "
                  f"{since:<12} {'active' if version.active else 'replaced'} [{tiers}]"
                  + (f" cap {plan.cap}" if plan.cap is not None else ""))
    return 0


def _effective_month(session: Session, given: str | None, tz: str, now: datetime) -> str:
    """--from YYYY-MM, else the current month in the organisation's zone: a plan pays from that month on. A
    month already paid (kpibot commission close) keeps the plan it was paid under: --from it is refused."""
    if given is None:
        return month_key(local_today(now, tz))
    try:
        effective = month_key(date(*parse_month(given), 1))
    except ValueError as exc:
        raise UsageError(f"--from: {exc}") from None
    shut = closed_from(session, effective)
    if shut is not None:
        raise UsageError(f"--from {effective}: {shut} is closed (kpibot month close) and keeps the plan it was paid "
                         "under; a closed month changes only through an approved appeal")
    paid = paid_from(session, effective)
    if paid is not None:
        year, month = parse_month(paid)
        after = date(year + month // 12, month % 12 + 1, 1)
        raise UsageError(f"--from {effective}: {paid} is already paid and keeps the plan it was paid under; "
                         f"a new plan can take effect from {month_key(after)}")
    return effective

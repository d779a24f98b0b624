"""kpibot commission: plans, and closing a finished month (services.commission.close_month, as /commission)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from bot.cli.common import organisation_of
from bot.config import Config
from bot.usage import UsageError
from scoring.commission import Basis, Plan, PlanKind, Tier
from scoring.money import exponent, from_minor
from scoring.periods import parse_month
from services.commission import close_month
from services.container import Services
from services.scorecards import Inputs
from storage.commission import load_plans, save_plan
from storage.models import (
    Member,
)


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _commission(services, args, clock)


def _commission(services: Services, args: argparse.Namespace, clock: Any) -> int:
    with Session(services.engine) as session:
        if args.action == "plan":
            org = organisation_of(session)
            try:
                tiers = tuple(Tier(Decimal(a), Decimal(b)) for a, b in (x.split(":", 1) for x in args.tier))
                plan = Plan(args.name, args.role, Basis(args.basis), PlanKind(args.kind), tiers,
                            args.currency.upper(), Decimal(args.cap) if args.cap else None)
                exponent(plan.currency)
            except (ValueError, ArithmeticError) as exc:
                raise UsageError(f"the plan is not valid: {exc}") from None
            save_plan(session, org.id or 0, plan)
            session.commit()
            print(f"plan {plan.name} saved for {plan.role}s")
            return 0
        if args.action == "close":
            year, month = parse_month(args.period)
            closing = close_month(session, Inputs.load(session, services.rules, clock()), year, month)
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
        plans = load_plans(session)
        for name, plan in plans.by_name.items():
            tiers = ", ".join(f"from {t.threshold}: {t.rate}" for t in plan.tiers)
            print(f"{name:<24} {plan.role:<9} {plan.kind.value:<12} {plan.basis.value:<14} {plan.currency} "
                  f"{'active' if name in plans.active else 'inactive'} [{tiers}]"
                  + (f" cap {plan.cap}" if plan.cap is not None else ""))
    return 0

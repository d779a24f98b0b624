"""Setting targets: one target, a team's baseline in one country, and sharing a target out (company -> teams,
team -> members). `/target set|baseline|split` (commands.target) calls these; whom a target is for and who may
set it are in services.targets. Each write is audited (storage.targets) and committed here.

A settled month (commission paid for it, or over in the subject's zone: storage.targets.settled) is refused
unless `force`; a forced write is audited as target.force / baseline.force with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from scoring.metrics import Metric
from scoring.periods import month_window
from scoring.targets import decompose, quantum
from services.container import Services
from services.errors import UserError
from services.scorecards import Inputs
from services.targets import Month, Who, actuals, check_set, children, month_targets, subject_of, who_of, zone_of
from storage.models import Member
from storage.queries import team_shops
from storage.targets import Subject, settled
from storage.targets import set_baseline as store_baseline
from storage.targets import set_target as store_target
from storage.targets import set_targets as store_targets


def settled_or_refused(session: Session, services: Services, subject: Subject, month: Month, now: datetime,
                       force: bool) -> str | None:
    """Why the subject's month is settled (storage.targets.settled), None when it is not; a settled month
    without `force` raises UserError target.settled_paid / target.settled_over."""
    why = settled(session, month.period, zone_of(session, subject, services), now)
    if why == "closed":   # a closed month changes only through an approved appeal
        raise UserError("target.closed", month=month.period)
    if why is not None and not force:
        raise UserError(f"target.settled_{why}", month=month.period)
    return why


def set_target(services: Services, caller: Member, who: Who, month: Month, metric: Metric,
               value: Decimal, now: datetime, force: bool = False) -> Decimal | None:
    """Set WHO's target of `metric` in `month`; returns the value it replaced. A settled month only with
    `force` (see settled_or_refused)."""
    with Session(services.engine) as session:
        subject = subject_of(session, who)
        check_set(session, caller, subject, who.name)
        forced = settled_or_refused(session, services, subject, month, now, force)
        org_id = (subject.member or subject.team or caller).org_id
        before = store_target(session, org_id, subject, month.period, metric.key, value, caller, forced)
        session.commit()
    return before


def set_baseline(services: Services, caller: Member, team: Who, country: str, month: Month, metric: Metric,
                 value: Decimal, now: datetime, force: bool = False) -> None:
    """Set a team's baseline in `country`, one the team sells in (its shops' regions); a settled month only
    with `force`."""
    with Session(services.engine) as session:
        subject = subject_of(session, team)
        check_set(session, caller, subject, team.name)
        assert subject.team is not None
        sells_in = sorted({shop.region for shop in team_shops(session, subject.team.id or 0)})
        if country not in sells_in:
            raise UserError("target.baseline_country", country=country, team=subject.team.name,
                            countries=", ".join(sells_in) or "—")
        forced = settled_or_refused(session, services, subject, month, now, force)
        store_baseline(session, subject.team, country, month.period, metric.key, value, caller, forced)
        session.commit()


@dataclass(frozen=True)
class SplitPlan:
    """A target to share out: its whole, those who share it, and those who each get all of it (see
    services.targets.children)."""

    parent: Who
    month: Month
    metric: Metric
    whole: Decimal
    children: tuple[Who, ...]
    whole_to: tuple[Who, ...]


def plan_split(services: Services, caller: Member, parent: Who, month: Month, metric: Metric,
               lang: str) -> SplitPlan:
    """What sharing out the parent's target of `metric` in `month` would share, once the caller may."""
    with Session(services.engine) as session:
        subject = subject_of(session, parent)
        check_set(session, caller, subject, parent.name)
        whole = month_targets(session, subject.key, month).get(metric.key)
        if whole is None:
            raise UserError("target.split_no_target", who=parent.name, metric=metric.name(lang), month=month.period)
        shared, whole_to = children(session, subject, metric)
        if not shared:
            raise UserError("target.split_nobody", who=parent.name)
        return SplitPlan(parent, month, metric, whole, tuple(who_of(s, lang) for s in shared),
                         tuple(who_of(s, lang) for s in whole_to))


def last_period(services: Services, plan: SplitPlan, now: datetime) -> dict[Who, Decimal | None]:
    """Each child's actual of the plan's metric in the month before the plan's, in the child's own zone."""
    month = plan.month
    year, prev = (month.year, month.month - 1) if month.month > 1 else (month.year - 1, 12)
    key = plan.metric.key
    with Session(services.engine) as session:
        inputs = Inputs.load(session, services.rules, now)
        out: dict[Who, Decimal | None] = {}
        for child in plan.children:
            subject = subject_of(session, child)
            window = month_window(year, prev, zone_of(session, subject, services))
            out[child] = actuals(session, inputs, subject, window, [key])[key]
    return out


def split(services: Services, caller: Member, plan: SplitPlan, weights: Mapping[Who, Decimal], now: datetime,
          force: bool = False) -> dict[Who, Decimal]:
    """Share the plan's whole by `weights` (scoring.targets.decompose, which raises SplitError) and set the parts,
    and the whole for those who get all of it; returns the parts. A part in a settled month (in its subject's
    zone) only with `force`."""
    metric = plan.metric
    parts = decompose(plan.whole, weights, quantum(metric, services.rules.reporting_currency), metric.cumulative)
    with Session(services.engine) as session:
        parent = subject_of(session, plan.parent)
        check_set(session, caller, parent, plan.parent.name)
        values = {**{subject_of(session, w): v for w, v in parts.items()},
                  **dict.fromkeys((subject_of(session, w) for w in plan.whole_to), plan.whole)}
        forced = {s: why for s in values
                  if (why := settled_or_refused(session, services, s, plan.month, now, force)) is not None}
        org_id = (parent.team or caller).org_id
        store_targets(session, org_id, values, plan.month.period, metric.key, caller, forced)
        session.commit()
    return parts


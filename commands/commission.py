"""/commission: the caller's commission estimate for the month, a what-if, and closing a month.

    /commission [MEMBER] [YYYY-MM]     the estimate (others' only for finance staff, managers and admins)
    /commission whatif AMOUNT          what the caller would earn with AMOUNT of their plan's basis

The basis (net GMV, gross profit, new customers) is the metric of the same name (scoring.metrics), over the
member's month in their own time zone, as their scorecard measures it. Money bases are converted from the
reporting currency into the plan's currency at the rate of the month's anchor day (today, or its last day
once it is over). The estimate takes back, from this month, what refunds since have cost the months already
paid (the last CLAWBACK_MONTHS of them), as the month's closing will.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from sqlmodel import Session

from cards.format import money, percent
from cards.i18n import t
from cards.model import Block, Button, Buttons, Card, Fields, Note, Table, Tone
from commands.context import Request, UserError
from commands.permissions import at_least
from commands.scorecards import Inputs, month_key
from commands.spec import Command
from scoring.commission import Basis, Closed, Plan, PlanKind, Statement, earned, paid_amount, rate_at, statement
from scoring.commission import clawback as clawback_of
from scoring.metrics import CATALOG, Context
from scoring.money import from_minor, to_minor
from scoring.periods import Window, month_window, parse_month
from scoring.score import anchor_day
from scoring.targets import parse_amount
from storage.activity import load_activity
from storage.commission import Plans, load_plans, payout_for, payouts_before
from storage.models import CommissionPayout, Member
from storage.queries import active_members, member_by_code

USAGE = "/commission [MEMBER] [YYYY-MM] · /commission whatif AMOUNT"
CLAWBACK_MONTHS = 12
WHATIF_WORDS = frozenset({"whatif", "what-if", "试算", "如果"})


@dataclass(frozen=True)
class Estimate:
    member: Member
    plan: Plan
    window: Window
    basis: Decimal                               # in the plan's currency (a count for new customers)
    statement: Statement
    clawbacks: tuple[tuple[str, Decimal], ...]   # (closed month, taken back now)
    projected_basis: Decimal | None              # at the month's pace so far; None once it is over
    fx_rate: Decimal | None                      # reporting -> plan currency, when they differ
    fx_day: date
    reporting: str                               # the reporting currency the basis is measured in
    paid: CommissionPayout | None                # the month's payout, once it is closed


def _is_money(plan: Plan) -> bool:
    return plan.basis is not Basis.NEW_CUSTOMERS


def measure(session: Session, inputs: Inputs, member: Member, window: Window,
            plan: Plan) -> tuple[Decimal, Decimal | None, date]:
    """(basis in the plan's currency, the conversion rate used or None, the rate's day)."""
    metric = CATALOG[plan.basis.value]
    activity = load_activity(session, member, window.start, window.end, metric.reads, inputs.facts)
    value = metric.compute(activity, Context(window, inputs.now, inputs.rules, inputs.fx)) or Decimal(0)
    day = anchor_day(window, inputs.now)
    reporting = inputs.rules.reporting_currency
    if not _is_money(plan) or plan.currency == reporting:
        return value, None, day
    rate = inputs.fx.rate(reporting, plan.currency, day)
    return value * rate, rate, day


def estimate(session: Session, inputs: Inputs, member: Member, year: int, month: int,
             plans: Plans | None = None) -> Estimate | None:
    """The member's statement for a month as of `inputs.now`; None without a plan for their role."""
    plans = plans if plans is not None else load_plans(session)
    plan = plans.for_role(member.role)
    if plan is None:
        return None
    window = month_window(year, month, member.timezone)
    basis, rate, day = measure(session, inputs, member, window, plan)
    period = month_key(window.first_day)
    closed, periods = [], []
    for paid in payouts_before(session, member.id or 0, period)[-CLAWBACK_MONTHS:]:
        then = plans.by_name.get(paid.plan_name, plan)  # the plan it was paid under
        y, m = parse_month(paid.period)
        now_basis, _, _ = measure(session, inputs, member, month_window(y, m, member.timezone), then)
        keeps = from_minor(paid.earned_minor - paid.clawed_back_minor, paid.currency)
        c = Closed(paid.period, keeps, now_basis)
        closed.append(c)
        periods.append((paid.period, clawback_of(then, c)))
    result = statement(plan, basis, ())
    taken = sum((amount for _, amount in periods), Decimal(0))
    result = Statement(result.basis_amount, result.earned, result.capped, taken, result.earned - taken,
                       result.next_tier)
    elapsed = window.elapsed_fraction(inputs.now)
    projected = basis / elapsed if 0 < elapsed < 1 else None
    return Estimate(member, plan, window, basis, result, tuple(p for p in periods if p[1] > 0), projected, rate, day,
                    inputs.rules.reporting_currency, payout_for(session, member.id or 0, period))


def close_month(session: Session, inputs: Inputs, year: int, month: int) -> list[CommissionPayout]:
    """Record the month's payout of every active member with a plan whose month is over in their own zone and
    not yet closed; the clawbacks it takes are booked against the months they come from. No commit."""
    plans = load_plans(session)
    period = f"{year:04d}-{month:02d}"
    out = []
    for member in active_members(session):
        window = month_window(year, month, member.timezone)
        if inputs.now < window.end or payout_for(session, member.id or 0, period) is not None:
            continue
        est = estimate(session, inputs, member, year, month, plans)
        if est is None:
            continue
        cur = est.plan.currency
        for closed_period, amount in est.clawbacks:
            earlier = payout_for(session, member.id or 0, closed_period)
            assert earlier is not None
            earlier.clawed_back_minor += to_minor(amount, cur)
            session.add(earlier)
        payout = CommissionPayout(
            member_id=member.id or 0, period=period, plan_name=est.plan.name, basis_amount=est.basis,
            earned_minor=to_minor(est.statement.earned, cur), clawback_minor=to_minor(est.statement.clawback, cur),
            paid_minor=to_minor(est.statement.payable, cur), currency=cur, paid_at=inputs.now)
        session.add(payout)
        out.append(payout)
    session.flush()
    return out


# --- the command ------------------------------------------------------------------------------------------------

def handle(req: Request) -> Card:
    args = req.args
    with Session(req.app.engine) as session:
        inputs = Inputs.load(session, req.app.rules, req.now)
        if args and args[0].lower() in WHATIF_WORDS:
            return _whatif(req, session, inputs, args[1:])
        member, year, month = _who_and_when(req, session, args)
        est = estimate(session, inputs, member, year, month)
    if est is None:
        raise UserError("commission.no_plan", role=t(req.lang, f"role.{member.role}"))
    return _estimate_card(est, req.lang)


def _who_and_when(req: Request, session: Session, args: tuple[str, ...]) -> tuple[Member, int, int]:
    member = req.member
    local = req.now.astimezone(month_window(req.now.year, req.now.month, member.timezone).zone)
    year, month = local.year, local.month
    rest = list(args)
    if rest:
        try:
            year, month = parse_month(rest[-1])
            rest.pop()
        except ValueError:
            pass
    if len(rest) > 1:
        raise UserError("error.bad_args", problem=" ".join(args), usage=USAGE)
    if rest:
        other = member_by_code(session, rest[0])
        if other is None or not other.active:
            raise UserError("commission.no_member", name=rest[0])
        if other.id != member.id and not (member.finance or at_least(member.role, "manager")):
            raise UserError("commission.forbidden")
        member = other
    return member, year, month


def _amount(plan: Plan, value: Decimal) -> str:
    return money(value, plan.currency) if _is_money(plan) else f"{value.quantize(Decimal(1)):,}"


def _rate(plan: Plan, rate: Decimal, lang: str) -> str:
    if _is_money(plan):
        return percent(rate, 2)
    return t(lang, "commission.per_customer", amount=money(rate, plan.currency))


def _plan_line(plan: Plan, lang: str) -> str:
    return (f"{plan.name} · {t(lang, f'commission.kind_{plan.kind.value}')} · "
            f"{CATALOG[plan.basis.value].name(lang)}")


def _tiers(plan: Plan, at: Decimal, lang: str) -> Table:
    reached = max(i for i, tier in enumerate(plan.tiers) if at >= tier.threshold)
    rows = tuple((_amount(plan, tier.threshold), _rate(plan, tier.rate, lang),
                  t(lang, "commission.here") if i == reached else "") for i, tier in enumerate(plan.tiers))
    return Table((t(lang, "commission.from"), t(lang, "commission.rate"), ""), rows)


def _paid_rows(paid: CommissionPayout, st: Statement, lang: str) -> list[tuple[str, str]]:
    """A closed month: what was paid, and what refunds since will take back from the next payout."""
    cur = paid.currency
    rows = [(t(lang, "commission.paid", day=paid.paid_at.date().isoformat()),
             money(from_minor(paid.paid_minor, cur), cur))]
    if paid.clawed_back_minor:
        rows.append((t(lang, "commission.taken_since"), money(from_minor(paid.clawed_back_minor, cur), cur)))
    pending = from_minor(paid.earned_minor - paid.clawed_back_minor, cur) - st.earned
    if pending > 0:
        rows.append((t(lang, "commission.to_take_back"), money(pending, cur)))
    return rows


def _estimate_card(est: Estimate, lang: str) -> Card:
    plan, st = est.plan, est.statement
    fields = [(t(lang, "commission.plan"), _plan_line(plan, lang)),
              (t(lang, "commission.basis"), _amount(plan, est.basis)),
              (t(lang, "commission.rate_now"), _rate(plan, rate_at(plan, est.basis), lang)),
              (t(lang, "commission.earned"), money(st.earned, plan.currency)
               + (f" · {t(lang, 'commission.capped', cap=money(plan.cap, plan.currency))}"
                  if st.capped and plan.cap is not None else ""))]
    for period, amount in est.clawbacks:
        fields.append((t(lang, "commission.clawback", month=period), f"-{money(amount, plan.currency)}"))
    if est.paid is None:
        fields.append((t(lang, "commission.payable"), money(st.payable, plan.currency)))
    else:
        fields.extend(_paid_rows(est.paid, st, lang))
    running = est.projected_basis is not None
    if st.next_tier is not None and running:
        fields.append((t(lang, "commission.next_tier"),
                       t(lang, "commission.to_go", amount=_amount(plan, st.next_tier.threshold - est.basis),
                         rate=_rate(plan, st.next_tier.rate, lang))))
    if est.projected_basis is not None:
        fields.append((t(lang, "commission.at_pace"),
                       f"{_amount(plan, est.projected_basis)} → "
                       f"{money(paid_amount(plan, est.projected_basis), plan.currency)}"))
    blocks: list[Block] = [Fields(tuple(fields)), _tiers(plan, est.basis, lang)]
    notes = [t(lang, "commission.estimate_note" if running else "commission.closed_note")]
    if est.fx_rate is not None:
        notes.append(t(lang, "commission.fx", base=CATALOG[plan.basis.value].name(lang), base_currency=est.reporting,
                       rate=f"{est.fx_rate:.4f}", quote=plan.currency, day=est.fx_day.isoformat()))
    if st.payable < 0:
        notes.append(t(lang, "commission.negative"))
    blocks.append(Note(" ".join(notes)))
    if st.next_tier is not None and running:
        target = st.next_tier.threshold
        blocks.append(Buttons((Button(t(lang, "commission.whatif_button", amount=_amount(plan, target)),
                                      "commission", ("whatif", str(target))),)))
    title = t(lang, "commission.title", name=est.member.name, month=month_key(est.window.first_day))
    return Card(title, tuple(blocks), Tone.BAD if st.payable < 0 else Tone.INFO, lang)


def _whatif(req: Request, session: Session, inputs: Inputs, args: tuple[str, ...]) -> Card:
    lang = req.lang
    plan = load_plans(session).for_role(req.member.role)
    if plan is None:
        raise UserError("commission.no_plan", role=t(lang, f"role.{req.member.role}"))
    if len(args) != 1:
        raise UserError("error.bad_args", problem=" ".join(args) or "—", usage="/commission whatif 12000")
    try:
        amount = parse_amount(args[0], ratio=False)
    except ValueError as exc:
        raise UserError("error.bad_args", problem=str(exc), usage="/commission whatif 12000") from None
    local = req.now.astimezone(month_window(req.now.year, req.now.month, req.member.timezone).zone)
    now_basis, _, _ = measure(session, inputs, req.member, month_window(local.year, local.month,
                                                                        req.member.timezone), plan)
    then, now = paid_amount(plan, amount), paid_amount(plan, now_basis)
    uncapped = earned(replace(plan, cap=None), amount)
    fields = [(t(lang, "commission.plan"), _plan_line(plan, lang)),
              (t(lang, "commission.at"), _amount(plan, amount)),
              (t(lang, "commission.would_earn"), money(then, plan.currency)
               + (f" · {t(lang, 'commission.capped', cap=money(plan.cap, plan.currency))}"
                  if plan.cap is not None and uncapped > plan.cap else "")),
              (t(lang, "commission.rate_there"), _rate(plan, rate_at(plan, amount), lang))]
    if _is_money(plan) and amount > 0:
        fields.append((t(lang, "commission.effective"), percent(then / amount, 2)))
    fields.append((t(lang, "commission.vs_now", amount=_amount(plan, now_basis)),
                   f"{money(now, plan.currency)} ({'+' if then >= now else ''}{money(then - now, plan.currency)})"))
    if plan.kind is PlanKind.ACCELERATOR:
        fields.append((t(lang, "commission.kind_accelerator"), t(lang, "commission.accelerator_note")))
    return Card(t(lang, "commission.whatif_title", name=req.member.name, amount=_amount(plan, amount)),
                (Fields(tuple(fields)), _tiers(plan, amount, lang), Note(t(lang, "commission.whatif_note"))),
                Tone.INFO, lang)


SPEC = Command("commission", ("提成", "佣金"), "help.commission", USAGE, handle)

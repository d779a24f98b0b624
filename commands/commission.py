"""/commission: the caller's commission estimate for the month (or the month as paid, once closed), and a what-if.

    /commission [MEMBER] [YYYY-MM]     the estimate (others' only for finance staff, managers and admins)
    /commission whatif AMOUNT          what the caller would earn with AMOUNT of their plan's basis

The basis (net GMV, gross profit, new customers) is the metric of the same name (scoring.metrics), over the
member's month in their own time zone, as their scorecard measures it. Money bases are converted from the
reporting currency into the plan's currency at the rate of the month's anchor day (today, or its last day
once it is over). The estimate takes back, from this month, what refunds since have cost the months already
paid (the last CLAWBACK_MONTHS of them), as the month's closing will. services.commission reads and computes
(month_view, what_if, CLAWBACK_MONTHS); this module parses the arguments and builds the cards.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from cards.format import money, percent
from cards.i18n import t
from cards.model import Block, Button, Buttons, Card, Fields, Note, Table, Tone
from commands.context import Request
from commands.periods import month_arg
from commands.spec import Command
from scoring.commission import Plan, PlanKind, paid_amount, rate_at
from scoring.metrics import CATALOG
from scoring.money import from_minor
from scoring.targets import AmountError, parse_amount
from services.commission import Estimate, NoPlan, PaidMonth, WhatIf, is_money, month_view, what_if
from services.errors import UserError
from services.scorecards import month_key

USAGE = "/commission [MEMBER] [YYYY-MM] · /commission whatif AMOUNT"
USAGE_WHATIF = "/commission whatif AMOUNT [MEMBER]"
WHATIF_WORDS = frozenset({"whatif", "what-if", "试算", "如果"})


# --- the command ------------------------------------------------------------------------------------------------

def handle(req: Request) -> Card:
    args = req.args
    try:
        if args and args[0].lower() in WHATIF_WORDS:
            return _whatif(req, args[1:])
        code, month = _who_and_when(args)
        shown = month_view(req.services, req.member, code, month, req.now)
    except NoPlan as exc:
        raise UserError("commission.no_plan", role=t(req.lang, f"role.{exc.role}")) from None
    if isinstance(shown, PaidMonth):
        return _closed_card(shown, req.lang)
    return _estimate_card(shown, req.member.id, req.lang, req.now)


def _who_and_when(args: tuple[str, ...]) -> tuple[str | None, tuple[int, int] | None]:
    """(the member named, or None for the caller; the month given, or None for the member's current one)."""
    rest = list(args)
    wanted: tuple[int, int] | None = None
    if rest:
        wanted = month_arg(rest[-1])   # 2026-13 is refused as no month, not looked up as a member
        if wanted is not None:
            rest.pop()
    if len(rest) > 1:
        raise UserError("error.bad_args", problem=" ".join(args), usage=USAGE)
    return (rest[0] if rest else None), wanted


def _amount(plan: Plan, value: Decimal) -> str:
    return money(value, plan.currency) if is_money(plan) else f"{value.quantize(Decimal(1)):,}"


def _rate(plan: Plan, rate: Decimal, lang: str) -> str:
    if is_money(plan):
        return percent(rate, 2)
    return t(lang, "commission.per_customer", amount=money(rate, plan.currency))


def _plan_line(plan: Plan, lang: str) -> str:
    return (f"{plan.name} · {t(lang, f'commission.kind_{plan.kind.value}')} · "
            f"{CATALOG[plan.basis.value].name(lang)}")


def _tiers(plan: Plan, at: Decimal, lang: str) -> Table:
    reached = max((i for i, tier in enumerate(plan.tiers) if at >= tier.threshold), default=0)
    rows = tuple((_amount(plan, tier.threshold), _rate(plan, tier.rate, lang),
                  t(lang, "commission.here") if i == reached else "") for i, tier in enumerate(plan.tiers))
    return Table((t(lang, "commission.from"), t(lang, "commission.rate"), ""), rows)


def _capped(plan: Plan, capped: bool, lang: str) -> str:
    if plan.cap is None or not capped:
        return ""
    return f" · {t(lang, 'commission.capped', cap=money(plan.cap, plan.currency))}"


def _closed_card(shown: PaidMonth, lang: str) -> Card:
    """A paid month as it was paid, and what refunds since will take back from the next payout."""
    member, paid, plan, earns_now = shown.member, shown.payout, shown.plan, shown.earns_now
    cur = paid.currency

    def m(minor: int) -> str:
        return money(from_minor(minor, cur), cur)

    fields = [(t(lang, "commission.plan"), _plan_line(plan, lang)),
              (t(lang, "commission.basis_paid"), _amount(plan, paid.basis_amount)),
              (t(lang, "commission.earned"), m(paid.earned_minor))]
    if paid.clawback_minor:
        fields.append((t(lang, "commission.clawback_in_payout"), f"-{m(paid.clawback_minor)}"))
    fields.append((t(lang, "commission.paid", day=paid.paid_at.date().isoformat()), m(paid.paid_minor)))
    for c in shown.corrections:   # the payout stays as paid: an appeal approved since is a line of its own
        sign = "+" if c.amount_minor >= 0 else "-"
        label = t(lang, "commission.correction", id=c.appeal_id, day=c.at.date().isoformat()) \
            if c.appeal_id is not None else t(lang, "commission.correction_plain", day=c.at.date().isoformat())
        fields.append((label, f"{sign}{m(abs(c.amount_minor))}"))
    if paid.clawed_back_minor:
        fields.append((t(lang, "commission.taken_since"), m(paid.clawed_back_minor)))
    corrected = sum(c.amount_minor for c in shown.corrections)
    pending = from_minor(paid.earned_minor + corrected - paid.clawed_back_minor, cur) - earns_now
    if pending > 0:
        fields.append((t(lang, "commission.to_take_back"), money(pending, cur)))
    return Card(t(lang, "commission.title", name=member.name, month=paid.period),
                (Fields(tuple(fields)), _tiers(plan, paid.basis_amount, lang), Note(t(lang, "commission.closed_note"))),
                Tone.INFO, lang)


def _estimate_card(est: Estimate, viewer_id: int | None, lang: str, now: datetime) -> Card:
    plan, st = est.plan, est.statement
    fields = [(t(lang, "commission.plan"), _plan_line(plan, lang)),
              (t(lang, "commission.basis"), _amount(plan, est.basis)),
              (t(lang, "commission.rate_now"), _rate(plan, rate_at(plan, est.basis), lang)),
              (t(lang, "commission.earned"), money(st.earned, plan.currency)
               + _capped(plan, st.capped, lang))]
    for c in est.clawbacks:
        shown = money(c.in_plan, plan.currency) + (f" ({money(c.amount, c.currency)})"
                                                   if c.currency != plan.currency else "")
        fields.append((t(lang, "commission.clawback", month=c.period), f"-{shown}"))
    fields.append((t(lang, "commission.payable"), money(st.payable, plan.currency)))
    running = est.window.end > now   # the month is still under way (its projection comes from 10 % of it on)
    if st.next_tier is not None and running:
        fields.append((t(lang, "commission.next_tier"),
                       t(lang, "commission.to_go", amount=_amount(plan, st.next_tier.threshold - est.basis),
                         rate=_rate(plan, st.next_tier.rate, lang))))
    if est.projected_basis is not None:
        fields.append((t(lang, "commission.at_pace"),
                       f"{_amount(plan, est.projected_basis)} → "
                       f"{money(paid_amount(plan, est.projected_basis), plan.currency)}"))
    blocks: list[Block] = [Fields(tuple(fields)), _tiers(plan, est.basis, lang)]
    notes = [t(lang, "commission.estimate_note" if running else "commission.not_closed_note")]
    if est.fx_rate is not None:
        notes.append(t(lang, "commission.fx", base=CATALOG[plan.basis.value].name(lang), base_currency=est.reporting,
                       rate=f"{est.fx_rate:.4f}", quote=plan.currency, day=est.fx_day.isoformat()))
    if st.payable < 0:
        notes.append(t(lang, "commission.negative"))
    blocks.append(Note(" ".join(notes)))
    if st.next_tier is not None and running:
        target = st.next_tier.threshold
        whose = () if est.member.id == viewer_id else (est.member.code,)
        blocks.append(Buttons((Button(t(lang, "commission.whatif_button", amount=_amount(plan, target)),
                                      "commission", ("whatif", str(target), *whose)),)))
    title = t(lang, "commission.title", name=est.member.name, month=month_key(est.window.first_day))
    return Card(title, tuple(blocks), Tone.BAD if st.payable < 0 else Tone.INFO, lang)


def _whatif(req: Request, args: tuple[str, ...]) -> Card:
    """/commission whatif AMOUNT [MEMBER]: the member is the caller unless named (as for the estimate)."""
    if len(args) not in (1, 2):
        raise UserError("error.bad_args", problem=" ".join(args) or "—", usage=USAGE_WHATIF)
    try:
        amount = parse_amount(args[0], ratio=False)
    except AmountError as exc:
        raise UserError(exc.key, usage=USAGE_WHATIF, **exc.values) from None
    return _whatif_card(what_if(req.services, req.member, args[1] if len(args) == 2 else None, amount, req.now),
                        req.lang)


def _whatif_card(w: WhatIf, lang: str) -> Card:
    plan, amount = w.plan, w.amount
    then, now = w.earns, w.earns_now
    fields = [(t(lang, "commission.plan"), _plan_line(plan, lang)),
              (t(lang, "commission.at"), _amount(plan, amount)),
              (t(lang, "commission.would_earn"), money(then, plan.currency) + _capped(plan, w.capped, lang)),
              (t(lang, "commission.rate_there"), _rate(plan, rate_at(plan, amount), lang))]
    if is_money(plan) and amount > 0:
        fields.append((t(lang, "commission.effective"), percent(then / amount, 2)))
    fields.append((t(lang, "commission.vs_now", amount=_amount(plan, w.basis_now)),
                   f"{money(now, plan.currency)} ({'+' if then >= now else ''}{money(then - now, plan.currency)})"))
    if plan.kind is PlanKind.ACCELERATOR:
        fields.append((t(lang, "commission.kind_accelerator"), t(lang, "commission.accelerator_note")))
    return Card(t(lang, "commission.whatif_title", name=w.member.name, amount=_amount(plan, amount)),
                (Fields(tuple(fields)), _tiers(plan, amount, lang), Note(t(lang, "commission.whatif_note"))),
                Tone.INFO, lang)


SPEC = Command("commission", ("提成", "佣金"), "help.commission", USAGE, handle, id_aliases=("komisi",))

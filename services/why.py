"""Why a score is what it is (`/mykpi why [METRIC] [YYYY-MM]`, the approver's appeal card): the trail of the very
MemberScore /mykpi shows (services.my_kpi: the member's row among their team's peers, on the same window), so
the trail's actual, target, achievement, points and score are the card's. The facts' platform ids and the
targets' setters come from storage.refs; the trail itself is computed by scoring.trail."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from scoring.fx import MissingRate
from scoring.languages import lang_of
from scoring.metrics import CATALOG, Context
from scoring.money import from_minor
from scoring.periods import PeriodKind, month_window, period_zone
from scoring.roles import Role, Scope
from scoring.rules import CountOrdersAt
from scoring.templates import TemplateError
from scoring.text import shown
from scoring.trail import Adjustment, CommissionTrail, Item, MetricTrail, TargetSource, Why, trail
from services.commission import _sees_others, estimate
from services.container import Services
from services.errors import UserError
from services.order_amounts import counted_amount, refunded_at_close
from services.scorecards import Inputs, MemberScore, member_window, month_key, score_member, team_scores
from storage.adjustments import lost_orders, month_adjustments
from storage.commission import corrections_for, load_plans, payout_for
from storage.models import Member, Team
from storage.month_close import closed
from storage.queries import team_of
from storage.refs import live_refs, order_refs, target_imports, target_setters

_SUMS_ORDERS = frozenset({"gmv", "net_gmv"})   # metrics an order moved away lowers by its amount


class NoTemplate(Exception):
    """The member's role has no KPI template: nothing to explain (the command says so in the caller's words)."""


def may_see_commission(viewer: Member, member: Member) -> bool:
    """The member themself, finance staff, managers and admins (services.commission)."""
    return viewer.id == member.id or _sees_others(viewer)


def explain(services: Services, member: Member, metric_key: str | None, period: str | None, now: datetime,
            viewer: Member | None = None) -> Why:
    """The trail of `member`'s month `period` ("YYYY-MM": the current or the previous month in their period zone;
    None: the current) for one metric of their template, or every one. Commission only when `viewer` (default:
    the member) may see it. Raises UserError (a month out of reach, a metric not theirs: the latter offers their
    metrics), NoTemplate, and TemplateError for a template that cannot be scored."""
    with Session(services.engine) as session:
        team = team_of(session, member)
        if team is None and Role.parse(member.role).scope is Scope.TEAM:
            raise UserError("error.not_in_team")
        _check_period(now, member, team, period)
        # a closed month as final_score froze it: computed as of its close (services.month_close.as_of)
        done = closed(session, period) if period is not None else None
        at = now if done is None else done.closed_at
        inputs = Inputs.load(session, services.rules, at, skip_missing_fx=True, one_by_one=True)
        mine = _score(session, inputs, member, team, period)
        if mine.problem is not None:
            raise TemplateError(mine.problem)
        if mine.scorecard is None or mine.template is None:
            raise NoTemplate(member.role)
        keys = [m.key for m in mine.template.metrics]
        if metric_key is not None and metric_key not in keys:
            lang = lang_of(member.locale)   # the metrics as the member asks for them, in their language
            raise UserError("why.unknown_metric", metric=metric_key, metrics=", ".join(
                CATALOG[k].name(lang) for k in keys))
        card = mine.scorecard
        label = month_key(mine.window.first_day)
        ctx = mine.context(inputs)
        cap = mine.template.achievement_cap or inputs.rules.achievement_cap
        metrics = trail(card, mine.activity, ctx, _sources(session, mine, label), cap)
        if metric_key is not None:
            metrics = tuple(m for m in metrics if m.key == metric_key)
        metrics = _named(session, member, metrics)
        metrics = _adjusted(session, member, label, metrics, mine, ctx)
        commission = None
        if may_see_commission(viewer or member, member):
            commission = _commission(session, inputs, member, mine)
    rules = services.rules
    return Why(member.name, member.code, label, mine.window.tz, rules.reporting_currency,
               (rules.count_orders_at is CountOrdersAt.SHIPPED, rules.net_refunds), card.score, card.grade,
               mine.template.name, metrics, commission,
               None if done is None else done.closed_at.astimezone(ZoneInfo(mine.window.tz)).date())


def _check_period(now: datetime, member: Member, team: Team | None, period: str | None) -> None:
    """A month out of reach (neither the current nor the previous one as of now) is refused (UserError)."""
    current = member_window(PeriodKind.MONTH, now, member, team)
    allowed = (month_key(current.first_day), _previous(current.first_day.year, current.first_day.month))
    if period is not None and period not in allowed:
        raise UserError("why.period", value=period, current=allowed[0], previous=allowed[1])


def _score(session: Session, inputs: Inputs, member: Member, team: Team | None, period: str | None) -> MemberScore:
    """The member's month as /mykpi scores it: their row among their team's peers for the current month (as of
    `inputs.now`), else the month `period` scored alone, as final_score scores it."""
    current = member_window(PeriodKind.MONTH, inputs.now, member, team)
    if period is None or period == month_key(current.first_day):
        peers = team_scores(session, inputs, team, PeriodKind.MONTH) if team else []
        return next((p for p in peers if p.member.id == member.id), None) or score_member(
            session, inputs, member, team, current)
    zone = period_zone(member.timezone, team.timezone if team else None)
    return score_member(session, inputs, member, team, month_window(int(period[:4]), int(period[5:]), zone))


def _previous(year: int, month: int) -> str:
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


def _sources(session: Session, mine: MemberScore, period: str) -> dict[str, TargetSource]:
    """Where each metric's target came from: the SOP's typical value (in trial, when the member has none of their
    own), else the member's own target (set by whom, when recorded), else none."""
    typical = {v.metric: v.source for v in (mine.typical.values if mine.typical else ())}
    setters = target_setters(session, mine.member.id or 0, period)
    imports = target_imports(session, mine.member.id or 0, period)
    month = (int(period[:4]), int(period[5:]))
    out = {}
    for key, by_month in mine.month_targets.items():
        if key in typical:
            out[key] = TargetSource("typical", typical[key])
        elif month in by_month and key not in setters and key in imports:
            name, at = imports[key]
            day = at.astimezone(ZoneInfo(mine.window.tz)).date().isoformat()
            out[key] = TargetSource("imported", f"{shown(name, 60)}, {day}")
        elif month in by_month:
            out[key] = TargetSource("own", setters.get(key, ""))
    return out


def _adjusted(session: Session, member: Member, period: str, metrics: tuple[MetricTrail, ...], mine: MemberScore,
              ctx: Context) -> tuple[MetricTrail, ...]:
    """Each metric with the approved appeals that changed its month: an override of it (with what it measures
    without the override), the orders credited or taken out of a metric over orders, the sessions added to a
    metric over live sessions; so the trail's lines add up to its actual."""
    found = month_adjustments(session, member.id or 0, period)
    lost = lost_orders(session, member.id or 0, period)
    refunded = {gone.order.id: refunded_at_close(session, gone.order, period) for gone in lost}   # once an order
    if not found and not lost:
        return metrics
    out = []
    for m in metrics:
        reads = CATALOG[m.key].reads
        mine_: list[Adjustment] = []
        for a in found:
            if a.kind == "override" and a.metric_key == m.key:
                measured = CATALOG[m.key].compute(mine.activity, ctx)
                mine_.append(Adjustment("override", a.appeal_id, value=a.value, measured=measured))
            elif a.kind in ("credit_order", "exclude_order") and "orders" in reads:
                mine_.append(Adjustment(a.kind, a.appeal_id, ref=a.order_ref))
            elif a.kind == "add_session" and "lives" in reads and a.session is not None:
                shop, start, end = a.session
                zone = ZoneInfo(mine.window.tz)
                ref = f"{shop} {start.astimezone(zone):%Y-%m-%d %H:%M}–{end.astimezone(zone):%H:%M}"
                mine_.append(Adjustment("add_session", a.appeal_id, ref=ref))
        if "orders" in reads:
            for gone in lost:
                amount, currency = counted_amount(gone.order, ctx.rules, ctx.fx, net=m.key != "gmv",
                                                  refunded_minor=refunded[gone.order.id])
                money = m.key in _SUMS_ORDERS and currency == ctx.rules.reporting_currency
                mine_.append(Adjustment("credited_away", gone.appeal_id, ref=gone.order.platform_order_id,
                                        value=-amount if money else None, to=gone.to_code))
        overrides = [x for x in mine_ if x.kind == "override"]
        out.append(replace(m, adjustments=tuple(overrides[-1:] + [x for x in mine_ if x.kind != "override"])))
    return tuple(out)


def _named(session: Session, member: Member, metrics: tuple[MetricTrail, ...]) -> tuple[MetricTrail, ...]:
    """The items with the platforms' ids."""
    items = [i for m in metrics for i in m.largest]
    orders = order_refs(session, [i.fact_id for i in items if i.kind == "order" and i.fact_id is not None])
    lives = live_refs(session, member, [i.at for i in items if i.kind == "live" and isinstance(i.at, datetime)])

    def named(i: Item) -> Item:
        if i.kind == "order":
            return replace(i, ref=orders.get(i.fact_id or 0, ""))
        if i.kind == "live":
            return replace(i, ref=lives.get(i.at, "") if isinstance(i.at, datetime) else "")
        return i

    return tuple(replace(m, largest=tuple(named(i) for i in m.largest)) for m in metrics)


def _commission(session: Session, inputs: Inputs, member: Member, mine: MemberScore) -> CommissionTrail | None:
    """The month's commission statement (services.commission.estimate); None without a plan, or without a rate to
    convert its basis (the trail is still shown)."""
    month = mine.window.first_day
    plans = load_plans(session)
    try:
        est = estimate(session, inputs, member, month.year, month.month, plans)
    except MissingRate:
        return None
    if est is None:
        return None
    plan = est.plan
    version = next((v.effective_from for v in reversed(plans.versions)
                    if v.active and v.plan == plan and v.effective_from <= month_key(month)), "")
    basis = est.basis
    tier = next((t for t in reversed(plan.tiers) if basis >= t.threshold), plan.tiers[0])
    paid = payout_for(session, member.id or 0, month_key(month))
    booked = tuple((c.appeal_id, c.at.date(), from_minor(c.amount_minor, c.currency))
                   for c in corrections_for(session, member.id or 0, month_key(month))) if paid else ()
    return CommissionTrail(plan.name, version, CATALOG[plan.basis.value].key, plan.currency, basis, tier.threshold,
                           tier.rate, est.statement.earned,
                           tuple((c.period, c.amount, c.currency) for c in est.clawbacks),
                           est.statement.clawback, est.statement.payable,
                           from_minor(paid.paid_minor, paid.currency) if paid else None,
                           paid.paid_at.date() if paid else None, booked)


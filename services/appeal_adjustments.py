"""What an approved appeal changes, and what it would change (shown on the approver's card before they decide).

Four kinds of adjustment (storage.models.AppealAdjustment, only ever added to), each respected wherever scores
are computed (storage.activity, services.scorecards, services.commission read them):
- exclude_order: the orders leave the appellant's numbers of the appeal's month, their GMV and their refunds (a
  refund not their fault).
- credit_order: the orders are credited to the appellant (Order.member_id, credit_rule "appeal", which crediting
  never overwrites again); when the appellant is also a creator of the order's platform (Creator.member_id), the
  order's affiliate attribution goes to that creator too (attribution_rule "appeal", kept by attribution).
- add_session: a missed live session is added as a LiveSession of the appellant (platform_session_id
  "appeal:<appeal id>"), so every metric that reads sessions counts it.
- override: the metric's value for the appellant and the appeal's month is the value given (services.scorecards:
  the month's score and commission use it; day and week views keep what they measure).

Derivation from the appeal (proposal_for): "attribution" + evidence naming orders of the organisation's shops (the
platform's order ids) counted in the appeal's month (paid, or shipped when the organisation counts at shipment, in
the member's period zone; an order counted in another month is refused when filing and approving) -> credit_order;
"refund" + orders -> exclude_order; "activity" + a session in the form of
parse_session_evidence -> add_session; else a claimed value -> override; else nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from cards.format import money
from scoring.fx import FxTable
from scoring.money import from_minor
from scoring.periods import month_window, parse_month
from scoring.roles import Role
from scoring.rules import Rules
from scoring.text import shown
from services.errors import UserError
from services.order_amounts import at_shipment, counted_amount, counted_at, rates
from storage.adjustments import APPEAL_RULE, APPEAL_SESSION_PREFIX, losers_of
from storage.audit import audit
from storage.audit_read import MEMBERS
from storage.models import Appeal, AppealAdjustment, Creator, LiveSession, Member, Order, Shop
from storage.queries import member_zone

MAX_ORDERS = 50          # evidence naming more orders than this is read only this far
SHOWN_ORDERS = 5         # order ids a proposal names; the rest are counted
MAX_SESSION = timedelta(hours=24)

SESSION_EVIDENCE = re.compile(
    r"live:(?P<shop>[^:\s]{1,64}):(?P<day>\d{4}-\d{2}-\d{2})T(?P<start>\d{2}:\d{2})/(?P<end>\d{2}:\d{2})",
    re.IGNORECASE)


@dataclass(frozen=True)
class Proposal:
    kind: str                    # exclude_order | credit_order | add_session | override
    key: str                     # the cards/i18n.py key that says what approving would do
    values: dict[str, str]       # its values (order ids, member code, value...), already formatted for display


@dataclass(frozen=True)
class SessionEvidence:
    """A live session named in an appeal's evidence: "live:SHOP:2026-11-05T20:00/22:00" (shop code, local day
    and hours on the shop's clock; an end at or before the start is on the next day)."""

    shop: str
    start: datetime              # naive: local time of the shop
    end: datetime


def parse_session_evidence(text: str) -> SessionEvidence | None:
    """The session `text` names, or None when it is not in the form (or not a real day and time)."""
    m = SESSION_EVIDENCE.fullmatch(text.strip())
    if m is None:
        return None
    try:
        start = datetime.fromisoformat(f"{m['day']}T{m['start']}")
        end = datetime.fromisoformat(f"{m['day']}T{m['end']}")
    except ValueError:
        return None
    if end <= start:
        end += timedelta(days=1)
    return SessionEvidence(m["shop"], start, end)


@dataclass(frozen=True)
class _Plan:
    """What approving as claimed applies: the proposal's stored side."""

    kind: str
    orders: tuple[Order, ...] = ()
    shop: Shop | None = None
    session: SessionEvidence | None = None
    value: Decimal | None = None


def proposal_for(session: Session, appeal: Appeal, rules: Rules | None = None) -> Proposal | None:
    """What approving `appeal` as claimed would change, from its category, evidence and value_claimed; None when
    nothing can be derived (then only a partial approval with a value applies anything), and None when the
    evidence names an order not counted in the appeal's month (by `rules`: at payment or at shipment), which
    apply_decision refuses: the card offers no Approve that would fail. With `rules`, an order taken from another
    member shows the amount the metric counts (services.order_amounts), else its total."""
    try:   # as apply_decision reads it (strict), so what the card offers is what approving does
        plan = _plan(session, appeal, rules is not None and at_shipment(rules),
                     strict=True)
    except UserError:   # an order outside the month: approving as claimed is refused
        return None
    if plan is None:
        return None
    appellant = session.get(Member, appeal.member_id)
    code = appellant.code if appellant is not None else str(appeal.member_id)
    if plan.kind in ("credit_order", "exclude_order"):
        ids = [o.platform_order_id for o in plan.orders]
        more = len(ids) - SHOWN_ORDERS
        if plan.kind == "credit_order" and any(o.member_id not in (None, appeal.member_id) for o in plan.orders):
            # another member loses these: the approver sees whom and how much
            codes = _codes(session, {o.member_id for o in plan.orders if o.member_id is not None})
            fx = rates(session) if rules is not None else None
            listed = ", ".join(_order_now(o, codes, rules, fx) for o in plan.orders[:SHOWN_ORDERS])
            return Proposal(plan.kind, "appeal.proposal.credit_order_from",
                            {"orders": listed + (f" (+{more})" if more > 0 else ""), "count": str(len(ids)),
                             "member": code, "period": appeal.period})
        listed = ", ".join(shown(i, 40) for i in ids[:SHOWN_ORDERS])
        return Proposal(plan.kind, f"appeal.proposal.{plan.kind}",
                        {"orders": listed + (f" (+{more})" if more > 0 else ""), "count": str(len(ids)),
                         "member": code, "period": appeal.period})
    if plan.kind == "add_session":
        assert plan.shop is not None and plan.session is not None
        return Proposal(plan.kind, "appeal.proposal.add_session",
                        {"shop": plan.shop.code, "start": plan.session.start.strftime("%Y-%m-%d %H:%M"),
                         "end": plan.session.end.strftime("%H:%M"), "member": code})
    return Proposal(plan.kind, "appeal.proposal.override",
                    {"metric": appeal.metric_key or "", "value": _decimal(plan.value), "member": code,
                     "period": appeal.period})


def _order_now(order: Order, codes: dict[int, str], rules: Rules | None = None, fx: FxTable | None = None) -> str:
    """"O-3 (hugo, 1,400.00 USD)": the order, whose it is now and its amount (as the metric counts it, with
    `rules` and `fx`)."""
    owner = codes.get(order.member_id, "-") if order.member_id is not None else "-"
    if rules is not None and fx is not None:
        value, currency = counted_amount(order, rules, fx)
        amount = money(value, currency)
    else:
        amount = money(from_minor(order.total_minor, order.currency), order.currency)
    return f"{shown(order.platform_order_id, 40)} ({owner}, {amount})"


def check_teams(session: Session, appeal: Appeal, decider: Member, at_shipment: bool = False) -> None:
    """Refuse (UserError appeal.other_team_order) moving an order of another team's shop, or from a member of
    another team, unless the decider is an admin: a lead moves orders within their own team only."""
    if Role.parse(decider.role) is Role.ADMIN:
        return
    plan = _plan(session, appeal, at_shipment)
    appellant = session.get(Member, appeal.member_id)
    if plan is None or plan.kind != "credit_order" or appellant is None:
        return
    for order in plan.orders:
        shop = session.get(Shop, order.shop_id)
        owner = session.get(Member, order.member_id) if order.member_id is not None else None
        if (shop is None or shop.team_id != appellant.team_id
                or (owner is not None and owner.team_id != appellant.team_id)):
            raise UserError("appeal.other_team_order", order=shown(order.platform_order_id, 40), id=appeal.id)


def apply_decision(session: Session, appeal: Appeal, decider: Member, value: Decimal | None,
                   now: datetime, at_shipment: bool = False) -> list[AppealAdjustment]:
    """In the caller's transaction: a partial approval's `value` (not None) overrides the metric's value for the
    appeal's member and month; None applies the proposal. Raises services.errors.UserError("appeal.nothing_to_apply")
    when there is neither, and UserError("appeal.orders_outside_month") when the evidence names an order not counted
    in the appeal's month (`at_shipment`: the organisation counts orders at shipment). Audited (storage/audit.audit,
    actor decider.code, before/after)."""
    if value is not None:
        if not appeal.metric_key:
            raise UserError("appeal.nothing_to_apply")
        plan: _Plan | None = _Plan("override", value=value)
    else:
        check_teams(session, appeal, decider, at_shipment)
        plan = _plan(session, appeal, at_shipment, strict=True)
    if plan is None:
        raise UserError("appeal.nothing_to_apply")
    apply = {"override": _override, "exclude_order": _exclude, "credit_order": _credit, "add_session": _add_session}
    made = apply[plan.kind](session, appeal, decider, plan, now)
    session.flush()
    codes = _codes(session, {appeal.member_id, *losers_of(a for a, _, _ in made)})
    for adjustment, before, after in made:
        # the members it concerns: the appellant, and whoever an order was credited away from
        concerned = [codes[i] for i in (appeal.member_id, adjustment.from_member_id) if i is not None and i in codes]
        audit(session, decider.code, f"appeal.{adjustment.kind}", "appeal_adjustment", str(adjustment.id),
              {"appeal": appeal.id, "member": appeal.member_id, "period": appeal.period, "before": before,
               "after": after, MEMBERS: concerned}, at=now)
    return [a for a, _, _ in made]


_Made = list[tuple[AppealAdjustment, dict[str, object], dict[str, object]]]


def _adjustment(session: Session, appeal: Appeal, decider: Member, kind: str, now: datetime,
                **named: object) -> AppealAdjustment:
    row = AppealAdjustment(appeal_id=appeal.id or 0, member_id=appeal.member_id, period=appeal.period, kind=kind,
                           created_at=now, created_by_member_id=decider.id or 0, **named)
    session.add(row)
    return row


def _override(session: Session, appeal: Appeal, decider: Member, plan: _Plan, now: datetime) -> _Made:
    row = _adjustment(session, appeal, decider, "override", now, metric_key=appeal.metric_key, value=plan.value)
    return [(row, {"metric": appeal.metric_key, "value": _decimal(appeal.value_now)},
             {"metric": appeal.metric_key, "value": _decimal(plan.value)})]


def _exclude(session: Session, appeal: Appeal, decider: Member, plan: _Plan, now: datetime) -> _Made:
    made: _Made = []
    for order in plan.orders:
        row = _adjustment(session, appeal, decider, "exclude_order", now, order_id=order.id)
        made.append((row, {"order": order.platform_order_id, "counted": True},
                     {"order": order.platform_order_id, "counted": False}))
    return made


def _credit(session: Session, appeal: Appeal, decider: Member, plan: _Plan, now: datetime) -> _Made:
    made: _Made = []
    codes = _codes(session, {o.member_id for o in plan.orders if o.member_id is not None} | {appeal.member_id})
    for order in plan.orders:
        shop = session.get(Shop, order.shop_id)
        creator = _own_creator(session, appeal.member_id, shop.platform) if shop is not None else None
        before: dict[str, object] = {"order": order.platform_order_id, "member": codes.get(order.member_id or 0),
                                     "rule": order.credit_rule}
        after: dict[str, object] = {"order": order.platform_order_id, "member": codes.get(appeal.member_id),
                                    "rule": APPEAL_RULE}
        lost_by = order.member_id if order.member_id != appeal.member_id else None
        order.member_id, order.credit_rule, order.live_session_id = appeal.member_id, APPEAL_RULE, None
        if creator is not None:
            before["creator"], after["creator"] = order.creator_id, creator
            order.creator_id, order.attribution_rule = creator, APPEAL_RULE
        session.add(order)
        row = _adjustment(session, appeal, decider, "credit_order", now, order_id=order.id,
                          to_member_id=appeal.member_id, from_member_id=lost_by, creator_id=creator)
        made.append((row, before, after))
    return made


def _add_session(session: Session, appeal: Appeal, decider: Member, plan: _Plan, now: datetime) -> _Made:
    assert plan.shop is not None and plan.session is not None
    zone = ZoneInfo(plan.shop.timezone)
    live = LiveSession(shop_id=plan.shop.id or 0, host_member_id=appeal.member_id,
                       platform_session_id=f"{APPEAL_SESSION_PREFIX}{appeal.id}",
                       title=shown(appeal.reason, 200), started_at=plan.session.start.replace(tzinfo=zone),
                       ended_at=plan.session.end.replace(tzinfo=zone), currency=plan.shop.currency)
    session.add(live)
    session.flush()
    row = _adjustment(session, appeal, decider, "add_session", now, live_session_id=live.id)
    when = {"shop": plan.shop.code, "start": plan.session.start.isoformat(timespec="minutes"),
            "end": plan.session.end.isoformat(timespec="minutes")}
    return [(row, {"session": None}, {"session": live.platform_session_id, **when})]


def _plan(session: Session, appeal: Appeal, at_shipment: bool = False, strict: bool = False) -> _Plan | None:
    """What approving `appeal` as claimed applies. Only orders counted in the appeal's month are taken; with
    `strict` (applying it) an order named but not counted in it refuses the whole (UserError
    appeal.orders_outside_month), else (showing it) such orders are left out."""
    member = session.get(Member, appeal.member_id)
    if member is None:
        return None
    if appeal.category in ("attribution", "refund"):
        orders, outside = _orders(session, member, appeal.evidence, appeal.period, at_shipment)
        if outside and strict:
            raise outside_month(outside, appeal.period)
        if appeal.category == "attribution":   # an order already the appellant's: crediting it changes nothing
            orders = tuple(o for o in orders if o.member_id != member.id)
        if orders:
            return _Plan("credit_order" if appeal.category == "attribution" else "exclude_order", orders=orders)
    if appeal.category == "activity":
        for item in appeal.evidence:
            found = parse_session_evidence(item)
            shop = _shop(session, member.org_id, found.shop) if found is not None else None
            if found is not None and shop is not None and found.end - found.start <= MAX_SESSION:
                return _Plan("add_session", shop=shop, session=found)
    if appeal.value_claimed is not None and appeal.metric_key:
        return _Plan("override", value=appeal.value_claimed)
    return None


def check_orders(session: Session, member: Member, category: str, evidence: list[str], period: str,
                 at_shipment: bool) -> None:
    """At filing: refuse (UserError appeal.orders_outside_month) an attribution or refund appeal naming orders
    of the organisation's shops that are not counted in `period` (in the member's period zone, at payment, or at
    shipment when `at_shipment`): an order is appealed on the month it counts in."""
    if category not in ("attribution", "refund"):
        return
    _, outside = _orders(session, member, evidence, period, at_shipment)
    if outside:
        raise outside_month(outside, period)


def outside_month(orders: tuple[Order, ...], period: str) -> UserError:
    listed = ", ".join(shown(o.platform_order_id, 40) for o in orders[:SHOWN_ORDERS])
    more = len(orders) - SHOWN_ORDERS
    return UserError("appeal.orders_outside_month", orders=listed + (f" (+{more})" if more > 0 else ""),
                     period=period)


def _orders(session: Session, member: Member, evidence: list[str], period: str,
            at_shipment: bool) -> tuple[tuple[Order, ...], tuple[Order, ...]]:
    """The orders of the organisation's shops the evidence names by the platform's order id, in evidence order:
    (those counted in the member's month `period`, those not). Counted: paid (shipped, when the organisation
    counts at shipment) inside the month's window in the member's period zone."""
    ids = list(dict.fromkeys(e.strip() for e in evidence if e.strip()))[:MAX_ORDERS]
    if not ids:
        return (), ()
    found = session.execute(select(Order).join(Shop, Shop.id == Order.shop_id)  # type: ignore[arg-type]
                            .where(Shop.org_id == member.org_id, Order.platform_order_id.in_(ids))  # type: ignore[arg-type,attr-defined]
                            .order_by(Order.id)).scalars().all()
    by_id: dict[str, Order] = {}
    for order in found:   # the same id in two shops: the first stored
        by_id.setdefault(order.platform_order_id, order)
    named = [by_id[i] for i in ids if i in by_id]
    window = month_window(*parse_month(period), member_zone(session, member))

    def counted(order: Order) -> bool:
        moment = counted_at(order, at_shipment)
        return moment is not None and window.start <= moment < window.end

    return tuple(o for o in named if counted(o)), tuple(o for o in named if not counted(o))


def _shop(session: Session, org_id: int, code: str) -> Shop | None:
    return session.execute(select(Shop).where(Shop.org_id == org_id, Shop.code == code)).scalars().first()  # type: ignore[arg-type]


def _own_creator(session: Session, member_id: int, platform: str) -> int | None:
    """The appellant's own creator account on the shop's platform (tiktok_shop -> tiktok), if any."""
    platforms = {platform, platform.removesuffix("_shop")}
    return session.execute(select(Creator.id).where(Creator.member_id == member_id,  # type: ignore[arg-type]
                                                    Creator.platform.in_(platforms))  # type: ignore[attr-defined]
                           .order_by(Creator.id)).scalars().first()


def _codes(session: Session, ids: set[int]) -> dict[int, str]:
    return {mid: code for mid, code in session.execute(select(Member.id, Member.code).where(Member.id.in_(ids)))}  # type: ignore[union-attr]


def _decimal(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize() if value == value.to_integral() else value, "f")

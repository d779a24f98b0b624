"""Appeals: a member disputes one metric of one month; its approver (services.appeal_routing) decides it.

- Filed on the member's current month, or on the previous one while it ended at most [appeals] window_days ago
  (in the member's period zone, scoring.periods.period_zone). The value now is the metric's actual exactly as
  /mykpi scores it (services.scorecards.score_member on that month's window).
- Decided once: the decision is a compare-and-swap (UPDATE ... WHERE id = :id AND status = 'open'), the first
  statement of the transaction that also applies the adjustment and writes the audit row, so of two clicks at once
  exactly one decides and the other is refused with nothing changed.
- Every change is audited (storage.audit) with the acting member's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlmodel import Session

from cards.appeal_cards import AppealFacts, appeal_card
from cards.format import metric_value, money
from cards.i18n import lang_of
from cards.model import Block, Card
from cards.why_card import why_blocks
from scoring.metrics import CATALOG
from scoring.periods import PeriodKind, month_window, parse_month, period_zone, window_for
from scoring.templates import TemplateError
from scoring.text import shown
from services.appeal_adjustments import apply_decision, check_orders, parse_session_evidence, proposal_for
from services.appeal_routing import LEVELS, Route, fits, may_decide, route
from services.container import Services
from services.errors import UserError
from services.month_close import as_of, refinalise
from services.order_amounts import at_shipment, counted_amount, rates, refunded_at_close
from services.scorecards import Inputs, month_key, score_member
from services.why import explain
from storage.adjustments import losers_of, lost_by_appeal
from storage.audit import audit
from storage.audit_read import MEMBERS
from storage.models import APPEAL_CATEGORIES, Appeal, AppealAdjustment, Member, Order, Shop
from storage.month_close import closed
from storage.queries import member_zone, team_of

CATEGORIES = APPEAL_CATEGORIES   # what a member may appeal for (commands read it here, not from storage)

OUTCOMES: dict[str, str] = {"approve": "approved", "partly": "partly_approved", "reject": "rejected"}
REASON_MAX = 2000
EVIDENCE_MAX = 20          # references kept per appeal
EVIDENCE_ITEM_MAX = 200    # characters per reference


@dataclass(frozen=True)
class AppealView:
    """An appeal with the people it concerns, detached from any session (for cards and jobs)."""

    appeal: Appeal
    appellant: Member
    approver: Member | None
    decider: Member | None = None
    unfound: tuple[str, ...] = ()     # filing: evidence references that name no order or session of the store

    @property
    def level_name(self) -> str:
        return LEVELS[min(self.appeal.level, len(LEVELS) - 1)]


def facts(services: Services, shown: AppealView, status: str | None = None,
          now: datetime | None = None, current: Decimal | None = None) -> AppealFacts:
    """What the appeal's cards show; `status` overrides the appeal's (an old approver's copy says "escalated").
    An open appeal says what approving it would change (services.appeal_adjustments.proposal_for); with `now`,
    the metric's value now as well as the value when appealed, and whether it is locked (past its decision window,
    see locked: then no proposal, and the card says it can no longer be decided instead of offering decisions).
    `current`: that value when the caller has scored it already (the why trail's actual), not scored again."""
    a = shown.appeal
    proposal = None
    is_locked = a.status == "open" and status in (None, "open") and now is not None and locked(services, a, now)
    if a.status == "open" and not is_locked:
        with Session(services.engine) as session:
            proposal = proposal_for(session, a, services.rules)
    return AppealFacts(id=a.id or 0, appellant=f"{shown.appellant.name} ({shown.appellant.code})",
                       metric_key=a.metric_key or "", period=a.period, category=a.category, reason=a.reason,
                       evidence=tuple(a.evidence or ()), value_now=a.value_now, value_claimed=a.value_claimed,
                       currency=services.rules.reporting_currency, status=status or a.status,
                       approver=shown.approver.name if shown.approver else None, level=shown.level_name,
                       created_at=a.created_at, decider=shown.decider.name if shown.decider else None,
                       decided_at=a.assigned_at if status == "escalated" else a.decided_at,
                       decided_value=a.decided_value, note=a.decision_note,
                       proposal_key=proposal.key if proposal else None,
                       proposal_values=dict(proposal.values) if proposal else {},
                       value_current=current if current is not None or now is None
                       else current_value(services, shown, now),
                       locked_days=services.appeals.window.days if is_locked else None)


def approver_card(services: Services, shown: AppealView, reader: Member, now: datetime,
                  status: str | None = None) -> Card:
    """The appeal's card as `reader` (an approver) sees it, in their language and zone; while it is open, with the
    metric's why trail (services.why) when the month is still within reach."""
    lang = lang_of(reader.locale)
    why: tuple[Block, ...] = ()
    current: Decimal | None = None
    a = shown.appeal
    if (status or a.status) == "open" and a.metric_key:
        try:
            trail = explain(services, shown.appellant, a.metric_key, a.period, now, viewer=reader)
        except (UserError, TemplateError, LookupError):
            trail = None   # the month is out of reach now, or the metric left the template: the card without it
        if trail is not None:
            why = why_blocks(trail, lang, a.metric_key)
            current = trail.metric(a.metric_key).actual   # scored once: the trail's actual is the value now
    actions = "decide" if can_decide(services, a, reader) else "withdraw" if reader.id == a.member_id else "none"
    return appeal_card(facts(services, shown, status, now, current), lang, reader.timezone, why=why,
                       actions=actions)


def can_decide(services: Services, appeal: Appeal, member: Member) -> bool:
    """services.appeal_routing.may_decide in a session of its own (for commands and cards)."""
    with Session(services.engine) as session:
        return may_decide(session, appeal, member)


def _clean(text: str, size: int) -> str:
    """Text without control characters (a newline becomes a space), at most `size` characters."""
    return "".join(" " if ch in "\r\n\t" else ch for ch in text if ch in "\r\n\t" or ch.isprintable())[:size].strip()


def appeal_months(services: Services, member: Member, team_zone: str | None, now: datetime) -> tuple[str, str | None]:
    """(the current month, the previous month while it may still be appealed, else None), as "YYYY-MM"."""
    zone = period_zone(member.timezone, team_zone)
    current = window_for(PeriodKind.MONTH, now, zone)
    last_day = current.first_day - timedelta(days=1)
    previous = month_key(last_day)
    return month_key(current.first_day), previous if in_window(services, previous, zone, now) else None


def in_window(services: Services, period: str, zone: str, now: datetime) -> bool:
    """At most [appeals] window_days have passed since month `period` ended in `zone` (the member's period zone):
    an appeal of it may still be filed and decided."""
    return now - month_window(*parse_month(period), zone).end <= services.appeals.window


def file_appeal(services: Services, member: Member, metric_key: str, period: str | None, category: str,
                reason: str, evidence: list[str], now: datetime,
                value_claimed: Decimal | None = None) -> AppealView:
    """File `member`'s appeal of `metric_key` in `period` (None: the current month) and assign it. Refused
    (UserError) for a month that may not be appealed, a metric not on the member's template, an empty reason, an
    appeal of the same metric and month already open, evidence naming orders not counted in the month
    (services.appeal_adjustments.check_orders), or nobody to decide it."""
    if category not in APPEAL_CATEGORIES:
        raise UserError("appeal.bad_category", value=category)
    reason = _clean(reason, REASON_MAX)
    if not reason:
        raise UserError("appeal.needs_reason")
    refs = [r for r in (_clean(e, EVIDENCE_ITEM_MAX) for e in evidence) if r][:EVIDENCE_MAX]
    with Session(services.engine, expire_on_commit=False) as session:
        team = team_of(session, member)
        current, previous = appeal_months(services, member, team.timezone if team else None, now)
        month = period or current
        if month not in (current, previous):
            raise UserError("appeal.period_closed", period=month, days=services.appeals.window.days)
        zone = period_zone(member.timezone, team.timezone if team else None)
        # a closed month as it closed (what /mykpi why shows: refunds and FX edits since stay out), else now
        inputs = Inputs.load(session, services.rules, as_of(session, month, now), skip_missing_fx=True)
        score = score_member(session, inputs, member, team, month_window(int(month[:4]), int(month[5:7]), zone))
        if score.problem is not None:
            raise TemplateError(score.problem)
        if score.scorecard is None:
            raise UserError("appeal.no_template")
        keys = [r.metric.key for r in score.scorecard.results]
        key = metric_key.lower()
        if key not in keys:
            raise UserError("appeal.unknown_metric", metric=metric_key, metrics=", ".join(keys))
        if value_claimed is not None:
            check_value(key, value_claimed)
        check_orders(session, member, category, refs, month, at_shipment(services.rules))
        if session.execute(select(Appeal.id).where(Appeal.member_id == member.id, Appeal.metric_key == key,
                                                   Appeal.period == month, Appeal.status == "open")).first():
            raise UserError("appeal.already_open", metric=key, period=month)
        found: Route | None = route(session, member, 0)
        if found is None:
            raise UserError("appeal.no_approver")
        appeal = Appeal(member_id=member.id or 0, metric_key=key, period=month, category=category, reason=reason,
                        evidence=refs, value_now=score.scorecard.result(key).actual, value_claimed=value_claimed,
                        status="open", approver_member_id=found.approver.id, level=found.level, assigned_at=now,
                        created_at=now)
        missing = unfound(session, member.org_id, refs)
        session.add(appeal)
        session.flush()
        audit(session, member.code, "appeal.file", "appeal", str(appeal.id),
              {"after": _state(appeal), "approver": found.approver.code, MEMBERS: [member.code]}, at=now)
        session.commit()
        return AppealView(appeal, member, found.approver, unfound=missing)


def unfound(session: Session, org_id: int, refs: list[str]) -> tuple[str, ...]:
    """The references that are neither a link, an order of the organisation's shops (its platform id) nor a live
    session in the form services.appeal_adjustments.parse_session_evidence names, on a shop of the organisation:
    the receipt names them (filing still succeeds; the approver decides)."""
    plain = [r for r in refs if not r.lower().startswith(("http://", "https://"))]
    sessions = [r for r in plain if r.lower().startswith("live:")]
    ids = [r for r in plain if r not in sessions]
    orders = set(session.execute(select(Order.platform_order_id).join(Shop, Shop.id == Order.shop_id)  # type: ignore[arg-type]
                                 .where(Shop.org_id == org_id, Order.platform_order_id.in_(ids))).scalars()) \
        if ids else set()  # type: ignore[attr-defined]
    shops = set(session.execute(select(Shop.code).where(Shop.org_id == org_id)).scalars())  # type: ignore[arg-type]
    bad_sessions = {r for r in sessions if (found := parse_session_evidence(r)) is None or found.shop not in shops}
    return tuple(r for r in plain if r in bad_sessions or (r in ids and r not in orders))


def check_value(metric_key: str, value: Decimal) -> None:
    """Refuse (UserError appeal.bad_value.*) a value the metric cannot have (scoring.metrics.Metric.fits): a share
    above 100 %, a negative or non-finite number."""
    metric = CATALOG.get(metric_key)
    if metric is None or metric.fits(value):
        return
    shown_as = metric_value(value, metric.unit, "", "en").strip() if value.is_finite() else str(value)
    raise UserError("appeal.bad_value.share" if metric.share and value > 1 else f"appeal.bad_value.{metric.unit.value}",
                    text=shown_as, metric=metric_key)


def scored_value(session: Session, services: Services, member_id: int, metric_key: str | None, period: str,
                 now: datetime) -> Decimal | None:
    """`metric_key`'s actual for the member's month `period` as /mykpi scores it now (in `session`, so with what
    the caller's transaction changed), a closed month as of its close (services.month_close.as_of, as refinalise
    recomputes it: refunds and FX edits since stay out); None when it cannot be scored."""
    member = session.get(Member, member_id)
    if member is None or not metric_key:
        return None
    team = team_of(session, member)
    zone = period_zone(member.timezone, team.timezone if team else None)
    inputs = Inputs.load(session, services.rules, as_of(session, period, now), skip_missing_fx=True)
    try:
        score = score_member(session, inputs, member, team, month_window(int(period[:4]), int(period[5:7]), zone))
    except (TemplateError, LookupError):
        return None
    if score.scorecard is None or metric_key not in [r.metric.key for r in score.scorecard.results]:
        return None
    return score.scorecard.result(metric_key).actual


def current_value(services: Services, shown: AppealView, now: datetime) -> Decimal | None:
    """The appealed metric's value now (cards show it beside the value when appealed)."""
    with Session(services.engine) as session:
        return scored_value(session, services, shown.appeal.member_id, shown.appeal.metric_key, shown.appeal.period,
                            now)


def _state(appeal: Appeal) -> dict[str, Any]:
    """What the audit row records of an appeal."""
    return {"status": appeal.status, "member_id": appeal.member_id, "metric": appeal.metric_key,
            "period": appeal.period, "category": appeal.category,
            "value_now": None if appeal.value_now is None else str(appeal.value_now),
            "value_claimed": None if appeal.value_claimed is None else str(appeal.value_claimed),
            "decided_value": None if appeal.decided_value is None else str(appeal.decided_value),
            "approver_member_id": appeal.approver_member_id, "level": appeal.level}


def view(session: Session, appeal: Appeal) -> AppealView:
    """`appeal` with its people, all detached-safe (loaded now)."""
    appellant = session.get(Member, appeal.member_id)
    assert appellant is not None
    approver = session.get(Member, appeal.approver_member_id) if appeal.approver_member_id else None
    decider = session.get(Member, appeal.decided_by_member_id) if appeal.decided_by_member_id else None
    for row in {id(r): r for r in (appeal, appellant, approver, decider) if r is not None}.values():
        session.refresh(row)
        session.expunge(row)
    return AppealView(appeal, appellant, approver, decider)


def get(services: Services, appeal_id: int) -> AppealView | None:
    with Session(services.engine, expire_on_commit=False) as session:
        appeal = session.get(Appeal, appeal_id)
        return view(session, appeal) if appeal is not None else None


def _cas(session: Session, appeal: Appeal, values: dict[str, Any], same_approver: bool = False) -> bool:
    """Move `appeal` out of "open" (and off its current approver) once: True for the one UPDATE that did it."""
    query = update(Appeal).where(Appeal.id == appeal.id, Appeal.status == "open",  # type: ignore[arg-type]
                                 Appeal.level == appeal.level)  # type: ignore[arg-type]
    if same_approver:   # a move within a level: only from the approver it was seen with
        query = query.where(Appeal.approver_member_id == appeal.approver_member_id)  # type: ignore[arg-type]
    result: CursorResult[Any] = session.execute(query.values(**values))  # type: ignore[assignment]
    return result.rowcount == 1


def _load_open(services: Services, appeal_id: int) -> Appeal:
    with Session(services.engine, expire_on_commit=False) as session:
        appeal = session.get(Appeal, appeal_id)
        if appeal is None:
            raise UserError("appeal.not_found", id=appeal_id)
        if appeal.status != "open":
            raise UserError(f"appeal.already_{appeal.status}", id=appeal_id)
        return appeal


def _lost(session: Session, appeal_id: int) -> UserError:
    """Why a compare-and-swap found nothing to change: decided meanwhile, or moved to another approver."""
    status = session.execute(select(Appeal.status).where(Appeal.id == appeal_id)).scalar_one()  # type: ignore[arg-type]
    return UserError("appeal.moved" if status == "open" else "appeal.already_decided", id=appeal_id)


def locked(services: Services, appeal: Appeal, now: datetime) -> bool:
    """The appeal's month is closed and its decision window is over: more than [appeals] window_days since the
    month ended in the appellant's period zone (the window an appeal of last month may be filed in). An open month
    is never locked: an approval then changes what the close will freeze."""
    with Session(services.engine) as session:
        if closed(session, appeal.period) is None:
            return False
        member = session.get(Member, appeal.member_id)
        if member is None:
            return True
        return not in_window(services, appeal.period, member_zone(session, member), now)


def decide(services: Services, decider: Member, appeal_id: int, outcome: str, value: Decimal | None,
           note: str | None, now: datetime) -> AppealView:
    """Decide an open appeal as `decider` (approve | partly | reject). Refused (UserError) when they may not
    (services.appeal_routing.may_decide), when it is decided or withdrawn already, when a reject has no reason or
    a partial approval no value, and when its month is locked (locked: the month is closed and more than
    [appeals] window_days have passed since it ended in the appellant's period zone; appeal.period_locked, which a
    click shows as a refusal in place); then nothing changes."""
    if outcome not in OUTCOMES:
        raise UserError("appeal.bad_outcome", value=outcome)
    note = _clean(note or "", REASON_MAX) or None
    if outcome == "reject" and not note:
        raise UserError("appeal.reject_needs_reason", id=appeal_id)
    if outcome == "partly" and value is None:
        raise UserError("appeal.partly_needs_value", id=appeal_id)
    seen = _load_open(services, appeal_id)
    if not can_decide(services, seen, decider):
        raise UserError("appeal.own_appeal" if decider.id == seen.member_id else "appeal.not_yours", id=appeal_id)
    if value is not None and seen.metric_key:
        check_value(seen.metric_key, value)
    if locked(services, seen, now):
        raise UserError("appeal.period_locked", id=appeal_id, period=seen.period, days=services.appeals.window.days)
    status = OUTCOMES[outcome]
    decided_value = value if outcome == "partly" else (seen.value_claimed if outcome == "approve" else None)
    with Session(services.engine, expire_on_commit=False) as session:
        # the UPDATE is the transaction's first statement: on SQLite it takes the write lock before anything is read
        if not _cas(session, seen, {"status": status, "decided_by_member_id": decider.id,
                                    "decided_value": decided_value, "decision_note": note, "decided_at": now}):
            session.rollback()
            raise _lost(session, appeal_id)
        appeal = session.get(Appeal, appeal_id)
        assert appeal is not None
        session.refresh(appeal)
        made: list[AppealAdjustment] = []
        if outcome in ("approve", "partly"):
            try:   # in the decision's transaction: no decision without its adjustment
                made = apply_decision(session, appeal, decider, value if outcome == "partly" else None, now,
                                      at_shipment(services.rules))
            except UserError:
                session.rollback()
                raise
            if any(m.kind != "override" for m in made):   # what the month scores now, never the claim
                appeal.decided_value = scored_value(session, services, appeal.member_id, appeal.metric_key,
                                                    appeal.period, now)
                session.add(appeal)
                session.flush()
            if closed(session, appeal.period) is not None:   # a closed month changes only here: its finals move
                appellant = session.get(Member, appeal.member_id)
                assert appellant is not None
                # the members an order was credited away from: their finals and pay move too
                others = [m for i in losers_of(made) if (m := session.get(Member, i)) is not None]
                refinalise(session, services, appellant, appeal.period, now, decider.code, appeal.id, others)
        before = {**_state(seen)}
        audit(session, decider.code, f"appeal.{outcome}", "appeal", str(appeal_id),
              {"before": before, "after": _state(appeal), "note": note,
               MEMBERS: _concerned(session, appeal.member_id, made)}, at=now)
        session.commit()
        return view(session, appeal)


def _concerned(session: Session, appellant_id: int, made: list[AppealAdjustment]) -> list[str]:
    """The codes of the members a decision concerns (its audit row's MEMBERS): the appellant first, then whoever
    an order was credited away from."""
    ids = [appellant_id, *(i for i in losers_of(made) if i != appellant_id)]
    codes = {i: c for i, c in session.execute(select(Member.id, Member.code).where(Member.id.in_(ids)))}  # type: ignore[union-attr]
    return [codes[i] for i in ids if i in codes]


def withdraw(services: Services, member: Member, appeal_id: int, now: datetime) -> AppealView:
    """The appellant withdraws their open appeal."""
    seen = _load_open(services, appeal_id)
    if seen.member_id != member.id:
        raise UserError("appeal.not_your_appeal", id=appeal_id)
    with Session(services.engine, expire_on_commit=False) as session:
        if not _cas(session, seen, {"status": "withdrawn", "decided_at": now}):
            session.rollback()
            raise _lost(session, appeal_id)
        appeal = session.get(Appeal, appeal_id)
        assert appeal is not None
        session.refresh(appeal)
        audit(session, member.code, "appeal.withdraw", "appeal", str(appeal_id),
              {"before": _state(seen), "after": _state(appeal), MEMBERS: [member.code]}, at=now)
        session.commit()
        return view(session, appeal)


def escalate(services: Services, appeal_id: int, now: datetime) -> AppealView | None:
    """Climb one level (bot.jobs.appeals): the next approver above the current level. None when it is no longer
    open, is locked (past its decision window), was moved meanwhile, or there is nobody above."""
    return _move(services, appeal_id, now, 1, "appeal.escalate")


def reroute(services: Services, appeal_id: int, now: datetime) -> AppealView | None:
    """Move an open appeal whose approver no longer fits its level (demoted, moved to another team, deactivated:
    services.appeal_routing.fits) to whoever is on that level now, or the first level above with someone (bot.jobs.
    appeals). None when the approver still fits, it is not open, it is locked, or there is nobody else."""
    with Session(services.engine) as session:
        seen = session.get(Appeal, appeal_id)
        approver = session.get(Member, seen.approver_member_id) if seen and seen.approver_member_id else None
        if seen is None or seen.status != "open" or (approver is not None and fits(session, seen, approver)):
            return None
    return _move(services, appeal_id, now, 0, "appeal.reroute")


def _move(services: Services, appeal_id: int, now: datetime, up: int, action: str) -> AppealView | None:
    with Session(services.engine, expire_on_commit=False) as session:
        seen = session.get(Appeal, appeal_id)
        appellant = session.get(Member, seen.member_id) if seen is not None else None
        if seen is None or appellant is None or seen.status != "open" or locked(services, seen, now):
            return None   # a locked appeal can no longer be decided: nobody else is asked to
        found = route(session, appellant, seen.level + up)
        if found is None or found.approver.id == seen.approver_member_id:
            return None
        before = _state(seen)
        session.expunge(seen)
        if not _cas(session, seen, {"approver_member_id": found.approver.id, "level": found.level,
                                    "assigned_at": now, "reminded_at": None}, same_approver=True):
            session.rollback()
            return None
        appeal = session.get(Appeal, appeal_id)
        assert appeal is not None
        session.refresh(appeal)
        audit(session, None, action, "appeal", str(appeal_id),
              {"before": before, "after": _state(appeal), MEMBERS: [appellant.code]}, at=now)
        session.commit()
        return view(session, appeal)


def losers(services: Services, appeal_id: int) -> list[tuple[Member, list[str]]]:
    """The members an approved appeal took credited orders from, each with those orders ("O-3 (1,400.00 USD)": the
    amount as the order metrics count it, services.order_amounts.counted_amount), detached: bot.jobs.appeals tells
    each of them privately, once."""
    with Session(services.engine, expire_on_commit=False) as session:
        fx = rates(session)
        lost: dict[int, list[str]] = {}
        appeal = session.get(Appeal, appeal_id)
        period = appeal.period if appeal is not None else ""
        for gone in lost_by_appeal(session, appeal_id):   # a closed month's amount as of its close
            amount = money(*counted_amount(gone.order, services.rules, fx,
                                           refunded_minor=refunded_at_close(session, gone.order, period)))
            lost.setdefault(gone.from_member_id, []).append(f"{shown(gone.order.platform_order_id, 40)} ({amount})")
        out = []
        for member_id, orders in lost.items():
            member = session.get(Member, member_id)
            if member is not None:
                session.expunge(member)
                out.append((member, orders))
        return out


def open_for(services: Services, approver: Member, now: datetime) -> list[AppealView]:
    """The open appeals `approver` may decide at `now`, oldest first: those assigned to them, and every one for an
    admin (never their own). A locked appeal (past its decision window) is left out: nothing can be done with it
    (/appeal show ID still shows it, saying so)."""
    with Session(services.engine, expire_on_commit=False) as session:
        query = select(Appeal).where(Appeal.status == "open", Appeal.member_id != approver.id)  # type: ignore[arg-type]
        rows = [a for a in session.execute(query.order_by(Appeal.created_at, Appeal.id)).scalars()
                if may_decide(session, a, approver) and not locked(services, a, now)]
        return [view(session, a) for a in rows]

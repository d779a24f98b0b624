"""Closing a month (`kpibot month close YYYY-MM`): commission is closed (services.commission.close_month) and
every member's final score of the month is frozen in final_score, with a month_close row, in one transaction.

A final score is the member's month scored as /mykpi and /rank score it (services.scorecards.score_member on the
member's period window, ranked with rank_in among their team), so one person has one number. A closed month then
changes only through an approved appeal: refinalise recomputes the member's team as it closed (the members frozen
with it, ranked among themselves) as of the close and records what that member's paid commission changes as a
correction (the payout stays as paid). An approval that credits an order away from another member (attribution)
does the same for that member: their team as it closed is recomputed, their final row lists the order as
"credited_away", and what their paid commission loses is a correction of theirs. Each correction measures the
member as the month closed: the team and zone of their frozen row, not where they are now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from scoring.commission import paid_amount
from scoring.fx import FxTable
from scoring.money import to_minor
from scoring.periods import month_window, parse_month, period_zone
from scoring.rules import Rules
from services.commission import Closing, NoPlanInForce, close_month, measure, month_over
from services.container import Services
from services.order_amounts import counted_amount, refunded_at_close
from services.scorecards import Inputs, MemberScore, rank_in, score_members
from storage.adjustments import LostOrder, lost_orders
from storage.audit import audit
from storage.audit_read import MEMBERS
from storage.commission import corrected_minor, payout_for, plan_from_snapshot
from storage.models import Appeal, CommissionCorrection, FinalScore, Member, MonthClose, Team
from storage.month_close import closed
from storage.queries import all_members, member_zone, team_members

APPROVED = ("approved", "partly_approved")


class CommissionNotClosed(Exception):
    """Some members' commission could not be closed (a missing FX rate): the month is not closed at all."""

    def __init__(self, failed: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{code}: {why}" for code, why in failed))
        self.failed = failed


@dataclass(frozen=True)
class MonthClosed:
    period: str
    already: bool                 # it was closed before: nothing changed
    closed_at: datetime
    closed_by: str
    scores: int = 0               # final scores frozen
    payouts: int = 0              # commission payouts recorded now
    no_plan: bool = False         # no commission plan in force that month: scores frozen, nothing paid
    open_appeals: tuple[OpenAppeal, ...] = ()   # of the month, still undecided: an approval will refinalise it


@dataclass(frozen=True)
class OpenAppeal:
    id: int
    member: str                   # member code
    metric: str | None            # None: the appeal names no metric
    opened: datetime


def open_appeals(session: Session, period: str) -> tuple[OpenAppeal, ...]:
    """The month's appeals still open, oldest first: they may be decided until [appeals] window_days after the
    month ended in the appellant's period zone (services.appeals.locked; services.appeals.decide refuses later),
    and an approval then refinalises the month."""
    rows = session.execute(select(Appeal, Member.code).join(Member, Member.id == Appeal.member_id).where(
        Appeal.period == period, Appeal.status == "open").order_by(Appeal.id)).all()
    return tuple(OpenAppeal(a.id or 0, code, a.metric_key, a.created_at) for a, code in rows)


def month_scores(session: Session, inputs: Inputs, team: Team | None, year: int, month: int,
                 members: list[Member] | None = None) -> list[MemberScore]:
    """Every active member of `team` (or `members`, teamless) scored on the month in their period zone, as
    team_scores scores the current month."""
    people = members if members is not None else team_members(session, team.id or 0) if team else []
    tz = team.timezone if team else None
    return score_members(session, inputs, team, [(m, month_window(year, month, period_zone(m.timezone, tz)))
                                                 for m in people])


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _metrics(score: MemberScore) -> list[dict[str, Any]]:
    card = score.scorecard
    assert card is not None
    judged = sum((r.weight for r in card.results if r.scored is not None), Decimal(0))
    return [{"key": r.metric.key, "weight": str(r.weight), "actual": _text(r.actual), "target": _text(r.target),
             "achievement": _text(r.achievement),
             "points": None if r.scored is None or not judged
             else str((r.weight * r.scored / judged * 100).quantize(Decimal("0.01")))}
            for r in card.results]


def adjustments(session: Session, member_id: int, period: str, rules: Rules, fx: FxTable) -> list[dict[str, Any]]:
    """The member's approved (or partly approved) appeals of the month: what changed their score; then the orders
    other members' appeals credited away from them (status "credited_away", with "order" and "to", and as
    "value" the order's amount as the order metrics count it, negative: services.order_amounts.counted_amount, in
    the reporting currency, net of refunds when the organisation nets them: for a closed month, those completed by
    its close)."""
    rows = session.execute(select(Appeal).where(Appeal.member_id == member_id, Appeal.period == period,
                                                Appeal.status.in_(APPROVED))  # type: ignore[attr-defined]
                           .order_by(Appeal.id)).scalars()
    mine = [{"appeal": a.id, "status": a.status, "metric": a.metric_key, "value": _text(a.decided_value),
             "note": a.decision_note} for a in rows]
    return mine + [_lost(session, gone, rules, fx, period) for gone in lost_orders(session, member_id, period)]


def _lost(session: Session, gone: LostOrder, rules: Rules, fx: FxTable, period: str) -> dict[str, Any]:
    amount, currency = counted_amount(gone.order, rules, fx, refunded_minor=refunded_at_close(session, gone.order,
                                                                                              period))
    return {"appeal": gone.appeal_id, "status": "credited_away", "metric": gone.metric_key,
            "value": f"{-amount} {currency}", "note": None, "order": gone.order.platform_order_id, "to": gone.to_code}


def final_rows(session: Session, scores: list[MemberScore], period: str, now: datetime,
               inputs: Inputs) -> list[FinalScore]:
    """The final_score rows of one team's (or one teamless member's) scores: members without a KPI template or
    with a broken one have no score and no row, as /rank leaves them out. `inputs`: the rules and rates the
    scores were computed with (an order credited away is valued with them)."""
    out = []
    for s in scores:
        if s.scorecard is None:
            continue
        position = rank_in(scores, s.member)
        out.append(FinalScore(
            period=period, member_id=s.member.id or 0, team_id=s.member.team_id, role=s.member.role,
            template_name=s.scorecard.template.name, score=s.scorecard.score, grade=s.scorecard.grade,
            rank=position[0] if position else None, rank_of=position[1] if position else None, trial=s.trial,
            metrics=_metrics(s), adjustments=adjustments(session, s.member.id or 0, period, inputs.rules, inputs.fx),
            computed_at=now))
    return out


def month_rows(session: Session, inputs: Inputs, teams: Iterable[Team], teamless: Iterable[Member], year: int,
               month: int) -> list[FinalScore]:
    """The month's final score rows as the views score it now, team by team (ranked within each), then each
    teamless member alone; not added to the session. What the close freezes and the export shows of an open month."""
    period = f"{year:04d}-{month:02d}"
    rows: list[FinalScore] = []
    for team in teams:
        rows += final_rows(session, month_scores(session, inputs, team, year, month), period, inputs.now, inputs)
    for m in teamless:
        rows += final_rows(session, month_scores(session, inputs, None, year, month, [m]), period, inputs.now,
                           inputs)
    return rows


def freeze(session: Session, inputs: Inputs, year: int, month: int) -> list[FinalScore]:
    """Every active member's final score of the month, added to the session (no commit)."""
    rows = month_rows(session, inputs, session.execute(select(Team).order_by(Team.code)).scalars(),
                      [m for m in all_members(session) if m.team_id is None and m.active], year, month)
    session.add_all(rows)
    return rows


def close(services: Services, year: int, month: int, now: datetime, actor: str) -> MonthClosed:
    """Close the month: commission first (as `kpibot commission close`), then the final scores, then the
    month_close row, audited as month.close, all committed together. Raises MonthNotOver before the month is over
    in every member's zone and CommissionNotClosed when a member's payout cannot be made; nothing changes then."""
    period = f"{year:04d}-{month:02d}"
    with Session(services.engine) as session:
        done = closed(session, period)
        if done is not None:
            return MonthClosed(period, True, done.closed_at, done.closed_by, open_appeals=open_appeals(session, period))
        month_over(session, all_members(session), year, month, now)
        try:
            closing: Closing | None = close_month(session, Inputs.load(session, services.rules, now), year, month)
        except NoPlanInForce:
            closing = None
        if closing is not None and closing.failed:
            session.rollback()
            raise CommissionNotClosed(closing.failed)
        # the scores as the views compute them (their inputs: an amount with no rate at all is left out)
        rows = freeze(session, Inputs.load(session, services.rules, now, skip_missing_fx=True), year, month)
        session.add(MonthClose(period=period, closed_at=now, closed_by=actor))
        paid = len(closing.paid) if closing else 0
        audit(session, actor, "month.close", "month", period,
              {"final_scores": len(rows), "payouts": paid, "commission": "closed" if closing else "no plan"}, now)
        pending = open_appeals(session, period)
        session.commit()
    return MonthClosed(period, False, now, actor, len(rows), paid, closing is None, pending)


def _shown(row: FinalScore) -> dict[str, Any]:
    return {"score": _text(row.score), "grade": row.grade, "rank": row.rank, "rank_of": row.rank_of}


def as_of(session: Session, period: str, now: datetime) -> datetime:
    """The moment a view computes `period` as of: its close for a closed month (what final_score froze), else
    `now`."""
    done = closed(session, period)
    return now if done is None else done.closed_at


def refinalise(session: Session, services: Services, member: Member, period: str, now: datetime,
               actor: str, appeal_id: int | None = None, others: Iterable[Member] = ()) -> None:
    """Recompute a closed month's final scores of the member's team as it closed (the members whose frozen rows
    carry the member's frozen team, ranked among themselves; a teamless member alone; nobody added) as of the
    month's close, so only what the approved appeal changed moves them (refunds and FX edits since stay out, as
    they stay out of what was paid); an order paid in the month but first synced after the
    close is counted (orders carry no time of arrival). The same for `others` the appeal also moved (the members
    an order was credited away from), each team recomputed once. Payouts stay as paid: each member's difference is
    a commission_correction row. Audited before and after; in the caller's transaction, no commit. ValueError when
    the month is not closed."""
    done = closed(session, period)
    if done is None:
        raise ValueError(f"{period} is not closed")
    rescored: set[int] = set()
    for who in (member, *others):
        if who.id not in rescored:
            rescored |= _refreeze(session, services, who, period, done.closed_at, now, actor)
        _correct(session, services, who, period, done.closed_at, now, actor, appeal_id)
    session.flush()


def _refreeze(session: Session, services: Services, member: Member, period: str, closed_at: datetime,
              now: datetime, actor: str) -> set[int]:
    """The final scores of the member's team as it closed computed again as of the close, audited; the ids
    rescored. The team as it closed is the members whose frozen rows carry the team the member's frozen row
    carries (a teamless member: the member alone), each scored with the team and role frozen and ranked among
    them only: whoever left or was deactivated since keeps a row, whoever joined since gets none. A member with no
    frozen row of the month is not added (nothing rescored)."""
    own = session.execute(select(FinalScore).where(FinalScore.period == period,
                                                   FinalScore.member_id == member.id)).scalars().first()
    if own is None:
        return set()
    year, month = parse_month(period)
    team = session.get(Team, own.team_id) if own.team_id is not None else None
    where = FinalScore.team_id == own.team_id if own.team_id is not None else FinalScore.member_id == member.id
    old = session.execute(select(FinalScore).where(FinalScore.period == period, where)  # type: ignore[arg-type]
                          .order_by(FinalScore.member_id)).scalars().all()
    people = [_as_closed(session, row) for row in old]
    inputs = Inputs.load(session, services.rules, closed_at, skip_missing_fx=True)
    scores = month_scores(session, inputs, team, year, month, [p for p in people if p is not None])
    new = final_rows(session, scores, period, now, inputs)
    replaced = {r.member_id for r in new}
    stale = [r for r in old if r.member_id in replaced]
    before = {r.member_id: _shown(r) for r in stale}
    for row in stale:
        session.delete(row)
    session.flush()
    session.add_all(new)
    after = {r.member_id: _shown(r) for r in new}
    codes = {m.id: m.code for m in session.execute(select(Member).where(
        Member.id.in_(set(before) | set(after)))).scalars()}  # type: ignore[union-attr]
    moved = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    concerned = list(dict.fromkeys([member.code, *(codes.get(k, str(k)) for k in moved)]))
    audit(session, actor, "final_score.refinalise", "final_score", f"{period}:{member.code}",
          {"period": period, "member": member.code,
           "before": {codes.get(k, str(k)): v for k, v in before.items()},
           "after": {codes.get(k, str(k)): v for k, v in after.items()},
           MEMBERS: concerned}, now)   # the appellant and everyone whose final score or rank moved
    return replaced


def _as_closed(session: Session, row: FinalScore) -> Member | None:
    """The member of a frozen row as the month closed (its team and role), detached: scoring it never writes."""
    member = session.get(Member, row.member_id)
    if member is None:
        return None
    fields = {name: getattr(member, name) for name in Member.model_fields}
    return Member(**{**fields, "team_id": row.team_id, "role": row.role})


def _closed_member(session: Session, member: Member, period: str) -> Member:
    """The member as month `period` closed (their frozen row's team and role, detached); without a frozen row (no
    template then), the member as they are."""
    own = session.execute(select(FinalScore).where(FinalScore.period == period,  # type: ignore[arg-type]
                                                   FinalScore.member_id == member.id)).scalars().first()
    return (_as_closed(session, own) if own is not None else None) or member


def _correct(session: Session, services: Services, member: Member, period: str, closed_at: datetime,
             now: datetime, actor: str, appeal_id: int | None) -> CommissionCorrection | None:
    """The member's paid month measured again as of its close under the plan it was paid under, as the month
    closed: with the team of their frozen final row and its zone (_as_closed), not the team they are in now; what
    it earns beyond (or short of) what was paid and corrected so far is a new correction, audited. The payout row,
    and the clawbacks it took for earlier months, stay as booked. None: nothing paid, or nothing changed."""
    paid = payout_for(session, member.id or 0, period)
    if paid is None:
        return None
    plan = plan_from_snapshot(paid.plan)
    then = _closed_member(session, member, period)
    window = month_window(*parse_month(period), member_zone(session, then))
    basis, _, _ = measure(session, Inputs.load(session, services.rules, closed_at), then, window, plan, paid.role)
    earns = to_minor(paid_amount(plan, basis), paid.currency)
    before = paid.earned_minor + corrected_minor(session, member.id or 0, period)
    if earns == before:
        return None
    row = CommissionCorrection(member_id=member.id or 0, period=period, appeal_id=appeal_id, basis_amount=basis,
                               amount_minor=earns - before, currency=paid.currency, at=now, by=actor)
    session.add(row)
    session.flush()
    audit(session, actor, "commission_correction.add", "commission_correction", f"{period}:{member.code}",
          {"period": period, "member": member.code, "appeal": appeal_id, "currency": paid.currency,
           "basis_paid": str(paid.basis_amount), "basis_now": str(basis), "earned_before_minor": before,
           "earned_after_minor": earns, "correction_minor": earns - before, MEMBERS: [member.code]}, now)
    return row

"""The appeals job, every tick (bot.scheduler): escalate, deliver, update copies, tell, remind.

- Re-routing: an open appeal whose approver no longer fits its level (services.appeal_routing.fits: a lead
  demoted or moved to another team) goes to whoever fits now (services.appeals.reroute, audited appeal.reroute);
  the new approver gets the card and the old copies are updated as for an escalation.
- Escalation: an appeal open longer than [appeals] escalate_after at its level climbs one
  (services.appeals.escalate); its new approver gets the card, the old copies say it was escalated.
- Delivery: an open appeal's card goes privately to its approver on every platform they are bound on, claimed per
  appeal and level (storage.schedule, kind appeal_card) so replicas send it once; each sent copy's reference is
  stored (storage.models.AppealMessage) with the state it shows.
- Copies: a copy whose state differs from what it should show now (decided, withdrawn, escalated) is updated in
  place; the state is moved by a compare-and-swap first, so one replica updates it.
- The appellant is told of a decision once (claim appeal_told); so is each member an approval took a credited
  order from (claim appeal_lost, per member).
- Reminders: an approver with an appeal open longer than remind_after is reminded at most once a day (claim per
  approver and local day), never in the [alerts] quiet hours of their zone.
- Locked appeals (services.appeals.locked: the month is closed and its decision window is over) can no longer be
  decided: they are not delivered, reminded of, escalated or re-routed (services.appeals refuses the moves), and
  their copies are updated in place to say so, without decision buttons (state "locked").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlmodel import Session

from cards.appeal_cards import lost_card, reminder_card, told_card
from cards.i18n import lang_of
from cards.model import Card
from scoring.alerts import in_quiet_hours
from services.appeals import AppealView, approver_card, escalate, facts, locked, losers, reroute, view
from services.container import Services
from services.messaging import Messenger, bound_platforms, send_private
from storage.models import Appeal, AppealMessage, Member
from storage.schedule import claim_send, finish_send, send_key

log = logging.getLogger(__name__)
CARD, TOLD, REMIND, LOST = "appeal_card", "appeal_told", "appeal_remind", "appeal_lost"
TELL_WITHIN = timedelta(days=30)   # decisions older than this are not looked at again


def run_appeals(services: Services, messengers: Mapping[str, Messenger], now: datetime, instance: str) -> None:
    rules = services.appeals
    for appeal_id in _open_ids(services, now):   # an approver who no longer fits their level: moved on
        if reroute(services, appeal_id, now) is not None:
            log.info("appeal %s moved: its approver no longer fits", appeal_id)
    for appeal_id in _open_ids(services, now - rules.escalate_after):
        if escalate(services, appeal_id, now) is not None:
            log.info("appeal %s escalated", appeal_id)
    for shown in _views(services, select(Appeal).where(Appeal.status == "open")):  # type: ignore[arg-type]
        if not locked(services, shown.appeal, now):
            deliver(services, messengers, shown, now, instance)
    update_copies(services, messengers, now)
    recent = select(Appeal).where(Appeal.status.in_(("approved", "partly_approved", "rejected")),  # type: ignore
                                  Appeal.decided_at >= now - TELL_WITHIN)  # type: ignore[operator]
    for shown in _views(services, recent):
        tell(services, messengers, shown, now, instance)
        tell_losers(services, messengers, shown, now, instance)
    remind(services, messengers, now, instance)


def _open_ids(services: Services, assigned_before: datetime) -> list[int]:
    with Session(services.engine) as session:
        return [i for i in session.execute(select(Appeal.id).where(
            Appeal.status == "open", Appeal.assigned_at <= assigned_before)).scalars()]  # type: ignore[arg-type]


def _views(services: Services, query: object) -> list[AppealView]:
    with Session(services.engine, expire_on_commit=False) as session:
        return [view(session, a) for a in session.execute(query).scalars().all()]  # type: ignore[call-overload]


def card_for(services: Services, shown: AppealView, reader: Member, now: datetime, state: str | None = None) -> Card:
    return approver_card(services, shown, reader, now, state)


def deliver(services: Services, messengers: Mapping[str, Messenger], shown: AppealView, now: datetime,
            instance: str) -> None:
    """The open appeal's card to its approver on each platform they are bound on, once per approver and level."""
    appeal, approver = shown.appeal, shown.approver
    if approver is None:
        return
    # the approver is in the claim: a move to another approver of the same level on the same day is a new send
    subject, day = f"appeal:{appeal.id}:{appeal.level}:{approver.id}", appeal.assigned_at.date()
    if not claim_send(services.engine, CARD, subject, day, instance, now):
        return
    card = card_for(services, shown, approver, now)
    sent = 0
    for platform, user_id in bound_platforms(services.engine, messengers, approver):
        ref = messengers[platform].deliver_to_user(user_id, card, f"{send_key(CARD, subject, day)}|{platform}")
        if ref is None:
            continue
        sent += 1
        if ref:
            with Session(services.engine) as session:
                session.add(AppealMessage(appeal_id=appeal.id or 0, member_id=approver.id or 0, platform=platform,
                                          receiver=user_id, ref=ref, state=f"open:{appeal.level}", updated_at=now))
                session.commit()
    finish_send(services.engine, CARD, subject, day, instance, now, None if sent else "no connected platform took it")


def _should_show(appeal: Appeal, copy: AppealMessage, is_locked: bool = False) -> str:
    if appeal.status != "open":
        return appeal.status
    if copy.member_id != appeal.approver_member_id:
        return "escalated"
    return "locked" if is_locked else f"open:{appeal.level}"


def update_copies(services: Services, messengers: Mapping[str, Messenger], now: datetime) -> None:
    """Every stored copy whose state is not what its appeal shows now, updated in place (one replica: the state
    moves by compare-and-swap before the update). Copies of open appeals and of those decided within TELL_WITHIN:
    the read does not grow with every appeal ever filed."""
    with Session(services.engine, expire_on_commit=False) as session:
        rows = session.execute(select(AppealMessage, Appeal).join(Appeal, Appeal.id == AppealMessage.appeal_id)
                               .where(AppealMessage.platform.in_(list(messengers)),  # type: ignore[attr-defined]
                                      or_(Appeal.status == "open",  # type: ignore[arg-type]
                                          Appeal.decided_at >= now - TELL_WITHIN))).all()  # type: ignore[operator]
        shut = {a.id for _, a in rows if a.status == "open" and locked(services, a, now)}
        shown = [(copy, appeal, _should_show(appeal, copy, appeal.id in shut)) for copy, appeal in rows]
        stale = [(copy, appeal, state) for copy, appeal, state in shown if copy.state != state]
        readers = {m.id: m for m in session.execute(select(Member).where(
            Member.id.in_([c.member_id for c, _, _ in stale]))).scalars()}  # type: ignore[union-attr]
        views = {a.id: view(session, session.get(Appeal, a.id)) for _, a, _ in stale}  # type: ignore[arg-type]
    for copy, appeal, state in stale:
        with Session(services.engine) as session:
            moved = session.execute(update(AppealMessage).where(
                AppealMessage.id == copy.id, AppealMessage.state == copy.state)  # type: ignore[arg-type]
                .values(state=state, updated_at=now)).rowcount  # type: ignore[attr-defined]
            session.commit()
        if moved != 1:
            continue
        reader = readers[copy.member_id]
        card = card_for(services, views[appeal.id], reader, now, "escalated" if state == "escalated" else None)
        if not messengers[copy.platform].update_for_user(copy.receiver, copy.ref, card):
            with Session(services.engine) as session:   # let a later tick try again
                session.execute(update(AppealMessage).where(AppealMessage.id == copy.id)  # type: ignore[arg-type]
                                .values(state=copy.state))
                session.commit()


def tell(services: Services, messengers: Mapping[str, Messenger], shown: AppealView, now: datetime,
         instance: str) -> None:
    """The appellant hears of the decision privately, once."""
    appeal = shown.appeal
    subject, day = f"appeal:{appeal.id}", (appeal.decided_at or now).date()
    if not claim_send(services.engine, TOLD, subject, day, instance, now):
        return
    member = shown.appellant
    card = told_card(facts(services, shown), lang_of(member.locale), member.timezone)
    ok = send_private(services.engine, messengers, member, card, send_key(TOLD, subject, day))
    finish_send(services.engine, TOLD, subject, day, instance, now, None if ok else "no connected platform took it")


def tell_losers(services: Services, messengers: Mapping[str, Messenger], shown: AppealView, now: datetime,
                instance: str) -> None:
    """Each member an approved appeal took orders from hears of it privately, once (claim appeal_lost)."""
    if shown.appeal.status not in ("approved", "partly_approved"):
        return
    for member, orders in losers(services, shown.appeal.id or 0):
        subject, day = f"appeal:{shown.appeal.id}:{member.id}", (shown.appeal.decided_at or now).date()
        if not claim_send(services.engine, LOST, subject, day, instance, now):
            continue
        card = lost_card(facts(services, shown), orders, lang_of(member.locale))
        ok = send_private(services.engine, messengers, member, card, send_key(LOST, subject, day))
        finish_send(services.engine, LOST, subject, day, instance, now,
                    None if ok else "no connected platform took it")


def remind(services: Services, messengers: Mapping[str, Messenger], now: datetime, instance: str) -> None:
    """Each approver with appeals open longer than remind_after: one reminder a day, outside their quiet hours.
    Locked appeals do not count: they can no longer be decided."""
    rules = services.appeals
    with Session(services.engine, expire_on_commit=False) as session:
        waiting = [a for a in session.execute(select(Appeal).where(
            Appeal.status == "open", Appeal.assigned_at <= now - rules.remind_after)).scalars()  # type: ignore[arg-type]
            if not locked(services, a, now)]
        counts: dict[int, int] = {}
        ids: dict[int, list[int]] = {}
        for a in waiting:
            if a.approver_member_id is not None:
                counts[a.approver_member_id] = counts.get(a.approver_member_id, 0) + 1
                ids.setdefault(a.approver_member_id, []).append(a.id or 0)
        approvers = [m for m in session.execute(select(Member).where(
            Member.id.in_(list(counts)))).scalars()]  # type: ignore[union-attr]
    for approver in approvers:
        local = now.astimezone(ZoneInfo(approver.timezone))
        if in_quiet_hours(local.time(), services.alerts):
            continue
        subject = f"member:{approver.id}"
        if not claim_send(services.engine, REMIND, subject, local.date(), instance, now):
            continue
        card = reminder_card(counts[approver.id or 0], rules.remind_after.days, lang_of(approver.locale))
        ok = send_private(services.engine, messengers, approver, card, send_key(REMIND, subject, local.date()))
        with Session(services.engine) as session:
            session.execute(update(Appeal).where(Appeal.status == "open",  # type: ignore[arg-type]
                                                 Appeal.approver_member_id == approver.id,
                                                 Appeal.id.in_(ids[approver.id or 0]))  # type: ignore[union-attr]
                            .values(reminded_at=now))
            session.commit()
        finish_send(services.engine, REMIND, subject, local.date(), instance, now,
                    None if ok else "no connected platform took it")

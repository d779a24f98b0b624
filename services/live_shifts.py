"""Shifts a host tells in chat: `/live start [SHOP]` puts them on air for a shop's own account now, `/live end`
closes the shift (commands.live calls both). A shift is roster data (storage.models.LiveRoster, ended_at empty
while it is open), so it credits orders exactly as a line of `kpibot lives roster import` does (rule `roster`,
scoring.crediting).

A shift left open counts as ending at the next shift's start on its shop, by anyone, and at most `Services.max_shift`
after its start ([attribution] max_shift_hours; scoring.crediting.shifts_of); it is stored so when its host next
runs /live start or /live end, when another member goes on air for the same shop (the handover: their /live start
closes it now and says so, and the host's next /live end says who took over: live.taken_over, read from the roster,
as their shift's end is the other's start), or when the refresh job runs (close_overdue).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from scoring.crediting import CreditRule
from scoring.roles import Role, UnknownRole
from scoring.text import SHOWN_MAX
from services.container import Services
from services.crediting import credit_shops
from services.errors import UserError
from storage.models import LiveRoster, Member, Order, Shop

NAME_MAX = SHOWN_MAX   # characters of a shop code or of what was typed that a reply repeats
MIN_SHIFT = timedelta(minutes=1)   # a shift ended sooner is dropped (live.cancelled)


@dataclass(frozen=True)
class Started:
    shop: str                      # the shop's code
    started_at: datetime
    closed: Ended | None           # the caller's forgotten shift, closed at the maximum first
    took_over: tuple[TookOver, ...] = ()   # other members' shifts on the shop still open, closed now


@dataclass(frozen=True)
class TookOver:
    name: str                      # the display name of the member whose shift was still open
    ended: Ended


@dataclass(frozen=True)
class Ended:
    shop: str
    started_at: datetime
    ended_at: datetime
    capped: bool                   # left open past the maximum: closed at start + maximum, not now
    orders: int                    # orders paid in the shift (or its tail) now credited to the host by it


def start_shift(services: Services, member: Member, shop_code: str | None, now: datetime) -> Started:
    """Put `member` on air for a shop of their team from `now`, closing other members' shifts still open on the
    shop at `now` (at most their maximum). UserError: a role that has no KPIs, no team or shop, a shop not named
    (or not the team's), a shift already open, or a roster shift covering now."""
    try:
        has_kpis = Role.parse(member.role).has_kpis
    except UnknownRole:
        has_kpis = False
    if not has_kpis:
        raise UserError("live.no_kpis", role=member.role)
    with Session(services.engine) as session:
        shop = _shop(session, member, shop_code)
        closed = None
        open_ = _open_shift(session, member)
        if open_ is not None:
            if now < open_.started_at + services.max_shift:
                raise UserError("live.already", shop=_code(session, open_.shop_id),
                                since=local_time(open_.started_at, member.timezone))
            session.commit()
            closed = _close(services, open_.id or 0, open_.started_at + services.max_shift, capped=True)
        covering = session.execute(select(LiveRoster).where(
            LiveRoster.member_id == member.id, LiveRoster.shop_id == shop.id,  # type: ignore[arg-type]
            LiveRoster.started_at <= now, LiveRoster.ended_at > now)).scalars().first()  # type: ignore[arg-type,operator]
        if covering is not None:   # the roster file has them on air already: a second shift would double it
            raise UserError("live.on_roster", shop=shop.code, start=local_time(covering.started_at, member.timezone),
                            end=local_time(covering.ended_at or now, member.timezone))
        others = [(r.id or 0, r.started_at, who) for r, who in session.execute(
            select(LiveRoster, Member.name).join(Member, Member.id == LiveRoster.member_id)  # type: ignore[arg-type]
            .where(LiveRoster.shop_id == shop.id, LiveRoster.member_id != member.id,  # type: ignore[arg-type]
                   LiveRoster.ended_at.is_(None)).order_by(LiveRoster.started_at, LiveRoster.id))]  # type: ignore[union-attr,arg-type]
        session.add(LiveRoster(shop_id=shop.id or 0, member_id=member.id or 0, started_at=now, ended_at=None))
        try:
            session.commit()
        except IntegrityError:     # a double tap or another replica opened one this instant (uq_live_roster_open)
            session.rollback()
            raise UserError("live.already", shop=shop.code, since=local_time(now, member.timezone)) from None
        code = shop.code
    took_over = tuple(TookOver(who, _close(services, shift_id, max(start, min(now, start + services.max_shift)),
                                            capped=now > start + services.max_shift))
                      for shift_id, start, who in others)
    return Started(code, now, closed, took_over)


def end_shift(services: Services, member: Member, now: datetime) -> Ended:
    """Close the member's open shift now (at most max_shift after its start) and re-credit the orders paid
    from its start, so the host's /mykpi counts them at once. UserError when no shift is open (live.taken_over
    when another member's /live start ended it)."""
    with Session(services.engine) as session:
        open_ = _open_shift(session, member)
        if open_ is None:
            raise _none_open(session, member, now)
        if now - open_.started_at < MIN_SHIFT:
            # a start and an end typed together is a mistake, not a shift: kept, it would credit its tail's orders
            session.delete(open_)
            session.commit()
            raise UserError("live.cancelled")
        cap = open_.started_at + services.max_shift
        shift_id, end, capped = open_.id or 0, min(now, cap), now > cap
    return _close(services, shift_id, end, capped=capped)


def close_overdue(services: Services, now: datetime) -> list[Ended]:
    """Close every shift left open longer than the maximum (the refresh job); the closed shifts."""
    with Session(services.engine) as session:
        overdue = [(r.id or 0, r.started_at + services.max_shift) for r in session.execute(
            select(LiveRoster).where(LiveRoster.ended_at.is_(None),  # type: ignore[union-attr]
                                     LiveRoster.started_at <= now - services.max_shift)  # type: ignore[arg-type]
            .order_by(LiveRoster.id)).scalars()]  # type: ignore[arg-type]
    return [_close(services, shift_id, end, capped=True) for shift_id, end in overdue]


def _close(services: Services, shift_id: int, end: datetime, *, capped: bool) -> Ended:
    with Session(services.engine) as session:
        shift = session.get(LiveRoster, shift_id)
        assert shift is not None
        shift.ended_at = end
        session.add(shift)
        session.commit()
        shop_id, member_id, start = shift.shop_id, shift.member_id, shift.started_at
        code = _code(session, shop_id)
    credit_shops(services.engine, [shop_id], tail=services.live_tail, since=start, max_shift=services.max_shift)
    with Session(services.engine) as session:
        orders = session.execute(select(func.count()).select_from(Order).where(
            Order.shop_id == shop_id, Order.member_id == member_id,  # type: ignore[arg-type]
            Order.credit_rule == CreditRule.ROSTER.value,  # type: ignore[arg-type]
            Order.paid_at >= start, Order.paid_at < end + services.live_tail)).scalar_one()  # type: ignore[arg-type,operator]
    return Ended(code, start, end, capped, int(orders))


def local_time(at: datetime, zone: str) -> str:
    """A time as a host reads it: in their own zone, to the minute, with the zone's name."""
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"


def _none_open(session: Session, member: Member, now: datetime) -> UserError:
    """Why `member` has no shift to end: live.taken_over when their latest shift ended as another member's began
    on its shop (start_shift's handover; a roster file's handover reads alike), else live.none_open."""
    last = session.execute(select(LiveRoster).where(
        LiveRoster.member_id == member.id, LiveRoster.started_at <= now)  # type: ignore[arg-type]
        .order_by(LiveRoster.started_at.desc(), LiveRoster.id.desc())).scalars().first()  # type: ignore[attr-defined,union-attr]
    if last is None or last.ended_at is None or last.ended_at > now:
        return UserError("live.none_open")
    host = session.execute(select(Member.name).join(LiveRoster, LiveRoster.member_id == Member.id)  # type: ignore[arg-type]
                           .where(LiveRoster.shop_id == last.shop_id, LiveRoster.member_id != member.id,  # type: ignore[arg-type]
                                  LiveRoster.started_at == last.ended_at)  # type: ignore[arg-type]
                           .order_by(LiveRoster.id)).scalars().first()  # type: ignore[arg-type]
    if host is None:
        return UserError("live.none_open")
    return UserError("live.taken_over", shop=_code(session, last.shop_id)[:NAME_MAX], host=host,
                     end=local_time(last.ended_at, member.timezone))


def _open_shift(session: Session, member: Member) -> LiveRoster | None:
    return session.execute(select(LiveRoster).where(
        LiveRoster.member_id == member.id, LiveRoster.ended_at.is_(None))  # type: ignore[arg-type,union-attr]
        .order_by(LiveRoster.started_at.desc())).scalars().first()  # type: ignore[attr-defined]


def _code(session: Session, shop_id: int) -> str:
    shop = session.get(Shop, shop_id)
    return shop.code if shop else str(shop_id)


def _shop(session: Session, member: Member, typed: str | None) -> Shop:
    """The team's shop `typed` names (its code, any case), or the team's only shop when nothing was typed."""
    shops = list(session.execute(select(Shop).where(Shop.team_id == member.team_id)  # type: ignore[arg-type]
                                 .order_by(Shop.code)).scalars()) if member.team_id is not None else []
    if not shops:
        raise UserError("live.no_shop")
    choices = ", ".join(s.code[:NAME_MAX] for s in shops)
    if typed is None:
        if len(shops) > 1:
            raise UserError("live.which_shop", shops=choices)
        return shops[0]
    wanted = typed.strip().casefold()
    found = [s for s in shops if s.code.casefold() == wanted]
    if len(found) != 1:
        raise UserError("live.unknown_shop", shop=typed[:NAME_MAX], shops=choices)
    return found[0]

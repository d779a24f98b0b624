"""Crediting orders to hosts (rules: scoring.crediting): after every sync or import (bot.jobs.refresh, the CLI's
sync, import and attribute), the shops' sessions and videos are matched to members by handle, then their paid
orders are credited. Orders are re-credited from `since` on (None: all), so a session that arrives after its
orders still credits them; a handle that matches nobody is logged once per run and listed by
`kpibot credit --unmatched`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Engine

from scoring.crediting import DEFAULT_MAX_SHIFT, DEFAULT_TAIL, CreditRule, Shift
from storage.adjustments import APPEAL_RULE
from storage.crediting import CreditCounts, credit_batch, match_hosts, roster_shifts
from storage.models import LiveSession, Member, Order, Shop

log = logging.getLogger(__name__)

RECREDIT = timedelta(days=62)   # the refresh job re-credits orders paid this recently (late sessions)


@dataclass(frozen=True)
class Unmatched:
    shop: str
    handle: str
    rows: int          # sessions and videos of the handle in the shop


@dataclass
class CreditRun:
    counts: CreditCounts
    hosts_changed: int
    unmatched: list[Unmatched]


def credit_shops(engine: Engine, shop_ids: Sequence[int] | None = None, *, tail: timedelta = DEFAULT_TAIL,
                 since: datetime | None = None, max_shift: timedelta = DEFAULT_MAX_SHIFT) -> CreditRun:
    """Match hosts and credit the paid orders of `shop_ids` (None: every shop); a transaction per batch."""
    with engine.connect() as conn:
        query = select(Shop.id, Shop.org_id, Shop.platform, Shop.code).order_by(Shop.id)  # type: ignore[call-overload]
        if shop_ids is not None:
            query = query.where(Shop.id.in_(list(shop_ids)))  # type: ignore[union-attr]
        shops = conn.execute(query).all()
    counts, changed, unmatched = CreditCounts(), 0, []
    for shop_id, org_id, platform, code in shops:
        with engine.begin() as conn:
            n, missing = match_hosts(conn, shop_id, org_id, platform, max_shift)
        changed += n
        for handle, rows in sorted(missing.items()):
            unmatched.append(Unmatched(code, handle, rows))
            # info, not a warning: every run repeats it; the admins are told once (services.handle_notices)
            log.info("shop %s: %d sessions/videos of handle %s match no member (kpibot members handle)",
                        code, rows, handle)
        after = 0
        while after >= 0:
            with engine.begin() as conn:
                after = credit_batch(conn, shop_id, org_id, platform, tail, since, after, counts, max_shift)
    if counts.orders:
        log.info("credited %d orders to hosts: %d by the platform, %d by live session, %d by the roster, "
                 "%d nobody's, %d changed", counts.orders, counts.platform, counts.live_session, counts.roster,
                 counts.nobody, counts.changed)
    return CreditRun(counts, changed, unmatched)


@dataclass(frozen=True)
class Explanation:
    order: str
    shop: str
    zone: str                      # the shop's: every time is shown in it, as its exports and roster give them
    paid_at: datetime | None
    rule: str | None
    member: str | None
    session: str | None
    on_air: tuple[datetime, datetime] | None   # the session's, or the roster shift's, that credited the order
    tail: timedelta

    def lines(self) -> list[str]:
        paid = self._at(self.paid_at) if self.paid_at else "not paid"
        out = [f"order {self.order} (shop {self.shop}), paid {paid} ({self.zone})"]
        if self.rule == "platform":
            out.append(f"credited to {self.member} by the platform: affiliate order of their own creator handle")
        elif self.rule == "live_session":
            out.append(f"credited to {self.member} by live session {self.session} ({self._span()}{self._when()})")
        elif self.rule == "roster":
            during = f", during live session {self.session}" if self.session else ""
            out.append(f"credited to {self.member} by the shift roster: on air for the shop's own account "
                       f"({self._span()}{self._when()}{during})")
        elif self.rule == APPEAL_RULE:
            out.append(f"credited to {self.member} by an approved appeal (services.appeal_adjustments); "
                       "crediting leaves it as is")
        elif self.member is not None:
            out.append(f"credited to {self.member} outside kpibot's rules (seeded or set by hand); left as is")
        else:
            out.append("credited to nobody: no own-account affiliate data, no host's live session and no "
                       f"roster shift on air (tail {self._minutes()} min)")
        return out

    def _minutes(self) -> int:
        return int(self.tail.total_seconds() // 60)

    def _at(self, moment: datetime) -> str:
        return moment.astimezone(ZoneInfo(self.zone)).strftime("%Y-%m-%d %H:%M")

    def _span(self) -> str:
        if self.on_air is None:
            return "?"
        start, end = self.on_air
        return f"{self._at(start)} to {self._at(end)}"

    def _when(self) -> str:
        """Inside the time on air, or in the tail after it."""
        if self.on_air is not None and self.paid_at is not None and self.paid_at >= self.on_air[1]:
            return f"; paid in the {self._minutes()}-minute tail after it"
        return f"; paid on air, tail {self._minutes()} min"


def explain(engine: Engine, platform_order_id: str, tail: timedelta = DEFAULT_TAIL,
            max_shift: timedelta = DEFAULT_MAX_SHIFT) -> list[Explanation]:
    """Why each order of that platform id (one per shop) is credited as it is."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Order.platform_order_id, Shop.id, Shop.code, Shop.timezone, Order.paid_at,  # type: ignore[call-overload]
                   Order.credit_rule, Order.member_id, Member.code, LiveSession.platform_session_id,
                   LiveSession.started_at, LiveSession.ended_at)
            .join(Shop, Shop.id == Order.shop_id)
            .outerjoin(Member, Member.id == Order.member_id)
            .outerjoin(LiveSession, LiveSession.id == Order.live_session_id)
            .where(Order.platform_order_id == platform_order_id).order_by(Shop.code)).all()
        found = []
        for pid, shop_id, code, zone, paid, rule, member_id, member, session, start, end in rows:
            on_air = (start, end) if start is not None and end is not None else None
            if rule == CreditRule.ROSTER.value and paid is not None:
                shift = _shift_of(roster_shifts(conn, shop_id, max_shift), member_id, paid, tail)
                on_air = (shift.started_at, shift.ended_at) if shift is not None else on_air
            found.append(Explanation(pid, code, zone, paid, rule, member, session, on_air, tail))
    return found


def _shift_of(roster: Sequence[Shift], member_id: int | None, paid: datetime, tail: timedelta) -> Shift | None:
    """The member's shift the order was paid in or in the tail of: the latest started."""
    mine = [s for s in roster if s.member_id == member_id and s.started_at <= paid < s.ended_at + tail]
    return max(mine, key=lambda s: s.started_at, default=None)

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

from sqlalchemy import select
from sqlalchemy.engine import Engine

from scoring.crediting import DEFAULT_MAX_SHIFT, DEFAULT_TAIL
from storage.crediting import CreditCounts, credit_batch, match_hosts
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
            log.warning("shop %s: %d sessions/videos of handle %s match no member (kpibot members handle)",
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
    paid_at: datetime | None
    rule: str | None
    member: str | None
    session: str | None
    session_start: datetime | None
    session_end: datetime | None
    tail: timedelta

    def lines(self) -> list[str]:
        paid = self.paid_at.isoformat() if self.paid_at else "not paid"
        out = [f"order {self.order} (shop {self.shop}), paid {paid}"]
        if self.rule == "platform":
            out.append(f"credited to {self.member} by the platform: affiliate order of their own creator handle")
        elif self.rule == "live_session":
            end = self.session_end
            out.append(f"credited to {self.member} by live session {self.session} "
                       f"({self.session_start.isoformat() if self.session_start else '?'} to "
                       f"{end.isoformat() if end else '?'}, tail {int(self.tail.total_seconds() // 60)} min)")
        elif self.rule == "roster":
            during = f" during live session {self.session}" if self.session else ""
            out.append(f"credited to {self.member} by the shift roster: on air for the shop's own account{during} "
                       f"(tail {int(self.tail.total_seconds() // 60)} min)")
        elif self.member is not None:
            out.append(f"credited to {self.member} outside kpibot's rules (seeded or set by hand); left as is")
        else:
            out.append("credited to nobody: no own-account affiliate data, no host's live session and no "
                       f"roster shift on air (tail {int(self.tail.total_seconds() // 60)} min)")
        return out


def explain(engine: Engine, platform_order_id: str, tail: timedelta = DEFAULT_TAIL) -> list[Explanation]:
    """Why each order of that platform id (one per shop) is credited as it is."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Order.platform_order_id, Shop.code, Order.paid_at, Order.credit_rule, Member.code,  # type: ignore[call-overload]
                   LiveSession.platform_session_id, LiveSession.started_at, LiveSession.ended_at)
            .join(Shop, Shop.id == Order.shop_id)
            .outerjoin(Member, Member.id == Order.member_id)
            .outerjoin(LiveSession, LiveSession.id == Order.live_session_id)
            .where(Order.platform_order_id == platform_order_id).order_by(Shop.code)).all()
    return [Explanation(*row, tail=tail) for row in rows]

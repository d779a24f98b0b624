"""What several command groups look up or print: a member, a shop or the organisation by name, a day, a zone."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlmodel import Session

from bot.usage import UsageError
from scoring.periods import is_zone
from services.container import Services
from services.crediting import credit_shops
from storage.attribution import attribute_orders
from storage.ingest.writer import WriteCounts
from storage.models import Member, Organisation, Shop
from storage.queries import member_by_code


def member_named(session: Session, code: str) -> Member:
    found = member_by_code(session, code)
    if found is None:
        raise UsageError(f"no member {code!r} (see: kpibot members list)")
    return found

def organisation_of(session: Session) -> Organisation:
    org = session.execute(select(Organisation).order_by(Organisation.id)).scalars().first()
    if org is None:
        raise UsageError("the store has no organisation yet (import members first)")
    return org

def shop_by_code(session: Session, code: str) -> Shop | None:
    return session.execute(select(Shop).where(Shop.code == code)).scalars().first()

def shop_named(session: Session, code: str) -> Shop:
    shop = shop_by_code(session, code)
    if shop is None:
        known = [s.code for s in session.execute(select(Shop).order_by(Shop.code)).scalars()]
        raise UsageError(f"no shop {code!r}; shops: {', '.join(known) or 'none (kpibot shops add)'}")
    return shop

def check_zone(name: str) -> None:
    if not is_zone(name):
        raise UsageError(f"unknown time zone {name[:40]!r} (an IANA name such as America/Los_Angeles)")

def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since must be YYYY-MM-DD, got {text!r}") from None

def counts_text(c: WriteCounts) -> str:
    return f"{c.inserted} new, {c.updated} updated, {c.unchanged} unchanged, {c.pending} pending"

def print_attribution(services: Services, shop_ids: list[int] | None, everything: bool) -> None:
    c = attribute_orders(services.engine, shop_ids, everything=everything)
    print(f"attribution: {c.orders} orders, {c.credited} credited to creators, {c.self_referral} self-referrals, "
          f"{c.unattributed} unattributed")
    run = credit_shops(services.engine, shop_ids, tail=services.live_tail, max_shift=services.max_shift)
    h = run.counts
    if h.platform or h.live_session or h.roster or run.unmatched:   # quiet where no host is involved
        print(f"host credit: {h.orders} paid orders, {h.platform} by the platform, {h.live_session} by live session, "
              f"{h.roster} by the roster, {h.nobody} nobody's; {len(run.unmatched)} handles match no member")

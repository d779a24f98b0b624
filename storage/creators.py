"""Creators in the store: finding one, their tracked links, their own buyer ids, and the ranking by what is
credited to them (the figures are defined in scoring.attribution, and so in docs/metrics.md)."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select
from sqlmodel import Session

from scoring.attribution import CREDITED, Rule
from scoring.fx import FxTable
from scoring.money import from_minor
from scoring.rules import CountOrdersAt, Rules
from storage.ingest.encoding import hash_buyer
from storage.models import Creator, CreatorBuyer, Order, TrackedLink

UTM_SOURCE, UTM_MEDIUM = "kpibot", "creator"


def find_creator(session: Session, name: str) -> Creator | None:
    """By handle (with or without @) or name, case-insensitively."""
    wanted = name.strip().lstrip("@").casefold()
    for c in session.execute(select(Creator).order_by(Creator.id)).scalars():
        if wanted in (c.handle.lstrip("@").casefold(), (c.name or "").casefold()):
            return c
    return None


def creator_names(session: Session) -> list[str]:
    """Handles as shown to people, without the @."""
    return [c.handle.lstrip("@") for c in session.execute(select(Creator).order_by(Creator.handle)).scalars()]


def campaign_of(creator: Creator) -> str:
    return "creator-" + re.sub(r"[^a-z0-9._-]+", "-", creator.handle.lstrip("@").casefold()).strip("-")


def content_of(product_url: str) -> str:
    """The product's slug (last path segment) and a short hash of the whole URL: readable in analytics,
    unique per product URL."""
    path = urlsplit(product_url).path.rstrip("/")
    slug = re.sub(r"[^a-z0-9]+", "-", path.rsplit("/", 1)[-1].casefold()).strip("-")[:40] or "product"
    return f"{slug}-{hashlib.sha256(product_url.encode()).hexdigest()[:6]}"


def tracked_url(link: TrackedLink) -> str:
    """The product URL with the link's UTM parameters (any utm_* already in it replaced)."""
    parts = urlsplit(link.product_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith("utm_")]
    query += [("utm_source", link.utm_source), ("utm_medium", link.utm_medium),
              ("utm_campaign", link.utm_campaign), ("utm_content", link.utm_content)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def link_for(session: Session, creator: Creator, product_url: str) -> tuple[TrackedLink, bool]:
    """The creator's tracked link to the product: the existing one, or a new one (True). No commit."""
    campaign, content = campaign_of(creator), content_of(product_url)
    found = session.execute(select(TrackedLink).where(
        TrackedLink.org_id == creator.org_id, TrackedLink.utm_campaign == campaign,
        TrackedLink.utm_content == content)).scalars().first()
    if found is not None:
        return found, False
    link = TrackedLink(org_id=creator.org_id, creator_id=creator.id or 0, product_url=product_url,
                       utm_source=UTM_SOURCE, utm_medium=UTM_MEDIUM, utm_campaign=campaign, utm_content=content)
    session.add(link)
    session.flush()
    return link, True


def add_own_buyer(session: Session, creator: Creator, platform: str, buyer_id: str, key: bytes | None = None,
                  note: str | None = None) -> bool:
    """Record one of the creator's own buyer ids on a platform (pseudonymised as orders are, with the store
    writer's key), so their purchases through their own code or link are flagged, not credited. False when it
    was known already. No commit; run attribution over all orders afterwards (earlier orders may be theirs)."""
    ref = hash_buyer(platform, buyer_id.strip(), key)
    if session.execute(select(CreatorBuyer.id).where(CreatorBuyer.creator_id == creator.id,
                                                     CreatorBuyer.buyer_ref == ref)).first() is not None:
        return False
    session.add(CreatorBuyer(creator_id=creator.id or 0, buyer_ref=ref, platform=platform, note=note))
    session.flush()
    return True


@dataclass(frozen=True)
class CreatorRow:
    name: str
    handle: str
    orders: int
    net: Decimal           # reporting currency
    refund_rate: Decimal | None
    commission: Decimal    # reporting currency
    flagged: int           # self-referred orders, not credited


def creator_ranking(session: Session, start: datetime, end: datetime, rules: Rules, fx: FxTable) -> list[CreatorRow]:
    at = Order.shipped_at if rules.count_orders_at is CountOrdersAt.SHIPPED else Order.paid_at
    rows = session.execute(
        select(Creator.id, Creator.name, Creator.handle, Creator.commission_rate, Order.attribution_rule,
               Order.currency, at, Order.merchandise_minor, Order.refunded_minor)
        .join(Creator, Order.creator_id == Creator.id)
        .where(at >= start, at < end, Order.cancelled_at.is_(None)))  # type: ignore[union-attr, operator]
    info: dict[int, tuple[str, str, Decimal]] = {}
    orders: dict[int, int] = defaultdict(int)
    flagged: dict[int, int] = defaultdict(int)
    merch: dict[int, Decimal] = defaultdict(Decimal)
    refunded: dict[int, Decimal] = defaultdict(Decimal)
    for cid, name, handle, rate, rule, currency, moment, m, r in rows:
        info[cid] = (name or handle, handle, rate)
        if rule == Rule.SELF_REFERRAL:
            flagged[cid] += 1
            continue
        if rule not in CREDITED:
            continue
        day = moment.astimezone(UTC).date()
        orders[cid] += 1
        merch[cid] += fx.convert(from_minor(m, currency), currency, rules.reporting_currency, day)
        refunded[cid] += fx.convert(from_minor(min(r, m), currency), currency, rules.reporting_currency, day)
    out = []
    for cid, (name, handle, rate) in info.items():
        net = merch[cid] - refunded[cid]
        out.append(CreatorRow(name, handle, orders[cid], net, refunded[cid] / merch[cid] if merch[cid] else None,
                              net * rate, flagged[cid]))
    return sorted(out, key=lambda x: (-x.net, -x.orders, x.handle))

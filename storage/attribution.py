"""Credits stored orders to creators by the rules of scoring.attribution, and keeps the rule that decided.

The work list is the orders the writer marked `attribution_due` (new or changed orders, new visits, new or
changed affiliate lines), or every order of the shops with `everything=True` (after a promo code, a tracked
link or a creator's own buyer id was added: earlier orders may now belong to a creator). Orders go in
batches of BATCH, each batch in one transaction that reads the evidence, decides, writes `creator_id` and
`attribution_rule` and clears the flag.

The evidence of an order:
- affiliate: the shop's affiliate lines of the order (storage.models.AffiliateLine). When several creators
  sold lines of one order, the order goes to the one with the largest affiliated amount (ties: the handle
  first in alphabetical order). A handle the organisation does not know yet becomes a Creator of the shop's
  platform, with the commission rate of its line, so platform affiliates appear in /creators by themselves.
- promo codes: all the order's codes in the platform's order (Order.promo_code, comma-separated).
- clicks: the order's visits (order_visit: time, utm_campaign, utm_content); the window is the caller's.
- self-referral: the order's buyer_ref among the creator's own (creator_buyer).
An order an approved appeal credited (attribution_rule "appeal") keeps its creator. The order's time is its
creation time. Cancellations and refunds do not change who is credited; what is
credited is measured on the order as it stands (storage.creators), so they reverse the credit there.

Concurrency: the refresh job runs attribution after the sync of the same shops, one run at a time. Still, a
batch locks its rows against a concurrent writer: PostgreSQL by SELECT .. FOR UPDATE; SQLite by starting the
batch with a write, which takes the database's single write lock before anything is read.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Engine

from scoring.attribution import DEFAULT_WINDOW, Click, Directory, OrderEvidence, PromoOwner, Rule, attribute
from scoring.crediting import handle_key
from storage.adjustments import APPEAL_RULE
from storage.models import AffiliateLine, Creator, CreatorBuyer, Order, OrderVisit, PromoCode, Shop, TrackedLink
from storage.types import table_of

log = logging.getLogger(__name__)

BATCH = 2000


ORDER, VISIT, AFFILIATE, SHOP = table_of(Order), table_of(OrderVisit), table_of(AffiliateLine), table_of(Shop)
CREATOR, CODE, LINK, OWN = table_of(Creator), table_of(PromoCode), table_of(TrackedLink), table_of(CreatorBuyer)

SET_ATTRIBUTION = (update(ORDER).where(ORDER.c.id == bindparam("order"))
                   .values(creator_id=bindparam("creator"), attribution_rule=bindparam("rule"), attribution_due=False))


@dataclass(slots=True)
class AttributionCounts:
    """What a run decided: every order examined is credited, flagged as self-referral, or nobody's."""

    orders: int = 0
    credited: int = 0
    self_referral: int = 0
    unattributed: int = 0
    changed: int = 0          # orders whose creator or rule is not what it was
    new_creators: int = 0     # affiliate handles seen for the first time

    def __add__(self, other: AttributionCounts) -> AttributionCounts:
        return AttributionCounts(*(getattr(self, f) + getattr(other, f) for f in AttributionCounts.__slots__))


def attribute_orders(engine: Engine, shop_ids: Sequence[int] | None = None, *,
                     window: timedelta = DEFAULT_WINDOW, everything: bool = False) -> AttributionCounts:
    """Attribute the due orders (or all, with `everything`) of `shop_ids` (None: every shop), a transaction
    per batch."""
    return _run(engine.begin, shop_ids, window, everything)


def attribute_within(conn: Connection, shop_ids: Sequence[int] | None = None, *,
                     window: timedelta = DEFAULT_WINDOW) -> AttributionCounts:
    """The same inside the caller's transaction (the demo seeds and attributes in one)."""
    return _run(lambda: nullcontext(conn), shop_ids, window, False)


def _run(begin: Callable[[], AbstractContextManager[Connection]], shop_ids: Sequence[int] | None,
         window: timedelta, everything: bool) -> AttributionCounts:
    counts = AttributionCounts()
    with begin() as conn:
        shops = _shops(conn, shop_ids)
        directories = {org_id: load_directory(conn, org_id) for org_id, _ in shops.values()}
    for shop_id, (org_id, platform) in shops.items():
        after = 0
        while True:
            with begin() as conn:
                done, after = attribute_batch(conn, shop_id, org_id, platform, directories[org_id], window,
                                              everything=everything, after=after)
            counts += done
            if done.orders < BATCH:
                break
    if counts.orders:
        log.info("attributed %d orders: %d credited, %d self-referral, %d nobody's, %d changed, %d new creators",
                 counts.orders, counts.credited, counts.self_referral, counts.unattributed, counts.changed,
                 counts.new_creators)
    return counts


def attribute_batch(conn: Connection, shop_id: int, org_id: int, platform: str, directory: Directory,
                    window: timedelta = DEFAULT_WINDOW, *, everything: bool = False,
                    after: int = 0) -> tuple[AttributionCounts, int]:
    """One batch inside the caller's transaction: the counts and the last order id (for `everything`)."""
    postgres = conn.dialect.name == "postgresql"
    if not postgres:   # take SQLite's write lock first (see the module docstring)
        conn.execute(update(ORDER).where(ORDER.c.id == -1).values(attribution_due=False))
    query = (select(ORDER.c.id, ORDER.c.platform_order_id, ORDER.c.created_at, ORDER.c.promo_code,
                    ORDER.c.buyer_ref, ORDER.c.creator_id, ORDER.c.attribution_rule)
             .where(ORDER.c.shop_id == shop_id).order_by(ORDER.c.id).limit(BATCH))
    query = query.where(ORDER.c.id > after) if everything else query.where(ORDER.c.attribution_due)
    if postgres:
        query = query.with_for_update()
    orders = conn.execute(query).all()
    counts = AttributionCounts()
    if not orders:
        return counts, after
    affiliates = _affiliates(conn, shop_id, org_id, platform, [o.platform_order_id for o in orders], counts)
    clicks = _clicks(conn, [o.id for o in orders])
    changes = []
    for o in orders:
        if o.attribution_rule == APPEAL_RULE:   # an approved appeal credited it: it stays (storage.adjustments)
            counts.orders += 1
            counts.credited += 1
            changes.append({"order": o.id, "creator": o.creator_id, "rule": APPEAL_RULE})
            continue
        evidence = OrderEvidence(shop_id=shop_id, placed_at=o.created_at,
                                 affiliate_creator_id=affiliates.get(o.platform_order_id),
                                 promo_codes=tuple(c for c in (o.promo_code or "").split(",") if c.strip()),
                                 clicks=clicks.get(o.id, ()), buyer_ref=o.buyer_ref)
        found = attribute(evidence, directory, window)
        rule = None if found.rule is None else str(found.rule)
        counts.orders += 1
        if found.rule is None:
            counts.unattributed += 1
        elif found.rule is Rule.SELF_REFERRAL:
            counts.self_referral += 1
        else:
            counts.credited += 1
        if (found.creator_id, rule) != (o.creator_id, o.attribution_rule):
            counts.changed += 1
        changes.append({"order": o.id, "creator": found.creator_id, "rule": rule})
    conn.execute(SET_ATTRIBUTION, changes)
    return counts, orders[-1].id


def load_directory(conn: Connection, org_id: int) -> Directory:
    """The organisation's promo codes, tracked links and creators' own buyer ids."""
    codes = {code.strip().upper(): PromoOwner(creator, shop) for code, creator, shop in conn.execute(
        select(CODE.c.code, CODE.c.creator_id, CODE.c.shop_id).where(CODE.c.org_id == org_id))}
    links = {(campaign, content): creator for campaign, content, creator in conn.execute(
        select(LINK.c.utm_campaign, LINK.c.utm_content, LINK.c.creator_id).where(LINK.c.org_id == org_id))}
    own: dict[int, set[str]] = defaultdict(set)
    for creator, ref in conn.execute(select(OWN.c.creator_id, OWN.c.buyer_ref)
                                     .join(CREATOR, CREATOR.c.id == OWN.c.creator_id)
                                     .where(CREATOR.c.org_id == org_id)):
        own[creator].add(ref)
    return Directory(codes=codes, links=links, own_buyers={c: frozenset(refs) for c, refs in own.items()})


def _shops(conn: Connection, shop_ids: Sequence[int] | None) -> dict[int, tuple[int, str]]:
    query = select(SHOP.c.id, SHOP.c.org_id, SHOP.c.platform).order_by(SHOP.c.id)
    if shop_ids is not None:
        query = query.where(SHOP.c.id.in_(list(shop_ids)))
    return {row.id: (row.org_id, row.platform) for row in conn.execute(query)}


def _affiliates(conn: Connection, shop_id: int, org_id: int, platform: str, order_ids: list[str],
                counts: AttributionCounts) -> dict[str, int]:
    """platform order id -> the creator of its affiliate lines with the largest amount."""
    amounts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    handles: dict[str, tuple[str, Decimal]] = {}   # key -> (handle as the platform spells it, rate)
    rows = conn.execute(select(AFFILIATE.c.platform_order_id, AFFILIATE.c.creator_handle, AFFILIATE.c.amount_minor,
                               AFFILIATE.c.commission_rate)
                        .where(AFFILIATE.c.shop_id == shop_id, AFFILIATE.c.platform_order_id.in_(order_ids)))
    for order_id, handle, amount, rate in rows:
        key = handle_key(handle)
        amounts[order_id][key] += amount
        handles.setdefault(key, (handle, rate))
    if not amounts:
        return {}
    creators = _creators(conn, org_id, platform, handles, counts)
    return {order_id: creators[min(by, key=lambda k: (-by[k], k))] for order_id, by in amounts.items()}


def _creators(conn: Connection, org_id: int, platform: str, handles: dict[str, tuple[str, Decimal]],
              counts: AttributionCounts) -> dict[str, int]:
    """Creator ids by handle key on the platform, creating the ones not known yet."""
    known: dict[str, int] = {}
    for cid, handle in conn.execute(select(CREATOR.c.id, CREATOR.c.handle)
                                    .where(CREATOR.c.org_id == org_id, CREATOR.c.platform == platform)
                                    .order_by(CREATOR.c.id)):
        known.setdefault(handle_key(handle), cid)
    for key, (handle, rate) in sorted(handles.items()):
        if key not in known:
            known[key] = conn.execute(CREATOR.insert().values(
                org_id=org_id, platform=platform, handle=handle[:128], name=None, commission_rate=rate,
                member_id=None).returning(CREATOR.c.id)).scalar_one()
            counts.new_creators += 1
            log.info("new creator %s on %s from the platform's affiliate data", handle, platform)
    return known


def _clicks(conn: Connection, order_ids: list[int]) -> dict[int, tuple[Click, ...]]:
    clicks: dict[int, list[Click]] = defaultdict(list)
    for order_id, at, campaign, content in conn.execute(
            select(VISIT.c.order_id, VISIT.c.at, VISIT.c.utm_campaign, VISIT.c.utm_content)
            .where(VISIT.c.order_id.in_(order_ids), VISIT.c.utm_campaign.is_not(None))):
        clicks[order_id].append(Click(at, campaign, content))
    return {k: tuple(v) for k, v in clicks.items()}

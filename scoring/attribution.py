"""Which creator (affiliate) an order is credited to, and by which rule (pure).

Rules, in order; the first that applies decides, and the rule is stored with the order:
1. affiliate: the platform's affiliate data names the creator (TikTok Shop seller affiliate orders).
2. promo_code: the order used a creator's promo code (the first of its codes, in the order the platform
   lists them, that belongs to a creator and is valid in the order's shop).
3. tracked_link: the customer visited through a creator's tracked link (utm_campaign and utm_content of
   one of kpibot's links) inside the attribution window before the order (default 30 days); the last such
   visit before the order wins (last click). Visits after the order, or without a time, do not count.
A creator buying through their own code or link (the order's buyer is one of the creator's own buyer ids)
is flagged as self_referral: the creator is recorded but not credited.

The job (storage.attribution) applies these rules to every order written since it was last attributed;
evidence is the platform's affiliate lines (when several creators sold lines of one order: the largest
affiliated amount, ties by handle), all the order's promo codes, and the customer's visits (UTM).

Credit is measured on the order as it stands: a cancelled order credits nothing, and refunds so far are
taken off the creator's attributed net GMV, so a refund reverses the credit. The /creators figures
(storage.creators), over orders counted at payment or shipment ([org] count_orders_at) in the period:
- orders: credited orders, not cancelled;
- net GMV: their merchandise less refunds so far, each converted into the reporting currency at the rate of
  the order's UTC counting day;
- refund rate: refunds over merchandise of the same orders;
- commission: net GMV times the creator's commission rate;
- flagged: self-referred orders (credit nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

DEFAULT_WINDOW = timedelta(days=30)


class Rule(StrEnum):
    AFFILIATE = "affiliate"
    PROMO_CODE = "promo_code"
    TRACKED_LINK = "tracked_link"
    SELF_REFERRAL = "self_referral"   # flagged, not credited


CREDITED = frozenset({Rule.AFFILIATE, Rule.PROMO_CODE, Rule.TRACKED_LINK})


@dataclass(frozen=True, slots=True)
class Click:
    at: datetime | None
    utm_campaign: str | None
    utm_content: str | None


@dataclass(frozen=True, slots=True)
class OrderEvidence:
    shop_id: int
    placed_at: datetime
    affiliate_creator_id: int | None = None
    promo_codes: tuple[str, ...] = ()
    clicks: tuple[Click, ...] = ()
    buyer_ref: str | None = None


@dataclass(frozen=True, slots=True)
class PromoOwner:
    creator_id: int
    shop_id: int | None     # None: valid in every shop


@dataclass(frozen=True, slots=True)
class Attribution:
    creator_id: int | None
    rule: Rule | None

    @property
    def credited(self) -> bool:
        return self.rule in CREDITED


NOBODY = Attribution(None, None)


@dataclass(frozen=True)
class Directory:
    """What attribution looks orders up in: promo codes (upper-cased), tracked links by (campaign, content),
    and each creator's own buyer ids."""

    codes: Mapping[str, PromoOwner]
    links: Mapping[tuple[str, str], int]
    own_buyers: Mapping[int, frozenset[str]]


def attribute(order: OrderEvidence, directory: Directory, window: timedelta = DEFAULT_WINDOW) -> Attribution:
    found = _decide(order, directory, window)
    if found.creator_id is not None and found.rule is not Rule.AFFILIATE and order.buyer_ref is not None \
            and order.buyer_ref in directory.own_buyers.get(found.creator_id, frozenset()):
        return Attribution(found.creator_id, Rule.SELF_REFERRAL)
    return found


def _decide(order: OrderEvidence, directory: Directory, window: timedelta) -> Attribution:
    if order.affiliate_creator_id is not None:
        return Attribution(order.affiliate_creator_id, Rule.AFFILIATE)
    for code in order.promo_codes:
        owner = directory.codes.get(code.strip().upper())
        if owner is not None and owner.shop_id in (None, order.shop_id):
            return Attribution(owner.creator_id, Rule.PROMO_CODE)
    best: tuple[datetime, int] | None = None
    for click in order.clicks:
        if click.at is None or not (order.placed_at - window <= click.at <= order.placed_at):
            continue
        creator = directory.links.get((click.utm_campaign or "", click.utm_content or ""))
        if creator is not None and (best is None or click.at > best[0]):
            best = (click.at, creator)
    return Attribution(best[1], Rule.TRACKED_LINK) if best else NOBODY

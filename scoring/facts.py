"""Plain records the store hands to the scoring functions: one per order, live session, video,
ad-spend day, product launch and inventory count. Amounts are Decimal in the record's own currency;
times are timezone-aware."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class RefundFact:
    amount: Decimal          # money given back, in the order's currency
    at: datetime             # when the refund completed
    returned_units: int = 0  # goods that came back (0 for a refund without return)


@dataclass(frozen=True, slots=True)
class LineFact:
    product_id: int
    units: int
    cost: Decimal | None = None      # cost of goods of the line (SKU unit cost x units), None when unknown
    cost_currency: str | None = None
    amount_minor: int = 0            # the line's amount in minor units of the order's currency (the store's)


@dataclass(frozen=True, slots=True)
class OrderFact:
    order_id: int
    currency: str
    merchandise: Decimal     # goods after seller and platform discounts; no shipping, no tax
    units: int
    created_at: datetime
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    cancelled_at: datetime | None = None
    refunds: tuple[RefundFact, ...] = ()
    lines: tuple[LineFact, ...] = ()
    new_customer: bool = False       # the buyer's first paid order in any of the organisation's shops


@dataclass(frozen=True, slots=True)
class LiveFact:
    started_at: datetime
    ended_at: datetime
    currency: str
    gmv: Decimal
    viewers: int             # unique viewers
    views: int
    watch_seconds: int       # total seconds watched by all viewers
    interactions: int        # likes + comments + shares
    new_followers: int


@dataclass(frozen=True, slots=True)
class PostFact:
    published_at: datetime
    views: int
    likes: int
    add_to_cart: int
    orders: int
    new_followers: int = 0


@dataclass(frozen=True, slots=True)
class AdFact:
    day: date
    currency: str
    spend: Decimal
    clicks: int
    impressions: int
    attributed_gmv: Decimal
    live_room_visitors: int


@dataclass(frozen=True, slots=True)
class ProductFact:
    product_id: int
    launched_on: date
    units_received: int


@dataclass(frozen=True, slots=True)
class InventoryFact:
    day: date
    units_on_hand: int


@dataclass(frozen=True, slots=True)
class OrderSum:
    """Orders of one currency counted at `moment` (one order's exact moment, or the start of the quarter-hour many
    counted in), with what happened to them by the `now` they were read for (scoring.order_effects): the store
    hands these instead of the orders themselves where the metrics need no more."""

    currency: str
    moment: datetime
    gross: Decimal           # merchandise of all of them, cancelled or not (GMV)
    orders: int              # kept: not cancelled by now
    value: Decimal           # merchandise of the kept ones
    refunded: Decimal        # refunded by now on the kept ones, each order's capped at its merchandise
    units: int               # units the kept ones sold
    returned_units: int      # units returned by now on the kept ones, each order's capped at its units


@dataclass(frozen=True, slots=True)
class ProductSum:
    """Units of one product sold at `moment` (a quarter-hour or an order's moment) in orders kept by now; with
    the orders' currency, the kept orders holding it, its lines' amounts and their shares of the refunds by now
    (scoring.order_effects.product_steps)."""

    product_id: int
    moment: datetime
    units: int
    currency: str = ""
    orders: int = 0
    amount: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Activity:
    """Everything one member (or one team, for a lead) did that the metrics read."""

    orders: tuple[OrderFact, ...] = ()
    lives: tuple[LiveFact, ...] = ()
    posts: tuple[PostFact, ...] = ()
    ads: tuple[AdFact, ...] = ()
    products: tuple[ProductFact, ...] = ()
    inventory: tuple[InventoryFact, ...] = ()
    # the orders as sums read for one `now` (scoring.order_effects); a load gives these or `orders`, never the
    # same order in both
    order_sums: tuple[OrderSum, ...] = ()
    product_sums: tuple[ProductSum, ...] = ()

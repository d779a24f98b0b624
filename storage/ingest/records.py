"""The neutral records every source yields, whatever the platform or file they come from.

Money is `Decimal` in the record's own currency (major units: "12.34", never float); times are aware UTC
datetimes. A source converts its platform's shape into these and nothing else; the writer turns them into
rows (minor units, foreign keys), idempotently. Records are NamedTuples: immutable, and several times cheaper to
make than frozen dataclasses (a first sync makes millions of them: tests/benchmarks/bench_sync.py); change one
with `record._replace(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol

# shop platforms fed by export files (CSV/XLSX), not an API: kpibot shops add --platform, and host crediting,
# which matches their sessions' handles on any platform
FILE_PLATFORMS = ("temu", "shein", "file")
# the platforms a member's handle is kept for (MemberHandle.platform: Shop.platform without "_shop"; a "file" shop
# has no platform accounts of its own); tests/test_names.py keeps it equal to bot.shop_sources.SHOP_PLATFORMS's
HANDLE_PLATFORMS = ("tiktok", "shopee", "amazon", "shopify", "temu", "shein")


class OrderStatus(StrEnum):
    """Platform statuses folded into the life cycle the metrics read."""

    UNPAID = "unpaid"
    PAID = "paid"              # paid, waiting to ship (TikTok AWAITING_SHIPMENT, Shopee READY_TO_SHIP ...)
    SHIPPED = "shipped"        # handed to the carrier, in transit
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class RefundKind(StrEnum):
    REFUND = "refund"
    RETURN_AND_REFUND = "return_and_refund"
    CANCELLATION = "cancellation"


class RefundStatus(StrEnum):
    REQUESTED = "requested"
    COMPLETED = "completed"
    REJECTED = "rejected"


class LineRecord(NamedTuple):
    platform_line_id: str
    platform_product_id: str
    platform_sku_id: str
    product_name: str
    quantity: int
    unit_price: Decimal        # after discounts
    amount: Decimal            # quantity x unit price
    seller_sku: str | None = None


class RefundRecord(NamedTuple):
    platform_refund_id: str
    kind: RefundKind
    status: RefundStatus
    currency: str
    amount: Decimal
    requested_at: datetime
    completed_at: datetime | None = None
    returned_units: int = 0


class Visit(NamedTuple):
    """A customer's visit before an order (Shopify customerJourneySummary), for tracked-link attribution."""

    at: datetime | None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    landing_page: str | None = None


class OrderRecord(NamedTuple):
    platform_order_id: str
    status: OrderStatus
    currency: str
    subtotal: Decimal          # goods before discounts
    discount: Decimal          # seller + platform discounts
    merchandise: Decimal       # goods after discounts: the GMV base
    shipping: Decimal
    tax: Decimal
    total: Decimal             # what the buyer paid
    created_at: datetime
    updated_at: datetime       # the platform's update time: the incremental cursor
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    lines: tuple[LineRecord, ...] = ()
    refunds: tuple[RefundRecord, ...] = ()   # when the platform returns them with the order
    buyer_ref: str | None = None             # platform buyer id (the writer hashes it)
    is_sample: bool = False
    promo_codes: tuple[str, ...] = ()
    visits: tuple[Visit, ...] = ()

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


class ReturnRecord(NamedTuple):
    """A refund, return or cancellation fetched on its own (TikTok returns/cancellations search)."""

    platform_order_id: str
    refund: RefundRecord
    updated_at: datetime


class ShipmentRecord(NamedTuple):
    """When an order was shipped, learnt apart from the order (Amazon: a ShipmentEvent's PostedDate). The
    writer keeps the earliest per order and parks it until the order is stored (`pending_shipment`)."""

    platform_order_id: str
    shipped_at: datetime
    updated_at: datetime       # when the platform reported it (the same time for Amazon)


class AffiliateRecord(NamedTuple):
    """One creator-credited line of an order, from the platform's affiliate data."""

    platform_order_id: str
    platform_product_id: str
    creator_handle: str
    content_type: str          # SHOP | VIDEO | LIVE | PRE_LIVE | PROMOTION_PAGE | LINKSHARE
    content_id: str | None
    commission_rate: Decimal   # 0.155 = 15.5 %
    currency: str
    amount: Decimal            # price x quantity credited to the creator
    quantity: int
    refunded_quantity: int
    status: str                # PROCESSING | COMPLETED | CANCELLED | FROZEN | DEDUCTED
    created_at: datetime
    updated_at: datetime
    platform_sku_id: str = ""  # TikTok reports one line per SKU; '' where lines are per product


class LiveRecord(NamedTuple):
    platform_session_id: str
    host_handle: str | None    # the platform account that streamed; members map to it
    title: str | None
    started_at: datetime
    ended_at: datetime
    currency: str
    gmv: Decimal
    viewers: int
    views: int
    watch_seconds: int         # total seconds watched (average viewing duration x viewers)
    interactions: int          # likes + comments + shares
    new_followers: int


class PostRecord(NamedTuple):
    platform_post_id: str
    author_handle: str | None
    published_at: datetime
    views: int
    likes: int = 0
    comments: int = 0
    shares: int = 0
    add_to_cart: int = 0
    orders: int = 0
    new_followers: int = 0
    kind: str = "video"


class AdSpendRecord(NamedTuple):
    campaign_id: str
    day: date                  # the ad platform's reporting day
    currency: str
    spend: Decimal
    clicks: int
    impressions: int
    live_room_visitors: int = 0
    attributed_gmv: Decimal = Decimal(0)
    buyer_ref: str | None = None   # the ad account owner, matched to a member by code


class StockRecord(NamedTuple):
    """One SKU of a `ProductRecord`: its stock on hand as the platform reported it (None: not reported)."""

    platform_sku_id: str
    name: str
    seller_sku: str | None = None
    units_on_hand: int | None = None


class ProductRecord(NamedTuple):
    """A catalogue product from a shop API (TikTok product search, Shopee item info), with its SKUs' stock.
    `launched_on` is the platform's creation day in the shop's zone; `stock_day` the shop-zone day the stock
    was read (the sync's). No cost: no API that has products has one (the import gives it)."""

    platform_product_id: str
    name: str
    launched_on: date | None
    stock_day: date
    skus: tuple[StockRecord, ...] = ()


Record = (OrderRecord | ReturnRecord | ShipmentRecord | AffiliateRecord | LiveRecord | PostRecord | AdSpendRecord
          | ProductRecord)


# --- how a source reports failure ------------------------------------------------------------------------------

class FailureKind(StrEnum):
    RATE_LIMITED = "rate_limited"    # HTTP 429 or a platform throttling code: wait and retry
    SERVER = "server"                # 5xx, timeouts, transport errors, malformed JSON: retry
    TOKEN_EXPIRED = "token_expired"  # refresh the token, then retry
    AUTH = "auth"                    # bad credentials, revoked or missing scope: a person must act
    REQUEST = "request"              # the platform refused the request as malformed: a bug, do not retry


RETRYABLE = frozenset({FailureKind.RATE_LIMITED, FailureKind.SERVER, FailureKind.TOKEN_EXPIRED})


class SourceError(Exception):
    """A failed call to a shop API. `code` is the platform's own code or HTTP status, for the log; the
    message never holds a secret (no tokens, no signed URLs). `unreachable`: no connection to the platform
    could be made at all (refused, no route, DNS, connect timeout), so its other calls would fail alike."""

    def __init__(self, kind: FailureKind, message: str, code: str | int | None = None,
                 retry_after_s: float | None = None, unreachable: bool = False) -> None:
        super().__init__(f"{kind}: {message}" + (f" (code {code})" if code is not None else ""))
        self.kind, self.message, self.code, self.retry_after_s = kind, message, code, retry_after_s
        self.unreachable = unreachable

    def __reduce__(self) -> tuple[type[SourceError], tuple[FailureKind, str, str | int | None, float | None, bool]]:
        """Pickled whole (a source in its own process raises it in the sync's: storage.ingest.fetch_process)."""
        return type(self), (self.kind, self.message, self.code, self.retry_after_s, self.unreachable)

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


def latest_update(records: Sequence[Record]) -> datetime | None:
    """The newest platform update time of the records that carry one (orders, returns, shipments, affiliate
    lines)."""
    kinds = OrderRecord | ReturnRecord | ShipmentRecord | AffiliateRecord
    times = [r.updated_at for r in records if isinstance(r, kinds)]
    return max(times) if times else None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of one resource. `resume` is the opaque token that fetches the NEXT page (None after the
    last page); `high_water` is the newest platform update time contained in this page, or None."""

    resource: str
    records: Sequence[Record]
    resume: str | None
    high_water: datetime | None = None


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str = field(repr=False)          # secrets: never in a repr, so never in a log line
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None                 # access token expiry (UTC)
    refresh_expires_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)  # e.g. TikTok shop_cipher


class TokenStore(Protocol):
    """Where a source keeps its tokens. `save` must be atomic: a single-use refresh token (Shopee) that is
    used but not saved loses the shop."""

    def load(self) -> Tokens | None: ...

    def save(self, tokens: Tokens) -> None: ...


class Source(Protocol):
    """A shop's API client. `pages` yields the pages of `resource` changed in [since, until) (update time),
    starting after `resume` when given, so an interrupted run picks up where it stopped. A source that fetches
    ahead may also offer `page_ready(wait_s: float) -> bool`: the listing's next page is there already, or arrives
    within `wait_s` seconds."""

    resources: tuple[str, ...]

    def pages(self, resource: str, since: datetime | None, until: datetime,
              resume: str | None = None) -> Iterator[Page]: ...

    def close(self) -> None: ...

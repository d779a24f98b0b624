"""TikTok Shop Open API source (the 202309 API family): orders, returns, affiliate orders, LIVE sessions, products.

How a sync runs, per resource (``pages(resource, since, until, resume)``):

* ``orders``: ``POST /order/202309/orders/search`` with ``update_time_ge/lt`` = [since, until) (whole seconds,
  rounded up, so a record's integer update time t is inside iff since <= t < until), ``sort_field=update_time
  ASC``, ``page_size`` (100) orders a page. In this API version the search answers full orders; an order that
  comes back without ``payment`` or ``line_items`` is fetched again with ``GET /order/202309/orders?ids=``
  (50 at a time). TikTok has no quantity: every line item is one unit, so every `LineRecord` has quantity 1.
  ``shipped_at`` is ``rts_time``, else ``collection_time``, else ``delivery_time`` (see `_order_fields`).
* ``returns``: ``returns/search`` then ``cancellations/search``, both by update time, become `ReturnRecord`s
  (REPLACEMENT returns refund nothing and are skipped).
* ``affiliate_orders``: ``POST /affiliate_seller/202410/orders/search`` filters by CREATE time only, so the
  window is [since - affiliate_lookback, until), cut into pieces of at most ``affiliate_window``; statuses and
  refunded quantities change after creation, and the lookback re-reads them. One `AffiliateRecord` per SKU
  with a creator; ``commission_rate`` "1550" (hundredths of a percent) becomes Decimal("0.155").
* ``lives``: ``GET /analytics/202508/shop_lives/performance`` by whole days in the shop's time zone, from
  (since - lives_lookback) (LIVE metrics keep settling for a day or two) to the day holding ``until``.
  ``watch_seconds`` = avg_viewing_duration x viewers; ``interactions`` = likes + comments + shares.

* ``products``: ``POST /product/202309/products/search`` (``page_size`` 100 and ``page_token`` in the query, an empty
  filter body): the whole catalogue (stock changes do not move a product's update time), at most once a shop-local day
  (10k products are 100 calls; the sync runs every 30 minutes), by the rule of `bot.shops.daily` (the pages' high
  water is the listing's time, so the sync's cursor remembers the day). One `ProductRecord` per product:
  ``launched_on`` = ``create_time`` as a day in the shop's zone, each SKU's stock = the sum of its
  ``inventory[].quantity`` (all warehouses), ``stock_day`` = the shop-zone day of the fetch by the source's clock (a
  listing resumed from an older window still reads today's stock). The API has no cost; none is made up.

``Page.high_water`` is the newest update time in the page for orders and returns; the newest creation time
for affiliate orders and the newest start time for lives (their APIs have no update time, the lookbacks cover
later changes); the listing's time for products (above). ``Page.resume`` is an opaque token (base64 JSON:
resource, window, stage, the platform's ``next_page_token``) for the page after this one; ``None`` on the last
page. A page is yielded only once the next one is known, so the last page always says ``None``. A token only
continues the window it was made in:
another window gets SourceError(REQUEST), as platform page tokens belong to their query.

Speed: the next page is requested, parsed and mapped to records by one helper thread as soon as its token is
known, so the platform's time, the network and the mapping overlap with the caller's work on the current page
(the store's writes release the GIL; ``prefetch=False`` turns it off); amounts are parsed through a bounded
text -> Decimal cache. See tests/benchmarks/bench_tiktok_fetch.py and bench_sync.py.

Signing (every shop call): query ``app_key``, ``timestamp``, ``shop_cipher`` and the call's own params; the
string is path + sorted ``{key}{value}`` (without ``sign`` and ``access_token``, array values comma-joined)
+ the exact body bytes sent, wrapped in the app secret; HMAC-SHA256 keyed by the app secret, lower hex. The
access token travels in ``x-tts-access-token``.

Tokens: loaded from the `TokenStore`; refreshed (``GET {auth}/api/v2/token/refresh``) when the access token
expires within ``refresh_margin`` or a call answers 105002. The new pair is saved before it is used; the store
is re-read first, in case another client refreshed already. ``shop_cipher`` comes from the constructor or
``Tokens.extra["shop_cipher"]``.

Errors: HTTP 429 and code 36009002 -> RATE_LIMITED (a Retry-After header is honoured: the next attempt waits
at least that long, up to ``max_retry_after_s``, whatever with_backoff's own wait); 5xx, timeouts, transport
errors, malformed JSON, 36009003 and 36009007 -> SERVER;
105002 -> TOKEN_EXPIRED (refresh, then retry); 36009004 (bad sign/token/timestamp), 106001 (invalid sign),
105001, 105005 (missing scope), 106011/106013 (shop_cipher) and a refused refresh -> AUTH; anything else ->
REQUEST. Retries go through `errors.with_backoff`.

Money: amounts are strings parsed with ``Decimal(str)``; a JSON number in a money field (never seen from
TikTok) makes the page be parsed again with ``json.loads(parse_float=Decimal)``, so no float ever reaches
a record. Secrets: no token, secret, signature or signed URL is logged or put in an error message; httpx's own
request log line is stripped of query strings.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import hmac
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import orjson

from bot.shops.daily import DailyListing
from bot.shops.http import transport_error, with_backoff
from storage.ingest.encoding import UPDATED, EncodedOrder, OrderEncoder
from storage.ingest.records import (
    AffiliateRecord,
    FailureKind,
    LineRecord,
    LiveRecord,
    OrderRecord,
    OrderStatus,
    Page,
    ProductRecord,
    Record,
    RefundKind,
    RefundRecord,
    RefundStatus,
    ReturnRecord,
    SourceError,
    StockRecord,
    Tokens,
    TokenStore,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://open-api.tiktokglobalshop.com"
DEFAULT_AUTH_URL = "https://auth.tiktok-shops.com"
ORDERS_SEARCH = "/order/202309/orders/search"
ORDERS_DETAIL = "/order/202309/orders"
RETURNS_SEARCH = "/return_refund/202309/returns/search"
CANCELLATIONS_SEARCH = "/return_refund/202309/cancellations/search"
AFFILIATE_SEARCH = "/affiliate_seller/202410/orders/search"
LIVES_PERFORMANCE = "/analytics/202508/shop_lives/performance"
PRODUCTS_SEARCH = "/product/202309/products/search"
TOKEN_REFRESH = "/api/v2/token/refresh"
MAX_DETAIL_IDS = 50

RESOURCES = ("orders", "returns", "affiliate_orders", "lives", "products")

STATUS_MAP: dict[str, OrderStatus] = {
    "UNPAID": OrderStatus.UNPAID,
    "ON_HOLD": OrderStatus.PAID,               # paid, in the buyer's cancellation grace period
    "AWAITING_SHIPMENT": OrderStatus.PAID,
    "AWAITING_COLLECTION": OrderStatus.PAID,   # packed, the carrier has not collected it yet
    "PARTIALLY_SHIPPING": OrderStatus.SHIPPED,  # some packages are with the carrier
    "IN_TRANSIT": OrderStatus.SHIPPED,
    "DELIVERED": OrderStatus.DELIVERED,
    "COMPLETED": OrderStatus.COMPLETED,
    "CANCELLED": OrderStatus.CANCELLED,
}
RETURN_KINDS = {"REFUND": RefundKind.REFUND, "RETURN_AND_REFUND": RefundKind.RETURN_AND_REFUND}
RETURN_STATUS = {
    "RETURN_OR_REFUND_REQUEST_COMPLETE": RefundStatus.COMPLETED,
    "REFUND_OR_RETURN_REQUEST_REJECT": RefundStatus.REJECTED,
    "RETURN_OR_REFUND_REQUEST_CANCEL": RefundStatus.REJECTED,   # withdrawn by the buyer
    "REJECT_RECEIVE_PACKAGE": RefundStatus.REJECTED,
}
CANCEL_STATUS = {
    "CANCELLATION_REQUEST_COMPLETE": RefundStatus.COMPLETED,
    "CANCELLATION_REQUEST_CANCEL": RefundStatus.REJECTED,       # withdrawn
    "CANCELLATION_REQUEST_REJECT": RefundStatus.REJECTED,
}
CODE_KINDS: dict[int, FailureKind] = {
    36009002: FailureKind.RATE_LIMITED,
    36009003: FailureKind.SERVER,         # internal error
    36009007: FailureKind.SERVER,         # gateway timeout
    105002: FailureKind.TOKEN_EXPIRED,
    105001: FailureKind.AUTH,
    105005: FailureKind.AUTH,             # scope not granted
    106001: FailureKind.AUTH,             # invalid sign: wrong app secret
    36009004: FailureKind.AUTH,           # invalid sign, token or timestamp (clock skew): a person must act
    106011: FailureKind.AUTH,
    106013: FailureKind.AUTH,             # shop_cipher missing
    101000: FailureKind.AUTH,             # token of the wrong user type
}
_ZERO = Decimal(0)
_TEN_THOUSAND = Decimal(10_000)
_DECIMALS: dict[str, Decimal] = {}     # amount text -> Decimal: prices and fees repeat; bounded below
_DECIMALS_MAX = 65_536


class _FloatMoney(Exception):
    """A JSON number where money was expected: parse the page again with Decimal floats."""


# ---------------------------------------------------------------------- signing and small parsers
def sign(path: str, params: Mapping[str, str | Sequence[str]], body: bytes, app_secret: str) -> str:
    """TikTok Shop's request signature (see the module docstring). ``body`` is the exact bytes sent (pass b""
    for GET and for multipart bodies)."""
    parts = [path]
    for key in sorted(params):
        if key in ("sign", "access_token"):
            continue
        value = params[key]
        parts.append(key + (value if isinstance(value, str) else ",".join(value)))
    secret = app_secret.encode()
    message = secret + "".join(parts).encode() + body + secret
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _money(value: Any) -> Decimal:
    if type(value) is str:
        found = _DECIMALS.get(value)
        if found is None:
            found = Decimal(value) if value else _ZERO
            if len(_DECIMALS) < _DECIMALS_MAX:
                _DECIMALS[value] = found
        return found
    if value is None:
        return _ZERO
    if type(value) is dict:
        return _money(value.get("amount"))
    if type(value) is int or type(value) is Decimal:
        return Decimal(value)
    raise _FloatMoney


def _currency_of(value: Any) -> str | None:
    return value.get("currency") if type(value) is dict else None


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _need_time(value: Any) -> datetime:
    return _from_epoch(_need_epoch(value))


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _epoch_or_none(value: Any) -> int | None:
    return int(value) if value else None


def _need_epoch(value: Any) -> int:
    if not value:
        raise KeyError("timestamp")
    return int(value)


def _int(value: Any) -> int:
    return int(value) if value else 0


def _ceil_s(when: datetime) -> int:
    return math.ceil(when.timestamp())


def _epoch(when: datetime) -> float:
    """Unix time of a stored datetime; a naive one (SQLite drops the zone) is UTC."""
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def error_kind(code: int, http_status: int) -> FailureKind:
    """The FailureKind of a platform error code (HTTP status as the tie-breaker for unknown codes)."""
    kind = CODE_KINDS.get(code)
    if kind is not None:
        return kind
    if http_status == 429:
        return FailureKind.RATE_LIMITED
    if http_status >= 500:
        return FailureKind.SERVER
    return FailureKind.REQUEST


# ---------------------------------------------------------------------- record mapping
def _order_fields(o: dict[str, Any]) -> tuple[Any, ...]:
    """One 202309 order (search or detail answer) read once, for `order_record` and `encoded_order`: (id, status,
    currency, subtotal, discount, merchandise, shipping, tax, total, then the create, update, paid, shipped,
    delivery and cancel times as the platform's Unix seconds (create and update required), lines shaped as
    LineRecords, buyer id, sample flag). Shipped is ``rts_time`` (handed to the carrier), else
    ``collection_time``, else ``delivery_time``: 202309 orders may lack the latter two, and a delivered order
    without either earlier time was at least shipped by its delivery."""
    pay = o["payment"]
    sub_total = _money(pay.get("sub_total"))
    seller = _money(pay.get("seller_discount"))
    platform = _money(pay.get("platform_discount"))
    original = pay.get("original_total_product_price")
    discount = seller + platform
    lines = []
    for li in o.get("line_items") or ():
        price = _money(li.get("sale_price"))
        lines.append((li["id"], li["product_id"], li["sku_id"], li.get("product_name") or "", 1, price, price,
                      li.get("seller_sku") or None))
    status = STATUS_MAP.get(o["status"])
    if status is None:
        log.warning("tiktok order %s has an unknown status %r", o.get("id"), o.get("status"))
        status = OrderStatus.PAID if o.get("paid_time") else OrderStatus.UNPAID
    get = o.get
    return (str(o["id"]), status, pay.get("currency") or "",
            _money(original) if original is not None else sub_total + discount, discount, sub_total,
            _money(pay.get("shipping_fee")), _money(pay.get("tax")), _money(pay.get("total_amount")),
            _need_epoch(o["create_time"]), _need_epoch(o["update_time"]), _epoch_or_none(get("paid_time")),
            _epoch_or_none(get("rts_time") or get("collection_time") or get("delivery_time")),
            _epoch_or_none(get("delivery_time")),
            _epoch_or_none(get("cancel_time")), lines, get("user_id") or None, bool(get("is_sample_order")))


def order_record(o: dict[str, Any]) -> OrderRecord:
    """One 202309 order (search or detail answer) as an OrderRecord."""
    (pid, status, cur, subtotal, discount, merchandise, shipping, tax, total, created, updated, paid, shipped,
     delivered, cancelled, lines, buyer, sample) = _order_fields(o)
    return OrderRecord(   # positional, in the field order of OrderRecord
        pid, status, cur, subtotal, discount, merchandise, shipping, tax, total, _from_epoch(created),
        _from_epoch(updated), _time(paid), _time(shipped), _time(delivered), _time(cancelled),
        tuple([LineRecord(*line) for line in lines]), (), buyer, sample)


def encoded_order(o: dict[str, Any], encoder: OrderEncoder) -> EncodedOrder:
    """One 202309 order encoded for the store straight from the answer: `encoder.encode(order_record(o))`, made without
    the record's datetimes and NamedTuples (the hot path of a first sync in the source's own process:
    storage.ingest.fetch_process; tests/test_tiktok_source.py compares the two)."""
    (pid, status, cur, subtotal, discount, merchandise, shipping, tax, total, created, updated, paid, shipped,
     delivered, cancelled, lines, buyer, sample) = _order_fields(o)
    epoch = encoder.encode_epoch
    return encoder.encode_fields(
        pid, status, cur, subtotal, discount, merchandise, shipping, tax, total, epoch(created),
        None if paid is None else epoch(paid), None if shipped is None else epoch(shipped),
        None if delivered is None else epoch(delivered), None if cancelled is None else epoch(cancelled),
        epoch(updated), lines, (), buyer, sample)


def return_record(r: dict[str, Any], cancellation: bool, currency: str = "") -> ReturnRecord | None:
    """A return/refund (``cancellation=False``) or a cancellation as a ReturnRecord; None for a REPLACEMENT."""
    amount = r.get("refund_amount") or {}
    if cancellation:
        refund_id, kind = r["cancel_id"], RefundKind.CANCELLATION
        status = CANCEL_STATUS.get(r.get("cancel_status") or "", RefundStatus.REQUESTED)
        units = 0
    else:
        found = RETURN_KINDS.get(r.get("return_type") or "")
        if found is None:
            return None
        refund_id, kind = r["return_id"], found
        status = RETURN_STATUS.get(r.get("return_status") or "", RefundStatus.REQUESTED)
        units = len(r.get("return_line_items") or ()) if kind is RefundKind.RETURN_AND_REFUND else 0
    requested = _need_time(r["create_time"])
    updated = _time(r.get("update_time")) or requested
    return ReturnRecord(str(r["order_id"]), RefundRecord(
        str(refund_id), kind, status, amount.get("currency") or currency, _money(amount.get("refund_total")),
        requested, updated if status is RefundStatus.COMPLETED else None, units), updated)


def affiliate_records(o: dict[str, Any], currency: str = "") -> list[AffiliateRecord]:
    """The creator-credited SKUs of one seller affiliate order (SKUs without a creator are left out)."""
    created = _need_time(o["create_time"])
    updated = max(t for t in (created, _time(o.get("delivery_time")), _time(o.get("update_time"))) if t)
    out = []
    for sku in o.get("skus") or ():
        creator = sku.get("creator_username")
        if not creator:
            continue
        price = sku.get("price")
        quantity = _int(sku.get("quantity"))
        out.append(AffiliateRecord(
            str(o["id"]), str(sku.get("product_id") or ""), creator, sku.get("content_type") or "",
            sku.get("content_id") or None, Decimal(str(sku.get("commission_rate") or 0)) / _TEN_THOUSAND,
            _currency_of(price) or currency, _money(price) * quantity, quantity,
            _int(sku.get("refunded_quantity")), o.get("status") or "", created, updated,
            str(sku.get("sku_id") or "")))
    return out


def live_record(s: dict[str, Any], currency: str = "") -> LiveRecord:
    sales = s.get("sales_performance") or {}
    inter = s.get("interaction_performance") or {}
    gmv = sales.get("gmv")
    viewers = _int(inter.get("viewers"))
    avg = inter.get("avg_viewing_duration") or 0
    watch = (Decimal(str(avg)) * viewers).to_integral_value(ROUND_HALF_UP)
    return LiveRecord(
        str(s["id"]), s.get("username") or None, s.get("title") or None, _need_time(s["start_time"]),
        _need_time(s.get("end_time") or s["start_time"]), _currency_of(gmv) or currency, _money(gmv), viewers,
        _int(inter.get("views")), int(watch),
        _int(inter.get("likes")) + _int(inter.get("comments")) + _int(inter.get("shares")),
        _int(inter.get("new_followers")))


def product_record(p: dict[str, Any], tz: ZoneInfo, stock_day: date) -> ProductRecord:
    """One product of a products search answer: its creation day in the shop's zone, each SKU's stock summed over
    its warehouses (an SKU without ``inventory`` reports none)."""
    name = str(p.get("title") or "")
    created = _epoch_or_none(p.get("create_time"))
    skus = []
    for sku in p.get("skus") or []:
        inventory = sku.get("inventory")
        units = None if inventory is None else sum(_int(i.get("quantity")) for i in inventory)
        skus.append(StockRecord(str(sku["id"]), name, sku.get("seller_sku") or None, units))
    return ProductRecord(str(p["id"]), name, None if created is None else _from_epoch(created).astimezone(tz).date(),
                         stock_day, tuple(skus))


# ---------------------------------------------------------------------- the source
_Raw = Iterator[tuple[list[Record], datetime | None, dict[str, Any] | None]]


class TikTokShopSource:
    """One TikTok shop's API client (the `Source` protocol). Use ``close()`` or a ``with`` block."""

    resources: tuple[str, ...] = RESOURCES

    def __init__(self, *, app_key: str, app_secret: str, tokens: TokenStore, shop_cipher: str | None = None,
                 base_url: str = DEFAULT_BASE_URL, auth_base_url: str = DEFAULT_AUTH_URL, currency: str = "",
                 shop_tz: str = "UTC", page_size: int = 100, returns_page_size: int = 50,
                 timeout_s: float = 30.0, attempts: int = 5, backoff_s: float = 0.5, max_wait_s: float = 30.0,
                 refresh_margin: timedelta = timedelta(hours=1), affiliate_lookback: timedelta = timedelta(days=30),
                 affiliate_window: timedelta = timedelta(days=30), lives_lookback: timedelta = timedelta(days=2),
                 lives_history: timedelta = timedelta(days=90), prefetch: bool = True, prefetch_pages: int = 20,
                 max_retry_after_s: float = 120.0,
                 clock: Callable[[], float] = time.time, transport: httpx.BaseTransport | None = None) -> None:
        """``currency`` is the shop's, used only where an answer leaves it out; ``shop_tz`` is the shop's IANA
        zone (LIVE analytics take dates in it); ``lives_history`` bounds a first LIVE sync (``since=None``);
        ``prefetch`` fetches and maps pages in one helper thread, up to ``prefetch_pages`` ahead of the caller;
        ``max_retry_after_s`` caps how long a Retry-After header can hold the next attempt back."""
        if not 1 <= page_size <= 100 or not 10 <= returns_page_size <= 50:
            raise ValueError("page_size must be 1-100 and returns_page_size 10-50")
        self.app_key = app_key
        self._secret = app_secret
        self._store = tokens
        self._cipher = shop_cipher
        self.base_url, self.auth_base_url = base_url.rstrip("/"), auth_base_url.rstrip("/")
        self.currency, self.tz = currency, ZoneInfo(shop_tz)
        self.page_size, self.returns_page_size = page_size, returns_page_size
        self.attempts, self.backoff_s, self.max_wait_s = attempts, backoff_s, max_wait_s
        self.max_retry_after_s = max_retry_after_s
        self.refresh_margin = refresh_margin
        self.affiliate_lookback, self.affiliate_window = affiliate_lookback, affiliate_window
        self.lives_lookback, self.lives_history = lives_lookback, lives_history
        self._clock = clock
        self._tokens: Tokens | None = None
        self._stale = False                 # the platform said the access token expired
        self._not_before = 0.0              # monotonic time before which no call is sent (Retry-After)
        self._token_lock = threading.Lock()
        self._prefetch = prefetch
        self.prefetch_pages = max(1, prefetch_pages)
        self._ahead: queue.Queue[Any] | None = None   # the prefetched pages of the listing in progress
        self._peeked: Any = None                          # (queue, the next page of it), taken by page_ready
        self._executor: ThreadPoolExecutor | None = None
        self._encoder: OrderEncoder | None = None             # set: orders are listed encoded (encode_orders_with)
        self._http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(timeout_s),
                                  limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=30.0),
                                  transport=transport, follow_redirects=False)

    def __repr__(self) -> str:
        return f"TikTokShopSource(app_key={self.app_key!r}, base_url={self.base_url!r})"

    def __enter__(self) -> TikTokShopSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._http.close()

    # ------------------------------------------------------------------ pages
    def pages(self, resource: str, since: datetime | None, until: datetime,
              resume: str | None = None) -> Iterator[Page]:
        if resource not in RESOURCES:
            raise ValueError(f"unknown resource {resource!r}; TikTok Shop has {RESOURCES}")
        window = [None if since is None else _ceil_s(since), _ceil_s(until)]
        state = self._decode_resume(resource, window, resume) if resume else None
        raw: _Raw
        if resource == "orders":
            raw = self._order_pages(window, state)
        elif resource == "returns":
            raw = self._return_pages(window, state)
        elif resource == "affiliate_orders":
            raw = self._affiliate_pages(since, until, state)
        elif resource == "products":
            raw = self._product_pages(since, state)
        else:
            raw = self._live_pages(since, until, state)
        pending: tuple[list[Record], datetime | None, dict[str, Any] | None] | None = None
        for records, high_water, nxt in raw:
            if not records:          # an empty page only moves the position of the page before it
                if pending is not None:
                    pending = (pending[0], pending[1], nxt)
                continue
            if pending is not None:
                yield self._page(resource, window, pending)
            pending = (records, high_water, nxt)
        if pending is not None:
            yield self._page(resource, window, pending)

    def _page(self, resource: str, window: list[int | None],
              item: tuple[list[Record], datetime | None, dict[str, Any] | None]) -> Page:
        records, high_water, nxt = item
        token = None if nxt is None else base64.urlsafe_b64encode(
            orjson.dumps({"r": resource, "w": window, **nxt})).decode().rstrip("=")
        return Page(resource, records, token, high_water)

    @staticmethod
    def _decode_resume(resource: str, window: list[int | None], token: str) -> dict[str, Any]:
        try:
            data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise SourceError(FailureKind.REQUEST, f"{resource}: the resume token is not one of ours") from exc
        if data.pop("r", None) != resource or data.pop("w", None) != window:
            raise SourceError(FailureKind.REQUEST, f"{resource}: the resume token belongs to another query "
                                                   "(resource or window)")
        return data

    def _fetched(self, what: str, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None,
                 token: str | None, kind: str, mapper: Callable[[dict[str, Any]], list[Any]]
                 ) -> Iterator[tuple[list[Any], str | None]]:
        """The pages of one paged query, from ``token`` on, as (records, next token); ``mapper`` turns an
        answer's data into records (see `_mapped`). With prefetch on, one helper thread requests AND maps the
        pages, running up to ``prefetch_pages`` pages ahead of the caller, so the network wait, the platform's
        time, JSON parsing and mapping overlap with the caller's work (the store's writes release the GIL, and a
        sync writes several pages per transaction). An error is raised to the caller at the page where it
        happened. Leaving early stops the helper (its retries too) and waits for its call in flight."""
        stop = threading.Event()

        def fetch(page_token: str | None) -> tuple[list[Any], str | None]:
            q = {**query, "page_token": page_token} if page_token else query
            data, content = self._call(what, method, path, q, body, stop)
            return self._mapped(data, content, kind, mapper), self._next_token(what, data, page_token)

        if not self._prefetch:
            while True:
                records, nxt = fetch(token)
                yield records, nxt
                if nxt is None:
                    return
                token = nxt
        ahead: queue.Queue[tuple[list[Any], str | None, BaseException | None]] = \
            queue.Queue(maxsize=self.prefetch_pages)

        def offer(item: tuple[list[Any], str | None, BaseException | None]) -> bool:
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def produce(page_token: str | None) -> None:
            try:
                while not stop.is_set():
                    records, nxt = fetch(page_token)
                    if not offer((records, nxt, None)) or nxt is None:
                        return
                    page_token = nxt
            except BaseException as exc:   # handed to the caller, raised there
                offer(([], None, exc))

        producer = self._pool().submit(produce, token)
        self._ahead = ahead   # page_ready peeks at the newest listing's queue
        try:
            while True:
                peeked = None
                if self._peeked is not None and self._peeked[0] is ahead:   # a page taken from this queue
                    peeked, self._peeked = self._peeked[1], None
                records, nxt, error = peeked or ahead.get()
                if error is not None:
                    raise error
                yield records, nxt
                if nxt is None:
                    return
        finally:
            if self._ahead is ahead:   # an older listing closed late leaves a newer one's queue alone
                self._ahead = None
            if self._peeked is not None and self._peeked[0] is ahead:
                self._peeked = None
            stop.set()
            with contextlib.suppress(Exception):
                producer.result()

    def page_ready(self, wait_s: float = 0.0) -> bool:
        """The next page of the listing in progress is fetched and mapped already, or is within `wait_s` (see
        Source). Called from the listing's own thread, between pages."""
        ahead = self._ahead
        if self._peeked is not None:   # one page held already (another listing's, if that one is still open)
            return self._peeked[0] is ahead
        if ahead is None:
            return False
        try:
            self._peeked = (ahead, ahead.get(timeout=wait_s) if wait_s > 0 else ahead.get_nowait())
        except queue.Empty:
            return False
        return True

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiktok-prefetch")
        return self._executor

    @staticmethod
    def _next_token(what: str, data: dict[str, Any], previous: str | None) -> str | None:
        token = data.get("next_page_token") or None
        if token is not None and token == previous:
            raise SourceError(FailureKind.SERVER, f"{what}: the platform repeated a page token")
        return token

    def _order_pages(self, window: list[int | None], state: dict[str, Any] | None) -> _Raw:
        body: dict[str, Any] = {"update_time_lt": window[1]}
        if window[0] is not None:
            body["update_time_ge"] = window[0]
        query = {"page_size": str(self.page_size), "sort_field": "update_time", "sort_order": "ASC"}
        encoder = self._encoder
        orders: list[Any]
        for orders, token in self._fetched("orders search", "POST", ORDERS_SEARCH, query, body,
                                           state.get("t") if state else None, "orders", self._order_records):
            if encoder is None:
                high = max(r.updated_at for r in orders) if orders else None
            else:   # encoded times compare as the times do
                high = encoder.datetime_of(max(r[1][UPDATED] for r in orders)) if orders else None
            yield list[Record](orders), high, ({"t": token} if token else None)

    def encode_orders_with(self, encoder: OrderEncoder) -> None:
        """List orders encoded with `encoder` (EncodedOrders, storage.ingest.encoding) instead of OrderRecords: the
        source's process encodes them straight from the answers (storage.ingest.fetch_process)."""
        self._encoder = encoder

    def _order_records(self, data: dict[str, Any]) -> list[Any]:
        orders = data.get("orders") or []
        lean = [o["id"] for o in orders if "payment" not in o or "line_items" not in o]
        if lean:
            details = {d["id"]: d for d in self._order_details(lean)}
            missing = [i for i in lean if i not in details]
            if missing:
                raise SourceError(FailureKind.SERVER, f"order detail did not return {len(missing)} order(s)")
            orders = [details.get(o["id"], o) for o in orders]
        encoder = self._encoder
        return [order_record(o) for o in orders] if encoder is None else [encoded_order(o, encoder) for o in orders]

    def _order_details(self, ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), MAX_DETAIL_IDS):
            data, _ = self._call("order detail", "GET", ORDERS_DETAIL,
                                 {"ids": ",".join(ids[start:start + MAX_DETAIL_IDS])}, None)
            out.extend(data.get("orders") or [])
        return out

    def fetch_orders(self, ids: Sequence[str]) -> list[OrderRecord]:
        """Orders by id through the detail API (50 a call); ids the platform does not know are left out."""
        result: list[OrderRecord] = []
        for start in range(0, len(ids), MAX_DETAIL_IDS):
            data, content = self._call("order detail", "GET", ORDERS_DETAIL,
                                       {"ids": ",".join(ids[start:start + MAX_DETAIL_IDS])}, None)
            result.extend(self._mapped(data, content, "orders",
                                       lambda d: [order_record(o) for o in d.get("orders") or []]))
        return result

    def _return_pages(self, window: list[int | None], state: dict[str, Any] | None) -> _Raw:
        body: dict[str, Any] = {"update_time_lt": window[1]}
        if window[0] is not None:
            body["update_time_ge"] = window[0]
        query = {"page_size": str(self.returns_page_size), "sort_field": "update_time", "sort_order": "ASC"}
        first_stage = int(state.get("s", 0)) if state else 0
        token = state.get("t") if state else None
        stages = ((RETURNS_SEARCH, "return_orders", False), (CANCELLATIONS_SEARCH, "cancellations", True))
        currency = self.currency
        for stage in range(first_stage, len(stages)):
            path, key, cancels = stages[stage]
            what = "cancellations search" if cancels else "returns search"
            found: list[ReturnRecord]
            for found, nxt in self._fetched(what, "POST", path, query, body, token, "returns",
                                            lambda d, k=key, c=cancels: [
                                                rec for r in d.get(k) or []
                                                if (rec := return_record(r, c, currency)) is not None]):
                high = max(r.updated_at for r in found) if found else None
                after = {"s": stage, "t": nxt} if nxt else ({"s": stage + 1, "t": None}
                                                              if stage + 1 < len(stages) else None)
                yield list[Record](found), high, after
            token = None

    def _affiliate_pages(self, since: datetime | None, until: datetime, state: dict[str, Any] | None) -> _Raw:
        lt = _ceil_s(until)
        if since is None:
            windows: list[tuple[int | None, int]] = [(None, lt)]
        else:
            ge = _ceil_s(since - self.affiliate_lookback)
            step = max(1, int(self.affiliate_window.total_seconds()))
            windows = [(start, min(lt, start + step)) for start in range(ge, lt, step)]
        if state and state.get("c") is not None:
            windows = [w for w in windows if w[0] is not None and w[0] >= state["c"]]
        token = state.get("t") if state else None
        query = {"page_size": str(self.page_size)}
        currency = self.currency
        for number, (w_ge, w_lt) in enumerate(windows):
            body: dict[str, Any] = {"create_time_lt": w_lt}
            if w_ge is not None:
                body["create_time_ge"] = w_ge
            found: list[AffiliateRecord]
            for found, nxt in self._fetched("affiliate orders search", "POST", AFFILIATE_SEARCH, query, body, token,
                                            "affiliate_orders", lambda d: [
                                                rec for o in d.get("orders") or []
                                                for rec in affiliate_records(o, currency)]):
                high = max(r.created_at for r in found) if found else None
                after: dict[str, Any] | None = {"c": w_ge, "t": nxt} if nxt else (
                    {"c": windows[number + 1][0], "t": None} if number + 1 < len(windows) else None)
                yield list[Record](found), high, after
            token = None

    def _live_pages(self, since: datetime | None, until: datetime, state: dict[str, Any] | None) -> _Raw:
        start = (until - self.lives_history) if since is None else (since - self.lives_lookback)
        first = start.astimezone(self.tz).date()
        last = (until - timedelta(microseconds=1)).astimezone(self.tz).date()
        query = {"start_date_ge": first.isoformat(), "end_date_lt": (last + timedelta(days=1)).isoformat(),
                 "page_size": "100", "currency": "LOCAL"}
        currency = self.currency
        found: list[LiveRecord]
        for found, nxt in self._fetched("lives performance", "GET", LIVES_PERFORMANCE, query, None,
                                        state.get("t") if state else None, "lives", lambda d: [
                                            live_record(s, currency) for s in d.get("live_stream_sessions") or []]):
            high = max(r.started_at for r in found) if found else None
            yield list[Record](found), high, ({"t": nxt} if nxt else None)

    def _product_pages(self, since: datetime | None, state: dict[str, Any] | None) -> _Raw:
        tz = self.tz
        # the stock is what the platform has now: the shop-zone day of the fetch (the source's clock), not of the
        # window's end, which a listing resumed after a crash keeps from an earlier day
        listing = DailyListing.at(datetime.fromtimestamp(self._clock(), tz), tz)
        day, listed = listing.day, listing.high_water
        if listing.done_by(since, resuming=state is not None):
            return   # listed today already (bot.shops.daily): nothing to ask
        found: list[ProductRecord]
        for found, nxt in self._fetched("products search", "POST", PRODUCTS_SEARCH, {"page_size": str(self.page_size)},
                                        {}, state.get("t") if state else None, "products",
                                        lambda d: [product_record(p, tz, day) for p in d.get("products") or []]):
            yield list[Record](found), listed, ({"t": nxt} if nxt else None)

    @staticmethod
    def _mapped(data: dict[str, Any], content: bytes, what: str, mapper: Callable[[dict[str, Any]], list[Any]]
                ) -> list[Any]:
        """Map an answer's data to records; a float where money belongs means: parse it again, floats as
        Decimal. A shape we cannot read is a SERVER error (retried: a truncated or odd answer)."""
        try:
            try:
                return mapper(data)
            except _FloatMoney:
                return mapper(json.loads(content, parse_float=Decimal).get("data") or {})
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError, _FloatMoney) as exc:
            raise SourceError(FailureKind.SERVER, f"{what}: unexpected answer shape ({type(exc).__name__})") \
                from None

    # ------------------------------------------------------------------ calls
    def _call(self, what: str, method: str, path: str, query: dict[str, str], body_obj: dict[str, Any] | None,
              stop: threading.Event | None = None) -> tuple[dict[str, Any], bytes]:
        """One signed shop call with retries; returns (data, raw answer bytes). ``stop`` set: no new attempt."""
        body = orjson.dumps(body_obj) if body_obj is not None else b""

        def attempt() -> tuple[dict[str, Any], bytes]:
            if stop is not None and stop.is_set():
                raise SourceError(FailureKind.REQUEST, f"{what}: abandoned (the pages were not read on)")
            wait = self._not_before - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            token = None
            try:
                token = self._access_token()
                params = {**query, "app_key": self.app_key, "timestamp": str(int(self._clock())),
                          "shop_cipher": self._shop_cipher()}
                params["sign"] = sign(path, params, body, self._secret)
                headers = {"x-tts-access-token": token}
                if method == "POST":
                    headers["content-type"] = "application/json"
                url = self.base_url + path + "?" + urlencode(params)   # one URL parse instead of three
                try:
                    response = self._http.request(method, url, headers=headers,
                                                  content=body if method == "POST" else None)
                except httpx.HTTPError as exc:
                    raise transport_error(what, exc) from None
                return self._answer(what, response), response.content
            except SourceError as exc:
                if exc.retry_after_s:
                    self._not_before = time.monotonic() + min(exc.retry_after_s, self.max_retry_after_s)
                if exc.kind is FailureKind.TOKEN_EXPIRED:
                    with self._token_lock:    # stale only if no other thread has refreshed it meanwhile
                        if self._tokens is not None and self._tokens.access_token == token:
                            self._stale = True
                raise

        return with_backoff(what, attempt, attempts=self.attempts, backoff_s=self.backoff_s,
                            max_wait_s=self.max_wait_s)

    def _answer(self, what: str, response: httpx.Response, refresh: bool = False) -> dict[str, Any]:
        status = response.status_code
        retry_after = _retry_after(response) if status in (429, 503) else None
        try:
            doc = orjson.loads(response.content)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("code"), int):
            code = doc["code"]
            if code == 0 and status < 400:
                data = doc.get("data")
                return data if isinstance(data, dict) else {}
            kind = error_kind(code, status)
            if refresh and kind not in (FailureKind.RATE_LIMITED, FailureKind.SERVER):
                kind = FailureKind.AUTH       # a refused refresh: the shop must be authorized again
            message = self._scrub(str(doc.get("message") or ""))[:200]
            raise SourceError(kind, f"{what}: {message or 'refused'}", code=code, retry_after_s=retry_after)
        if status == 429:
            raise SourceError(FailureKind.RATE_LIMITED, f"{what}: rate limited", code=429, retry_after_s=retry_after)
        if status >= 500:
            raise SourceError(FailureKind.SERVER, f"{what}: server error", code=status, retry_after_s=retry_after)
        if status in (401, 403):
            raise SourceError(FailureKind.AUTH, f"{what}: not authorized", code=status)
        if status >= 400:
            raise SourceError(FailureKind.REQUEST, f"{what}: refused", code=status)
        raise SourceError(FailureKind.SERVER, f"{what}: malformed JSON answer", code=status)

    def _scrub(self, text: str) -> str:
        """Platform messages should never echo a credential; make sure of it."""
        secrets = [self._secret]
        if self._tokens is not None:
            secrets += [self._tokens.access_token, self._tokens.refresh_token or ""]
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    # ------------------------------------------------------------------ tokens
    def _shop_cipher(self) -> str:
        cipher = self._cipher or (self._tokens.extra.get("shop_cipher") if self._tokens else None)
        if not cipher:
            raise SourceError(FailureKind.AUTH, "no shop_cipher for this TikTok shop (authorization incomplete)")
        return cipher

    def _expiring(self, tokens: Tokens) -> bool:
        return tokens.expires_at is not None and \
            _epoch(tokens.expires_at) - self._clock() < self.refresh_margin.total_seconds()

    def _access_token(self) -> str:
        with self._token_lock:    # the prefetch thread and the caller's thread may both need a refresh
            if self._tokens is None:
                self._tokens = self._store.load()
                if self._tokens is None:
                    raise SourceError(FailureKind.AUTH, "no TikTok Shop tokens stored: authorize the shop")
            if self._stale or self._expiring(self._tokens):
                self._refresh()
            return self._tokens.access_token

    def _expiry(self, value: Any) -> datetime:
        """TikTok sends absolute Unix times; a small number would be a lifetime in seconds (guarded, so a
        changed answer cannot make every call refresh)."""
        seconds = int(value)
        return datetime.fromtimestamp(seconds if seconds > 1_000_000_000 else self._clock() + seconds, UTC)

    def _refresh(self) -> None:
        current = self._tokens
        assert current is not None
        stored = self._store.load()
        if stored is not None and stored.access_token != current.access_token and not self._expiring(stored):
            self._tokens, self._stale = stored, False    # another client refreshed already
            return
        base = stored or current
        if not base.refresh_token or (base.refresh_expires_at is not None
                                      and _epoch(base.refresh_expires_at) <= self._clock()):
            raise SourceError(FailureKind.AUTH, "the refresh token is missing or expired: authorize the shop again")
        params = {"app_key": self.app_key, "app_secret": self._secret, "refresh_token": base.refresh_token,
                  "grant_type": "refresh_token"}
        try:
            response = self._http.get(self.auth_base_url + TOKEN_REFRESH, params=params)
        except httpx.HTTPError as exc:
            raise transport_error("token refresh", exc) from None
        data = self._answer("token refresh", response, refresh=True)
        try:
            new = Tokens(access_token=str(data["access_token"]),
                         refresh_token=str(data.get("refresh_token") or base.refresh_token),
                         expires_at=self._expiry(data["access_token_expire_in"]),
                         refresh_expires_at=(self._expiry(data["refresh_token_expire_in"])
                                             if data.get("refresh_token_expire_in") else base.refresh_expires_at),
                         extra=dict(base.extra))
        except (KeyError, TypeError, ValueError):
            raise SourceError(FailureKind.SERVER, "token refresh: unexpected answer shape") from None
        self._store.save(new)          # before use: a single-use refresh token must not be lost
        self._tokens, self._stale = new, False
        log.info("tiktok shop tokens refreshed for app %s; access token valid until %s", self.app_key,
                 new.expires_at.isoformat() if new.expires_at else "?")

"""Amazon Selling Partner API order source: getOrders by LastUpdatedAfter, NextToken paging, paced per shop.

Records: getOrders has no line items, so each order's items are read with getOrderItems
(``/orders/v0/orders/{id}/orderItems``, 0.5 requests/s with a burst of 30, its own bucket per shop; NextToken
paged). A line is an OrderItem: quantity QuantityOrdered, amount ItemPrice (the price of the whole quantity)
less PromotionDiscount, unit price that amount / quantity rounded to the currency (display only). The order's
subtotal is the sum of ItemPrice, discount the sum of PromotionDiscount, merchandise (the GMV base) subtotal -
discount, without shipping and tax like the other platforms; shipping = ShippingPrice - ShippingDiscount, tax =
ItemTax + ShippingTax - PromotionDiscountTax; total = OrderTotal.Amount, else merchandise + shipping + tax.
Amazon leaves prices out for some orders (Pending ones at least): their lines have amount 0 (units still
count) and an order without OrderTotal gets 0 in the shop's ``currency``. Where a marketplace prices gross
(EU VAT), ItemPrice may already hold the tax ItemTax reports (UNVERIFIED): merchandise there may include it.
One getOrderItems call per order makes a first sync of a big shop slow (one order every 2 seconds after the
burst): the platform's limit, not ours (``order_items=False`` syncs orders alone).
``paid_at`` is the PurchaseDate for orders past Pending (Amazon charges at
purchase and has no separate payment time); ``cancelled_at`` is the LastUpdateDate of a Canceled order.
``shipped_at`` is None on the order records: getOrders gives no time the goods were shipped (EarliestShipDate and
LatestShipDate are the promised window, LastUpdateDate is any change). The shipped time comes from the finances
(below): Amazon charges the buyer when the seller confirms the shipment (Seller Central help), and the
ShipmentEvent of that charge is posted then, so the earliest ShipmentEvent PostedDate of an order is its shipped
time (a ShipmentRecord; the store keeps the earliest, keeps it when the order is fetched again without one, and
parks it until the order is stored). An order shipped in parts has one event per shipment: the first counts.

Time range: each page asks for ``LastUpdatedAfter = since`` and ``LastUpdatedBefore = until`` (both inclusive at
Amazon; the records are filtered to [since, until)). Amazon only answers for updates at least 2 minutes old,
so ``until`` must be at least ``settle`` (3 min, for clock skew) in the past: `pages` raises ValueError
otherwise rather than silently covering less than it was asked for. A Page's ``resume`` is
``{"next": NextToken}``; whether a NextToken still works after a long pause is not documented.

Rate: getOrders allows 0.0167 requests/s with a burst of 20, per selling partner and application. Each shop
has its own `TokenBucket` (shared by every AmazonSource of the same shop in this process, never by two
shops), so one shop's pacing never holds another back. A 429 empties the local bucket, so the retry waits
a whole restore interval, and the call is retried with backoff. The LWA access token is cached until
``token_margin`` before it expires; a 403 Unauthorized drops it and the retry fetches a new one; a second
new token refused in the same call means the authorization itself is wrong (AUTH).

Refunds and shipments (resource ``returns``): ``GET /finances/v0/financialEvents`` (listFinancialEvents, 0.5
requests/s, burst 30, its own bucket per shop) by ``PostedAfter``/``PostedBefore`` = [since, until), NextToken
paging. Each page's ``ShipmentEventList`` gives one `ShipmentRecord` per AmazonOrderId (its earliest PostedDate in
the page; the same call as the refunds, so no extra request); each event of ``RefundEventList`` becomes a
completed `RefundRecord` of kind refund at its PostedDate. Its amount is
the goods' money given back: the negated ``Principal`` item charge adjustments less the promotion adjustments
(promotions taken back), without shipping and tax, like the merchandise it is taken off. Financial events do
not say whether goods came back, so returned units are 0. The refund id is made of the order id, the posted
time and the adjustment item ids (Amazon gives none).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from bot.shops.http import transport_error, with_backoff
from scoring.money import exponent
from storage.ingest.records import (
    FailureKind,
    LineRecord,
    OrderRecord,
    OrderStatus,
    Page,
    RefundKind,
    RefundRecord,
    RefundStatus,
    ReturnRecord,
    ShipmentRecord,
    SourceError,
)

log = logging.getLogger(__name__)
# httpx logs every URL at INFO; keep request lines (and their query strings) out of the log.

NA_ENDPOINT = "https://sellingpartnerapi-na.amazon.com"
LWA_URL = "https://api.amazon.com/auth/o2/token"
ORDERS_PATH = "/orders/v0/orders"
GET_ORDERS_BURST = 20
GET_ORDERS_RATE = 0.0167          # requests per second, as published
FINANCES_PATH = "/finances/v0/financialEvents"
ITEMS_PATH = "/orders/v0/orders/{}/orderItems"
ITEMS_BURST = 30
ITEMS_RATE = 0.5                  # getOrderItems, as published
FINANCES_BURST = 30
FINANCES_RATE = 0.5               # listFinancialEvents, as published
USER_AGENT = "kpibot/0.1 (Language=Python)"

STATUS_MAP: dict[str, OrderStatus] = {
    "Pending": OrderStatus.UNPAID,              # placed, payment not authorized yet
    "PendingAvailability": OrderStatus.UNPAID,  # pre-order, not charged yet
    "Unshipped": OrderStatus.PAID,
    "PartiallyShipped": OrderStatus.PAID,       # not all items are with the carrier yet
    "Shipped": OrderStatus.SHIPPED,
    "InvoiceUnconfirmed": OrderStatus.SHIPPED,  # shipped, the invoice is not confirmed yet
    "Canceled": OrderStatus.CANCELLED,
    "Unfulfillable": OrderStatus.CANCELLED,
}
_UNPAID = frozenset({"Pending", "PendingAvailability", "Canceled"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TokenBucket:
    """Client-side copy of a published token bucket: `acquire` reserves a token and sleeps until it is
    due, outside the lock, so waiters queue in order and no one else's calls are held."""

    def __init__(self, burst: int, rate_per_s: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if burst < 1 or rate_per_s <= 0:
            raise ValueError("burst must be >= 1 and rate_per_s > 0")
        self.burst, self.rate = burst, rate_per_s
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now

    def acquire(self) -> float:
        """Take one token, sleeping first if none is left; returns the seconds waited."""
        with self._lock:
            self._refill()
            self._tokens -= 1            # may go negative: a reservation repaid by the refill
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait

    def drain(self) -> None:
        """The server said the bucket is empty: believe it."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 0.0)


_BUCKETS: dict[str, TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def shop_bucket(shop: str, burst: int = GET_ORDERS_BURST, rate_per_s: float = GET_ORDERS_RATE) -> TokenBucket:
    """The process-wide getOrders bucket of one shop (created with ``burst``/``rate_per_s`` on first use)."""
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(shop)
        if bucket is None:
            bucket = _BUCKETS[shop] = TokenBucket(burst, rate_per_s)
        return bucket


class AmazonSource:
    """One Amazon seller's orders in some marketplaces (the `Source` protocol); see the module docstring."""

    resources: tuple[str, ...] = ("orders", "returns")

    def __init__(self, *, client_id: str, client_secret: str, refresh_token: str, marketplace_ids: Sequence[str],
                 currency: str, endpoint: str = NA_ENDPOINT, lwa_url: str = LWA_URL, shop: str | None = None,
                 page_size: int = 100, history: timedelta = timedelta(days=90),
                 settle: timedelta = timedelta(minutes=3), burst: int = GET_ORDERS_BURST,
                 rate_per_s: float = GET_ORDERS_RATE, items_rate_per_s: float | None = None, order_items: bool = True,
                 timeout_s: float = 30.0, attempts: int = 5,
                 backoff_s: float = 1.0, max_wait_s: float = 60.0, token_margin: timedelta = timedelta(minutes=5),
                 clock: Callable[[], datetime] = _utcnow, http: httpx.Client | None = None) -> None:
        """``shop`` keys the rate bucket (default: a hash of the app and the refresh token, i.e. the seller
        authorization); ``currency`` is used for orders without an OrderTotal; ``history`` is how far back a
        first sync (``since=None``) reaches; ``items_rate_per_s`` paces getOrderItems (default: ``rate_per_s`` scaled
        by the published ratio, so 0.5/s with the published getOrders rate); ``order_items=False`` skips
        getOrderItems (no lines, units 0, merchandise = OrderTotal): a quick orders-only sync of a long history."""
        if not marketplace_ids:
            raise ValueError("at least one marketplace id is required")
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be 1-100")
        self.client_id = client_id
        self.marketplace_ids = tuple(marketplace_ids)
        self.currency = currency
        self.endpoint = endpoint.rstrip("/")
        self.lwa_url = lwa_url
        self.page_size, self.history, self.settle = page_size, history, settle
        self.attempts, self.backoff_s, self.max_wait_s = attempts, backoff_s, max_wait_s
        self.token_margin = token_margin
        self.shop = shop or hashlib.sha256(f"{client_id}\n{refresh_token}".encode()).hexdigest()[:16]
        self.bucket = shop_bucket(self.shop, burst, rate_per_s)
        self.finances_bucket = shop_bucket(self.shop + ":finances", FINANCES_BURST, FINANCES_RATE)
        self.order_items = order_items
        self.items_bucket = shop_bucket(self.shop + ":items", ITEMS_BURST,
                                        items_rate_per_s or rate_per_s * ITEMS_RATE / GET_ORDERS_RATE)
        self._secret, self._refresh_token = client_secret, refresh_token
        self._clock = clock
        self._http = http or httpx.Client(timeout=timeout_s, headers={"Accept": "application/json",
                                                                     "User-Agent": USER_AGENT})
        self._token: tuple[str, datetime] | None = None     # (LWA access token, expiry)
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AmazonSource(shop={self.shop!r}, marketplaces={self.marketplace_ids})"

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ pages
    def pages(self, resource: str, since: datetime | None, until: datetime,
              resume: str | None = None) -> Iterator[Page]:
        """Orders whose LastUpdateDate is in [since, until), one Page per getOrders answer. Amazon serves only
        updates older than 2 minutes, so `until` is held back to `settle` before now; the sync's overlap (longer
        than that) fetches the rest next time."""
        if resource not in self.resources:
            raise ValueError(f"AmazonSource has no resource {resource!r}")
        until = min(until, self._clock() - self.settle)
        lo = since if since is not None else until - self.history
        if lo >= until:
            return
        if resource == "returns":
            yield from self._refund_pages(lo, until, resume)
            return
        marketplaces = ",".join(self.marketplace_ids)
        params: dict[str, Any] = {"MarketplaceIds": marketplaces, "MaxResultsPerPage": self.page_size}
        if resume is not None:
            params["NextToken"] = _decode_resume(resume)
        else:
            params.update(LastUpdatedAfter=_iso(lo), LastUpdatedBefore=_iso(until))
        while True:
            payload = self._get_orders(params)
            orders = payload.get("Orders")
            if not isinstance(orders, list):
                raise SourceError(FailureKind.SERVER, "amazon getOrders: the payload has no Orders list")
            records = [self._with_items(r) for r in (self._record(o) for o in orders) if lo <= r.updated_at < until]
            next_token = payload.get("NextToken") or None
            log.debug("amazon shop %s: %d orders in a page", self.shop, len(records))
            yield Page(resource="orders", records=records,
                       resume=_encode_resume(str(next_token)) if next_token else None,
                       high_water=max((r.updated_at for r in records), default=None))
            if not next_token:
                return
            params = {"MarketplaceIds": marketplaces, "MaxResultsPerPage": self.page_size,
                      "NextToken": str(next_token)}

    def _refund_pages(self, lo: datetime, until: datetime, resume: str | None) -> Iterator[Page]:
        """listFinancialEvents by PostedDate in [lo, until): one Page per answer, its RefundEventList's refunds and
        its ShipmentEventList's shipped times."""
        params: dict[str, Any] = {"MaxResultsPerPage": self.page_size}
        if resume is not None:
            params["NextToken"] = _decode_resume(resume)
        else:
            params.update(PostedAfter=_iso(lo), PostedBefore=_iso(until))
        while True:
            payload = self._get(FINANCES_PATH, params, self.finances_bucket, "amazon listFinancialEvents")
            found = payload.get("FinancialEvents") or {}
            events, shipments = found.get("RefundEventList") or [], found.get("ShipmentEventList") or []
            if not isinstance(events, list) or not isinstance(shipments, list):
                raise SourceError(FailureKind.SERVER,
                                  "amazon listFinancialEvents: RefundEventList or ShipmentEventList is not a list")
            records: list[ReturnRecord | ShipmentRecord] = [
                r for r in (self._refund(e) for e in events) if lo <= r.updated_at < until]
            records.extend(_shipped(shipments, lo, until))
            next_token = payload.get("NextToken") or None
            yield Page(resource="returns", records=records,
                       resume=_encode_resume(str(next_token)) if next_token else None,
                       high_water=max((r.updated_at for r in records), default=None))
            if not next_token:
                return
            params = {"MaxResultsPerPage": self.page_size, "NextToken": str(next_token)}

    def _refund(self, e: Any) -> ReturnRecord:
        """One refund event: the money back on the goods (Principal charges less the promotions given back),
        completed when posted. Amazon gives no refund id: the order id, the posted time and the adjustment item
        ids make one."""
        try:
            order_id, posted = str(e["AmazonOrderId"]), _parse_time(e["PostedDate"])
            amount, currency, items = Decimal(0), self.currency, []
            for adj in e.get("ShipmentItemAdjustmentList") or ():
                items.append(str(adj.get("OrderAdjustmentItemId") or adj.get("SellerSKU") or ""))
                for charge in adj.get("ItemChargeAdjustmentList") or ():
                    if charge.get("ChargeType") == "Principal":
                        money = charge["ChargeAmount"]
                        currency = str(money["CurrencyCode"])
                        amount -= _decimal(money["CurrencyAmount"])
                for promo in adj.get("PromotionAdjustmentList") or ():
                    amount -= _decimal(promo["PromotionAmount"]["CurrencyAmount"])
            refund_id = f"{order_id}@{int(posted.timestamp())}:{','.join(sorted(items))}"
            return ReturnRecord(order_id, RefundRecord(refund_id, RefundKind.REFUND, RefundStatus.COMPLETED,
                                                       currency, amount, posted, posted, 0), posted)
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            raise SourceError(FailureKind.SERVER,
                              f"amazon refund event is malformed ({exc.__class__.__name__}: {exc})") from None

    def _with_items(self, order: OrderRecord) -> OrderRecord:
        """The order with its getOrderItems lines and the amounts they split out (see the module docstring)."""
        if not self.order_items:
            return order
        items: list[Any] = []
        params: dict[str, Any] = {}
        path = ITEMS_PATH.format(order.platform_order_id)
        while True:
            payload = self._get(path, params, self.items_bucket, "amazon getOrderItems")
            found = payload.get("OrderItems")
            if not isinstance(found, list):
                raise SourceError(FailureKind.SERVER, "amazon getOrderItems: the payload has no OrderItems list")
            items.extend(found)
            if not payload.get("NextToken"):
                break
            params = {"NextToken": str(payload["NextToken"])}
        try:
            return _priced(order, items)
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            raise SourceError(FailureKind.SERVER,
                              f"amazon order items are malformed ({exc.__class__.__name__}: {exc})") from None

    def _record(self, o: Any) -> OrderRecord:
        try:
            status_name = str(o["OrderStatus"])
            status = STATUS_MAP.get(status_name)
            if status is None:
                raise SourceError(FailureKind.REQUEST, f"amazon order status {status_name!r} is not mapped")
            total_obj = o.get("OrderTotal")
            if total_obj:
                currency, total = str(total_obj["CurrencyCode"]), Decimal(str(total_obj["Amount"]))
            else:
                currency, total = self.currency, Decimal(0)
            created_at, updated_at = _parse_time(o["PurchaseDate"]), _parse_time(o["LastUpdateDate"])
            return OrderRecord(
                platform_order_id=str(o["AmazonOrderId"]), status=status, currency=currency, subtotal=total,
                discount=Decimal(0), merchandise=total, shipping=Decimal(0), tax=Decimal(0), total=total,
                created_at=created_at, updated_at=updated_at,
                paid_at=None if status_name in _UNPAID else created_at,
                cancelled_at=updated_at if status is OrderStatus.CANCELLED else None)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise SourceError(FailureKind.SERVER,
                              f"amazon order is malformed ({exc.__class__.__name__}: {exc})") from None

    # ------------------------------------------------------------------ calls
    def _get_orders(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._get(ORDERS_PATH, params, self.bucket, "amazon getOrders")

    def _get(self, path: str, params: dict[str, Any], bucket: TokenBucket, what: str) -> dict[str, Any]:
        refused_fresh = 0       # a client's first token is always fresh: give a refused one a second chance

        def attempt() -> dict[str, Any]:
            nonlocal refused_fresh
            token, fresh = self._access_token()
            bucket.acquire()
            try:
                resp = self._http.get(self.endpoint + path, params=params,
                                      headers={"x-amz-access-token": token})
            except httpx.HTTPError as exc:
                raise transport_error(what, exc) from None
            body = _json(resp)
            code, message = _first_error(body)
            if resp.status_code == 429:
                bucket.drain()
                raise SourceError(FailureKind.RATE_LIMITED, f"{what}: {code or 'throttled'} (limit "
                                  f"{resp.headers.get('x-amzn-RateLimit-Limit', '?')}/s)", 429)
            if resp.status_code >= 500:
                raise SourceError(FailureKind.SERVER, f"{what}: HTTP {resp.status_code} {code}",
                                  code or resp.status_code)
            if resp.status_code in (401, 403):
                if fresh:
                    refused_fresh += 1
                if code == "Unauthorized" and refused_fresh < 2:
                    self._forget_token(token)
                    raise SourceError(FailureKind.TOKEN_EXPIRED, f"{what}: {message}", code)
                raise SourceError(FailureKind.AUTH, f"{what}: {message or 'access denied'}", code or resp.status_code)
            if resp.status_code != 200:
                raise SourceError(FailureKind.REQUEST, f"{what}: HTTP {resp.status_code} {code}: {message}",
                                  code or resp.status_code)
            payload = body.get("payload") if body is not None else None
            if not isinstance(payload, dict):
                raise SourceError(FailureKind.SERVER, f"{what}: the answer is not a JSON payload")
            return payload

        return with_backoff(what, attempt, attempts=self.attempts, backoff_s=self.backoff_s,
                            max_wait_s=self.max_wait_s)

    def _access_token(self) -> tuple[str, bool]:
        """The cached LWA access token, or a new one (then True) when it is missing or near expiry."""
        with self._token_lock:
            now = self._clock()
            if self._token is not None and now < self._token[1] - self.token_margin:
                return self._token[0], False
            what = "amazon LWA token"
            form = {"grant_type": "refresh_token", "refresh_token": self._refresh_token,
                    "client_id": self.client_id, "client_secret": self._secret}
            try:
                resp = self._http.post(self.lwa_url, data=form)
            except httpx.HTTPError as exc:
                raise transport_error(what, exc) from None
            body = _json(resp) or {}
            error = str(body.get("error") or "")
            if resp.status_code == 429:
                raise SourceError(FailureKind.RATE_LIMITED, f"{what}: throttled", 429)
            if resp.status_code >= 500:
                raise SourceError(FailureKind.SERVER, f"{what}: HTTP {resp.status_code}", resp.status_code)
            if resp.status_code != 200:   # invalid_client, invalid_grant, ...: the credentials are wrong
                described = str(body.get("error_description") or "")
                raise SourceError(FailureKind.AUTH, f"{what}: {error} {described}".strip(),
                                  error or resp.status_code)
            try:
                token, ttl = str(body["access_token"]), int(body["expires_in"])
            except (KeyError, TypeError, ValueError):
                raise SourceError(FailureKind.SERVER, f"{what}: the answer lacks access_token") from None
            self._token = (token, now + timedelta(seconds=ttl))
            log.info("amazon shop %s: LWA access token valid until %s", self.shop, self._token[1].isoformat())
            return token, True

    def _forget_token(self, token: str) -> None:
        with self._token_lock:
            if self._token is not None and self._token[0] == token:
                self._token = None


def _shipped(events: list[Any], lo: datetime, until: datetime) -> list[ShipmentRecord]:
    """One ShipmentRecord per order: its earliest ShipmentEvent PostedDate in [lo, until)."""
    first: dict[str, datetime] = {}
    try:
        for e in events:
            order_id, posted = str(e["AmazonOrderId"]), _parse_time(e["PostedDate"])
            if lo <= posted < until and (order_id not in first or posted < first[order_id]):
                first[order_id] = posted
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(FailureKind.SERVER,
                          f"amazon shipment event is malformed ({exc.__class__.__name__}: {exc})") from None
    return [ShipmentRecord(order_id, at, at) for order_id, at in first.items()]


def _json(resp: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(resp.content, parse_float=Decimal)   # Amounts are strings; a number stays exact too
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _first_error(body: dict[str, Any] | None) -> tuple[str, str]:
    errors = body.get("errors") if body is not None else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("code") or ""), str(errors[0].get("message") or "")
    return "", ""


def _amount(item: dict[str, Any], key: str) -> Decimal:
    money = item.get(key)
    return _decimal(money["Amount"]) if money else Decimal(0)


def _priced(order: OrderRecord, items: list[Any]) -> OrderRecord:
    """`order` with lines from its items: quantity QuantityOrdered, amount ItemPrice - PromotionDiscount (ItemPrice
    is the line's price, quantity included); subtotal, discount, merchandise, shipping and tax summed from them."""
    lines, subtotal, discount, shipping, tax = [], Decimal(0), Decimal(0), Decimal(0), Decimal(0)
    currency = order.currency
    for item in items:
        price, promo = _amount(item, "ItemPrice"), _amount(item, "PromotionDiscount")
        if item.get("ItemPrice"):
            currency = str(item["ItemPrice"]["CurrencyCode"])
        quantity = int(item.get("QuantityOrdered") or 0)
        amount = price - promo
        step = Decimal(1).scaleb(-exponent(currency))
        unit = (amount / quantity).quantize(step) if quantity else Decimal(0)   # display only; amount is exact
        lines.append(LineRecord(str(item["OrderItemId"]), str(item.get("ASIN") or ""), str(item.get("SellerSKU") or ""),
                                str(item.get("Title") or ""), quantity, unit, amount, item.get("SellerSKU") or None))
        subtotal += price
        discount += promo
        shipping += _amount(item, "ShippingPrice") - _amount(item, "ShippingDiscount")
        tax += _amount(item, "ItemTax") + _amount(item, "ShippingTax") - _amount(item, "PromotionDiscountTax")
    merchandise = subtotal - discount
    total = order.total if order.total else merchandise + shipping + tax
    return order._replace(currency=currency, subtotal=subtotal, discount=discount, merchandise=merchandise,
                          shipping=shipping, tax=tax, total=total, lines=tuple(lines))


def _decimal(value: Any) -> Decimal:
    """An amount (a JSON number parsed as Decimal, or text), never through float."""
    if isinstance(value, float | bool):
        raise TypeError("an amount was parsed as float")
    return Decimal(str(value))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: Any) -> datetime:
    parsed = datetime.fromisoformat(str(text))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _encode_resume(next_token: str) -> str:
    return json.dumps({"next": next_token}, separators=(",", ":"))


def _decode_resume(token: str) -> str:
    try:
        next_token = json.loads(token)["next"]
        if not isinstance(next_token, str) or not next_token:
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise SourceError(FailureKind.REQUEST, "not an AmazonSource resume token") from None
    return next_token

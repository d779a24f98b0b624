"""A fake Amazon Selling Partner API (getOrders) and Login with Amazon token endpoint, for
`bot.shops.amazon`. Same shape as the other fakes (aiohttp on 127.0.0.1:0 in a daemon thread; the
server half is `tests.fakes.shopee.ShopApiFake`)::

    with FakeAmazon(restore_per_s=5) as fake:
        source = AmazonSource(client_id=fake.client_id, client_secret=fake.client_secret,
                              refresh_token=fake.refresh_token, marketplace_ids=[fake.marketplace_id],
                              currency=fake.currency, endpoint=fake.base_url, lwa_url=fake.lwa_url,
                              clock=fake.now)

One fake is one selling partner (one shop); run two fakes for two shops. What it enforces (facts from
/work/shared/notes/shop-apis.md unless marked UNVERIFIED):

* ``POST /auth/o2/token``, form body ``grant_type=refresh_token``, ``refresh_token``, ``client_id``,
  ``client_secret``: a wrong client id or secret answers 401 ``{"error": "invalid_client"}``; an unknown refresh
  token 400 ``invalid_grant``; another grant type 400 ``unsupported_grant_type``. Success:
  ``{access_token, refresh_token (the same one: LWA does not rotate it), token_type: "bearer", expires_in}``.
  The access token lives ``token_ttl_s`` (3600) on the fake's settable clock.
* ``GET /orders/v0/orders``: header ``x-amz-access-token`` issued here and not expired, else 403
  ``{"errors": [{"code": "Unauthorized", ...}]}``; then the token bucket; then the parameters:
  ``MarketplaceIds`` required (this fake's marketplace), exactly one of ``CreatedAfter``/``LastUpdatedAfter``
  (ISO 8601), ``MaxResultsPerPage`` 1-100, else 400 ``InvalidInput``. ``CreatedBefore``/``LastUpdatedBefore``
  only with their After, not before it, and at least 2 minutes before the request time (UNVERIFIED, from
  memory of the reference). With ``NextToken`` only ``MarketplaceIds`` is needed and the date parameters are
  ignored (UNVERIFIED). Both ends of the date range are inclusive ("after (or at)", "before (or at)").
  Answers ``{"payload": {"Orders": [...], "NextToken"?, "LastUpdatedBefore" | "CreatedBefore"}}``, oldest
  update first (the real order is UNVERIFIED), and ``x-amzn-RateLimit-Limit`` on every getOrders answer.
* ``GET /orders/v0/orders/{AmazonOrderId}/orderItems`` (getOrderItems): same token check, its own bucket (burst
  30, restored 30 times as fast as getOrders': the published 0.5/s against 0.0167/s); ``payload.OrderItems[]``
  with ``OrderItemId``, ``ASIN``, ``SellerSKU``, ``Title``, ``QuantityOrdered``, ``QuantityShipped`` and the money
  objects ``ItemPrice`` (the whole quantity), ``ShippingPrice``, ``ItemTax``, ``ShippingTax``, ``ShippingDiscount``,
  ``PromotionDiscount``, ``PromotionDiscountTax`` (left out where the order hides OrderTotal: UNVERIFIED). The
  items split OrderTotal exactly: goods after promotions + shipping + tax. No NextToken (one page).
* Rate: a token bucket exactly as published for getOrders, burst 20, restored at 0.0167 requests/s
  (``restore_per_s`` is configurable so tests run fast), on real monotonic time; an empty bucket answers 429
  ``QuotaExceeded`` with ``x-amzn-RateLimit-Limit``. Refused tokens do not spend the bucket.
* Orders: ``AmazonOrderId``, ``PurchaseDate``, ``LastUpdateDate``, ``OrderStatus``, ``OrderTotal``
  ``{CurrencyCode, Amount (string)}``, ``NumberOfItemsShipped``/``NumberOfItemsUnshipped``, ``MarketplaceId``,
  ``FulfillmentChannel``, ``SalesChannel``. ``OrderTotal`` is left out for Pending and Canceled orders
  (UNVERIFIED: the real API omits it for Pending orders at least); ``expected_totals`` counts merchandise only
  where it is shown.

* ``GET /finances/v0/financialEvents`` (listFinancialEvents): the same access token check; its own bucket
  (burst 30, 0.5/s as published); ``PostedAfter`` required without ``NextToken``, ``PostedBefore`` after it and at
  least 2 minutes before now (default), ``MaxResultsPerPage`` 1-100. ``payload.FinancialEvents.RefundEventList``
  holds ShipmentEvents (``AmazonOrderId``, ``PostedDate``, ``ShipmentItemAdjustmentList[]`` with
  ``OrderAdjustmentItemId``, ``QuantityShipped``, ``ItemChargeAdjustmentList`` of Principal and Tax with negative
  ``CurrencyAmount`` JSON numbers, a Commission fee adjustment); ``NextToken`` inside the payload. Other event
  lists are left empty; both ends of the posted range are inclusive (UNVERIFIED). ``ShipmentEventList`` holds one
  ShipmentEvent per shipment of a shipped order, from the orders as they are now (`AmazonOrder.shipments_s`):
  a Shipped order is posted at its LastUpdateDate (the confirmation that made it Shipped), and one of two item
  lines also got a first shipment half-way between purchase and then; a PartiallyShipped order has that first
  one only. ``AmazonOrderId``, ``PostedDate``, ``ShipmentItemList[]`` (``SellerSKU``, ``OrderItemId``,
  ``QuantityShipped``, ``ItemChargeList`` Principal and Tax as positive JSON numbers). Refund and shipment events
  are paged together, oldest posted first.

Fault injection (``fail_next(n, kind, path=None)`` or a seeded random ``fault_rate``): ``http429`` (429
QuotaExceeded with the rate header), ``http5xx`` (500 ``InternalFailure``), ``expired`` (403 Unauthorized; the
presented access token is expired too, so only a new one works), ``timeout`` (held ``hang_s``, then 504),
``malformed`` (HTTP 200, truncated JSON). A faulted call never spends the bucket and is never applied.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.shopee import COMMON_FAULTS, DEFAULT_NOW, Call, Reject, ShopApiFake

ORDERS_PATH = "/orders/v0/orders"
LWA_PATH = "/auth/o2/token"
FINANCES_PATH = "/finances/v0/financialEvents"
STATUSES = ("Pending", "Unshipped", "PartiallyShipped", "Shipped", "Canceled", "Unfulfillable")
_STATUS_WEIGHTS = (8, 14, 4, 60, 10, 4)
_NO_TOTAL = frozenset({"Pending", "Canceled"})
BEFORE_MARGIN = timedelta(minutes=2)


@dataclass(frozen=True)
class AmazonItem:
    """One OrderItem: ``price_minor`` is ItemPrice (the whole quantity, before the promotion)."""

    item_id: str
    asin: str
    sku: str
    quantity: int
    price_minor: int
    promo_minor: int
    tax_minor: int
    shipping_minor: int

    @property
    def goods_minor(self) -> int:
        return self.price_minor - self.promo_minor


@dataclass
class AmazonOrder:
    order_id: str
    purchase_s: int
    update_s: int
    status: str
    total_minor: int
    items: int

    @property
    def shows_total(self) -> bool:
        return self.status not in _NO_TOTAL

    @property
    def shipments_s(self) -> list[tuple[int, list[AmazonItem]]]:
        """The order's shipments (posted time, items shipped), earliest first; none before it ships."""
        if self.status not in ("Shipped", "PartiallyShipped"):
            return []
        lines, half = self.lines, self.purchase_s + (self.update_s - self.purchase_s) // 2
        if self.status == "PartiallyShipped":
            return [(half, lines[-1:])]
        return [(half, lines[1:]), (self.update_s, lines[:1])] if len(lines) == 2 else [(self.update_s, lines)]

    @property
    def lines(self) -> list[AmazonItem]:
        """The order's items, derived from the order alone (its own random stream): OrderTotal split into
        goods after promotions, shipping (499 on some orders) and tax (8/108 of the total on half of them)."""
        rng = random.Random(self.order_id)
        tax = self.total_minor * 8 // 108 if rng.random() < 0.5 else 0
        shipping = 499 if rng.random() < 0.3 and self.total_minor - tax > 499 + 100 * self.items else 0
        goods = self.total_minor - tax - shipping
        quantities = [self.items] if self.items == 1 or rng.random() < 0.5 else [self.items - 1, 1]
        shares = [goods] if len(quantities) == 1 else [goods - goods * rng.randint(20, 50) // 100]
        if len(quantities) == 2:
            shares.append(goods - shares[0])
        taxes = [tax - sum(tax * g // goods for g in shares[1:])] + [tax * g // goods for g in shares[1:]]
        out = []
        for n, (quantity, share, line_tax) in enumerate(zip(quantities, shares, taxes, strict=True)):
            promo = share // 10 if rng.random() < 0.25 else 0
            digits = self.order_id.replace("-", "")[-8:]
            out.append(AmazonItem(f"{digits}{n:04d}", f"B0{digits}{n}", f"SKU-{digits[-3:]}-{n}", quantity,
                                  share + promo, promo, line_tax, shipping if n == 0 else 0))
        return out


@dataclass
class AmazonRefund:
    """One refund event: ``principal_minor`` of goods given back (positive here, negated on the wire), less
    nothing; ``tax_minor`` is sent as its own charge adjustment and is not merchandise."""

    order_id: str
    posted_s: int
    item_id: str
    quantity: int
    principal_minor: int
    tax_minor: int


class TokenBucket:
    """The server's bucket: ``burst`` tokens, refilled at ``rate`` per second of monotonic time."""

    def __init__(self, burst: int, rate: float) -> None:
        self.burst, self.rate = burst, rate
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


def iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeAmazon(ShopApiFake):
    """Fake SP-API getOrders + LWA on 127.0.0.1:<random port>; see the module docstring."""

    token_path = LWA_PATH
    fault_kinds = COMMON_FAULTS | {"expired"}
    random_kinds = ("http429", "http5xx", "malformed")

    def __init__(self, *, client_id: str = "amzn1.application-oa2-client.kpibottest",
                 client_secret: str = "amzn1.oa2-cs.v1.kpibot-test-secret", marketplace_id: str = "ATVPDKIKX0DER",
                 currency: str = "USD", orders: int = 200, days: int = 45, seed: int = 11,
                 now: datetime = DEFAULT_NOW, token_ttl_s: int = 3600, burst: int = 20, restore_per_s: float = 0.0167,
                 fault_rate: float = 0.0, fault_seed: int = 0, hang_s: float = 2.0) -> None:
        super().__init__(now=now, fault_rate=fault_rate, fault_seed=fault_seed, hang_s=hang_s)
        self.client_id, self.client_secret = client_id, client_secret
        self.marketplace_id, self.currency = marketplace_id, currency
        self.refresh_token = "Atzr|" + secrets.token_urlsafe(48)   # random: two fakes are two shops
        self.token_ttl_s = token_ttl_s
        self.burst, self.restore_per_s = burst, restore_per_s
        self.bucket = TokenBucket(burst, restore_per_s)
        self.orders: dict[str, AmazonOrder] = _seed_orders(random.Random(seed), orders, days, int(now.timestamp()))
        # refunds from their own random stream: the orders stay what they were before refunds existed
        self.refunds: list[AmazonRefund] = _seed_refunds(random.Random(seed * 7919 + 3), self.orders,
                                                         int(now.timestamp()))
        self.finances_bucket = TokenBucket(30, 0.5)      # listFinancialEvents, as published
        self.items_bucket = TokenBucket(30, restore_per_s * 30)   # getOrderItems: 0.5/s with the published rate
        self.tokens_issued = 0
        self._access: dict[str, int] = {}         # access token -> expiry (epoch s)

    @property
    def lwa_url(self) -> str:
        return self.base_url + LWA_PATH

    # ------------------------------------------------------------------ test-side API
    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access.clear()

    def order_ids(self, status: str | None = None) -> list[str]:
        with self._lock:
            return sorted(i for i, o in self.orders.items() if status is None or o.status == status)

    def update_order(self, order_id: str, status: str | None = None, at: datetime | None = None) -> None:
        """Change an order's status (optional) and set its LastUpdateDate to ``at`` (default: now())."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown Amazon order status {status!r}")
        with self._lock:
            order = self.orders[order_id]
            order.update_s = int((at or self._now).timestamp())
            if status is not None:
                order.status = status

    def expected_totals(self, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
        """What a sync of [since, until) (by LastUpdateDate) must add up to, from the seed: ``count``,
        ``total_minor`` (OrderTotal where shown), ``merchandise_minor`` (item prices less promotions),
        ``subtotal_minor`` (item prices), ``discount_minor``, ``shipping_minor``, ``tax_minor`` (all where prices
        are shown), ``lines`` (order items), ``items`` (units ordered), ``by_status``, ``order_ids`` (sorted)."""
        lo = since.timestamp() if since else float("-inf")
        hi = until.timestamp() if until else float("inf")
        with self._lock:
            chosen = [o for o in self.orders.values() if lo <= o.update_s < hi]
            priced = [i for o in chosen if o.shows_total for i in o.lines]
            return {"count": len(chosen),
                    "total_minor": sum(o.total_minor for o in chosen if o.shows_total),
                    "merchandise_minor": sum(i.goods_minor for i in priced),
                    "subtotal_minor": sum(i.price_minor for i in priced),
                    "discount_minor": sum(i.promo_minor for i in priced),
                    "shipping_minor": sum(i.shipping_minor for i in priced),
                    "tax_minor": sum(i.tax_minor for i in priced),
                    "lines": sum(len(o.lines) for o in chosen),
                    "items": sum(o.items for o in chosen),
                    "by_status": dict(Counter(o.status for o in chosen)),
                    "order_ids": sorted(o.order_id for o in chosen)}

    # ------------------------------------------------------------------ server side
    def _rate_headers(self) -> dict[str, str]:
        return {"x-amzn-RateLimit-Limit": f"{self.restore_per_s:g}", "x-amzn-RequestId": secrets.token_hex(8)}

    def _admit(self, request: web.Request, bucket: TokenBucket, limit_headers: dict[str, str]) -> None:
        """What every SP-API operation checks first, as the real one does: an access token it issued and that has
        not expired (403), then the operation's own usage plan (429 with its rate header)."""
        token = request.headers.get("x-amz-access-token", "")
        with self._lock:
            expiry = self._access.get(token)
        if not token or expiry is None:
            raise self._errors(403, "Unauthorized", "Access to requested resource is denied.")
        if expiry <= self._now_s():
            raise self._errors(403, "Unauthorized", "The access token you provided has expired.")
        if not bucket.take():
            raise self._errors(429, "QuotaExceeded", "You exceeded your quota for the requested resource.",
                               limit_headers)

    def _errors(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reject:
        return Reject(status, {"errors": [{"code": code, "message": message, "details": ""}]}, code, headers)

    def _fault(self, kind: str, request: web.Request, call: Call) -> web.Response:
        if kind == "http429":
            raise self._errors(429, "QuotaExceeded", "You exceeded your quota for the requested resource.",
                               self._rate_headers())
        if kind == "http5xx":
            raise self._errors(500, "InternalFailure", "We encountered an internal error. Please try again.")
        if kind == "expired":
            with self._lock:
                self._access.pop(request.headers.get("x-amz-access-token", ""), None)
            raise self._errors(403, "Unauthorized", "Access to requested resource is denied.")
        raise AssertionError(kind)  # pragma: no cover

    def _route(self, request: web.Request, call: Call) -> web.Response:
        if request.path == LWA_PATH and request.method == "POST":
            return self._lwa(request, call.body)
        if request.path == ORDERS_PATH and request.method == "GET":
            return self._get_orders(request)
        if request.path.startswith(ORDERS_PATH + "/") and request.path.endswith("/orderItems") \
                and request.method == "GET":
            return self._order_items(request)
        if request.path == FINANCES_PATH and request.method == "GET":
            return self._financial_events(request)
        raise self._errors(404, "NotFound", "Resource not found.")

    def _lwa(self, request: web.Request, form: Any) -> web.Response:
        def refuse(status: int, error: str, description: str) -> Reject:
            return Reject(status, {"error": error, "error_description": description}, error)

        if request.content_type != "application/x-www-form-urlencoded" or not isinstance(form, dict):
            raise refuse(400, "invalid_request", "The request body must be application/x-www-form-urlencoded")
        if form.get("grant_type") != "refresh_token":
            raise refuse(400, "unsupported_grant_type", "The authorization grant type is not supported")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            raise refuse(401, "invalid_client", "Client authentication failed")
        if form.get("refresh_token") != self.refresh_token:
            raise refuse(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
        token = "Atza|" + secrets.token_urlsafe(48)
        with self._lock:
            self._access[token] = self._now_s() + self.token_ttl_s
            self.tokens_issued += 1
        return web.json_response({"access_token": token, "refresh_token": self.refresh_token,
                                  "token_type": "bearer", "expires_in": self.token_ttl_s})

    def _get_orders(self, request: web.Request) -> web.Response:
        self._admit(request, self.bucket, self._rate_headers())
        q = request.query
        invalid = lambda message: self._errors(400, "InvalidInput", message)  # noqa: E731
        marketplaces = [m for m in q.get("MarketplaceIds", "").split(",") if m]
        if not marketplaces:
            raise invalid("MarketplaceIds is required.")
        if any(m != self.marketplace_id for m in marketplaces):
            raise invalid("Invalid MarketplaceIds value(s).")
        try:
            page_size = int(q.get("MaxResultsPerPage", "100"))
        except ValueError:
            raise invalid("MaxResultsPerPage must be an integer.") from None
        if not 1 <= page_size <= 100:
            raise invalid("MaxResultsPerPage must be between 1 and 100.")
        if "NextToken" in q:
            query = _decode_next(q["NextToken"])
            if query is None:
                raise invalid("Invalid NextToken.")
        else:
            query = self._date_query(q, invalid)
        field_name = "update_s" if query["f"] == "LastUpdate" else "purchase_s"
        statuses = set(query["s"])
        with self._lock:
            chosen = sorted((o for o in self.orders.values()
                             if query["a"] <= getattr(o, field_name) <= query["b"]
                             and (not statuses or o.status in statuses)),
                            key=lambda o: (getattr(o, field_name), o.order_id))
            offset = query["o"]
            page = [self._render(o) for o in chosen[offset:offset + page_size]]
        payload: dict[str, Any] = {"Orders": page, f"{query['f']}dBefore": iso(query["b"])}
        if offset + page_size < len(chosen):
            payload["NextToken"] = _encode_next({**query, "o": offset + page_size})
        return web.json_response({"payload": payload}, headers=self._rate_headers())

    def expected_refunds(self, until: datetime | None = None) -> dict[str, int]:
        """Refund events posted before ``until``: ``count`` and ``principal_minor`` (the goods' money back)."""
        hi = until.timestamp() if until else float("inf")
        chosen = [r for r in self.refunds if r.posted_s < hi]
        return {"count": len(chosen), "principal_minor": sum(r.principal_minor for r in chosen)}

    def _financial_events(self, request: web.Request) -> web.Response:
        """listFinancialEvents: PostedAfter (required without NextToken), PostedBefore (after it and at least 2
        minutes before now; default now - 2 min), MaxResultsPerPage 1-100; RefundEventList and ShipmentEventList."""
        self._admit(request, self.finances_bucket, {"x-amzn-RateLimit-Limit": "0.5"})
        q = request.query
        invalid = lambda message: self._errors(400, "InvalidInput", message)  # noqa: E731
        try:
            page_size = int(q.get("MaxResultsPerPage", "100"))
        except ValueError:
            raise invalid("MaxResultsPerPage must be an integer.") from None
        if not 1 <= page_size <= 100:
            raise invalid("MaxResultsPerPage must be between 1 and 100.")
        if "NextToken" in q:
            try:
                a, b, offset = json.loads(base64.b64decode(q["NextToken"], validate=True))
            except ValueError:
                raise invalid("Invalid NextToken.") from None
        else:
            after = _parse_iso(q.get("PostedAfter", ""))
            latest = self.now() - BEFORE_MARGIN
            before = _parse_iso(q["PostedBefore"]) if "PostedBefore" in q else latest
            if after is None or before is None or before < after or before > latest:
                raise invalid("PostedAfter is required; PostedBefore must be after it and at least 2 minutes "
                              "before the request time.")
            a, b, offset = int(after.timestamp()), int(before.timestamp()), 0
        with self._lock:
            shipments = [(posted, o.order_id, items) for o in self.orders.values() for posted, items in o.shipments_s]
        events: list[tuple[int, str, Any]] = [(r.posted_s, r.order_id, r) for r in self.refunds]
        events.extend(shipments)
        chosen = sorted((e for e in events if a <= e[0] <= b), key=lambda e: (e[0], e[1], isinstance(e[2], list)))
        page = chosen[offset:offset + page_size]
        payload: dict[str, Any] = {"FinancialEvents": {
            "ShipmentEventList": [self._render_shipment(posted, oid, items) for posted, oid, items in page
                                  if isinstance(items, list)],
            "RefundEventList": [self._render_refund(r) for _, _, r in page if isinstance(r, AmazonRefund)]}}
        if offset + page_size < len(chosen):
            payload["NextToken"] = base64.b64encode(json.dumps([a, b, offset + page_size]).encode()).decode()
        return web.json_response({"payload": payload}, headers={"x-amzn-RateLimit-Limit": "0.5"})

    def expected_shipped(self, until: datetime | None = None) -> dict[str, int]:
        """Per shipped order, its first shipment's posted time (epoch s), where posted before ``until``."""
        hi = until.timestamp() if until else float("inf")
        with self._lock:
            return {o.order_id: o.shipments_s[0][0] for o in self.orders.values()
                    if o.shipments_s and o.shipments_s[0][0] < hi}

    def _render_shipment(self, posted_s: int, order_id: str, items: list[AmazonItem]) -> dict[str, Any]:
        def money(minor: int) -> dict[str, Any]:
            return {"CurrencyCode": self.currency, "CurrencyAmount": minor / 100}   # a JSON number, as Amazon

        return {"AmazonOrderId": order_id, "SellerOrderId": order_id, "MarketplaceName": "Amazon.com",
                "PostedDate": iso(posted_s), "ShipmentItemList": [{
                    "SellerSKU": i.sku, "OrderItemId": i.item_id, "QuantityShipped": i.quantity,
                    "ItemChargeList": [{"ChargeType": "Principal", "ChargeAmount": money(i.price_minor)},
                                       {"ChargeType": "Tax", "ChargeAmount": money(i.tax_minor)}]} for i in items]}

    def _render_refund(self, r: AmazonRefund) -> dict[str, Any]:
        def money(minor: int) -> dict[str, Any]:
            return {"CurrencyCode": self.currency, "CurrencyAmount": -minor / 100}   # a JSON number, as Amazon

        return {"AmazonOrderId": r.order_id, "SellerOrderId": r.order_id, "MarketplaceName": "Amazon.com",
                "PostedDate": iso(r.posted_s), "ShipmentItemAdjustmentList": [{
                    "SellerSKU": f"SKU-{r.item_id[-3:]}", "OrderAdjustmentItemId": r.item_id,
                    "QuantityShipped": r.quantity,
                    "ItemChargeAdjustmentList": [{"ChargeType": "Principal", "ChargeAmount": money(r.principal_minor)},
                                                 {"ChargeType": "Tax", "ChargeAmount": money(r.tax_minor)}],
                    "ItemFeeAdjustmentList": [{"FeeType": "Commission",
                                               "FeeAmount": {"CurrencyCode": self.currency,
                                                             "CurrencyAmount": r.principal_minor * 15 // 100 / 100}}],
                    "PromotionAdjustmentList": []}]}

    def calls_to(self, path_part: str) -> list[Call]:
        """The recorded calls to exactly ``path_part`` (getOrderItems paths start with getOrders' path: count
        them with `items_calls`)."""
        with self._lock:
            return [c for c in self.calls if c.path == path_part]

    def items_calls(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path.endswith("/orderItems")]

    def _order_items(self, request: web.Request) -> web.Response:
        """getOrderItems: the same token check, its own bucket (burst 30, restored 30 times as fast as
        getOrders', the published 0.5/s against 0.0167/s); prices left out where the order hides its total."""
        self._admit(request, self.items_bucket, {"x-amzn-RateLimit-Limit": "0.5"})
        order_id = request.path.split("/")[-2]
        with self._lock:
            order = self.orders.get(order_id)
        if order is None:
            raise self._errors(404, "NotFound", f"Invalid AmazonOrderId: {order_id}")

        def money(minor: int) -> dict[str, str]:
            return {"CurrencyCode": self.currency, "Amount": f"{minor // 100}.{minor % 100:02d}"}

        items = []
        for item in order.lines:
            d: dict[str, Any] = {"ASIN": item.asin, "SellerSKU": item.sku, "OrderItemId": item.item_id,
                                 "Title": f"Product {item.asin}", "QuantityOrdered": item.quantity,
                                 "QuantityShipped": item.quantity if order.status == "Shipped" else 0,
                                 "IsGift": "false", "ConditionId": "New"}
            if order.shows_total:
                d.update(ItemPrice=money(item.price_minor), ShippingPrice=money(item.shipping_minor),
                         ItemTax=money(item.tax_minor), ShippingTax=money(0), ShippingDiscount=money(0),
                         PromotionDiscount=money(item.promo_minor), PromotionDiscountTax=money(0))
            items.append(d)
        return web.json_response({"payload": {"AmazonOrderId": order_id, "OrderItems": items}},
                                 headers={"x-amzn-RateLimit-Limit": "0.5"})

    def _date_query(self, q: Any, invalid: Any) -> dict[str, Any]:
        created, updated = q.get("CreatedAfter"), q.get("LastUpdatedAfter")
        if (created is None) == (updated is None):
            raise invalid("Exactly one of CreatedAfter and LastUpdatedAfter must be specified.")
        prefix, after_text = ("LastUpdate", updated) if updated is not None else ("Create", created)
        other = "CreatedBefore" if prefix == "LastUpdate" else "LastUpdatedBefore"
        if other in q:
            raise invalid(f"{other} cannot be combined with {'LastUpdatedAfter' if updated else 'CreatedAfter'}.")
        latest = self.now() - BEFORE_MARGIN
        after = _parse_iso(after_text)
        if after is None:
            raise invalid(f"{prefix}dAfter is not a valid ISO 8601 date.")
        before_text = q.get(f"{prefix}dBefore")
        before = latest
        if before_text is not None:
            parsed = _parse_iso(before_text)
            if parsed is None or parsed < after or parsed > latest:
                raise invalid(f"{prefix}dBefore must be a date after {prefix}dAfter and at least 2 minutes "
                              "before the request time.")
            before = parsed
        statuses = [s for s in q.get("OrderStatuses", "").split(",") if s]
        return {"f": prefix, "a": int(after.timestamp()), "b": int(before.timestamp()), "o": 0, "s": statuses}

    def _render(self, o: AmazonOrder) -> dict[str, Any]:
        shipped = o.items if o.status == "Shipped" else (o.items // 2 if o.status == "PartiallyShipped" else 0)
        unshipped = 0 if o.status in ("Canceled", "Unfulfillable") else o.items - shipped
        d: dict[str, Any] = {
            "AmazonOrderId": o.order_id, "PurchaseDate": iso(o.purchase_s), "LastUpdateDate": iso(o.update_s),
            "OrderStatus": o.status, "FulfillmentChannel": "MFN", "SalesChannel": "Amazon.com",
            "MarketplaceId": self.marketplace_id, "NumberOfItemsShipped": shipped,
            "NumberOfItemsUnshipped": unshipped, "IsPrime": False, "IsBusinessOrder": False}
        if o.shows_total:
            amount = f"{o.total_minor // 100}.{o.total_minor % 100:02d}"
            d["OrderTotal"] = {"CurrencyCode": self.currency, "Amount": amount}
        return d


def _parse_iso(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _encode_next(query: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(query).encode()).decode()   # "+", "/" and "=" like the real tokens


def _decode_next(token: str) -> dict[str, Any] | None:
    try:
        query = json.loads(base64.b64decode(token, validate=True))
    except ValueError:
        return None
    return query if isinstance(query, dict) and set(query) == {"f", "a", "b", "o", "s"} else None


def _seed_orders(rng: random.Random, count: int, days: int, now_s: int) -> dict[str, AmazonOrder]:
    orders: dict[str, AmazonOrder] = {}
    start = now_s - days * 86400
    while len(orders) < count:
        purchase = rng.randrange(start, now_s - 3600)
        update = min(purchase + rng.randrange(0, 4 * 86400), now_s - 600)
        order_id = f"{rng.randrange(100, 1000)}-{rng.randrange(10**6, 10**7)}-{rng.randrange(10**6, 10**7)}"
        orders[order_id] = AmazonOrder(order_id=order_id, purchase_s=purchase, update_s=max(update, purchase),
                                       status=rng.choices(STATUSES, weights=_STATUS_WEIGHTS)[0],
                                       total_minor=rng.randrange(499, 25000), items=rng.randint(1, 4))
    return orders


def _seed_refunds(rng: random.Random, orders: dict[str, AmazonOrder], now_s: int) -> list[AmazonRefund]:
    """About one Shipped order in six gets one unit refunded, posted a few days after its last update."""
    refunds = []
    for order_id in sorted(orders):
        o = orders[order_id]
        if o.status != "Shipped" or rng.random() >= 1 / 6:
            continue
        posted = min(o.update_s + rng.randrange(3600, 6 * 86400), now_s - 600)
        item = o.lines[0]
        principal = item.goods_minor // item.quantity            # one unit of the first item
        refunds.append(AmazonRefund(order_id, posted, item.item_id, 1, principal, item.tax_minor // item.quantity))
    return refunds

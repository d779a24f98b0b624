"""A fake Shopee Open Platform v2 (order APIs and token refresh) that `bot.shops.shopee` talks to.

One aiohttp application on 127.0.0.1 (port 0) in a daemon thread, like ``tests/fakes/feishu.py``. Use it as a
context manager::

    with FakeShopee() as fake:
        store = MyTokenStore(fake.initial_tokens())   # what the authorization (code exchange) hands over
        source = ShopeeSource(partner_id=fake.partner_id, partner_key=fake.partner_key, shop_id=fake.shop_id,
                              currency=fake.currency, tokens=store, base_url=fake.base_url, clock=fake.now)

What it enforces (facts from /work/shared/notes/shop-apis.md unless marked UNVERIFIED):

* every call: ``partner_id`` and ``timestamp`` (Unix s, within 5 min of the fake's clock) in the query, and
  ``sign`` = HMAC-SHA256 hex keyed by partner_key over ``partner_id + path + timestamp`` (auth API) or
  ``partner_id + path + timestamp + access_token + shop_id`` (shop APIs). A wrong sign answers ``error_sign``.
* shop APIs: ``access_token`` issued by this fake and not expired (4 h, on the fake's settable clock), else
  ``error_auth``; ``shop_id`` must be this shop's.
* ``GET /api/v2/order/get_order_list``: ``time_range_field`` create_time|update_time, ``time_from``/``time_to``
  at most 15 days apart (else ``order.order_list_invalid_time``), ``page_size`` 1-100, ``cursor`` paging with
  ``more``/``next_cursor``. Both ends of the range are inclusive (UNVERIFIED).
* ``GET /api/v2/order/get_order_detail``: ``order_sn_list`` (comma-separated, 1-50, else ``error_param``);
  ``total_amount``, ``item_list``, ``pay_time``, ``buyer_user_id``, ``buyer_username``,
  ``estimated_shipping_fee``, ``pickup_done_time`` only when named in ``response_optional_fields``. Unknown
  order_sns are left out of the answer (UNVERIFIED).
* ``POST /api/v2/auth/access_token/get`` with JSON ``{refresh_token, partner_id, shop_id}``: answers the
  top-level ``{access_token, refresh_token, expire_in, partner_id, shop_id, request_id, error, message}``. The
  refresh token is SINGLE-USE: the one presented dies, reusing it answers ``error_auth``. Refresh tokens live
  30 days. Access tokens issued earlier stay valid until their own expiry (UNVERIFIED).

* ``GET /api/v2/returns/get_return_list``: ``page_no`` (from 0) and ``page_size`` 1-100 required (UNVERIFIED
  bounds), optional ``create_time_from/to`` and ``update_time_from/to`` (both ends inclusive, each pair at most
  15 days apart: UNVERIFIED, modelled on get_order_list); answers ``{more, return: [...]}`` sorted by
  update_time, each with ``return_sn``, ``order_sn``, ``status`` (REQUESTED, ACCEPTED, PROCESSING, REFUND_PAID,
  CANCELLED, CLOSED), ``return_solution`` (0 return and refund, 1 refund only), ``refund_amount``, ``currency``,
  times and ``item[]`` (``amount`` = quantity). Field names follow public typed SDKs of v2, not the reference.
* ``GET /api/v2/product/get_item_list``: ``offset`` (>= 0) and ``page_size`` (1-100) and ``item_status`` (one or
  more of NORMAL, BANNED, UNLIST, REVIEWING, SELLER_DELETE, SHOPEE_DELETE, repeated) required, optional
  ``update_time_from``/``update_time_to`` (both or neither); answers ``{item: [{item_id, item_status,
  update_time}], total_count, has_next_page, next_offset}`` by item_id. Public SDKs of v2 give these names.
* ``GET /api/v2/product/get_item_base_info``: ``item_id_list`` (comma-separated, 1-50); ``item_list`` with
  ``item_id``, ``item_name``, ``item_sku``, ``item_status``, ``create_time``, ``update_time``, ``has_model``,
  ``stock_info_v2.summary_info`` (``total_reserved_stock``, ``total_available_stock``) and ``seller_stock``;
  unknown ids left out (UNVERIFIED).
* ``GET /api/v2/product/get_model_list``: ``item_id`` required; ``{tier_variation, model: [{model_id, model_sku,
  model_name, stock_info_v2.summary_info}]}``; an item without models answers an empty ``model``.
  The catalogue (`products`): the 30 items the orders sell; every third has no model, the rest models
  ``item_id * 10 + 1`` and ``+ 2``; item 100029 is UNLIST. Stock summaries are the sums of the models'.

Errors use Shopee's envelope ``{"error", "message", "request_id", "response": {}}``. The HTTP statuses are
UNVERIFIED choices: 403 for ``error_sign``/``error_auth``, 400 for ``error_param`` and ``order.*``, 200 for
``error_server`` "too many requests" (so a client that only looks at the HTTP status misses it). A bad
partner_id, a timestamp outside the window and a missing parameter all answer ``error_param`` (the real
codes for these are UNVERIFIED). Money is rendered as JSON numbers (major units, from exact minor units).

Fault injection (``fail_next(n, kind, path=None)``, or a seeded random ``fault_rate``; ``clear_faults()`` ends
both): ``http429`` (HTTP 429,
JSON ``error_server``), ``http5xx`` (HTTP 502 with an HTML body, as a gateway answers), ``throttle`` (HTTP 200
``error_server`` "too many requests"), ``auth`` (``error_auth``; the presented access token is also expired,
so only a refreshed one works), ``timeout`` (the answer is held ``hang_s`` seconds, then a 504), ``malformed``
(HTTP 200, truncated JSON). An injected fault is never applied (a faulted refresh does not rotate the token).
Not modelled: a refresh whose answer is lost after the server rotated the token (that loses the shop too, and
no client can prevent it). ``get_order_list``'s cursor is an offset into the matching orders, re-read per call
(how the real cursor behaves when orders change between pages is UNVERIFIED).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import secrets
import string
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from storage.ingest.records import Tokens
from tests.fakes.server import FakeServer, RecordedCall

DEFAULT_NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
COMMON_FAULTS = frozenset({"http429", "http5xx", "timeout", "malformed"})


@dataclass
class Call(RecordedCall):
    """One recorded HTTP request with the answer it got (``error`` is the platform's error code, "" if none)."""

    body: Any | None                 # parsed JSON, a form dict, or None
    status: int = 0                  # 0 while the answer is pending (e.g. a held "timeout" answer)
    error: str = ""
    fault: str = ""                  # the injected fault kind, "" when the call was served normally
    at: float = field(default_factory=time.monotonic)


class Reject(Exception):
    """Raised by a route: answer with this HTTP status, JSON body and headers; `error` is recorded."""

    def __init__(self, status: int, body: dict[str, Any], error: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.body, self.error, self.headers = status, body, error, headers or {}


@dataclass
class _FaultRule:
    remaining: int
    kind: str
    path: str | None


class ShopApiFake(FakeServer):
    """The server half every shop fake shares: a ``FakeServer`` with a settable clock, recorded calls and fault
    injection. Subclasses implement ``_route`` and ``_fault``."""

    token_path = ""                                  # faults with no path (and random ones) skip it
    fault_kinds: frozenset[str] = COMMON_FAULTS
    random_kinds: tuple[str, ...] = ("http429", "http5xx", "malformed")

    def __init__(self, *, now: datetime, fault_rate: float, fault_seed: int, hang_s: float) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.fault_rate = fault_rate
        self.hang_s = hang_s
        self._lock = threading.RLock()
        self._now = now.astimezone(UTC)
        self._rules: list[_FaultRule] = []
        self._fault_rng = random.Random(fault_seed)

    # ------------------------------------------------------------------ clock
    def now(self) -> datetime:
        """The fake's clock (frozen unless advanced): pass ``clock=fake.now`` to the client."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the clock forward by ``delta`` (a timedelta or seconds); returns the new time."""
        with self._lock:
            self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
            return self._now

    def set_now(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)

    def _now_s(self) -> int:
        return int(self.now().timestamp())

    # ------------------------------------------------------------------ faults and calls
    def fail_next(self, n: int, kind: str, path: str | None = None) -> None:
        """Answer the next ``n`` calls whose path contains ``path`` with the fault ``kind`` (see the module
        docstring); with no ``path`` every API path matches except the token endpoint."""
        if kind not in self.fault_kinds:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(self.fault_kinds)}")
        with self._lock:
            self._rules.append(_FaultRule(n, kind, path))

    def clear_faults(self) -> None:
        """Drop the pending ``fail_next`` rules and stop random faults."""
        with self._lock:
            self._rules.clear()
            self.fault_rate = 0.0

    def calls_to(self, path_part: str) -> list[Call]:
        """The recorded calls whose path contains ``path_part``, oldest first."""
        with self._lock:
            return [c for c in self.calls if path_part in c.path]

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def _pick_fault(self, path: str) -> str:
        with self._lock:
            for rule in self._rules:
                matches = (path != self.token_path) if rule.path is None else (rule.path in path)
                if rule.remaining > 0 and matches:
                    rule.remaining -= 1
                    return rule.kind
            if self.fault_rate > 0 and path != self.token_path and self._fault_rng.random() < self.fault_rate:
                return self._fault_rng.choice(self.random_kinds)
        return ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        call = Call(method=request.method, path=request.path, query=dict(request.query),
                    headers=dict(request.headers), body=_parse_body(request.content_type, raw))
        call.fault = self._pick_fault(request.path)
        with self._lock:   # recorded on arrival: a client that timed out has still made the call
            self.calls.append(call)
        response: web.Response
        try:
            if call.fault == "timeout":
                await asyncio.sleep(self.hang_s)
                response = web.Response(status=504, text="<html>504 Gateway Time-out</html>", content_type="text/html")
            elif call.fault == "malformed":
                response = web.Response(status=200, text='{"response": {"more": tr', content_type="application/json")
            elif call.fault:
                response = self._fault(call.fault, request, call)
            else:
                response = self._route(request, call)
        except Reject as rej:
            call.error = rej.error
            response = web.json_response(rej.body, status=rej.status, headers=rej.headers)
        call.status = response.status
        return response

    def _route(self, request: web.Request, call: Call) -> web.Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fault(self, kind: str, request: web.Request, call: Call) -> web.Response:  # pragma: no cover - abstract
        """The answer (or a raised Reject) for an injected fault ``kind`` other than timeout and malformed."""
        raise NotImplementedError


def _parse_body(content_type: str, raw: bytes) -> Any | None:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        return json.loads(text)
    except ValueError:
        return text


# ====================================================================== Shopee
STATUSES = ("UNPAID", "READY_TO_SHIP", "PROCESSED", "SHIPPED", "TO_CONFIRM_RECEIVE", "IN_CANCEL", "CANCELLED",
            "TO_RETURN", "COMPLETED")
_STATUS_WEIGHTS = (8, 10, 6, 10, 8, 3, 8, 3, 44)
_PICKED_UP = frozenset({"SHIPPED", "TO_CONFIRM_RECEIVE", "TO_RETURN", "COMPLETED"})
ZERO_DECIMAL_CURRENCIES = frozenset({"IDR", "VND", "TWD", "CLP", "COP"})   # Shopee renders these as integers
OPTIONAL_FIELDS = frozenset({"total_amount", "item_list", "pay_time", "buyer_user_id", "buyer_username",
                             "estimated_shipping_fee", "pickup_done_time"})
LIST_PATH = "/api/v2/order/get_order_list"
DETAIL_PATH = "/api/v2/order/get_order_detail"
TOKEN_PATH = "/api/v2/auth/access_token/get"
RETURNS_PATH = "/api/v2/returns/get_return_list"
ITEM_LIST_PATH = "/api/v2/product/get_item_list"
ITEM_INFO_PATH = "/api/v2/product/get_item_base_info"
MODEL_LIST_PATH = "/api/v2/product/get_model_list"
ITEM_STATUSES = frozenset({"NORMAL", "BANNED", "UNLIST", "REVIEWING", "SELLER_DELETE", "SHOPEE_DELETE"})
RETURN_STATUSES = ("REQUESTED", "ACCEPTED", "PROCESSING", "REFUND_PAID", "CANCELLED", "CLOSED")
_RETURN_WEIGHTS = (2, 1, 1, 8, 1, 1)
MAX_RANGE_S = 15 * 86400
TIMESTAMP_WINDOW_S = 300


@dataclass
class ShopeeItem:
    item_id: int
    item_name: str
    item_sku: str
    model_id: int
    model_name: str
    model_sku: str
    quantity: int
    original_minor: int
    discounted_minor: int          # per unit, after discounts


@dataclass
class ShopeeProduct:
    """A catalogue item: ``models`` are (model_id, model_sku, available stock); without models, ``stock``."""

    item_id: int
    item_name: str
    item_sku: str
    status: str
    create_time: int
    update_time: int
    stock: int
    models: list[tuple[int, str, int]] = field(default_factory=list)

    @property
    def available(self) -> int:
        return sum(m[2] for m in self.models) if self.models else self.stock


@dataclass
class ShopeeOrder:
    order_sn: str
    status: str
    create_time: int
    update_time: int
    pay_time: int | None
    pickup_done_time: int | None
    buyer_user_id: int
    shipping_minor: int            # what the buyer paid for shipping (part of total_amount)
    items: list[ShopeeItem]

    @property
    def merchandise_minor(self) -> int:
        return sum(i.quantity * i.discounted_minor for i in self.items)

    @property
    def total_minor(self) -> int:
        return self.merchandise_minor + self.shipping_minor

    @property
    def units(self) -> int:
        return sum(i.quantity for i in self.items)


@dataclass
class ShopeeReturn:
    """One return/refund request: ``solution`` 0 = return and refund, 1 = refund only; ``items`` are
    (item index in the order, quantity)."""

    return_sn: str
    order_sn: str
    status: str
    solution: int
    create_time: int
    update_time: int
    items: list[tuple[int, int]]
    refund_minor: int


class FakeShopee(ShopApiFake):
    """Fake Shopee v2 on 127.0.0.1:<random port>; see the module docstring for what it checks."""

    token_path = TOKEN_PATH
    fault_kinds = COMMON_FAULTS | {"throttle", "auth"}
    random_kinds = ("http429", "http5xx", "throttle", "malformed")

    def __init__(self, *, partner_id: int = 2001887, partner_key: str = "shpk-test-partner-key-0001",
                 shop_id: int = 601234, currency: str = "SGD", region: str = "SG", orders: int = 240,
                 days: int = 45, seed: int = 7, now: datetime = DEFAULT_NOW, access_ttl_s: int = 4 * 3600,
                 refresh_ttl_s: int = 30 * 86400, fault_rate: float = 0.0, fault_seed: int = 0,
                 hang_s: float = 2.0) -> None:
        """Seeds ``orders`` orders created in the ``days`` before ``now``, deterministically from ``seed``."""
        super().__init__(now=now, fault_rate=fault_rate, fault_seed=fault_seed, hang_s=hang_s)
        self.partner_id, self.partner_key, self.shop_id = partner_id, partner_key, shop_id
        self.currency, self.region = currency, region
        self.decimals = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
        self.access_ttl_s, self.refresh_ttl_s = access_ttl_s, refresh_ttl_s
        self.orders: dict[str, ShopeeOrder] = _seed_orders(random.Random(seed), orders, days,
                                                           int(now.timestamp()), self.decimals)
        # returns from their own random stream, so the orders stay what they were before returns existed
        self.returns: dict[str, ShopeeReturn] = _seed_returns(random.Random(seed * 7919 + 1), self.orders,
                                                              int(now.timestamp()))
        self.products: dict[int, ShopeeProduct] = _seed_products(int(now.timestamp()))
        self.refreshes = 0                              # successful token refreshes
        self.used_refresh_tokens: set[str] = set()
        self._access: dict[str, int] = {}               # access token -> expiry (epoch s)
        self._refresh: dict[str, int] = {}              # live (unused) refresh token -> expiry (epoch s)
        # order_sn -> how many more get_order_detail answers leave it out (Shopee lists an order before its
        # detail is readable, now and then)
        self.lagging_detail: dict[str, int] = {}

    # ------------------------------------------------------------------ test-side API
    def initial_tokens(self) -> Tokens:
        """New tokens for this shop, as the authorization (code exchange) would hand them over."""
        with self._lock:
            issued = self._issue()
        return Tokens(access_token=issued["access_token"], refresh_token=issued["refresh_token"],
                      expires_at=self.now() + timedelta(seconds=issued["expire_in"]))

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (the next shop call answers ``error_auth``)."""
        with self._lock:
            self._access.clear()

    @property
    def live_refresh_tokens(self) -> set[str]:
        with self._lock:
            return set(self._refresh)

    def order_sns(self, status: str | None = None) -> list[str]:
        """The seeded order_sns (sorted), optionally only those in ``status``."""
        with self._lock:
            return sorted(sn for sn, o in self.orders.items() if status is None or o.status == status)

    def update_order(self, order_sn: str, status: str | None = None, at: datetime | None = None) -> None:
        """Change an order's status (optional) and set its update_time to ``at`` (default: now())."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown Shopee status {status!r}")
        with self._lock:
            order = self.orders[order_sn]
            order.update_time = int((at or self._now).timestamp())
            if status is not None:
                order.status = status
                if status != "UNPAID" and order.pay_time is None:
                    order.pay_time = order.update_time
                if status in _PICKED_UP and order.pickup_done_time is None:
                    order.pickup_done_time = order.update_time

    def expected_totals(self, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
        """What a correct sync of [since, until) (by update_time) must add up to, straight from the seed:
        ``count``, ``merchandise_minor`` (sum of quantity x discounted price), ``subtotal_minor`` (sum of
        quantity x original price), ``total_minor`` (total_amount), ``units``, ``lines`` (items: one per
        item and model), ``by_status`` (Shopee status -> orders) and ``order_sns`` (sorted)."""
        lo = since.timestamp() if since else float("-inf")
        hi = until.timestamp() if until else float("inf")
        with self._lock:
            chosen = [o for o in self.orders.values() if lo <= o.update_time < hi]
            return {
                "count": len(chosen),
                "merchandise_minor": sum(o.merchandise_minor for o in chosen),
                "subtotal_minor": sum(i.quantity * i.original_minor for o in chosen for i in o.items),
                "total_minor": sum(o.total_minor for o in chosen),
                "units": sum(o.units for o in chosen),
                "lines": sum(len(o.items) for o in chosen),
                "by_status": dict(Counter(o.status for o in chosen)),
                "order_sns": sorted(o.order_sn for o in chosen),
            }

    def expected_returns(self, until: datetime | None = None) -> dict[str, int]:
        """The returns updated before ``until``, from the seed: ``count``, ``requested_minor`` (every refund
        amount), ``completed_minor`` (REFUND_PAID), ``rejected`` (CANCELLED or CLOSED) and ``returned_units``
        (quantities of return-and-refund requests)."""
        hi = until.timestamp() if until else float("inf")
        with self._lock:
            chosen = [r for r in self.returns.values() if r.update_time < hi]
            return {"count": len(chosen), "requested_minor": sum(r.refund_minor for r in chosen),
                    "completed_minor": sum(r.refund_minor for r in chosen if r.status == "REFUND_PAID"),
                    "rejected": sum(r.status in ("CANCELLED", "CLOSED") for r in chosen),
                    "returned_units": sum(q for r in chosen if r.solution == 0 for _, q in r.items)}

    def sign(self, path: str, timestamp: int, access_token: str = "", shop_id: int | None = None) -> str:
        """The signature this fake expects (for tests that call it directly)."""
        base = f"{self.partner_id}{path}{timestamp}" + (f"{access_token}{shop_id}" if access_token else "")
        return hmac.new(self.partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ server side
    def _issue(self) -> dict[str, Any]:
        now = self._now_s()
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self._access[access] = now + self.access_ttl_s
        self._refresh[refresh] = now + self.refresh_ttl_s
        return {"access_token": access, "refresh_token": refresh, "expire_in": self.access_ttl_s}

    @staticmethod
    def _reject(status: int, error: str, message: str) -> Reject:
        body = {"error": error, "message": message, "request_id": secrets.token_hex(16), "response": {}}
        return Reject(status, body, error)

    def _ok(self, response: dict[str, Any]) -> web.Response:
        return web.json_response({"error": "", "message": "", "request_id": secrets.token_hex(16),
                                  "response": response})

    def _fault(self, kind: str, request: web.Request, call: Call) -> web.Response:
        if kind == "http429":
            raise self._reject(429, "error_server", "too many requests")
        if kind == "http5xx":   # a gateway's answer, not Shopee's JSON
            return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if kind == "throttle":
            raise self._reject(200, "error_server", "too many requests")
        if kind == "auth":
            with self._lock:
                self._access.pop(request.query.get("access_token", ""), None)
            raise self._reject(403, "error_auth", "Invalid access_token.")
        raise AssertionError(kind)  # pragma: no cover

    def _route(self, request: web.Request, call: Call) -> web.Response:
        path = request.path
        if path == TOKEN_PATH and request.method == "POST":
            self._check_common(request, shop=False)
            return self._token(call.body)
        if path == LIST_PATH and request.method == "GET":
            self._check_common(request, shop=True)
            return self._order_list(request.query)
        if path == DETAIL_PATH and request.method == "GET":
            self._check_common(request, shop=True)
            return self._order_detail(request.query)
        if path == RETURNS_PATH and request.method == "GET":
            self._check_common(request, shop=True)
            return self._return_list(request.query)
        if path == ITEM_LIST_PATH and request.method == "GET":
            self._check_common(request, shop=True)
            return self._item_list(request.query)
        if path == ITEM_INFO_PATH and request.method == "GET":
            self._check_common(request, shop=True)
            return self._item_info(request.query)
        if path == MODEL_LIST_PATH and request.method == "GET":
            self._check_common(request, shop=True)
            return self._model_list(request.query)
        raise self._reject(404, "error_not_found", f"api {path} not found")

    def _check_common(self, request: web.Request, *, shop: bool) -> None:
        q = request.query
        if q.get("partner_id") != str(self.partner_id):
            raise self._reject(400, "error_param", "partner_id is invalid")
        ts = q.get("timestamp", "")
        if not ts.isdigit() or abs(int(ts) - self._now_s()) > TIMESTAMP_WINDOW_S:
            raise self._reject(400, "error_param", "timestamp is invalid or expired")
        token, shop_id = q.get("access_token", ""), q.get("shop_id", "")
        if shop and (not token or not shop_id):
            raise self._reject(400, "error_param", "access_token and shop_id are required")
        base = f"{q['partner_id']}{request.path}{ts}" + (f"{token}{shop_id}" if shop else "")
        expected = hmac.new(self.partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, q.get("sign", "")):
            raise self._reject(403, "error_sign", "Wrong sign.")
        if shop:
            if shop_id != str(self.shop_id):
                raise self._reject(400, "error_param", "shop_id is invalid")
            with self._lock:
                expiry = self._access.get(token)
            if expiry is None or expiry <= self._now_s():
                raise self._reject(403, "error_auth", "Invalid access_token.")

    def _int_param(self, q: Any, name: str, lo: int, hi: int) -> int:
        text = q.get(name, "")
        if not text.isdigit() or not lo <= int(text) <= hi:
            raise self._reject(400, "error_param", f"{name} is required and must be {lo}-{hi}")
        return int(text)

    def _item_list(self, q: Any) -> web.Response:
        offset = self._int_param(q, "offset", 0, 10**9)
        page_size = self._int_param(q, "page_size", 1, 100)
        statuses = q.getall("item_status", [])
        if not statuses or not set(statuses) <= ITEM_STATUSES:
            raise self._reject(400, "error_param", "item_status is required: NORMAL, BANNED, UNLIST, ...")
        if ("update_time_from" in q) != ("update_time_to" in q):
            raise self._reject(400, "error_param", "update_time_from and update_time_to go together")
        lo = self._int_param(q, "update_time_from", 0, 2**31) if "update_time_from" in q else 0
        hi = self._int_param(q, "update_time_to", lo, 2**31) if "update_time_to" in q else 2**31
        with self._lock:
            chosen = [p for _, p in sorted(self.products.items())
                      if p.status in statuses and lo <= p.update_time <= hi]
        page = chosen[offset:offset + page_size]
        more = offset + page_size < len(chosen)
        return self._ok({"item": [{"item_id": p.item_id, "item_status": p.status, "update_time": p.update_time}
                                  for p in page], "total_count": len(chosen), "has_next_page": more,
                         "next_offset": offset + page_size if more else 0})

    def _item_info(self, q: Any) -> web.Response:
        ids = [x for x in q.get("item_id_list", "").split(",") if x]
        if not 1 <= len(ids) <= 50 or not all(x.isdigit() for x in ids):
            raise self._reject(400, "error_param", "item_id_list must hold 1-50 item ids")
        with self._lock:
            found = [self.products[int(x)] for x in ids if int(x) in self.products]
        return self._ok({"item_list": [{
            "item_id": p.item_id, "item_name": p.item_name, "item_sku": p.item_sku, "item_status": p.status,
            "create_time": p.create_time, "update_time": p.update_time, "has_model": bool(p.models),
            "stock_info_v2": {"summary_info": {"total_reserved_stock": 0, "total_available_stock": p.available},
                              "seller_stock": [{"location_id": f"{self.region}Z", "stock": p.available}]}}
            for p in found]})

    def _model_list(self, q: Any) -> web.Response:
        item_id = self._int_param(q, "item_id", 1, 2**63)
        with self._lock:
            product = self.products.get(item_id)
        if product is None:
            raise self._reject(400, "error_item_not_found", f"item {item_id} not found")
        return self._ok({"tier_variation": [{"name": "Variant", "option_list": [
            {"option": f"Variant {m[0] % 10}"} for m in product.models]}] if product.models else [],
            "model": [{"model_id": m[0], "model_sku": m[1], "model_name": f"Variant {m[0] % 10}",
                       "tier_index": [n], "stock_info_v2": {"summary_info": {
                           "total_reserved_stock": 0, "total_available_stock": m[2]}}}
                      for n, m in enumerate(product.models)]})

    def _token(self, body: Any) -> web.Response:
        if not isinstance(body, dict):
            raise self._reject(400, "error_param", "body must be a JSON object")
        if body.get("partner_id") != self.partner_id or body.get("shop_id") != self.shop_id:
            raise self._reject(400, "error_param", "partner_id and shop_id must be integers of this shop")
        presented = body.get("refresh_token")
        with self._lock:
            expiry = self._refresh.pop(presented, None) if isinstance(presented, str) else None
            if expiry is None or expiry <= self._now_s():
                raise self._reject(403, "error_auth", "Invalid refresh_token.")
            self.used_refresh_tokens.add(presented)
            issued = self._issue()
            self.refreshes += 1
        return web.json_response({**issued, "partner_id": self.partner_id, "shop_id": self.shop_id,
                                  "request_id": secrets.token_hex(16), "error": "", "message": ""})

    def _order_list(self, q: Any) -> web.Response:
        field_name = q.get("time_range_field")
        if field_name not in ("create_time", "update_time"):
            raise self._reject(400, "error_param", "time_range_field must be create_time or update_time")
        try:
            time_from, time_to, page_size = int(q["time_from"]), int(q["time_to"]), int(q["page_size"])
            offset = int(q.get("cursor") or 0)
        except (KeyError, ValueError):
            raise self._reject(400, "error_param", "time_from, time_to and page_size are required integers") from None
        if time_to < time_from or time_to - time_from > MAX_RANGE_S:
            raise self._reject(400, "order.order_list_invalid_time",
                               "The time range is invalid, time_to - time_from must be within 15 days.")
        if not 1 <= page_size <= 100 or offset < 0:
            raise self._reject(400, "error_param", "page_size must be between 1 and 100")
        status_filter = q.get("order_status")
        with_status = "order_status" in q.get("response_optional_fields", "").split(",")
        with self._lock:
            chosen = sorted((o for o in self.orders.values()
                             if time_from <= getattr(o, field_name) <= time_to
                             and (status_filter is None or o.status == status_filter)),
                            key=lambda o: (getattr(o, field_name), o.order_sn))
            page = chosen[offset:offset + page_size]
            more = offset + page_size < len(chosen)
            order_list = [{"order_sn": o.order_sn, **({"order_status": o.status} if with_status else {})}
                          for o in page]
        return self._ok({"more": more, "next_cursor": str(offset + page_size) if more else "",
                         "order_list": order_list})

    def _order_detail(self, q: Any) -> web.Response:
        sns = [s for s in q.get("order_sn_list", "").split(",") if s]
        if not 1 <= len(sns) <= 50:
            raise self._reject(400, "error_param", "order_sn_list must hold 1 to 50 order_sn")
        optional = {f.strip() for f in q.get("response_optional_fields", "").split(",") if f.strip()}
        with self._lock:
            found = []
            for sn in sns:
                if self.lagging_detail.get(sn, 0) > 0:
                    self.lagging_detail[sn] -= 1
                elif sn in self.orders:
                    found.append(self._detail(self.orders[sn], optional))
        return self._ok({"order_list": found})

    def _return_list(self, q: Any) -> web.Response:
        try:
            page_no, page_size = int(q["page_no"]), int(q["page_size"])
            bounds = {k: int(q[k]) for k in ("create_time_from", "create_time_to", "update_time_from",
                                             "update_time_to") if k in q}
        except (KeyError, ValueError):
            raise self._reject(400, "error_param", "page_no and page_size are required integers") from None
        if not 1 <= page_size <= 100 or page_no < 0:
            raise self._reject(400, "error_param", "page_size must be between 1 and 100, page_no from 0")
        for field_name in ("create_time", "update_time"):
            lo, hi = bounds.get(f"{field_name}_from"), bounds.get(f"{field_name}_to")
            if (lo is None) != (hi is None) or (lo is not None and hi is not None and
                                                 (hi < lo or hi - lo > MAX_RANGE_S)):
                raise self._reject(400, "error_param", f"{field_name}_from and _to go together, within 15 days")
        with self._lock:
            chosen = sorted((r for r in self.returns.values()
                             if all(bounds.get(f"{f}_from", r_t) <= r_t <= bounds.get(f"{f}_to", r_t)
                                    for f, r_t in (("create_time", r.create_time), ("update_time", r.update_time)))),
                            key=lambda r: (r.update_time, r.return_sn))
            page = chosen[page_no * page_size:(page_no + 1) * page_size]
            more = (page_no + 1) * page_size < len(chosen)
            answer = [self._render_return(r) for r in page]
        return self._ok({"more": more, "return": answer})

    def _render_return(self, r: ShopeeReturn) -> dict[str, Any]:
        order = self.orders[r.order_sn]
        items = []
        for index, quantity in r.items:
            i = order.items[index]
            items.append({"item_id": i.item_id, "model_id": i.model_id, "name": i.item_name, "images": [],
                          "amount": quantity, "item_price": self._money(i.discounted_minor),
                          "is_add_on_deal": False, "is_main_item": False, "add_on_deal_id": 0,
                          "item_sku": i.item_sku, "variation_sku": i.model_sku,
                          "refund_amount": self._money(i.discounted_minor * quantity)})
        return {"return_sn": r.return_sn, "order_sn": r.order_sn, "status": r.status, "currency": self.currency,
                "refund_amount": self._money(r.refund_minor),
                "amount_before_discount": self._money(sum(order.items[x].original_minor * q for x, q in r.items)),
                "create_time": r.create_time, "update_time": r.update_time, "due_date": r.create_time + 3 * 86400,
                "reason": "NOT_RECEIPT" if r.solution else "DAMAGED", "text_reason": "", "image": [],
                "tracking_number": "", "needs_logistics": r.solution == 0, "return_solution": r.solution,
                "user": {"username": f"buyer{order.buyer_user_id}", "email": "", "portrait": ""},
                "item": items}

    def _money(self, minor: int) -> int | float:
        """A JSON number in major units; float division by 10**2 prints exactly the 2-decimal value."""
        return minor if self.decimals == 0 else minor / 10 ** self.decimals

    def _detail(self, o: ShopeeOrder, optional: set[str]) -> dict[str, Any]:
        d: dict[str, Any] = {"order_sn": o.order_sn, "region": self.region, "currency": self.currency, "cod": False,
                             "order_status": o.status, "create_time": o.create_time, "update_time": o.update_time,
                             "days_to_ship": 3, "ship_by_date": o.create_time + 3 * 86400, "message_to_seller": ""}
        if "total_amount" in optional:
            d["total_amount"] = self._money(o.total_minor)
        if "pay_time" in optional:
            d["pay_time"] = o.pay_time
        if "pickup_done_time" in optional:
            d["pickup_done_time"] = o.pickup_done_time or 0
        if "buyer_user_id" in optional:
            d["buyer_user_id"] = o.buyer_user_id
        if "buyer_username" in optional:
            d["buyer_username"] = f"buyer{o.buyer_user_id}"
        if "estimated_shipping_fee" in optional:
            d["estimated_shipping_fee"] = self._money(o.shipping_minor)
        if "item_list" in optional:
            d["item_list"] = [{"item_id": i.item_id, "item_name": i.item_name, "item_sku": i.item_sku,
                               "model_id": i.model_id, "model_name": i.model_name, "model_sku": i.model_sku,
                               "model_quantity_purchased": i.quantity,
                               "model_original_price": self._money(i.original_minor),
                               "model_discounted_price": self._money(i.discounted_minor),
                               "wholesale": False, "weight": 0.3}
                              for i in o.items]
        return d


def _seed_orders(rng: random.Random, count: int, days: int, now_s: int, decimals: int) -> dict[str, ShopeeOrder]:
    scale = 10 ** decimals if decimals else 1
    catalog = [(100000 + n, f"Product {n}", f"SKU-{n:03d}" if n % 4 else "") for n in range(30)]
    orders: dict[str, ShopeeOrder] = {}
    start = now_s - days * 86400
    while len(orders) < count:
        create = rng.randrange(start, now_s - 3600)
        update = min(create + rng.randrange(0, 3 * 86400), now_s - 1)
        status = rng.choices(STATUSES, weights=_STATUS_WEIGHTS)[0]
        stamp = datetime.fromtimestamp(create, UTC).strftime("%y%m%d")
        sn = stamp + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))
        paid = status != "UNPAID" and not (status == "CANCELLED" and rng.random() < 0.5)
        pay_time = min(create + rng.randrange(60, 3600), update) if paid else None
        pickup = min((pay_time or create) + rng.randrange(3600, 86400), update) if status in _PICKED_UP else None
        items = []
        for item_id, name, item_sku in rng.sample(catalog, rng.randint(1, 4)):
            model_id = rng.choice((0, item_id * 10 + 1, item_id * 10 + 2))
            original = rng.randrange(1 * scale, 200 * scale) if decimals else rng.randrange(1000, 500000) * 100
            discounted = original - original * rng.choice((0, 0, 5, 10, 25)) // 100
            items.append(ShopeeItem(item_id=item_id, item_name=name, item_sku=item_sku, model_id=model_id,
                                    model_name=f"Variant {model_id % 10}" if model_id else "",
                                    model_sku=f"{item_sku}-{model_id % 10}" if model_id and item_sku else "",
                                    quantity=rng.randint(1, 3), original_minor=original, discounted_minor=discounted))
        shipping = rng.choice((0, 0, 150, 299, 500)) * (1 if decimals else 100)
        orders[sn] = ShopeeOrder(order_sn=sn, status=status, create_time=create, update_time=update,
                                 pay_time=pay_time, pickup_done_time=pickup, buyer_user_id=rng.randrange(10**7, 10**8),
                                 shipping_minor=shipping, items=items)
    return orders


def _seed_products(now_s: int) -> dict[int, ShopeeProduct]:
    """The catalogue the seeded orders sell (items 100000-100029, as in `_seed_orders`): created n * 3 days and n
    hours before the fake's now, every third without models, item 100029 unlisted."""
    products = {}
    for n in range(30):
        item_id, sku = 100000 + n, f"SKU-{n:03d}" if n % 4 else ""
        created = now_s - n * 3 * 86400 - n * 3600 - 86400
        models = [] if n % 3 == 0 else [(item_id * 10 + k, f"{sku}-{k}" if sku else "", (n * 7 + k * 3) % 50)
                                        for k in (1, 2)]
        products[item_id] = ShopeeProduct(item_id, f"Product {n}", sku, "UNLIST" if n == 29 else "NORMAL", created,
                                          created + 3600, (n * 11) % 40, models)
    return products


def _seed_returns(rng: random.Random, orders: dict[str, ShopeeOrder], now_s: int) -> dict[str, ShopeeReturn]:
    """Return requests on received orders: every TO_RETURN order and about a quarter of COMPLETED ones."""
    returns: dict[str, ShopeeReturn] = {}
    for n, sn in enumerate(sorted(orders)):
        o = orders[sn]
        if not (o.status == "TO_RETURN" or (o.status == "COMPLETED" and rng.random() < 0.25)):
            continue
        status = "PROCESSING" if o.status == "TO_RETURN" else rng.choices(RETURN_STATUSES, _RETURN_WEIGHTS)[0]
        solution = rng.choice((0, 0, 1))
        picked = [(0, o.items[0].quantity)] if rng.random() < 0.7 else [(x, i.quantity) for x, i in enumerate(o.items)]
        if solution == 0 and picked[0][1] > 1 and rng.random() < 0.5:
            picked[0] = (picked[0][0], 1)                        # part of a line's units
        base = o.pickup_done_time or o.create_time
        create = min(base + rng.randrange(3600, 5 * 86400), now_s - 7200)
        update = min(create + rng.randrange(0, 2 * 86400), now_s - 3600)
        refund = sum(o.items[x].discounted_minor * q for x, q in picked)
        return_sn = f"{sn[:6]}R{n:05d}"
        returns[return_sn] = ShopeeReturn(return_sn, sn, status, solution, create, update, picked, refund)
    return returns

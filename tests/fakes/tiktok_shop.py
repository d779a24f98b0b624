"""A fake TikTok Shop Open API (202309-style versioned paths) that the REAL kpibot client talks to.

One aiohttp application on 127.0.0.1 (port 0), in a daemon thread with its own event loop, serves both the
shop API (``base_url``) and the token endpoint (``auth_base_url``, the same server)::

    with FakeTikTokShop(seed=7, n_orders=500) as fake:
        store = MemoryTokens(fake.initial_tokens())        # a TokenStore holding a fresh pair + shop_cipher
        source = TikTokShopSource(app_key=fake.app_key, app_secret=fake.app_secret, tokens=store,
                                  base_url=fake.base_url, auth_base_url=fake.auth_base_url)

Data comes from ``tests.fakes.shop_seed.ShopTimeline`` (deterministic from (seed, n_orders), generated per
order index, never held in memory), so the fake can serve 1,000,000 orders; ``expected_totals(since, until)``
sums the seed integers, not the JSON this module renders. Changes for incremental tests: ``advance(seconds,
changes=, refunds=, cancels=, new_orders=)``, ``update_order(order_id, status=, refund=)``, ``add_orders(n)``
(stamped with the data clock ``data_now``). Faults: ``fail_next(n, Fault.X, path_contains=, retry_after=)``,
``fault_rate``/``fault_seed``/``fault_kinds`` for seeded random ones, ``expire_tokens()``,
``revoke_refresh_tokens()``, ``clock_offset_s`` (the platform's clock against ours). ``calls`` records every
request (path, query without sign/secrets, JSON body, status, code, fault); ``refreshes`` counts refreshes.

What every signed call is checked for, in this order (first failure answers):

1. a known route (else HTTP 404, code 40400 - UNVERIFIED);
2. ``app_key`` equals the app's (else HTTP 401, 36009004 "invalid app_key");
3. ``timestamp``: 10-digit Unix seconds within [server time - 300 s, server time + 30 s] (else HTTP 401,
   36009004 "Invalid timestamp"). Server time is ``time.time() + clock_offset_s``; tests move it;
4. ``sign``: HMAC-SHA256, keyed by app_secret, lower hex, over ``secret + path + sorted(key+value) + body +
   secret`` where the params exclude ``sign`` and ``access_token``, repeated query keys are joined with commas,
   and the body is the raw bytes received (multipart bodies excluded). Else HTTP 401, 106001 "Invalid
   signature";
5. header ``x-tts-access-token``: unknown (never issued) -> HTTP 401, 105001 (UNVERIFIED code), expired ->
   HTTP 401, 105002 "Expired credentials";
6. ``shop_cipher``: missing -> 106013, not this shop's -> 106011 (UNVERIFIED code), both HTTP 401;
7. POST bodies must be JSON objects sent as ``application/json``; parameters are validated (``page_size``
   required, 1-100 for orders and affiliate orders, 10-50 for returns and cancellations, 1-100 for lives;
   ``ids`` at most 50; filters must be integers). Failures: HTTP 400, code 40006 (UNVERIFIED: the platform's
   parameter-error codes differ per module; the client treats any unknown code as a malformed request).

HTTP statuses of platform errors are UNVERIFIED (the notes give codes only): this fake answers 401 for
credential problems and 400 for bad parameters, always with the envelope ``{code, message, request_id}``, so
a client must read the envelope whatever the status.

Endpoints: ``POST /order/202309/orders/search``, ``GET /order/202309/orders?ids=``, ``POST
/return_refund/202309/returns/search``, ``POST /return_refund/202309/cancellations/search``, ``POST
/affiliate_seller/202410/orders/search``, ``GET /analytics/202508/shop_lives/performance`` and the unsigned
``GET /api/v2/token/refresh``, and ``POST /product/202309/products/search`` (the seed's 40 products in id
order, ``fake.products``: ``create_time`` and per-warehouse ``inventory[].quantity`` per SKU; ``page_size``
1-100 required, body filters ``status``/``update_time_*``/``create_time_*`` checked for type only).
Paging: ``next_page_token`` is opaque (base64 JSON of a position and a hash of the query); a token used with
other filters is refused (40006). The last page has ``next_page_token: ""``.

Simplifications and UNVERIFIED details (the notes do not give them):

* orders: default sort ``create_time DESC``; ``create_time`` sorting materialises the matching keys (fine for
  tests, slow for a million orders); a shipped order carries ``rts_time`` (the seed's shipped time, as the
  notes say: when it was handed to the carrier) and, on every third order only, a later ``collection_time``
  (rts + 2 h); ``delivery_time`` on delivered orders; each line item carries
  ``seller_discount``/``platform_discount``; ``payment.sub_total`` = original - seller - platform discounts
  (matches a real sample order), ``total_amount`` = sub_total + shipping_fee + tax; sample orders are priced
  with a seller discount equal to the price (buyer pays 0);
* returns/cancellations, affiliate orders and lives: sort ``update_time``/``create_time``/start time ASC only;
  return fields ``refund_amount{currency, refund_total, refund_subtotal, refund_shipping_fee, refund_tax}``,
  ``return_line_items[].order_line_item_id``, cancellations under ``data.cancellations`` with ``cancel_id``,
  ``cancel_status``, ``cancel_line_items``; a return's ``update_time`` is its order's (re-stamped on change);
* affiliate orders: filtered by ``create_time`` only, ordered by order index; ``price{amount, currency}`` is the
  unit price after discounts; commissions are ``{amount, currency}`` objects; no ``update_time`` field;
* lives: response key ``live_stream_sessions``; ``gmv`` is ``{amount, currency}``; dates are in ``shop_tz``
  (America/Los_Angeles for a US shop); ``page_size`` optional (default 10);
* tokens: refresh tokens are single use (the old one is revoked; set ``single_use_refresh=False`` to keep
  it); refresh errors answer HTTP 200 with code 36004004;
* paths: ``/analytics/202508/shop_lives/performance`` is the notes' version; public client code also calls a
  202509 version. The 3-month limit some client code reports for affiliate-order searches is not enforced;
* faults: HTTP 429 answers a plain-text body (optionally ``Retry-After``); HTTP 5xx an HTML body; 36009002
  answers HTTP 200 with the envelope (so a client must read the code, not only the status).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

import orjson
from aiohttp import web

from storage.ingest.records import Tokens
from tests.fakes.server import FakeServer
from tests.fakes.shop_seed import (
    DEFAULT_SPAN_S,
    DEFAULT_START,
    MAX_LAG_S,
    STATUS_LAG,
    Changes,
    ExpectedTotals,
    SeedOrder,
    SeedReturn,
    ShopTimeline,
)

_dumps = orjson.dumps
_loads = orjson.loads

ORDERS_SEARCH = "/order/202309/orders/search"
ORDERS_DETAIL = "/order/202309/orders"
RETURNS_SEARCH = "/return_refund/202309/returns/search"
CANCELLATIONS_SEARCH = "/return_refund/202309/cancellations/search"
AFFILIATE_SEARCH = "/affiliate_seller/202410/orders/search"
LIVES_PERFORMANCE = "/analytics/202508/shop_lives/performance"
PRODUCTS_SEARCH = "/product/202309/products/search"
TOKEN_REFRESH = "/api/v2/token/refresh"
COLLECTION_AFTER_RTS_S = 7200          # a collection_time comes this long after rts_time (fake's choice)

CODE_OK = 0
CODE_TOO_MANY_REQUESTS = 36009002
CODE_BAD_CREDENTIALS = 36009004       # bad app_key / timestamp (the platform reuses it; UNVERIFIED per case)
CODE_INVALID_SIGN = 106001
CODE_TOKEN_INVALID = 105001           # UNVERIFIED: unknown access token
CODE_TOKEN_EXPIRED = 105002
CODE_SHOP_CIPHER_MISSING = 106013
CODE_SHOP_CIPHER_INVALID = 106011     # UNVERIFIED
CODE_INVALID_PARAMS = 40006           # UNVERIFIED
CODE_NOT_FOUND = 40400                # UNVERIFIED
CODE_REFRESH_INVALID = 36004004       # UNVERIFIED

TIMESTAMP_PAST_S = 300
TIMESTAMP_FUTURE_S = 30


class Fault(StrEnum):
    HTTP_429 = "http_429"                 # HTTP 429, plain-text body
    HTTP_5XX = "http_5xx"                 # HTTP 503 (or the rule's status), HTML body
    TOO_MANY_REQUESTS = "too_many_requests"   # envelope code 36009002
    TOKEN_EXPIRED = "token_expired"       # envelope code 105002 (the token itself stays valid)
    TIMEOUT = "timeout"                   # answer only after ``timeout_delay_s``
    BAD_JSON = "bad_json"                 # HTTP 200 with a truncated JSON body


@dataclass
class Call:
    """One request the fake received, with the answer it got."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 0
    code: int | None = None
    fault: Fault | None = None
    at: float = field(default_factory=time.time)


@dataclass
class _Rule:
    remaining: int
    kind: Fault
    path_contains: str
    http_status: int = 0
    retry_after: str | None = None


class _Reject(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def tts_sign(path: str, params: dict[str, str], body: bytes, app_secret: str) -> str:
    """The platform's signature as the fake computes it (kept apart from the client's implementation)."""
    text = path + "".join(f"{key}{params[key]}" for key in sorted(params) if key not in ("sign", "access_token"))
    text = app_secret + text + body.decode("utf-8") + app_secret
    return hmac.new(app_secret.encode(), text.encode(), hashlib.sha256).hexdigest()


_MONEY_TEXT: dict[int, str] = {}


def _m(minor: int) -> str:
    """Minor units -> the platform's amount text ("12.34"); cached, amounts repeat a lot."""
    text = _MONEY_TEXT.get(minor)
    if text is None:
        text = f"{minor // 100}.{minor % 100:02d}"
        if len(_MONEY_TEXT) < 200_000:
            _MONEY_TEXT[minor] = text
    return text


def _money(minor: int, currency: str) -> dict[str, str]:
    return {"amount": _m(minor), "currency": currency}


def _rid() -> str:
    return secrets.token_hex(16).upper()


@dataclass
class FakeProduct:
    """A product of the fake's catalogue: per SKU (sku id, seller sku, quantity per warehouse)."""

    product_id: str
    title: str
    create_time: int
    skus: list[tuple[str, str, list[int]]]
    update_time: int = 0


def _catalogue(timeline: ShopTimeline) -> list[FakeProduct]:
    """The seed's products: created 10 + p days (plus p half hours) before the timeline's start, and stock in two
    warehouses per SKU, (7p + 3s) % 50 + 1 and (p + s) % 5 units."""
    products: dict[str, FakeProduct] = {}
    start = timeline.gen.start
    for sku in timeline.gen.skus:
        p = len(products) if sku.product_id not in products else list(products).index(sku.product_id)
        product = products.get(sku.product_id)
        if product is None:
            created = start - 86_400 * (10 + p) + 1800 * p
            product = products[sku.product_id] = FakeProduct(
                sku.product_id, sku.product_name.rsplit(" (", 1)[0], created, [], created + 3600)
        s = len(product.skus)
        product.skus.append((sku.sku_id, sku.seller_sku, [(7 * p + 3 * s) % 50 + 1, (p + s) % 5]))
    return list(products.values())


class FakeTikTokShop(FakeServer):
    """Fake TikTok Shop Open API on 127.0.0.1:<random port>; see the module docstring for what it checks."""

    shutdown_timeout = 0.5

    def __init__(self, seed: int = 1, n_orders: int = 200, *, app_key: str = "tts_app_key",
                 app_secret: str = "tts_app_secret", shop_cipher: str = "ROW_cipher_test",
                 start: int = DEFAULT_START, span_s: int = DEFAULT_SPAN_S, currency: str = "USD",
                 shop_tz: str = "America/Los_Angeles", access_token_ttl_s: int = 7 * 86_400,
                 refresh_token_ttl_s: int = 365 * 86_400, timeout_delay_s: float = 2.0, fault_rate: float = 0.0,
                 fault_seed: int = 0, fault_kinds: tuple[Fault, ...] = tuple(Fault), lean_search: bool = False,
                 single_use_refresh: bool = True, record_calls: bool = True,
                 live_hosts: tuple[str, ...] = ("shop.official", "shop.studio"), price_scale: int = 1) -> None:
        """``live_hosts`` are the accounts the seed's lives take turns on; ``price_scale`` multiplies every price
        (ShopTimeline). ``lean_search`` drops ``payment`` and ``line_items`` from search results (the client must then
        fetch details); ``fault_rate`` injects ``fault_kinds`` at random into signed calls, from its own
        ``random.Random(fault_seed)``."""
        super().__init__()
        self.app_key, self.app_secret, self.shop_cipher = app_key, app_secret, shop_cipher
        self.currency = currency
        self.timeline = ShopTimeline(seed, n_orders, start=start, span_s=span_s, currency=currency, shop_tz=shop_tz,
                                     live_hosts=live_hosts, price_scale=price_scale)
        self.access_token_ttl_s, self.refresh_token_ttl_s = access_token_ttl_s, refresh_token_ttl_s
        self.timeout_delay_s = timeout_delay_s
        self.fault_rate, self.fault_kinds = fault_rate, fault_kinds
        self.lean_search, self.single_use_refresh, self.record_calls = lean_search, single_use_refresh, record_calls
        self.clock_offset_s = 0.0
        self.auth_base_url = ""
        self.calls: list[Call] = []
        self.refreshes = 0
        self._access: dict[str, float] = {}      # access token -> expiry (server clock)
        self._refresh: dict[str, float] = {}     # refresh token -> expiry
        self._rules: list[_Rule] = []
        self._fault_rng = random.Random(fault_seed)
        self._count_cache: dict[tuple[str, int], int] = {}
        self._sorted_cache: dict[tuple[str, int], list[int]] = {}
        self._line_templates: dict[tuple[str, int, int], dict[str, Any]] = {}
        self._rendered: tuple[tuple[int, bool], list[orjson.Fragment]] | None = None   # see prerender
        self._lock = threading.RLock()
        self.products: list[FakeProduct] = _catalogue(self.timeline)

    async def _astart(self) -> None:
        await super()._astart()
        self.auth_base_url = self.base_url

    # ------------------------------------------------------------------ clock and tokens
    def server_time(self) -> float:
        return time.time() + self.clock_offset_s

    def initial_tokens(self, access_ttl_s: int | None = None) -> Tokens:
        """Issue an access/refresh token pair as the authorization flow would; returns them as `Tokens`
        (``extra["shop_cipher"]`` set) for the client's token store."""
        access, refresh, expires, refresh_expires = self._issue(access_ttl_s)
        return Tokens(access_token=access, refresh_token=refresh,
                      expires_at=datetime.fromtimestamp(expires, UTC),
                      refresh_expires_at=datetime.fromtimestamp(refresh_expires, UTC),
                      extra={"shop_cipher": self.shop_cipher})

    def _issue(self, access_ttl_s: int | None = None) -> tuple[str, str, int, int]:
        now = int(self.server_time())
        access, refresh = "TTP_" + secrets.token_urlsafe(24), "TTR_" + secrets.token_urlsafe(24)
        expires = now + (self.access_token_ttl_s if access_ttl_s is None else access_ttl_s)
        refresh_expires = now + self.refresh_token_ttl_s
        with self._lock:
            self._access[access] = expires
            self._refresh[refresh] = refresh_expires
        return access, refresh, expires, refresh_expires

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired from now on (calls with one get 105002)."""
        with self._lock:
            for token in self._access:
                self._access[token] = 0

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh.clear()

    # ------------------------------------------------------------------ data
    def prerender(self) -> None:
        """Render every base order's search JSON now, so that serving an unfiltered orders search is a join.
        For benchmarks: the platform's servers do not share the client's cores, this fake does. Every request
        is still checked as the module docstring says; any change to the timeline (or to the currency or
        lean_search) drops the rendered orders."""
        with self._lock:
            tl, cur, lean = self.timeline, self.currency, self.lean_search
            render, order = self._render_order, tl.gen.order
            self._rendered = ((tl.version, lean, cur), [orjson.Fragment(_dumps(render(order(i), cur, lean)))
                                                   for i in range(tl.n)])

    def expected_totals(self, since: datetime | int | None = None,
                        until: datetime | int | None = None) -> ExpectedTotals:
        """Totals over [since, until) summed from the seed (orders by update time, affiliate orders by create
        time, lives by start time); see shop_seed.ExpectedTotals."""
        with self._lock:
            return self.timeline.expected_totals(since, until)

    def advance(self, seconds: int = 3600, *, changes: int = 0, refunds: int = 0, cancels: int = 0,
                new_orders: int = 0) -> Changes:
        """Move the data clock on and change/add orders (ShopTimeline.advance); returns the order ids."""
        with self._lock:
            return self.timeline.advance(seconds, changes=changes, refunds=refunds, cancels=cancels,
                                         new_orders=new_orders)

    def update_order(self, order_id: str, *, status: str | None = None, refund: str | None = None) -> SeedOrder:
        """Give one order a new version (new status and/or a completed refund) stamped with the data clock."""
        index = self.timeline.gen.index_of(order_id)
        if index is None or index >= self.timeline.total_orders:
            raise KeyError(order_id)
        with self._lock:
            return self.timeline.update_order(index, status=status, refund=refund)

    def add_orders(self, count: int) -> list[SeedOrder]:
        with self._lock:
            return self.timeline.add_orders(count)

    @property
    def data_now(self) -> datetime:
        """The data clock: every change so far is stamped at or before it."""
        return datetime.fromtimestamp(self.timeline.now, UTC)

    # ------------------------------------------------------------------ faults and calls
    def fail_next(self, n: int, kind: Fault | str, *, path_contains: str = "", http_status: int = 0,
                  retry_after: str | None = None) -> None:
        """The next ``n`` signed calls whose path contains ``path_contains`` get fault ``kind`` (the token
        refresh is hit only when ``path_contains`` names it). ``retry_after`` sets a Retry-After header on
        HTTP 429 answers; ``http_status`` overrides 503 for HTTP_5XX."""
        with self._lock:
            self._rules.append(_Rule(n, Fault(kind), path_contains, http_status=http_status,
                                     retry_after=retry_after))

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()
            self.fault_rate = 0.0

    def calls_to(self, path: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path == path]

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def _take_fault(self, path: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.remaining <= 0 or rule.path_contains not in path:
                    continue
                if path == TOKEN_REFRESH and not (rule.path_contains and rule.path_contains in TOKEN_REFRESH):
                    continue
                rule.remaining -= 1
                return rule
            if path != TOKEN_REFRESH and self.fault_rate and self._fault_rng.random() < self.fault_rate:
                return _Rule(1, self._fault_rng.choice(self.fault_kinds), "")
        return None

    # ------------------------------------------------------------------ HTTP
    def _envelope(self, code: int, message: str, data: Any = None) -> bytes:
        body: dict[str, Any] = {"code": code, "message": message, "request_id": _rid()}
        if data is not None:
            body["data"] = data
        return _dumps(body)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        path = request.path
        query = {key: ",".join(request.query.getall(key)) for key in dict.fromkeys(request.query.keys())}
        call = Call(request.method, path, {k: v for k, v in query.items() if k not in ("sign", "app_secret",
                                                                                       "refresh_token")}, None)
        if self.record_calls:
            with self._lock:
                self.calls.append(call)
        rule = self._take_fault(path)
        headers: dict[str, str] = {}
        if rule is not None:
            call.fault = rule.kind
            if rule.kind is Fault.HTTP_429:
                call.status = 429
                if rule.retry_after is not None:
                    headers["Retry-After"] = rule.retry_after
                return web.Response(status=429, text="Too Many Requests", headers=headers)
            if rule.kind is Fault.HTTP_5XX:
                call.status = rule.http_status or 503
                return web.Response(status=call.status, content_type="text/html",
                                    text=f"<html><body>{call.status} Service Unavailable</body></html>")
            if rule.kind is Fault.TOO_MANY_REQUESTS:
                call.status, call.code = 200, CODE_TOO_MANY_REQUESTS
                return web.Response(status=200, body=self._envelope(CODE_TOO_MANY_REQUESTS, "Too many requests"),
                                    content_type="application/json")
            if rule.kind is Fault.TOKEN_EXPIRED:
                call.status, call.code = 401, CODE_TOKEN_EXPIRED
                return web.Response(status=401, body=self._envelope(CODE_TOKEN_EXPIRED, "Expired credentials"),
                                    content_type="application/json")
            if rule.kind is Fault.TIMEOUT:
                await asyncio.sleep(self.timeout_delay_s)
        try:
            if path == TOKEN_REFRESH and request.method == "GET":
                status, body = 200, self._refresh_token(query)
                call.code = CODE_OK
            else:
                with self._lock:
                    data = self._route(request, path, query, raw, call)
                status, body = 200, self._envelope(CODE_OK, "Success", data)
                call.code = CODE_OK
        except _Reject as rej:
            status, body = rej.status, self._envelope(rej.code, rej.message)
            call.code = rej.code
        call.status = status
        if rule is not None and rule.kind is Fault.BAD_JSON:
            body = body[: max(1, len(body) // 2)]
        return web.Response(status=status, body=body, content_type="application/json")

    def _refresh_token(self, q: dict[str, str]) -> bytes:
        if q.get("grant_type") != "refresh_token":
            raise _Reject(200, CODE_INVALID_PARAMS, "grant_type must be refresh_token")
        if q.get("app_key") != self.app_key or not hmac.compare_digest(q.get("app_secret", ""), self.app_secret):
            raise _Reject(200, CODE_REFRESH_INVALID, "invalid app_key or app_secret")
        now = self.server_time()
        with self._lock:
            expiry = self._refresh.get(q.get("refresh_token", ""))
            if expiry is None or expiry <= now:
                raise _Reject(200, CODE_REFRESH_INVALID, "refresh_token is invalid or expired")
            if self.single_use_refresh:
                del self._refresh[q["refresh_token"]]
            self.refreshes += 1
        access, refresh, expires, refresh_expires = self._issue()
        return self._envelope(CODE_OK, "success", {
            "access_token": access, "access_token_expire_in": expires, "refresh_token": refresh,
            "refresh_token_expire_in": refresh_expires, "open_id": "open_test", "seller_name": "Test Shop US",
            "seller_base_region": "US", "user_type": 0, "granted_scopes": ["seller.order.info"]})

    _ROUTES: ClassVar[dict[tuple[str, str], str]] = {
        ("POST", ORDERS_SEARCH): "_orders_search", ("GET", ORDERS_DETAIL): "_orders_detail",
        ("POST", RETURNS_SEARCH): "_returns_search", ("POST", CANCELLATIONS_SEARCH): "_cancellations_search",
        ("POST", AFFILIATE_SEARCH): "_affiliate_search", ("GET", LIVES_PERFORMANCE): "_lives",
        ("POST", PRODUCTS_SEARCH): "_products_search"}

    def _route(self, request: web.Request, path: str, q: dict[str, str], raw: bytes, call: Call) -> Any:
        handler_name = self._ROUTES.get((request.method, path))
        if handler_name is None:
            raise _Reject(404, CODE_NOT_FOUND, f"path not found: {request.method} {path}")
        self._check_signed(request, path, q, raw)
        body: dict[str, Any] = {}
        if request.method == "POST":
            if not request.headers.get("Content-Type", "").startswith("application/json"):
                raise _Reject(400, CODE_INVALID_PARAMS, "content-type must be application/json")
            try:
                parsed = _loads(raw) if raw else {}
            except ValueError as exc:
                raise _Reject(400, CODE_INVALID_PARAMS, "request body is not JSON") from exc
            if not isinstance(parsed, dict):
                raise _Reject(400, CODE_INVALID_PARAMS, "request body must be a JSON object")
            body = parsed
            call.body = body
        handler: Callable[[dict[str, str], dict[str, Any]], Any] = getattr(self, handler_name)
        return handler(q, body)

    def _check_signed(self, request: web.Request, path: str, q: dict[str, str], raw: bytes) -> None:
        if q.get("app_key") != self.app_key:
            raise _Reject(401, CODE_BAD_CREDENTIALS, "invalid app_key")
        ts = q.get("timestamp", "")
        now = self.server_time()
        if not (ts.isdigit() and len(ts) == 10 and now - TIMESTAMP_PAST_S <= int(ts) <= now + TIMESTAMP_FUTURE_S):
            raise _Reject(401, CODE_BAD_CREDENTIALS, "Invalid timestamp")
        multipart = request.headers.get("Content-Type", "").startswith("multipart/")
        expected = tts_sign(path, q, b"" if multipart else raw, self.app_secret)
        if not hmac.compare_digest(expected, q.get("sign", "")):
            raise _Reject(401, CODE_INVALID_SIGN, "Invalid signature")
        token = request.headers.get("x-tts-access-token", "")
        expiry = self._access.get(token)
        if expiry is None:
            raise _Reject(401, CODE_TOKEN_INVALID, "Invalid access token")
        if expiry <= now:
            raise _Reject(401, CODE_TOKEN_EXPIRED, "Expired credentials")
        cipher = q.get("shop_cipher")
        if not cipher:
            raise _Reject(401, CODE_SHOP_CIPHER_MISSING, "shop_cipher is required")
        if cipher != self.shop_cipher:
            raise _Reject(401, CODE_SHOP_CIPHER_INVALID, "shop_cipher invalid")

    # ------------------------------------------------------------------ parameters and paging
    @staticmethod
    def _page_size(q: dict[str, str], lo: int, hi: int, default: int | None = None) -> int:
        raw = q.get("page_size")
        if raw is None and default is not None:
            return default
        if raw is None or not raw.isdigit() or not lo <= int(raw) <= hi:
            raise _Reject(400, CODE_INVALID_PARAMS, f"page_size is required and must be between {lo} and {hi}")
        return int(raw)

    @staticmethod
    def _time_filters(body: dict[str, Any], prefixes: tuple[str, ...]) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for prefix in prefixes:
            for suffix in ("_ge", "_lt"):
                value = body.get(prefix + suffix)
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                    raise _Reject(400, CODE_INVALID_PARAMS, f"{prefix + suffix} must be a Unix timestamp")
                out[prefix + suffix] = value
        return out

    @staticmethod
    def _key(*parts: Any) -> str:
        return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]

    @staticmethod
    def _encode_token(key: str, pos: int, off: int) -> str:
        return base64.urlsafe_b64encode(_dumps({"k": key, "p": pos, "o": off})).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: str | None, key: str) -> tuple[int, int] | None:
        if not token:
            return None
        try:
            data = _loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if data["k"] != key:
                raise ValueError("token of another query")
            return int(data["p"]), int(data["o"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _Reject(400, CODE_INVALID_PARAMS, "page_token is invalid for this query") from exc

    @staticmethod
    def _scan(ranges: list[tuple[int, int]], start: int | None, desc: bool) -> Iterator[int]:
        if not desc:
            for a, b in ranges:
                yield from range(a if start is None else max(a, start), b)
        else:
            for a, b in reversed(ranges):
                yield from range((b if start is None else min(b, start + 1)) - 1, a - 1, -1)

    @staticmethod
    def _take(positions: Iterator[int], cursor: tuple[int, int] | None, page_size: int,
              items_at: Callable[[int], list[Any]]) -> tuple[list[Any], tuple[int, int] | None]:
        """Up to ``page_size`` items from the positions, and the cursor (position, offset) of the next one."""
        out: list[Any] = []
        first = cursor[0] if cursor else None
        for pos in positions:
            items = items_at(pos)
            for j in range(cursor[1] if cursor and pos == first else 0, len(items)):
                if len(out) == page_size:
                    return out, (pos, j)
                out.append(items[j])
        return out, None

    def _count(self, key: str, compute: Callable[[], int]) -> int:
        cache_key = (key, self.timeline.version)
        found = self._count_cache.get(cache_key)
        if found is None:
            if len(self._count_cache) > 256:
                self._count_cache.clear()
            found = self._count_cache[cache_key] = compute()
        return found

    def _order_ranges(self, f: dict[str, int | None]) -> list[tuple[int, int]]:
        tl = self.timeline
        lo, hi = tl.position_range(f["update_time_ge"], f["update_time_lt"])
        if f["create_time_ge"] is None and f["create_time_lt"] is None:
            return [(lo, hi)]
        c_lo = 0 if f["create_time_ge"] is None else tl.gen.first_index_at(f["create_time_ge"])
        c_hi = tl.n if f["create_time_lt"] is None else tl.gen.first_index_at(f["create_time_lt"] + MAX_LAG_S + 1)
        return [(max(lo, c_lo), min(hi, c_hi, tl.n)), (max(lo, tl.n), hi)]

    # ------------------------------------------------------------------ orders
    def _orders_search(self, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        page_size = self._page_size(q, 1, 100)
        sort_field, sort_order = q.get("sort_field", "create_time"), q.get("sort_order", "DESC")
        if sort_field not in ("create_time", "update_time") or sort_order not in ("ASC", "DESC"):
            raise _Reject(400, CODE_INVALID_PARAMS, "sort_field must be create_time|update_time, "
                                                     "sort_order ASC|DESC")
        f = self._time_filters(body, ("create_time", "update_time"))
        status = body.get("order_status")
        if status is not None and status not in STATUS_LAG:
            raise _Reject(400, CODE_INVALID_PARAMS, "order_status is invalid")
        cge, clt = f["create_time_ge"], f["create_time_lt"]
        plain = cge is None and clt is None and status is None
        tl = self.timeline
        fresh = self._rendered and self._rendered[0] == (tl.version, self.lean_search, self.currency)
        rendered = self._rendered[1] if (fresh and plain and sort_field == "update_time") else None

        def match(pos: int) -> list[Any]:
            if rendered is not None and pos < tl.n:
                return [rendered[pos]] if tl.alive(pos) else []
            order = tl.order_at(pos)
            if order is None or (status is not None and order.status != status) or (
                    cge is not None and order.create_time < cge) or (clt is not None and order.create_time >= clt):
                return []
            return [order]

        key = self._key("orders", sorted(f.items()), status, sort_field, sort_order)
        ranges = self._order_ranges(f)
        cursor = self._decode_token(q.get("page_token"), key)
        if sort_field == "update_time":
            start = cursor[0] if cursor else None
            orders, nxt = self._take(self._scan(ranges, start, sort_order == "DESC"), cursor, page_size, match)
            total = (sum(tl.alive_count(a, b) for a, b in ranges) if plain else
                     self._count(key, lambda: sum(len(match(p)) for p in self._scan(ranges, None, False))))
        else:
            sequence = self._sorted_cache.get((key, tl.version))
            if sequence is None:
                found = [(o.create_time, o.index, pos) for pos in self._scan(ranges, None, False) for o in match(pos)]
                found.sort(reverse=sort_order == "DESC")
                if len(self._sorted_cache) > 16:
                    self._sorted_cache.clear()
                sequence = self._sorted_cache[(key, tl.version)] = [pos for _, _, pos in found]
            start_at = cursor[0] if cursor else 0
            orders = [o for pos in sequence[start_at:start_at + page_size] for o in match(pos)]
            nxt = (start_at + page_size, 0) if start_at + page_size < len(sequence) else None
            total = len(sequence)
        cur = self.currency
        lean = self.lean_search
        return {"next_page_token": self._encode_token(key, *nxt) if nxt else "", "total_count": total,
                "orders": [o if type(o) is orjson.Fragment else self._render_order(o, cur, lean) for o in orders]}

    def _orders_detail(self, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        ids = [i for i in q.get("ids", "").split(",") if i]
        if not ids or len(ids) > 50:
            raise _Reject(400, CODE_INVALID_PARAMS, "ids is required, at most 50")
        tl = self.timeline
        out = []
        for order_id in ids:
            index = tl.gen.index_of(order_id)
            if index is not None and index < tl.total_orders:
                out.append(self._render_order(tl.current(index), self.currency, False))
        return {"orders": out}

    def _render_order(self, o: SeedOrder, cur: str, lean: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"id": o.order_id, "status": o.status, "create_time": o.create_time,
                               "update_time": o.update_time, "user_id": o.buyer_id,
                               "is_sample_order": o.is_sample, "order_type": "NORMAL"}
        if o.paid_time is not None:
            out["paid_time"] = o.paid_time
        if o.collection_time is not None:    # the seed's shipped time: handed to the carrier
            out["rts_time"] = o.collection_time
            if o.index % 3 == 0:              # the carrier's scan, later and only on some orders
                out["collection_time"] = o.collection_time + COLLECTION_AFTER_RTS_S
        if o.delivery_time is not None:
            out["delivery_time"] = o.delivery_time
        if o.cancel_time is not None:
            out["cancel_time"] = o.cancel_time
        if lean:
            return out
        original = seller = platform = 0
        items = []
        templates = self._line_templates
        status = o.status
        for line in o.lines:
            sku = line.sku
            p_orig, p_seller, p_platform = sku.original_minor, line.seller_discount_minor, line.platform_discount_minor
            original += p_orig
            seller += p_seller
            platform += p_platform
            key = (sku.sku_id, p_seller, p_platform)
            template = templates.get(key)
            if template is None:
                template = templates[key] = {
                    "sku_id": sku.sku_id, "product_id": sku.product_id, "product_name": sku.product_name,
                    "seller_sku": sku.seller_sku, "sale_price": _m(p_orig - p_seller - p_platform),
                    "original_price": _m(p_orig), "seller_discount": _m(p_seller), "platform_discount": _m(p_platform),
                    "currency": cur, "is_gift": False}
            item = {"id": line.line_id, **template}
            item["display_status"] = status
            items.append(item)
        sub_total = original - seller - platform
        tax = (2 * sub_total * o.tax_bp + 10_000) // 20_000
        out["payment"] = {"currency": cur, "original_total_product_price": _m(original),
                          "seller_discount": _m(seller), "platform_discount": _m(platform),
                          "sub_total": _m(sub_total), "shipping_fee": _m(o.shipping_minor), "tax": _m(tax),
                          "total_amount": _m(sub_total + o.shipping_minor + tax)}
        out["line_items"] = items
        return out

    # ------------------------------------------------------------------ returns and cancellations
    def _return_page(self, q: dict[str, str], body: dict[str, Any], cancels: bool) -> tuple[list, str, int]:
        page_size = self._page_size(q, 10, 50)
        if q.get("sort_field", "update_time") != "update_time" or q.get("sort_order", "ASC") != "ASC":
            raise _Reject(400, CODE_INVALID_PARAMS, "this fake sorts returns by update_time ASC only")
        f = self._time_filters(body, ("create_time", "update_time"))
        tl = self.timeline
        cge, clt = f["create_time_ge"], f["create_time_lt"]

        def items_at(pos: int) -> list[tuple[SeedOrder, SeedReturn]]:
            order = tl.order_at(pos)
            if order is None or not order.returns:
                return []
            return [(order, r) for r in order.returns if (r.kind == "CANCEL") == cancels
                    and (cge is None or r.create_time >= cge) and (clt is None or r.create_time < clt)]

        key = self._key("cancels" if cancels else "returns", sorted(f.items()))
        ranges = [tl.position_range(f["update_time_ge"], f["update_time_lt"])]
        cursor = self._decode_token(q.get("page_token"), key)
        items, nxt = self._take(self._scan(ranges, cursor[0] if cursor else None, False), cursor, page_size,
                                items_at)
        total = self._count(key, lambda: sum(len(items_at(p)) for p in self._scan(ranges, None, False)))
        return items, self._encode_token(key, *nxt) if nxt else "", total

    def _refund_amount(self, r: SeedReturn) -> dict[str, str]:
        return {"currency": self.currency, "refund_total": _m(r.total_minor), "refund_subtotal": _m(r.subtotal_minor),
                "refund_shipping_fee": _m(r.shipping_minor), "refund_tax": _m(r.tax_minor)}

    def _line_items(self, o: SeedOrder, r: SeedReturn, prefix: str) -> list[dict[str, Any]]:
        lines = {line.line_id: line for line in o.lines}
        out = []
        for j, line_id in enumerate(r.line_ids):
            line = lines[line_id]
            out.append({f"{prefix}_line_item_id": f"{r.return_id}{j:02d}", "order_line_item_id": line_id,
                        "sku_id": line.sku.sku_id, "product_name": line.sku.product_name,
                        "refund_amount": {"currency": self.currency, "refund_total": _m(line.sale_minor)}})
        return out

    def _returns_search(self, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        items, token, total = self._return_page(q, body, cancels=False)
        return {"next_page_token": token, "total_count": total, "return_orders": [
            {"return_id": r.return_id, "order_id": o.order_id, "return_type": r.kind, "return_status": r.status,
             "role": r.role, "create_time": r.create_time, "update_time": o.update_time,
             "refund_amount": self._refund_amount(r), "return_line_items": self._line_items(o, r, "return")}
            for o, r in items]}

    def _cancellations_search(self, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        items, token, total = self._return_page(q, body, cancels=True)
        return {"next_page_token": token, "total_count": total, "cancellations": [
            {"cancel_id": r.return_id, "order_id": o.order_id, "cancel_type": "CANCEL", "cancel_status": r.status,
             "role": r.role, "create_time": r.create_time, "update_time": o.update_time,
             "refund_amount": self._refund_amount(r), "cancel_line_items": self._line_items(o, r, "cancel")}
            for o, r in items]}

    # ------------------------------------------------------------------ affiliate orders
    def _affiliate_search(self, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        page_size = self._page_size(q, 1, 100)
        f = self._time_filters(body, ("create_time",))
        ge, lt = f["create_time_ge"], f["create_time_lt"]
        tl = self.timeline
        key = self._key("affiliate", sorted(f.items()))
        cursor = self._decode_token(q.get("page_token"), key)

        ranges = tl.create_candidate_ranges(ge, lt)

        def items_at(index: int) -> list[SeedOrder]:
            order = tl.current(index)
            if order.affiliate is None or (ge is not None and order.create_time < ge) or (
                    lt is not None and order.create_time >= lt):
                return []
            return [order]

        positions = self._scan(ranges, cursor[0] if cursor else None, False)
        orders, nxt = self._take(positions, cursor, page_size, items_at)
        total = self._count(key, lambda: sum(len(items_at(i)) for i in self._scan(ranges, None, False)))
        return {"next_page_token": self._encode_token(key, *nxt) if nxt else "", "total_count": total,
                "orders": [self._render_affiliate(o) for o in orders]}

    def _render_affiliate(self, o: SeedOrder) -> dict[str, Any]:
        aff = o.affiliate
        assert aff is not None
        cur = self.currency
        status = ("CANCELLED" if o.status == "CANCELLED" else "COMPLETED" if o.status == "COMPLETED"
                  else "PROCESSING")
        refunded: dict[str, int] = {}
        returned: dict[str, int] = {}
        for r in o.returns:
            if r.kind != "CANCEL" and r.status == "RETURN_OR_REFUND_REQUEST_COMPLETE":
                for line_id in r.line_ids:
                    refunded[line_id] = 1
                    if r.kind == "RETURN_AND_REFUND":
                        returned[line_id] = 1
        skus: dict[str, dict[str, Any]] = {}
        for line in o.lines:
            sku = line.sku
            entry = skus.get(sku.sku_id)
            if entry is None:
                entry = skus[sku.sku_id] = {
                    "sku_id": sku.sku_id, "product_id": sku.product_id, "creator_username": aff.creator,
                    "content_type": aff.content_type, "content_id": aff.content_id or "", "campaign_id": "",
                    "price": _money(line.sale_minor, cur), "quantity": 0, "refunded_quantity": 0,
                    "returned_quantity": 0, "commission_rate": str(aff.commission_bp), "_unit": line.sale_minor}
            entry["quantity"] += 1
            entry["refunded_quantity"] += refunded.get(line.line_id, 0)
            entry["returned_quantity"] += returned.get(line.line_id, 0)
        out_skus = []
        for entry in skus.values():
            unit = entry.pop("_unit")
            estimated = (unit * entry["quantity"] * aff.commission_bp + 5000) // 10_000
            actual = (unit * (entry["quantity"] - entry["refunded_quantity"]) * aff.commission_bp + 5000) // 10_000
            entry["estimated_paid_commission"] = _money(estimated, cur)
            entry["actual_paid_commission"] = _money(actual if status == "COMPLETED" else 0, cur)
            out_skus.append(entry)
        result: dict[str, Any] = {"id": o.order_id, "create_time": o.create_time, "status": status, "skus": out_skus}
        if o.delivery_time is not None:
            result["delivery_time"] = o.delivery_time
        return result

    # ------------------------------------------------------------------ products
    def _products_search(self, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        page_size = self._page_size(q, 1, 100)
        filters = self._time_filters(body, ("update_time", "create_time"))
        status = body.get("status")
        if status is not None and status not in ("ALL", "DRAFT", "PENDING", "FAILED", "ACTIVATE",
                                                  "SELLER_DEACTIVATED", "PLATFORM_DEACTIVATED", "FREEZE", "DELETED"):
            raise _Reject(400, CODE_INVALID_PARAMS, "status is not a product status")
        key = self._key("products", page_size, sorted(filters.items()), status)
        cursor = self._decode_token(q.get("page_token"), key)
        start = cursor[0] if cursor else 0
        products = sorted(self.products, key=lambda p: p.product_id)
        page = products[start:start + page_size]
        nxt = start + page_size if start + page_size < len(products) else None
        cur = self.currency
        return {"next_page_token": self._encode_token(key, nxt, 0) if nxt is not None else "",
                "total_count": len(products),
                "products": [{
                    "id": p.product_id, "title": p.title, "status": "ACTIVATE", "create_time": p.create_time,
                    "update_time": p.update_time,
                    "skus": [{"id": sku_id, "seller_sku": seller_sku,
                              "price": {"currency": cur, "tax_exclusive_price": "9.99"},
                              "inventory": [{"warehouse_id": f"WH{w + 1}", "quantity": qty}
                                            for w, qty in enumerate(quantities)]}
                             for sku_id, seller_sku, quantities in p.skus]}
                    for p in page]}

    # ------------------------------------------------------------------ lives
    def _lives(self, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        page_size = self._page_size(q, 1, 100, default=10)
        try:
            ge = date.fromisoformat(q["start_date_ge"])
            lt = date.fromisoformat(q["end_date_lt"])
        except (KeyError, ValueError) as exc:
            raise _Reject(400, CODE_INVALID_PARAMS, "start_date_ge and end_date_lt (YYYY-MM-DD) are required") from exc
        if lt <= ge:
            raise _Reject(400, CODE_INVALID_PARAMS, "end_date_lt must be after start_date_ge")
        if q.get("currency", "LOCAL") not in ("USD", "LOCAL"):
            raise _Reject(400, CODE_INVALID_PARAMS, "currency must be USD or LOCAL")
        tl = self.timeline
        sessions = [s for s in tl.lives if ge <= datetime.fromtimestamp(s.start_time, tl.tz).date() < lt]
        key = self._key("lives", ge, lt)
        cursor = self._decode_token(q.get("page_token"), key)
        start = cursor[0] if cursor else 0
        page = sessions[start:start + page_size]
        nxt = start + page_size if start + page_size < len(sessions) else None
        cur = self.currency
        latest = datetime.fromtimestamp(self.server_time(), tl.tz).date() - timedelta(days=1)
        return {"next_page_token": self._encode_token(key, nxt, 0) if nxt is not None else "",
                "total_count": len(sessions), "latest_available_date": latest.isoformat(),
                "live_stream_sessions": [{
                    "id": s.session_id, "title": s.title, "username": s.username, "start_time": s.start_time,
                    "end_time": s.end_time,
                    "sales_performance": {
                        "gmv": _money(s.gmv_minor, cur), "sku_orders": s.sku_orders, "unit_sold": s.unit_sold,
                        "customers": s.customers,
                        "click_to_order_rate": f"{round(s.sku_orders * 100 / s.product_clicks)}%"},
                    "interaction_performance": {
                        "viewers": s.viewers, "views": s.views, "avg_viewing_duration": s.avg_viewing_duration,
                        "comments": s.comments, "shares": s.shares, "likes": s.likes,
                        "new_followers": s.new_followers, "product_impressions": s.product_impressions,
                        "product_clicks": s.product_clicks,
                        "click_through_rate": f"{s.product_clicks * 100 / s.product_impressions:.2f}%"}}
                    for s in page]}


"""Shopify (independent stores): orders from the GraphQL Admin API as `OrderRecord`s.

One resource, ``orders``, paged by cursor over ``orders(query: "updated_at:>='since' AND updated_at:<'until'",
sortKey: UPDATED_AT)``. An order carries its lines, refunds, discount codes (``promo_codes``) and the first and
last visit of Shopify's customer journey (``visits``, for tracked-link attribution).

Cost: the GraphQL Admin API charges every query its *requested* cost up front (objects 1, a connection
2 + ``first`` x one node; a single query may not exceed 1000 points) from a leaky bucket and gives back the
difference to the actual cost afterwards. With ``page_size`` 5 the page query requests 582 points, so it
fits the bucket with room to spare (``page_cost``). Lines beyond the first ``LINES_PER_PAGE`` and refunds beyond
``REFUNDS_PER_PAGE`` are fetched with a second, per-order query. The client paces itself from each answer's
``throttleStatus`` and, when Shopify still answers THROTTLED, raises ``SourceError(RATE_LIMITED)`` whose
``retry_after_s`` is the time the bucket needs to hold the requested cost; the retry loop sleeps that long.

Money is the shop currency (``shopMoney``); ``presentmentMoney`` (what a foreign buyer saw) is not read.
Field meanings as Shopify's reference describes them (UNVERIFIED against a live shop): ``subtotalPriceSet`` is
the lines after all discounts and before returns, so it is the merchandise (``currentSubtotalPriceSet`` would
already subtract returns, which the refunds net out again); ``totalDiscountsSet`` is order- and line-level
discounts before returns; ``totalPriceSet`` is before returns; a line's
``discountedUnitPriceAfterAllDiscountsSet`` includes its share of order-level discounts (codes) but is
approximate ("9.666666666667"), so line amounts are rounded to the currency's minor unit and need not add up
to the merchandise exactly. UNVERIFIED: whether ``totalDiscountsSet`` also holds shipping discounts (then
``subtotal`` = merchandise + discount overstates the goods by the shipping discount); for shops with
``taxesIncluded`` the subtotal includes tax. Also UNVERIFIED: whether an order's ``updatedAt`` moves when its
customer journey becomes ``ready``; an incremental sync keeps whatever visits the order had when it last
changed. A visit's ``referralCode`` is not kept: ``records.Visit`` has no field for it.

Access tokens of Shopify custom apps do not expire, so the source takes the token itself, not a TokenStore.
By default Shopify serves only the last 60 days of orders; older ones need the ``read_all_orders`` scope.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import httpx

from bot.shops.http import transport_error, with_backoff
from scoring.money import UnknownCurrency, minor_unit
from storage.ingest.records import (
    FailureKind,
    LineRecord,
    OrderRecord,
    OrderStatus,
    Page,
    RefundKind,
    RefundRecord,
    RefundStatus,
    SourceError,
    Visit,
)

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2025-10"   # UNVERIFIED which versions a given shop still serves; Shopify falls forward
LINES_PER_PAGE = 10
REFUNDS_PER_PAGE = 3
REFUND_LINES_PER_PAGE = 10
DETAIL_LINES = 50
DETAIL_REFUNDS = 20
DETAIL_REFUND_LINES = 30
MAX_QUERY_COST = 1000
# Requested costs by Shopify's rule (objects 1, scalars 0, connection 2 + first x node, pageInfo free), used to
# pace the first calls; afterwards the answers' own requestedQueryCost is used. One order node: itself 1, six
# MoneyBags 2 each, customer 1, journey 1 + two visits with utmParameters 2 each, lines (2 + n x 5: line,
# product, variant, MoneyBag 2), refunds (n x: refund 1, MoneyBag 2, refund lines 2 + n x 1).
_ORDER_COST = 1 + 12 + 1 + 5 + (2 + LINES_PER_PAGE * 5) + REFUNDS_PER_PAGE * (3 + 2 + REFUND_LINES_PER_PAGE)
DETAIL_COST = 1 + (2 + DETAIL_LINES * 5) + DETAIL_REFUNDS * (3 + 2 + DETAIL_REFUND_LINES)
MAX_PAGE_SIZE = (MAX_QUERY_COST - 2) // _ORDER_COST     # 8 orders: 930 points


def page_cost(page_size: int) -> int:
    return 2 + page_size * _ORDER_COST
UNPAID = frozenset({"PENDING", "AUTHORIZED", "EXPIRED", "VOIDED"})

_MONEY = "{ shopMoney { amount currencyCode } }"
_VISIT = "{ id occurredAt landingPage utmParameters { source medium campaign content term } }"
_LINE = f"id name quantity sku product {{ id }} variant {{ id }} discountedUnitPriceAfterAllDiscountsSet {_MONEY}"


def _refunds(first: int, lines: int) -> str:
    return (f"refunds(first: {first}) {{ id createdAt totalRefundedSet {_MONEY} "
            f"refundLineItems(first: {lines}) {{ pageInfo {{ hasNextPage }} nodes {{ quantity restockType }} }} }}")


PAGE_QUERY = f"""query KpibotOrders($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id createdAt updatedAt processedAt cancelledAt displayFinancialStatus displayFulfillmentStatus discountCodes
      subtotalPriceSet {_MONEY} totalDiscountsSet {_MONEY} totalShippingPriceSet {_MONEY}
      totalTaxSet {_MONEY} totalPriceSet {_MONEY} totalRefundedSet {_MONEY}
      customer {{ id }}
      customerJourneySummary {{ ready firstVisit {_VISIT} lastVisit {_VISIT} }}
      lineItems(first: {LINES_PER_PAGE}) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {_LINE} }} }}
      {_refunds(REFUNDS_PER_PAGE, REFUND_LINES_PER_PAGE)}
    }}
  }}
}}"""

DETAIL_QUERY = f"""query KpibotOrderDetail($id: ID!, $after: String) {{
  order(id: $id) {{
    id
    lineItems(first: {DETAIL_LINES}, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {_LINE} }} }}
    {_refunds(DETAIL_REFUNDS, DETAIL_REFUND_LINES)}
  }}
}}"""


class ShopifySource:
    """A Shopify store's orders through the GraphQL Admin API (`Source` protocol, resource ``orders``).

    ``shop`` is the ``*.myshopify.com`` domain and ``access_token`` an Admin API token with ``read_orders``;
    ``base_url`` overrides ``https://{shop}`` (tests point it at the fake). Failed calls are retried with
    backoff (``attempts``, ``backoff_s``); throttled ones after the wait Shopify's bucket needs (at most
    ``max_wait_s``), through ``sleep``.
    """

    resources = ("orders",)

    def __init__(self, shop: str, access_token: str, *, api_version: str = DEFAULT_API_VERSION,
                 base_url: str | None = None, page_size: int = 5, timeout_s: float = 30.0, attempts: int = 5,
                 backoff_s: float = 0.5, max_wait_s: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 http: httpx.Client | None = None) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE} to stay under Shopify's 1000-point query limit")
        self.shop = shop
        self.url = f"{(base_url or f'https://{shop}').rstrip('/')}/admin/api/{api_version}/graphql.json"
        self.page_size, self.attempts, self.backoff_s, self.max_wait_s = page_size, attempts, backoff_s, max_wait_s
        self._token = access_token
        self._sleep = sleep
        self._own_http = http is None
        self._http = http or httpx.Client(timeout=timeout_s)
        self._bucket: tuple[float, float, float, float] | None = None   # available, maximum, rate, at (monotonic)
        # query name -> requested cost (estimated until an answer states it)
        self._requested = {"KpibotOrders": page_cost(page_size), "KpibotOrderDetail": DETAIL_COST}

    # ------------------------------------------------------------------ Source
    def pages(self, resource: str, since: datetime | None, until: datetime,
              resume: str | None = None) -> Iterator[Page]:
        """Orders updated in [since, until), oldest update first. A resume token carries its own window (the
        cursor is only valid for the query that made it), so ``since``/``until`` are not read when resuming."""
        if resource not in self.resources:
            raise ValueError(f"ShopifySource has no resource {resource!r}")
        search, after = _search(since, until), None
        if resume is not None:
            search, after = _decode_resume(resume)
        while True:
            data = self._call("KpibotOrders", PAGE_QUERY, {"first": self.page_size, "after": after, "query": search})
            conn = _dict(data.get("orders"), "orders")
            info = _dict(conn.get("pageInfo"), "pageInfo")
            nodes = [self._complete(_dict(n, "order")) for n in conn.get("nodes") or []]
            records = [order_record(n) for n in nodes]
            more = bool(info.get("hasNextPage"))
            after = info.get("endCursor")
            high = max((r.updated_at for r in records), default=None)
            yield Page("orders", records, _encode_resume(search, after) if more and after else None, high)
            if not more or not after:
                return

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    # ------------------------------------------------------------------ paging within an order
    def _complete(self, node: dict[str, Any]) -> dict[str, Any]:
        """Fetch the lines and refunds a page query could not hold, and merge them into the node."""
        lines = _dict(node.get("lineItems"), "lineItems")
        refunds = node.get("refunds") or []
        more_lines = bool(_dict(lines.get("pageInfo"), "pageInfo").get("hasNextPage"))
        more_refunds = len(refunds) >= REFUNDS_PER_PAGE or any(_refund_lines_cut(r) for r in refunds)
        if not (more_lines or more_refunds):
            return node
        all_lines = list(lines.get("nodes") or [])
        after = _dict(lines.get("pageInfo"), "pageInfo").get("endCursor") if more_lines else None
        detail_refunds: list[Any] | None = None
        while True:
            data = self._call("KpibotOrderDetail", DETAIL_QUERY, {"id": node["id"], "after": after})
            order = _dict(data.get("order"), "order")
            if detail_refunds is None:
                detail_refunds = list(order.get("refunds") or [])
            page = _dict(order.get("lineItems"), "lineItems")
            info = _dict(page.get("pageInfo"), "pageInfo")
            if more_lines:
                all_lines += page.get("nodes") or []
            if not (more_lines and info.get("hasNextPage")):
                break
            after = info.get("endCursor")
        if len(detail_refunds) >= DETAIL_REFUNDS or any(_refund_lines_cut(r) for r in detail_refunds):
            log.warning("Shopify order %s has more refunds or refund lines than kpibot reads (%d refunds, %d lines "
                        "each); the rest are missing", node["id"], DETAIL_REFUNDS, DETAIL_REFUND_LINES)
        return {**node, "lineItems": {"nodes": all_lines}, "refunds": detail_refunds}

    # ------------------------------------------------------------------ HTTP
    def _call(self, name: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            self._pace(name)
            try:
                return self._post(name, query, variables)
            except SourceError as exc:
                if exc.kind is FailureKind.RATE_LIMITED and exc.retry_after_s:
                    self._sleep(min(exc.retry_after_s, self.max_wait_s))
                raise

        return with_backoff(f"shopify {name}", attempt, attempts=self.attempts, backoff_s=self.backoff_s,
                            max_wait_s=self.max_wait_s)

    def _pace(self, name: str) -> None:
        """Wait until the bucket, as the last answer described it, holds this query's requested cost."""
        requested = self._requested.get(name)
        if self._bucket is None or requested is None:
            return
        available, maximum, rate, at = self._bucket
        now_available = min(maximum, available + (time.monotonic() - at) * rate)
        if now_available < requested and rate > 0:
            self._sleep(min((requested - now_available) / rate, self.max_wait_s))

    def _post(self, name: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        headers = {"X-Shopify-Access-Token": self._token, "Content-Type": "application/json",
                   "Accept": "application/json"}
        try:
            resp = self._http.post(self.url, json={"query": query, "variables": variables}, headers=headers)
        except httpx.HTTPError as exc:
            raise transport_error(f"{self.shop}: {name}", exc) from None
        status = resp.status_code
        if status == 429:
            raise SourceError(FailureKind.RATE_LIMITED, f"{self.shop}: HTTP 429", 429,
                              _float(resp.headers.get("Retry-After"), 1.0))
        if status >= 500:
            raise SourceError(FailureKind.SERVER, f"{self.shop}: HTTP {status}", status)
        if status in (401, 402, 403, 423):   # bad token, frozen (unpaid), forbidden, locked shop
            raise SourceError(FailureKind.AUTH, f"{self.shop}: HTTP {status} {_text_errors(resp)}", status)
        if status != 200:
            raise SourceError(FailureKind.REQUEST, f"{self.shop}: HTTP {status} {_text_errors(resp)}", status)
        try:   # numbers as Decimal: a money amount sent as a JSON number must not pass through float
            body = json.loads(resp.content, parse_float=Decimal)
        except ValueError as exc:
            raise SourceError(FailureKind.SERVER, f"{self.shop}: {name} answered malformed JSON") from exc
        if not isinstance(body, dict):
            raise SourceError(FailureKind.SERVER, f"{self.shop}: {name} answered {type(body).__name__}, not an object")
        cost = (body.get("extensions") or {}).get("cost") or {}
        self._note_cost(name, cost)
        if body.get("errors"):
            raise _graphql_error(self.shop, body["errors"], cost)
        data = body.get("data")
        if not isinstance(data, dict):
            raise SourceError(FailureKind.SERVER, f"{self.shop}: {name} answered without data")
        return data

    def _note_cost(self, name: str, cost: dict[str, Any]) -> None:
        status = cost.get("throttleStatus") or {}
        requested = cost.get("requestedQueryCost")
        if isinstance(requested, int | float | Decimal):
            self._requested[name] = int(requested)
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self._bucket = (float(status["currentlyAvailable"]), float(status["maximumAvailable"]),
                            float(status["restoreRate"]), time.monotonic())


# ---------------------------------------------------------------------------------------------- mapping
def order_record(node: dict[str, Any]) -> OrderRecord:
    """One GraphQL Order node (as PAGE_QUERY selects it, lines and refunds complete) as an OrderRecord."""
    try:
        return _order_record(node)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        if isinstance(exc, UnknownCurrency):
            raise SourceError(FailureKind.REQUEST, f"Shopify order {node.get('id')}: {exc}") from exc
        raise SourceError(FailureKind.SERVER, f"Shopify order {node.get('id')} is malformed: "
                                              f"{type(exc).__name__} {exc}") from exc


def _order_record(node: dict[str, Any]) -> OrderRecord:
    total, currency = _money(node["totalPriceSet"])
    merchandise, discount = _money(node["subtotalPriceSet"])[0], _money(node["totalDiscountsSet"])[0]
    financial, cancelled_at = node.get("displayFinancialStatus") or "", _time(node.get("cancelledAt"))
    if cancelled_at is not None:
        status = OrderStatus.CANCELLED
    elif financial in UNPAID:
        status = OrderStatus.UNPAID
    elif node.get("displayFulfillmentStatus") == "FULFILLED":
        status = OrderStatus.SHIPPED       # Shopify's order status has no delivered state
    else:
        status = OrderStatus.PAID
    processed = _time(node.get("processedAt"))
    journey = node.get("customerJourneySummary") or {}
    visits: list[Visit] = []
    seen: set[str] = set()
    for key in ("firstVisit", "lastVisit"):
        visit = journey.get(key)
        if visit and visit.get("id") not in seen:
            seen.add(visit.get("id"))
            visits.append(_visit(visit))
    customer = node.get("customer")
    return OrderRecord(
        platform_order_id=_tail(node["id"]), status=status, currency=currency,
        subtotal=merchandise + discount, discount=discount, merchandise=merchandise,
        shipping=_money(node["totalShippingPriceSet"])[0], tax=_money(node["totalTaxSet"])[0], total=total,
        created_at=_need_time(node["createdAt"]), updated_at=_need_time(node["updatedAt"]),
        paid_at=processed if financial not in UNPAID else None, cancelled_at=cancelled_at,
        lines=tuple(_line(x, currency) for x in (node.get("lineItems") or {}).get("nodes") or []),
        refunds=tuple(_refund(r, cancelled_at is not None) for r in node.get("refunds") or []),
        buyer_ref=_tail(customer["id"]) if customer else None,
        promo_codes=tuple(node.get("discountCodes") or ()), visits=tuple(visits))


def _line(node: dict[str, Any], currency: str) -> LineRecord:
    unit, _ = _money(node["discountedUnitPriceAfterAllDiscountsSet"])
    quantity = int(node["quantity"])
    minor = minor_unit(currency)
    # Shopify's after-all-discounts unit price is approximate ("3.333333333333"): amounts round to the minor unit.
    product, variant = node.get("product"), node.get("variant")
    return LineRecord(
        platform_line_id=_tail(node["id"]), platform_product_id=_tail(product["id"]) if product else "",
        platform_sku_id=_tail(variant["id"]) if variant else (node.get("sku") or ""),
        product_name=node.get("name") or "", quantity=quantity,
        unit_price=unit.quantize(minor, ROUND_HALF_UP), amount=(unit * quantity).quantize(minor, ROUND_HALF_UP),
        seller_sku=node.get("sku") or None)


def _refund(node: dict[str, Any], order_cancelled: bool) -> RefundRecord:
    amount, currency = _money(node["totalRefundedSet"])
    lines = (node.get("refundLineItems") or {}).get("nodes") or []
    restocks = {x.get("restockType") for x in lines}
    if "RETURN" in restocks:
        kind = RefundKind.RETURN_AND_REFUND
    elif "CANCEL" in restocks or (order_cancelled and not lines):
        kind = RefundKind.CANCELLATION
    else:
        kind = RefundKind.REFUND
    at = _need_time(node["createdAt"])
    return RefundRecord(
        platform_refund_id=_tail(node["id"]), kind=kind, status=RefundStatus.COMPLETED, currency=currency,
        amount=amount, requested_at=at, completed_at=at,
        returned_units=sum(int(x.get("quantity") or 0) for x in lines if x.get("restockType") == "RETURN"))


def _visit(node: dict[str, Any]) -> Visit:
    utm = node.get("utmParameters") or {}
    return Visit(at=_time(node.get("occurredAt")), utm_source=utm.get("source") or None,
                 utm_medium=utm.get("medium") or None, utm_campaign=utm.get("campaign") or None,
                 utm_content=utm.get("content") or None, landing_page=node.get("landingPage") or None)


# ---------------------------------------------------------------------------------------------- helpers
def _search(since: datetime | None, until: datetime) -> str:
    terms = [] if since is None else [f"updated_at:>='{_iso(since)}'"]
    return " AND ".join([*terms, f"updated_at:<'{_iso(until)}'"])


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("since/until must be aware datetimes")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _encode_resume(search: str, after: str) -> str:
    raw = json.dumps({"v": 1, "q": search, "after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_resume(token: str) -> tuple[str, str]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
        if value.get("v") == 1 and isinstance(value["q"], str) and isinstance(value["after"], str):
            return value["q"], value["after"]
    except (ValueError, KeyError, AttributeError, TypeError):
        pass
    raise SourceError(FailureKind.REQUEST, "not a Shopify resume token")


def _graphql_error(shop: str, errors: Any, cost: dict[str, Any]) -> SourceError:
    if not isinstance(errors, list):
        return SourceError(FailureKind.REQUEST, f"{shop}: {str(errors)[:200]}")
    codes = [str((e.get("extensions") or {}).get("code", "")) if isinstance(e, dict) else "" for e in errors]
    first = errors[0] if errors else {}
    message = f"{shop}: {str(first.get('message') if isinstance(first, dict) else first)[:200]}"
    if "THROTTLED" in codes:
        status = cost.get("throttleStatus") or {}
        requested = _float(cost.get("requestedQueryCost"), 0.0)
        available, rate = _float(status.get("currentlyAvailable"), 0.0), _float(status.get("restoreRate"), 0.0)
        wait = max(requested - available, 0.0) / rate if rate > 0 else 1.0
        return SourceError(FailureKind.RATE_LIMITED, message, "THROTTLED", round(wait, 3) or 0.001)
    if "ACCESS_DENIED" in codes:
        return SourceError(FailureKind.AUTH, message, "ACCESS_DENIED")
    if "INTERNAL_SERVER_ERROR" in codes:
        return SourceError(FailureKind.SERVER, message, "INTERNAL_SERVER_ERROR")
    return SourceError(FailureKind.REQUEST, message, next((c for c in codes if c), None))


def _text_errors(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    return str(body.get("errors") if isinstance(body, dict) else body)[:200]


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SourceError(FailureKind.SERVER, f"Shopify answer has no {what} object")
    return value


def _refund_lines_cut(refund: dict[str, Any]) -> bool:
    return bool(((refund.get("refundLineItems") or {}).get("pageInfo") or {}).get("hasNextPage"))


def _money(bag: dict[str, Any]) -> tuple[Decimal, str]:
    money = bag["shopMoney"]
    return Decimal(money["amount"]), str(money["currencyCode"])   # a string (MoneyV2) or a Decimal number


def _time(text: str | None) -> datetime | None:
    return None if not text else _need_time(text)


def _need_time(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r}")
    return at.astimezone(UTC)


def _tail(gid: str) -> str:
    """``gid://shopify/Order/5300000001001`` -> ``5300000001001`` (the id REST and the admin show)."""
    return str(gid).rsplit("/", 1)[-1]

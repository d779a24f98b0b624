"""Shopee Open Platform v2 source: orders (get_order_list windows, cursor paging, get_order_detail batches),
returns, and the product catalogue with its stock.

How a sync runs: the range [since, until) of update_time is cut into windows of at most 15 days (Shopee
refuses wider ones with ``order.order_list_invalid_time``); each window is paged with ``cursor`` (up to 100
order_sns a page) and each page's orders are fetched with get_order_detail, 50 at a time, asking for the
optional fields the record needs. One list page becomes one `Page`; its ``resume`` token is the JSON
``{"w": window start (Unix s), "c": cursor}`` of the next page, so a restarted run continues after it (with
the same since/until: a token outside the range, or not a token, is SourceError(REQUEST)). Every window
yields at least one page, so the last page's ``resume`` is always None.

Tokens: the access token lives 4 hours and the refresh token is single-use, so a refresh answer holds the
only valid refresh token from then on. It is saved through ``TokenStore.save`` BEFORE the new access token
is used: a crash between the refresh call and that save is the one window in which the shop is lost (a
person must authorize it again); a crash anywhere else leaves the store with a working refresh token. The
client refreshes ``refresh_margin`` before expiry and again when a call answers ``error_auth``; it reloads
the store before refreshing, in case another client already did. Two clients refreshing the same shop at
the same moment would still race: run one sync per shop at a time.

Money: Shopee sends amounts as JSON numbers, parsed straight into ``Decimal`` (never float), in the order's
currency (the shop's). ``merchandise`` is the sum of quantity x ``model_discounted_price``; ``subtotal`` uses
``model_original_price``; ``total`` is ``total_amount`` (what the buyer paid, after Shopee's vouchers).
get_order_detail does not split shipping and tax out of the total (get_escrow_detail does), so ``shipping`` and
``tax`` are 0. Shopee has no line id: a line is ``item_id:model_id``. There is no cancel time either: a
cancelled order's ``cancelled_at`` is its update_time.

Returns (resource ``returns``): ``GET /api/v2/returns/get_return_list`` by ``update_time_from/to`` in the same
15-day windows, paged by ``page_no`` (from 0) while ``more``; each return becomes a `ReturnRecord`: kind from
``return_solution`` (0 return and refund, 1 refund only), completed only at ``REFUND_PAID`` (then at its
update_time), rejected when CANCELLED or CLOSED, otherwise requested; ``refund_amount`` in ``currency``;
returned units = the items' ``amount`` for a return and refund. A page's ``resume`` holds the next page_no.

Products (resource ``products``): ``GET /api/v2/product/get_item_list`` (``item_status`` NORMAL, ``offset`` /
``page_size`` up to 100, ``has_next_page``/``next_offset``), without its optional update_time range: the whole
listed catalogue, since a stock change need not move an item's update_time (as for TikTok), at most once a
shop-local day by the rule of `bot.shops.daily` (a big shop is hundreds of calls; the sync runs every 30 minutes):
the pages' high water is the listing's time, so the sync's cursor remembers the day. Each page's items are read with
``GET /api/v2/product/get_item_base_info`` (``item_id_list``, up to 50) and, for an item with ``has_model``, ``GET
/api/v2/product/get_model_list`` (``item_id``). One `ProductRecord` per item: ``launched_on`` = ``create_time`` as a
day in the shop's zone (``shop_tz``), ``stock_day`` = the shop-zone day of the fetch by the source's clock (the day
the listing rule counts); SKUs as the order lines name them: each model (``model_id``, ``model_sku``, stock
``stock_info_v2.summary_info.total_available_stock``), or for an item without models one SKU with the item's id,
``item_sku`` and the item's summary stock. No cost: the API has none. ``resume`` holds the next offset.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bot.shops.daily import DailyListing
from bot.shops.http import transport_error, with_backoff
from storage.ingest.records import (
    FailureKind,
    LineRecord,
    OrderRecord,
    OrderStatus,
    Page,
    ProductRecord,
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
# httpx logs every URL at INFO, and Shopee's URLs carry the access token and the signature.

LIVE_HOST = "https://partner.shopeemobile.com"
LIST_PATH = "/api/v2/order/get_order_list"
DETAIL_PATH = "/api/v2/order/get_order_detail"
TOKEN_PATH = "/api/v2/auth/access_token/get"
RETURNS_PATH = "/api/v2/returns/get_return_list"
ITEM_LIST_PATH = "/api/v2/product/get_item_list"
ITEM_INFO_PATH = "/api/v2/product/get_item_base_info"
MODEL_LIST_PATH = "/api/v2/product/get_model_list"
MAX_ITEM_BATCH = 50
MAX_WINDOW = timedelta(days=15)
MAX_DETAIL_BATCH = 50
DETAIL_FIELDS = "buyer_user_id,item_list,pay_time,pickup_done_time,total_amount"

STATUS_MAP: dict[str, OrderStatus] = {
    "UNPAID": OrderStatus.UNPAID,
    "READY_TO_SHIP": OrderStatus.PAID,
    "PROCESSED": OrderStatus.PAID,
    "RETRY_SHIP": OrderStatus.PAID,
    "INVOICE_PENDING": OrderStatus.PAID,       # paid, waiting for the seller's invoice (Brazil)
    "IN_CANCEL": OrderStatus.PAID,             # cancellation requested, not granted yet: still a paid order
    "SHIPPED": OrderStatus.SHIPPED,
    "TO_CONFIRM_RECEIVE": OrderStatus.DELIVERED,
    "TO_RETURN": OrderStatus.DELIVERED,        # received, a return is being processed (refunds come separately)
    "COMPLETED": OrderStatus.COMPLETED,
    "CANCELLED": OrderStatus.CANCELLED,
}
# get_return_list: return_solution 0 = return and refund, 1 = refund only; only REFUND_PAID has paid money back
RETURN_KINDS = {0: RefundKind.RETURN_AND_REFUND, 1: RefundKind.REFUND}
RETURN_STATUS = {"REFUND_PAID": RefundStatus.COMPLETED, "CANCELLED": RefundStatus.REJECTED,
                 "CLOSED": RefundStatus.REJECTED}     # REQUESTED, ACCEPTED, PROCESSING, JUDGING, SELLER_DISPUTE: open
_TOKEN_ERRORS = frozenset({"error_auth", "invalid_access_token", "invalid_acceess_token", "error_token"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _ceil_s(when: datetime) -> int:
    return math.ceil(when.timestamp())


class ShopeeSource:
    """One Shopee shop's orders (the `Source` protocol); see the module docstring."""

    resources: tuple[str, ...] = ("orders", "returns", "products")

    def __init__(self, *, partner_id: int, partner_key: str, shop_id: int, currency: str, tokens: TokenStore,
                 shop_tz: str = "UTC",
                 base_url: str = LIVE_HOST, page_size: int = 100, window: timedelta = MAX_WINDOW,
                 history: timedelta = timedelta(days=90), timeout_s: float = 30.0, attempts: int = 5,
                 backoff_s: float = 0.5, max_wait_s: float = 30.0, refresh_margin: timedelta = timedelta(minutes=10),
                 clock: Callable[[], datetime] = _utcnow, http: httpx.Client | None = None) -> None:
        """``history`` is how far back a first sync (``since=None``) reaches; ``clock`` signs the timestamps
        and judges token expiry; ``window`` is capped at Shopee's 15 days; ``shop_tz`` makes the products' launch
        and stock days."""
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be 1-100")
        self.partner_id, self.shop_id, self.currency = partner_id, shop_id, currency
        self.tz = ZoneInfo(shop_tz)
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.window_s = int(min(window, MAX_WINDOW).total_seconds())
        if self.window_s < 1:
            raise ValueError("window must be at least one second")
        self.history = history
        self.attempts, self.backoff_s, self.max_wait_s = attempts, backoff_s, max_wait_s
        self.refresh_margin = refresh_margin
        self._key = partner_key.encode()
        self._store = tokens
        self._clock = clock
        self._http = http or httpx.Client(timeout=timeout_s, headers={"Accept": "application/json"})
        self._tokens: Tokens | None = None
        self._stale = False            # Shopee refused the in-memory access token: refresh before the next call
        self._secrets: set[str] = {partner_key}     # every secret seen, for _scrub

    def __repr__(self) -> str:
        return f"ShopeeSource(partner_id={self.partner_id}, shop_id={self.shop_id})"

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ pages
    def pages(self, resource: str, since: datetime | None, until: datetime,
              resume: str | None = None) -> Iterator[Page]:
        """Orders (or returns) whose update_time is in [since, until), one Page per get_order_list (or
        get_return_list) page."""
        if resource not in self.resources:
            raise ValueError(f"ShopeeSource has no resource {resource!r}")
        if resource == "products":
            yield from self._product_pages(since, resume)
            return
        end = _ceil_s(until)                                  # exclusive, whole seconds
        start = _ceil_s(since if since is not None else until - self.history)
        cursor = ""
        if resume is not None:
            resumed, cursor = _decode_resume(resume)
            if not start <= resumed <= end:
                raise SourceError(FailureKind.REQUEST, "shopee: the resume token belongs to another range")
            start = resumed
        if resource == "returns":
            yield from self._return_pages(start, end, cursor)
            return
        while start < end:
            window_end = min(start + self.window_s, end)
            while True:
                params: dict[str, Any] = {"time_range_field": "update_time", "time_from": start,
                                          "time_to": window_end - 1, "page_size": self.page_size}
                if cursor:
                    params["cursor"] = cursor
                answer = self._call("GET", LIST_PATH, params)
                order_sns, more, next_cursor = _list_page(answer)
                if more and next_cursor in ("", cursor):
                    raise SourceError(FailureKind.SERVER, "shopee get_order_list: more pages but no new cursor")
                records = self._details(order_sns)
                if more:
                    token: str | None = _encode_resume(start, next_cursor)
                elif window_end < end:
                    token = _encode_resume(window_end, "")
                else:
                    token = None
                log.debug("shopee shop %s: %d orders updated in [%s, %s)", self.shop_id, len(records),
                          start, window_end)
                yield Page(resource="orders", records=records, resume=token,
                           high_water=max((r.updated_at for r in records), default=None))
                if not more:
                    break
                cursor = next_cursor
            start, cursor = window_end, ""

    def _return_pages(self, start: int, end: int, cursor: str) -> Iterator[Page]:
        """get_return_list by update time, in windows of at most 15 days, paged by page_no (the cursor of a
        resume token)."""
        while start < end:
            window_end = min(start + self.window_s, end)
            page_no = int(cursor or 0)
            while True:
                answer = self._call("GET", RETURNS_PATH, {"page_no": page_no, "page_size": self.page_size,
                                                          "update_time_from": start, "update_time_to": window_end - 1})
                found = answer.get("return") or []
                if not isinstance(found, list):
                    raise SourceError(FailureKind.SERVER, "shopee get_return_list: return is not a list")
                records = [r for r in (self._return(x) for x in found) if start <= r.updated_at.timestamp() < end]
                more = bool(answer.get("more")) and bool(found)
                token = (_encode_resume(start, str(page_no + 1)) if more
                         else _encode_resume(window_end, "") if window_end < end else None)
                yield Page(resource="returns", records=records, resume=token,
                           high_water=max((r.updated_at for r in records), default=None))
                if not more:
                    break
                page_no += 1
            start, cursor = window_end, ""

    def _product_pages(self, since: datetime | None, resume: str | None) -> Iterator[Page]:
        """The NORMAL items, a get_item_list page at a time, each with its base info (and models); nothing when
        the shop's day is listed already (bot.shops.daily)."""
        listing = DailyListing.at(self._clock(), self.tz)
        if listing.done_by(since, resuming=resume is not None):
            return
        day = listing.day
        offset = int(_decode_resume(resume)[1] or 0) if resume is not None else 0
        while True:
            answer = self._call("GET", ITEM_LIST_PATH, {"offset": offset, "page_size": self.page_size,
                                                        "item_status": "NORMAL"})
            listed = answer.get("item") or []
            if not isinstance(listed, list):
                raise SourceError(FailureKind.SERVER, "shopee get_item_list: item is not a list")
            try:
                ids = [int(i["item_id"]) for i in listed]
                more, next_offset = bool(answer.get("has_next_page")), int(answer.get("next_offset") or 0)
            except (KeyError, TypeError, ValueError):
                raise SourceError(FailureKind.SERVER, "shopee get_item_list: an entry lacks item_id") from None
            if more and next_offset <= offset:
                raise SourceError(FailureKind.SERVER, "shopee get_item_list: more pages but no new offset")
            records: list[ProductRecord] = []
            for i in range(0, len(ids), MAX_ITEM_BATCH):
                info = self._call("GET", ITEM_INFO_PATH,
                                  {"item_id_list": ",".join(str(x) for x in ids[i:i + MAX_ITEM_BATCH])})
                items = info.get("item_list") or []
                if not isinstance(items, list):
                    raise SourceError(FailureKind.SERVER, "shopee get_item_base_info: item_list is not a list")
                records.extend(self._product(item, day) for item in items)
            yield Page(resource="products", records=records, high_water=listing.high_water,
                       resume=_encode_resume(0, str(next_offset)) if more else None)
            if not more:
                return
            offset = next_offset

    def _product(self, item: Any, day: date) -> ProductRecord:
        """One item of get_item_base_info: its models' stock (get_model_list) or its own as one SKU."""
        try:
            item_id, name = int(item["item_id"]), str(item.get("item_name") or "")
            created = _time(item.get("create_time"))
            if item.get("has_model"):
                models = self._call("GET", MODEL_LIST_PATH, {"item_id": item_id}).get("model") or []
                skus = tuple(StockRecord(str(int(m["model_id"])), name, str(m.get("model_sku") or "") or None,
                                         _available(m)) for m in models)
            else:
                skus = (StockRecord(str(item_id), name, str(item.get("item_sku") or "") or None, _available(item)),)
            return ProductRecord(str(item_id), name, None if created is None else created.astimezone(self.tz).date(),
                                 day, skus)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SourceError(FailureKind.SERVER,
                              f"shopee item is malformed ({exc.__class__.__name__}: {exc})") from None

    def _return(self, r: Any) -> ReturnRecord:
        try:
            kind = RETURN_KINDS.get(int(r.get("return_solution") or 0), RefundKind.RETURN_AND_REFUND)
            status = RETURN_STATUS.get(str(r.get("status") or ""), RefundStatus.REQUESTED)
            requested, updated = _required_time(r["create_time"]), _required_time(r["update_time"])
            units = sum(int(i.get("amount") or 0) for i in r.get("item") or ()) \
                if kind is RefundKind.RETURN_AND_REFUND else 0
            return ReturnRecord(str(r["order_sn"]), RefundRecord(
                str(r["return_sn"]), kind, status, str(r.get("currency") or self.currency),
                _money(r.get("refund_amount") or 0), requested,
                updated if status is RefundStatus.COMPLETED else None, units), updated)
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            raise SourceError(FailureKind.SERVER,
                              f"shopee return is malformed ({exc.__class__.__name__}: {exc})") from None

    def _details(self, order_sns: list[str]) -> list[OrderRecord]:
        records: list[OrderRecord] = []
        for i in range(0, len(order_sns), MAX_DETAIL_BATCH):
            batch = order_sns[i:i + MAX_DETAIL_BATCH]
            answer = self._call("GET", DETAIL_PATH, {"order_sn_list": ",".join(batch),
                                                     "response_optional_fields": DETAIL_FIELDS})
            found = self._detail_list(answer)
            missing = set(batch) - {str(o.get("order_sn")) for o in found if isinstance(o, dict)}
            if missing:   # listed but not readable yet: ask once more, then fail the page rather than drop them
                log.warning("shopee shop %s: get_order_detail left out %d of %d orders; asking again", self.shop_id,
                            len(missing), len(batch))
                again = sorted(missing)
                found += self._detail_list(self._call("GET", DETAIL_PATH, {"order_sn_list": ",".join(again),
                                                                           "response_optional_fields": DETAIL_FIELDS}))
                missing -= {str(o.get("order_sn")) for o in found if isinstance(o, dict)}
                if missing:
                    raise SourceError(FailureKind.SERVER, f"shopee get_order_detail did not return {len(missing)} "
                                      "listed orders; the page is fetched again next run")
            records.extend(self._record(o) for o in found)
        return records

    @staticmethod
    def _detail_list(answer: dict[str, Any]) -> list[Any]:
        found = answer.get("order_list") or []
        if not isinstance(found, list):
            raise SourceError(FailureKind.SERVER, "shopee get_order_detail: order_list is not a list")
        return found

    # ------------------------------------------------------------------ records
    def _record(self, o: Any) -> OrderRecord:
        try:
            status_name = str(o["order_status"])
            status = STATUS_MAP.get(status_name)
            if status is None:
                raise SourceError(FailureKind.REQUEST, f"shopee order status {status_name!r} is not mapped")
            currency = str(o.get("currency") or self.currency)
            lines: list[LineRecord] = []
            subtotal = Decimal(0)
            seen: dict[str, int] = {}
            for item in o["item_list"]:
                qty = int(item["model_quantity_purchased"])
                unit = _money(item["model_discounted_price"])
                original = item.get("model_original_price")
                subtotal += qty * (_money(original) if original is not None else unit)
                model_id = int(item.get("model_id") or 0)
                line_id = f"{item['item_id']}:{model_id}"
                seen[line_id] = seen.get(line_id, 0) + 1
                if seen[line_id] > 1:       # the same model twice (e.g. a bundle and a single purchase)
                    line_id = f"{line_id}#{seen[line_id]}"
                lines.append(LineRecord(
                    platform_line_id=line_id, platform_product_id=str(item["item_id"]),
                    platform_sku_id=str(model_id or item["item_id"]), product_name=str(item.get("item_name") or ""),
                    quantity=qty, unit_price=unit, amount=qty * unit,
                    seller_sku=str(item.get("model_sku") or item.get("item_sku") or "") or None))
            merchandise = sum((line.amount for line in lines), Decimal(0))
            updated_at, created_at = _required_time(o["update_time"]), _required_time(o["create_time"])
            return OrderRecord(
                platform_order_id=str(o["order_sn"]), status=status, currency=currency,
                subtotal=subtotal, discount=subtotal - merchandise, merchandise=merchandise,
                shipping=Decimal(0), tax=Decimal(0), total=_money(o["total_amount"]),
                created_at=created_at, updated_at=updated_at, paid_at=_time(o.get("pay_time")),
                shipped_at=_time(o.get("pickup_done_time")),
                cancelled_at=updated_at if status_name == "CANCELLED" else None,
                lines=tuple(lines), buyer_ref=str(o["buyer_user_id"]) if o.get("buyer_user_id") else None)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise SourceError(FailureKind.SERVER,
                              f"shopee order detail is malformed ({exc.__class__.__name__}: {exc})") from None

    # ------------------------------------------------------------------ calls
    def _call(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """A shop API call with retries; returns the envelope's ``response`` object."""
        what = f"shopee {path.rsplit('/', 1)[-1]}"

        def attempt() -> dict[str, Any]:
            token, refreshed = self._access_token()
            query = {**self._signed(path, token), **params}
            try:
                answer = self._send(method, path, query, None, what)
            except SourceError as exc:
                if exc.kind is FailureKind.TOKEN_EXPIRED:
                    if refreshed:   # a token refreshed a moment ago is refused: not an expiry
                        raise SourceError(FailureKind.AUTH, f"{what}: a fresh access token was refused",
                                          exc.code) from None
                    self._stale = True
                raise
            response = answer.get("response")
            if not isinstance(response, dict):
                raise SourceError(FailureKind.SERVER, f"{what}: the answer has no response object")
            return response

        return with_backoff(what, attempt, attempts=self.attempts, backoff_s=self.backoff_s,
                            max_wait_s=self.max_wait_s)

    def _signed(self, path: str, access_token: str | None) -> dict[str, Any]:
        ts = int(self._clock().timestamp())
        base = f"{self.partner_id}{path}{ts}" + (f"{access_token}{self.shop_id}" if access_token else "")
        sign = hmac.new(self._key, base.encode(), hashlib.sha256).hexdigest()
        query: dict[str, Any] = {"partner_id": self.partner_id, "timestamp": ts, "sign": sign}
        if access_token:
            query.update(access_token=access_token, shop_id=self.shop_id)
        return query

    def _send(self, method: str, path: str, query: dict[str, Any], body: dict[str, Any] | None,
              what: str) -> dict[str, Any]:
        """One HTTP exchange; Shopee's envelope error (whatever the HTTP status) or the status -> SourceError."""
        try:
            resp = self._http.request(method, self.base_url + path, params=query, json=body)
        except httpx.HTTPError as exc:   # the exception's text may hold the signed URL: name only
            raise transport_error(what, exc) from None
        try:
            answer = json.loads(resp.content, parse_float=Decimal)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("error"):
            code, message = str(answer["error"]), self._scrub(str(answer.get("message") or ""))
            text = f"{what}: {message} (request_id {answer.get('request_id')}, HTTP {resp.status_code})"
            raise SourceError(_error_kind(code, message, resp.status_code), text, code)
        if resp.status_code == 429:
            raise SourceError(FailureKind.RATE_LIMITED, f"{what}: rate limited", 429)
        if resp.status_code >= 500:
            raise SourceError(FailureKind.SERVER, f"{what}: HTTP {resp.status_code}", resp.status_code)
        if resp.status_code in (401, 403):
            raise SourceError(FailureKind.AUTH, f"{what}: HTTP {resp.status_code}", resp.status_code)
        if resp.status_code != 200:
            raise SourceError(FailureKind.REQUEST, f"{what}: HTTP {resp.status_code}", resp.status_code)
        if not isinstance(answer, dict):
            raise SourceError(FailureKind.SERVER, f"{what}: the answer is not a JSON object")
        return answer

    def _remember(self, tokens: Tokens) -> Tokens:
        self._secrets.update(t for t in (tokens.access_token, tokens.refresh_token) if t)
        return tokens

    def _scrub(self, text: str) -> str:
        """Platform messages could echo a token back: never let one into an error or the log."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # ------------------------------------------------------------------ tokens
    def _access_token(self) -> tuple[str, bool]:
        """The access token to call with and whether it was refreshed just now (for this attempt)."""
        now = self._clock()
        if self._tokens is not None and not self._stale and not self._expiring(self._tokens, now):
            return self._tokens.access_token, False
        stored = self._store.load()
        if stored is not None:
            self._remember(stored)
        if stored is None:
            raise SourceError(FailureKind.AUTH, f"shopee shop {self.shop_id}: no tokens stored; authorize the shop")
        refused = self._tokens.access_token if self._tokens is not None and self._stale else None
        if stored.access_token != refused and not self._expiring(stored, now):
            self._tokens, self._stale = stored, False       # e.g. another client refreshed already
            return stored.access_token, False
        self._tokens = self._refresh(stored, now)
        self._stale = False
        return self._tokens.access_token, True

    def _expiring(self, tokens: Tokens, now: datetime) -> bool:
        return tokens.expires_at is None or now >= tokens.expires_at - self.refresh_margin

    def _refresh(self, stored: Tokens, now: datetime) -> Tokens:
        """Trade the (single-use) refresh token for new tokens and save them before anything uses them."""
        if not stored.refresh_token:
            raise SourceError(FailureKind.AUTH, f"shopee shop {self.shop_id}: no refresh token; authorize the shop")
        what = "shopee access_token/get"
        body = {"refresh_token": stored.refresh_token, "partner_id": self.partner_id, "shop_id": self.shop_id}
        try:
            answer = self._send("POST", TOKEN_PATH, self._signed(TOKEN_PATH, None), body, what)
        except SourceError as exc:
            if exc.kind is FailureKind.TOKEN_EXPIRED:   # the refresh token itself is dead: re-authorize
                raise SourceError(FailureKind.AUTH, f"{what}: the refresh token was refused; authorize the "
                                  f"shop {self.shop_id} again", exc.code) from None
            raise
        try:
            access, refresh = str(answer["access_token"]), str(answer["refresh_token"])
            expires_at = now + timedelta(seconds=int(answer["expire_in"]))
        except (KeyError, TypeError, ValueError):
            raise SourceError(FailureKind.SERVER, f"{what}: the answer lacks the new tokens") from None
        tokens = self._remember(Tokens(access_token=access, refresh_token=refresh, expires_at=expires_at,
                                       extra=dict(stored.extra)))
        self._store.save(tokens)   # the old refresh token is dead now: this save must happen before any use
        log.info("shopee shop %s: tokens refreshed, access token valid until %s", self.shop_id,
                 expires_at.isoformat())
        return tokens


def _error_kind(code: str, message: str, status: int) -> FailureKind:
    lowered = message.lower()
    if code in _TOKEN_ERRORS:
        return FailureKind.TOKEN_EXPIRED
    if code == "error_sign":
        return FailureKind.AUTH
    if status == 429 or "too many" in lowered or "too_many" in code or "rate limit" in lowered:
        return FailureKind.RATE_LIMITED
    if code in ("error_server", "error_busy", "error_inner") or status >= 500:
        return FailureKind.SERVER
    if code in ("error_permission", "error_shop", "error_partner"):
        return FailureKind.AUTH
    return FailureKind.REQUEST


def _list_page(answer: dict[str, Any]) -> tuple[list[str], bool, str]:
    orders = answer.get("order_list") or []
    if not isinstance(orders, list):
        raise SourceError(FailureKind.SERVER, "shopee get_order_list: order_list is not a list")
    try:
        order_sns = [str(o["order_sn"]) for o in orders]
    except (KeyError, TypeError):
        raise SourceError(FailureKind.SERVER, "shopee get_order_list: an entry lacks order_sn") from None
    return order_sns, bool(answer.get("more")), str(answer.get("next_cursor") or "")


def _available(entry: dict[str, Any]) -> int | None:
    """``stock_info_v2.summary_info.total_available_stock`` of an item or model; None where it is not given."""
    summary = (entry.get("stock_info_v2") or {}).get("summary_info") or {}
    value = summary.get("total_available_stock")
    return None if value is None else int(value)


def _money(value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise TypeError(f"money must be parsed as Decimal, got {type(value).__name__}")
    if isinstance(value, Decimal | int | str):
        return Decimal(value)
    raise TypeError(f"money is {type(value).__name__}")


def _time(value: Any) -> datetime | None:
    if value is None or value == 0 or value == "":
        return None
    return datetime.fromtimestamp(int(value), UTC)


def _required_time(value: Any) -> datetime:
    when = _time(value)
    if when is None:
        raise ValueError("a required time is missing")
    return when


def _encode_resume(window_start: int, cursor: str) -> str:
    return json.dumps({"w": window_start, "c": cursor}, separators=(",", ":"))


def _decode_resume(token: str) -> tuple[int, str]:
    try:
        data = json.loads(token)
        start, cursor = data["w"], data["c"]
        if not isinstance(start, int) or not isinstance(cursor, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise SourceError(FailureKind.REQUEST, "not a ShopeeSource resume token") from None
    return start, cursor

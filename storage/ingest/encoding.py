"""Orders encoded for a store: what the writer stores of an OrderRecord, worked out without a connection.

The writer (storage.ingest.writer) compares and writes orders as `EncodedOrder`s: the record's order values as the
store's driver takes them (integer minor units in the order's currency, times as SQLite's DATETIME text or
PostgreSQL's naive UTC datetime, the buyer's pseudonym, the units summed over the lines) and its lines with
their platform keys and minor units (the writer adds the catalogue ids). Encoding needs only the store's backend,
the shop's platform and the buyer key, so it can run where records are made: a source in its own process
(storage.ingest.fetch_process) encodes its pages there, and the writer's process only compares and writes; a
source in the writer's process has its records encoded by the writer itself. Either way it is this one code.

Encoding never changes what is stored (tests/test_fetch_process.py stores the same records encoded in either process
and compares), and it is exact: an amount finer than the currency allows is refused (`scoring.money.to_minor`),
never rounded.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from scoring.money import to_minor
from scoring.text import BadText, display_name
from storage.ingest.records import OrderRecord, Page, RefundRecord, Visit, latest_update

# The order columns a record fills, in the order of EncodedOrder.values (the writer compares and writes these; the
# rest of an order row, attribution and costs, is not the source's).
ORDER_COLS = ("status", "currency", "subtotal_minor", "discount_minor", "merchandise_minor", "shipping_minor",
              "tax_minor", "total_minor", "units", "created_at", "paid_at", "shipped_at", "delivered_at",
              "cancelled_at", "platform_updated_at", "promo_code", "buyer_ref", "is_sample")
ORDER_TIMES = tuple(ORDER_COLS.index(c) for c in ("created_at", "paid_at", "shipped_at", "delivered_at",
                                                  "cancelled_at", "platform_updated_at"))

MINOR_CACHE_MAX = 100_000   # amounts remembered per currency by MinorUnits
BUYER_CACHE_MAX = 200_000   # buyer pseudonyms remembered per encoder (buyers order again)

# SQLAlchemy's SQLite DATETIME text (its default storage format), which UTCDateTime columns hold on SQLite
SQLITE_DATETIME_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
_SQLITE_DATETIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTCDateTime column; attach a time zone")
    return value.astimezone(UTC)


# Pieces of that text, remembered: formatting seven fields cost about 0.95 us a time and a first sync encodes about
# 4.4 times per order; joining remembered pieces costs about 0.35 us.
_DAY_TEXT_MAX = 100_000                                                    # "YYYY-MM-DD " per day ordinal
_DAY_TEXT: dict[int, str] = {}
_NAIVE_EPOCH = datetime(1970, 1, 1)                                         # Unix time 0, naive UTC
_EPOCH_ORDINAL = _NAIVE_EPOCH.toordinal()                                   # Unix day 0 as a day ordinal
_HOUR_MINUTE_TEXT = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))   # [hour * 60 + minute]
_SECOND_TEXT = tuple(f"{s:02d}.000000" for s in range(60))                           # [second], whole seconds


def sqlite_utc_text(value: datetime) -> str:
    """UTCDateTime's bind value on SQLite, as UTCDateTime + SQLite's DATETIME processor make it, but faster. The
    texts sort as the times do (fixed width), so encoded times compare like datetimes."""
    v = _utc(value)
    if v.microsecond:
        return _SQLITE_DATETIME % (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)
    day = _DAY_TEXT.get(v.toordinal())
    if day is None:
        day = f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        if len(_DAY_TEXT) < _DAY_TEXT_MAX:
            _DAY_TEXT[v.toordinal()] = day
    return day + _HOUR_MINUTE_TEXT[v.hour * 60 + v.minute] + _SECOND_TEXT[v.second]


def naive_utc(value: datetime) -> datetime:
    """UTCDateTime's bind value on PostgreSQL: the naive UTC datetime."""
    return _utc(value).replace(tzinfo=None)


def hash_buyer(platform: str, buyer_id: str, key: bytes | None = None) -> str:
    """The stored pseudonym of a platform buyer id: the first 32 hex digits of sha256("<platform>:<buyer id>"), or
    of HMAC-SHA256 with `key` when one is given (see storage.ingest.writer)."""
    message = f"{platform}:{buyer_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256) if key else hashlib.sha256(message)
    return digest.hexdigest()[:32]


def cut(text: str | None, size: int) -> str | None:
    """`text` cut to a column's size (None stays None)."""
    return None if text is None else text[:size]


NAME_SIZE = 500   # Product.name, Sku.name


def clean_name(text: str | None, size: int = NAME_SIZE) -> str | None:
    """A product or SKU name from a shop as stored: cleaned as every stored name is (scoring.text.display_name:
    control characters such as ESC and BEL dropped, one space between words; "" when nothing is left) and cut to
    the column's `size`; None stays None. A shop's title is never refused, only cleaned (the cards print it). The
    usual clean name is returned as it is, after one C-speed look."""
    if text is None:
        return None
    if text.isprintable() and len(text) <= size and "  " not in text and text.strip() == text:
        return text
    try:
        return display_name(text, len(text))[:size].rstrip()
    except BadText:
        return ""


class MinorUnits(dict[Decimal, int]):
    """`to_minor` in one currency, remembered: `units[amount]`. Exact amounts repeat (prices, fees, taxes) and the
    Decimal arithmetic is the cost. Equal amounts have equal minor units, so any equal key gives the right answer;
    an amount `to_minor` refuses is never remembered (it raises every time). At most MINOR_CACHE_MAX amounts."""

    def __init__(self, currency: str) -> None:
        super().__init__()
        self.currency = currency

    def __missing__(self, amount: Decimal) -> int:
        found = to_minor(amount, self.currency)
        if len(self) < MINOR_CACHE_MAX:
            self[amount] = found
        return found


# An encoded order line: (platform_line_id, platform_product_id, platform_sku_id, product_name, seller_sku, quantity,
# unit_price_minor, amount_minor); the product name (cleaned: `clean_name`) and seller SKU are for the catalogue,
# when the product or SKU is new.
EncodedLine = tuple[str, str, str, str, str | None, int, int, int]
# An encoded order: (platform_order_id, values (ORDER_COLS, as the store's driver takes them), lines, refunds, visits).
# Refunds and visits, which few orders carry, stay as the record has them. Plain tuples, not NamedTuples, because
# they cross between processes: pickled and unpickled they cost about 4 us an order against 11.5 us as NamedTuples
# (whose pickling runs Python code per object), and the writer tells them from records (all NamedTuples) by their
# type, `tuple`.
EncodedOrder = tuple[str, tuple[Any, ...], tuple[EncodedLine, ...], tuple[RefundRecord, ...], tuple[Visit, ...]]
UPDATED = ORDER_COLS.index("platform_updated_at")   # EncodedOrder values[UPDATED]: the update time, encoded (encoded
CURRENCY = ORDER_COLS.index("currency")             # times of one store compare as the times do)


class OrderEncoder:
    """Encodes the OrderRecords of one platform's shops for one store backend (`postgres` or SQLite). Keep one per
    process and platform: it remembers minor units and buyer pseudonyms. A copy (pickle) takes the settings and
    leaves the caches behind; its repr never shows the buyer key."""

    def __init__(self, postgres: bool, platform: str, buyer_key: bytes | None = None) -> None:
        self.postgres, self.platform, self._buyer_key = postgres, platform, buyer_key
        self.encode_datetime = naive_utc if postgres else sqlite_utc_text
        self._minors: dict[str, MinorUnits] = {}
        self._buyers: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"OrderEncoder({'postgresql' if self.postgres else 'sqlite'}, {self.platform!r})"

    def __getstate__(self) -> tuple[bool, str, bytes | None]:
        return self.postgres, self.platform, self._buyer_key

    def __setstate__(self, state: tuple[bool, str, bytes | None]) -> None:
        self.__init__(*state)  # type: ignore[misc]

    def encode_page(self, page: Page) -> Page:
        """The page with its OrderRecords encoded (other records as they are); its high water is worked out from the
        records first when the source left it off (an encoded order's update time is no longer a datetime)."""
        records = page.records
        if not any(type(r) is OrderRecord for r in records):
            return page
        high_water = page.high_water if page.high_water is not None else latest_update(records)
        encode = self.encode
        return Page(page.resource, [encode(r) if type(r) is OrderRecord else r for r in records], page.resume,
                    high_water)

    def encode(self, r: OrderRecord) -> EncodedOrder:
        """The hot path of a first sync: plain look-ups (minor units and pseudonyms are remembered)."""
        dt = self.encode_datetime
        return self.encode_fields(
            r.platform_order_id, r.status, r.currency, r.subtotal, r.discount, r.merchandise, r.shipping, r.tax,
            r.total, dt(r.created_at), None if r.paid_at is None else dt(r.paid_at),
            None if r.shipped_at is None else dt(r.shipped_at), None if r.delivered_at is None else dt(r.delivered_at),
            None if r.cancelled_at is None else dt(r.cancelled_at), dt(r.updated_at), r.lines, r.refunds,
            r.buyer_ref, r.is_sample, r.promo_codes, r.visits)

    def encode_fields(self, platform_order_id: str, status: str, cur: str, subtotal: Decimal, discount: Decimal,
                    merchandise: Decimal, shipping: Decimal, tax: Decimal, total: Decimal, created: Any, paid: Any,
                    shipped: Any, delivered: Any, cancelled: Any, updated: Any, lines: Sequence[tuple[Any, ...]],
                    refunds: tuple[RefundRecord, ...] = (), buyer_ref: str | None = None, is_sample: bool = False,
                    promo_codes: tuple[str, ...] = (), visits: tuple[Visit, ...] = ()) -> EncodedOrder:
        """An order encoded from an OrderRecord's fields, its times encoded already (`encode_datetime`, `encode_epoch`)
        and its lines shaped as LineRecords (a plain tuple in LineRecord's field order will do). `encode` uses it,
        and so does a source that encodes its orders straight from the platform's answer (TikTokShopSource in its
        own process): one way to make a EncodedOrder."""
        minors = self._minors.get(cur)
        if minors is None:
            minors = self._minors[cur] = MinorUnits(cur)
        encoded_lines = tuple([(li[0], li[1], li[2], clean_name(li[3]) or "", li[7], li[4], minors[li[5]],
                                minors[li[6]]) for li in lines])
        units = sum(line[5] for line in encoded_lines)
        if len(encoded_lines) > 1 and len({line[0] for line in encoded_lines}) < len(encoded_lines):   # a line listed
            units = sum({line[0]: line[5] for line in encoded_lines}.values())   # twice counts once: the last one
        values = (str(status), cur, minors[subtotal], minors[discount], minors[merchandise], minors[shipping],
                  minors[tax], minors[total], units, created, paid, shipped, delivered, cancelled, updated,
                  cut(",".join(promo_codes), 255) if promo_codes else None,
                  self._buyer(buyer_ref) if buyer_ref else None, is_sample)
        return platform_order_id, values, encoded_lines, refunds, visits

    def encode_epoch(self, seconds: int) -> Any:
        """`encode_datetime` of the UTC time `seconds` after the Unix epoch, without making the datetime on SQLite
        (on PostgreSQL the naive datetime, added to the epoch: 0.6 us against 1.5 us by fromtimestamp)."""
        if self.postgres:
            return _NAIVE_EPOCH + timedelta(seconds=seconds)
        day, second = divmod(seconds, 86_400)
        text = _DAY_TEXT.get(day + _EPOCH_ORDINAL)
        if text is None:   # sqlite_utc_text remembers the day
            text = sqlite_utc_text(datetime.fromtimestamp(day * 86_400, UTC))[:11]
        return text + _HOUR_MINUTE_TEXT[second // 60] + _SECOND_TEXT[second % 60]

    def datetime_of(self, encoded: Any) -> datetime:
        """The aware UTC datetime of a encoded time (the inverse of `encode_datetime`)."""
        found = encoded if self.postgres else datetime.fromisoformat(encoded)
        return found.replace(tzinfo=UTC)

    def _buyer(self, buyer_id: str) -> str:
        found = self._buyers.get(buyer_id)
        if found is None:
            found = hash_buyer(self.platform, buyer_id, self._buyer_key)
            if len(self._buyers) >= BUYER_CACHE_MAX:
                self._buyers.clear()
            self._buyers[buyer_id] = found
        return found

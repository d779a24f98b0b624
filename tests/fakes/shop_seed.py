"""Deterministic shop data for the shop API fakes: every order is a pure function of (seed, index).

Nothing is held per order. ``OrderGenerator.order(i)`` rebuilds order ``i`` from a splitmix64 hash of
(seed, i) and a small seeded product catalogue, so a fake can serve 1,000,000 orders page by page. Money is
kept in integer minor units (cents) here; a fake renders it in its platform's format and the expected totals
are summed from these integers, never from the rendered JSON.

Time model (what keeps paging cheap):

* base order ``i`` of ``n`` has ``update_time = start + (i * span_s) // n``: non-decreasing in the index, so
  an update-time window is an index range found by arithmetic;
* its ``create_time`` is ``update_time - lag`` with ``0 <= lag <= MAX_LAG_S`` (the lag depends on the status:
  a completed order was created weeks before its last update), so a create-time window maps to the index range
  of update times ``[ge, lt + MAX_LAG_S)``;
* ``ShopTimeline`` adds changes on top: a changed or new order gets a new version whose update time is the
  timeline's clock (always >= every base update time) and is appended to a change log. "Positions" number the
  base orders ``0..n-1`` then the log entries ``n..``; a position is alive when it holds its order's latest
  version. Positions are ordered by update time, so paging by position is paging by update time.

One shop has one currency (a TikTok shop sells in its region's currency: USD for a US shop).
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

_MASK = (1 << 64) - 1
DAY = 86_400
MAX_LAG_S = 21 * DAY
DEFAULT_START = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
DEFAULT_SPAN_S = 30 * DAY

ORDER_ID_BASE = 576_400_000_000_000_000
LINE_ID_BASE = 577_100_000_000_000_000
RETURN_ID_BASE = 403_500_000_000_000_000
CANCEL_ID_BASE = 403_700_000_000_000_000
BUYER_ID_BASE = 7_494_000_000_000_000_000
LINES_PER_ORDER = 16          # line-id slots per order (at most 9 units are generated)
RETURNS_PER_ORDER = 8         # return-id slots per order (one base return plus mutations)

# Platform order statuses (TikTok's vocabulary; another fake can map them) and their weights out of 1000.
STATUS_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("UNPAID", 30), ("ON_HOLD", 20), ("AWAITING_SHIPMENT", 90), ("PARTIALLY_SHIPPING", 10),
    ("AWAITING_COLLECTION", 40), ("IN_TRANSIT", 120), ("DELIVERED", 180), ("COMPLETED", 430), ("CANCELLED", 80))
# update_time - create_time per status, seconds (min, max)
STATUS_LAG: dict[str, tuple[int, int]] = {
    "UNPAID": (0, 1800), "ON_HOLD": (60, 3600), "AWAITING_SHIPMENT": (600, 2 * DAY),
    "PARTIALLY_SHIPPING": (DAY, 3 * DAY), "AWAITING_COLLECTION": (DAY, 3 * DAY), "IN_TRANSIT": (2 * DAY, 5 * DAY),
    "DELIVERED": (4 * DAY, 9 * DAY), "COMPLETED": (10 * DAY, 20 * DAY), "CANCELLED": (0, 3 * DAY)}
SHIPPED_STATUSES = frozenset({"PARTIALLY_SHIPPING", "IN_TRANSIT", "DELIVERED", "COMPLETED"})
DELIVERED_STATUSES = frozenset({"DELIVERED", "COMPLETED"})
CONTENT_TYPES: tuple[tuple[str, int], ...] = (
    ("VIDEO", 450), ("LIVE", 300), ("SHOP", 100), ("PROMOTION_PAGE", 50), ("LINKSHARE", 50), ("PRE_LIVE", 50))
COMMISSION_BP = (500, 800, 1000, 1200, 1550, 2000)   # hundredths of a percent: 1550 = 15.50 %
TAX_BP = (0, 600, 725, 825, 900)                     # US sales tax rates, basis points
FREE_SHIPPING_FROM_MINOR = 3500
SHIPPING_FEE_MINOR = 599

# return kinds / statuses (TikTok's names; a cancellation is kind "CANCEL")
RETURN_COMPLETE = "RETURN_OR_REFUND_REQUEST_COMPLETE"
RETURN_PENDING = "RETURN_OR_REFUND_REQUEST_PENDING"
RETURN_REJECTED = "REFUND_OR_RETURN_REQUEST_REJECT"
CANCEL_COMPLETE = "CANCELLATION_REQUEST_COMPLETE"
COMPLETED_RETURN_STATUSES = frozenset({RETURN_COMPLETE, CANCEL_COMPLETE})

_ADJECTIVES = ("Silk", "Magnetic", "Glow", "Bamboo", "Travel", "Mini", "Velvet", "Cloud", "Crystal", "Retro",
               "Cozy", "Pro", "Smart", "Eco", "Matte", "Pearl")
_NOUNS = ("Scrunchie Set", "Phone Grip", "Lip Oil", "Hair Clip", "Makeup Bag", "LED Mirror", "Tote", "Water Bottle",
          "Phone Case", "Nail Kit", "Eye Mask", "Desk Lamp", "Sock Pack", "Ring Light", "Serum", "Hoodie")
_VARIANTS = ("Black", "White", "Pink", "Blue", "Large", "Small")
_PRICES_MINOR = (499, 599, 899, 1299, 1599, 1999, 2499, 2999, 3999, 4999)
_CREATOR_NAMES = ("mia", "leo", "ava", "kai", "zoe", "max", "ivy", "sam", "lua", "jay", "eva", "noa", "ray", "ona",
                  "tia", "ben", "lia", "dan", "amy", "rex", "kim", "joe", "fay", "gus")


def mix64(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _pick(weights: tuple[tuple[str, int], ...], roll: int) -> str:
    for name, weight in weights:
        if roll < weight:
            return name
        roll -= weight
    return weights[-1][0]


def round_div(numerator: int, denominator: int) -> int:
    """Round half up for non-negative integers (tax and refund shares)."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True, slots=True)
class Sku:
    product_id: str
    sku_id: str
    seller_sku: str
    product_name: str
    original_minor: int


@dataclass(slots=True)
class SeedLine:
    """One unit: TikTok has no quantity, two units of a SKU are two line items."""

    line_id: str
    sku: Sku
    seller_discount_minor: int
    platform_discount_minor: int

    @property
    def sale_minor(self) -> int:
        return self.sku.original_minor - self.seller_discount_minor - self.platform_discount_minor


@dataclass(slots=True)
class SeedReturn:
    """A return/refund (kind REFUND or RETURN_AND_REFUND) or a cancellation (kind CANCEL). Its update time is
    the update time of the order version that carries it (the fakes re-stamp returns when the order changes)."""

    return_id: str
    kind: str
    status: str
    create_time: int
    line_ids: tuple[str, ...]
    subtotal_minor: int
    shipping_minor: int
    tax_minor: int
    role: str = "BUYER"

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor + self.shipping_minor + self.tax_minor

    @property
    def returned_units(self) -> int:
        return len(self.line_ids) if self.kind == "RETURN_AND_REFUND" else 0


@dataclass(slots=True)
class SeedAffiliate:
    creator: str
    content_type: str
    content_id: str | None
    commission_bp: int


@dataclass(slots=True)
class SeedOrder:
    index: int
    order_id: str
    status: str
    create_time: int
    update_time: int
    paid_time: int | None
    collection_time: int | None
    delivery_time: int | None
    cancel_time: int | None
    buyer_id: str
    is_sample: bool
    lines: tuple[SeedLine, ...]
    shipping_minor: int
    tax_bp: int
    returns: tuple[SeedReturn, ...] = ()
    affiliate: SeedAffiliate | None = None

    @property
    def original_minor(self) -> int:
        return sum(line.sku.original_minor for line in self.lines)

    @property
    def seller_discount_minor(self) -> int:
        return sum(line.seller_discount_minor for line in self.lines)

    @property
    def platform_discount_minor(self) -> int:
        return sum(line.platform_discount_minor for line in self.lines)

    @property
    def sub_total_minor(self) -> int:
        return sum(line.sale_minor for line in self.lines)

    @property
    def tax_minor(self) -> int:
        return round_div(self.sub_total_minor * self.tax_bp, 10_000)

    @property
    def total_minor(self) -> int:
        return self.sub_total_minor + self.shipping_minor + self.tax_minor

    @property
    def units(self) -> int:
        return len(self.lines)


@dataclass(slots=True)
class SeedLive:
    session_id: str
    title: str
    username: str
    start_time: int
    end_time: int
    gmv_minor: int
    sku_orders: int
    unit_sold: int
    customers: int
    viewers: int
    views: int
    avg_viewing_duration: int
    comments: int
    shares: int
    likes: int
    new_followers: int
    product_impressions: int
    product_clicks: int

    @property
    def watch_seconds(self) -> int:
        return self.avg_viewing_duration * self.viewers


@dataclass
class ExpectedTotals:
    """What a correct client must find, summed from the seed integers.

    Orders, returns and cancellations: orders whose (current) update time is in [since, until), and the
    returns/cancellations those orders carry. Affiliate: orders CREATED in [since, until) (the affiliate API
    filters by create time). Lives: sessions that started in [since, until). Money in minor units (cents).
    """

    currency: str
    orders: int = 0
    units: int = 0
    subtotal_minor: int = 0           # original prices, before discounts
    discount_minor: int = 0           # seller + platform discounts
    merchandise_minor: int = 0        # goods after discounts: the GMV base
    shipping_minor: int = 0
    tax_minor: int = 0
    total_minor: int = 0
    samples: int = 0
    by_status: dict[str, int] = field(default_factory=dict)          # platform status -> orders
    returns: int = 0                  # REFUND / RETURN_AND_REFUND records
    cancellations: int = 0
    refund_requested_minor: int = 0   # every return and cancellation, whatever its status
    refunded_minor: int = 0           # completed returns and cancellations only
    returned_units: int = 0
    affiliate_orders: int = 0
    affiliate_lines: int = 0          # one per (order, SKU) credited to a creator
    affiliate_units: int = 0
    affiliate_amount_minor_by_creator: dict[str, int] = field(default_factory=dict)   # price x quantity
    lives: int = 0
    live_gmv_minor: int = 0
    live_viewers: int = 0
    live_watch_seconds: int = 0


@dataclass(frozen=True)
class Changes:
    """What ShopTimeline.advance did: order ids changed and order ids added."""

    changed: tuple[str, ...]
    added: tuple[str, ...]


class OrderGenerator:
    """Builds base order ``i`` (0 <= i) from (seed, i); no state per order."""

    def __init__(self, seed: int, n_orders: int, *, start: int = DEFAULT_START, span_s: int = DEFAULT_SPAN_S,
                 currency: str = "USD", price_scale: int = 1) -> None:
        """``price_scale`` multiplies every catalogue price (10_000 turns 49.99 into 499,900.00 for an IDR shop)."""
        if n_orders < 0 or span_s <= 0 or price_scale < 1:
            raise ValueError("n_orders must be >= 0, span_s > 0 and price_scale >= 1")
        self.seed, self.n, self.start, self.span_s, self.currency = seed, n_orders, start, span_s, currency
        self._key = mix64(seed * 0x2545F4914F6CDD1D)
        rng = random.Random(seed)
        skus: list[Sku] = []
        for p in range(40):
            product_id = str(1_729_000_000_000_000_000 + seed % 1000 * 1_000_000 + p * 100)
            name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
            base_price = rng.choice(_PRICES_MINOR)
            for s in range(rng.randint(1, 3)):
                variant = rng.choice(_VARIANTS)
                skus.append(Sku(product_id=product_id, sku_id=str(int(product_id) + 1 + s),
                                seller_sku=f"TS-{p:02d}-{s}", product_name=f"{name} ({variant})",
                                original_minor=(base_price + 100 * s) * price_scale))
        self.skus: tuple[Sku, ...] = tuple(skus)
        self.creators: tuple[str, ...] = tuple(f"{name}.creates" for name in _CREATOR_NAMES)

    # --- time arithmetic
    def update_time(self, i: int) -> int:
        return self.start + (i * self.span_s) // max(self.n, 1)

    def first_index_at(self, t: int) -> int:
        """Smallest base index whose update time is >= t (n when none)."""
        d = t - self.start
        if d <= 0:
            return 0
        i = -((-d * self.n) // self.span_s)   # ceil(d * n / span)
        return min(i, self.n)

    @property
    def end_time(self) -> int:
        """One second after the last base update time."""
        return (self.update_time(self.n - 1) if self.n else self.start) + 1

    @staticmethod
    def order_id(i: int) -> str:
        return str(ORDER_ID_BASE + i)

    @staticmethod
    def index_of(order_id: str) -> int | None:
        try:
            i = int(order_id) - ORDER_ID_BASE
        except ValueError:
            return None
        return i if 0 <= i < ORDER_ID_BASE else None

    # --- the order itself
    def order(self, i: int) -> SeedOrder:
        h = mix64(self._key ^ i)
        status = _pick(STATUS_WEIGHTS, h % 1000)
        lo, hi = STATUS_LAG[status]
        lag = lo + (h >> 10) % (hi - lo + 1)
        update = self.start + (i * self.span_s) // (self.n or 1)
        create = update - lag
        r = h >> 34
        paid = status != "UNPAID" and not (status == "CANCELLED" and r % 100 < 15)
        paid_time = min(update, create + 30 + (r >> 7) % 570) if paid else None
        shipped = status in SHIPPED_STATUSES
        delivered = status in DELIVERED_STATUSES
        h = mix64(h)
        is_sample = paid and status != "CANCELLED" and h % 1000 < 20
        n_skus = 1 if (h >> 10) % 100 < 75 else (2 if (h >> 10) % 100 < 95 else 3)
        # lines: 1-3 distinct SKUs, 1-3 units each, one line item per unit
        lines: list[SeedLine] = []
        chosen: list[int] = []
        roll = h >> 17
        slot = LINE_ID_BASE + i * LINES_PER_ORDER
        skus = self.skus
        for _ in range(n_skus):
            k = roll % len(skus)
            while k in chosen:
                k = (k + 1) % len(skus)
            chosen.append(k)
            sku = skus[k]
            q_roll = (roll >> 6) % 100
            d_roll = (roll >> 13) % 100
            original = sku.original_minor
            if is_sample:
                seller, platform = original, 0
            else:
                seller = 0 if d_roll < 60 else original * (10 if d_roll < 85 else 20) // 100
                platform = 0 if (roll >> 20) % 100 >= 15 else min(100, original - seller)
            for _ in range(1 if q_roll < 80 else (2 if q_roll < 95 else 3)):
                lines.append(SeedLine(str(slot), sku, seller, platform))
                slot += 1
            roll = mix64(roll)
        sub_total = 0
        for line in lines:
            sub_total += line.sku.original_minor - line.seller_discount_minor - line.platform_discount_minor
        shipping = 0 if is_sample or sub_total >= FREE_SHIPPING_FROM_MINOR else SHIPPING_FEE_MINOR
        h = mix64(h)
        tax_bp = 0 if is_sample else TAX_BP[h % len(TAX_BP)]
        buyer = str(BUYER_ID_BASE + (h >> 8) % (self.n // 3 + 7))
        returns: tuple[SeedReturn, ...] = ()
        r = h >> 40
        if delivered and not is_sample and r % 1000 < 70:
            kind = "RETURN_AND_REFUND" if (r >> 10) % 10 < 6 else "REFUND"
            s_roll = (r >> 14) % 20
            ret_status = RETURN_COMPLETE if s_roll < 14 else (RETURN_PENDING if s_roll < 17 else RETURN_REJECTED)
            refunded = lines if (r >> 19) % 5 == 0 else lines[:1]
            sub = sum(line.sale_minor for line in refunded)
            returns = (SeedReturn(return_id=str(RETURN_ID_BASE + i * RETURNS_PER_ORDER), kind=kind,
                                  status=ret_status, create_time=update - lag // 10,
                                  line_ids=tuple(line.line_id for line in refunded), subtotal_minor=sub,
                                  shipping_minor=0, tax_minor=round_div(sub * tax_bp, 10_000)),)
        elif status == "CANCELLED" and paid:
            returns = (self._cancellation(i, lines, shipping, tax_bp, max(create, update - r % 600),
                                          ("BUYER", "SELLER", "SYSTEM")[(r >> 10) % 3]),)
        affiliate = None
        if paid and not is_sample:
            h = mix64(h)
            if h % 1000 < 300:
                content_type = _pick(CONTENT_TYPES, (h >> 10) % 1000)
                content_id = (str(7_300_000_000_000_000_000 + (h >> 20) % 10_000_000)
                              if content_type in ("VIDEO", "LIVE", "PRE_LIVE") else None)
                affiliate = SeedAffiliate(creator=self.creators[(h >> 44) % len(self.creators)],
                                          content_type=content_type, content_id=content_id,
                                          commission_bp=COMMISSION_BP[(h >> 52) % len(COMMISSION_BP)])
        return SeedOrder(i, str(ORDER_ID_BASE + i), status, create, update, paid_time,
                         create + lag * 3 // 10 if shipped else None, create + lag * 6 // 10 if delivered else None,
                         update if status == "CANCELLED" else None, buyer, is_sample, tuple(lines), shipping, tax_bp,
                         returns, affiliate)

    @staticmethod
    def _cancellation(i: int, lines: list[SeedLine] | tuple[SeedLine, ...], shipping: int, tax_bp: int,
                      create_time: int, role: str, slot: int = 0) -> SeedReturn:
        sub = sum(line.sale_minor for line in lines)
        return SeedReturn(return_id=str(CANCEL_ID_BASE + i * RETURNS_PER_ORDER + slot), kind="CANCEL",
                          status=CANCEL_COMPLETE, create_time=create_time,
                          line_ids=tuple(line.line_id for line in lines), subtotal_minor=sub,
                          shipping_minor=shipping, tax_minor=round_div(sub * tax_bp, 10_000), role=role)


class ShopTimeline:
    """Base orders plus a log of changes (see the module docstring). Not thread-safe: the fakes lock around it."""

    def __init__(self, seed: int = 1, n_orders: int = 1000, *, start: int = DEFAULT_START,
                 span_s: int = DEFAULT_SPAN_S, currency: str = "USD", shop_tz: str = "America/Los_Angeles",
                 live_hosts: tuple[str, ...] = ("shop.official", "shop.studio"), price_scale: int = 1) -> None:
        self.gen = OrderGenerator(seed, n_orders, start=start, span_s=span_s, currency=currency,
                                  price_scale=price_scale)
        self.price_scale = price_scale
        self.n = n_orders
        self.currency = currency
        self.tz = ZoneInfo(shop_tz)
        self.now = self.gen.end_time              # the timeline's clock: changes are stamped with it
        self.version = 0                          # bumped by every change (cache key for the fakes)
        self._log_times: list[int] = []
        self._log_index: list[int] = []
        self._latest: dict[int, int] = {}          # order index -> log entry holding its current version
        self._versions: dict[int, SeedOrder] = {}  # order index -> current version (changed or added orders)
        self._added = 0
        self._rng = random.Random(seed * 7919 + 17)
        self.lives: tuple[SeedLive, ...] = self._make_lives(seed, live_hosts)

    # ------------------------------------------------------------------ reading
    @property
    def total_orders(self) -> int:
        return self.n + self._added

    @property
    def end_position(self) -> int:
        return self.n + len(self._log_times)

    def current(self, index: int) -> SeedOrder:
        """The current version of order ``index`` (base, changed or added)."""
        found = self._versions.get(index)
        if found is not None:
            return found
        if not 0 <= index < self.n:
            raise KeyError(index)
        return self.gen.order(index)

    def order_at(self, pos: int) -> SeedOrder | None:
        """The order at update-ordered position ``pos``, or None when a newer version superseded it."""
        if pos < self.n:
            return None if pos in self._latest else self.gen.order(pos)
        k = pos - self.n
        index = self._log_index[k]
        return self._versions[index] if self._latest.get(index) == k else None

    def alive(self, pos: int) -> bool:
        if pos < self.n:
            return pos not in self._latest
        k = pos - self.n
        return self._latest.get(self._log_index[k]) == k

    def first_position_at(self, t: int | None) -> int:
        """First position whose update time is >= t (None: the start)."""
        if t is None:
            return 0
        base = self.gen.first_index_at(t)
        if base < self.n:
            return base
        return self.n + bisect.bisect_left(self._log_times, t)

    def position_range(self, update_ge: int | None, update_lt: int | None) -> tuple[int, int]:
        lo = self.first_position_at(update_ge)
        hi = self.end_position if update_lt is None else self.first_position_at(update_lt)
        return lo, max(lo, hi)

    def alive_count(self, lo: int, hi: int) -> int:
        """Alive positions in [lo, hi), without generating any order."""
        dead_base = sum(1 for index in self._latest if index < self.n and lo <= index < hi)
        base = max(0, min(hi, self.n) - lo) - dead_base if lo < self.n else 0
        log = sum(1 for pos in range(max(lo, self.n), hi) if self.alive(pos))
        return base + log

    def create_candidate_ranges(self, create_ge: int | None, create_lt: int | None) -> list[tuple[int, int]]:
        """Order-index ranges that may hold orders created in [ge, lt), in index order (a superset: filter
        after): base orders by the update-time bound, then every added order."""
        lo = 0 if create_ge is None else self.gen.first_index_at(create_ge)
        hi = self.n if create_lt is None else self.gen.first_index_at(create_lt + MAX_LAG_S + 1)
        return [(lo, max(lo, hi)), (self.n, self.n + self._added)]

    # ------------------------------------------------------------------ changing
    def _append(self, order: SeedOrder) -> None:
        self._log_times.append(order.update_time)
        self._log_index.append(order.index)
        self._latest[order.index] = len(self._log_times) - 1
        self._versions[order.index] = order
        self.version += 1

    def _stamp(self, at: int | None) -> int:
        t = self.now if at is None else at
        last = self._log_times[-1] if self._log_times else self.gen.end_time
        return max(t, last, self.gen.end_time)

    def update_order(self, index: int, *, status: str | None = None, refund: str | None = None,
                     at: int | None = None) -> SeedOrder:
        """Give order ``index`` a new version stamped ``at`` (default: the clock): a new ``status`` (with its
        timestamps; CANCELLED of a paid order adds a completed cancellation), and/or a completed ``refund``
        ("REFUND" or "RETURN_AND_REFUND") of its first line not refunded yet."""
        t = self._stamp(at)
        order = self.current(index)
        changes: dict[str, object] = {"update_time": t}
        returns = list(order.returns)
        if status is not None and status != order.status:
            if status not in STATUS_LAG:
                raise ValueError(f"unknown status {status}")
            changes["status"] = status
            if status != "UNPAID" and order.paid_time is None and status != "CANCELLED":
                changes["paid_time"] = t
            if status in SHIPPED_STATUSES and order.collection_time is None:
                changes["collection_time"] = t
            if status in DELIVERED_STATUSES and order.delivery_time is None:
                changes["delivery_time"] = t
            if status == "CANCELLED":
                changes["cancel_time"] = t
                if order.paid_time is not None and not any(r.kind == "CANCEL" for r in returns):
                    returns.append(self.gen._cancellation(index, order.lines, order.shipping_minor, order.tax_bp,
                                                          t, "SELLER", slot=len(returns)))
        if refund is not None:
            if refund not in ("REFUND", "RETURN_AND_REFUND"):
                raise ValueError(f"unknown refund kind {refund}")
            done = {lid for r in returns for lid in r.line_ids}
            todo = [line for line in order.lines if line.line_id not in done][:1]
            if not todo:
                raise ValueError(f"order {order.order_id} has no line left to refund")
            sub = todo[0].sale_minor
            returns.append(SeedReturn(return_id=str(RETURN_ID_BASE + index * RETURNS_PER_ORDER + len(returns)),
                                      kind=refund, status=RETURN_COMPLETE, create_time=t,
                                      line_ids=(todo[0].line_id,), subtotal_minor=sub, shipping_minor=0,
                                      tax_minor=round_div(sub * order.tax_bp, 10_000)))
        changes["returns"] = tuple(returns)
        new = replace(order, **changes)  # type: ignore[arg-type]
        self._append(new)
        return new

    def add_orders(self, count: int, at: int | None = None) -> list[SeedOrder]:
        """Append ``count`` new paid (or unpaid) orders created and updated at ``at`` (default: the clock)."""
        t = self._stamp(at)
        added = []
        for _ in range(count):
            index = self.n + self._added
            self._added += 1
            base = self.gen.order(index)
            status = "UNPAID" if base.status == "UNPAID" else "AWAITING_SHIPMENT"
            shipping = base.shipping_minor
            new = replace(base, status=status, create_time=t, update_time=t,
                          paid_time=None if status == "UNPAID" else t, collection_time=None, delivery_time=None,
                          cancel_time=None, returns=(), is_sample=False,
                          affiliate=None if status == "UNPAID" else base.affiliate, shipping_minor=shipping)
            if base.is_sample:   # a new sample order would need sample prices: regenerate as a normal sale
                new = replace(new, lines=tuple(SeedLine(line.line_id, line.sku, 0, 0) for line in base.lines),
                              shipping_minor=0 if sum(ln.sku.original_minor for ln in base.lines)
                              >= FREE_SHIPPING_FROM_MINOR else SHIPPING_FEE_MINOR, tax_bp=TAX_BP[index % 5])
            self._append(new)
            added.append(new)
        return added

    _NEXT_STATUS: ClassVar[dict[str, str]] = {"UNPAID": "AWAITING_SHIPMENT", "ON_HOLD": "AWAITING_SHIPMENT",
                    "AWAITING_SHIPMENT": "AWAITING_COLLECTION", "AWAITING_COLLECTION": "IN_TRANSIT",
                    "PARTIALLY_SHIPPING": "IN_TRANSIT", "IN_TRANSIT": "DELIVERED", "DELIVERED": "COMPLETED"}

    def advance(self, seconds: int = 3600, *, changes: int = 0, refunds: int = 0, cancels: int = 0,
                new_orders: int = 0) -> Changes:
        """Move the clock ``seconds`` on, then: ``changes`` orders take their next status, ``refunds``
        delivered/completed orders gain a completed refund, ``cancels`` unshipped orders are cancelled, and
        ``new_orders`` orders are added. The orders picked are distinct and chosen by a seeded RNG."""
        self.now = self._stamp(None) + seconds
        picked: set[int] = set()
        changed: list[str] = []

        def pick(ok: set[str] | frozenset[str], unrefunded: bool = False) -> SeedOrder:
            for _ in range(100_000):
                index = self._rng.randrange(self.total_orders)
                if index in picked:
                    continue
                order = self.current(index)
                if order.status not in ok:
                    continue
                if unrefunded and len({lid for r in order.returns for lid in r.line_ids}) >= len(order.lines):
                    continue
                picked.add(index)
                return order
            raise ValueError(f"no order left in status {sorted(ok)}")

        for _ in range(changes):
            order = pick(set(self._NEXT_STATUS))
            self.update_order(order.index, status=self._NEXT_STATUS[order.status])
            changed.append(order.order_id)
        for _ in range(refunds):
            order = pick(DELIVERED_STATUSES, unrefunded=True)
            self.update_order(order.index, refund="RETURN_AND_REFUND")
            changed.append(order.order_id)
        for _ in range(cancels):
            order = pick({"UNPAID", "ON_HOLD", "AWAITING_SHIPMENT"})
            self.update_order(order.index, status="CANCELLED")
            changed.append(order.order_id)
        added = tuple(o.order_id for o in self.add_orders(new_orders))
        return Changes(changed=tuple(changed), added=added)

    # ------------------------------------------------------------------ lives
    def _make_lives(self, seed: int, hosts: tuple[str, ...]) -> tuple[SeedLive, ...]:
        first = datetime.fromtimestamp(self.gen.start - MAX_LAG_S, self.tz).date()
        last = datetime.fromtimestamp(self.gen.end_time, self.tz).date()
        key = mix64(seed ^ 0x11FE)
        lives: list[SeedLive] = []
        day: date = first
        while day <= last:
            h = mix64(key ^ day.toordinal())
            for slot in range(h % 3):
                h = mix64(h)
                begin = datetime(day.year, day.month, day.day, 18 + slot * 3, (h >> 8) % 60, tzinfo=self.tz)
                start = int(begin.timestamp())
                viewers = 200 + (h >> 16) % 9000
                clicks = 20 + viewers * (2 + (h >> 30) % 9) // 100
                sku_orders = clicks * (5 + (h >> 36) % 20) // 100
                units = sku_orders + (h >> 42) % (sku_orders // 4 + 1)
                lives.append(SeedLive(
                    session_id=str(7_400_000_000_000_000_000 + day.toordinal() * 10 + slot),
                    title=f"Live deals {day.isoformat()} #{slot + 1}", username=hosts[slot % len(hosts)],
                    start_time=start, end_time=start + 3600 + (h >> 12) % (3 * 3600),
                    gmv_minor=units * (999 + (h >> 48) % 2000) * self.price_scale, sku_orders=sku_orders,
                    unit_sold=units,
                    customers=max(1, sku_orders * 9 // 10) if sku_orders else 0, viewers=viewers,
                    views=viewers + viewers * (20 + (h >> 20) % 130) // 100,
                    avg_viewing_duration=20 + (h >> 26) % 160, comments=(h >> 33) % 900, shares=(h >> 40) % 120,
                    likes=(h >> 46) % 20_000, new_followers=(h >> 38) % 300,
                    product_impressions=clicks * (5 + (h >> 50) % 10), product_clicks=clicks))
            day += timedelta(days=1)
        return tuple(lives)

    # ------------------------------------------------------------------ expected totals
    def expected_totals(self, since: datetime | int | None = None,
                        until: datetime | int | None = None) -> ExpectedTotals:
        """Totals over [since, until) from the seed integers (see ExpectedTotals for which time each part uses)."""
        ge = None if since is None else int(since.timestamp()) if isinstance(since, datetime) else since
        lt = None if until is None else int(until.timestamp()) if isinstance(until, datetime) else until
        out = ExpectedTotals(currency=self.currency)
        lo, hi = self.position_range(ge, lt)
        for pos in range(lo, hi):
            order = self.order_at(pos)
            if order is None:
                continue
            out.orders += 1
            out.units += len(order.lines)
            original = sum(line.sku.original_minor for line in order.lines)
            sale = sum(line.sale_minor for line in order.lines)
            tax = round_div(sale * order.tax_bp, 10_000)
            out.subtotal_minor += original
            out.discount_minor += original - sale
            out.merchandise_minor += sale
            out.shipping_minor += order.shipping_minor
            out.tax_minor += tax
            out.total_minor += sale + order.shipping_minor + tax
            out.samples += order.is_sample
            out.by_status[order.status] = out.by_status.get(order.status, 0) + 1
            for ret in order.returns:
                if ret.kind == "CANCEL":
                    out.cancellations += 1
                else:
                    out.returns += 1
                    out.returned_units += ret.returned_units
                out.refund_requested_minor += ret.total_minor
                if ret.status in COMPLETED_RETURN_STATUSES:
                    out.refunded_minor += ret.total_minor
        for index in (i for a, b in self.create_candidate_ranges(ge, lt) for i in range(a, b)):
            order = self.current(index)
            if order.affiliate is None or (ge is not None and order.create_time < ge) or (
                    lt is not None and order.create_time >= lt):
                continue
            out.affiliate_orders += 1
            by_sku: dict[str, list[SeedLine]] = {}
            for line in order.lines:
                by_sku.setdefault(line.sku.sku_id, []).append(line)
            creator = order.affiliate.creator
            for lines in by_sku.values():
                out.affiliate_lines += 1
                out.affiliate_units += len(lines)
                amount = lines[0].sale_minor * len(lines)
                out.affiliate_amount_minor_by_creator[creator] = (
                    out.affiliate_amount_minor_by_creator.get(creator, 0) + amount)
        for live in self.lives:
            if (ge is None or live.start_time >= ge) and (lt is None or live.start_time < lt):
                out.lives += 1
                out.live_gmv_minor += live.gmv_minor
                out.live_viewers += live.viewers
                out.live_watch_seconds += live.watch_seconds
        return out

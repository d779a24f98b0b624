"""The metric catalog: every KPI kpibot can score, each with its written definition.

A metric reads an `Activity` inside a `Window` as of `now` and returns a Decimal, or None where the
number is undefined (a rate over nothing). Money metrics come back in the reporting currency, each amount
converted at the rate of its own day (the UTC calendar day of the event, so that every viewer, in any
time zone, sees the same amount; ad spend at the ad platform's reporting day).

Which orders count ("counted orders"): an order counts in the window when its counting moment lies in
the window and not after `now`. The counting moment is the payment time, or the shipping time when the
organisation counts at shipment (`kpibot org set --count-orders-at shipped`; `[org] count_orders_at` for a
store without `org init`). Unpaid or unshipped orders do not count.
The shipping time is the platform's: TikTok Shop's `rts_time` (handed to the carrier), else its
`collection_time`, else its `delivery_time`; Shopee's `pickup_done_time`; Amazon's first shipment charge (the
earliest ShipmentEvent posted for the order: Amazon charges the buyer when the shipment is confirmed); an
export's Shipped Time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import chain
from typing import Protocol

from scoring.facts import Activity, OrderFact
from scoring.fx import FxTable
from scoring.periods import Window
from scoring.rules import CountOrdersAt, Rules
from scoring.shape import PaceShape


class Unit(StrEnum):
    MONEY = "money"      # reporting currency
    COUNT = "count"
    RATIO = "ratio"      # 0.25 = 25 %
    SECONDS = "seconds"
    DAYS = "days"


@dataclass(frozen=True, slots=True)
class Context:
    window: Window
    now: datetime
    rules: Rules
    fx: FxTable
    shape: PaceShape | None = None   # the team's usual rhythm for expected by now (scoring.shape); None: linear
    # per-activity views computed once for this context (several metrics read the same kept orders)
    _views: dict[int, tuple[Activity, list[KeptOrder]]] = field(default_factory=dict, init=False, repr=False,
                                                                 compare=False)

    def to_reporting(self, amount: Decimal, currency: str, moment_or_day: datetime | date) -> Decimal:
        day = moment_or_day.astimezone(UTC).date() if isinstance(moment_or_day, datetime) else moment_or_day
        return self.fx.convert(amount, currency, self.rules.reporting_currency, day)

    def happened(self, moment: datetime | None) -> bool:
        """In the window, and not after `now`."""
        return moment is not None and self.window.contains(moment) and moment <= self.now

    def until_now(self, moment: datetime | None) -> bool:
        return moment is not None and moment <= self.now

    def day_reached(self, day: date) -> bool:
        return self.window.first_day <= day <= min(self.window.last_day, self.window.local_day(self.now))

    def elapsed_days(self) -> int:
        today = self.window.local_day(self.now)
        if today < self.window.first_day:
            return 0
        return (min(today, self.window.last_day) - self.window.first_day).days + 1


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    names: dict[str, str]             # display name by language
    unit: Unit
    lower_is_better: bool
    cumulative: bool                  # adds up over time: its target scales with the period, pace applies
    definition: str
    compute: Callable[[Activity, Context], Decimal | None]
    reads: frozenset[str]             # the Activity fields it reads, so the store loads only those
    month_to_date: bool = False       # measured over the month so far, whatever period is shown
    share: bool = False               # a ratio that is a share of a whole: 0..1 (ROI is a ratio that may exceed 1)

    def fits(self, value: Decimal) -> bool:
        """Whether the metric can have `value`: finite, not negative (no metric can be), a share at most 1."""
        return value.is_finite() and value >= 0 and (not self.share or value <= 1)

    def name(self, lang: str) -> str:
        return self.names.get(lang, self.names["en"])


def _ratio(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    return None if denominator == 0 else Decimal(numerator) / Decimal(denominator)


class Timed(Protocol):
    """An order's times: a fact here, or the stored order (services.order_amounts)."""

    @property
    def paid_at(self) -> datetime | None: ...

    @property
    def shipped_at(self) -> datetime | None: ...


def counting_moment(order: Timed, rules: Rules) -> datetime | None:
    """When the order counts: paid, or shipped when the organisation counts at shipment (None: not yet)."""
    return moment_at(order, rules.count_orders_at)


def moment_at(order: Timed, count_orders_at: CountOrdersAt) -> datetime | None:
    return order.paid_at if count_orders_at is CountOrdersAt.PAID else order.shipped_at


def counted_orders(activity: Activity, ctx: Context) -> Iterable[OrderFact]:
    return (o for o in activity.orders if ctx.happened(counting_moment(o, ctx.rules)))


@dataclass(frozen=True, slots=True)
class KeptOrder:
    """Counted orders not cancelled by `now`, with their amounts in the reporting currency (at their counting
    day): one order (`order`), or many the store summed (scoring.facts.OrderSum: `order` is None)."""

    order: OrderFact | None
    moment: datetime
    value: Decimal      # merchandise
    refunded: Decimal   # refunded by now, each order's capped at its merchandise
    count: int
    units: int
    returned_units: int       # returned by now, each order's capped at its units
    currency: str             # the orders' own
    day: date                 # the UTC day of `moment`: the rate's
    own_value: Decimal        # `value` and `refunded` in `currency`
    own_refunded: Decimal


def in_reporting(ctx: Context, amounts: Iterable[tuple[str, date, Decimal]]) -> Decimal:
    """The sum of (currency, rate day, amount) in the reporting currency: summed per currency and day in their own
    currency (exact), then each converted once, in a fixed order. So orders read one by one and the store's sums
    of them (scoring.facts.OrderSum) give the very same Decimal, not one that differs in its 28th digit."""
    own: dict[tuple[str, date], Decimal] = {}
    for currency, day, amount in amounts:
        own[currency, day] = own.get((currency, day), Decimal(0)) + amount
    return converted_sum(ctx.fx, ctx.rules.reporting_currency, own)


def converted_sum(fx: FxTable, to: str, own: dict[tuple[str, date], Decimal]) -> Decimal:
    """Amounts by (currency, rate day), each converted into `to` once and summed in key order (in_reporting)."""
    return sum((own[key] * fx.factor(key[0], to, key[1]) for key in sorted(own)), Decimal(0))


def kept_view(activity: Activity, ctx: Context) -> list[KeptOrder]:
    """Counted orders (and sums of them) that were not cancelled by `now`, converted once per context."""
    hit = ctx._views.get(id(activity))
    if hit is not None and hit[0] is activity:
        return hit[1]
    kept = []
    to = ctx.rules.reporting_currency
    for o in activity.orders:
        moment = counting_moment(o, ctx.rules)
        if moment is None or not ctx.happened(moment) or ctx.until_now(o.cancelled_at):
            continue
        day = moment.astimezone(UTC).date()
        rate = ctx.fx.factor(o.currency, to, day)
        returned = min(o.units, sum(r.returned_units for r in o.refunds if ctx.until_now(r.at)))
        refunded = _refunded(o, ctx)
        kept.append(KeptOrder(o, moment, o.merchandise * rate, refunded * rate, 1, o.units, returned, o.currency, day,
                              o.merchandise, refunded))
    for s in activity.order_sums:
        if not ctx.happened(s.moment) or not (s.orders or s.value or s.refunded or s.units or s.returned_units):
            continue
        day = s.moment.astimezone(UTC).date()
        rate = ctx.fx.factor(s.currency, to, day)
        kept.append(KeptOrder(None, s.moment, s.value * rate, s.refunded * rate, s.orders, s.units,
                              s.returned_units, s.currency, day, s.value, s.refunded))
    ctx._views[id(activity)] = (activity, kept)
    return kept


def kept_orders(activity: Activity, ctx: Context) -> list[OrderFact]:
    """Counted orders that were not cancelled by `now` (loaded one by one: not the sums)."""
    return [k.order for k in kept_view(activity, ctx) if k.order is not None]


def _refunded(order: OrderFact, ctx: Context) -> Decimal:
    """Money refunded on the order by `now`, capped at its merchandise value."""
    total = sum((r.amount for r in order.refunds if ctx.until_now(r.at)), Decimal(0))
    return min(total, order.merchandise)


def gmv(a: Activity, ctx: Context) -> Decimal:
    summed = ((s.currency, s.moment.astimezone(UTC).date(), s.gross) for s in a.order_sums if ctx.happened(s.moment))
    one_by_one = ((o.currency, _counting_day(o, ctx), o.merchandise) for o in counted_orders(a, ctx))
    return in_reporting(ctx, chain(summed, one_by_one))


def _counting_day(order: OrderFact, ctx: Context) -> date:
    moment = counting_moment(order, ctx.rules)
    assert moment is not None
    return moment.astimezone(UTC).date()


def net_gmv(a: Activity, ctx: Context) -> Decimal:
    net = ctx.rules.net_refunds
    return in_reporting(ctx, ((k.currency, k.day, k.own_value - k.own_refunded if net else k.own_value)
                              for k in kept_view(a, ctx)))


def orders(a: Activity, ctx: Context) -> Decimal:
    return Decimal(sum(k.count for k in kept_view(a, ctx)))


def average_order_value(a: Activity, ctx: Context) -> Decimal | None:
    kept = kept_view(a, ctx)
    return _ratio(in_reporting(ctx, ((k.currency, k.day, k.own_value) for k in kept)), sum(k.count for k in kept))


def matured_orders(a: Activity, ctx: Context) -> list[KeptOrder]:
    """Kept orders counted at least `refund_maturity_days` before `now`: refunds take days to arrive, so a
    rate over younger orders would look better than it is."""
    cutoff = ctx.now - timedelta(days=ctx.rules.refund_maturity_days)
    return [k for k in kept_view(a, ctx) if k.moment <= cutoff]


def refund_rate(a: Activity, ctx: Context) -> Decimal | None:
    kept = matured_orders(a, ctx)
    return _ratio(in_reporting(ctx, ((k.currency, k.day, k.own_refunded) for k in kept)),
                  in_reporting(ctx, ((k.currency, k.day, k.own_value) for k in kept)))


def return_rate(a: Activity, ctx: Context) -> Decimal | None:
    kept = matured_orders(a, ctx)
    return _ratio(sum(k.returned_units for k in kept), sum(k.units for k in kept))


def gross_profit(a: Activity, ctx: Context) -> Decimal:
    kept = net_gmv(a, ctx)
    for k in kept_view(a, ctx):
        o = k.order
        if o is None:
            raise ValueError("gross profit reads the orders' lines: load the orders, not their sums")
        # returned goods reduce the cost only when their refund reduces the revenue
        returned = k.returned_units if ctx.rules.net_refunds else 0
        kept_share = Decimal(o.units - returned) / o.units if o.units else Decimal(1)
        for line in o.lines:
            if line.cost is not None and line.cost_currency is not None:
                kept -= ctx.to_reporting(line.cost * kept_share, line.cost_currency, k.moment)
    return kept


def new_customers(a: Activity, ctx: Context) -> Decimal:
    kept = kept_view(a, ctx)
    if any(k.order is None for k in kept):
        raise ValueError("new customers reads each order's buyer: load the orders, not their sums")
    return Decimal(sum(1 for k in kept if k.order.new_customer and k.refunded < k.value))  # type: ignore[union-attr]


def _ads(a: Activity, ctx: Context) -> list:
    return [ad for ad in a.ads if ctx.day_reached(ad.day)]


def _spend(a: Activity, ctx: Context) -> Decimal:
    return sum((ctx.to_reporting(ad.spend, ad.currency, ad.day) for ad in _ads(a, ctx)), Decimal(0))


def roi(a: Activity, ctx: Context) -> Decimal | None:
    attributed = sum((ctx.to_reporting(ad.attributed_gmv, ad.currency, ad.day) for ad in _ads(a, ctx)),
                     Decimal(0))
    return _ratio(attributed, _spend(a, ctx))


def cpc(a: Activity, ctx: Context) -> Decimal | None:
    return _ratio(_spend(a, ctx), sum(ad.clicks for ad in _ads(a, ctx)))


def cost_per_visitor(a: Activity, ctx: Context) -> Decimal | None:
    return _ratio(_spend(a, ctx), sum(ad.live_room_visitors for ad in _ads(a, ctx)))


def _lives(a: Activity, ctx: Context) -> list:
    return [s for s in a.lives if ctx.happened(s.started_at)]


def live_sessions(a: Activity, ctx: Context) -> Decimal:
    return Decimal(len(_lives(a, ctx)))


def gmv_per_live(a: Activity, ctx: Context) -> Decimal | None:
    lives = _lives(a, ctx)
    total = sum((ctx.to_reporting(s.gmv, s.currency, s.started_at) for s in lives), Decimal(0))
    return _ratio(total, len(lives))


def avg_watch_time(a: Activity, ctx: Context) -> Decimal | None:
    lives = _lives(a, ctx)
    return _ratio(sum(s.watch_seconds for s in lives), sum(s.viewers for s in lives))


def interaction_rate(a: Activity, ctx: Context) -> Decimal | None:
    lives = _lives(a, ctx)
    return _ratio(sum(s.interactions for s in lives), sum(s.viewers for s in lives))


def _posts(a: Activity, ctx: Context) -> list:
    return [p for p in a.posts if ctx.happened(p.published_at)]


def videos_published(a: Activity, ctx: Context) -> Decimal:
    return Decimal(len(_posts(a, ctx)))


def video_views(a: Activity, ctx: Context) -> Decimal:
    return Decimal(sum(p.views for p in _posts(a, ctx)))


def add_to_cart_rate(a: Activity, ctx: Context) -> Decimal | None:
    posts = _posts(a, ctx)
    return _ratio(sum(p.add_to_cart for p in posts), sum(p.views for p in posts))


def new_followers(a: Activity, ctx: Context) -> Decimal:
    return Decimal(sum(s.new_followers for s in _lives(a, ctx)) + sum(p.new_followers for p in _posts(a, ctx)))


def _launched(a: Activity, ctx: Context) -> list:
    return [p for p in a.products if ctx.day_reached(p.launched_on)]


def _units_sold_by_product(a: Activity, ctx: Context) -> dict[int, int]:
    sold: dict[int, int] = {}
    for o in kept_orders(a, ctx):
        for line in o.lines:
            sold[line.product_id] = sold.get(line.product_id, 0) + line.units
    for p in a.product_sums:
        if ctx.happened(p.moment):
            sold[p.product_id] = sold.get(p.product_id, 0) + p.units
    return sold


def new_product_sell_through(a: Activity, ctx: Context) -> Decimal | None:
    launched = _launched(a, ctx)
    sold = _units_sold_by_product(a, ctx)
    units_sold = sum(min(sold.get(p.product_id, 0), p.units_received) for p in launched)
    return _ratio(units_sold, sum(p.units_received for p in launched))


def new_sku_hit_rate(a: Activity, ctx: Context) -> Decimal | None:
    launched = _launched(a, ctx)
    sold = _units_sold_by_product(a, ctx)
    hits = sum(1 for p in launched if sold.get(p.product_id, 0) >= ctx.rules.new_sku_hit_units)
    return _ratio(hits, len(launched))


def inventory_turnover_days(a: Activity, ctx: Context) -> Decimal | None:
    counts = [i.units_on_hand for i in a.inventory if ctx.day_reached(i.day)]
    days = ctx.elapsed_days()
    units_sold = sum(k.units for k in kept_view(a, ctx))
    if not counts or days == 0 or units_sold == 0:
        return None
    average_stock = Decimal(sum(counts)) / len(counts)
    return average_stock / (Decimal(units_sold) / days)


# Grow with the length of the window without adding up day by day: a day's or a week's value means nothing
# against a monthly target, so they are always measured over the month so far.
_MONTH_TO_DATE = frozenset({"new_product_sell_through", "new_sku_hit_rate"})

_READS: dict[str, str] = {
    "gmv": "orders", "net_gmv": "orders", "orders": "orders", "gross_profit": "orders lines",
    "new_customers": "orders buyers", "aov": "orders", "refund_rate": "orders",
    "return_rate": "orders", "roi": "ads", "cpc": "ads", "cost_per_visitor": "ads", "live_sessions": "lives",
    "gmv_per_live": "lives", "avg_watch_time": "lives", "interaction_rate": "lives", "videos_published": "posts",
    "video_views": "posts", "add_to_cart_rate": "posts", "new_followers": "lives posts",
    "new_product_sell_through": "products orders product_units",
    "new_sku_hit_rate": "products orders product_units",
    "inventory_turnover_days": "inventory orders",
}


# Indonesian names, as Indonesian e-commerce and live-commerce teams say them (tests/test_i18n.py checks
# every metric has a name in every language of scoring.languages.LANGS)
_INDONESIAN: dict[str, str] = {
    "gmv": "GMV (platform)", "net_gmv": "GMV bersih", "gross_profit": "Laba kotor",
    "new_customers": "Pelanggan baru", "orders": "Jumlah pesanan", "aov": "Rata-rata nilai pesanan",
    "refund_rate": "Tingkat refund", "return_rate": "Tingkat retur", "roi": "ROI", "cpc": "Biaya per klik (CPC)",
    "cost_per_visitor": "Biaya per pengunjung live", "live_sessions": "Sesi live",
    "gmv_per_live": "GMV per sesi live", "avg_watch_time": "Rata-rata durasi tonton",
    "interaction_rate": "Tingkat interaksi", "videos_published": "Video diunggah",
    "video_views": "Penayangan video", "add_to_cart_rate": "Tingkat tambah ke keranjang",
    "new_followers": "Pengikut baru", "new_product_sell_through": "Sell-through produk baru",
    "new_sku_hit_rate": "Tingkat SKU baru laris", "inventory_turnover_days": "Hari perputaran stok",
}


# RATIO metrics that are a share of a whole (at most 1). Not interaction_rate nor add_to_cart_rate: a live viewer
# likes and comments many times, a video's viewer may add several items, so both may pass 100 %.
_SHARES = frozenset({"refund_rate", "return_rate", "new_product_sell_through", "new_sku_hit_rate"})


def _m(key: str, en: str, zh: str, unit: Unit, lower: bool, cumulative: bool, definition: str,
       fn: Callable[[Activity, Context], Decimal | None]) -> Metric:
    names = {"en": en, "zh": zh, "id": _INDONESIAN[key]}
    return Metric(key, names, unit, lower, cumulative, " ".join(definition.split()), fn,
                  frozenset(_READS[key].split()), month_to_date=key in _MONTH_TO_DATE, share=key in _SHARES)


CATALOG: dict[str, Metric] = {m.key: m for m in (
    _m("gmv", "GMV (platform)", "平台GMV", Unit.MONEY, False, True,
       """Merchandise value (after seller and platform discounts, without shipping and tax) of all counted
       orders, including orders cancelled or refunded later. This is the number the platform shows.""", gmv),
    _m("net_gmv", "Net GMV", "实际GMV", Unit.MONEY, False, True,
       """Merchandise value of counted orders that were not cancelled, less the money refunded on them so far
       (each order's refunds are capped at its value) when [org] net_refunds is true. Each amount converts
       at the rate of the order's counting day.""", net_gmv),
    _m("gross_profit", "Gross profit", "毛利", Unit.MONEY, False, True,
       """Net GMV less the cost of the goods kept: each counted, not cancelled order's lines at their SKU's unit
       cost times quantity, scaled by the share of the order's units not returned by now (when [org]
       net_refunds is true, as the refunds are then taken off the revenue), converted at the rate of the
       order's counting day. A SKU without a known cost counts at zero cost.""", gross_profit),
    _m("new_customers", "New customers", "新客数", Unit.COUNT, False, True,
       """Counted, not cancelled orders that are their buyer's first paid, not cancelled order in any of the
       organisation's shops (buyers told apart by the platform's buyer id) and not refunded in full by now; a
       buyer counts once, with that first order.""",
       new_customers),
    _m("orders", "Orders", "订单数", Unit.COUNT, False, True,
       "Number of counted orders that were not cancelled.", orders),
    _m("aov", "Average order value", "客单价", Unit.MONEY, False, False,
       "Merchandise value of counted, not cancelled orders divided by their number.", average_order_value),
    _m("refund_rate", "Refund rate", "退款率", Unit.RATIO, True, False,
       """Money refunded so far on counted, not cancelled orders divided by their merchandise value; only
       orders counted at least [scoring] refund_maturity_days (14) before now, because refunds take days to
       arrive.""", refund_rate),
    _m("return_rate", "Return rate", "退货率", Unit.RATIO, True, False,
       """Units returned so far on counted, not cancelled orders divided by the units those orders sold; only
       orders counted at least [scoring] refund_maturity_days before now.""", return_rate),
    _m("roi", "ROI", "投产比ROI", Unit.RATIO, False, False,
       "GMV the ad platform attributes to the ads divided by ad spend, over ad days in the window.", roi),
    _m("cpc", "CPC", "点击成本CPC", Unit.MONEY, True, False,
       "Ad spend divided by ad clicks, over ad days in the window.", cpc),
    _m("cost_per_visitor", "Cost per live-room visitor", "直播间进人成本", Unit.MONEY, True, False,
       "Ad spend divided by the live-room visitors the ads brought, over ad days in the window.",
       cost_per_visitor),
    _m("live_sessions", "Live sessions", "直播场次", Unit.COUNT, False, True,
       "Live sessions that started in the window.", live_sessions),
    _m("gmv_per_live", "GMV per live session", "场均GMV", Unit.MONEY, False, False,
       """GMV the platform reports for the live sessions that started in the window, divided by their
       number; each session converts at the rate of its start day.""", gmv_per_live),
    _m("avg_watch_time", "Average watch time", "平均观看时长", Unit.SECONDS, False, False,
       "Seconds watched in those live sessions divided by their unique viewers.", avg_watch_time),
    _m("interaction_rate", "Interaction rate", "互动率", Unit.RATIO, False, False,
       "Likes, comments and shares in those live sessions divided by their unique viewers.",
       interaction_rate),
    _m("videos_published", "Videos published", "发布视频数", Unit.COUNT, False, True,
       "Videos published in the window.", videos_published),
    _m("video_views", "Video views", "视频播放量", Unit.COUNT, False, True,
       "Views so far of the videos published in the window.", video_views),
    _m("add_to_cart_rate", "Add-to-cart rate", "加购率", Unit.RATIO, False, False,
       "Add-to-carts from the videos published in the window divided by their views.", add_to_cart_rate),
    _m("new_followers", "New followers", "新增粉丝", Unit.COUNT, False, True,
       "Followers gained in the live sessions and from the videos of the window.", new_followers),
    _m("new_product_sell_through", "New-product sell-through", "新品动销率", Unit.RATIO, False, False,
       """Measured over the month so far: units of the products launched in the month sold in its counted, not
       cancelled orders, divided by the units received of those products (each product's sold units capped
       at its stock).""", new_product_sell_through),
    _m("new_sku_hit_rate", "New SKU hit rate", "新品爆款率", Unit.RATIO, False, False,
       """Measured over the month so far: share of the products launched in the month that sold at least
       [scoring] new_sku_hit_units units in its counted, not cancelled orders.""", new_sku_hit_rate),
    _m("inventory_turnover_days", "Inventory turnover days", "库存周转天数", Unit.DAYS, True, False,
       """Average units on hand over the inventory counts of the window divided by the average units sold per
       elapsed day in counted, not cancelled orders.""", inventory_turnover_days),
)}


def compute(key: str, activity: Activity, ctx: Context) -> Decimal | None:
    return CATALOG[key].compute(activity, ctx)


def lookup_metric(name: str) -> Metric | None:
    """A metric by its key or its name in any language, ignoring case, spaces and dashes."""
    def norm(text: str) -> str:
        return "".join(text.casefold().replace("-", "_").split())

    wanted = norm(name)
    return next((m for m in CATALOG.values() if wanted in {norm(m.key), *(norm(n) for n in m.names.values())}),
                None)

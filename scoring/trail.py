"""Why a score is what it is: each metric's trail (the facts behind its actual, their counts and largest items with
the exchange rate used, the target and its source, achievement, cap, weight and points) as plain data. Pure: the
service (services.why) hands in the very scorecard /mykpi shows and the facts it was computed from; cards.why_card
shows the result.

- Items behind a metric: the facts the metric reads, as it reads them (scoring.metrics): counted, not cancelled
  orders (an order-based level metric over refunds or returns: only those counted at least
  refund_maturity_days ago; platform GMV: every counted order, cancelled or not); live sessions and videos
  that started in the window; ad-spend days reached. The largest are ranked by their amount in the reporting
  currency (ties: the earlier first), at most `LARGEST` of them; a metric over live sessions that is no amount
  (watch time, interaction rate, followers) shows their count alone.
- Each amount converts at the rate of its own day (the UTC day of the counting moment; an ad day as reported),
  the rate's date being the day of the rate actually used (the latest on or before that day).
- Points: a metric's share of the score, weight x scored achievement x 100 / the weights of the metrics
  scored; the points of a scorecard add up to its score before rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from scoring.facts import Activity
from scoring.metrics import CATALOG, Context, Unit, counted_orders, counting_moment, kept_view, matured_orders
from scoring.score import LeftOut, MetricResult, Scorecard

LARGEST = 5
_MATURED = frozenset({"refund_rate", "return_rate"})
_COUNTS_ONLY = frozenset({"avg_watch_time", "interaction_rate", "new_followers"})   # no amount to rank items by


@dataclass(frozen=True, slots=True)
class Item:
    """One fact behind a metric: an order, a live session, an ad-spend day."""

    kind: str                    # order | live | ad
    fact_id: int | None          # the store's id (orders), for the service to name it by its platform id
    ref: str                     # the platform's id (the service fills it in); an ad day: the day
    at: datetime | date          # when it counts (an ad day: the day)
    amount: Decimal              # in its own currency
    currency: str
    rate: Decimal                # 1 `currency` = rate reporting currency (0: no rate, left out)
    rate_day: date | None        # the day of the rate used; None: no rate at all
    converted: Decimal           # amount x rate, in the reporting currency
    refunded: Decimal = Decimal(0)   # an order: refunded by now, in the reporting currency (capped at its value)


@dataclass(frozen=True, slots=True)
class TargetSource:
    kind: str                    # own (the member's own target) | imported (from a file) | typical (the SOP's,
    #                              in trial) | none
    detail: str = ""             # typical: the SOP's source; own: who set it (member code), when known;
    #                              imported: "FILE, YYYY-MM-DD"


@dataclass(frozen=True, slots=True)
class Adjustment:
    """What an approved appeal changed in a metric's month (the service fills these in from the store)."""

    kind: str                    # override | credit_order | exclude_order | add_session | credited_away
    appeal_id: int
    ref: str = ""                # an order's platform id, a session "shop start-end"
    value: Decimal | None = None     # override: the value set; credited_away: what the member lost (negative),
    #                                  None for a metric that is no amount
    measured: Decimal | None = None  # override: what the metric measures without it
    to: str = ""                 # credited_away: the member code the order was credited to


@dataclass(frozen=True, slots=True)
class MetricTrail:
    key: str
    unit: Unit
    actual: Decimal | None
    target: Decimal | None       # for the window
    target_source: TargetSource
    achievement: Decimal | None  # uncapped, as the card shows it
    scored: Decimal | None       # floored and capped; None: left out
    left_out: LeftOut | None
    cap: Decimal
    weight: Decimal
    points: Decimal | None       # share of the score (see module docstring)
    counts: tuple[tuple[str, int], ...]   # (what, how many): orders, cancelled, refunds, lives, videos, ad_days, ...
    largest: tuple[Item, ...]
    expected: Decimal | None = None       # a cumulative metric: the target x the share of the window passed
    adjustments: tuple[Adjustment, ...] = ()   # approved appeals' changes to this metric's month


@dataclass(frozen=True, slots=True)
class CommissionTrail:
    plan: str
    version: str                 # the month the plan version is in force from (effective_from)
    basis: str                   # the basis metric's key
    currency: str
    basis_amount: Decimal        # in the plan's currency (a count for new customers)
    tier_from: Decimal           # the threshold of the tier reached
    rate: Decimal
    earned: Decimal
    clawbacks: tuple[tuple[str, Decimal, str], ...]   # (closed month, amount, its currency)
    clawback: Decimal            # their total in the plan's currency
    payable: Decimal
    # a paid month (kpibot month close): what its payout paid, and the corrections appeals booked beside it since;
    # what is still due is then payable less both (0 unless something changed that no appeal booked)
    paid: Decimal | None = None
    paid_on: date | None = None
    corrections: tuple[tuple[int | None, date, Decimal], ...] = ()   # (appeal id, day, amount)


@dataclass(frozen=True, slots=True)
class Why:
    name: str
    code: str
    period: str                  # YYYY-MM
    tz: str                      # the member's period zone: local times are shown in it
    reporting: str               # the reporting currency
    counting: tuple[bool, bool]  # (counted at shipment, refunds netted)
    score: Decimal | None
    grade: str | None
    template: str
    metrics: tuple[MetricTrail, ...]
    commission: CommissionTrail | None = None
    closed_on: date | None = None  # the month is closed (kpibot month close): the trail is as of then, final

    def metric(self, key: str) -> MetricTrail:
        return next(m for m in self.metrics if m.key == key)


def points(results: tuple[MetricResult, ...]) -> dict[str, Decimal | None]:
    """Each metric's points (module docstring); None for a metric left out."""
    weights = sum((r.weight for r in results if r.scored is not None), Decimal(0))
    return {r.metric.key: (r.weight * r.scored * 100 / weights if r.scored is not None and weights else None)
            for r in results}


def _rate_day(ctx: Context, currency: str, day: date) -> tuple[Decimal, date]:
    """The rate of `day` and, for now, `day` itself: _ranked finds the day of the rate used for the items shown
    only (a look-up that walks the rates, once per row shown rather than per order)."""
    return ctx.fx.factor(currency, ctx.rules.reporting_currency, day), day


def _ranked(items: list[Item], ctx: Context) -> tuple[Item, ...]:
    top = sorted(items, key=lambda i: (-i.converted, i.at if isinstance(i.at, datetime) else
                                       datetime(i.at.year, i.at.month, i.at.day, tzinfo=UTC)))[:LARGEST]
    to = ctx.rules.reporting_currency
    return tuple(replace(i, rate_day=ctx.fx.as_of(i.currency, to, i.rate_day) if i.rate_day else None) for i in top)


def behind(key: str, activity: Activity, ctx: Context) -> tuple[tuple[tuple[str, int], ...], tuple[Item, ...]]:
    """(counts, the largest items) behind metric `key` in `ctx` (module docstring)."""
    reads = CATALOG[key].reads
    if "orders" in reads and not reads & {"products", "inventory"}:
        return _orders_behind(key, activity, ctx)
    if "ads" in reads:
        ads = [a for a in activity.ads if ctx.day_reached(a.day)]
        items = []
        for a in ads:
            rate, day = _rate_day(ctx, a.currency, a.day)
            items.append(Item("ad", None, a.day.isoformat(), a.day, a.spend, a.currency, rate, day, a.spend * rate))
        return (("ad_days", len({a.day for a in ads})),), _ranked(items, ctx)
    counts: list[tuple[str, int]] = []
    largest: tuple[Item, ...] = ()
    if "lives" in reads and key in _COUNTS_ONLY:
        counts.append(("lives", sum(1 for s in activity.lives if ctx.happened(s.started_at))))
    elif "lives" in reads:
        lives = [s for s in activity.lives if ctx.happened(s.started_at)]
        counts.append(("lives", len(lives)))
        items = []
        for s in lives:
            rate, day = _rate_day(ctx, s.currency, s.started_at.astimezone(UTC).date())
            items.append(Item("live", None, "", s.started_at, s.gmv, s.currency, rate, day, s.gmv * rate))
        largest = _ranked(items, ctx)
    if "posts" in reads:
        counts.append(("videos", sum(1 for p in activity.posts if ctx.happened(p.published_at))))
    if "products" in reads:
        counts.append(("products", sum(1 for p in activity.products if ctx.day_reached(p.launched_on))))
    if "inventory" in reads:
        counts.append(("inventory_counts", sum(1 for i in activity.inventory if ctx.day_reached(i.day))))
    if reads & {"products", "inventory"}:
        counts.append(("orders", sum(k.count for k in kept_view(activity, ctx))))
    return tuple(counts), largest


def _orders_behind(key: str, activity: Activity, ctx: Context) -> tuple[tuple[tuple[str, int], ...],
                                                                          tuple[Item, ...]]:
    kept = matured_orders(activity, ctx) if key in _MATURED else kept_view(activity, ctx)
    counted = list(counted_orders(activity, ctx))
    cancelled = sum(1 for o in counted if ctx.until_now(o.cancelled_at))
    refunds = sum(1 for k in kept for r in k.order.refunds if ctx.until_now(r.at))
    items = []
    if key == "gmv":   # platform GMV: every counted order, cancelled ones too
        for o in counted:
            moment = counting_moment(o, ctx.rules)
            assert moment is not None
            rate, day = _rate_day(ctx, o.currency, moment.astimezone(UTC).date())
            items.append(Item("order", o.order_id, "", moment, o.merchandise, o.currency, rate, day,
                              o.merchandise * rate))
    else:
        for k in kept:
            rate, day = _rate_day(ctx, k.order.currency, k.moment.astimezone(UTC).date())
            items.append(Item("order", k.order.order_id, "", k.moment, k.order.merchandise, k.order.currency, rate,
                              day, k.value, k.refunded))
    return (("orders", sum(k.count for k in kept)), ("cancelled", cancelled), ("refunds", refunds)), _ranked(items, ctx)


def trail(card: Scorecard, activity: Activity, ctx: Context, sources: dict[str, TargetSource],
          cap: Decimal) -> tuple[MetricTrail, ...]:
    """Every metric of `card` (a month's: the metrics measured over the month so far read the same window) with
    what is behind it."""
    shares = points(card.results)
    out = []
    for r in card.results:
        m = r.metric
        counts, largest = behind(m.key, activity, ctx)
        out.append(MetricTrail(m.key, m.unit, r.actual, r.target, sources.get(m.key, TargetSource("none")),
                               r.achievement, r.scored, r.left_out, cap, r.weight, shares[m.key], counts, largest,
                               r.expected))
    return tuple(out)

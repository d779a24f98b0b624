"""Daily series for charts: one pass splits the activity by local day, then each day is computed alone.

Only meaningful for cumulative metrics, whose window value is the sum of their daily values.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal

from scoring.facts import Activity
from scoring.metrics import CATALOG, Context, counting_moment
from scoring.periods import PeriodKind, Window


def split_by_day(activity: Activity, ctx: Context) -> dict[date, Activity]:
    w = ctx.window
    buckets: dict[date, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for o in activity.orders:
        moment = counting_moment(o, ctx.rules)
        if moment is not None:
            buckets[w.local_day(moment)]["orders"].append(o)
    for sums in activity.order_sums:
        buckets[w.local_day(sums.moment)]["order_sums"].append(sums)
    for p in activity.product_sums:
        buckets[w.local_day(p.moment)]["product_sums"].append(p)
    for s in activity.lives:
        buckets[w.local_day(s.started_at)]["lives"].append(s)
    for post in activity.posts:
        buckets[w.local_day(post.published_at)]["posts"].append(post)
    for a in activity.ads:
        buckets[a.day]["ads"].append(a)
    return {
        day: Activity(**{k: tuple(v) for k, v in parts.items()}, products=activity.products,
                      inventory=activity.inventory)
        for day, parts in buckets.items()
    }


def cumulative_series(key: str, activity: Activity, ctx: Context) -> list[Decimal | None]:
    """Cumulative value at the end of each day of the window; None for days after `now`."""
    metric = CATALOG[key]
    if not metric.cumulative:
        raise ValueError(f"{key} is not cumulative")
    by_day = split_by_day(activity, ctx)
    today = ctx.window.local_day(ctx.now)
    running = Decimal(0)
    out: list[Decimal | None] = []
    for day in ctx.window.days():
        if day > today:
            out.append(None)
            continue
        day_activity = by_day.get(day)
        if day_activity is not None:
            day_ctx = replace(ctx, window=Window(PeriodKind.DAY, day, day, ctx.window.tz))
            running += metric.compute(day_activity, day_ctx) or Decimal(0)
        out.append(running)
    return out

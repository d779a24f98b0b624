"""The once-a-shop-day rule of the product catalogues (TikTok Shop, Shopee), in one place.

A catalogue is listed whole (a stock change need not move a product's update time), which costs hundreds of
calls for a big shop, and the sync runs every 30 minutes: it is listed at most once a shop-local day. The sync's
cursor remembers the day without any change to the sync: the listing's pages give the listing's time as their
high water, kept `PRODUCTS_DAY_MARGIN` before its day's end, so the next run's ``since`` (that high water less
the sync's overlap, 10 minutes: storage.ingest.sync) plus the margin still falls on the day listed. A run whose
``since`` so falls on today lists nothing; a backfill's earlier ``since`` (or none) lists again; a resumed
listing always continues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# must be at least the sync's overlap (10 minutes)
PRODUCTS_DAY_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class DailyListing:
    """A catalogue listing fetched at ``fetched`` (aware, in the shop's zone)."""

    fetched: datetime

    @classmethod
    def at(cls, now: datetime, tz: ZoneInfo) -> DailyListing:
        return cls(now.astimezone(tz))

    @property
    def day(self) -> date:
        """The shop-local day of the fetch: the day its stock is what the platform has."""
        return self.fetched.date()

    @property
    def high_water(self) -> datetime:
        """The listing's time (UTC) for its pages, kept `PRODUCTS_DAY_MARGIN` before its day's end."""
        end_of_day = datetime.combine(self.day + timedelta(days=1), time.min, self.fetched.tzinfo)
        return min(self.fetched, end_of_day - PRODUCTS_DAY_MARGIN).astimezone(UTC)

    def done_by(self, since: datetime | None, resuming: bool) -> bool:
        """Whether a run from ``since`` finds the day listed already (then it asks nothing)."""
        if resuming or since is None:
            return False
        return (since + PRODUCTS_DAY_MARGIN).astimezone(self.fetched.tzinfo).date() >= self.day

"""The tests' one clock. Every expectation that depends on "now" or "today" takes its instant from here, never
from the wall clock, so the suite passes on every day of the year. CI proves it by running the suite again
with the system clock moved by libfaketime (scripts/test-at.sh; see README, Running the tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime

DEMO_TODAY = date(2026, 11, 22)
DEMO_NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)   # 20:00 in Shanghai, 04:00 in Los Angeles
DEMO_MIDNIGHT = datetime(2026, 11, 22, tzinfo=UTC)      # the last UTC midnight before DEMO_NOW

"""The process's Prometheus metrics, in one place: adapters, jobs and the scheduler call the small functions
below, and bot.ops serves `render()` at /metrics.

The metrics live in a private CollectorRegistry (not prometheus_client's global one), so that tests that build
many adapters in one interpreter never register a name twice; `reset()` gives a fresh registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# chat answers: a second is good, Feishu and DingTalk users give up after about ten
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.handled = Counter("kpibot_messages_handled", "Chat messages answered (or rightly left unanswered: "
                               "not for the bot)", ["platform"], registry=r)
        # reason: unsent (the reply's retries ran out), busy (the store was away), error (an exception)
        self.failed = Counter("kpibot_messages_failed", "Chat messages that got no real answer", ["platform", "reason"],
                              registry=r)
        self.duplicates = Counter("kpibot_messages_duplicate", "Redeliveries of messages already answered or in hand",
                                  ["platform"], registry=r)
        self.latency = Histogram("kpibot_answer_latency_seconds", "From taking a message to its answer sent",
                                 ["platform"], buckets=LATENCY_BUCKETS, registry=r)
        self.api_errors = Counter("kpibot_platform_api_errors", "Chat platform API calls that failed",
                                  ["platform"], registry=r)
        self.throttles = Counter("kpibot_platform_throttles", "Chat platform API calls answered with a rate limit",
                                 ["platform"], registry=r)
        self.reconnects = Counter("kpibot_watchdog_reconnects", "Deaf chat connections reconnected by the watchdog",
                                  ["platform"], registry=r)
        self.sync_records = Counter("kpibot_sync_records", "Shop records written by the refresh", registry=r)
        self.sync_failures = Counter("kpibot_sync_failures", "Shop syncs of the refresh that failed", registry=r)
        self.digests = Counter("kpibot_digests_sent", "Scheduled digests sent", registry=r)
        self.job_lag = Gauge("kpibot_job_lag_seconds", "How late the last run of each scheduled job started",
                             ["job"], registry=r)


_current = Metrics()


def reset() -> Metrics:
    """A fresh set of metrics for this process (a test's own)."""
    global _current
    _current = Metrics()
    return _current


def current() -> Metrics:
    return _current


FAIL_REASONS = ("unsent", "busy", "error")


def message_handled(platform: str, seconds: float | None) -> None:
    """A message answered (its latency observed) or one with nothing to answer (`seconds` None)."""
    _current.handled.labels(platform).inc()
    if seconds is not None:
        _current.latency.labels(platform).observe(seconds)


def message_failed(platform: str, reason: str = "error") -> None:
    _current.failed.labels(platform, reason if reason in FAIL_REASONS else "error").inc()


def message_duplicate(platform: str) -> None:
    _current.duplicates.labels(platform).inc()


def api_error(platform: str, throttled: bool = False) -> None:
    _current.api_errors.labels(platform).inc()
    if throttled:
        _current.throttles.labels(platform).inc()


def reconnected(platform: str) -> None:
    _current.reconnects.labels(platform).inc()


def synced(records: int, failed: int) -> None:
    _current.sync_records.inc(records)
    _current.sync_failures.inc(failed)


def digest_sent() -> None:
    _current.digests.inc()


def job_lag(job: str, seconds: float) -> None:
    _current.job_lag.labels(job).set(max(seconds, 0.0))


def render() -> bytes:
    return generate_latest(_current.registry)

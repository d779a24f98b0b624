"""What every shop API client shares: its one retry loop (tenacity: exponential backoff with jitter), the
SourceError of a call that got no answer, and a filter that keeps secrets out of httpx's request log.

httpx logs every request URL at INFO. Shop APIs put signatures, access tokens and sometimes app secrets in
the query string (TikTok's sign and refresh call, Shopee's access_token and sign), so the query is dropped
from those log records. Importing this module installs the filter once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import httpx
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from storage.ingest.records import FailureKind, SourceError

T = TypeVar("T")

def with_backoff(what: str, call: Callable[[], T], attempts: int = 5, backoff_s: float = 0.5,
                 max_wait_s: float = 30.0) -> T:
    """Run `call`, retrying retryable SourceErrors with exponential backoff; re-raises the last error.
    A TOKEN_EXPIRED error is retried too: the call itself must refresh before its next attempt."""
    try:
        for tried in Retrying(retry=retry_if_exception(lambda e: isinstance(e, SourceError) and e.retryable),
                              stop=stop_after_attempt(attempts),
                              wait=wait_exponential_jitter(multiplier=backoff_s, max=max_wait_s, jitter=backoff_s),
                              reraise=True):
            with tried:
                return call()
    except RetryError as exc:  # pragma: no cover - reraise=True re-raises the error itself
        raise exc.last_attempt.exception() from None  # type: ignore[misc]
    raise AssertionError("unreachable")


def transport_error(what: str, exc: httpx.HTTPError) -> SourceError:
    """The SourceError of a call that got no HTTP answer: retryable; named by the exception's type only (its
    text may hold a signed URL); `unreachable` when no connection could be made."""
    text = "timed out" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
    return SourceError(FailureKind.SERVER, f"{what}: {text}",
                       unreachable=isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout))


class RedactQuery(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(a.copy_with(query=None) if isinstance(a, httpx.URL) and a.query else a
                                for a in record.args)
        return True


def install() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactQuery) for f in httpx_log.filters):
        httpx_log.addFilter(RedactQuery())


install()

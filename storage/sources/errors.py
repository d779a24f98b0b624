"""How a source reports failure, and its one retry loop (tenacity: exponential backoff with jitter)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

import httpx
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger(__name__)
T = TypeVar("T")


class FailureKind(StrEnum):
    RATE_LIMITED = "rate_limited"    # HTTP 429 or a platform throttling code: wait and retry
    SERVER = "server"                # 5xx, timeouts, transport errors, malformed JSON: retry
    TOKEN_EXPIRED = "token_expired"  # refresh the token, then retry
    AUTH = "auth"                    # bad credentials, revoked or missing scope: a person must act
    REQUEST = "request"              # the platform refused the request as malformed: a bug, do not retry


RETRYABLE = frozenset({FailureKind.RATE_LIMITED, FailureKind.SERVER, FailureKind.TOKEN_EXPIRED})


class SourceError(Exception):
    """A failed call to a shop API. `code` is the platform's own code or HTTP status, for the log; the
    message never holds a secret (no tokens, no signed URLs). `unreachable`: no connection to the platform
    could be made at all (refused, no route, DNS, connect timeout), so its other calls would fail alike."""

    def __init__(self, kind: FailureKind, message: str, code: str | int | None = None,
                 retry_after_s: float | None = None, unreachable: bool = False) -> None:
        super().__init__(f"{kind}: {message}" + (f" (code {code})" if code is not None else ""))
        self.kind, self.message, self.code, self.retry_after_s = kind, message, code, retry_after_s
        self.unreachable = unreachable

    def __reduce__(self) -> tuple[type[SourceError], tuple[FailureKind, str, str | int | None, float | None, bool]]:
        """Pickled whole (a source in its own process raises it in the sync's: storage.sources.fetch_process)."""
        return type(self), (self.kind, self.message, self.code, self.retry_after_s, self.unreachable)

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


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

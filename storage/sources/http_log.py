"""Keeps secrets out of httpx's request log.

httpx logs every request URL at INFO. Shop APIs put signatures, access tokens and sometimes app secrets in
the query string (TikTok's sign and refresh call, Shopee's access_token and sign), so the query is dropped
from those log records. Every source module imports this module, which installs the filter once.
"""

from __future__ import annotations

import logging

import httpx


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

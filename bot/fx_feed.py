"""The European Central Bank's euro foreign exchange reference rates: the daily feed (eurofxref-daily.xml, the
latest working day) and its 90-day history (eurofxref-hist-90d.xml), one XML format:

    <gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
                     xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
      <Cube><Cube time="2024-06-28"><Cube currency="USD" rate="1.0705"/>...</Cube>...</Cube>
    </gesmes:Envelope>

Each rate says 1 EUR = rate X on that day; they are returned as published (base EUR), as Decimal parsed from the
attribute text (never a float). No rate is published on weekends and TARGET holidays: scoring.fx uses the latest
earlier one. Fetched with httpx, retried with tenacity's backoff (bot.shops.http.with_backoff).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal, InvalidOperation

import httpx

from bot.shops.http import transport_error, with_backoff
from scoring.fx import FxRate
from storage.ingest.records import FailureKind, SourceError

NS = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
BASE = "EUR"


class FeedError(ValueError):
    """The answer is not the ECB's rate format; the message says what is wrong."""


def parse_ecb(xml: str | bytes) -> list[FxRate]:
    """Every (day, EUR, currency, rate) in an ECB eurofxref document, oldest day first."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise FeedError(f"not XML: {exc}") from None
    if not root.tag.endswith("}Envelope"):
        raise FeedError(f"not an ECB rates document (root {root.tag!r})")
    rates: list[FxRate] = []
    for day_cube in root.iter(f"{NS}Cube"):
        when = day_cube.get("time")
        if when is None:
            continue
        try:
            day = date.fromisoformat(when)
        except ValueError:
            raise FeedError(f"bad day {when!r}") from None
        for cube in day_cube.findall(f"{NS}Cube"):
            currency, text = cube.get("currency"), cube.get("rate")
            if not currency or text is None:
                raise FeedError(f"{when}: a rate without currency or value")
            try:
                rate = Decimal(text)
            except InvalidOperation:
                raise FeedError(f"{when} {currency}: rate {text!r} is not a number") from None
            if not rate.is_finite() or rate <= 0:
                raise FeedError(f"{when} {currency}: rate {text!r} is not positive")
            rates.append(FxRate(day, BASE, currency.strip().upper(), rate))
    if not rates:
        raise FeedError("no rates in the document")
    return sorted(rates, key=lambda r: (r.day, r.quote))


def fetch_ecb(url: str, *, attempts: int = 4, backoff_s: float = 1.0, timeout_s: float = 20.0) -> list[FxRate]:
    """GET `url` and parse it; a server error or no answer is retried with backoff, a 4xx is not."""
    what = "ECB rates"

    def call() -> bytes:
        try:
            with httpx.Client(timeout=timeout_s, follow_redirects=True) as client:
                response = client.get(url)
        except httpx.HTTPError as exc:
            raise transport_error(what, exc) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise SourceError(FailureKind.SERVER, f"{what}: HTTP {response.status_code}", code=response.status_code)
        if response.status_code != 200:
            raise SourceError(FailureKind.REQUEST, f"{what}: HTTP {response.status_code}", code=response.status_code)
        return response.content

    return parse_ecb(with_backoff(what, call, attempts=attempts, backoff_s=backoff_s))

"""A fake of the European Central Bank's euro reference-rate feed for `bot.fx_feed`.

Serves ``GET /stats/eurofxref/eurofxref-daily.xml`` (the newest day) and ``.../eurofxref-hist-90d.xml`` (every
day, newest first, as the ECB lists them) in the ECB's own format: a ``gesmes:Envelope`` with a ``Cube`` per day
holding ``<Cube currency='USD' rate='1.0705'/>`` per currency (single quotes and tabs, as published). Any other
path answers 404. ``days`` maps each day to {currency: rate text}; ``fail_next(n)`` answers HTTP 503 n times.
Every request is recorded in ``calls``.
"""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web

from tests.fakes.server import FakeServer, RecordedCall

DAILY = "/stats/eurofxref/eurofxref-daily.xml"
HIST_90D = "/stats/eurofxref/eurofxref-hist-90d.xml"


def ecb_xml(days: dict[date, dict[str, str]]) -> str:
    """The document the ECB serves for `days` (newest day first)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n'
             '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
             'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">\n'
             '\t<gesmes:subject>Reference rates</gesmes:subject>\n'
             '\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n'
             '\t<Cube>\n']
    for day in sorted(days, reverse=True):
        parts.append(f"\t\t<Cube time='{day.isoformat()}'>\n")
        parts.extend(f"\t\t\t<Cube currency='{c}' rate='{r}'/>\n" for c, r in days[day].items())
        parts.append("\t\t</Cube>\n")
    parts.append("\t</Cube>\n</gesmes:Envelope>\n")
    return "".join(parts)


class FakeEcb(FakeServer):
    def __init__(self, days: dict[date, dict[str, str]]) -> None:
        super().__init__()
        self.days = days
        self.calls: list[RecordedCall] = []
        self._failures = 0

    @property
    def daily_url(self) -> str:
        return self.base_url + DAILY

    @property
    def history_url(self) -> str:
        return self.base_url + HIST_90D

    def fail_next(self, n: int) -> None:
        self._failures = n

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(RecordedCall(request.method, request.path, dict(request.query), dict(request.headers)))
        if self._failures > 0:
            self._failures -= 1
            return web.Response(status=503, text="Service Unavailable")
        if request.method != "GET" or request.path not in (DAILY, HIST_90D):
            return web.Response(status=404, text="Not Found")
        newest = max(self.days)   # the real history holds about the last 90 days only
        days = {d: v for d, v in self.days.items() if d >= newest - timedelta(days=90)} if request.path == HIST_90D \
            else {newest: self.days[newest]}
        return web.Response(body=ecb_xml(days).encode(), content_type="text/xml")

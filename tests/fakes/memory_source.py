"""A tiny in-process Source for the sync tests: pages over given records, with faults on demand.

Records that carry an update time (orders, returns, affiliate lines) are filtered to the window
[since, until) and sorted by (update time, id); the others are always listed. A resume token names the
window and the next page, so a token reused with another window is refused (as platform page tokens are).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from storage.ingest.records import AffiliateRecord, FailureKind, OrderRecord, Page, Record, ReturnRecord, SourceError


class SimulatedCrash(BaseException):
    """Stands for kill -9 between two pages: a BaseException, so no `except Exception` handles it."""


@dataclass(frozen=True, slots=True)
class Call:
    resource: str
    since: datetime | None
    until: datetime
    resume: str | None


def _updated(record: Record) -> datetime | None:
    return record.updated_at if isinstance(record, OrderRecord | ReturnRecord | AffiliateRecord) else None


def _key(record: Record) -> str:
    for name in ("platform_order_id", "platform_session_id", "platform_post_id", "campaign_id"):
        if hasattr(record, name):
            return str(getattr(record, name))
    return ""


@dataclass
class MemorySource:
    """`data` maps a resource to all its records (tests may change it between runs). `faults` maps a resource
    to (page index, exception) pairs, each raised once, instead of yielding that page; `stop_after` maps a
    resource to a page count after which the listing just ends, once, although the last page promised more;
    `down`, when set, is raised by every call (a shop whose API stays down)."""

    data: dict[str, list[Record]]
    page_size: int = 2
    faults: dict[str, list[tuple[int, BaseException]]] = field(default_factory=dict)
    stop_after: dict[str, int] = field(default_factory=dict)
    down: SourceError | None = None
    calls: list[Call] = field(default_factory=list)
    closed: bool = False

    @property
    def resources(self) -> tuple[str, ...]:
        return tuple(self.data)

    def pages(self, resource: str, since: datetime | None, until: datetime,
              resume: str | None = None) -> Iterator[Page]:
        self.calls.append(Call(resource, since, until, resume))
        if self.down is not None:
            raise self.down
        window = f"{since.isoformat() if since else '-'}/{until.isoformat()}"
        start = 0
        if resume is not None:
            token_window, _, index = resume.rpartition("#")
            if token_window != window:
                raise SourceError(FailureKind.REQUEST, "page token does not belong to this query", code=400)
            start = int(index)
        records = [r for r in self.data.get(resource, [])
                   if (t := _updated(r)) is None or ((since is None or t >= since) and t < until)]
        records.sort(key=lambda r: (_updated(r) or until, _key(r)))
        pages = max(1, -(-len(records) // self.page_size))
        for index in range(start, pages):
            if self.stop_after.get(resource) == index - start:
                del self.stop_after[resource]
                return
            for fault in list(self.faults.get(resource, [])):
                if fault[0] == index:
                    self.faults[resource].remove(fault)
                    raise fault[1]
            chunk = records[index * self.page_size:(index + 1) * self.page_size]
            times = [t for r in chunk if (t := _updated(r)) is not None]
            yield Page(resource, chunk, resume=f"{window}#{index + 1}" if index + 1 < pages else None,
                       high_water=max(times) if times else None)

    def close(self) -> None:
        self.closed = True

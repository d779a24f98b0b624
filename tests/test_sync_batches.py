"""Several pages per transaction (sync_shop's batch_pages / batch_s), and the writer's fast paths that must give
exactly what the generic ones give: datetime binding, minor units, statement sizes."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from scoring.money import to_minor
from storage.engine import make_engine
from storage.ingest.encoding import MinorUnits, OrderEncoder
from storage.ingest.heap import frozen_heap
from storage.ingest.records import FailureKind, OrderStatus, Record, SourceError
from storage.ingest.sync import sync_shop
from storage.ingest.writer import (
    ORDER_UPSERT,
    Bulk,
    StoreWriter,
    WriteCounts,
    WriteTransaction,
    _chunk_sizes,
    _stage_name,
)
from storage.migrate import upgrade
from storage.models import Order, SyncCursor
from storage.types import UTCDateTime
from tests.conftest import fresh_engine
from tests.fakes.memory_source import MemorySource, SimulatedCrash
from tests.test_sync_writer import NOW, T0, _order, _shops, _snapshot

# 8 orders, 2 a page: 4 pages; order i: updated T0 + i hours, 17.50 USD of goods, 3 units
BY_PAGES = 3600.0   # batch_s for tests of batch shapes: batches end by page count, never by a slow machine's clock
ORDERS = [_order(f"O{i}", T0 + timedelta(hours=i)) for i in range(8)]


def _source(**kwargs: object) -> MemorySource:
    return MemorySource({"orders": list(ORDERS)}, page_size=2, **kwargs)  # type: ignore[arg-type]


class _Prefetched(MemorySource):
    """A source whose next page is always fetched already (as a prefetching client's usually is)."""

    def page_ready(self, wait_s: float) -> bool:
        return True


def _stored(engine: Engine, shop_id: int) -> tuple[int, int, int]:
    """(orders, merchandiseMinorUnits, units) of one shop."""
    with engine.connect() as c:
        row = c.execute(select(func.count(), func.coalesce(func.sum(Order.merchandise_minor), 0),
                               func.coalesce(func.sum(Order.units), 0)).where(Order.shop_id == shop_id)).one()
    return int(row[0]), int(row[1]), int(row[2])


def _cursor(engine: Engine, shop_id: int) -> SyncCursor:
    with Session(engine) as s:
        return s.execute(select(SyncCursor).where(SyncCursor.shop_id == shop_id,
                                                  SyncCursor.resource == "orders")).scalar_one()


class CountingWriter(StoreWriter):
    """Records the writes of each transaction (`writes`: records per write, per transaction; `sizes`: records
    per transaction); `crash_on` (1-based) raises SimulatedCrash at the end of that transaction, after its rows
    and its cursor were written, so everything of that batch must roll back."""

    def __init__(self, engine: Engine, crash_on: int | None = None) -> None:
        super().__init__(engine)
        self.crash_on, self.writes = crash_on, []

    @property
    def sizes(self) -> list[int]:
        return [sum(writes) for writes in self.writes]

    @contextmanager
    def transaction(self) -> Iterator[WriteTransaction]:
        writes: list[int] = []
        self.writes.append(writes)
        crash = len(self.writes) == self.crash_on
        with super().transaction() as txn:
            write = txn.write

            def counted(shop_id: int, records: Sequence[Record]) -> WriteCounts:
                writes.append(len(records))
                return write(shop_id, records)

            txn.write = counted  # type: ignore[method-assign]
            yield txn
            if crash:
                raise SimulatedCrash


def test_pages_are_written_several_per_transaction_with_progress_per_page(engine: Engine) -> None:
    (shop,) = _shops(engine, 1)
    writer, progress = CountingWriter(engine), []
    report = sync_shop(engine, shop, _source(), ["orders"], NOW, writer=writer, batch_s=BY_PAGES, batch_pages=3,
                       progress=lambda *a: progress.append(a))
    assert report.ok and report.counts == WriteCounts(inserted=8)
    assert writer.writes == [[6], [2]]   # pages 1-3 in one transaction, page 4 (the last) in another
    assert progress == [("orders", 1, 2), ("orders", 2, 4), ("orders", 3, 6), ("orders", 4, 8)]
    assert (report.resources[0].pages, report.resources[0].records) == (4, 8)
    assert _stored(engine, shop) == (8, 8 * 1750, 8 * 3)
    assert _cursor(engine, shop).high_water == T0 + timedelta(hours=7)


def test_pages_are_written_as_they_come_inside_the_open_transaction(engine: Engine) -> None:
    (shop,) = _shops(engine, 1)
    writer = CountingWriter(engine)
    source = _Prefetched({"orders": list(ORDERS)}, page_size=2)
    report = sync_shop(engine, shop, source, ["orders"], NOW, writer=writer, batch_s=BY_PAGES,
                       batch_pages=3, write_pages=2)
    assert report.ok and report.counts == WriteCounts(inserted=8)
    assert writer.writes == [[4, 2], [2]]   # pages 1+2, then 3 at the commit; page 4 (the last) on its own
    assert _stored(engine, shop) == (8, 8 * 1750, 8 * 3)


def test_a_batch_waits_at_most_batch_s_for_its_commit(engine: Engine) -> None:
    (shop,) = _shops(engine, 1)
    writer = CountingWriter(engine)
    assert sync_shop(engine, shop, _source(), ["orders"], NOW, writer=writer, batch_pages=20, batch_s=0.0).ok
    assert writer.sizes == [2, 2, 2, 2]   # every page is already "old enough": one transaction each


def test_a_crash_inside_a_batch_loses_only_that_batch_and_the_restart_refetches_it(engine: Engine) -> None:
    straight, crashed = _shops(engine)
    assert sync_shop(engine, straight, _source(), ["orders"], NOW, batch_pages=2).ok
    # killed inside the second transaction (pages 3 and 4): its rows and its cursor roll back together
    with pytest.raises(SimulatedCrash):
        sync_shop(engine, crashed, _source(), ["orders"], NOW, writer=CountingWriter(engine, crash_on=2),
                  batch_pages=2)
    assert _stored(engine, crashed) == (4, 4 * 1750, 4 * 3)   # O0 .. O3: the first batch, nothing of the second
    stopped = _cursor(engine, crashed)
    assert (stopped.cursor, stopped.run_until, stopped.high_water) == (f"-/{NOW.isoformat()}#2", NOW, None)
    restart, writer = _source(), CountingWriter(engine)
    report = sync_shop(engine, crashed, restart, ["orders"], NOW + timedelta(hours=1), writer=writer,
                       batch_s=BY_PAGES, batch_pages=2)
    assert report.ok and report.resources[0].resumed
    assert restart.calls[0].resume == f"-/{NOW.isoformat()}#2"   # pages 3 and 4 fetched again, and only those
    # pages 3 and 4, then the catch-up to the new `now` from high water - overlap (O7 again, unchanged)
    assert writer.sizes == [4, 1] and report.counts == WriteCounts(inserted=4, unchanged=1)
    assert _snapshot(engine, crashed) == _snapshot(engine, straight)
    assert _stored(engine, crashed) == (8, 8 * 1750, 8 * 3)
    assert _cursor(engine, crashed).high_water == T0 + timedelta(hours=7)


def test_a_source_error_inside_a_batch_keeps_the_pages_fetched_before_it(engine: Engine) -> None:
    (shop,) = _shops(engine, 1)
    writer = CountingWriter(engine)
    source = _source(faults={"orders": [(3, SourceError(FailureKind.SERVER, "502"))]})
    report = sync_shop(engine, shop, source, ["orders"], NOW, writer=writer, batch_s=BY_PAGES, batch_pages=20)
    assert report.failed == ["orders"] and report.resources[0].pages == 3
    assert writer.sizes == [6]   # pages 1-3, written with the cursor after page 3 before the error is reported
    assert _stored(engine, shop) == (6, 6 * 1750, 6 * 3)
    cursor = _cursor(engine, shop)
    assert (cursor.cursor, cursor.failures, cursor.high_water) == (f"-/{NOW.isoformat()}#3", 1, None)
    again = sync_shop(engine, shop, _source(), ["orders"], NOW, batch_pages=20)
    assert again.ok and again.counts == WriteCounts(inserted=2)
    assert _stored(engine, shop) == (8, 8 * 1750, 8 * 3)


def test_a_resync_in_batches_changes_nothing(engine: Engine) -> None:
    (shop,) = _shops(engine, 1)
    assert sync_shop(engine, shop, _source(), ["orders"], NOW, batch_pages=3).ok
    before = _snapshot(engine, shop)
    again = sync_shop(engine, shop, _source(), ["orders"], NOW, since=T0, batch_pages=3)
    assert again.counts == WriteCounts(unchanged=8)
    assert _snapshot(engine, shop) == before


def test_a_backfill_from_a_later_day_still_fetches_what_the_store_lacks_before_it(engine: Engine) -> None:
    """The store holds orders up to O1 (high water O1's time); a backfill `since` O6's time must fetch O2 to O5
    too, or the high water would jump past them for good."""
    (shop,) = _shops(engine, 1)
    first = MemorySource({"orders": ORDERS[:2]}, page_size=2)
    assert sync_shop(engine, shop, first, ["orders"], T0 + timedelta(hours=2), overlap=timedelta(0)).ok
    assert _cursor(engine, shop).high_water == T0 + timedelta(hours=1)
    source = _source()
    report = sync_shop(engine, shop, source, ["orders"], NOW, overlap=timedelta(0), since=T0 + timedelta(hours=6))
    assert report.ok and report.counts == WriteCounts(inserted=6, unchanged=1)
    assert source.calls[0].since == T0 + timedelta(hours=1)   # from the high water, not from the later day
    assert _stored(engine, shop) == (8, 8 * 1750, 8 * 3)
    assert _cursor(engine, shop).high_water == T0 + timedelta(hours=7)


# --- the writer's fast paths ---------------------------------------------------------------------------------------

TIMES = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=UTC),
         datetime(999, 12, 31, 23, 0, 1, 5, tzinfo=UTC), datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")),
         datetime(2026, 7, 1, 8, tzinfo=ZoneInfo("America/Los_Angeles")),
         datetime(2026, 7, 1, 8, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=5, minutes=30))),
         datetime(2026, 7, 1, 8, tzinfo=ZoneInfo("UTC"))]


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()], ids=["sqlite", "postgresql"])
def test_the_fast_datetime_binding_gives_what_the_column_type_gives(dialect: object) -> None:
    bulk = Bulk(dialect)  # type: ignore[arg-type]
    column = UTCDateTime()
    fast = bulk._processor(column)
    generic = column.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[arg-type]
    assert fast is not None and generic is not None and fast is not generic
    for value in TIMES:
        assert fast(value) == generic(value), value
    with pytest.raises(ValueError, match="naive datetime"):
        fast(datetime(2026, 1, 1))


def test_the_fast_sqlite_datetime_text_matches_the_column_type_across_days_and_seconds() -> None:
    """The SQLite text is joined from remembered pieces (day, hour and minute, second); every piece, a day's first
    and last second, years 1 and 9999 and times with microseconds give the column type's own text."""
    dialect = sqlite.dialect()
    fast = Bulk(dialect)._processor(UTCDateTime())
    generic = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert fast is not None and generic is not None
    start = datetime(2026, 2, 27, 23, 0, tzinfo=UTC)
    times = [start + timedelta(seconds=s) for s in range(0, 3 * 86_400, 59)]   # every second and minute value
    times += [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
              datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
              datetime(2024, 2, 29, 12, 0, 7, tzinfo=ZoneInfo("Asia/Shanghai"))]
    for value in times:
        assert fast(value) == generic(value), value
    assert fast(datetime(2026, 3, 1, 0, 0, 59, tzinfo=UTC)) == "2026-03-01 00:00:59.000000"
    assert fast(datetime(2024, 2, 29, 12, 0, 7, tzinfo=ZoneInfo("Asia/Shanghai"))) == "2024-02-29 04:00:07.000000"


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
def test_a_time_bound_from_unix_seconds_is_the_time_bound_from_its_datetime(postgres: bool) -> None:
    """OrderEncoder.encode_epoch (TikTok's Unix seconds, encoded without a datetime on SQLite and by adding to the
    epoch on PostgreSQL) equals encode_datetime of the same time, and datetime_of turns it back: across days and
    seconds, before 1970, a leap day and years 1 and 9999."""
    encoder = OrderEncoder(postgres, "tiktok_shop")
    edges = [0, -1, 86_399, 86_400, 951_782_400 + 86_399, 1_763_899_199, 1_763_899_200, -62_135_596_800,
             253_402_300_799]
    for seconds in [*range(1_763_800_000, 1_763_800_000 + 2 * 86_400, 61), *edges]:
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
        encoded = encoder.encode_epoch(seconds)
        assert encoded == encoder.encode_datetime(at), seconds
        assert encoder.datetime_of(encoded) == at
    assert encoder.encode_epoch(951_868_799) == ("2000-02-29 23:59:59.000000" if not postgres else
                                             datetime(2000, 2, 29, 23, 59, 59))


def test_remembered_minor_units_equal_to_minor_and_a_finer_amount_is_refused_every_time() -> None:
    units = MinorUnits("USD")
    for text in ("0", "0.01", "12.34", "12.340", "1999.99", "-5.00", "100"):
        assert units[D(text)] == to_minor(D(text), "USD")
        assert units[D(text)] == to_minor(D(text), "USD")   # from the cache
    assert len(units) == 6   # 12.34 and 12.340 are one amount
    assert MinorUnits("JPY")[D("1500")] == 1500
    for _ in range(2):
        with pytest.raises(ValueError, match="decimal places"):
            units[D("1.005")]
    assert D("1.005") not in units


def test_statement_sizes_cover_the_rows_in_few_distinct_sizes() -> None:
    assert list(_chunk_sizes(3243, 1000)) == [1000, 1000, 1000, 128, 64, 32, 16, 2, 1]
    assert list(_chunk_sizes(0, 1000)) == []
    assert list(_chunk_sizes(7, 3)) == [3, 3, 1]
    sizes = {size for n in range(1, 5000) for size in _chunk_sizes(n, 1000)}
    assert sizes == {1000, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1}


def test_the_heap_before_a_sync_is_frozen_while_it_runs_and_given_back_after() -> None:
    gc.collect()
    assert gc.get_freeze_count() == 0
    # Counts are compared with a margin, not exactly: an object of the frozen heap that another thread (a
    # server of an earlier test winding down) frees leaves the count, so exact equality is not deterministic.
    # Freezing again would add the 10,000 lists made after the first freeze; ending would empty it.
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 1000   # this process's modules, at least
        made_after = [[] for _ in range(10_000)]
        with frozen_heap():   # a nested (or concurrent) sync shares it: the new lists are not frozen
            assert frozen - 1000 < gc.get_freeze_count() <= frozen
        assert frozen - 1000 < gc.get_freeze_count() <= frozen   # the inner one ending does not end it
        del made_after
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_for_life_stays_frozen_through_syncs_which_freeze_nothing_more(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`kpibot run` freezes its start-up heap for good (heap.freeze_for_life). A sync after that neither freezes
    what was made since (it would never be collected) nor gives the heap back (that would undo the freeze), and a
    freeze for life made while a sync runs outlives the sync."""
    from storage.ingest import heap

    monkeypatch.setattr(heap, "_for_life", False)
    try:
        heap.freeze_for_life()
        start_up = gc.get_freeze_count()
        assert start_up > 1000
        made_since = [[] for _ in range(10_000)]
        for _ in range(2):                                  # one sync after another, as a refresh's shops
            with frozen_heap():
                assert gc.get_freeze_count() <= start_up    # the lists made since are not frozen
            assert start_up - 1000 < gc.get_freeze_count() <= start_up   # nor given back
        del made_since
        gc.unfreeze()
        monkeypatch.setattr(heap, "_for_life", False)
        with frozen_heap():                                 # a sync running when `kpibot run` starts serving
            heap.freeze_for_life()
        assert gc.get_freeze_count() > 1000                 # its end leaves the freeze for life
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def test_a_sync_gives_the_heap_back_also_when_it_fails_or_is_interrupted(engine: Engine) -> None:
    (shop,) = _shops(engine, 1)
    failing = _source(faults={"orders": [(1, SourceError(FailureKind.SERVER, "502"))]})
    assert sync_shop(engine, shop, failing, ["orders"], NOW).failed == ["orders"]
    assert gc.get_freeze_count() == 0
    with pytest.raises(SimulatedCrash):
        sync_shop(engine, shop, _source(faults={"orders": [(1, SimulatedCrash())]}), ["orders"], NOW)
    assert gc.get_freeze_count() == 0


def test_the_open_transaction_is_committed_before_waiting_for_a_page_that_is_not_ready(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    upgrade(engine)
    shop, shop2 = _shops(engine, 2)
    free_when_asked: list[bool] = []   # could another writer write while the source was asked for a page?

    class Probing(MemorySource):
        def pages(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            for page in super().pages(*args, **kwargs):
                yield page
                other = sqlite3.connect(tmp_path / "lock.db", timeout=0)
                try:
                    other.execute("BEGIN IMMEDIATE")
                    other.execute("ROLLBACK")
                    free_when_asked.append(True)
                except sqlite3.OperationalError:   # database is locked
                    free_when_asked.append(False)
                finally:
                    other.close()

    writer = CountingWriter(engine)
    slow = Probing({"orders": list(ORDERS)}, page_size=2)
    assert sync_shop(engine, shop, slow, ["orders"], NOW, writer=writer, batch_s=BY_PAGES, batch_pages=20,
                     write_pages=1).ok
    # probed each time the sync asked for the next page (pages 2, 3 and 4): never while it held the lock
    assert writer.writes == [[2], [2], [2], [2]] and free_when_asked == [True, True, True]
    writer = CountingWriter(engine)
    fast = _Prefetched({"orders": list(ORDERS)}, page_size=2)
    assert sync_shop(engine, shop2, fast, ["orders"], NOW, writer=writer, batch_s=BY_PAGES, batch_pages=20,
                     write_pages=1).ok
    assert writer.writes == [[2, 2, 2, 2]]   # one transaction, written page by page
    assert _stored(engine, shop2) == _stored(engine, shop) == (8, 8 * 1750, 8 * 3)


@pytest.mark.postgres
def test_postgres_writes_stage_their_rows_per_transaction_and_leave_nothing_behind(tmp_path: Path) -> None:
    """Bulk writes on PostgreSQL COPY into a temporary staging table: emptied before each statement (a second write
    in the transaction, updating an order of the first, neither repeats nor collides), dropped at commit and at
    rollback, and made again by the next transaction on the same connection."""
    # one connection: its temporary tables are visible
    engine = fresh_engine("postgres", tmp_path, pool_size=1, max_overflow=0)
    upgrade(engine)
    shop = _shops(engine, 1)[0]
    writer = StoreWriter(engine)
    stage = _stage_name(ORDER_UPSERT)
    exists = f"SELECT to_regclass('pg_temp.{stage}') IS NOT NULL"
    with writer.transaction() as txn:
        assert txn.write(shop, [_order("A1"), _order("A2")]) == WriteCounts(inserted=2)
        assert txn.write(shop, [_order("A2", T0 + timedelta(hours=1), status=OrderStatus.SHIPPED), _order("A3")]) \
            == WriteCounts(inserted=1, updated=1)
        assert txn.conn.exec_driver_sql(exists).scalar_one() is True
    with engine.connect() as conn:
        assert conn.exec_driver_sql(exists).scalar_one() is False
        assert conn.execute(select(Order.platform_order_id, Order.status).order_by(Order.platform_order_id)).all() \
            == [("A1", "paid"), ("A2", "shipped"), ("A3", "paid")]
    with pytest.raises(RuntimeError, match="boom"), writer.transaction() as txn:
        txn.write(shop, [_order("A4")])
        raise RuntimeError("boom")
    assert writer.write_page(shop, [_order("A5")]) == WriteCounts(inserted=1)
    with engine.connect() as conn:
        assert conn.exec_driver_sql(exists).scalar_one() is False
        assert conn.execute(select(func.count()).select_from(Order)).scalar_one() == 4   # A4 rolled back
    engine.dispose()

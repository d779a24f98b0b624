"""A source in a process of its own (storage.ingest.fetch_process.ProcessSource): it stores exactly what the same
source stores in the sync's process, its errors and logs reach the sync, and a source process that dies or is
left early loses nothing."""

from __future__ import annotations

import logging
import os
import pickle
import re
import signal
from datetime import UTC, timedelta
from functools import partial

import pytest
from sqlalchemy.engine import Engine

from bot.shop_sources import NoSource
from bot.shops.tiktok_shop import ORDERS_SEARCH, TikTokShopSource
from storage.ingest.encoding import OrderEncoder
from storage.ingest.fetch_process import ProcessSource
from storage.ingest.records import FailureKind, Record, SourceError
from storage.ingest.sync import sync_shop
from storage.ingest.writer import StoreWriter
from tests.fakes.memory_source import MemorySource
from tests.fakes.tiktok_shop import FakeTikTokShop
from tests.memory_tokens import MemoryTokens
from tests.process_sources import TalkativeSource, broken_factory, no_source
from tests.test_sync_to_store import TT_NOW, make_shops, nothing_written, store_totals, tiktok_expected, totals_of
from tests.test_sync_writer import NOW, T0, _order, _shops, _snapshot


def _data(orders: int = 9) -> dict[str, list[Record]]:
    return {"orders": [_order(f"A{i}", T0 + timedelta(hours=i)) for i in range(orders)]}


def test_pages_arrive_bound_and_store_what_the_records_store(engine: Engine) -> None:
    here, there = _shops(engine)
    data = _data()
    writer = StoreWriter(engine)
    in_process = sync_shop(engine, here, MemorySource(data), None, NOW, writer=writer)
    encoder = writer.encoder(there)
    with ProcessSource(partial(MemorySource, data), encoder) as source:
        assert source.resources == ("orders",)
        pages = list(source.pages("orders", None, NOW))
        assert [p.resume for p in pages] == [f"-/{NOW.isoformat()}#{i}" for i in range(1, 5)] + [None]
        assert [r for p in pages for r in p.records] == [encoder.encode(r) for r in data["orders"]]
        assert [p.high_water for p in pages] == [T0 + timedelta(hours=h) for h in (1, 3, 5, 7, 8)]
        by_process = sync_shop(engine, there, source, None, NOW, writer=writer)
    assert by_process.ok and in_process.ok
    assert (by_process.counts.inserted, by_process.resources[0].pages) == (9, 5)
    assert by_process.counts == in_process.counts
    assert _snapshot(engine, there) == _snapshot(engine, here)


def test_a_tiktok_sync_through_its_own_process_stores_the_seed_to_the_cent(engine: Engine) -> None:
    [shop] = make_shops(engine, "tiktok_shop", "USD")
    with FakeTikTokShop(seed=2, n_orders=200) as fake:
        factory = partial(TikTokShopSource, app_key=fake.app_key, app_secret=fake.app_secret,
                          tokens=MemoryTokens(fake.initial_tokens()), base_url=fake.base_url,
                          auth_base_url=fake.auth_base_url, currency="USD", shop_tz="America/Los_Angeles",
                          page_size=25, returns_page_size=20)
        writer = StoreWriter(engine)
        with ProcessSource(factory, writer.encoder(shop)) as source:
            assert source.resources == ("orders", "returns", "affiliate_orders", "lives", "products")
            first = sync_shop(engine, shop, source, None, TT_NOW, writer=writer)
            again = sync_shop(engine, shop, source, None, TT_NOW + timedelta(hours=1), writer=writer)
        expected = tiktok_expected(fake.expected_totals(None, TT_NOW))
    assert first.ok and first.counts.inserted == expected["orders"] + expected["refunds"] + \
        expected["affiliate_lines"] + expected["lives"]
    assert totals_of(engine, shop, expected) == expected
    assert nothing_written(again)


def test_a_killed_source_process_fails_the_resource_and_the_next_sync_resumes(engine: Engine) -> None:
    [shop] = make_shops(engine, "tiktok_shop", "USD")
    with FakeTikTokShop(seed=3, n_orders=200) as fake:
        def factory() -> partial[TikTokShopSource]:
            return partial(TikTokShopSource, app_key=fake.app_key, app_secret=fake.app_secret,
                           tokens=MemoryTokens(fake.initial_tokens()), base_url=fake.base_url,
                           auth_base_url=fake.auth_base_url, currency="USD", page_size=10)

        writer = StoreWriter(engine)
        fake.request_delay_s = 0.1   # a page at a time, so the process is killed mid-listing
        with ProcessSource(factory(), writer.encoder(shop)) as source:
            def kill_after_three_pages(_resource: str, pages: int, _records: int) -> None:
                if pages == 3:
                    os.kill(source.pid or 0, signal.SIGKILL)

            report = sync_shop(engine, shop, source, ["orders"], TT_NOW, writer=writer,
                               progress=kill_after_three_pages)
        [orders] = report.resources
        assert (orders.ok, orders.error_kind) == (False, "server")
        assert orders.error == "server: the source's process ended unexpectedly (exit code -9)"
        assert 3 <= orders.pages < 20 and store_totals(engine, shop)["orders"] == orders.records
        fake.request_delay_s = 0.0
        with ProcessSource(factory(), writer.encoder(shop)) as source:
            resumed = sync_shop(engine, shop, source, ["orders"], TT_NOW, writer=writer)
        expected = tiktok_expected(fake.expected_totals(None, TT_NOW))
        searches = len(fake.calls_to(ORDERS_SEARCH))
    assert resumed.ok and resumed.resources[0].resumed
    assert resumed.counts.inserted == expected["orders"] - orders.records
    order_totals = ("orders", "subtotal", "discount", "merchandise", "shipping", "tax", "total", "units")
    assert {k: v for k, v in totals_of(engine, shop, expected).items() if k in order_totals} == \
        {k: expected[k] for k in order_totals}
    assert searches <= 20 + 20 + 1   # each page at most twice (the killed run fetched ahead), not from the start again


def test_a_listing_left_early_is_stopped_there_and_the_next_one_starts_clean() -> None:
    data = _data()
    with ProcessSource(partial(MemorySource, data)) as source:
        assert source.page_ready(0) is False   # no listing yet
        listing = source.pages("orders", None, NOW)
        first = next(listing)
        with pytest.raises(RuntimeError, match="one listing at a time"):
            next(source.pages("orders", None, NOW))
        listing.close()
        again = list(source.pages("orders", None, NOW))
        assert source.page_ready(0.05) is False   # nothing left over from either listing
    assert [len(p.records) for p in again] == [2, 2, 2, 2, 1]
    assert again[0] == first and first.records == data["orders"][:2]   # no encoder: records as they are


def test_errors_in_the_source_process_reach_the_sync_after_the_pages_before_them(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    auth, unexpected = _shops(engine)
    revoked = SourceError(FailureKind.AUTH, "the seller revoked the app", code=105001)
    boom = RuntimeError("GET https://open-api.example/orders?access_token=SECRET-TOKEN: boom")
    writer = StoreWriter(engine)
    reports = {}
    caplog.set_level(logging.INFO)
    for shop, fault in ((auth, revoked), (unexpected, boom)):
        factory = partial(MemorySource, _data(), faults={"orders": [(2, fault)]})
        with ProcessSource(factory, writer.encoder(shop)) as source:
            reports[shop] = sync_shop(engine, shop, source, None, NOW, writer=writer).resources[0]
    assert (reports[auth].error, reports[auth].error_kind) == ("auth: the seller revoked the app (code 105001)", "auth")
    assert reports[unexpected].error_kind == "server"
    assert re.fullmatch(r"server: unexpected RuntimeError at memory_source\.py:\d+ in the source's process",
                        reports[unexpected].error or "")
    assert [(r.pages, r.records) for r in reports.values()] == [(2, 4), (2, 4)]
    assert [len(_snapshot(engine, shop)["orders"]) for shop in (auth, unexpected)] == [4, 4]
    failed = [r for r in caplog.records if r.name == "storage.ingest.fetch_process" and r.levelno == logging.ERROR]
    assert len(failed) == 1 and failed[0].process != os.getpid()   # logged by the source's process, handled here
    assert "SECRET" not in caplog.text


def test_a_source_error_crosses_to_the_sync_process_whole() -> None:
    """Every field, unreachable too (the sync then skips the shop's other resources), survives pickling."""
    for error in (SourceError(FailureKind.SERVER, "orders search: ConnectError", unreachable=True),
                  SourceError(FailureKind.RATE_LIMITED, "orders search: HTTP 429", 429, retry_after_s=2.5)):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), copy.kind, copy.message, copy.code, copy.retry_after_s, copy.unreachable, str(copy)) == \
            (SourceError, error.kind, error.message, error.code, error.retry_after_s, error.unreachable, str(error))
    assert [pickle.loads(pickle.dumps(e)).unreachable for e in (SourceError(FailureKind.SERVER, "x", unreachable=True),
                                                                SourceError(FailureKind.SERVER, "x"))] == [True, False]


def test_a_source_that_cannot_be_built_says_why_without_secrets() -> None:
    with pytest.raises(NoSource, match=r"^shop s1: no tokens stored; run: kpibot shops token s1 --tokens-stdin$"):
        ProcessSource(no_source)
    with pytest.raises(SourceError) as err:
        ProcessSource(broken_factory)
    assert err.value.kind == FailureKind.SERVER
    assert re.fullmatch(r"server: unexpected RuntimeError at process_sources\.py:\d+ in the source's process",
                        str(err.value))


def test_the_source_process_logs_through_this_process_at_its_levels(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with ProcessSource(partial(TalkativeSource, _data(3))) as source:
        pages = list(source.pages("orders", None, NOW))
    assert len(pages) == 2
    mine = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "tests.process_sources"]
    assert mine == [("WARNING", "listing orders from the start")]   # the debug line was never sent


def test_a_binder_travels_without_its_caches_and_never_shows_its_key() -> None:
    encoder = OrderEncoder(False, "tiktok_shop", b"buyer-secret")
    encoded = encoder.encode(_order())
    copy = pickle.loads(pickle.dumps(encoder))
    assert copy._minors == {} and copy._buyers == {} and encoder._minors != {} and encoder._buyers != {}
    assert copy.encode(_order()) == encoded
    assert repr(encoder) == "OrderEncoder(sqlite, 'tiktok_shop')" and "secret" not in repr(copy)
    assert encoded[1][-2] == OrderEncoder(False, "tiktok_shop", b"buyer-secret")._buyer("buyer-42")
    assert encoded[1][-2] != OrderEncoder(False, "tiktok_shop")._buyer("buyer-42")   # the key is used
    assert encoded[1][9] == "2026-11-10 08:00:00.000000" and OrderEncoder(True, "x").encode(_order())[1][9] == \
        T0.replace(tzinfo=None) and T0.tzinfo is UTC

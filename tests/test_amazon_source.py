"""AmazonSource against FakeAmazon: exact totals, incremental, LWA, faults, pacing per shop, resume."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import httpx
import pytest

from bot.shops.amazon import AmazonSource, TokenBucket
from scoring.facts import OrderFact
from scoring.metrics import counting_moment
from scoring.rules import CountOrdersAt, Rules
from storage.ingest.records import (
    FailureKind,
    OrderRecord,
    OrderStatus,
    Page,
    RefundKind,
    RefundRecord,
    RefundStatus,
    ReturnRecord,
    ShipmentRecord,
    SourceError,
)
from tests.fakes.amazon import FINANCES_PATH, LWA_PATH, ORDERS_PATH, FakeAmazon, iso
from tests.source_pages import orders_of, run

# The client's timeout: well above what a local answer takes on a loaded machine (0.3 s was not: a slow answer
# timed out, was asked again and changed the counted calls), well below a fault's held answer (2 s).
TIMEOUT_S = 1.0

EXPECTED_STATUS = {"Pending": OrderStatus.UNPAID, "Unshipped": OrderStatus.PAID,
                   "PartiallyShipped": OrderStatus.PAID, "Shipped": OrderStatus.SHIPPED,
                   "Canceled": OrderStatus.CANCELLED, "Unfulfillable": OrderStatus.CANCELLED}
SETTLED = timedelta(minutes=5)     # `until` must be older than Amazon's 2 minutes (the source asks for 3)


@pytest.fixture
def fake() -> Iterator[FakeAmazon]:
    with FakeAmazon(restore_per_s=20, hang_s=1.0) as server:
        yield server


def make_source(fake: FakeAmazon, **overrides: Any) -> AmazonSource:
    options: dict[str, Any] = {
        "client_id": fake.client_id, "client_secret": fake.client_secret, "refresh_token": fake.refresh_token,
        "marketplace_ids": [fake.marketplace_id], "currency": fake.currency, "endpoint": fake.base_url,
        "lwa_url": fake.lwa_url, "clock": fake.now, "burst": fake.burst,
        "rate_per_s": fake.restore_per_s * 0.9,   # a hair slower than the server: no 429 from timing jitter
        "attempts": 4, "backoff_s": 0.01, "max_wait_s": 0.05, "timeout_s": TIMEOUT_S}
    options.update(overrides)
    return AmazonSource(**options)


def assert_totals(records: list[OrderRecord], expected: dict[str, Any], items: bool = True) -> None:
    """The records add up to the seed; ``items=False``: synced without getOrderItems (OrderTotal is all)."""
    ids = [r.platform_order_id for r in records]
    assert len(ids) == len(set(ids)) == expected["count"]
    assert sorted(ids) == expected["order_ids"]
    assert all(isinstance(r.merchandise, Decimal) for r in records)
    if not items:
        assert all(r.lines == () and r.merchandise == r.total for r in records)
        assert sum(r.total for r in records) * 100 == expected["total_minor"]
        return
    assert sum(r.merchandise for r in records) * 100 == expected["merchandise_minor"]
    assert sum(r.total for r in records) * 100 == expected["total_minor"]
    assert (sum(r.subtotal for r in records) * 100, sum(r.discount for r in records) * 100,
            sum(r.shipping for r in records) * 100, sum(r.tax for r in records) * 100) == \
        (expected["subtotal_minor"], expected["discount_minor"], expected["shipping_minor"], expected["tax_minor"])
    assert sum(len(r.lines) for r in records) == expected["lines"]
    assert sum(r.units for r in records) == expected["items"]
    assert sum(line.amount for r in records for line in r.lines) * 100 == expected["merchandise_minor"]
    by_status: Counter[OrderStatus] = Counter()
    for status, n in expected["by_status"].items():
        by_status[EXPECTED_STATUS[status]] += n
    assert Counter(r.status for r in records) == by_status


def lwa_token(fake: FakeAmazon) -> str:
    resp = httpx.post(fake.lwa_url, data={"grant_type": "refresh_token", "refresh_token": fake.refresh_token,
                                          "client_id": fake.client_id, "client_secret": fake.client_secret})
    assert resp.status_code == 200
    return str(resp.json()["access_token"])


def get_orders(fake: FakeAmazon, token: str | None, **params: Any) -> httpx.Response:
    headers = {"x-amz-access-token": token} if token else {}
    return httpx.get(fake.base_url + ORDERS_PATH, params=params, headers=headers)


# ---------------------------------------------------------------------- sync
def test_full_sync_equals_expected_totals_to_the_cent(fake: FakeAmazon) -> None:
    until = fake.now() - SETTLED
    pages = run(make_source(fake), None, until)
    records = orders_of(pages)
    assert_totals(records, fake.expected_totals(None, until))
    assert len(records) == 200 and pages[-1].resume is None
    assert {r.currency for r in records} == {"USD"}
    calls = fake.calls_to(ORDERS_PATH)
    assert len(calls) == 2 and len(fake.calls_to(LWA_PATH)) == 1      # the LWA token is cached
    first = calls[0].query
    assert first["MarketplaceIds"] == fake.marketplace_id and first["MaxResultsPerPage"] == "100"
    assert first["LastUpdatedAfter"] == iso(int((until - timedelta(days=90)).timestamp()))
    assert first["LastUpdatedBefore"] == iso(int(until.timestamp()))
    assert "CreatedAfter" not in first
    assert set(calls[1].query) == {"MarketplaceIds", "MaxResultsPerPage", "NextToken"}


def test_refund_events_become_completed_refunds_of_the_goods(fake: FakeAmazon) -> None:
    """listFinancialEvents' RefundEventList, paged: one completed refund per event, Principal only (the Tax
    adjustment and the fee are not merchandise), at the posted time."""
    until = fake.now() - SETTLED
    src = make_source(fake, page_size=50)   # refund and shipment events share the pages (4 calls)
    try:
        pages = list(src.pages("returns", None, until))
    finally:
        src.close()
    found = [r for p in pages for r in p.records if isinstance(r, ReturnRecord)]
    assert pages[-1].resume is None
    assert len(fake.calls_to(FINANCES_PATH)) == len(pages) > 1
    expected = fake.expected_refunds(until)
    assert expected == {"count": 20, "principal_minor": 94536}
    refunds = [r.refund for r in found]  # type: ignore[union-attr]
    assert len({r.platform_refund_id for r in refunds}) == len(refunds) == expected["count"]
    assert sum(r.amount for r in refunds) * 100 == expected["principal_minor"]
    first = min(fake.refunds, key=lambda r: (r.posted_s, r.order_id))
    posted = datetime.fromtimestamp(first.posted_s, UTC)
    assert found[0] == ReturnRecord(first.order_id, RefundRecord(
        f"{first.order_id}@{first.posted_s}:{first.item_id}", RefundKind.REFUND, RefundStatus.COMPLETED, "USD",
        Decimal(first.principal_minor) / 100, posted, posted, 0), posted)


def test_shipment_events_give_the_earliest_shipped_time_and_count_on_that_day(fake: FakeAmazon) -> None:
    """ShipmentEventList (the same listFinancialEvents pages): one ShipmentRecord per order and page, the
    earliest posted time; an order shipped in two parts is shipped at its first shipment, and with orders counted
    at shipment an Amazon order counts on that day, not on its purchase day."""
    until = fake.now() - SETTLED
    src = make_source(fake, page_size=50)
    try:
        pages = list(src.pages("returns", None, until))
        orders = {r.platform_order_id: r for r in orders_of(run(make_source(fake), None, until))}
    finally:
        src.close()
    shipments = [r for p in pages for r in p.records if isinstance(r, ShipmentRecord)]
    assert (len(pages), len(shipments)) == (4, 130)   # 6 two-part orders have their parts on two pages
    first: dict[str, datetime] = {}
    for r in shipments:
        assert r.updated_at == r.shipped_at
        first[r.platform_order_id] = min(r.shipped_at, first.get(r.platform_order_id, r.shipped_at))
    assert len(first) == 124 == len(fake.order_ids("Shipped")) + len(fake.order_ids("PartiallyShipped"))
    assert first == {oid: datetime.fromtimestamp(s, UTC) for oid, s in fake.expected_shipped(until).items()}
    # two items shipped apart: purchased 10-20 11:03:45, first part posted 18:25:13, the rest 10-21 01:46:42
    assert first["111-2004844-8800396"] == datetime(2026, 10, 20, 18, 25, 13, tzinfo=UTC)
    assert fake.orders["111-2004844-8800396"].update_s == int(datetime(2026, 10, 21, 1, 46, 42, tzinfo=UTC).timestamp())

    def counted_on(day: date, at: CountOrdersAt) -> list[str]:
        rules = Rules(count_orders_at=at)
        facts = {oid: OrderFact(0, r.currency, r.merchandise, r.units, r.created_at, r.paid_at, first.get(oid),
                                r.cancelled_at) for oid, r in orders.items()}
        return sorted(oid for oid, f in facts.items()
                      if (m := counting_moment(f, rules)) is not None and m.date() == day)

    shipped_day = counted_on(date(2026, 11, 15), CountOrdersAt.SHIPPED)
    paid_day = counted_on(date(2026, 11, 15), CountOrdersAt.PAID)
    assert (len(shipped_day), len(paid_day), len(set(shipped_day) & set(paid_day))) == (5, 2, 1)


def test_order_items_give_lines_units_and_goods_only_merchandise(fake: FakeAmazon) -> None:
    """getOrderItems: one line per item (ItemPrice less PromotionDiscount), shipping and tax apart from the
    merchandise, OrderTotal still the total; one call per order."""
    until = fake.now() - SETTLED
    records = {r.platform_order_id: r for r in orders_of(run(make_source(fake), None, until))}
    e = fake.expected_totals(None, until)
    assert (e["total_minor"], e["merchandise_minor"], e["subtotal_minor"], e["discount_minor"], e["shipping_minor"],
            e["tax_minor"], e["lines"], e["items"]) == (2094506, 1981802, 2030978, 49176, 26946, 85758, 269, 471)
    assert len(fake.items_calls()) == len(records) == 200
    order = next(o for o in fake.orders.values()
                 if o.shows_total and len(o.lines) == 2 and any(i.promo_minor for i in o.lines)
                 and o.lines[0].shipping_minor and o.lines[0].tax_minor)
    record = records[order.order_id]
    cents = Decimal("0.01")
    assert [(line.platform_line_id, line.platform_product_id, line.quantity, line.amount, line.seller_sku)
            for line in record.lines] == \
        [(i.item_id, i.asin, i.quantity, i.goods_minor * cents, i.sku) for i in order.lines]
    assert (record.subtotal, record.discount, record.merchandise, record.shipping, record.tax, record.total) == (
        sum(i.price_minor for i in order.lines) * cents, sum(i.promo_minor for i in order.lines) * cents,
        sum(i.goods_minor for i in order.lines) * cents, 499 * cents, sum(i.tax_minor for i in order.lines) * cents,
        order.total_minor * cents)
    assert record.merchandise + record.shipping + record.tax == record.total
    assert record.units == order.items


def test_an_order_without_total_counts_zero_and_is_unpaid(fake: FakeAmazon) -> None:
    records = {r.platform_order_id: r for r in orders_of(run(make_source(fake), None, fake.now() - SETTLED))}
    pending = records[fake.order_ids("Pending")[0]]
    assert pending.merchandise == pending.total == Decimal(0) and pending.currency == "USD"
    assert pending.status is OrderStatus.UNPAID and pending.paid_at is None
    shipped_id = fake.order_ids("Shipped")[0]
    shipped, seeded = records[shipped_id], fake.orders[shipped_id]
    assert shipped.total * 100 == seeded.total_minor and shipped.paid_at == shipped.created_at
    assert shipped.shipped_at is None   # getOrders has no shipment time: the finances give it (bot/shops/amazon.py)
    assert shipped.updated_at.timestamp() == seeded.update_s and shipped.created_at.timestamp() == seeded.purchase_s


def test_incremental_sync_fetches_only_the_changed_orders(fake: FakeAmazon) -> None:
    t0 = fake.now() - SETTLED
    assert len(orders_of(run(make_source(fake), None, t0))) == 200
    fake.advance(3600)
    changed = fake.order_ids("Unshipped")[:3]
    for order_id in changed:
        fake.update_order(order_id, "Shipped")
    until = fake.advance(600) - SETTLED
    fake.reset_calls()
    records = orders_of(run(make_source(fake), t0, until))
    assert sorted(r.platform_order_id for r in records) == changed
    assert {r.status for r in records} == {OrderStatus.SHIPPED}
    assert [(c.query["LastUpdatedAfter"], c.query["LastUpdatedBefore"]) for c in fake.calls_to(ORDERS_PATH)] == \
        [(iso(int(t0.timestamp())), iso(int(until.timestamp())))]


def test_until_is_held_back_until_amazon_has_settled(fake: FakeAmazon) -> None:
    since = fake.now() - timedelta(days=1)
    run(make_source(fake), since, fake.now() - timedelta(minutes=1))
    # the source asks for 3 minutes back (Amazon serves updates older than 2), not the 1 asked of it
    assert [c.query["LastUpdatedBefore"] for c in fake.calls_to(ORDERS_PATH)][:1] == [
        iso(int((fake.now() - timedelta(minutes=3)).timestamp()))]


def test_the_fake_checks_the_parameters(fake: FakeAmazon) -> None:
    token = lwa_token(fake)
    after = iso(int((fake.now() - timedelta(days=1)).timestamp()))
    good = {"MarketplaceIds": fake.marketplace_id, "LastUpdatedAfter": after}
    assert get_orders(fake, token, **good).status_code == 200

    def refused(params: dict[str, Any], token_: str | None = token) -> tuple[int, str]:
        resp = get_orders(fake, token_, **params)
        return resp.status_code, resp.json()["errors"][0]["code"]

    assert refused({"LastUpdatedAfter": after}) == (400, "InvalidInput")
    assert refused({**good, "CreatedAfter": after}) == (400, "InvalidInput")
    assert refused({"MarketplaceIds": fake.marketplace_id}) == (400, "InvalidInput")
    assert refused({**good, "MaxResultsPerPage": 101}) == (400, "InvalidInput")
    assert refused({**good, "MaxResultsPerPage": 0}) == (400, "InvalidInput")
    assert refused({**good, "LastUpdatedBefore": iso(int(fake.now().timestamp()) - 60)}) == (400, "InvalidInput")
    assert refused(good, None) == (403, "Unauthorized")
    assert refused(good, "Atza|forged") == (403, "Unauthorized")


# ---------------------------------------------------------------------- LWA
def test_a_wrong_client_secret_is_rejected(fake: FakeAmazon) -> None:
    with pytest.raises(SourceError) as err:
        run(make_source(fake, client_secret="wrong-secret"), None, fake.now() - SETTLED)
    assert err.value.kind is FailureKind.AUTH and err.value.code == "invalid_client"
    assert "wrong-secret" not in str(err.value)
    assert [(c.path, c.status, c.error) for c in fake.calls] == [(LWA_PATH, 401, "invalid_client")]
    resp = httpx.post(fake.lwa_url, data={"grant_type": "refresh_token", "refresh_token": fake.refresh_token,
                                          "client_id": fake.client_id, "client_secret": "nope"})
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def test_the_access_token_is_cached_then_renewed_before_expiry(fake: FakeAmazon) -> None:
    source = make_source(fake)
    until = fake.now() - SETTLED
    list(source.pages("orders", None, until))
    list(source.pages("orders", None, until))
    assert fake.tokens_issued == 1
    fake.advance(3600 - 120)                 # 2 min left, inside the 5 min margin
    list(source.pages("orders", None, until))
    source.close()
    assert fake.tokens_issued == 2
    assert all(c.status == 200 for c in fake.calls)
    assert [c.path for c in fake.calls if not c.path.endswith("/orderItems")][-3:] == \
        [LWA_PATH, ORDERS_PATH, ORDERS_PATH]


def test_an_expired_access_token_is_renewed_and_the_call_retried(fake: FakeAmazon) -> None:
    source = make_source(fake)
    until = fake.now() - SETTLED
    list(source.pages("orders", None, until))
    fake.expire_access_tokens()
    fake.reset_calls()
    assert_totals(orders_of(run(source, None, until)), fake.expected_totals(None, until))
    assert [(c.path, c.status) for c in fake.calls[:3]] == [(ORDERS_PATH, 403), (LWA_PATH, 200), (ORDERS_PATH, 200)]


# ---------------------------------------------------------------------- faults
@pytest.mark.parametrize(("kind", "times"), [("http429", 2), ("http5xx", 2), ("expired", 1), ("timeout", 1),
                                             ("malformed", 2)])
def test_each_fault_is_retried_then_succeeds(fake: FakeAmazon, kind: str, times: int) -> None:
    fake.fail_next(times, kind)
    until = fake.now() - SETTLED
    assert_totals(orders_of(run(make_source(fake), None, until)), fake.expected_totals(None, until))
    assert [c.fault for c in fake.calls if c.fault] == [kind] * times
    assert fake.tokens_issued == (2 if kind == "expired" else 1)


@pytest.mark.parametrize(("kind", "expected", "calls"), [
    ("http429", FailureKind.RATE_LIMITED, 3), ("http5xx", FailureKind.SERVER, 3),
    ("timeout", FailureKind.SERVER, 3), ("malformed", FailureKind.SERVER, 3),
    ("expired", FailureKind.AUTH, 2),     # a new token refused as well: the authorization is wrong
])
def test_persistent_failure_raises_the_right_kind(fake: FakeAmazon, kind: str, expected: FailureKind,
                                                  calls: int) -> None:
    fake.fail_next(100, kind)
    with pytest.raises(SourceError) as err:
        run(make_source(fake, attempts=3), None, fake.now() - SETTLED)
    assert err.value.kind is expected
    assert len(fake.calls_to(ORDERS_PATH)) == calls


def test_random_faults_still_add_up() -> None:
    with FakeAmazon(restore_per_s=50, fault_rate=0.3, fault_seed=5) as fake:
        until = fake.now() - SETTLED
        records = orders_of(run(make_source(fake, attempts=8, page_size=20), None, until))
        assert_totals(records, fake.expected_totals(None, until))
        assert sum(1 for c in fake.calls if c.fault) >= 3


# ---------------------------------------------------------------------- rate
def test_the_fake_bucket_is_the_published_one() -> None:
    with FakeAmazon() as fake:
        assert (fake.burst, fake.restore_per_s) == (20, 0.0167)
        token = lwa_token(fake)
        params = {"MarketplaceIds": fake.marketplace_id,
                  "LastUpdatedAfter": iso(int((fake.now() - timedelta(days=1)).timestamp()))}
        assert [get_orders(fake, token, **params).status_code for _ in range(20)] == [200] * 20
        throttled = get_orders(fake, token, **params)
        assert throttled.status_code == 429
        assert throttled.headers["x-amzn-RateLimit-Limit"] == "0.0167"
        assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"


def test_pacing_bursts_then_keeps_to_the_restore_rate() -> None:
    with FakeAmazon(orders=300, restore_per_s=5) as fake:
        until = fake.now() - SETTLED
        records = orders_of(run(make_source(fake, page_size=10, order_items=False), None, until))
        assert_totals(records, fake.expected_totals(None, until), items=False)
        calls = fake.calls_to(ORDERS_PATH)
        assert len(calls) == 30 and all(c.status == 200 for c in calls)     # paced: never throttled
        at = [c.at for c in calls]
        assert at[19] - at[0] < 1.0                                         # the burst goes at once
        gaps = [b - a for a, b in pairwise(at[19:])]
        assert len(gaps) == 10 and all(g >= 0.15 for g in gaps[1:])         # then ~1 / (5 x 0.9) s apart
        assert at[-1] - at[0] >= 2.0                                         # 10 tokens at 4.5/s, less the burst's time


def test_a_429_empties_the_bucket_and_is_retried() -> None:
    with FakeAmazon(orders=300, restore_per_s=5) as fake:   # the client below believes in a bigger bucket
        until = fake.now() - SETTLED
        source = make_source(fake, page_size=10, burst=40, rate_per_s=10, attempts=10, backoff_s=0.05,
                             order_items=False)
        assert_totals(orders_of(run(source, None, until)), fake.expected_totals(None, until), items=False)
        statuses = Counter(c.status for c in fake.calls_to(ORDERS_PATH))
        assert statuses[200] == 30 and statuses[429] >= 1


def test_two_shops_do_not_block_each_other() -> None:
    # the slow shop (21 pages) is paced at one call every 4 s past its burst of 20: the other shop's one call, were it
    # held by the slow shop's bucket, would wait seconds; by itself it takes milliseconds, so the margin holds
    # on a loaded machine
    with FakeAmazon(orders=210, restore_per_s=0.25, seed=1) as slow, FakeAmazon(orders=50, seed=2) as other:
        slow_until, other_until = slow.now() - SETTLED, other.now() - SETTLED
        # getOrders pacing alone: getOrderItems has its own bucket per shop
        slow_source = make_source(slow, page_size=10, order_items=False)
        other_source = make_source(other, order_items=False)
        assert slow_source.bucket is not other_source.bucket
        assert make_source(slow).bucket is slow_source.bucket           # one shop, one bucket
        result: dict[str, list[Page]] = {}
        worker = threading.Thread(target=lambda: result.update(slow=run(slow_source, None, slow_until)))
        worker.start()
        deadline = time.monotonic() + 10
        while len(slow.calls_to(ORDERS_PATH)) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(slow.calls_to(ORDERS_PATH)) == 20                    # its burst used: its 21st page waits
        started = time.monotonic()
        other_records = orders_of(run(other_source, None, other_until))
        took = time.monotonic() - started
        assert worker.is_alive() and took < 2.0
        assert_totals(other_records, other.expected_totals(None, other_until), items=False)
        worker.join(30)
        assert_totals(orders_of(result["slow"]), slow.expected_totals(None, slow_until), items=False)


def test_the_client_bucket_reserves_in_order() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    bucket = TokenBucket(3, 2.0, clock=lambda: now[0], sleep=sleep)
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire() == pytest.approx(0.5)
    assert bucket.acquire() == pytest.approx(1.0)      # queued behind the previous reservation
    now[0] = 1.0
    assert bucket.acquire() == pytest.approx(0.5)
    now[0] = 10.0
    bucket.drain()
    assert bucket.acquire() == pytest.approx(0.5)      # after a 429 the next call waits a full interval
    assert slept == pytest.approx([0.5, 1.0, 0.5, 0.5])


# ---------------------------------------------------------------------- resume and logs
def test_a_restarted_run_resumes_after_the_last_page(fake: FakeAmazon) -> None:
    until = fake.now() - SETTLED
    full = run(make_source(fake, page_size=25), None, until)
    full_queries = [c.query for c in fake.calls_to(ORDERS_PATH)]
    assert len(full) == 8 and full[-1].resume is None
    everything = sorted(r.platform_order_id for r in orders_of(full))
    for k in (0, 2, 6):
        fake.reset_calls()
        resumed = run(make_source(fake, page_size=25), None, until, full[k].resume)
        assert [c.query for c in fake.calls_to(ORDERS_PATH)] == full_queries[k + 1:]
        ids = [r.platform_order_id for r in orders_of(full[:k + 1]) + orders_of(resumed)]
        assert sorted(ids) == everything
    with pytest.raises(SourceError) as err:
        run(make_source(fake), None, until, "garbage")
    assert err.value.kind is FailureKind.REQUEST


def test_logs_hold_no_secret(fake: FakeAmazon, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_next(1, "expired")
    run(make_source(fake), None, fake.now() - SETTLED)
    tokens = {c.headers.get("x-amz-access-token") for c in fake.calls_to(ORDERS_PATH)} - {None}
    assert tokens and caplog.records
    for secret in (fake.client_secret, fake.refresh_token, *tokens):
        assert secret and secret not in caplog.text

"""ShopifySource against the fake GraphQL Admin API: totals to the cent, incremental syncs, resume, throttling,
faults, and the exact mapping of discount codes, UTM visits, lines and refunds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

import bot.shops.shopify as shopify_mod
from bot.shops.shopify import PAGE_QUERY, ShopifySource
from storage.ingest.records import FailureKind, OrderRecord, OrderStatus, Page, RefundKind, SourceError, Visit
from tests.fakes.shopify import INVALID_TOKEN, FakeShopify

# The client's timeout: well above what a local answer takes on a loaded machine (0.3 s was not: a slow answer
# timed out, was asked again and changed the counted calls), well below a fault's held answer (2 s).
TIMEOUT_S = 1.0

FAR = datetime(2027, 1, 1, tzinfo=UTC)
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)     # the fake's clock (start + 40 days); seeded orders are older


class Sleeps:
    """A real sleep that remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(seed=7, orders=30, restore_rate=100_000.0) as server:
        yield server


def make_source(fake: FakeShopify, sleeps: Sleeps | None = None, token: str | None = None,
                **kw: Any) -> ShopifySource:
    return ShopifySource(fake.shop, token or fake.token, base_url=fake.base_url, backoff_s=0.01, max_wait_s=5.0,
                         sleep=sleeps or Sleeps(), **kw)


def orders(page: Page) -> list[OrderRecord]:
    assert all(isinstance(r, OrderRecord) for r in page.records)
    return [r for r in page.records if isinstance(r, OrderRecord)]


def sync(source: ShopifySource, since: datetime | None = None, until: datetime = FAR,
         resume: str | None = None) -> list[OrderRecord]:
    return [r for page in source.pages("orders", since, until, resume) for r in orders(page)]


def totals(records: list[OrderRecord]) -> dict[str, object]:
    return {
        "orders": len(records),
        "subtotal": sum((r.subtotal for r in records), Decimal(0)),
        "discount": sum((r.discount for r in records), Decimal(0)),
        "merchandise": sum((r.merchandise for r in records), Decimal(0)),
        "shipping": sum((r.shipping for r in records), Decimal(0)),
        "tax": sum((r.tax for r in records), Decimal(0)),
        "total": sum((r.total for r in records), Decimal(0)),
        "refunded": sum((f.amount for r in records for f in r.refunds), Decimal(0)),
        "refunds": sum(len(r.refunds) for r in records),
        "units": sum(r.units for r in records),
        "lines": sum(len(r.lines) for r in records),
        "cancelled": sum(1 for r in records if r.status is OrderStatus.CANCELLED),
        "with_codes": sum(1 for r in records if r.promo_codes),
    }


def test_full_sync_equals_the_seeded_totals_to_the_cent(fake: FakeShopify) -> None:
    source = make_source(fake)
    pages = list(source.pages("orders", None, FAR))
    records = [r for p in pages for r in orders(p)]
    assert totals(records) == fake.expected_totals()
    assert fake.expected_totals()["orders"] == 30 and fake.expected_totals()["refunds"] >= 7
    assert sorted(r.platform_order_id for r in records) == sorted(str(i) for i in fake.orders)
    # oldest update first, a resume token on every page but the last, high water = newest update in the page
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    assert [p.resume is None for p in pages] == [False] * (len(pages) - 1) + [True]
    assert all(p.high_water == max(r.updated_at for r in orders(p)) for p in pages)
    # the 13-line order and the 6-refund order were completed by the detail query, within the cost limit
    by_id = {r.platform_order_id: r for r in records}
    long_order, refunded = (fake.orders[k] for k in sorted(fake.orders)[3:6:2])
    assert len(by_id[str(long_order.id)].lines) == 13
    assert len(by_id[str(refunded.id)].refunds) == 6
    assert all(c.cost and c.cost["requestedQueryCost"] <= 1000 for c in fake.calls)
    assert sum("KpibotOrderDetail" in c.json["query"] for c in fake.calls) == 2
    source.close()


def test_incremental_sync_returns_exactly_the_changed_orders(fake: FakeShopify) -> None:
    source = make_source(fake)
    assert len(sync(source, None, T0)) == 30
    ids = sorted(fake.orders)
    paid = [i for i in ids if fake.orders[i].financial == "PAID" and not fake.orders[i].refunds]
    fake.now = T0 + timedelta(hours=1)
    fake.cancel_order(paid[0])
    line = fake.orders[paid[1]].lines[0]
    fake.refund_order(paid[1], line.unit_cents, lines=[(line.id, 1, "RETURN")])
    new = fake.add_order(lines=[("SKU-101", 1999, 2)], codes=["WELCOME10"], discount_percent=10)
    until = T0 + timedelta(hours=2)
    changed = sync(source, T0, until)
    assert sorted(r.platform_order_id for r in changed) == sorted(str(i) for i in (paid[0], paid[1], new))
    assert totals(changed) == fake.expected_totals(T0, until)
    by_id = {r.platform_order_id: r for r in changed}
    assert by_id[str(paid[0])].status is OrderStatus.CANCELLED
    assert by_id[str(paid[0])].refunds[-1].kind is RefundKind.CANCELLATION
    returned = by_id[str(paid[1])].refunds[-1]
    assert (returned.kind, returned.amount, returned.returned_units) == (
        RefundKind.RETURN_AND_REFUND, Decimal(line.unit_cents) / 100, 1)
    # the window went out as Shopify's search syntax, [since, until)
    assert fake.calls[-1].json["variables"]["query"] == \
        "updated_at:>='2026-11-10T12:00:00Z' AND updated_at:<'2026-11-10T14:00:00Z'"
    # nothing changed since: an empty page, no resume
    assert sync(source, until, until + timedelta(hours=1)) == []


def test_resume_token_continues_after_the_last_page(fake: FakeShopify) -> None:
    first_page = next(make_source(fake).pages("orders", None, FAR))
    assert first_page.resume is not None
    rest = sync(make_source(fake), None, FAR, resume=first_page.resume)
    ids = [r.platform_order_id for r in [*orders(first_page), *rest]]
    assert sorted(ids) == sorted(str(i) for i in fake.orders) and len(ids) == 30
    with pytest.raises(SourceError) as err:
        sync(make_source(fake), None, FAR, resume="not-a-token")
    assert err.value.kind is FailureKind.REQUEST


def test_throttled_query_waits_what_the_bucket_needs_then_succeeds() -> None:
    with FakeShopify(orders=8, restore_rate=2000.0) as fake:
        sleeps = Sleeps()
        source = make_source(fake, sleeps)
        fake.drain(0.0)
        records = sync(source)
        assert totals(records) == fake.expected_totals()
        throttled = fake.throttled
        assert len(throttled) == 1 and throttled[0] is fake.calls[0]
        cost = throttled[0].cost
        assert cost is not None and cost["actualQueryCost"] is None and cost["requestedQueryCost"] == 582
        status = cost["throttleStatus"]
        expected = round((582 - status["currentlyAvailable"]) / 2000.0, 3)
        assert sleeps.waits[0] == expected and 0 < expected <= 582 / 2000.0


def test_paces_itself_from_throttle_status_instead_of_hitting_the_limit() -> None:
    # after a page query (582 requested, about 200 actually spent) the bucket lacks points for the 953-point
    # detail query: the client waits for them, so Shopify never has to answer THROTTLED
    with FakeShopify(orders=30, bucket=1000.0, restore_rate=1000.0) as fake:
        sleeps = Sleeps()
        records = sync(make_source(fake, sleeps))
        assert len(records) == 30
        assert fake.throttled == []
        assert sleeps.waits and all(0 < w <= 0.953 for w in sleeps.waits)


def test_bad_token_is_an_auth_error_and_not_retried(fake: FakeShopify) -> None:
    with pytest.raises(SourceError) as err:
        sync(make_source(fake, token="shpat_wrong"))
    assert err.value.kind is FailureKind.AUTH and err.value.code == 401
    assert not err.value.retryable
    assert "shpat_wrong" not in str(err.value)
    assert len(fake.calls) == 1 and fake.calls[0].answer == {"errors": INVALID_TOKEN}


@pytest.mark.parametrize("kind", ["server", "bad_json", "timeout", "throttle"])
def test_transient_faults_are_retried(fake: FakeShopify, kind: str) -> None:
    fake.fail_next(2, kind, delay_s=2.0)
    records = sync(make_source(fake, timeout_s=TIMEOUT_S))
    assert totals(records) == fake.expected_totals()
    assert [c.fault for c in fake.calls[:3]] == [kind, kind, None]


def test_http_429_waits_retry_after(fake: FakeShopify) -> None:
    sleeps = Sleeps()
    fake.fail_next(1, "http429")
    assert len(sync(make_source(fake, sleeps))) == 30
    assert sleeps.waits[0] == 1.0


def test_server_errors_exhaust_the_attempts(fake: FakeShopify) -> None:
    fake.fail_next(10, "server")
    with pytest.raises(SourceError) as err:
        sync(make_source(fake, attempts=3))
    assert err.value.kind is FailureKind.SERVER and err.value.code == 503
    assert len(fake.calls) == 3


def test_discount_codes_utm_visits_lines_and_statuses_are_parsed_exactly() -> None:
    with FakeShopify(orders=0, restore_rate=100_000.0) as fake:
        fake.now = T0
        first = {"occurredAt": datetime(2026, 11, 1, 8, 30, tzinfo=UTC),
                 "landingPage": "https://shop.example/p/hoodie?utm_source=tiktok&ref=amy", "referralCode": "amy",
                 "utm": {"source": "tiktok", "medium": "creator", "campaign": "fall-drop", "content": "video-123",
                         "term": None}}
        last = {"occurredAt": datetime(2026, 11, 9, 21, 5, 7, tzinfo=UTC), "landingPage": "https://shop.example/",
                "referralCode": None, "utm": None}
        tracked = fake.add_order(lines=[("SKU-101", 1000, 3)], codes=["CREATOR-AMY", "WELCOME10"],
                                 order_discount_cents=100, shipping_cents=499, customer_id=42,
                                 first_visit=first, last_visit=last, fulfillment="FULFILLED")
        pending = fake.add_order(lines=[("SKU-102", 2450, 1, 250)], financial="PENDING", journey_ready=False)
        records = {r.platform_order_id: r for r in sync(make_source(fake))}

    order = records[str(tracked)]
    assert order.promo_codes == ("CREATOR-AMY", "WELCOME10")
    assert order.visits == (
        Visit(at=datetime(2026, 11, 1, 8, 30, tzinfo=UTC), utm_source="tiktok", utm_medium="creator",
              utm_campaign="fall-drop", utm_content="video-123",
              landing_page="https://shop.example/p/hoodie?utm_source=tiktok&ref=amy"),
        Visit(at=datetime(2026, 11, 9, 21, 5, 7, tzinfo=UTC), landing_page="https://shop.example/"),
    )
    # 3 x 10.00, 1.00 off the order: Shopify's unit price after all discounts is 9.666666666667
    assert (order.subtotal, order.discount, order.merchandise) == (Decimal("30"), Decimal("1"), Decimal("29"))
    assert (order.shipping, order.tax, order.total) == (Decimal("4.99"), Decimal("2.32"), Decimal("36.31"))
    (line,) = order.lines
    assert (line.quantity, line.unit_price, line.amount, line.seller_sku) == (3, Decimal("9.67"), Decimal("29.00"),
                                                                              "SKU-101")
    assert line.platform_product_id == "8000101"
    assert (order.status, order.buyer_ref, order.currency) == (OrderStatus.SHIPPED, "42", "USD")
    assert order.paid_at == order.created_at == T0 and order.updated_at == T0

    unpaid = records[str(pending)]
    assert (unpaid.status, unpaid.paid_at, unpaid.visits, unpaid.promo_codes) == (OrderStatus.UNPAID, None, (), ())
    assert (unpaid.subtotal, unpaid.discount, unpaid.merchandise) == (Decimal("24.5"), Decimal("2.5"), Decimal("22"))
    assert unpaid.buyer_ref is None


def test_fake_rejects_unknown_fields_and_returns_only_what_was_asked(fake: FakeShopify) -> None:
    url = f"{fake.base_url}/admin/api/2025-10/graphql.json"
    headers = {"X-Shopify-Access-Token": fake.token}
    bad = httpx.post(url, headers=headers, json={"query": "{ orders(first: 1) { nodes { id landingSite } } }"})
    assert bad.json() == {"errors": [{"message": "Field 'landingSite' doesn't exist on type 'Order'",
                                      "extensions": {"code": "undefinedField"}}]}
    ok = httpx.post(url, headers=headers, json={"query": "{ orders(first: 2) { nodes { id name } } }"}).json()
    assert [sorted(n) for n in ok["data"]["orders"]["nodes"]] == [["id", "name"], ["id", "name"]]
    assert ok["extensions"]["cost"]["requestedQueryCost"] == 4
    huge = "{ orders(first: 10) { nodes { id lineItems(first: 250) { nodes { id } } } } }"
    assert httpx.post(url, headers=headers, json={"query": huge}).json()["errors"][0]["extensions"]["code"] == \
        "MAX_COST_EXCEEDED"


def test_a_query_the_api_refuses_is_a_request_error_not_retried(fake: FakeShopify,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shopify_mod, "PAGE_QUERY", PAGE_QUERY.replace("discountCodes", "discount_codes"))
    with pytest.raises(SourceError) as err:
        sync(make_source(fake))
    assert err.value.kind is FailureKind.REQUEST and err.value.code == "undefinedField"
    assert "discount_codes" in str(err.value) and len(fake.calls) == 1


def test_page_size_is_bounded_by_the_query_cost_limit(fake: FakeShopify) -> None:
    with pytest.raises(ValueError, match="1000-point"):
        make_source(fake, page_size=9)
    source = make_source(fake, page_size=8)
    assert len(sync(source)) == 30
    assert max(c.cost["requestedQueryCost"] for c in fake.calls if c.cost and "KpibotOrders" in c.json["query"]) \
        == 930

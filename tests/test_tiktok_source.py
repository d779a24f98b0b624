"""The TikTok Shop source against the fake TikTok Shop: exact totals, incremental sync, faults, auth, resume."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import hmac
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from bot.shops.tiktok_shop import TikTokShopSource, encoded_order, order_record, sign
from storage.ingest.encoding import OrderEncoder
from storage.ingest.records import (
    AffiliateRecord,
    FailureKind,
    LiveRecord,
    OrderRecord,
    OrderStatus,
    Page,
    ProductRecord,
    RefundKind,
    RefundStatus,
    ReturnRecord,
    SourceError,
    StockRecord,
    Tokens,
)
from tests.fakes.shop_seed import COMMISSION_BP
from tests.fakes.tiktok_shop import (
    AFFILIATE_SEARCH,
    CANCELLATIONS_SEARCH,
    ORDERS_DETAIL,
    ORDERS_SEARCH,
    PRODUCTS_SEARCH,
    RETURNS_SEARCH,
    TOKEN_REFRESH,
    FakeTikTokShop,
    Fault,
    tts_sign,
)
from tests.memory_tokens import MemoryTokens

# The client's timeout: well above what a local answer takes on a loaded machine (0.3 s was not: a slow answer
# timed out, was asked again and changed the counted calls), well below a fault's held answer (2 s).
TIMEOUT_S = 1.0

pytestmark = pytest.mark.wallclock   # reads the system clock: scripts/test-dates.sh moves it

UNTIL = datetime(2026, 3, 1, tzinfo=UTC)      # after every base order of the fake (2026-01-01 + 30 days)
# the platform statuses as the metrics must see them (written out here, not imported from the client)
EXPECTED_STATUS = {"UNPAID": OrderStatus.UNPAID, "ON_HOLD": OrderStatus.PAID, "AWAITING_SHIPMENT": OrderStatus.PAID,
                   "AWAITING_COLLECTION": OrderStatus.PAID, "PARTIALLY_SHIPPING": OrderStatus.SHIPPED,
                   "IN_TRANSIT": OrderStatus.SHIPPED, "DELIVERED": OrderStatus.DELIVERED,
                   "COMPLETED": OrderStatus.COMPLETED, "CANCELLED": OrderStatus.CANCELLED}


@pytest.fixture
def fake() -> Iterator[FakeTikTokShop]:
    with FakeTikTokShop(seed=11, n_orders=300, timeout_delay_s=2.0) as f:
        yield f


def source(fake: FakeTikTokShop, store: MemoryTokens | None = None, **kw: object) -> TikTokShopSource:
    options: dict[str, object] = {"timeout_s": TIMEOUT_S, "attempts": 4, "backoff_s": 0.01, "max_wait_s": 0.05,
                                  "affiliate_lookback": timedelta(0), "lives_lookback": timedelta(0),
                                  "shop_tz": "America/Los_Angeles", "currency": "USD"}
    options.update(kw)
    return TikTokShopSource(app_key=str(options.pop("app_key", fake.app_key)),
                            app_secret=str(options.pop("app_secret", fake.app_secret)),
                            tokens=store or MemoryTokens(fake.initial_tokens()), base_url=fake.base_url,
                            auth_base_url=fake.auth_base_url, **options)  # type: ignore[arg-type]


def records(src: TikTokShopSource, resource: str, since: datetime | None = None, until: datetime = UNTIL) -> list:
    return [r for page in src.pages(resource, since, until) for r in page.records]


def cents(amount: Decimal) -> int:
    assert isinstance(amount, Decimal)
    value = amount * 100
    assert value == value.to_integral_value(), amount
    return int(value)


# ---------------------------------------------------------------------- signing
def test_signature_matches_a_hand_computed_vector() -> None:
    secret = "e59af819cc"
    params = {"app_key": "29a39d", "timestamp": "1623812664", "shop_cipher": "ROW_abc", "ids": ["5764", "5765"],
              "page_size": "10", "sign": "ignored", "access_token": "ignored-too"}
    body = b'{"update_time_ge":1623800000}'
    # the documented string, written out by hand: path, then the params sorted by key as {key}{value}
    # (sign and access_token left out, array values joined by commas), then the raw body, wrapped in the secret
    text = ("e59af819cc" "/order/202309/orders" "app_key29a39d" "ids5764,5765" "page_size10" "shop_cipherROW_abc"
            "timestamp1623812664" '{"update_time_ge":1623800000}' "e59af819cc")
    expected = hmac.new(b"e59af819cc", text.encode(), hashlib.sha256).hexdigest()
    assert sign("/order/202309/orders", params, body, secret) == expected
    flat = {k: v if isinstance(v, str) else ",".join(v) for k, v in params.items()}
    assert tts_sign("/order/202309/orders", flat, body, secret) == expected     # the fake agrees
    assert sign("/order/202309/orders", params, body + b" ", secret) != expected  # the body is signed


# ---------------------------------------------------------------------- full and incremental sync
def test_full_sync_equals_the_seeded_totals_to_the_cent(fake: FakeTikTokShop) -> None:
    expected = fake.expected_totals(None, UNTIL)
    with source(fake, returns_page_size=10) as src:
        orders = records(src, "orders")
        returns = records(src, "returns")
        affiliate = records(src, "affiliate_orders")
        lives = records(src, "lives", since=datetime(2025, 12, 1, 8, tzinfo=UTC))

    assert all(isinstance(o, OrderRecord) for o in orders)
    assert len(orders) == expected.orders == 300
    assert len({o.platform_order_id for o in orders}) == 300
    assert {o.currency for o in orders} == {"USD"}
    assert sum(o.units for o in orders) == expected.units
    assert all(line.quantity == 1 and line.amount == line.unit_price for o in orders for line in o.lines)
    assert sum(cents(o.subtotal) for o in orders) == expected.subtotal_minor
    assert sum(cents(o.discount) for o in orders) == expected.discount_minor
    assert sum(cents(o.merchandise) for o in orders) == expected.merchandise_minor
    assert sum(cents(o.shipping) for o in orders) == expected.shipping_minor
    assert sum(cents(o.tax) for o in orders) == expected.tax_minor
    assert sum(cents(o.total) for o in orders) == expected.total_minor
    assert all(o.subtotal - o.discount == o.merchandise == sum(li.amount for li in o.lines) for o in orders)
    assert sum(o.is_sample for o in orders) == expected.samples > 0
    status_counts: Counter[OrderStatus] = Counter()
    for platform_status, count in expected.by_status.items():
        status_counts[EXPECTED_STATUS[platform_status]] += count
    assert Counter(o.status for o in orders) == status_counts
    assert all(o.cancelled_at is not None for o in orders if o.status is OrderStatus.CANCELLED)
    assert all(o.paid_at is None for o in orders if o.status is OrderStatus.UNPAID)
    assert all(o.created_at <= o.updated_at < UNTIL for o in orders)

    assert all(isinstance(r, ReturnRecord) for r in returns)
    kinds = Counter(r.refund.kind for r in returns)
    assert kinds[RefundKind.CANCELLATION] == expected.cancellations > 0
    assert kinds[RefundKind.REFUND] + kinds[RefundKind.RETURN_AND_REFUND] == expected.returns > 0
    assert sum(cents(r.refund.amount) for r in returns) == expected.refund_requested_minor
    assert sum(cents(r.refund.amount) for r in returns
               if r.refund.status is RefundStatus.COMPLETED) == expected.refunded_minor
    assert sum(r.refund.returned_units for r in returns) == expected.returned_units
    assert all(r.refund.completed_at is not None for r in returns if r.refund.status is RefundStatus.COMPLETED)

    assert all(isinstance(a, AffiliateRecord) for a in affiliate)
    assert len(affiliate) == expected.affiliate_lines
    assert len({a.platform_order_id for a in affiliate}) == expected.affiliate_orders
    assert sum(a.quantity for a in affiliate) == expected.affiliate_units
    by_creator: Counter[str] = Counter()
    for a in affiliate:
        by_creator[a.creator_handle] += cents(a.amount)
    assert dict(by_creator) == expected.affiliate_amount_minor_by_creator
    assert {a.commission_rate * 10_000 for a in affiliate} <= {Decimal(bp) for bp in COMMISSION_BP}
    assert any(a.commission_rate == Decimal("0.155") for a in affiliate)
    assert {a.content_type for a in affiliate} <= {"SHOP", "VIDEO", "LIVE", "PRE_LIVE", "PROMOTION_PAGE", "LINKSHARE"}

    assert all(isinstance(s, LiveRecord) for s in lives)
    assert len(lives) == expected.lives > 0
    assert sum(cents(s.gmv) for s in lives) == expected.live_gmv_minor
    assert sum(s.viewers for s in lives) == expected.live_viewers
    assert sum(s.watch_seconds for s in lives) == expected.live_watch_seconds


def test_incremental_sync_fetches_only_what_changed(fake: FakeTikTokShop) -> None:
    first_until = fake.data_now                       # after every base order, before any change
    with source(fake) as src:
        assert len(records(src, "orders", until=first_until)) == 300
        changes = fake.advance(3600, changes=5, refunds=3, cancels=2, new_orders=4)
        second_until = first_until + timedelta(hours=2)
        fake.reset_calls()
        changed = records(src, "orders", since=first_until, until=second_until)
        changed_returns = records(src, "returns", since=first_until, until=second_until)

    assert sorted(o.platform_order_id for o in changed) == sorted(changes.changed + changes.added)
    assert len(changed) == 14
    assert all(o.updated_at == first_until + timedelta(hours=1) for o in changed)
    searches = fake.calls_to(ORDERS_SEARCH)
    assert len(searches) == 1 and fake.calls_to(ORDERS_DETAIL) == []
    assert searches[0].body == {"update_time_ge": math.ceil(first_until.timestamp()),
                                "update_time_lt": math.ceil(second_until.timestamp())}
    assert searches[0].query["sort_field"] == "update_time" and searches[0].query["sort_order"] == "ASC"
    expected = fake.expected_totals(first_until, second_until)
    assert expected.orders == 14
    assert sum(cents(o.total) for o in changed) == expected.total_minor
    by_id = {o.platform_order_id: o for o in changed}
    for order_id in changes.added:
        assert by_id[order_id].status in (OrderStatus.PAID, OrderStatus.UNPAID)
    cancelled = [by_id[i] for i in changes.changed if by_id[i].status is OrderStatus.CANCELLED]
    assert len(cancelled) == 2
    kinds = Counter(r.refund.kind for r in changed_returns)
    assert kinds[RefundKind.RETURN_AND_REFUND] + kinds[RefundKind.REFUND] == expected.returns >= 3
    assert kinds[RefundKind.CANCELLATION] == expected.cancellations
    assert {r.platform_order_id for r in changed_returns} <= set(changes.changed)


def test_orders_missing_fields_in_search_are_fetched_in_detail() -> None:
    with FakeTikTokShop(seed=5, n_orders=120, lean_search=True) as lean, source(lean) as src:
        orders = records(src, "orders")
        detail_calls = lean.calls_to(ORDERS_DETAIL)
        expected = lean.expected_totals(None, UNTIL)
    assert len(orders) == 120
    assert sum(cents(o.merchandise) for o in orders) == expected.merchandise_minor
    assert [len(c.query["ids"].split(",")) for c in detail_calls] == [50, 50, 20]


# ---------------------------------------------------------------------- faults
@pytest.mark.relative_clock   # waits out timeouts and retries; the clock only stamps requests
@pytest.mark.parametrize("kind", list(Fault))
def test_every_fault_is_retried_and_the_sync_succeeds(fake: FakeTikTokShop, kind: Fault) -> None:
    store = MemoryTokens(fake.initial_tokens())
    fake.fail_next(2, kind, path_contains=ORDERS_SEARCH)
    with source(fake, store) as src:
        orders = records(src, "orders")
    assert len(orders) == 300
    assert sum(cents(o.total) for o in orders) == fake.expected_totals(None, UNTIL).total_minor
    faulted = [c for c in fake.calls_to(ORDERS_SEARCH) if c.fault is not None]
    assert [c.fault for c in faulted] == [kind, kind]
    assert len(fake.calls_to(ORDERS_SEARCH)) == 3 + 2      # 3 pages of 100, each fault cost one more call
    if kind is Fault.TOKEN_EXPIRED:
        assert fake.refreshes == 2 and len(store.saves) == 2   # refreshed after each 105002, then succeeded
    else:
        assert fake.refreshes == 0 and len(store.saves) == 0


@pytest.mark.relative_clock   # waits out timeouts and retries; the clock only stamps requests
@pytest.mark.parametrize(("kind", "failure", "code"), [
    (Fault.HTTP_429, FailureKind.RATE_LIMITED, 429),
    (Fault.HTTP_5XX, FailureKind.SERVER, 503),
    (Fault.TOO_MANY_REQUESTS, FailureKind.RATE_LIMITED, 36009002),
    (Fault.TOKEN_EXPIRED, FailureKind.TOKEN_EXPIRED, 105002),
    (Fault.TIMEOUT, FailureKind.SERVER, None),
    (Fault.BAD_JSON, FailureKind.SERVER, 200),
])
def test_a_persistent_fault_raises_its_kind(fake: FakeTikTokShop, kind: Fault, failure: FailureKind,
                                             code: int | None) -> None:
    fake.fail_next(100, kind, path_contains=ORDERS_SEARCH)
    with source(fake, attempts=3) as src, pytest.raises(SourceError) as caught:
        records(src, "orders")
    assert caught.value.kind is failure
    assert caught.value.code == code
    assert len(fake.calls_to(ORDERS_SEARCH)) == 3


@pytest.mark.relative_clock   # waits out timeouts and retries; the clock only stamps requests
def test_retry_after_is_honoured(fake: FakeTikTokShop) -> None:
    fake.fail_next(1, Fault.HTTP_429, path_contains=ORDERS_SEARCH, retry_after="1")
    started = time.monotonic()
    with source(fake) as src:
        assert len(records(src, "orders")) == 300
    calls = fake.calls_to(ORDERS_SEARCH)
    assert calls[0].fault is Fault.HTTP_429
    assert calls[1].at - calls[0].at >= 0.95             # backoff_s is 0.01: only Retry-After explains the wait
    assert time.monotonic() - started < 5


@pytest.mark.relative_clock   # waits out timeouts and retries; the clock only stamps requests
def test_random_faults_do_not_change_the_result() -> None:
    kinds = (Fault.HTTP_429, Fault.HTTP_5XX, Fault.TOO_MANY_REQUESTS, Fault.TOKEN_EXPIRED, Fault.BAD_JSON)
    with FakeTikTokShop(seed=3, n_orders=250, fault_rate=0.4, fault_seed=9, fault_kinds=kinds) as noisy, \
            source(noisy, attempts=12, returns_page_size=10) as src:
        orders = records(src, "orders")
        returns = records(src, "returns")
        expected = noisy.expected_totals(None, UNTIL)
        faults = [c for c in noisy.calls if c.fault is not None]
    assert len(orders) == expected.orders
    assert sum(cents(o.total) for o in orders) == expected.total_minor
    assert sum(cents(r.refund.amount) for r in returns) == expected.refund_requested_minor
    assert len(faults) >= 3 and len(noisy.calls) > len(faults) + 7   # faults were injected, and retried


# ---------------------------------------------------------------------- tokens and credentials
def test_an_expired_token_is_refreshed_then_the_call_succeeds(fake: FakeTikTokShop) -> None:
    store = MemoryTokens(fake.initial_tokens())
    old = store.tokens
    fake.expire_tokens()
    with source(fake, store) as src:
        assert len(records(src, "orders")) == 300
    first = fake.calls[0]
    assert (first.path, first.code) == (ORDERS_SEARCH, 105002)
    assert fake.calls[1].path == TOKEN_REFRESH and fake.refreshes == 1 and len(store.saves) == 1
    assert store.tokens is not None and old is not None
    assert store.tokens.access_token != old.access_token and store.tokens.refresh_token != old.refresh_token
    assert store.tokens.extra == {"shop_cipher": fake.shop_cipher}
    assert store.tokens.expires_at is not None and store.tokens.expires_at > datetime.now(UTC) + timedelta(days=6)


def test_a_token_about_to_expire_is_refreshed_before_the_first_call(fake: FakeTikTokShop) -> None:
    store = MemoryTokens(fake.initial_tokens(access_ttl_s=120))
    with source(fake, store, refresh_margin=timedelta(minutes=10)) as src:
        assert len(records(src, "orders")) == 300
    assert [c.path for c in fake.calls[:2]] == [TOKEN_REFRESH, ORDERS_SEARCH]
    assert all(c.code == 0 for c in fake.calls)
    assert fake.refreshes == 1 and len(store.saves) == 1


def test_a_refused_refresh_is_an_auth_failure(fake: FakeTikTokShop) -> None:
    store = MemoryTokens(fake.initial_tokens())
    fake.expire_tokens()
    fake.revoke_refresh_tokens()
    with source(fake, store) as src, pytest.raises(SourceError) as caught:
        records(src, "orders")
    assert caught.value.kind is FailureKind.AUTH and caught.value.code == 36004004
    assert len(store.saves) == 0


def test_a_wrong_app_secret_is_refused_by_signature_and_not_retried(fake: FakeTikTokShop,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with source(fake, app_secret="not-the-secret") as src, pytest.raises(SourceError) as caught:
        records(src, "orders")
    assert caught.value.kind is FailureKind.AUTH
    assert caught.value.code == 106001
    assert [(c.path, c.status, c.code) for c in fake.calls] == [(ORDERS_SEARCH, 401, 106001)]
    assert "not-the-secret" not in str(caught.value) and "not-the-secret" not in caplog.text


def test_an_unknown_token_or_another_shops_cipher_is_an_auth_failure(fake: FakeTikTokShop) -> None:
    later = datetime.now(UTC) + timedelta(days=3)
    unknown = MemoryTokens(Tokens("TTP_never_issued", "TTR_never_issued", later, None,
                                  {"shop_cipher": fake.shop_cipher}))
    with source(fake, unknown) as src, pytest.raises(SourceError) as caught:
        records(src, "orders")
    assert (caught.value.kind, caught.value.code) == (FailureKind.AUTH, 105001)
    with source(fake, shop_cipher="ROW_someone_else") as src, pytest.raises(SourceError) as caught:
        records(src, "orders")
    assert (caught.value.kind, caught.value.code) == (FailureKind.AUTH, 106011)
    assert [c.code for c in fake.calls] == [105001, 106011]


@pytest.mark.parametrize(("offset_s", "accepted"), [(240, True), (-20, True), (360, False), (-45, False)])
def test_the_timestamp_window_is_enforced(fake: FakeTikTokShop, offset_s: int, accepted: bool) -> None:
    fake.clock_offset_s = offset_s          # the platform's clock is ahead (client stale) or behind (client early)
    with source(fake) as src:
        if accepted:
            assert len(records(src, "orders")) == 300
        else:
            with pytest.raises(SourceError) as caught:
                records(src, "orders")
            assert caught.value.kind is FailureKind.AUTH and caught.value.code == 36009004
            assert [(c.status, c.code) for c in fake.calls] == [(401, 36009004)]


def test_no_secret_reaches_the_log(fake: FakeTikTokShop, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")   # whatever level an earlier test or the CLI left it at
    store = MemoryTokens(fake.initial_tokens())
    first = store.tokens
    fake.expire_tokens()
    with source(fake, store) as src:
        records(src, "orders")
    assert fake.refreshes == 1 and first is not None and store.tokens is not None
    assert "HTTP Request" in caplog.text      # httpx did log its requests ...
    for secret in (fake.app_secret, first.access_token, first.refresh_token, store.tokens.access_token,
                   store.tokens.refresh_token, "sign=", "app_secret="):
        assert secret and secret not in caplog.text    # ... without query strings


# ---------------------------------------------------------------------- paging and resume
def _collect(src: TikTokShopSource, resource: str, resume: str | None = None) -> list[Page]:
    return list(src.pages(resource, None, UNTIL, resume=resume))


@pytest.mark.parametrize("resource", ["orders", "returns", "affiliate_orders"])
def test_resume_continues_exactly_after_the_page_it_came_with(fake: FakeTikTokShop, resource: str) -> None:
    with source(fake, page_size=25, returns_page_size=10) as src:
        pages = _collect(src, resource)
        assert len(pages) >= 4
        assert all(p.resume is not None for p in pages[:-1]) and pages[-1].resume is None
        assert all(p.records for p in pages)
        for cut in (1, len(pages) - 2):
            rest = _collect(src, resource, resume=pages[cut].resume)
            assert [(p.records, p.resume, p.high_water) for p in rest] == \
                [(p.records, p.resume, p.high_water) for p in pages[cut + 1:]]
    if resource == "returns":   # the token crosses from returns to cancellations
        assert fake.calls_to(RETURNS_SEARCH) and fake.calls_to(CANCELLATIONS_SEARCH)
    if resource == "affiliate_orders":
        assert fake.calls_to(AFFILIATE_SEARCH)


def test_affiliate_windows_are_cut_by_create_time_and_resume_across_them(fake: FakeTikTokShop) -> None:
    since = datetime(2025, 12, 20, tzinfo=UTC)
    with source(fake, page_size=10, affiliate_window=timedelta(days=9)) as src:
        pages = list(src.pages("affiliate_orders", since, UNTIL))
        rest = list(src.pages("affiliate_orders", since, UNTIL, resume=pages[5].resume))
    assert rest == pages[6:]
    found = [r for p in pages for r in p.records if isinstance(r, AffiliateRecord)]
    expected = fake.expected_totals(since, UNTIL)
    assert len(found) == expected.affiliate_lines
    assert sum(cents(a.amount) for a in found) == sum(expected.affiliate_amount_minor_by_creator.values())
    windows = {(c.body["create_time_ge"], c.body["create_time_lt"]) for c in fake.calls_to(AFFILIATE_SEARCH)}
    assert len(windows) == math.ceil((UNTIL - since) / timedelta(days=9)) == 8
    assert all(lt - ge <= 9 * 86_400 for ge, lt in windows)


def test_orders_can_be_fetched_by_id(fake: FakeTikTokShop) -> None:
    with source(fake) as src:
        searched = {o.platform_order_id: o for o in records(src, "orders")}
        ids = sorted(searched)[::4]
        fetched = src.fetch_orders([*ids, "576400000099999999"])
    assert len(ids) == 75 and [o.platform_order_id for o in fetched] == ids
    assert all(o == searched[o.platform_order_id] for o in fetched)
    assert [len(c.query["ids"].split(",")) for c in fake.calls_to(ORDERS_DETAIL)] == [50, 26]


def test_high_water_is_the_newest_update_of_its_page(fake: FakeTikTokShop) -> None:
    with source(fake, page_size=64) as src:
        pages = _collect(src, "orders")
    assert [len(p.records) for p in pages] == [64, 64, 64, 64, 44]
    for page in pages:
        assert page.high_water == max(r.updated_at for r in page.records if isinstance(r, OrderRecord))
    assert [p.high_water for p in pages] == sorted(p.high_water for p in pages if p.high_water)


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
def test_orders_bound_straight_from_the_answers_equal_the_bound_records(fake: FakeTikTokShop, postgres: bool) -> None:
    """The source's process lists orders encoded as it maps them (encode_orders_with): the same EncodedOrders, and
    the same page high waters, as binding the OrderRecords afterwards."""
    encoder = OrderEncoder(postgres, "tiktok_shop", b"buyer-key")
    with source(fake, page_size=64) as src:
        plain = _collect(src, "orders")
    with source(fake, page_size=64) as src:
        src.encode_orders_with(encoder)
        encoded = _collect(src, "orders")
    assert [len(p.records) for p in encoded] == [64, 64, 64, 64, 44]
    assert {r[1][0] for p in encoded for r in p.records} == {s.value for s in OrderStatus}
    for as_records, as_encoded in zip(plain, encoded, strict=True):
        assert as_encoded.records == [encoder.encode(r) for r in as_records.records]
        assert as_encoded.high_water == as_records.high_water and as_encoded.resume == as_records.resume


def test_an_order_bound_straight_from_its_answer_by_hand() -> None:
    """Edge cases of the answer: an unknown status with a paid time, money as objects and numbers given as
    Decimal (the float re-parse), a line listed twice, times missing or zero."""
    answer = {"id": 576400000000000001, "status": "SOMETHING_NEW", "paid_time": 1767225600, "update_time": 1767229261,
              "create_time": 1767225599, "collection_time": 0, "user_id": "7494000000000000001",
              "is_sample_order": True,
              "payment": {"currency": "USD", "sub_total": {"amount": "20.00"}, "seller_discount": Decimal("1.5"),
                          "platform_discount": "0.25", "shipping_fee": 3, "tax": "1.40", "total_amount": "24.65"},
              "line_items": [{"id": "L1", "product_id": "P1", "sku_id": "S1", "product_name": "Mug",
                              "sale_price": "10.00", "seller_sku": ""},
                             {"id": "L1", "product_id": "P1", "sku_id": "S1", "sale_price": "10.00"}]}
    for encoder, times in ((OrderEncoder(False, "tiktok_shop"), ("2025-12-31 23:59:59.000000",
                                                                "2026-01-01 00:00:00.000000",
                                                                "2026-01-01 01:01:01.000000")),
                          (OrderEncoder(True, "tiktok_shop"), (datetime(2025, 12, 31, 23, 59, 59),
                                                              datetime(2026, 1, 1), datetime(2026, 1, 1, 1, 1, 1)))):
        encoded = encoded_order(answer, encoder)
        assert encoded == encoder.encode(order_record(answer))
        assert encoded[0] == "576400000000000001" and encoded[2] == (("L1", "P1", "S1", "Mug", None, 1, 1000, 1000),
                                                                  ("L1", "P1", "S1", "", None, 1, 1000, 1000))
        assert encoded[1][:9] == ("paid", "USD", 2175, 175, 2000, 300, 140, 2465, 1)
        assert encoded[1][9:15] == (times[0], times[1], None, None, None, times[2])
        assert encoded[1][15] is None and len(encoded[1][16]) == 32 and encoded[1][17] is True


@pytest.mark.parametrize(("times", "shipped"), [
    ({"rts_time": 1767300000, "collection_time": 1767307200, "delivery_time": 1767500000}, 1767300000),
    ({"collection_time": 1767307200, "delivery_time": 1767500000}, 1767307200),
    ({"rts_time": 0, "delivery_time": 1767500000}, 1767500000),
    ({}, None),
])
def test_shipped_is_rts_time_then_collection_then_delivery(times: dict[str, int], shipped: int | None) -> None:
    """202309 orders say when they were handed to the carrier in rts_time; collection and delivery times may be
    missing; both mappings agree."""
    answer = {"id": "576400000000000002", "status": "DELIVERED", "paid_time": 1767225600, "update_time": 1767500000,
              "create_time": 1767225599, **times,
              "payment": {"currency": "USD", "sub_total": "10.00", "total_amount": "10.00"},
              "line_items": [{"id": "L1", "product_id": "P1", "sku_id": "S1", "sale_price": "10.00"}]}
    record = order_record(answer)
    assert record.shipped_at == (None if shipped is None else datetime.fromtimestamp(shipped, UTC))
    assert record.delivered_at == (datetime.fromtimestamp(1767500000, UTC) if times else None)
    for encoder in (OrderEncoder(False, "tiktok_shop"), OrderEncoder(True, "tiktok_shop")):
        assert encoded_order(answer, encoder) == encoder.encode(record)


def test_a_resume_token_of_another_window_is_refused(fake: FakeTikTokShop) -> None:
    with source(fake, page_size=50) as src:
        token = next(iter(src.pages("orders", None, UNTIL))).resume
        assert token is not None
        with pytest.raises(SourceError) as caught:
            next(iter(src.pages("orders", None, UNTIL + timedelta(days=1), resume=token)))
        assert caught.value.kind is FailureKind.REQUEST
        with pytest.raises(SourceError) as caught:
            next(iter(src.pages("returns", None, UNTIL, resume=token)))
        assert caught.value.kind is FailureKind.REQUEST


# ---------------------------------------------------------------------- the fake's own checks and money parsing
def _signed_call(fake: FakeTikTokShop, method: str, path: str, query: dict[str, str], body: bytes = b"") -> dict:
    token = fake.initial_tokens().access_token
    params = {**query, "app_key": fake.app_key, "timestamp": str(int(time.time())), "shop_cipher": fake.shop_cipher}
    params["sign"] = tts_sign(path, params, body, fake.app_secret)
    headers = {"x-tts-access-token": token, "content-type": "application/json"}
    answer = httpx.request(method, fake.base_url + path, params=params, headers=headers,
                           content=body if method == "POST" else None)
    return answer.json()


@pytest.mark.parametrize(("method", "path", "query"), [
    ("POST", ORDERS_SEARCH, {"page_size": "101"}),
    ("POST", ORDERS_SEARCH, {"page_size": "0"}),
    ("POST", ORDERS_SEARCH, {}),
    ("POST", RETURNS_SEARCH, {"page_size": "9"}),
    ("POST", CANCELLATIONS_SEARCH, {"page_size": "51"}),
    ("GET", ORDERS_DETAIL, {"ids": ",".join(str(576_400_000_000_000_000 + i) for i in range(51))}),
])
def test_the_fake_refuses_out_of_range_parameters(fake: FakeTikTokShop, method: str, path: str,
                                                  query: dict[str, str]) -> None:
    body = b"{}" if method == "POST" else b""
    assert _signed_call(fake, method, path, query, body)["code"] == 40006
    assert _signed_call(fake, method, path, {**query, "page_size": "50"} if method == "POST" else
                        {"ids": query["ids"].rsplit(",", 1)[0]}, body)["code"] == 0


def test_money_sent_as_json_numbers_is_still_exact() -> None:
    order = {"id": "1", "status": "COMPLETED", "create_time": 1767225600, "update_time": 1767229200,
             "payment": {"currency": "USD", "sub_total": 0.1, "original_total_product_price": 0.3,
                         "seller_discount": 0.2, "platform_discount": 0, "shipping_fee": 0, "tax": 0,
                         "total_amount": 0.1},
             "line_items": [{"id": "11", "product_id": "p", "sku_id": "s", "sale_price": 0.1}]}
    body = ('{"code":0,"message":"Success","data":{"next_page_token":"","total_count":1,"orders":['
            + json.dumps(order) + "]}}").encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    store = MemoryTokens(Tokens("tok", "ref", datetime.now(UTC) + timedelta(days=1), None, {"shop_cipher": "c"}))
    with TikTokShopSource(app_key="k", app_secret="s", tokens=store, base_url="http://tiktok.test",
                          transport=transport) as src:
        [page] = src.pages("orders", None, UNTIL)
    [record] = page.records
    assert isinstance(record, OrderRecord)
    assert (record.subtotal, record.discount, record.merchandise, record.total) == \
        (Decimal("0.3"), Decimal("0.2"), Decimal("0.1"), Decimal("0.1"))
    assert record.lines[0].unit_price == Decimal("0.1")


@pytest.mark.relative_clock   # waits on the prefetching thread; the clock only stamps requests
def test_page_ready_peeks_at_the_prefetched_page_without_changing_the_listing(fake: FakeTikTokShop) -> None:
    plain = [p.records for p in source(fake, page_size=40).pages("orders", None, UNTIL)]
    src = source(fake, page_size=40)
    assert not src.page_ready(0.0)   # no listing in progress
    peeked, readiness = [], []
    with contextlib.closing(src.pages("orders", None, UNTIL)) as listing:
        for page in listing:
            peeked.append(page.records)
            readiness.append(src.page_ready(2.0))   # the helper thread has it within 2 s
            assert src.page_ready(0.0) == readiness[-1]   # asking again keeps the same page
    assert peeked == plain and len(plain) == 8   # 300 orders, 40 a page
    # the listing holds one page back to know whether it is the last, so it is sure of the next page while a
    # further one is in the queue: not for the last two
    assert readiness == [True] * 6 + [False, False]
    assert not src.page_ready(0.0)
    src.close()


@pytest.mark.relative_clock   # waits on the prefetching thread; the clock only stamps requests
def test_an_abandoned_listing_closed_late_leaves_the_next_listings_page_alone(fake: FakeTikTokShop) -> None:
    """A listing dropped unfinished (its helper has fetched everything) and finalized only later, by the
    collector, must not clear the page that page_ready holds for the listing running by then."""
    with contextlib.closing(source(fake, page_size=40)) as plain_source:
        plain = [p.records for p in plain_source.pages("orders", None, UNTIL)]
    src = source(fake, page_size=40)
    abandoned = src.pages("orders", None, UNTIL)
    next(abandoned)   # its helper goes on to fetch all 8 pages (they fit in its queue) and ends
    second = src.pages("orders", None, UNTIL)
    got = [next(second).records]
    assert src.page_ready(2.0)   # the second listing's next page, held by the source
    del abandoned
    gc.collect()                 # the abandoned listing's cleanup runs now
    got.extend(p.records for p in second)
    assert got == plain
    src.close()


def test_a_prerendered_fake_serves_exactly_what_it_renders_on_demand() -> None:
    """The benchmarks' fast path of the fake (prerender) is an oracle too: same orders, also after changes."""
    def listing(f: FakeTikTokShop) -> list[OrderRecord]:
        with contextlib.closing(source(f, page_size=40)) as s:
            return [r for p in s.pages("orders", None, datetime(2030, 1, 1, tzinfo=UTC)) for r in p.records]

    with FakeTikTokShop(seed=11, n_orders=300) as plain, FakeTikTokShop(seed=11, n_orders=300) as fast:
        fast.prerender()
        first = listing(fast)
        assert first == listing(plain) and len(first) == 300
        for f in (plain, fast):
            f.currency = "EUR"
        in_euros = listing(fast)
        assert in_euros == listing(plain) and {r.currency for r in in_euros} == {"EUR"}
        for f in (plain, fast):
            f.update_order(f.timeline.gen.order_id(5), status="CANCELLED")
            f.advance(3600, changes=4, new_orders=3)
        changed = listing(fast)
        assert changed == listing(plain) and len(changed) == 303 and changed != in_euros


# ---------------------------------------------------------------------- products
def at_time(fake: FakeTikTokShop, when: datetime) -> Callable[[], float]:
    """The platform's clock (and so the source's) set to `when`."""
    fake.clock_offset_s = when.timestamp() - time.time()
    return fake.server_time


def test_products_give_launch_day_in_the_shop_zone_and_stock_summed_over_warehouses(fake: FakeTikTokShop) -> None:
    until = datetime(2026, 3, 1, 7, 59, tzinfo=UTC)   # still 2026-02-28 in Los Angeles
    clock = at_time(fake, until)
    with source(fake, page_size=15, clock=clock) as src:
        pages = list(src.pages("products", datetime(2026, 2, 27, tzinfo=UTC), until))
    assert [len(p.records) for p in pages] == [15, 15, 10]
    # the listing's time, kept an hour before its day's end (23:00 in Los Angeles): the sync remembers the day
    assert [p.high_water for p in pages] == [datetime(2026, 3, 1, 7, tzinfo=UTC)] * 3
    found = {r.platform_product_id: r for p in pages for r in p.records}
    # the fake's first product: created 2025-12-22 00:00 UTC (16:00 the day before in Los Angeles), three SKUs
    # with stock in two warehouses
    assert found["1729000000011000000"] == ProductRecord(
        "1729000000011000000", "Matte Serum", date(2025, 12, 21), date(2026, 2, 28),
        (StockRecord("1729000000011000001", "Matte Serum", "TS-00-0", 1),
         StockRecord("1729000000011000002", "Matte Serum", "TS-00-1", 5),
         StockRecord("1729000000011000003", "Matte Serum", "TS-00-2", 9)))
    # created 2025-12-21 00:30 UTC: 2025-12-20 16:30 in Los Angeles
    assert found["1729000000011000100"] == ProductRecord(
        "1729000000011000100", "Pearl LED Mirror", date(2025, 12, 20), date(2026, 2, 28),
        (StockRecord("1729000000011000101", "Pearl LED Mirror", "TS-01-0", 9),
         StockRecord("1729000000011000102", "Pearl LED Mirror", "TS-01-1", 13)))
    calls = fake.calls_to(PRODUCTS_SEARCH)
    assert [(c.query.get("page_size"), c.body) for c in calls] == [("15", {}), ("15", {}), ("15", {})]
    assert "page_token" not in calls[0].query and calls[1].query["page_token"]
    with source(fake, page_size=15, clock=clock) as src:   # resumed after the first page: the same last two pages
        rest = list(src.pages("products", datetime(2026, 2, 27, tzinfo=UTC), until, resume=pages[0].resume))
    assert [(p.records, p.resume) for p in rest] == [(p.records, p.resume) for p in pages[1:]]
    # resumed the next day (after a crash): the old window's pages, with the stock read today, stored for today
    later = at_time(fake, datetime(2026, 3, 2, 20, tzinfo=UTC))   # 12:00 on 2 March in Los Angeles
    with source(fake, page_size=15, clock=later) as src:
        rest = list(src.pages("products", datetime(2026, 2, 27, tzinfo=UTC), until, resume=pages[0].resume))
    assert [(p.records, p.resume) for p in rest] == [
        ([r._replace(stock_day=date(2026, 3, 2)) for r in p.records], p.resume) for p in pages[1:]]


def test_products_are_listed_once_a_shop_day_by_the_high_water_the_sync_keeps(fake: FakeTikTokShop) -> None:
    """The sync gives back the listing's high water less its 10-minute overlap as `since`."""
    listed_at = datetime(2026, 3, 1, 7, 50, tzinfo=UTC)   # 23:50 on 28 February in Los Angeles
    with source(fake, page_size=50, clock=at_time(fake, listed_at)) as src:
        [page] = list(src.pages("products", None, listed_at))
    assert page.high_water == datetime(2026, 3, 1, 7, tzinfo=UTC)   # 23:00, an hour before the day's end
    since = page.high_water - timedelta(minutes=10)
    for now, calls in ((datetime(2026, 3, 1, 7, 59, tzinfo=UTC), 1),    # 23:59 the same day: nothing asked
                       (datetime(2026, 3, 1, 8, 5, tzinfo=UTC), 2)):    # 00:05 the next day: listed
        with source(fake, page_size=50, clock=at_time(fake, now)) as src:
            found = [r for p in src.pages("products", since, now) for r in p.records]
        assert (len(found), len(fake.calls_to(PRODUCTS_SEARCH))) == ((0, 1) if calls == 1 else (40, 2))
    assert {r.stock_day for r in found} == {date(2026, 3, 1)}

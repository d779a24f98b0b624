"""The store writer and the shop sync, on SQLite and PostgreSQL: exact rows, idempotent pages, updates in
place, returns before their orders, crash and restart, overlap, shop health, and the DB token store."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError
from sqlmodel import Session

from storage.ingest.records import (
    AdSpendRecord,
    AffiliateRecord,
    FailureKind,
    LineRecord,
    LiveRecord,
    OrderRecord,
    OrderStatus,
    Page,
    PostRecord,
    ProductRecord,
    Record,
    RefundKind,
    RefundRecord,
    RefundStatus,
    ReturnRecord,
    ShipmentRecord,
    SourceError,
    StockRecord,
    Tokens,
    Visit,
)
from storage.ingest.sync import sync_shop
from storage.ingest.token_store import DbTokenStore
from storage.ingest.writer import StoreWriter, WriteCounts
from storage.migrate import upgrade
from storage.models import (
    AdSpend,
    AffiliateLine,
    AuditLog,
    ContentPost,
    LiveSession,
    Member,
    Order,
    OrderLine,
    OrderVisit,
    Organisation,
    PendingReturn,
    PendingShipment,
    Product,
    Refund,
    Shop,
    ShopHealth,
    Sku,
    SyncCursor,
)
from tests.fakes.memory_source import MemorySource, SimulatedCrash

T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
NOW = datetime(2026, 11, 11, tzinfo=UTC)


def _shops(engine: Engine, count: int = 2) -> list[int]:
    """An organisation with `count` TikTok shops and two members (codes host1, ads1)."""
    with Session(engine) as s:
        org = Organisation(code="o", name="Org")
        s.add(org)
        s.flush()
        shops = [Shop(org_id=org.id, code=f"s{i}", name=f"Shop {i}", platform="tiktok_shop", region="US",
                      currency="USD", timezone="America/Los_Angeles") for i in range(count)]
        s.add_all(shops)
        s.add_all([Member(org_id=org.id, code=code, name=code, role=role, timezone="UTC", locale="en")
                   for code, role in (("host1", "host"), ("ads1", "ad_buyer"))])
        s.commit()
        return [shop.id for shop in shops]  # type: ignore[misc]


def _member(engine: Engine, code: str) -> int:
    with Session(engine) as s:
        return s.execute(select(Member.id).where(Member.code == code)).scalar_one()  # type: ignore[return-value]


def _order(pid: str = "A1", at: datetime = T0, **changes: Any) -> OrderRecord:
    """20.00 USD of goods (a mug 7.50 and two caps at 5.00, less 2.50 discount) + 3.00 shipping."""
    order = OrderRecord(
        pid, OrderStatus.PAID, "USD", subtotal=D("20.00"), discount=D("2.50"), merchandise=D("17.50"),
        shipping=D("3.00"), tax=D("0"), total=D("20.50"), created_at=at, updated_at=at, paid_at=at,
        lines=(LineRecord(f"{pid}-1", "P1", "P1-red", "Mug 杯", 1, D("7.50"), D("7.50"), seller_sku="MUG-R"),
               LineRecord(f"{pid}-2", "P2", "P2-L", "Cap", 2, D("5.00"), D("10.00"))),
        refunds=(RefundRecord(f"{pid}-R1", RefundKind.REFUND, RefundStatus.COMPLETED, "USD", D("5.00"), at, at),
                 RefundRecord(f"{pid}-R2", RefundKind.RETURN_AND_REFUND, RefundStatus.REQUESTED, "USD", D("7.50"),
                              at, returned_units=1)),
        buyer_ref="buyer-42", promo_codes=("SAVE10", "VIP"),
        visits=(Visit(at - timedelta(hours=2), "tiktok", "social", "nov", "vid1", "https://s.example/p1"),
                Visit(at - timedelta(hours=1), "google", "cpc", None, None, None)))
    return order._replace(**changes)


def _table_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the writer fills, ids included, for "nothing changed" checks."""
    with engine.connect() as c:
        return {t: sorted(tuple(r) for r in c.execute(text(f"SELECT * FROM {t}")))
                for t in ("shop_order", "order_line", "refund", "order_visit", "product", "sku", "pending_return",
                          "affiliate_line", "live_session", "content_post", "ad_spend")}


def _snapshot(engine: Engine, shop_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """One shop's data by platform ids only (no row ids), to compare two shops synced differently."""
    queries = {
        "orders": select(Order.platform_order_id, Order.status, Order.currency, Order.subtotal_minor,
                         Order.discount_minor, Order.merchandise_minor, Order.shipping_minor, Order.total_minor,
                         Order.refunded_minor, Order.units, Order.created_at, Order.paid_at, Order.shipped_at,
                         Order.platform_updated_at, Order.promo_code, Order.buyer_ref)
        .where(Order.shop_id == shop_id),
        "lines": select(Order.platform_order_id, OrderLine.platform_line_id, Product.platform_product_id,
                        Sku.platform_sku_id, OrderLine.quantity, OrderLine.unit_price_minor, OrderLine.amount_minor)
        .join(Order, Order.id == OrderLine.order_id).join(Product, Product.id == OrderLine.product_id)
        .join(Sku, Sku.id == OrderLine.sku_id).where(Order.shop_id == shop_id),
        "refunds": select(Order.platform_order_id, Refund.platform_refund_id, Refund.kind, Refund.status,
                          Refund.amount_minor, Refund.returned_units, Refund.requested_at, Refund.completed_at)
        .join(Order, Order.id == Refund.order_id).where(Order.shop_id == shop_id),
        "visits": select(Order.platform_order_id, OrderVisit.position, OrderVisit.at, OrderVisit.utm_campaign)
        .join(Order, Order.id == OrderVisit.order_id).where(Order.shop_id == shop_id),
        "products": select(Product.platform_product_id, Product.name).where(Product.shop_id == shop_id),
        "pending": select(PendingReturn.platform_order_id, PendingReturn.platform_refund_id)
        .where(PendingReturn.shop_id == shop_id),
    }
    with Session(engine) as s:
        return {name: sorted(tuple(r) for r in s.execute(q)) for name, q in queries.items()}  # type: ignore[call-overload]


# --- the writer ------------------------------------------------------------------------------------------------

def test_a_page_is_stored_exactly(engine: Engine) -> None:
    shop, _ = _shops(engine)
    jpy = _order("J1")._replace(currency="JPY", subtotal=D("2000"), discount=D("0"), merchandise=D("2000"),
                  shipping=D("0"), total=D("2000"), refunds=(), visits=(), promo_codes=(), buyer_ref=None,
                  lines=(LineRecord("J1-1", "P1", "P1-red", "Mug 杯", 2, D("1000"), D("2000")),))
    counts = StoreWriter(engine).write_page(shop, [_order(), jpy])
    assert counts == WriteCounts(inserted=2)
    with Session(engine) as s:
        a1 = s.execute(select(Order).where(Order.platform_order_id == "A1")).scalar_one()
        assert (a1.status, a1.currency, a1.subtotal_minor, a1.discount_minor, a1.merchandise_minor,
                a1.shipping_minor, a1.tax_minor, a1.total_minor) == ("paid", "USD", 2000, 250, 1750, 300, 0, 2050)
        assert (a1.refunded_minor, a1.units, a1.promo_code) == (500, 3, "SAVE10,VIP")   # requested refund not counted
        assert (a1.created_at, a1.paid_at, a1.platform_updated_at, a1.shipped_at) == (T0, T0, T0, None)
        assert a1.buyer_ref == hashlib.sha256(b"tiktok_shop:buyer-42").hexdigest()[:32]
        assert (a1.member_id, a1.creator_id, a1.attribution_rule, a1.is_sample) == (None, None, None, False)
        j1 = s.execute(select(Order).where(Order.platform_order_id == "J1")).scalar_one()
        assert (j1.currency, j1.merchandise_minor, j1.units, j1.buyer_ref) == ("JPY", 2000, 2, None)  # yen: exponent 0
        lines = s.execute(select(OrderLine.platform_line_id, Product.platform_product_id, Sku.platform_sku_id,
                                 Sku.seller_sku, OrderLine.quantity, OrderLine.currency, OrderLine.unit_price_minor,
                                 OrderLine.amount_minor)
                          .join(Product, Product.id == OrderLine.product_id).join(Sku, Sku.id == OrderLine.sku_id)
                          .order_by(OrderLine.platform_line_id)).all()
        assert [tuple(r) for r in lines] == [("A1-1", "P1", "P1-red", "MUG-R", 1, "USD", 750, 750),
                                             ("A1-2", "P2", "P2-L", None, 2, "USD", 500, 1000),
                                             ("J1-1", "P1", "P1-red", "MUG-R", 2, "JPY", 1000, 2000)]
        assert s.execute(select(func.count()).select_from(Product)).scalar_one() == 2   # P1 created once
        assert s.execute(select(func.count()).select_from(Sku)).scalar_one() == 2
        refunds = s.execute(select(Refund.platform_refund_id, Refund.kind, Refund.status, Refund.amount_minor,
                                   Refund.returned_units, Refund.completed_at)
                            .order_by(Refund.platform_refund_id)).all()
        assert [tuple(r) for r in refunds] == [("A1-R1", "refund", "completed", 500, 0, T0),
                                               ("A1-R2", "return_and_refund", "requested", 750, 1, None)]
        visits = s.execute(select(OrderVisit.position, OrderVisit.at, OrderVisit.utm_source, OrderVisit.utm_campaign,
                                  OrderVisit.landing_page).order_by(OrderVisit.position)).all()
        assert [tuple(r) for r in visits] == [(0, T0 - timedelta(hours=2), "tiktok", "nov", "https://s.example/p1"),
                                              (1, T0 - timedelta(hours=1), "google", None, None)]
    with engine.connect() as c:   # the raw buyer id is nowhere in the store
        assert "buyer-42" not in repr(c.execute(text("SELECT * FROM shop_order")).all())


def test_writing_a_page_twice_changes_nothing(engine: Engine) -> None:
    shop, _ = _shops(engine)
    page = [_order("A1"), _order("A2", T0 + timedelta(minutes=1)), _order("A1")]   # A1 listed twice
    assert StoreWriter(engine).write_page(shop, page) == WriteCounts(inserted=2, unchanged=1)
    before = _table_rows(engine)
    assert StoreWriter(engine).write_page(shop, page) == WriteCounts(unchanged=3)   # a cold writer
    writer = StoreWriter(engine)
    assert writer.write_page(shop, page) == WriteCounts(unchanged=3)
    assert writer.write_page(shop, page) == WriteCounts(unchanged=3)                # a warm one
    assert _table_rows(engine) == before                                            # same rows, same ids


def test_a_status_change_and_a_new_refund_update_the_order_in_place(engine: Engine) -> None:
    shop, _ = _shops(engine)
    writer = StoreWriter(engine)
    writer.write_page(shop, [_order()])
    with Session(engine) as s:
        order_id = s.execute(select(Order.id)).scalar_one()
    later = T0 + timedelta(days=1)
    shipped = _order(
        status=OrderStatus.SHIPPED, shipped_at=later, updated_at=later,
        lines=_order().lines[:1],                                         # the caps were taken off the order
        refunds=(_order().refunds[1]._replace(status=RefundStatus.COMPLETED, completed_at=later),
                 RefundRecord("A1-R3", RefundKind.REFUND, RefundStatus.COMPLETED, "USD", D("1.25"), later, later)),
        visits=())
    assert writer.write_page(shop, [shipped]) == WriteCounts(updated=1)
    with Session(engine) as s:
        order = s.execute(select(Order)).scalar_one()
        assert (order.id, order.status, order.shipped_at, order.units) == (order_id, "shipped", later, 1)
        # R1 (5.00, not in this record: kept) + R2 now completed (7.50) + R3 (1.25)
        assert order.refunded_minor == 500 + 750 + 125
        assert s.execute(select(func.count()).select_from(Refund)).scalar_one() == 3
        assert s.execute(select(OrderLine.platform_line_id)).scalars().all() == ["A1-1"]
        assert s.execute(select(func.count()).select_from(OrderVisit)).scalar_one() == 0
    before = _table_rows(engine)
    assert writer.write_page(shop, [_order()]) == WriteCounts(unchanged=1)   # an older version: ignored
    assert _table_rows(engine) == before


@pytest.mark.postgres
@pytest.mark.parametrize("case", ["newer", "older", "newer without lines or visits"])
def test_an_order_another_writer_stores_meanwhile_is_merged_not_doubled(case: str, tmp_path: Any) -> None:
    """Writer A reads a page's stored orders (A1 is not there), then writer B commits A1, then A writes. A's
    plain insert of a new order's lines must not be used for A1: A1 goes the upsert way, as an update of a stored
    order would: when A's version is newer its lines replace B's whole (B's line A1-3 is gone), unless it lists
    no lines at all (a source without line detail: B's stay), and its visits replace B's (none: none left); when
    B's is newer, B's A1 is left whole. No line is doubled and nothing fails. PostgreSQL only: SQLite lets one
    writer at a time in."""
    from tests.conftest import fresh_engine

    engine = fresh_engine("postgres", tmp_path)
    upgrade(engine)
    shop, _ = _shops(engine)
    a, b = StoreWriter(engine), StoreWriter(engine)
    a.write_page(shop, [_order("A0")])   # the catalogue exists: B's products and SKUs do not wait for A's
    later = T0 + timedelta(hours=1)
    newer = case != "older"
    mine = _order("A1", later if newer else T0, status=OrderStatus.SHIPPED, shipped_at=later)
    mine = mine._replace(visits=mine.visits[:1]) if case != "newer without lines or visits" else \
        mine._replace(lines=(), visits=())
    cap = _order("A1").lines[1]
    # B's A1: the mug, one cap on a line of its own (A1-3, which A's version has not) and both visits
    theirs = _order("A1", T0 if newer else later,
                    lines=(_order("A1").lines[0], cap._replace(platform_line_id="A1-3", quantity=1, amount=D("5.00"))))
    children = a._children

    def b_commits_a1_first(*args: Any) -> Any:
        if not b_wrote:
            b_wrote.append(b.write_page(shop, [theirs]))
        return children(*args)

    b_wrote: list[WriteCounts] = []
    a._children = b_commits_a1_first  # type: ignore[method-assign]
    assert a.write_page(shop, [mine, _order("A2")]) == WriteCounts(inserted=2)   # both were new when A read
    assert b_wrote == [WriteCounts(inserted=1)]
    with Session(engine) as s:
        a1 = s.execute(select(Order).where(Order.platform_order_id == "A1")).scalar_one()
        lines = s.execute(select(OrderLine.platform_line_id, OrderLine.quantity).where(OrderLine.order_id == a1.id)
                          .order_by(OrderLine.platform_line_id)).all()
        visits = s.execute(select(OrderVisit.position, OrderVisit.utm_source).where(OrderVisit.order_id == a1.id)
                           .order_by(OrderVisit.position)).all()
        orders = s.execute(select(func.count()).select_from(Order)).scalar_one()
        all_lines = s.execute(select(func.count()).select_from(OrderLine)).scalar_one()
    expected = {"newer": ([("A1-1", 1), ("A1-2", 2)], [(0, "tiktok")]),
                "older": ([("A1-1", 1), ("A1-3", 1)], [(0, "tiktok"), (1, "google")]),
                "newer without lines or visits": ([("A1-1", 1), ("A1-3", 1)], [])}[case]
    assert (a1.status, a1.platform_updated_at) == (("shipped", later) if newer else ("paid", later))
    assert ([tuple(r) for r in lines], [tuple(r) for r in visits]) == expected
    assert (orders, all_lines) == (3, 2 + 2 + 2)   # A0, A2 and A1: two lines each
    engine.dispose()


def test_returns_for_stored_orders_and_for_orders_still_to_come(engine: Engine) -> None:
    shop, _ = _shops(engine)
    writer = StoreWriter(engine)
    writer.write_page(shop, [_order("A1", refunds=())])
    t1 = T0 + timedelta(hours=3)
    ret = ReturnRecord("A1", RefundRecord("A1-R9", RefundKind.RETURN_AND_REFUND, RefundStatus.REQUESTED, "USD",
                                          D("7.50"), t1, returned_units=1), t1)
    early = ReturnRecord("B7", RefundRecord("B7-R1", RefundKind.CANCELLATION, RefundStatus.COMPLETED, "USD",
                                            D("20.50"), t1, t1), t1)
    assert writer.write_page(shop, [ret, early]) == WriteCounts(inserted=1, pending=1)
    done = ret._replace(refund=ret.refund._replace(status=RefundStatus.COMPLETED, completed_at=t1), updated_at=t1)
    assert writer.write_page(shop, [done]) == WriteCounts(updated=1)
    assert writer.write_page(shop, [done]) == WriteCounts(unchanged=1)
    with Session(engine) as s:
        assert s.execute(select(Order.refunded_minor)).scalar_one() == 750
        assert s.execute(select(PendingReturn.platform_order_id)).scalars().all() == ["B7"]
    # the order arrives later, through a cold writer: the parked cancellation moves onto it
    assert StoreWriter(engine).write_page(shop, [_order("B7", refunds=())]) == WriteCounts(inserted=1)
    with Session(engine) as s:
        b7 = s.execute(select(Order).where(Order.platform_order_id == "B7")).scalar_one()
        assert b7.refunded_minor == 2050
        assert s.execute(select(Refund.platform_refund_id, Refund.kind).where(Refund.order_id == b7.id)).all() == [
            ("B7-R1", "cancellation")]
        assert s.execute(select(func.count()).select_from(PendingReturn)).scalar_one() == 0
        # a return parked by another process while A2 was being stored (it did not see A2 yet) ...
        StoreWriter(engine).write_page(shop, [_order("A2", refunds=())])
        s.add(PendingReturn(shop_id=shop, platform_order_id="A2", platform_refund_id="A2-R5", kind="refund",
                            status="completed", currency="USD", amount_minor=99, requested_at=t1, completed_at=t1,
                            updated_at=t1))
        s.commit()
    # ... is moved onto its order by the next writer, whatever it writes
    assert StoreWriter(engine).write_page(shop, [_order("A1", refunds=())]) == WriteCounts(unchanged=1)
    with Session(engine) as s:
        assert s.execute(select(Order.refunded_minor).where(Order.platform_order_id == "A2")).scalar_one() == 99
        assert s.execute(select(func.count()).select_from(PendingReturn)).scalar_one() == 0


def test_affiliate_lines_lives_posts_and_ads(engine: Engine) -> None:
    shop, _ = _shops(engine)
    host, ads = _member(engine, "host1"), _member(engine, "ads1")
    writer = StoreWriter(engine)
    aff = AffiliateRecord("A1", "P1", "@kol", "VIDEO", "v1", D("0.155"), "USD", D("7.50"), 1, 0, "PROCESSING",
                          T0, T0 + timedelta(hours=1))
    live = LiveRecord("L1", "host1", "Night live", T0, T0 + timedelta(hours=2), "USD", D("1234.56"), 300, 900, 5400,
                      77, 12)
    post = PostRecord("V1", "host1", T0, 1000, likes=50, orders=3)
    ad = AdSpendRecord("C1", date(2026, 11, 10), "USD", D("99.99"), 120, 4000, 30, D("250.00"), buyer_ref="ads1")
    assert writer.write_page(shop, [aff, live, post, ad]) == WriteCounts(inserted=4)
    assert writer.write_page(shop, [aff, live, post, ad]) == WriteCounts(unchanged=4)
    with Session(engine) as s:
        row = s.execute(select(AffiliateLine)).scalar_one()
        assert (row.creator_handle, row.commission_rate, row.amount_minor, row.status) == ("@kol", D("0.155"), 750,
                                                                                           "PROCESSING")
        lv = s.execute(select(LiveSession)).scalar_one()
        assert (lv.host_member_id, lv.gmv_minor, lv.watch_seconds, lv.title) == (host, 123456, 5400, "Night live")
        assert s.execute(select(ContentPost.member_id, ContentPost.views)).one() == (host, 1000)
        assert s.execute(select(AdSpend.member_id, AdSpend.spend_minor, AdSpend.attributed_gmv_minor)).one() == (
            ads, 9999, 25000)
        s.execute(update(LiveSession).values(host_member_id=ads))   # mapped by hand to someone else
        s.commit()
    # updates: more viewers, another host handle (the mapping stays); an older affiliate report is ignored
    later = aff._replace(status="COMPLETED", updated_at=T0 + timedelta(hours=5))
    assert writer.write_page(shop, [later, live._replace(viewers=310, host_handle="nobody")]) == WriteCounts(updated=2)
    assert writer.write_page(shop, [aff._replace(status="CANCELLED")]) == WriteCounts(unchanged=1)
    with Session(engine) as s:
        assert s.execute(select(LiveSession.viewers, LiveSession.host_member_id)).one() == (310, ads)
        assert s.execute(select(AffiliateLine.status)).scalar_one() == "COMPLETED"


def test_an_amount_finer_than_the_currency_is_refused_and_nothing_is_written(engine: Engine) -> None:
    shop, _ = _shops(engine)
    bad = _order("A2", shipping=D("3.005"))
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        StoreWriter(engine).write_page(shop, [_order("A1"), bad])
    assert all(rows == [] for rows in _table_rows(engine).values())   # the whole page rolled back


def test_product_and_sku_names_from_a_shop_are_stored_clean(engine: Engine) -> None:
    """A shop's title once reached /digest's top products with its control characters (ESC [31m, BEL): order
    lines and catalogue records are cleaned as every stored name is, and cut to the column (500)."""
    shop, _ = _shops(engine)
    lines = (LineRecord("A1-1", "P1", "P1-red", "Mug\x1b[31mRED\x07 \u200b cup\n", 1, D("7.50"), D("7.50")),
             LineRecord("A1-2", "P2", "P2-L", "\x1b\x07", 2, D("5.00"), D("10.00")))
    StoreWriter(engine).write_page(shop, [_order("A1", lines=lines, refunds=()),
                                          ProductRecord("P3", "G" * 600, None, date(2026, 11, 10), (
                                              StockRecord("P3-a", "\tCap  \x1b[0m blue", None, 4),)),
                                          ProductRecord("P2", "Hat\x07", None, date(2026, 11, 10), ())])
    with Session(engine) as s:
        assert s.execute(select(Product.platform_product_id, Product.name).order_by(Product.id)).all() == [
            ("P1", "Mug[31mRED cup"), ("P2", "Hat"), ("P3", "G" * 500)]
        assert s.execute(select(Sku.platform_sku_id, Sku.name).order_by(Sku.id)).all() == [
            ("P1-red", "Mug[31mRED cup"), ("P2-L", ""), ("P3-a", "Cap [0m blue")]


# --- the sync ---------------------------------------------------------------------------------------------------

def _orders_data() -> list[Record]:
    """8 orders an hour apart: line 1 is 10.00 + 1.25 i, even orders add 2 x 3.50; merchandise 143.00."""
    records: list[Record] = []
    for i in range(8):
        at = T0 + timedelta(hours=i)
        lines = [LineRecord(f"O{i}-1", f"P{i % 3}", f"P{i % 3}-a", f"Product {i % 3}", 1, D("10.00") + D("1.25") * i,
                            D("10.00") + D("1.25") * i)]
        if i % 2 == 0:
            lines.append(LineRecord(f"O{i}-2", "P9", "P9-a", "Socks", 2, D("3.50"), D("7.00")))
        goods = sum((line.amount for line in lines), D(0))
        records.append(OrderRecord(f"O{i}", OrderStatus.PAID, "USD", goods, D(0), goods, D(0), D(0), goods, at, at,
                                   paid_at=at, lines=tuple(lines), buyer_ref=f"b{i}"))
    return records


def _returns_data() -> list[Record]:
    """Completed refunds of 5.55 on O1 and O5, a requested one of 2.00 on O6: 11.10 refunded."""
    def ret(pid: str, status: RefundStatus, amount: str, hours: int) -> ReturnRecord:
        at = T0 + timedelta(hours=hours)
        done = at if status is RefundStatus.COMPLETED else None
        return ReturnRecord(pid, RefundRecord(f"{pid}-R", RefundKind.REFUND, status, "USD", D(amount), at, done), at)
    return [ret("O1", RefundStatus.COMPLETED, "5.55", 1), ret("O5", RefundStatus.COMPLETED, "5.55", 2),
            ret("O6", RefundStatus.REQUESTED, "2.00", 3)]


def _source(**kwargs: Any) -> MemorySource:
    # returns first: they arrive before their orders, so they wait in pending_return until the orders come
    return MemorySource({"returns": _returns_data(), "orders": _orders_data()}, page_size=2, **kwargs)


def _totals(engine: Engine, shop_id: int) -> tuple[int, int, int, int]:
    with Session(engine) as s:
        return s.execute(select(func.count(), func.sum(Order.merchandise_minor), func.sum(Order.refunded_minor),
                                func.sum(Order.units)).where(Order.shop_id == shop_id)).one()  # type: ignore[return-value]


def _cursor(engine: Engine, shop_id: int, resource: str) -> SyncCursor:
    with Session(engine) as s:
        return s.execute(select(SyncCursor).where(SyncCursor.shop_id == shop_id,
                                                  SyncCursor.resource == resource)).scalar_one()


def test_a_crash_mid_sync_then_a_restart_gives_the_same_store_as_an_uninterrupted_run(engine: Engine) -> None:
    straight, crashed, failed = _shops(engine, 3)
    pages: list[tuple[str, int, int]] = []
    report = sync_shop(engine, straight, _source(), None, NOW, progress=lambda *a: pages.append(a))
    assert report.ok and report.counts == WriteCounts(inserted=8, pending=3)
    assert pages == [("returns", 1, 2), ("returns", 2, 3), ("orders", 1, 2), ("orders", 2, 4), ("orders", 3, 6),
                     ("orders", 4, 8)]
    assert _totals(engine, straight) == (8, 14300, 1110, 16)
    assert _cursor(engine, straight, "orders").high_water == T0 + timedelta(hours=7)

    # killed after page 2 of 4 (a BaseException: nothing catches it, as with kill -9)
    with pytest.raises(SimulatedCrash):
        sync_shop(engine, crashed, _source(faults={"orders": [(2, SimulatedCrash())]}), None, NOW)
    stopped = _cursor(engine, crashed, "orders")
    assert (stopped.high_water, stopped.run_until, stopped.cursor is not None) == (None, NOW, True)
    assert _totals(engine, crashed)[:2] == (4, 1700 + 1125 + 1950 + 1375)   # O0 .. O3
    restart = _source()
    report = sync_shop(engine, crashed, restart, None, NOW + timedelta(hours=1))
    assert report.ok and [r.resumed for r in report.resources] == [False, True]
    resumed = [c for c in restart.calls if c.resource == "orders"]
    assert (resumed[0].until, resumed[0].resume) == (NOW, stopped.cursor)   # the stored query, from page 3
    assert resumed[1].since == T0 + timedelta(hours=7) - timedelta(minutes=10)  # then caught up from high water
    assert _snapshot(engine, crashed) == _snapshot(engine, straight)
    assert _totals(engine, crashed) == (8, 14300, 1110, 16)

    # a source error after page 2: reported, the cursor's high water stays, the restart finishes the job
    report = sync_shop(engine, failed, _source(faults={"orders": [(2, SourceError(FailureKind.SERVER, "502"))]}),
                       None, NOW)
    assert not report.ok and report.failed == ["orders"] and report.resources[1].pages == 2
    assert report.resources[1].error == "server: 502"
    assert (_cursor(engine, failed, "orders").high_water, _cursor(engine, failed, "orders").failures) == (None, 1)
    assert sync_shop(engine, failed, _source(), None, NOW).ok
    assert _snapshot(engine, failed) == _snapshot(engine, straight)
    assert _cursor(engine, failed, "orders").failures == 0


def test_a_listing_that_ends_before_its_last_page_is_not_taken_for_complete(engine: Engine) -> None:
    straight, stopped = _shops(engine)
    sync_shop(engine, straight, _source(), None, NOW)
    report = sync_shop(engine, stopped, _source(stop_after={"orders": 3}), None, NOW)
    assert report.failed == ["orders"]
    assert report.resources[1].error == "server: the source stopped before its last page"
    cursor = _cursor(engine, stopped, "orders")
    assert (cursor.high_water, cursor.run_until, cursor.cursor is not None) == (None, NOW, True)
    assert sync_shop(engine, stopped, _source(), None, NOW).ok
    assert _snapshot(engine, stopped) == _snapshot(engine, straight)


def test_the_overlap_is_fetched_again_and_absorbed(engine: Engine) -> None:
    (shop,) = _shops(engine, 1)
    source = _source()
    sync_shop(engine, shop, source, ["orders"], NOW)
    before = _table_rows(engine)
    again = sync_shop(engine, shop, source, ["orders"], NOW + timedelta(hours=1))
    assert source.calls[-1].since == T0 + timedelta(hours=7, minutes=-10)
    assert again.counts == WriteCounts(unchanged=1) and _table_rows(engine) == before   # O7 re-fetched, no change
    # O7 cancelled and O8 new, both after the high water
    changed = NOW + timedelta(hours=2)
    source.data["orders"][7] = source.data["orders"][7]._replace(status=OrderStatus.CANCELLED, cancelled_at=changed,
                                       updated_at=changed)
    source.data["orders"].append(source.data["orders"][0]._replace(platform_order_id="O8", lines=(),
                                         created_at=changed, updated_at=changed))
    report = sync_shop(engine, shop, source, ["orders"], NOW + timedelta(hours=3))
    assert report.counts == WriteCounts(inserted=1, updated=1)
    assert _cursor(engine, shop, "orders").high_water == changed
    with Session(engine) as s:
        assert s.execute(select(Order.status).where(Order.platform_order_id == "O7")).scalar_one() == "cancelled"

    class Ahead(MemorySource):
        """A platform that reports a record updated after the end of the window asked for."""

        def pages(self, resource: str, since: datetime | None, until: datetime,
                  resume: str | None = None) -> Iterator[Page]:
            for page in super().pages(resource, since, until, resume):
                yield replace(page, high_water=until + timedelta(hours=1))

    sync_shop(engine, shop, Ahead(source.data), ["orders"], NOW + timedelta(hours=4))
    assert _cursor(engine, shop, "orders").high_water == NOW + timedelta(hours=4)   # never beyond `until`


def test_a_refused_resume_token_is_dropped_and_the_window_starts_again(engine: Engine) -> None:
    shop, _ = _shops(engine)
    with pytest.raises(SimulatedCrash):
        sync_shop(engine, shop, _source(faults={"orders": [(1, SimulatedCrash())]}), ["orders"], NOW)
    with Session(engine) as s:   # the platform no longer knows the token (expired)
        s.execute(update(SyncCursor).values(cursor="stale#1"))
        s.commit()
    report = sync_shop(engine, shop, _source(), ["orders"], NOW)
    assert report.resources[0].error_kind == FailureKind.REQUEST
    assert (_cursor(engine, shop, "orders").cursor, _cursor(engine, shop, "orders").run_until) == (None, None)
    assert sync_shop(engine, shop, _source(), ["orders"], NOW).counts == WriteCounts(inserted=6, unchanged=2)
    assert _totals(engine, shop)[:2] == (8, 14300)


def _audit(engine: Engine) -> list[tuple[str, str | None]]:
    with Session(engine) as s:
        # the shop's health rows (each run that wrote something also audits its counts: sync.run)
        return [tuple(r) for r in s.execute(select(AuditLog.action, AuditLog.entity_id)  # type: ignore[misc]
                                            .where(AuditLog.action.like("shop_%")).order_by(AuditLog.id))]


def test_a_failing_shop_turns_unhealthy_once_and_recovers_while_the_others_sync(engine: Engine) -> None:
    bad, good = _shops(engine)
    down = SourceError(FailureKind.AUTH, "access token revoked", code=105002)
    flags = []
    for run in range(4):
        at = NOW + timedelta(hours=run)
        reports = [sync_shop(engine, bad, _source(down=down), None, at), sync_shop(engine, good, _source(), None, at)]
        flags.append((reports[0].consecutive_failures, reports[0].unhealthy, reports[0].notify, reports[1].ok))
    assert flags == [(1, False, False, True), (2, False, False, True), (3, True, True, True), (4, True, False, True)]
    assert _totals(engine, good) == (8, 14300, 1110, 16)
    with Session(engine) as s:
        health = s.execute(select(ShopHealth).where(ShopHealth.shop_id == bad)).scalar_one()
        assert health.unhealthy_since == NOW + timedelta(hours=2)
        assert health.last_error == "returns: auth: access token revoked (code 105002); " \
                                    "orders: auth: access token revoked (code 105002)"
    assert _cursor(engine, bad, "orders").failures == 4
    assert _audit(engine) == [("shop_unhealthy", str(bad))]

    ok = sync_shop(engine, bad, _source(), None, NOW + timedelta(hours=5))
    assert (ok.ok, ok.recovered, ok.notify, ok.consecutive_failures) == (True, True, False, 0)
    assert not sync_shop(engine, bad, _source(), None, NOW + timedelta(hours=6)).recovered
    assert _audit(engine) == [("shop_unhealthy", str(bad)), ("shop_recovered", str(bad))]
    assert _cursor(engine, bad, "orders").failures == 0

    # a new streak notifies again, once, even with two processes failing at the same moment
    for run in range(2):
        sync_shop(engine, bad, _source(down=down), None, NOW + timedelta(hours=7 + run))
    with ThreadPoolExecutor(2) as pool:
        racing = list(pool.map(lambda _: sync_shop(engine, bad, _source(down=down), None, NOW + timedelta(hours=9)),
                               range(2)))
    assert sorted(r.consecutive_failures for r in racing) == [3, 4]
    assert [r.notify for r in racing].count(True) == 1
    assert [a for a, _ in _audit(engine)] == ["shop_unhealthy", "shop_recovered", "shop_unhealthy"]


def test_an_unexpected_error_is_reported_without_its_message(engine: Engine) -> None:
    shop, _ = _shops(engine)
    leaky = RuntimeError("GET https://open-api.example/orders?access_token=SECRET failed")
    report = sync_shop(engine, shop, _source(faults={"orders": [(0, leaky)]}), ["orders"], NOW)
    assert report.failed == ["orders"] and report.resources[0].error_kind == "unexpected"
    assert report.resources[0].error.startswith("unexpected RuntimeError at memory_source.py:")  # type: ignore[union-attr]
    with Session(engine) as s:
        stored = [s.execute(select(ShopHealth.last_error)).scalar_one(),
                  s.execute(select(SyncCursor.last_error)).scalar_one()]
    assert all("SECRET" not in text and "unexpected RuntimeError" in text for text in stored)


# --- the token store -------------------------------------------------------------------------------------------

def test_the_token_store_round_trips_and_saves_atomically(engine: Engine) -> None:
    shop, other = _shops(engine)
    store = DbTokenStore(engine, shop)
    assert store.load() is None
    first = Tokens("at-1", "rt-1", T0, T0 + timedelta(days=30), {"shop_cipher": "GCP_abc"})
    store.save(first)
    assert store.load() == first
    assert DbTokenStore(engine, other).load() is None
    second = Tokens("at-2", None, None)
    store.save(second)
    assert store.load() == second
    assert "at-2" not in repr(store)
    with pytest.raises(StatementError, match="naive datetime"):   # a failed save leaves the stored tokens whole
        store.save(Tokens("at-3", "rt-3", datetime(2026, 12, 1)))
    assert store.load() == second

    def save(i: int) -> None:
        DbTokenStore(engine, shop).save(Tokens(f"at-{i}", f"rt-{i}", T0 + timedelta(minutes=i), extra={"n": str(i)}))

    seen: list[Tokens | None] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(DbTokenStore(engine, shop).load())

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(save, range(10, 30)))
    stop.set()
    watcher.join()
    for tokens in [*seen, store.load()]:   # never half of one save and half of another
        assert tokens is not None
        n = tokens.access_token.removeprefix("at-")
        expected = (None, None, {}) if n == "2" else (f"rt-{n}", T0 + timedelta(minutes=int(n)), {"n": n})
        assert (tokens.refresh_token, tokens.expires_at, tokens.extra) == expected
    store.clear()
    assert store.load() is None


def _shipped(engine: Engine, shop: int) -> dict[str, datetime | None]:
    with Session(engine) as s:
        rows = s.execute(select(Order.platform_order_id, Order.shipped_at).where(Order.shop_id == shop)).all()
        return {pid: at for pid, at in rows}


def _parked(engine: Engine) -> list[tuple[str, datetime]]:
    with Session(engine) as s:
        return [tuple(r) for r in s.execute(select(PendingShipment.platform_order_id, PendingShipment.shipped_at)
                                            .order_by(PendingShipment.platform_order_id))]  # type: ignore[misc]


def test_shipped_times_from_events_are_parked_set_earliest_and_kept_by_orders_without_one(engine: Engine) -> None:
    """Amazon's way: orders come without a shipped time, ShipmentRecords (in either order) give it. Parked
    until the order arrives; the earliest wins; an order fetched again without one keeps it, unchanged."""
    shop, _ = _shops(engine)
    writer = StoreWriter(engine)
    s1, s2, s3 = T0 + timedelta(hours=5), T0 + timedelta(hours=9), T0 + timedelta(days=1, hours=2)
    first = writer.write_page(shop, [ShipmentRecord("B1", s2, s2), ShipmentRecord("B1", s1, s1),
                                     ShipmentRecord("B2", s3, s3)])
    assert first == WriteCounts(unchanged=1, pending=2)
    assert _parked(engine) == [("B1", s1), ("B2", s3)]
    assert writer.write_page(shop, [ShipmentRecord("B1", s2, s2)]) == WriteCounts(pending=1)   # later: s1 stays
    assert _parked(engine) == [("B1", s1), ("B2", s3)]
    orders = [_order("B1", lines=(), refunds=(), visits=()), _order("B2", lines=(), refunds=(), visits=()),
              _order("B3", lines=(), refunds=(), visits=())]
    assert writer.write_page(shop, orders) == WriteCounts(inserted=3)
    assert _shipped(engine, shop) == {"B1": s1, "B2": s3, "B3": None}
    assert _parked(engine) == []
    # fetched again without a shipped time: nothing to write, the stored times stay
    assert writer.write_page(shop, orders) == WriteCounts(unchanged=3)
    newer = [o._replace(updated_at=T0 + timedelta(days=2), status=OrderStatus.SHIPPED) for o in orders]
    assert writer.write_page(shop, newer) == WriteCounts(updated=3)
    assert _shipped(engine, shop) == {"B1": s1, "B2": s3, "B3": None}
    # stored orders: an earlier event moves the time back, a later one or the same changes nothing
    s0 = T0 + timedelta(hours=1)
    assert writer.write_page(shop, [ShipmentRecord("B2", s0, s0), ShipmentRecord("B1", s2, s2),
                                    ShipmentRecord("B3", s3, s3)]) == WriteCounts(updated=2, unchanged=1)
    assert _shipped(engine, shop) == {"B1": s1, "B2": s0, "B3": s3}
    # a platform that gives the time on the order still sets it
    assert writer.write_page(shop, [newer[2]._replace(updated_at=T0 + timedelta(days=3), shipped_at=s2)]) == \
        WriteCounts(updated=1)
    assert _shipped(engine, shop) == {"B1": s1, "B2": s0, "B3": s2}


def test_a_parked_shipped_time_reaches_an_order_another_writer_stored(engine: Engine) -> None:
    """Parked by one writer, its order stored by another: the next write of the shop sets it (the check for
    parked rows), whatever that write holds."""
    shop, _ = _shops(engine)
    events, orders = StoreWriter(engine), StoreWriter(engine)
    at = T0 + timedelta(hours=4)
    orders.write_page(shop, [ReturnRecord("X0", RefundRecord("X0-R", RefundKind.REFUND, RefundStatus.REQUESTED,
                                                             "USD", D("1.00"), T0), T0)])   # learns: parked rows
    assert events.write_page(shop, [ShipmentRecord("C1", at, at)]) == WriteCounts(pending=1)
    assert orders.write_page(shop, [_order("C1", lines=(), refunds=(), visits=())]) == WriteCounts(inserted=1)
    assert _shipped(engine, shop) == {"C1": at} and _parked(engine) == []

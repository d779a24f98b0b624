"""Orders counted at shipment (`[org] count_orders_at = "shipped"`) on the TikTok API path (issue 20).

One shop of the TikTok fake is synced through the API client and, as a second shop, imported from a
seller-center export written from the same seed. With orders counted at shipment, January's shipped orders and
GMV are equal in both and equal to the seed's own integers: the API client reads ``rts_time`` (the fake sends
no ``collection_time`` on two orders in three).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.shops.files import read_file
from bot.shops.tiktok_shop import TikTokShopSource
from scoring.fx import FxTable
from scoring.metrics import Context, compute
from scoring.periods import month_window
from scoring.rules import CountOrdersAt, Rules
from storage.activity import load_team_activity
from storage.ingest.sync import sync_shop
from storage.ingest.writer import StoreWriter
from storage.models import Organisation, Shop, Team
from tests.fakes.shop_seed import SHIPPED_STATUSES, SeedOrder
from tests.fakes.tiktok_shop import FakeTikTokShop
from tests.memory_tokens import MemoryTokens

NOW = datetime(2026, 3, 1, tzinfo=UTC)
JANUARY = month_window(2026, 1, "UTC")
HEADER = ("Order ID", "Order Status", "SKU ID", "Seller SKU", "Product Name", "Quantity",
          "SKU Unit Original Price", "SKU Subtotal Before Discount", "SKU Platform Discount", "SKU Seller Discount",
          "SKU Subtotal After Discount", "Shipping Fee After Discount", "Taxes", "Order Amount", "Created Time",
          "Paid Time", "Shipped Time", "Delivered Time", "Cancelled Time", "Buyer Username", "Country")


def _cents(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _when(seconds: int | None) -> str:
    return "" if seconds is None else datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def write_export(orders: list[SeedOrder], path: Path) -> None:
    """The seller-center export of `orders`: one row per SKU, the seed's shipped time as Shipped Time."""
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for o in orders:
            by_sku: dict[str, list] = defaultdict(list)
            for line in o.lines:
                by_sku[line.sku.sku_id].append(line)
            for lines in by_sku.values():
                sku, n = lines[0].sku, len(lines)
                out.writerow((
                    o.order_id, o.status.replace("_", " ").title(), sku.sku_id, sku.seller_sku, sku.product_name, n,
                    _cents(sku.original_minor), _cents(sku.original_minor * n),
                    _cents(sum(ln.platform_discount_minor for ln in lines)),
                    _cents(sum(ln.seller_discount_minor for ln in lines)),
                    _cents(sum(ln.sale_minor for ln in lines)), _cents(o.shipping_minor), _cents(o.tax_minor),
                    _cents(o.total_minor), _when(o.create_time), _when(o.paid_time), _when(o.collection_time),
                    _when(o.delivery_time), _when(o.cancel_time), o.buyer_id, "United States"))


def shipped_figures(engine: Engine, team_id: int) -> tuple[Decimal | None, Decimal | None]:
    """January's orders and GMV of the team, counted at shipment."""
    with Session(engine) as s:
        activity = load_team_activity(s, team_id, JANUARY.start, JANUARY.end)
    ctx = Context(JANUARY, NOW, Rules(count_orders_at=CountOrdersAt.SHIPPED), FxTable([]))
    return compute("orders", activity, ctx), compute("gmv", activity, ctx)


def test_orders_counted_at_shipment_agree_between_the_api_and_the_export(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        org = Organisation(code="o", name="Org")
        s.add(org)
        s.flush()
        teams = [Team(org_id=org.id, code=code, name=code, timezone="UTC", locale="en") for code in ("api", "file")]
        s.add_all(teams)
        s.flush()
        shops = [Shop(org_id=org.id, team_id=t.id, code=t.code, name=t.code, platform="tiktok_shop", region="US",
                      currency="USD", timezone="UTC") for t in teams]
        s.add_all(shops)
        s.commit()
        (api_team, file_team), (api_shop, file_shop) = [t.id for t in teams], [x.id for x in shops]
    with FakeTikTokShop(seed=11, n_orders=150) as fake:
        with TikTokShopSource(app_key=fake.app_key, app_secret=fake.app_secret,
                              tokens=MemoryTokens(fake.initial_tokens()), base_url=fake.base_url,
                              auth_base_url=fake.auth_base_url, currency="USD") as src:
            assert sync_shop(engine, api_shop, src, ["orders"], NOW).ok
        tl = fake.timeline
        seed = [tl.current(i) for i in range(tl.total_orders)]
    export = tmp_path / "orders.csv"
    write_export(seed, export)
    result = read_file(export, "tiktok_orders", tz="UTC")
    assert result.problems == ()
    StoreWriter(engine).write_page(file_shop, result.records)

    start, end = JANUARY.start.timestamp(), JANUARY.end.timestamp()
    shipped = [o for o in seed if o.status in SHIPPED_STATUSES and o.collection_time is not None
               and start <= o.collection_time < end]
    expected = (Decimal(len(shipped)), Decimal(sum(o.sub_total_minor for o in shipped)) / 100)
    assert expected == (Decimal(78), Decimal("1935.97"))   # the seed's numbers, written out
    assert shipped_figures(engine, api_team) == expected
    assert shipped_figures(engine, file_team) == expected

"""`kpibot products list`: the catalogue as stored, one row per product, from what the shop syncs and `kpibot products
import` filled in (storage.ingest.writer, storage.product_import).

Cost and stock are kept per SKU; a product's row sums them up: its SKUs' unit costs (the SKUs without one, 0, left
out: no API gives a cost), and its latest stock: the newest day any of its SKUs has a snapshot of, the units of
the SKUs counted that day, and whether those came from an import, a sync or both.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from scoring.money import from_minor
from storage.models import InventorySnapshot, Member, Product, Shop, Sku


@dataclass(frozen=True)
class Stock:
    day: date
    units: int
    imported: int      # of the SKUs counted that day, how many figures an import stored
    synced: int        # and how many a sync stored


@dataclass(frozen=True)
class CatalogueRow:
    shop: str                                   # the shop's code
    product_id: str                             # the platform's
    name: str
    skus: int
    unit_costs: tuple[tuple[Decimal, str], ...]  # distinct (cost, currency) of its SKUs, cheapest first
    launched_on: date | None
    selector: str | None                        # the member's code
    stock: Stock | None                         # None: no stock stored yet


def catalogue(session: Session, shop_id: int | None = None) -> list[CatalogueRow]:
    """Every product (of one shop when given), by shop code and product id."""
    query = (select(Product, Shop.code, Member.code).join(Shop, Shop.id == Product.shop_id)  # type: ignore[arg-type]
             .outerjoin(Member, Member.id == Product.selector_member_id)  # type: ignore[arg-type]
             .order_by(Shop.code, Product.platform_product_id))
    if shop_id is not None:
        query = query.where(Product.shop_id == shop_id)
    products = session.execute(query).all()
    ids = [p.id for p, _, _ in products]
    skus: dict[int, list[Sku]] = defaultdict(list)
    snapshots: dict[int, list[InventorySnapshot]] = defaultdict(list)
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):   # a bound list the databases accept
        for sku in session.execute(select(Sku).where(Sku.product_id.in_(chunk))).scalars():  # type: ignore[attr-defined]
            skus[sku.product_id].append(sku)
        for snap, product_id in session.execute(
                select(InventorySnapshot, Sku.product_id).join(Sku, Sku.id == InventorySnapshot.sku_id)  # type: ignore[arg-type]
                .where(Sku.product_id.in_(chunk))):  # type: ignore[attr-defined]
            snapshots[product_id].append(snap)
    rows = []
    for product, shop, selector in products:
        mine = skus[product.id]
        costs = sorted({(from_minor(s.unit_cost_minor, s.currency), s.currency) for s in mine if s.unit_cost_minor})
        rows.append(CatalogueRow(shop, product.platform_product_id, product.name, len(mine), tuple(costs),
                                 product.launched_on, selector, _latest(snapshots[product.id])))
    return rows


def _latest(snapshots: list[InventorySnapshot]) -> Stock | None:
    if not snapshots:
        return None
    day = max(s.day for s in snapshots)
    that_day = [s for s in snapshots if s.day == day]
    imported = sum(1 for s in that_day if s.imported)
    return Stock(day, sum(s.units_on_hand for s in that_day), imported, len(that_day) - imported)

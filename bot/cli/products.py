"""kpibot products import: unit cost, launch date, selector and stock from a file (storage.product_import);
kpibot products list: the catalogue as stored, one line per product (services.catalogue)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bot.cli.common import shop_named
from bot.config import Config
from bot.usage import UsageError
from scoring.text import shown
from services.catalogue import CatalogueRow, Stock, catalogue
from services.container import Services
from storage.audit import audit
from storage.product_import import ProductProblem, import_products
from storage.tabular import read_note

NAME_WIDTH = 40


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.action == "list":
        return _list(services, args)
    with Session(services.engine) as session:
        try:   # each row's stock is stored for its shop's day (the day that shop's sync calls today)
            result = import_products(session, Path(args.file), clock(), args.encoding)
        except ProductProblem as exc:
            raise UsageError(f"nothing imported: {exc}") from None
        audit(session, None, "import.products", "import", Path(args.file).name,
              {"products_new": result.products_created, "products_updated": result.products_updated,
               "skus_new": result.skus_created, "stock_rows": result.stock_rows})
        session.commit()
    days = ", ".join(day.isoformat() for day in result.stock_days)
    stock = f"stock of {result.stock_rows} SKUs on {days}" if days else "no stock"
    print(f"imported {args.file}: {result.products_created} new products, {result.products_updated} updated, "
          f"{result.skus_created} new SKUs; {stock}" + read_note(Path(args.file), args.encoding))
    return 0


def _list(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        shop_id = shop_named(session, args.shop).id if args.shop else None
        rows = catalogue(session, shop_id)
    if not rows:
        print("no products" + (f" in shop {args.shop}" if args.shop else "") +
              " (a shop sync or kpibot products import adds them)")
        return 0
    print(f"{'shop':<12} {'product':<20} {'name':<40} {'skus':>4} {'unit cost':<16} {'launched':<10} "
          f"{'selector':<12} {'stock':>7} {'stock day':<10} from")
    for r in rows:
        stock = r.stock
        print(f"{r.shop:<12} {r.product_id:<20} {shown(r.name, NAME_WIDTH):<40} {r.skus:>4} {_costs(r):<16} "
              f"{r.launched_on.isoformat() if r.launched_on else '-':<10} {r.selector or '-':<12} "
              f"{stock.units if stock else '-':>7} {stock.day.isoformat() if stock else '-':<10} {_source(stock)}")
    return 0


def _costs(row: CatalogueRow) -> str:
    """One cost "2.50 USD", several of a currency "2.50..3.00 USD", none "-"."""
    if not row.unit_costs:
        return "-"
    currencies = sorted({c for _, c in row.unit_costs})
    if len(currencies) > 1:
        return ", ".join(f"{v} {c}" for v, c in row.unit_costs)
    low, high = row.unit_costs[0][0], row.unit_costs[-1][0]
    return f"{low} {currencies[0]}" if low == high else f"{low}..{high} {currencies[0]}"


def _source(stock: Stock | None) -> str:
    if stock is None:
        return "-"
    return "import" if not stock.synced else "sync" if not stock.imported else "import+sync"

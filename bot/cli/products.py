"""kpibot products import: unit cost, launch date, selector and stock from a file (storage.product_import)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bot.config import Config
from bot.usage import UsageError
from services.container import Services
from storage.product_import import ProductProblem, import_products


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    with Session(services.engine) as session:
        try:   # each row's stock is stored for its shop's day (the day that shop's sync calls today)
            result = import_products(session, Path(args.file), clock())
        except ProductProblem as exc:
            raise UsageError(f"nothing imported: {exc}") from None
        session.commit()
    days = ", ".join(day.isoformat() for day in result.stock_days)
    stock = f"stock of {result.stock_rows} SKUs on {days}" if days else "no stock"
    print(f"imported {args.file}: {result.products_created} new products, {result.products_updated} updated, "
          f"{result.skus_created} new SKUs; {stock}")
    return 0

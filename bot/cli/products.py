"""kpibot products import: unit cost, launch date, selector and stock from a file (storage.product_import)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.config import Config
from bot.usage import UsageError
from services.container import Services
from storage.product_import import ProductProblem, import_products


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    today = clock().astimezone(ZoneInfo(services.org_timezone)).date()   # stock is the organisation's day's
    with Session(services.engine) as session:
        try:
            result = import_products(session, Path(args.file), today)
        except ProductProblem as exc:
            raise UsageError(f"nothing imported: {exc}") from None
        session.commit()
    print(f"imported {args.file}: {result.products_created} new products, {result.products_updated} updated, "
          f"{result.skus_created} new SKUs; stock of {result.stock_rows} SKUs on {today.isoformat()}")
    return 0

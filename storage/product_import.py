"""The catalogue facts no shop API gives (`kpibot products import FILE`): unit cost, launch date, selector, stock.

Columns (header row, any order): shop, product (the platform's product id), sku (the platform's SKU id), name,
unit_cost, currency, launch_date, selector, stock, units_received. shop and product are required; an empty cell
changes nothing. A product or SKU the shop has not synced yet is created (its name is then required); the sync
later adds what it sees without overwriting what was imported (it only creates rows it does not have).

- name (at most 200 characters, cleaned as every stored name is: scoring.text.display_name), launch_date
  (YYYY-MM-DD), selector (a member id of the shop's organisation) and units_received (units received since
  launch, for sell-through) are the product's: rows of one product must not disagree on them.
- unit_cost (a decimal in `currency`, default the shop's; exact to the currency's minor unit) and stock (units on
  hand, stored as the SKU's inventory on the import's day in the row's shop's zone, the day a sync of that shop
  reads as today; a shop sync never replaces it) are the SKU's. A unit cost and a count (stock, units_received)
  are below 1,000,000,000: a larger one is a typo (1e400), and must not reach the store's integer columns.
  Without a sku they go to the product's only SKU, or to a new SKU named by the product id (as Shopee names an
  item without variants, and as an export-fed shop's SKU may be); a product with several SKUs needs the sku
  column. On TikTok Shop, Shopify and Amazon (ASIN and seller SKU) no SKU id is a product id, so a row that would
  create a SKU must name it: a SKU named by the product id would never meet an order, and the sync would add
  the real one without a cost (gross profit overstated, stock counted twice).

All-or-nothing, as the other imports: a bad row changes nothing, and at most 10 problems are listed, each with its
line, what was typed cut to 40 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from scoring.money import exponent, is_currency, to_minor
from scoring.text import NAME_MAX, BadText, display_name, shown
from storage.models import InventorySnapshot, Member, Product, Shop, Sku
from storage.tabular import TableProblem, joined_problems, parse_day, read_table

COLUMNS = ("shop", "product", "sku", "name", "unit_cost", "currency", "launch_date", "selector", "stock",
           "units_received")
REQUIRED = ("shop", "product")
PRODUCT_FIELDS = ("name", "launch_date", "selector", "units_received")   # the product's: rows must agree
ID_SIZE = 128   # the id columns' size (storage.models)
# platforms whose SKU ids are never product ids (bot/shops: TikTok's SKU id, Shopify's variant id, Amazon's seller
# SKU against its ASIN); Shopee names an item without models by its item id, an export-fed shop as its file does
SKU_IS_NOT_PRODUCT = {"tiktok_shop": "TikTok", "shopify": "Shopify", "amazon": "Amazon"}   # platform: its name
COST_CEILING = 1_000_000_000   # a unit cost is below this in its currency (its minor units fit a BIGINT)
COUNT_CEILING = 1_000_000_000  # stock and units_received are below this (they fit an INTEGER)


class ProductProblem(ValueError):
    """What is wrong with the file, with line numbers."""


@dataclass(frozen=True)
class ProductImport:
    products_created: int
    products_updated: int
    skus_created: int
    stock_rows: int        # SKUs whose stock on hand was stored for the day
    stock_days: tuple[date, ...] = ()   # the shops' days it was stored for (each shop's own zone)


@dataclass
class _Row:
    line: int
    shop: Shop
    product: str
    sku: str              # '' when the file names no SKU
    name: str | None
    cost: tuple[int, str] | None           # (minor units, currency)
    launched_on: date | None
    selector: Member | None
    stock: int | None
    units_received: int | None


def import_products(session: Session, path: Path, now: datetime, encoding: str | None = None) -> ProductImport:
    """Store the file's catalogue facts (flushed, not committed); a row's stock is stored for `now`'s day in its
    shop's zone, as that shop's sync dates its stock (not the organisation's day: a shop may be a day behind)."""
    rows, named, problems = _check(session, path, encoding)
    shop_ids = {r.shop.id or 0 for r in rows}
    products = {(p.shop_id, p.platform_product_id): p for p in session.execute(
        select(Product).where(Product.shop_id.in_(shop_ids))).scalars()}   # type: ignore[attr-defined]
    skus: dict[int, list[Sku]] = {}
    for sku in session.execute(select(Sku).where(Sku.product_id.in_(   # type: ignore[attr-defined]
            [p.id for p in products.values()]))).scalars():
        skus.setdefault(sku.product_id, []).append(sku)
    problems.extend(_unresolved(rows, named, products, skus))
    if problems:   # every problem of the file at once, in line order
        raise ProductProblem(joined_problems([text for _, text in sorted(problems, key=lambda p: p[0])]))
    created: set[tuple[int, str]] = set()
    updated: set[tuple[int, str]] = set()
    new_skus = 0
    days = {r.shop.id or 0: now.astimezone(ZoneInfo(r.shop.timezone)).date() for r in rows}
    snapshots = {(s.sku_id, s.day): s for s in session.execute(select(InventorySnapshot).where(
        InventorySnapshot.day.in_(set(days.values())))).scalars()}   # type: ignore[attr-defined]
    stocked: set[tuple[int, date]] = set()
    for row in rows:
        key = (row.shop.id or 0, row.product)
        product = products.get(key)
        if product is None:
            product = products[key] = Product(shop_id=key[0], platform_product_id=row.product, name=row.name or "")
            created.add(key)
        elif key not in created:
            updated.add(key)
        if row.name:
            product.name = row.name
        if row.launched_on is not None:
            product.launched_on = row.launched_on
        if row.selector is not None:
            product.selector_member_id = row.selector.id
        if row.units_received is not None:
            product.units_received = row.units_received
        session.add(product)
        if row.cost is None and row.stock is None:
            continue
        session.flush()   # the product's id, for its SKU
        sku = _sku_of(row, skus.setdefault(product.id or 0, []))
        if sku is None:
            sku = Sku(product_id=product.id or 0, platform_sku_id=row.sku or row.product, name=product.name,
                      currency=row.cost[1] if row.cost else row.shop.currency)
            skus[product.id or 0].append(sku)
            new_skus += 1
        if row.cost is not None:
            sku.unit_cost_minor, sku.currency = row.cost
        session.add(sku)
        if row.stock is not None:
            session.flush()
            today = days[row.shop.id or 0]
            snapshot = snapshots.get((sku.id or 0, today)) \
                or InventorySnapshot(sku_id=sku.id or 0, day=today, units_on_hand=row.stock)
            snapshot.units_on_hand, snapshot.imported = row.stock, True   # a shop sync leaves it alone
            snapshots[(sku.id or 0, today)] = snapshot
            session.add(snapshot)
            stocked.add((sku.id or 0, today))
    session.flush()
    return ProductImport(len(created), len(updated), new_skus, len(stocked),
                         tuple(sorted({day for _, day in stocked})))


def _sku_of(row: _Row, stored: list[Sku]) -> Sku | None:
    """The row's SKU among the product's (None: to create); `_unresolved` ruled out an ambiguous one."""
    if row.sku:
        return next((s for s in stored if s.platform_sku_id == row.sku), None)
    if len(stored) == 1:
        return stored[0]
    return next((s for s in stored if s.platform_sku_id == row.product), None)


def _unresolved(rows: list[_Row], named: set[tuple[int, str]], products: dict[tuple[int, str], Product],
                skus: dict[int, list[Sku]]) -> list[tuple[int, str]]:
    """What only the store can tell, as (line, problem): a new product without a name (`named`: the products some
    row names, a refused row's too), a SKU left unnamed among several or where SKU ids are not product ids."""
    problems: list[tuple[int, str]] = []
    told: set[tuple[int, str]] = set()
    for row in rows:
        key = (row.shop.id or 0, row.product)
        where, product = f"line {row.line}", shown(row.product)
        stored = products.get(key)
        if stored is None and key not in named and key not in told:
            problems.append((row.line, f"{where}: {row.shop.code} has no product {product!r} yet: give its name"))
            told.add(key)
        several = len(skus.get(stored.id or 0, [])) if stored is not None else 0
        if row.sku or (row.cost is None and row.stock is None):
            continue
        if several > 1:
            problems.append((row.line, f"{where}: product {product!r} has {several} SKUs: say which in the sku "
                                       "column"))
        elif several == 0 and row.shop.platform in SKU_IS_NOT_PRODUCT:
            problems.append((row.line, f"{where}: product {product!r} has no SKU on {row.shop.code} yet: give its "
                                       f"sku ({SKU_IS_NOT_PRODUCT[row.shop.platform]} SKU ids are not product "
                                       "ids)"))
    return problems


def _check(session: Session, path: Path,
           encoding: str | None) -> tuple[list[_Row], set[tuple[int, str]], list[tuple[int, str]]]:
    """The file's good rows, the (shop id, product id) every row with a known shop names, and the problems of the
    cells as (line, problem); ProductProblem at once when the header is wrong."""
    try:
        header, raw = read_table(path, encoding)
    except TableProblem as exc:
        raise ProductProblem(str(exc)) from None
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h[:40] for h in header if h and h not in COLUMNS]
    if missing or unknown:
        raise ProductProblem(f"{path.name}: the columns are {', '.join(COLUMNS)}"
                             + (f"; missing: {', '.join(missing)}" if missing else "")
                             + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    shops = {s.code: s for s in session.execute(select(Shop)).scalars()}
    members = {(m.org_id, m.code): m for m in session.execute(select(Member)).scalars()}   # codes are per org
    problems: list[tuple[int, str]] = []
    named: set[tuple[int, str]] = set()
    out: list[_Row] = []
    seen: dict[tuple[int, str, str], int] = {}
    product_facts: dict[tuple[int, str], dict[str, tuple[str, int]]] = {}   # field -> (cell, its line)
    for line, row in raw:
        where, found = f"line {line}", []
        shop = shops.get(row.get("shop", ""))
        if shop is None:
            problems.append((line, f"{where}: no shop {shown(row.get('shop', ''))!r}"))
            continue
        pid, sid = row.get("product", ""), row.get("sku", "")
        if pid and row.get("name"):
            named.add((shop.id or 0, pid))
        if not pid:
            found.append(f"{where}: the product id is empty")
        for what, text in (("product", pid), ("sku", sid)):
            if len(text) > ID_SIZE:
                found.append(f"{where}: the {what} id {text[:40]!r}... is longer than {ID_SIZE} characters")
        cost = _cost(row.get("unit_cost", ""), row.get("currency", "").upper() or shop.currency, where, found)
        launched = _day(row.get("launch_date", ""), where, found)
        selector: Member | None = None
        if row.get("selector"):
            selector = members.get((shop.org_id, row["selector"]))
            if selector is None or not selector.active:
                found.append(f"{where}: no active member {row['selector'][:40]!r} in shop {shop.code}'s "
                             "organisation")
        name = _name(row.get("name", ""), where, found)
        stock = _count(row.get("stock", ""), "stock", where, found)
        received = _count(row.get("units_received", ""), "units_received", where, found)
        key = (shop.id or 0, pid, sid)
        if not found and key in seen:
            found.append(f"{where}: the same product and sku as line {seen[key]}")
        if found:
            problems.extend((line, text) for text in found)
            continue
        seen[key] = line
        facts = product_facts.setdefault((shop.id or 0, pid), {})
        for field_name in PRODUCT_FIELDS:
            cell = (name or "") if field_name == "name" else row.get(field_name, "")
            if not cell:
                continue
            earlier = facts.setdefault(field_name, (cell, line))
            if earlier[0] != cell:
                problems.append((line, f"{where}: product {pid[:40]!r} has another {field_name} on line "
                                       f"{earlier[1]}"))
        out.append(_Row(line, shop, pid, sid, name, cost, launched, selector, stock, received))
    return out, named, problems


def _cost(text: str, currency: str, where: str, problems: list[str]) -> tuple[int, str] | None:
    """A unit cost as (minor units, currency): a finite decimal from 0 below COST_CEILING, exact to the currency's
    minor unit (the ceiling keeps a typo such as 1e400 from reaching the BIGINT column)."""
    if not text:
        return None
    if not is_currency(currency):
        problems.append(f"{where}: currency {shown(currency)!r} is not an ISO 4217 code")
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        problems.append(f"{where}: unit_cost {shown(text)!r} is not an amount such as 12.50")
        return None
    if amount >= COST_CEILING:
        problems.append(f"{where}: unit_cost {shown(text)!r} is not an amount below {COST_CEILING:,}")
        return None
    try:
        return to_minor(amount, currency), currency
    except ValueError:   # finer than the currency's minor unit
        problems.append(f"{where}: unit_cost {shown(text)} {currency} has more than {exponent(currency)} "
                        "decimal places")
    return None


def _name(text: str, where: str, problems: list[str]) -> str | None:
    """A product's name as every stored name is (scoring.text.display_name: no control characters, one space
    between words), at most NAME_MAX (200) characters as people's names are: the cards print it whole."""
    if not text:
        return None
    try:
        return display_name(text, NAME_MAX)
    except BadText as exc:
        problems.append(f"{where}: name {shown(text)!r} {exc}")
        return None


def _day(text: str, where: str, problems: list[str]) -> date | None:
    if not text:
        return None
    try:
        return parse_day(text)
    except ValueError:
        problems.append(f"{where}: launch_date {text[:40]!r} is not YYYY-MM-DD")
        return None


def _count(text: str, column: str, where: str, problems: list[str]) -> int | None:
    """A count of units: ASCII digits below COUNT_CEILING (the store's INTEGER columns; a longer text is never
    given to int(), which refuses more than 4300 digits)."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        problems.append(f"{where}: {column} {shown(text)!r} is not a whole number of units")
        return None
    if len(text.lstrip("0")) > len(str(COUNT_CEILING)) or int(text) >= COUNT_CEILING:
        problems.append(f"{where}: {column} {shown(text)!r} is not a whole number of units below "
                        f"{COUNT_CEILING:,}")
        return None
    return int(text)

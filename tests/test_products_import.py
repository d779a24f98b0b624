"""`kpibot products import FILE`: unit cost, launch date, selector, stock and units received, from CSV or XLSX,
all or nothing; what the sync writes later leaves them alone; and the catalogue metrics read them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from scoring.fx import FxTable
from scoring.metrics import CATALOG, Context
from scoring.periods import month_window
from scoring.rules import Rules
from storage.activity import load_activity, load_team_activity
from storage.ingest.records import LineRecord, OrderRecord, OrderStatus, ProductRecord, StockRecord
from storage.ingest.writer import StoreWriter
from storage.models import InventorySnapshot, Member, OrderLine, Product, Shop, Sku
from storage.product_import import ProductImport, ProductProblem, import_products
from tests.conftest import org_and_team

TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
HEADER = "shop,product,sku,name,unit_cost,currency,launch_date,selector,stock,units_received\n"
SAMPLE = Path(__file__).parent / "data" / "imports" / "products.csv"


def _order(oid: str, ppid: str, psid: str, qty: int, unit: str, paid: datetime) -> OrderRecord:
    amount = D(unit) * qty
    return OrderRecord(oid, OrderStatus.PAID, "USD", subtotal=amount, discount=D(0), merchandise=amount,
                       shipping=D(0), tax=D(0), total=amount, created_at=paid, updated_at=paid, paid_at=paid,
                       lines=(LineRecord(f"{oid}-1", ppid, psid, "Mug", qty, D(unit), amount),))


def _setup(engine: Engine) -> int:
    """A TikTok shop whose sync has seen product P1 (SKU S1, no cost) in one order of 2 units at 10.00; a selector
    `sel`, an operator `op`."""
    with Session(engine) as s:
        org, team = org_and_team(s)
        shop = Shop(org_id=org.id, team_id=team.id, code="tts-us", name="TTS US", platform="tiktok_shop",
                    region="US", currency="USD", timezone="UTC")
        s.add(shop)
        s.add_all([Member(org_id=org.id or 0, team_id=team.id, code=code, name=code, role=role, timezone="UTC",
                          locale="en") for code, role in (("sel", "selector"), ("op", "operator"))])
        s.commit()
        shop_id = shop.id or 0
    StoreWriter(engine).write_page(shop_id, [_order("O1", "P1", "S1", 2, "10.00", datetime(2026, 11, 10, tzinfo=UTC))])
    return shop_id


def _import(engine: Engine, path: Path) -> ProductImport:
    with Session(engine) as s:
        result = import_products(s, path, NOW)
        s.commit()
    return result


def refusal(engine: Engine, path: Path) -> str:
    """Why importing `path` is refused (it must be)."""
    with Session(engine) as s, pytest.raises(ProductProblem) as refused:
        import_products(s, path, NOW)
    return str(refused.value)


def _catalogue(engine: Engine) -> dict[str, tuple[object, ...]]:
    """product id -> (name, launched_on, units_received, selector code, {sku id: (cost minor, currency)})."""
    with Session(engine) as s:
        codes = {m.id: m.code for m in s.execute(select(Member)).scalars()}
        out: dict[str, tuple[object, ...]] = {}
        for p in s.execute(select(Product).order_by(Product.platform_product_id)).scalars():
            skus = {k.platform_sku_id: (k.unit_cost_minor, k.currency)
                    for k in s.execute(select(Sku).where(Sku.product_id == p.id)).scalars()}
            out[p.platform_product_id] = (p.name, p.launched_on, p.units_received, codes.get(p.selector_member_id),
                                          skus)
        return out


def _stock(engine: Engine) -> dict[tuple[str, date], int]:
    with Session(engine) as s:
        return {(sku, day): units for sku, day, units in s.execute(
            select(Sku.platform_sku_id, InventorySnapshot.day, InventorySnapshot.units_on_hand)
            .join(Sku, Sku.id == InventorySnapshot.sku_id))}


def test_a_csv_sets_cost_launch_selector_and_stock_and_the_catalogue_metrics_read_them(
        engine: Engine, tmp_path: Path) -> None:
    _setup(engine)
    path = tmp_path / "products.csv"
    path.write_text(HEADER + "tts-us,P1,S1,,4.50,,2026-11-02,sel,30,40\n"
                    "tts-us,P9,S9,New cup,3,usd,2026-11-05,sel,10,10\n", encoding="utf-8")
    assert _import(engine, path) == ProductImport(products_created=1, products_updated=1, skus_created=1,
                                                  stock_rows=2, stock_days=(TODAY,))
    assert _catalogue(engine) == {
        "P1": ("Mug", date(2026, 11, 2), 40, "sel", {"S1": (450, "USD")}),
        "P9": ("New cup", date(2026, 11, 5), 10, "sel", {"S9": (300, "USD")}),
    }
    assert _stock(engine) == {("S1", TODAY): 30, ("S9", TODAY): 10}

    ctx = Context(month_window(2026, 11, "UTC"), NOW, Rules(), FxTable([]))
    with Session(engine) as s:
        sel = s.execute(select(Member).where(Member.code == "sel")).scalar_one()
        op = s.execute(select(Member).where(Member.code == "op")).scalar_one()
        start, end = ctx.window.start, ctx.window.end
        for member in (sel, op):
            facts = load_activity(s, member, start, end)
            # 2 units of P1 sold of 40 + 10 received since launch this month
            assert CATALOG["new_product_sell_through"].compute(facts, ctx) == D("0.04")
            # net GMV 20.00 less the cost of 2 units at 4.50
            assert CATALOG["gross_profit"].compute(facts, ctx) == D("11.00")
            # neither launched product has sold 30 units yet, nor with a lower bar does P9 (none sold)
            assert CATALOG["new_sku_hit_rate"].compute(facts, ctx) == D(0)
            assert CATALOG["new_sku_hit_rate"].compute(facts, Context(ctx.window, NOW, Rules(new_sku_hit_units=2),
                                                                      FxTable([]))) == D("0.5")
        team = load_team_activity(s, op.team_id or 0, start, end)
        # 40 units on hand on the 20th, against 2 units sold in 20 days: 400 days of stock
        assert CATALOG["inventory_turnover_days"].compute(team, ctx) == D(400)


def test_an_xlsx_with_typed_cells_reads_as_the_csv_does(engine: Engine, tmp_path: Path) -> None:
    import openpyxl

    _setup(engine)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.strip().split(","))
    sheet.append(["tts-us", "P1", "S1", None, 4.5, "USD", datetime(2026, 11, 2), "sel", 30, 40])
    path = tmp_path / "products.xlsx"
    book.save(path)
    assert _import(engine, path) == ProductImport(0, 1, 0, 1, (TODAY,))
    assert _catalogue(engine) == {"P1": ("Mug", date(2026, 11, 2), 40, "sel", {"S1": (450, "USD")})}
    assert _stock(engine) == {("S1", TODAY): 30}


def test_a_bad_file_changes_nothing_and_names_its_lines(engine: Engine, tmp_path: Path) -> None:
    _setup(engine)
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "nope,P1,,,,,,,,\n"
                    f"tts-us,P1,S1,,4.505,,,{'x' * 300},-1,\n"
                    "tts-us,P1,S1,,1,XYZ,2026-13-01,,,ten\n"
                    "tts-us,P1,S1,,1,,,,,\n"
                    "tts-us,P1,S1,,2,,,,,\n"
                    "tts-us,P7,,,,,,,5,\n", encoding="utf-8")
    assert refusal(engine, path) == (
        "line 2: no shop 'nope'; "
        "line 3: unit_cost 4.505 USD has more than 2 decimal places; "
        f"line 3: no active member {'x' * 40!r} in shop tts-us's organisation; "
        "line 3: stock '-1' is not a whole number of units; "
        "line 4: currency 'XYZ' is not an ISO 4217 code; "
        "line 4: launch_date '2026-13-01' is not YYYY-MM-DD; "
        "line 4: units_received 'ten' is not a whole number of units; "
        "line 6: the same product and sku as line 5; "
        "line 7: tts-us has no product 'P7' yet: give its name; "
        "line 7: product 'P7' has no SKU on tts-us yet: give its sku (TikTok SKU ids are not product ids)")
    # what only the store can tell, alone
    path.write_text(HEADER + "tts-us,P7,,,,,,,5,\n", encoding="utf-8")
    assert refusal(engine, path) == ("line 2: tts-us has no product 'P7' yet: give its name; line 2: product 'P7' has "
                                  "no SKU on tts-us yet: give its sku (TikTok SKU ids are not product ids)")
    # rows of one product disagreeing on the product's facts; more than 10 problems end with a count
    path.write_text(HEADER + "tts-us,P1,S1,,,,2026-11-01,,,\ntts-us,P1,S2,,,,2026-11-02,,,\n"
                    + "".join(f"tts-us,P{n},,,,,,ghost,,\n" for n in range(10)), encoding="utf-8")
    assert refusal(engine, path) == (
        "line 3: product 'P1' has another launch_date on line 2; "
        + "; ".join(f"line {n + 4}: no active member 'ghost' in shop tts-us's organisation" for n in range(9))
        + "; and 1 more")
    path.write_text("shop,product,cost\n", encoding="utf-8")
    assert refusal(engine, path) == ("bad.csv: the columns are shop, product, sku, name, unit_cost, currency, "
                                  "launch_date, selector, stock, units_received; unknown: cost")
    assert _catalogue(engine) == {"P1": ("Mug", None, 0, None, {"S1": (0, "USD")})}
    assert _stock(engine) == {}


def test_every_problem_of_a_file_is_named_in_one_pass(engine: Engine, tmp_path: Path) -> None:
    """What only the store can tell (a SKU to name) is listed with the bad cells, not after they are fixed; a
    product named on a refused row is not asked for its name again."""
    _setup(engine)
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "tts-us,P1,S1,,1.00,XYZ,,,,\n"
                    "tts-us,P9,,Thing,3.00,,,,,\n"
                    "tts-us,P8,,Other,,,,,4,\n"
                    "nope,P1,S1,,1.00,,,,,\n"
                    "tts-us,P7,S7,Cup,-2,,,,,\n"
                    "tts-us,P7,S8,,2.00,,,,,\n", encoding="utf-8")
    assert refusal(engine, path) == (
        "line 2: currency 'XYZ' is not an ISO 4217 code; "
        "line 3: product 'P9' has no SKU on tts-us yet: give its sku (TikTok SKU ids are not product ids); "
        "line 4: product 'P8' has no SKU on tts-us yet: give its sku (TikTok SKU ids are not product ids); "
        "line 5: no shop 'nope'; "
        "line 6: unit_cost '-2' is not an amount such as 12.50")
    assert _catalogue(engine) == {"P1": ("Mug", None, 0, None, {"S1": (0, "USD")})}


def test_several_skus_need_the_sku_column(engine: Engine, tmp_path: Path) -> None:
    shop_id = _setup(engine)
    StoreWriter(engine).write_page(shop_id, [_order("O2", "P1", "S2", 1, "10.00", datetime(2026, 11, 11, tzinfo=UTC))])
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "tts-us,P1,,,1.00,,,,,\n", encoding="utf-8")
    assert refusal(engine, path) == "line 2: product 'P1' has 2 SKUs: say which in the sku column"
    # the product's own facts need no SKU
    path.write_text(HEADER + "tts-us,P1,,,,,2026-11-01,,,\n", encoding="utf-8")
    assert _import(engine, path) == ProductImport(0, 1, 0, 0)
    assert _catalogue(engine) == {"P1": ("Mug", date(2026, 11, 1), 0, None, {"S1": (0, "USD"), "S2": (0, "USD")})}


def test_a_new_sku_needs_its_id_where_sku_ids_are_not_product_ids(engine: Engine, tmp_path: Path) -> None:
    _setup(engine)
    with Session(engine) as s:
        tts = s.execute(select(Shop)).scalar_one()
        s.add(Shop(org_id=tts.org_id, team_id=tts.team_id, code="sp-sg", name="Shopee SG", platform="shopee",
                   region="SG", currency="SGD", timezone="UTC"))
        s.commit()
    path = tmp_path / "p.csv"
    # TikTok: a SKU named P9 would never meet an order (the sync would add the real one at cost 0)
    path.write_text(HEADER + "tts-us,P9,,New cup,3,,,,10,\n", encoding="utf-8")
    assert refusal(engine, path) == ("line 2: product 'P9' has no SKU on tts-us yet: give its sku (TikTok SKU ids are "
                                  "not product ids)")
    # the product's own facts need no SKU; a stored product's only SKU takes a row without one; on Shopee an
    # item without models is its own SKU
    path.write_text(HEADER + "tts-us,P9,,New cup,,,2026-11-05,,,\ntts-us,P1,,,2.00,,,,,\n"
                    "sp-sg,700,,Vase,3,,,,10,\n", encoding="utf-8")
    assert _import(engine, path) == ProductImport(2, 1, 1, 1, (TODAY,))
    assert _catalogue(engine) == {"700": ("Vase", None, 0, None, {"700": (300, "SGD")}),
                                  "P1": ("Mug", None, 0, None, {"S1": (200, "USD")}),
                                  "P9": ("New cup", date(2026, 11, 5), 0, None, {})}
    assert _stock(engine) == {("700", TODAY): 10}


def test_stock_is_stored_for_the_day_of_the_rows_shop_as_its_sync_dates_it(engine: Engine, tmp_path: Path) -> None:
    shop_id = _setup(engine)   # tts-us is in UTC
    with Session(engine) as s:
        tts = s.get(Shop, shop_id)
        assert tts is not None
        la = Shop(org_id=tts.org_id, team_id=tts.team_id, code="tts-la", name="TTS LA", platform="tiktok_shop",
                  region="US", currency="USD", timezone="America/Los_Angeles")
        s.add(la)
        s.commit()
        la_id = la.id or 0
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "tts-us,P1,S1,,,,,,5,\ntts-la,P2,S2,Lamp,,,,,7,\n", encoding="utf-8")
    at = datetime(2026, 12, 2, 1, tzinfo=UTC)   # 17:00 on December 1 in Los Angeles, 09:00 Dec 2 in Shanghai
    with Session(engine) as s:
        assert import_products(s, path, at) == ProductImport(1, 1, 1, 2, (date(2026, 12, 1), date(2026, 12, 2)))
        s.commit()
    assert _stock(engine) == {("S1", date(2026, 12, 2)): 5, ("S2", date(2026, 12, 1)): 7}
    # the LA shop's sync on its December 2 stores that day's stock: the import did not take the day
    StoreWriter(engine).write_page(la_id, [ProductRecord("P2", "Lamp", None, date(2026, 12, 2),
                                                         (StockRecord("S2", "Lamp", None, 3),))])
    assert _stock(engine) == {("S1", date(2026, 12, 2)): 5, ("S2", date(2026, 12, 1)): 7, ("S2", date(2026, 12, 2)): 3}


def test_a_later_sync_and_a_second_import_keep_what_was_imported(engine: Engine, tmp_path: Path) -> None:
    shop_id = _setup(engine)
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "tts-us,P5,S5,Teapot,12.00,USD,2026-11-03,sel,7,20\n", encoding="utf-8")
    assert _import(engine, path) == ProductImport(1, 0, 1, 1, (TODAY,))
    # the sync sees P5/S5 in an order: its line joins the imported SKU, whose facts stay
    StoreWriter(engine).write_page(shop_id, [_order("O5", "P5", "S5", 3, "20.00", datetime(2026, 11, 12, tzinfo=UTC))])
    expected = ("Teapot", date(2026, 11, 3), 20, "sel", {"S5": (1200, "USD")})
    assert _catalogue(engine)["P5"] == expected
    with Session(engine) as s:
        sku_id = s.execute(select(Sku.id).where(Sku.platform_sku_id == "S5")).scalar_one()
        assert s.execute(select(OrderLine.sku_id, OrderLine.quantity)).all() == [
            (s.execute(select(Sku.id).where(Sku.platform_sku_id == "S1")).scalar_one(), 2), (sku_id, 3)]
    # the same day again with only the stock: the day's count is replaced, nothing else moves
    path.write_text(HEADER + "tts-us,P5,S5,,,,,,4,\n", encoding="utf-8")
    assert _import(engine, path) == ProductImport(0, 1, 0, 1, (TODAY,))
    assert _catalogue(engine)["P5"] == expected
    assert _stock(engine) == {("S5", TODAY): 4}


def test_the_cli_imports_the_sample_and_refuses_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_cli import InProcess

    cli = InProcess(capsys, monkeypatch)   # 2026-11-22T12:00 UTC: 20:00 in Shanghai, the organisation's zone
    for argv in (("db", "upgrade"),
                 ("org", "init", "--name", "Acme", "--currency", "USD", "--timezone", "Asia/Shanghai"),
                 ("teams", "add", "live-us", "--timezone", "America/Los_Angeles"),
                 ("members", "import", "members.csv"),
                 ("shops", "add", "shopee-sg", "--platform", "shopee", "--region", "SG", "--currency", "SGD",
                  "--timezone", "Asia/Singapore", "--team", "live-us", "--platform-shop-id", "5501")):
        if argv[0] == "members":
            (tmp_path / "members.csv").write_text("member,name,role,team\nmei,Mei,selector,live-us\n",
                                                  encoding="utf-8")
        done = cli(tmp_path, *argv)
        assert done.returncode == 0, done.stderr
    (tmp_path / "products.csv").write_bytes(SAMPLE.read_bytes())
    done = cli(tmp_path, "products", "import", "products.csv")
    assert (done.returncode, done.stdout, done.stderr) == (
        0, "imported products.csv: 2 new products, 0 updated, 3 new SKUs; stock of 3 SKUs on 2026-11-22\n", "")
    (tmp_path / "bad.csv").write_text(HEADER + "shopee-sg,100001,,,1.001,,,,,\n", encoding="utf-8")
    bad = cli(tmp_path, "products", "import", "bad.csv")
    assert (bad.returncode, bad.stdout, bad.stderr) == (
        2, "", "kpibot: nothing imported: line 2: unit_cost 1.001 SGD has more than 2 decimal places\n")
    from storage.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'kpibot.db'}")
    try:
        assert _catalogue(engine) == {
            "100001": ("Ceramic mug", date(2026, 11, 2), 120, "mei", {"100001-a": (450, "SGD"),
                                                                      "100001-b": (475, "SGD")}),
            "100002": ("Glass teapot", date(2026, 11, 9), 60, "mei", {"100002": (1290, "SGD")}),
        }
        assert _stock(engine) == {("100001-a", date(2026, 11, 22)): 50, ("100001-b", date(2026, 11, 22)): 35,
                                  ("100002", date(2026, 11, 22)): 40}
    finally:
        engine.dispose()


def test_kpibot_products_list_shows_each_product_with_its_cost_selector_and_latest_stock(
        engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """P1 only synced (no cost, stock of the 21st); P5 imported whole; P6's two SKUs cost 2.50 and 3.00, one's
    stock of the 20th imported and the other's synced the same day; a second shop's product, for --shop."""
    from tests.test_cli_shops import Cli

    shop_id = _setup(engine)
    with Session(engine) as s:
        org_id = s.execute(select(Shop.org_id)).scalar_one()
        s.add(Shop(org_id=org_id, code="sg1", name="SG", platform="shopee", region="SG", currency="SGD",
                   timezone="UTC"))
        s.commit()
    long_name = "Borosilicate glass teapot with infuser, 1.2 litre, gift box"
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "tts-us,P5,S5,Teapot,12.00,USD,2026-11-03,sel,7,20\n"
                             f'tts-us,P6,S6a,"{long_name}",2.50,USD,,,,\n'
                             f'tts-us,P6,S6b,"{long_name}",3.00,USD,,,3,\n'
                             "sg1,900,,Mug,4.50,SGD,2026-11-09,,12,\n", encoding="utf-8")
    assert _import(engine, path) == ProductImport(3, 0, 4, 3, (TODAY,))
    StoreWriter(engine).write_page(shop_id, [
        ProductRecord("P1", "Mug", date(2026, 10, 1), date(2026, 11, 21), (StockRecord("S1", "Mug", None, 9),)),
        ProductRecord("P6", long_name, None, TODAY, (StockRecord("S6a", long_name, None, 4),))])
    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
    cli = Cli(config, capsys, monkeypatch)
    header = ("shop         product              name                                     skus unit cost        "
              "launched   selector       stock stock day  from\n")
    sg1 = ("sg1          900                  Mug                                         1 4.50 SGD         "
           "2026-11-09 -                 12 2026-11-20 import\n")
    assert cli("products", "list") == (0, header + sg1 + (
        "tts-us       P1                   Mug                                         1 -                "
        "2026-10-01 -                  9 2026-11-21 sync\n"
        "tts-us       P5                   Teapot                                      1 12.00 USD        "
        "2026-11-03 sel                7 2026-11-20 import\n"
        "tts-us       P6                   Borosilicate glass teapot with infuser,…    2 2.50..3.00 USD   "
        "-          -                  7 2026-11-20 import+sync\n"), "")
    assert cli("products", "list", "--shop", "sg1") == (0, header + sg1, "")
    assert cli("products", "list", "--shop", "nope") == (2, "", "kpibot: no shop 'nope'; shops: sg1, tts-us\n")


def test_an_amount_or_count_too_large_for_the_store_is_a_problem_line(engine: Engine, tmp_path: Path) -> None:
    """1e400 once reached SQLite as a 400-digit integer (OverflowError); a count of 5000 digits broke int()."""
    _setup(engine)
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "tts-us,P9,,Thing,1e400,USD,,,,\n"
                    "tts-us,P1,S1,,1000000000,,,,,\n"
                    "tts-us,P1,S2,,NaN,,,,,\n"
                    "tts-us,P1,S3,,0.0000000001,,,,,\n"
                    f"tts-us,P1,S4,,,,,,{'9' * 5000},\n"
                    "tts-us,P1,S5,,999999999.99,,,,999999999,\n"
                    "tts-us,P2,S6,Cup,,,,,,1000000000\n", encoding="utf-8")
    assert refusal(engine, path) == (
        "line 2: unit_cost '1e400' is not an amount below 1,000,000,000; "
        "line 3: unit_cost '1000000000' is not an amount below 1,000,000,000; "
        "line 4: unit_cost 'NaN' is not an amount such as 12.50; "
        "line 5: unit_cost 0.0000000001 USD has more than 2 decimal places; "
        f"line 6: stock '{'9' * 39}…' is not a whole number of units below 1,000,000,000; "
        "line 8: units_received '1000000000' is not a whole number of units below 1,000,000,000")
    assert _catalogue(engine) == {"P1": ("Mug", None, 0, None, {"S1": (0, "USD")})}
    # just below the ceilings is stored
    path.write_text(HEADER + "tts-us,P1,S1,,999999999.99,,,,999999999,999999999\n", encoding="utf-8")
    assert _import(engine, path) == ProductImport(0, 1, 0, 1, (TODAY,))
    assert _catalogue(engine) == {"P1": ("Mug", None, 999999999, None, {"S1": (99999999999, "USD")})}
    assert _stock(engine) == {("S1", TODAY): 999999999}


def test_the_cli_refuses_a_cost_of_1e400_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_cli import InProcess

    cli = InProcess(capsys, monkeypatch)
    for argv in (("db", "upgrade"),
                 ("org", "init", "--name", "Acme", "--currency", "USD", "--timezone", "UTC"),
                 ("teams", "add", "live-us", "--timezone", "UTC"),
                 ("shops", "add", "tts-us", "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
                  "--timezone", "UTC", "--team", "live-us", "--platform-shop-id", "7001")):
        done = cli(tmp_path, *argv)
        assert done.returncode == 0, done.stderr
    (tmp_path / "bad.csv").write_text(HEADER + "tts-us,P9,,Thing,1e400,USD,,lily,,\n", encoding="utf-8")
    bad = cli(tmp_path, "products", "import", "bad.csv")
    assert (bad.returncode, bad.stdout, bad.stderr) == (
        2, "", "kpibot: nothing imported: line 2: unit_cost '1e400' is not an amount below 1,000,000,000; "
               "line 2: no active member 'lily' in shop tts-us's organisation\n")


def test_a_name_is_stored_clean_and_at_most_200_characters(engine: Engine, tmp_path: Path) -> None:
    """Control characters typed into a name once reached /digest's top products raw (ESC [31m, BEL)."""
    _setup(engine)
    path = tmp_path / "p.csv"
    path.write_text(HEADER + f"tts-us,P2,S2,{'G' * 300},,,,,,\n"
                    "tts-us,P3,S3,\x1b\x07,,,,,,\n", encoding="utf-8")
    assert refusal(engine, path) == (f"line 2: name '{'G' * 39}…' has 300 characters, at most 200; "
                                  "line 3: name '' is empty")
    # rows of one product agree when their names clean to the same
    path.write_text(HEADER + "tts-us,P2,S2,Mug\x1b[31mRED\x07  big ,1.00,,,,,\n"
                    "tts-us,P2,S3,Mug[31mRED big,2.00,,,,,\n", encoding="utf-8")
    assert _import(engine, path) == ProductImport(1, 0, 2, 0)
    assert _catalogue(engine)["P2"] == ("Mug[31mRED big", None, 0, None, {"S2": (100, "USD"), "S3": (200, "USD")})
    with Session(engine) as s:
        assert s.execute(select(Sku.name).where(Sku.platform_sku_id == "S2")).scalar_one() == "Mug[31mRED big"

"""File imports: every preset on a messy hand-written file, with totals computed by hand in the comments.

The sample files are in tests/data/imports. Times in them are the shop's local time: for the US files
America/Los_Angeles, where daylight saving time ended on 2026-11-01 (PDT = UTC-7 before, PST = UTC-8 after).
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from bot.shops.files import ImportRefused, Problem, read_file, refusal, stream_file
from storage.ingest.records import (
    AdSpendRecord,
    LineRecord,
    LiveRecord,
    OrderRecord,
    OrderStatus,
    PostRecord,
    Record,
    RefundKind,
    RefundRecord,
    RefundStatus,
)

DATA = Path(__file__).parent / "data" / "imports"
LA = "America/Los_Angeles"
D = Decimal


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def orders(records: tuple[Record, ...]) -> list[OrderRecord]:
    assert all(isinstance(r, OrderRecord) for r in records)
    return [r for r in records if isinstance(r, OrderRecord)]


def line(line_id: str, sku: str, name: str, qty: int, unit: str, amount: str, seller: str | None) -> LineRecord:
    return LineRecord(platform_line_id=line_id, platform_product_id=sku, platform_sku_id=sku, product_name=name,
                      quantity=qty, unit_price=D(unit), amount=D(amount), seller_sku=seller)


# ---------------------------------------------------------------------------------------------- TikTok, US
US_ORDERS = (
    # 2 x hoodie 24.99 = 49.98 - 2.00 platform - 3.00 seller = 44.98; tee 12.50 - 1.25 = 11.25
    # subtotal 62.48, merchandise 56.23, discount 6.25; total 56.23 + 4.99 + 4.82 = 66.04
    OrderRecord(
        platform_order_id="576461234567890123", status=OrderStatus.COMPLETED, currency="USD",
        subtotal=D("62.48"), discount=D("6.25"), merchandise=D("56.23"), shipping=D("4.99"), tax=D("4.82"),
        total=D("66.04"),
        created_at=utc(2026, 11, 4, 5, 15, 22),     # 11/03/2026 09:15:22 PM PST
        updated_at=utc(2026, 11, 8, 23, 30, 45), paid_at=utc(2026, 11, 4, 5, 16, 1),
        shipped_at=utc(2026, 11, 5, 18, 2), delivered_at=utc(2026, 11, 8, 23, 30, 45),
        lines=(line("576461234567890123-1729384756", "1729384756", "Fleece Hoodie", 2, "22.49", "44.98", "HOOD-BLK-M"),
               line("576461234567890123-1729384757", "1729384757", "Cotton Tee", 1, "11.25", "11.25", "TEE-WHT-L")),
        buyer_ref="shopper_jo"),
    # hoodie 24.99; 3 caps 24.00 - 2.00 = 22.00 (unit 7.333 -> 7.33); the same hoodie again, free (24.99 off)
    # subtotal 73.98, merchandise 46.99, discount 26.99; total 46.99 + 0 + 3.76 = 50.75
    OrderRecord(
        platform_order_id="576461234567890124", status=OrderStatus.SHIPPED, currency="USD",
        subtotal=D("73.98"), discount=D("26.99"), merchandise=D("46.99"), shipping=D("0"), tax=D("3.76"),
        total=D("50.75"),
        created_at=utc(2026, 11, 4, 16, 5), updated_at=utc(2026, 11, 6, 21, 0), paid_at=utc(2026, 11, 4, 16, 5, 30),
        shipped_at=utc(2026, 11, 6, 21, 0),
        lines=(line("576461234567890124-1729384756", "1729384756", "Fleece Hoodie", 1, "24.99", "24.99", "HOOD-BLK-M"),
               line("576461234567890124-1729384758", "1729384758", "Logo Cap", 3, "7.33", "22.00", "CAP-RED"),
               line("576461234567890124-1729384756-2", "1729384756", "Fleece Hoodie", 1, "0.00", "0.00",
                    "HOOD-BLK-M")),
        buyer_ref="kim_buys"),
    # 40 x 30.00 = 1,200.00 - 60.00 = 1,140.00; total 1,140.00 + 91.20 = 1,231.20, all refunded on cancelling
    OrderRecord(
        platform_order_id="576461234567890125", status=OrderStatus.CANCELLED, currency="USD",
        subtotal=D("1200"), discount=D("60"), merchandise=D("1140"), shipping=D("0"), tax=D("91.20"),
        total=D("1231.20"),
        created_at=utc(2026, 11, 7, 7, 59, 59), updated_at=utc(2026, 11, 7, 20, 30),
        paid_at=utc(2026, 11, 7, 8, 0, 10),            # 12:00:10 AM is ten seconds past midnight
        cancelled_at=utc(2026, 11, 7, 20, 30),
        lines=(line("576461234567890125-1729384799", "1729384799", "Gift Box Set", 40, "28.50", "1140.00",
                    "GIFT-BOX"),),
        refunds=(RefundRecord("576461234567890125-refund", RefundKind.CANCELLATION, RefundStatus.COMPLETED, "USD",
                              D("1231.20"), utc(2026, 11, 7, 20, 30), utc(2026, 11, 7, 20, 30), 0),),
        buyer_ref="gifts4all"),
    # created 10/31 11:30 PM PDT (UTC-7), delivered 11/05 9:00 AM PST (UTC-8); one of two pairs returned
    OrderRecord(
        platform_order_id="576461234567890126", status=OrderStatus.COMPLETED, currency="USD",
        subtotal=D("39.98"), discount=D("0"), merchandise=D("39.98"), shipping=D("5.99"), tax=D("3.20"),
        total=D("49.17"),
        created_at=utc(2026, 11, 1, 6, 30), updated_at=utc(2026, 11, 5, 17, 0), paid_at=utc(2026, 11, 1, 6, 31),
        shipped_at=utc(2026, 11, 2, 17, 0), delivered_at=utc(2026, 11, 5, 17, 0),
        lines=(line("576461234567890126-1729384760", "1729384760", "Wool Socks 3-pack", 2, "19.99", "39.98",
                    "SOCK-3PK"),),
        refunds=(RefundRecord("576461234567890126-refund", RefundKind.RETURN_AND_REFUND, RefundStatus.COMPLETED,
                              "USD", D("21.59"), utc(2026, 11, 5, 17, 0), utc(2026, 11, 5, 17, 0), 1),),
        buyer_ref="sock_fan"),
)


def test_tiktok_us_export_groups_sku_rows_into_orders() -> None:
    # BOM, a description row, trailing tabs in ids and times, US dates with AM/PM, "$66.04" beside "66.04",
    # "1,231.20", order-level cells on every row (A) or on the first row only (B), a blank line
    result = read_file(DATA / "tiktok_us_orders.csv", "tiktok_orders", tz=LA)
    assert result.problems == () and result.clean
    assert result.records == US_ORDERS
    assert result.rows == 7
    assert sum((o.merchandise for o in orders(result.records)), D(0)) == D("1283.20")
    assert sum((o.total for o in orders(result.records)), D(0)) == D("1397.16")
    assert [o.units for o in orders(result.records)] == [3, 5, 40, 2]


def write_xlsx_copy(src: Path, dst: Path) -> None:
    """The CSV as Excel would hold it: amounts and counts as numbers, Paid Time as a real date cell."""
    rows = list(csv.reader(src.read_text(encoding="utf-8-sig").splitlines()))
    header = rows[0]
    numbers = {"SKU Unit Original Price", "SKU Subtotal Before Discount", "SKU Platform Discount",
               "SKU Seller Discount", "SKU Subtotal After Discount", "Shipping Fee After Discount", "Taxes",
               "Order Amount", "Order Refund Amount"}
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for n, row in enumerate(rows):
        if not row:
            sheet.append([])
            continue
        out: list[object] = []
        for name, cell in zip(header, row, strict=True):
            if n < 2 or not cell.strip():
                out.append(cell)
            elif name in numbers:
                out.append(float(cell.replace("$", "").replace(",", "")))
            elif name in ("Quantity", "Sku Quantity of return"):
                out.append(int(cell))
            elif name == "Paid Time":
                out.append(datetime.strptime(cell.strip(), "%m/%d/%Y %I:%M:%S %p"))
            else:
                out.append(cell)
        sheet.append(out)
    book.save(dst)


def test_xlsx_copy_of_the_csv_gives_the_same_records(tmp_path: Path) -> None:
    xlsx = tmp_path / "tiktok_us_orders.xlsx"
    write_xlsx_copy(DATA / "tiktok_us_orders.csv", xlsx)
    result = read_file(xlsx, "tiktok_orders", tz=LA)
    assert result.problems == ()
    assert result.records == US_ORDERS
    assert result.rows == 7


def test_xlsx_id_that_excel_stored_as_a_number_is_a_problem(tmp_path: Path) -> None:
    xlsx = tmp_path / "ids.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["post_id", "published_at", "views"])
    sheet.append([5.764612345678901e17, datetime(2026, 11, 2, 10, 0), 10])
    sheet.append(["576461234567890123", datetime(2026, 11, 2, 11, 0), 12.0])
    book.save(xlsx)
    result = read_file(xlsx, "videos", tz="UTC")
    assert [str(p) for p in result.problems] == [
        "line 2: post_id: id '5.7646123456789e+17' is a number Excel rounded; format the column as text and "
        "export again"]
    assert result.records == (PostRecord("576461234567890123", None, utc(2026, 11, 2, 11, 0), 12),)


# ---------------------------------------------------------------------------------------------- TikTok, UK
def test_tiktok_uk_export_reads_day_first_dates_and_pounds() -> None:
    # semicolons, no description row, DD/MM/YYYY 24-hour times, "£" amounts, currency GBP from Country;
    # London: BST (UTC+1) until 2026-10-25, GMT after
    result = read_file(DATA / "tiktok_uk_orders.csv", "tiktok_orders", tz="Europe/London")
    assert result.problems == ()
    mug, towels = orders(result.records)
    assert mug == OrderRecord(
        platform_order_id="576461234567890200", status=OrderStatus.DELIVERED, currency="GBP",
        subtotal=D("25.00"), discount=D("2.50"), merchandise=D("22.50"), shipping=D("3.99"), tax=D("0"),
        total=D("26.49"), created_at=utc(2026, 11, 3, 14, 5, 9), updated_at=utc(2026, 11, 4, 9, 0),
        paid_at=utc(2026, 11, 3, 14, 6), shipped_at=utc(2026, 11, 4, 9, 0),
        lines=(line("576461234567890200-1729385001", "1729385001", "Enamel Mug", 1, "22.50", "22.50", "MUG-01"),),
        buyer_ref="tea_time")
    # 10.00 + 2 x 8.00 = 26.00 before, 10.00 + 14.40 = 24.40 after; "To ship"/"Awaiting shipment" is paid
    assert (towels.status, towels.subtotal, towels.discount, towels.total) == (
        OrderStatus.PAID, D("26.00"), D("1.60"), D("24.40"))
    assert towels.created_at == utc(2026, 10, 24, 8, 0)


def test_explicit_date_order_wins_over_the_country() -> None:
    result = read_file(DATA / "tiktok_uk_orders.csv", "tiktok_orders", tz="Europe/London", date_order="MDY")
    assert [str(p) for p in result.problems][:1] == [
        "line 3: Created Time: date '24/10/2026 09:00:00' is not valid in MM/DD/YYYY order (it reads as "
        "DD/MM/YYYY: is date_order wrong?)"]
    (mug,) = orders(result.records)
    assert mug.created_at == utc(2026, 3, 11, 14, 5, 9)


TIKTOK_MINIMAL = ("Order ID,Order Status,SKU ID,Product Name,Quantity,SKU Subtotal Before Discount,"
                  "SKU Subtotal After Discount,Order Amount,Created Time,Country\n")


def test_a_file_of_ambiguous_dates_is_refused_unless_the_file_or_the_flag_settles_the_order(tmp_path: Path) -> None:
    # the order was a per-row problem; it is now the whole file's, settled by its own dates (never its Country)
    path = tmp_path / "ambiguous.csv"
    path.write_text(TIKTOK_MINIMAL + "1001,Completed,9,Mug,1,5.00,5.00,5.00,04/05/2026 10:00:00,United States\n",
                    encoding="utf-8")
    with pytest.raises(ImportRefused) as refused:
        read_file(path, "tiktok_orders", tz="UTC", currency="USD")
    assert str(refused.value) == (
        "ambiguous.csv: no date in the file shows whether it is day/month or month/day (line 2 has "
        "'04/05/2026 10:00:00'); pass --date-order dmy or --date-order mdy (in a mapping file: date_order = \"dmy\")")
    (order,) = orders(read_file(path, "tiktok_orders", tz="UTC", currency="USD", date_order="dmy").records)
    assert order.created_at == utc(2026, 5, 4, 10)
    # another row's 25/05/2026 can only be day-first, so the file's dates are day-first
    path.write_text(TIKTOK_MINIMAL + "1001,Completed,9,Mug,1,5.00,5.00,5.00,04/05/2026 10:00:00,\n"
                    "1002,Completed,9,Mug,1,5.00,5.00,5.00,25/05/2026 10:00:00,\n", encoding="utf-8")
    result = read_file(path, "tiktok_orders", tz="UTC", currency="USD")
    assert result.problems == ()
    assert [o.created_at for o in orders(result.records)] == [utc(2026, 5, 4, 10), utc(2026, 5, 25, 10)]


def test_excel_day_month_dates_win_over_a_us_country(tmp_path: Path) -> None:
    # a US export re-saved by Excel in a day/month locale: 13/11 proves day/month, so 03/11 is 3 November
    path = tmp_path / "resaved.csv"
    path.write_text(TIKTOK_MINIMAL + "1001,Completed,9,Mug,1,5.00,5.00,5.00,03/11/2026 10:00:00,United States\n"
                    "1002,Completed,9,Mug,1,5.00,5.00,5.00,13/11/2026 10:00:00,United States\n", encoding="utf-8")
    result = read_file(path, "tiktok_orders", tz="UTC")
    assert result.problems == ()
    assert [(o.created_at, o.currency) for o in orders(result.records)] == [
        (utc(2026, 11, 3, 10), "USD"), (utc(2026, 11, 13, 10), "USD")]


def test_dates_proven_in_both_orders_refuse_the_file_naming_one_line_of_each() -> None:
    with pytest.raises(ImportRefused) as refused:
        read_file(DATA / "tiktok_bad_orders.csv", "tiktok_orders", tz=LA)
    assert str(refused.value) == (
        "tiktok_bad_orders.csv: its dates are in two orders: line 12 has '25/11/2026 10:00:00' (day/month only) and "
        "line 3 has '11/25/2026 10:00:00 AM' (month/day only); fix the file, or pass --date-order dmy or mdy to "
        "read it one way (the other dates are then problems)")


def test_bad_rows_are_reported_with_their_spreadsheet_lines() -> None:
    # line 1 is the header, line 2 the description row
    result = read_file(DATA / "tiktok_bad_orders.csv", "tiktok_orders", tz=LA, date_order="MDY")
    assert [str(p) for p in result.problems] == [
        "line 4: order 576461234567890300: Order Amount is '15.00' on this line but '10.00' on line 3",
        "line 5: Created Time: '13/45/2026 10:00:00 AM' is not a valid date and time (month must be in 1..12)",
        "line 6: SKU Subtotal After Discount: '12,5' does not read as a number with '.' as decimal mark "
        "(if ',' is the decimal mark here, pass decimal_mark=',')",
        "line 7: Quantity: '-1' is negative",
        "line 9: SKU Unit Original Price: '£10.00' is not in USD",
        "line 9: SKU Subtotal Before Discount: '£10.00' is not in USD",
        "line 9: SKU Subtotal After Discount: '£10.00' is not in USD",
        "line 10: Order ID: id '5.76461E+17' is a number Excel rounded; format the column as text and export again",
        "line 12: Created Time: date '25/11/2026 10:00:00' is not valid in MM/DD/YYYY order (it reads as "
        "DD/MM/YYYY: is date_order wrong?)",
        "line 12: order 576461234567890306: unknown status 'Teleported' (map it in a mapping file's [statuses])",
    ]
    # only the good order is left: 3 x 2.00 + 1.00 shipping + 0.48 tax = 7.48, 07:45 PM PST = 03:45 UTC
    (good,) = orders(result.records)
    assert (good.platform_order_id, good.merchandise, good.total, good.created_at) == (
        "576461234567890305", D("6.00"), D("7.48"), utc(2026, 11, 27, 3, 45))
    assert result.rows == 10


def test_the_refusal_of_a_file_with_problems_lists_them() -> None:
    result = read_file(DATA / "tiktok_bad_orders.csv", "tiktok_orders", tz=LA, date_order="MDY")
    refused = refusal(result.path, result.problems, result.problem_count, "skip_bad_rows")
    message = str(refused).splitlines()
    assert message[0] == ("tiktok_bad_orders.csv: 10 problem(s), nothing imported (fix the file, or import the "
                          "good rows with skip_bad_rows):")
    assert message[1] == ("  line 4: order 576461234567890300: Order Amount is '15.00' on this line but '10.00' "
                          "on line 3")
    assert len(message) == 11 and refused.problems == result.problems
    clean = read_file(DATA / "tiktok_us_orders.csv", "tiktok_orders", tz=LA)
    assert (clean.problems, clean.records) == ((), US_ORDERS)


def test_the_refusal_lists_the_first_20_problems(tmp_path: Path) -> None:
    path = tmp_path / "views.csv"
    path.write_text("post_id,published_at,views\n" + "".join(f"P{n},2026-11-02 10:00,-{n}\n" for n in range(1, 26)),
                    encoding="utf-8")
    result = read_file(path, "videos", tz="UTC")
    message = str(refusal(result.path, result.problems, result.problem_count, "skip_bad_rows")).splitlines()
    assert len(message) == 22
    assert message[0].startswith("views.csv: 25 problem(s), nothing imported")
    assert message[1] == "  line 2: views: '-1' is negative"
    assert message[20] == "  line 21: views: '-20' is negative"
    assert message[21] == "  ... and 5 more"


# ---------------------------------------------------------------------------------------------- refusals
def test_missing_columns_are_named_with_the_presets_the_file_fits() -> None:
    with pytest.raises(ImportRefused) as refused:
        read_file(DATA / "videos.csv", "live_sessions", tz=LA)
    assert str(refused.value) == (
        "videos.csv does not fit live_sessions: missing column(s) session_id, started_at, ended_at, gmv, viewers. "
        "The file's columns: post_id, author, published_at, views, likes, comments, … (11 in all). Its columns "
        "fit: videos. To import it as live_sessions, map its columns with --mapping FILE (a TOML mapping file; its "
        "form is at the top of bot/shops/files.py).")
    assert refused.value.missing == ("session_id", "started_at", "ended_at", "gmv", "viewers")
    assert refused.value.fits == ("videos",)
    with pytest.raises(ImportRefused) as refused:
        read_file(DATA / "tiktok_us_orders.csv", "ad_spend")
    assert refused.value.missing == ("campaign_id", "day", "spend", "clicks", "impressions")
    assert refused.value.fits == ("tiktok_orders",)
    with pytest.raises(ImportRefused) as refused:
        read_file(DATA / "temu_orders.csv", "tiktok_orders", tz=LA)
    assert str(refused.value) == (
        "temu_orders.csv does not fit tiktok_orders: missing column(s) Order ID, SKU ID, Product Name, "
        "SKU Subtotal Before Discount, SKU Subtotal After Discount, Order Amount, Created Time. The file's columns: "
        "Order number, Order status, Item ID, Goods name, Quantity, Base price, … (12 in all). Its columns fit no "
        "other preset. To import it as tiktok_orders, map its columns with --mapping FILE (a TOML mapping file; "
        "its form is at the top of bot/shops/files.py).")


def test_an_export_with_chinese_headers_is_refused_with_its_own_columns_shown_and_the_mapping_hint(
        tmp_path: Path) -> None:
    """A seller center set to Chinese exports 订单号... : the refusal shows the file's columns (controls dropped,
    a long name cut) so the user can write the mapping file."""
    export = tmp_path / "订单导出.csv"
    export.write_text("订单号,订单状态,商品\x1bID,商品名称,数量,"
                      "这是一个非常非常非常非常非常非常非常非常非常非常长的列名称用于测试\n"
                      "576461234567890305,已发货,1729,手机壳,2,5.99\n", encoding="utf-8")
    with pytest.raises(ImportRefused) as refused:
        read_file(export, "tiktok_orders", tz=LA)
    assert str(refused.value) == (
        "订单导出.csv does not fit tiktok_orders: missing column(s) Order ID, Order Status, SKU ID, Product Name, "
        "Quantity, SKU Subtotal Before Discount, SKU Subtotal After Discount, Order Amount, Created Time. The "
        "file's columns: 订单号, 订单状态, 商品ID, 商品名称, 数量, "
        "这是一个非常非常非常非常非常非常非常非常非常非常长的列名称…. "
        "Its columns fit no other preset. To import it as tiktok_orders, map its columns with --mapping FILE (a "
        "TOML mapping file; its form is at the top of bot/shops/files.py).")


def test_options_and_mappings_are_checked() -> None:
    cases = [
        (lambda: read_file(DATA / "tiktok_us_orders.csv", "tiktok_orders"), "pass tz"),
        (lambda: read_file(DATA / "temu_orders.csv", "temu_orders", tz=LA), "needs a mapping file"),
        (lambda: read_file(DATA / "temu_orders.csv", "shein_orders", DATA / "temu_mapping.toml", tz=LA),
         "the mapping file is for temu_orders, not shein_orders"),
        (lambda: read_file(DATA / "temu_orders.csv", "temu_orders", {"columns": {"sku": "Item ID"}}, tz=LA),
         "temu_orders has no field(s) sku"),
        (lambda: read_file(DATA / "temu_orders.csv", "temu_orders", {"statuses": {"Gone": "lost"}}, tz=LA),
         "is not one of unpaid, paid"),
        (lambda: read_file(DATA / "ad_spend.csv", "ad_spend", currency="XYZ"),
         "unknown currency 'XYZ' (an ISO 4217 code such as USD)"),
        (lambda: read_file(DATA / "ad_spend.csv", "ad_spend", currency="XAU"),
         "unknown currency 'XAU' (an ISO 4217 code such as USD)"),
        (lambda: read_file(DATA / "ad_spend.csv", "ad_spend", date_order="YMD"), "date_order must be"),
        (lambda: read_file(DATA / "videos.csv", "videos", tz="Mars/Olympus"), "unknown time zone"),
        (lambda: read_file(DATA / "videos.csv", "tiktok"), "unknown preset 'tiktok'"),
        (lambda: read_file(DATA / "temu_orders.csv", "temu_orders", {"columns": {"order_id": "Order number"}},
                           tz=LA), "missing column(s) status (not in the mapping file)"),
    ]
    for call, text in cases:
        with pytest.raises(ImportRefused) as refused:
            call()
        assert text in str(refused.value)


def test_a_gbk_export_is_detected_and_its_chinese_names_read_exactly(tmp_path: Path) -> None:
    # Excel on Chinese Windows saves "CSV" in GBK; GB18030 (its superset) is tried when UTF-8 does not decode
    path = tmp_path / "gbk.csv"
    path.write_bytes((TIKTOK_MINIMAL + "1001,Completed,9,景德镇陶瓷杯,1,5.00,5.00,5.00,2026-11-02 10:00:00,中国\n"
                      "1002,Completed,8,丝绸围巾,2,9.00,9.00,9.00,2026-11-03 10:00:00,中国\n").encode("gbk"))
    for encoding in (None, "gbk"):
        result = read_file(path, "tiktok_orders", tz="Asia/Shanghai", currency="CNY", encoding=encoding)
        assert result.problems == ()
        assert [(o.lines[0].product_name, o.created_at) for o in orders(result.records)] == [
            ("景德镇陶瓷杯", utc(2026, 11, 2, 2)), ("丝绸围巾", utc(2026, 11, 3, 2))]
    # kpibot import's summary names the encoding when it was detected, not when given
    assert [stream_file(path, "tiktok_orders", tz="UTC", currency="CNY", encoding=e).read_note
            for e in (None, "gbk")] == ["; read as GB18030", ""]
    post = tmp_path / "videos.csv"
    post.write_bytes("post_id,author,published_at,views\nV-1,小红,2026-11-02 10:00,5\n".encode("gb18030"))
    assert read_file(post, "videos", tz="Asia/Shanghai").records == (
        PostRecord("V-1", "小红", utc(2026, 11, 2, 2, 0), 5),)


def test_a_csv_in_neither_utf8_nor_gb18030_is_refused_with_the_encoding_advice(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("post_id,author,published_at,views\nV-1,José Müller,2026-11-02 10:00,5\n".encode("cp1252"))
    with pytest.raises(ImportRefused) as refused:
        read_file(path, "videos", tz="UTC")
    assert str(refused.value) == (
        "latin.csv is not UTF-8 text and its encoding cannot be told; save it as 'CSV UTF-8', or pass its encoding "
        "with --encoding (e.g. --encoding cp1252 for Western Excel, --encoding gb18030 for Chinese: it reads GBK too)")
    for given in ({"encoding": "cp1252"}, None):     # the mapping file's key, or the argument
        assert read_file(path, "videos", given, tz="UTC", encoding=None if given else "cp1252").records == (
            PostRecord("V-1", "José Müller", utc(2026, 11, 2, 10, 0), 5),)
    with pytest.raises(ImportRefused) as refused:
        read_file(path, "videos", tz="UTC", encoding="utf-8")
    assert str(refused.value) == ("latin.csv is not utf-8 text; pass the file's own encoding with --encoding, or "
                                  "save it as 'CSV UTF-8'")


def test_utf16_by_its_bom_either_way(tmp_path: Path) -> None:
    text = "post_id,author,published_at,views\nV-1,小红,2026-11-02 10:00,5\n"
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        path = tmp_path / f"{codec}.csv"
        path.write_bytes(bom + text.encode(codec))
        assert read_file(path, "videos", tz="UTC").records == (PostRecord("V-1", "小红", utc(2026, 11, 2, 10), 5),)


# ---------------------------------------------------------------------------------------------- Temu, SHEIN
def test_temu_export_through_its_mapping_file() -> None:
    result = read_file(DATA / "temu_orders.csv", "temu_orders", DATA / "temu_mapping.toml", tz="America/New_York")
    # PO-211-003's second item is in EUR while the first is in USD
    assert result.problems == (Problem(6, "order PO-211-003: this line is in EUR but line 5 is in USD"),)
    cases, film = orders(result.records)
    # 2 x 5.99 + 3.50 = 15.48, no discount; 10:00 EST = 15:00 UTC
    assert cases == OrderRecord(
        platform_order_id="PO-211-001", status=OrderStatus.SHIPPED, currency="USD", subtotal=D("15.48"),
        discount=D("0"), merchandise=D("15.48"), shipping=D("0"), tax=D("0"), total=D("15.48"),
        created_at=utc(2026, 11, 2, 15, 0), updated_at=utc(2026, 11, 2, 15, 0),
        lines=(line("PO-211-001-601", "601", "Phone Case", 2, "5.99", "11.98", None),
               line("PO-211-001-602", "602", "USB Cable", 1, "3.50", "3.50", None)),
        buyer_ref="buyer_a")
    # 4 x 1.25 = 5.00 before, 4.00 after: 1.00 discount; "Processing by warehouse" mapped to paid
    assert (film.status, film.subtotal, film.discount, film.merchandise, film.shipping, film.total) == (
        OrderStatus.PAID, D("5.00"), D("1.00"), D("4.00"), D("1.99"), D("5.99"))
    assert film.lines[0].unit_price == D("1.00")
    assert film.created_at == utc(2026, 11, 4, 4, 59, 59)


def test_shein_export_with_decimal_commas_and_euro_signs() -> None:
    # the mapping gives EUR, Europe/Berlin, "%d.%m.%Y %H:%M" and "," as decimal mark; CEST until 2026-10-25
    result = read_file(DATA / "shein_orders.csv", "shein_orders", DATA / "shein_mapping.toml")
    assert result.problems == ()
    coat, clips = orders(result.records)
    assert (coat.merchandise, coat.total, coat.created_at, coat.status) == (
        D("1234.50"), D("1234.50"), utc(2026, 10, 28, 17, 45), OrderStatus.COMPLETED)
    # 2 x 9,90 + 4,95 = 24,75; + 3,99 shipping = 28,74
    assert (clips.merchandise, clips.shipping, clips.total, clips.created_at) == (
        D("24.75"), D("3.99"), D("28.74"), utc(2026, 10, 24, 6, 0))
    assert [x.amount for x in clips.lines] == [D("19.80"), D("4.95")]


# ---------------------------------------------------------------------------------------------- our templates
def test_live_sessions() -> None:
    result = read_file(DATA / "live_sessions.csv", "live_sessions", tz=LA)
    assert [str(p) for p in result.problems] == ["line 5: session L-1001 is already on line 2",
                                                 "line 6: ended_at is before started_at"]
    assert result.records == (
        # 37.5 s x 1,204 viewers = 45,150 s watched; 980 + 211 + 45 = 1,236 interactions; 19:00 PST = 03:00 UTC
        LiveRecord("L-1001", "amy_live", "Fall drop", utc(2026, 11, 4, 3, 0), utc(2026, 11, 4, 5, 30), "USD",
                   D("3456.78"), 1204, 5310, 45150, 1236, 88),
        LiveRecord("L-1002", "amy_live", None, utc(2026, 11, 5, 20, 0), utc(2026, 11, 5, 21, 0), "USD", D("0"),
                   0, 0, 0, 0, 0),
    )


def test_a_local_time_the_clocks_skip_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "live.csv"
    path.write_text("session_id,started_at,ended_at,gmv,viewers,views\n"
                    "S1,2026-03-08 02:30,2026-03-08 04:00,1.00,1,1\n", encoding="utf-8")
    result = read_file(path, "live_sessions", tz=LA, currency="USD")
    assert [str(p) for p in result.problems] == [
        "line 2: started_at: '2026-03-08 02:30' does not exist in America/Los_Angeles (the clocks skip it)"]


def test_videos() -> None:
    result = read_file(DATA / "videos.csv", "videos", tz=LA)
    assert [str(p) for p in result.problems] == ["line 4: views: '1.5K' is not a number"]
    assert result.records == (
        PostRecord("V-1", "amy_live", utc(2026, 11, 2, 18, 30), 12000, 800, 40, 12, 30, 5, 9, "video"),  # Z kept
        PostRecord("V-2", "ben_cuts", utc(2026, 11, 4, 16, 15), 950),
    )


def test_ad_spend_days_need_an_order_when_ambiguous() -> None:
    first, second = (
        AdSpendRecord("1800012345", date(2026, 11, 3), "USD", D("125.40"), 310, 45000, 120, D("980.00"),
                      "adbuyer_kim"),
        AdSpendRecord("1800012345", date(2026, 11, 4), "USD", D("98.10"), 250, 38500, 0, D("0"), "adbuyer_kim"))
    with pytest.raises(ImportRefused) as refused:
        read_file(DATA / "ad_spend.csv", "ad_spend")
    assert str(refused.value).startswith("ad_spend.csv: no date in the file shows whether it is day/month or "
                                         "month/day (line 4 has '11/04/2026'); ")
    result = read_file(DATA / "ad_spend.csv", "ad_spend", date_order="MDY")
    assert result.records == (first, second, AdSpendRecord("1800067890", date(2026, 11, 4), "USD", D("40.00"), 90,
                                                           12345, 0, D("150.00"), None))


def test_a_currency_column_takes_iso_codes_in_any_case_and_refuses_others(tmp_path: Path) -> None:
    path = tmp_path / "ads.csv"
    path.write_text("campaign_id,day,currency,spend,clicks,impressions\nC1,2026-11-03,nzd,12.30,1,1\n"
                    "C2,2026-11-03,INR,99,1,1\nC3,2026-11-03,XXX,5,1,1\nC4,2026-11-03,ABC,5,1,1\n", encoding="utf-8")
    result = read_file(path, "ad_spend")
    assert [str(p) for p in result.problems] == ["line 4: currency: unknown currency 'XXX'",
                                                 "line 5: currency: unknown currency 'ABC'"]
    assert [(r.campaign_id, r.currency, r.spend) for r in result.records
            if isinstance(r, AdSpendRecord)] == [("C1", "NZD", D("12.30")), ("C2", "INR", D("99"))]


@pytest.mark.parametrize(("cell", "options", "expected"), [
    ('"1,234.50"', {"currency": "USD"}, ("USD", D("1234.50"))),
    ("$12.00", {"currency": "USD"}, ("USD", D("12.00"))),
    ("£5", {}, ("GBP", D("5"))),
    ('"12,50 €"', {"decimal_mark": ","}, ("EUR", D("12.50"))),
    ('"1.234,50"', {"currency": "EUR", "decimal_mark": ","}, ("EUR", D("1234.50"))),
    ("Rp 12.000", {"currency": "IDR", "decimal_mark": ","}, ("IDR", D("12000"))),
    ("USD 7.5", {}, ("USD", D("7.5"))),
    ("CHF 7.50", {}, ("CHF", D("7.50"))),             # any ISO 4217 code, in any case, marks an amount
    ("7.5 sek", {}, ("SEK", D("7.5"))),
    ("1.234", {"currency": "KWD"}, ("KWD", D("1.234"))),  # Kuwaiti fils: 3 decimals
    ("1.2345", {"currency": "KWD"}, "'1.2345' has more decimals than KWD allows (3); is the decimal mark wrong?"),
    ("XAU 7", {}, "'XAU 7' has an unknown currency sign 'XAU'"),   # gold has no minor unit
    ("7 CHF", {"currency": "SEK"}, "'7 CHF' is not in SEK"),
    ("Rp 12.000", {"currency": "IDR"}, "'Rp 12.000' has more decimals than IDR allows (2); is the decimal mark wrong?"),
    ('"12,50"', {"currency": "USD"}, "'12,50' does not read as a number with '.' as decimal mark (if ',' is the "
                                      "decimal mark here, pass decimal_mark=',')"),
    ("€12.00", {"currency": "USD"}, "'€12.00' is not in USD"),
    ("$5", {}, "'$5': '$' could be AUD, CAD, CLP, HKD, MXN, SGD, TWD, USD; pass currency="),
    ("-3.00", {"currency": "USD"}, "'-3.00' is negative"),
    ("12.5.0", {"currency": "USD"}, "'12.5.0' does not read as a number with '.' as decimal mark"),
])
def test_money_cells(tmp_path: Path, cell: str, options: dict[str, str], expected: object) -> None:
    path = tmp_path / "ads.csv"
    path.write_text(f"campaign_id,day,spend,clicks,impressions\nC1,2026-11-03,{cell},1,1\n", encoding="utf-8")
    result = read_file(path, "ad_spend", **options)
    if isinstance(expected, tuple):
        assert result.problems == ()
        (record,) = result.records
        assert isinstance(record, AdSpendRecord) and isinstance(record.spend, Decimal)
        assert (record.currency, record.spend) == expected
    else:
        assert [str(p) for p in result.problems] == [f"line 2: spend: {expected}"]
        assert result.records == ()


def test_streaming_in_batches_of_one_gives_the_same_records_in_order() -> None:
    stream = stream_file(DATA / "tiktok_us_orders.csv", "tiktok_orders", tz=LA, batch_size=1)
    batches = list(stream.batches())
    assert [len(b) for b in batches] == [1] * len(US_ORDERS)
    assert tuple(r for b in batches for r in b) == US_ORDERS
    assert (stream.rows, stream.problem_count) == (read_file(DATA / "tiktok_us_orders.csv", "tiktok_orders",
                                                             tz=LA).rows, 0)

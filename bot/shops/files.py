"""File imports: seller-center exports and our own templates (CSV or XLSX) as the neutral records.

    result = read_file("orders.csv", "tiktok_orders", tz="America/Los_Angeles")   # result.records, .problems

    stream = stream_file("big.csv", "tiktok_orders", tz="America/Los_Angeles")   # a file of any size
    for batch in stream.batches(): ...                     # then stream.problem_count, stream.problems()

Presets (``PRESETS``; headers match case-, space- and punctuation-insensitively, so "order_id", "Order ID" and
"ORDER-ID" are one column; extra columns are ignored; * = required):

* ``tiktok_orders``: the TikTok Shop seller-center order export, one row per SKU line, rows grouped by Order ID
  into one ``OrderRecord``. Columns: Order ID*, Order Status*, Order Substatus, Cancelation/Return Type, SKU ID*,
  Seller SKU, Product Name*, Quantity*, Sku Quantity of return, SKU Unit Original Price, SKU Subtotal Before
  Discount*, SKU Platform Discount, SKU Seller Discount, SKU Subtotal After Discount*, Shipping Fee After
  Discount, Taxes, Order Amount*, Order Refund Amount, Created Time*, Paid Time, Shipped Time, Delivered Time,
  Cancelled Time, Buyer Username, Country (Variation, Payment Method and Creator Handle are not read).
* ``temu_orders``, ``shein_orders``: the same order model through a mapping file (below); there is no public
  spec of these exports, so nothing is assumed about their headers.
* ``live_sessions`` -> ``LiveRecord``: session_id*, host, title, started_at*, ended_at*, currency, gmv*,
  viewers*, views*, avg_watch_seconds (average viewing duration in seconds; watch_seconds = avg x viewers,
  rounded half up), likes, comments, shares (interactions = their sum), new_followers.
* ``videos`` -> ``PostRecord``: post_id*, author, published_at*, views*, likes, comments, shares, add_to_cart,
  orders, new_followers, kind (default "video").
* ``ad_spend`` -> ``AdSpendRecord``: campaign_id*, day* (the ad platform's reporting day, not converted),
  currency, spend*, clicks*, impressions*, live_room_visitors, attributed_gmv, account (-> buyer_ref).
  An empty optional count or amount is 0.

Order fields (the names a mapping file uses; a TikTok header in brackets): order_id [Order ID], status
[Order Status], substatus [Order Substatus], return_type [Cancelation/Return Type], line_id, sku_id [SKU ID],
product_id, seller_sku [Seller SKU], product_name [Product Name], quantity [Quantity], returned_quantity
[Sku Quantity of return], unit_original_price [SKU Unit Original Price], unit_price (after discounts),
line_subtotal [SKU Subtotal Before Discount], line_discount, line_platform_discount [SKU Platform Discount],
line_seller_discount [SKU Seller Discount], line_amount [SKU Subtotal After Discount], shipping [Shipping Fee
After Discount], tax [Taxes], order_total [Order Amount], refund_amount [Order Refund Amount], currency,
created_at [Created Time], paid_at, shipped_at, delivered_at, cancelled_at, updated_at, buyer [Buyer Username],
country [Country]. Mapped presets need order_id, status, created_at, quantity and line_amount or unit_price.
An order: merchandise = sum of line amounts (line_amount, else unit_price x quantity); subtotal = sum of
line_subtotal (else unit_original_price x quantity, else line amount + line discounts); discount = subtotal -
merchandise; total = order_total, else merchandise + shipping + tax; updated_at = the updated_at column, else
the latest of the order's times (exports have no update time). A refund amount or returned units give one
completed ``RefundRecord`` (requested at the cancel time, else updated_at: exports carry no refund time;
UNVERIFIED that TikTok's "Order Refund Amount" is money already refunded). The TikTok export has no product id:
the SKU id stands in as platform_product_id. Line ids are ``<order id>-<sku id>`` (``-2``, ``-3`` for a repeat).
Order-level columns (status, shipping, tax, totals, times, buyer, country, currency) may be filled on every
row or on one; rows that disagree are problems.

Mapping file (TOML) for any preset; read_file's own arguments win over its values::

    preset = "temu_orders"            # optional; checked against read_file's preset
    currency = "USD"                  # amounts without a currency column or symbol
    timezone = "America/Los_Angeles"  # the shop's zone, when read_file gets no tz
    date_format = "%Y-%m-%d %H:%M:%S" # optional strptime format; else the built-in reader and date_order
    date_order = "MDY"                # optional, for dd/dd/yyyy dates the file's own dates do not settle
    decimal_mark = "."                # optional, "." or ","
    encoding = "gbk"                  # optional, a CSV's encoding when it is not detected (see Reading rules)
    [columns]                         # our field name = the export's header
    order_id = "Order number"
    [statuses]                        # optional: the export's status text = ours
    "Awaiting delivery" = "shipped"   # unpaid | paid | shipped | delivered | completed | cancelled

Reading rules:

* The file streams: a first pass reads the dates and notes orders whose rows are apart, the second gives the
  records in batches (``stream_file``); only those orders' rows and an id set are held, never the file.
* Cells are text, never floats (storage.tabular, the reader of every import): CSV through the csv module
  (``encoding=``, else by its BOM: UTF-8 or UTF-16, else UTF-8 if the whole file decodes, else GB18030 if it
  does, else refused; delimiter , ; or tab from the header line),
  XLSX through openpyxl with the raw cell values converted by us: numbers as Excel shows them (15 significant
  digits), dates as ISO text. (pandas ``read_excel(dtype=str)`` turns an id Excel stored as a number into a
  plausible wrong digit string; here it stays visibly rounded, "5.76461234567890e+17", and is reported.)
  Cells are stripped of spaces, tabs (TikTok's trailing tabs) and Excel's ``="..."`` text wrapper.
* Lines are numbered as the spreadsheet shows them: its row numbers, so the header (the first non-blank row,
  usually line 1), a description row and blank rows all count. The first row under the header is skipped as
  a description row when its id cell is prose (holds a space) and its count cell no number (TikTok's second
  header row); blank rows are skipped.
* Times are the shop's local time: ``tz`` is required for presets with times and a naive time is converted to
  UTC in that zone (the earlier of a repeated hour; a time that does not exist in the zone is a problem).
  Accepted: ISO ``2026-11-03 14:05[:09]`` (an offset or Z is honoured), ``2026/11/03 14:05``, and
  ``dd/dd/yyyy [h]h:mm[:ss] [AM|PM]`` (also with . or -) in ``date_order``: "MDY" or "DMY". Without it the
  whole file's dates decide (``settle_date_order``), never its Country (Excel re-saves in the computer's
  order): a first part over 12 proves DMY, a second part over 12 MDY; both proven, or none proven while some
  date is ambiguous, refuses the file (ImportRefused naming the lines and --date-order). A date impossible in
  the order given is a problem, never a guess.
* Money is ``Decimal`` from the cell text. ``decimal_mark`` (default "."; "," for 1.234,50) decides; the
  other mark, spaces and ' are thousands separators that must group by three, so "12,50" with "." is a
  problem, not 1250. More decimals than the currency has ("12.000" IDR with ".") is a problem: it is how a
  misread thousands separator shows. A currency symbol or code before or after the number ("$12.00",
  "Rp 12.000", "12,00 €", "USD 5") must agree with the row's currency: the currency column, else ``currency``,
  else (TikTok) the Country's currency; a bare symbol sets the currency only when it names one ("£", "Rp";
  not "$"). Negative amounts and counts are problems.

Problems: a missing required column refuses the whole file (``ImportRefused`` naming the missing columns and
the presets the file's columns do fit). Every other problem is per row and lands in ``FileImport.problems``
with its line; the rows' record is left out (for grouped orders, the whole order). The caller decides:
``refusal(...)`` is the refusal of a file with problems (all-or-nothing, the safe default for a first import:
`kpibot import` without --skip-bad-rows); with --skip-bad-rows the good records are kept and the problems
shown.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scoring.money import exponent, is_currency, minor_unit
from scoring.text import shown
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
from storage.tabular import Table, TableProblem, note_for, open_table

MAX_LISTED_PROBLEMS = 20
MAX_KEPT_PROBLEMS = 1000     # problems kept (and counted past it): memory stays flat for a file of bad rows
MAX_SHOWN_COLUMNS = 6        # of a refused file's own columns, the first ones named in the refusal
SHOWN_COLUMN = 30            # characters of each (scoring.text.shown: no controls, long names cut)
BATCH_RECORDS = 1000         # records per batch of stream_file


# ---------------------------------------------------------------------------------------------- public types
@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one line of the file (``line`` as the spreadsheet numbers it; None: the file)."""

    line: int | None
    reason: str

    def __str__(self) -> str:
        return self.reason if self.line is None else f"line {self.line}: {self.reason}"


class ImportRefused(ValueError):
    """The file cannot be imported as asked: missing columns (``missing``, and ``fits``: presets whose columns
    the file has), a bad mapping file, or (from ``refusal``) problems in its rows."""

    def __init__(self, message: str, *, missing: Sequence[str] = (), fits: Sequence[str] = (),
                 problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.missing, self.fits, self.problems = tuple(missing), tuple(fits), tuple(problems)


@dataclass(frozen=True)
class FileImport:
    """The records a file gave and the problems of the rows that gave none. ``rows`` counts data rows read;
    ``problems`` holds the first MAX_KEPT_PROBLEMS, ``problem_count`` counts them all."""

    path: Path
    preset: str
    records: tuple[Record, ...]
    problems: tuple[Problem, ...]
    rows: int
    problem_count: int = 0

    @property
    def clean(self) -> bool:
        return not self.problems


def refusal(path: Path, problems: Sequence[Problem], count: int, option: str) -> ImportRefused:
    """The refusal of a file with `count` problems (`problems`: the first of them, by line): the first 20 are
    listed, then how many more, and `option`: how the caller's user asks for the good rows alone (the CLI's
    --skip-bad-rows)."""
    shown = [f"  {p}" for p in problems[:MAX_LISTED_PROBLEMS]]
    lines = [f"{path.name}: {count} problem(s), nothing imported (fix the file, or import the good rows with "
             f"{option}):", *shown]
    if count > MAX_LISTED_PROBLEMS:
        lines.append(f"  ... and {count - MAX_LISTED_PROBLEMS} more")
    return ImportRefused("\n".join(lines), problems=problems)


# ---------------------------------------------------------------------------------------------- presets
@dataclass(frozen=True, slots=True)
class Col:
    field: str
    header: str | None        # the default header; None: only through a mapping file
    kind: str                 # id | text | int | money | decimal | time | day | currency
    required: bool = False
    order_level: bool = False


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    kind: str                 # orders | live | videos | ad_spend
    columns: tuple[Col, ...]
    key: str                  # the id field (and the description-row probe with `probe`)
    probe: str                # an int field
    needs_mapping: bool = False
    kinds: dict[str, str] = field(init=False, repr=False, compare=False)   # field -> kind, for the row loop

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", {c.field: c.kind for c in self.columns})

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.field == name)


def _order_columns(headers: Mapping[str, str], required: set[str]) -> tuple[Col, ...]:
    spec = [
        ("order_id", "id", False), ("status", "text", True), ("substatus", "text", True),
        ("return_type", "text", True), ("line_id", "id", False), ("sku_id", "id", False),
        ("product_id", "id", False), ("seller_sku", "text", False), ("product_name", "text", False),
        ("quantity", "int", False), ("returned_quantity", "int", False), ("unit_original_price", "money", False),
        ("unit_price", "money", False), ("line_subtotal", "money", False), ("line_discount", "money", False),
        ("line_platform_discount", "money", False), ("line_seller_discount", "money", False),
        ("line_amount", "money", False), ("shipping", "money", True), ("tax", "money", True),
        ("order_total", "money", True), ("refund_amount", "money", True), ("currency", "currency", True),
        ("created_at", "time", True), ("paid_at", "time", True), ("shipped_at", "time", True),
        ("delivered_at", "time", True), ("cancelled_at", "time", True), ("updated_at", "time", True),
        ("buyer", "text", True), ("country", "text", True),
    ]
    return tuple(Col(f, headers.get(f), k, f in required, level) for f, k, level in spec)


TIKTOK_HEADERS = {
    "order_id": "Order ID", "status": "Order Status", "substatus": "Order Substatus",
    "return_type": "Cancelation/Return Type", "sku_id": "SKU ID", "seller_sku": "Seller SKU",
    "product_name": "Product Name", "quantity": "Quantity", "returned_quantity": "Sku Quantity of return",
    "unit_original_price": "SKU Unit Original Price", "line_subtotal": "SKU Subtotal Before Discount",
    "line_platform_discount": "SKU Platform Discount", "line_seller_discount": "SKU Seller Discount",
    "line_amount": "SKU Subtotal After Discount", "shipping": "Shipping Fee After Discount", "tax": "Taxes",
    "order_total": "Order Amount", "refund_amount": "Order Refund Amount", "created_at": "Created Time",
    "paid_at": "Paid Time", "shipped_at": "Shipped Time", "delivered_at": "Delivered Time",
    "cancelled_at": "Cancelled Time", "buyer": "Buyer Username", "country": "Country",
}
_TIKTOK_REQUIRED = {"order_id", "status", "sku_id", "product_name", "quantity", "line_subtotal", "line_amount",
                    "order_total", "created_at"}
_MAPPED_REQUIRED = {"order_id", "status", "created_at", "quantity"}


def _own(spec: str) -> tuple[Col, ...]:
    """Columns of our own templates from "field:kind[*]" words; the header is the field name."""
    out = []
    for word in spec.split():
        name, kind = word.rstrip("*").split(":")
        out.append(Col(name, name, kind, word.endswith("*")))
    return tuple(out)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("tiktok_orders", "orders", _order_columns(TIKTOK_HEADERS, _TIKTOK_REQUIRED), "order_id", "quantity"),
    Preset("temu_orders", "orders", _order_columns({}, _MAPPED_REQUIRED), "order_id", "quantity", True),
    Preset("shein_orders", "orders", _order_columns({}, _MAPPED_REQUIRED), "order_id", "quantity", True),
    Preset("live_sessions", "live", _own(
        "session_id:id* host:text title:text started_at:time* ended_at:time* currency:currency gmv:money* "
        "viewers:int* views:int* avg_watch_seconds:decimal likes:int comments:int shares:int new_followers:int"),
        "session_id", "viewers"),
    Preset("videos", "videos", _own(
        "post_id:id* author:text published_at:time* views:int* likes:int comments:int shares:int "
        "add_to_cart:int orders:int new_followers:int kind:text"), "post_id", "views"),
    Preset("ad_spend", "ad_spend", _own(
        "campaign_id:id* day:day* currency:currency spend:money* clicks:int* impressions:int* "
        "live_room_visitors:int attributed_gmv:money account:text"), "campaign_id", "clicks"),
)}

# TikTok Shop markets: Country cell -> currency (UNVERIFIED how the export spells countries). The Country never
# decides the date order: the file's own dates do (settle_date_order).
_MARKETS: dict[str, str] = {}
for _names, _cur in (
    ("us usa unitedstates unitedstatesofamerica", "USD"), ("gb uk unitedkingdom greatbritain", "GBP"),
    ("id indonesia", "IDR"), ("my malaysia", "MYR"), ("th thailand", "THB"), ("vn vietnam", "VND"),
    ("ph philippines", "PHP"), ("sg singapore", "SGD"), ("mx mexico", "MXN"), ("es spain", "EUR"),
    ("de germany", "EUR"), ("fr france", "EUR"), ("it italy", "EUR"), ("ie ireland", "EUR"), ("jp japan", "JPY"),
    ("br brazil", "BRL"),
):
    for _name in _names.split():
        _MARKETS[_name] = _cur

_STATUS_TEXT: dict[str, OrderStatus] = {}
for _status, _texts in (
    (OrderStatus.UNPAID, "unpaid|awaiting payment|pending payment|to pay"),
    (OrderStatus.PAID, "paid|on hold|to ship|awaiting shipment|ready to ship|processing|pending shipment|"
                       "awaiting fulfillment|to be shipped|partially shipping|unshipped"),
    (OrderStatus.SHIPPED, "shipped|in transit|awaiting collection|shipping|out for delivery|partially shipped"),
    (OrderStatus.DELIVERED, "delivered"),
    (OrderStatus.COMPLETED, "completed|complete|finished"),
    (OrderStatus.CANCELLED, "cancelled|canceled|cancellation"),
):
    for _text in _texts.split("|"):
        _STATUS_TEXT[_text] = _status
# a substatus that names a later step than the status wins (TikTok: Shipped / Delivered)
_STATUS_RANK = {s: i for i, s in enumerate((OrderStatus.UNPAID, OrderStatus.PAID, OrderStatus.SHIPPED,
                                            OrderStatus.DELIVERED, OrderStatus.COMPLETED))}

_DOLLARS = frozenset({"USD", "CAD", "AUD", "SGD", "MXN", "HKD", "TWD", "CLP"})
_MARKERS: dict[str, frozenset[str]] = {
    "$": _DOLLARS, "us$": frozenset({"USD"}), "s$": frozenset({"SGD"}), "a$": frozenset({"AUD"}),
    "au$": frozenset({"AUD"}), "c$": frozenset({"CAD"}), "ca$": frozenset({"CAD"}), "hk$": frozenset({"HKD"}),
    "nt$": frozenset({"TWD"}), "mx$": frozenset({"MXN"}), "r$": frozenset({"BRL"}), "€": frozenset({"EUR"}),
    "£": frozenset({"GBP"}), "¥": frozenset({"JPY", "CNY"}), "￥": frozenset({"JPY", "CNY"}),
    "元": frozenset({"CNY"}), "rmb": frozenset({"CNY"}), "rp": frozenset({"IDR"}), "rm": frozenset({"MYR"}),
    "₱": frozenset({"PHP"}), "฿": frozenset({"THB"}), "₫": frozenset({"VND"}), "đ": frozenset({"VND"}),
    "₩": frozenset({"KRW"}), "zł": frozenset({"PLN"}),
}


def _marked_currencies(marker: str) -> frozenset[str] | None:
    """The currencies a sign next to an amount may mean: a sign above, or an ISO 4217 code in any case."""
    allowed = _MARKERS.get(marker.casefold())
    if allowed is None and marker.isascii() and is_currency(marker.upper()):
        return frozenset({marker.upper()})
    return allowed


# ---------------------------------------------------------------------------------------------- mapping files
@dataclass(frozen=True)
class ImportMapping:
    """A mapping file's content (see the module docstring)."""

    columns: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, OrderStatus] = field(default_factory=dict)
    preset: str | None = None
    currency: str | None = None
    timezone: str | None = None
    date_format: str | None = None
    date_order: str | None = None
    decimal_mark: str | None = None
    encoding: str | None = None


_MAPPING_KEYS = {"preset", "currency", "timezone", "date_format", "date_order", "decimal_mark", "encoding",
                 "columns", "statuses"}


def load_mapping(source: str | Path | Mapping[str, Any]) -> ImportMapping:
    """Read and check a mapping (a TOML file's path, or its parsed content)."""
    if isinstance(source, str | Path):
        try:
            data: Mapping[str, Any] = tomllib.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ImportRefused(f"mapping file {source}: {exc}") from None
    else:
        data = source
    unknown = sorted(set(data) - _MAPPING_KEYS)
    if unknown:
        raise ImportRefused(f"mapping: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_MAPPING_KEYS))})")
    columns, statuses = data.get("columns", {}), data.get("statuses", {})
    if not isinstance(columns, Mapping) or not all(isinstance(v, str) for v in columns.values()):
        raise ImportRefused("mapping: [columns] must map field names to header strings")
    if not isinstance(statuses, Mapping):
        raise ImportRefused("mapping: [statuses] must map the export's status texts to our statuses")
    ours: dict[str, OrderStatus] = {}
    for text, value in statuses.items():
        try:
            ours[_norm_status(str(text))] = OrderStatus(str(value))
        except ValueError:
            raise ImportRefused(f"mapping: status {text!r} = {value!r} is not one of "
                                f"{', '.join(s.value for s in OrderStatus)}") from None
    text_keys = ("preset", "currency", "timezone", "date_format", "date_order", "decimal_mark", "encoding")
    for key in text_keys:
        if key in data and not isinstance(data[key], str):
            raise ImportRefused(f"mapping: {key} must be a string")
    return ImportMapping(dict(columns), ours, *(data.get(k) for k in text_keys))


# ------------------------------------------------------------------------------------------------ cells
class _CellError(ValueError):
    """One cell does not read as its column's kind; the message is the reason shown to the user."""


_STRIP = " \t\r\n\u00a0\u200b\ufeff"


def _clean(cell: str) -> str:
    text = cell.strip(_STRIP)
    if text.startswith('="') and text.endswith('"') and len(text) >= 3:   # Excel's text-formula wrapper
        text = text[2:-1].strip(_STRIP)
    return text


def _norm(header: str) -> str:
    return "".join(ch for ch in header.casefold() if ch.isalnum())


def _norm_status(text: str) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", text.casefold()).split())


# ---------------------------------------------------------------------------------------------- cell readers
_NUMBER = re.compile(r"(?P<neg>[-−])?\s*(?P<pre>[^\d\s\-−.,]*?)\s*(?P<neg2>[-−])?\s*"
                     r"(?P<num>\d[\d.,'\s\u00a0\u202f]*?)\s*(?P<post>[^\d\s.,'][^\d]*)?")
_SCIENTIFIC = re.compile(r"\d+(\.\d+)?[eE][+-]?\d+")


def _number(text: str, decimal_mark: str, *, marker_ok: bool) -> tuple[Decimal, str | None]:
    """A decimal number from text with thousands separators and, if ``marker_ok``, a currency marker."""
    m = _NUMBER.fullmatch(text)
    if m is None:
        raise _CellError(f"{text!r} is not a number")
    marker = ((m["pre"] or "") + (m["post"] or "")).strip() or None
    if marker is not None and not marker_ok:
        raise _CellError(f"{text!r} is not a number")
    thousands = "," if decimal_mark == "." else "."
    num = m["num"]
    for sep in (" ", "\u00a0", "\u202f", "'"):
        num = num.replace(sep, thousands)
    whole, _, fraction = num.partition(decimal_mark)
    if decimal_mark in fraction or thousands in fraction or (fraction == "" and num.endswith(decimal_mark)):
        raise _CellError(f"{text!r} does not read as a number with {decimal_mark!r} as decimal mark")
    groups = whole.split(thousands)
    if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
        hint = "," if decimal_mark == "." else "."
        raise _CellError(f"{text!r} does not read as a number with {decimal_mark!r} as decimal mark "
                         f"(if {hint!r} is the decimal mark here, pass decimal_mark={hint!r})")
    try:
        value = Decimal("".join(groups) + (f".{fraction}" if fraction else ""))
    except InvalidOperation:
        raise _CellError(f"{text!r} is not a number") from None
    if m["neg"] or m["neg2"]:
        value = -value
    return value, marker


def _count(text: str, decimal_mark: str) -> int:
    value, _ = _number(text, decimal_mark, marker_ok=False)
    if value != value.to_integral_value():
        raise _CellError(f"{text!r} is not a whole number")
    if value < 0:
        raise _CellError(f"{text!r} is negative")
    return int(value)


def _identifier(text: str) -> str:
    if _SCIENTIFIC.fullmatch(text):
        raise _CellError(f"id {text!r} is a number Excel rounded; format the column as text and export again")
    if any(ch in text for ch in "\t\r\n"):
        raise _CellError(f"id {text!r} holds a tab or line break")
    return text


_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?)?"
                  r"\s*(Z|[+-]\d{2}:?\d{2})?")
_YMD = re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_DDY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?")


def _slashed_order(text: str) -> str | None:
    """The only order a dd/dd/yyyy text can be read in ("MDY"/"DMY"), or None when it fits both or is no such
    text."""
    m = _DDY.fullmatch(text)
    if m is None:
        return None
    a, b = int(m[1]), int(m[2])
    if a > 12 >= b:
        return "DMY"
    if b > 12 >= a:
        return "MDY"
    return None


def _when(text: str, order: str | None, date_format: str | None) -> tuple[datetime, bool]:
    """(datetime, has a time of day); the datetime is naive unless the text carries an offset."""
    if date_format:
        try:
            at = datetime.strptime(text, date_format)
        except ValueError:
            raise _CellError(f"{text!r} does not match the date format {date_format!r}") from None
        return at, any(d in date_format for d in ("%H", "%I", "%M"))
    if m := _ISO.fullmatch(text):
        y, mo, d, hh, mm, ss, zone = m.groups()
        at = _make(text, int(y), int(mo), int(d), hh, mm, ss, None)
        if zone:
            if hh is None:
                raise _CellError(f"{text!r} has a zone but no time of day")
            return at.replace(tzinfo=_offset(zone)), True
        return at, hh is not None
    if m := _YMD.fullmatch(text):
        y, mo, d, hh, mm, ss = m.groups()
        return _make(text, int(y), int(mo), int(d), hh, mm, ss, None), hh is not None
    if m := _DDY.fullmatch(text):
        a, b, y, hh, mm, ss, ampm = m.groups()
        only = _slashed_order(text)
        use = order or only
        if use is None:
            if a == b:
                use = "DMY"
            else:
                raise _CellError(f"date {text!r} reads as day/month and as month/day; pass date_order 'MDY' or "
                                 "'DMY'")
        if use != (only or use):
            shape = "DD/MM/YYYY" if only == "DMY" else "MM/DD/YYYY"
            raise _CellError(f"date {text!r} is not valid in {_shape(use)} order (it reads as {shape}: is "
                             "date_order wrong?)")
        month, day = (int(a), int(b)) if use == "MDY" else (int(b), int(a))
        return _make(text, int(y), month, day, hh, mm, ss, ampm), hh is not None
    raise _CellError(f"{text!r} is not a date and time")


def _offset(zone: str) -> tzinfo:
    if zone == "Z":
        return UTC
    digits = zone[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-delta if zone[0] == "-" else delta)


def _shape(order: str) -> str:
    return "MM/DD/YYYY" if order == "MDY" else "DD/MM/YYYY"


def _make(text: str, y: int, mo: int, d: int, hh: str | None, mm: str | None, ss: str | None,
          ampm: str | None) -> datetime:
    hour = int(hh or 0)
    if ampm:
        if not 1 <= hour <= 12:
            raise _CellError(f"{text!r}: hour {hour} with {ampm.upper()}")
        hour = hour % 12 + (12 if ampm.casefold() == "pm" else 0)
    try:
        return datetime(y, mo, d, hour, int(mm or 0), int(ss or 0))
    except ValueError as exc:
        raise _CellError(f"{text!r} is not a valid date and time ({exc})") from None


def _to_utc(at: datetime, zone: tzinfo, text: str) -> datetime:
    if at.tzinfo is not None:
        return at.astimezone(UTC)
    local = at.replace(tzinfo=zone)
    back = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != at:
        raise _CellError(f"{text!r} does not exist in {zone} (the clocks skip it)")
    return local.astimezone(UTC)


# ---------------------------------------------------------------------------------------------- options
@dataclass
class _Options:
    zone: tzinfo | None
    currency: str | None
    date_order: str | None
    date_format: str | None
    decimal_mark: str
    statuses: dict[str, OrderStatus]


def _options(preset: Preset, mapping: ImportMapping | None, tz: str | tzinfo | None, currency: str | None,
             date_order: str | None, decimal_mark: str | None, date_format: str | None) -> _Options:
    m = mapping or ImportMapping()
    zone_name = tz if tz is not None else m.timezone
    zone: tzinfo | None
    if zone_name is None:
        zone = None
        if any(c.kind == "time" for c in preset.columns):
            raise ImportRefused(f"{preset.name}: exports hold the shop's local time; pass tz (the shop's zone, "
                                "e.g. 'America/Los_Angeles')")
    elif isinstance(zone_name, str):
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError, OSError):   # "Asia" is a folder of zones: OSError
            raise ImportRefused(f"unknown time zone {zone_name!r}") from None
    else:
        zone = zone_name
    cur = (currency or m.currency or "").upper() or None
    if cur is not None and not is_currency(cur):
        raise ImportRefused(f"unknown currency {cur!r} (an ISO 4217 code such as USD)")
    order = (date_order or m.date_order or "").upper() or None
    if order not in (None, "MDY", "DMY"):
        raise ImportRefused(f"date_order must be 'MDY' or 'DMY', not {order!r}")
    mark = decimal_mark or m.decimal_mark or "."
    if mark not in (".", ","):
        raise ImportRefused(f"decimal_mark must be '.' or ',', not {mark!r}")
    return _Options(zone, cur, order, date_format or m.date_format, mark, m.statuses)


# ---------------------------------------------------------------------------------------------- read_file
@dataclass
class _Row:
    line: int
    cells: dict[str, str]                    # field -> cleaned text ("" when empty or no such column)
    values: dict[str, Any] = field(default_factory=dict)
    currency: str | None = None
    problems: list[str] = field(default_factory=list)


def read_file(path: str | Path, preset: str, mapping: str | Path | Mapping[str, Any] | ImportMapping | None = None,
              *, tz: str | tzinfo | None = None, currency: str | None = None, date_order: str | None = None,
              decimal_mark: str | None = None, date_format: str | None = None, encoding: str | None = None,
              sheet: str | None = None) -> FileImport:
    """Read a CSV or XLSX file with ``preset`` (a name in ``PRESETS``) and keep all its records (a big file
    streams through ``stream_file`` instead). ``mapping`` (a TOML path, its parsed content or an ImportMapping)
    renames columns for any preset and is required by temu_orders and shein_orders. ``tz`` is the shop's time
    zone; ``currency``, ``date_order`` ("MDY"/"DMY"), ``decimal_mark``, ``date_format`` (strptime) and
    ``encoding`` override the mapping file. Raises ImportRefused for a file that cannot be read as the preset at
    all (missing columns, unknown preset, bad options, dates that read both ways); row problems are in the
    result."""
    stream = stream_file(path, preset, mapping, tz=tz, currency=currency, date_order=date_order,
                         decimal_mark=decimal_mark, date_format=date_format, encoding=encoding, sheet=sheet)
    records = [r for batch in stream.batches() for r in batch]
    return FileImport(stream.path, preset, tuple(records), stream.problems(), stream.rows, stream.problem_count)


class FileStream:
    """A file import read in batches of records (`batches`: once), the file's rows never all in memory. After
    the batches: `rows` (data rows read), `problem_count`, and `problems()` (the first MAX_KEPT_PROBLEMS found,
    by line). An order's rows need not be adjacent: the first pass notes orders whose rows are apart, and those
    are held until the end of the file."""

    def __init__(self, path: Path, table: Table, header_line: int, spec: Preset, opts: _Options,
                 where: dict[str, int], names: dict[str, str], apart: set[int], batch_size: int,
                 date_note: str = "") -> None:
        self.path, self._table, self._header_line, self._spec, self._opts = path, table, header_line, spec, opts
        self._date_note = date_note
        self._where, self._names, self._apart, self._batch_size = where, names, apart, batch_size
        self.rows = self.problem_count = 0
        self._kept: list[Problem] = []

    def problems(self) -> tuple[Problem, ...]:
        return tuple(sorted(self._kept, key=lambda p: p.line or 0))

    @property
    def read_note(self) -> str:
        """For the import's summary: "; read as GB18030" when the encoding detected is other than UTF-8, and
        "; dates read as day/month (line 4: 25/11/2026)" when the file's own dates settled their order."""
        return note_for(self._table) + self._date_note

    def batches(self) -> Iterator[list[Record]]:
        spec, opts, names = self._spec, self._opts, self._names
        seen: dict[Any, int] = {}     # the keys met so far, across chunks (orders are whole groups: none needed)
        builder: Callable[[list[_Row], Preset, _Options, dict[str, str]], list[Record]] = {
            "orders": _orders, "live": partial(_lives, seen=seen), "videos": partial(_videos, seen=seen),
            "ad_spend": partial(_ads, seen=seen)}[spec.kind]
        batch: list[Record] = []
        for rows in self._groups():
            batch.extend(builder(rows, spec, opts, names))
            self._note(rows)
            if len(batch) >= self._batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _groups(self) -> Iterator[list[_Row]]:
        """Rows in the units the builder takes: one order's rows, or a chunk of rows of the other presets."""
        held: dict[str, list[_Row]] = {}
        group: list[_Row] = []
        orders = self._spec.kind == "orders"
        for row in _data_rows(self._table, self._header_line, self._where, self._spec, self._opts):
            self.rows += 1
            if not orders:
                group.append(row)
                if len(group) >= self._batch_size:
                    yield group
                    group = []
                continue
            key = row.cells.get("order_id", "")
            if hash(key) in self._apart:
                held.setdefault(key, []).append(row)
                continue
            if group and key != group[0].cells.get("order_id", ""):
                yield group
                group = []
            group.append(row)
        if group:
            yield group
        yield from held.values()

    def _note(self, rows: list[_Row]) -> None:
        for row in rows:
            for reason in row.problems:
                self.problem_count += 1
                if len(self._kept) < MAX_KEPT_PROBLEMS:
                    self._kept.append(Problem(row.line, reason))


def stream_file(path: str | Path, preset: str,
                mapping: str | Path | Mapping[str, Any] | ImportMapping | None = None, *,
                tz: str | tzinfo | None = None, currency: str | None = None, date_order: str | None = None,
                decimal_mark: str | None = None, date_format: str | None = None, encoding: str | None = None,
                sheet: str | None = None, batch_size: int = BATCH_RECORDS) -> FileStream:
    """As ``read_file``, but the records come in batches from the returned FileStream. Everything that refuses
    the whole file (ImportRefused) is found here, before any batch: the columns, the encoding, and a first pass
    over the rows for the date order (see ``settle_date_order``) and the orders whose rows are apart."""
    path = Path(path)
    if preset not in PRESETS:
        raise ImportRefused(f"unknown preset {preset!r} (presets: {', '.join(PRESETS)})")
    spec = PRESETS[preset]
    mapped = mapping if isinstance(mapping, ImportMapping) or mapping is None else load_mapping(mapping)
    if spec.needs_mapping and mapped is None:
        raise ImportRefused(f"{preset} needs a mapping file: there is no public spec of that export's columns")
    if mapped is not None:
        if mapped.preset is not None and mapped.preset != preset:
            raise ImportRefused(f"the mapping file is for {mapped.preset}, not {preset}")
        fields = {c.field for c in spec.columns}
        unknown = sorted(set(mapped.columns) - fields)
        if unknown:
            raise ImportRefused(f"mapping: {preset} has no field(s) {', '.join(unknown)} "
                                f"(fields: {', '.join(sorted(fields))})")
    opts = _options(spec, mapped, tz, currency, date_order, decimal_mark, date_format)
    try:
        table = open_table(path, encoding or (mapped.encoding if mapped else None), sheet)
        found = next(((line, cells) for line, cells in table.rows() if any(_clean(c) for c in cells)), None)
    except TableProblem as exc:
        raise ImportRefused(str(exc)) from None
    if found is None:
        raise ImportRefused(f"{path.name} is empty")
    header_line, header = found[0], [_clean(c) for c in found[1]]
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(_norm(name), i)
    headers = {c.field: (mapped.columns.get(c.field) if mapped else None) or c.header for c in spec.columns}
    where = {f: index[_norm(h)] for f, h in headers.items() if h and _norm(h) in index}
    missing = [headers[c.field] or f"{c.field} (not in the mapping file)" for c in spec.columns
               if c.required and c.field not in where]
    one_of = {"line_amount", "unit_price"}
    if spec.kind == "orders" and not spec.col("line_amount").required and not one_of & set(where):
        missing.append(" or ".join(headers[f] or f for f in ("line_amount", "unit_price")))
    if missing:
        fits = [p.name for p in PRESETS.values() if p.name != preset and not p.needs_mapping
                and all(_norm(c.header or "") in index for c in p.columns if c.required)]
        raise ImportRefused(
            f"{path.name} does not fit {preset}: missing column(s) {', '.join(missing)}. {_file_columns(header)} "
            + (f"Its columns fit: {', '.join(fits)}." if fits else "Its columns fit no other preset.")
            + f" To import it as {preset}, map its columns with --mapping FILE (a TOML mapping file; its form "
            "is at the top of bot/shops/files.py).",
            missing=missing, fits=fits)
    evidence, apart = _first_pass(table, header_line, where, spec, opts)
    date_note = ""
    if opts.date_format is None and opts.date_order is None:
        opts.date_order = settle_date_order(path.name, evidence)
        date_note = date_order_note(opts.date_order, evidence)
    names = {f: headers[f] or f for f in where}
    return FileStream(path, table, header_line, spec, opts, where, names, apart, batch_size, date_note)


def _file_columns(header: Sequence[str]) -> str:
    """The first columns a refused file does have, shown safely (another language, another export)."""
    names = [shown(h, SHOWN_COLUMN) for h in header if h]
    more = f", … ({len(names)} in all)" if len(names) > MAX_SHOWN_COLUMNS else ""
    return f"The file's columns: {', '.join(names[:MAX_SHOWN_COLUMNS])}{more}."


def _data_rows(table: Table, header_line: int, where: dict[str, int], spec: Preset, opts: _Options) -> Iterator[_Row]:
    """The rows under the header, blank rows and a description row left out, one at a time."""
    probed = False
    try:
        for line, cells in table.rows():
            if line <= header_line or not any(_clean(c) for c in cells):
                continue
            texts = {f: _clean(cells[i]) if i < len(cells) else "" for f, i in where.items()}
            if not probed:
                probed = True
                if _is_description(texts, spec, opts.decimal_mark):
                    continue
            yield _Row(line, texts)
    except TableProblem as exc:      # the file changed between the passes
        raise ImportRefused(str(exc)) from None


@dataclass
class DateEvidence:
    """What a file's dd/dd/yyyy dates say about their order: the first (line, text) that can only be day/month,
    only month/day, and that could be either."""

    dmy: tuple[int, str] | None = None
    mdy: tuple[int, str] | None = None
    ambiguous: tuple[int, str] | None = None

    def add(self, line: int, text: str) -> None:
        m = _DDY.fullmatch(text)
        if m is None:
            return
        only = _slashed_order(text)
        if only == "DMY" and self.dmy is None:
            self.dmy = (line, text)
        elif only == "MDY" and self.mdy is None:
            self.mdy = (line, text)
        elif only is None and m[1] != m[2] and max(int(m[1]), int(m[2])) <= 12 and self.ambiguous is None:
            self.ambiguous = (line, text)


def settle_date_order(name: str, evidence: DateEvidence) -> str | None:
    """The file's date order from its own dates (never from a Country column): a first part over 12 proves
    day/month, a second part over 12 month/day. Both proven, or neither with some date ambiguous: ImportRefused
    naming the lines and the fix. None: the file has no date that needs an order (ISO dates, say)."""
    if evidence.dmy and evidence.mdy:
        (dl, dt), (ml, mt) = evidence.dmy, evidence.mdy
        raise ImportRefused(f"{name}: its dates are in two orders: line {dl} has {dt!r} (day/month only) and line "
                            f"{ml} has {mt!r} (month/day only); fix the file, or pass --date-order dmy or mdy to "
                            "read it one way (the other dates are then problems)")
    if evidence.dmy:
        return "DMY"
    if evidence.mdy:
        return "MDY"
    if evidence.ambiguous:
        line, text = evidence.ambiguous
        raise ImportRefused(f"{name}: no date in the file shows whether it is day/month or month/day (line {line} "
                            f"has {text!r}); pass --date-order dmy or --date-order mdy (in a mapping file: "
                            "date_order = \"dmy\")")
    return None


def date_order_note(order: str | None, evidence: DateEvidence) -> str:
    """What an import's summary adds when the date order was told from the file, with the date that proved it:
    "; dates read as day/month (line 4: 25/11/2026)"; "" when no date needed an order."""
    proof = {"DMY": ("day/month", evidence.dmy), "MDY": ("month/day", evidence.mdy)}.get(order or "")
    if proof is None or proof[1] is None:
        return ""
    words, (line, text) = proof[0], proof[1]
    return f"; dates read as {words} (line {line}: {text})"


def _first_pass(table: Table, header_line: int, where: dict[str, int], spec: Preset,
                opts: _Options) -> tuple[DateEvidence, set[int]]:
    """One read of the whole file before anything is parsed: the date evidence, and the hashes of the order ids
    whose rows are not all adjacent (a hash collision only holds an order back until the end: harmless)."""
    dates = [f for f in where if spec.kinds[f] in ("time", "day")]
    evidence = DateEvidence()
    seen: set[int] = set()
    apart: set[int] = set()
    last: int | None = None
    orders = spec.kind == "orders"
    for row in _data_rows(table, header_line, where, spec, opts):
        for f in dates:
            if row.cells[f]:
                evidence.add(row.line, row.cells[f])
        if orders:
            key = hash(row.cells.get("order_id", ""))
            if key != last:
                if key in seen:
                    apart.add(key)
                seen.add(key)
                last = key
    return evidence, apart


def _is_description(texts: dict[str, str], spec: Preset, decimal_mark: str) -> bool:
    """TikTok's second header row: its id cell is prose and its count cell no number."""
    key, probe = texts.get(spec.key, ""), texts.get(spec.probe, "")
    if not key or not any(ch.isspace() for ch in key):
        return False
    try:
        _count(probe, decimal_mark)
    except _CellError:
        return True
    return False


# ---------------------------------------------------------------------------------------------- cell parsing per row
def _parse(row: _Row, spec: Preset, opts: _Options, names: dict[str, str], date_order: str | None,
           default_currency: str | None) -> None:
    """Fill row.values and row.currency; every bad cell adds a problem naming its column."""
    markers: list[tuple[str, str, str]] = []          # (field, cell text, marker)
    for f, text in row.cells.items():
        if not text:
            continue
        kind = spec.kinds[f]
        try:
            if kind == "id":
                row.values[f] = _identifier(text)
            elif kind in ("text", "currency"):
                row.values[f] = text.upper() if kind == "currency" else text
            elif kind == "int":
                row.values[f] = _count(text, opts.decimal_mark)
            elif kind in ("money", "decimal"):
                value, marker = _number(text, opts.decimal_mark, marker_ok=kind == "money")
                if value < 0:
                    raise _CellError(f"{text!r} is negative")
                row.values[f] = value
                if marker:
                    markers.append((f, text, marker))
            else:
                at, has_time = _when(text, date_order, opts.date_format)
                if kind == "time":
                    if not has_time:
                        raise _CellError(f"{text!r} has no time of day")
                    assert opts.zone is not None
                    row.values[f] = _to_utc(at, opts.zone, text)
                else:
                    if has_time and at.time() != time(0):
                        raise _CellError(f"{text!r} is a day column but holds a time of day")
                    row.values[f] = at.date()
        except _CellError as exc:
            row.problems.append(f"{names[f]}: {exc}")
    cur = row.values.get("currency") or default_currency
    if "currency" in row.values and not is_currency(cur):
        row.problems.append(f"{names['currency']}: unknown currency {cur!r}")
        return
    before = len(row.problems)
    for f, text, marker in markers:
        allowed = _marked_currencies(marker)
        if allowed is None:
            row.problems.append(f"{names[f]}: {text!r} has an unknown currency sign {marker!r}")
        elif cur is None:
            if len(allowed) == 1:
                cur = next(iter(allowed))
            else:
                row.problems.append(f"{names[f]}: {text!r}: {marker!r} could be {', '.join(sorted(allowed))}; "
                                    "pass currency=")
        elif cur not in allowed:
            row.problems.append(f"{names[f]}: {text!r} is not in {cur}")
    if cur is None:
        if len(row.problems) == before and any(spec.kinds[f] == "money" for f in row.values):
            row.problems.append("no currency: add a currency column or pass currency=")
        return
    row.currency = cur
    places = exponent(cur)
    for f, value in row.values.items():
        if spec.kinds[f] == "money" and -value.as_tuple().exponent > places:  # type: ignore[operator]
            row.problems.append(f"{names[f]}: {row.cells[f]!r} has more decimals than {cur} allows ({places}); "
                                "is the decimal mark wrong?")


def _defaults(country: str, opts: _Options) -> tuple[str | None, str | None]:
    """(date order, currency) for rows of this Country: the date order the file settled (never the Country's:
    a file re-saved by Excel can be in either), the currency given, else the market's."""
    market = _MARKETS.get(_norm(country))
    return opts.date_order, opts.currency or market


# ---------------------------------------------------------------------------------------------- orders
def _orders(rows: list[_Row], spec: Preset, opts: _Options, names: dict[str, str]) -> list[Record]:
    """The orders of `rows`: all the rows of the orders they hold (stream_file passes one order at a time)."""
    countries: dict[str, str] = {}        # an order's Country may be filled on one of its rows only
    for row in rows:
        if row.cells.get("country"):
            countries.setdefault(row.cells.get("order_id", ""), row.cells["country"])
    groups: dict[str, list[_Row]] = {}
    for row in rows:
        _parse(row, spec, opts, names, *_defaults(countries.get(row.cells.get("order_id", ""), ""), opts))
        for col in spec.columns:
            if col.required and not col.order_level and col.field in names and not row.cells.get(col.field):
                row.problems.append(f"{names[col.field]} is empty")
        if row.values.get("quantity") == 0:
            row.problems.append(f"{names['quantity']}: the quantity is 0")
        oid = row.values.get("order_id")
        if oid is not None:
            groups.setdefault(oid, []).append(row)
    out: list[Record] = []
    for oid, group in groups.items():
        for col in spec.columns:       # order-level cells may be filled on one row only
            if col.required and col.order_level and col.field in names and not any(r.cells.get(col.field)
                                                                                 for r in group):
                group[0].problems.append(f"order {oid}: {names[col.field]} is empty on every line")
        _agree(oid, group, spec, names)
        try:    # checked even when a row is bad, so that one pass shows every problem of the order
            _status(*(next((r.values[f] for r in group if f in r.values), None)
                      for f in ("status", "substatus", "cancelled_at")), opts.statuses)
        except _CellError as exc:
            group[0].problems.append(f"order {oid}: {exc}")
        if any(r.problems for r in group):
            continue
        try:
            out.append(_order(oid, group, opts, names))
        except _CellError as exc:
            group[0].problems.append(f"order {oid}: {exc}")
    return out


def _agree(oid: str, group: list[_Row], spec: Preset, names: dict[str, str]) -> None:
    """Order-level cells must be the same on every row that fills them, and so must the rows' currency."""
    first_currency: tuple[int, str] | None = None
    for row in group:
        if row.currency is None:
            continue
        if first_currency is None:
            first_currency = (row.line, row.currency)
        elif row.currency != first_currency[1]:
            row.problems.append(f"order {oid}: this line is in {row.currency} but line {first_currency[0]} is in "
                                f"{first_currency[1]}")
    for col in spec.columns:
        if not col.order_level or col.field not in names or col.field == "currency":
            continue
        first: tuple[int, Any, str] | None = None
        for row in group:
            if col.field not in row.values:
                continue
            value = row.values[col.field]
            if first is None:
                first = (row.line, value, row.cells[col.field])
            elif value != first[1]:
                row.problems.append(f"order {oid}: {names[col.field]} is {row.cells[col.field]!r} on this line but "
                                    f"{first[2]!r} on line {first[0]}")


def _order(oid: str, group: list[_Row], opts: _Options, names: dict[str, str]) -> OrderRecord:
    def level(f: str) -> Any:
        return next((r.values[f] for r in group if f in r.values), None)

    currency = next((r.currency for r in group if r.currency), None)
    if currency is None:
        raise _CellError("no currency: add a currency column or pass currency=")
    minor = minor_unit(currency)
    lines: list[LineRecord] = []
    used: dict[str, int] = {}
    subtotal = merchandise = Decimal(0)
    returned = 0
    for row in group:
        v = row.values
        qty = v["quantity"]
        if "line_amount" in v:
            amount = v["line_amount"]
        elif "unit_price" in v:
            amount = v["unit_price"] * qty
        else:
            raise _CellError(f"line {row.line} has no line amount or unit price")
        if "line_subtotal" in v:
            before = v["line_subtotal"]
        elif "unit_original_price" in v:
            before = v["unit_original_price"] * qty
        else:
            before = amount + sum((v.get(f, Decimal(0)) for f in
                                   ("line_discount", "line_platform_discount", "line_seller_discount")), Decimal(0))
        if before < amount:
            raise _CellError(f"line {row.line}: the amount before discounts ({before}) is less than after ({amount})")
        subtotal, merchandise = subtotal + before, merchandise + amount
        returned += v.get("returned_quantity", 0)
        sku = v.get("sku_id") or v.get("seller_sku") or ""
        base = v.get("line_id") or f"{oid}-{sku or len(lines) + 1}"
        used[base] = used.get(base, 0) + 1
        unit = v["unit_price"] if "unit_price" in v else (amount / qty).quantize(minor, ROUND_HALF_UP)
        lines.append(LineRecord(
            platform_line_id=base if used[base] == 1 else f"{base}-{used[base]}",
            platform_product_id=v.get("product_id") or sku, platform_sku_id=sku,
            product_name=v.get("product_name", ""), quantity=qty, unit_price=unit, amount=amount,
            seller_sku=v.get("seller_sku")))
    status = _status(level("status"), level("substatus"), level("cancelled_at"), opts.statuses)
    shipping, tax = _or_zero(level("shipping")), _or_zero(level("tax"))
    times = [level(f) for f in ("created_at", "paid_at", "shipped_at", "delivered_at", "cancelled_at")]
    updated = level("updated_at") or max(t for t in times if t is not None)
    refund_amount, cancelled_at = _or_zero(level("refund_amount")), level("cancelled_at")
    refunds: tuple[RefundRecord, ...] = ()
    if refund_amount > 0 or returned > 0:
        at = cancelled_at or updated
        refunds = (RefundRecord(
            platform_refund_id=f"{oid}-refund", kind=_refund_kind(level("return_type"), status, returned),
            status=RefundStatus.COMPLETED, currency=currency, amount=refund_amount, requested_at=at,
            completed_at=at, returned_units=returned),)
    return OrderRecord(
        platform_order_id=oid, status=status, currency=currency, subtotal=subtotal,
        discount=subtotal - merchandise, merchandise=merchandise, shipping=shipping, tax=tax,
        total=_or_zero(level("order_total")) if level("order_total") is not None else merchandise + shipping + tax,
        created_at=times[0], updated_at=updated, paid_at=times[1], shipped_at=times[2], delivered_at=times[3],
        cancelled_at=cancelled_at, lines=tuple(lines), refunds=refunds, buyer_ref=level("buyer"))


def _or_zero(value: Decimal | None) -> Decimal:
    return Decimal(0) if value is None else value


def _status(status: str | None, substatus: str | None, cancelled_at: datetime | None,
            own: dict[str, OrderStatus]) -> OrderStatus:
    def one(text: str | None) -> OrderStatus | None:
        if not text:
            return None
        key = _norm_status(text)
        return own.get(key) or _STATUS_TEXT.get(key)

    main, sub = one(status), one(substatus)
    if main is None:
        raise _CellError(f"unknown status {status!r} (map it in a mapping file's [statuses])")
    if main is OrderStatus.CANCELLED or sub is OrderStatus.CANCELLED or cancelled_at is not None:
        return OrderStatus.CANCELLED
    if sub is not None and _STATUS_RANK.get(sub, -1) > _STATUS_RANK.get(main, -1):
        return sub
    return main


def _refund_kind(text: str | None, status: OrderStatus, returned: int) -> RefundKind:
    key = _norm_status(text or "")
    if "cancel" in key or (not key and status is OrderStatus.CANCELLED):
        return RefundKind.CANCELLATION
    if "return" in key or (not key and returned > 0):
        return RefundKind.RETURN_AND_REFUND
    return RefundKind.REFUND


# ---------------------------------------------------------------------------------------------- other presets
def _parse_all(rows: list[_Row], spec: Preset, opts: _Options, names: dict[str, str]) -> None:
    for row in rows:
        _parse(row, spec, opts, names, opts.date_order, opts.currency)
        for col in spec.columns:
            if col.required and col.field not in row.values and not row.cells.get(col.field):
                row.problems.append(f"{names[col.field]} is empty")


def _unique(rows: list[_Row], key: Callable[[_Row], Any], what: str, seen: dict[Any, int]) -> None:
    """A key already `seen` (on an earlier line of the file: the dict lives across chunks) is a problem."""
    for row in rows:
        if row.problems:
            continue
        k = key(row)
        if k in seen:
            row.problems.append(f"{what} {k if not isinstance(k, tuple) else ' '.join(map(str, k))} is already on "
                                f"line {seen[k]}")
        else:
            seen[k] = row.line


def _lives(rows: list[_Row], spec: Preset, opts: _Options, names: dict[str, str],
           seen: dict[Any, int]) -> list[Record]:
    _parse_all(rows, spec, opts, names)
    for row in rows:
        v = row.values
        if not row.problems and v["ended_at"] < v["started_at"]:
            row.problems.append(f"{names['ended_at']} is before {names['started_at']}")
    _unique(rows, lambda r: r.values["session_id"], "session", seen)
    out: list[Record] = []
    for row in rows:
        if row.problems:
            continue
        v = row.values
        watch = (v.get("avg_watch_seconds", Decimal(0)) * v["viewers"]).to_integral_value(ROUND_HALF_UP)
        out.append(LiveRecord(
            platform_session_id=v["session_id"], host_handle=v.get("host"), title=v.get("title"),
            started_at=v["started_at"], ended_at=v["ended_at"], currency=row.currency or "", gmv=v["gmv"],
            viewers=v["viewers"], views=v["views"], watch_seconds=int(watch),
            interactions=sum(v.get(f, 0) for f in ("likes", "comments", "shares")),
            new_followers=v.get("new_followers", 0)))
    return out


def _videos(rows: list[_Row], spec: Preset, opts: _Options, names: dict[str, str],
            seen: dict[Any, int]) -> list[Record]:
    _parse_all(rows, spec, opts, names)
    _unique(rows, lambda r: r.values["post_id"], "post", seen)
    return [PostRecord(
        platform_post_id=v["post_id"], author_handle=v.get("author"), published_at=v["published_at"],
        views=v["views"], likes=v.get("likes", 0), comments=v.get("comments", 0), shares=v.get("shares", 0),
        add_to_cart=v.get("add_to_cart", 0), orders=v.get("orders", 0), new_followers=v.get("new_followers", 0),
        kind=v.get("kind", "video")) for v in (r.values for r in rows if not r.problems)]


def _ads(rows: list[_Row], spec: Preset, opts: _Options, names: dict[str, str],
         seen: dict[Any, int]) -> list[Record]:
    _parse_all(rows, spec, opts, names)
    _unique(rows, lambda r: (r.values["campaign_id"], r.values["day"].isoformat()), "campaign and day", seen)
    return [AdSpendRecord(
        campaign_id=r.values["campaign_id"], day=r.values["day"], currency=r.currency or "",
        spend=r.values["spend"], clicks=r.values["clicks"], impressions=r.values["impressions"],
        live_room_visitors=r.values.get("live_room_visitors", 0),
        attributed_gmv=r.values.get("attributed_gmv", Decimal(0)), buyer_ref=r.values.get("account"))
        for r in rows if not r.problems]

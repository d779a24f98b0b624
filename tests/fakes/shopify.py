"""A fake Shopify GraphQL Admin API for `bot.shops.shopify.ShopifySource`.

One aiohttp application on 127.0.0.1 (port 0), served from a daemon thread, answers
``POST /admin/api/<version>/graphql.json``::

    with FakeShopify(seed=7, orders=30) as fake:
        source = ShopifySource(fake.shop, fake.token, base_url=fake.base_url)

What it checks, as Shopify does:

* ``X-Shopify-Access-Token``: missing or wrong -> HTTP 401 ``{"errors": "[API] Invalid API key or access token
  (unrecognized login or wrong password)"}``. ``<version>`` must look like ``YYYY-MM`` or ``unstable`` (else 404).
* The body is ``{"query", "variables"}``. The query is parsed by a small GraphQL reader (operations, variables,
  arguments, nested selections; no fragments, aliases or directives, which the client does not use) and
  validated against the slice of the Admin schema listed in ``SCHEMA``: an unknown field answers
  ``{"errors": [{"message": "Field 'x' doesn't exist on type 'Order'", "extensions": {"code": "undefinedField"}}]}``
  (graphql-ruby's wording), as does an unknown argument, an undeclared variable, or a missing ``Int!``.
  Only the fields the query selects are returned, so a client that reads a field it did not ask for fails.
* Root fields ``orders(first, after, query, sortKey, reverse)`` and ``order(id)``. ``first`` is required and
  1..250. ``query`` accepts ``updated_at`` / ``created_at`` terms with ``:>``, ``:>=``, ``:<``, ``:<=`` and an
  ISO time in single quotes, joined by spaces or ``AND``; any other term is an error (deliberately stricter
  than Shopify, which ignores a term it does not understand and so returns every order). ``sortKey`` is ``ID``
  (default), ``UPDATED_AT`` or ``CREATED_AT``; cursors are opaque and carry the sort value and id of the last
  node, so paging stays correct while orders change.
* Cost and throttling: every query has a requested cost computed the way Shopify documents it (scalars and
  enums 0, objects 1, a connection 2 + ``first`` x the cost of one node, a sized list ``first`` x one item;
  pageInfo is free). The exact per-field costs of the real schema are UNVERIFIED; the shape of the rule is
  Shopify's. A query over ``max_query_cost`` (1000) answers ``MAX_COST_EXCEEDED``. A leaky bucket of
  ``bucket`` points refilled at ``restore_rate`` points/s must hold the requested cost, else the answer is HTTP
  200 with ``{"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", ...}}],
  "extensions": {"cost": {"requestedQueryCost", "actualQueryCost": null, "throttleStatus": {...}}}}``. After a
  query runs, the difference between requested and actual cost is given back, and every answer carries
  ``extensions.cost``.
* Faults: ``fail_next(n, kind)`` with kind ``server`` (HTTP 503), ``timeout`` (answers after ``delay_s``),
  ``bad_json`` (HTTP 200, a truncated body), ``throttle`` (THROTTLED whatever the bucket holds) or ``http429``
  (HTTP 429 with ``Retry-After``); ``drain()`` empties the bucket. Random faults: ``fault_rate`` (a share of
  the GraphQL requests not hit by a ``fail_next`` rule) of ``fault_kinds``, drawn from
  ``random.Random(fault_seed)``, timeouts held ``fault_delay_s``; ``clear_faults()`` ends both.

Data: ``orders`` seeded, deterministic orders (integer cents inside; amounts on the wire as decimal strings in
Shopify's style, ``"25.0"``, ``"12.5"``), some with discount codes, line- and order-level discounts, refunds
(returns and cancellations), guest checkouts, and customer journeys with UTM parameters. ``expected_totals()``
sums the integer cents of the stored orders, a path that shares no code with the JSON the client parses
(``expected_details()``: refunds that cancel, units returned, customer-journey visits).
``add_order``, ``cancel_order``, ``refund_order`` and ``touch`` change orders at the fake's clock ``now`` and
move their ``updatedAt``, for incremental syncs. Every request lands in ``calls``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer, cancel_other_tasks

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
GID = "gid://shopify/"
_PATH = re.compile(r"^/admin/api/(?P<version>\d{4}-\d{2}|unstable)/graphql\.json$")

# ---------------------------------------------------------------------------------------------- schema
# (kind, type, arguments). kind: S scalar or enum, OBJ object, L list of objects, C connection of objects.
S, OBJ, L, C = "scalar", "object", "list", "connection"
_MONEY = (OBJ, "MoneyBag", ())
SCHEMA: dict[str, dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "QueryRoot": {
        "orders": (C, "Order", ("first", "after", "last", "before", "query", "sortKey", "reverse")),
        "order": (OBJ, "Order", ("id",)),
    },
    "Order": {
        "id": (S, "ID", ()), "name": (S, "String", ()), "createdAt": (S, "DateTime", ()),
        "updatedAt": (S, "DateTime", ()), "processedAt": (S, "DateTime", ()), "cancelledAt": (S, "DateTime", ()),
        "closedAt": (S, "DateTime", ()), "displayFinancialStatus": (S, "OrderDisplayFinancialStatus", ()),
        "displayFulfillmentStatus": (S, "OrderDisplayFulfillmentStatus", ()), "discountCodes": (S, "[String!]", ()),
        "currencyCode": (S, "CurrencyCode", ()), "taxesIncluded": (S, "Boolean", ()), "test": (S, "Boolean", ()),
        "subtotalPriceSet": _MONEY, "currentSubtotalPriceSet": _MONEY, "totalDiscountsSet": _MONEY,
        "totalShippingPriceSet": _MONEY, "totalTaxSet": _MONEY, "totalPriceSet": _MONEY, "totalRefundedSet": _MONEY,
        "customer": (OBJ, "Customer", ()), "customerJourneySummary": (OBJ, "CustomerJourneySummary", ()),
        "lineItems": (C, "LineItem", ("first", "after")), "refunds": (L, "Refund", ("first",)),
    },
    "MoneyBag": {"shopMoney": (OBJ, "MoneyV2", ()), "presentmentMoney": (OBJ, "MoneyV2", ())},
    "MoneyV2": {"amount": (S, "Decimal", ()), "currencyCode": (S, "CurrencyCode", ())},
    "Customer": {"id": (S, "ID", ())},
    "CustomerJourneySummary": {
        "ready": (S, "Boolean", ()), "firstVisit": (OBJ, "CustomerVisit", ()), "lastVisit": (OBJ, "CustomerVisit", ()),
    },
    "CustomerVisit": {
        "id": (S, "ID", ()), "occurredAt": (S, "DateTime", ()), "landingPage": (S, "URL", ()),
        "referrerUrl": (S, "URL", ()), "referralCode": (S, "String", ()), "source": (S, "String", ()),
        "utmParameters": (OBJ, "UTMParameters", ()),
    },
    "UTMParameters": {k: (S, "String", ()) for k in ("source", "medium", "campaign", "content", "term")},
    "LineItem": {
        "id": (S, "ID", ()), "name": (S, "String", ()), "title": (S, "String", ()), "quantity": (S, "Int", ()),
        "currentQuantity": (S, "Int", ()), "sku": (S, "String", ()), "product": (OBJ, "Product", ()),
        "variant": (OBJ, "ProductVariant", ()), "originalUnitPriceSet": _MONEY, "discountedUnitPriceSet": _MONEY,
        "discountedUnitPriceAfterAllDiscountsSet": _MONEY,
    },
    "Product": {"id": (S, "ID", ())},
    "ProductVariant": {"id": (S, "ID", ()), "sku": (S, "String", ())},
    "Refund": {
        "id": (S, "ID", ()), "createdAt": (S, "DateTime", ()), "note": (S, "String", ()),
        "totalRefundedSet": _MONEY, "refundLineItems": (C, "RefundLineItem", ("first", "after")),
    },
    "RefundLineItem": {
        "id": (S, "ID", ()), "quantity": (S, "Int", ()), "restockType": (S, "RefundLineItemRestockType", ()),
        "lineItem": (OBJ, "LineItem", ()), "subtotalSet": _MONEY,
    },
    "PageInfo": {k: (S, "Boolean" if k.startswith("has") else "String", ())
                 for k in ("hasNextPage", "hasPreviousPage", "startCursor", "endCursor")},
}
_CONNECTION_FIELDS = {"nodes", "edges", "pageInfo"}
_EDGE_FIELDS = {"cursor", "node"}
MAX_PAGE = 250


# ---------------------------------------------------------------------------------------------- GraphQL reader
class GraphQLError(Exception):
    """A query the fake refuses; answered as ``{"errors": [{"message", "extensions": {"code"}}]}``."""

    def __init__(self, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.message, self.code = message, code


@dataclass
class _Var:
    name: str


@dataclass
class _Enum:
    name: str


@dataclass
class _Field:
    name: str
    args: dict[str, Any]
    selections: list[_Field] | None


@dataclass
class _Operation:
    kind: str
    variables: dict[str, tuple[str, Any]]       # name -> (type, default)
    selections: list[_Field]


_TOKEN = re.compile(r"""
    (?P<skip>[\s,]+|\#[^\n]*)
  | (?P<punct>\.\.\.|[!$():=@\[\]{}])
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
""", re.X)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise GraphQLError(f"Parse error on {text[pos:pos + 10]!r} at offset {pos}", "PARSE_ERROR")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "skip":
            out.append((kind, m.group()))
    return out


class _Reader:
    """Recursive-descent reader for the subset of GraphQL the client sends."""

    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("eof", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        k, v = self.peek()
        if (value is not None and v != value) or (kind is not None and k != kind) or k == "eof":
            raise GraphQLError(f"Parse error on {v or 'end of query'!r} (expected {value or kind})", "PARSE_ERROR")
        self.i += 1
        return v

    def document(self) -> _Operation:
        kind, variables = "query", {}
        if self.peek()[1] != "{":
            kind = self.take(kind="name")
            if kind != "query":
                raise GraphQLError(f"this fake serves queries only, not {kind}", "UNSUPPORTED")
            if self.peek()[0] == "name":
                self.take(kind="name")
            if self.peek()[1] == "(":
                variables = self.variable_definitions()
        if self.peek()[1] == "@":
            raise GraphQLError("directives are not supported by this fake", "UNSUPPORTED")
        selections = self.selection_set()
        if self.peek()[0] != "eof":
            raise GraphQLError("one operation per request, and no fragments", "UNSUPPORTED")
        return _Operation(kind, variables, selections)

    def variable_definitions(self) -> dict[str, tuple[str, Any]]:
        out: dict[str, tuple[str, Any]] = {}
        self.take("(")
        while self.peek()[1] != ")":
            self.take("$")
            name = self.take(kind="name")
            self.take(":")
            type_ = self.type_ref()
            default = None
            if self.peek()[1] == "=":
                self.take("=")
                default = self.value()
            out[name] = (type_, default)
        self.take(")")
        return out

    def type_ref(self) -> str:
        if self.peek()[1] == "[":
            self.take("[")
            inner = self.type_ref()
            self.take("]")
            text = f"[{inner}]"
        else:
            text = self.take(kind="name")
        if self.peek()[1] == "!":
            self.take("!")
            text += "!"
        return text

    def selection_set(self) -> list[_Field]:
        self.take("{")
        fields = []
        while self.peek()[1] != "}":
            if self.peek()[1] == "...":
                raise GraphQLError("fragments are not supported by this fake", "UNSUPPORTED")
            fields.append(self.field())
        self.take("}")
        if not fields:
            raise GraphQLError("Parse error: empty selection set", "PARSE_ERROR")
        return fields

    def field(self) -> _Field:
        name = self.take(kind="name")
        if self.peek()[1] == ":":
            raise GraphQLError("aliases are not supported by this fake", "UNSUPPORTED")
        args: dict[str, Any] = {}
        if self.peek()[1] == "(":
            self.take("(")
            while self.peek()[1] != ")":
                arg = self.take(kind="name")
                self.take(":")
                args[arg] = self.value()
            self.take(")")
        if self.peek()[1] == "@":
            raise GraphQLError("directives are not supported by this fake", "UNSUPPORTED")
        selections = self.selection_set() if self.peek()[1] == "{" else None
        return _Field(name, args, selections)

    def value(self) -> Any:
        kind, text = self.peek()
        if text == "$":
            self.take("$")
            return _Var(self.take(kind="name"))
        if text == "[":
            self.take("[")
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
            self.take("]")
            return items
        self.i += 1
        if kind == "string":
            return json.loads(text)
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, _Enum(text))
        raise GraphQLError(f"Parse error on {text!r}", "PARSE_ERROR")


def _undefined(type_name: str, field_name: str) -> GraphQLError:
    return GraphQLError(f"Field '{field_name}' doesn't exist on type '{type_name}'", "undefinedField")


def _validate(type_name: str, selections: list[_Field], used: set[str]) -> None:
    """Raise on the first field, argument or selection the schema does not have."""
    fields = SCHEMA[type_name]
    for sel in selections:
        if sel.name not in fields:
            raise _undefined(type_name, sel.name)
        kind, target, arg_names = fields[sel.name]
        for arg, value in sel.args.items():
            if arg not in arg_names:
                raise GraphQLError(f"Field '{sel.name}' doesn't accept argument '{arg}'", "argumentNotAccepted")
            if isinstance(value, _Var):
                used.add(value.name)
        if kind == S:
            if sel.selections is not None:
                raise GraphQLError(f"Selections can't be made on scalars (field '{sel.name}' returns {target} but "
                                   "has selections [...])", "selectionMismatch")
            continue
        if sel.selections is None:
            raise GraphQLError(f"Field must have selections (field '{sel.name}' returns {target} but has no "
                               "selections. Did you mean '" + sel.name + " { ... }'?)", "selectionMismatch")
        if kind != C:
            _validate(target, sel.selections, used)
            continue
        for part in sel.selections:
            if part.name not in _CONNECTION_FIELDS:
                raise _undefined(f"{target}Connection", part.name)
            if part.selections is None:
                raise GraphQLError(f"Field must have selections (field '{part.name}')", "selectionMismatch")
            if part.name == "nodes":
                _validate(target, part.selections, used)
            elif part.name == "pageInfo":
                _validate("PageInfo", part.selections, used)
            else:
                for edge in part.selections:
                    if edge.name not in _EDGE_FIELDS:
                        raise _undefined(f"{target}Edge", edge.name)
                    if edge.name == "node":
                        if edge.selections is None:
                            raise GraphQLError("Field must have selections (field 'node')", "selectionMismatch")
                        _validate(target, edge.selections, used)


def _node_selections(conn: _Field) -> list[_Field]:
    out: list[_Field] = []
    for part in conn.selections or ():
        if part.name == "nodes":
            out += part.selections or []
        elif part.name == "edges":
            for edge in part.selections or ():
                if edge.name == "node":
                    out += edge.selections or []
    return out


def _cost(type_name: str, selections: list[_Field], args: dict[str, Any], counts: Any = None) -> int:
    """Shopify's cost rule over a selection. With ``counts`` (the resolved value) the actual cost, else the
    requested one (every sized field full)."""
    total = 0
    for sel in selections:
        kind, target, _ = SCHEMA[type_name][sel.name]
        if kind == S:
            continue
        value = counts.get(sel.name) if isinstance(counts, dict) else None
        if kind == OBJ:
            if counts is None or value is not None:
                total += 1 + _cost(target, sel.selections or [], args, value)
            continue
        first = _arg(sel, "first", args) or MAX_PAGE
        node_sel = _node_selections(sel) if kind == C else (sel.selections or [])
        items = (value.get("nodes") or [e["node"] for e in value.get("edges", [])]) \
            if kind == C and isinstance(value, dict) else value
        if counts is None:
            per = 1 + _cost(target, node_sel, args)
            total += (2 if kind == C else 0) + int(first) * per
        else:
            total += (2 if kind == C else 0) + sum(1 + _cost(target, node_sel, args, item) for item in items or [])
    return total


def _arg(sel: _Field, name: str, variables: dict[str, Any]) -> Any:
    value = sel.args.get(name)
    if isinstance(value, _Var):
        return variables.get(value.name)
    if isinstance(value, _Enum):
        return value.name
    return value


# ---------------------------------------------------------------------------------------------- data
@dataclass
class FakeLine:
    id: int
    sku: str | None
    title: str
    product_id: int | None
    variant_id: int
    quantity: int
    unit_cents: int            # original unit price
    line_discount_cents: int   # line-level discounts on the whole line
    allocated_cents: int = 0   # the order-level discount allocated to this line

    @property
    def net_cents(self) -> int:
        return self.unit_cents * self.quantity - self.line_discount_cents - self.allocated_cents


@dataclass
class FakeRefund:
    id: int
    created_at: datetime
    cents: int
    lines: list[tuple[int, int, str]]     # (line id, quantity, restockType)


@dataclass
class FakeOrder:
    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    financial: str
    fulfillment: str
    currency: str
    lines: list[FakeLine]
    codes: list[str] = field(default_factory=list)
    order_discount_cents: int = 0
    shipping_cents: int = 0
    tax_cents: int = 0
    cancelled_at: datetime | None = None
    refunds: list[FakeRefund] = field(default_factory=list)
    customer_id: int | None = None
    journey_ready: bool = True
    first_visit: dict[str, Any] | None = None
    last_visit: dict[str, Any] | None = None

    @property
    def subtotal_cents(self) -> int:          # before any discount
        return sum(x.unit_cents * x.quantity for x in self.lines)

    @property
    def discount_cents(self) -> int:
        return sum(x.line_discount_cents for x in self.lines) + self.order_discount_cents

    @property
    def merchandise_cents(self) -> int:       # Shopify's subtotalPriceSet: after discounts, before returns
        return self.subtotal_cents - self.discount_cents

    @property
    def total_cents(self) -> int:
        return self.merchandise_cents + self.shipping_cents + self.tax_cents

    @property
    def refunded_cents(self) -> int:
        return sum(r.cents for r in self.refunds)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _amount(cents: int) -> str:
    """Shopify's Decimal style: "25.0", "12.5", "12.34"."""
    text = f"{Decimal(cents).scaleb(-2):f}"
    text = text.rstrip("0")
    return text + "0" if text.endswith(".") else text


def _money(amount: str, currency: str) -> dict[str, Any]:
    bag = {"amount": amount, "currencyCode": currency}
    return {"shopMoney": bag, "presentmentMoney": dict(bag)}


def _encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise GraphQLError(f"Invalid cursor {cursor!r}", "BAD_REQUEST") from None
    if not isinstance(value, dict):
        raise GraphQLError(f"Invalid cursor {cursor!r}", "BAD_REQUEST")
    return value


_FILTER_TERM = re.compile(r"(?P<field>updated_at|created_at):(?P<op>>=|<=|>|<)'(?P<at>[^']+)'")


def _parse_filter(text: str | None) -> list[tuple[str, str, datetime]]:
    if not text:
        return []
    terms = []
    for word in text.split():
        if word == "AND":
            continue
        m = _FILTER_TERM.fullmatch(word)
        if m is None:
            raise GraphQLError(f"this fake does not understand the search term {word!r}", "BAD_REQUEST")
        try:
            at = datetime.fromisoformat(m["at"])
        except ValueError:
            raise GraphQLError(f"bad time in search term {word!r}", "BAD_REQUEST") from None
        if at.tzinfo is None:
            raise GraphQLError(f"search time without a zone in {word!r}", "BAD_REQUEST")
        terms.append((m["field"], m["op"], at))
    return terms


def _matches(order: FakeOrder, terms: list[tuple[str, str, datetime]]) -> bool:
    for name, op, at in terms:
        value = order.updated_at if name == "updated_at" else order.created_at
        ok = {">": value > at, ">=": value >= at, "<": value < at, "<=": value <= at}[op]
        if not ok:
            return False
    return True


@dataclass
class Call:
    """One recorded request and the answer it got."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any | None
    status: int = 0
    answer: Any = None
    fault: str | None = None
    at: float = field(default_factory=time.time)

    @property
    def error_codes(self) -> list[str]:
        errors = self.answer.get("errors") if isinstance(self.answer, dict) else None
        if not isinstance(errors, list):
            return []
        return [str((e.get("extensions") or {}).get("code")) for e in errors]

    @property
    def cost(self) -> dict[str, Any] | None:
        return ((self.answer or {}).get("extensions") or {}).get("cost") if isinstance(self.answer, dict) else None


@dataclass
class _Fault:
    remaining: int
    kind: str
    delay_s: float


FAULTS = ("server", "timeout", "bad_json", "throttle", "http429")
UTM_SOURCES = (("tiktok", "social", "fall-drop", "video-123"), ("google", "cpc", "brand", None),
               ("instagram", "creator", "amy-haul", "reel-7"), ("newsletter", "email", "november", None))
CODES = ("WELCOME10", "CREATOR-AMY", "TIKTOK15")


class FakeShopify(FakeServer):
    """Fake Shopify GraphQL Admin API on 127.0.0.1:<random port>; see the module docstring."""

    def __init__(self, seed: int = 7, orders: int = 30, *, token: str = "shpat_test_token",
                 shop: str = "kpibot-test.myshopify.com", currency: str = "USD",
                 start: datetime = datetime(2026, 10, 1, tzinfo=UTC), bucket: float = 1000.0,
                 restore_rate: float = 50.0, max_query_cost: int = 1000, fault_rate: float = 0.0,
                 fault_seed: int = 0, fault_kinds: Sequence[str] = FAULTS, fault_delay_s: float = 2.0) -> None:
        super().__init__()
        if not set(fault_kinds) <= set(FAULTS):
            raise ValueError(f"fault_kinds must be some of {FAULTS}")
        self.fault_rate, self.fault_kinds, self.fault_delay_s = fault_rate, tuple(fault_kinds), fault_delay_s
        self._fault_rng = random.Random(fault_seed)
        self.token, self.shop, self.currency, self.seed = token, shop, currency, seed
        self.bucket, self.restore_rate, self.max_query_cost = bucket, restore_rate, max_query_cost
        self.start_at = start
        self.now = start + timedelta(days=40)       # the fake's clock for mutations
        self.calls: list[Call] = []
        self.orders: dict[int, FakeOrder] = {}
        self._available = bucket
        self._refilled_at = time.monotonic()
        self._faults: list[_Fault] = []
        self._next_id = 5_300_000_000_000
        self._lock = threading.Lock()
        self._seed_orders(orders)

    async def _astop(self) -> None:
        await super()._astop()
        await cancel_other_tasks()

    # ------------------------------------------------------------------ faults and bucket
    def fail_next(self, n: int, kind: str = "server", delay_s: float = 2.0) -> None:
        """The next ``n`` GraphQL requests fail with ``kind`` (one of ``FAULTS``). A ``timeout`` is answered
        normally but only after ``delay_s``, so a client with a shorter timeout has given up by then."""
        if kind not in FAULTS:
            raise ValueError(f"kind must be one of {FAULTS}")
        with self._lock:
            self._faults.append(_Fault(n, kind, delay_s))

    def clear_faults(self) -> None:
        """Drop the pending ``fail_next`` rules and stop random faults."""
        with self._lock:
            self._faults.clear()
            self.fault_rate = 0.0

    def drain(self, available: float = 0.0) -> None:
        """Set the cost bucket to ``available`` points now."""
        with self._lock:
            self._available, self._refilled_at = available, time.monotonic()

    @property
    def throttled(self) -> list[Call]:
        return [c for c in self.calls if "THROTTLED" in c.error_codes]

    def _take_fault(self) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0:
                fault.remaining -= 1
                return fault
        if self.fault_rate > 0 and self._fault_rng.random() < self.fault_rate:
            return _Fault(1, self._fault_rng.choice(self.fault_kinds), self.fault_delay_s)
        return None

    def _refill(self) -> None:
        now = time.monotonic()
        self._available = min(self.bucket, self._available + (now - self._refilled_at) * self.restore_rate)
        self._refilled_at = now

    def _throttle_status(self) -> dict[str, float]:
        return {"maximumAvailable": float(self.bucket), "currentlyAvailable": float(int(self._available)),
                "restoreRate": float(self.restore_rate)}

    # ------------------------------------------------------------------ data: seed and mutations
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _seed_orders(self, n: int) -> None:
        rng = random.Random(self.seed)
        for i in range(n):
            created = self.start_at + timedelta(seconds=rng.randrange(0, 30 * 86400))
            line_count = 13 if i == 3 else rng.choice((1, 1, 1, 2, 2, 3, 4))
            lines = [(f"SKU-{rng.randrange(100, 120)}" if rng.random() > 0.1 else None,
                      rng.choice((999, 1250, 1999, 2450, 4999)), rng.choice((1, 1, 1, 2, 3)),
                      rng.choice((0, 0, 0, 100, 250))) for _ in range(line_count)]
            codes = [rng.choice(CODES)] if rng.random() < 0.35 else []
            visits: dict[str, Any] = {"journey_ready": rng.random() > 0.15}
            if visits["journey_ready"]:
                first = rng.choice((*UTM_SOURCES, None))
                last = rng.choice(UTM_SOURCES)
                visits["first_visit"] = self._visit(created - timedelta(days=rng.randrange(1, 20)), first)
                visits["last_visit"] = self._visit(created - timedelta(minutes=rng.randrange(5, 300)), last)
            oid = self.add_order(
                lines=lines, codes=codes, discount_percent=10 if codes else 0,
                shipping_cents=rng.choice((0, 499, 799)), created_at=created,
                updated_at=created + timedelta(seconds=rng.randrange(0, 5 * 86400)),
                financial="PAID" if i in (3, 5) else rng.choice(("PAID", "PAID", "PAID", "PENDING")),
                fulfillment=rng.choice(("FULFILLED", "UNFULFILLED", "PARTIALLY_FULFILLED")),
                customer_id=None if rng.random() < 0.2 else 7_000_000 + rng.randrange(1000), **visits)
            order = self.orders[oid]
            if order.financial == "PAID" and (i == 5 or rng.random() < 0.2):
                refunds = 6 if i == 5 else 1
                for k in range(refunds):
                    line = order.lines[k % len(order.lines)]
                    at = order.updated_at + timedelta(hours=k + 1)
                    self.refund_order(oid, min(line.unit_cents, order.total_cents // 10), at=at,
                                      lines=[(line.id, 1, "RETURN" if k % 2 == 0 else "NO_RESTOCK")])
            elif order.financial == "PAID" and rng.random() < 0.1:
                self.cancel_order(oid, at=order.updated_at + timedelta(hours=2))

    @staticmethod
    def _visit(at: datetime, utm: tuple[str, str, str, str | None] | None) -> dict[str, Any]:
        page = "https://kpibot-test.example/products/hoodie"
        if utm is None:
            return {"occurredAt": at, "landingPage": page, "referralCode": None, "utm": None}
        source, medium, campaign, content = utm
        query = f"utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"
        return {"occurredAt": at, "landingPage": f"{page}?{query}",
                "referralCode": "amy" if campaign == "amy-haul" else None,
                "utm": {"source": source, "medium": medium, "campaign": campaign, "content": content,
                        "term": "hoodie" if medium == "cpc" else None}}

    def add_order(self, *, lines: Sequence[tuple[str | None, int, int] | tuple[str | None, int, int, int]],
                  codes: Sequence[str] = (), discount_percent: int = 0, order_discount_cents: int | None = None,
                  shipping_cents: int = 0, tax_cents: int | None = None, created_at: datetime | None = None,
                  updated_at: datetime | None = None, financial: str = "PAID", fulfillment: str = "UNFULFILLED",
                  customer_id: int | None = None, journey_ready: bool = True,
                  first_visit: dict[str, Any] | None = None, last_visit: dict[str, Any] | None = None) -> int:
        """Add an order; returns its numeric id. ``lines`` are (sku, unit cents, quantity[, line discount cents]).
        The order-level discount (``order_discount_cents``, or ``discount_percent`` of the lines after their own
        discounts) is allocated to the lines in proportion, the last line taking the remainder. Tax defaults to
        8 % of the discounted subtotal, rounded half up. A visit is ``{"occurredAt", "landingPage",
        "referralCode", "utm": {"source", "medium", "campaign", "content", "term"} | None}``."""
        with self._lock:
            oid = self._new_id()
            created = created_at or self.now
            made: list[FakeLine] = []
            for spec in lines:
                sku, unit, qty = spec[0], spec[1], spec[2]
                discount = spec[3] if len(spec) > 3 else 0  # type: ignore[misc]
                made.append(FakeLine(self._new_id(), sku, f"Hoodie {sku or 'custom'}", _product_id(sku),
                                     self._new_id(), qty, unit, discount))
            after_line = sum(x.unit_cents * x.quantity - x.line_discount_cents for x in made)
            order_disc = order_discount_cents if order_discount_cents is not None \
                else (after_line * discount_percent + 50) // 100
            left = order_disc
            for k, line in enumerate(made):
                share = left if k == len(made) - 1 else \
                    order_disc * (line.unit_cents * line.quantity - line.line_discount_cents) // max(after_line, 1)
                line.allocated_cents, left = share, left - share
            order = FakeOrder(oid, f"#{1000 + len(self.orders) + 1}", created, updated_at or created, financial,
                              fulfillment, self.currency, made, list(codes), order_disc, shipping_cents, 0,
                              customer_id=customer_id, journey_ready=journey_ready, first_visit=first_visit,
                              last_visit=last_visit)
            order.tax_cents = tax_cents if tax_cents is not None else (order.merchandise_cents * 8 + 50) // 100
            if not journey_ready:
                order.first_visit = order.last_visit = None
            self.orders[oid] = order
            return oid

    def refund_order(self, order_id: int, cents: int, *, lines: Sequence[tuple[int, int, str]] = (),
                     at: datetime | None = None) -> int:
        """Refund ``cents`` with refund lines (line id, quantity, restockType); moves updatedAt."""
        with self._lock:
            order = self.orders[order_id]
            when = at or self.now
            refund = FakeRefund(self._new_id(), when, cents, list(lines))
            order.refunds.append(refund)
            order.financial = "REFUNDED" if order.refunded_cents >= order.total_cents else "PARTIALLY_REFUNDED"
            order.updated_at = max(order.updated_at, when)
            return refund.id

    def cancel_order(self, order_id: int, *, at: datetime | None = None) -> None:
        """Cancel: a paid order is refunded in full (restockType CANCEL), an unpaid one voided."""
        order = self.orders[order_id]
        when = at or self.now
        if order.financial in ("PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED"):
            self.refund_order(order_id, order.total_cents - order.refunded_cents, at=when,
                              lines=[(x.id, x.quantity, "CANCEL") for x in order.lines])
        else:
            order.financial = "VOIDED"
        with self._lock:
            order.cancelled_at = when
            order.updated_at = max(order.updated_at, when)

    def touch(self, order_id: int, at: datetime | None = None) -> None:
        with self._lock:
            self.orders[order_id].updated_at = at or self.now

    def expected_totals(self, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
        """Sums over the orders updated in [since, until), from the stored integer cents."""
        chosen = [o for o in self.orders.values()
                  if (since is None or o.updated_at >= since) and (until is None or o.updated_at < until)]

        def dec(cents: int) -> Decimal:
            return Decimal(cents).scaleb(-2)

        return {
            "orders": len(chosen),
            "subtotal": dec(sum(o.subtotal_cents for o in chosen)),
            "discount": dec(sum(o.discount_cents for o in chosen)),
            "merchandise": dec(sum(o.merchandise_cents for o in chosen)),
            "shipping": dec(sum(o.shipping_cents for o in chosen)),
            "tax": dec(sum(o.tax_cents for o in chosen)),
            "total": dec(sum(o.total_cents for o in chosen)),
            "refunded": dec(sum(o.refunded_cents for o in chosen)),
            "refunds": sum(len(o.refunds) for o in chosen),
            "units": sum(x.quantity for o in chosen for x in o.lines),
            "lines": sum(len(o.lines) for o in chosen),
            "cancelled": sum(1 for o in chosen if o.cancelled_at is not None),
            "with_codes": sum(1 for o in chosen if o.codes),
        }

    def expected_details(self, since: datetime | None = None, until: datetime | None = None) -> dict[str, int]:
        """More sums over the orders updated in [since, until), for tests of the stored data: refunds that
        cancel, units returned, customer-journey visits."""
        chosen = [o for o in self.orders.values()
                  if (since is None or o.updated_at >= since) and (until is None or o.updated_at < until)]
        return {
            # refunds that cancel (a CANCEL refund line and no RETURN one), units refunded with restock RETURN
            "cancellation_refunds": sum(1 for o in chosen for r in o.refunds
                                        if any(k == "CANCEL" for _, _, k in r.lines)
                                        and not any(k == "RETURN" for _, _, k in r.lines)),
            "returned_units": sum(q for o in chosen for r in o.refunds for _, q, k in r.lines if k == "RETURN"),
            # customer-journey visits: the first and the last of an order whose journey is ready
            "visits": sum((o.first_visit is not None) + (o.last_visit is not None)
                          for o in chosen if o.journey_ready),
        }

    # ------------------------------------------------------------------ GraphQL views of the data
    def _line_view(self, order: FakeOrder, line: FakeLine) -> dict[str, Any]:
        cur = order.currency
        after_all = Decimal(line.net_cents) / (100 * line.quantity)
        after_line = Decimal(line.unit_cents * line.quantity - line.line_discount_cents) / (100 * line.quantity)
        return {
            "id": f"{GID}LineItem/{line.id}", "name": line.title, "title": line.title, "quantity": line.quantity,
            "currentQuantity": line.quantity - sum(q for r in order.refunds for lid, q, _ in r.lines if lid == line.id),
            "sku": line.sku,
            "product": None if line.product_id is None else {"id": f"{GID}Product/{line.product_id}"},
            "variant": {"id": f"{GID}ProductVariant/{line.variant_id}", "sku": line.sku},
            "originalUnitPriceSet": _money(_amount(line.unit_cents), cur),
            "discountedUnitPriceSet": _money(_decimal_text(after_line), cur),
            "discountedUnitPriceAfterAllDiscountsSet": _money(_decimal_text(after_all), cur),
        }

    def _visit_view(self, visit: dict[str, Any] | None, key: int) -> dict[str, Any] | None:
        if visit is None:
            return None
        return {"id": f"{GID}CustomerVisit/{key}", "occurredAt": _iso(visit["occurredAt"]),
                "landingPage": visit.get("landingPage"), "referrerUrl": visit.get("referrerUrl"),
                "referralCode": visit.get("referralCode"), "source": (visit.get("utm") or {}).get("source", "direct"),
                "utmParameters": dict(visit["utm"]) if visit.get("utm") else None}

    def _order_view(self, order: FakeOrder) -> dict[str, Any]:
        cur = order.currency
        lines = {x.id: x for x in order.lines}
        refunds = [{
            "id": f"{GID}Refund/{r.id}", "createdAt": _iso(r.created_at), "note": None,
            "totalRefundedSet": _money(_amount(r.cents), cur),
            "refundLineItems": [{
                "id": f"{GID}RefundLineItem/{r.id}{k}", "quantity": qty, "restockType": restock,
                "lineItem": self._line_view(order, lines[lid]),
                "subtotalSet": _money(_amount(lines[lid].net_cents * qty // lines[lid].quantity), cur),
            } for k, (lid, qty, restock) in enumerate(r.lines)],
        } for r in order.refunds]
        journey = {"ready": order.journey_ready, "firstVisit": self._visit_view(order.first_visit, order.id * 10 + 1),
                   "lastVisit": self._visit_view(order.last_visit, order.id * 10 + 2)}
        return {
            "id": f"{GID}Order/{order.id}", "name": order.name, "createdAt": _iso(order.created_at),
            "updatedAt": _iso(order.updated_at), "processedAt": _iso(order.created_at),
            "cancelledAt": _iso(order.cancelled_at), "closedAt": None,
            "displayFinancialStatus": order.financial, "displayFulfillmentStatus": order.fulfillment,
            "discountCodes": list(order.codes), "currencyCode": cur, "taxesIncluded": False, "test": False,
            "subtotalPriceSet": _money(_amount(order.merchandise_cents), cur),
            "currentSubtotalPriceSet": _money(_amount(max(0, order.merchandise_cents - order.refunded_cents)), cur),
            "totalDiscountsSet": _money(_amount(order.discount_cents), cur),
            "totalShippingPriceSet": _money(_amount(order.shipping_cents), cur),
            "totalTaxSet": _money(_amount(order.tax_cents), cur),
            "totalPriceSet": _money(_amount(order.total_cents), cur),
            "totalRefundedSet": _money(_amount(order.refunded_cents), cur),
            "customer": None if order.customer_id is None else {"id": f"{GID}Customer/{order.customer_id}"},
            "customerJourneySummary": journey,
            "lineItems": [self._line_view(order, x) for x in order.lines],
            "refunds": refunds,
        }

    # ------------------------------------------------------------------ executing a query
    def _execute(self, op: _Operation, variables: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for sel in op.selections:
            if sel.name == "orders":
                data["orders"] = self._orders_connection(sel, variables)
            else:
                gid = _arg(sel, "id", variables)
                if not isinstance(gid, str) or not gid.startswith(f"{GID}Order/"):
                    raise GraphQLError(f"Invalid global id '{gid}'", "argumentLiteralsIncompatible")
                tail = gid.rsplit("/", 1)[1]
                order = self.orders.get(int(tail)) if tail.isdigit() else None
                data["order"] = None if order is None else \
                    self._select("Order", self._order_view(order), sel.selections or [], variables)
        return data

    def _orders_connection(self, sel: _Field, variables: dict[str, Any]) -> dict[str, Any]:
        if _arg(sel, "last", variables) is not None or _arg(sel, "before", variables) is not None:
            raise GraphQLError("this fake pages forwards only (first/after)", "UNSUPPORTED")
        sort_key = _arg(sel, "sortKey", variables) or "ID"
        if sort_key not in ("ID", "UPDATED_AT", "CREATED_AT"):
            raise GraphQLError(f"Argument 'sortKey' has an invalid value ({sort_key})", "argumentLiteralsIncompatible")
        terms = _parse_filter(_arg(sel, "query", variables))

        def key(o: FakeOrder) -> tuple[str, int]:
            value = {"ID": "", "UPDATED_AT": _iso(o.updated_at), "CREATED_AT": _iso(o.created_at)}[sort_key]
            return (value or "", o.id)

        chosen = sorted((o for o in self.orders.values() if _matches(o, terms)), key=key,
                        reverse=bool(_arg(sel, "reverse", variables)))
        items = [(key(o), self._order_view(o)) for o in chosen]
        return self._page(sel, items, variables, "Order")

    def _page(self, sel: _Field, items: list[tuple[tuple[str, int], dict[str, Any]]], variables: dict[str, Any],
              node_type: str) -> dict[str, Any]:
        first = _arg(sel, "first", variables)
        if first is None:
            raise GraphQLError("you must provide one of first or last", "BAD_REQUEST")
        if not isinstance(first, int) or not 0 <= first <= MAX_PAGE:
            raise GraphQLError(f"The 'first' argument must be between 0 and {MAX_PAGE}", "BAD_REQUEST")
        after = _arg(sel, "after", variables)
        if after is not None:
            mark = _decode_cursor(after)
            last = (str(mark.get("last_value", "")), int(mark.get("last_id", 0)))
            reverse = bool(_arg(sel, "reverse", variables))
            items = [it for it in items if (it[0] < last if reverse else it[0] > last)]
        page, more = items[:first], len(items) > first
        cursors = [_encode_cursor({"last_id": k[1], "last_value": k[0]}) for k, _ in page]
        out: dict[str, Any] = {}
        for part in sel.selections or ():
            if part.name == "nodes":
                out["nodes"] = [self._select(node_type, v, part.selections or [], variables) for _, v in page]
            elif part.name == "edges":
                out["edges"] = [{e.name: c if e.name == "cursor" else self._select(node_type, v, e.selections or [],
                                                                                    variables)
                                 for e in part.selections or ()} for c, (_, v) in zip(cursors, page, strict=True)]
            else:
                info = {"hasNextPage": more, "hasPreviousPage": after is not None,
                        "startCursor": cursors[0] if cursors else None, "endCursor": cursors[-1] if cursors else None}
                out["pageInfo"] = {p.name: info[p.name] for p in part.selections or ()}
        return out

    def _select(self, type_name: str, view: dict[str, Any], selections: list[_Field],
                variables: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sel in selections:
            kind, target, _ = SCHEMA[type_name][sel.name]
            value = view[sel.name]
            if kind == S:
                out[sel.name] = value
            elif kind == OBJ:
                out[sel.name] = None if value is None else self._select(target, value, sel.selections or [], variables)
            elif kind == L:
                first = _arg(sel, "first", variables)
                chosen = value if first is None else value[: int(first)]
                out[sel.name] = [self._select(target, v, sel.selections or [], variables) for v in chosen]
            else:
                items = [((f"{i:08d}", i), v) for i, v in enumerate(value)]
                out[sel.name] = self._page(sel, items, variables, target)
        return out

    # ------------------------------------------------------------------ HTTP
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        call = Call(request.method, request.path, dict(request.headers), None)
        with contextlib.suppress(ValueError):
            call.json = json.loads(raw) if raw else None
        with self._lock:
            fault = self._take_fault() if _PATH.match(request.path) else None
            self.calls.append(call)         # in arrival order; status and answer are filled in below
        call.fault = fault.kind if fault else None
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.kind == "bad_json":
            call.status = 200
            return web.Response(status=200, text='{"data": {"orders": {"nodes": [', content_type="application/json")
        status, answer, headers = self._answer(request, call, fault)
        call.status, call.answer = status, answer
        return web.json_response(answer, status=status, headers=headers)

    def _answer(self, request: web.Request, call: Call, fault: _Fault | None) -> tuple[int, Any, dict[str, str]]:
        if request.method != "POST" or not _PATH.match(request.path):
            return 404, {"errors": "Not Found"}, {}
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return 401, {"errors": INVALID_TOKEN}, {}
        if fault is not None and fault.kind == "server":
            return 503, {"errors": "Service Unavailable"}, {}
        if fault is not None and fault.kind == "http429":
            return 429, {"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume "
                                   "uninterrupted service."}, {"Retry-After": "1.0"}
        body = call.json
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return 400, {"errors": {"query": "Required parameter missing or invalid"}}, {}
        variables = body.get("variables") or {}
        try:
            if not isinstance(variables, dict):
                raise GraphQLError("variables must be an object", "BAD_REQUEST")
            op = _Reader(body["query"]).document()
            used: set[str] = set()
            _validate("QueryRoot", op.selections, used)
            undeclared = sorted(used - set(op.variables))
            if undeclared:
                raise GraphQLError(f"Variable ${undeclared[0]} is used by the query but not declared",
                                   "variableNotDefined")
            values = {name: variables.get(name, default) for name, (_, default) in op.variables.items()}
            for name, (type_, _) in op.variables.items():
                if type_.endswith("!") and values[name] is None:
                    raise GraphQLError(f"Variable ${name} of type {type_} was provided invalid value",
                                       "variableMismatch")
            requested = _cost("QueryRoot", op.selections, values)
        except GraphQLError as exc:
            return 200, {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]}, {}
        with self._lock:
            self._refill()
            if requested > self.max_query_cost:
                return 200, {"errors": [{
                    "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                               f"({self.max_query_cost}).",
                    "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                   "maxCost": self.max_query_cost}}]}, {}
            cost: dict[str, Any] = {"requestedQueryCost": requested, "actualQueryCost": None}
            if (fault is not None and fault.kind == "throttle") or requested > self._available:
                cost["throttleStatus"] = self._throttle_status()
                return 200, {"errors": [{"message": "Throttled", "extensions": {
                    "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                    "extensions": {"cost": cost}}, {}
            self._available -= requested
            try:
                data = self._execute(op, values)
            except GraphQLError as exc:
                self._available += requested
                return 200, {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]}, {}
            actual = _cost("QueryRoot", op.selections, values, data)
            self._available = min(self.bucket, self._available + requested - actual)
            cost["actualQueryCost"] = actual
            cost["throttleStatus"] = self._throttle_status()
        return 200, {"data": data, "extensions": {"cost": cost}}, {}


def _product_id(sku: str | None) -> int | None:
    """Custom items (no SKU here) have no product, as in Shopify."""
    if sku is None:
        return None
    tail = sku.rsplit("-", 1)[-1]
    return 8_000_000 + (int(tail) if tail.isdigit() else 0)


def _decimal_text(value: Decimal) -> str:
    """An exact or 12-place decimal in Shopify's style (allocations give values like 3.333333333333)."""
    text = f"{value.quantize(Decimal('1e-12')).normalize():f}"
    return text if "." in text else text + ".0"

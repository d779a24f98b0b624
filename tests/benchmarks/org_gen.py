"""A realistic organisation at any scale, written FAST into an empty migrated store: the benchmark suite's data.

    python -m tests.benchmarks.org_gen [--orders 1000000] [--members 500] [--shops 20] [--store URL] [--reset]

--members in --teams teams (default 25, fewer for small --members: at least 10 a team): per team 2 ad buyers,
1 operator, 1 selector, 1 lead and the rest hosts; --shops shops in USD, GBP and IDR (America/Los_Angeles,
Europe/London, Asia/Jakarta), dealt to the teams in turn (a team owns 1-2 when there are enough; with fewer shops
than teams the last teams own none and their hosts sell in another team's shop); --orders orders over the 90 days
ending NOW, ~70 % credited to hosts, one product line each, ~3 % cancelled, ~6 % with a completed refund (some
partial, some in two parts), shipped and delivered times; live sessions, videos, ad spend, inventory, FX for every
day, the shipped KPI templates and member and team targets for the three months. Rows are written with explicit
ids by executemany (SQLite) or COPY (PostgreSQL) on the transaction's DB-API connection; numpy draws the orders.
Everything follows from --seed. Member codes are host1.., buyer1.., operator1.., selector1.., lead1..; their Feishu
ids ou_<code>, their DingTalk ids the codes (as the demo's).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from scoring.roles import Role
from scoring.shipped_templates import DEFAULT_TEMPLATES
from scoring.templates import Stage, select_template
from tests.benchmarks.common import empty_store

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
DAYS = 90
START = NOW - timedelta(days=DAYS)
FIRST_DAY = (START - timedelta(days=1)).date()      # FX and inventory from the day before the first order
MONTHS = ("2026-09", "2026-10", "2026-11")
SHOP_KINDS = (("USD", "America/Los_Angeles", "US"), ("GBP", "Europe/London", "GB"), ("IDR", "Asia/Jakarta", "ID"))
TEAM_ZONES = ("America/Los_Angeles", "Europe/London", "Asia/Jakarta", "Asia/Shanghai")
USD_PER = {"USD": 1.0, "GBP": 1.27, "IDR": 1 / 15800}   # rough, for targets only (never stored as money)
PRODUCTS_PER_SHOP = 40
CHUNK = 250_000        # orders drawn and written at a time
CREDITED, CANCELLED, REFUNDED, SECOND_REFUND, PARTIAL = 0.70, 0.03, 0.065, 0.15, 0.4


@dataclass(frozen=True)
class Summary:
    orders: int
    members: int
    teams: int
    shops: int
    refunds: int
    lives: int
    posts: int
    seconds: float


@dataclass
class _Org:
    teams: list[dict[str, Any]] = field(default_factory=list)
    shops: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    team_shops: dict[int, list[int]] = field(default_factory=dict)   # team id -> shop ids it owns
    sells_in: dict[int, list[int]] = field(default_factory=dict)     # team id -> shops its hosts sell in


def default_teams(members: int) -> int:
    return max(1, min(25, members // 10))


def build(engine: Engine, orders: int, members: int, shops: int, teams: int | None = None, seed: int = 24) -> Summary:
    """Write the organisation into `engine` (empty, migrated) in one transaction; then the lead's per-member
    aggregates when storage.order_sums exists."""
    started = time.perf_counter()
    rng, gen = random.Random(seed), np.random.default_rng(seed)
    n_teams = teams or default_teams(members)
    if members < n_teams * 6:
        raise SystemExit(f"{members} members are too few for {n_teams} teams (6 roles a team at least)")
    with engine.begin() as conn:
        w = _Writer(conn)
        org = _people(w, rng, members, shops, n_teams)
        products = _catalogue(w, rng, org)
        _fx(w, rng)
        _templates(w)
        n_orders, n_refunds, usd_by = _orders(w, gen, org, products, orders)
        lives, posts = _activity(w, rng, org)
        _ads(w, rng, org)
        _inventory(w, rng, products)
        _targets(w, rng, org, usd_by)
        w.fix_sequences()
        # the store's triggers marked every order written to be folded into the sums at commit, one by one; the
        # rebuild below makes them all at once, in less than half the time (at 100,000 orders: 14 s in all, not 32)
        conn.execute(text("DELETE FROM order_sum_due"))
    try:
        from storage import order_sums  # type: ignore[attr-defined]  # the lead's module, maybe not there yet
    except ImportError:
        print("aggregates: not built")
    else:
        t0 = time.perf_counter()
        order_sums.rebuild(engine)
        print(f"aggregates: rebuilt in {time.perf_counter() - t0:.1f} s")
    return Summary(n_orders, len(org.members), len(org.teams), len(org.shops), n_refunds, lives, posts,
                   time.perf_counter() - started)


# --- writing -----------------------------------------------------------------------------------------------------

class _Writer:
    """Rows straight to the DB-API connection in the caller's transaction: times as 'YYYY-MM-DD HH:MM:SS.ffffff'
    naive UTC text (what UTCDateTime stores on SQLite; PostgreSQL parses it), Decimals as text (ExactDecimal)."""

    def __init__(self, conn: Connection) -> None:
        self.conn, self.pg = conn, conn.dialect.name == "postgresql"
        self.dbapi = conn.connection.dbapi_connection
        self.tables: set[str] = set()
        self.org_id = 1

    def rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        if columns[0] == "id":
            self.tables.add(table)
        cols = ", ".join(columns)
        assert self.dbapi is not None
        cur = self.dbapi.cursor()
        if self.pg:
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        else:
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(columns))})", rows)
        cur.close()

    def fix_sequences(self) -> None:
        """PostgreSQL: explicit ids leave the id sequences behind; move them past the rows written."""
        if self.pg:
            for table in sorted(self.tables):
                self.conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                       f"(SELECT MAX(id) FROM {table}))"))


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def ts_array(seconds: np.ndarray) -> np.ndarray:
    """Unix seconds -> the stored text of each moment."""
    text_ = np.datetime_as_string(seconds.astype("datetime64[s]").astype("datetime64[us]"), unit="us")
    return np.char.replace(text_, "T", " ")


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


# --- people, shops, catalogue ----------------------------------------------------------------------------------

def _people(w: _Writer, rng: random.Random, n_members: int, n_shops: int, n_teams: int) -> _Org:
    created = ts(START - timedelta(days=30))
    w.rows("organisation", ("id", "code", "name", "created_at"), [(1, "bench", "Bench Org", created)])
    org = _Org()
    stages = ("growth",) * 3 + ("stable", "cold_start")
    for t in range(1, n_teams + 1):
        zone = TEAM_ZONES[(t - 1) % len(TEAM_ZONES)]
        org.teams.append({"id": t, "code": f"team{t:02d}", "zone": zone, "stage": stages[(t - 1) % len(stages)]})
    w.rows("team", ("id", "org_id", "code", "name", "timezone", "locale", "stage"),
           [(t["id"], 1, t["code"], f"Team {t['id']}", t["zone"], "en" if t["id"] % 3 else "zh-CN", t["stage"])
            for t in org.teams])
    for s in range(1, n_shops + 1):
        currency, zone, region = SHOP_KINDS[(s - 1) % len(SHOP_KINDS)]
        team = (s - 1) % n_teams + 1
        org.shops.append({"id": s, "team": team, "currency": currency, "zone": zone, "region": region})
        org.team_shops.setdefault(team, []).append(s)
    for t in org.teams:
        org.sells_in[t["id"]] = org.team_shops.get(t["id"]) or [(t["id"] - 1) % n_shops + 1]
    w.rows("shop", ("id", "org_id", "team_id", "code", "name", "platform", "platform_shop_id", "region", "currency",
                    "timezone"),
           [(s["id"], 1, s["team"], f"shop{s['id']:02d}", f"Shop {s['id']} {s['region']}", "tiktok_shop",
             f"{s['region']}{7000 + s['id']}", s["region"], s["currency"], s["zone"]) for s in org.shops])
    counters: dict[str, int] = {}
    base, extra = divmod(n_members, n_teams)
    for t in org.teams:
        size = base + (1 if t["id"] <= extra else 0)
        roles = ["lead", "operator", "selector", "ad_buyer", "ad_buyer"] + ["host"] * (size - 5)
        for role in roles:
            prefix = {"ad_buyer": "buyer"}.get(role, role)
            counters[prefix] = counters.get(prefix, 0) + 1
            zone = t["zone"] if rng.random() < 0.85 else rng.choice(TEAM_ZONES)
            org.members.append({"id": len(org.members) + 1, "code": f"{prefix}{counters[prefix]}", "role": role,
                                "team": t["id"], "zone": zone})
    w.rows("member", ("id", "org_id", "team_id", "code", "name", "role", "timezone", "locale", "finance", "active",
                      "created_at"),
           [(m["id"], 1, m["team"], m["code"], f"Member {m['code']}", m["role"], m["zone"], "en", False, True,
             created) for m in org.members])
    w.rows("team_lead", ("team_id", "member_id"), [(m["team"], m["id"]) for m in org.members if m["role"] == "lead"])
    w.rows("member_identity", ("id", "org_id", "member_id", "platform", "kind", "platform_user_id"),
           [(2 * m["id"] - 1 + j, 1, m["id"], platform, "primary", user)
            for m in org.members for j, (platform, user) in enumerate((("feishu", f"ou_{m['code']}"),
                                                                       ("dingtalk", m["code"])))])
    return org


@dataclass
class _Products:
    shop: np.ndarray        # per product (index = id - 1): its shop id
    price: np.ndarray       # list price, minor units
    launch_day: np.ndarray  # days after START's day (negative: before the data)
    by_shop: dict[int, np.ndarray] = field(default_factory=dict)   # shop id -> its product ids


def _catalogue(w: _Writer, rng: random.Random, org: _Org) -> _Products:
    """PRODUCTS_PER_SHOP products a shop, one SKU each (sku id = product id); a fifth launched this month."""
    rows, skus, shop_of, prices, launches = [], [], [], [], []
    selectors = {m["team"]: m["id"] for m in org.members if m["role"] == "selector"}
    month_start_day = (date(2026, 11, 1) - START.date()).days
    last_day = (NOW.date() - START.date()).days
    for s in org.shops:
        for i in range(PRODUCTS_PER_SHOP):
            pid = len(rows) + 1
            new = i % 5 == 4
            launch = rng.randint(month_start_day, last_day) if new else -rng.randint(10, 300)
            price = rng.randint(30, 250) * 100_000 if s["currency"] == "IDR" else rng.randint(5, 60) * 100 + 99
            rows.append((pid, s["id"], f"{s['id']}{pid:08d}", f"Product {pid}", START.date() + timedelta(days=launch),
                         0, selectors.get(s["team"]) if new or i % 3 == 0 else None))
            skus.append((pid, pid, f"9{pid:09d}", f"SKU-{pid}", f"Product {pid} - Standard", s["currency"],
                         price * rng.randint(25, 40) // 100))
            shop_of.append(s["id"])
            prices.append(price)
            launches.append(launch)
    w.rows("product", ("id", "shop_id", "platform_product_id", "name", "launched_on", "units_received",
                       "selector_member_id"), [(*r[:4], r[4].isoformat(), *r[5:]) for r in rows])
    w.rows("sku", ("id", "product_id", "platform_sku_id", "seller_sku", "name", "currency", "unit_cost_minor"), skus)
    products = _Products(np.array(shop_of), np.array(prices, dtype=np.int64), np.array(launches))
    for s in org.shops:
        products.by_shop[s["id"]] = np.flatnonzero(products.shop == s["id"]) + 1
    return products


def _fx(w: _Writer, rng: random.Random) -> None:
    gbp, idr, cny = 12700, 15800, 71800
    rows, rid = [], 0
    day = FIRST_DAY
    while day <= NOW.date():
        gbp += rng.randint(-35, 35) + (12700 - gbp) // 8
        idr += rng.randint(-45, 45) + (15800 - idr) // 8
        cny += rng.randint(-60, 60) + (71800 - cny) // 8
        for base, quote, rate in (("GBP", "USD", f"{gbp // 10000}.{gbp % 10000:04d}"), ("USD", "IDR", str(idr)),
                                  ("USD", "CNY", f"{cny // 10000}.{cny % 10000:04d}")):
            rid += 1
            rows.append((rid, day.isoformat(), base, quote, rate, "bench"))
        day += timedelta(days=1)
    w.rows("fx_rate", ("id", "day", "base", "quote", "rate", "source"), rows)


def _templates(w: _Writer) -> None:
    w.rows("kpi_template", ("id", "org_id", "name", "role", "stage", "trial", "active", "effective_from"),
           [(i, 1, t.name, t.role.value, t.stage.value if t.stage else None, t.trial, True, "0001-01")
            for i, t in enumerate(DEFAULT_TEMPLATES, 1)])
    metrics = [(i, m.key, str(m.weight), j)
               for i, t in enumerate(DEFAULT_TEMPLATES, 1) for j, m in enumerate(t.metrics)]
    w.rows("kpi_template_metric", ("id", "template_id", "metric_key", "weight", "position"),
           [(k, *row) for k, row in enumerate(metrics, 1)])


# --- orders ---------------------------------------------------------------------------------------------------------

def _local_offsets(zone: str) -> np.ndarray:
    """Seconds to add to a local wall time to get UTC, per day index (DST changes inside the 90 days)."""
    tz = ZoneInfo(zone)
    out = []
    for d in range(DAYS + 1):
        noon = datetime.combine(START.date() + timedelta(days=d), datetime.min.time(), tz).replace(hour=12)
        offset = noon.utcoffset()
        out.append(-int(offset.total_seconds()) if offset is not None else 0)
    return np.array(out, dtype=np.int64)


def _orders(w: _Writer, gen: np.random.Generator, org: _Org, products: _Products,
            n: int) -> tuple[int, int, dict[tuple[int, str], float]]:
    """Orders, their lines and refunds, CHUNK orders at a time (memory stays flat at any --orders); returns the
    counts and each host's and team's rough USD GMV and order count a month."""
    usd_by: dict[tuple[int, str], float] = {}
    refunds = 0
    for first in range(0, n, CHUNK):
        refunds += _order_chunk(w, gen, org, products, min(CHUNK, n - first), first, refunds, usd_by)
    return n, refunds, usd_by


def _order_chunk(w: _Writer, gen: np.random.Generator, org: _Org, products: _Products, n: int, before: int,
                 refunds_before: int, usd_by: dict[tuple[int, str], float]) -> int:
    """`n` orders with ids after `before` and refunds with ids after `refunds_before`; adds to `usd_by`; the number
    of refund rows written."""
    hosts = [m for m in org.members if m["role"] == "host"]
    host_ids = np.array([m["id"] for m in hosts])
    # who: credited orders go to a host and one of the shops their team sells in, the rest to any shop
    credited = gen.random(n) < CREDITED
    member = np.where(credited, host_ids[gen.integers(0, len(hosts), n)], 0)
    host_team = {m["id"]: m["team"] for m in hosts}
    choice = gen.integers(0, 2, n)
    shop = gen.integers(1, len(org.shops) + 1, n)
    for hid, team in host_team.items():
        mask = member == hid
        options = np.array(org.sells_in[team])
        shop[mask] = options[choice[mask] % len(options)]
    # when: business grows ~30 % over the period; local 08:00-24:00, peaking in the evening
    day = np.minimum(DAYS - 1, (np.sqrt(gen.random(n) * (0.85 * 2 + 0.3) * 0.3 + 0.85 ** 2) - 0.85)
                     / 0.3 * DAYS).astype(np.int64)
    hour = 8 + 16 * gen.beta(2.2, 1.4, n)
    offsets = {s["id"]: _local_offsets(s["zone"]) for s in org.shops}
    offset = np.zeros(n, dtype=np.int64)
    for s_id, table in offsets.items():
        mask = shop == s_id
        offset[mask] = table[day[mask]]
    local_midnight = _epoch(datetime.combine(START.date(), datetime.min.time(), UTC))
    created = local_midnight + day * 86400 + (hour * 3600).astype(np.int64) + offset
    now = _epoch(NOW)
    created = np.where(created >= now, now - gen.integers(60, 86400, n), created)
    created = np.maximum(created, _epoch(START))
    created_day = (created - local_midnight) // 86400
    # what: one line of a product on sale that day (else one launched before the data)
    product = np.zeros(n, dtype=np.int64)
    for s_id, ids in products.by_shop.items():
        mask = np.flatnonzero(shop == s_id)
        pick = ids[gen.integers(0, len(ids), len(mask))]
        veterans = ids[products.launch_day[ids - 1] < 0]
        late = products.launch_day[pick - 1] > created_day[mask]
        pick[late] = veterans[gen.integers(0, len(veterans), int(late.sum()))]
        product[mask] = pick
    currency_of = np.array(["", *(s["currency"] for s in org.shops)])
    currency = currency_of[shop]
    quantity = np.where(gen.random(n) < 0.85, 1, 2)
    discount = gen.choice(np.array([0, 0, 0, 5, 10, 10, 15, 20]), n)
    step = np.where(currency == "IDR", 10000, 1)
    unit = products.price[product - 1] * (100 - discount) // 100 // step * step
    subtotal = products.price[product - 1] * quantity
    merch = unit * quantity
    shipping = np.where(currency == "IDR", np.where(gen.random(n) < 0.6, 0, 1000000),
                        np.where(merch >= 2500, 0, 499))
    tax = np.where(currency == "USD", merch * gen.choice(np.array([0, 600, 725, 825]), n) // 10000, 0)
    # timeline
    paid = created + gen.integers(40, 900, n)
    is_paid = (gen.random(n) >= 0.02) & (paid < now)
    cancelled = is_paid & (gen.random(n) < CANCELLED / 0.98)
    cancelled_at = paid + gen.integers(600, 72000, n)
    cancelled &= cancelled_at < now
    shipped_at = paid + gen.integers(24 * 3600, 72 * 3600, n)
    shipped = is_paid & ~cancelled & (shipped_at < now)
    delivered_at = shipped_at + gen.integers(72 * 3600, 168 * 3600, n)
    delivered = shipped & (delivered_at < now)
    status = np.where(~is_paid, "UNPAID", np.where(cancelled, "CANCELLED", np.where(
        delivered, np.where(delivered_at + 7 * 86400 < now, "COMPLETED", "DELIVERED"),
        np.where(shipped, "SHIPPED", "PAID"))))
    updated = np.where(~is_paid, created, np.where(cancelled, cancelled_at, np.where(
        delivered, delivered_at, np.where(shipped, shipped_at, paid))))
    # refunds: requested after payment (a return after delivery), completed some hours later; a few in two parts
    refunded = is_paid & ~cancelled & (gen.random(n) < REFUNDED)
    requested = np.where(delivered, delivered_at, paid) + gen.integers(6 * 3600, 144 * 3600, n)
    completed_at = requested + gen.integers(4 * 3600, 96 * 3600, n)
    refunded &= requested < now
    partial = gen.random(n) < PARTIAL
    amount = np.where(partial, merch * gen.integers(20, 61, n) // 100, merch)
    second = refunded & (gen.random(n) < SECOND_REFUND) & (completed_at + 86400 < now)
    first_amount = np.where(second, amount // 2, amount)
    second_amount = amount - first_amount
    second_requested = completed_at + gen.integers(3600, 86400, n)
    second_completed = second_requested + gen.integers(3600, 48 * 3600, n)
    done1 = refunded & (completed_at < now)
    done2 = second & (second_completed < now)
    refunded_minor = np.where(done1, first_amount, 0) + np.where(done2, second_amount, 0)
    updated = np.maximum(updated, np.where(done2, second_completed, np.where(done1, completed_at,
                                                                              np.where(refunded, requested, 0))))

    def stamps(values: np.ndarray, present: np.ndarray) -> list[str | None]:
        text_ = ts_array(values).astype(object)
        text_[~present] = None
        return list(text_)

    ids = np.arange(before + 1, before + n + 1)
    every = np.ones(n, dtype=bool)
    created_s, updated_s = stamps(created, every), stamps(updated, every)
    order_cols = ("id", "shop_id", "platform_order_id", "status", "currency", "subtotal_minor", "discount_minor",
                  "merchandise_minor", "shipping_minor", "tax_minor", "total_minor", "refunded_minor", "units",
                  "created_at", "paid_at", "shipped_at", "delivered_at", "cancelled_at", "platform_updated_at",
                  "member_id", "attribution_due", "is_sample", "buyer_ref")
    members_col = [None if m == 0 else m for m in member.tolist()]
    buyer = gen.integers(0, 20000, n)
    w.rows("shop_order", order_cols, zip(
        ids.tolist(), shop.tolist(), [f"57{i:016d}" for i in ids.tolist()], status.tolist(), currency.tolist(),
        subtotal.tolist(), (subtotal - merch).tolist(), merch.tolist(), shipping.tolist(), tax.tolist(),
        (merch + shipping + tax).tolist(), refunded_minor.tolist(), quantity.tolist(), created_s,
        stamps(paid, is_paid), stamps(shipped_at, shipped), stamps(delivered_at, delivered),
        stamps(cancelled_at, cancelled), updated_s, members_col, [False] * n, [False] * n,
        [f"b{s}-{b}" for s, b in zip(shop.tolist(), buyer.tolist(), strict=True)], strict=True))
    w.rows("order_line", ("id", "order_id", "platform_line_id", "product_id", "sku_id", "quantity", "currency",
                          "unit_price_minor", "amount_minor"),
           zip(ids.tolist(), ids.tolist(), ["01"] * n, product.tolist(), product.tolist(), quantity.tolist(),
               currency.tolist(), unit.tolist(), merch.tolist(), strict=True))
    first = np.flatnonzero(refunded)
    two = np.flatnonzero(second)
    refund_rows: list[tuple[Any, ...]] = []
    req1, comp1 = ts_array(requested[first]), ts_array(completed_at[first])
    for k, i in enumerate(first.tolist()):
        kind = "return_and_refund" if delivered[i] and not partial[i] else "refund"
        ok, oid = bool(done1[i]), before + i + 1
        refund_rows.append((refunds_before + len(refund_rows) + 1, oid, f"RF{oid}a", kind,
                            "completed" if ok else "requested", currency[i], int(first_amount[i]),
                            1 if kind == "return_and_refund" else 0, req1[k], comp1[k] if ok else None))
    req2, comp2 = ts_array(second_requested[two]), ts_array(second_completed[two])
    for k, i in enumerate(two.tolist()):
        ok, oid = bool(done2[i]), before + i + 1
        refund_rows.append((refunds_before + len(refund_rows) + 1, oid, f"RF{oid}b", "refund",
                            "completed" if ok else "requested", currency[i], int(second_amount[i]), 0, req2[k],
                            comp2[k] if ok else None))
    w.rows("refund", ("id", "order_id", "platform_refund_id", "kind", "status", "currency", "amount_minor",
                      "returned_units", "requested_at", "completed_at"), refund_rows)
    # rough USD GMV per host and per team per month, for targets
    usd = merch * np.array([USD_PER.get(c, 1.0) for c in currency_of])[shop] / 100
    month = np.searchsorted(np.array([_epoch(datetime(2026, 10, 1, tzinfo=UTC)),
                                      _epoch(datetime(2026, 11, 1, tzinfo=UTC))]), created, side="right")
    team_of_shop = np.array([0, *(s["team"] for s in org.shops)])
    for key, weights in (("member", member), ("team", team_of_shop[shop])):
        for mi, label in enumerate(MONTHS):
            sel = (month == mi) & is_paid & ~cancelled
            sums = np.bincount(weights[sel], weights=usd[sel])
            counts = np.bincount(weights[sel])
            for who in np.flatnonzero(counts):
                for name, value in ((f"{key}:{label}", sums[who]), (f"{key}-orders:{label}", counts[who])):
                    usd_by[(int(who), name)] = usd_by.get((int(who), name), 0.0) + float(value)
    return len(refund_rows)


# --- activity ----------------------------------------------------------------------------------------------------

def _activity(w: _Writer, rng: random.Random, org: _Org) -> tuple[int, int]:
    """1-2 live sessions a host-day (a few days off) and a video every other day, in a shop their team sells in."""
    shops = {s["id"]: s for s in org.shops}
    lives: list[tuple[Any, ...]] = []
    posts: list[tuple[Any, ...]] = []
    for m in (m for m in org.members if m["role"] == "host"):
        options = org.sells_in[m["team"]]
        for d in range(DAYS):
            day = START.date() + timedelta(days=d)
            shop = shops[options[d % len(options)]]
            tz = ZoneInfo(shop["zone"])
            roll = rng.random()
            for k in range(0 if roll < 0.1 else (2 if roll > 0.75 else 1)):
                start = datetime.combine(day, datetime.min.time(), tz) + timedelta(hours=rng.uniform(12, 21) + 3 * k)
                end = start + timedelta(minutes=rng.randint(90, 200))
                if start < START or end > NOW:
                    continue
                viewers = rng.randint(500, 6000)
                lives.append((len(lives) + 1, shop["id"], m["id"], f"L{len(lives) + 1}", ts(start), ts(end), viewers,
                              int(viewers * 1.6), int(viewers * rng.uniform(40, 120)), int(viewers * 0.08),
                              rng.randint(10, 300), shop["currency"],
                              viewers * rng.randint(1, 4) * (10000 if shop["currency"] == "IDR" else 100)))
            if rng.random() < 0.5:
                published = datetime.combine(day, datetime.min.time(), tz) + timedelta(hours=rng.uniform(10, 20))
                if START <= published < NOW:
                    views = int(rng.lognormvariate(9.0, 0.9))
                    posts.append((len(posts) + 1, shop["id"], m["id"], f"V{len(posts) + 1}", "video", ts(published),
                                  views, views // 20, views // 300, views // 500, views // 100, views // 2000,
                                  views // 400))
    w.rows("live_session", ("id", "shop_id", "host_member_id", "platform_session_id", "started_at", "ended_at",
                            "viewers", "views", "watch_seconds", "interactions", "new_followers", "currency",
                            "gmv_minor"), lives)
    w.rows("content_post", ("id", "shop_id", "member_id", "platform_post_id", "kind", "published_at", "views",
                            "likes", "comments", "shares", "add_to_cart", "orders", "new_followers"), posts)
    return len(lives), len(posts)


def _ads(w: _Writer, rng: random.Random, org: _Org) -> None:
    shops = {s["id"]: s for s in org.shops}
    rows: list[tuple[Any, ...]] = []
    for m in (m for m in org.members if m["role"] == "ad_buyer"):
        for shop_id in org.sells_in[m["team"]]:
            currency = shops[shop_id]["currency"]
            scale = 10000 if currency == "IDR" else 1
            for d in range(DAYS):
                spend = rng.randint(8000, 60000) * scale
                clicks = max(1, int(spend / scale / rng.uniform(30, 90)))
                rows.append((len(rows) + 1, shop_id, m["id"], f"cmp-{m['code']}",
                             (START.date() + timedelta(days=d + 1)).isoformat(), currency, spend, clicks,
                             int(clicks / rng.uniform(0.008, 0.025)), int(clicks * rng.uniform(0.55, 0.9)),
                             int(spend * rng.uniform(2.0, 3.5))))
    w.rows("ad_spend", ("id", "shop_id", "member_id", "campaign_id", "day", "currency", "spend_minor", "clicks",
                        "impressions", "live_room_visitors", "attributed_gmv_minor"), rows)


def _inventory(w: _Writer, rng: random.Random, products: _Products) -> None:
    """End-of-day units on hand per SKU for every day it was on sale, restocked when low."""
    rows: list[tuple[Any, ...]] = []
    for pid in range(1, len(products.shop) + 1):
        launch = int(products.launch_day[pid - 1])
        on_hand, daily = rng.randint(200, 900), rng.randint(3, 30)
        for d in range(max(-1, launch), DAYS + 1):
            on_hand -= rng.randint(0, 2 * daily)
            if on_hand < 10 * daily:
                on_hand += 30 * daily
            rows.append((len(rows) + 1, pid, (START.date() + timedelta(days=d)).isoformat(), max(0, on_hand), False))
    w.rows("inventory_snapshot", ("id", "sku_id", "day", "units_on_hand", "imported"), rows)
    w.conn.execute(text("UPDATE product SET units_received = 500 + id % 7 * 100"))


# --- targets ----------------------------------------------------------------------------------------------------

FIXED_TARGETS: dict[str, str] = {
    "roi": "2.50", "cpc": "0.60", "cost_per_visitor": "0.85", "refund_rate": "0.045", "return_rate": "0.025",
    "new_product_sell_through": "0.300", "new_sku_hit_rate": "0.50", "inventory_turnover_days": "45.0",
    "interaction_rate": "0.080", "avg_watch_time": "80", "aov": "25", "live_sessions": "30",
    "videos_published": "15", "new_followers": "4000", "gmv_per_live": "900",
}


def _targets(w: _Writer, rng: random.Random, org: _Org, usd_by: dict[tuple[int, str], float]) -> None:
    """Each member's template's metrics and each team's net GMV and orders, for the three months: money and order
    targets near what the month's orders make (projected for the month in progress), the rest fixed."""
    templates = list(DEFAULT_TEMPLATES)
    stage = {t["id"]: t["stage"] for t in org.teams}
    rows: list[tuple[Any, ...]] = []
    set_at = ts(START)

    def add(scope: str, subject: str, team: int | None, member: int | None, period: str, key: str,
            value: Decimal) -> None:
        rows.append((len(rows) + 1, 1, scope, subject, team, member, period, key, str(value), set_at))

    def aimed(actual: float, period: str) -> Decimal:
        share = 22 / 30 if period == "2026-11" else 1.0
        return Decimal(max(100, int(actual / share / rng.uniform(0.85, 1.15)) // 100 * 100))

    for m in org.members:
        template = select_template(templates, Role.parse(m["role"]), Stage(stage[m["team"]]))
        if template is None:
            continue
        for period in MONTHS:
            for metric in template.metrics:
                if metric.key == "net_gmv":
                    own = m["role"] == "host"
                    actual = usd_by.get((m["id"] if own else m["team"], f"{'member' if own else 'team'}:{period}"), 0)
                    value = aimed(actual, period)
                elif metric.key == "orders":
                    actual = usd_by.get((m["team"], f"team-orders:{period}"), 0)
                    value = Decimal(max(1, int(aimed(actual * 100, period)) // 100))
                else:
                    value = Decimal(FIXED_TARGETS.get(metric.key, "1"))
                add("member", f"member:{m['id']}", None, m["id"], period, metric.key, value)
    for t in org.teams:
        for period in MONTHS:
            add("team", f"team:{t['id']}", t["id"], None, period, "net_gmv",
                aimed(usd_by.get((t["id"], f"team:{period}"), 0), period))
            add("team", f"team:{t['id']}", t["id"], None, period, "orders",
                Decimal(max(1, int(aimed(usd_by.get((t["id"], f"team-orders:{period}"), 0) * 100, period)) // 100)))
    w.rows("target", ("id", "org_id", "scope", "subject", "team_id", "member_id", "period", "metric_key", "value",
                      "updated_at"), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--shops", type=int, default=20)
    parser.add_argument("--teams", type=int, help="default: 25, or members/10 when fewer")
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--store", help="SQLAlchemy URL of an empty store (default: a temporary SQLite file)")
    parser.add_argument("--reset", action="store_true", help="PostgreSQL: drop and recreate the public schema first")
    args = parser.parse_args()
    engine = empty_store(args.store, args.reset, [])
    s = build(engine, args.orders, args.members, args.shops, args.teams, args.seed)
    print(f"built {s.orders:,} orders, {s.refunds:,} refunds, {s.members} members in {s.teams} teams, {s.shops} shops, "
          f"{s.lives:,} live sessions, {s.posts:,} videos in {s.seconds:.1f} s: {engine.url.render_as_string()}")


if __name__ == "__main__":
    main()

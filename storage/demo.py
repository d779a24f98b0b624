"""A deterministic demo organisation: two teams, three shops, ten members and 90 days of live sessions,
videos, orders, refunds, ads, inventory and FX, plus KPI templates and calibrated monthly targets.

Everything is relative to `today`, a local date in the home zone (Asia/Shanghai); nothing happens after
the end of that day. `random.Random(seed)` drives every choice, so the same `today` and `seed` give the
same rows. `seed_demo` writes through the caller's session and does not commit.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import Session, select

from scoring.commission import Basis, Plan, PlanKind, Tier
from scoring.facts import Activity, OrderFact
from scoring.fx import FxRate, FxTable
from scoring.metrics import CATALOG, Context
from scoring.money import exponent, to_minor
from scoring.periods import Window, days_in_month, month_window
from scoring.roles import Role, Scope
from scoring.rules import Rules
from scoring.shipped_templates import DEFAULT_TEMPLATES
from scoring.templates import Stage, Template, select_template
from storage.activity import load_activity, load_team_activity
from storage.attribution import attribute_within
from storage.commission import save_plan
from storage.identity import bind_identity
from storage.ingest.encoding import hash_buyer
from storage.ingest.records import OrderStatus
from storage.models import (
    AdSpend,
    AffiliateLine,
    ContentPost,
    Creator,
    FxRateRow,
    InventorySnapshot,
    KpiTemplate,
    KpiTemplateMetric,
    LiveSession,
    Member,
    Order,
    OrderLine,
    Organisation,
    Product,
    PromoCode,
    Refund,
    Shop,
    Sku,
    Target,
    Team,
    TeamCountry,
    TrackedLink,
)

DEMO_ORG_CODE = "demo"
DEMO_ORG_NAME = "Demo Cross-Border Co. 演示跨境"
HOME_ZONE = "Asia/Shanghai"
DAYS = 90


@dataclass(frozen=True)
class DemoSummary:
    org_id: int
    members: int
    shops: int
    orders: int
    refunds: int
    live_sessions: int
    posts: int
    ad_days: int
    creators: int


# --- the fixed cast -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _TeamSpec:
    code: str
    name: str
    timezone: str
    locale: str
    stage: str
    country: str


@dataclass(frozen=True, slots=True)
class _ShopSpec:
    code: str
    name: str
    platform: str
    region: str
    currency: str
    timezone: str
    team: str


@dataclass(frozen=True, slots=True)
class _MemberSpec:
    code: str
    name: str
    role: str
    team: str | None
    timezone: str
    locale: str
    country: str


@dataclass(frozen=True, slots=True)
class _HostPlan:
    """How often and how well a host streams and posts."""

    host: str
    shop: str
    live_chance: float            # per day
    start_hours: tuple[float, float]  # local start time range
    viewers: tuple[int, int]
    conversion: tuple[float, float]   # orders per unique viewer
    orders: tuple[int, int]           # orders per session, clamped
    post_chance: float            # videos per day


TEAMS: tuple[_TeamSpec, ...] = (
    _TeamSpec("live-us", "直播一组 Live US/UK", "America/Los_Angeles", "en", "growth", "US"),
    _TeamSpec("shopee-id", "Shopee 印尼组", "Asia/Jakarta", "zh-CN", "cold_start", "ID"),
)

SHOPS: tuple[_ShopSpec, ...] = (
    _ShopSpec("tts-us", "TikTok Shop US", "tiktok_shop", "US", "USD", "America/Los_Angeles", "live-us"),
    _ShopSpec("tts-uk", "TikTok Shop UK", "tiktok_shop", "GB", "GBP", "Europe/London", "live-us"),
    _ShopSpec("shopee-id", "Shopee ID", "shopee", "ID", "IDR", "Asia/Jakarta", "shopee-id"),
)

MEMBERS: tuple[_MemberSpec, ...] = (
    _MemberSpec("host1", "Lin Xiaoyu 林小雨", "host", "live-us", "America/Los_Angeles", "en", "US"),
    _MemberSpec("host2", "Wang Fang 王芳", "host", "shopee-id", "Asia/Jakarta", "zh-CN", "ID"),
    _MemberSpec("host3", "Emily Carter", "host", "live-us", "Europe/London", "en", "GB"),
    _MemberSpec("buyer1", "Chen Hao 陈浩", "ad_buyer", "live-us", HOME_ZONE, "zh-CN", "CN"),
    _MemberSpec("operator1", "Zhao Lei 赵磊", "operator", "live-us", HOME_ZONE, "zh-CN", "CN"),
    _MemberSpec("selector1", "Liu Yang 刘洋", "selector", "live-us", HOME_ZONE, "zh-CN", "CN"),
    _MemberSpec("lead1", "Sun Li 孙丽", "lead", "live-us", HOME_ZONE, "zh-CN", "CN"),
    _MemberSpec("lead2", "Budi Santoso", "lead", "shopee-id", "Asia/Jakarta", "en", "ID"),
    _MemberSpec("manager1", "Zhou Min 周敏", "manager", None, HOME_ZONE, "zh-CN", "CN"),
    _MemberSpec("admin1", "Admin 管理员", "admin", None, HOME_ZONE, "en", "CN"),
)

HOST_PLANS: tuple[_HostPlan, ...] = (
    _HostPlan("host1", "tts-us", 0.9, (18.0, 20.5), (1500, 6000), (0.010, 0.020), (20, 120), 4 / 7),
    _HostPlan("host3", "tts-uk", 5 / 7, (18.5, 20.0), (800, 3500), (0.008, 0.015), (10, 60), 4 / 7),
    _HostPlan("host2", "shopee-id", 0.9, (18.0, 20.0), (800, 5000), (0.014, 0.026), (30, 150), 3 / 7),
)

# name, URL slug, list price (major units), variants
_ProductSpec = tuple[str, str, str, tuple[str, ...]]

PRODUCTS: dict[str, tuple[_ProductSpec, ...]] = {
    "tts-us": (
        ("LED Ring Light 补光灯", "ring-light", "24.99", ("10 inch", "12 inch")),
        ("Phone Stand 手机支架", "phone-stand", "9.99", ("Black", "White", "Pink")),
        ("Silk Pillowcase", "silk-pillowcase", "24.99", ("Queen", "King")),
        ("Heatless Curling Ribbon", "curl-ribbon", "12.99", ("Pink", "Beige")),
        ("Magnetic Lash Kit 磁吸睫毛", "magnetic-lash", "16.99", ("Natural", "Dramatic")),
        ("Portable Blender 便携榨汁杯", "mini-blender", "29.99", ("Green", "Pink", "White")),
        ("Sunset Projection Lamp 日落灯", "sunset-lamp", "18.99", ("Sunset Red", "Rainbow")),
        ("Stainless Tumbler 40oz", "tumbler-40oz", "27.99", ("Sage", "Black", "Cream")),
        ("Posture Corrector 背部矫正带", "posture-corrector", "21.99", ("S/M", "L/XL")),
        ("Lip Oil Set 唇油", "lip-oil", "14.99", ("3-pack",)),
        ("Pet Hair Remover Roller", "pet-hair-roller", "11.99", ("Standard",)),
        ("Cloud Slides 云朵拖鞋", "cloud-slides", "19.99", ("US 6-7", "US 8-9", "US 10-11")),
    ),
    "tts-uk": (
        ("Heated Eye Mask 蒸汽眼罩", "eye-mask", "14.99", ("Grey", "Pink")),
        ("Silk Pillowcase", "silk-pillowcase", "19.99", ("Standard", "Oxford")),
        ("Phone Stand 手机支架", "phone-stand", "7.99", ("Black", "White")),
        ("Jelly Nail Polish Set", "jelly-nails", "11.99", ("Pastel", "Neon")),
        ("Magnetic Phone Wallet", "phone-wallet", "9.99", ("Black", "Tan", "Lilac")),
        ("Cordless Hair Straightener 无线直发夹", "cordless-straightener", "34.99", ("Standard",)),
        ("Bamboo Makeup Brushes 竹柄化妆刷", "bamboo-brushes", "12.99", ("8-piece", "12-piece")),
        ("Mini Car Vacuum", "car-vacuum", "24.99", ("Black", "White")),
        ("Teeth Whitening Strips", "whitening-strips", "16.99", ("14 days", "28 days")),
        ("Satin Hair Bonnet", "satin-bonnet", "6.99", ("Black", "Champagne")),
        ("Mushroom Night Light 蘑菇灯", "mushroom-light", "13.99", ("Warm", "Colour")),
        ("Thermal Fleece Leggings", "thermal-leggings", "15.99", ("S", "M", "L")),
    ),
    "shopee-id": (
        ("Hijab Voal Premium", "hijab-voal", "59000", ("Mocca", "Dusty Pink", "Black")),
        ("Serum Niacinamide 烟酰胺精华", "serum-niacinamide", "89000", ("20ml", "30ml")),
        ("Kipas Angin Mini USB 小风扇", "kipas-mini", "49000", ("Putih", "Pink")),
        ("Tumbler Kopi 500ml", "tumbler-kopi", "79000", ("Hitam", "Cream")),
        ("Sandal Jepit Wanita", "sandal-jepit", "45000", ("37", "38", "39")),
        ("Power Bank 10000mAh 充电宝", "power-bank", "159000", ("Hitam",)),
        ("Lip Tint Korea", "lip-tint", "39000", ("01 Cherry", "02 Peach")),
        ("Rak Sepatu 鞋架", "rak-sepatu", "129000", ("4 susun", "6 susun")),
        ("Botol Minum 2L", "botol-2l", "55000", ("Biru", "Ungu")),
        ("Sarung Bantal Satin", "sarung-satin", "69000", ("Champagne", "Silver")),
        ("Tas Selempang Pria", "tas-selempang", "119000", ("Hitam", "Abu")),
        ("Masker Rambut Keratin", "masker-rambut", "65000", ("200g",)),
    ),
}

# handle, platform, shop, display name, commission, promo code, discount % of the code
CREATORS: tuple[tuple[str, str, str, str, str, str, int], ...] = (
    ("@glowwithmia", "tiktok_shop", "tts-us", "Mia Johnson", "0.15", "MIA15", 15),
    ("@dealsbyjordan", "tiktok_shop", "tts-us", "Jordan Lee", "0.12", "JORDAN10", 10),
    ("@homehacks.sam", "tiktok_shop", "tts-us", "Sam Rivera", "0.20", "SAM20", 20),
    ("@londonlooks.chloe", "tiktok_shop", "tts-uk", "Chloe Evans", "0.18", "CHLOE15", 15),
    ("@racunshopee.dinda", "shopee", "shopee-id", "Dinda Putri", "0.10", "DINDA12", 12),
    ("@belanjahemat.rizky", "shopee", "shopee-id", "Rizky Pratama", "0.14", "RIZKY10", 10),
)

LIVE_TITLES: dict[str, tuple[str, ...]] = {
    "tts-us": ("Black Friday early deals", "Glow-up night: beauty must-haves", "Cozy home finds under $30",
               "Flash sale: 40% off picks", "Q&A + giveaway night"),
    "tts-uk": ("Evening beauty haul", "Winter warmers under £20", "Flash deals hour", "Self-care Sunday"),
    "shopee-id": ("Flash Sale Malam 🔥", "Racun Shopee hari ini", "Promo Gajian", "Live Spesial 12.12",
                  "Gratis Ongkir seharian"),
}

# the hand-picked level of each member this month, so ranks and grades differ
THIS_MONTH_LEVEL: dict[str, float] = {
    "host1": 1.10, "host2": 1.02, "host3": 0.93, "buyer1": 0.87, "operator1": 0.98,
    "selector1": 1.06, "lead1": 0.81, "lead2": 0.95,
}

# targets when the data give no value to calibrate on (no ads in the team, no launches in the month)
DEFAULT_TARGETS: dict[str, str] = {
    "roi": "2.50", "cpc": "0.60", "cost_per_visitor": "0.85", "refund_rate": "0.045", "return_rate": "0.025",
    "new_product_sell_through": "0.300", "new_sku_hit_rate": "0.50", "inventory_turnover_days": "45.0",
    "interaction_rate": "0.080", "avg_watch_time": "80", "aov": "25",
}

UNPAID_SHARE = 0.02
CANCEL_SHARE = 0.04
REFUND_SHARE = 0.078      # some of them are still pending at the end of today
VIDEO_SHARE = 0.15
ORGANIC_SHARE = 0.20


# --- working state --------------------------------------------------------------------------------------

@dataclass(slots=True, eq=False)
class _Product:
    row: Product
    slug: str
    weight: float                          # popularity
    skus: list[tuple[int, int]] = field(default_factory=list)  # (sku id, list price minor)


@dataclass(slots=True)
class _ShopState:
    spec: _ShopSpec
    row: Shop
    zone: ZoneInfo
    start: datetime                        # UTC: local midnight of the first day
    step: int                              # smallest price step in minor units
    products: list[_Product] = field(default_factory=list)
    creators: list[tuple[int, str, int]] = field(default_factory=list)  # (creator id, code, discount %)
    order_ids: set[str] = field(default_factory=set)
    buyers: dict[int, str] = field(default_factory=dict)
    menu: dict[date, tuple[list[_Product], list[float]]] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        return self.spec.currency


@dataclass(slots=True)
class _Draft:
    """An order before insert, with its lines and refund."""

    row: dict[str, Any]
    lines: list[dict[str, Any]]
    refund: dict[str, Any] | None = None
    affiliate: int | None = None           # the creator the platform's affiliate data names
    session_key: str | None = None
    post_key: str | None = None


@dataclass(slots=True)
class _Demo:
    session: Session
    rng: random.Random
    today: date
    first_day: date
    cutoff: datetime                       # UTC: end of today in the home zone
    org: Organisation
    teams: dict[str, Team] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    shops: dict[str, _ShopState] = field(default_factory=dict)
    lives: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    drafts: list[_Draft] = field(default_factory=list)
    fx_rows: list[FxRate] = field(default_factory=list)
    ad_rows: int = 0
    creator_info: dict[int, tuple[str, Decimal]] = field(default_factory=dict)   # id -> (handle, rate)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.today - self.first_day).days + 1)]


def _plan(name: str, role: str, basis: Basis, kind: PlanKind, currency: str, cap: str | None,
          *tiers: tuple[str, str]) -> Plan:
    return Plan(name, role, basis, kind, tuple(Tier(Decimal(a), Decimal(b)) for a, b in tiers), currency,
                Decimal(cap) if cap else None)


DEMO_PLANS: tuple[Plan, ...] = (
    _plan("host-gmv", "host", Basis.NET_GMV, PlanKind.TIERED, "USD", "4000",
          ("0", "0.02"), ("20000", "0.03"), ("50000", "0.05")),
    _plan("buyer-profit", "ad_buyer", Basis.GROSS_PROFIT, PlanKind.ACCELERATOR, "CNY", None,
          ("0", "0.01"), ("100000", "0.015"), ("300000", "0.02")),
    _plan("operator-profit", "operator", Basis.GROSS_PROFIT, PlanKind.TIERED, "USD", None,
          ("0", "0.005"), ("50000", "0.01")),
    _plan("selector-new-customers", "selector", Basis.NEW_CUSTOMERS, PlanKind.TIERED, "USD", "1500",
          ("0", "0.50"), ("200", "1.00")),
    _plan("lead-gmv", "lead", Basis.NET_GMV, PlanKind.ACCELERATOR, "USD", None,
          ("0", "0.005"), ("80000", "0.008"), ("120000", "0.01")),
)


# --- public API -------------------------------------------------------------------------------------------

def has_demo(session: Session) -> bool:
    """True when the demo organisation exists."""
    return session.exec(select(Organisation.id).where(Organisation.code == DEMO_ORG_CODE)).first() is not None


def seed_demo(session: Session, today: date, *, seed: int = 7) -> DemoSummary:
    """Write the demo organisation with 90 days of activity ending `today` (home-zone date); no commit."""
    if has_demo(session):
        raise ValueError(f"organisation {DEMO_ORG_CODE!r} already exists")
    demo = _start(session, today, seed)
    _people(demo)
    _catalogue(demo)
    _creators(demo)
    _fx(demo)
    _lives_and_posts(demo)
    _orders(demo)
    _units_received(demo)
    _write_activity(demo)
    _inventory(demo)
    _ads(demo)
    templates = _templates(demo)
    session.flush()
    _targets(demo, templates)
    for plan in DEMO_PLANS:
        save_plan(session, _id(demo.org), plan)
    session.flush()
    return DemoSummary(
        org_id=_id(demo.org), members=len(demo.members), shops=len(demo.shops), orders=len(demo.drafts),
        refunds=sum(1 for d in demo.drafts if d.refund is not None), live_sessions=len(demo.lives),
        posts=len(demo.posts), ad_days=demo.ad_rows, creators=len(CREATORS),
    )


# --- helpers ------------------------------------------------------------------------------------------------

def _id(row: Any) -> int:
    assert row.id is not None, "flush before reading ids"
    return int(row.id)


def _first_day(today: date) -> date:
    """90 days ending today, extended back so that the two previous months are whole."""
    month_back = today.replace(day=1)
    for _ in range(2):
        month_back = (month_back - timedelta(days=1)).replace(day=1)
    return min(today - timedelta(days=DAYS - 1), month_back)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _at(day: date, hours: float, zone: ZoneInfo) -> datetime:
    """UTC moment of a local wall-clock time (hours after midnight) on `day`."""
    seconds = int(hours * 3600)
    return datetime.combine(day, time(seconds // 3600, seconds // 60 % 60, seconds % 60), zone).astimezone(UTC)


def _bulk(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """One Core executemany per table (every row has the same keys): fast, and the same on every backend."""
    if rows:
        session.execute(insert(model.__table__), list(rows))


def _start(session: Session, today: date, seed: int) -> _Demo:
    zone = ZoneInfo(HOME_ZONE)
    first = _first_day(today)
    cutoff = _local_midnight(today + timedelta(days=1), zone)
    org = Organisation(code=DEMO_ORG_CODE, name=DEMO_ORG_NAME, created_at=_local_midnight(first, zone))
    session.add(org)
    session.flush()
    return _Demo(session, random.Random(seed), today, first, cutoff, org)


# --- people, shops, catalogue -------------------------------------------------------------------------------

def _people(demo: _Demo) -> None:
    s, org_id, created = demo.session, _id(demo.org), demo.org.created_at
    for t in TEAMS:
        demo.teams[t.code] = Team(org_id=org_id, code=t.code, name=t.name, timezone=t.timezone, locale=t.locale,
                                  stage=t.stage, country=t.country)
    s.add_all(demo.teams.values())
    s.flush()
    # the countries each team sells in, where `kpibot teams add --country` keeps them (the SOP's region reads them)
    s.add_all(TeamCountry(team_id=_id(demo.teams[t.code]), country=t.country) for t in TEAMS if t.country)
    for spec in SHOPS:
        row = Shop(org_id=org_id, team_id=_id(demo.teams[spec.team]), code=spec.code, name=spec.name,
                   platform=spec.platform, platform_shop_id=f"{spec.region}{demo.rng.randrange(10**11, 10**12)}",
                   region=spec.region, currency=spec.currency, timezone=spec.timezone)
        zone = ZoneInfo(spec.timezone)
        step = 100 * 10 ** exponent(spec.currency) if spec.currency == "IDR" else 1
        demo.shops[spec.code] = _ShopState(spec, row, zone, _local_midnight(demo.first_day, zone), step)
    for m in MEMBERS:
        demo.members[m.code] = Member(
            org_id=org_id, team_id=_id(demo.teams[m.team]) if m.team else None, code=m.code, name=m.name,
            role=m.role, timezone=m.timezone, locale=m.locale, country=m.country, created_at=created,
            trial_until=demo.today + timedelta(days=20) if m.code == "host3" else None,
        )
    s.add_all([st.row for st in demo.shops.values()])
    s.add_all(demo.members.values())
    s.flush()
    for member in demo.members.values():   # Feishu open_ids ou_<code>, DingTalk staffIds the codes
        bind_identity(s, member, "feishu", f"ou_{member.code}")
        bind_identity(s, member, "dingtalk", member.code)


def _catalogue(demo: _Demo) -> None:
    rng, month_start = demo.rng, demo.today.replace(day=1)
    selector = _id(demo.members["selector1"])
    pending: list[tuple[_Product, list[tuple[Sku, int]]]] = []
    for code, shop in demo.shops.items():
        specs = PRODUCTS[code]
        new_ones = set(rng.sample(range(len(specs)), len(specs) // 3))
        veteran = min(set(range(len(specs))) - new_ones)  # on sale before the data starts, whatever the dice say
        for i, (name, slug, price, variants) in enumerate(specs):
            new = i in new_ones
            offset = rng.randint(0, (demo.today - month_start).days) if new else \
                rng.randint(120 if i == veteran else 60, 200)
            launched = month_start + timedelta(days=offset) if new else demo.today - timedelta(days=offset)
            in_range = launched >= demo.first_day
            pid = f"{rng.randrange(10**18, 10**19)}" if shop.spec.platform == "tiktok_shop" else \
                f"{rng.randrange(10**10, 10**11)}"
            row = Product(shop_id=_id(shop.row), platform_product_id=pid, name=name, launched_on=launched,
                          selector_member_id=selector if (in_range and shop.spec.team == "live-us") else None)
            product = _Product(row, slug, rng.uniform(0.6, 3.0) if new else rng.uniform(0.5, 2.5))
            skus = [_sku(rng, shop, name, slug, price, variant, j) for j, variant in enumerate(variants)]
            pending.append((product, skus))
            shop.products.append(product)
    demo.session.add_all([p.row for p, _ in pending])
    demo.session.flush()
    for product, skus in pending:
        for sku, _ in skus:
            sku.product_id = _id(product.row)
    demo.session.add_all([sku for _, skus in pending for sku, _ in skus])
    demo.session.flush()
    for product, skus in pending:
        product.skus = [(_id(sku), list_minor) for sku, list_minor in skus]


def _sku(rng: random.Random, shop: _ShopState, name: str, slug: str, price: str, variant: str,
         j: int) -> tuple[Sku, int]:
    """A SKU and its list price: each further variant costs about 10 % more, in whole currency units."""
    base = to_minor(price, shop.currency)
    whole = 10 ** exponent(shop.currency) * (1000 if shop.currency == "IDR" else 1)
    list_minor = base + j * max(whole, base // 10 // whole * whole)
    cost = int(list_minor * rng.uniform(0.22, 0.42)) // shop.step * shop.step
    sku = Sku(product_id=0, platform_sku_id=f"{rng.randrange(10**15, 10**16)}",
              seller_sku=f"{slug.upper()}-{j + 1:02d}", name=f"{name} - {variant}", currency=shop.currency,
              unit_cost_minor=cost)
    return sku, list_minor


def _creators(demo: _Demo) -> None:
    s, org_id, rng = demo.session, _id(demo.org), demo.rng
    rows = [Creator(org_id=org_id, handle=h, platform=p, name=n, commission_rate=Decimal(rate))
            for h, p, _, n, rate, _, _ in CREATORS]
    s.add_all(rows)
    s.flush()
    extras: list[Any] = []
    for creator, (handle, _, shop_code, _, _, code, pct) in zip(rows, CREATORS, strict=True):
        shop = demo.shops[shop_code]
        product = rng.choice(shop.products)
        extras.append(PromoCode(org_id=org_id, creator_id=_id(creator), code=code, shop_id=_id(shop.row)))
        extras.append(TrackedLink(
            org_id=org_id, creator_id=_id(creator), product_url=_product_url(shop, product),
            utm_source="kpibot", utm_medium="creator", utm_campaign=f"creator-{handle.lstrip('@')}",
            utm_content=product.slug, created_at=demo.org.created_at,
        ))
        shop.creators.append((_id(creator), code, pct))
        demo.creator_info[_id(creator)] = (handle, creator.commission_rate)
    s.add_all(extras)


def _product_url(shop: _ShopState, product: _Product) -> str:
    pid = product.row.platform_product_id
    if shop.spec.platform == "shopee":
        return f"https://shopee.co.id/product/{shop.row.platform_shop_id}/{pid}"
    return f"https://shop.tiktok.com/view/product/{pid}?region={shop.spec.region}"


# --- FX -------------------------------------------------------------------------------------------------------

def _fx(demo: _Demo) -> None:
    """Daily GBP->USD, USD->IDR and USD->CNY with a small mean-reverting drift."""
    rng = demo.rng
    gbp, idr, cny = 12700, 15800, 71800  # 1.2700, 15800, 7.1800
    rows: list[dict[str, Any]] = []
    for day in demo.days:
        gbp += rng.randint(-35, 35) + (12700 - gbp) // 8
        idr += rng.randint(-45, 45) + (15800 - idr) // 8
        cny += rng.randint(-60, 60) + (71800 - cny) // 8
        for base, quote, text in (("GBP", "USD", _four(gbp)), ("USD", "IDR", str(idr)), ("USD", "CNY", _four(cny))):
            rate = Decimal(text)
            rows.append({"day": day, "base": base, "quote": quote, "rate": rate, "source": "demo"})
            demo.fx_rows.append(FxRate(day, base, quote, rate))
    _bulk(demo.session, FxRateRow, rows)


def _four(basis_points: int) -> str:
    return f"{basis_points // 10000}.{basis_points % 10000:04d}"


# --- live sessions and videos ----------------------------------------------------------------------------------

def _growth(demo: _Demo, day: date) -> float:
    """Business grows about 30 % over the period."""
    return 0.85 + 0.3 * (day - demo.first_day).days / max(1, (demo.today - demo.first_day).days)


def _lives_and_posts(demo: _Demo) -> None:
    for plan in HOST_PLANS:
        shop, host = demo.shops[plan.shop], _id(demo.members[plan.host])
        for day in demo.days:
            if demo.rng.random() < plan.post_chance:
                _post(demo, shop, host, day)
            if demo.rng.random() < plan.live_chance:
                _live(demo, shop, plan, host, day)


def _platform_id(rng: random.Random, shop: _ShopState, digits: int) -> str:
    lead = "7" if shop.spec.platform == "tiktok_shop" else "1"
    return lead + str(rng.randrange(10 ** (digits - 2), 10 ** (digits - 1)))


def _post(demo: _Demo, shop: _ShopState, host: int, day: date) -> None:
    rng = demo.rng
    published = _at(day, rng.uniform(11, 21), shop.zone)
    if not shop.start <= published < demo.cutoff:
        return
    views = int(rng.lognormvariate(9.6, 0.9) * _growth(demo, day))
    demo.posts.append({
        "shop_id": _id(shop.row), "member_id": host, "creator_id": None,
        "platform_post_id": _platform_id(rng, shop, 19), "kind": "video", "published_at": published,
        "views": views, "likes": int(views * rng.uniform(0.03, 0.09)),
        "comments": int(views * rng.uniform(0.002, 0.006)),
        "shares": int(views * rng.uniform(0.001, 0.005)), "add_to_cart": int(views * rng.uniform(0.003, 0.012)),
        "orders": 0, "new_followers": int(views * rng.uniform(0.001, 0.008)),
    })


def _live(demo: _Demo, shop: _ShopState, plan: _HostPlan, host: int, day: date) -> None:
    rng = demo.rng
    started = _at(day, rng.uniform(*plan.start_hours), shop.zone)
    ended = started + timedelta(minutes=rng.randint(120, 240))
    if started < shop.start or ended > demo.cutoff:
        return
    viewers = int(rng.randint(*plan.viewers) * _growth(demo, day))
    session_id = _platform_id(rng, shop, 19)
    demo.lives.append({
        "shop_id": _id(shop.row), "host_member_id": host, "platform_session_id": session_id,
        "title": rng.choice(LIVE_TITLES[shop.spec.code]), "started_at": started, "ended_at": ended,
        "viewers": viewers, "views": int(viewers * rng.uniform(1.3, 2.0)),
        "watch_seconds": int(viewers * rng.uniform(40, 120)), "interactions": int(viewers * rng.uniform(0.04, 0.12)),
        "new_followers": rng.randint(20, 300), "currency": shop.currency, "gmv_minor": 0,
    })
    low, high = plan.orders
    count = max(low, min(high, int(viewers * rng.uniform(*plan.conversion))))
    span = (ended - started).total_seconds()
    for _ in range(count):
        created = started + timedelta(seconds=int(rng.random() * span))
        _order(demo, shop, created, host, session_key=session_id)


# --- orders -------------------------------------------------------------------------------------------------------

def _orders(demo: _Demo) -> None:
    """Video and organic orders for every shop day, in proportion to the shop's live orders."""
    per_shop: dict[int, int] = defaultdict(int)
    for d in demo.drafts:
        per_shop[d.row["shop_id"]] += 1
    n_days = len(demo.days)
    for shop in demo.shops.values():
        daily_live = per_shop[_id(shop.row)] / n_days
        posts = sorted((p for p in demo.posts if p["shop_id"] == _id(shop.row)), key=lambda p: p["published_at"])
        moments = [p["published_at"] for p in posts]
        for day in demo.days:
            scale = daily_live * _growth(demo, day) / (1 - VIDEO_SHARE - ORGANIC_SHARE)
            for _ in range(round(scale * VIDEO_SHARE * demo.rng.uniform(0.6, 1.4))):
                _video_order(demo, shop, day, posts, moments)
            for _ in range(round(scale * ORGANIC_SHARE * demo.rng.uniform(0.6, 1.4))):
                _organic_order(demo, shop, day)


def _video_order(demo: _Demo, shop: _ShopState, day: date, posts: list[dict[str, Any]],
                 moments: list[datetime]) -> None:
    day_start = _local_midnight(day, shop.zone)
    lo, hi = bisect_right(moments, day_start - timedelta(days=10)), bisect_right(moments, day_start)
    if lo >= hi:
        _organic_order(demo, shop, day)
        return
    post = posts[demo.rng.randrange(lo, hi)]
    created = _at(day, demo.rng.uniform(8, 24), shop.zone)
    _order(demo, shop, created, post["member_id"], post_key=post["platform_post_id"])


def _organic_order(demo: _Demo, shop: _ShopState, day: date) -> None:
    rng = demo.rng
    created = _at(day, rng.uniform(7, 24), shop.zone)
    creator: tuple[int, str, int] | None = None
    if shop.creators and rng.random() < 0.5:
        creator = rng.choice(shop.creators)
    _order(demo, shop, created, None, creator=creator, promo=creator is not None and rng.random() < 0.3)


def _menu(shop: _ShopState, day: date) -> tuple[list[_Product], list[float]]:
    """Products on sale on a local day and their cumulative popularity weights."""
    if day not in shop.menu:
        on_sale = [p for p in shop.products if p.row.launched_on is not None and p.row.launched_on <= day]
        cumulative, total = [], 0.0
        for p in on_sale:
            total += p.weight
            cumulative.append(total)
        shop.menu[day] = (on_sale, cumulative)
    return shop.menu[day]


def _order(demo: _Demo, shop: _ShopState, created: datetime, member_id: int | None, *,
           session_key: str | None = None, post_key: str | None = None,
           creator: tuple[int, str, int] | None = None, promo: bool = False) -> None:
    if not shop.start <= created < demo.cutoff:
        return
    rng = demo.rng
    order_id = _order_number(rng, shop, created)
    discount_pct = creator[2] if (creator and promo) else rng.choice((0, 0, 0, 5, 10, 10, 15, 20))
    lines, subtotal, units = _lines(demo, shop, created, order_id, discount_pct)
    merchandise = sum(line["amount_minor"] for line in lines)
    shipping, tax = _shipping_and_tax(rng, shop, merchandise)
    row: dict[str, Any] = {
        "shop_id": _id(shop.row), "platform_order_id": order_id, "currency": shop.currency,
        "subtotal_minor": subtotal, "discount_minor": subtotal - merchandise, "merchandise_minor": merchandise,
        "shipping_minor": shipping, "tax_minor": tax, "total_minor": merchandise + shipping + tax,
        "refunded_minor": 0, "units": units, "created_at": created, "member_id": member_id,
        "live_session_id": None, "content_post_id": None,
        "creator_id": None, "attribution_rule": None, "attribution_due": True,   # storage.attribution decides
        "promo_code": creator[1] if (creator and promo) else None,
        "buyer_ref": _buyer(rng, shop), "is_sample": False,
    }
    row.update(_timeline(rng, created, demo.cutoff))
    draft = _Draft(row, lines, session_key=session_key, post_key=post_key,
                   affiliate=creator[0] if (creator and not promo) else None)
    draft.refund = _refund(rng, draft, demo.cutoff)
    demo.drafts.append(draft)


def _order_number(rng: random.Random, shop: _ShopState, created: datetime) -> str:
    """TikTok: 18-digit numbers; Shopee: order_sn = local YYMMDD + 8 letters and digits."""
    while True:
        if shop.spec.platform == "shopee":
            local = created.astimezone(shop.zone)
            number = local.strftime("%y%m%d") + "".join(rng.choices("0123456789ABCDEFGHJKLMNPQRSTUVWXY", k=8))
        else:
            number = f"57{rng.randrange(10**15, 10**16)}"
        if number not in shop.order_ids:
            shop.order_ids.add(number)
            return number


def _buyer(rng: random.Random, shop: _ShopState) -> str:
    """A buyer from the shop's pool, so that some come back, pseudonymised as the store writer does."""
    n = rng.randrange(4000)
    if n not in shop.buyers:
        shop.buyers[n] = hash_buyer(shop.spec.platform, f"{shop.spec.code}-buyer-{n}")
    return shop.buyers[n]


def _lines(demo: _Demo, shop: _ShopState, created: datetime, order_id: str,
           discount_pct: int) -> tuple[list[dict[str, Any]], int, int]:
    """1-3 lines of distinct products on sale that day; returns lines, subtotal and units."""
    rng = demo.rng
    on_sale, cumulative = _menu(shop, created.astimezone(shop.zone).date())
    wanted = rng.choices((1, 2, 3), weights=(65, 27, 8))[0]
    chosen = list(dict.fromkeys(rng.choices(on_sale, cum_weights=cumulative, k=wanted)))
    lines: list[dict[str, Any]] = []
    subtotal = units = 0
    for i, product in enumerate(chosen):
        sku_id, list_minor = rng.choice(product.skus)
        quantity = 1 if rng.random() < 0.85 else 2
        unit = list_minor * (100 - discount_pct) // 100 // shop.step * shop.step
        subtotal += list_minor * quantity
        units += quantity
        lines.append({
            "order_id": None, "platform_line_id": f"{order_id[-8:]}{i + 1:02d}", "product_id": _id(product.row),
            "sku_id": sku_id, "quantity": quantity, "currency": shop.currency, "unit_price_minor": unit,
            "amount_minor": unit * quantity,
        })
    return lines, subtotal, units


def _shipping_and_tax(rng: random.Random, shop: _ShopState, merchandise: int) -> tuple[int, int]:
    if shop.currency == "USD":
        shipping = 0 if merchandise >= 2500 else 499
        rate_bp = rng.choice((0, 600, 725, 825, 875, 1025))  # state sales tax, basis points
        return shipping, (merchandise * rate_bp + 5000) // 10000
    if shop.currency == "GBP":
        return (0 if merchandise >= 2000 else 299), 0     # UK prices include VAT
    free = rng.random() < 0.6                              # Shopee "gratis ongkir"
    return (0 if free else rng.randint(18, 44) * 500 * 100), 0


def _hours(rng: random.Random, low: int, high: int) -> timedelta:
    """A random delay between `low` and `high` hours, in whole seconds."""
    return timedelta(seconds=rng.randint(low * 3600, high * 3600))


def _timeline(rng: random.Random, created: datetime, cutoff: datetime) -> dict[str, Any]:
    """Payment, cancellation, shipping and delivery times and the status they imply at the cutoff."""
    t: dict[str, Any] = {"paid_at": None, "shipped_at": None, "delivered_at": None, "cancelled_at": None,
                         "status": OrderStatus.UNPAID, "platform_updated_at": created}
    paid = created + timedelta(seconds=rng.randint(40, 900))
    if rng.random() < UNPAID_SHARE or paid >= cutoff:
        return t
    t.update(paid_at=paid, status=OrderStatus.PAID, platform_updated_at=paid)
    if rng.random() < CANCEL_SHARE:
        cancelled = paid + timedelta(minutes=rng.randint(10, 1200))
        if cancelled < cutoff:
            t.update(cancelled_at=cancelled, status=OrderStatus.CANCELLED, platform_updated_at=cancelled)
        return t
    shipped = paid + _hours(rng, 24, 72)
    if shipped >= cutoff:
        return t
    t.update(shipped_at=shipped, status=OrderStatus.SHIPPED, platform_updated_at=shipped)
    delivered = shipped + _hours(rng, 72, 168)
    if delivered >= cutoff:
        return t
    done = delivered + timedelta(days=7) < cutoff
    t.update(delivered_at=delivered, status=OrderStatus.COMPLETED if done else OrderStatus.DELIVERED,
             platform_updated_at=delivered)
    return t


def _refund(rng: random.Random, draft: _Draft, cutoff: datetime) -> dict[str, Any] | None:
    """About 7.8 % of paid, kept orders get a refund (some 6 % of all orders have one completed by the end of
    today); a return needs the parcel delivered first."""
    row = draft.row
    if row["paid_at"] is None or row["cancelled_at"] is not None or rng.random() >= REFUND_SHARE:
        return None
    merch = row["merchandise_minor"]
    if row["delivered_at"] is not None and rng.random() < 0.45:
        kind, returned = "return_and_refund", 1
        requested = row["delivered_at"] + _hours(rng, 12, 144)
        first = draft.lines[0]
        amount = merch if row["units"] == 1 else first["unit_price_minor"]
        completed = requested + _hours(rng, 48, 144)
    else:
        kind, returned = "refund", 0
        requested = row["paid_at"] + _hours(rng, 6, 240)
        amount = merch if rng.random() < 0.55 else merch * rng.randint(20, 60) // 100
        completed = requested + _hours(rng, 4, 72)
    if requested >= cutoff or amount <= 0:
        return None
    done = completed < cutoff
    if done:
        row["refunded_minor"] = amount
    row["platform_updated_at"] = max(row["platform_updated_at"], completed if done else requested)
    return {
        "order_id": None, "platform_refund_id": f"RF{rng.randrange(10**13, 10**14)}", "kind": kind,
        "status": "completed" if done else "requested", "currency": row["currency"], "amount_minor": amount,
        "returned_units": returned, "requested_at": requested, "completed_at": completed if done else None,
    }


# --- writing the activity ------------------------------------------------------------------------------------------

def _units_received(demo: _Demo) -> None:
    """Stock received since launch covers what sold, with room to spare (the sell-through stays < 100 %)."""
    sold: dict[int, int] = defaultdict(int)
    for d in demo.drafts:
        if d.row["paid_at"] is not None and d.row["cancelled_at"] is None:
            for line in d.lines:
                sold[line["product_id"]] += line["quantity"]
    for shop in demo.shops.values():
        for p in shop.products:
            launched = p.row.launched_on
            assert launched is not None
            units = sold[_id(p.row)]
            if launched >= demo.first_day:
                share = demo.rng.uniform(0.3, 0.75)
                p.row.units_received = max(100, -(-int(units / share) // 50) * 50)
            else:  # launched before the data: earlier sales, plus what came in since
                earlier = units * (demo.today - launched).days // max(1, len(demo.days))
                p.row.units_received = -(-(earlier + demo.rng.randint(300, 900)) // 50) * 50


def _write_activity(demo: _Demo) -> None:
    """Live-session GMV and video order counts, then sessions, posts, orders, lines and refunds."""
    s = demo.session
    gmv: dict[str, int] = defaultdict(int)
    post_orders: dict[str, int] = defaultdict(int)
    for d in demo.drafts:
        if d.session_key:
            gmv[d.session_key] += d.row["merchandise_minor"]
        if d.post_key:
            post_orders[d.post_key] += 1
    for live in demo.lives:
        live["gmv_minor"] = gmv[live["platform_session_id"]]
    for post in demo.posts:
        post["orders"] = post_orders[post["platform_post_id"]]
        post["add_to_cart"] = max(post["add_to_cart"], post["orders"] * demo.rng.randint(3, 6))
    _bulk(s, LiveSession, demo.lives)
    _bulk(s, ContentPost, demo.posts)
    shop_ids = [_id(st.row) for st in demo.shops.values()]
    lives = dict(s.execute(select(LiveSession.platform_session_id, LiveSession.id)
                           .where(LiveSession.shop_id.in_(shop_ids))).all())  # type: ignore[attr-defined]
    posts = dict(s.execute(select(ContentPost.platform_post_id, ContentPost.id)
                           .where(ContentPost.shop_id.in_(shop_ids))).all())  # type: ignore[attr-defined]
    for d in demo.drafts:
        d.row["live_session_id"] = lives[d.session_key] if d.session_key else None
        d.row["content_post_id"] = posts[d.post_key] if d.post_key else None
    _bulk(s, Order, [d.row for d in demo.drafts])
    ids = {(shop, number): oid for oid, shop, number in s.execute(
        select(Order.id, Order.shop_id, Order.platform_order_id).where(Order.shop_id.in_(shop_ids)))}  # type: ignore[attr-defined]
    lines, refunds = [], []
    for d in demo.drafts:
        oid = ids[(d.row["shop_id"], d.row["platform_order_id"])]
        for line in d.lines:
            line["order_id"] = oid
            lines.append(line)
        if d.refund is not None:
            d.refund["order_id"] = oid
            refunds.append(d.refund)
    _bulk(s, OrderLine, lines)
    _bulk(s, Refund, refunds)
    _bulk(s, AffiliateLine, _affiliate_lines(demo))
    attribute_within(s.connection(), shop_ids)   # the same rules as synced orders


def _affiliate_lines(demo: _Demo) -> list[dict[str, Any]]:
    """What TikTok Shop's and Shopee's affiliate reports say of the creator orders not placed with a code:
    one line per order line, credited to the creator."""
    products = {_id(p.row): p.row.platform_product_id for st in demo.shops.values() for p in st.products}
    skus = dict(demo.session.execute(select(Sku.id, Sku.platform_sku_id)).all())
    rows = []
    for d in demo.drafts:
        if d.affiliate is None:
            continue
        handle, rate = demo.creator_info[d.affiliate]
        for line in d.lines:
            rows.append({
                "shop_id": d.row["shop_id"], "platform_order_id": d.row["platform_order_id"],
                "platform_product_id": products[line["product_id"]], "platform_sku_id": skus[line["sku_id"]],
                "creator_handle": handle.lstrip("@"),
                "content_type": "VIDEO", "content_id": None, "commission_rate": rate, "currency": line["currency"],
                "amount_minor": line["amount_minor"], "quantity": line["quantity"], "refunded_quantity": 0,
                "status": "COMPLETED" if d.row["delivered_at"] is not None else "PROCESSING",
                "created_at": d.row["created_at"], "updated_at": d.row["platform_updated_at"],
            })
    return rows


def _inventory(demo: _Demo) -> None:
    """End-of-day units on hand per SKU: sales take stock away; older products are restocked when low."""
    sold: dict[tuple[int, date], int] = defaultdict(int)
    zones = {_id(st.row): st.zone for st in demo.shops.values()}
    for d in demo.drafts:
        if d.row["paid_at"] is None or d.row["cancelled_at"] is not None:
            continue
        day = max(demo.first_day, d.row["created_at"].astimezone(zones[d.row["shop_id"]]).date())
        for line in d.lines:
            sold[(line["sku_id"], day)] += line["quantity"]
    rows: list[dict[str, Any]] = []
    for shop in demo.shops.values():
        for p in shop.products:
            rows.extend(_sku_stock(demo, p, sold))
    _bulk(demo.session, InventorySnapshot, rows)


def _sku_stock(demo: _Demo, p: _Product, sold: dict[tuple[int, date], int]) -> Iterable[dict[str, Any]]:
    """Fresh products (launched inside the data) got one delivery at launch; older ones hold a few weeks of
    sales and are restocked with three to six weeks' worth when they run below ten days' worth."""
    rng = demo.rng
    launched = p.row.launched_on
    assert launched is not None
    fresh = launched >= demo.first_day
    days = [d for d in demo.days if d >= launched]
    totals = [sum(sold[(sku_id, d)] for d in days) for sku_id, _ in p.skus]
    spare = max(0, p.row.units_received - sum(totals))
    for j, (sku_id, _) in enumerate(p.skus):
        daily = max(1.0, totals[j] / max(1, len(days)))
        if fresh:   # what each SKU sells plus an even share of what is left
            on_hand = totals[j] + spare // len(p.skus) + (spare % len(p.skus) if j == 0 else 0)
        else:
            on_hand = int(daily * rng.uniform(15, 35))
        for day in days:
            on_hand -= sold[(sku_id, day)]
            if not fresh and on_hand < daily * 10:
                on_hand += max(50, round(daily * rng.uniform(21, 42) / 50) * 50)
            yield {"sku_id": sku_id, "day": day, "units_on_hand": max(0, on_hand)}


def _ads(demo: _Demo) -> None:
    """Daily live-room campaigns: buyer1's on the two TikTok shops, and the Shopee team's (run by its lead,
    as small teams do) in IDR; today's row covers the hours so far."""
    rng = demo.rng
    rows: list[dict[str, Any]] = []
    for code, campaign, spend_range, owner in (("tts-us", "cmp-us-live", (15000, 60000), "buyer1"),
                                               ("tts-uk", "cmp-uk-live", (8000, 30000), "buyer1"),
                                               ("shopee-id", "cmp-id-live", (150_000_000, 450_000_000), "lead2")):
        shop, buyer = demo.shops[code], _id(demo.members[owner])
        for day in demo.days:
            start = _local_midnight(day, shop.zone)
            share = min(1.0, (demo.cutoff - start).total_seconds() / 86400)
            if share <= 0:
                continue
            spend = int(rng.randint(*spend_range) * _growth(demo, day) * share)
            clicks = max(1, int(spend / rng.uniform(30, 90)))
            rows.append({
                "shop_id": _id(shop.row), "member_id": buyer, "campaign_id": campaign, "day": day,
                "currency": shop.currency, "spend_minor": spend, "clicks": clicks,
                "impressions": int(clicks / rng.uniform(0.008, 0.025)),
                "live_room_visitors": int(clicks * rng.uniform(0.55, 0.9)),
                "attributed_gmv_minor": int(spend * rng.uniform(2.0, 3.5)),
            })
    _bulk(demo.session, AdSpend, rows)
    demo.ad_rows = len(rows)


# --- KPI templates and targets --------------------------------------------------------------------------------

def _templates(demo: _Demo) -> list[Template]:
    s, org_id = demo.session, _id(demo.org)
    pairs = [(t, KpiTemplate(org_id=org_id, name=t.name, role=t.role.value,
                             stage=t.stage.value if t.stage else None, trial=t.trial)) for t in DEFAULT_TEMPLATES]
    s.add_all([row for _, row in pairs])
    s.flush()
    s.add_all([KpiTemplateMetric(template_id=_id(row), metric_key=m.key, weight=m.weight, position=i)
               for t, row in pairs for i, m in enumerate(t.metrics)])
    return list(DEFAULT_TEMPLATES)


def _months(today: date) -> list[tuple[int, int]]:
    """The two previous months and this one, oldest first."""
    first = today.replace(day=1)
    prev = (first - timedelta(days=1)).replace(day=1)
    prev2 = (prev - timedelta(days=1)).replace(day=1)
    return [(d.year, d.month) for d in (prev2, prev, first)]


def calibration_now(today: date) -> datetime:
    """The moment targets are calibrated at: 20:00 of `today` in the home zone."""
    return datetime.combine(today, time(20), ZoneInfo(HOME_ZONE)).astimezone(UTC)


def _targets(demo: _Demo, templates: list[Template]) -> None:
    """Monthly targets for three months, set so that each member's projected achievement lands near a chosen
    level: mostly 80-115 %, with levels that differ between members so that grades and ranks differ."""
    cal = _Calibrator(demo)
    manager = _id(demo.members["manager1"])
    rows: list[Target] = []
    for member in demo.members.values():
        role = Role.parse(member.role)
        if not role.has_kpis:
            continue
        team = next(t for t in demo.teams.values() if t.id == member.team_id)
        template = select_template(templates, role, Stage(team.stage))
        assert template is not None
        for period, values in cal.targets(member, [m.key for m in template.metrics]):
            rows.extend(_target_row(demo, "member", f"member:{_id(member)}", None, _id(member), period, key, value,
                                    manager) for key, value in values.items())
    for team in demo.teams.values():
        proxy = _team_proxy(demo, team)
        for period, values in cal.targets(proxy, ["net_gmv", "orders"], level=1.0):
            rows.extend(_target_row(demo, "team", f"team:{_id(team)}", _id(team), None, period, key, value,
                                    manager) for key, value in values.items())
    demo.session.add_all(rows)


def _team_proxy(demo: _Demo, team: Team) -> Member:
    """A transient lead of the team in the team's zone: loads and scores what the whole team did."""
    return Member(org_id=_id(demo.org), team_id=team.id, code=f"team-{team.code}", name=team.name, role=Role.LEAD.value,
                  timezone=team.timezone, locale=team.locale)


def _target_row(demo: _Demo, scope: str, subject: str, team_id: int | None, member_id: int | None,
                period: str, key: str, value: Decimal, setter: int) -> Target:
    year, month = int(period[:4]), int(period[5:])
    set_on = datetime.combine(date(year, month, 1), time(9), ZoneInfo(HOME_ZONE)).astimezone(UTC)
    return Target(org_id=_id(demo.org), scope=scope, subject=subject, team_id=team_id, member_id=member_id,
                  period=period, metric_key=key, value=value, set_by_member_id=setter, updated_at=set_on)


class _Calibrator:
    """Computes members' actuals with the store loader and the metric catalog, as of `calibration_now`.

    Facts are loaded once over the three months (widened by a day each side, whatever the zone) and sliced
    per month; a team's orders are loaded once and shared by its non-host members."""

    def __init__(self, demo: _Demo) -> None:
        self.demo = demo
        self.fx, self.rules, self.now = FxTable(demo.fx_rows), Rules(), calibration_now(demo.today)
        self.months = _months(demo.today)
        first = date(*self.months[0], 1)
        last = date(*self.months[-1], days_in_month(date(*self.months[-1], 1)))
        self.start = datetime.combine(first - timedelta(days=1), time(), UTC)
        self.end = datetime.combine(last + timedelta(days=2), time(), UTC)
        self._team_orders: dict[int, tuple[OrderFact, ...]] = {}
        self._actuals: dict[tuple[str, Window, str], Decimal | None] = {}

    def activity(self, member: Member, keys: Iterable[str]) -> Activity:
        needs: frozenset[str] = frozenset().union(*(CATALOG[k].reads for k in keys))
        if Role.parse(member.role).scope is Scope.OWN:
            return load_activity(self.demo.session, member, self.start, self.end, needs)
        own = needs - {"orders", "lines"}
        activity = load_activity(self.demo.session, member, self.start, self.end, own) if own else Activity()
        if "orders" in needs:
            activity = replace(activity, orders=self.team_orders(member))
        return activity

    def team_orders(self, member: Member) -> tuple[OrderFact, ...]:
        assert member.team_id is not None
        if member.team_id not in self._team_orders:
            loaded = load_team_activity(self.demo.session, member.team_id, self.start, self.end, {"orders", "lines"})
            self._team_orders[member.team_id] = loaded.orders
        return self._team_orders[member.team_id]

    def targets(self, member: Member, keys: list[str],
                level: float | None = None) -> list[tuple[str, dict[str, Decimal]]]:
        """(period, targets by metric) per month, oldest first; a month without a value falls back to the
        month before, then to DEFAULT_TARGETS."""
        rng, activity = self.demo.rng, self.activity(member, keys)
        out: list[tuple[str, dict[str, Decimal]]] = []
        previous: dict[str, Decimal] = {}
        for i, (year, month) in enumerate(self.months):
            window = month_window(year, month, member.timezone)
            ctx = Context(window, self.now, self.rules, self.fx)
            sliced = _slice(activity, window)
            elapsed = window.elapsed_fraction(self.now)
            if level is not None:
                base = level
            elif i == len(self.months) - 1:
                base = THIS_MONTH_LEVEL.get(member.code, 1.0)
            else:
                base = rng.uniform(0.86, 1.08)
            values: dict[str, Decimal] = {}
            for key in keys:
                wanted = base + (rng.uniform(-0.06, 0.06) if level is None else rng.uniform(-0.03, 0.05))
                actual = self.actual(member, key, sliced, ctx)
                values[key] = (_calibrated(key, actual, elapsed, wanted) or previous.get(key)
                               or _nice(key, Decimal(DEFAULT_TARGETS.get(key, "1"))))
            previous = values
            out.append((window.label, values))
        return out


    def actual(self, member: Member, key: str, activity: Activity, ctx: Context) -> Decimal | None:
        """The metric's value, computed once per window for metrics that only read the team's orders."""
        metric = CATALOG[key]
        shared = Role.parse(member.role).scope is not Scope.OWN and metric.reads == {"orders"}
        scope = f"team:{member.team_id}" if shared else f"member:{member.code}"
        cache_key = (key, ctx.window, scope)
        if cache_key not in self._actuals:
            self._actuals[cache_key] = metric.compute(activity, ctx)
        return self._actuals[cache_key]


def _slice(activity: Activity, window: Window) -> Activity:
    """The facts a window can count (what the loader would return for it): a cheap pre-filter, so every
    metric does not scan three months."""
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)  # same zone as the facts: fast

    def inside(moment: datetime | None) -> bool:
        return moment is not None and start <= moment < end

    return replace(activity, orders=tuple(o for o in activity.orders if inside(o.paid_at) or inside(o.shipped_at)),
                   lives=tuple(x for x in activity.lives if inside(x.started_at)),
                   posts=tuple(p for p in activity.posts if inside(p.published_at)))


def _calibrated(key: str, actual: Decimal | None, elapsed: Decimal, wanted: float) -> Decimal | None:
    """The monthly target at which `actual` (as of an `elapsed` share of the month) scores `wanted`."""
    metric = CATALOG[key]
    if actual is None or actual <= 0 or elapsed <= 0:
        return None
    aim = Decimal(str(round(max(0.5, min(1.4, wanted)), 3)))
    if metric.cumulative:
        target = actual / elapsed / aim   # a whole-month window: its target is the monthly one
    elif metric.lower_is_better:
        target = actual / (2 - aim)
    else:
        target = actual / aim
    return _nice(key, target)


def _nice(key: str, value: Decimal) -> Decimal:
    """Round a target the way a manager would write it."""
    unit = CATALOG[key].unit.value
    if unit == "ratio":
        return value.quantize(Decimal("0.01") if value >= 1 else Decimal("0.001"))
    if unit == "days":
        return value.quantize(Decimal("0.1"))
    if unit in ("seconds", "count"):
        return Decimal(max(1, int(value.to_integral_value())))
    if value < 10:
        return value.quantize(Decimal("0.01"))
    digits = len(str(int(value))) - 3           # money: three significant figures
    step = 10 ** max(0, digits)
    return Decimal(int(value.to_integral_value()) // step * step)


__all__ = ["DEMO_ORG_CODE", "DemoSummary", "calibration_now", "has_demo", "seed_demo"]

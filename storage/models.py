"""The store's tables (SQLModel). Money columns are integer minor units named `*_minor`, always beside a
`currency` column; times are aware UTC (`UTCDateTime`); rates and weights are exact decimals.

Schema changes go through Alembic (storage/migrations); `kpibot db upgrade` applies them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from storage.types import ExactDecimal, UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _when(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _money() -> Any:
    return Field(default=0, sa_type=BigInteger, nullable=False)


# --- people ------------------------------------------------------------------------------------------

class Organisation(SQLModel, table=True):
    __tablename__ = "organisation"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrganisationSettings(SQLModel, table=True):
    """What `kpibot org init|set` said: once this row exists it is the truth, the config's [org] values only
    apply to an organisation without one (the demo, a store made before)."""
    __tablename__ = "organisation_settings"
    org_id: int = Field(foreign_key="organisation.id", primary_key=True)
    reporting_currency: str = Field(max_length=3)
    timezone: str = Field(max_length=64)
    locale: str = Field(max_length=16)
    # statistical definitions (scoring.rules.Rules); None: the config's [org] value
    count_orders_at: str | None = Field(default=None, max_length=16)   # paid | shipped
    net_refunds: bool | None = None


class Team(SQLModel, table=True):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    timezone: str = Field(max_length=64)
    locale: str = Field(max_length=16)
    stage: str = Field(default="growth", max_length=16)  # cold_start | growth | stable
    country: str | None = Field(default=None, max_length=2)


class TeamLead(SQLModel, table=True):
    """A member who leads a team (`kpibot teams set CODE --lead MEMBER`); a team may have several."""
    __tablename__ = "team_lead"
    team_id: int = Field(foreign_key="team.id", primary_key=True)
    member_id: int = Field(foreign_key="member.id", primary_key=True, index=True)


class TeamCountry(SQLModel, table=True):
    """A country a team sells in (ISO 3166 alpha-2), set by `kpibot teams add|set --country`."""
    __tablename__ = "team_country"
    team_id: int = Field(foreign_key="team.id", primary_key=True)
    country: str = Field(max_length=2, primary_key=True)


class Member(SQLModel, table=True):
    __tablename__ = "member"
    __table_args__ = (
        UniqueConstraint("org_id", "code"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    code: str = Field(max_length=64)               # the id people type: host1, lead1 ...
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)               # host | ad_buyer | operator | selector | lead | manager | admin
    timezone: str = Field(max_length=64)
    locale: str = Field(max_length=16)             # en | zh-CN ...
    country: str | None = Field(default=None, max_length=2)
    trial_until: date | None = None                # scores before this day are shown as not binding
    finance: bool = False                          # may see other members' commission (finance staff)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StoreVersion(SQLModel, table=True):
    """A counter the store's triggers move on every change of a kind (storage.identity_version: "identity", any
    change to member or member_identity), for processes that keep something derived from it."""
    __tablename__ = "store_version"
    name: str = Field(primary_key=True, max_length=32)
    version: int = Field(default=0, sa_type=BigInteger)


class MemberIdentity(SQLModel, table=True):
    """A member's id on a chat platform: who is typing is (platform, platform_user_id). `kind` tells the
    member's primary id there (the one the bot writes to and shows) from an alias that also identifies them
    (Feishu's union_id: one person across the organisation's apps). Read and written by storage.identity."""
    __tablename__ = "member_identity"
    __table_args__ = (
        # platform first: a message's look-up asks for (platform, id), not for the organisation
        UniqueConstraint("platform", "platform_user_id", "org_id", name="uq_member_identity_user"),
        # member first: it is also the index for a member's ids and for the foreign key
        UniqueConstraint("member_id", "platform", "kind", name="uq_member_identity_member"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id")
    member_id: int = Field(foreign_key="member.id")
    platform: str = Field(max_length=32)           # feishu | dingtalk | ... (the adapter's PLATFORM)
    kind: str = Field(default="primary", max_length=16)   # primary | alias
    platform_user_id: str = Field(max_length=64)


class MemberHandle(SQLModel, table=True):
    """A member's account on a shop platform (TikTok creator username, Shopee streamer id ...): live sessions and
    videos of that handle are the member's, and so are the platform's affiliate orders of it (services.crediting).
    Not a chat identity (MemberIdentity). `handle` is kept as compared: without @, case-folded."""
    __tablename__ = "member_handle"
    __table_args__ = (UniqueConstraint("org_id", "platform", "handle", name="uq_member_handle"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id")
    member_id: int = Field(foreign_key="member.id", index=True)
    platform: str = Field(max_length=32)           # tiktok | shopee | amazon ... (Shop.platform without "_shop")
    handle: str = Field(max_length=128)


# --- shops and catalogue -------------------------------------------------------------------------------

class Shop(SQLModel, table=True):
    __tablename__ = "shop"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    platform: str = Field(max_length=32)           # tiktok_shop | shopee | amazon | shopify | temu | shein | file
    platform_shop_id: str | None = Field(default=None, max_length=128)
    region: str = Field(max_length=8)              # country code the shop sells in
    currency: str = Field(max_length=3)
    timezone: str = Field(max_length=64)


class Product(SQLModel, table=True):
    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("shop_id", "platform_product_id"),)
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id", index=True)
    platform_product_id: str = Field(max_length=128)
    name: str = Field(max_length=500)
    launched_on: date | None = None
    units_received: int = 0                        # stock received since launch, for sell-through
    selector_member_id: int | None = Field(default=None, foreign_key="member.id", index=True)


class Sku(SQLModel, table=True):
    __tablename__ = "sku"
    # (id, product_id) is unique because id is: it is what an order line's one foreign key to its SKU and product
    # refers to (OrderLine); an index, not a constraint, so that SQLite adds it without rebuilding the table
    __table_args__ = (UniqueConstraint("product_id", "platform_sku_id"),
                      Index("uq_sku_id_product_id", "id", "product_id", unique=True))
    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    platform_sku_id: str = Field(max_length=128)
    seller_sku: str | None = Field(default=None, max_length=128)
    name: str = Field(max_length=500)
    currency: str = Field(max_length=3)
    unit_cost_minor: int = _money()


class InventorySnapshot(SQLModel, table=True):
    __tablename__ = "inventory_snapshot"
    __table_args__ = (UniqueConstraint("sku_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    sku_id: int = Field(foreign_key="sku.id", index=True)
    day: date
    units_on_hand: int
    imported: bool = Field(default=False, sa_column_kwargs={"server_default": false()})   # by `kpibot products
    # import`: a shop sync never replaces it (storage.ingest.writer), a later sync of the day replaces its own


# --- creators and links ---------------------------------------------------------------------------------

class Creator(SQLModel, table=True):
    __tablename__ = "creator"
    __table_args__ = (UniqueConstraint("org_id", "platform", "handle"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    handle: str = Field(max_length=128)
    platform: str = Field(max_length=32)
    name: str | None = Field(default=None, max_length=200)
    commission_rate: Decimal = Field(default=Decimal(0), sa_type=ExactDecimal)  # 0.15 = 15 %
    member_id: int | None = Field(default=None, foreign_key="member.id")  # when the creator is on staff


class CreatorBuyer(SQLModel, table=True):
    """A buyer id of the creator's own (pseudonymised as orders' buyer_ref, storage.ingest.writer.hash_buyer):
    an order they place through their own code or link is flagged as self-referral, not credited."""

    __tablename__ = "creator_buyer"
    __table_args__ = (UniqueConstraint("creator_id", "buyer_ref"),)
    id: int | None = Field(default=None, primary_key=True)
    creator_id: int = Field(foreign_key="creator.id")
    buyer_ref: str = Field(max_length=128)
    platform: str = Field(max_length=32)           # the platform the buyer id belongs to
    note: str | None = Field(default=None, max_length=200)


class PromoCode(SQLModel, table=True):
    __tablename__ = "promo_code"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    creator_id: int = Field(foreign_key="creator.id", index=True)
    code: str = Field(max_length=64)
    shop_id: int | None = Field(default=None, foreign_key="shop.id")  # None: valid in every shop


class TrackedLink(SQLModel, table=True):
    __tablename__ = "tracked_link"
    __table_args__ = (UniqueConstraint("org_id", "utm_campaign", "utm_content"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    creator_id: int = Field(foreign_key="creator.id", index=True)
    product_url: str = Field(max_length=2000)
    utm_source: str = Field(max_length=128)
    utm_medium: str = Field(max_length=128)
    utm_campaign: str = Field(max_length=128)
    utm_content: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- live, content, ads -----------------------------------------------------------------------------------

class LiveSession(SQLModel, table=True):
    __tablename__ = "live_session"
    __table_args__ = (UniqueConstraint("shop_id", "platform_session_id"),)
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id", index=True)
    host_member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    platform_session_id: str = Field(max_length=128)
    title: str | None = Field(default=None, max_length=500)
    started_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ended_at: datetime = Field(sa_type=UTCDateTime)
    viewers: int = 0
    views: int = 0
    watch_seconds: int = Field(default=0, sa_type=BigInteger)
    interactions: int = 0
    new_followers: int = 0
    currency: str = Field(max_length=3)
    gmv_minor: int = _money()
    host_handle: str | None = Field(default=None, max_length=128)   # the platform account that streamed


class LiveRoster(SQLModel, table=True):
    """Who was on air for a shop's own account, from the team's shift roster (`kpibot lives roster import`) or
    a host's `/live start` .. `/live end` in chat: a session without a host handle takes its host from here, and
    orders paid in a shift are the member's (services.crediting)."""
    __tablename__ = "live_roster"
    __table_args__ = (UniqueConstraint("shop_id", "started_at", "member_id", name="uq_live_roster"),
                      Index("uq_live_roster_open", "member_id", unique=True,     # one open shift per member
                            sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")))
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id")
    member_id: int = Field(foreign_key="member.id")
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)   # None: on air now (/live start)


class ContentPost(SQLModel, table=True):
    __tablename__ = "content_post"
    __table_args__ = (UniqueConstraint("shop_id", "platform_post_id"),)
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id", index=True)
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    creator_id: int | None = Field(default=None, foreign_key="creator.id", index=True)
    platform_post_id: str = Field(max_length=128)
    kind: str = Field(default="video", max_length=16)
    published_at: datetime = Field(sa_type=UTCDateTime, index=True)
    views: int = Field(default=0, sa_type=BigInteger)
    likes: int = 0
    comments: int = 0
    shares: int = 0
    add_to_cart: int = 0
    orders: int = 0
    new_followers: int = 0
    author_handle: str | None = Field(default=None, max_length=128)


class AdSpend(SQLModel, table=True):
    __tablename__ = "ad_spend"
    __table_args__ = (UniqueConstraint("shop_id", "campaign_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id", index=True)
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)  # the ad buyer
    campaign_id: str = Field(max_length=128)
    day: date = Field(index=True)                  # in the shop's time zone, as the ad platform reports
    currency: str = Field(max_length=3)
    spend_minor: int = _money()
    clicks: int = 0
    impressions: int = Field(default=0, sa_type=BigInteger)
    live_room_visitors: int = 0
    attributed_gmv_minor: int = _money()


# --- orders -------------------------------------------------------------------------------------------------

class Order(SQLModel, table=True):
    __tablename__ = "shop_order"  # "order" is an SQL keyword
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_order_id"),
        # the attribution job's work list: small, since rows leave it once attributed
        Index("ix_shop_order_attribution_due", "shop_id", sqlite_where=text("attribution_due"),
              postgresql_where=text("attribution_due")),
        # who is credited, looked up by equality (a member's orders, a creator's ranking, the keys' checks): only
        # credited orders are in these indexes, so a sync's new orders (credited later, by the attribution job)
        # cost no index entry (migration 0011)
        Index("ix_shop_order_member_id", "member_id", sqlite_where=text("member_id IS NOT NULL"),
              postgresql_where=text("member_id IS NOT NULL")),
        Index("ix_shop_order_creator_id", "creator_id", sqlite_where=text("creator_id IS NOT NULL"),
              postgresql_where=text("creator_id IS NOT NULL")),
        # the orders counted or cancelled in a time range, with their shop and member: the order sums pick the few
        # of a shop or a member that they read one by one (a quarter-hour's, now's hour's cancellations) from the
        # index alone, not a row fetched per order of every shop in the range (migrations 0032, 0036)
        Index("ix_shop_order_paid_at", "paid_at", "shop_id", "member_id"),
        Index("ix_shop_order_shipped_at", "shipped_at", "shop_id", "member_id"),
        Index("ix_shop_order_cancelled_at", "cancelled_at", "shop_id", "member_id",
              sqlite_where=text("cancelled_at IS NOT NULL"), postgresql_where=text("cancelled_at IS NOT NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id")   # indexed by the unique (shop_id, platform_order_id)
    platform_order_id: str = Field(max_length=128)
    status: str = Field(max_length=32)
    currency: str = Field(max_length=3)
    subtotal_minor: int = _money()                 # goods before discounts
    discount_minor: int = _money()                 # seller + platform discounts
    merchandise_minor: int = _money()              # goods after discounts: the GMV base
    shipping_minor: int = _money()
    tax_minor: int = _money()
    total_minor: int = _money()                    # what the buyer paid
    refunded_minor: int = _money()                 # sum of completed refunds, kept in step with `refund`
    units: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)   # not indexed: no query selects by it (migration 0008)
    paid_at: datetime | None = _when()   # indexed with the shop and member (above)
    shipped_at: datetime | None = _when()
    delivered_at: datetime | None = _when()
    cancelled_at: datetime | None = _when()
    platform_updated_at: datetime | None = _when()
    # who is credited: the host of the live session or the author of the video that sold it
    member_id: int | None = Field(default=None, foreign_key="member.id")   # indexed when set (above)
    live_session_id: int | None = Field(default=None, foreign_key="live_session.id")
    content_post_id: int | None = Field(default=None, foreign_key="content_post.id")
    # the rule that credited member_id (scoring.crediting.CreditRule: platform | live_session | roster), None:
    # nobody, or credited by something else (the demo), which services.crediting leaves alone
    credit_rule: str | None = Field(default=None, max_length=16)
    # creator attribution (storage.attribution) and the rule that decided it (scoring.attribution.Rule:
    # affiliate | promo_code | tracked_link | self_referral); attribution_due: written since last attributed
    creator_id: int | None = Field(default=None, foreign_key="creator.id")   # indexed when set (above)
    attribution_rule: str | None = Field(default=None, max_length=16)
    attribution_due: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    promo_code: str | None = Field(default=None, max_length=255)  # the order's codes, in order, comma-separated
    buyer_ref: str | None = Field(default=None, max_length=128)  # platform buyer id, hashed
    is_sample: bool = False


class OrderLine(SQLModel, table=True):
    """A line of an order. Its SKU and product are checked by ONE foreign key, (sku_id, product_id) -> sku, which
    also makes the line's product its SKU's product; the check says both or neither. Each foreign key costs a
    look-up per line written (on PostgreSQL a trigger query, about 5 us a line), and a large sync writes lines by
    the million: two keys (product, sku) cost a quarter of PostgreSQL's work on a first sync (migration 0010)."""
    __tablename__ = "order_line"
    __table_args__ = (UniqueConstraint("order_id", "platform_line_id"),
                      ForeignKeyConstraint(["sku_id", "product_id"], ["sku.id", "sku.product_id"],
                                           name="fk_order_line_sku_product"),
                      CheckConstraint("(sku_id IS NULL) = (product_id IS NULL)", name="ck_order_line_sku_product"))
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id")   # indexed by the unique (order_id, platform_line_id)
    platform_line_id: str = Field(max_length=128)
    product_id: int | None = Field(default=None, index=True)   # with sku_id: see the docstring
    sku_id: int | None = None
    quantity: int = 1
    currency: str = Field(max_length=3)
    unit_price_minor: int = _money()               # after discounts
    amount_minor: int = _money()                   # quantity x unit price


class Refund(SQLModel, table=True):
    __tablename__ = "refund"
    __table_args__ = (UniqueConstraint("order_id", "platform_refund_id"),
                      # refunds completed since the start of now's hour (storage.order_sums; migration 0032)
                      Index("ix_refund_completed_at", "completed_at", sqlite_where=text("completed_at IS NOT NULL"),
                            postgresql_where=text("completed_at IS NOT NULL")))
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id")   # indexed by the unique (order_id, platform_refund_id)
    platform_refund_id: str = Field(max_length=128)
    kind: str = Field(max_length=24)               # refund | return_and_refund | cancellation
    status: str = Field(max_length=32)             # requested | completed | rejected
    currency: str = Field(max_length=3)
    amount_minor: int = _money()
    returned_units: int = 0
    requested_at: datetime = Field(sa_type=UTCDateTime)
    completed_at: datetime | None = _when()


# --- money -------------------------------------------------------------------------------------------------

class FxRateRow(SQLModel, table=True):
    __tablename__ = "fx_rate"
    __table_args__ = (UniqueConstraint("day", "base", "quote"),)
    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    base: str = Field(max_length=3)
    quote: str = Field(max_length=3)
    rate: Decimal = Field(sa_type=ExactDecimal)    # 1 base = rate quote
    source: str = Field(default="manual", max_length=32)


# --- KPI -----------------------------------------------------------------------------------------------------

class KpiTemplate(SQLModel, table=True):
    """One version of a template: a name has a row per month it changed from (effective_from, "YYYY-MM";
    "0001-01" for every month), and a month is scored by the latest version in effect then."""
    __tablename__ = "kpi_template"
    __table_args__ = (UniqueConstraint("org_id", "name", "effective_from"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=64)
    role: str = Field(max_length=16)
    stage: str | None = Field(default=None, max_length=16)
    trial: bool = False
    active: bool = True
    effective_from: str = Field(default="0001-01", max_length=7)
    achievement_cap: Decimal | None = Field(default=None, sa_type=ExactDecimal)   # None: the organisation's
    grade_bands: str | None = Field(default=None, max_length=200)   # "S:120,A:100,...,D:0"; None: the org's


# --- order sums: the orders' figures by quarter-hour, kept by the store (storage.order_sums) ------------------

class OrderSumRow(SQLModel, table=True):
    """The steps (scoring.order_effects) of a shop's orders counted by `basis` ("paid" or "shipped") in one
    quarter-hour (`moment_slot`, UTC quarter-hours since 1970), credited to `member_id` (0: nobody), attributed to
    `creator_id` (0: none), in one currency, summed by the quarter-hour each step takes effect (`effect_slot`).
    Amounts in minor units. Kept by folding each changed order in the changing transaction (storage.order_sums;
    migration 0032)."""
    __tablename__ = "order_sum"
    __table_args__ = (Index("ix_order_sum_member", "member_id", "basis", "moment_slot"),)
    shop_id: int = Field(primary_key=True)
    basis: str = Field(primary_key=True, max_length=8)
    moment_slot: int = Field(primary_key=True)
    member_id: int = Field(primary_key=True)
    creator_id: int = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    effect_slot: int = Field(primary_key=True)
    gross_minor: int = _money()
    orders: int = 0
    value_minor: int = _money()
    refunded_minor: int = _money()
    units: int = 0
    returned_units: int = 0


class OrderProductSumRow(SQLModel, table=True):
    """A product's figures in kept orders (scoring.order_effects.product_steps), by shop, basis, counting
    quarter-hour, the orders' currency and effect quarter-hour. Amounts in minor units."""
    __tablename__ = "order_product_sum"
    __table_args__ = (Index("ix_order_product_sum_product", "product_id", "basis", "moment_slot"),)
    shop_id: int = Field(primary_key=True)
    basis: str = Field(primary_key=True, max_length=8)
    moment_slot: int = Field(primary_key=True)
    product_id: int = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    effect_slot: int = Field(primary_key=True)
    units: int = 0
    orders: int = 0                  # kept orders holding the product
    amount_minor: int = _money()     # its lines' amounts
    refunded_minor: int = _money()   # its lines' shares of the orders' refunds (floored, per line)


class OrderHourSumRow(SQLModel, table=True):
    """order_sum by the hour: the same sums with the counting and the effect quarter-hours taken to their UTC hour
    (`moment_hour`, `effect_hour`: hours since 1970). A read by local day takes an hour with a step taken in now's
    hour from here, by effect hour, and the other whole hours from the hour totals (storage.order_sums.read_sums;
    migrations 0033, 0035)."""
    __tablename__ = "order_hour_sum"
    # a member's hours with recent steps (a shop's come by the key); whole hours are read from the hour totals,
    # so no index here carries the figures (migration 0035 narrowed those of 0033)
    __table_args__ = (Index("ix_order_hour_sum_member", "member_id", "basis", "moment_hour", "currency",
                            "effect_hour"),)
    shop_id: int = Field(primary_key=True)
    basis: str = Field(primary_key=True, max_length=8)
    moment_hour: int = Field(primary_key=True)
    member_id: int = Field(primary_key=True)
    creator_id: int = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    effect_hour: int = Field(primary_key=True)
    gross_minor: int = _money()
    orders: int = 0
    value_minor: int = _money()
    refunded_minor: int = _money()
    units: int = 0
    returned_units: int = 0


class OrderProductHourSumRow(SQLModel, table=True):
    """order_product_sum by the hour, as order_hour_sum is order_sum by the hour (read by its key)."""
    __tablename__ = "order_product_hour_sum"
    shop_id: int = Field(primary_key=True)
    basis: str = Field(primary_key=True, max_length=8)
    moment_hour: int = Field(primary_key=True)
    product_id: int = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    effect_hour: int = Field(primary_key=True)
    units: int = 0
    orders: int = 0
    amount_minor: int = _money()
    refunded_minor: int = _money()


# the key orders an hour total: on SQLite the table is its key's b-tree (WITHOUT ROWID), on PostgreSQL the key's
# index carries what a read takes, so either reads one range of the key and no table row per hour
_ORDER_TOTAL_VALUES = ["gross_minor", "orders", "value_minor", "refunded_minor", "units", "returned_units",
                       "last_effect_hour"]
_PRODUCT_TOTAL_VALUES = ["units", "orders", "amount_minor", "refunded_minor", "last_effect_hour"]


class _HourTotal(SQLModel):
    """What an hour total holds: every step of its orders whatever hour it took effect in (order_hour_sum summed
    over `effect_hour`), how many ledger rows it sums (`steps`: none left, the row goes) and the latest hour one of
    them took effect in (`last_effect_hour`; at least: taking a step off leaves it). A read as of a `now` after that
    hour takes the row whole; before it, the row's hour comes from the hour table by effect hour
    (storage.order_sums; migration 0035). One row a key and hour however late the refunds and cancellations come,
    where the hour tables hold one per hour a step took effect in."""
    steps: int = 0
    last_effect_hour: int = 0


class _OrderHourTotal(_HourTotal):
    """An hour total of orders' figures (those of order_sum)."""
    gross_minor: int = _money()
    orders: int = 0
    value_minor: int = _money()
    refunded_minor: int = _money()
    units: int = 0
    returned_units: int = 0


class OrderMemberHourTotal(_OrderHourTotal, table=True):
    """A member's orders' figures by the UTC hour they count in (a team's, a member's month)."""
    __tablename__ = "order_member_hour_total"
    __table_args__ = (PrimaryKeyConstraint("member_id", "basis", "moment_hour", "currency",
                                           postgresql_include=_ORDER_TOTAL_VALUES),
                      {"sqlite_with_rowid": False})
    member_id: int = Field(primary_key=True)
    basis: str = Field(primary_key=True, max_length=8)
    moment_hour: int = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)


class OrderShopHourTotal(_OrderHourTotal, table=True):
    """A shop's orders' figures by the UTC hour they count in and the creator they are attributed to (0: none)."""
    __tablename__ = "order_shop_hour_total"
    __table_args__ = (PrimaryKeyConstraint("shop_id", "basis", "moment_hour", "creator_id", "currency",
                                           postgresql_include=_ORDER_TOTAL_VALUES),
                      {"sqlite_with_rowid": False})
    shop_id: int = Field(primary_key=True)
    basis: str = Field(primary_key=True, max_length=8)
    moment_hour: int = Field(primary_key=True)
    creator_id: int = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)


class OrderProductHourTotal(_HourTotal, table=True):
    """A shop's products' figures by the UTC hour their orders count in."""
    __tablename__ = "order_product_hour_total"
    __table_args__ = (PrimaryKeyConstraint("shop_id", "basis", "moment_hour", "product_id", "currency",
                                           postgresql_include=_PRODUCT_TOTAL_VALUES),
                      {"sqlite_with_rowid": False})
    shop_id: int = Field(primary_key=True)
    basis: str = Field(primary_key=True, max_length=8)
    moment_hour: int = Field(primary_key=True)
    product_id: int = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    units: int = 0
    orders: int = 0
    amount_minor: int = _money()
    refunded_minor: int = _money()


class OrderShapeSum(SQLModel, table=True):
    """Orders of a shop counted by `basis` in one quarter-hour that are not cancelled and not samples, whatever
    `now`: what a team's pace shape is learned from (scoring.shape), a row per quarter-hour (storage.order_sums)."""
    __tablename__ = "order_shape_sum"
    # on PostgreSQL the key's index carries the count: a month's quarter-hours are read from it alone (0035)
    __table_args__ = (PrimaryKeyConstraint("shop_id", "basis", "moment_slot", postgresql_include=["orders"]),)
    shop_id: int = Field(primary_key=True)
    basis: str = Field(primary_key=True, max_length=8)
    moment_slot: int = Field(primary_key=True)
    orders: int = 0


class OrderSumPart(SQLModel, table=True):
    """The ledger of order_sum: what one order adds to it, by basis and effect quarter-hour (storage.order_sums)."""
    __tablename__ = "order_sum_part"
    order_id: int = Field(primary_key=True)
    basis: str = Field(primary_key=True, max_length=8)
    effect_slot: int = Field(primary_key=True)
    shop_id: int
    moment_slot: int
    member_id: int
    creator_id: int
    currency: str = Field(max_length=3)
    gross_minor: int = _money()
    orders: int = 0
    value_minor: int = _money()
    refunded_minor: int = _money()
    units: int = 0
    returned_units: int = 0
    shape_orders: int = 0


class OrderProductPart(SQLModel, table=True):
    """The ledger of order_product_sum: one order's sold units of a product by basis and effect quarter-hour."""
    __tablename__ = "order_product_part"
    order_id: int = Field(primary_key=True)
    basis: str = Field(primary_key=True, max_length=8)
    product_id: int = Field(primary_key=True)
    effect_slot: int = Field(primary_key=True)
    shop_id: int
    moment_slot: int
    currency: str = Field(max_length=3)
    units: int = 0
    orders: int = 0
    amount_minor: int = _money()
    refunded_minor: int = _money()


class OrderSumDue(SQLModel, table=True):
    """An order whose part of the sums a change made stale: written by triggers on shop_order, refund and
    order_line, and cleared when it is folded, before the transaction commits (storage.order_sums)."""
    __tablename__ = "order_sum_due"
    order_id: int = Field(primary_key=True)


class KpiTemplateMetric(SQLModel, table=True):
    __tablename__ = "kpi_template_metric"
    __table_args__ = (UniqueConstraint("template_id", "metric_key"),)
    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="kpi_template.id", index=True)
    metric_key: str = Field(max_length=48)
    weight: Decimal = Field(sa_type=ExactDecimal)  # percentage points
    position: int = 0


# The subject key must agree with the scope and the ids (SQLite and PostgreSQL both read this SQL).
TARGET_SUBJECT_RULE = (
    "(scope = 'company' AND team_id IS NULL AND member_id IS NULL AND subject = 'company')"
    " OR (scope = 'team' AND team_id IS NOT NULL AND member_id IS NULL"
    " AND subject = 'team:' || CAST(team_id AS VARCHAR))"
    " OR (scope = 'member' AND member_id IS NOT NULL AND team_id IS NULL"
    " AND subject = 'member:' || CAST(member_id AS VARCHAR))"
)
TARGET_PERIOD_RULE = "length(period) = 7 AND substr(period, 5, 1) = '-'"


class Target(SQLModel, table=True):
    """A monthly target. Exactly one of team_id / member_id is set for team and member targets; neither for
    the company's (enforced by CHECK constraints). Money targets are in the reporting currency."""

    __tablename__ = "target"
    __table_args__ = (
        UniqueConstraint("org_id", "subject", "period", "metric_key"),
        CheckConstraint(TARGET_SUBJECT_RULE, name="ck_target_subject"),
        CheckConstraint(TARGET_PERIOD_RULE, name="ck_target_period"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    scope: str = Field(max_length=8)               # company | team | member
    # "company", "team:<id>" or "member:<id>": one non-null key, because SQL unique constraints treat NULLs
    # as distinct and would let two targets for the same member and metric in
    subject: str = Field(max_length=32)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    period: str = Field(max_length=7)              # YYYY-MM
    metric_key: str = Field(max_length=48)
    value: Decimal = Field(sa_type=ExactDecimal)
    set_by_member_id: int | None = Field(default=None, foreign_key="member.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CountryBaseline(SQLModel, table=True):
    """A team's monthly baseline in one country it sells in (orders of its shops in that region). A team
    without a target of its own for the metric is measured against the sum of its countries' baselines."""

    __tablename__ = "country_baseline"
    __table_args__ = (
        UniqueConstraint("team_id", "country", "period", "metric_key"),
        CheckConstraint(TARGET_PERIOD_RULE, name="ck_country_baseline_period"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    country: str = Field(max_length=2)             # ISO 3166 alpha-2, as Shop.region
    period: str = Field(max_length=7)              # YYYY-MM
    metric_key: str = Field(max_length=48)         # cumulative metrics only (they add up across countries)
    value: Decimal = Field(sa_type=ExactDecimal)
    set_by_member_id: int | None = Field(default=None, foreign_key="member.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ScoreSnapshot(SQLModel, table=True):
    __tablename__ = "score_snapshot"
    __table_args__ = (UniqueConstraint("member_id", "period", "as_of_day"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    period: str = Field(max_length=10)
    as_of_day: date
    template_name: str = Field(max_length=64)
    score: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    grade: str | None = Field(default=None, max_length=4)
    binding: bool = True
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Appeal(SQLModel, table=True):
    """A member's dispute of one metric of one month (services.appeals). `status` changes once, from "open" to
    approved | partly_approved | rejected | withdrawn, by a compare-and-swap on status = "open": of two clicks
    at once exactly one decides. The approver is the one it is assigned to now (services.appeal_routing);
    `level` is that approver's escalation level and `assigned_at` when they got it (reminders and escalation
    count from there)."""

    __tablename__ = "appeal"
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    snapshot_id: int | None = Field(default=None, foreign_key="score_snapshot.id")
    metric_key: str | None = Field(default=None, max_length=48)
    period: str = Field(default="", max_length=7)             # YYYY-MM: the month disputed
    category: str = Field(default="other", max_length=24)     # APPEAL_CATEGORIES
    reason: str = Field(max_length=2000)
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # order ids, links
    value_now: Decimal | None = Field(default=None, sa_type=ExactDecimal)      # the metric when appealed
    value_claimed: Decimal | None = Field(default=None, sa_type=ExactDecimal)  # what the member says it is
    status: str = Field(default="open", max_length=16, index=True)  # APPEAL_STATES
    approver_member_id: int | None = Field(default=None, foreign_key="member.id")
    level: int = 0                                            # services.appeal_routing levels
    assigned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reminded_at: datetime | None = _when()                    # the approver's last reminder
    decided_by_member_id: int | None = Field(default=None, foreign_key="member.id")
    decided_value: Decimal | None = Field(default=None, sa_type=ExactDecimal)  # a partial approval's value
    decision_note: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = _when()


APPEAL_STATES = ("open", "approved", "partly_approved", "rejected", "withdrawn")
# order wrongly attributed or missing | refund not the member's fault | live session or video missing |
# target wrong | other
APPEAL_CATEGORIES = ("attribution", "refund", "activity", "target", "other")


class AppealMessage(SQLModel, table=True):
    """One sent copy of an appeal's card (bot.jobs.appeals): where it went and the reference that updates it in
    place (Feishu's message_id, DingTalk's outTrackId), and the state it shows now ("open:<level>", "escalated",
    or the appeal's decided status). A copy whose state differs from what it should show is updated."""

    __tablename__ = "appeal_message"
    __table_args__ = (UniqueConstraint("platform", "ref"),)
    id: int | None = Field(default=None, primary_key=True)
    appeal_id: int = Field(foreign_key="appeal.id", index=True)
    member_id: int = Field(foreign_key="member.id")     # who received it (an approver)
    platform: str = Field(max_length=32)
    receiver: str = Field(max_length=64)               # their id on the platform
    ref: str = Field(max_length=128)
    state: str = Field(max_length=24)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AppealAdjustment(SQLModel, table=True):
    """What an approved appeal changed (services.appeal_adjustments): only ever added to, never updated or
    deleted. `kind` (ADJUSTMENT_KINDS) says which of the other columns it names: exclude_order (order_id: out of
    the member's numbers), credit_order (order_id credited to to_member_id, or to creator_id for affiliate
    attribution), add_session (live_session_id: a session the appeal added), override (metric_key's value for the
    member and period)."""

    __tablename__ = "appeal_adjustment"
    id: int | None = Field(default=None, primary_key=True)
    appeal_id: int = Field(foreign_key="appeal.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)   # the appellant
    period: str = Field(max_length=7)                                # YYYY-MM
    kind: str = Field(max_length=16)
    order_id: int | None = Field(default=None, foreign_key="shop_order.id")
    to_member_id: int | None = Field(default=None, foreign_key="member.id")
    from_member_id: int | None = Field(default=None, foreign_key="member.id")   # credit_order: who lost it
    creator_id: int | None = Field(default=None, foreign_key="creator.id")
    live_session_id: int | None = Field(default=None, foreign_key="live_session.id")
    metric_key: str | None = Field(default=None, max_length=48)
    value: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by_member_id: int = Field(foreign_key="member.id")


ADJUSTMENT_KINDS = ("exclude_order", "credit_order", "add_session", "override")


# --- commission -------------------------------------------------------------------------------------------

class CommissionPlan(SQLModel, table=True):
    """One version of a role's commission plan (scoring.commission.Plan), in force from its effective month
    ("YYYY-MM"; "0001-01": every month) until a later version of the role's plan. Tiers are [[threshold, rate],
    ...] as decimal strings; the threshold and cap are in the plan's currency (a count for new customers)."""

    __tablename__ = "commission_plan"
    __table_args__ = (UniqueConstraint("org_id", "name", "effective_from"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=64)
    effective_from: str = Field(default="0001-01", max_length=7)
    role: str = Field(max_length=16)
    basis: str = Field(max_length=16)              # net_gmv | gross_profit | new_customers
    kind: str = Field(max_length=16)               # tiered | accelerator
    currency: str = Field(max_length=3)
    tiers: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cap: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    active: bool = True


class CommissionPayout(SQLModel, table=True):
    """What a member was paid for a closed month: the base of clawbacks when refunds arrive later."""

    __tablename__ = "commission_payout"
    __table_args__ = (UniqueConstraint("member_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    period: str = Field(max_length=7)              # YYYY-MM
    plan_name: str = Field(max_length=64)
    plan: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # as paid under
    role: str = Field(max_length=16)               # the member's role then: what the basis measured
    basis_amount: Decimal = Field(sa_type=ExactDecimal)   # as measured when paid
    earned_minor: int = _money()                   # the month's own commission
    clawback_minor: int = _money()                 # taken back for earlier months in this payout
    paid_minor: int = Field(default=0, sa_type=BigInteger, nullable=False)  # earned - clawback (may be < 0)
    clawed_back_minor: int = _money()              # taken back from this month by later payouts
    currency: str = Field(max_length=3)
    paid_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CommissionCorrection(SQLModel, table=True):
    """What an appeal approved after a month was paid changed in its commission: a top-up (or, negative, an
    amount owed back) beside the payout, which stays as paid (services.month_close.refinalise). Only ever added."""

    __tablename__ = "commission_correction"
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    period: str = Field(max_length=7, index=True)          # YYYY-MM: the paid month it corrects
    appeal_id: int | None = Field(default=None, foreign_key="appeal.id")
    basis_amount: Decimal = Field(sa_type=ExactDecimal)    # the month's basis measured again as of its close
    amount_minor: int = _money()                           # signed: what the month earns now minus before
    currency: str = Field(max_length=3)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    by: str = Field(max_length=128)                        # the member code of who decided the appeal


# --- month close (kpibot month close) ------------------------------------------------------------------

class MonthClose(SQLModel, table=True):
    """A closed month: its final scores are frozen in final_score; it changes only through an approved appeal
    (services.month_close.refinalise)."""

    __tablename__ = "month_close"
    period: str = Field(max_length=7, primary_key=True)   # YYYY-MM
    closed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_by: str = Field(max_length=128)                 # the person who closed it (audit actor)


class FinalScore(SQLModel, table=True):
    """A member's frozen score of a closed month, as /mykpi and /rank showed it (services.month_close)."""

    __tablename__ = "final_score"
    __table_args__ = (UniqueConstraint("period", "member_id"),)
    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=7, index=True)          # YYYY-MM
    member_id: int = Field(foreign_key="member.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    role: str = Field(max_length=16)
    template_name: str | None = Field(default=None, max_length=64)
    score: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    grade: str | None = Field(default=None, max_length=4)
    rank: int | None = None
    rank_of: int | None = None
    trial: bool = False
    # [{"key", "weight", "actual", "target", "achievement", "points"}] as decimal strings (None: no value)
    metrics: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    adjustments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- operations ---------------------------------------------------------------------------------------------

class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=128)             # member code, "system" or a job name
    action: str = Field(max_length=64)
    entity: str = Field(max_length=64)
    entity_id: str | None = Field(default=None, max_length=128)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class SyncCursor(SQLModel, table=True):
    __tablename__ = "sync_cursor"
    __table_args__ = (UniqueConstraint("shop_id", "resource"),)
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id", index=True)
    resource: str = Field(max_length=32)           # orders | returns | affiliate_orders | lives | ads ...
    cursor: str | None = Field(default=None, max_length=4096)  # resume token of the run in progress
    high_water: datetime | None = _when()          # newest platform update time fully stored
    last_success_at: datetime | None = _when()
    failures: int = 0                              # consecutive failed runs of this resource
    # the run in progress (storage.ingest.sync): its window, kept beside the resume token so that a restart
    # continues the same query, and the newest update time it has stored so far; all None between runs
    run_since: datetime | None = _when()
    run_until: datetime | None = _when()
    run_high_water: datetime | None = _when()
    last_error: str | None = Field(default=None, max_length=500)


class ShopHealth(SQLModel, table=True):
    """A shop's sync streak: `consecutive_failures` counts sync runs with a failed resource; the shop turns
    unhealthy at a threshold and `unhealthy_since` is set once per streak (audited once), cleared by the next
    fully successful run. The admins' notice of a streak is claimed apart (bot.jobs.refresh.tell_unhealthy)."""

    __tablename__ = "shop_health"
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id", unique=True)
    consecutive_failures: int = 0
    unhealthy_since: datetime | None = _when()
    last_error: str | None = Field(default=None, max_length=500)   # "resource: message", never a secret
    last_failure_at: datetime | None = _when()
    last_success_at: datetime | None = _when()


class ShopCredential(SQLModel, table=True):
    """A shop's API tokens (storage.ingest.token_store). access_token and refresh_token are stored encrypted
    ("fernet:..." with KPIBOT_TOKEN_KEY, storage.token_cipher); a value without the prefix is a legacy clear one."""

    __tablename__ = "shop_credential"
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id", unique=True)
    access_token: str = Field(repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    expires_at: datetime | None = _when()
    refresh_expires_at: datetime | None = _when()
    extra: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False), repr=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrderVisit(SQLModel, table=True):
    """A customer's visit before an order (UTM), for tracked-link attribution; replaced with the order."""

    __tablename__ = "order_visit"
    __table_args__ = (UniqueConstraint("order_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id")
    position: int                                  # 0 = first visit of the journey
    at: datetime | None = _when()
    utm_source: str | None = Field(default=None, max_length=255)
    utm_medium: str | None = Field(default=None, max_length=255)
    utm_campaign: str | None = Field(default=None, max_length=255)
    utm_content: str | None = Field(default=None, max_length=255)
    landing_page: str | None = Field(default=None, max_length=2000)


class AffiliateLine(SQLModel, table=True):
    """One creator-credited order line as the platform's affiliate data reports it (keyed by platform ids,
    so it is stored whether or not the order itself has arrived)."""

    __tablename__ = "affiliate_line"
    __table_args__ = (UniqueConstraint("shop_id", "platform_order_id", "platform_product_id", "platform_sku_id",
                                       "creator_handle", name="uq_affiliate_line_sku"),)
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id")
    platform_order_id: str = Field(max_length=128)
    platform_product_id: str = Field(max_length=128)
    platform_sku_id: str = Field(max_length=128)   # '' when the platform reports lines per product
    creator_handle: str = Field(max_length=128)
    content_type: str = Field(max_length=32)       # SHOP | VIDEO | LIVE | ...
    content_id: str | None = Field(default=None, max_length=128)
    commission_rate: Decimal = Field(sa_type=ExactDecimal)
    currency: str = Field(max_length=3)
    amount_minor: int = _money()
    quantity: int = 0
    refunded_quantity: int = 0
    status: str = Field(max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class PendingReturn(SQLModel, table=True):
    """A refund fetched before its order: kept here (never dropped) and moved into `refund` when the order
    is written."""

    __tablename__ = "pending_return"
    __table_args__ = (UniqueConstraint("shop_id", "platform_order_id", "platform_refund_id"),)
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id")
    platform_order_id: str = Field(max_length=128)
    platform_refund_id: str = Field(max_length=128)
    kind: str = Field(max_length=24)
    status: str = Field(max_length=32)
    currency: str = Field(max_length=3)
    amount_minor: int = _money()
    returned_units: int = 0
    requested_at: datetime = Field(sa_type=UTCDateTime)
    completed_at: datetime | None = _when()
    updated_at: datetime = Field(sa_type=UTCDateTime)   # the platform's, to pick the newer of two reports


class PendingShipment(SQLModel, table=True):
    """A shipped time learnt before its order (an Amazon ShipmentEvent): kept here, the earliest per order,
    and set on the order when the order is written (migration 0019)."""

    __tablename__ = "pending_shipment"
    __table_args__ = (UniqueConstraint("shop_id", "platform_order_id"),)
    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shop.id")
    platform_order_id: str = Field(max_length=128)
    shipped_at: datetime = Field(sa_type=UTCDateTime)


class ProcessedEvent(SQLModel, table=True):
    """Platform events already handled, so a redelivery (also after a restart) does nothing."""

    __tablename__ = "processed_event"
    __table_args__ = (UniqueConstraint("platform", "event_id"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    event_id: str = Field(max_length=128)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # claimed -> answered (storage.events): a claim not answered within its lease may be taken over
    state: str = Field(default="answered", max_length=10, sa_column_kwargs={"server_default": "answered"})
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claim_token: str | None = Field(default=None, max_length=32)


# --- scheduled messages ----------------------------------------------------------------------------------

class DigestSubscription(SQLModel, table=True):
    """A chat that gets a team's digest every day at a local time (and a weekly report on Mondays)."""

    __tablename__ = "digest_subscription"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "team_id"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    platform: str = Field(max_length=16)           # feishu | dingtalk
    chat_id: str = Field(max_length=128)           # Feishu chat_id; DingTalk openConversationId
    send_time: str = Field(max_length=5)           # "HH:MM", local to `timezone`
    timezone: str = Field(max_length=64)
    locale: str = Field(max_length=16)
    finance: bool = False                          # members' money figures are shown only in such chats
    weekly: bool = True                            # also the weekly report, on Mondays at the same time
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class JobLease(SQLModel, table=True):
    """The one process, of all replicas sharing the store, that runs a shared job now (the shop refresh): taken
    by a conditional UPDATE, renewed while running (heartbeat_at), released when done (finished_at)."""

    __tablename__ = "job_lease"
    name: str = Field(primary_key=True, max_length=32)   # the job: "refresh"
    holder: str = Field(max_length=64)                   # the process (bot.scheduler.instance_id)
    taken_at: datetime = Field(sa_type=UTCDateTime)
    heartbeat_at: datetime | None = _when()
    finished_at: datetime | None = _when()               # None while the holder runs the job
    runs: int = 1
    error: str | None = Field(default=None, max_length=500)   # why the last run ended early


class ScheduledSend(SQLModel, table=True):
    """One scheduled message for one local day, claimed before it is sent: the unique key makes it go out
    once, whatever the number of scheduler processes; a failed send is released so a later tick retries."""

    __tablename__ = "scheduled_send"
    __table_args__ = (UniqueConstraint("kind", "subject", "local_day"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)               # digest | weekly | lag_alert | lag_summary | score_snapshot
    #                                                | shop_unhealthy | unmatched_handle | fx_missing
    # "subscription:<id>", "member:<id>", "shop:<id>:<unhealthy since, Unix seconds>:<admin member id>",
    # "handle:<org id>:<hash of platform and handle>:<admin id>", "fx:<org id>:<currency>:<reporting>:<admin id>"
    subject: str = Field(max_length=64)
    local_day: date
    status: str = Field(default="sending", max_length=8)   # sending | sent | failed
    claimed_by: str = Field(max_length=64)         # the process that claimed it
    claimed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = _when()
    attempts: int = 1
    error: str | None = Field(default=None, max_length=500)

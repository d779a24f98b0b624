"""The store on SQLite and on PostgreSQL: schema, exact values, constraints and the fact loader."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlmodel import Session, SQLModel

from scoring.facts import LineFact, RefundFact
from storage.activity import load_activity, load_team_activity
from storage.identity import ALIAS, BadIdentity, IdentityTaken, bind_identity, identities, member_for
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import (
    FxRateRow,
    LiveSession,
    Member,
    MemberIdentity,
    Order,
    OrderLine,
    Organisation,
    ProcessedEvent,
    Product,
    Refund,
    Shop,
    Sku,
    Target,
    Team,
)
from storage.queries import fx_table, monthly_targets
from tests.conftest import fresh_engine

T0 = datetime(2026, 11, 10, 12, tzinfo=UTC)


def test_migrations_create_every_table_and_are_idempotent(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert current_revision(engine) == head_revision()
    assert upgrade(engine) == (head_revision(), head_revision())


def test_the_migrated_schema_is_the_models_schema(engine: Engine) -> None:
    """Every table, column, index and constraint of storage.models is what the migrations build, and nothing
    more: a model change without its migration (or the reverse) fails here, on each backend."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    assert "ix_shop_order_created_at" not in {ix["name"] for ix in inspect(engine).get_indexes("shop_order")}


def _org(session: Session) -> tuple[Organisation, Team, Shop, Member, Member]:
    org = Organisation(code="o", name="Org")
    session.add(org)
    session.flush()
    team = Team(org_id=org.id, code="t", name="Team", timezone="Asia/Jakarta", locale="en")
    session.add(team)
    session.flush()
    shop = Shop(org_id=org.id, team_id=team.id, code="s", name="Shop", platform="shopee", region="ID",
                currency="IDR", timezone="Asia/Jakarta")
    host = Member(org_id=org.id, team_id=team.id, code="h", name="Host 主播", role="host", timezone="Asia/Jakarta",
                  locale="zh-CN")
    other = Member(org_id=org.id, team_id=team.id, code="h2", name="Other", role="host", timezone="Asia/Jakarta",
                   locale="en")
    session.add_all([shop, host, other])
    session.flush()
    return org, team, shop, host, other


def test_money_dates_and_rates_round_trip_exactly(engine: Engine) -> None:
    with Session(engine) as s:
        _, _, shop, host, _ = _org(s)
        big = 1_234_567_890_123  # 12,345,678,901.23 IDR in minor units: beyond 32 bits
        s.add(Order(shop_id=shop.id, platform_order_id="A1", status="COMPLETED", currency="IDR",
                    merchandise_minor=big, total_minor=big, created_at=T0,
                    paid_at=datetime(2026, 11, 10, 19, 30, tzinfo=timezone(timedelta(hours=7))), member_id=host.id))
        s.add(FxRateRow(day=date(2026, 11, 10), base="USD", quote="IDR", rate=Decimal("15823.456789")))
        s.commit()
    with Session(engine) as s:
        o = s.execute(select(Order)).scalar_one()
        assert o.merchandise_minor == big
        assert o.paid_at == datetime(2026, 11, 10, 12, 30, tzinfo=UTC)   # stored as UTC, read back aware
        assert o.paid_at.tzinfo == UTC
        assert s.execute(select(FxRateRow.rate)).scalar_one() == Decimal("15823.456789")


def test_naive_datetimes_and_float_rates_are_refused(engine: Engine) -> None:
    with Session(engine) as s:
        _, _, shop, _, _ = _org(s)
        s.add(Order(shop_id=shop.id, platform_order_id="N1", status="UNPAID", currency="IDR",
                    created_at=datetime(2026, 11, 10, 12)))
        with pytest.raises(StatementError, match="naive datetime"):
            s.flush()
        s.rollback()
        s.add(FxRateRow(day=date(2026, 11, 10), base="USD", quote="IDR", rate=15823.4))  # type: ignore[arg-type]
        with pytest.raises(StatementError, match="float given"):
            s.flush()


def test_an_order_id_is_unique_per_shop(engine: Engine) -> None:
    with Session(engine) as s:
        _, _, shop, _, _ = _org(s)
        for _ in range(2):
            s.add(Order(shop_id=shop.id, platform_order_id="DUP", status="UNPAID", currency="IDR", created_at=T0))
        with pytest.raises(IntegrityError):
            s.flush()


def test_a_member_has_one_target_per_metric_and_month(engine: Engine) -> None:
    with Session(engine) as s:
        org, _, _, host, _ = _org(s)
        for value in ("100", "200"):
            s.add(Target(org_id=org.id, scope="member", subject=f"member:{host.id}", member_id=host.id,
                         period="2026-11", metric_key="net_gmv", value=Decimal(value)))
        with pytest.raises(IntegrityError):
            s.flush()


def test_an_id_the_store_cannot_keep_is_refused_alike_on_both_backends(engine: Engine) -> None:
    # SQLite would keep 65 characters where PostgreSQL's VARCHAR(64) fails with a driver error: both refuse first
    with Session(engine) as s:
        host = _org(s)[3]
        for platform, user_id, problem in [("wecom", "x" * 65, "a wecom id has 1 to 64 characters; got 65"),
                                           ("wecom", "", "a wecom id has 1 to 64 characters; got 0"),
                                           ("console", "h", "the console needs no binding: its ids are member codes"),
                                           ("We Com", "h", "a platform is named in lower-case letters, digits and _ "
                                                           "(at most 32), e.g. wecom; got 'We Com'")]:
            with pytest.raises(BadIdentity) as refused:
                bind_identity(s, host, platform, user_id)
            assert str(refused.value) == problem
        bind_identity(s, host, "wecom", "x" * 64)
        s.commit()
        assert identities(s, host.id) == {"wecom": "x" * 64}


def test_identities_and_queries(engine: Engine) -> None:
    with Session(engine) as s:
        org, _, _, host, _ = _org(s)
        s.add(Target(org_id=org.id, scope="member", subject=f"member:{host.id}", member_id=host.id, period="2026-11",
                     metric_key="net_gmv", value=Decimal("2500.50")))
        s.add(FxRateRow(day=date(2026, 11, 1), base="USD", quote="IDR", rate=Decimal("16000")))
        bind_identity(s, host, "feishu", "ou_h")
        bind_identity(s, host, "feishu", "on_h", ALIAS)
        bind_identity(s, host, "dingtalk", "h")
        s.commit()
        assert member_for(s, "feishu", "ou_h").code == "h"  # type: ignore[union-attr]
        assert member_for(s, "feishu", "on_h").code == "h"  # type: ignore[union-attr]
        assert member_for(s, "dingtalk", "h").code == "h"  # type: ignore[union-attr]
        assert member_for(s, "console", "h2").code == "h2"  # type: ignore[union-attr]
        assert member_for(s, "feishu", "ou_nobody") is None
        assert member_for(s, "dingtalk", "ou_h") is None   # an id is one platform's
        assert identities(s, host.id) == {"feishu": "ou_h", "dingtalk": "h"}
        assert monthly_targets(s, f"member:{host.id}", ["2026-11"]) == {"net_gmv": {(2026, 11): Decimal("2500.50")}}
        assert fx_table(s, date(2026, 11, 30)).rate("IDR", "USD", date(2026, 11, 5)) == Decimal(1) / Decimal(16000)


def test_a_platform_id_binds_one_member(engine: Engine) -> None:
    """bind_identity refuses another member's id (of any kind) and the store refuses it too; binding again
    replaces the member's id of that kind, and an alias may become the primary id."""
    with Session(engine) as s:
        org, _, _, host, other = _org(s)
        bind_identity(s, host, "feishu", "ou_h")
        bind_identity(s, host, "feishu", "on_h", ALIAS)
        s.commit()
        for user_id in ("ou_h", "on_h"):
            with pytest.raises(IdentityTaken, match=f"^feishu id {user_id} is already bound to h$"):
                bind_identity(s, other, "feishu", user_id)
        bind_identity(s, other, "dingtalk", "ou_h")   # the same string on another platform is another person
        s.commit()
        ids = {"org": org.id, "other": other.id}
        with pytest.raises(IntegrityError), s.begin_nested():
            s.execute(text("INSERT INTO member_identity (org_id, member_id, platform, kind, platform_user_id) "
                           "VALUES (:org, :other, 'feishu', 'primary', 'ou_h')"), ids)
        with pytest.raises(IntegrityError), s.begin_nested():   # one primary id per member and platform
            s.execute(text("INSERT INTO member_identity (org_id, member_id, platform, kind, platform_user_id) "
                           "VALUES (:org, :other, 'dingtalk', 'primary', 'x')"), ids)
        bind_identity(s, host, "feishu", "ou_h2")
        bind_identity(s, host, "feishu", "on_h")      # the alias becomes the primary id, and the alias goes
        s.commit()
        rows = s.execute(select(MemberIdentity.member_id, MemberIdentity.platform, MemberIdentity.kind,
                                MemberIdentity.platform_user_id).order_by(MemberIdentity.member_id,
                                                                          MemberIdentity.platform)).all()
        assert rows == [(host.id, "feishu", "primary", "on_h"), (other.id, "dingtalk", "primary", "ou_h")]
        assert member_for(s, "feishu", "ou_h") is None


def test_load_activity_scopes_by_role_and_range(engine: Engine) -> None:
    with Session(engine) as s:
        _, team, shop, host, other = _org(s)
        live = LiveSession(shop_id=shop.id, host_member_id=host.id, platform_session_id="L1", started_at=T0,
                           ended_at=T0 + timedelta(hours=2), viewers=100, views=150, watch_seconds=6000,
                           interactions=9, new_followers=4, currency="IDR", gmv_minor=30_000_000)
        product = Product(shop_id=shop.id, platform_product_id="P1", name="Lamp 台灯")
        s.add_all([live, product])
        s.flush()
        sku = Sku(product_id=product.id or 0, platform_sku_id="S1", name="Lamp 台灯", currency="IDR")
        s.add(sku)
        s.flush()

        def add_order(oid: str, member: Member, paid: datetime | None, amount: int) -> Order:
            o = Order(shop_id=shop.id, platform_order_id=oid, status="COMPLETED", currency="IDR",
                      merchandise_minor=amount, total_minor=amount, units=2, created_at=T0, paid_at=paid,
                      member_id=member.id)
            s.add(o)
            s.flush()
            s.add(OrderLine(order_id=o.id, platform_line_id=f"{oid}-1", product_id=product.id, sku_id=sku.id,
                            quantity=2, currency="IDR", unit_price_minor=amount // 2, amount_minor=amount))
            return o

        mine = add_order("O1", host, T0, 10_000_000)
        add_order("O2", other, T0, 20_000_000)                              # another host's order
        add_order("O3", host, T0 - timedelta(days=40), 40_000_000)          # outside the range
        add_order("O4", host, None, 50_000_000)                             # never paid
        s.add(Refund(order_id=mine.id, platform_refund_id="R1", kind="refund", status="completed", currency="IDR",
                     amount_minor=2_500_000, returned_units=0, requested_at=T0, completed_at=T0 + timedelta(days=1)))
        s.add(Refund(order_id=mine.id, platform_refund_id="R2", kind="refund", status="rejected", currency="IDR",
                     amount_minor=9_999_900, requested_at=T0))
        s.commit()

        start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
        act = load_activity(s, host, start, end)
        assert [o.merchandise for o in act.orders] == [Decimal("100000.00")]
        assert act.orders[0].refunds == (RefundFact(Decimal("25000.00"), T0 + timedelta(days=1), 0),)
        assert act.orders[0].lines == (LineFact(product.id, 2),)  # type: ignore[arg-type]
        assert [lv.gmv for lv in act.lives] == [Decimal("300000.00")]
        assert load_activity(s, host, start, end, needs={"lives"}).orders == ()
        team_act = load_team_activity(s, team.id, start, end, needs={"orders"})  # type: ignore[arg-type]
        assert sorted(o.merchandise for o in team_act.orders) == [Decimal("100000.00"), Decimal("200000.00")]


@pytest.mark.parametrize(("scope", "subject", "team", "member", "period"), [
    ("member", "member:1", False, True, "2026-11"),     # subject names another member than member_id
    ("member", "member:{m}", True, True, "2026-11"),    # both ids set
    ("team", "team:{t}", True, False, "2026-11-01"),    # period is not YYYY-MM
    ("company", "company", True, False, "2026-11"),     # a company target with a team
])
def test_targets_must_be_consistent(engine: Engine, scope: str, subject: str, team: bool, member: bool,
                                    period: str) -> None:
    with Session(engine) as s:
        org, t, _, _, other = _org(s)
        s.add(Target(org_id=org.id, scope=scope, subject=subject.format(m=other.id, t=t.id),
                     team_id=t.id if team else None, member_id=other.id if member else None, period=period,
                     metric_key="net_gmv", value=Decimal(1)))
        with pytest.raises((IntegrityError, DataError)):  # PostgreSQL refuses the long period by its length
            s.flush()


def test_consistent_targets_are_accepted(engine: Engine) -> None:
    with Session(engine) as s:
        org, t, _, host, _ = _org(s)
        s.add_all([
            Target(org_id=org.id, scope="company", subject="company", period="2026-11", metric_key="orders",
                   value=Decimal(9)),
            Target(org_id=org.id, scope="team", subject=f"team:{t.id}", team_id=t.id, period="2026-11",
                   metric_key="orders", value=Decimal(9)),
            Target(org_id=org.id, scope="member", subject=f"member:{host.id}", member_id=host.id, period="2026-11",
                   metric_key="orders", value=Decimal(9)),
        ])
        s.flush()


def test_an_existing_store_upgrades_and_keeps_its_data(tmp_path: Path) -> None:
    from storage.engine import make_engine

    eng = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    assert upgrade(eng, "0001") == (None, "0001")
    with eng.begin() as c:
        c.execute(text("INSERT INTO organisation (code, name, created_at) VALUES ('o', 'O', '2026-01-01 00:00:00')"))
        c.execute(text("INSERT INTO target (org_id, scope, subject, period, metric_key, value, updated_at) "
                       "VALUES (1, 'company', 'company', '2026-11', 'net_gmv', '123.45', '2026-11-01 00:00:00')"))
    assert upgrade(eng) == ("0001", head_revision())
    with Session(eng) as s:
        assert s.execute(select(Target.value)).scalar_one() == Decimal("123.45")
    eng.dispose()


def test_the_refresh_lease_table_comes_with_0009_also_where_an_early_0006_made_it(tmp_path: Path) -> None:
    """Stores migrated by the shipped 0006 get job_lease from 0009; a development store whose 0006 already made
    it upgrades without error and keeps its rows."""
    from storage.engine import make_engine

    shipped = make_engine(f"sqlite:///{tmp_path / 'shipped.db'}")
    assert upgrade(shipped, "0008") == (None, "0008")
    assert "job_lease" not in inspect(shipped).get_table_names()
    assert upgrade(shipped) == ("0008", head_revision())
    assert "job_lease" in inspect(shipped).get_table_names()
    shipped.dispose()

    early = make_engine(f"sqlite:///{tmp_path / 'early.db'}")
    upgrade(early, "0008")
    with early.begin() as c:
        c.execute(text("CREATE TABLE job_lease (name VARCHAR(32) NOT NULL PRIMARY KEY, holder VARCHAR(64) NOT NULL, "
                       "taken_at DATETIME NOT NULL, heartbeat_at DATETIME, finished_at DATETIME, runs INTEGER NOT "
                       "NULL, error VARCHAR(500))"))
        c.execute(text("INSERT INTO job_lease (name, holder, taken_at, runs) "
                       "VALUES ('refresh', 'r1', '2026-11-01 00:00:00', 3)"))
    assert upgrade(early) == ("0008", head_revision())
    with early.connect() as c:
        assert c.execute(text("SELECT name, holder, runs FROM job_lease")).all() == [("refresh", "r1", 3)]
    early.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_order_lines_sku_and_product_are_one_key_from_0010(backend: str, tmp_path: Path) -> None:
    """0010 swaps a line's two foreign keys (product, sku) for one on (sku_id, product_id): a store at 0009 keeps
    its lines; then a line whose product is not its SKU's, a SKU that does not exist and a product without a SKU
    are refused on both backends; a line with neither is taken; and 0010 goes down and up again."""
    from alembic import command
    from sqlalchemy.exc import IntegrityError

    from storage.migrate import _config
    from tests.conftest import fresh_engine

    eng = fresh_engine(backend, tmp_path)
    assert upgrade(eng, "0009") == (None, "0009")
    with Session(eng) as s:
        _, _, shop, _, _ = _org(s)
        lamp, fan = Product(shop_id=shop.id, platform_product_id="P1", name="Lamp"), \
            Product(shop_id=shop.id, platform_product_id="P2", name="Fan")
        s.add_all([lamp, fan])
        s.flush()
        lamp_sku = Sku(product_id=lamp.id or 0, platform_sku_id="S1", name="Lamp", currency="IDR")
        s.add(lamp_sku)
        s.flush()
        # SQL, not the model: the model's later columns (0014's credit_rule) are not there at 0009
        order_id = s.execute(text(
            "INSERT INTO shop_order (shop_id, platform_order_id, status, currency, subtotal_minor, discount_minor, "
            "merchandise_minor, shipping_minor, tax_minor, total_minor, refunded_minor, units, created_at, "
            "attribution_due, is_sample) VALUES (:shop, 'O1', 'COMPLETED', 'IDR', 0, 0, 0, 0, 0, 0, 0, 1, :at, "
            "false, false) RETURNING id"), {"shop": shop.id, "at": T0}).scalar_one()
        ids = {"order": order_id, "lamp": lamp.id, "fan": fan.id, "sku": lamp_sku.id}
        s.execute(text("INSERT INTO order_line (order_id, platform_line_id, product_id, sku_id, quantity, currency, "
                       "unit_price_minor, amount_minor) VALUES (:order, 'L1', :lamp, :sku, 1, 'IDR', 500, 500)"), ids)
        s.commit()

    assert upgrade(eng) == ("0009", head_revision())
    line = "INSERT INTO order_line (order_id, platform_line_id, product_id, sku_id, quantity, currency, " \
           "unit_price_minor, amount_minor) VALUES (:order, :line, :product, :sku, 1, 'IDR', 500, 500)"
    refused = {"L2": (ids["fan"], ids["sku"]),       # the SKU is the lamp's, the product the fan
               "L3": (ids["lamp"], 999),             # no such SKU
               "L4": (ids["lamp"], None)}            # a product without its SKU
    for line_id, (product, sku) in refused.items():
        with pytest.raises(IntegrityError), eng.begin() as c:
            c.execute(text(line), {**ids, "line": line_id, "product": product, "sku": sku})
    with eng.begin() as c:
        c.execute(text(line), {**ids, "line": "L5", "product": None, "sku": None})
        c.execute(text(line), {**ids, "line": "L6", "product": ids["lamp"], "sku": ids["sku"]})
    cfg = _config(eng)
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
    with eng.begin() as c:   # the two keys of 0001 again: the mismatch is let through
        c.execute(text("DELETE FROM order_line WHERE platform_line_id = 'L5'"))
        c.execute(text(line), {**ids, "line": "L2", "product": ids["fan"], "sku": ids["sku"]})
        c.execute(text("DELETE FROM order_line WHERE platform_line_id = 'L2'"))
    assert upgrade(eng) == ("0009", head_revision())
    with eng.connect() as c:
        assert c.execute(text("SELECT platform_line_id, product_id, sku_id FROM order_line ORDER BY 1")).all() == [
            ("L1", ids["lamp"], ids["sku"]), ("L6", ids["lamp"], ids["sku"])]
    with pytest.raises(IntegrityError), eng.begin() as c:
        c.execute(text(line), {**ids, "line": "L2", "product": ids["fan"], "sku": ids["sku"]})
    eng.dispose()


OLD_IDS = "SELECT code, feishu_open_id, feishu_union_id, dingtalk_staff_id FROM member ORDER BY id"


def _store_at_0011(backend: str, tmp_path: Path) -> tuple[Engine, dict[str, int]]:
    """A store at 0011 whose members h and h2 have their ids in the member columns, and a target of h's."""
    from tests.conftest import fresh_engine

    eng = fresh_engine(backend, tmp_path)
    assert upgrade(eng, "0011") == (None, "0011")
    with Session(eng) as s:
        org, _, _, host, other = _org(s)
        s.add(Member(org_id=org.id, code="h3", name="Three", role="host", timezone="UTC", locale="en"))
        s.add(Target(org_id=org.id, scope="member", subject=f"member:{host.id}", member_id=host.id,
                     period="2026-11", metric_key="orders", value=Decimal(9)))
        s.commit()
        ids = {"org": org.id or 0, "h": host.id or 0, "h2": other.id or 0}
        s.execute(text("UPDATE member SET feishu_open_id = 'ou_h', feishu_union_id = 'on_h', "
                       "dingtalk_staff_id = '0042' WHERE code = 'h'"))
        s.execute(text("UPDATE member SET feishu_open_id = 'ou_h2', dingtalk_staff_id = '' WHERE code = 'h2'"))
        s.commit()
    return eng, ids


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_0012_moves_member_ids_to_member_identity_and_back(backend: str, tmp_path: Path) -> None:
    """Every id in the member columns becomes its row (an empty one is no binding), the columns and their unique
    constraints go, and the members keep their ids and what refers to them; the downgrade puts the columns back
    with the same values, unique again, and 0012 goes up again."""
    from alembic import command

    from storage.migrate import _config

    eng, ids = _store_at_0011(backend, tmp_path)
    assert upgrade(eng) == ("0011", head_revision())
    with eng.connect() as c:
        assert c.execute(text("SELECT org_id, member_id, platform, kind, platform_user_id FROM member_identity "
                              "ORDER BY id")).all() == [
            (ids["org"], ids["h"], "feishu", "primary", "ou_h"), (ids["org"], ids["h"], "feishu", "alias", "on_h"),
            (ids["org"], ids["h"], "dingtalk", "primary", "0042"),
            (ids["org"], ids["h2"], "feishu", "primary", "ou_h2")]
        assert c.execute(text("SELECT m.code FROM target t JOIN member m ON m.id = t.member_id")).all() == [("h",)]
        if backend == "sqlite":
            assert c.execute(text("PRAGMA foreign_key_check")).all() == []
    assert {"feishu_open_id", "feishu_union_id", "dingtalk_staff_id"} & \
        {col["name"] for col in inspect(eng).get_columns("member")} == set()
    with Session(eng) as s:
        assert [member_for(s, "feishu", i).code for i in ("ou_h", "on_h", "ou_h2")] == ["h", "h", "h2"]  # type: ignore[union-attr]
        assert member_for(s, "dingtalk", "0042").code == "h"  # type: ignore[union-attr]

    cfg = _config(eng)
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
    assert "member_identity" not in inspect(eng).get_table_names()
    with eng.connect() as c:
        assert c.execute(text(OLD_IDS)).all() == [("h", "ou_h", "on_h", "0042"), ("h2", "ou_h2", None, None),
                                                  ("h3", None, None, None)]
        assert c.execute(text("SELECT m.code FROM target t JOIN member m ON m.id = t.member_id")).all() == [("h",)]
    for column, value in (("feishu_open_id", "ou_h"), ("dingtalk_staff_id", "0042")):
        with pytest.raises(IntegrityError), eng.begin() as c:
            c.execute(text(f"UPDATE member SET {column} = '{value}' WHERE code = 'h3'"))
    assert upgrade(eng) == ("0011", head_revision())
    with eng.connect() as c:
        assert c.execute(text("SELECT count(*) FROM member_identity")).scalar_one() == 4
    eng.dispose()


def test_0012_refuses_two_members_with_one_id(tmp_path: Path) -> None:
    """Union ids had no unique constraint: two members sharing one stop the upgrade, which names them."""
    eng, ids = _store_at_0011("sqlite", tmp_path)
    with eng.begin() as c:
        c.execute(text("UPDATE member SET feishu_union_id = 'on_h' WHERE code = 'h2'"))
    with pytest.raises(RuntimeError, match=f"^an id must belong to one member; unbind one of each pair first: "
                                           f"members {ids['h']} and {ids['h2']} both have feishu id on_h$"):
        upgrade(eng)
    with eng.connect() as c:
        assert c.execute(text(OLD_IDS)).all() == [("h", "ou_h", "on_h", "0042"), ("h2", "ou_h2", "on_h", ""),
                                                  ("h3", None, None, None)]
    with eng.begin() as c:   # nothing of the failed upgrade is left behind: once fixed, it goes through
        c.execute(text("UPDATE member SET feishu_union_id = NULL WHERE code = 'h2'"))
    assert upgrade(eng) == ("0011", head_revision())
    eng.dispose()


def test_only_credited_orders_are_in_the_member_and_creator_indexes_and_lookups_use_them(engine: Engine) -> None:
    """0011: the indexes on shop_order.member_id and creator_id hold credited orders only, and a look-up of one
    member's or creator's orders still goes through them on both backends."""
    postgres = engine.dialect.name == "postgresql"
    with Session(engine) as s:
        _, _, shop, host, _ = _org(s)
        s.add_all([Order(shop_id=shop.id, platform_order_id=f"O{i}", status="COMPLETED", currency="IDR", units=1,
                         created_at=T0, member_id=host.id if i % 10 == 0 else None) for i in range(200)])
        s.commit()
        member_id = host.id
    with engine.connect() as c:
        if postgres:
            c.execute(text("ANALYZE shop_order"))
            c.execute(text("SET enable_seqscan TO off"))   # a 200-row table is read whole otherwise
            defs = {n: d for n, d in c.execute(text("SELECT indexname, indexdef FROM pg_indexes "
                                                   "WHERE tablename = 'shop_order'"))}
            explain = "EXPLAIN "
        else:
            defs = {n: d for n, d in c.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                                   "AND tbl_name = 'shop_order' AND sql IS NOT NULL"))}
            explain = "EXPLAIN QUERY PLAN "
        for column in ("member_id", "creator_id"):
            index = f"ix_shop_order_{column}"
            assert f"WHERE ({column} IS NOT NULL)" in defs[index] if postgres else \
                f"WHERE {column} IS NOT NULL" in defs[index]
            plan = " ".join(str(row[-1]) for row in c.execute(
                text(f"{explain}SELECT id FROM shop_order WHERE {column} = :who"), {"who": member_id}))
            assert index in plan, plan
        found = c.execute(text("SELECT count(*) FROM shop_order WHERE member_id = :who"), {"who": member_id})
        assert found.scalar_one() == 20


def test_an_event_is_claimed_once_also_by_concurrent_workers(engine: Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from storage.events import claim

    assert claim(engine, "dingtalk", "frame-1", "msg-1") is True
    assert claim(engine, "dingtalk", "frame-2", "msg-1") is False      # same message in a new frame
    assert claim(engine, "dingtalk", "frame-1", None) is False         # same frame
    assert claim(engine, "feishu", "frame-1") is True                  # ids are per platform
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: claim(engine, "feishu", "ev-race", "om-race"), range(16)))
    assert results.count(True) == 1
    with Session(engine) as session:
        rows = session.execute(select(ProcessedEvent.event_id).where(ProcessedEvent.platform == "dingtalk")).all()
    assert sorted(r[0] for r in rows) == ["frame-1", "msg-1"]          # a refused claim leaves nothing behind
    with pytest.raises(ValueError, match="at least one id"):
        claim(engine, "dingtalk", None)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_0013_versions_templates_from_the_beginning_and_back(backend: str, tmp_path: Path) -> None:
    """Templates stored before 0013 take effect from the beginning and keep their metrics; a name may then
    have a version per month; the downgrade keeps each name's first version (and its metrics) only."""
    from alembic import command

    from storage.migrate import _config
    from tests.conftest import fresh_engine

    eng = fresh_engine(backend, tmp_path)
    assert upgrade(eng, "0012") == (None, "0012")
    with Session(eng) as s:
        org, *_ = _org(s)
        s.commit()
        org_id = org.id
    with eng.begin() as c:
        c.execute(text("INSERT INTO kpi_template (org_id, name, role, stage, trial, active) "
                       "VALUES (:o, 'host', 'host', NULL, false, true)"), {"o": org_id})
        c.execute(text("INSERT INTO kpi_template_metric (template_id, metric_key, weight, position) "
                       "SELECT id, 'orders', '100', 0 FROM kpi_template"))
    assert upgrade(eng) == ("0012", head_revision())
    with eng.begin() as c:
        assert c.execute(text("SELECT t.name, t.effective_from, t.achievement_cap, t.grade_bands, m.metric_key "
                              "FROM kpi_template t JOIN kpi_template_metric m ON m.template_id = t.id")).all() == [
            ("host", "0001-01", None, None, "orders")]
        c.execute(text("INSERT INTO kpi_template (org_id, name, role, trial, active, effective_from) "
                       "VALUES (:o, 'host', 'host', false, true, '2026-12')"), {"o": org_id})
        c.execute(text("INSERT INTO kpi_template_metric (template_id, metric_key, weight, position) "
                       "SELECT id, 'net_gmv', '100', 0 FROM kpi_template WHERE effective_from = '2026-12'"))
        if backend == "sqlite":
            assert c.execute(text("PRAGMA foreign_key_check")).all() == []
    with pytest.raises(IntegrityError), eng.begin() as c:
        c.execute(text("INSERT INTO kpi_template (org_id, name, role, trial, active, effective_from) "
                       "VALUES (:o, 'host', 'host', false, true, '2026-12')"), {"o": org_id})

    cfg = _config(eng)
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012")
    with eng.connect() as c:
        assert c.execute(text("SELECT t.name, m.metric_key FROM kpi_template t "
                              "JOIN kpi_template_metric m ON m.template_id = t.id")).all() == [("host", "orders")]
    assert "effective_from" not in {col["name"] for col in inspect(eng).get_columns("kpi_template")}
    assert upgrade(eng) == ("0012", head_revision())
    eng.dispose()


def _physical_keys(engine: Engine) -> dict[str, str]:
    """What compare_metadata does not see: each order-sum table's key and indexes as the backend stores them
    (PostgreSQL's INCLUDE columns; SQLite's WITHOUT ROWID and index columns)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(text(
                "SELECT c.relname || '.' || i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid "
                "WHERE c.relname LIKE 'order%' OR c.relname = 'shop_order'")).all()
            return {name: " ".join(sql.split()) for name, sql in rows}
        got = {}
        for table, sql in conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND "
                                            "(name LIKE 'order%' OR name = 'shop_order')")).all():
            got[table] = "WITHOUT ROWID" if "WITHOUT ROWID" in sql.upper() else "rowid"
            for index in conn.execute(text(f"PRAGMA index_list('{table}')")).all():
                columns = [r[2] for r in conn.execute(text(f"PRAGMA index_info('{index[1]}')")).all()]
                got[f"{table}.{index[1] if not index[1].startswith('sqlite_autoindex') else 'key'}"] = \
                    ",".join(columns)
        return got


def test_the_migrated_keys_and_indexes_are_the_models_where_compare_metadata_cannot_tell(
        engine: Engine, tmp_path: Path) -> None:
    """Migrations 0035 and 0036 build keys that alembic's comparison does not look into: the hour totals' and
    order_shape_sum's PostgreSQL keys INCLUDE their figures, the totals are WITHOUT ROWID on SQLite, the orders'
    time indexes carry shop and member. The migrated store has them as storage.models declares (from review)."""
    (tmp_path / "d").mkdir()
    declared = fresh_engine("sqlite" if engine.dialect.name == "sqlite" else "postgres", tmp_path / "d")
    SQLModel.metadata.create_all(declared)
    try:
        migrated, models = _physical_keys(engine), _physical_keys(declared)
    finally:
        declared.dispose()
    assert migrated == models
    totals = {k: v for k, v in migrated.items() if "hour_total" in k}
    if engine.dialect.name == "postgresql":
        assert "INCLUDE (gross_minor, orders, value_minor, refunded_minor, units, returned_units, " \
               "last_effect_hour)" in totals["order_member_hour_total.order_member_hour_total_pkey"]
    else:
        assert totals["order_member_hour_total"] == "WITHOUT ROWID"

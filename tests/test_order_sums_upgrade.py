"""A store at migration 0032 or 0034 under code that folds the hour sums (added by 0033) and the hour totals (0035):
its changed orders stay due (reads take them one by one) and commit; the upgrade to 0035 folds them, so the hour
sums and totals equal a rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from storage.engine import make_engine
from storage.migrate import upgrade
from storage.models import Member, Order
from storage.order_sums import rebuild
from tests.conftest import a_shop, org_and_team
from tests.order_sums_world import sum_tables, sum_tables_agree


@pytest.mark.parametrize("at", ["0032", "0034"])
def test_orders_changed_before_0035_are_due_until_0035_folds_them(tmp_path: Path, at: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kpibot.db'}")
    upgrade(engine, at)
    paid = datetime(2026, 1, 1, 10, 20, tzinfo=UTC)
    with Session(engine) as s:
        org, team = org_and_team(s)
        shop = a_shop(s, org, team, "IDR", platform="shopee", region="ID")
        host = Member(org_id=org.id, team_id=team.id, code="h", name="H", role="host", timezone="UTC", locale="en")
        s.add(host)
        s.flush()
        s.add(Order(shop_id=shop.id, platform_order_id="1", status="paid", currency="IDR", subtotal_minor=100,
                    merchandise_minor=100, total_minor=100, units=1, created_at=paid, paid_at=paid))
        s.add(Order(shop_id=shop.id, platform_order_id="2", status="paid", currency="IDR", subtotal_minor=50,
                    merchandise_minor=50, total_minor=50, units=1, created_at=paid, paid_at=paid, member_id=host.id))
        s.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM order_sum_due")).scalar_one() == 2
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM order_sum_due")).scalar_one() == 0
        hours = conn.execute(text("SELECT moment_hour, gross_minor, orders FROM order_hour_sum")).all()
        totals = [conn.execute(text(f"SELECT moment_hour, gross_minor, orders, steps, last_effect_hour FROM {t}"))
                  .all() for t in ("order_member_hour_total", "order_shop_hour_total")]
    hour = int(paid.timestamp()) // 3600
    assert sorted(hours) == [(hour, 50, 1), (hour, 100, 1)]   # credited to the host; to nobody
    # a member's totals hold credited orders only; the shop's hold both
    assert totals == [[(hour, 50, 1, 1, hour)], [(hour, 150, 2, 2, hour)]]
    with engine.connect() as conn:
        kept = sum_tables(conn)
    assert rebuild(engine) == (2, 2)
    with engine.connect() as conn:
        sum_tables_agree(kept, sum_tables(conn))
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT moment_hour, gross_minor, orders FROM order_hour_sum")).all()) == \
            sorted(hours)

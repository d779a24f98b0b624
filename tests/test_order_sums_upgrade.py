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
from storage.models import Order, Shop
from storage.order_sums import rebuild
from tests.conftest import org_and_team


@pytest.mark.parametrize("at", ["0032", "0034"])
def test_orders_changed_before_0035_are_due_until_0035_folds_them(tmp_path: Path, at: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kpibot.db'}")
    upgrade(engine, at)
    paid = datetime(2026, 1, 1, 10, 20, tzinfo=UTC)
    with Session(engine) as s:
        org, team = org_and_team(s)
        shop = Shop(org_id=org.id, team_id=team.id, code="s", name="S", platform="shopee", region="ID",
                    currency="IDR", timezone="UTC")
        s.add(shop)
        s.flush()
        s.add(Order(shop_id=shop.id, platform_order_id="1", status="paid", currency="IDR", subtotal_minor=100,
                    merchandise_minor=100, total_minor=100, units=1, created_at=paid, paid_at=paid))
        s.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM order_sum_due")).scalar_one() == 1
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM order_sum_due")).scalar_one() == 0
        hours = conn.execute(text("SELECT moment_hour, gross_minor, orders FROM order_hour_sum")).all()
        totals = [conn.execute(text(f"SELECT moment_hour, gross_minor, orders, steps, last_effect_hour FROM {t}"))
                  .all() for t in ("order_member_hour_total", "order_shop_hour_total")]
    hour = int(paid.timestamp()) // 3600
    assert hours == [(hour, 100, 1)]
    assert totals == [[(hour, 100, 1, 1, hour)]] * 2
    assert rebuild(engine) == (1, 1)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT moment_hour, gross_minor, orders FROM order_hour_sum")).all() == hours

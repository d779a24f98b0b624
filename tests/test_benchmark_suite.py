"""The benchmark suite's generator at tiny scale: the counts its seed gives, so that it cannot rot unseen."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from storage.engine import make_engine
from storage.migrate import upgrade
from tests.benchmarks.org_gen import build


def test_org_gen_writes_what_its_seed_says(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gen.db'}")
    upgrade(engine)
    summary = build(engine, orders=2000, members=30, shops=4, seed=24)
    with engine.connect() as conn:
        def count(sql: str) -> int:
            return int(conn.execute(text(sql)).scalar_one())

        assert count("SELECT COUNT(*) FROM shop_order") == summary.orders == 2000
        assert count("SELECT COUNT(*) FROM order_line") == 2000
        assert count("SELECT COUNT(*) FROM member") == summary.members == 30
        assert count("SELECT COUNT(*) FROM team") == summary.teams == 3
        assert count("SELECT COUNT(*) FROM shop") == summary.shops == 4
        assert count("SELECT COUNT(DISTINCT currency) FROM shop") == 3
        assert count("SELECT COUNT(*) FROM member WHERE role = 'host'") == 15
        assert count("SELECT COUNT(*) FROM member WHERE role = 'lead'") == 3
        assert count("SELECT COUNT(*) FROM refund") == summary.refunds
        assert count("SELECT COUNT(*) FROM shop_order WHERE member_id IS NOT NULL") == SEEDED_CREDITED
        assert count("SELECT COUNT(*) FROM refund") == SEEDED_REFUNDS
        assert count("SELECT COUNT(*) FROM target") == SEEDED_TARGETS
        assert count("SELECT COUNT(*) FROM member_identity") == 60


SEEDED_CREDITED = 1390   # ~70 % of 2000, as seed 24 draws them
SEEDED_REFUNDS = 133     # refund rows: ~6.5 % of paid orders, some in two parts
SEEDED_TARGETS = 414     # each member's template metrics and each team's, for the three months

"""The benchmark suite at tiny scale: its generator gives the counts its seed says, and a run is judged against a
baseline run's figures as the scale goal says, so that neither can rot unseen."""

from __future__ import annotations

import json
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


def test_the_suite_judges_each_figure_against_a_baseline_run(tmp_path: Path) -> None:
    """--baseline: one row per figure both runs have, its ratio judged against the scale goal (1.5x)."""
    from tests.benchmarks.suite import Table, against_baseline

    table = Table()
    table.figure("refresh s", 3.0)
    table.figure("/mykpi cold p99 ms", 200.0)
    table.figure("only here", 1.0)
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"orders": 1_000_000, "store": "sqlite", "speed_check_s": 0.5,
                                "figures": {"refresh s": 2.0, "/mykpi cold p99 ms": 100.0, "only there": 1.0}}))
    against_baseline(table, 10_000_000, str(path))
    rows = {r.measure: (r.value, r.goal, r.ok) for r in table.rows}
    assert rows == {
        "baseline": (f"{path}: 1,000,000 orders, speed check 0.50 s; this run 10,000,000 orders (10x the orders)",
                     "", None),
        "scale: refresh s": ("3.00 against 2.00: 1.50x", "<= 1.5x baseline", True),
        "scale: /mykpi cold p99 ms": ("200.00 against 100.00: 2.00x", "<= 1.5x baseline", False),
    }

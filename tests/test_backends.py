"""The same demo organisation scores to the same digits on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.kpi_report import kpi_report
from scoring.periods import month_window
from scoring.rules import Rules
from services.scorecards import Inputs, score_member
from storage.demo import seed_demo
from storage.migrate import upgrade
from storage.queries import active_members, team_of
from tests.conftest import DEMO_NOW, DEMO_TODAY, fresh_engine

TOTALS = ("SELECT s.code, COUNT(o.id), SUM(o.merchandise_minor), SUM(o.refunded_minor) FROM shop s "
          "JOIN shop_order o ON o.shop_id = s.id GROUP BY s.code ORDER BY s.code")


def reports(engine: Engine) -> dict[str, dict]:
    with Session(engine) as s:
        inputs = Inputs.load(s, Rules(), DEMO_NOW)
        out = {}
        for m in active_members(s):
            score = score_member(s, inputs, m, team_of(s, m), month_window(2026, 11, m.timezone))
            out[m.code] = kpi_report(m, score.scorecard, "2026-11", "USD", score.template)
        return out


@pytest.mark.postgres
def test_postgres_matches_sqlite(demo_engine: Engine, tmp_path: Path) -> None:
    pg = fresh_engine("postgres", tmp_path)
    upgrade(pg)
    with Session(pg) as s:
        seed_demo(s, DEMO_TODAY)
        s.commit()
    with pg.connect() as a, demo_engine.connect() as b:
        pg_totals = [tuple(int(v) if not isinstance(v, str) else v for v in r) for r in a.execute(text(TOTALS))]
        assert pg_totals == [tuple(r) for r in b.execute(text(TOTALS))]
    expected = reports(demo_engine)
    assert len([r for r in expected.values() if r["score"] is not None]) == 8
    assert reports(pg) == expected
    pg.dispose()

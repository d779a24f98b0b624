"""Lag alerts: a private nudge at 18:00 in the member's zone when behind pace by more than the margin, at
most once a day, never in the quiet hours, with one summary a day to the team's lead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.jobs.alerts import run_lag_alerts
from bot.platforms.feishu import FeishuAdapter
from cards.chart_cache import ChartCache
from scoring.alerts import AlertRules, in_quiet_hours, is_lagging
from scoring.periods import PeriodKind
from scoring.rules import Rules
from services.container import Services
from services.scorecards import Inputs, headline_metric, score_current
from storage.queries import member_by_code, team_of
from tests.conftest import connected_feishu, seeded_demo
from tests.fakes.feishu import FakeFeishu

pytestmark = pytest.mark.wallclock   # reads the system clock: scripts/test-dates.sh moves it


def utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


def test_lagging_needs_the_margin_and_the_day_and_quiet_hours_wrap_midnight() -> None:
    rules = AlertRules(behind_margin=Decimal("0.10"), from_day=5)
    assert is_lagging(Decimal("0.89"), date(2026, 11, 5), rules)
    assert not is_lagging(Decimal("0.90"), date(2026, 11, 5), rules)      # exactly at the margin: not yet
    assert not is_lagging(Decimal("0.50"), date(2026, 11, 4), rules)      # too early in the month
    assert not is_lagging(None, date(2026, 11, 20), rules)                # no target, no pace
    assert in_quiet_hours(time(22, 0), rules) and in_quiet_hours(time(7, 59), rules)
    assert not in_quiet_hours(time(8, 0), rules) and not in_quiet_hours(time(21, 59), rules)
    day_quiet = AlertRules(quiet_start=time(12, 0), quiet_end=time(14, 0))
    assert in_quiet_hours(time(13, 0), day_quiet) and not in_quiet_hours(time(14, 0), day_quiet)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = seeded_demo(tmp_path_factory.mktemp("alerts") / "kpibot.db")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def services(store: Engine) -> Services:
    return Services(store, Rules(), "Asia/Shanghai", "en", ChartCache())


@pytest.fixture(scope="module")
def feishu(store: Engine, services: Services) -> Iterator[tuple[FakeFeishu, FeishuAdapter]]:
    with connected_feishu(store, services) as connected:
        yield connected


@pytest.fixture(autouse=True)
def no_sends(store: Engine) -> None:
    with store.begin() as c:
        c.execute(text("DELETE FROM scheduled_send"))


def to_user(fake: FakeFeishu, open_id: str) -> list[dict]:
    return [m for m in fake.messages if m.get("receive_id") == open_id and m.get("kind") == "create"]


def laggards(services: Services, store: Engine, codes: list[str], now: datetime) -> set[str]:
    """Who the scoring says is behind by more than the margin, for the expected set."""
    behind = set()
    with Session(store) as session:
        inputs = Inputs.load(session, services.rules, now)
        for code in codes:
            member = member_by_code(session, code)
            assert member is not None
            score = score_current(session, inputs, member, team_of(session, member), PeriodKind.MONTH)
            assert score.scorecard is not None and score.template is not None
            pace = score.scorecard.result(headline_metric(score.template)).pace
            if pace is not None and pace < Decimal("0.895"):   # shown as a whole percent below 90 (scoring.pace)
                behind.add(code)
    return behind


def test_shanghai_members_behind_pace_are_nudged_at_their_six_pm_once_and_their_lead_gets_a_summary(
        services: Services, store: Engine, feishu: tuple[FakeFeishu, FeishuAdapter]) -> None:
    fake, adapter = feishu
    shanghai = ["buyer1", "lead1", "operator1", "selector1"]
    before = len(fake.messages)
    assert run_lag_alerts(services, {"feishu": adapter}, utc("2026-11-22T09:59"), "a") == []
    now = utc("2026-11-22T10:00")                      # 18:00 in Shanghai; 02:00 in Los Angeles
    expected = laggards(services, store, shanghai, now)
    assert expected                                     # the demo has people behind
    results = run_lag_alerts(services, {"feishu": adapter}, now, "a")
    nudged = {r.who for r in results if r.kind == "lag_alert"}
    assert nudged == expected and all(r.ok for r in results)
    for code in expected:
        nudges = [m for m in to_user(fake, f"ou_{code}") if "behind pace on" in json_text(m)
                  or "进度落后了" in json_text(m)]
        assert len(nudges) == 1
    summaries = [m for m in fake.messages[before:] if m.get("receive_id") == "ou_lead1" and "今日" in json_text(m)]
    assert len(summaries) == 1                          # lead1 reads Chinese: "…今日 N 人进度落后"
    with Session(store) as session:
        names = {(member_by_code(session, c) or pytest.fail(c)).name for c in expected}
    assert all(name in json_text(summaries[0]) for name in names)
    assert f"今日 {len(expected)} 人进度落后" in json_text(summaries[0])
    # 18:30 in Shanghai, another scheduler: nothing again (17:30 in Jakarta, 02:30 in LA, 10:30 in London)
    assert run_lag_alerts(services, {"feishu": adapter}, utc("2026-11-22T10:30"), "b") == []


def test_no_alert_in_the_quiet_hours(services: Services, store: Engine,
                                     feishu: tuple[FakeFeishu, FeishuAdapter]) -> None:
    fake, adapter = feishu
    before = len(fake.messages)
    # 22:30 in Shanghai: due since 18:00 but quiet; 14:30 in London and 06:30 in Los Angeles: not due yet
    assert run_lag_alerts(services, {"feishu": adapter}, utc("2026-11-21T14:30"), "a") == []
    assert len(fake.messages) == before


def json_text(message: dict) -> str:
    import json
    return json.dumps(message["content"], ensure_ascii=False)

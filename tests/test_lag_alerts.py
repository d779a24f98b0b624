"""Lag alerts: a private nudge at 18:00 in the member's zone when behind pace by more than the margin, at
most once a day, never in the quiet hours, with one summary a day to each of the team's leads, once every
member's day is judged and outside the lead's quiet hours."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.jobs.alerts import Alerted, run_lag_alerts
from bot.platforms.feishu import FeishuAdapter
from cards.chart_cache import ChartCache
from scoring.alerts import AlertRules, allowed_from, in_quiet_hours, is_lagging, summary_due_day, summary_moment
from scoring.pace import Pace, PaceStatus
from scoring.periods import PeriodKind
from scoring.rules import Rules
from services.container import Services
from services.scorecards import Inputs, pace_metric, score_current
from storage.queries import member_by_code, team_of
from storage.schedule import claim_send, finish_send
from storage.targets import Subject, set_target
from tests.conftest import connected_feishu, seeded_demo
from tests.fakes.feishu import FakeFeishu
from tests.recording_messenger import Recorder

pytestmark = pytest.mark.wallclock   # reads the system clock: scripts/test-dates.sh moves it


def utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


def test_lagging_needs_the_margin_and_the_day_and_quiet_hours_wrap_midnight() -> None:
    rules = AlertRules(behind_margin=Decimal("0.10"), from_day=5)
    assert is_lagging(Pace(89, PaceStatus.BEHIND), date(2026, 11, 5), rules)
    assert not is_lagging(Pace(90, PaceStatus.BEHIND), date(2026, 11, 5), rules)   # exactly at the margin: not yet
    assert not is_lagging(Pace(50, PaceStatus.BEHIND), date(2026, 11, 4), rules)   # too early in the month
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
def no_sends(store: Engine, request: pytest.FixtureRequest) -> None:
    with store.begin() as c:
        c.execute(text("DELETE FROM scheduled_send"))
    if "feishu" in request.fixturenames:   # the claims' keys are the messages' uuids: a new case, a new hour
        request.getfixturevalue("feishu")[0].forget_uuids()


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
            pace = score.scorecard.result(pace_metric(score.template)).pace_shown
            if pace is not None and pace.percent is not None and pace.percent < 90:   # shown below 90 %
                behind.add(code)
    return behind


def test_the_team_scoped_roles_in_shanghai_are_not_nudged_about_the_teams_figure(
        services: Services, store: Engine, feishu: tuple[FakeFeishu, FeishuAdapter]) -> None:
    fake, adapter = feishu
    shanghai = ["buyer1", "lead1", "operator1", "selector1"]   # ad buyer, lead, operator, selector: team-scoped
    before = len(fake.messages)
    # 17:59 in Shanghai: no nudge yet (lead2's summary of the 21st, due since 08:00 in Jakarta, goes out now)
    assert [r for r in run_lag_alerts(services, {"feishu": adapter}, utc("2026-11-22T09:59"), "a")
            if r.kind == "lag_alert"] == []
    now = utc("2026-11-22T10:00")                      # 18:00 in Shanghai; 02:00 in Los Angeles
    # against their own targets two of them are behind on the team's net GMV; that one number is the team's, as
    # /team shows it ("Team (shared)"): nobody is nudged about it, their lead's summary carries it once
    assert laggards(services, store, shanghai, now) == {"buyer1", "lead1"}
    results = run_lag_alerts(services, {"feishu": adapter}, now, "a")
    assert [r for r in results if r.kind == "lag_alert"] == []
    assert [m for m in fake.messages[before:] if "behind pace on" in json_text(m) or "进度落后了" in json_text(m)] \
        == []
    # lead1's summary of the 22nd waits for host1's 18:00 in Los Angeles (10:00 on the 23rd in Shanghai)
    assert [(r.who, r.day) for r in results if r.kind == "lag_summary"] == []
    assert [m for m in fake.messages[before:] if "2026-11-22" in json_text(m)] == []
    # 18:30 in Shanghai, another scheduler: nothing again (17:30 in Jakarta, 02:30 in LA, 10:30 in London)
    assert run_lag_alerts(services, {"feishu": adapter}, utc("2026-11-22T10:30"), "b") == []


def test_no_alert_in_the_quiet_hours(services: Services, store: Engine,
                                     feishu: tuple[FakeFeishu, FeishuAdapter]) -> None:
    fake, adapter = feishu
    before = len(fake.messages)
    # 22:30 in Shanghai: due since 18:00 but quiet; 14:30 in London and 06:30 in Los Angeles: not due yet.
    # lead2's summary of the 21st is due (21:30 in Jakarta) but has nobody in it: judged on the team's usual day
    # (scoring.shape: most of its orders come 19:00-22:00), nobody is behind at 18:00
    assert run_lag_alerts(services, {"feishu": adapter}, utc("2026-11-21T14:30"), "a") == []
    assert [m.get("receive_id") for m in fake.messages[before:]] == []


def json_text(message: dict) -> str:
    import json
    return json.dumps(message["content"], ensure_ascii=False)


# --- the lead's summary ---------------------------------------------------------------------------------------

SHANGHAI, LOS_ANGELES = "Asia/Shanghai", "America/Los_Angeles"


def test_the_summary_moment_waits_for_the_latest_zone_and_leaves_the_leads_quiet_hours() -> None:
    six_pm = AlertRules()                                  # 18:00, quiet 22:00-08:00
    # the 21st at 18:00 in Los Angeles (PST, UTC-8) is 02:00Z on the 22nd: 10:00 in Shanghai, not quiet
    assert summary_moment(date(2026, 11, 21), SHANGHAI, [SHANGHAI, LOS_ANGELES], six_pm) == utc("2026-11-22T02:00")
    assert summary_moment(date(2026, 11, 21), SHANGHAI, [SHANGHAI], six_pm) == utc("2026-11-21T10:00")
    half_ten = AlertRules(at=time(10, 30))
    # 10:30 in Los Angeles is 18:30Z, 02:30 in Shanghai: quiet, so 08:00 in Shanghai (00:00Z on the 22nd)
    assert summary_moment(date(2026, 11, 21), SHANGHAI, [SHANGHAI, LOS_ANGELES], half_ten) == utc("2026-11-22T00:00")
    # summer (PDT, UTC-7): 10:30 in Los Angeles is 17:30Z, 01:30 in Shanghai, moved to 08:00 (00:00Z)
    assert summary_moment(date(2026, 7, 1), SHANGHAI, [LOS_ANGELES], half_ten) == utc("2026-07-02T00:00")
    # a moment before the quiet hours end on the same local day moves to that day's end of them
    assert allowed_from(utc("2026-11-21T18:30"), SHANGHAI, half_ten) == utc("2026-11-22T00:00")
    # from 23:00 it moves to the next morning; outside the quiet hours it stays
    assert allowed_from(utc("2026-11-21T15:00"), SHANGHAI, half_ten) == utc("2026-11-22T00:00")
    assert allowed_from(utc("2026-11-21T13:59"), SHANGHAI, half_ten) == utc("2026-11-21T13:59")


def test_the_summary_is_due_from_its_moment_until_the_next_ones_never_in_the_quiet_hours() -> None:
    rules, zones = AlertRules(at=time(10, 30)), [SHANGHAI, LOS_ANGELES]
    assert summary_due_day(utc("2026-11-21T18:30"), SHANGHAI, zones, rules) is None     # 02:30 in Shanghai
    assert summary_due_day(utc("2026-11-21T23:59"), SHANGHAI, zones, rules) is None     # 07:59: still quiet
    assert summary_due_day(utc("2026-11-22T00:00"), SHANGHAI, zones, rules) == date(2026, 11, 21)
    assert summary_due_day(utc("2026-11-22T13:59"), SHANGHAI, zones, rules) == date(2026, 11, 21)  # 21:59
    assert summary_due_day(utc("2026-11-22T14:00"), SHANGHAI, zones, rules) is None     # 22:00: quiet again
    assert summary_due_day(utc("2026-11-23T00:00"), SHANGHAI, zones, rules) == date(2026, 11, 22)


@pytest.fixture(scope="module")
def team_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The demo with host1's (Los Angeles) November net GMV target doubled, so that host1 is behind: half the
    pace of the demo (113.6 % at 18:00 on the 21st in Los Angeles, 115.2 % at 10:30; see laggards)."""
    engine = seeded_demo(tmp_path_factory.mktemp("summary") / "kpibot.db")
    double_host1s_target(engine)
    yield engine
    engine.dispose()


def double_host1s_target(engine: Engine) -> None:
    with Session(engine) as session:
        host1 = member_by_code(session, "host1") or pytest.fail("host1")
        target = session.execute(text("SELECT value FROM target WHERE subject = :s AND period = '2026-11' "
                                      "AND metric_key = 'net_gmv'"), {"s": f"member:{host1.id}"}).scalar_one()
        set_target(session, host1.org_id, Subject("member", member=host1), "2026-11", "net_gmv",
                   Decimal(str(target)) * 2, None)
        session.commit()


@pytest.fixture(scope="module")
def team_feishu(team_store: Engine) -> Iterator[tuple[FakeFeishu, FeishuAdapter]]:
    with connected_feishu(team_store, Services(team_store, Rules(), SHANGHAI, "en", ChartCache())) as connected:
        yield connected


@pytest.fixture(autouse=True)
def no_team_sends(request: pytest.FixtureRequest) -> None:
    if "team_store" in request.fixturenames:
        with request.getfixturevalue("team_store").begin() as c:
            c.execute(text("DELETE FROM scheduled_send"))
    if "team_feishu" in request.fixturenames:   # the claims' keys are the messages' uuids: a new case, a new hour
        request.getfixturevalue("team_feishu")[0].forget_uuids()


def summaries_to_lead1(fake: FakeFeishu, since: int) -> list[str]:
    return [json_text(m) for m in fake.messages[since:] if m.get("receive_id") == "ou_lead1"
            and "人进度落后" in json_text(m)]


def test_lead1s_summary_is_not_sent_at_half_past_two_but_at_eight_in_shanghai_once_with_the_la_member(
        team_store: Engine, team_feishu: tuple[FakeFeishu, FeishuAdapter]) -> None:
    fake, adapter = team_feishu
    services = Services(team_store, Rules(), SHANGHAI, "en", ChartCache(), alerts=AlertRules(at=time(10, 30)))
    run = {"feishu": adapter}
    assert laggards(services, team_store, ["host1"], utc("2026-11-21T18:30")) == {"host1"}
    before = len(fake.messages)
    # the 21st, 10:30 in Los Angeles = 02:30 on the 22nd in Shanghai: host1 is nudged, lead1 is asleep
    assert run_lag_alerts(services, run, utc("2026-11-21T18:30"), "a") == [
        Alerted("lag_alert", "host1", date(2026, 11, 21), True)]
    assert run_lag_alerts(services, run, utc("2026-11-21T23:59"), "b") == []          # 07:59 in Shanghai
    assert summaries_to_lead1(fake, before) == []
    # 08:00 in Shanghai: the end of the quiet hours, the first allowed moment; two replicas run at once
    outcomes: dict[str, list[Alerted]] = {}

    def replica(name: str) -> None:
        outcomes[name] = run_lag_alerts(services, run, utc("2026-11-22T00:00"), name)

    threads = [threading.Thread(target=replica, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes["a"] + outcomes["b"], key=repr) == [
        Alerted("lag_summary", "lead1", date(2026, 11, 21), True)]
    # both every few minutes after: nothing more
    for minute, instance in (("00:00", "b"), ("00:05", "a"), ("00:05", "b"), ("00:10", "a"), ("00:15", "b")):
        assert run_lag_alerts(services, run, utc(f"2026-11-22T{minute}"), instance) == []
    sent = summaries_to_lead1(fake, before)
    assert len(sent) == 1
    # host1 (Los Angeles, 59 % of pace on the team's usual month); the team's own net GMV, which the ad buyer,
    # operator, selector and lead are measured on, is on pace, so none of them is listed (on their own targets
    # lead1 and buyer1 would have been: one number, once, as /team shows it)
    assert "直播一组 Live US/UK：2026-11-21 1 人进度落后" in sent[0]
    assert "每人按其所在时区当天 10\\\\:30 的进度判断" in sent[0]    # ":" escaped in Feishu markdown
    assert "Lin Xiaoyu 林小雨" in sent[0] and "进度 59%（落后）" in sent[0]
    assert "孙丽" not in sent[0] and "陈浩" not in sent[0]
    assert "Emily Carter" not in sent[0] and "赵磊" not in sent[0] and "刘洋" not in sent[0]


def test_lead1s_summary_waits_for_the_los_angeles_members_six_pm(
        team_store: Engine, team_feishu: tuple[FakeFeishu, FeishuAdapter]) -> None:
    fake, adapter = team_feishu
    services = Services(team_store, Rules(), SHANGHAI, "en", ChartCache())     # 18:00, quiet 22:00-08:00
    run = {"feishu": adapter}
    # 10:00 on the 21st in Shanghai: host1's 18:00 on the 20th has passed, so lead1's summary of the 20th goes out
    # (lead2's, due since 18:00 on the 20th in Jakarta, has nobody in it: host2 and the team's figure are on pace)
    assert run_lag_alerts(services, run, utc("2026-11-21T02:00"), "a") == [
        Alerted("lag_alert", "host1", date(2026, 11, 20), True),
        Alerted("lag_summary", "lead1", date(2026, 11, 20), True)]
    before = len(fake.messages)
    # 02:30 on the 22nd in Shanghai (18:30 on the 21st in London: host3 is at 94 %, not nudged): nothing
    assert run_lag_alerts(services, run, utc("2026-11-21T18:30"), "a") == []
    assert run_lag_alerts(services, run, utc("2026-11-22T00:00"), "a") == []    # 08:00 Shanghai, 16:00 in LA
    # 08:00 in Jakarta: lead2's summary of the 21st would go out at the end of the quiet hours, but nobody in
    # lead2's team is behind at 18:00 on the 21st on the team's usual day (scoring.shape)
    assert run_lag_alerts(services, run, utc("2026-11-22T01:00"), "b") == []
    assert run_lag_alerts(services, run, utc("2026-11-22T01:59"), "a") == []
    # 18:00 on the 21st in Los Angeles, 10:00 on the 22nd in Shanghai: host1's nudge, then lead1's summary
    assert run_lag_alerts(services, run, utc("2026-11-22T02:00"), "b") == [
        Alerted("lag_alert", "host1", date(2026, 11, 21), True),
        Alerted("lag_summary", "lead1", date(2026, 11, 21), True)]
    assert run_lag_alerts(services, run, utc("2026-11-22T02:03"), "a") == []
    sent = summaries_to_lead1(fake, before)
    assert len(sent) == 1
    # host1 58 % (on the team's Los Angeles month and its usual month, scoring.shape); the team's own figure is on
    # pace, so the team-scoped lead1 and buyer1 (77 % and 83 % on their own targets) are not listed
    assert "直播一组 Live US/UK：2026-11-21 1 人进度落后" in sent[0]
    assert "Lin Xiaoyu 林小雨" in sent[0] and "进度 58%（落后）" in sent[0]
    assert "Emily Carter" not in sent[0] and "孙丽" not in sent[0] and "陈浩" not in sent[0]


def test_a_summary_sent_under_the_old_per_team_claim_is_not_sent_again(tmp_path: Path) -> None:
    """Before summaries were claimed per lead they were claimed per team ("team:<id>") for the same day: a
    deployment in the middle of a day must not send that day's summary twice."""
    engine = seeded_demo(tmp_path / "kpibot.db")
    double_host1s_target(engine)
    services = Services(engine, Rules(), SHANGHAI, "en", ChartCache())
    at = utc("2026-11-21T02:00")   # lead1's summary of the 20th is due, host1 behind in it (as in the test above)
    with Session(engine) as session:
        lead1 = member_by_code(session, "lead1") or pytest.fail("lead1")
        team_id = lead1.team_id
    assert claim_send(engine, "lag_summary", f"team:{team_id}", date(2026, 11, 20), "old", at)
    finish_send(engine, "lag_summary", f"team:{team_id}", date(2026, 11, 20), "old", at, None)
    sent = run_lag_alerts(services, {"feishu": Recorder("feishu")}, at, "new")
    assert [(a.kind, a.who) for a in sent] == [("lag_alert", "host1")]   # host1 nudged; lead1's summary not again
    engine.dispose()

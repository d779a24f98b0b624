"""The pace shape (scoring.shape) and fair early-period scoring, against figures computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from bot.dispatch import Incoming
from cards.model import Fields, Note
from scoring.facts import Activity, LiveFact, OrderFact
from scoring.fx import FxTable
from scoring.metrics import CATALOG, Context
from scoring.periods import PeriodKind, Window, month_window
from scoring.rules import Rules
from scoring.score import LeftOut, achievement, score_metric, scorecard
from scoring.shape import PaceShape, day_share, expected_share, learn_shape, moment_reaching
from scoring.templates import Role, Template, WeightedMetric
from tests.conftest import dispatcher_for

D = Decimal
SH = ZoneInfo("Asia/Shanghai")
EVENING = PaceShape(tuple(D(1) if h == 20 else D(0) for h in range(24)), tuple([D(1) / 7] * 7))
UNIFORM_HOURS = tuple([D(1) / 24] * 24)


def q(value: Decimal) -> Decimal:
    """To 20 places: thirds and sevenths do not divide exactly in Decimal."""
    return value.quantize(D("1e-20"))


def history(days: int, evening: int, morning: int) -> list[datetime]:
    """`days` local days from Mon 2 Nov 2026 in Shanghai, each with `evening` orders at 20:xx and `morning` at
    10:xx."""
    moments = []
    for i in range(days):
        day = date(2026, 11, 2) + timedelta(days=i)
        moments += [datetime(day.year, day.month, day.day, 20, n, tzinfo=SH) for n in range(evening)]
        moments += [datetime(day.year, day.month, day.day, 10, n, tzinfo=SH) for n in range(morning)]
    return moments


def test_a_shape_is_learned_from_the_teams_own_orders() -> None:
    # 14 days x (6 evening + 2 morning) = 112 orders: 84/112 = 0.75 at 20h, 28/112 = 0.25 at 10h; each weekday
    # twice: 16/112 = 1/7
    shape = learn_shape(history(14, 6, 2), "Asia/Shanghai")
    assert shape is not None
    assert shape.hours[20] == D("0.75") and shape.hours[10] == D("0.25") and shape.hours[9] == 0
    assert shape.weekdays == tuple([D(16) / 112] * 7)
    day = Window(PeriodKind.DAY, date(2026, 12, 1), date(2026, 12, 1), "Asia/Shanghai")
    assert expected_share(day, datetime(2026, 12, 1, 9, 23, tzinfo=SH), shape) == 0
    assert expected_share(day, datetime(2026, 12, 1, 10, 30, tzinfo=SH), shape) == D("0.125")   # 0.25 x half
    assert expected_share(day, datetime(2026, 12, 1, 21, 0, tzinfo=SH), shape) == 1


def test_too_thin_a_history_falls_back_to_clock_time() -> None:
    assert learn_shape(history(14, 5, 2)[:99], "Asia/Shanghai") is None     # 99 orders
    assert learn_shape(history(13, 8, 0), "Asia/Shanghai") is None          # 104 orders on 13 days
    day = Window(PeriodKind.DAY, date(2026, 12, 1), date(2026, 12, 1), "Asia/Shanghai")
    assert expected_share(day, datetime(2026, 12, 1, 6, tzinfo=SH), None) == D("0.25")


def test_a_week_and_a_month_weigh_their_days_by_weekday() -> None:
    weekend = PaceShape(EVENING.hours, (D(0), D(0), D(0), D(0), D(0), D("0.5"), D("0.5")))
    week = Window(PeriodKind.WEEK, date(2026, 11, 30), date(2026, 12, 6), "Asia/Shanghai")
    assert expected_share(week, datetime(2026, 12, 4, 23, tzinfo=SH), weekend) == 0          # Friday night
    assert expected_share(week, datetime(2026, 12, 5, 20, 30, tzinfo=SH), weekend) == D("0.25")   # Sat half
    sundays = PaceShape(EVENING.hours, (D(0),) * 6 + (D(1),))
    month = month_window(2026, 11, "Asia/Shanghai")   # Sundays 1, 8, 15, 22, 29: 1/5 each
    assert expected_share(month, datetime(2026, 11, 8, 20, 30, tzinfo=SH), sundays) == D("0.3")  # (1 + 0.5) / 5
    flat = PaceShape(EVENING.hours, tuple([D(1) / 7] * 7))
    assert q(expected_share(month, datetime(2026, 11, 3, 20, 30, tzinfo=SH), flat)) == q(D("2.5") / 30)


def test_daylight_saving_days_still_sum_to_one() -> None:
    la = ZoneInfo("America/Los_Angeles")
    flat = PaceShape(UNIFORM_HOURS, tuple([D(1) / 7] * 7))
    spring = date(2026, 3, 8)     # 23 hours, 02:00 does not exist: each real hour 1/23
    assert q(day_share(spring, datetime(2026, 3, 8, 3, tzinfo=la), la, flat)) == q(D(2) / 23)
    assert q(day_share(spring, datetime(2026, 3, 9, 0, tzinfo=la), la, flat)) == 1
    autumn = date(2026, 11, 1)    # 25 hours, 01:00 lived twice: 1/48 each time, every other hour 1/24
    assert q(day_share(autumn, datetime(2026, 11, 1, 2, tzinfo=la), la, flat)) == q(D(1) / 12)
    assert q(day_share(autumn, datetime(2026, 11, 2, 0, tzinfo=la), la, flat)) == 1


def test_the_moment_a_share_is_reached() -> None:
    day = Window(PeriodKind.DAY, date(2026, 12, 1), date(2026, 12, 1), "Asia/Shanghai")
    assert moment_reaching(day, D("0.1"), EVENING) == datetime(2026, 12, 1, 20, 6, tzinfo=SH)   # 6 of 60 minutes
    month = month_window(2026, 11, "Asia/Shanghai")
    assert moment_reaching(month, D("0.1"), None) == datetime(2026, 11, 4, tzinfo=SH)        # 3 of 30 days


HOST = Template("host", Role.HOST, (WeightedMetric("net_gmv", D(50)), WeightedMetric("gmv_per_live", D(50))))
TARGETS = {"net_gmv": {(2026, 11): D(30000), (2026, 12): D(31000)},
           "gmv_per_live": {(2026, 11): D(1000), (2026, 12): D(1000)}}


def paid(oid: int, amount: str, moment: datetime) -> OrderFact:
    return OrderFact(oid, "USD", D(amount), 1, moment, moment, None, None, ())


def test_at_00_10_on_the_1st_there_is_no_score_no_grade_and_nothing_behind() -> None:
    month = month_window(2026, 12, "Asia/Shanghai")
    now = datetime(2026, 12, 1, 0, 10, tzinfo=SH)
    card = scorecard(HOST, Activity(), Context(month, now, Rules(), FxTable([])), TARGETS, False)
    assert (card.score, card.grade) == (None, None)
    # linear fallback: 10 % of 31 days = 3.1 days: 4 Dec 02:24
    assert card.first_score_at == datetime(2026, 12, 4, 2, 24, tzinfo=SH)
    assert [r.left_out for r in card.results] == [LeftOut.NOT_YET, LeftOut.NOT_YET]


def test_an_evening_streamer_at_09_23_is_not_behind() -> None:
    day = Window(PeriodKind.DAY, date(2026, 12, 2), date(2026, 12, 2), "Asia/Shanghai")
    now = datetime(2026, 12, 2, 9, 23, tzinfo=SH)
    card = scorecard(HOST, Activity(), Context(day, now, Rules(), FxTable([]), EVENING), TARGETS, False)
    assert (card.score, card.grade, card.first_score_at) == (None, None, datetime(2026, 12, 2, 20, 6, tzinfo=SH))
    assert [r.left_out for r in card.results] == [LeftOut.NOT_YET, LeftOut.NOT_YET]
    # at 20:30 half the evening has passed: 1000 expected of the day's 31000 / 31 = 1000 target x 0.5 = 500
    live = LiveFact(datetime(2026, 12, 2, 20, tzinfo=SH), datetime(2026, 12, 2, 20, 25, tzinfo=SH), "USD", D(450),
                    100, 100, 0, 0, 0)
    later = datetime(2026, 12, 2, 20, 30, tzinfo=SH)
    card = scorecard(HOST, Activity(orders=(paid(1, "450", datetime(2026, 12, 2, 20, 10, tzinfo=SH)),),
                                    lives=(live,)),
                     Context(day, later, Rules(), FxTable([]), EVENING), TARGETS, False)
    net = card.result("net_gmv")
    assert (net.expected, net.pace_shown.percent if net.pace_shown else None) == (D(500), 90)
    # net 450 / 500 = 0.9; GMV per live 450 / 1000 = 0.45: (0.9 + 0.45) / 2 = 67.5
    assert (card.score, card.first_score_at) == (D("67.5"), None)


def test_mykpi_at_00_10_on_the_1st_says_not_scored_yet(demo_engine: Engine) -> None:
    now = datetime(2026, 11, 1, 7, 10, tzinfo=UTC)      # 00:10 on 1 Nov in Los Angeles, host1's zone
    card = dispatcher_for(demo_engine, now=now).handle_message(Incoming("console", "host1", "/mykpi month"))
    assert card is not None
    f = {k: v for b in card.blocks if isinstance(b, Fields) for k, v in b.items}
    assert (f["Score"], f["Grade"], f["Rank in team"]) == ("—", "—", "—")
    assert f["Month-end forecast · Net GMV"] == "not yet (under 10% of the month's usual activity)"
    notes = [b.text for b in card.blocks if isinstance(b, Note)]
    # the level metrics (GMV per live, watch time, interaction rate: 50 of the 90 targeted weight) wait for a live
    # session, so the first score comes with one, at the latest once half the team's usual month has passed
    # (LEVEL_WAIT_SHARE: from then on they score 0 without one)
    assert notes[:3] == [
        "Not scored yet - first score once half its weight can be judged (after a live session or a launch), "
        "at the latest after 2026-11-16 11:35",
        "Not scored yet (nothing to judge yet): Net GMV, GMV per live session, Average watch time, Interaction rate",
        "Not scored (no target or no data): Refund rate",   # lower is better, no order to refund: nothing went wrong
    ]


def test_a_lower_is_better_achievement_is_never_below_zero() -> None:
    turnover = CATALOG["inventory_turnover_days"]
    # 405.1 days against 30.5: 2 - 405.1 / 30.5 = -11.28, shown as 0 %, not -1,128 %
    result = score_metric(turnover, D(20), D("405.1"), D("30.5"), D("0.5"), Rules(), running=True)
    assert (result.achievement, result.scored, result.left_out) == (D(0), D(0), None)
    assert achievement(turnover, D("15.25"), D("30.5")) == D("1.5")


def test_a_level_metric_without_a_value_waits_while_the_window_runs_and_scores_0_at_its_end() -> None:
    per_live = CATALOG["gmv_per_live"]
    running = score_metric(per_live, D(50), None, D(1000), D("0.49"), Rules(), running=True)
    assert (running.scored, running.left_out) == (None, LeftOut.NOT_YET)
    # from half the window's usual activity on (LEVEL_WAIT_SHARE) the session should have happened: 0
    waited = score_metric(per_live, D(50), None, D(1000), D("0.5"), Rules(), running=True)
    assert (waited.scored, waited.left_out) == (D(0), None)
    over = score_metric(per_live, D(50), None, D(1000), D(1), Rules(), running=False)
    assert (over.scored, over.left_out) == (D(0), None)
    refunds = score_metric(CATALOG["refund_rate"], D(10), None, D("0.05"), D(1), Rules())
    assert (refunds.scored, refunds.left_out) == (None, LeftOut.NOTHING_WRONG)
    untargeted = score_metric(per_live, D(50), D(10), None, D(1), Rules())
    assert (untargeted.scored, untargeted.left_out) == (None, LeftOut.NO_TARGET)


def test_no_score_while_less_than_half_the_targeted_weight_can_be_judged() -> None:
    day = Window(PeriodKind.DAY, date(2026, 12, 2), date(2026, 12, 2), "Asia/Shanghai")
    now = datetime(2026, 12, 2, 20, 15, tzinfo=SH)       # a quarter of the evening: past the 10 % minimum
    mostly_live = Template("host", Role.HOST, (WeightedMetric("net_gmv", D(40)), WeightedMetric("gmv_per_live", D(60))))
    orders = Activity(orders=(paid(1, "225", datetime(2026, 12, 2, 20, 10, tzinfo=SH)),))
    card = scorecard(mostly_live, orders, Context(day, now, Rules(), FxTable([]), EVENING), TARGETS, False)
    # net GMV (40 %) judged, GMV per live (60 %) waits for a session: 40 < half of 100, no score before a session
    # or, at the latest, half the day's usual activity (20:30, LEVEL_WAIT_SHARE)
    assert (card.score, card.first_score_at, card.awaiting_activity) == \
        (None, datetime(2026, 12, 2, 20, 30, tzinfo=SH), True)
    even = Template("host", Role.HOST, (WeightedMetric("net_gmv", D(50)), WeightedMetric("gmv_per_live", D(50))))
    card = scorecard(even, orders, Context(day, now, Rules(), FxTable([]), EVENING), TARGETS, False)
    assert (card.score, card.grade) == (D("90.0"), "B")    # 225 / (1,000 x 0.25) on net GMV alone: 90.0
    # 20:30, still no session: GMV per live scores 0; net GMV 225 / 500 = 45 %: 40 x 0.45 / 100 = 18.0
    late = datetime(2026, 12, 2, 20, 30, tzinfo=SH)
    card = scorecard(mostly_live, orders, Context(day, late, Rules(), FxTable([]), EVENING), TARGETS, False)
    assert (card.score, card.grade, card.first_score_at) == (D("18.0"), "D", None)

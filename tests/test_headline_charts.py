"""The /mykpi chart leads with the role's own headline metric (an ad buyer's ROI as its month-to-date value per
day), marks the amount expected by now on a cumulative headline, and the digest's bars show pace."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards import charts
from cards.chart_cache import ChartCache
from cards.charts import ProgressChart, chart_key, mark_x, render_progress_chart
from cards.digest_chart import DigestChart
from cards.model import Image
from commands import mykpi
from commands.context import Caller, Request
from scoring.alerts import AlertRules
from scoring.periods import PeriodKind
from scoring.rules import Rules
from services.container import Services
from services.digests import _pace_bar
from services.my_kpi import my_kpi
from services.scorecards import headline_metric, pace_metric
from storage.models import AdSpend, KpiTemplate, KpiTemplateMetric, Member, Shop, Target
from tests.conftest import org_and_team

NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)   # the 4th, half gone: 3.5 of November's 30 days (UTC)
DAYS = tuple(str(d) for d in range(1, 31))


@dataclasses.dataclass(frozen=True)
class World:
    services: Services
    buyer: Member
    operator: Member


def build(engine: Engine) -> World:
    """A UTC team with an ad buyer (net GMV, ROI, CPC) and an operator (net GMV, orders, refund rate), and
    the buyer's ads; targets for ROI and net GMV only."""
    with Session(engine) as s:
        org, team = org_and_team(s)
        shop = Shop(org_id=org.id, team_id=team.id, code="us1", name="US", platform="tiktok_shop", region="US",
                    currency="USD", timezone="UTC")
        buyer = Member(org_id=org.id, team_id=team.id, code="buyer1", name="Ahmad", role="ad_buyer",
                       timezone="UTC", locale="en")
        operator = Member(org_id=org.id, team_id=team.id, code="op1", name="林小雨", role="operator",
                          timezone="UTC", locale="zh-CN")
        s.add_all([shop, buyer, operator])
        s.flush()
        for name, role, metrics in (("buyer", "ad_buyer", (("net_gmv", 30), ("roi", 40), ("cpc", 30))),
                                    ("ops", "operator", (("net_gmv", 50), ("orders", 30), ("refund_rate", 20)))):
            template = KpiTemplate(org_id=org.id, name=name, role=role)
            s.add(template)
            s.flush()
            s.add_all([KpiTemplateMetric(template_id=template.id, metric_key=k, weight=D(w), position=i)
                       for i, (k, w) in enumerate(metrics)])
        s.add_all([Target(org_id=org.id, scope="member", subject=f"member:{m.id}", member_id=m.id, period="2026-11",
                          metric_key=k, value=D(v))
                   for m, k, v in ((buyer, "roi", "2.8"), (buyer, "net_gmv", "3000"), (operator, "net_gmv", "3000"))])
        # spend / attributed GMV in cents: the 1st 100 / 250, the 2nd 50 / 200, nothing on the 3rd,
        # the 4th 150 / 300; the 5th is after now
        s.add_all([AdSpend(shop_id=shop.id, member_id=buyer.id, campaign_id="c1", day=date(2026, 11, d),
                           currency="USD", spend_minor=spend, attributed_gmv_minor=gmv)
                   for d, spend, gmv in ((1, 10_000, 25_000), (2, 5_000, 20_000), (4, 15_000, 30_000),
                                         (5, 10_000, 90_000))])
        s.commit()
        s.refresh(buyer)
        s.refresh(operator)
        s.expunge_all()
    services = Services(engine, Rules(), "UTC", "en", ChartCache(), AlertRules(enabled=False))
    return World(services, buyer, operator)


def chart_image(world: World, member: Member, lang: str) -> Image:
    request = Request("mykpi", ("month",), Caller("console", member.code, member), lang, NOW, world.services)
    card = mykpi.handle(request)
    return next(b for b in card.blocks if isinstance(b, Image))


def test_an_ad_buyers_card_leads_with_roi_month_to_date(engine: Engine) -> None:
    world = build(engine)
    kpi = my_kpi(world.services, world.buyer, PeriodKind.MONTH, NOW)
    assert kpi.score.template is not None
    assert headline_metric(kpi.score.template) == "roi"
    assert pace_metric(kpi.score.template) == "net_gmv"     # lag alerts still judge the net GMV pace
    assert kpi.series is not None and kpi.series.key == "roi"
    # month to date as of each day: (250) / 100, (250 + 200) / (100 + 50), the same on the 3rd (no ads),
    # (250 + 200 + 300) / (100 + 50 + 150); nothing after today
    assert kpi.series.cumulative == [D("2.5"), D(3), D(3), D("2.5")] + [None] * 26
    assert kpi.series.today == D(2)            # the 4th alone: 300 / 150
    assert (kpi.series.target, kpi.series.today_target) == (D("2.8"), D("2.8"))
    assert (kpi.series.expected_now, kpi.series.today_index) == (None, 3)
    # the card's chart is exactly this one: percent, as the card shows a ratio, against a flat target
    expected = ProgressChart(
        title="Ahmad · 2026-11 ROI (month to date)", day_labels=DAYS,
        cumulative=(250.0, 300.0, 300.0, 250.0) + (None,) * 26, target_total=280.0, unit="%",
        now_index=3, cumulative_line=False,
    )
    assert chart_image(world, world.buyer, "en").key == chart_key(expected)


def test_a_cumulative_headline_marks_the_expected_amount_from_the_result(engine: Engine) -> None:
    world = build(engine)
    kpi = my_kpi(world.services, world.operator, PeriodKind.MONTH, NOW)
    assert kpi.series is not None and kpi.score.scorecard is not None
    result = kpi.score.scorecard.result("net_gmv")
    # 3000 x 3.5 / 30 days (elapsed in seconds: 302,400 of 2,592,000)
    assert kpi.series.expected_now == result.expected == D(3000) * (D(302_400) / D(2_592_000))
    assert result.expected.quantize(D("0.01")) == D("350.00")
    assert kpi.series.today_index == 3
    expected = ProgressChart(
        title="林小雨 · 2026-11 实际GMV累计", day_labels=DAYS, cumulative=(0.0,) * 4 + (None,) * 26,
        target_total=3000.0, unit="USD", target_label="目标", actual_label="实际", expected_now=350.0, now_index=3,
        gap_label="较预期 {gap}", target_path=tuple(100.0 * (d + 1) for d in range(30)),
    )
    # no history to learn a shape from: the target path is clock time, 100.00 a day, and today's mark (350.00 at
    # the middle of day 4) sits on it, half way between the end of day 3 (300) and of day 4 (400)
    assert kpi.series.target_path is not None
    assert [v.quantize(D("0.01")) for v in kpi.series.target_path[:4]] == [D(f"{100 * d}.00") for d in (1, 2, 3, 4)]
    assert mark_x(3, 350.0, tuple(100.0 * (d + 1) for d in range(30))) == 3.5
    assert chart_image(world, world.operator, "zh").key == chart_key(expected)
    # a day's card takes the month's expected too (from the month's result, not the day's)
    day = my_kpi(world.services, world.operator, PeriodKind.DAY, NOW)
    assert day.series is not None and day.series.expected_now == result.expected


def _chart(**changes: object) -> ProgressChart:
    values = tuple(float(41_000 * d) for d in range(1, 19)) + (None,) * 13
    chart = ProgressChart("林小雨 · 2026-12 净GMV累计", tuple(str(d) for d in range(1, 32)), values, 1_234_567.89,
                          "USD", "目标", "实际", expected_now=1_234_567.89 * 17.5 / 31, now_index=17,
                          gap_label="较预期 {gap}")
    return dataclasses.replace(chart, **changes)


def test_the_mark_renders_and_changes_the_image() -> None:
    with_mark, without = render_progress_chart(_chart()), render_progress_chart(_chart(expected_now=None))
    assert with_mark[:8] == b"\x89PNG\r\n\x1a\n" and without[:8] == b"\x89PNG\r\n\x1a\n"
    assert with_mark[16:24] == without[16:24] == (720).to_bytes(4, "big") + (400).to_bytes(4, "big")
    assert with_mark[24:26] == bytes([8, 6])    # 8-bit RGBA
    assert with_mark != without
    assert chart_key(_chart()) != chart_key(_chart(expected_now=None))


def test_the_gap_reads_signed_against_expected() -> None:
    assert charts.gap_text(738_000 - 1_234_567.89 * 17.5 / 31, "{gap} vs expected") == "+41,067 vs expected"
    assert charts.gap_text(-1234.4, "较预期 {gap}") == "较预期 -1,234"
    assert charts.gap_text(0.2, "{gap} vs expected") == "+0.2 vs expected"
    assert charts.gap_text(-0.04, "{gap} vs expected") == "0 vs expected"


@pytest.mark.parametrize("now_index", [2, 17, 29])
@pytest.mark.parametrize("actual", [0.4, 0.97, 1.0, 1.6])
def test_labels_never_overlap(now_index: int, actual: float) -> None:
    """The gap's label clears the latest value's label, the legend and the figure's edges; x tick labels of
    a 31-day month do not touch; wherever today is and however far ahead or behind."""
    target = 1_234_567.89
    expected = target * (now_index + 0.5) / 31
    values = tuple(expected * actual * (d + 1) / (now_index + 1) for d in range(now_index + 1))
    chart = _chart(cumulative=values + (None,) * (30 - now_index), expected_now=expected, now_index=now_index)
    charts._ensure_font()
    fig = charts._figure(chart, charts.FONT_FAMILY)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    value_label, gap_label = ax.texts
    assert gap_label.get_text().startswith("较预期 ")
    boxes = [t.get_window_extent(renderer) for t in (value_label, gap_label)]
    assert not boxes[0].overlaps(boxes[1])
    assert not boxes[1].overlaps(ax.get_legend().get_window_extent(renderer))
    frame = fig.bbox
    assert frame.x0 <= boxes[1].x0 and boxes[1].x1 <= frame.x1 and frame.y0 <= boxes[1].y0 and boxes[1].y1 <= frame.y1
    ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "5", "10", "15", "20", "25", "31"]
    assert all(a.x1 < b.x0 for a, b in itertools.pairwise(ticks))


def test_digest_bars_are_pace_ratios(engine: Engine) -> None:
    world = build(engine)
    kpi = my_kpi(world.services, world.operator, PeriodKind.MONTH, NOW)
    assert kpi.score.scorecard is not None
    result = kpi.score.scorecard.result("net_gmv")
    # nothing sold against 350 expected: 0 % of pace, a bar of length 0
    assert _pace_bar("林小雨", result, True, "zh") == ("林小雨", 0.0, True, "")
    ahead = dataclasses.replace(result, actual=D("412.30"))        # 412.30 / 350 = 117.8 %, shown 118 %
    assert _pace_bar("A", ahead, False, "en") == ("A", 1.18, False, "")
    early = dataclasses.replace(result, expected=D("29.99"))      # under 1 % of 3000 expected: no pace yet
    assert _pace_bar("B", early, False, "zh") == ("B", None, False, "暂无进度")
    buyer = my_kpi(world.services, world.buyer, PeriodKind.MONTH, NOW)
    assert buyer.score.scorecard is not None
    assert _pace_bar("Ahmad", buyer.score.scorecard.result("roi"), False, "en") == ("Ahmad", None, False, "—")


def test_digest_chart_notes_stand_in_for_missing_bars() -> None:
    chart = DigestChart("T", ("1", "2"), (1.0, None), 10.0, "USD",
                        (("A", 1.18, False), ("B", None, False), ("C", None, True)), notes=("", "no pace yet", ""))
    assert [chart.note(i) for i in range(3)] == ["—", "no pace yet", "—"]
    with pytest.raises(ValueError, match="2 notes for 3 members"):
        dataclasses.replace(chart, notes=("", ""))


def test_no_expected_mark_while_the_card_says_no_pace_yet(engine: Engine) -> None:
    world = build(engine)
    # 00:30 on 1 Nov: under 1 % of the month is expected, so the card says "no pace yet"; the chart marks no gap
    kpi = my_kpi(world.services, world.operator, PeriodKind.MONTH, datetime(2026, 11, 1, 0, 30, tzinfo=UTC))
    assert kpi.series is not None and kpi.score.scorecard is not None
    pace = kpi.score.scorecard.result("net_gmv").pace_shown
    assert pace is not None and pace.percent is None
    assert kpi.series.expected_now is None

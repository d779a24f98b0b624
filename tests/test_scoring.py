"""Scoring core against numbers computed by hand (see each test's comment for the arithmetic)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from scoring.facts import Activity, AdFact, LiveFact, OrderFact, RefundFact
from scoring.fx import FxRate, FxTable, MissingRate
from scoring.metrics import CATALOG, Context, compute
from scoring.money import Money, UnknownCurrency, exponent, from_minor, is_currency, to_minor
from scoring.periods import PeriodKind, Window, month_window, window_for
from scoring.rules import CountOrdersAt, Rules
from scoring.score import grade_for, rank, scorecard, window_target
from scoring.series import cumulative_series
from scoring.shipped_templates import DEFAULT_TEMPLATES
from scoring.templates import Role, Stage, Template, TemplateError, WeightedMetric, select_template

D = Decimal
UTC_TZ = "UTC"
NOV = month_window(2026, 11, UTC_TZ)
END_OF_NOV = datetime(2026, 12, 1, tzinfo=UTC)
FX = FxTable([FxRate(date(2026, 11, 1), "GBP", "USD", D("1.25")), FxRate(date(2026, 11, 10), "GBP", "USD", D("1.30")),
              FxRate(date(2026, 11, 1), "USD", "IDR", D("16000")), FxRate(date(2026, 11, 1), "USD", "CNY", D("7.20"))])


def at(day: int, hour: int = 12, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def order(oid: int, amount: str, paid: datetime | None, *, currency: str = "USD", shipped: datetime | None = None,
          cancelled: datetime | None = None, refunds: tuple[RefundFact, ...] = (), units: int = 1) -> OrderFact:
    return OrderFact(oid, currency, D(amount), units, paid or at(1), paid, shipped, cancelled, refunds)


def ctx(window: Window = NOV, now: datetime = END_OF_NOV, **rules: object) -> Context:
    return Context(window, now, Rules(**rules), FX)  # type: ignore[arg-type]


# --- money and FX -------------------------------------------------------------------------------------

def test_minor_units_are_exact_and_refuse_sub_cent_amounts() -> None:
    assert to_minor(D("12.34"), "USD") == 1234
    assert to_minor("150000", "IDR") == 15000000  # ISO 4217: IDR has 2 minor digits
    assert to_minor(D("500"), "JPY") == 500
    assert from_minor(1234, "GBP") == D("12.34")
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        to_minor(D("1.005"), "USD")
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    assert str(Money(D("1234.565"), "USD")) == "1,234.57 USD"


# the hand list this build kept before the ISO 4217 table: amounts already stored in these must keep their meaning
STORED_EXPONENTS = {
    "USD": 2, "GBP": 2, "EUR": 2, "CNY": 2, "HKD": 2, "SGD": 2, "MYR": 2, "THB": 2, "PHP": 2,
    "IDR": 2, "AUD": 2, "CAD": 2, "MXN": 2, "BRL": 2, "SAR": 2, "AED": 2, "PLN": 2, "TWD": 2,
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0,
}


def test_the_iso_table_keeps_the_exponents_of_the_currencies_already_stored() -> None:
    assert {code: exponent(code) for code in STORED_EXPONENTS} == STORED_EXPONENTS


def test_any_active_iso_currency_is_accepted_with_its_minor_unit() -> None:
    assert {code: exponent(code) for code in ("CHF", "SEK", "NZD", "INR", "TRY")} == {
        "CHF": 2, "SEK": 2, "NZD": 2, "INR": 2, "TRY": 2}
    assert [is_currency(code) for code in ("CHF", "SEK", "NZD", "INR", "TRY")] == [True] * 5
    assert (exponent("KWD"), exponent("BHD")) == (3, 3)
    assert to_minor("1.234", "KWD") == 1234
    assert from_minor(1234, "KWD") == D("1.234")
    assert to_minor("0.005", "BHD") == 5
    with pytest.raises(ValueError, match="more than 3 decimal places"):
        to_minor("1.2345", "KWD")
    assert str(Money(D("1234.5675"), "KWD")) == "1,234.568 KWD"


@pytest.mark.parametrize("code", ["XAU", "XAG", "XDR", "XTS", "XXX", "CLF", "USN", "ABC", "usd", "", "US"])
def test_metals_funds_test_and_unknown_codes_are_refused(code: str) -> None:
    # no minor unit (metals, SDR, XTS, XXX) or a fund: guessing an exponent would scale amounts by 100
    assert is_currency(code) is False
    with pytest.raises(UnknownCurrency, match=f"^unknown currency '{code}'$"):
        exponent(code)
    with pytest.raises(UnknownCurrency):
        Money(D("1"), code)


def test_fx_uses_the_days_rate_else_the_latest_earlier_one_and_inverse_and_cross_rates() -> None:
    assert FX.rate("GBP", "USD", date(2026, 11, 9)) == D("1.25")     # no rate on the 9th: the 1st's
    assert FX.rate("GBP", "USD", date(2026, 11, 10)) == D("1.30")
    assert FX.convert(D("160000"), "IDR", "USD", date(2026, 11, 5)) == D("10")  # inverse of 16000
    assert FX.rate("GBP", "CNY", date(2026, 11, 10)) == D("1.30") * D("7.20")   # cross through USD = 9.36
    with pytest.raises(MissingRate, match="no GBP->USD exchange rate on or before 2026-10-31"):
        FX.rate("GBP", "USD", date(2026, 10, 31))


def test_fx_prefers_the_stored_pair_and_the_freshest_route_and_notes_stale_rates() -> None:
    both_ways = [FxRate(date(2026, 11, 1), "GBP", "USD", D("1.25")), FxRate(date(2026, 11, 1), "USD", "GBP", D("0.7"))]
    assert FxTable(both_ways).rate("GBP", "USD", date(2026, 11, 2)) == D("1.25")
    assert FxTable(list(reversed(both_ways))).rate("GBP", "USD", date(2026, 11, 2)) == D("1.25")
    stale_direct = [FxRate(date(2026, 10, 1), "IDR", "USD", D("0.00007")),
                    FxRate(date(2026, 11, 1), "IDR", "CNY", D("0.00045")),
                    FxRate(date(2026, 11, 1), "CNY", "USD", D("0.14"))]
    assert FxTable(stale_direct).rate("IDR", "USD", date(2026, 11, 2)) == D("0.00045") * D("0.14")
    old = FxTable(both_ways)   # 44 days old: used, and remembered so the card can say from which day
    assert old.rate("GBP", "USD", date(2026, 12, 15)) == D("1.25")
    assert old.stale == {("GBP", "USD"): date(2026, 11, 1)}


# --- order metrics ------------------------------------------------------------------------------------

def test_refund_netting_follows_the_setting() -> None:
    # A: 100 paid, 30 refunded; B: 50 paid; C: 20 paid then cancelled; D: 999 never paid.
    a = order(1, "100", at(3), refunds=(RefundFact(D("30"), at(5), returned_units=1),))
    b = order(2, "50", at(4))
    c = order(3, "20", at(4), cancelled=at(4, 18))
    d = order(4, "999", None)
    act = Activity(orders=(a, b, c, d))
    assert compute("gmv", act, ctx()) == D("170")             # 100 + 50 + 20 (platform GMV keeps cancelled)
    assert compute("net_gmv", act, ctx()) == D("120")         # 100 - 30 + 50
    assert compute("net_gmv", act, ctx(net_refunds=False)) == D("150")
    assert compute("orders", act, ctx()) == D("2")
    assert compute("aov", act, ctx()) == D("75")               # (100 + 50) / 2
    assert compute("refund_rate", act, ctx()) == D("0.2")      # 30 / 150
    assert compute("return_rate", act, ctx()) == D("0.5")      # 1 returned unit / 2 units
    # the refund is not known yet on the 4th: nothing netted
    assert compute("net_gmv", act, ctx(now=at(4, 20))) == D("150")


def test_a_refund_larger_than_the_goods_only_nets_the_goods() -> None:
    a = order(1, "40", at(3), refunds=(RefundFact(D("45"), at(5)),))  # refund includes shipping
    assert compute("net_gmv", Activity(orders=(a,)), ctx()) == D("0")


def test_count_at_paid_versus_count_at_shipped() -> None:
    # paid 30 Nov, shipped 2 Dec: November's under "paid", December's under "shipped"
    o = order(1, "80", at(30, 20), shipped=at(2, 9, month=12))
    act = Activity(orders=(o,))
    dec = month_window(2026, 12, UTC_TZ)
    end_dec = datetime(2027, 1, 1, tzinfo=UTC)
    assert compute("net_gmv", act, ctx()) == D("80")
    assert compute("net_gmv", act, ctx(dec, end_dec)) == D("0")
    assert compute("net_gmv", act, ctx(count_orders_at=CountOrdersAt.SHIPPED)) == D("0")
    assert compute("net_gmv", act, ctx(dec, end_dec, count_orders_at=CountOrdersAt.SHIPPED)) == D("80")


def test_currency_conversion_at_each_orders_day() -> None:
    # 100 GBP on 5 Nov at 1.25 = 125 USD; 100 GBP on 12 Nov at 1.30 = 130 USD; 800,000 IDR = 50 USD
    act = Activity(orders=(order(1, "100", at(5), currency="GBP"), order(2, "100", at(12), currency="GBP"),
                           order(3, "800000", at(12), currency="IDR")))
    assert compute("gmv", act, ctx()) == D("305")
    assert compute("gmv", act, ctx(reporting_currency="CNY")) == D("305") * D("7.20")


def test_day_boundary_jakarta_versus_los_angeles() -> None:
    # Paid 2026-11-01 03:30 UTC: 10:30 on 1 Nov in Jakarta (UTC+7), 20:30 on 31 Oct in Los Angeles (PDT, UTC-7)
    o = order(1, "60", datetime(2026, 11, 1, 3, 30, tzinfo=UTC))
    act = Activity(orders=(o,))
    later = datetime(2026, 12, 15, tzinfo=UTC)
    assert compute("net_gmv", act, ctx(month_window(2026, 11, "Asia/Jakarta"), later)) == D("60")
    assert compute("net_gmv", act, ctx(month_window(2026, 10, "Asia/Jakarta"), later)) == D("0")
    assert compute("net_gmv", act, ctx(month_window(2026, 10, "America/Los_Angeles"), later)) == D("60")
    assert compute("net_gmv", act, ctx(month_window(2026, 11, "America/Los_Angeles"), later)) == D("0")
    # "today" at that instant differs too
    now = datetime(2026, 11, 1, 3, 30, tzinfo=UTC)
    assert window_for(PeriodKind.DAY, now, "Asia/Jakarta").first_day == date(2026, 11, 1)
    assert window_for(PeriodKind.DAY, now, "America/Los_Angeles").first_day == date(2026, 10, 31)


def test_elapsed_share_counts_the_25_hour_day_when_daylight_saving_ends() -> None:
    # 1 Nov 2026 in Los Angeles lasts 25 h (PDT -> PST at 02:00). At 12:30 PST, 13.5 h of 25 h have passed.
    day = window_for(PeriodKind.DAY, datetime(2026, 11, 1, 20, 30, tzinfo=UTC), "America/Los_Angeles")
    assert (day.end.astimezone(UTC) - day.start.astimezone(UTC)).total_seconds() == 25 * 3600
    assert day.elapsed_fraction(datetime(2026, 11, 1, 20, 30, tzinfo=UTC)) == D("13.5") / D("25")


def test_ads_and_live_metrics() -> None:
    ads = (AdFact(date(2026, 11, 2), "USD", D("200"), 400, 20000, D("500"), 1000),
           AdFact(date(2026, 11, 3), "GBP", D("100"), 100, 5000, D("300"), 250))
    lives = (LiveFact(at(2, 1), at(2, 3), "USD", D("1000"), 500, 900, 30000, 40, 25),
             LiveFact(at(4, 1), at(4, 3), "GBP", D("400"), 300, 400, 30000, 20, 15))
    act = Activity(ads=ads, lives=lives)
    c = ctx()
    # spend 200 + 100*1.25 = 325 USD; attributed 500 + 300*1.25 = 875
    assert compute("roi", act, c) == D("875") / D("325")
    assert compute("cpc", act, c) == D("325") / D("500")
    assert compute("cost_per_visitor", act, c) == D("325") / D("1250")
    assert compute("gmv_per_live", act, c) == D("750")          # (1000 + 400*1.25) / 2
    assert compute("avg_watch_time", act, c) == D("75")         # 60000 s / 800 viewers
    assert compute("interaction_rate", act, c) == D("0.075")    # 60 / 800
    assert compute("new_followers", act, c) == D("40")
    assert compute("live_sessions", act, c) == D("2")
    assert compute("roi", Activity(), c) is None                # no spend: undefined, not zero


# --- templates and scores ---------------------------------------------------------------------------

def test_a_template_whose_weights_do_not_sum_to_100_is_rejected() -> None:
    bad = Template("host-x", Role.HOST, (WeightedMetric("net_gmv", D(40)), WeightedMetric("roi", D(30)),
                                          WeightedMetric("refund_rate", D(25))))
    with pytest.raises(TemplateError, match=r"KPI template 'host-x': weights sum to 95%, they must sum to 100%"):
        bad.validate()
    with pytest.raises(TemplateError, match="has 2 metrics; it needs 3 to 5"):
        Template("t", Role.HOST, (WeightedMetric("net_gmv", D(50)), WeightedMetric("roi", D(50)))).validate()
    with pytest.raises(TemplateError, match="unknown metric"):
        Template("t", Role.HOST, tuple(WeightedMetric(k, D(w)) for k, w in
                                       (("net_gmv", 50), ("roi", 25), ("likes", 25)))).validate()


def test_every_default_template_is_valid_and_stage_selection_falls_back() -> None:
    for tpl in DEFAULT_TEMPLATES:
        assert sum(m.weight for m in tpl.metrics) == 100
    assert select_template(list(DEFAULT_TEMPLATES), Role.HOST, Stage.COLD_START).name == "host-cold-start"  # type: ignore[union-attr]
    assert select_template(list(DEFAULT_TEMPLATES), Role.HOST, Stage.GROWTH).name == "host"  # type: ignore[union-attr]
    assert select_template(list(DEFAULT_TEMPLATES), Role.HOST, Stage.STABLE).name == "host-stable"  # type: ignore[union-attr]
    assert select_template(list(DEFAULT_TEMPLATES), Role.MANAGER, None) is None


def test_negative_kpi_scores_better_when_lower() -> None:
    tpl = Template("t", Role.OPERATOR, (WeightedMetric("net_gmv", D(50)), WeightedMetric("refund_rate", D(30)),
                                        WeightedMetric("orders", D(20)))).validate()
    # 2 orders of 100 in November; one refunded 6 -> refund rate 6/200 = 3 %
    act = Activity(orders=(order(1, "100", at(2), refunds=(RefundFact(D("6"), at(3)),)), order(2, "100", at(3))))
    targets = {"net_gmv": {(2026, 11): D("194")}, "refund_rate": {(2026, 11): D("0.05")},
               "orders": {(2026, 11): D("4")}}
    card = scorecard(tpl, act, ctx(), targets, in_trial=False)
    refund = card.result("refund_rate")
    assert refund.actual == D("0.03")
    assert refund.achievement == D("1.4")          # 2 - 0.03 / 0.05
    # net 194 / 194 = 1.0; orders 2 / 4 = 0.5 -> 50*1 + 30*1.4 + 20*0.5 = 102
    assert card.score == D("102.0")
    assert card.grade == "A"
    # a refund rate of twice the target scores 0, and zero refunds cap at 150 %
    worse = Activity(orders=(order(1, "100", at(2), refunds=(RefundFact(D("10"), at(3)),)),))
    assert scorecard(tpl, worse, ctx(), targets, False).result("refund_rate").scored == D("0")
    clean = Activity(orders=(order(1, "100", at(2)),))
    assert scorecard(tpl, clean, ctx(), targets, False).result("refund_rate").scored == D("1.5")


def test_pace_and_mid_month_score_in_the_members_time_zone() -> None:
    # Nov has 30 days. At 16 Nov 00:00 in Shanghai, 15/30 of the month has passed.
    tz = "Asia/Shanghai"
    now = datetime(2026, 11, 16, tzinfo=ZoneInfo(tz))
    tpl = Template("t", Role.HOST, (WeightedMetric("net_gmv", D(60)), WeightedMetric("orders", D(20)),
                                    WeightedMetric("refund_rate", D(20)))).validate()
    act = Activity(orders=tuple(order(i, "600", at(2 + i)) for i in range(3)))  # 1800 in 3 orders
    targets = {"net_gmv": {(2026, 11): D("3000")}, "orders": {(2026, 11): D("12")},
               "refund_rate": {(2026, 11): D("0.05")}}
    card = scorecard(tpl, act, ctx(month_window(2026, 11, tz), now), targets, in_trial=True)
    gmv = card.result("net_gmv")
    assert gmv.expected == D("1500")
    assert gmv.pace == D("1.2")
    assert gmv.achievement == D("0.6")              # 1800 of the full 3000
    orders = card.result("orders")
    assert orders.pace == D("0.5")                  # 3 of an expected 6
    # refund rate: no order is 14 days old yet, so it is left out (lower is better: nothing went wrong yet)
    assert card.result("refund_rate").scored is None
    # (60*1.2 + 20*0.5) / 80 = 1.025 -> 102.5, A; trial: not binding
    assert card.score == D("102.5")
    assert card.grade == "A"
    assert card.binding is False


def test_achievement_is_capped() -> None:
    tpl = Template("t", Role.HOST, (WeightedMetric("net_gmv", D(50)), WeightedMetric("orders", D(30)),
                                    WeightedMetric("aov", D(20)))).validate()
    act = Activity(orders=(order(1, "1000", at(2)),))
    targets = {"net_gmv": {(2026, 11): D("100")}, "orders": {(2026, 11): D("1")}, "aov": {(2026, 11): D("500")}}
    card = scorecard(tpl, act, ctx(), targets, False)
    assert card.result("net_gmv").achievement == D("10")
    assert card.result("net_gmv").scored == D("1.5")
    assert card.score == D("135.0")                 # 50*1.5 + 30*1 + 20*1.5 (aov 1000/500 = 2 -> 1.5)
    capped = scorecard(tpl, act, Context(NOV, END_OF_NOV, Rules(achievement_cap=D("1.2")), FX), targets, False)
    assert capped.score == D("114.0")               # 50*1.2 + 30*1 + 20*1.2


def test_missing_activity_scores_zero_missing_target_or_young_orders_are_left_out() -> None:
    tpl = Template("t", Role.HOST, (WeightedMetric("net_gmv", D(40)), WeightedMetric("roi", D(30)),
                                    WeightedMetric("refund_rate", D(20)), WeightedMetric("orders", D(10)))).validate()
    act = Activity(orders=(order(1, "90", at(25)),))   # 5 days before the end of the month: not matured
    targets = {"net_gmv": {(2026, 11): D("100")}, "roi": {(2026, 11): D("3")},
               "refund_rate": {(2026, 11): D("0.05")}}  # no orders target
    card = scorecard(tpl, act, ctx(), targets, False)
    assert card.result("roi").scored == D("0")          # no ad spend at all: the activity did not happen
    assert [r.metric.key for r in card.results if r.scored is None] == ["refund_rate", "orders"]
    assert card.score == D("51.4")                      # (40*0.9 + 30*0) / 70 = 0.51428...


def test_product_metrics_are_measured_over_the_month_even_in_a_week_view() -> None:
    from scoring.facts import LineFact, ProductFact

    tpl = Template("t", Role.SELECTOR, (WeightedMetric("new_sku_hit_rate", D(50)),
                                        WeightedMetric("new_product_sell_through", D(30)),
                                        WeightedMetric("net_gmv", D(20)))).validate()
    products = (ProductFact(1, date(2026, 11, 2), 100), ProductFact(2, date(2026, 11, 3), 100))
    sales = tuple(OrderFact(i, "USD", D("10"), 1, at(4), at(4), lines=(LineFact(1, 1),)) for i in range(40))
    act = Activity(orders=sales, products=products)
    targets = {"new_sku_hit_rate": {(2026, 11): D("0.5")}, "new_product_sell_through": {(2026, 11): D("0.2")},
               "net_gmv": {(2026, 11): D("3000")}}
    week = window_for(PeriodKind.WEEK, at(18), UTC_TZ)   # 16-22 Nov: no launch and no sale in it
    card = scorecard(tpl, act, ctx(week, at(18)), targets, False)
    assert card.result("new_sku_hit_rate").actual == D("0.5")          # product 1 sold 40 >= 30, product 2 none
    assert card.result("new_product_sell_through").actual == D("0.2")  # 40 sold of 200 received


def test_a_week_spanning_two_months_takes_level_targets_from_the_month_of_today() -> None:
    tpl = Template("t", Role.HOST, (WeightedMetric("net_gmv", D(40)), WeightedMetric("aov", D(30)),
                                    WeightedMetric("orders", D(30)))).validate()
    week = window_for(PeriodKind.WEEK, at(28, month=10), UTC_TZ)        # 26 Oct - 1 Nov
    targets = {"aov": {(2026, 10): D("50"), (2026, 11): D("80")}}
    card = scorecard(tpl, Activity(), ctx(week, at(28, month=10)), targets, False)
    assert card.result("aov").target == D("50")


def test_grade_bands_and_rank() -> None:
    rules = Rules()
    assert [grade_for(D(s), rules) for s in ("120", "119.9", "100", "85", "70", "69.9", "0")] == \
        ["S", "A", "A", "B", "C", "D", "D"]
    assert grade_for(None, rules) is None
    scores = {"a": D("90"), "b": D("95"), "c": D("90"), "d": None}
    assert rank(scores, "b") == (1, 3)
    assert rank(scores, "a") == (2, 3)               # tie with c: both second
    assert rank(scores, "c") == (2, 3)
    assert rank(scores, "d") is None
    with pytest.raises(ValueError, match="grade bands"):
        Rules(grade_bands=(("A", D(50)), ("B", D(60)), ("C", D(0))))


def test_a_week_spanning_two_months_takes_a_share_of_each_target() -> None:
    # 30 Nov - 6 Dec: 1 day at 3000/30 = 100 and 6 days at 6200/31 = 200 -> 1300
    week = window_for(PeriodKind.WEEK, datetime(2026, 12, 2, tzinfo=UTC), UTC_TZ)
    assert (week.first_day, week.last_day) == (date(2026, 11, 30), date(2026, 12, 6))
    monthly = {(2026, 11): D("3000"), (2026, 12): D("6200")}
    assert window_target(CATALOG["net_gmv"], monthly, week.days()) == D("1300")
    assert window_target(CATALOG["refund_rate"], {(2026, 12): D("0.05")}, week.days()) == D("0.05")
    assert window_target(CATALOG["net_gmv"], {(2026, 12): D("6200")}, week.days()) is None


def test_cumulative_series_matches_the_window_total() -> None:
    act = Activity(orders=(order(1, "10", at(1)), order(2, "20", at(3)), order(3, "5", at(3)),
                           order(4, "7", at(6, 1))))
    c = ctx(now=at(5))
    series = cumulative_series("net_gmv", act, c)
    assert series[:5] == [D("10"), D("10"), D("35"), D("35"), D("35")]
    assert series[5:] == [None] * 25
    assert series[4] == compute("net_gmv", act, c)

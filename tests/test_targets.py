"""Targets: splitting (pure, hand-computed), the store's baselines, the import, and /target end to end."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.dispatch import Dispatcher
from cards.model import Progress, Table
from cards.render_text import render_text
from scoring.rules import Rules
from scoring.targets import (
    SplitError,
    decompose,
    month_weeks,
    parse_amount,
    split,
    weekly_split,
    weights_from_last_period,
)
from services.commission import close_month
from services.scorecards import Inputs
from storage.member_import import ImportProblem
from storage.models import AuditLog, CountryBaseline, Target, Team
from storage.queries import member_by_code, monthly_targets
from storage.target_import import import_targets
from storage.targets import Subject, set_baseline, set_target
from tests.clock import DEMO_NOW
from tests.conftest import dispatcher_for, org_and_team
from tests.test_commands import say

D = Decimal
CENT = D("0.01")


# --- pure ------------------------------------------------------------------------------------------------------

def test_split_gives_whole_quanta_that_add_up_exactly() -> None:
    assert split(D("100.00"), {"a": D(1), "b": D(1), "c": D(1)}, CENT) == {"a": D("33.34"), "b": D("33.33"),
                                                                          "c": D("33.33")}
    # 2:1:1 of 1,000 orders: 500, 250, 250; 7 orders 2:1:1 -> exact 3.5, 1.75, 1.75 -> floors 3, 1, 1,
    # two left go to the largest remainders (.75 and .75 before .5)
    assert split(D(1000), {"a": D(2), "b": D(1), "c": D(1)}, D(1)) == {"a": D(500), "b": D(250), "c": D(250)}
    assert split(D(7), {"a": D(2), "b": D(1), "c": D(1)}, D(1)) == {"a": D(3), "b": D(2), "c": D(2)}
    with pytest.raises(SplitError):
        split(D(1), {}, CENT)
    with pytest.raises(SplitError):
        split(D(1), {"a": D(0)}, CENT)


def test_a_rate_is_not_split_but_given_to_everyone() -> None:
    assert decompose(D("0.05"), {"a": D(1), "b": D(3)}, CENT, cumulative=False) == {"a": D("0.05"), "b": D("0.05")}


def test_last_periods_share_gives_newcomers_the_average() -> None:
    assert weights_from_last_period({"a": D(300), "b": D(100), "new": None}) == {"a": D(300), "b": D(100),
                                                                                   "new": D(200)}
    assert weights_from_last_period({"a": None, "b": D(0)}) == {"a": D(1), "b": D(1)}


def test_weekly_split_of_november_2026() -> None:
    # 1 Nov 2026 is a Sunday: weeks of 1, 7, 7, 7, 7 and 1 days
    assert [(a.day, b.day) for a, b in month_weeks(2026, 11)] == [(1, 1), (2, 8), (9, 15), (16, 22), (23, 29),
                                                                  (30, 30)]
    assert [w.value for w in weekly_split(D("88800"), 2026, 11, CENT)] == [
        D("2960.00"), D("20720.00"), D("20720.00"), D("20720.00"), D("20720.00"), D("2960.00")]
    # 5,000,000 cents / 30 days leaves 4 cents over; every week's remainder is 2/3 of a cent: the first four take them
    assert [w.value for w in weekly_split(D("50000"), 2026, 11, CENT)] == [
        D("1666.67"), D("11666.67"), D("11666.67"), D("11666.67"), D("11666.66"), D("1666.66")]


@pytest.mark.parametrize(("typed", "ratio", "value"), [
    ("120000", False, D(120000)), ("120,000", False, D(120000)), ("120k", False, D(120000)),
    ("12万", False, D(120000)), ("1.5w", False, D(15000)), ("1.2m", False, D(1200000)), ("12.50", False, D("12.50")),
    ("8%", True, D("0.08")), ("0.08", True, D("0.08")),
])
def test_amounts_as_people_type_them(typed: str, ratio: bool, value: Decimal) -> None:
    assert parse_amount(typed, ratio) == value


@pytest.mark.parametrize(("typed", "ratio"), [("abc", False), ("-5", False), ("8", True), ("", False)])
def test_amounts_that_are_refused(typed: str, ratio: bool) -> None:
    with pytest.raises(ValueError):
        parse_amount(typed, ratio)


# --- store ------------------------------------------------------------------------------------------------------

def test_a_team_without_its_own_target_is_measured_against_its_country_baselines(engine: Engine) -> None:
    with Session(engine) as s:
        org, team = org_and_team(s)
        set_baseline(s, team, "US", "2026-12", "net_gmv", D("90000"), None)
        set_baseline(s, team, "GB", "2026-12", "net_gmv", D("30000.50"), None)
        set_baseline(s, team, "US", "2026-12", "net_gmv", D("91000"), None)  # replaces
        s.commit()
        key = f"team:{team.id}"
        assert monthly_targets(s, key, ["2026-12"]) == {"net_gmv": {(2026, 12): D("121000.50")}}
        set_target(s, org.id or 0, Subject("team", team=team), "2026-12", "net_gmv", D("100000"), None)
        s.commit()
        assert monthly_targets(s, key, ["2026-12"]) == {"net_gmv": {(2026, 12): D("100000")}}
        assert s.execute(select(func.count()).select_from(CountryBaseline)).scalar_one() == 2
        assert [a.action for a in s.execute(select(AuditLog).order_by(AuditLog.id)).scalars()] == [
            "baseline.set", "baseline.set", "baseline.set", "target.set"]


@pytest.fixture(scope="module")
def demo_store(module_demo: Engine) -> Engine:
    return module_demo


def _write(path: Path, rows: list[list[str]]) -> Path:
    if path.suffix == ".xlsx":
        book = Workbook()
        for row in rows:
            book.active.append(row)
        book.save(path)
    else:
        path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8-sig")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_target_import_from_csv_and_xlsx(demo_store: Engine, tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"targets{suffix}", [
        ["period", "team", "member", "country", "metric", "value"],
        ["2027-01", "live-us", "", "", "net_gmv", "120k"],
        ["2027-01", "live-us", "", "US", "Net GMV", "90,000"],
        ["2027-01", "", "host1", "", "退款率", "4%"],
        ["2027-01", "", "", "", "net_gmv", "300000"],
    ])
    with Session(demo_store) as s:
        result = import_targets(s, path, 1, None, "USD")
        s.commit()
        assert (result.targets, result.baselines) == (3, 1)
        host1 = member_by_code(s, "host1")
        assert host1 is not None
        assert monthly_targets(s, f"member:{host1.id}", ["2027-01"]) == {"refund_rate": {(2027, 1): D("0.04")}}
        assert monthly_targets(s, "company", ["2027-01"]) == {"net_gmv": {(2027, 1): D(300000)}}


def test_a_bad_target_file_changes_nothing_and_names_each_line(demo_store: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", [
        ["period", "team", "member", "metric", "value"],
        ["2027-02", "live-us", "", "net_gmv", "1000"],
        ["2027-13", "live-us", "", "net_gmv", "1"],
        ["2027-02", "nope", "", "net_gmv", "1"],
        ["2027-02", "live-us", "", "refund_rate", "8"],
        ["2027-02", "live-us", "host2", "net_gmv", "1"],
        ["2027-02", "live-us", "", "net_gmv", "2000"],
    ])
    with Session(demo_store) as s:
        before = s.execute(select(func.count()).select_from(Target)).scalar_one()
        with pytest.raises(ImportProblem) as err:
            import_targets(s, path, 1, None, "USD")
        s.rollback()
        assert str(err.value) == (
            "line 3: period '2027-13' is not YYYY-MM; line 4: no team 'nope' (teams: live-us, shopee-id); "
            "line 5: '8' for a rate: write it as a percentage, e.g. 8%; line 6: host2 is not in team live-us; "
            "line 7: the same target as line 2")
        assert s.execute(select(func.count()).select_from(Target)).scalar_one() == before
    with pytest.raises(ImportProblem, match="missing: metric"), Session(demo_store) as s:
        import_targets(s, _write(tmp_path / "cols.csv", [["period", "team", "value"]]), 1, None, "USD")


NOT_VISIBLE_EN = ("That is no member or team whose targets you may see: you see your own, a lead their team's and "
                  "its members', managers and admins everyone's.")
NOT_VISIBLE_ZH = ("这不是你可查看目标的成员或团队：你可查看自己的目标，组长可查看本团队及其成员的，"
                  "经理和管理员可查看所有人的。")


# --- /target -------------------------------------------------------------------------------------------------------

@pytest.fixture
def d(demo_store: Engine) -> Dispatcher:
    return dispatcher_for(demo_store)


def _targets_of(engine: Engine, codes: list[str], key: str, period: str) -> dict[str, Decimal | None]:
    with Session(engine) as s:
        out = {}
        for code in codes:
            m = member_by_code(s, code)
            assert m is not None
            out[code] = monthly_targets(s, f"member:{m.id}", [period]).get(key, {}).get(
                (int(period[:4]), int(period[5:])))
        return out


def test_a_lead_sets_and_splits_the_teams_target(d: Dispatcher, demo_store: Engine) -> None:
    card = say(d, "lead1", "/target set live-us net_gmv 90k 2027-03")
    assert card.title == "已设置目标 · 直播一组 Live US/UK · 实际GMV · 2027-03"  # lead1 reads Chinese
    # March 2027 starts on a Monday: weeks of 7, 7, 7, 7 and 3 days. 9,000,000 cents x 7/31 = 2,032,258.06 and
    # x 3/31 = 870,967.74: the floors leave one cent, which goes to the largest remainder (.74, the short week)
    weekly = next(b for b in card.blocks if isinstance(b, Table))
    assert [r[2] for r in weekly.rows] == ["20,322.58 USD", "20,322.58 USD", "20,322.58 USD", "20,322.58 USD",
                                           "8,709.68 USD"]
    card = say(d, "lead1", "/target split live-us net_gmv host1=2 host3=1 2027-03")
    assert card.title == "目标已分解 · 直播一组 Live US/UK · 实际GMV · 2027-03"
    assert _targets_of(demo_store, ["host1", "host3", "buyer1", "operator1", "selector1"], "net_gmv", "2027-03") == {
        "host1": D("60000.00"), "host3": D("30000.00"),
        # measured on the team's own orders: each gets the whole
        "buyer1": D(90000), "operator1": D(90000), "selector1": D(90000)}
    assert "拆分合计 90,000.00 USD，总目标 90,000.00 USD。" in render_text(card)
    say(d, "lead1", "/target set live-us orders 1001 2027-03")
    say(d, "lead1", "/target split live-us orders even 2027-03")
    assert _targets_of(demo_store, ["host1", "host3"], "orders", "2027-03") == {"host1": D(501), "host3": D(500)}


def test_split_by_last_months_share_follows_octobers_numbers(d: Dispatcher, demo_store: Engine) -> None:
    say(d, "lead1", "/target set live-us net_gmv 100000 2026-11")
    say(d, "lead1", "/target split live-us net_gmv share 2026-11")
    got = _targets_of(demo_store, ["host1", "host3"], "net_gmv", "2026-11")
    october = {code: october_net_gmv(demo_store, code) for code in ("host1", "host3")}
    # the split itself is checked by hand above; here: the weights are October's actuals, unrounded
    assert got == split(D(100000), october, CENT)
    assert got["host1"] + got["host3"] == D("100000.00")
    # and those actuals are what `kpibot kpi` reports for October, to the cent
    assert {k: str(v.quantize(CENT)) for k, v in october.items()} == {
        code: kpi_net_gmv(demo_store, code, "2026-10") for code in ("host1", "host3")}


def october_net_gmv(engine: Engine, code: str) -> Decimal:
    from scoring.periods import month_window
    from scoring.rules import Rules
    from services.scorecards import Inputs, score_member
    from storage.queries import team_of
    from tests.conftest import DEMO_NOW

    with Session(engine) as s:
        m = member_by_code(s, code)
        assert m is not None
        score = score_member(s, Inputs.load(s, Rules(), DEMO_NOW), m, team_of(s, m), month_window(2026, 10, m.timezone))
        assert score.scorecard is not None
        actual = score.scorecard.result("net_gmv").actual
        assert actual is not None
        return actual


def kpi_net_gmv(engine: Engine, code: str, period: str) -> str:
    """The member's net GMV for a month as `kpibot kpi` reports it (an independent path through the CLI)."""
    from cards.kpi_report import kpi_report
    from scoring.periods import month_window
    from scoring.rules import Rules
    from services.scorecards import Inputs, score_member
    from storage.queries import team_of
    from tests.conftest import DEMO_NOW

    with Session(engine) as s:
        m = member_by_code(s, code)
        assert m is not None
        window = month_window(int(period[:4]), int(period[5:]), m.timezone)
        score = score_member(s, Inputs.load(s, Rules(), DEMO_NOW), m, team_of(s, m), window)
        report = kpi_report(m, score.scorecard, period, "USD", score.template)
    return next(x["actual"]["amount"] for x in report["metrics"] if x["key"] == "net_gmv")


def test_who_may_set_and_see_what(d: Dispatcher) -> None:
    assert "You may not set targets for Lin Xiaoyu" in render_text(say(d, "host1", "/target set host1 net_gmv 1"))
    forbidden = "你无权为"
    # another team's member: no name, the same answer as a member that does not exist
    assert render_text(say(d, "lead1", "/target set host2 net_gmv 1")).splitlines()[-1] == NOT_VISIBLE_ZH
    assert forbidden in render_text(say(d, "lead1", "/target set company net_gmv 1"))
    assert forbidden in render_text(say(d, "manager1", "/target set company net_gmv 1"))
    assert say(d, "manager1", "/target set shopee-id orders 10 2027-04").title.startswith("已设置目标")
    assert say(d, "admin1", "/target set company net_gmv 1m 2027-04").title == (
        "Target set · Company · Net GMV · 2027-04")
    assert render_text(say(d, "host1", "/target host2")).splitlines()[-1] == NOT_VISIBLE_EN
    assert say(d, "host1", "/target 2026-11").title == "Targets · Lin Xiaoyu 林小雨 · 2026-11"
    assert say(d, "lead1", "/target").title == "目标 · 直播一组 Live US/UK · 2026-11"


def test_target_mistakes_get_short_answers(d: Dispatcher) -> None:
    assert "No metric called nonsense" in render_text(say(d, "admin1", "/target set host1 nonsense 5"))
    assert render_text(say(d, "admin1", "/target set host1 net_gmv abc")).rstrip().endswith(
        "abc is not a number. Try: /target set WHO METRIC VALUE [YYYY-MM]")
    assert render_text(say(d, "lead1", "/target set host1 net_gmv abc")).rstrip().endswith(
        "abc 不是数字。试试：/target set WHO METRIC VALUE [YYYY-MM]")
    assert "No member or team called nobody" in render_text(say(d, "admin1", "/target set nobody net_gmv 5"))
    assert "does not add up across countries" in render_text(say(d, "admin1", "/target baseline live-us US aov 5"))
    assert "Give a weight for everyone. Unknown: —. Missing: host3." in render_text(
        say(d, "admin1", "/target split live-us net_gmv host1=1"))
    assert "has no Net GMV target for 2030-01" in render_text(say(d, "admin1", "/target split live-us net_gmv 2030-01"))
    assert render_text(say(d, "lead1", "/目标 team-x")).splitlines()[-1] == NOT_VISIBLE_ZH   # not told which exist
    assert "没有名为 team-x 的成员或团队" in render_text(say(d, "manager1", "/目标 team-x"))


@pytest.mark.parametrize(("user", "command", "expected"), [
    ("host1", "/target {}", "en"),                       # a host sees only their own
    ("host1", "/target {} 2026-11", "en"),
    ("host1", "/target set {} net_gmv 1", "en"),
    ("lead1", "/target {}", "zh"),                       # host2 is in another team
    ("lead1", "/target set {} net_gmv 1", "zh"),
])
def test_a_refusal_does_not_tell_whether_the_member_exists(d: Dispatcher, user: str, command: str,
                                                            expected: str) -> None:
    """/target host2 by someone who may not see host2 answers exactly as /target of a member that does not exist,
    and names nobody (before, it showed host2's real name)."""
    existing = render_text(say(d, user, command.format("host2")))
    unknown = render_text(say(d, user, command.format("nosuchmember")))
    assert existing == unknown
    assert existing == "kpibot\n======\n" + (NOT_VISIBLE_EN if expected == "en" else NOT_VISIBLE_ZH) + "\n"


def test_country_baselines_show_each_countrys_progress(d: Dispatcher) -> None:
    say(d, "lead1", "/target baseline live-us US net_gmv 80k 2026-11")
    say(d, "lead1", "/target baseline live-us GB net_gmv 20k 2026-11")
    card = say(d, "lead1", "/target live-us 2026-11")
    table = [b for b in card.blocks if isinstance(b, Table)][-1]
    assert [r[0] for r in table.rows] == ["GB", "US"]
    assert [r[2] for r in table.rows] == ["20,000.00 USD", "80,000.00 USD"]
    # the two countries' so-far add up to the team's (the team sells only in GB and US)
    so_far = sum(D(r[3].split()[0].replace(",", "")) for r in table.rows)
    team_so_far = next(b for b in card.blocks if isinstance(b, Table)).rows[0][2]
    assert so_far == D(team_so_far.split()[0].replace(",", ""))


def test_a_member_in_trial_sees_it_on_the_target_card(d: Dispatcher) -> None:
    # host3's trial ends 20 days after the demo's today
    assert f"Trial period until {date(2026, 12, 12)}: this score is shown for calibration and is not binding." in (
        render_text(say(d, "host3", "/target")))
    assert "Trial period" not in render_text(say(d, "host1", "/target"))


def test_targets_are_stored_in_whole_steps_and_odd_numbers_are_refused(d: Dispatcher, demo_store: Engine) -> None:
    say(d, "admin1", "/target set host1 orders 0.5 2027-05")
    say(d, "admin1", "/target set host1 net_gmv 1234.565 2027-05")
    assert _targets_of(demo_store, ["host1"], "orders", "2027-05") == {"host1": D(1)}
    assert _targets_of(demo_store, ["host1"], "net_gmv", "2027-05") == {"host1": D("1234.57")}
    assert render_text(say(d, "admin1", "/target set host1 net_gmv 1e30")).rstrip().endswith(
        "1e30 is out of range: 0 to 1,000,000,000,000,000. Try: /target set WHO METRIC VALUE [YYYY-MM]")
    assert render_text(say(d, "admin1", "/target set host1 net_gmv 8%")).rstrip().endswith(
        "8%: a percentage is for a rate; this is an amount. Try: /target set WHO METRIC VALUE [YYYY-MM]")
    assert render_text(say(d, "admin1", "/target set host1 refund_rate 8")).rstrip().endswith(
        "8 for a rate: write it as a percentage, e.g. 8%.")
    say(d, "admin1", "/target set live-us net_gmv 1000 2027-05")
    for weights in ("host1=nan host3=1", "host1=inf host3=1", "host1=-1 host3=1"):
        assert "Try: /target split" in render_text(say(d, "admin1", f"/target split live-us net_gmv {weights} 2027-05"))


def test_nobody_but_an_admin_sets_their_own_target(d: Dispatcher) -> None:
    assert "你无权为 Sun Li 孙丽 设置目标" in render_text(say(d, "lead1", "/target set lead1 net_gmv 1"))
    assert say(d, "admin1", "/target set admin1 orders 1 2027-05").title.startswith("Target set")


def test_a_baseline_only_for_a_country_the_team_sells_in(d: Dispatcher) -> None:
    assert render_text(say(d, "admin1", "/target baseline live-us UK net_gmv 10k")).rstrip().endswith(
        "直播一组 Live US/UK has no shop selling in UK; its shops sell in: GB, US.")


def test_a_period_cell_excel_turned_into_a_date_is_read_as_its_month(demo_store: Engine, tmp_path: Path) -> None:
    book = Workbook()
    book.active.append(["period", "team", "metric", "value"])
    book.active.append([datetime(2027, 6, 1), "live-us", "orders", 1200])
    book.save(tmp_path / "dates.xlsx")
    with Session(demo_store) as s:
        assert import_targets(s, tmp_path / "dates.xlsx", 1, None, "USD").targets == 1
        s.commit()
        team = s.execute(select(Team).where(Team.code == "live-us")).scalar_one()
        assert monthly_targets(s, f"team:{team.id}", ["2027-06"]) == {"orders": {(2027, 6): D(1200)}}


def test_a_target_set_shows_at_once_in_a_card_cached_for_the_minute(demo_store: Engine) -> None:
    d = dispatcher_for(demo_store)

    def net_gmv_target() -> str:
        card = say(d, "host1", "/mykpi")
        return next(b.detail for b in card.blocks if isinstance(b, Progress) and b.label.startswith("Net GMV"))

    before = net_gmv_target()
    say(d, "admin1", "/target set host1 net_gmv 77777 2026-11")
    after = net_gmv_target()
    assert before != after and " / 77,777.00 USD" in after


def _audit_of(engine: Engine, action: str) -> list[tuple[str, str | None, dict[str, object]]]:
    with Session(engine) as s:
        return [(a.actor, a.entity_id, a.details) for a in s.execute(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).scalars()]


def test_a_target_of_zero_only_when_meant(demo_copy: Engine) -> None:
    d = dispatcher_for(demo_copy)
    before = _targets_of(demo_copy, ["host1"], "net_gmv", "2026-12")
    refused = say(d, "admin1", "/target set host1 net_gmv 0 2026-12")
    assert render_text(refused).rstrip().endswith(
        "A target of 0 takes Net GMV out of the score. If that is what you mean, add --zero.")
    assert render_text(say(d, "lead1", "/target set host1 refund_rate 0% 2026-12")).rstrip().endswith(
        "目标为 0 会把 退款率 移出评分。如确实如此，请加上 --zero。")
    assert _targets_of(demo_copy, ["host1"], "net_gmv", "2026-12") == before
    assert say(d, "admin1", "/target set host1 net_gmv 0 --zero 2026-12").title == (
        "Target set · Lin Xiaoyu 林小雨 · Net GMV · 2026-12")
    assert _targets_of(demo_copy, ["host1"], "net_gmv", "2026-12") == {"host1": D(0)}
    assert "A target of 0 takes Net GMV out of the score." in render_text(
        say(d, "admin1", "/target baseline live-us US net_gmv 0 2026-12"))


def test_a_paid_or_past_months_targets_only_with_force_and_audited(demo_copy: Engine) -> None:
    d = dispatcher_for(demo_copy)      # November 2026
    with Session(demo_copy) as s:      # October's commission paid
        assert close_month(s, Inputs.load(s, Rules(), DEMO_NOW), 2026, 10).paid != []
        s.commit()
    october = _targets_of(demo_copy, ["host1"], "net_gmv", "2026-10")
    paid = render_text(say(d, "admin1", "/target set host1 net_gmv 50000 2026-10")).rstrip()
    assert paid.endswith("Commission for 2026-10 is already paid, so its targets are settled. To change one anyway, "
                         "add --force (recorded in the audit log).")
    over = render_text(say(d, "lead1", "/target set host1 net_gmv 50000 2025-01")).rstrip()
    assert over.endswith("2025-01 已结束，目标已定。如仍要修改，请加上 --force（会记入审计日志）。")
    assert "already paid" in render_text(say(d, "admin1", "/target split live-us net_gmv even 2026-10"))
    assert "already paid" in render_text(say(d, "admin1", "/target baseline live-us US net_gmv 5000 2026-10"))
    assert _targets_of(demo_copy, ["host1"], "net_gmv", "2026-10") == october
    assert _audit_of(demo_copy, "target.force") == []
    # on purpose: written, and audited with why the month was settled and what it replaced
    assert say(d, "admin1", "/target set host1 net_gmv 50000 2026-10 --force").title == (
        "Target set · Lin Xiaoyu 林小雨 · Net GMV · 2026-10")
    say(d, "lead1", "/target set host1 net_gmv 40000 —force 2025-01")   # a phone's dash
    host1 = _targets_of(demo_copy, ["host1"], "net_gmv", "2026-10")
    assert host1 == {"host1": D("50000.00")}
    (oct_row, jan_row) = _audit_of(demo_copy, "target.force")
    with Session(demo_copy) as s:
        host1_id = member_by_code(s, "host1").id   # type: ignore[union-attr]
    assert oct_row == ("admin1", f"member:{host1_id}", {
        "period": "2026-10", "metric": "net_gmv", "value": "50000.00", "before": str(october["host1"]),
        "settled": "paid"})
    assert jan_row == ("lead1", f"member:{host1_id}", {
        "period": "2025-01", "metric": "net_gmv", "value": "40000.00", "before": None, "settled": "over"})
    # the current month needs neither
    assert say(d, "admin1", "/target set host1 net_gmv 60000 2026-11").title == (
        "Target set · Lin Xiaoyu 林小雨 · Net GMV · 2026-11")
    assert len(_audit_of(demo_copy, "target.force")) == 2

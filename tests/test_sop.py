"""/sop: every KPI role has a playbook in every language and typical values of real metrics by stage and region;
the card shows the caller's role or the one named, in the caller's language, for their team's region. A member
in trial without a target of their own is measured against the typical value; nobody else ever is."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.dispatch import Dispatcher, Incoming
from cards.i18n import LANGS, MESSAGES
from cards.model import Card, Note, Progress, Table
from cards.render_text import render_text
from scoring.metrics import CATALOG
from scoring.roles import Role
from scoring.sop import LIBRARY, Region, Typical, region_of, typical
from scoring.templates import Stage
from storage.models import Target, TeamCountry
from storage.queries import member_by_code
from tests.conftest import dispatcher_for


def say(d: Dispatcher, user: str, text: str) -> Card:
    card = d.handle_message(Incoming("console", user, text))
    assert card is not None
    return card


def test_every_role_with_kpis_has_a_playbook_in_every_language() -> None:
    assert set(LIBRARY) == {r for r in Role if r.has_kpis}
    for role, book in LIBRARY.items():
        assert set(book.steps) >= {"en", "zh", "id"}, role
        assert len({len(steps) for steps in book.steps.values()}) == 1, role   # the same steps in each language
        for b in book.benchmarks:
            assert b.metric in CATALOG, (role, b.metric)
            assert [s for s, _ in b.by_stage] == [Stage.COLD_START, Stage.GROWTH, Stage.STABLE]
            assert b.source == "starting assumption"   # no value pretends to be a published statistic
    for key in ("sop.title", "sop.daily", "sop.typical", "sop.metric", "sop.assumption", "sop.which_role",
                "sop.no_role", "help.sop", "stage.cold_start", "stage.growth", "stage.stable"):
        assert set(MESSAGES[key]) >= {*LANGS, "id"}, key


def test_a_host_sees_their_own_playbook(demo_engine: Engine) -> None:
    card = say(dispatcher_for(demo_engine), "host1", "/sop")
    assert card.title == "SOP · host"
    table = next(b for b in card.blocks if isinstance(b, Table))
    assert table.headers == ("Metric", "Cold start", "Growth", "Stable")
    # host1's team, live-us, sells in the US (the demo sets its countries as `kpibot teams add --country` does)
    assert table.rows == (("Live sessions", "20", "24", "26"), ("Average watch time", "0m 30s", "0m 45s", "1m 00s"),
                          ("Interaction rate", "2.0%", "3.0%", "4.0%"), ("New followers", "300", "1,000", "2,000"))
    assert next(b.text for b in card.blocks if isinstance(b, Note)) == "Values for the US."
    text = render_text(card)
    assert "1. Before going live: check the run sheet" in text
    assert "These values are starting assumptions, not industry statistics" in text


def test_a_role_is_named_in_any_language_and_shown_in_the_callers(demo_engine: Engine) -> None:
    d = dispatcher_for(demo_engine, locale="zh")
    card = say(d, "manager1", "/sop 投手")   # manager1's locale is zh-CN in the demo
    assert card.title == "SOP · 投手"
    table = next(b for b in card.blocks if isinstance(b, Table))
    assert (table.headers, table.rows) == (("指标", "冷启动", "成长期", "稳定期"),
                                           ((CATALOG["roi"].name("zh"), "150.0%", "250.0%", "300.0%"),))
    assert say(d, "manager1", "/岗位手册 ad_buyer").title == "SOP · 投手"


def test_a_role_without_a_playbook_or_an_unknown_one_is_told_the_roles(demo_engine: Engine) -> None:
    d = dispatcher_for(demo_engine)
    assert render_text(say(d, "manager1", "/sop")).splitlines()[-1] == (
        "你的岗位没有 SOP，请指定一个：host (主播), ad_buyer (投手), operator (运营), selector (选品), lead (组长)")
    assert render_text(say(d, "host1", "/sop boss")).splitlines()[-1] == (
        "No playbook for 'boss'. The roles: host (host), ad_buyer (ad buyer), operator (operator), "
        "selector (selector), lead (team lead)")


def test_typical_values_are_exact_decimals() -> None:
    host = LIBRARY[Role.HOST].benchmarks
    assert dict(next(b for b in host if b.metric == "interaction_rate").by_stage) == {
        Stage.COLD_START: Decimal("0.03"), Stage.GROWTH: Decimal("0.05"), Stage.STABLE: Decimal("0.06")}


# --- regions and typical values as targets for a member in trial ---------------------------------------------------

def test_a_team_is_in_one_region_only_when_all_its_countries_are() -> None:
    assert region_of(["ID", "MY", "th", "VN", "PH", "SG"]) is Region.SEA
    assert region_of(["us"]) is Region.US
    assert region_of(["GB", "DE", "FR"]) is Region.UK_EU
    assert region_of(["US", "GB"]) is Region.OTHER     # several regions: the default
    assert region_of(["CN"]) is Region.OTHER
    assert region_of([]) is Region.OTHER               # countries not set: the default


def test_typical_values_by_role_stage_and_region() -> None:
    assert typical(Role.HOST, Stage.GROWTH, Region.SEA, "interaction_rate") == Typical(
        "interaction_rate", Decimal("0.06"), "starting assumption")
    assert typical(Role.HOST, Stage.GROWTH, Region.UK_EU, "interaction_rate") == Typical(
        "interaction_rate", Decimal("0.03"), "starting assumption")
    assert typical(Role.HOST, Stage.GROWTH, Region.OTHER, "interaction_rate") == Typical(
        "interaction_rate", Decimal("0.05"), "starting assumption")
    # a metric without regional values has the same one everywhere
    assert typical(Role.HOST, Stage.COLD_START, Region.US, "live_sessions") == Typical(
        "live_sessions", Decimal("20"), "starting assumption")
    assert typical(Role.OPERATOR, Stage.STABLE, Region.UK_EU, "refund_rate") == Typical(
        "refund_rate", Decimal("0.08"), "starting assumption")
    assert typical(Role.AD_BUYER, Stage.COLD_START, Region.US, "roi") == Typical(
        "roi", Decimal("1.2"), "starting assumption")
    # money stays out (it depends on the currency), and so does a role without a playbook
    assert typical(Role.HOST, Stage.GROWTH, Region.SEA, "net_gmv") is None
    assert typical(Role.MANAGER, Stage.GROWTH, Region.SEA, "refund_rate") is None


def _drop_targets(engine: Engine, code: str, metrics: tuple[str, ...], countries: tuple[str, ...]) -> None:
    """Remove the member's November targets of `metrics`; their team sells in `countries` (instead of the demo's)."""
    with Session(engine) as s:
        member = member_by_code(s, code)
        assert member is not None and member.team_id is not None
        for target in s.exec(select(Target).where(Target.subject == f"member:{member.id}",
                                                  Target.period == "2026-11")).all():
            if target.metric_key in metrics:
                s.delete(target)
        for old in s.exec(select(TeamCountry).where(TeamCountry.team_id == member.team_id)).all():
            s.delete(old)
        s.flush()
        s.add_all(TeamCountry(team_id=member.team_id, country=c) for c in countries)
        s.commit()


def test_a_member_in_trial_without_a_target_is_measured_against_the_typical_value(demo_copy: Engine) -> None:
    # host3 (live-us, growth) is in trial until 2026-12-12; gmv_per_live has no typical value (money)
    _drop_targets(demo_copy, "host3", ("interaction_rate", "gmv_per_live"), ("GB", "DE"))
    card = say(dispatcher_for(demo_copy), "host3", "/mykpi")
    lines = {b.label: b.detail for b in card.blocks if isinstance(b, Progress)}
    assert lines["Interaction rate (15%)"] == "7.8% / 3.0% · Achievement 262%"
    assert lines["GMV per live session (20%)"] == "1,049.48 USD · no target"
    notes = [b.text for b in card.blocks if isinstance(b, Note)]
    assert notes[:3] == [
        "Not scored (no target or no data): GMV per live session",
        "Trial period until 2026-12-12: this score is shown for calibration and is not binding.",
        "In trial, a metric without a target of yours is measured against its typical value (SOP, starting "
        "assumption; Growth, the UK and EU): Interaction rate."]
    target = say(dispatcher_for(demo_copy), "admin1", "/target host3")
    table = next(b for b in target.blocks if isinstance(b, Table))
    assert table.rows[3] == ("Interaction rate", "3.0%", "7.8%", "262%")
    assert [b.text for b in target.blocks if isinstance(b, Note)][-2] == notes[2]


def test_a_member_not_in_trial_never_gets_a_typical_target(demo_copy: Engine) -> None:
    _drop_targets(demo_copy, "host1", ("interaction_rate",), ("US",))
    card = say(dispatcher_for(demo_copy), "host1", "/mykpi")
    lines = {b.label: b.detail for b in card.blocks if isinstance(b, Progress)}
    assert lines["Interaction rate (15%)"].endswith(" · no target")
    assert next(b.text for b in card.blocks if isinstance(b, Note)) == \
        "Not scored (no target or no data): Interaction rate"
    assert not any("typical value" in b.text for b in card.blocks if isinstance(b, Note))


def test_the_sop_card_shows_the_values_of_the_teams_region(demo_copy: Engine) -> None:
    _drop_targets(demo_copy, "host2", (), ("ID", "MY"))
    card = say(dispatcher_for(demo_copy), "host2", "/sop")
    table = next(b for b in card.blocks if isinstance(b, Table))
    assert table.rows[2] == ("互动率", "4.0%", "6.0%", "8.0%")
    assert next(b.text for b in card.blocks if isinstance(b, Note)) == "以上为东南亚的参考值。"

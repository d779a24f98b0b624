"""/sop: every KPI role has a playbook in every language and typical values of real metrics by stage; the card
shows the caller's role or the one named, in the caller's language."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine

from bot.dispatch import Dispatcher, Incoming
from cards.i18n import LANGS, MESSAGES
from cards.model import Card, Table
from cards.render_text import render_text
from scoring.metrics import CATALOG
from scoring.roles import Role
from scoring.sop import LIBRARY
from scoring.templates import Stage
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
    assert table.rows == (("Live sessions", "20", "24", "26"), ("Average watch time", "0m 30s", "0m 45s", "1m 00s"),
                          ("Interaction rate", "3.0%", "5.0%", "6.0%"), ("New followers", "300", "1,000", "2,000"))
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

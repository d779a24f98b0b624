"""/team and the digest show the team-scoped roles once, as a "Team (shared)" row (services.team_rows), and
/team, /rank and /digest end with the counting rules (cards.counting); on the demo store at pinned clocks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.dispatch import Incoming
from cards.model import Card, Fields, Text
from cards.render_text import render_text
from scoring.periods import PeriodKind
from scoring.rules import Rules
from services.scorecards import Inputs, team_scores
from services.team_rows import row_for
from storage.queries import member_by_code, team_of
from tests.card_reading import table
from tests.clock import DEMO_NOW
from tests.conftest import dispatcher_for, seeded_demo


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = seeded_demo(tmp_path_factory.mktemp("teamrows") / "demo.db")
    yield eng
    eng.dispose()


def ask(store: Engine, code: str, text: str, locale: str, now: datetime = DEMO_NOW) -> Card:
    """`text` from member `code`, who reads `locale` (the demo's lead1 reads zh-CN, host1 en)."""
    with Session(store) as s:
        member = member_by_code(s, code)
        assert member is not None
        member.locale = locale
        s.add(member)
        s.commit()
    card = dispatcher_for(store, now=now).handle_message(Incoming("console", code, text))
    assert card is not None
    return card


SHARED_EN = "team figure, see Team (shared)"


def test_team_shows_the_team_scoped_roles_once_against_the_teams_figure(store: Engine) -> None:
    # 04:00 on 22 Nov in Los Angeles: the team's net GMV is on pace; the ad buyer, operator, selector and lead are
    # measured on it, so they point to the one shared row, keep their score and grade and are not flagged
    card = ask(store, "lead1", "/team", "en")
    assert dict(next(b for b in card.blocks if isinstance(b, Fields)).items)["Team Net GMV"] == \
        "63,864.02 USD / 88,800.00 USD (72%)"
    assert table(card) == (
        ("Team (shared)", "—", "—", "—", "Net GMV 72% · 103% of pace", "ok"),
        # paces and scores on the team's usual month (scoring.shape)
        ("Lin Xiaoyu 林小雨", "host", "113.3", "A", "Net GMV 82% · 117% of pace", "ok"),
        ("Liu Yang 刘洋", "selector", "105.2", "A", SHARED_EN, "—"),
        ("Emily Carter (trial)", "host", "95.4", "B", "Net GMV 70% · 100% of pace", "ok"),
        ("Zhao Lei 赵磊", "operator", "94.1", "B", SHARED_EN, "—"),
        ("Chen Hao 陈浩", "ad buyer", "88.0", "B", SHARED_EN, "—"),
        ("Sun Li 孙丽", "team lead", "77.5", "C", SHARED_EN, "—"),
    )
    assert [b.text for b in card.blocks if isinstance(b, Text)] == ["Nobody is behind pace."]
    # against their own target the lead would have been named behind on that one number (the ad buyer's own row
    # now leads with ROI, which has no pace, and grade B is not behind)
    with Session(store) as s:
        lead = member_by_code(s, "lead1")
        assert lead is not None
        scores = team_scores(s, Inputs.load(s, Rules(), DEMO_NOW, skip_missing_fx=True), team_of(s, lead),
                             PeriodKind.MONTH)
    assert sorted(x.member.code for x in scores if row_for(x, "en", "USD").lagging) == ["lead1"]


def test_team_and_digest_show_the_same_rows(store: Engine) -> None:
    team, digest = ask(store, "lead1", "/team", "zh-CN"), ask(store, "lead1", "/digest", "zh-CN")
    # /team: member, role, score, grade, key metric, status; the digest: member, "score grade", key metric, status
    assert [(r[0], r[4], r[5]) for r in table(team)] == [(r[0], r[2], r[3]) for r in table(digest)]
    assert table(team)[0] == ("团队（共享）", "—", "—", "—", "实际GMV 72% · 进度 103%", "正常")
    assert table(team)[2] == ("Liu Yang 刘洋", "选品", "105.2", "A", "按团队数据，见团队（共享）", "—")


def test_a_team_behind_pace_is_named_once(store: Engine) -> None:
    # 15:00 on 6 Nov in Los Angeles: the team's net GMV is behind pace (on its usual month, scoring.shape); it is
    # named once, as the shared row, not once per team-scoped member; the host in trial keeps her mark
    card = ask(store, "lead1", "/team", "en", now=datetime(2026, 11, 6, 23, tzinfo=UTC))
    assert table(card)[0] == ("Team (shared)", "—", "—", "—", "Net GMV 16% · 91% of pace", "⚠ behind")
    assert [r[5] for r in table(card) if r[4] == SHARED_EN] == ["—", "—", "—", "—"]
    assert [b.text for b in card.blocks if isinstance(b, Text)] == ["Behind pace: Team (shared), Emily Carter (trial)"]


@pytest.mark.parametrize(("locale", "footer"), [("en", "· Orders counted at payment · refunds netted"),
                                                ("zh-CN", "· 订单按付款时间计入 · 退款已扣除")])
def test_team_rank_and_digest_end_with_the_counting_rules(store: Engine, locale: str, footer: str) -> None:
    for command in ("/team", "/rank", "/digest"):
        assert render_text(ask(store, "lead1", command, locale)).splitlines()[-1] == footer, command

"""A group's shared digest card can't be taken over: clicks on it run within its subscription (cards.clicks).

Through the real `kpibot run` against the Feishu and DingTalk fakes: the demo store, live-us subscribed to a
group chat at 00:30 Los Angeles, the clock pinned at the demo's now (04:00 there), so the first digest tick
sends it. Then people click its Refresh button. A refusal is told privately in the clicker's language (the
organisation's when they are unbound), whatever the card's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.dispatch import Refused
from cards.model import Card, Note, Tone
from storage.models import DigestSubscription
from storage.queries import find_team
from tests.bot_process import BotProcess
from tests.clock import DEMO_NOW
from tests.conftest import dispatcher_for, seeded_demo
from tests.fakes.dingtalk import FakeDingTalk
from tests.fakes.feishu import FakeFeishu

TEMPLATE = "kpibot-card.schema"
NOT_ALLOWED = "Only this team's members can refresh its digest. Nothing was changed."
NOT_ALLOWED_ZH = "只有本团队成员可以刷新团队日报，卡片未更改。"
STALE_ZH = "此按钮已失效，请重新发送命令。"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = seeded_demo(tmp_path_factory.mktemp("group_cards") / "kpibot.db")
    yield engine
    engine.dispose()


def subscribe(store: Engine, platform: str, chat: str, finance: bool = False) -> int:
    with Session(store) as session:
        team = find_team(session, "live-us")
        assert team is not None
        sub = DigestSubscription(team_id=team.id or 0, platform=platform, chat_id=chat, send_time="00:30",
                                 timezone="America/Los_Angeles", locale="en", finance=finance, weekly=False)
        session.add(sub)
        session.commit()
        return sub.id or 0


def refresh_value(content: dict) -> dict:
    return next(c["elements"][0]["behaviors"][0]["value"] for e in content["body"]["elements"]
                if e["tag"] == "column_set" for c in e["columns"])


def test_feishu_group_digest_clicks_run_within_the_subscription(store: Engine, tmp_path: Path) -> None:
    sub = subscribe(store, "feishu", "oc_live", finance=True)
    with FakeFeishu() as fake, BotProcess(tmp_path, store.url.render_as_string(hide_password=False), feishu=fake,
                                          env={"KPIBOT_NOW": DEMO_NOW.isoformat()}) as bot:
        bot.wait_serving()
        fake.wait_for(lambda: any(m.get("chat_id") == "oc_live" for m in fake.messages), timeout=60)
        sent = next(m for m in fake.messages if m.get("chat_id") == "oc_live")
        value = refresh_value(sent["content"])
        assert value == {"command": "digest", "args": ["live-us"], "chat": "oc_live",
                         "scope": f"subscription:{sub}", "lang": "en"}

        def click(open_id: str, click_value: dict, chat: str = "oc_live") -> dict:
            return fake.push_event(fake.card_action_event(open_id, click_value, open_message_id=sent["message_id"],
                                                          chat_id=chat))["data"]["toast"]

        def told(open_id: str) -> list[str]:
            return [e["content"] for m in fake.messages if m.get("receive_id") == open_id
                    for e in m["content"]["body"]["elements"] if e["tag"] == "markdown"]

        # a host of another team (reads Chinese), that team's lead and someone unbound: told privately, the card
        # stays
        for open_id, text in (("ou_host2", NOT_ALLOWED_ZH), ("ou_lead2", NOT_ALLOWED), ("ou_stranger", NOT_ALLOWED)):
            assert click(open_id, value) == {"type": "info", "content": "Updating…"}
            fake.wait_for(lambda open_id=open_id: told(open_id) != [], timeout=30)
            assert told(open_id) == [text]
        # the same scope, clicked from another chat, or a button made for nobody (a card from before scopes)
        assert click("ou_lead1", value, chat="oc_other") == {
            "type": "warning", "content": "This card was sent to another chat; use it there."}
        assert click("ou_lead1", {"command": "digest", "args": []}) == {
            "type": "error", "content": "This button is no longer valid. Send the command again."}
        assert click("ou_lead1", {**value, "chat": "oc_other"}, chat="oc_other") == {
            "type": "info", "content": "Updating…"}       # forged: a subscription of another chat
        fake.wait_for(lambda: told("ou_lead1") != [], timeout=30)
        assert told("ou_lead1") == [STALE_ZH]             # the lead reads Chinese
        assert fake.patches == []

        # a host of the team refreshes it: the subscription's card (its finance columns too), not a refusal
        assert click("ou_host1", value) == {"type": "info", "content": "Updating…"}
        fake.wait_for(lambda: len(fake.patches) == 1, timeout=30)
        assert fake.patches[0]["message_id"] == sent["message_id"]
        assert fake.patches[0]["content"] == sent["content"]     # the clock is pinned: the very same card
        # a manager may see every team: the same card again
        click("ou_manager1", value)
        fake.wait_for(lambda: len(fake.patches) == 2, timeout=30)
        assert fake.patches[1]["content"] == sent["content"]
        assert bot.stop() == 0, bot.err
    assert "Traceback" not in bot.err


def test_dingtalk_group_digest_clicks_run_within_the_subscription(store: Engine, tmp_path: Path) -> None:
    sub = subscribe(store, "dingtalk", "cid_live")
    with FakeDingTalk() as fake, BotProcess(tmp_path, store.url.render_as_string(hide_password=False),
                                            dingtalk=fake, template=TEMPLATE,
                                            env={"KPIBOT_NOW": DEMO_NOW.isoformat()}) as bot:
        bot.wait_serving()
        fake.wait_for(lambda: any(d.target == "cid_live" for d in fake.delivered), timeout=60)
        out_track_id = next(d.out_track_id for d in fake.delivered if d.target == "cid_live") or ""
        card = fake.cards[out_track_id]
        params = json.loads(card.params["buttons"])[0]["params"]
        assert params == {"command": "digest", "args": ["live-us"], "chat": "cid_live",
                          "scope": f"subscription:{sub}", "lang": "en"}
        def told(user: str) -> list:
            return [d for d in fake.delivered if d.target == user]

        # another team's host (reads Chinese) and lead, someone unbound, and that lead on a weekly-scoped button
        # (the weekly card's scope; forged onto this card, as DingTalk sends back whatever params it was given)
        weekly = {**params, "scope": f"subscription:{sub}:weekly"}
        for user, clicked, text in (("host2", params, NOT_ALLOWED_ZH), ("lead2", params, NOT_ALLOWED),
                                    ("stranger", params, NOT_ALLOWED), ("lead2", weekly, NOT_ALLOWED)):
            before = len(told(user))
            fake.card_click(out_track_id, user, clicked)
            fake.wait_for(lambda user=user, before=before: len(told(user)) > before, timeout=30)
            refusal = told(user)[-1]
            assert refusal.via == "oto_send" and text in refusal.content["text"]
        assert len(card.history) == 1                                  # unchanged
        fake.card_click(out_track_id, "host1", params)
        fake.wait_for(lambda: len(card.history) == 2, timeout=30)
        assert card.history[1] == card.history[0]                      # the subscription's card, rebuilt
        assert bot.stop() == 0, bot.err
    assert "Traceback" not in bot.err


def test_a_shared_click_is_kept_for_the_minute_whoever_clicks_and_refusals_say_why(store: Engine) -> None:
    """The Dispatcher without a process: the card is built once per scope, language and minute (a manager's click
    gets the card a host's built), and a refusal names its reason in the clicker's language."""
    sub = subscribe(store, "feishu", "oc_cache")
    dispatcher = dispatcher_for(store)
    scope = f"subscription:{sub}"
    first = dispatcher.handle_shared_click("feishu", "ou_host1", "oc_cache", scope)
    assert isinstance(first, Card) and first.scope == scope
    assert (dispatcher.cache.hits, dispatcher.cache.misses) == (0, 1)
    assert dispatcher.handle_shared_click("feishu", "ou_manager1", "oc_cache", scope) is first
    assert (dispatcher.cache.hits, dispatcher.cache.misses) == (1, 1)

    def refusal(text: str, lang: str) -> Refused:
        return Refused(Card("kpibot", (Note(text),), Tone.WARN, lang))

    stale = "This button is no longer valid. Send the command again."
    assert dispatcher.handle_shared_click("feishu", "ou_lead2", "oc_cache", scope) == refusal(NOT_ALLOWED, "en")
    assert dispatcher.handle_shared_click("feishu", "ou_stranger", "oc_cache", scope) == refusal(NOT_ALLOWED, "en")
    assert dispatcher.handle_shared_click("feishu", "ou_lead1", "oc_other", scope) == refusal(STALE_ZH, "zh")
    assert dispatcher.handle_shared_click("feishu", "ou_lead2", "oc_cache", "subscription:9999") == refusal(stale, "en")
    assert dispatcher.handle_shared_click("dingtalk", "lead2", "oc_cache", scope) == refusal(stale, "en")
    with Session(store) as session:
        row = session.get(DigestSubscription, sub)
        assert row is not None
        row.active = False
        session.add(row)
        session.commit()
    assert dispatcher.handle_shared_click("feishu", "ou_host1", "oc_cache", scope) == refusal(stale, "en")

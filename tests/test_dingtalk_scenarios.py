"""DingTalk end to end: the real dingtalk-stream frames and handlers, our adapter and a real store, against
the fake DingTalk."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.config import DingTalkConfig
from bot.dispatch import Dispatcher
from bot.platforms.dingtalk import DingTalkAdapter
from bot.platforms.dingtalk_api import GROUP_WINDOW_S
from cards.chart_cache import ChartCache
from cards.markdown import escape
from cards.model import Card, Table, Text, Tone
from scoring.rules import Rules
from services.container import Services
from tests.conftest import DEMO_NOW, checkout_env, seeded_demo, settle
from tests.creator_links import add_creator, links_of
from tests.fakes.dingtalk import Delivered, FakeDingTalk

TEMPLATE = "kpibot_card.schema"



@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A writable demo store (staffIds are the member codes: host1, lead1, ...)."""
    engine = seeded_demo(tmp_path_factory.mktemp("dingtalk") / "kpibot.db")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDingTalk]:
    server = FakeDingTalk().start()
    yield server
    server.stop()
    assert server.protocol_errors == []   # the client never broke a rule of the Stream protocol


def config_for(fake: FakeDingTalk, template: str | None = TEMPLATE) -> DingTalkConfig:
    return DingTalkConfig(client_id=fake.client_id, client_secret=fake.client_secret, endpoint=fake.base_url,
                          media_endpoint=fake.base_url, card_template_id=template)


def connect(fake: FakeDingTalk, store: Engine, template: str | None = TEMPLATE, workers: int = 8) -> DingTalkAdapter:
    services = Services(store, Rules(), "Asia/Shanghai", "en", ChartCache())
    bot = DingTalkAdapter(config_for(fake, template), Dispatcher(services, clock=lambda: DEMO_NOW), store,
                          workers=workers, backoff_s=0.01)
    before = fake.connections
    bot.start()
    fake.wait_for(lambda: fake.connections > before, timeout=30)
    return bot


@pytest.fixture
def adapter(fake: FakeDingTalk, store: Engine) -> Iterator[DingTalkAdapter]:
    bot = connect(fake, store)
    yield bot
    bot.stop()


def to(fake: FakeDingTalk, target: str, since: int = 0) -> list[Delivered]:
    return [d for d in fake.delivered[since:] if d.target == target]


def test_mykpi_from_host1_gets_one_card_with_the_chart_and_the_members_numbers(
        fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    since = len(fake.delivered)
    started = time.monotonic()
    ack = fake.push_message(fake.bot_message("host1", "/mykpi", msg_id="msg_mykpi_1"))
    assert ack["code"] == 200 and json.loads(ack["data"]) == {"response": "OK"}
    assert time.monotonic() - started < 1.0          # acknowledged before the work is done
    fake.wait_for(lambda: len(to(fake, "host1", since)) == 1)
    delivered = to(fake, "host1", since)[0]
    assert (delivered.via, delivered.space, delivered.msg_key) == ("card", "user", TEMPLATE)
    card = fake.cards[delivered.out_track_id or ""]
    assert card.callback_type == "STREAM" and card.spaces == ["dtv1.card//IM_ROBOT.host1"]
    params = card.params
    assert params["title"] == "Lin Xiaoyu 林小雨 · This month KPI"
    assert fake.media[params["chart"]][:8] == b"\x89PNG\r\n\x1a\n"
    expected = adapter.dispatcher.handle_action("dingtalk", "host1", "mykpi", ())
    fields = dict(next(b for b in expected.blocks if hasattr(b, "items") and "Score" in dict(b.items)).items)
    assert f"**Score**：{fields['Score']}" in params["body"]
    buttons = json.loads(params["buttons"])
    assert [(b["text"], b["params"]) for b in buttons] == [
        (label, {"command": "mykpi", "args": [arg], "owner": "host1", "lang": "en"})
        for label, arg in (("Today", "day"), ("Week", "week"), ("Month", "month"), ("Refresh", "month"),
                           ("Why", "why"))]
    settle(fake, adapter.pool)
    assert len(to(fake, "host1", since)) == 1        # one answer, not two


def test_a_redelivery_and_a_disconnect_frame_give_a_reconnect_and_no_second_answer(
        fake: FakeDingTalk, adapter: DingTalkAdapter, store: Engine) -> None:
    since = len(fake.delivered)
    message = fake.bot_message("host2", "/help", msg_id="msg_dup_1")
    fake.push_message(message, message_id="frame_dup_1")
    fake.wait_for(lambda: len(to(fake, "host2", since)) == 1)
    fake.redeliver("frame_dup_1")
    connections = fake.connections
    fake.send_disconnect()
    fake.wait_for(lambda: fake.connections == connections + 1, timeout=30, what="a reconnect after disconnect")
    fake.push_message(message, message_id="frame_dup_2")          # same msgId in a new frame
    settle(fake, adapter.pool)
    assert len(to(fake, "host2", since)) == 1
    # a new process on the same store: still no second answer
    adapter.stop()
    restarted = connect(fake, store)
    try:
        fake.push_message(message, message_id="frame_dup_1")
        settle(fake, restarted.pool)
        assert len(to(fake, "host2", since)) == 1
    finally:
        restarted.stop()


def _recorded(store: Engine, *ids: str) -> list[tuple[str, str]]:
    """(state, claim token) of the store's record of each of `ids` (frame or message ids), in that order."""
    with store.connect() as conn:
        return [tuple(conn.execute(text("SELECT state, claim_token FROM processed_event WHERE platform = 'dingtalk' "
                                        "AND event_id = :e"), {"e": i}).one()) for i in ids]


def _card_sends(fake: FakeDingTalk, msg_id: str) -> int:
    """The bot's createAndDeliver calls for the card answering message `msg_id`."""
    track = "kpibot-" + hashlib.sha256(msg_id.encode()).hexdigest()[:40]
    return len([c for c in fake.calls if c.path == "/v1.0/card/instances/createAndDeliver"
                and (c.json or {}).get("outTrackId") == track])


def test_a_kept_answer_is_delivered_before_it_is_recorded_and_once_per_delivery(
        fake: FakeDingTalk, adapter: DingTalkAdapter, store: Engine) -> None:
    """The same ask within the minute in a one-to-one chat is answered from the card kept for the sender without
    the store's claim first (its outTrackId is made from the message id: DingTalk makes one card of it), then
    recorded answered: a redelivery to this process, and one to a new process on the same store, get nothing."""
    since = len(fake.delivered)
    fake.push_message(fake.bot_message("host1", "/mykpi", msg_id="msg_kept_1"), message_id="frame_kept_1")
    fake.wait_for(lambda: len(to(fake, "host1", since)) == 1)
    settle(fake, adapter.pool)
    (state, token), _ = _recorded(store, "frame_kept_1", "msg_kept_1")
    assert state == "answered" and token != ""          # claimed first, then settled
    again = fake.bot_message("host1", "/mykpi", msg_id="msg_kept_2")
    fake.push_message(again, message_id="frame_kept_2")
    fake.wait_for(lambda: len(to(fake, "host1", since)) == 2)
    settle(fake, adapter.pool)
    assert _recorded(store, "frame_kept_2", "msg_kept_2") == [("answered", "")] * 2   # after the card, never claimed
    first, second = to(fake, "host1", since)
    assert second.via == "card" and fake.cards[second.out_track_id or ""].params == \
        fake.cards[first.out_track_id or ""].params
    fake.push_message(again, message_id="frame_kept_3")  # the same message again: this process answered it
    settle(fake, adapter.pool)
    assert _card_sends(fake, "msg_kept_2") == 1 and len(to(fake, "host1", since)) == 2
    adapter.stop()
    restarted = connect(fake, store)                     # a new process: the store's record stops it
    try:
        fake.push_message(again, message_id="frame_kept_4")
        settle(fake, restarted.pool)
        assert _card_sends(fake, "msg_kept_2") == 1 and len(to(fake, "host1", since)) == 2
    finally:
        restarted.stop()


def test_a_kept_card_dingtalk_refuses_is_answered_as_ever(fake: FakeDingTalk, adapter: DingTalkAdapter,
                                                         store: Engine) -> None:
    """The kept card's send fails: the message is then claimed and answered the usual way (here the card again,
    which DingTalk now takes), once."""
    since = len(fake.delivered)
    fake.push_message(fake.bot_message("host2", "/mykpi", msg_id="msg_kept_ref_1"))
    fake.wait_for(lambda: len(to(fake, "host2", since)) == 1)
    settle(fake, adapter.pool)
    fake.fail_next(1, path_contains="/v1.0/card/instances", http_status=400, code="InvalidParameter")
    fake.push_message(fake.bot_message("host2", "/mykpi", msg_id="msg_kept_ref_2"), message_id="frame_kept_ref_2")
    fake.wait_for(lambda: len(to(fake, "host2", since)) == 2)
    settle(fake, adapter.pool)
    assert to(fake, "host2", since)[1].via == "card" and _card_sends(fake, "msg_kept_ref_2") == 2
    [(state, token)] = _recorded(store, "frame_kept_ref_2")
    assert state == "answered" and token != ""          # the usual path: claimed, then settled
    assert len(to(fake, "host2", since)) == 2


def test_plain_answers_go_through_the_session_webhook_as_escaped_markdown(
        fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    since = len(fake.delivered)
    fake.push_message(fake.bot_message("host3", "/pay**me**", msg_id="msg_escape"))
    fake.wait_for(lambda: len(to(fake, "host3", since)) == 1)
    reply = to(fake, "host3", since)[0]
    assert (reply.via, reply.msg_key) == ("session", "markdown")
    assert "/pay\\*\\*me\\*\\*" in reply.content["text"]
    assert "**me**" not in reply.content["text"]


def test_unbound_senders_are_told_their_staff_id_and_how_to_bind_it(
        fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    since = len(fake.delivered)
    fake.push_message(fake.bot_message("stranger7", "/mykpi", msg_id="msg_unbound"))
    fake.wait_for(lambda: len(to(fake, "stranger7", since)) == 1)
    text = to(fake, "stranger7", since)[0].content["text"]
    assert "stranger7" in text and "members bind" in text


def test_groups_answer_only_when_the_bot_is_mentioned(fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    since = len(fake.delivered)
    fake.push_message(fake.bot_message("host1", "/help", conversation_type="2", conversation_id="cid_team",
                                       at_bot=False, msg_id="msg_group_quiet"))
    fake.push_message(fake.bot_message("host1", "/help", conversation_type="2", conversation_id="cid_team",
                                       msg_id="msg_group_at"))
    fake.wait_for(lambda: len(to(fake, "cid_team", since)) == 1)
    settle(fake, adapter.pool)
    replies = to(fake, "cid_team", since)
    assert len(replies) == 1 and (replies[0].via, replies[0].space) == ("session", "group")


def test_a_creators_handle_and_a_url_with_an_at_sign_reach_the_link_command_intact(
        fake: FakeDingTalk, adapter: DingTalkAdapter, store: Engine) -> None:
    """DingTalk takes the robot's @name out of text.content itself: every "@" left is the sender's own."""
    product = "https://www.tiktok.com/@lily/video/1"
    add_creator(store, "@lily", "Lily")
    since = len(fake.delivered)
    message = fake.bot_message("host1", f" /link @lily {product}", conversation_type="2",
                               conversation_id="cid_links", msg_id="msg_link_lily")
    assert (message["text"], message["atUsers"], message["isInAtList"]) == (
        {"content": f" /link @lily {product}"}, [{"dingtalkId": fake.chatbot_user_id}], True)
    fake.push_message(message)
    fake.wait_for(lambda: len(to(fake, "cid_links", since)) == 1)
    delivered = to(fake, "cid_links", since)[0]
    assert (delivered.via, delivered.space) == ("card", "group")
    params = fake.cards[delivered.out_track_id or ""].params
    assert params["title"] == "Tracked link · Lily"
    tracked = (f"{product}?utm_source=kpibot&utm_medium=creator&utm_campaign=creator-lily"
               "&utm_content=1-3f8a5b")
    assert params["body"].split("\n\n")[0] == escape(tracked)
    assert links_of(store, "@lily") == [(product, "creator-lily", "1-3f8a5b")]


def test_an_expired_session_webhook_falls_back_to_the_robot_apis_with_a_cached_token(
        fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    since, calls = len(fake.delivered), len(fake.calls)
    fake.push_message(fake.bot_message("lead1", "/help", webhook_ttl_s=5, msg_id="msg_expired_1"))
    fake.push_message(fake.bot_message("lead1", "/help", conversation_type="2", conversation_id="cid_leads",
                                       webhook_ttl_s=5, msg_id="msg_expired_2"))
    fake.wait_for(lambda: len(to(fake, "lead1", since)) == 1 and len(to(fake, "cid_leads", since)) == 1)
    assert to(fake, "lead1", since)[0].via == "oto_send"
    assert to(fake, "cid_leads", since)[0].via == "group_send"
    assert to(fake, "cid_leads", since)[0].msg_key == "sampleMarkdown"
    token_calls = [c for c in fake.calls[calls:] if c.path == "/v1.0/oauth2/accessToken"]
    assert len(token_calls) == 1                     # a new adapter fetches one; the two sends share it
    fake.expire_tokens()                             # DingTalk revokes it: the next send fetches a new one
    fake.push_message(fake.bot_message("lead1", "/help", webhook_ttl_s=5, msg_id="msg_expired_3"))
    fake.wait_for(lambda: len(to(fake, "lead1", since)) == 2)
    assert len([c for c in fake.calls[calls:] if c.path == "/v1.0/oauth2/accessToken"]) == len(token_calls) + 1


def test_a_click_by_the_owner_updates_the_card_and_a_click_by_anyone_else_is_refused(
        fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    since = len(fake.delivered)
    fake.push_message(fake.bot_message("host1", "/mykpi", msg_id="msg_click_1"))
    fake.wait_for(lambda: len(to(fake, "host1", since)) == 1)
    out_track_id = to(fake, "host1", since)[0].out_track_id or ""
    card = fake.cards[out_track_id]
    week = next(b for b in json.loads(card.params["buttons"]) if b["params"]["args"] == ["week"])
    ack = fake.card_click(out_track_id, "host2", week["params"])          # not the owner
    assert ack["code"] == 200
    fake.wait_for(lambda: len(to(fake, "host2", since)) == 1)
    refusal = to(fake, "host2", since)[0]
    assert refusal.via == "oto_send" and "belongs to someone else" in refusal.content["text"]
    assert len(card.history) == 1                                           # unchanged
    fake.card_click(out_track_id, "host1", week["params"])
    fake.wait_for(lambda: len(card.history) == 2)
    assert card.params["title"] == "Lin Xiaoyu 林小雨 · This week KPI"
    assert len(to(fake, "host1", since)) == 1                               # updated in place, not re-sent


def test_throttled_group_sends_are_retried_and_delivered_once(fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    since, throttled, calls = len(fake.delivered), len(fake.throttled), len(fake.calls)
    fake.throttle_next(2, path_contains="/robot/sendBySession")
    fake.push_message(fake.bot_message("host1", "/help", conversation_type="2", conversation_id="cid_busy",
                                       msg_id="msg_throttled"))
    fake.wait_for(lambda: len(to(fake, "cid_busy", since)) == 1)
    assert len(fake.throttled) == throttled + 2
    webhook = [c.code for c in fake.calls[calls:] if c.path == "/robot/sendBySession"]
    assert webhook == [130101, 130101, 0]            # throttled twice, then delivered
    settle(fake, adapter.pool)
    assert len(to(fake, "cid_busy", since)) == 1
    # proactive sends to a group keep to 20 a minute: the 21st waits instead of being throttled
    # a 2 s window keeps the test fast; the adapter keeps the same 2 s margin for travel time as in production
    adapter.api.group_limit.per = 2.0 + (GROUP_WINDOW_S - 60)
    throttled_before = len(fake.throttled)
    fake_limit_window = fake.group_window_s
    fake.group_window_s = 2.0
    try:
        card = Card("Digest", (Text("hello"),), Tone.INFO, "en")
        for _ in range(21):
            assert adapter.send_to_chat("cid_digest", card)
    finally:
        fake.group_window_s = fake_limit_window
    assert len(to(fake, "cid_digest", since)) == 21 and len(fake.throttled) == throttled_before


def test_a_long_card_is_summarised_under_the_body_limit(fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    rows = tuple((str(i), f"成员 member {i:04d}", "99.9") for i in range(1, 1501))
    card = Card("Ranking", (Table(("#", "Member", "Score"), rows),), Tone.INFO, "en")
    since = len(fake.delivered)
    assert adapter.send_to_chat("cid_long", card)
    sent = to(fake, "cid_long", since)[0]
    assert sent.via == "group_send"
    assert "more rows are not shown" in sent.content["text"]
    assert "成员 member 0001" in sent.content["text"]


def test_without_a_card_template_mykpi_is_markdown_with_the_chart(fake: FakeDingTalk, store: Engine) -> None:
    bot = connect(fake, store, template=None)
    try:
        since = len(fake.delivered)
        fake.push_message(fake.bot_message("host3", "/mykpi", msg_id="msg_no_template"))
        fake.wait_for(lambda: len(to(fake, "host3", since)) == 1)
        reply = to(fake, "host3", since)[0]
        assert (reply.via, reply.msg_key) == ("session", "markdown")
        media_id = reply.content["text"].split("](", 1)[1].split(")", 1)[0]
        assert fake.media[media_id][:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        bot.stop()


def test_a_message_arriving_while_shutting_down_is_refused_so_dingtalk_redelivers_it(
        fake: FakeDingTalk, store: Engine) -> None:
    bot = connect(fake, store)
    since = len(fake.delivered)
    bot.pool.close()          # the first step of stop(): the connection is still open
    try:
        ack = fake.push_message(fake.bot_message("operator1", "/help", msg_id="msg_closing"),
                                message_id="frame_closing")
        assert ack["code"] == 500
    finally:
        bot.stop()
    later = connect(fake, store)
    try:
        fake.redeliver("frame_closing")
        fake.wait_for(lambda: len(to(fake, "operator1", since)) == 1)
    finally:
        later.stop()


def test_wrong_credentials_stop_at_once_with_a_clear_error(fake: FakeDingTalk, store: Engine) -> None:
    services = Services(store, Rules(), "Asia/Shanghai", "en", ChartCache())
    bot = DingTalkAdapter(replace(config_for(fake), client_secret="wrong"), Dispatcher(services), store)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="refused the connection: HTTP 401"):
        bot.start()
    assert time.monotonic() - started < 5
    bot.stop()


def test_kpibot_run_serves_feishu_and_dingtalk_at_once_and_stops_on_sigterm(
        fake: FakeDingTalk, store: Engine, tmp_path: Path) -> None:
    from tests.bot_process import BotProcess
    from tests.fakes.feishu import FakeFeishu

    with FakeFeishu() as feishu, BotProcess(tmp_path, store.url.render_as_string(hide_password=False),
                                            feishu=feishu, dingtalk=fake, template=TEMPLATE,
                                            env={"KPIBOT_NOW": DEMO_NOW.isoformat()}) as bot:
        bot.wait_serving()
        since = len(fake.delivered)
        fake.push_message(fake.bot_message("selector1", "/help", msg_id="msg_run_1"))
        fake.wait_for(lambda: len(to(fake, "selector1", since)) == 1, timeout=30)
        feishu.push_event(feishu.message_event("ou_selector1", "/help", message_id="om_run_1"))
        feishu.wait_for(lambda: any(m.get("reply_to") == "om_run_1" for m in feishu.messages), timeout=30)
        assert bot.stop() == 0, bot.err
    assert "connected to Feishu" in bot.out and "connected to DingTalk" in bot.out
    assert bot.out.endswith("kpibot: stopped\n")
    assert fake.client_secret not in bot.out + bot.err and feishu.app_secret not in bot.out + bot.err


def test_kpibot_run_with_a_wrong_dingtalk_secret_exits_non_zero_without_echoing_it(
        fake: FakeDingTalk, tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n[dingtalk]\nclient_id = "{fake.client_id}"\n'
                      f'endpoint = "{fake.base_url}"\n', encoding="utf-8")
    env = checkout_env(KPIBOT_DINGTALK_CLIENT_SECRET="S3CRET-9f2c")
    run = subprocess.run([sys.executable, "-m", "bot.cli", "run", "--config", str(config)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "check [dingtalk] client_id and client_secret" in run.stderr
    assert "S3CRET" not in run.stderr + run.stdout


def test_the_ack_comes_before_the_answer(fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    fake.delay_next(1, 2.0, path_contains="/v1.0/card/instances")
    since = len(fake.delivered)
    started = time.monotonic()
    fake.push_message(fake.bot_message("host2", "/mykpi", msg_id="msg_ack_first"))   # returns on the ack
    assert to(fake, "host2", since) == []          # acked while the answer is still held up (an ack after the
    fake.wait_for(lambda: len(to(fake, "host2", since)) == 1)   # answer would come with it, 2 s late)
    assert time.monotonic() - started >= 2.0


def test_the_newest_click_wins_even_when_an_older_update_is_slow(
        fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    since = len(fake.delivered)
    fake.push_message(fake.bot_message("host1", "/mykpi", msg_id="msg_click_race"))
    fake.wait_for(lambda: len(to(fake, "host1", since)) == 1)
    out_track_id = to(fake, "host1", since)[0].out_track_id or ""
    card = fake.cards[out_track_id]
    buttons = {b["params"]["args"][0]: b["params"] for b in json.loads(card.params["buttons"])}
    calls = len(fake.calls)
    fake.delay_next(1, 1.5, path_contains="/v1.0/card/instances")       # the first update is slow
    fake.card_click(out_track_id, "host1", buttons["week"])
    fake.wait_for(lambda: fake.injected_pending() == 0)                  # the week update is on its way
    fake.card_click(out_track_id, "host1", buttons["day"])
    fake.wait_for(lambda: card.params["title"] == "Lin Xiaoyu 林小雨 · Today KPI", timeout=15)
    # calls are recorded as they are answered: once both updates are, the slow one has been applied or refused
    fake.wait_for(lambda: [(c.method, c.path) for c in fake.calls[calls:]] == [("PUT", "/v1.0/card/instances")] * 2)
    assert card.params["title"] == "Lin Xiaoyu 林小雨 · Today KPI"         # the older click did not land on top


def test_a_dropped_socket_is_reopened_and_the_next_message_answered(
        fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    connections = fake.connections
    fake.drop_connection()
    fake.wait_for(lambda: fake.connections == connections + 1 and fake.connected(), timeout=30)
    since = len(fake.delivered)
    fake.push_message(fake.bot_message("buyer1", "/help", msg_id="msg_after_drop"))
    fake.wait_for(lambda: len(to(fake, "buyer1", since)) == 1)


def test_a_refused_session_webhook_falls_back_to_the_robot_api(fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    since = len(fake.delivered)
    message = fake.bot_message("lead2", "/help", msg_id="msg_bad_session")
    message["sessionWebhook"] = f"{fake.base_url}/robot/sendBySession?session=unknown"   # DingTalk: 300001
    fake.push_message(message)
    fake.wait_for(lambda: len(to(fake, "lead2", since)) == 1)
    assert to(fake, "lead2", since)[0].via == "oto_send"


def test_a_card_that_cannot_be_created_goes_out_as_markdown(fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    since = len(fake.delivered)
    fake.fail_next(1, path_contains="/v1.0/card/instances", http_status=400, code="InvalidParameter")
    fake.push_message(fake.bot_message("host3", "/mykpi", msg_id="msg_card_refused"))
    fake.wait_for(lambda: len(to(fake, "host3", since)) == 1)
    reply = to(fake, "host3", since)[0]
    assert (reply.via, reply.msg_key) == ("session", "markdown")
    assert "Week：/mykpi week" in reply.content["text"]


def test_a_busy_group_is_answered_in_its_turn_without_holding_up_other_chats(
        fake: FakeDingTalk, store: Engine) -> None:
    from bot.ratelimit import RateLimiter

    bot = connect(fake, store, workers=1)            # one worker: a wait in it would hold up everyone
    bot.api.group_limit = RateLimiter(2, 3.0)       # 2 a window instead of 20, for a fast test
    try:
        since, throttled = len(fake.delivered), len(fake.throttled)
        for i in range(3):
            fake.push_message(fake.bot_message("host1", "/help", conversation_type="2", conversation_id="cid_busy2",
                                               msg_id=f"msg_busy_{i}"))
        fake.wait_for(lambda: len(to(fake, "cid_busy2", since)) == 2)
        fake.push_message(fake.bot_message("host2", "/help", msg_id="msg_not_held_up"))
        fake.wait_for(lambda: len(to(fake, "cid_busy2", since)) == 3, timeout=10)
        # the one-to-one answer went out while the third group answer waited for its slot, not behind it (an
        # order, not a duration: it holds however slow the machine is)
        assert [d.target for d in fake.delivered[since:]] == ["cid_busy2", "cid_busy2", "host2", "cid_busy2"]
        times = [d.time for d in to(fake, "cid_busy2", since)]
        assert times[2] - times[0] >= 2.9               # never 3 within the window
        assert len(fake.throttled) == throttled         # kept to the limit: DingTalk refused nothing
    finally:
        bot.stop()


def test_a_long_interactive_card_stays_under_the_request_body_limit(
        fake: FakeDingTalk, adapter: DingTalkAdapter) -> None:
    from cards.model import Button, Buttons

    rows = tuple((str(i), f"成员 member {i:04d}", "99.9") for i in range(1, 3001))
    card = Card("Ranking", (Table(("#", "Member", "Score"), rows), Buttons((Button("Refresh", "rank"),))),
                Tone.INFO, "en")
    calls = len(fake.calls)
    assert adapter.send_to_chat("cid_long_card", card)
    create = next(c for c in fake.calls[calls:] if c.method == "POST" and c.path == "/v1.0/card/instances")
    assert len(json.dumps(create.json, ensure_ascii=False).encode()) <= 20_000
    params = create.json["cardData"]["cardParamMap"]
    assert "成员 member 0001" in params["body"] and "more rows are not shown" in params["body"]


def test_kpibot_run_verbose_logs_kpibots_debug_lines_but_not_the_stream_ticket(
        fake: FakeDingTalk, store: Engine, tmp_path: Path) -> None:
    """-v raises kpibot's own loggers to DEBUG only: websockets and dingtalk_stream, which print the stream URL with
    its one-time ticket at DEBUG/INFO, stay at WARNING."""
    from tests.bot_process import BotProcess

    before = len(fake.tickets_used)
    with BotProcess(tmp_path, store.url.render_as_string(hide_password=False), dingtalk=fake, template=TEMPLATE,
                    env={"KPIBOT_NOW": DEMO_NOW.isoformat()}, args=("-v",)) as bot:
        bot.wait_serving()
        fake.wait_for(lambda: len(fake.tickets_used) > before, timeout=30)
        assert bot.stop() == 0, bot.err
    tickets = fake.tickets_used[before:]
    assert len(tickets) == 1
    assert tickets[0] not in bot.out + bot.err
    assert (f"DEBUG bot.platforms.dingtalk: dingtalk: opening the stream at {fake.base_url.replace('http', 'ws')}"
            f"/connect (its one-time ticket is not logged)") in bot.err

"""Feishu end to end: the real lark-oapi clients, our adapter and a real store, against the fake Feishu."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.config import FeishuConfig
from bot.dispatch import Dispatcher
from bot.platforms.feishu import FeishuAdapter
from cards.chart_cache import ChartCache
from cards.charts import ProgressChart
from cards.markdown import escape
from cards.render_feishu import chart_elements
from scoring.rules import Rules
from services.container import Services
from tests.conftest import DEMO_NOW, checkout_env, seeded_demo, settle
from tests.creator_links import add_creator, links_of
from tests.fakes.feishu import FakeFeishu


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A writable demo store: the adapter records handled events."""
    engine = seeded_demo(tmp_path_factory.mktemp("feishu") / "kpibot.db")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeFeishu]:
    server = FakeFeishu().start()
    yield server
    server.stop()
    assert server.protocol_errors == []   # the client never broke a rule of the long-connection protocol


def make_adapter(fake: FakeFeishu, store: Engine) -> FeishuAdapter:
    services = Services(store, Rules(), "Asia/Shanghai", "en", ChartCache())
    config = FeishuConfig(app_id=fake.app_id, app_secret=fake.app_secret, domain=fake.base_url)
    return FeishuAdapter(config, Dispatcher(services, clock=lambda: DEMO_NOW), store, backoff_s=0.01)


def connect(fake: FakeFeishu, store: Engine) -> FeishuAdapter:
    before = fake.connections
    bot = make_adapter(fake, store)
    bot.start()
    fake.wait_for(lambda: fake.connections > before, timeout=30)
    return bot


@pytest.fixture
def adapter(fake: FakeFeishu, store: Engine) -> Iterator[FeishuAdapter]:
    bot = connect(fake, store)
    yield bot
    bot.stop()


def replies_to(fake: FakeFeishu, message_id: str) -> list[dict]:
    return [m for m in fake.messages if m.get("reply_to") == message_id]


def card_text(card: dict) -> str:
    return json.dumps(card, ensure_ascii=False)


def test_mykpi_in_a_private_chat_gets_one_card_with_the_chart(fake: FakeFeishu, adapter: FeishuAdapter) -> None:
    event = fake.message_event("ou_host1", "/mykpi", message_id="om_p2p_1")
    started = time.monotonic()
    ack = fake.push_event(event)
    assert ack["code"] == 200
    assert time.monotonic() - started < 1.0          # acknowledged before the work is done
    fake.wait_for(lambda: len(replies_to(fake, "om_p2p_1")) == 1)
    reply = replies_to(fake, "om_p2p_1")[0]
    assert reply["msg_type"] == "interactive"
    card = reply["content"]
    assert card["header"]["title"]["content"] == "Lin Xiaoyu 林小雨 · This month KPI"
    expected = adapter.dispatcher.handle_action("feishu", "ou_host1", "mykpi", ())
    chart = expected.images()[0].chart
    assert isinstance(chart, ProgressChart)
    # the chart goes as Feishu's native chart component (the fake checked it), not as an uploaded PNG
    assert [e for e in card["body"]["elements"] if e["tag"] in ("img", "chart")] == chart_elements(chart)
    fields = dict(next(b for b in expected.blocks if hasattr(b, "items") and "Score" in dict(b.items)).items)
    assert f"**Score**　{fields['Score']}" in card_text(card)


def test_a_redelivered_event_is_answered_once_also_after_reconnect_and_restart(
        fake: FakeFeishu, adapter: FeishuAdapter, store: Engine) -> None:
    event = fake.message_event("ou_host2", "/我的KPI", message_id="om_dup_1", event_id="ev_dup_1")
    fake.push_event(event)
    fake.wait_for(lambda: len(replies_to(fake, "om_dup_1")) == 1)
    fake.push_event(event)
    connections = fake.connections
    fake.drop_connection()
    fake.wait_for(lambda: fake.connections == connections + 1, timeout=30)
    fake.push_event(event)
    settle(fake, adapter.pool)
    assert len(replies_to(fake, "om_dup_1")) == 1
    # answered once: not just deduplicated by Feishu's uuid, the bot did not reply again at all
    assert len([c for c in fake.calls if c.path.endswith("/om_dup_1/reply")]) == 1
    # a new process on the same store: still no second answer
    assert_no_reply_in_a_new_process(fake, adapter, store, event, "om_dup_1")


def assert_no_reply_in_a_new_process(fake: FakeFeishu, adapter: FeishuAdapter, store: Engine, event: dict,
                                     message_id: str) -> None:
    """`adapter` stops; a new one on the same store gets `event` again and replies nothing (one reply call in all)."""
    adapter.stop()
    restarted = connect(fake, store)
    try:
        fake.push_event(event)
        settle(fake, restarted.pool)
        assert len([c for c in fake.calls if c.path.endswith(f"/{message_id}/reply")]) == 1
    finally:
        restarted.stop()


def test_a_kept_answer_is_replied_before_it_is_recorded_and_once_per_delivery(
        fake: FakeFeishu, adapter: FeishuAdapter, store: Engine) -> None:
    """The same ask within the minute is answered from the card kept for the sender without the store's claim
    first (Feishu's uuid makes a second sending no second message), then recorded answered: a redelivery to this
    process, and one to a new process on the same store, reply nothing."""
    def recorded(event_id: str) -> list[tuple[str, str]]:
        with store.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT state, claim_token FROM processed_event WHERE platform = 'feishu' AND event_id = :e"),
                {"e": event_id})]

    first = fake.message_event("ou_host1", "/mykpi", message_id="om_kept_1", event_id="ev_kept_1")
    fake.push_event(first)
    fake.wait_for(lambda: len(replies_to(fake, "om_kept_1")) == 1)
    settle(fake, adapter.pool)
    [(state, token)] = recorded("ev_kept_1")
    assert state == "answered" and token != ""          # claimed first, then settled
    again = fake.message_event("ou_host1", "/mykpi", message_id="om_kept_2", event_id="ev_kept_2")
    fake.push_event(again)
    fake.wait_for(lambda: len(replies_to(fake, "om_kept_2")) == 1)
    settle(fake, adapter.pool)
    assert recorded("ev_kept_2") == [("answered", "")]  # recorded after the reply, never claimed
    assert replies_to(fake, "om_kept_2")[0]["content"] == replies_to(fake, "om_kept_1")[0]["content"]
    fake.push_event(again)                              # this process answered it: no reply at all
    settle(fake, adapter.pool)
    assert len([c for c in fake.calls if c.path.endswith("/om_kept_2/reply")]) == 1
    assert_no_reply_in_a_new_process(fake, adapter, store, again, "om_kept_2")   # the store's record stops it


def test_groups_answer_only_when_the_bot_is_mentioned(fake: FakeFeishu, adapter: FeishuAdapter) -> None:
    fake.push_event(fake.message_event("ou_host1", "/mykpi", chat_type="group", chat_id="oc_team",
                                       message_id="om_group_quiet"))
    fake.push_event(fake.message_event("ou_host1", "/mykpi", chat_type="group", chat_id="oc_team",
                                       mentions_bot=True, message_id="om_group_at"))
    fake.push_event(fake.message_event("ou_host1", "/mykpi", chat_type="group", chat_id="oc_team",
                                       mentions_other="ou_host2", message_id="om_group_other"))
    fake.wait_for(lambda: len(replies_to(fake, "om_group_at")) == 1)
    settle(fake, adapter.pool)
    assert adapter.bot_open_id == "ou_bot"
    assert replies_to(fake, "om_group_quiet") == []
    assert replies_to(fake, "om_group_other") == []   # @-mentioning a colleague is not talking to the bot
    assert replies_to(fake, "om_group_at")[0]["reply_in_thread"] is True


def test_a_creators_handle_and_a_url_with_an_at_sign_reach_the_link_command_intact(
        fake: FakeFeishu, adapter: FeishuAdapter, store: Engine) -> None:
    """Only the bot's mention ("@_user_1", from the event's `mentions`) is taken out of the text."""
    product = "https://www.tiktok.com/@lily/video/1"
    add_creator(store, "@lily", "Lily")
    event = fake.message_event("ou_host1", f"/link @lily {product}", chat_type="group", chat_id="oc_team",
                               mentions_bot=True, message_id="om_link_lily")
    message = event["event"]["message"]
    assert json.loads(message["content"]) == {"text": f"@_user_1 /link @lily {product}"}
    assert [m["key"] for m in message["mentions"]] == ["@_user_1"]
    fake.push_event(event)
    fake.wait_for(lambda: len(replies_to(fake, "om_link_lily")) == 1)
    card = replies_to(fake, "om_link_lily")[0]["content"]
    assert card["header"]["title"]["content"] == "Tracked link · Lily"
    tracked = (f"{product}?utm_source=kpibot&utm_medium=creator&utm_campaign=creator-lily"
               "&utm_content=1-3f8a5b")
    markdown = [e["content"] for e in card["body"]["elements"] if e["tag"] == "markdown"]
    assert markdown[0] == escape(tracked)
    assert links_of(store, "@lily") == [(product, "creator-lily", "1-3f8a5b")]


def test_an_unbound_sender_learns_their_open_id(fake: FakeFeishu, adapter: FeishuAdapter) -> None:
    fake.push_event(fake.message_event("ou_stranger", "/mykpi", message_id="om_stranger"))
    fake.wait_for(lambda: len(replies_to(fake, "om_stranger")) == 1)
    card = replies_to(fake, "om_stranger")[0]["content"]
    assert card["header"]["title"]["content"] == "You're not linked to kpibot yet"
    markdown = [e["content"] for e in card["body"]["elements"] if e["tag"] == "markdown"]
    assert escape("kpibot members bind <member-id> --id feishu:ou_stranger") in markdown


def test_a_button_click_updates_the_card_and_a_strangers_click_is_refused(
        fake: FakeFeishu, adapter: FeishuAdapter) -> None:
    fake.push_event(fake.message_event("ou_host1", "/mykpi", message_id="om_click_src"))
    fake.wait_for(lambda: len(replies_to(fake, "om_click_src")) == 1)
    sent = replies_to(fake, "om_click_src")[0]
    card_id = sent["message_id"]
    buttons = [c["elements"][0] for e in sent["content"]["body"]["elements"] if e["tag"] == "column_set"
               for c in e["columns"]]
    week = next(b for b in buttons if b["text"]["content"] == "Week")["behaviors"][0]["value"]
    assert week == {"command": "mykpi", "args": ["week"], "owner": "ou_host1", "chat": "oc_chat1", "lang": "en"}
    patches = len(fake.patches)
    started = time.monotonic()
    ack = fake.push_event(fake.card_action_event("ou_host1", week, open_message_id=card_id))
    assert time.monotonic() - started < 1.0            # answered at once; the card follows by PATCH
    assert ack == {"code": 200, "data": {"toast": {"type": "info", "content": "Updating…"}},
                   "biz_rt": ack["biz_rt"]}
    fake.wait_for(lambda: len(fake.patches) == patches + 1)
    patched = fake.patches[-1]
    assert patched["message_id"] == card_id
    assert patched["content"]["header"]["title"]["content"] == "Lin Xiaoyu 林小雨 · This week KPI"
    refused = fake.push_event(fake.card_action_event("ou_host2", week, open_message_id=card_id))
    assert refused["data"] == {"toast": {"type": "warning",
                                         "content": "This card belongs to someone else. Send /mykpi to get your own."}}
    forged = fake.push_event(fake.card_action_event("ou_host1", {"cmd": "rm -rf"}, open_message_id=card_id))
    assert forged["data"] == {"toast": {"type": "error",
                                        "content": "This button is no longer valid. Send the command again."}}
    settle(fake, adapter.pool)
    assert len(fake.patches) == patches + 1            # refused and forged clicks change nothing


def test_a_late_answer_to_an_older_click_does_not_overwrite_a_newer_one(
        fake: FakeFeishu, adapter: FeishuAdapter) -> None:
    fake.push_event(fake.message_event("ou_host1", "/mykpi", message_id="om_two_clicks"))
    fake.wait_for(lambda: len(replies_to(fake, "om_two_clicks")) == 1)
    card_id = replies_to(fake, "om_two_clicks")[0]["message_id"]
    patches = len(fake.patches)
    for period in ("week", "day"):
        fake.push_event(fake.card_action_event(
            "ou_host1", {"command": "mykpi", "args": [period], "owner": "ou_host1"}, open_message_id=card_id))
    fake.wait_for(lambda: any(p["message_id"] == card_id for p in fake.patches[patches:]))
    settle(fake, adapter.pool)
    titles = [p["content"]["header"]["title"]["content"] for p in fake.patches[patches:] if p["message_id"] == card_id]
    assert titles[-1] == "Lin Xiaoyu 林小雨 · Today KPI"


def test_rate_limited_replies_are_retried_and_delivered_once(fake: FakeFeishu, adapter: FeishuAdapter) -> None:
    fake.fail_next(2, code=99991400, http_status=429, path_contains="/om_limited/reply")
    fake.push_event(fake.message_event("ou_host1", "/rank", message_id="om_limited"))
    fake.wait_for(lambda: len(replies_to(fake, "om_limited")) == 1)
    attempts = [c for c in fake.calls if c.path.endswith("/om_limited/reply")]
    assert [c.code for c in attempts] == [99991400, 99991400, 0]
    settle(fake, adapter.pool)
    assert len(replies_to(fake, "om_limited")) == 1


def test_a_native_chart_costs_no_upload_and_an_unchanged_picture_is_uploaded_once(
        fake: FakeFeishu, adapter: FeishuAdapter, store: Engine) -> None:
    def uploads() -> int:
        return len([c for c in fake.calls if c.path == "/open-apis/im/v1/images"])

    before = uploads()
    for i in range(2):
        fake.push_event(fake.message_event("ou_host3", "/mykpi", message_id=f"om_chart_{i}"))
        fake.wait_for(lambda i=i: len(replies_to(fake, f"om_chart_{i}")) == 1)
    assert uploads() == before
    add_creator(store, "@qr", "QR")
    for i in range(2):   # the link's QR code has no chart data: it goes as a PNG, uploaded once
        fake.push_event(fake.message_event("ou_host1", "/link @qr https://shop.example/p/1",
                                           message_id=f"om_qr_{i}"))
        fake.wait_for(lambda i=i: len(replies_to(fake, f"om_qr_{i}")) == 1)
    assert uploads() == before + 1
    images = [e for e in replies_to(fake, "om_qr_1")[0]["content"]["body"]["elements"] if e["tag"] == "img"]
    assert len(images) == 1 and fake.images[images[0]["img_key"]][:8] == b"\x89PNG\r\n\x1a\n"


def test_kpibot_run_serves_feishu_survives_a_reconnect_and_stops_on_sigterm(
        fake: FakeFeishu, store: Engine, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    from datetime import date

    from sqlalchemy import text

    from tests.fakes.ecb import HIST_90D, FakeEcb

    # the exchange-rate job runs at start too: against the fake ECB feed, never the real one
    with FakeEcb({date(2026, 11, 20): {"USD": "1.0512", "IDR": "16789.45"}}) as ecb:
        config = tmp_path / "kpibot.toml"
        config.write_text(f'[store]\nurl = "{store.url.render_as_string(hide_password=False)}"\n'
                          f'[feishu]\napp_id = "{fake.app_id}"\ndomain = "{fake.base_url}"\n'
                          f'[fx]\nurl = "{ecb.daily_url}"\nhistory_url = "{ecb.history_url}"\n', encoding="utf-8")
        env = checkout_env(KPIBOT_FEISHU_APP_SECRET=fake.app_secret, KPIBOT_NOW=DEMO_NOW.isoformat())
        before = fake.connections
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--config", str(config)], cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            fake.wait_for(lambda: fake.connections > before, timeout=60)
            fake.push_event(fake.message_event("ou_host1", "/mykpi", message_id="om_run_1"))
            fake.wait_for(lambda: len(replies_to(fake, "om_run_1")) == 1, timeout=30)
            fake.drop_connection()
            fake.wait_for(lambda: fake.connections > before + 1, timeout=30)
            fake.push_event(fake.message_event("ou_host1", "/whoami", message_id="om_run_2"))
            fake.wait_for(lambda: len(replies_to(fake, "om_run_2")) == 1, timeout=30)
            fake.wait_for(lambda: len(ecb.calls) == 1, timeout=30)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "kpibot: stopped"
    assert fake.app_secret not in out + err
    assert "Traceback" not in err
    # the demo's rates are ECB-less, so the first run reads the 90-day history
    assert [c.path for c in ecb.calls] == [HIST_90D]
    with store.connect() as c:
        rows = c.execute(text("SELECT base, quote, rate FROM fx_rate WHERE source = 'ecb' ORDER BY quote")).all()
    assert [(base, quote, str(rate)) for base, quote, rate in rows] == [("EUR", "IDR", "16789.45"),
                                                                        ("EUR", "USD", "1.0512")]


def test_a_member_bound_by_union_id_only_is_recognised(fake: FakeFeishu, adapter: FeishuAdapter,
                                                       store: Engine) -> None:
    from sqlalchemy import text

    with store.begin() as c:
        c.execute(text("UPDATE member_identity SET kind = 'alias', platform_user_id = 'on_host3' "
                       "WHERE platform = 'feishu' AND member_id = (SELECT id FROM member WHERE code = 'host3')"))
    try:
        fake.push_event(fake.message_event("ou_host3", "/whoami", message_id="om_union"))  # union_id on_host3
        fake.wait_for(lambda: len(replies_to(fake, "om_union")) == 1)
        card = replies_to(fake, "om_union")[0]["content"]
        assert card["header"]["title"]["content"] == "Who am I"
        markdown = "\n".join(e["content"] for e in card["body"]["elements"] if e["tag"] == "markdown")
        assert f"**Member**　{escape('Emily Carter (host3)')}" in markdown.splitlines()
    finally:
        with store.begin() as c:
            c.execute(text("UPDATE member_identity SET kind = 'primary', platform_user_id = 'ou_host3' "
                           "WHERE platform = 'feishu' AND member_id = (SELECT id FROM member WHERE code = 'host3')"))


def test_a_message_arriving_while_shutting_down_is_refused_so_feishu_redelivers_it(
        fake: FakeFeishu, store: Engine) -> None:
    bot = connect(fake, store)
    bot.pool.close()          # the first step of stop(): the connection is still open
    try:
        ack = fake.push_event(fake.message_event("ou_host1", "/mykpi", message_id="om_closing"))
        assert ack["code"] == 500
    finally:
        bot.stop()
    later = connect(fake, store)
    try:
        fake.push_event(fake.message_event("ou_host1", "/mykpi", message_id="om_closing"))
        fake.wait_for(lambda: len(replies_to(fake, "om_closing")) == 1)
    finally:
        later.stop()

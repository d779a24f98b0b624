"""Feishu cards fitted to Feishu's 30 KB limit on a card message's request BODY (cards.fit, as DingTalk's; the
content travels escaped inside the body, so the body is the bigger): a /team of 300 members set up on an empty
store with kpibot's own commands, and a reply to a 100 KB message, through the real adapter against the fake Feishu
(which refuses a body over 30 KB with error 230025, as Feishu does)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from bot.cli import main
from bot.config import FeishuConfig
from bot.dispatch import Dispatcher, Incoming
from bot.platforms.feishu import FeishuAdapter
from cards.chart_cache import ChartCache
from cards.charts import ProgressChart
from cards.fit import fit
from cards.model import Card, Image, Note, Table
from cards.render_feishu import MAX_CARD_BYTES, body_bytes, card_content, fit_feishu, native_charts
from scoring.rules import Rules
from services.container import Services
from tests.clock import DEMO_NOW
from tests.conftest import SAMPLE_CARD, migrated_sqlite, settle
from tests.fakes.feishu import FakeFeishu

MEMBERS = 300
LEAD = "ou_lead"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An organisation with one team of 300 members (a lead and 299 hosts), made with kpibot's own commands."""
    folder = tmp_path_factory.mktemp("fit")
    engine = migrated_sqlite(folder / "kpibot.db")
    config = folder / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
    members = folder / "members.csv"
    rows = [f"lead1,Lena Li,lead,live-us,{LEAD}"] + [
        f"host{i:03d},Host {i:03d} Siti Nurhaliza Putri 主播林小雨{i:03d},host,live-us," for i in range(1, MEMBERS)]
    members.write_text("member,name,role,team,feishu_open_id\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()) as out:
        patch.setenv("KPIBOT_NOW", DEMO_NOW.isoformat())
        for args in (("org", "init", "--name", "Acme Live", "--currency", "USD", "--timezone", "Asia/Singapore",
                      "--locale", "en"),
                     ("teams", "add", "live-us", "--name", "Live US", "--timezone", "America/Los_Angeles",
                      "--stage", "growth", "--country", "US"),
                     ("members", "import", str(members)),
                     ("teams", "set", "live-us", "--lead", "lead1")):
            assert main(["--config", str(config), *args]) == 0, out.getvalue()
    assert f"imported {members}: {MEMBERS} new, 0 updated\n" in out.getvalue()
    yield engine
    engine.dispose()


def dispatcher(store: Engine) -> Dispatcher:
    return Dispatcher(Services(store, Rules(), "Asia/Singapore", "en", ChartCache()), clock=lambda: DEMO_NOW)


def team_card(store: Engine) -> Card:
    card = dispatcher(store).handle_message(Incoming("feishu", LEAD, "/team"))
    assert card is not None
    return card


def test_a_team_of_300_is_fitted_to_30_kb_keeping_the_top_rows_and_saying_how_many_are_left_out(
        store: Engine, adapter: tuple[FakeFeishu, FeishuAdapter]) -> None:
    fake, bot = adapter
    card = team_card(store)
    table = next(b for b in card.blocks if isinstance(b, Table))
    assert len(table.rows) == MEMBERS   # every member: no shared row on a store without shop data
    assert len(card_content(card, {}, owner=LEAD, lang="en").encode()) > MAX_CARD_BYTES   # too big unfitted

    fitted = fit_feishu(card, owner=LEAD, lang="en")
    content = card_content(fitted, {}, owner=LEAD, lang="en")
    # measured as the fake received it (the raw request body), not with the code's own body_bytes
    fake.push_event(fake.message_event(LEAD, "/whoami", message_id="om_fitted"))
    fake.wait_for(lambda: any(m.get("reply_to") == "om_fitted" for m in fake.messages))
    assert bot.reply("om_fitted", "oc_chat1", content, False, uuid="fitted") is not None
    [sent] = [c for c in fake.calls if c.path.endswith("/om_fitted/reply") and c.json.get("uuid") == "fitted"]
    assert (sent.status, sent.code) == (200, 0) and sent.body_size <= MAX_CARD_BYTES
    out = json.loads(content)
    assert out["schema"] == "2.0"
    kept = next(b for b in fitted.blocks if isinstance(b, Table))
    assert kept.rows == table.rows[:len(kept.rows)]   # the top of the table stays, in order
    shown = len(kept.rows)
    assert fitted.blocks[-1] == Note(f"{MEMBERS - shown} more rows are not shown (message size limit).")
    assert out["body"]["elements"][-1] == {
        "tag": "markdown", "content": f"{MEMBERS - shown} more rows are not shown \\(message size limit\\).",
        "text_size": "notation"}
    # as many rows as fit: one more would not
    bigger = fit_feishu(card, owner=LEAD, lang="en", limit=body_bytes(content) + 200)
    assert len(next(b for b in bigger.blocks if isinstance(b, Table)).rows) == shown + 1


@pytest.fixture(scope="module")
def adapter(store: Engine) -> Iterator[tuple[FakeFeishu, FeishuAdapter]]:
    with FakeFeishu() as fake:
        bot = FeishuAdapter(FeishuConfig(fake.app_id, fake.app_secret, fake.base_url), dispatcher(store), store,
                            backoff_s=0.01)
        bot.start()
        try:
            fake.wait_for(lambda: fake.connections == 1, timeout=30)
            yield fake, bot
        finally:
            bot.stop()
        assert fake.protocol_errors == []


def reply_to(fake: FakeFeishu, message_id: str) -> tuple[dict, int]:
    """The card the bot answered `message_id` with, and the size in bytes of its request body as the fake received
    it (the raw body, as Feishu measures it for 230025)."""
    [reply] = [m for m in fake.messages if m.get("reply_to") == message_id]
    [call] = [c for c in fake.calls if c.path.endswith(f"/{message_id}/reply")]
    return reply["content"], call.body_size


def test_team_of_300_through_the_adapter_gets_a_card_the_fake_accepts(
        adapter: tuple[FakeFeishu, FeishuAdapter]) -> None:
    fake, _ = adapter
    fake.push_event(fake.message_event(LEAD, "/team", message_id="om_team300"))
    fake.wait_for(lambda: any(m.get("reply_to") == "om_team300" for m in fake.messages))
    card, size = reply_to(fake, "om_team300")
    assert size <= MAX_CARD_BYTES
    assert card["header"]["title"]["content"].startswith("Live US")
    assert card["body"]["elements"][-1]["content"].endswith(" more rows are not shown \\(message size limit\\).")


def test_a_100_kb_message_gets_a_short_card(adapter: tuple[FakeFeishu, FeishuAdapter]) -> None:
    fake, bot = adapter
    text = "/team " + "团队" * (50 * 1024 // 3) + "x" * 1024   # about 100 KB of UTF-8
    assert len(text.encode()) >= 100 * 1024
    fake.push_event(fake.message_event(LEAD, text, message_id="om_huge"))
    settle(fake, bot.pool)
    card, size = reply_to(fake, "om_huge")
    assert size <= MAX_CARD_BYTES
    assert card["body"]["elements"] == [{
        "tag": "markdown", "content": f"No team called {'团队' * 19}团…. Teams\\: live\\-us."}]


def test_the_fake_refuses_a_card_over_30_kb_as_feishu_does(store: Engine,
                                                           adapter: tuple[FakeFeishu, FeishuAdapter]) -> None:
    """What an unfitted /team of 300 met before: Feishu's 230025 (content over the size limit), no message."""
    fake, bot = adapter
    fake.push_event(fake.message_event(LEAD, "/whoami", message_id="om_parent"))
    fake.wait_for(lambda: any(m.get("reply_to") == "om_parent" for m in fake.messages))
    sent = len(fake.messages)
    assert bot.reply("om_parent", "oc_chat1", card_content(team_card(store), {}, LEAD, "en"), False) is None
    assert [c.code for c in fake.calls if c.path.endswith("/om_parent/reply")][-1] == 230025
    assert len(fake.messages) == sent


def test_a_card_with_a_chart_is_fitted_as_with_its_png_then_keeps_the_native_chart_only_if_it_still_fits() -> None:
    chart = ProgressChart("林小雨 · 2026-11 GMV", ("1", "2", "3"), (100.0, 250.5, None), 1000.0, "USD")
    rows = tuple((f"Member {i:03d} 主播", f"{i}.0") for i in range(1000))
    card = Card("Ranking", (Image(b"png", "k1", "chart", chart), Table(("Member", "Score"), rows)), lang="en")

    fitted = fit_feishu(card, owner=LEAD, lang="en")
    kept = next(b for b in fitted.blocks if isinstance(b, Table))
    assert kept.rows == rows[:len(kept.rows)] and fitted.blocks[0] == card.blocks[0]
    assert fitted.blocks[-1] == Note(f"{1000 - len(kept.rows)} more rows are not shown (message size limit).")
    # fitted as an uploaded PNG, the smallest form: the bigger native chart no longer fits, the PNG does
    assert native_charts(fitted, LEAD, "en") == frozenset()
    with_png = card_content(fitted, {"k1": "img_v3_" + "0" * 57}, LEAD, "en")
    assert body_bytes(with_png) <= MAX_CARD_BYTES
    assert [e["tag"] for e in json.loads(with_png)["body"]["elements"]] == ["img", "table", "markdown"]
    # a card that fits is the card itself
    assert fit_feishu(fitted, owner=LEAD, lang="en") is fitted


def test_a_card_fitted_by_its_content_alone_is_over_30_kb_as_a_body_and_refused(
        store: Engine, adapter: tuple[FakeFeishu, FeishuAdapter]) -> None:
    """The old measure (the content's bytes) let a /team through at just under 30 KB of content, well over as a body
    (its quotes escaped inside it): Feishu, and the fake, refuse it with 230025."""
    fake, bot = adapter
    fake.push_event(fake.message_event(LEAD, "/whoami", message_id="om_parent2"))
    fake.wait_for(lambda: any(m.get("reply_to") == "om_parent2" for m in fake.messages))
    content_fit = fit(team_card(store), lambda c: len(card_content(c, {}, LEAD, "en").encode()), MAX_CARD_BYTES)
    content = card_content(content_fit, {}, LEAD, "en")
    assert len(content.encode()) <= MAX_CARD_BYTES < body_bytes(content)
    assert body_bytes(content) > MAX_CARD_BYTES * 1.2      # about 38 KB, as in production
    sent = len(fake.messages)
    assert bot.reply("om_parent2", "oc_chat1", content, False) is None
    assert [c.code for c in fake.calls if c.path.endswith("/om_parent2/reply")][-1] == 230025
    assert len(fake.messages) == sent


def test_one_card_sent_to_many_chats_is_exactly_the_card_rendered_for_each(
        adapter: tuple[FakeFeishu, FeishuAdapter], store: Engine) -> None:
    """FeishuAdapter.content renders a card once for plain ids and puts each owner and chat in its place: the
    content is byte for byte what rendering it for that owner and chat gives, also for ids that are not plain."""
    _, bot = adapter
    card = team_card(store)
    for owner, chat in (("ou_a", "oc_1"), ("ou_b", "oc_2"), ("ou_a", "oc_1"), ("ou_long_" + "x" * 40, "oc_3"),
                        ("ou_中", "oc_4"), ("", "oc_5"), ("ou_a", 'oc_"q'), ("ou_c", "")):
        got = bot.content(card, chat or "oc_x", owner=owner, chat=chat)
        fitted = fit_feishu(card, owner, card.lang, chat)
        native = native_charts(fitted, owner, card.lang, chat)
        keys = bot.images.keys_for(fitted, chat or "oc_x", skip=native)
        assert got == card_content(fitted, keys, owner=owner, lang=card.lang, native=native, chat=chat)
        assert len(got.encode()) <= MAX_CARD_BYTES
    for owner, chat in (("ou_a", "oc_1"), ("ou_b", "oc_2")):
        values = [e["behaviors"][0]["value"] for e in _buttons(json.loads(bot.content(SAMPLE_CARD, chat, owner, chat)))]
        assert values == [{"command": "mykpi", "args": [period], "owner": owner, "chat": chat, "lang": "en"}
                          for period in ("week", "month")]


def _buttons(content: dict) -> list[dict]:
    found: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "button":
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(content)
    return found

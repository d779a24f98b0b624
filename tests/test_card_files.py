"""A file a card comes with (cards.model.File): sent after the card on Feishu and DingTalk through their real
clients to the fakes (which check the upload and the file message as the platforms do), written to disk by the
console. The card is built here: the /export command that makes one is another part of the work."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from dingtalk_stream import ChatbotMessage
from sqlalchemy.engine import Engine

from bot.dispatch import Dispatcher
from bot.platforms.console import Console, write_new
from bot.platforms.files import DINGTALK_MAX_FILE_BYTES, FEISHU_MAX_FILE_BYTES, size_text
from cards.chart_cache import ChartCache
from cards.markdown import escape
from cards.model import Card, File, Note, Text, Tone
from cards.render_text import render_text
from scoring.rules import Rules
from services.container import Services
from tests.conftest import connected_dingtalk, connected_feishu, migrated_sqlite
from tests.fakes.feishu import FileUpload

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# bytes that look like an xlsx (a zip) with every byte value in them, so any mangling on the way shows
CONTENT = b"PK\x03\x04" + bytes(range(256)) * 40


def export_card(content: bytes = CONTENT, name: str = "kpibot-2026-11.xlsx", lang: str = "en") -> Card:
    return Card("Export · 2026-11", (Text("12 months of scores"), File(name, content)), Tone.INFO, lang)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An empty store: the adapters need one, the sends here read nothing from it."""
    engine = migrated_sqlite(tmp_path_factory.mktemp("files") / "kpibot.db")
    yield engine
    engine.dispose()


def services(store: Engine) -> Services:
    return Services(store, Rules(), "Asia/Shanghai", "en", ChartCache())


def feishu_says(card: dict, text: str) -> bool:
    """The Feishu card has a markdown element saying `text` (escaped, as the renderer escapes it)."""
    return escape(text) in [e.get("content") for e in card["body"]["elements"]]


def dingtalk_says(markdown: str, text: str) -> bool:
    return f"> {escape(text)}" in markdown.split("\n\n")


# --- Feishu --------------------------------------------------------------------------------------------


def test_feishu_answer_and_proactive_send_carry_the_file_after_the_card(store: Engine) -> None:
    with connected_feishu(store, services(store)) as (fake, adapter):
        # a message in a group without the bot's mention: ignored by the bot, but there to be replied to
        fake.push_event(fake.message_event("ou_admin", "hello", chat_type="group", message_id="om_export_1"))
        assert adapter.answer_card("om_export_1", "oc_chat1", export_card(), in_thread=True,
                                   owner="ou_admin") is not None
        replies = [m for m in fake.messages if m["reply_to"] == "om_export_1"]
        assert [m["msg_type"] for m in replies] == ["interactive", "file"]
        assert all(m["reply_in_thread"] for m in replies)
        assert feishu_says(replies[0]["content"], "File attached below: kpibot-2026-11.xlsx (11 KB).")
        assert fake.files[replies[1]["content"]["file_key"]] == FileUpload("xls", "kpibot-2026-11.xlsx", CONTENT)

        before = len(fake.messages)
        assert adapter.send_to_user("ou_admin", export_card(name="report.csv", lang="zh"), key="export:1") is True
        sent = fake.messages[before:]
        assert [(m["kind"], m["receive_id"], m["msg_type"]) for m in sent] == [
            ("create", "ou_admin", "interactive"), ("create", "ou_admin", "file")]
        assert feishu_says(sent[0]["content"], "文件见下一条消息：report.csv（11 KB）。")
        assert fake.files[sent[1]["content"]["file_key"]] == FileUpload("stream", "report.csv", CONTENT)
        # the same keyed send again (a retry after a takeover) is the same two messages, not two more
        adapter.send_to_user("ou_admin", export_card(name="report.csv", lang="zh"), key="export:1")
        assert [m["message_id"] for m in fake.messages[before + 2:]] == []


def test_feishu_a_file_too_big_or_refused_is_told_in_the_card(store: Engine) -> None:
    with connected_feishu(store, services(store)) as (fake, adapter):
        uploads = len([c for c in fake.calls if c.path == "/open-apis/im/v1/files"])
        before = len(fake.messages)
        too_big = b"x" * (FEISHU_MAX_FILE_BYTES + 1)
        assert adapter.send_to_chat("oc_team", export_card(too_big, lang="id")) is True
        assert adapter.send_to_chat("oc_team", export_card(b"")) is True      # Feishu refuses an empty file
        sent = fake.messages[before:]
        assert [m["msg_type"] for m in sent] == ["interactive", "interactive"]
        assert feishu_says(sent[0]["content"], "kpibot-2026-11.xlsx (30.1 MB) melebihi batas file Feishu sebesar "
                                               "30.0 MB, jadi tidak dikirim.")
        assert feishu_says(sent[1]["content"], "kpibot-2026-11.xlsx could not be sent. Please try again later.")
        refused = [c for c in fake.calls if c.path == "/open-apis/im/v1/files"][uploads:]
        assert [(c.status, c.code) for c in refused] == [(400, 234010)]    # the too-big one was never uploaded


def test_the_fake_feishu_refuses_a_file_over_30_mb_from_the_real_sdk(store: Engine) -> None:
    from lark_oapi.api.im.v1 import CreateFileRequest, CreateFileRequestBody
    with connected_feishu(store, services(store)) as (fake, adapter):
        def upload(data: bytes, file_type: str = "xls") -> tuple[int, str | None]:
            body = (CreateFileRequestBody.builder().file_type(file_type).file_name("a.xlsx")
                    .file(io.BytesIO(data)).build())
            resp = adapter.rest.im.v1.file.create(CreateFileRequest.builder().request_body(body).build())
            return resp.code, resp.data.file_key if resp.data is not None else None

        assert upload(b"x" * (FEISHU_MAX_FILE_BYTES + 1))[0] == 234006
        assert upload(b"x", file_type="xlsx")[0] == 234001
        code, key = upload(b"x" * FEISHU_MAX_FILE_BYTES)
        assert code == 0 and fake.files[str(key)].content == b"x" * FEISHU_MAX_FILE_BYTES


# --- DingTalk ------------------------------------------------------------------------------------------


def test_dingtalk_answer_and_proactive_send_carry_the_file_after_the_card(store: Engine) -> None:
    with connected_dingtalk(store, services(store)) as (fake, adapter):
        msg = ChatbotMessage.from_dict(fake.bot_message("admin1", "/export", conversation_type="2",
                                                        conversation_id="cid_group_9"))
        since = len(fake.delivered)
        adapter.answer(msg, export_card(), owner="admin1")
        fake.wait_for(lambda: len(fake.delivered) >= since + 2)
        card, file = fake.delivered[since:]
        # no buttons or chart: the card is markdown through the session webhook; files go by the robot API
        assert (card.via, card.target, card.msg_key) == ("session", "cid_group_9", "markdown")
        assert dingtalk_says(card.content["text"], "File attached below: kpibot-2026-11.xlsx (11 KB).")
        assert (file.via, file.target, file.msg_key) == ("group_send", "cid_group_9", "sampleFile")
        assert file.content["fileName"] == "kpibot-2026-11.xlsx" and file.content["fileType"] == "xlsx"
        assert fake.media[file.content["mediaId"]] == CONTENT
        assert fake.media_files[file.content["mediaId"]] == "kpibot-2026-11.xlsx"

        since = len(fake.delivered)
        assert adapter.send_to_user("admin1", export_card(lang="zh"), key="export:2") is True
        card, file = fake.delivered[since:]
        assert (card.via, card.target, card.msg_key) == ("oto_send", "admin1", "sampleMarkdown")
        assert dingtalk_says(card.content["text"], "文件见下一条消息：kpibot-2026-11.xlsx（11 KB）。")
        assert (file.via, file.target, file.msg_key) == ("oto_send", "admin1", "sampleFile")
        assert fake.media[file.content["mediaId"]] == CONTENT


def test_dingtalk_a_file_too_big_or_refused_is_told_in_the_card(store: Engine) -> None:
    with connected_dingtalk(store, services(store)) as (fake, adapter):
        since = len(fake.delivered)
        uploads = len([c for c in fake.calls if c.path == "/media/upload"])
        assert adapter.send_to_chat("cid_group_9", export_card(b"x" * (DINGTALK_MAX_FILE_BYTES + 1))) is True
        assert adapter.send_to_chat("cid_group_9", export_card(b"")) is True
        sent = fake.delivered[since:]
        assert [d.msg_key for d in sent] == ["sampleMarkdown", "sampleMarkdown"]
        assert dingtalk_says(sent[0].content["text"], "kpibot-2026-11.xlsx (20.1 MB) is over DingTalk's 20.0 MB "
                                                      "limit for files, so it was not sent.")
        assert dingtalk_says(sent[1].content["text"], "kpibot-2026-11.xlsx could not be sent. Please try again later.")
        refused = [c for c in fake.calls if c.path == "/media/upload"][uploads:]
        assert [(c.status, c.code) for c in refused] == [(200, 40006)]


def test_the_fake_dingtalk_checks_file_uploads_and_file_messages(store: Engine) -> None:
    with connected_dingtalk(store, services(store)) as (fake, adapter):
        api = adapter.api
        assert api.upload_file("big.xlsx", b"x" * (DINGTALK_MAX_FILE_BYTES + 1), XLSX) is None
        assert api.upload_file("empty.xlsx", b"", XLSX) is None
        chart_id = api.upload_image(b"\x89PNG\r\n\x1a\n" + b"0" * 10)
        assert chart_id is not None
        # a picture is no file: a file message needs a type=file upload, and all three fields
        assert api.send_to_group("cid_group_9", "sampleFile",
                                 {"mediaId": chart_id, "fileName": "a.png", "fileType": "png"}) is False
        media_id = api.upload_file("a.xlsx", b"x", XLSX)
        assert api.send_to_group("cid_group_9", "sampleFile", {"mediaId": media_id, "fileName": "a.xlsx"}) is False
        # the name and type are the uploaded file's: another name, or a type not its extension, is refused
        bare_id = api.upload_file("README", b"x", "application/octet-stream")
        assert [api.send_to_group("cid_group_9", "sampleFile", p) for p in (
            {"mediaId": media_id, "fileName": "b.xlsx", "fileType": "xlsx"},
            {"mediaId": media_id, "fileName": "a.xlsx", "fileType": "csv"},
            {"mediaId": media_id, "fileName": "a.xlsx", "fileType": "XLSX"},
            {"mediaId": media_id, "fileName": "a.xlsx", "fileType": "file"},
            {"mediaId": bare_id, "fileName": "README", "fileType": "README"},
            {"mediaId": media_id, "fileName": "a.xlsx", "fileType": "xlsx"},
            {"mediaId": bare_id, "fileName": "README", "fileType": "file"})] == [False] * 5 + [True] * 2
        assert [c.code for c in fake.calls if c.path == "/media/upload"][-5:] == [40006, 40006, 0, 0, 0]


# --- console -------------------------------------------------------------------------------------------


def test_the_console_writes_the_file_beside_never_over_another_and_prints_its_path(tmp_path: Path,
                                                                                    store: Engine) -> None:
    (tmp_path / "kpibot-2026-11.xlsx").write_bytes(b"an older export")
    out = io.StringIO()
    console = Console(Dispatcher(services(store)), tmp_path / "charts", out, files_dir=tmp_path)
    paths = console.write_files(export_card())
    written = tmp_path / "kpibot-2026-11-1.xlsx"
    assert paths == {"kpibot-2026-11.xlsx": str(written)}
    assert written.read_bytes() == CONTENT and (tmp_path / "kpibot-2026-11.xlsx").read_bytes() == b"an older export"
    assert written.stat().st_mode & 0o777 == 0o600
    assert write_new(tmp_path, "../kpibot-2026-11.xlsx", b"again") == tmp_path / "kpibot-2026-11-2.xlsx"
    assert render_text(export_card(), {}, paths) == (
        f"Export · 2026-11\n================\n12 months of scores\n\n[file] kpibot-2026-11.xlsx -> {written}\n")


def test_size_text_rounds_up() -> None:
    assert [size_text(n) for n in (0, 1023, 1024, 1025, 30 * 1024 * 1024, 30 * 1024 * 1024 + 1)] == [
        "0 B", "1023 B", "1 KB", "2 KB", "30.0 MB", "30.1 MB"]


def test_a_card_without_files_is_left_alone() -> None:
    from bot.platforms.files import upload_files
    card = Card("t", (Note("n"),))
    assert upload_files(card, "feishu", 10, lambda f: pytest.fail("no upload")) == (card, [])

"""Nothing lost on the message path: a store that cannot be reached gets the sender a busy card at once (and the
real answer on a later delivery), and a claimed but unanswered message is answered on its redelivery (a reply
that failed releases its claim; a claim whose process died is taken over after its lease)."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import metrics
from bot.config import FeishuConfig
from bot.dispatch import StoreBusy
from bot.platforms import common
from bot.platforms.feishu import FeishuAdapter
from storage.engine import make_engine
from storage.events import ANSWERED, CLAIM_LEASE, CLAIMED, claim, settle
from storage.migrate import upgrade
from storage.models import ProcessedEvent
from tests.bot_process import BotProcess
from tests.conftest import POSTGRES, dispatcher_for
from tests.conftest import settle as settle_pool
from tests.fakes.dingtalk import FakeDingTalk
from tests.fakes.feishu import FakeFeishu
from tests.fakes.tcp_proxy import TcpProxy

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
BUSY = "kpibot is busy, try again in a minute."


def rows(engine: Engine, platform: str = "feishu") -> list[tuple[str, str, str | None]]:
    with Session(engine) as session:
        found = session.execute(select(ProcessedEvent.event_id, ProcessedEvent.state, ProcessedEvent.claim_token)
                                .where(ProcessedEvent.platform == platform)).all()
    return sorted((e, s, t) for e, s, t in found)


def test_a_claim_is_answered_released_or_taken_over_after_its_lease(engine: Engine) -> None:
    assert claim(engine, "feishu", "ev-1", "om-1", token="a", now=NOW) is True
    assert claim(engine, "feishu", "ev-1", "om-1", token="b", now=NOW + timedelta(seconds=5)) is False  # held
    assert rows(engine) == [("ev-1", CLAIMED, "a"), ("om-1", CLAIMED, "a")]
    # the reply failed: released, so the redelivery claims it
    assert settle(engine, "feishu", ("ev-1", "om-1"), "a", answered=False) is True
    assert rows(engine) == []
    assert claim(engine, "feishu", "ev-2", "om-1", token="c", now=NOW) is True
    assert settle(engine, "feishu", ("ev-2", "om-1"), "c", answered=True) is True
    assert rows(engine) == [("ev-2", ANSWERED, "c"), ("om-1", ANSWERED, "c")]
    # answered is for good, however late the redelivery
    assert claim(engine, "feishu", "ev-2", "om-1", token="d", now=NOW + CLAIM_LEASE * 10) is False
    # a claim whose process died: held within its lease, taken over after it
    assert claim(engine, "feishu", "ev-3", "om-3", token="e", now=NOW) is True
    assert claim(engine, "feishu", "ev-3", "om-3", token="f", now=NOW + CLAIM_LEASE - timedelta(seconds=1)) is False
    assert claim(engine, "feishu", "ev-3", "om-3", token="g", now=NOW + CLAIM_LEASE + timedelta(seconds=1)) is True
    assert [r for r in rows(engine) if r[0].endswith("3")] == [("ev-3", CLAIMED, "g"), ("om-3", CLAIMED, "g")]
    # the first worker, late, can no longer settle a claim taken over from it
    assert settle(engine, "feishu", ("ev-3", "om-3"), "e", answered=False) is False
    assert settle(engine, "feishu", ("ev-3", "om-3"), "g", answered=True) is True
    assert [r[1] for r in rows(engine) if r[0].endswith("3")] == [ANSWERED, ANSWERED]
    # a new delivery id with a message already answered: not answered again, and nothing is left of it
    assert claim(engine, "feishu", "ev-3b", "om-3", token="h", now=NOW + CLAIM_LEASE * 3) is False
    assert [r[0] for r in rows(engine) if r[0].endswith(("3", "3b"))] == ["ev-3", "om-3"]


@contextmanager
def feishu_on_an_empty_store(path: Path) -> Iterator[tuple[Engine, FakeFeishu, FeishuAdapter]]:
    """A migrated SQLite store at `path` (no organisation), a fake Feishu and the real adapter answering from it,
    two tries per reply."""
    store = make_engine(f"sqlite:///{path}")
    upgrade(store)
    with FakeFeishu() as fake:
        adapter = FeishuAdapter(FeishuConfig(fake.app_id, fake.app_secret, fake.base_url),
                                dispatcher_for(store), store, attempts=2, backoff_s=0.01)
        adapter.start()
        try:
            yield store, fake, adapter
        finally:
            adapter.stop()
    store.dispose()


def test_a_reply_whose_tries_ran_out_releases_the_claim_and_the_redelivery_is_answered(
        tmp_path: Path) -> None:
    with feishu_on_an_empty_store(tmp_path / "kpibot.db") as (store, fake, adapter):
        fake.fail_next(2, code=99991400, http_status=429, path_contains="/reply")   # both tries throttled
        event = fake.message_event("ou_stranger", "/help", message_id="om_fail_1", event_id="ev_fail_1")
        fake.push_event(event)
        settle_pool(fake, adapter.pool)
        assert [m for m in fake.messages if m.get("reply_to") == "om_fail_1"] == []
        assert rows(store) == []                               # released
        fake.push_event(event)                                 # Feishu delivers it again
        fake.wait_for(lambda: len([m for m in fake.messages if m.get("reply_to") == "om_fail_1"]) == 1)
        settle_pool(fake, adapter.pool)
        assert [r[:2] for r in rows(store)] == [("ev_fail_1", ANSWERED), ("om_fail_1", ANSWERED)]
        fake.push_event(event)                                 # and again: answered once
        settle_pool(fake, adapter.pool)
        assert len([m for m in fake.messages if m.get("reply_to") == "om_fail_1"]) == 1


def replies(fake: FakeFeishu, message_id: str) -> list[str]:
    """The text of each reply to `message_id`, in order."""
    return [json.dumps(m["content"], ensure_ascii=False) for m in fake.messages if m.get("reply_to") == message_id]


def test_kill_9_between_claim_and_reply_then_a_redelivery_is_answered_once(tmp_path: Path) -> None:
    """The fake holds the reply, the process is killed with the claim in the store, a new process answers the
    redelivery. The claim's lease (2 minutes) is moved back in the store rather than waited for."""
    url = f"sqlite:///{tmp_path / 'kpibot.db'}"
    store = make_engine(url)
    with FakeFeishu() as fake:
        bot = BotProcess(tmp_path, url, feishu=fake)
        bot.start()
        try:
            bot.wait_serving()
            fake.delay_next(1, 30.0, path_contains="/reply")
            event = fake.message_event("ou_stranger", "/help", message_id="om_kill_1", event_id="ev_kill_1")
            fake.push_event(event)
            fake.wait_for(lambda: [r[:2] for r in rows(store)] == [("ev_kill_1", CLAIMED), ("om_kill_1", CLAIMED)],
                          timeout=30, what="the claim in the store")
            # killed only once the reply is with Feishu (held): killed while the card is still being built, the
            # delay would fall on the next process's reply instead
            fake.wait_for(lambda: fake.pending_delays() == 0, timeout=30, what="the reply to reach Feishu")
            bot.kill()
            with store.begin() as conn:
                conn.execute(update(ProcessedEvent).values(
                    claimed_at=datetime.now(UTC) - CLAIM_LEASE - timedelta(seconds=1)))
            bot.start()
            bot.wait_serving()
            fake.push_event(event)
            fake.wait_for(lambda: len(replies(fake, "om_kill_1")) == 1, timeout=30)
            fake.wait_for(lambda: [r[1] for r in rows(store)] == [ANSWERED, ANSWERED], timeout=30)
            fake.push_event(event)                 # answered: dropped
            assert bot.stop() == 0, bot.err        # SIGTERM finishes the work acked so far before the exit
        finally:
            if bot.returncode is None:
                bot.kill()
    assert len(replies(fake, "om_kill_1")) == 1
    assert "/mykpi" in replies(fake, "om_kill_1")[0]
    store.dispose()


def test_a_sqlite_write_lock_gets_a_busy_card_at_once_and_the_redelivery_the_answer(tmp_path: Path) -> None:
    """Another connection holds SQLite's write lock for 6 s (standing for 30 s): each message is answered with
    the busy card within the answer path's 3 s wait, none is lost; once the lock is gone the redelivery of one
    gets the real answer."""
    path = tmp_path / "kpibot.db"
    url = f"sqlite:///{path}"
    with FakeFeishu() as fake, BotProcess(tmp_path, url, feishu=fake) as bot:
        bot.wait_serving()
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            events = [fake.message_event("ou_stranger", "/help", message_id=f"om_lock_{i}", event_id=f"ev_lock_{i}")
                      for i in range(3)]
            for event in events:
                fake.push_event(event)
            fake.wait_for(lambda: all(len(replies(fake, f"om_lock_{i}")) == 1 for i in range(3)), timeout=6)
            assert time.monotonic() - started < 6.0
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert [BUSY in replies(fake, f"om_lock_{i}")[0] for i in range(3)] == [True] * 3
        fake.push_event(events[0])
        fake.wait_for(lambda: len(replies(fake, "om_lock_0")) == 2, timeout=30)
        assert "/mykpi" in replies(fake, "om_lock_0")[1]
        assert bot.stop() == 0, bot.err
    assert "Traceback" not in bot.err


def test_in_a_store_outage_only_messages_for_the_bot_get_the_busy_card(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's write lock held (the answer path's wait cut to 0.3 s from 3 s): group chatter without an @-mention
    and a sticker get nothing and touch no store, a /help gets the busy card; the metrics count two handled (left
    alone) and one failed as busy."""
    monkeypatch.setattr(common, "STORE_WAIT_S", 0.3)
    counted = metrics.reset()
    path = tmp_path / "kpibot.db"
    with feishu_on_an_empty_store(path) as (store, fake, adapter):
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            fake.push_event(fake.message_event("ou_a", "/help", chat_type="group", message_id="om_chatter"))
            sticker = fake.message_event("ou_a", "", message_id="om_sticker")
            sticker["event"]["message"].update(message_type="sticker", content=json.dumps({"file_key": "f_1"}))
            fake.push_event(sticker)
            fake.push_event(fake.message_event("ou_a", "/help", message_id="om_help"))
            settle_pool(fake, adapter.pool)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert rows(store) == []
    assert [(m.get("reply_to"), BUSY in json.dumps(m["content"], ensure_ascii=False)) for m in fake.messages] == \
        [("om_help", True)]
    assert (counted.handled.labels("feishu")._value.get(), counted.failed.labels("feishu", "busy")._value.get(),
            counted.latency.labels("feishu")._sum.get()) == (2.0, 1.0, 0.0)


@pytest.mark.postgres
def test_postgresql_cut_off_gets_busy_cards_and_the_answer_once_it_is_back(tmp_path: Path) -> None:
    """PostgreSQL behind a proxy the test cuts for a few seconds (standing for 30 s): every message in the
    outage gets the busy card at once, none is lost, and a redelivery after it gets the real answer."""
    db = POSTGRES.create()
    with TcpProxy(db.host or "127.0.0.1", db.port or 5432) as proxy, FakeFeishu() as fake:
        url = db.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        with BotProcess(tmp_path, url, feishu=fake) as bot:
            bot.wait_serving()
            fake.push_event(fake.message_event("ou_stranger", "/help", message_id="om_pg_0"))
            fake.wait_for(lambda: len(replies(fake, "om_pg_0")) == 1, timeout=30)
            proxy.cut()
            events = [fake.message_event("ou_stranger", "/help", message_id=f"om_pg_{i}", event_id=f"ev_pg_{i}")
                      for i in range(1, 6)]
            for event in events:
                fake.push_event(event)
            fake.wait_for(lambda: all(len(replies(fake, f"om_pg_{i}")) == 1 for i in range(1, 6)), timeout=10)
            assert [BUSY in replies(fake, f"om_pg_{i}")[0] for i in range(1, 6)] == [True] * 5
            proxy.restore()
            for event in events:
                fake.push_event(event)
            fake.wait_for(lambda: all(len(replies(fake, f"om_pg_{i}")) == 2 for i in range(1, 6)), timeout=30)
            assert ["/mykpi" in replies(fake, f"om_pg_{i}")[1] for i in range(1, 6)] == [True] * 5
            assert bot.stop() == 0, bot.err
    assert "Traceback" not in bot.err


def test_dingtalk_the_same_a_locked_store_gets_the_busy_card_and_the_redelivery_the_answer(tmp_path: Path) -> None:
    """The DingTalk adapter shares the flow: SQLite's write lock held for 5 s (standing for 30 s) gets the busy
    card through the message's session webhook at once; the frame delivered again after it gets the answer."""
    path = tmp_path / "kpibot.db"
    fake = FakeDingTalk().start()
    try:
        with BotProcess(tmp_path, f"sqlite:///{path}", dingtalk=fake) as bot:
            bot.wait_serving()
            lock = sqlite3.connect(path, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            try:
                started = time.monotonic()
                fake.push_message(fake.bot_message("stranger9", "/help", msg_id="msg_lock_1"),
                                  message_id="frame_lock_1")
                fake.wait_for(lambda: len(texts_to(fake, "stranger9")) == 1, timeout=5)
                assert time.monotonic() - started < 5.0
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            assert BUSY in texts_to(fake, "stranger9")[0]
            fake.redeliver("frame_lock_1")
            fake.wait_for(lambda: len(texts_to(fake, "stranger9")) == 2, timeout=30)
            assert "/mykpi" in texts_to(fake, "stranger9")[1]
            fake.redeliver("frame_lock_1")           # answered: a third delivery is dropped
            assert bot.stop() == 0, bot.err          # SIGTERM finishes the work acked so far before the exit
        assert len(texts_to(fake, "stranger9")) == 2
        assert "Traceback" not in bot.err
    finally:
        fake.stop()
    assert fake.protocol_errors == []


def texts_to(fake: FakeDingTalk, target: str) -> list[str]:
    return [d.content["text"] for d in fake.delivered if d.target == target]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_events_stored_before_claims_had_a_state_count_as_answered(backend: str, tmp_path: Path) -> None:
    from tests.conftest import fresh_engine

    store = fresh_engine(backend, tmp_path)
    try:
        upgrade(store, "0020")
        with store.begin() as conn:
            conn.execute(text("INSERT INTO processed_event (platform, event_id, received_at) "
                              "VALUES ('feishu', 'ev-old', :at)"), {"at": NOW.replace(tzinfo=None)})
        assert upgrade(store, "0023") == ("0020", "0023")
        assert rows(store) == [("ev-old", ANSWERED, None)]
        assert claim(store, "feishu", "ev-old", token="x", now=NOW + CLAIM_LEASE * 10) is False
    finally:
        store.dispose()


@pytest.mark.parametrize(("locale", "said"), [("en", BUSY), ("zh", "kpibot 正忙，请一分钟后再试。"),
                                              ("id", "kpibot sedang sibuk, coba lagi dalam satu menit.")])
def test_a_store_that_refuses_connections_is_busy_in_the_orgs_language(locale: str, said: str) -> None:
    """A message raises StoreBusy (the adapter answers busy and releases its claim); a click gets the busy card."""
    from bot.dispatch import Incoming, StoreBusy
    from cards.model import Text

    with TcpProxy("127.0.0.1", 5432) as proxy:
        proxy.cut()
        store = make_engine(f"postgresql+psycopg://kpibot:kpibot@127.0.0.1:{proxy.port}/kpibot_test")
        dispatcher = dispatcher_for(store, locale=locale)
        with pytest.raises(StoreBusy):
            dispatcher.handle_message(Incoming("feishu", "ou_x", "/mykpi"))
        card = dispatcher.handle_action("feishu", "ou_x", "mykpi", ("week",))
        store.dispose()
    assert (card.title, card.blocks, card.lang) == ("kpibot", (Text(said),), locale)


@pytest.mark.postgres
def test_a_postgresql_that_accepts_and_never_answers_is_busy_within_the_connect_timeout() -> None:
    """Without a connect timeout libpq would wait for such a server forever, and the message with it."""
    from storage.engine import PG_CONNECT_TIMEOUT_S, store_unreachable

    db = POSTGRES.migrated()
    with TcpProxy(db.host or "127.0.0.1", db.port or 5432) as proxy:
        proxy.hold()
        store = make_engine(db.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            claim(store, "feishu", "ev-deaf", token="t", wait_s=3)
        took = time.monotonic() - started
        store.dispose()
    assert store_unreachable(raised.value) is True
    assert PG_CONNECT_TIMEOUT_S - 0.5 < took < PG_CONNECT_TIMEOUT_S + 3


def test_answer_once_says_what_became_of_a_message_and_track_counts_it(engine: Engine) -> None:
    """Answered (with latency), a duplicate, a reply whose retries ran out, the store going away mid-answer, an
    exception, and a reply deferred to its group's slot, counted when it is sent."""
    counted = metrics.reset()
    sent: list[str] = []
    later: list[Callable[[bool], None]] = []

    def outcome(ids: tuple[str, str], answer: Callable[[Callable[[bool], None]], None]) -> common.Outcome:
        result: list[common.Outcome] = []

        def handle() -> common.Outcome:
            result.append(common.answer_once("feishu", engine, ids, answer, lambda: sent.append("busy")))
            return result[0]

        common.track("feishu", ids[0], handle)
        return result[0]

    def store_gone(done: Callable[[bool], None]) -> None:
        raise StoreBusy("locked")

    def broken(done: Callable[[bool], None]) -> None:
        raise ValueError("a bug")

    assert outcome(("ev-1", "om-1"), lambda done: done(True)) is common.Outcome.ANSWERED
    assert outcome(("ev-1b", "om-1"), lambda done: done(True)) is common.Outcome.DUPLICATE
    assert outcome(("ev-2", "om-2"), lambda done: done(False)) is common.Outcome.UNSENT
    assert outcome(("ev-3", "om-3"), store_gone) is common.Outcome.BUSY
    with pytest.raises(ValueError, match="a bug"):
        outcome(("ev-4", "om-4"), broken)
    assert outcome(("ev-5", "om-5"), later.append) is common.Outcome.DEFERRED
    assert counted.handled.labels("feishu")._value.get() == 1.0      # the deferred reply is not counted yet
    later[0](True)
    failed = {reason: counted.failed.labels("feishu", reason)._value.get() for reason in metrics.FAIL_REASONS}
    assert (counted.handled.labels("feishu")._value.get(), counted.duplicates.labels("feishu")._value.get(),
            failed, sent) == (2.0, 1.0, {"unsent": 1.0, "busy": 1.0, "error": 1.0}, ["busy"])
    assert [r[:2] for r in rows(engine) if r[0].endswith("5")] == [("ev-5", ANSWERED), ("om-5", ANSWERED)]


def test_answer_once_takes_the_first_word_of_an_answer_that_then_raises(engine: Engine,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """An answer that said its reply went, then raised (a file after the card): the claim stays answered, not
    released by the exception's own "not sent"; one that said it did not go is released and logged once."""
    def said(sent: bool) -> Callable[[Callable[[bool], None]], None]:
        def answer(done: Callable[[bool], None]) -> None:
            done(sent)
            raise ValueError("after it said")
        return answer

    with caplog.at_level(logging.WARNING, logger="bot.platforms.common"):
        for ids, sent in ((("ev-w1", "om-w1"), True), (("ev-w2", "om-w2"), False)):
            with pytest.raises(ValueError, match="after it said"):
                common.answer_once("feishu", engine, ids, said(sent), lambda: None)
    by_id = {r[0]: r[1] for r in rows(engine)}
    assert (by_id["ev-w1"], by_id["om-w1"]) == (ANSWERED, ANSWERED)
    assert "ev-w2" not in by_id and "om-w2" not in by_id       # released: a redelivery is answered
    assert [r.getMessage() for r in caplog.records if "was not sent" in r.getMessage()] == [
        "feishu: the answer to ev-w2/om-w2 was not sent (logged as unsent, counted in kpibot_messages_failed); "
        "it stays unanswered unless the platform delivers the message again"]


def test_answer_once_answers_nothing_this_process_is_answering_and_gives_back_what_did_not_go(engine: Engine) -> None:
    """`answered` (the events this process took, a kept answer's too): one taken is not answered again and its claim
    goes (should the answer on its way fail, answering it as ever finds none); one whose answer did not go is taken
    off, so a redelivery is answered."""
    answered = common.AnsweredEvents()
    replies: list[str] = []
    assert answered.take(("ev-k1", "om-k1"))                    # a kept answer on its way
    assert common.answer_once("feishu", engine, ("ev-k1b", "om-k1"), lambda done: replies.append("k1"),
                              lambda: None, answered) is common.Outcome.DUPLICATE
    assert replies == [] and [r for r in rows(engine) if r[0].endswith("k1") or r[0].endswith("k1b")] == []
    assert common.answer_once("feishu", engine, ("ev-k2", "om-k2"), lambda done: done(False), lambda: None,
                              answered) is common.Outcome.UNSENT
    assert answered.take(("ev-k2", "om-k2"))                    # given back: a redelivery may answer it

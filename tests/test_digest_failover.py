"""Digests when a `kpibot run` dies mid-send, through the real process: kill -9 while Feishu holds the answer
to a digest it already took, then a restart; and three replicas on one PostgreSQL where the replica sending the
digests is killed. Every due digest is in the fake Feishu exactly once (the taken-over send repeats the claim's
uuid, and Feishu answers it with the first message) and every message is answered once.

Time: the claim of a killed sender is taken over after 15 minutes (storage.schedule.STALE_AFTER). The processes'
clock starts at KPIBOT_NOW and runs 200 times faster (KPIBOT_CLOCK_SPEED), the scheduler ticks every 0.5 s
(KPIBOT_TICK_S): the 15 minutes pass in about 5 s of wall time. Every process of a test shares one clock
(KPIBOT_CLOCK_FROM). The store is set up with kpibot's own commands
(`kpibot seed-demo`, `kpibot digest subscribe`)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from bot.cli import main
from bot.jobs.digests import SEND_WORKERS
from storage.engine import make_engine
from storage.models import DigestSubscription, ScheduledSend
from tests.bot_process import BotProcess
from tests.conftest import POSTGRES, seeded_by_cli
from tests.fakes.feishu import FakeFeishu

NOW = "2026-11-22T01:30:00+00:00"                       # 09:30 in Shanghai: the 09:00 digests are due
CHATS = {"oc_digest_live_a": "live-us", "oc_digest_live_b": "live-us",
         "oc_digest_shopee_a": "shopee-id", "oc_digest_shopee_b": "shopee-id"}
ENV = {"KPIBOT_NOW": NOW, "KPIBOT_CLOCK_SPEED": "200", "KPIBOT_TICK_S": "0.5"}


def shared_clock() -> dict[str, str]:
    """ENV with one clock for every process of a test (KPIBOT_CLOCK_FROM): replicas started seconds apart would
    otherwise be minutes apart at 200 times real time, and a replica ahead would take over live claims."""
    return {**ENV, "KPIBOT_CLOCK_FROM": repr(time.time())}
EXTRA = "[fx]\nenabled = false\n[alerts]\nenabled = false\n"   # only digests go out


def subscribe_by_cli(url: str, chats: dict[str, str], seed: bool) -> None:
    """`kpibot seed-demo` (when `seed`), then one `kpibot digest subscribe` per chat, at 09:00 Shanghai time."""
    config = Path(tempfile.mkdtemp(prefix="kpibot-digests-")) / "config.toml"
    config.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KPIBOT_NOW", NOW)
        if seed:
            assert main(["--config", str(config), "seed-demo"]) == 0
        for chat, team in chats.items():
            assert main(["--config", str(config), "digest", "subscribe", team, "--platform", "feishu", "--chat",
                         chat, "--time", "09:00", "--tz", "Asia/Shanghai", "--no-weekly"]) == 0


def digests(fake: FakeFeishu) -> list[str]:
    """The chat of every message Feishu keeps in a digest chat, in order."""
    return [m["chat_id"] for m in fake.messages if m.get("kind") == "create" and m.get("chat_id") in CHATS]


def creates_to(fake: FakeFeishu, chat: str) -> list[str]:
    """The uuid of every create call (answered or repeated) to `chat`."""
    return [c.json["uuid"] for c in fake.calls if c.path == "/open-apis/im/v1/messages" and c.method == "POST"
            and isinstance(c.json, dict) and c.json.get("receive_id") == chat]


def claims(url: str) -> list[tuple[str, str, str]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return [(r.subject, r.status, r.claimed_by) for r in session.execute(
                select(ScheduledSend).where(ScheduledSend.kind == "digest")).scalars()]  # type: ignore[arg-type]
    finally:
        engine.dispose()


def claim_of(url: str, chat: str) -> tuple[str, str]:
    """(the instance holding it, its status) of the digest claim of `chat`'s subscription."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            sub = session.execute(select(DigestSubscription).where(
                DigestSubscription.chat_id == chat)).scalar_one()  # type: ignore[arg-type]
            by, status = session.execute(select(ScheduledSend.claimed_by, ScheduledSend.status).where(
                ScheduledSend.kind == "digest", ScheduledSend.subject == f"subscription:{sub.id}")).one()
            return by, status
    finally:
        engine.dispose()


def claimed_by(url: str, chat: str) -> str:
    """The instance holding the digest claim of `chat`'s subscription."""
    return claim_of(url, chat)[0]


def wait_all_sent(url: str, timeout: float = 60.0) -> list[tuple[str, str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = claims(url)
        if len(rows) == len(CHATS) and all(status == "sent" for _, status, _ in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"not every digest was sent within {timeout} s: {rows}")
        time.sleep(0.2)


def held_chat(fake: FakeFeishu) -> str:
    fake.wait_for(lambda: len(digests(fake)) >= 1, timeout=60, what="the first digest to reach Feishu")
    return digests(fake)[0]


def test_kill_9_during_digests_then_a_restart_sends_every_due_digest_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "kpibot.db"
    seeded_by_cli(path, NOW)
    url = f"sqlite:///{path}"
    subscribe_by_cli(url, CHATS, seed=False)
    with FakeFeishu() as fake:
        fake.hold_next(1, 120, "oc_digest_")     # Feishu keeps the first digest and holds its answer
        env = shared_clock()
        first = BotProcess(tmp_path, url, feishu=fake, env=env, extra=EXTRA, name="first")
        first.start()
        try:
            first.wait_serving()
            chat = held_chat(fake)
        finally:
            first.kill()
        fake.release_held()
        # the held one's claim is open, each other one open, sent, or not claimed yet (waiting for the restart);
        # at most SEND_WORKERS are open at once
        assert claim_of(url, chat)[1] == "sending"
        statuses = [status for _, status, _ in claims(url)]
        assert set(statuses) <= {"sending", "sent"} and statuses.count("sending") <= SEND_WORKERS
        with BotProcess(tmp_path, url, feishu=fake, env=env, extra=EXTRA, name="second") as second:
            second.wait_serving()
            wait_all_sent(url)
            assert second.stop() == 0
    assert sorted(digests(fake)) == sorted(CHATS)          # each due digest once
    uuids = creates_to(fake, chat)
    assert len(uuids) == 2 and uuids[0] == uuids[1]        # sent again after the takeover, with the same uuid
    assert "Traceback" not in second.err


@pytest.mark.postgres
def test_three_replicas_lose_the_digest_sender_and_still_send_each_digest_once_and_answer_each_message_once(
        tmp_path: Path) -> None:
    url = POSTGRES.create().render_as_string(hide_password=False)
    subscribe_by_cli(url, CHATS, seed=True)
    with FakeFeishu() as fake:
        fake.hold_next(1, 120, "oc_digest_")
        env = shared_clock()
        replicas = [BotProcess(tmp_path, url, feishu=fake, env=env, extra=EXTRA, name=f"replica{i}")
                    for i in (1, 2, 3)]
        try:
            for replica in replicas:
                replica.start()
            for replica in replicas:
                replica.wait_serving()
            chat = held_chat(fake)
            holder = claimed_by(url, chat)
            pid = int(holder.split(":")[1])                   # instance ids are host:pid:random
            sender = next(r for r in replicas if r.proc is not None and r.proc.pid == pid)
            sender.kill()
            fake.release_held()
            survivors = [r for r in replicas if r is not sender]
            fake.wait_for(lambda: fake.connected, timeout=30, what="a surviving replica's connection")
            asked = []
            for n in range(6):
                event = fake.message_event("ou_host1", "/help", event_id=f"ev_failover_{n}")
                asked.append(event["event"]["message"]["message_id"])
                fake.push_event(event)
            fake.wait_for(lambda: all(any(m.get("reply_to") == mid for m in fake.messages) for mid in asked),
                          timeout=60, what="an answer to every message")
            rows = wait_all_sent(url)
            time.sleep(1.0)          # a few more ticks of the survivors: nothing more may go out
            for replica in survivors:
                assert replica.stop() == 0
        finally:
            for replica in replicas:
                if replica.proc is not None and replica.proc.poll() is None:
                    replica.kill()
    assert sorted(digests(fake)) == sorted(CHATS)
    uuids = creates_to(fake, chat)
    assert len(uuids) == 2 and uuids[0] == uuids[1]
    # the killed sender's held claim was taken over (the others it sent at once before the kill stay its own)
    assert claimed_by(url, chat) != holder and all(status == "sent" for _, status, _ in rows)
    replies = [m["reply_to"] for m in fake.messages if m.get("kind") == "reply"]
    assert sorted(replies) == sorted(asked)                  # every message answered once
    assert all("Traceback" not in r.err for r in survivors)

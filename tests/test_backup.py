"""`kpibot backup FILE` / `kpibot restore FILE` on a store set up with kpibot's own commands: a backup taken while
a sync writes is the store at one commit and restores to an identical store; restore refuses what it must."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from bot.cli import main
from storage.engine import make_engine
from storage.ingest.records import LineRecord, OrderRecord, OrderStatus
from storage.ingest.writer import StoreWriter
from storage.migrate import head_revision, upgrade
from storage.models import Shop

T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)


class Cli:
    """`kpibot --config FILE ...` in this process: (exit code, stdout, stderr)."""

    def __init__(self, folder: Path, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config = folder / "kpibot.toml"
        self.config.write_text(f'[store]\nurl = "sqlite:///{store}"\n', encoding="utf-8")
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--config", str(self.config), *args])
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Cli]:
    """A store made from nothing with kpibot's commands: the schema, an organisation and one shop."""
    monkeypatch.setenv("KPIBOT_NOW", "2026-11-22T12:00:00+00:00")
    path = tmp_path / "kpibot.db"
    cli = Cli(tmp_path, path, capsys)
    assert cli("db", "upgrade")[0] == 0
    assert cli("org", "init", "--name", "Acme", "--currency", "USD", "--timezone", "UTC", "--locale", "en")[0] == 0
    assert cli("shops", "add", "tts-us", "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
               "--timezone", "UTC", "--platform-shop-id", "7495")[0] == 0
    return path, cli


def order(n: int) -> OrderRecord:
    """Order A<n>: two lines, 17.50 USD."""
    return OrderRecord(
        f"A{n}", OrderStatus.PAID, "USD", subtotal=D("17.50"), discount=D("0"), merchandise=D("17.50"),
        shipping=D("0"), tax=D("0"), total=D("17.50"), created_at=T0, updated_at=T0, paid_at=T0,
        lines=(LineRecord(f"A{n}-1", "P1", "P1-red", "Mug 杯", 1, D("7.50"), D("7.50")),
               LineRecord(f"A{n}-2", "P2", "P2-L", "Cap", 2, D("5.00"), D("10.00"))))


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (alembic_version included), in a fixed order."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}


def count(path: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_backup_taken_while_a_sync_writes_restores_to_the_store_at_one_commit(
        store: tuple[Path, Cli], tmp_path: Path) -> None:
    path, cli = store
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        shop_id = session.execute(select(Shop.id)).scalar_one()
    written = 0
    stop = threading.Event()

    def sync() -> None:   # one order (two lines) per transaction, as fast as the writer goes
        nonlocal written
        writer = StoreWriter(engine)
        while not stop.is_set():
            writer.write_page(shop_id, [order(written)])
            written += 1

    writing = threading.Thread(target=sync)
    writing.start()
    try:
        deadline = time.monotonic() + 30
        while written < 20 and time.monotonic() < deadline:
            stop.wait(0.01)
        assert written >= 20, "the sync wrote fewer than 20 orders in 30 s"
        backup = tmp_path / "backups" / "kpibot-backup.db"
        code, out, err = cli("backup", str(backup))
        after_backup = written
        while written < after_backup + 10 and time.monotonic() < deadline:
            stop.wait(0.01)
    finally:
        stop.set()
        writing.join()
        engine.dispose()
    assert (code, out, err) == (0, f"backed up the store to {backup} (schema {head_revision()})\n", "")
    assert backup.stat().st_mode & 0o777 == 0o600

    copied, source = dump(backup), dump(path)
    orders = count(backup, "shop_order")
    assert 20 <= orders <= after_backup < count(path, "shop_order")    # the sync went on during and after it
    # the store at one commit: the first `orders` orders, each with both its lines, and nothing else changed
    assert sorted(r[2] for r in copied["shop_order"]) == sorted(f"A{n}" for n in range(orders))
    assert count(backup, "order_line") == 2 * orders
    order_ids = {r[0] for r in copied["shop_order"]}     # row ids; order_line.order_id is column 1
    assert copied["shop_order"] == [r for r in source["shop_order"] if r[0] in order_ids]
    assert copied["order_line"] == [r for r in source["order_line"] if r[1] in order_ids]
    synced = ("shop_order", "order_line", "shop_sync_state", "order_sum", "order_product_sum", "order_sum_part",
              "order_product_part", "order_shape_sum", "order_hour_sum", "order_product_hour_sum",
              "order_member_hour_total", "order_shop_hour_total", "order_product_hour_total")
    assert {t: rows for t, rows in copied.items() if t not in synced} == \
        {t: rows for t, rows in source.items() if t not in synced}
    # the order sums (storage.order_sums) of the same commit: they add up to the copied orders
    with contextlib.closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as conn:
        assert conn.execute("SELECT sum(gross_minor), sum(orders), sum(units) FROM order_sum WHERE basis = 'paid'"
                            ).fetchone() == conn.execute(
            "SELECT sum(merchandise_minor), count(*), sum(units) FROM shop_order WHERE paid_at IS NOT NULL").fetchone()
        assert conn.execute("SELECT sum(units) FROM order_product_sum WHERE basis = 'paid'").fetchone() == \
            conn.execute("SELECT sum(quantity) FROM order_line").fetchone()
        assert conn.execute("SELECT sum(gross_minor), sum(orders), sum(units) FROM order_hour_sum WHERE basis = 'paid'"
                            ).fetchone() == conn.execute(
            "SELECT sum(merchandise_minor), count(*), sum(units) FROM shop_order WHERE paid_at IS NOT NULL").fetchone()
        assert conn.execute("SELECT sum(gross_minor), sum(orders), sum(units) FROM order_shop_hour_total "
                            "WHERE basis = 'paid'").fetchone() == conn.execute(
            "SELECT sum(merchandise_minor), count(*), sum(units) FROM shop_order WHERE paid_at IS NOT NULL").fetchone()
        assert conn.execute("SELECT count(*) FROM order_sum_due").fetchone() == (0,)

    # restored (the bot stopped): the store is the backup, and the store it replaced is kept as it was
    code, out, err = cli("restore", str(backup))
    kept = next(path.parent.glob("kpibot.db.before-restore-*"))
    assert (code, out, err) == (0, f"restored {backup} (schema {head_revision()}); the store it replaced is kept "
                                   f"as {kept}\n", "")
    restored = dump(path)   # the backup, and the restore's own audit row (test_a_restore_is_audited_...)
    assert [r for r in restored["audit_log"] if r[3] != "store.restore"] == copied["audit_log"]
    assert [r[3] for r in restored["audit_log"] if r[3] == "store.restore"] == ["store.restore"]
    assert {t: rows for t, rows in restored.items() if t != "audit_log"} == \
        {t: rows for t, rows in copied.items() if t != "audit_log"}
    assert dump(kept) == source
    assert path.stat().st_mode & 0o777 == 0o600 and kept.stat().st_mode & 0o777 == 0o600


def test_backup_never_overwrites_without_force(store: tuple[Path, Cli], tmp_path: Path) -> None:
    path, cli = store
    target = tmp_path / "old.db"
    target.write_bytes(b"an older backup")
    assert cli("backup", str(target)) == (2, "", f"kpibot backup: {target} exists; use --force to replace it\n")
    assert target.read_bytes() == b"an older backup"
    assert cli("backup", str(target), "--force")[0] == 0
    assert dump(target) == dump(path)


def test_restore_refuses_a_newer_schema_a_file_that_is_no_kpibot_store_and_a_store_in_use(
        store: tuple[Path, Cli], tmp_path: Path) -> None:
    path, cli = store
    before = dump(path)
    newer = tmp_path / "newer.db"
    assert cli("backup", str(newer))[0] == 0
    with contextlib.closing(sqlite3.connect(newer)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    assert cli("restore", str(newer)) == (2, "", f"kpibot restore: {newer} has schema version 0099, which this "
                                                 f"kpibot does not know (its newest is {head_revision()}): it comes "
                                                 "from a newer kpibot; upgrade kpibot first\n")
    text = tmp_path / "notes.txt"
    text.write_text("not a database", encoding="utf-8")
    assert cli("restore", str(text)) == (2, "", f"kpibot restore: {text} is not a SQLite database, so not a kpibot "
                                                "store\n")
    other = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other)) as conn, conn:
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
    assert cli("restore", str(other)) == (2, "", f"kpibot restore: {other} is a SQLite database but not a kpibot "
                                                 "store (no member, organisation, shop, shop_order table)\n")
    good = tmp_path / "good.db"
    assert cli("backup", str(good))[0] == 0
    running = make_engine(f"sqlite:///{path}")    # the bot's open connection: the store has a -wal file
    with running.connect():
        assert cli("restore", str(good)) == (
            2, "", f"kpibot restore: {path} is in use (another process has it open): stop kpibot run and every other "
                   "kpibot command first (--force if none is running)\n")
    running.dispose()
    assert dump(path) == before and list(path.parent.glob("*.before-restore-*")) == []


def test_restore_upgrades_an_older_schema_on_the_copy(store: tuple[Path, Cli], tmp_path: Path) -> None:
    path, cli = store
    older = tmp_path / "older.db"
    engine = make_engine(f"sqlite:///{older}")
    upgrade(engine, "0023")
    engine.dispose()
    assert cli("restore", str(older))[1].startswith(f"restored {older} (schema 0023, upgraded to {head_revision()})")
    assert dump(path)["alembic_version"] == [(head_revision(),)]


def test_postgres_stores_are_pointed_to_pg_dump_and_pg_restore(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kpibot.toml"
    config.write_text('[store]\nurl = "postgresql+psycopg://kpibot:secret@127.0.0.1:1/kpibot"\n', encoding="utf-8")
    assert main(["--config", str(config), "backup", str(tmp_path / "b.db")]) == 2
    assert capsys.readouterr().err == (
        "kpibot backup: this store is PostgreSQL: back it up with pg_dump -Fc (for example pg_dump -Fc -f "
        "kpibot.dump \"$KPIBOT_STORE_URL\"); see README, Backup and restore\n")
    assert main(["--config", str(config), "restore", str(tmp_path / "b.db")]) == 2
    assert "pg_restore --clean" in capsys.readouterr().err
    assert not (tmp_path / "b.db").exists()


def test_a_restore_is_audited_in_the_restored_store(store: tuple[Path, Cli], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A backup taken, then a team added and its zone set (audited); `kpibot restore` by alice (KPIBOT_ACTOR;
    clock pinned at 2026-11-22 12:00 UTC by KPIBOT_NOW) writes store.restore into the restored store: the file,
    its schema, when it was taken (its modification time, pinned here), and the audit rows the replaced store had
    beyond it, which only the .before-restore copy keeps."""
    path, cli = store
    backup = tmp_path / "b.db"
    assert cli("backup", str(backup))[0] == 0
    os.utime(backup, (T0.timestamp(), T0.timestamp()))
    in_backup = count(backup, "audit_log")
    assert cli("teams", "add", "t2", "--name", "Team Two")[0] == 0
    assert cli("teams", "set", "t2", "--timezone", "Asia/Jakarta")[0] == 0
    assert count(path, "audit_log") == in_backup + 1
    monkeypatch.setenv("KPIBOT_ACTOR", "alice")
    assert cli("restore", str(backup))[0] == 0
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT at, actor, action, entity, entity_id, details FROM audit_log "
                            "ORDER BY id").fetchall()
    assert len(rows) == in_backup + 1
    at, actor, action, entity, entity_id, details = rows[-1]
    assert (at[:19], actor, action, entity, entity_id) == ("2026-11-22 12:00:00", "cli:alice", "store.restore",
                                                           "store", "b.db")
    assert json.loads(details) == {"file": "b.db", "schema": head_revision(), "upgraded_to": None,
                                   "taken_at": "2026-11-10T08:00:00+00:00",
                                   "kept": "kpibot.db.before-restore-20261122T120000Z", "audit_rows_lost": 1}
    assert count(path.with_name("kpibot.db.before-restore-20261122T120000Z"), "audit_log") == in_backup + 1

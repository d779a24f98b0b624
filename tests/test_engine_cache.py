"""SQLite's page cache: readers' connections keep the small one; a writer's transaction has the large one only
while it runs (storage.engine.write_cache)."""

from __future__ import annotations

import platform
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.engine import SQLITE_CACHE_KIB, SQLITE_WRITE_CACHE_KIB, make_engine, write_cache


def test_a_writer_has_the_large_cache_only_during_its_transaction(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")

    def cache(conn: Connection) -> int:
        return int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())

    with engine.connect() as conn:
        assert cache(conn) == -SQLITE_CACHE_KIB
        conn.rollback()
        with write_cache(conn), conn.begin():
            assert cache(conn) == -SQLITE_WRITE_CACHE_KIB
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        assert cache(conn) == -SQLITE_CACHE_KIB
        assert conn.execute(text("SELECT COUNT(*) FROM t")).scalar_one() == 0   # committed
    engine.dispose()


def test_releasing_free_memory_is_safe_to_call_any_time() -> None:
    from bot.heap import release_free_memory

    junk = [bytearray(1024) for _ in range(10_000)]
    del junk
    release_free_memory()   # glibc: malloc_trim(0); elsewhere nothing
    from bot.heap import _TRIM
    assert (_TRIM is not None) == (platform.libc_ver()[0] == "glibc")   # this machine's libc was found

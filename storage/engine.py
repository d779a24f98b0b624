"""Engine and sessions for the store, on SQLite or PostgreSQL alike."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import create_engine

from storage.order_sums import keep_current

SQLITE_CACHE_KIB = 8_192           # page cache per connection: readers (see make_engine)
SQLITE_WRITE_CACHE_KIB = 65_536    # ... while a writer's transaction runs (write_cache)
SQLITE_CHECKPOINT_PAGES = 16_384   # WAL pages between automatic checkpoints
# libpq waits for a server that accepted the TCP connection but does not answer with no limit of its own: a
# chat answer would wait forever instead of saying the store is busy. A server on the same network answers a
# connection within milliseconds; a URL's own connect_timeout wins.
PG_CONNECT_TIMEOUT_S = 5

SQLITE_SIBLINGS = ("", "-wal", "-shm", "-journal")

log = logging.getLogger(__name__)


def private_sqlite_file(database: str) -> None:
    """The SQLite store file created 0600 before SQLite opens it (an empty file is an empty database; SQLite
    gives its -wal, -shm and -journal files the database's mode), and an existing one that others could read
    tightened to 0600 with one warning: it holds members' figures and the shops' encrypted tokens."""
    path = Path(database)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return
    except FileExistsError:
        pass
    except OSError:   # no such folder, read-only ...: SQLite reports it, in its words
        return
    loose = [(f, f.stat().st_mode & 0o777) for f in (Path(f"{path}{s}") for s in SQLITE_SIBLINGS) if f.exists()]
    loose = [(f, mode) for f, mode in loose if mode & 0o077]
    if not loose:
        return
    for f, _mode in loose:
        try:
            os.chmod(f, 0o600)
        except OSError as exc:
            log.warning("the store file %s is readable by others (mode %o) and could not be made 0600: %s",
                        f, _mode, exc)
            return
    log.warning("the store %s was readable by others (mode %o); made it 0600", path, loose[0][1])


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs: SQLite enforces foreign keys and uses WAL so that
    readers do not block the writer; PostgreSQL gets a pre-ping pool for long-running processes.

    SQLite's page cache is 8 MiB per connection (SQLite's default is 2 MiB; the cache only grows as pages are
    used), 64 MiB while a writer's transaction runs (write_cache), and the WAL is checkpointed every 16,384
    pages (64 MiB) instead of every 1,000: a sync writes into several indexes at random places (paid_at,
    shipped_at ...), and with the defaults every batch spilled its cache mid-transaction and every commit ran a
    checkpoint (tests/benchmarks/bench_sync.py: about a fifth of a first sync's CPU). The WAL file may grow to
    about that size before it is reused. Readers keep the smaller cache: each pooled connection of `kpibot run`
    kept up to 64 MiB of pages that its jobs had read once (the store file stays in the OS's page cache)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database not in (None, "", ":memory:") and not parsed.database.startswith("file:"):
            private_sqlite_file(parsed.database)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if parsed.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
            cur.close()

        keep_current(engine)
        return engine
    if "connect_timeout" not in parsed.query:
        connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT_S, **kwargs.pop("connect_args", {})}
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    keep_current(engine)
    return engine


@contextmanager
def write_cache(conn: Connection) -> Iterator[None]:
    """SQLite: this connection's page cache at SQLITE_WRITE_CACHE_KIB while the block runs (a writer's
    transaction, begun inside it), back to the readers' size after, which frees the pages above it. A no-op on
    PostgreSQL."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection   # PRAGMA on the DBAPI connection: no SQLAlchemy transaction begun
    assert raw is not None
    raw.execute(f"PRAGMA cache_size=-{SQLITE_WRITE_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")


def store_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the store could not be reached in time (connection refused or dropped, a lock or
    statement timeout, SQLite's "database is locked"), rather than a fault in the store or in what was asked of
    it (SQLite reports a missing table as an OperationalError too: that one is a fault)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    if exc.orig is not None and type(exc.orig).__module__.startswith("sqlite3"):
        return any(sign in str(exc.orig).lower() for sign in SQLITE_UNREACHABLE)
    return True


# SQLite's OperationalErrors that mean "not now" rather than "wrong": another writer holds the lock past the busy
# timeout, or the file cannot be opened (its disk or mount went away).
SQLITE_UNREACHABLE = ("database is locked", "database table is locked", "unable to open database file")

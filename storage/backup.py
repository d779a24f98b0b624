"""Backup and restore of a SQLite store (`kpibot backup FILE`, `kpibot restore FILE`).

Backup uses SQLite's online backup API (sqlite3.Connection.backup) in one step: it reads the store inside one
read transaction, so the copy is the store as it was at one commit, even while the bot or a sync writes (WAL
mode: the writers are not blocked). The copy is written to a temporary file beside FILE (0600: it holds pay
data and the shops' encrypted tokens), checked, fsynced and only then given its name; without `force` an
existing FILE is never replaced (the name is taken with a hard link, which fails when it exists).

Restore checks that FILE is a kpibot store whose schema version (alembic_version) this code knows: the newest
(head) or an older one, which is upgraded on the copy before it goes in place (a failed upgrade leaves the store
as it was); a version this code does not know comes from a newer kpibot and is refused. The store it replaces
is kept as STORE.before-restore-<UTC time>; the new store is written to a temporary file in the store's folder,
fsynced and put in place with os.replace (atomic). The restore is itself audited, in the restored store: a
`store.restore` row (the person at the command line; the backup's file name, schema version, when it was taken as
far as the file's modification time says, and how many audit rows the replaced store had beyond the backup's:
those are lost from the live store and kept only in the .before-restore copy). The bot must be stopped first: a
store another process has open (its -wal file outlives our own connection) or one a writer holds is refused unless
`force`.

PostgreSQL stores are refused with the tools to use instead: pg_dump -Fc and pg_restore --clean.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

SQLITE_HEADER = b"SQLite format 3\x00"
# tables every kpibot store has had since its first migration: a SQLite file without them is something else
KPIBOT_TABLES = frozenset({"alembic_version", "organisation", "member", "shop", "shop_order"})
PG_BACKUP = ("this store is PostgreSQL: back it up with pg_dump -Fc (for example pg_dump -Fc -f kpibot.dump "
             "\"$KPIBOT_STORE_URL\"); see README, Backup and restore")
PG_RESTORE = ("this store is PostgreSQL: restore a pg_dump -Fc file with pg_restore --clean (for example "
              "pg_restore --clean --if-exists -d \"$KPIBOT_STORE_URL\" kpibot.dump); see README, Backup and restore")


class Refused(Exception):
    """The command cannot do what was asked; the message is one line for the admin."""


@dataclass(frozen=True, slots=True)
class Restored:
    revision: str          # the schema version of FILE
    now: str               # the store's schema version after the restore (head)
    kept: Path | None      # the copy of the store it replaced


def sqlite_store(url: str, postgres_says: str) -> Path:
    """The SQLite store's file; Refused (with `postgres_says`) for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise Refused(postgres_says)
    if parsed.database in (None, "", ":memory:") or parsed.database.startswith("file:"):
        raise Refused(f"the store {parsed.database or ':memory:'} is not a file that can be backed up")
    return Path(parsed.database)


def backup(url: str, target: Path, force: bool = False) -> str:
    """Copy the store at `url` to `target`; its schema version."""
    store = sqlite_store(url, PG_BACKUP)
    if not store.is_file():
        raise Refused(f"there is no store at {store}")
    revision = check_store(store)
    if target.exists() and not force:
        raise Refused(f"{target} exists; use --force to replace it")
    if target.resolve() == store.resolve():
        raise Refused("the backup cannot be the store itself")
    with _temporary(target) as tmp:
        with contextlib.closing(sqlite3.connect(store, timeout=30)) as src, \
                contextlib.closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)      # pages=-1: all in one step, one read transaction: one consistent moment
            dst.execute("PRAGMA journal_mode=DELETE")   # a single self-contained file
        if check_store(tmp) != revision:
            raise Refused("the copy does not read back as the store (see the log)")
        _fsync(tmp)
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)     # fails if the name was taken meanwhile: never replaced without --force
            except FileExistsError:
                raise Refused(f"{target} exists; use --force to replace it") from None
        _fsync(target.parent)
    return revision


def restore(url: str, source: Path, force: bool = False, now: datetime | None = None,
            actor: str | None = None) -> Restored:
    """Replace the store at `url` with the backup `source` (see the module docstring for the checks), audited as
    `store.restore` by `actor` (None: storage.audit.current_actor) in the restored store."""
    from storage.audit import audit
    from storage.engine import make_engine
    from storage.migrate import head_revision, known_revision, newer_store_message, upgrade

    store = sqlite_store(url, PG_RESTORE)
    if not source.is_file():
        raise Refused(f"there is no file {source}")
    revision = check_store(source)
    head = head_revision()
    if not known_revision(revision):
        raise Refused(f"{source} {newer_store_message(revision)}")
    if not force:
        _refuse_if_in_use(store)
    now = now or datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    kept = store.with_name(f"{store.name}.before-restore-{stamp}") if store.exists() else None
    with _temporary(store) as tmp:
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, \
                contextlib.closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)
        engine = make_engine(f"sqlite:///{tmp}")
        try:
            if revision != head:     # on the copy: the store stays as it was if the upgrade fails
                upgrade(engine)
            details = {"file": source.name, "schema": revision, "upgraded_to": head if revision != head else None,
                       "taken_at": _modified(source), "kept": kept.name if kept is not None else None,
                       "audit_rows_lost": _audit_beyond(store, tmp)}
            with engine.begin() as conn:
                audit(conn, actor, "store.restore", "store", source.name, details, at=now)
        finally:
            engine.dispose()
        _fsync(tmp)
        if kept is not None:
            _copy(store, kept)
        for sibling in ("-wal", "-shm", "-journal"):   # a crashed process's leftovers would be read into the new file
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{store}{sibling}")
        os.replace(tmp, store)
        _fsync(store.parent)
    return Restored(revision, head, kept)


def _modified(path: Path) -> str:
    """When the backup file was last written (kpibot backup writes it once), ISO 8601 UTC."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def _audit_beyond(store: Path, copy: Path) -> int:
    """How many audit rows the store has beyond the newest of the backup's (by row id, as rows are only ever
    added): what the restore takes out of the live store. 0 when there is no store or it has no audit table."""
    if not store.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as conn:
        newest = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)) as conn:
            return int(conn.execute("SELECT count(*) FROM audit_log WHERE id > ?", (newest,)).fetchone()[0])
    except sqlite3.OperationalError:   # a store from before the audit table
        return 0


def check_store(path: Path) -> str:
    """The schema version of the kpibot SQLite store at `path`; Refused when it is not one."""
    with open(path, "rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise Refused(f"{path} is not a SQLite database, so not a kpibot store")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables >= KPIBOT_TABLES:
                raise Refused(f"{path} is a SQLite database but not a kpibot store (no "
                              f"{', '.join(sorted(KPIBOT_TABLES - tables))} table)")
            versions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
            ok = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise Refused(f"{path} cannot be read as a SQLite database: {exc}") from None
    if len(versions) != 1:
        raise Refused(f"{path} has no single schema version ({len(versions)} rows in alembic_version)")
    if ok is None or ok[0] != "ok":
        raise Refused(f"{path} is damaged: {ok[0] if ok else 'no answer'} (PRAGMA quick_check)")
    return str(versions[0])


def _refuse_if_in_use(store: Path) -> None:
    """Refused while another connection has the store open. In WAL mode the connection that closes last
    checkpoints the WAL and removes the -wal file; so open it, close it, and a -wal file still there means
    someone else has it open (an idle `kpibot run` too). A writer holding it is refused at once."""
    if not store.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(store, timeout=0)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.rollback()
    except sqlite3.OperationalError:
        raise Refused(f"{store} is being written: stop kpibot run and every other kpibot command first") from None
    if Path(f"{store}-wal").exists():
        raise Refused(f"{store} is in use (another process has it open): stop kpibot run and every other kpibot "
                      "command first (--force if none is running)")


@contextlib.contextmanager
def _temporary(beside: Path) -> Iterator[Path]:
    """A new empty file (0600) in `beside`'s folder, removed unless it was renamed away."""
    folder = beside.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{beside.name}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        yield tmp
    finally:
        for leftover in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def _copy(store: Path, to: Path) -> None:
    """A consistent copy of the store (its WAL included), 0600, never over an existing file."""
    os.close(os.open(to, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    with contextlib.closing(sqlite3.connect(store, timeout=30)) as src, contextlib.closing(sqlite3.connect(to)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    _fsync(to)


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (after a rename in it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


"""Apply the Alembic migrations shipped inside the package (`kpibot db upgrade`).

Alembic is imported only to read or change the schema through it (a tenth of a second): ensure_schema, which
every command runs, first compares the store's alembic_version row with the newest revision named in the
migration files, read as text, and leaves Alembic alone when they agree.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"   # Alembic's default; env.py does not change it
# `revision: str = "0011"` and `down_revision: str | None = "0010"` as the revision template writes them
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def _config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(Config(str(MIGRATIONS / "alembic.ini"))).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to `revision` (default the newest); returns (before, after)."""
    from alembic import command

    before = current_revision(engine)
    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return before, current_revision(engine)


def ensure_schema(engine: Engine) -> None:
    """Upgrade when the store is behind; a no-op when it is current. Alembic decides whenever the quick check
    (the version table against the files' one head) does not find the store current."""
    head = _head_in_files()
    if head is not None and _stored_revisions(engine) == {head}:
        return
    if current_revision(engine) != head_revision():
        upgrade(engine)


@functools.cache
def _head_in_files() -> str | None:
    """The newest revision, read from the `revision` and `down_revision` lines of the migration files without
    importing them (as Alembic would); None when a file does not read as expected or there is not exactly one
    head, and Alembic has to say."""
    revisions: set[str] = set()
    replaced: set[str] = set()
    for path in (MIGRATIONS / "versions").iterdir():
        if path.suffix != ".py" or path.name.startswith((".#", "__init__")):
            continue   # what Alembic skips, as well as its caches
        lines = dict.fromkeys(("revision", "down_revision"), "")
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            if lines[name]:
                return None   # set twice
            lines[name] = value
        try:
            revision, down = ast.literal_eval(lines["revision"]), ast.literal_eval(lines["down_revision"])
        except (ValueError, SyntaxError):
            return None
        downs = down if isinstance(down, tuple | list) else () if down is None else (down,)
        if not isinstance(revision, str) or not all(isinstance(d, str) for d in downs):
            return None
        revisions.add(revision)
        replaced.update(downs)
    heads = revisions - replaced
    return heads.pop() if len(heads) == 1 else None


def _stored_revisions(engine: Engine) -> set[str]:
    """The revisions in the store's version table, as Alembic reads them; none without the table."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return set()
        return set(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())

"""Apply the Alembic migrations shipped inside the package (`kpibot db upgrade`). Alembic is imported by the
functions that use it (a tenth of a second), not by every command that imports this module."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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


class NewerStore(ValueError):
    """The store's schema is a version this kpibot does not know: a newer kpibot made it (the CLI prints this)."""


def known_revision(revision: str) -> bool:
    """Whether `revision` is one of this kpibot's migrations."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    try:
        return ScriptDirectory.from_config(Config(str(MIGRATIONS / "alembic.ini"))).get_revision(revision) is not None
    except Exception:   # alembic's own errors for an unknown or malformed revision
        return False


def newer_store_message(revision: str) -> str:
    return (f"has schema version {revision}, which this kpibot does not know (its newest is {head_revision()}): "
            "it comes from a newer kpibot; upgrade kpibot first")


def refuse_newer(before: str | None) -> None:
    """NewerStore when `before` (the store's revision) is one this kpibot does not know: a newer kpibot's."""
    if before is not None and not known_revision(before):
        raise NewerStore(f"the store {newer_store_message(before)}")


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to `revision` (default the newest); returns (before, after). NewerStore when the store's
    schema is newer than this kpibot's (rather than alembic's traceback)."""
    from alembic import command

    before = current_revision(engine)
    refuse_newer(before)
    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return before, current_revision(engine)


def ensure_schema(engine: Engine) -> None:
    """Upgrade when the store is behind; a no-op when it is current; NewerStore when it is ahead."""
    current = current_revision(engine)
    if current != head_revision():
        upgrade(engine)   # which refuses a newer store

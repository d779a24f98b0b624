"""bot.logs.log_failure: a job's step that failed because the store could not be reached is one warning line,
anything else is logged with its traceback."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from bot.logs import log_failure

log = logging.getLogger("bot.jobs.test")


def test_a_store_outage_is_one_warning_line_and_a_fault_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.jobs.test")
    try:
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))
    except OperationalError:
        log_failure(log, "the %s job failed; it runs again at the next tick", "digests")
    try:
        raise ValueError("a bug")
    except ValueError:
        log_failure(log, "the %s job failed; it runs again at the next tick", "digests")
    assert [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records] == [
        ("WARNING", "the digests job failed; it runs again at the next tick (the store could not be reached: "
                    "OperationalError: database is locked)", False),
        ("ERROR", "the digests job failed; it runs again at the next tick", True)]

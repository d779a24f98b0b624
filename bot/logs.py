"""Log lines: text (the default) or one JSON object per line ([ops] log_format = "json"), with the id of the
chat event a line is about. Adapters set `event_id` around the handling of an event (`about_event`)."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

from storage.engine import store_unreachable

event_id: ContextVar[str | None] = ContextVar("kpibot_event_id", default=None)


@contextlib.contextmanager
def about_event(eid: str | None) -> Iterator[None]:
    """Every line logged inside is about event `eid` (the platform's event or message id; never a secret)."""
    token = event_id.set(eid)
    try:
        yield
    finally:
        event_id.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        eid = event_id.get()
        if eid is not None:
            line["event_id"] = eid
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def use_json_logs() -> None:
    """Every handler of the root logger writes JSON lines from now on."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())


def log_failure(logger: logging.Logger, message: str, *args: object) -> None:
    """Inside an `except` block: the failure of a job's step. A store that could not be reached (an outage, a
    lock held past its wait) is expected and passes: one warning line naming it, no traceback. Anything else
    is logged with its traceback."""
    exc = sys.exc_info()[1]
    if exc is not None and store_unreachable(exc):
        cause = getattr(exc, "orig", None) or exc   # the driver's words, not SQLAlchemy's (its SQL, its params)
        first = (str(cause).strip().splitlines() or [""])[0][:200]
        logger.warning(message + " (the store could not be reached: %s: %s)", *args, type(cause).__name__, first)
    else:
        logger.exception(message, *args)

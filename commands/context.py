"""What a command receives: the caller, the parsed arguments, and the application's services.

Commands read the store and call scoring; they never send anything. They return a Card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from cards.chart_cache import ChartCache
from scoring.alerts import AlertRules
from scoring.rules import Rules
from storage.models import Member


@dataclass(frozen=True)
class App:
    """Long-lived services shared by every request."""

    engine: Engine
    rules: Rules
    org_timezone: str
    org_locale: str
    charts: ChartCache
    alerts: AlertRules = field(default_factory=AlertRules)
    buyer_key: bytes | None = field(default=None, repr=False)   # [store] buyer_key: how buyer ids are hashed


@dataclass(frozen=True)
class Caller:
    platform: str        # console | feishu | dingtalk
    user_id: str         # the platform's id for the person
    member: Member | None


@dataclass(frozen=True)
class Request:
    command: str
    args: tuple[str, ...]
    caller: Caller
    lang: str
    now: datetime
    app: App

    @property
    def member(self) -> Member:
        """The bound member; the dispatcher guarantees one for commands that need it."""
        assert self.caller.member is not None
        return self.caller.member


class UserError(Exception):
    """A problem the user can fix; `key` names a message in cards.i18n, `values` fill it in."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key, self.values = key, values

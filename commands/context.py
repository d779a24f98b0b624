"""What a command receives: the caller, the parsed arguments, and the process's services.

Commands parse their arguments, call services (services/), and return a Card; they never send anything.
The caller's member is the store's row (storage.models.Member), as the dispatcher looked it up: commands read
its fields and hand it to services, which take it as it is; they never query the store with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.container import Services
from storage.models import Member


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
    services: Services

    @property
    def member(self) -> Member:
        """The bound member; the dispatcher guarantees one for commands that need it."""
        assert self.caller.member is not None
        return self.caller.member

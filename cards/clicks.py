"""What a card's button carries back when it is clicked, the same on every platform, and the check a click
passes before anything runs.

Every button carries the scope its card was made for:
- `owner`: the person the card was made for (an answer, a private alert). Only they may click it; the click
  runs as them, exactly as if they had typed the command.
- `chat`: the chat it was sent to. A click arriving from another chat (a forwarded card) is refused.
- `scope`: for a card a chat shares (a subscribed group's digest, `Card.scope`), the subscription. Anyone may
  click it, but the click rebuilds that subscription's card, checked against the subscription
  (services.digests.shared_digest), never the clicker's own view: a shared card can only ever show what its
  subscription allows.
A button with neither an owner nor a scope (a card sent before buttons carried scopes, or a forged value) is
refused. A refusal is told to the clicker privately; the card is left as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def button_value(command: str, args: tuple[str, ...], *, owner: str | None, chat: str | None, scope: str | None,
                 lang: str | None) -> dict[str, Any]:
    """The value a button sends back (Feishu's callback `value`, DingTalk's card `params`)."""
    value: dict[str, Any] = {"command": command, "args": list(args)}
    for key, part in (("owner", owner), ("chat", chat), ("scope", scope), ("lang", lang)):
        if part:
            value[key] = part
    return value


@dataclass(frozen=True)
class Click:
    """A click that passed the check: run `command` with `args`, as the clicker, or within `scope` when the
    card is a shared one."""

    command: str
    args: tuple[str, ...]
    scope: str | None = None


def read_click(value: Mapping[str, Any], operator: str, chat: str | None) -> Click | str:
    """The click to run, or the i18n key of the refusal to tell the clicker privately. `chat` is the chat the
    platform says the click came from (None when it does not say)."""
    command, args = value.get("command"), _args(value.get("args"))
    if not isinstance(command, str) or not command or args is None:
        return "click.stale"
    made_in = value.get("chat") or None
    if made_in is not None and chat is not None and made_in != chat:
        return "click.other_chat"
    owner, scope = value.get("owner") or None, value.get("scope") or None
    if owner is not None:
        return Click(command, args) if owner == operator else "click.not_yours"
    if isinstance(scope, str) and made_in is not None and chat is not None:
        return Click(command, args, scope)
    return "click.stale"


def _args(value: Any) -> tuple[str, ...] | None:
    """A button's args: a list, or the JSON text of one (a DingTalk card template may pass variables as text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            return None
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(a) for a in value)
    return None

"""Messaging a member or a chat without a message to answer (digests, alerts, notices): what a platform
adapter offers for it (`Messenger`, implemented in bot/platforms), and how a member is reached."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.model import Card
from storage.identity import identities
from storage.models import Member


class Messenger(Protocol):
    """Sends a card without a message to answer: digests, alerts, approvals.

    `key` is a stable idempotency key (storage.schedule.send_key of the send's claim): sent again with the same
    key to the same receiver, the message is not doubled where the platform supports it (Feishu's message
    `uuid`, kept about an hour; DingTalk's card `outTrackId`). DingTalk's markdown robot messages have no such
    key: a card-less DingTalk send taken over after a crash may arrive twice. None: no key (a fresh message)."""

    platform: str

    def send_to_chat(self, chat_id: str, card: Card, key: str | None = None) -> bool: ...

    def send_to_user(self, user_id: str, card: Card, key: str | None = None) -> bool: ...

    def deliver_to_user(self, user_id: str, card: Card, key: str | None = None) -> str | None:
        """As send_to_user, giving the sent copy's reference to update it later (Feishu's message_id, DingTalk's
        card outTrackId); "" when it went out in a form that cannot be updated (DingTalk markdown); None when it
        was not sent."""
        ...

    def update_for_user(self, user_id: str, ref: str, card: Card) -> bool:
        """Replace the copy `ref` (from deliver_to_user) sent to `user_id` with `card`, in place."""
        ...


def bound_platforms(engine: Engine, messengers: Mapping[str, Messenger], member: Member) -> list[tuple[str, str]]:
    """(platform, the member's primary user id there) of each connected platform the member is bound on, in the
    messengers' order (the process connects Feishu first)."""
    with Session(engine) as session:
        ids = identities(session, member.id)
    return [(platform, ids[platform]) for platform in messengers if platform in ids]


def send_private(engine: Engine, messengers: Mapping[str, Messenger], member: Member, card: Card,
                 key: str | None = None) -> bool | None:
    """To the member on the first connected platform they are bound on (`key` as in Messenger); None when there
    is none."""
    bound = bound_platforms(engine, messengers, member)
    if not bound:
        return None
    platform, user_id = bound[0]
    return messengers[platform].send_to_user(user_id, card, key)

"""Messaging a member or a chat without a message to answer (digests, alerts, notices): what a platform
adapter offers for it (`Messenger`, implemented in bot/platforms), and how a member is reached."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from cards.model import Card
from storage.models import Member


class Messenger(Protocol):
    """Sends a card without a message to answer: digests, alerts, approvals."""

    platform: str

    def send_to_chat(self, chat_id: str, card: Card) -> bool: ...

    def send_to_user(self, user_id: str, card: Card) -> bool: ...


def bound_platforms(messengers: Mapping[str, Messenger], member: Member) -> list[tuple[str, str]]:
    """(platform, the member's user id there) of each connected platform the member is bound on, Feishu first."""
    return [(platform, user_id) for platform, user_id in (("feishu", member.feishu_open_id),
                                                          ("dingtalk", member.dingtalk_staff_id))
            if user_id and platform in messengers]


def send_private(messengers: Mapping[str, Messenger], member: Member, card: Card) -> bool | None:
    """To the member on the first connected platform they are bound on; None when there is none."""
    bound = bound_platforms(messengers, member)
    if not bound:
        return None
    platform, user_id = bound[0]
    return messengers[platform].send_to_user(user_id, card)

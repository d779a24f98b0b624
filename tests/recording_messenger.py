"""A Messenger (services.messaging) that records what it would send: the jobs' tests read what went out to whom.
It stands where a chat platform would be, for tests of what a job decides to send; the adapters' own tests run
against the fake Feishu and DingTalk servers."""

from __future__ import annotations

from dataclasses import dataclass, field

from cards.model import Card


@dataclass
class Recorder:
    platform: str
    sent: list[tuple[str, Card]] = field(default_factory=list)
    accept: bool = True     # False: the platform refuses every message (nothing is recorded)
    keys: list[str | None] = field(default_factory=list)   # the idempotency key of each message in `sent`
    updated: list[tuple[str, str, Card]] = field(default_factory=list)   # (user, ref, card) of each update

    def send_to_chat(self, chat_id: str, card: Card, key: str | None = None) -> bool:
        return self.send_to_user(chat_id, card, key)

    def send_to_user(self, user_id: str, card: Card, key: str | None = None) -> bool:
        if self.accept:
            self.sent.append((user_id, card))
            self.keys.append(key)
        return self.accept

    def deliver_to_user(self, user_id: str, card: Card, key: str | None = None) -> str | None:
        """The copy's reference is its position in `sent`."""
        return str(len(self.sent) - 1) if self.send_to_user(user_id, card, key) else None

    def update_for_user(self, user_id: str, ref: str, card: Card) -> bool:
        if self.accept:
            self.updated.append((user_id, ref, card))
        return self.accept

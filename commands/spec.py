"""The description of one command: its names, who may run it, and the function that builds its card."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cards.model import Card
from commands.context import Request
from scoring.roles import Role, at_least


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]      # other names, e.g. Chinese ones, as they are shown in /help
    help_key: str                 # cards.i18n key of the one-line description
    usage: str                    # e.g. "/mykpi [day|week|month]"
    handler: Callable[[Request], Card]
    min_role: Role | None = None  # None: every bound member
    needs_member: bool = True     # False: also answers people who are not bound (e.g. /whoami, /help)
    cacheable: bool = False       # a read-only answer worth keeping for the minute (bot.card_cache)
    writes: bool = False          # may change what cached answers show (targets): the cache is cleared after it
    id_aliases: tuple[str, ...] = ()  # Indonesian names; /help shows them to Indonesian readers
    listed: bool = True           # False: a shortcut /help leaves out, as another command's row names it (/开播)
    shown_aliases: tuple[str, ...] = ()  # what /help's alias column shows when not the first Chinese alias
    id_shown_aliases: tuple[str, ...] = ()  # what it shows Indonesian readers when not the first Indonesian alias
    refuses_in_place: bool = False  # a click it refuses (an appeal decided already) leaves the card, told privately
    finance_too: bool = False     # members with finance access may run it below min_role (/audit: pay changes)

    def permits(self, role: str | None, finance: bool = False) -> bool:
        """Whether a member of `role` (None: nobody bound) may run it."""
        if not self.min_role:
            return True
        return role is not None and (at_least(role, self.min_role) or (self.finance_too and finance))

    def names(self) -> tuple[str, ...]:
        """Every name the command answers to: its own, its aliases, its Indonesian aliases."""
        return (self.name, *self.aliases, *self.id_aliases)

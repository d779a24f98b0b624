"""The one vocabulary of roles: each role's reach, whose numbers it is scored on, and whether it has KPIs.

The store keeps a role as its string value (Member.role, KpiTemplate.role, ...); code converts at the edges
with `Role.parse` and asks the role, instead of listing role names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class UnknownRole(ValueError):
    """A text that names no role; the message lists the roles there are."""


class Scope(StrEnum):
    """Whose numbers a role is scored on and sees by default."""

    OWN = "own"            # what they did themselves: orders credited to them, their live sessions and videos
    TEAM = "team"          # the team's shops (an ad buyer's own ad spend and a selector's own products aside)
    COMPANY = "company"    # every team


@dataclass(frozen=True, slots=True)
class _Facts:
    level: int        # reach, ascending: who may run what (at_least)
    scope: Scope
    has_kpis: bool    # scored with a personal KPI template


class Role(StrEnum):
    HOST = "host"
    AD_BUYER = "ad_buyer"
    OPERATOR = "operator"
    SELECTOR = "selector"
    LEAD = "lead"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def level(self) -> int:
        return _FACTS[self].level

    @property
    def scope(self) -> Scope:
        return _FACTS[self].scope

    @property
    def has_kpis(self) -> bool:
        return _FACTS[self].has_kpis

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role a stored or typed value names, exactly as stored ("ad_buyer"); UnknownRole otherwise."""
        try:
            return cls(text)
        except ValueError:
            raise UnknownRole(f"unknown role {text!r}; the roles are {', '.join(cls)}") from None


_FACTS: dict[Role, _Facts] = {
    Role.HOST: _Facts(1, Scope.OWN, True),
    Role.AD_BUYER: _Facts(1, Scope.TEAM, True),
    Role.OPERATOR: _Facts(1, Scope.TEAM, True),
    Role.SELECTOR: _Facts(1, Scope.TEAM, True),
    Role.LEAD: _Facts(2, Scope.TEAM, True),
    Role.MANAGER: _Facts(3, Scope.COMPANY, False),
    Role.ADMIN: _Facts(4, Scope.COMPANY, False),
}


def level(role: str) -> int:
    """The reach of a stored role; 0 for a value that names no role, so it runs nothing gated."""
    try:
        return Role.parse(role).level
    except UnknownRole:
        return 0


def at_least(role: str, minimum: Role) -> bool:
    """Whether a stored role reaches `minimum`: who may run a command, see another team or others' numbers."""
    return level(role) >= minimum.level

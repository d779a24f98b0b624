"""Who may run what: roles in ascending order of reach (scoring.roles.Role.level)."""

from __future__ import annotations

from scoring.roles import Role, UnknownRole


def level(role: str) -> int:
    """The reach of a stored role; 0 for a value that names no role, so it runs nothing gated."""
    try:
        return Role.parse(role).level
    except UnknownRole:
        return 0


def at_least(role: str, minimum: Role) -> bool:
    return level(role) >= minimum.level

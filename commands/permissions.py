"""Who may run what: roles in ascending order of reach."""

from __future__ import annotations

ROLE_LEVEL: dict[str, int] = {
    "host": 1, "ad_buyer": 1, "operator": 1, "selector": 1, "lead": 2, "manager": 3, "admin": 4,
}


def level(role: str) -> int:
    return ROLE_LEVEL.get(role, 0)


def at_least(role: str, minimum: str) -> bool:
    return level(role) >= level(minimum)

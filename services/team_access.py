"""Who may see a team: its own members, and managers and admins every team. One rule for /team and /digest
(services.team_view.visible_team) and for a click on a group's shared digest (services.digests.shared_digest);
its own module because services.team_view imports services.digests."""

from __future__ import annotations

from scoring.roles import Role, at_least
from storage.models import Member


def sees_team(member: Member, team_id: int | None) -> bool:
    """Whether `member` may see team `team_id`: it is their own, or they are a manager or above."""
    if at_least(member.role, Role.MANAGER):
        return True
    return team_id is not None and member.team_id == team_id

"""All commands, looked up by name or alias."""

from __future__ import annotations

from commands import appeal, audit, commission, creators, digest, link, live, mykpi, rank, sop, target, team, whoami
from commands import export as export_command
from commands import help as help_command
from commands.spec import Command

COMMANDS: tuple[Command, ...] = (mykpi.SPEC, team.SPEC, digest.SPEC, rank.SPEC, target.SPEC, commission.SPEC,
                                 creators.SPEC, link.SPEC, sop.SPEC, whoami.SPEC,
                                 live.SPEC, live.START_SPEC, live.END_SPEC,
                                 appeal.SPEC, appeal.LIST_SPEC,
                                 export_command.SPEC,
                                 audit.SPEC,
                                 help_command.SPEC)

_BY_NAME: dict[str, Command] = {}
for _cmd in COMMANDS:
    for _name in _cmd.names():
        if _name.lower() in _BY_NAME:
            raise RuntimeError(f"command name {_name!r} is used twice")
        _BY_NAME[_name.lower()] = _cmd  # looked up lower-case; shown as written


def lookup(name: str) -> Command | None:
    return _BY_NAME.get(name.lower())


def names() -> list[str]:
    return list(_BY_NAME)

"""`python -m bot.cli`: the same as the installed `kpibot` script."""

from bot.cli import entry

raise SystemExit(entry())

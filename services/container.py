"""The services every request and job shares, built once per process (bot.app.build_services)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine

from cards.chart_cache import ChartCache
from scoring.alerts import AlertRules
from scoring.rules import Rules
from services.appeal_routing import AppealRules


@dataclass(frozen=True)
class Services:
    """Long-lived services shared by every request, job and CLI command."""

    engine: Engine
    rules: Rules
    org_timezone: str
    org_locale: str
    charts: ChartCache
    alerts: AlertRules = field(default_factory=AlertRules)
    buyer_key: bytes | None = field(default=None, repr=False)   # [store] buyer_key: how buyer ids are hashed
    live_tail: timedelta = timedelta(minutes=30)   # [attribution] live_tail_minutes (services.crediting)
    max_shift: timedelta = timedelta(hours=8)      # [attribution] max_shift_hours (services.live_shifts)
    appeals: AppealRules = field(default_factory=AppealRules)   # [appeals] (services.appeal_routing)

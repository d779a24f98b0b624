"""KPI templates: 3-5 weighted metrics per role, optionally per business stage."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from scoring.metrics import CATALOG
from scoring.roles import Role


class Stage(StrEnum):
    COLD_START = "cold_start"
    GROWTH = "growth"
    STABLE = "stable"


class TemplateError(ValueError):
    """A template that cannot be scored with; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class WeightedMetric:
    key: str
    weight: Decimal  # percentage points; a template's weights sum to 100


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    role: Role
    metrics: tuple[WeightedMetric, ...]
    stage: Stage | None = None  # None: applies to every stage without a template of its own
    trial: bool = False         # scores shown but not binding

    def validate(self) -> Template:
        where = f"KPI template {self.name!r}"
        if not 3 <= len(self.metrics) <= 5:
            raise TemplateError(f"{where} has {len(self.metrics)} metrics; it needs 3 to 5")
        keys = [m.key for m in self.metrics]
        unknown = [k for k in keys if k not in CATALOG]
        if unknown:
            raise TemplateError(f"{where} uses unknown metric(s): {', '.join(unknown)}")
        if len(set(keys)) != len(keys):
            raise TemplateError(f"{where} lists a metric twice")
        if any(m.weight <= 0 for m in self.metrics):
            raise TemplateError(f"{where} has a weight that is not positive")
        total = sum((m.weight for m in self.metrics), Decimal(0))
        if total != 100:
            raise TemplateError(f"{where}: weights sum to {total}%, they must sum to 100%")
        return self


def select_template(templates: list[Template], role: Role, stage: Stage | None) -> Template | None:
    """The template for the role at this stage, else the role's stage-independent one."""
    for wanted in (stage, None):
        for t in templates:
            if t.role == role and t.stage == wanted:
                return t
    return None


def _t(name: str, role: Role, stage: Stage | None, *pairs: tuple[str, int]) -> Template:
    return Template(name, role, tuple(WeightedMetric(k, Decimal(w)) for k, w in pairs), stage).validate()


DEFAULT_TEMPLATES: tuple[Template, ...] = (
    _t("host-cold-start", Role.HOST, Stage.COLD_START, ("live_sessions", 25), ("videos_published", 20),
       ("avg_watch_time", 20), ("interaction_rate", 15), ("new_followers", 20)),
    _t("host", Role.HOST, None, ("net_gmv", 40), ("gmv_per_live", 20), ("avg_watch_time", 15),
       ("interaction_rate", 15), ("refund_rate", 10)),
    _t("host-stable", Role.HOST, Stage.STABLE, ("net_gmv", 50), ("gmv_per_live", 20), ("return_rate", 15),
       ("interaction_rate", 15)),
    _t("ad-buyer", Role.AD_BUYER, None, ("roi", 40), ("cpc", 20), ("cost_per_visitor", 20), ("net_gmv", 20)),
    _t("operator", Role.OPERATOR, None, ("net_gmv", 30), ("new_product_sell_through", 30),
       ("inventory_turnover_days", 20), ("refund_rate", 20)),
    _t("selector", Role.SELECTOR, None, ("new_sku_hit_rate", 40), ("new_product_sell_through", 30),
       ("net_gmv", 30)),
    _t("lead", Role.LEAD, None, ("net_gmv", 40), ("orders", 20), ("roi", 20), ("refund_rate", 20)),
)

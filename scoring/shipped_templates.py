"""The role templates kpibot ships: what `kpibot templates init` writes for an admin to edit and what the demo
seeds. One copy: both read DEFAULT_TEMPLATES from here."""

from __future__ import annotations

from decimal import Decimal

from scoring.roles import Role
from scoring.templates import Stage, Template, WeightedMetric


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

"""docs/metrics.md, generated from the metric catalog, the scoring, target, commission and attribution rules so the
two never drift.

Regenerate with: python -m cards.metric_docs > docs/metrics.md
"""

from __future__ import annotations

import scoring.attribution
import scoring.commission
import scoring.metrics
import scoring.outlook
import scoring.pace
import scoring.periods
import scoring.score
import scoring.shape
import scoring.targets
import scoring.trail
from scoring.metrics import CATALOG
from scoring.rules import DEFAULT_GRADE_BANDS
from scoring.shipped_templates import DEFAULT_TEMPLATES


def _doc(module: object) -> str:
    text = (getattr(module, "__doc__", "") or "").strip()
    return "\n".join(line.strip() if not line.startswith("- ") else line for line in text.splitlines())


WHY_HOW = """`/mykpi why [METRIC] [YYYY-MM]` (`/mykpi 为什么`, `/kpisaya kenapa`; the "Why" button on /mykpi) shows the
trail of the month's score /mykpi shows, metric by metric: the actual and what it reads (counts and the largest
items with their platform id, local time, amount in their own currency, the exchange rate and its date, the
amount in the reporting currency), the definition and counting rules, the target and where it came from (the
member's own, set by whom; the SOP's typical value in trial), achievement, the scored achievement under the cap,
weight and points; then the commission statement (plan and version, basis, tier reached, rate, earned,
clawbacks) for the member themself, finance staff, managers and admins. The current month or the one before
can be asked; each metric ends with an "Appeal" button."""


def metrics_markdown() -> str:
    out = ["# Metrics and scoring", "",
           "Generated from `scoring/metrics.py`, `scoring/score.py` and `scoring/pace.py`; "
           "regenerate with `python -m cards.metric_docs > docs/metrics.md`.", "", "## Counting", "",
           _doc(scoring.metrics), "", "## Metrics", "",
           "| key | name | 中文 | Indonesia | unit | better | adds up over time | definition |",
           "|---|---|---|---|---|---|---|---|"]
    for m in CATALOG.values():
        better = "lower" if m.lower_is_better else "higher"
        cumulative = "yes" if m.cumulative else "no"
        out.append(f"| `{m.key}` | {m.names['en']} | {m.names['zh']} | {m.names['id']} | {m.unit} | {better} | "
                   f"{cumulative} | {m.definition} |")
    out += ["", "## A member's period", "", _doc(scoring.periods), "",
            "## Scoring", "", _doc(scoring.score), "", "Default grade bands: "
            + ", ".join(f"{g} from {floor}" for g, floor in DEFAULT_GRADE_BANDS) + ".", "",
            "## Pace", "", _doc(scoring.pace), "",
            "## Why a score is what it is: /mykpi why", "", WHY_HOW, "", _doc(scoring.trail), "",
            "## Pace shape: the team's usual day and week", "", _doc(scoring.shape), "",
            "## What to do: forecast, needed per day, next grade", "", _doc(scoring.outlook), "",
            "## Default templates", "", "| template | role | stage | metrics (weight %) |", "|---|---|---|---|"]
    for t in DEFAULT_TEMPLATES:
        metrics = ", ".join(f"`{m.key}` {m.weight}" for m in t.metrics)
        out.append(f"| {t.name} | {t.role} | {t.stage or 'any'} | {metrics} |")
    out += ["", "## Targets", "", _doc(scoring.targets), "", "## Commission", "", _doc(scoring.commission),
            "", "## Creator attribution", "", _doc(scoring.attribution)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(metrics_markdown(), end="")

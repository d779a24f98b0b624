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
from scoring.metrics import CATALOG
from scoring.rules import DEFAULT_GRADE_BANDS
from scoring.shipped_templates import DEFAULT_TEMPLATES


def _doc(module: object) -> str:
    text = (getattr(module, "__doc__", "") or "").strip()
    return "\n".join(line.strip() if not line.startswith("- ") else line for line in text.splitlines())


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

"""The `/sop` card: a role's daily playbook and its metrics' typical values by business stage (scoring.sop)."""

from __future__ import annotations

from cards.format import metric_value
from cards.i18n import t
from cards.model import Card, Note, Table, Text, Tone
from scoring.metrics import CATALOG
from scoring.roles import Role
from scoring.sop import ASSUMPTION, Playbook


def sop_card(role: Role, playbook: Playbook, lang: str, currency: str) -> Card:
    steps = playbook.steps.get(lang, playbook.steps["en"])
    blocks: list[Text | Table | Note] = [Text(t(lang, "sop.daily"), strong=True)]
    blocks += [Text(f"{i}. {step}") for i, step in enumerate(steps, 1)]
    stages = [stage for stage, _ in playbook.benchmarks[0].by_stage] if playbook.benchmarks else []
    rows = tuple((CATALOG[b.metric].name(lang),
                  *(metric_value(value, CATALOG[b.metric].unit, currency, lang) for _, value in b.by_stage))
                 for b in playbook.benchmarks)
    if rows:
        blocks.append(Text(t(lang, "sop.typical"), strong=True))
        blocks.append(Table((t(lang, "sop.metric"), *(t(lang, f"stage.{s.value}") for s in stages)), rows))
    if any(b.source == ASSUMPTION for b in playbook.benchmarks):
        blocks.append(Note(t(lang, "sop.assumption")))
    return Card(t(lang, "sop.title", role=t(lang, f"role.{role.value}")), tuple(blocks), Tone.INFO, lang)

"""The `/sop` card: a role's daily playbook and its metrics' typical values by business stage for one region
(scoring.sop); and the note that says which targets of a member in trial are those typical values."""

from __future__ import annotations

from collections.abc import Sequence

from cards.format import metric_value
from cards.i18n import t
from cards.model import Card, Note, Table, Text, Tone
from scoring.metrics import CATALOG
from scoring.roles import Role
from scoring.sop import ASSUMPTION, Playbook, Region, Typical
from scoring.templates import Stage


def sop_card(role: Role, playbook: Playbook, region: Region, lang: str, currency: str) -> Card:
    steps = playbook.steps.get(lang, playbook.steps["en"])
    blocks: list[Text | Table | Note] = [Text(t(lang, "sop.daily"), strong=True)]
    blocks += [Text(f"{i}. {step}") for i, step in enumerate(steps, 1)]
    stages = [stage for stage, _ in playbook.benchmarks[0].by_stage] if playbook.benchmarks else []
    rows = tuple((CATALOG[b.metric].name(lang),
                  *(metric_value(value, CATALOG[b.metric].unit, currency, lang) for _, value in b.stages(region)))
                 for b in playbook.benchmarks)
    if rows:
        blocks.append(Text(t(lang, "sop.typical"), strong=True))
        blocks.append(Table((t(lang, "sop.metric"), *(t(lang, f"stage.{s.value}") for s in stages)), rows))
        blocks.append(Note(t(lang, "sop.region", region=t(lang, f"region.{region.value}"))))
    if any(b.source == ASSUMPTION for b in playbook.benchmarks):
        blocks.append(Note(t(lang, "sop.assumption")))
    return Card(t(lang, "sop.title", role=t(lang, f"role.{role.value}")), tuple(blocks), Tone.INFO, lang)


def source_label(source: str, lang: str) -> str:
    """Where a typical value comes from, in `lang`: the starting assumption is translated, a citation is not."""
    return t(lang, "sop.source_assumption") if source == ASSUMPTION else source


def trial_targets_note(values: Sequence[Typical], stage: Stage, region: Region, lang: str) -> Note:
    """Which targets of a member in trial are the SOP's typical values, and where those come from."""
    sources = ", ".join(dict.fromkeys(source_label(v.source, lang) for v in values))
    return Note(t(lang, "sop.trial_targets", source=sources, stage=t(lang, f"stage.{stage.value}"),
                  region=t(lang, f"region.{region.value}"),
                  metrics=", ".join(CATALOG[v.metric].name(lang) for v in values)))

"""Documentation that is generated must be current."""

from __future__ import annotations

from cards.metric_docs import metrics_markdown
from scoring.metrics import CATALOG
from tests.conftest import ROOT


def test_metrics_doc_is_generated_from_the_catalog() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8") == metrics_markdown(), \
        "regenerate: python -m cards.metric_docs > docs/metrics.md"


def test_every_metric_has_a_written_definition_in_both_languages() -> None:
    for m in CATALOG.values():
        assert len(m.definition) > 30, m.key
        assert set(m.names) == {"en", "zh"}, m.key


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    marker = readme.index("<!-- test-command -->")
    assert readme[marker + 1] == "```bash"
    assert readme[marker + 2] == ("bash scripts/test-postgres.sh && python -m pip install -e '.[dev]' && ruff check . "
                                  "&& python -m pytest -n 4 --dist loadfile && bash scripts/test-dates.sh")

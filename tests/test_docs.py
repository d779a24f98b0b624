"""Documentation that is generated must be current."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from cards.metric_docs import metrics_markdown
from scoring.languages import LANGS
from scoring.metrics import CATALOG
from tests.conftest import ROOT


def test_metrics_doc_is_generated_from_the_catalog() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8") == metrics_markdown(), \
        "regenerate: python -m cards.metric_docs > docs/metrics.md"


def test_every_metric_has_a_written_definition_and_a_name_in_every_language() -> None:
    for m in CATALOG.values():
        assert len(m.definition) > 30, m.key
        assert set(m.names) == set(LANGS), m.key


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    marker = readme.index("<!-- test-command -->")
    assert readme[marker + 1] == "```bash"
    assert readme[marker + 2] == ("bash scripts/test-postgres.sh && python -m pip install -e '.[dev]' && ruff check . "
                                  "&& python -m pytest -n 4 --dist loadfile && bash scripts/test-dates.sh")


# --- README's map of the folders and path of one message, checked against the code -------------------------------

def architecture_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Architecture")
    return readme[start:readme.index("\n## ", start + 1)]


def defines(path: str, name: str) -> bool:
    """Whether the file defines `name` (a function, method or class)."""
    text = (ROOT / path).read_text(encoding="utf-8")
    return re.search(rf"^\s*(def|class) {re.escape(name)}\b", text, re.M) is not None


def test_the_readme_map_names_only_what_exists() -> None:
    rows = [line for line in architecture_section().splitlines() if line.startswith("| `")]
    folders = {re.match(r"\| `([^`]+)`", row).group(1): row for row in rows}  # type: ignore[union-attr]
    # every top-level package is on the map
    assert {p.parent.name + "/" for p in ROOT.glob("*/__init__.py")} - {"tests/"} <= set(folders)
    for folder, row in folders.items():
        assert (ROOT / folder).is_dir(), folder
        for name in re.findall(r"`([^`]+)`", row.split("|")[2]):
            if name.endswith(".py") and "/" not in name:                    # a module of this folder
                assert (ROOT / folder / name).is_file(), f"{folder}{name}"
            elif name.endswith("/") and name.count("/") == 1 and name != folder:   # a subfolder of this folder
                assert (ROOT / folder / name).is_dir(), f"{folder}{name}"
            elif "/" in name:                                               # a path from the top
                assert (ROOT / name.rstrip("/")).exists(), name
            elif folder == "bot/cli/" and re.fullmatch(r"[a-z]+", name) and name != "kpibot":   # a group module
                assert (ROOT / folder / f"{name}.py").is_file(), f"{folder}{name}.py"


def test_the_readme_path_of_one_message_names_real_functions() -> None:
    steps = architecture_section().split("The path of one message")[1]
    pairs = re.findall(r"`([a-z_/]+\.py)` `([A-Za-z_.]+)`", steps)
    assert len(pairs) >= 8
    for path, name in pairs:
        assert defines(path, name.split(".")[-1]), f"{path} {name}"
    # and each step's files exist
    for path in re.findall(r"`([a-z_/]+\.py)`", steps):
        assert (ROOT / path).is_file(), path


def test_the_readme_set_up_walkthrough_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # "Set up your organisation", line by line in an empty folder: files as the heredocs write them, each kpibot
    # line through the CLI's main (in process: the same code as the installed script, in a fraction of the time)
    from bot.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Set up your organisation"):]
    start = section.index("```bash\n") + len("```bash\n")
    lines = iter(section[start:section.index("\n```", start)].splitlines())
    assert next(lines).startswith("mkdir acme && cd acme")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KPIBOT_NOW", raising=False)
    out, commands = [], 0
    for line in lines:
        if line.startswith("export "):      # the walkthrough pins its own clock, as a reader's shell would
            name, value = shlex.split(line, comments=True)[1].split("=", 1)
            monkeypatch.setenv(name, value)
            continue
        if line.startswith("cat > "):
            name, end = re.fullmatch(r"cat > (\S+) <<'(\w+)'", line).groups()  # type: ignore[union-attr]
            body = []
            for row in lines:
                if row == end:
                    break
                body.append(row)
            (tmp_path / name).write_text("\n".join(body) + "\n", encoding="utf-8")
            continue
        argv = shlex.split(line, comments=True)
        assert argv[0] == "kpibot", line
        assert main(argv[1:]) == 0, (line, capsys.readouterr().err)
        out.append(capsys.readouterr().out)
        commands += 1
    assert commands == 13
    assert out[-2] == ("order O-1 (shop tts-us), paid 2026-11-20 19:31 (America/Los_Angeles)\n"
                       "credited to lily by live session L1 (2026-11-20 19:00 to 2026-11-20 21:00; paid on air, "
                       "tail 30 min)\n")
    assert "This month so far · Net GMV  150.00 USD / 20,000.00 USD (1%)" in out[-1]

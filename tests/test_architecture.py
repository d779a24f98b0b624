"""The design's direction, enforced: scoring/ stays pure, nothing below bot/ knows the platforms, and the
command line starts without the heavy libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
                elif node.level > 0:  # "from ..storage import x" inside scoring/ climbs to the top
                    parts = path.relative_to(ROOT).parts[:-1]
                    base = parts[: len(parts) - (node.level - 1)]
                    target = (*base, *(node.module or "").split(".")) if node.module else base
                    names.add(target[0] if target else "")
        found[str(path.relative_to(ROOT))] = names
    return found


FORBIDDEN = {
    "scoring": {"bot", "storage", "commands", "services", "cards", "httpx", "sqlmodel", "sqlalchemy", "requests",
                "lark_oapi", "dingtalk_stream", "socket", "urllib", "os", "pathlib", "io"},
    # storage/ speaks only to the database: shop API clients (HTTP) live in bot/shops
    "storage": {"bot", "commands", "cards", "lark_oapi", "dingtalk_stream", "httpx", "requests", "tenacity"},
    # commands parse arguments, call services and build cards: no platform, no HTTP, no store
    "commands": {"bot", "storage", "sqlmodel", "sqlalchemy", "lark_oapi", "dingtalk_stream", "httpx", "requests",
                 "tenacity"},
    # the use cases, shared by commands, jobs and the CLI: they know no command, no platform, no HTTP
    "services": {"bot", "commands", "lark_oapi", "dingtalk_stream", "httpx", "requests", "tenacity"},
    "cards": {"bot", "commands", "services", "storage", "sqlmodel", "sqlalchemy", "lark_oapi", "dingtalk_stream"},
}


# the one exception: a request's caller carries the member as the store keeps it (the type services take)
ALLOWED = {"commands/context.py": {"storage"}}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_downwards(package: str) -> None:
    offenders = {f: sorted(bad) for f, names in imported_modules(package).items()
                 if (bad := names & FORBIDDEN[package] - ALLOWED.get(f, set()))}
    assert offenders == {}


def test_the_check_sees_imports() -> None:
    # guards the guard: the scan must find what scoring/metrics.py really imports
    assert "scoring" in imported_modules("scoring")["scoring/metrics.py"]


def test_relative_imports_are_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.test_architecture as me

    (tmp_path / "scoring").mkdir()
    (tmp_path / "scoring" / "x.py").write_text("from ..storage import models\nfrom . import fx\n", encoding="utf-8")
    monkeypatch.setattr(me, "ROOT", tmp_path)
    assert me.imported_modules("scoring")["scoring/x.py"] == {"storage", "scoring"}


# --- heavy libraries are imported where they are used -----------------------------------------------------------

def run_python(code: str) -> str:
    """What `code` prints, run by a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def modules_after_import(module: str, candidates: tuple[str, ...]) -> list[str]:
    """Which of `candidates` importing `module` imports."""
    return ast.literal_eval(run_python(f"import {module}, sys; print(sorted(m for m in {candidates!r} "
                                       "if m in sys.modules))"))


def test_the_command_line_starts_without_heavy_libraries() -> None:
    # `kpibot --help` answers at once: charts, tables, the chat SDKs, HTTP and the configuration's models (pydantic)
    # come with the command that uses them
    heavy = ("matplotlib", "lark_oapi", "dingtalk_stream", "httpx", "pydantic")
    assert modules_after_import("bot.cli", heavy) == []


def test_the_commands_leave_heavy_libraries_to_their_use() -> None:
    # what `kpibot chat` imports: matplotlib comes when a chart is drawn, the rest with the commands that use them
    heavy = ("matplotlib", "lark_oapi", "dingtalk_stream", "httpx", "alembic", "apscheduler", "segno", "tqdm",
             "openpyxl")
    assert modules_after_import("bot.cli.router", heavy) == []


# --- finer rules: jobs stand alone, the CLI's groups and the shop adapters ---------------------------------------

def imported_dotted(path: Path) -> set[str]:
    """The dotted module names a file imports (absolute imports only: the project uses no relative ones)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_jobs_do_not_import_each_other() -> None:
    # what two jobs share is a service (services/), not a sibling job's helper
    jobs = {f"bot.jobs.{p.stem}" for p in (ROOT / "bot" / "jobs").glob("*.py") if p.stem != "__init__"}
    offenders = {p.name: sorted((imported_dotted(p) & jobs) - {f"bot.jobs.{p.stem}"})
                 for p in (ROOT / "bot" / "jobs").glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_cli_groups_do_not_import_each_other() -> None:
    # each command group's module stands alone; what they share is in bot.cli.common
    groups = {f"bot.cli.{p.stem}" for p in (ROOT / "bot" / "cli").glob("*.py")} - {"bot.cli.common", "bot.cli.parser"}
    offenders = {p.name: sorted((imported_dotted(p) & groups) - {f"bot.cli.{p.stem}"})
                 for p in (ROOT / "bot" / "cli").glob("*.py") if p.stem not in ("router", "__init__", "__main__")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_shop_adapters_and_chat_platforms_speak_http() -> None:
    """... and the ECB exchange-rate feed (bot/fx_feed.py), the one other outside source."""
    speakers = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                if "tests" not in p.parts and ".venv" not in p.parts and "httpx" in imported_modules_of(p)}
    assert {s for s in speakers if not s.startswith(("bot/shops/", "bot/platforms/", "bot/fx_feed.py"))} == set()


def imported_modules_of(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_dotted(path)}


def test_every_layer_is_installed() -> None:
    # the installed `kpibot` runs outside the checkout: each top-level package must be in the wheel's list
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"][
        "find"]["include"]
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert sorted(packages) == sorted(name.rstrip("*") for name in include)

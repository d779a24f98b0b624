"""The deployment files: Dockerfile, compose.yaml, deploy/kpibot.service and deploy/kpibot-admin.

Static checks always run. The image is built and `kpibot demo` run in it only where a Docker daemon answers (and
can pull python:3.11-slim); elsewhere that test is skipped with the reason.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli.parser import build_parser
from bot.config import load_config
from tests.clock import DEMO_NOW
from tests.conftest import ROOT

SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|STORE_URL", re.I)


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def instruction(name: str) -> list[str]:
    return [args for kind, args in dockerfile() if kind == name]


def accepted(args: list[str]) -> bool:
    """Whether `kpibot ARGS` is a command the CLI parser knows (argparse exits on anything else)."""
    try:
        build_parser().parse_args(args)
    except SystemExit:
        return False
    return True


def test_the_dockerfile_runs_kpibot_run_as_a_non_root_user_with_a_health_check() -> None:
    assert instruction("FROM") == ["python:3.11-slim AS build", "python:3.11-slim"]
    entrypoint, cmd = json.loads(instruction("ENTRYPOINT")[-1]), json.loads(instruction("CMD")[-1])
    assert entrypoint == ["kpibot"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["kpibot"] == "bot.cli:entry"       # the entrypoint is the installed script
    assert cmd == ["run"]
    assert accepted(cmd) and accepted(["demo"])
    assert not accepted(["no-such-command"])          # the check can fail
    assert instruction("USER") == ["kpibot"]
    [health] = instruction("HEALTHCHECK")
    assert "http://127.0.0.1:%s/healthz" in health and "KPIBOT_OPS_PORT" in health
    env = " ".join(instruction("ENV"))
    assert "KPIBOT_OPS_PORT=9464" in env and "MPLCONFIGDIR=" in env
    # the chart font is in a wheel the image installs (no system font package), as cards/charts.py finds it
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert any(d.startswith("mplfonts") for d in deps)


def test_the_build_context_leaves_secrets_and_stores_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {".env", ".git", "*.db", "config.toml", "kpibot.toml", "tests/"} <= set(ignored)
    copied = [args.split()[0] for args in instruction("COPY") if not args.startswith("--from")]
    assert copied == ["pyproject.toml", "bot", "commands", "services", "cards", "scoring", "storage"]
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(copied[1:])                # every package of the project goes into the image


def test_compose_runs_two_replicas_on_one_postgres_with_health_checks_and_no_inline_secrets() -> None:
    spec = compose()
    services = spec["services"]
    assert set(services) == {"postgres", "migrate", "kpibot"}
    bot, migrate, postgres = services["kpibot"], services["migrate"], services["postgres"]
    assert bot["deploy"]["replicas"] == 2
    assert postgres["image"].startswith("postgres:")
    assert "pgdata:/var/lib/postgresql/data" in postgres["volumes"] and "pgdata" in spec["volumes"]
    for service in (postgres, bot):
        assert set(service["healthcheck"]) >= {"test", "interval", "timeout", "retries"}
    assert "9464/healthz" in " ".join(bot["healthcheck"]["test"])
    assert bot["environment"]["KPIBOT_OPS_PORT"] == "9464"
    assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                 "migrate": {"condition": "service_completed_successfully"}}
    # the mounted configuration reaches every command, `docker compose run kpibot CMD...` included
    entrypoint = ["kpibot", "--config", "/etc/kpibot/kpibot.toml"]
    assert bot["entrypoint"] == migrate["entrypoint"] == entrypoint
    assert bot["volumes"] == migrate["volumes"] == ["./kpibot.toml:/etc/kpibot/kpibot.toml:ro"]
    assert bot["command"] == ["run"] and accepted([*entrypoint[1:], *bot["command"]])
    assert migrate["command"] == ["db", "upgrade"] and accepted([*entrypoint[1:], *migrate["command"]])
    assert bot["env_file"] == ".env"
    assert bot["stop_grace_period"] == "30s"
    store_url = "postgresql+psycopg://kpibot:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}@postgres:5432/kpibot"
    assert bot["environment"]["KPIBOT_STORE_URL"] == migrate["environment"]["KPIBOT_STORE_URL"] == store_url
    # every secret is a reference to .env or the environment, never a value
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert "${" in str(value), f"{name}: {key} holds a value"
                assert re.fullmatch(r"[^$]*(\$\{[A-Z_]+(:\?[^}]*)?\}[^$]*)+", str(value)), f"{name}: {key}"


def test_the_compose_configuration_serves_metrics_to_other_containers_on_the_health_checked_port(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/kpibot.compose.toml loads as compose runs it (KPIBOT_OPS_PORT and KPIBOT_STORE_URL from compose.yaml)
    and every port agrees: the config's, the environment's, the exposed one and both health checks'."""
    bot = compose()["services"]["kpibot"]
    for name, value in bot["environment"].items():
        monkeypatch.setenv(name, value)
    config = load_config(ROOT / "deploy" / "kpibot.compose.toml")
    assert (config.ops.host, config.ops.port, config.ops.log_format) == ("0.0.0.0", 9464, "json")
    assert config.store.url.get_secret_value() == bot["environment"]["KPIBOT_STORE_URL"]   # no url in the file
    monkeypatch.delenv("KPIBOT_OPS_PORT")
    assert load_config(ROOT / "deploy" / "kpibot.compose.toml").ops.port == 9464   # the file's own port agrees
    assert bot["expose"] == ["9464"] and instruction("EXPOSE") == ["9464"]
    assert "u.urlopen('http://127.0.0.1:9464/healthz', timeout=4)" in bot["healthcheck"]["test"][-1]
    assert "KPIBOT_OPS_PORT=9464" in " ".join(instruction("ENV"))   # the Dockerfile's HEALTHCHECK port


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str    # type: ignore[assignment,method-assign]   # systemd keys are case-sensitive
    parser.read(ROOT / "deploy" / "kpibot.service", encoding="utf-8")
    return parser


def test_the_systemd_unit_runs_kpibot_run_hardened() -> None:
    service = unit()["Service"]
    assert {k: service[k] for k in ("Type", "User", "EnvironmentFile", "Restart", "TimeoutStopSec", "NoNewPrivileges",
                                    "ProtectSystem", "ReadWritePaths", "UMask", "WorkingDirectory")} == {
        "Type": "simple", "User": "kpibot", "EnvironmentFile": "/etc/kpibot/kpibot.env", "Restart": "on-failure",
        "TimeoutStopSec": "30", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/kpibot", "UMask": "0077", "WorkingDirectory": "/var/lib/kpibot"}
    command = shlex.split(service["ExecStart"])
    assert command[0] == "/opt/kpibot/bin/kpibot"
    assert command[1:] == ["run", "--config", "/etc/kpibot/kpibot.toml"] and accepted(command[1:])
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


def admin_script() -> tuple[dict[str, list[str]], list[str]]:
    """deploy/kpibot-admin's systemd-run call: its -p properties (name -> values) and the command it runs."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "deploy" / "kpibot-admin").read_text(encoding="utf-8"))
    [line] = [line.strip() for line in text.splitlines() if line.strip().startswith("exec systemd-run ")]
    words = shlex.split(line)[2:]
    properties: dict[str, list[str]] = {}
    while words[0].startswith("-"):
        flag = words.pop(0)
        if flag == "-p":
            name, value = words.pop(0).split("=", 1)
            properties.setdefault(name, []).append(value)
    return properties, words


def test_kpibot_admin_runs_a_command_as_the_unit_does() -> None:
    """Admin commands see the service's store and secrets: same user, EnvironmentFile, WorkingDirectory, config."""
    script = ROOT / "deploy" / "kpibot-admin"
    assert script.stat().st_mode & 0o111 == 0o111
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True).returncode == 0
    service = unit()["Service"]
    properties, command = admin_script()
    names = ("User", "Group", "EnvironmentFile", "Environment", "WorkingDirectory", "StateDirectory",
             "StateDirectoryMode", "UMask")
    assert properties == {name: [service[name]] for name in names}
    assert service["WorkingDirectory"] == service["ReadWritePaths"] == "/var/lib/kpibot"
    assert service["Environment"] == "MPLCONFIGDIR=/var/lib/kpibot/.matplotlib"
    exec_start = shlex.split(service["ExecStart"])
    assert command == [exec_start[0], "--config", exec_start[-1], "$@"]
    assert accepted([*command[1:-1], "db", "upgrade"])
    flags = (ROOT / "deploy" / "kpibot-admin").read_text(encoding="utf-8")
    assert "exec systemd-run --pipe --wait --quiet --collect \\\n" in flags


def test_readme_runs_admin_commands_through_kpibot_admin() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "sudo -u kpibot" not in readme.replace("(`sudo -u kpibot kpibot ...` cannot read", "")
    assert "sudo kpibot-admin db upgrade\n" in readme
    assert "sudo kpibot-admin shops token tts-us --tokens-stdin < tts-us-tokens.json\n" in readme
    assert 'sqlite:////var/lib/kpibot/kpibot.db' in readme
    assert "docker compose run --rm -T kpibot shops token tts-us --tokens-stdin < tts-us-tokens.json" in readme


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """The unit as shipped, with ExecStart pointed at this machine's kpibot (systemd checks the file exists)."""
    analyze, kpibot = shutil.which("systemd-analyze"), shutil.which("kpibot")
    if analyze is None or kpibot is None:
        pytest.skip("systemd-analyze or an installed kpibot script is not on this machine")
    text = (ROOT / "deploy" / "kpibot.service").read_text(encoding="utf-8")
    copy = tmp_path / "kpibot.service"
    copy.write_text(text.replace("/opt/kpibot/bin/kpibot", kpibot), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")


def docker_unavailable() -> str | None:
    """Why the image cannot be built here, or None when a Docker daemon answers."""
    if shutil.which("docker") is None:
        return "no docker client on this machine"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "the Docker daemon did not answer `docker info` within 20 s"
    if info.returncode != 0:
        return "no Docker daemon reachable (`docker info` failed): the image build is not tested here"
    return None


def test_the_image_builds_and_runs_the_demo() -> None:
    """Builds the image (several minutes the first time: pulls python:3.11-slim and the dependencies' wheels)."""
    if (reason := docker_unavailable()) is not None:
        pytest.skip(reason)
    tag = f"kpibot-test:{uuid.uuid4().hex[:12]}"
    build = subprocess.run(["docker", "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stderr[-3000:]
    try:
        user = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True,
                              text=True, timeout=120)
        assert user.stdout == "10001\n"               # not root
        demo = subprocess.run(["docker", "run", "--rm", "-i", "-e", f"KPIBOT_NOW={DEMO_NOW.isoformat()}", tag, "demo"],
                              input="/mykpi\n", capture_output=True, text=True, timeout=300)
        assert demo.returncode == 0, demo.stderr[-3000:]
        assert demo.stdout.startswith("Seeded the demo organisation (members host1, host2, host3, ")
        assert "host1> Lin Xiaoyu 林小雨 · This month KPI\n" in demo.stdout
        assert "Traceback" not in demo.stderr
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=120)


def test_env_example_names_every_variable_the_readme_configuration_names() -> None:
    """A compose or systemd deployment is configured through env.example: every KPIBOT_* variable README's
    Configuration section names is there (set or commented), but the clock ones of demos and tests."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"KPIBOT_[A-Z0-9_]+", section)) - {"KPIBOT_NOW", "KPIBOT_CLOCK_SPEED", "KPIBOT_CLOCK_FROM",
                                                                      "KPIBOT_TICK_S"}
    example = set(re.findall(r"KPIBOT_[A-Z0-9_]+", (ROOT / "deploy" / "env.example").read_text(encoding="utf-8")))
    assert "KPIBOT_TOKEN_KEY" in named
    assert sorted(named - example) == []

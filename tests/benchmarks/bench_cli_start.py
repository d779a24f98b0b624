"""Benchmark: how long the `kpibot` command takes from start to exit, as a real process: `kpibot --help`, and
`kpibot chat --as host1 "/mykpi"` on the demo store in a temporary directory (seeded by a first run that is not
timed; KPIBOT_NOW pinned). Prints the median, min and max wall time of each and the machine's load; asserts
nothing.

    python -m tests.benchmarks.bench_cli_start [--runs 5] [--kpibot PATH]

The command run is the `kpibot` script installed beside this Python (without a version manager's shim in
front of it), or `python -m bot.cli` when there is none; --kpibot names another, e.g. the shim on PATH.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

NOW = "2026-11-22T12:00:00+00:00"


def kpibot_command(path: str | None) -> list[str]:
    """The command that starts kpibot: `path`, else the installed script, else `python -m bot.cli`."""
    if path:
        return [path]
    script = Path(sysconfig.get_path("scripts")) / "kpibot"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bot.cli"]


def wall_times(command: list[str], cwd: Path, env: dict[str, str], runs: int) -> list[float]:
    """Seconds from start to exit of `runs` runs of `command`; exits with its output if one fails."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return times


def show(label: str, times: list[float]) -> None:
    print(f"{label:<32} median {statistics.median(times):.3f} s  min {min(times):.3f} s  max {max(times):.3f} s  "
          f"({len(times)} runs)")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kpibot", metavar="PATH", help="the kpibot command to time (default: see above)")
    args = parser.parse_args()
    kpibot = kpibot_command(args.kpibot)
    env = {**os.environ, "KPIBOT_NOW": NOW}
    print(f"command: {' '.join(kpibot)}")
    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)   # no config.toml here: the demo store ./kpibot.db
        show("kpibot --help", wall_times([*kpibot, "--help"], cwd, env, args.runs))
        chat = [*kpibot, "chat", "--as", "host1", "/mykpi"]
        seed = wall_times(chat, cwd, env, 1)
        show('kpibot chat --as host1 "/mykpi"', wall_times(chat, cwd, env, args.runs))
        print(f"(the first chat, which seeded the demo store: {seed[0]:.3f} s)")
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()

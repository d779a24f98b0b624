#!/usr/bin/env bash
# Runs pytest with the system clock moved to WHEN (UTC) by libfaketime, to prove that no test's expectation
# depends on the real date or time. Every process the tests start (kpibot subprocesses, source processes)
# inherits the same offset, and the clock keeps running from WHEN. PostgreSQL's server clock is not moved,
# so run the SQLite part:
#
#   bash scripts/test-at.sh "2027-03-14 10:00" -m "not postgres"
#
# The library is the one the PyPI package `libfaketime` ships (a dev dependency): Debian's libfaketime 0.9.10
# breaks Python's sleeps (clock_nanosleep answers EINVAL when monotonic clocks are left alone, and with them
# faked an Event.wait never returns).
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 'YYYY-MM-DD HH:MM' [pytest arguments]" >&2; exit 2; fi
when=$1; shift

lib=$(python - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("libfaketime")
if spec and spec.submodule_search_locations:
    found = pathlib.Path(spec.submodule_search_locations[0], "vendor", "libfaketime", "src", "libfaketime.so.1")
    print(found if found.exists() else "")
PY
)
if [ -z "$lib" ]; then echo "libfaketime is not installed: python -m pip install -e '.[dev]'" >&2; exit 1; fi

target=$(date -u -d "$when" +%s)
offset=$(( target - $(date -u +%s) ))
echo "+ clock at $(date -u -d "@$target" '+%Y-%m-%d %H:%M:%S') UTC (offset ${offset} s): python -m pytest $*"
# A relative offset, not an absolute start: every process sees the same time (an absolute start would begin
# each subprocess's clock at WHEN again). Monotonic clocks are left alone: timeouts and sleeps stay real.
sign=$([ "$offset" -ge 0 ] && echo + || true)
LD_PRELOAD="$lib" FAKETIME="${sign}${offset}s" FAKETIME_DONT_FAKE_MONOTONIC=1 python -m pytest "$@"

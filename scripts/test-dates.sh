#!/usr/bin/env bash
# The date-sensitive tests (marker `wallclock`: their code reads the system clock) again with the system clock
# at a month's first minute, a US daylight-saving change (10:00 UTC on 14 March 2027 is 02:00 in Los Angeles,
# when its clocks go forward) and a year's last hour, on SQLite. The three runs go side by side, one pytest
# process each (their tests wait on servers as much as they compute), and their outputs are shown in turn.
# Left out: tests marked `relative_clock` too (their code reads the clock only for durations and request
# stamps, which one offset for every process shifts alike; the plain run tests them). Only the files that use
# the marker are collected: collecting all of tests/ to deselect the other thousand tests cost each run 3.5 s.
# Extra arguments go to pytest; `-m "not postgres"` runs the whole SQLite part instead.
set -uo pipefail
cd "$(dirname "$0")/.."
select=("-m" "wallclock and not relative_clock and not postgres")
mapfile -t files < <(grep -l "pytest.mark.wallclock" tests/test_*.py)
select+=("${files[@]}")
for arg in "$@"; do [ "$arg" = "-m" ] && select=(); done
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
instants=("2027-03-01 00:30" "2027-03-14 10:00" "2027-12-31 23:30")
pids=()
for i in "${!instants[@]}"; do
  bash scripts/test-at.sh "${instants[$i]}" -q -p no:cacheprovider "${select[@]}" "$@" >"$logs/$i" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!instants[@]}"; do
  wait "${pids[$i]}" || status=1
  cat "$logs/$i"
done
exit $status

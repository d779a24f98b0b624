#!/usr/bin/env bash
# The date-sensitive tests (marker `wallclock`: their code reads the system clock) again with the system clock
# at a month's first minute, a US daylight-saving change (10:00 UTC on 14 March 2027 is 02:00 in Los Angeles,
# when its clocks go forward) and a year's last hour, on SQLite. Extra arguments go to pytest; `-m "not
# postgres"` runs the whole SQLite part instead of the date-sensitive tests.
set -euo pipefail
cd "$(dirname "$0")/.."
select=("-m" "wallclock and not postgres")
for arg in "$@"; do [ "$arg" = "-m" ] && select=(); done
for at in "2027-03-01 00:30" "2027-03-14 10:00" "2027-12-31 23:30"; do
  bash scripts/test-at.sh "$at" -q -n 2 --dist loadfile "${select[@]}" "$@"
done

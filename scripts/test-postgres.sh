#!/usr/bin/env bash
# Installs (from Debian's packages, when missing) and starts the PostgreSQL server the storage tests use,
# with a role and database `kpibot` / `kpibot_test` on 127.0.0.1:5432. Safe to run again.
# The tests read KPIBOT_TEST_PG_URL (default postgresql+psycopg://kpibot:kpibot@127.0.0.1:5432/kpibot_test).
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then echo "PostgreSQL is not installed; run as root or: sudo apt-get install postgresql" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -q "^${version}/main$"; then
  pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 30); do
  as_postgres pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done

as_postgres psql -q -p 5432 -v ON_ERROR_STOP=1 -d postgres <<'SQL' >/dev/null
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kpibot') THEN
    CREATE ROLE kpibot LOGIN PASSWORD 'kpibot' CREATEDB;
  END IF;
END $$;
SQL
if ! as_postgres psql -p 5432 -tAc "SELECT 1 FROM pg_database WHERE datname='kpibot_test'" -d postgres | grep -q 1; then
  as_postgres createdb -p 5432 -O kpibot kpibot_test
fi
echo "PostgreSQL $version ready: postgresql+psycopg://kpibot:kpibot@127.0.0.1:5432/kpibot_test"

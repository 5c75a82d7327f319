#!/usr/bin/env bash
# Make sure a local PostgreSQL answers with a test database, for the tests that prove bunkhouse
# works on PostgreSQL as well as on SQLite. Installs postgresql (Debian/Ubuntu, root) when it is
# missing, starts its cluster, and creates the role and database below (idempotent).
# Prints the SQLAlchemy URL of the test database on stdout.
#
# Environment: BUNKHOUSE_TEST_PG_DATABASE (bunkhouse_test), BUNKHOUSE_TEST_PG_PORT (5432).
set -euo pipefail

database=${BUNKHOUSE_TEST_PG_DATABASE:-bunkhouse_test}
port=${BUNKHOUSE_TEST_PG_PORT:-5432}
say() { printf 'ensure-postgres: %s\n' "$*" >&2; }

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing postgresql"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        say "PostgreSQL is missing: install it (apt-get install postgresql) and run this again."
        exit 1
    fi
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main"; then
    pg_createcluster "$version" main --port "$port" >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -qx online; then
    # To stderr: only the URL may reach stdout, which callers capture (pg_ctlcluster prints
    # things such as "Removed stale pid file." after an unclean stop).
    pg_ctlcluster "$version" main start >&2
fi

as_postgres() { runuser -u postgres -- "$@"; }
for _ in $(seq 30); do
    as_postgres psql -qAtc 'select 1' >/dev/null 2>&1 && break
    sleep 1
done
# A throwaway role for tests only; its password appears in this test URL and nowhere else.
as_postgres psql -qAtc "select 1 from pg_roles where rolname = 'bunkhouse_test'" | grep -q 1 \
    || as_postgres psql -qc "create role bunkhouse_test login password 'bunkhouse_test'"
as_postgres psql -qAtc "select 1 from pg_database where datname = '$database'" | grep -q 1 \
    || as_postgres psql -qc "create database $database owner bunkhouse_test"
echo "postgresql+psycopg://bunkhouse_test:bunkhouse_test@127.0.0.1:$port/$database"

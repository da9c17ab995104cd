#!/usr/bin/env bash
# Installs (if needed) and starts Debian's PostgreSQL on 127.0.0.1:5432, with a password login for the tests.
# Prints the TEST_DATABASE_URL to use. Needs root (CI and the dev machines run as root).
set -euo pipefail
# Only the URL goes to stdout; everything the tools say goes to stderr.
exec 3>&1 1>&2
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$ver main"; then pg_createcluster "$ver" main >/dev/null; fi
pg_ctlcluster "$ver" main start 2>/dev/null || true
for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
su postgres -c "psql -q -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'custody') THEN CREATE ROLE custody LOGIN SUPERUSER PASSWORD 'custody'; END IF; END \\\$\\\$;\"" >/dev/null
echo "postgres://custody:custody@127.0.0.1:5432/postgres" >&3

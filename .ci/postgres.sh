#!/usr/bin/env bash
# Installs (if needed) and starts Debian's PostgreSQL on 127.0.0.1:5432, with a password login for the tests.
# Writes the TEST_DATABASE_URL to the file named by $1 (or stdout). Needs root (CI and the dev machines run as root).
# The server is started with every inherited descriptor but stdin/stdout/stderr closed and its output in its log:
# a daemon holding the caller's pipe open makes `$(...)` wait forever (the first CI run hung here).
set -euo pipefail
out="${1:-/dev/stdout}"
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 </dev/null
fi
ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$ver main"; then pg_createcluster "$ver" main >/dev/null 2>&1 </dev/null; fi
if ! pg_isready -q -h 127.0.0.1; then
  pg_ctlcluster "$ver" main start </dev/null >/dev/null 2>&1 || true
fi
for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
pg_isready -h 127.0.0.1 >&2
su postgres -c "psql -q -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'custody') THEN CREATE ROLE custody LOGIN SUPERUSER PASSWORD 'custody'; END IF; END \\\$\\\$;\"" </dev/null >/dev/null
echo "postgres://custody:custody@127.0.0.1:5432/postgres" >"$out"

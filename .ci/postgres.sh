#!/usr/bin/env bash
# Install (Debian), start and prepare a local PostgreSQL for the reader-study tests; print its URL.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h 2>/dev/null | grep -q online; then
  pg_ctlcluster "$version" main start >&2 || pg_createcluster "$version" main --start >&2
fi
for _ in $(seq 1 30); do su postgres -c "pg_isready -q" && break; sleep 1; done
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='livermets'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE USER livermets WITH PASSWORD 'livermets' SUPERUSER\"" >&2
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='livermets_test'\"" | grep -q 1 ||
  su postgres -c "createdb -O livermets livermets_test" >&2
echo "postgresql://livermets:livermets@127.0.0.1:5432/livermets_test"

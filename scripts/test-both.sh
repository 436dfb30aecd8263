#!/usr/bin/env bash
# Run the suite on SQLite and, when ERP_TEST_DATABASE_URL is set, on PostgreSQL at the same
# time (one pass per core), then print both reports. Fails if either pass fails.
set -u
PYTHON="${1:-.venv/bin/python}"
PG_URL="${ERP_TEST_DATABASE_URL:-}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

env -u ERP_TEST_DATABASE_URL "$PYTHON" -m pytest -q -p no:cacheprovider --durations=15 >"$logs/sqlite" 2>&1 &
sqlite_pid=$!
if [ -n "$PG_URL" ]; then
  ERP_TEST_DATABASE_URL="$PG_URL" "$PYTHON" -m pytest -q -p no:cacheprovider --durations=15 >"$logs/pg" 2>&1 &
  pg_pid=$!
fi

wait "$sqlite_pid"; sqlite_rc=$?
echo "== on SQLite (exit $sqlite_rc)"
cat "$logs/sqlite"
pg_rc=0
if [ -n "$PG_URL" ]; then
  wait "$pg_pid"; pg_rc=$?
  echo "== on PostgreSQL, $PG_URL (exit $pg_rc)"
  cat "$logs/pg"
else
  echo "ERP_TEST_DATABASE_URL is not set: PostgreSQL run skipped (CI always sets it)."
fi
[ "$sqlite_rc" -eq 0 ] && [ "$pg_rc" -eq 0 ]

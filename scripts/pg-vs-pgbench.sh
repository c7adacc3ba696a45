#!/usr/bin/env bash
# How close does quizrace's pg-update-returning come to pgbench running the
# same statement at the same client count?
#
# Prints, from one run against one server (the machine's PostgreSQL by
# default; PG_URL=postgres://... to point elsewhere):
#   1. pgbench -n -c CLIENTS -j 2 -T SECONDS with a custom script:
#      UPDATE <table> SET n = n + 1 WHERE slot = <random> RETURNING n
#      (the server's ceiling for this statement, with PostgreSQL's own C client);
#   2. quizrace run --runtime tokio --workers CLIENTS -s pg-update-returning
#      on the same number of counters (rooms x rounds);
# and the ratio of 2 to 1 (target >= 0.8). Timing is reported, not gated;
# the script fails only if a step fails or pg-update-returning is not exact.
# It creates one table of its own (quizrace_pgbench_<pid>) and drops it.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
CLIENTS=${CLIENTS:-50}
SECONDS_=${SECONDS_:-5}
ROOMS=${ROOMS:-1250}
ROUNDS=${ROUNDS:-8}

for tool in pgbench psql python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install postgresql-client python3)" >&2; exit 2; }
done
if [[ -z "${QUIZRACE_BIN:-}" ]]; then
    ${CARGO:-cargo} build --release --quiet --bin quizrace
    QUIZRACE_BIN=${CARGO_TARGET_DIR:-target}/release/quizrace
fi

table=quizrace_pgbench_$$
slots=$((ROOMS * ROUNDS))
work=$(mktemp -d)
cleanup() {
    psql "$PG_URL" -qc "DROP TABLE IF EXISTS $table" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

psql "$PG_URL" -qc "CREATE TABLE $table (slot integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);
                    INSERT INTO $table (slot) SELECT generate_series(0, $((slots - 1)));"
cat > "$work/update.sql" <<SQL
\set slot random(0, $((slots - 1)))
UPDATE $table SET n = n + 1 WHERE slot = :slot RETURNING n;
SQL

echo "== pgbench: $CLIENTS clients, ${SECONDS_}s, UPDATE ... RETURNING on $slots rows"
pgbench -n -c "$CLIENTS" -j 2 -T "$SECONDS_" -f "$work/update.sql" "$PG_URL" > "$work/pgbench.txt"
grep -E "tps|latency average" "$work/pgbench.txt"
bench=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$work/pgbench.txt" | head -1)

echo "== quizrace: pg-update-returning, $CLIENTS workers on tokio, $ROOMS rooms x $ROUNDS rounds x 8 players"
QUIZRACE_PG_URL=$PG_URL "$QUIZRACE_BIN" run -q -s pg-update-returning --runtime tokio \
    --workers "$CLIENTS" --rooms "$ROOMS" --rounds "$ROUNDS" --players 8 \
    --trials 3 --check --json "$work/q.json"
ours=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(r['answers_per_s'])" "$work/q.json")

python3 - "$bench" "$ours" <<'PY'
import sys
bench, ours = float(sys.argv[1]), float(sys.argv[2])
print(f"pgbench {bench:,.0f} statements/s; quizrace {ours:,.0f} answers/s (median of 3 trials)")
print(f"ratio quizrace/pgbench = {ours / bench:.2f} (target >= 0.8)")
PY

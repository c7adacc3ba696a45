#!/usr/bin/env bash
# Runs every bundled scenario in quick mode, a quick criterion pass, and
# writes the HTML report to reports/latest/index.html.
#
#   scripts/ci-report.sh
#
# Exit status (CI gates on correctness, never on timing):
#   0  every correct strategy kept every invariant
#   1  a correct strategy showed anomalies (`quizrace run --check` said so);
#      the report is still written, so the page shows which one and where
#   2  the suite could not run (build failure, bad scenario, no results)
#
# Redis: scenarios whose file name contains `redis`, `story` or `fault` need
# a Redis server. If QUIZRACE_REDIS_URL is set, it is used as is. Otherwise,
# when `redis-server` is on PATH, the script starts a throw-away one (no
# persistence) on a free local port and stops it on exit; without it those
# scenarios are skipped, with a line saying so.
#
# Knobs (all optional):
#   QUIZRACE_BIN=path        use this quizrace binary instead of building one
#   QUIZRACE_SKIP_BENCH=1    skip the criterion pass (report without benches)
#   QUIZRACE_CARGO="cmd"     how to call cargo (default: cargo), e.g.
#                            "flock /tmp/cargo.lock cargo" on a shared machine
#   CARGO_TARGET_DIR         honoured for the binary and target/criterion

set -euo pipefail

cd "$(dirname "$0")/.."

OUT=reports/latest
TARGET_DIR=${CARGO_TARGET_DIR:-target}
read -r -a CARGO_CMD <<<"${QUIZRACE_CARGO:-cargo}"

say() { printf 'ci-report: %s\n' "$*"; }
die() { printf 'ci-report: error: %s\n' "$*" >&2; exit 2; }

# --- build -----------------------------------------------------------------
if [[ -n "${QUIZRACE_BIN:-}" ]]; then
    BIN=$QUIZRACE_BIN
else
    say "building quizrace (release)"
    "${CARGO_CMD[@]}" build --release --bin quizrace || die "cargo build --release failed"
    BIN=$TARGET_DIR/release/quizrace
fi
[[ -x "$BIN" ]] || die "no quizrace binary at $BIN"

shopt -s nullglob
scenarios=(scenarios/*.toml)
[[ ${#scenarios[@]} -gt 0 ]] || die "no scenarios/*.toml found in $(pwd)"

mkdir -p "$OUT"
# Results of scenarios that no longer exist must not reach the report.
rm -f "$OUT"/*.json

# --- Redis -----------------------------------------------------------------
# shellcheck source=scripts/redis-server.sh
source "$(dirname "$0")/redis-server.sh"
trap stop_redis EXIT
trap 'exit 2' INT TERM

want_redis=0
for f in "${scenarios[@]}"; do
    needs_redis "$f" && want_redis=1
done
if [[ $want_redis == 1 && -z "${QUIZRACE_REDIS_URL:-}" ]]; then
    if command -v redis-server >/dev/null 2>&1; then
        ensure_redis || say "could not start redis-server: Redis scenarios will be skipped"
    else
        say "redis-server is not on PATH and QUIZRACE_REDIS_URL is not set: Redis scenarios will be skipped"
    fi
fi

# --- scenarios -------------------------------------------------------------
anomalies=0
ran=0
for f in "${scenarios[@]}"; do
    name=$(basename "$f" .toml)
    if needs_redis "$f" && [[ -z "${QUIZRACE_REDIS_URL:-}" ]]; then
        # CI sets QUIZRACE_REQUIRE_REDIS=1: a missing server is a failure there.
        [[ "${QUIZRACE_REQUIRE_REDIS:-0}" == 1 ]] && die "$name needs Redis and none could be started"
        say "skipping $name: it needs Redis (set QUIZRACE_REDIS_URL or install redis-server)"
        continue
    fi
    say "running $name"
    rc=0
    "$BIN" run "$f" --quick --quiet --check --json "$OUT/$name.json" || rc=$?
    case $rc in
        0) ran=$((ran + 1)) ;;
        1)
            ran=$((ran + 1))
            anomalies=1
            say "FAIL: a correct strategy showed anomalies in $name (see the report)"
            ;;
        *) die "quizrace run $f exited with $rc" ;;
    esac
done
[[ $ran -gt 0 ]] || die "no scenario ran: nothing to report"

# --- benches ---------------------------------------------------------------
# Criterion writes into a folder of this report's own (CRITERION_HOME), so
# results of older runs or removed benches never show up in it, and saved
# baselines under target/criterion are left alone.
criterion_args=()
export CRITERION_HOME="$PWD/$OUT/criterion"
rm -rf "$CRITERION_HOME"
if [[ "${QUIZRACE_SKIP_BENCH:-0}" == 1 ]]; then
    say "skipping the criterion pass (QUIZRACE_SKIP_BENCH=1)"
else
    say "quick criterion pass"
    "${CARGO_CMD[@]}" bench --bench bench_main -- --quick || die "cargo bench failed"
fi
if [[ -d "$CRITERION_HOME" ]]; then
    criterion_args=(--criterion "$CRITERION_HOME")
fi

# --- report ----------------------------------------------------------------
# Bounded: a report never takes minutes; if it does, something is wrong.
timeout 300 "$BIN" report "$OUT"/*.json "${criterion_args[@]}" --out "$OUT" || die "quizrace report failed"
say "report: $OUT/index.html"

if [[ $anomalies == 1 ]]; then
    say "FAILED: a correct strategy showed anomalies"
    exit 1
fi
say "ok: every correct strategy kept every invariant"

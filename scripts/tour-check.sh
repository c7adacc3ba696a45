#!/usr/bin/env bash
# Does every bundled scenario keep its promise? Runs every scenario N times
# and prints, per promise, how often it was kept.
#
#   scripts/tour-check.sh N [extra `quizrace run` flags, e.g. --quick]
#
# Besides the files, it checks the built-in workload of a bare `quizrace run`.
# A scenario's promises are its `[expect]` table (the anomalies its text says
# a strategy shows) plus one that every scenario makes: every correct
# strategy stays exact in every trial (`--check`).
#
# Exit status (timing figures never fail it):
#   0  every anomaly promise was kept in all but ceil(N/20) invocations (the
#      19-of-20 bar), and no correct strategy ever broke
#   1  a promise missed more often than that, or a correct strategy broke
#   2  could not run (no binary, no python3, a scenario errored)
#
# Redis scenarios use QUIZRACE_REDIS_URL, or a throw-away redis-server this
# script starts; without either they fail when QUIZRACE_REQUIRE_REDIS=1 (CI)
# and are skipped with a line saying so otherwise.
#
# Knobs: QUIZRACE_BIN=path (default: build target/release/quizrace).

set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'tour-check: %s\n' "$*"; }
die() { printf 'tour-check: error: %s\n' "$*" >&2; exit 2; }

N=${1:-}
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/tour-check.sh N [quizrace run flags]  (N >= 1)"
shift
command -v python3 >/dev/null || die "python3 is needed to read the results files"

if [[ -n "${QUIZRACE_BIN:-}" ]]; then
    BIN=$QUIZRACE_BIN
else
    cargo build --release --bin quizrace >/dev/null 2>&1 || die "cargo build --release failed"
    BIN=${CARGO_TARGET_DIR:-target}/release/quizrace
fi
[[ -x "$BIN" ]] || die "no quizrace binary at $BIN"

# shellcheck source=scripts/redis-server.sh
source scripts/redis-server.sh
WORK=$(mktemp -d)
trap 'stop_redis; rm -rf "$WORK"' EXIT
trap 'exit 2' INT TERM

scenarios=(scenarios/*.toml)
for f in "${scenarios[@]}"; do
    if needs_redis "$f"; then
        ensure_redis >/dev/null || true
        break
    fi
done

tally=$WORK/tally
: >"$tally"
# `default` is the built-in workload of a bare `quizrace run` (the README's
# main job); the others are the bundled files.
for f in default "${scenarios[@]}"; do
    name=$(basename "$f" .toml)
    args=("$f")
    [[ "$f" == default ]] && args=()
    if [[ "$f" != default ]] && needs_redis "$f" && [[ -z "${QUIZRACE_REDIS_URL:-}" ]]; then
        [[ "${QUIZRACE_REQUIRE_REDIS:-0}" == 1 ]] && die "$name needs Redis and none could be started"
        say "skipping $name: it needs Redis (set QUIZRACE_REDIS_URL or install redis-server)"
        continue
    fi
    for i in $(seq "$N"); do
        rc=0
        "$BIN" run "${args[@]}" --quiet --check --json "$WORK/$name-$i.json" "$@" >"$WORK/out" 2>&1 || rc=$?
        case $rc in
            0) echo "$name|every correct strategy exact|1" >>"$tally" ;;
            1) echo "$name|every correct strategy exact|0" >>"$tally"
               say "$name run $i: --check failed (a correct strategy broke, or a result was inconclusive):"
               cat "$WORK/out" ;;
            *) cat "$WORK/out"; die "quizrace run $f exited with $rc" ;;
        esac
        python3 - "$WORK/$name-$i.json" "$name" >>"$tally" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
for p in f.get("promises", []):
    print(f"{sys.argv[2]}|{p['strategy']} shows {p['anomaly']}|{int(p['kept'])}")
PY
    done
    printf '.' >&2
done
echo >&2

python3 - "$tally" "$N" <<'PY'
import math, sys
from collections import OrderedDict
n = int(sys.argv[2])
allowed = math.ceil(n / 20)
rows = OrderedDict()
for line in open(sys.argv[1]):
    scenario, promise, kept = line.rstrip("\n").split("|")
    rows.setdefault((scenario, promise), []).append(int(kept))
bad = 0
print(f"{'scenario':<22} {'promise':<40} kept")
for (scenario, promise), hits in rows.items():
    kept = sum(hits)
    misses = len(hits) - kept
    # Correctness is never allowed to miss; anomaly promises at the 19/20 bar.
    limit = 0 if promise.startswith("every correct") else allowed
    flag = "" if misses <= limit else "   <-- MISSED"
    bad += misses > limit
    print(f"{scenario:<22} {promise:<40} {kept}/{len(hits)}{flag}")
print(f"\n{len(rows)} promises, {bad} missed more than allowed "
      f"(anomaly promises may miss {allowed} of {n}; correctness none)")
sys.exit(1 if bad else 0)
PY

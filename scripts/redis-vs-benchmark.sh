#!/usr/bin/env bash
# How close does quizrace's redis-incrby come to a bare INCR loop?
#
# Prints, from one run against one server:
#   1. redis-benchmark -t incr -c 50 -n 200000 at pipeline 1 and 16
#      (the server's ceiling, with a C client);
#   2. a raw 50-task INCR loop over ONE multiplexed redis-rs connection
#      (examples/raw_incr.rs: the same client library, no harness), the
#      issue's baseline; the same loop over one connection per core; and the
#      loop thread-per-core (a current-thread runtime and a connection per
#      core, tasks dealt round-robin), the layout quizrace's tokio runtime
#      gives a strategy on a server, so the harness's own cost can be read
#      off too;
#   3. quizrace run --runtime tokio --workers 50 --strategy redis-incrby
#      (the whole simulator: plans, timing, outcome bookkeeping, checks);
#   4. the same with --strategy redis-incrby-batched (answers coalesced
#      into one INCRBY k per room-round per pipeline);
#   5. redis-incrby-batched with 16 times the workers (as many answers in
#      flight as redis-benchmark -P 16 has commands), on tokio and on 2
#      processes,
# and the ratios of 3 and 4 to 2 and to redis-benchmark -P 1 and -P 16.
# Timing is reported, not gated (CI gates on correctness, never on noisy
# timing); the script fails only if a strategy is not exact or a step fails.
#
# By default it starts a private redis-server on a free loopback port and
# stops it at the end. To use a running server instead: REDIS_PORT=N
# (loopback, no password). Binaries are built unless QUIZRACE_BIN and
# RAW_INCR_BIN point at them.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200000}
TASKS=${TASKS:-50}

if [[ -z "${QUIZRACE_BIN:-}" || -z "${RAW_INCR_BIN:-}" ]]; then
    ${CARGO:-cargo} build --release --quiet --bin quizrace --example raw_incr
    target=${CARGO_TARGET_DIR:-target}
    QUIZRACE_BIN=${QUIZRACE_BIN:-$target/release/quizrace}
    RAW_INCR_BIN=${RAW_INCR_BIN:-$target/release/examples/raw_incr}
fi

for tool in redis-server redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found; install redis (e.g. apt-get install redis-server redis-tools)" >&2; exit 2; }
done

server_pid=
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [[ -z "${REDIS_PORT:-}" ]]; then
    for p in $(seq 21000 21999); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then REDIS_PORT=$p; break; fi
    done
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --loglevel warning >/dev/null &
    server_pid=$!
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
fi
url="redis://127.0.0.1:$REDIS_PORT"

echo "== environment"
echo "redis:    $(redis-cli -p "$REDIS_PORT" info server | tr -d '\r' | grep '^redis_version:' | cut -d: -f2) on 127.0.0.1:$REDIS_PORT"
echo "cpus:     $(nproc)   ($(uname -sm))"
echo "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "rustc:    $(rustc --version 2>/dev/null || echo unknown)"
echo

echo "== 1. redis-benchmark -t incr -c 50 -n $N (server ceiling, C client)"
declare -A bench
for pipeline in 1 16; do
    line=$(redis-benchmark -p "$REDIS_PORT" -t incr -c 50 -n "$N" -P "$pipeline" -q | tr '\r' '\n' | grep -v '^$' | tail -1)
    printf 'P%-3s %s\n' "$pipeline" "$line"
    bench[$pipeline]=$(sed -E 's/^[A-Z]+: ([0-9]+).*/\1/' <<<"$line")
done
echo

# Few, large rooms: the raw loop increments one key, so the simulator's run
# should not make Redis create a new key for every few answers either.
rooms=25
players=$((N / rooms))
quizrace_incrby() { # ROOMS PLAYERS [STRATEGY [RUN ARGS...]] -> "answers_per_s verdict"
    local json rooms_=$1 players_=$2 strategy=${3:-redis-incrby}
    shift $(( $# < 3 ? $# : 3 ))
    [[ $# -gt 0 ]] || set -- --runtime tokio --workers "$TASKS"
    json=$(mktemp)
    "$QUIZRACE_BIN" run --redis-url "$url" "$@" \
        --strategy "$strategy" --rooms "$rooms_" --players "$players_" --rounds 1 \
        --scoring-work none --json "$json" --quiet
    echo "$(grep -m1 '"answers_per_s"' "$json" | sed -E 's/[^0-9.]//g; s/\..*//') \
$(grep -m1 '"verdict"' "$json" | sed -E 's/.*: "([a-z]+)".*/\1/')"
    rm -f "$json"
}
median() { tr ' ' '\n' | sort -n | sed -n "$(( (${1} + 1) / 2 ))p"; }

# Both sides share two cores with the server and anything else running, so
# each is measured RUNS times, interleaved, and the medians are compared.
RUNS=${RUNS:-3}
CORES=$(nproc)
echo "== 2. raw redis-rs: $TASKS tasks, one multiplexed connection, $CORES connections, and thread-per-core (examples/raw_incr.rs)"
echo "== 3. quizrace run --runtime tokio --workers $TASKS --strategy redis-incrby --rooms $rooms --players $players --rounds 1"
echo "== 4. the same with --strategy redis-incrby-batched"
raws=() rawcs=() rawps=() sims=() bats=() verdict=exact
for r in $(seq "$RUNS"); do
    raw_line=$("$RAW_INCR_BIN" "$url" "$TASKS" "$N")
    raws+=("$(sed -E 's/.*: ([0-9]+) ops\/s.*/\1/' <<<"$raw_line")")
    rawc_line=$("$RAW_INCR_BIN" "$url" "$TASKS" "$N" "$CORES")
    rawcs+=("$(sed -E 's/.*: ([0-9]+) ops\/s.*/\1/' <<<"$rawc_line")")
    rawp_line=$("$RAW_INCR_BIN" "$url" "$TASKS" "$N" "$CORES" per-core)
    rawps+=("$(sed -E 's/.*: ([0-9]+) ops\/s.*/\1/' <<<"$rawp_line")")
    read -r sim v < <(quizrace_incrby "$rooms" "$players")
    sims+=("$sim")
    [[ "$v" == exact ]] || verdict=$v
    read -r bat v < <(quizrace_incrby "$rooms" "$players" redis-incrby-batched)
    bats+=("$bat")
    [[ "$v" == exact ]] || verdict=$v
    printf '  run %s: raw %8s ops/s   raw x%s %8s ops/s   raw per-core %8s ops/s   incrby %8s answers/s   batched %8s answers/s (%s)\n' \
        "$r" "${raws[-1]}" "$CORES" "${rawcs[-1]}" "${rawps[-1]}" "$sim" "$bat" "$v"
done
raw=$(echo "${raws[@]}" | median "$RUNS")
rawc=$(echo "${rawcs[@]}" | median "$RUNS")
rawp=$(echo "${rawps[@]}" | median "$RUNS")
sim=$(echo "${sims[@]}" | median "$RUNS")
bat=$(echo "${bats[@]}" | median "$RUNS")
echo "  last raw_incr output: $raw_line"
echo

echo "== medians (min-max over $RUNS runs)"
spread() { tr ' ' '\n' | sort -n | sed -n '1p;$p' | paste -sd- ; }
printf '  raw loop   %9s  (%s)  one connection\n' "$raw" "$(echo "${raws[@]}" | spread)"
printf '  raw loop   %9s  (%s)  %s connections\n' "$rawc" "$(echo "${rawcs[@]}" | spread)" "$CORES"
printf '  raw loop   %9s  (%s)  thread-per-core\n' "$rawp" "$(echo "${rawps[@]}" | spread)"
printf '  incrby     %9s  (%s)  = %3s%% of raw, %3s%% of raw x%s, %3s%% of raw per-core, %3s%% of -P 1, %3s%% of -P 16\n' "$sim" \
    "$(echo "${sims[@]}" | spread)" $((100 * sim / raw)) $((100 * sim / rawc)) "$CORES" $((100 * sim / rawp)) $((100 * sim / bench[1])) $((100 * sim / bench[16]))
printf '  batched    %9s  (%s)  = %3s%% of raw, %3s%% of -P 1, %3s%% of -P 16\n' "$bat" \
    "$(echo "${bats[@]}" | spread)" $((100 * bat / raw)) $((100 * bat / bench[1])) $((100 * bat / bench[16]))

# A closed-loop worker has one answer in flight, so 50 workers keep at most
# 50 in flight while redis-benchmark -c 50 -P 16 keeps 800 commands in
# flight. Batching only pays when answers queue up: the same 800 in flight,
# as 800 tasks, and as 2 processes of 400.
deep=$((TASKS * 16))
echo
echo "== 5. redis-incrby-batched with $deep answers in flight, as many as -c $TASKS -P 16 has commands"
deeps=() deep2s=()
for r in $(seq "$RUNS"); do
    read -r d v < <(quizrace_incrby "$rooms" "$players" redis-incrby-batched --runtime tokio --workers "$deep")
    deeps+=("$d")
    [[ "$v" == exact ]] || verdict=$v
    read -r d2 v < <(quizrace_incrby "$rooms" "$players" redis-incrby-batched \
        --runtime processes --processes 2 --workers $((deep / 2)))
    deep2s+=("$d2")
    [[ "$v" == exact ]] || verdict=$v
    printf '  run %s: tokio x%s %8s answers/s   2 processes x%s %8s answers/s (%s)\n' \
        "$r" "$deep" "$d" $((deep / 2)) "$d2" "$v"
done
deep=$(echo "${deeps[@]}" | median "$RUNS")
deep2=$(echo "${deep2s[@]}" | median "$RUNS")
printf '  tokio       %9s  (%s)  = %3s%% of -P 16\n' "$deep" "$(echo "${deeps[@]}" | spread)" $((100 * deep / bench[16]))
printf '  2 processes %9s  (%s)  = %3s%% of -P 16\n' "$deep2" "$(echo "${deep2s[@]}" | spread)" $((100 * deep2 / bench[16]))

# Context: many small rooms, as real games have. Every room-round is a new
# key, so the server does more work per answer than the one-key loops above.
read -r many _ < <(quizrace_incrby $((N / 8)) 8)
echo "   (context: $((N / 8)) rooms x 8 players, one new key per 8 answers: $many answers/s)"

left=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'quizrace:*' | wc -l)
if [[ "$verdict" != exact || "$left" != 0 ]]; then
    echo "error: verdict $verdict, $left quizrace keys left behind" >&2
    exit 1
fi

# Sourced by scripts that need a Redis server (never run on its own).
#
# `ensure_redis` makes QUIZRACE_REDIS_URL point at a server: the one already
# in QUIZRACE_REDIS_URL, or a throw-away `redis-server` (no persistence) on a
# free local port, stopped when the calling script exits. Returns 1 when
# neither is possible. Callers decide whether that skips or fails.

REDIS_PID=
REDIS_LOG=

stop_redis() {
    if [[ -n "$REDIS_PID" ]]; then
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=
    fi
    if [[ -n "$REDIS_LOG" ]]; then rm -f "$REDIS_LOG"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_redis() {
    [[ -n "${QUIZRACE_REDIS_URL:-}" ]] && return 0
    command -v redis-server >/dev/null 2>&1 || return 1
    local attempt port
    REDIS_LOG=$(mktemp)
    for attempt in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 20000))
        port_in_use "$port" && continue
        # No RDB snapshots, no AOF: the server is thrown away with its data.
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize no --loglevel warning >"$REDIS_LOG" 2>&1 &
        REDIS_PID=$!
        for _ in $(seq 50); do
            if port_in_use "$port"; then
                export QUIZRACE_REDIS_URL="redis://127.0.0.1:$port"
                echo "started redis-server (pid $REDIS_PID) at $QUIZRACE_REDIS_URL"
                return 0
            fi
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.1
        done
        # Lost a race for the port, or the server did not come up: retry.
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=
        echo "redis-server did not start on port $port (attempt $attempt): $(tail -n 1 "$REDIS_LOG" 2>/dev/null)"
    done
    return 1
}

# A scenario needs Redis when it names a redis-* strategy.
needs_redis() {
    grep -qE '"redis-[a-z-]+"' "$1"
}

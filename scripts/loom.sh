#!/usr/bin/env bash
# Runs the loom models (tests/loom.rs) with their own target dir, so the
# `--cfg quizrace_loom` build never invalidates the normal one.
#
# LOOM_MAX_PREEMPTIONS is left to the models (they set a bound of 3 and say
# why); pass extra cargo test arguments through, e.g. a test name filter.
set -euo pipefail
cd "$(dirname "$0")/.."
# Our own cfg name, not `--cfg loom`: RUSTFLAGS reach every dependency, and
# tokio, event-listener and async-lock change (and break) under `cfg(loom)`.
export RUSTFLAGS="--cfg quizrace_loom ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"
start=$(date +%s)
cargo test --release --test loom "$@"
echo "loom suite took $(( $(date +%s) - start ))s (including the build)"

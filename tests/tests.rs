//! quizrace's integration tests: one binary, one module per area.
//!
//! * `cli`: the real binary: verbs, exit codes, JSON contract, bad input.
//! * `stress`: every strategy on real threads and tasks; racy ones must be caught.
//! * `shuttle`: async strategies under shuttle's seeded schedulers.
//! * `redis`: the six Redis strategies, faults, key hygiene, secrets and bad
//!   input, against a `redis-server` each test starts itself.
//! * `redis_distributed`: the Redis strategies on a Redis Cluster the test
//!   starts, and on the lab quizrace starts itself (primary and replica)
//!   under the failover fault; the lab's servers stopped, also on Ctrl-C.
//! * `report`: HTML report generation, escaping and the real-browser check.
//! * `sql`: the PostgreSQL and MariaDB strategies against the machine's servers.
//! * `fuzz`: bounded, seeded mutation of scenario and results inputs: no panics.
//! * `play`: `quizrace play` levels (winning moves break, every schedule of a
//!   correct level holds) and `explain --seed` replays.
//! * `msrv`: Cargo.toml's `rust-version` is at least every resolved dependency's.
//! * `support`: shared helpers: running the binary, temp dirs, free ports, a
//!   `redis-server` (or a Redis Cluster) per test, the serial lock for
//!   server tests, finding Chromium.
//!
//! Tests that need `redis-server` or Chromium are `#[ignore]`d with the
//! reason: `cargo test` runs the rest; CI (`.ci/run`) installs both and runs
//! `cargo test -- --include-ignored`, where a missing one fails the test.
//!
//! The loom models live in `tests/loom.rs` (run by `scripts/loom.sh`).

mod cli;
mod fuzz;
mod msrv;
mod play;
mod redis;
mod redis_distributed;
mod report;
mod shuttle;
mod sql;
mod stress;
mod support;

//! quizrace's integration tests: one binary, one module per area.
//!
//! * `cli`: the real binary: verbs, exit codes, JSON contract, bad input.
//! * `stress`: every strategy on real threads and tasks; racy ones must be caught.
//! * `shuttle`: async strategies under shuttle's seeded schedulers.
//! * `redis`: the six Redis strategies, faults, key hygiene, secrets and bad
//!   input, against a `redis-server` each test starts itself.
//! * `report`: HTML report generation, escaping and the real-browser check.
//! * `fuzz`: bounded, seeded mutation of scenario and results inputs: no panics.
//! * `msrv`: Cargo.toml's `rust-version` is at least every resolved dependency's.
//!
//! The loom models live in `tests/loom.rs` (run by `scripts/loom.sh`).

mod cli;
mod fuzz;
mod msrv;
mod redis;
mod report;
mod shuttle;
mod stress;

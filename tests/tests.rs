//! quizrace's integration tests: one binary, one module per area.
//!
//! * `redis`: the six Redis strategies, faults, key hygiene, secrets and bad
//!   input, against a `redis-server` each test starts itself.
//! * `report`: HTML report generation, escaping and the real-browser check.

mod redis;
mod report;

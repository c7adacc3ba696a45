//! quizrace's one criterion bench binary. Modules, one per dimension:
//!
//! * `harness`: the worker loop's own bookkeeping per answer, no strategy;
//! * `record`: every correct in-process strategy x workers x rooms, plus the
//!   hardware baselines (bare `fetch_add`, plain increment) in the same group;
//! * `false_sharing`: per-worker counters packed versus cache-line padded;
//! * `redis`: Redis strategies, when `QUIZRACE_REDIS_URL` names a server;
//! * `sql`: PostgreSQL and MariaDB strategies, when `QUIZRACE_PG_URL` /
//!   `QUIZRACE_MYSQL_URL` name a server.
//!
//! Every timed region starts behind a barrier with set-up done, and every
//! iteration checks its final counts: a strategy that loses updates panics
//! here rather than posting a fast number. `cargo bench -- --quick` is the
//! short mode; README.md "Reading the numbers" explains the groups.

use criterion::{criterion_group, criterion_main};

mod bookkeeping;
mod false_sharing;
mod harness;
mod record;
mod redis;
mod sql;

criterion_group!(
    benches,
    bookkeeping::bench,
    record::bench,
    false_sharing::bench,
    redis::bench,
    sql::bench
);
criterion_main!(benches);

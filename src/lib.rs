//! # quizrace
//!
//! A laboratory for one real race condition and every standard way out of it.
//!
//! ## Background: the outage
//!
//! A quiz game scored answers into an in-memory `scoringMap[gameId]` and
//! emitted `endQuizTime` once the count reached the number of players:
//!
//! ```text
//! v = scoringMap[game]; await score(answer); scoringMap[game] = v + 1
//! if (scoringMap[game] >= playersCount) emit('endQuizTime')
//! ```
//!
//! Run as two processes, it hung: each process counted only its own share
//! (*partitioned state*), and concurrent read–`await`–write sequences
//! overwrote each other (*lost updates*), even on one thread. A round whose
//! count never reaches `playersCount` never ends.
//!
//! ## Vocabulary
//!
//! * A **race condition** is a result that depends on the interleaving of
//!   concurrent steps. Here: two workers read 3, both write 4.
//! * An operation is **atomic** when no other worker can observe or act in
//!   the middle of it. `fetch_add` is; `load` then `store` is not, even if
//!   each step is.
//! * Code is **thread-safe** when every interleaving keeps its invariants.
//!   The invariants here are in [`sim::check`]: the count equals the answers
//!   submitted, and `endQuizTime` fires exactly once, after the last answer.
//! * **Check-then-act** is the second classic race: deciding from a value
//!   read *after* the update, which others may have changed too.
//!
//! ## How the crate is organised
//!
//! * [`strategy`]: the scoring counters, one file per family, behind a small
//!   trait pair (set-up outside the hot loop, a per-worker handle inside),
//!   listed once in [`strategy::catalogue`]. Every strategy's docs say what
//!   it guarantees, what it costs, and how it is checked.
//! * [`backend`]: the boundary to the servers strategies keep state on
//!   (Redis today): configuration, a namespace per run that is always
//!   removed, fault injection, Ctrl-C clean-up.
//! * [`sim`]: seeded workloads, the runtimes (threads, tokio, processes), and
//!   the checks against ground truth.
//! * [`metrics`]: per-worker HDR histograms, merged after the run.
//! * [`result`]: the results JSON (`quizrace.result.v2`).
//! * [`report`]: renders results into one HTML page.
//! * [`explain`]: traced short runs that find a real counterexample.
//! * [`history`]: histories of counter increments (`quizrace.history.v1`,
//!   JSON lines), their reader, and the O(n log n) linearizability check
//!   shared by every run and `quizrace check`.
//! * [`mod@format`]: number formatting (thousands, rates, durations) for the
//!   terminal and the page.
//! * [`plan`]: scenario files, command-line overrides and sweeps resolved
//!   into validated plans before anything runs.
//! * [`suite`]: the runner: every strategy run as repeated trials,
//!   statistics over the trials, whole plans into results files.
//! * [`scenario`]: scenario files; [`output`]: results files written
//!   atomically; [`environment`]: where a run happened.
//!
//! The `quizrace` binary (`src/main.rs`, `src/cli/`) is the terminal around
//! this library: clap, tables, progress bars, Ctrl-C.
//!
//! ## How correctness is established
//!
//! 1. **Model checking**: loom explores every interleaving (up to a
//!    preemption bound) of the strategies built on `std` primitives, through
//!    a `cfg(quizrace_loom)` switch (`src/sync.rs` says why); shuttle explores
//!    schedules of the async ones.
//!    Racy strategies must be *caught*; a model that passes a racy strategy
//!    fails the suite.
//! 2. **Every run is checked**: the simulator keeps its own count of what
//!    was submitted and compares; benches check their final counts too.
//!
//! ## Limitations
//!
//! Model checks cover small configurations (2–3 workers, one room-round);
//! larger ones rely on stress runs, which can show a race but never prove
//! its absence. Strategies built on crates loom cannot instrument
//! (parking_lot, dashmap, arc-swap, crossbeam channels, Redis) are covered by
//! stress and integration tests only. Timing figures are from shared
//! machines; compare ratios, not absolute nanoseconds.

pub mod backend;
pub mod environment;
pub mod explain;
pub mod format;
pub mod history;
pub mod metrics;
pub mod output;
pub mod plan;
pub mod play;
pub mod report;
pub mod result;
pub mod scenario;
pub mod sched;
pub mod sim;
pub mod strategy;
pub mod suite;
pub(crate) mod sync;
pub mod timeline;

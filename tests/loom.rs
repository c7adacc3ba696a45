//! Loom models: every interleaving (up to a preemption bound) of 2-3 workers
//! recording into one room-round, for each strategy loom can see through
//! `src/sync.rs`.
//!
//! Run with `scripts/loom.sh` (it sets `RUSTFLAGS="--cfg quizrace_loom"` and
//! a target dir of its own; `src/sync.rs` says why the cfg has its own name).
//! Without that cfg this file compiles to nothing.
//!
//! Correct strategies must pass. Racy ones must be *caught*: each racy model
//! is `#[should_panic]` with the invariant it breaks, so a checker that stops
//! seeing the race fails the suite (loom's own `checks_fail` pattern).
//!
//! Not modelled here: `parking-lot-mutex`, `dashmap`, `snapshot` (arc-swap)
//! and `actor` (crossbeam-channel) use primitives loom cannot instrument;
//! `async-rmw` and `tokio-mutex` are async and are checked with shuttle
//! (`tests/shuttle.rs`). All of them are covered by the stress tests.
#![cfg(quizrace_loom)]

use loom::model::Builder;
use quizrace::strategy::{
    atomics::{Atomic, Cas},
    locks::{LocalMap, StdMutex},
    racy::{CheckThenAct, RacyRmw},
    semaphore::Semaphore,
    Layout, Recorder, ScoringWork, SyncStrategy,
};

/// Explores `workers` threads each recording one answer of the same
/// room-round (a room of `workers` players), then checks the invariants.
///
/// Preemption bound 3: every race in this catalogue needs exactly one
/// preemption (between a read and the write or check that depends on it),
/// and loom's docs report that bounds of 2-3 find nearly all real bugs while
/// keeping 3-thread models to seconds instead of hours.
fn model<S: SyncStrategy>(workers: u32, work: ScoringWork) {
    let mut builder = Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let layout = Layout {
            rooms: 1,
            rounds: 1,
            players: workers,
        };
        let strategy = S::new(layout).unwrap();
        let threads: Vec<_> = (0..workers)
            .map(|player| {
                let mut h = strategy.handle();
                loom::thread::spawn(move || h.record(layout.answer(0, 0, player), &work))
            })
            .collect();
        let fires = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|c| c.ended)
            .count();
        let count = strategy.counts()[0];
        assert_eq!(count, workers, "lost update: count {count} of {workers}");
        assert_eq!(fires, 1, "endQuizTime fired {fires} times");
    });
}

#[test]
fn atomic_is_correct() {
    model::<Atomic>(3, ScoringWork::None);
}

#[test]
fn cas_is_correct() {
    model::<Cas>(3, ScoringWork::None);
}

#[test]
fn semaphore_is_correct() {
    model::<Semaphore>(3, ScoringWork::None);
}

#[test]
fn std_mutex_is_correct() {
    // A yield inside the critical section lets loom schedule others while
    // the lock is held; they must wait, not interleave.
    model::<StdMutex>(2, ScoringWork::Yield);
}

#[test]
fn local_map_is_correct_in_one_process() {
    model::<LocalMap>(2, ScoringWork::Yield);
}

#[test]
#[should_panic(expected = "lost update")]
fn racy_rmw_is_caught() {
    model::<RacyRmw>(2, ScoringWork::None);
}

#[test]
#[should_panic(expected = "endQuizTime fired 2 times")]
fn check_then_act_is_caught() {
    model::<CheckThenAct>(2, ScoringWork::None);
}

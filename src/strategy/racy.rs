//! Deliberately racy strategies: they exist to reproduce the outage.
//!
//! Each one is small, plausible code that passes a single-worker test and
//! breaks under concurrency. The model checks in `tests/loom.rs` and the
//! shuttle tests must *catch* every one of them; a racy strategy that passes
//! is a bug in the checker.

use crate::strategy::trace::{decided, step, Step};
use crate::strategy::{
    Answer, AsyncRecorder, AsyncStrategy, Counted, Env, Layout, Outcome, Recorder, ScoringWork,
    SetupError, SyncStrategy, TraceOp, Tracer,
};
use crate::sync::{Arc, AtomicU32, AtomicUsize, Ordering};

pub(crate) const RACY_RMW_EXPLAIN: &str = "\
racy-rmw keeps one plain counter per room-round and records an answer in three
separate steps: load the count, do the scoring work, store count + 1. Each
step is atomic on its own; the sequence is not.

Why it breaks: two workers that load the same value both store value + 1, so
one answer vanishes (a lost update). Once an answer is lost the count never
reaches the number of players, nobody emits endQuizTime, and the room hangs:
exactly the story's symptom.

The scoring work sits between the load and the store, so it is the race
window: --scoring-work yield or spin:N or sleep:50us widens it, which is how a
real `await` on a database makes a rare race common.

Why no memory ordering fixes it: an ordering (Relaxed, Acquire/Release,
SeqCst) only says which other writes a thread sees along with a load or a
store; it never turns two operations into one. Even with SeqCst on both, the
load and the store are two separate places in the single order of all
operations, and another worker's load can land between them. The code uses
Relaxed on purpose: the bug is the gap between the steps. Only a single
read-modify-write (fetch_add, compare_exchange) or a lock held across the
steps closes it.

Cost: two uncontended memory operations; it is the cheapest strategy. With
check-then-act it is one of the two strategies that are wrong inside a single
process on threads (async-rmw is wrong even on one thread, across an await).";

pub(crate) const ASYNC_RMW_EXPLAIN: &str = "\
async-rmw is the story's original code translated to Rust:

    let v = map[game];  score(answer).await;  map[game] = v + 1;

Every individual access to the map is atomic, and on `tokio-current` there is
only one thread, so there is no parallelism at all. It still loses updates:
while one task is suspended at the `.await`, the executor runs another task
that reads the same old value. Both write value + 1.

This is the race that needs no threads: concurrency (interleaving at await
points) is enough. Run it with --runtime tokio-current and any scoring work
that awaits (yield, sleep). With --scoring-work none there is no await point
and the race disappears, which is why it hid in testing.";

pub(crate) const CHECK_THEN_ACT_EXPLAIN: &str = "\
check-then-act counts correctly (an atomic fetch_add) but decides wrongly: it
increments, then does a separate load and fires endQuizTime if the loaded
count is >= players, as the story's `if (scoringMap[gameId] >= playersCount)`.

Why it breaks: the check is a second, separate step. After the last
increment, every worker whose check runs sees the full count, so several of
them emit endQuizTime for the same round (duplicate_end). No update is lost;
the decision is the race. The scoring work sits between the increment and
the check (saving the answer before announcing the result), so
--scoring-work widens the window.

Fix: decide from the value the atomic operation itself returned (see atomic,
redis-incrby), never from a later read.";

/// Counters shared by the threads-based racy strategies.
#[derive(Debug)]
struct Plain {
    counts: Vec<AtomicU32>,
    players: u32,
    tracer: Option<Tracer>,
    next_worker: AtomicUsize,
}

impl Plain {
    fn new(layout: Layout, tracer: Option<Tracer>) -> Arc<Self> {
        Arc::new(Plain {
            counts: (0..layout.slots()).map(|_| AtomicU32::new(0)).collect(),
            players: layout.players,
            tracer,
            next_worker: AtomicUsize::new(0),
        })
    }

    fn counts(&self) -> Vec<u32> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .collect()
    }
}

/// `racy-rmw`: load, score, store. Loses updates whenever two workers overlap.
///
/// * **Guarantees:** nothing under concurrency; exact with one worker.
/// * **Costs:** one load and one store; no contention cost at all, because
///   it never coordinates.
/// * **Scaling:** the more workers share a room, the more is lost; many
///   rooms dilute the collisions.
/// * **Checked by:** loom (`racy_rmw_is_caught`) and the stress tests, which
///   assert that it *does* lose updates.
#[derive(Debug)]
pub struct RacyRmw(Arc<Plain>);

/// Worker handle of [`RacyRmw`].
#[derive(Debug)]
pub struct RacyRmwHandle {
    shared: Arc<Plain>,
    worker: usize,
}

impl SyncStrategy for RacyRmw {
    type Handle = RacyRmwHandle;
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(RacyRmw(Plain::new(layout, None)))
    }
    fn traced(layout: Layout, tracer: Tracer) -> Result<Self, SetupError> {
        Ok(RacyRmw(Plain::new(layout, Some(tracer))))
    }
    fn handle(&self) -> RacyRmwHandle {
        RacyRmwHandle {
            worker: self.0.next_worker.fetch_add(1, Ordering::Relaxed),
            shared: self.0.clone(),
        }
    }
    fn counts(&self) -> Vec<u32> {
        self.0.counts()
    }
}

impl Recorder for RacyRmwHandle {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        let s = &*self.shared;
        let c = &s.counts[answer.slot as usize];
        // Relaxed is deliberate: the bug is the gap between the two steps,
        // and no memory ordering can close it.
        let v = step(
            &s.tracer,
            self.worker,
            answer.slot,
            Step::Read,
            false,
            || {
                let v = c.load(Ordering::Relaxed);
                (v, TraceOp::Read(v))
            },
        );
        work.run();
        step(
            &s.tracer,
            self.worker,
            answer.slot,
            Step::Write,
            false,
            || {
                c.store(v + 1, Ordering::Relaxed);
                ((), TraceOp::Write(v + 1))
            },
        );
        let ended = decided(&s.tracer, self.worker, answer.slot, v + 1 == s.players);
        Counted {
            ended,
            value: Some(v + 1),
        }
    }
}

/// `check-then-act`: atomic increment, then a separate read decides.
///
/// * **Guarantees:** the count is exact; the decision is not (duplicate ends).
/// * **Costs:** one `fetch_add` plus one load on the same cache line.
/// * **Scaling:** duplicates grow with the number of workers that finish a
///   room at nearly the same time (hot rooms, bursts).
/// * **Checked by:** loom (`check_then_act_is_caught`) and the stress tests.
#[derive(Debug)]
pub struct CheckThenAct(Arc<Plain>);

/// Worker handle of [`CheckThenAct`].
#[derive(Debug)]
pub struct CheckThenActHandle {
    shared: Arc<Plain>,
    worker: usize,
}

impl SyncStrategy for CheckThenAct {
    type Handle = CheckThenActHandle;
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(CheckThenAct(Plain::new(layout, None)))
    }
    fn traced(layout: Layout, tracer: Tracer) -> Result<Self, SetupError> {
        Ok(CheckThenAct(Plain::new(layout, Some(tracer))))
    }
    fn handle(&self) -> CheckThenActHandle {
        CheckThenActHandle {
            worker: self.0.next_worker.fetch_add(1, Ordering::Relaxed),
            shared: self.0.clone(),
        }
    }
    fn counts(&self) -> Vec<u32> {
        self.0.counts()
    }
}

impl Recorder for CheckThenActHandle {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        let s = &*self.shared;
        let c = &s.counts[answer.slot as usize];
        let after = step(
            &s.tracer,
            self.worker,
            answer.slot,
            Step::Increment,
            false,
            || {
                let after = c.fetch_add(1, Ordering::AcqRel) + 1;
                (after, TraceOp::Increment(after))
            },
        );
        // Scoring (saving the answer, say) happens between counting and
        // deciding: that gap is this race's window.
        work.run();
        // The bug: a second, separate read decides.
        let seen = step(
            &s.tracer,
            self.worker,
            answer.slot,
            Step::Check,
            false,
            || {
                let v = c.load(Ordering::Acquire);
                (v, TraceOp::Check(v))
            },
        );
        Counted {
            ended: decided(&s.tracer, self.worker, answer.slot, seen >= s.players),
            value: Some(after),
        }
    }
}

/// Shared state of [`AsyncRmw`]: plain `std` atomics, because async-rmw is
/// checked with shuttle (one OS thread), not loom.
#[derive(Debug)]
struct AsyncPlain {
    counts: Vec<std::sync::atomic::AtomicU32>,
    players: u32,
    tracer: Option<Tracer>,
    next_worker: std::sync::atomic::AtomicUsize,
}

/// `async-rmw`: read, `await` the scoring, write. Racy even on one thread.
///
/// * **Guarantees:** nothing once an `.await` sits between read and write.
/// * **Costs:** two map accesses plus the scoring await.
/// * **Scaling:** losses grow with tasks per room, not with threads.
/// * **Checked by:** shuttle on a single-threaded schedule
///   (`async_rmw_is_caught_single_threaded`) and the `tokio-current` stress test.
#[derive(Debug)]
pub struct AsyncRmw(std::sync::Arc<AsyncPlain>);

/// Worker handle of [`AsyncRmw`].
#[derive(Debug)]
pub struct AsyncRmwHandle {
    shared: std::sync::Arc<AsyncPlain>,
    worker: usize,
}

impl AsyncStrategy for AsyncRmw {
    type Handle = AsyncRmwHandle;
    async fn setup(layout: Layout, _env: &Env, tracer: Option<Tracer>) -> Result<Self, SetupError> {
        Ok(AsyncRmw(std::sync::Arc::new(AsyncPlain {
            counts: (0..layout.slots())
                .map(|_| std::sync::atomic::AtomicU32::new(0))
                .collect(),
            players: layout.players,
            tracer,
            next_worker: Default::default(),
        })))
    }
    async fn handle(&self) -> Result<AsyncRmwHandle, SetupError> {
        Ok(AsyncRmwHandle {
            worker: self
                .0
                .next_worker
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            shared: self.0.clone(),
        })
    }
    async fn counts(&self) -> Result<Vec<u32>, SetupError> {
        Ok(self
            .0
            .counts
            .iter()
            .map(|c| c.load(std::sync::atomic::Ordering::SeqCst))
            .collect())
    }
}

impl AsyncRecorder for AsyncRmwHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        use std::sync::atomic::Ordering::Relaxed;
        let s = &*self.shared;
        let c = &s.counts[answer.slot as usize];
        let v = step(
            &s.tracer,
            self.worker,
            answer.slot,
            Step::Read,
            true,
            || {
                let v = c.load(Relaxed);
                (v, TraceOp::Read(v))
            },
        );
        work.run_async().await; // other tasks run here and read the same `v`
        step(
            &s.tracer,
            self.worker,
            answer.slot,
            Step::Write,
            work.awaits(),
            || {
                c.store(v + 1, Relaxed);
                ((), TraceOp::Write(v + 1))
            },
        );
        let ended = decided(&s.tracer, self.worker, answer.slot, v + 1 == s.players);
        Outcome::Ok {
            ended,
            value: Some(v + 1),
        }
    }
}

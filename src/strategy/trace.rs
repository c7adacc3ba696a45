//! Step-by-step logs of what racy strategies did, for `quizrace explain`.
//!
//! A traced step runs *inside* the tracer's lock, so the log's order is the
//! real order in which the steps hit the counter. That does not hide the
//! race: the race lives *between* two steps (the read and the write), and
//! other workers still get in there.

use std::sync::{Arc, Mutex};

/// One operation a worker performed on a room-round counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceOp {
    /// Read the count.
    Read(u32),
    /// Wrote the count.
    Write(u32),
    /// Atomically incremented; the value after the increment.
    Increment(u32),
    /// Read the count to decide whether the round is complete.
    Check(u32),
    /// Decided to emit `endQuizTime`.
    Fire,
}

/// A logged operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// Position in the global order.
    pub seq: usize,
    /// Which worker (handle) did it.
    pub worker: usize,
    /// Which room-round counter.
    pub slot: u32,
    /// What it did.
    pub op: TraceOp,
}

/// A shared, ordered log of [`TraceEvent`]s.
#[derive(Clone, Debug, Default)]
pub struct Tracer {
    events: Arc<Mutex<Vec<TraceEvent>>>,
}

impl Tracer {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `step` and logs the operation it reports, atomically with respect
    /// to other traced steps.
    pub fn step<R>(&self, worker: usize, slot: u32, step: impl FnOnce() -> (R, TraceOp)) -> R {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let (r, op) = step();
        let seq = events.len();
        events.push(TraceEvent {
            seq,
            worker,
            slot,
            op,
        });
        r
    }

    /// Everything logged so far, in order.
    pub fn events(&self) -> Vec<TraceEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Runs `step`, logging it when a tracer is present. Untraced, this is just `step().0`.
#[inline(always)]
pub(crate) fn step<R>(
    tracer: &Option<Tracer>,
    worker: usize,
    slot: u32,
    step: impl FnOnce() -> (R, TraceOp),
) -> R {
    match tracer {
        None => step().0,
        Some(t) => t.step(worker, slot, step),
    }
}

/// Returns `ended`, logging the `endQuizTime` decision when it is `true`:
/// the shared tail of every traced record call.
#[inline(always)]
pub(crate) fn decided(tracer: &Option<Tracer>, worker: usize, slot: u32, ended: bool) -> bool {
    if ended {
        step(tracer, worker, slot, || ((), TraceOp::Fire));
    }
    ended
}

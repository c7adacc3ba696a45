//! Step-by-step logs of what strategies did, for `quizrace explain` and
//! `quizrace play`, and the gate that lets a scheduler choose their order.
//!
//! A traced step runs *inside* the tracer's lock, so the log's order is the
//! real order in which the steps hit the counter. That does not hide the
//! race: the race lives *between* two steps (the read and the write), and
//! other workers still get in there.
//!
//! With a [`Gate`] (see [`Tracer::gated`]) every worker stops before each
//! step and announces it; it takes the step only when a scheduler grants
//! it the turn. The code that runs is the strategy's own: the gate only
//! decides *when*. That is how `quizrace play` lets a player be the
//! scheduler and how `quizrace explain --seed` replays one interleaving.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
    /// Took the lock that guards the counter.
    Lock,
    /// Released it.
    Unlock,
    /// Ran a server-side script that counted the answer and decided in one
    /// step; `true` when it decided the round was complete.
    Script(bool),
}

impl TraceOp {
    /// The kind of step, without its value.
    pub fn step(self) -> Step {
        match self {
            TraceOp::Read(_) => Step::Read,
            TraceOp::Write(_) => Step::Write,
            TraceOp::Increment(_) => Step::Increment,
            TraceOp::Check(_) => Step::Check,
            TraceOp::Fire => Step::Fire,
            TraceOp::Lock => Step::Lock,
            TraceOp::Unlock => Step::Unlock,
            TraceOp::Script(_) => Step::Script,
        }
    }
}

impl std::fmt::Display for TraceOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            TraceOp::Read(v) => write!(f, "read  count = {v}"),
            TraceOp::Write(v) => write!(f, "write count = {v}"),
            TraceOp::Increment(v) => write!(f, "increment -> {v}"),
            TraceOp::Check(v) => write!(f, "check: count = {v}"),
            TraceOp::Fire => f.write_str("emit endQuizTime"),
            TraceOp::Lock => f.write_str("lock"),
            TraceOp::Unlock => f.write_str("unlock"),
            TraceOp::Script(true) => f.write_str("script: counted, round complete"),
            TraceOp::Script(false) => f.write_str("script: counted"),
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Read => "read the count",
            Step::Write => "write the count",
            Step::Increment => "increment atomically",
            Step::Check => "read the count to decide",
            Step::Fire => "emit endQuizTime",
            Step::Lock => "take the lock",
            Step::Unlock => "release the lock",
            Step::Script => "run the script (count + decide)",
        })
    }
}

/// The kind of a step a worker is about to take (its value is known only
/// once it ran).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Read the count.
    Read,
    /// Write the count.
    Write,
    /// Atomic increment.
    Increment,
    /// Read the count to decide.
    Check,
    /// Emit `endQuizTime`.
    Fire,
    /// Take the lock.
    Lock,
    /// Release the lock.
    Unlock,
    /// Run the server-side script.
    Script,
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

/// A shared, ordered log of [`TraceEvent`]s, optionally with a [`Gate`].
#[derive(Clone, Debug, Default)]
pub struct Tracer {
    events: Arc<Mutex<Vec<TraceEvent>>>,
    gate: Option<Arc<Gate>>,
    next_worker: Arc<AtomicUsize>,
}

impl Tracer {
    /// An empty log; workers run freely.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log whose `workers` workers each wait for their turn
    /// before every step.
    pub fn gated(workers: usize) -> Self {
        Tracer {
            gate: Some(Arc::new(Gate::new(workers))),
            ..Self::default()
        }
    }

    /// The gate, if the tracer has one.
    pub fn gate(&self) -> Option<&Arc<Gate>> {
        self.gate.as_ref()
    }

    /// A worker number for a strategy whose handles have none of their own:
    /// 0, 1, 2… in the order handles are made (across every strategy
    /// instance that shares this tracer).
    pub fn next_worker(&self) -> usize {
        self.next_worker.fetch_add(1, Ordering::Relaxed)
    }

    /// Waits for `worker`'s turn to take a step of kind `step` (no wait
    /// without a gate). `after_await`: the worker reaches this step after
    /// an `.await`, where a single-threaded executor may run another task.
    pub fn begin(&self, worker: usize, slot: u32, step: Step, after_await: bool) {
        if let Some(g) = &self.gate {
            g.arrive(
                worker,
                Pending {
                    step,
                    slot,
                    after_await,
                },
            );
        }
    }

    /// Runs `step` and logs the operation it reports, atomically with respect
    /// to other traced steps; with a gate, first waits for the turn (unless
    /// [`Tracer::begin`] already did) and gives it back afterwards.
    pub fn step<R>(
        &self,
        worker: usize,
        slot: u32,
        kind: Step,
        after_await: bool,
        step: impl FnOnce() -> (R, TraceOp),
    ) -> R {
        self.begin(worker, slot, kind, after_await);
        let r = {
            let mut events = lock(&self.events);
            let (r, op) = step();
            let seq = events.len();
            events.push(TraceEvent {
                seq,
                worker,
                slot,
                op,
            });
            r
        };
        if let Some(g) = &self.gate {
            g.leave(worker);
        }
        r
    }

    /// Everything logged so far, in order.
    pub fn events(&self) -> Vec<TraceEvent> {
        lock(&self.events).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a worker stopped at the gate is about to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The step.
    pub step: Step,
    /// The room-round it touches.
    pub slot: u32,
    /// Whether the worker reaches it after an `.await` (a point where a
    /// single-threaded executor may switch to another task).
    pub after_await: bool,
}

/// Where a gated worker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    /// Running code between steps (or not started yet).
    Running,
    /// Stopped before a step, waiting for its turn.
    Parked(Pending),
    /// Given the turn; taking the step.
    Granted,
    /// Its record call returned (or panicked).
    Done,
}

/// A token-passing gate: one worker at a time takes one step, when the
/// scheduler says so. Workers block on a condition variable, so the gate
/// works for threads and for async code that runs one task per thread.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<Vec<WorkerState>>,
    changed: Condvar,
}

/// A worker neither reached its next step nor finished in time: it is
/// blocked somewhere the gate cannot see (a lock the scheduler did not
/// know about, a server that does not answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("worker {worker} neither reached its next step nor finished within {}s", .waited.as_secs())]
pub struct Stuck {
    /// The worker.
    pub worker: usize,
    /// How long the scheduler waited.
    pub waited: Duration,
}

impl Gate {
    fn new(workers: usize) -> Self {
        Gate {
            state: Mutex::new(vec![WorkerState::Running; workers]),
            changed: Condvar::new(),
        }
    }

    fn arrive(&self, worker: usize, pending: Pending) {
        let mut st = lock(&self.state);
        if worker >= st.len() || st[worker] == WorkerState::Granted {
            return; // already holds the turn (a `begin` before this step)
        }
        st[worker] = WorkerState::Parked(pending);
        self.changed.notify_all();
        while st[worker] != WorkerState::Granted {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn leave(&self, worker: usize) {
        let mut st = lock(&self.state);
        if worker < st.len() {
            st[worker] = WorkerState::Running;
        }
        self.changed.notify_all();
    }

    /// Marks `worker` as finished: its record call returned.
    pub fn finish(&self, worker: usize) {
        let mut st = lock(&self.state);
        if worker < st.len() {
            st[worker] = WorkerState::Done;
        }
        self.changed.notify_all();
    }

    /// Waits until every worker is stopped before a step or done, and
    /// returns where each one is.
    pub fn settle(&self, timeout: Duration) -> Result<Vec<WorkerState>, Stuck> {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.state);
        loop {
            let busy = st
                .iter()
                .position(|s| matches!(s, WorkerState::Running | WorkerState::Granted));
            let Some(worker) = busy else {
                return Ok(st.clone());
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(Stuck {
                    worker,
                    waited: timeout,
                });
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Gives `worker` the turn to take the step it is stopped at. Returns
    /// `false` when it is not stopped at a step.
    pub fn grant(&self, worker: usize) -> bool {
        let mut st = lock(&self.state);
        match st.get(worker) {
            Some(WorkerState::Parked(_)) => {
                st[worker] = WorkerState::Granted;
                self.changed.notify_all();
                true
            }
            _ => false,
        }
    }
}

/// Runs `step`, logging it when a tracer is present. Untraced, this is just
/// `step().0`. `after_await` is as in [`Tracer::begin`].
#[inline(always)]
pub(crate) fn step<R>(
    tracer: &Option<Tracer>,
    worker: usize,
    slot: u32,
    kind: Step,
    after_await: bool,
    step: impl FnOnce() -> (R, TraceOp),
) -> R {
    match tracer {
        None => step().0,
        Some(t) => t.step(worker, slot, kind, after_await, step),
    }
}

/// Waits for the turn before a step whose work is an `.await` (a server
/// command): the step is logged afterwards with [`step`], which then does
/// not wait again.
#[inline(always)]
pub(crate) fn begin(tracer: &Option<Tracer>, worker: usize, slot: u32, kind: Step) {
    if let Some(t) = tracer {
        t.begin(worker, slot, kind, true);
    }
}

/// Returns `ended`, logging the `endQuizTime` decision when it is `true`:
/// the shared tail of every traced record call.
#[inline(always)]
pub(crate) fn decided(tracer: &Option<Tracer>, worker: usize, slot: u32, ended: bool) -> bool {
    if ended {
        step(tracer, worker, slot, Step::Fire, false, || {
            ((), TraceOp::Fire)
        });
    }
    ended
}

//! Scheduled runs: one room-round of a real strategy, each worker answering
//! once, with a scheduler (a player, or a seeded random choice) deciding
//! which worker takes its next step.
//!
//! The strategy's own code runs; a [`Gate`] in its tracer stops every
//! worker before each step (see [`crate::strategy::trace`]). What the
//! scheduler may choose follows the runtime:
//! - on threads, multi-thread tokio and processes, any worker stopped at a
//!   step may go (the OS or tokio may preempt anywhere);
//! - on `tokio-current` the tasks share one thread, so the running task
//!   keeps the thread until it reaches an `.await`; a synchronous
//!   strategy's record call has none, so it runs to the end;
//! - a worker stopped before taking a lock that another worker of the same
//!   process holds is blocked until it is released.
//!
//! `quizrace play` and `quizrace explain --seed` are built on [`run`].

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::sim::{self, SimError};
use crate::strategy::{
    AsyncRecorder, AsyncStrategy, Counted, Env, Gate, Layout, Outcome, Pending, Recorder, Runtime,
    ScoringWork, SetupError, Step, StrategyId, Stuck, SyncStrategy, TraceEvent, TraceOp, Tracer,
    Visitor, WorkerState,
};

/// How long a worker may take to reach its next step before the run is
/// declared stuck (a server that does not answer, a lock the scheduler
/// could not see).
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

pub use crate::strategy::catalogue::SCHEDULABLE;

/// Whether [`run`] can schedule `id`.
pub fn schedulable(id: StrategyId) -> bool {
    SCHEDULABLE.contains(&id)
}

/// The schedulable strategies' names, for messages.
pub fn schedulable_names() -> String {
    SCHEDULABLE
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The strategy.
    pub strategy: StrategyId,
    /// Workers, each answering once for its own player: also the number of
    /// players in the one room.
    pub workers: usize,
    /// Where the workers run (decides what the scheduler may choose).
    pub runtime: Runtime,
    /// The scoring work each worker does inside its record call.
    pub work: ScoringWork,
}

impl Setup {
    /// Whether every worker has a memory of its own (worker processes): a
    /// strategy instance per worker.
    pub fn separate(&self) -> bool {
        self.runtime == Runtime::Processes
    }

    /// One room, one round, a player per worker.
    pub fn layout(&self) -> Layout {
        Layout {
            rooms: 1,
            rounds: 1,
            players: self.workers as u32,
        }
    }
}

/// Why a worker cannot be chosen now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// Its record call returned.
    Finished,
    /// It waits for a lock that `holder` holds.
    Lock {
        /// The worker holding the lock.
        holder: usize,
    },
    /// The tasks share one thread and `running` has it until it awaits.
    Cooperative {
        /// The task holding the thread.
        running: usize,
    },
}

/// One worker as the scheduler sees it.
#[derive(Clone, Debug)]
pub struct WorkerView {
    /// The step it is stopped at, if any.
    pub next: Option<Pending>,
    /// Why it cannot go now (`None`: it can).
    pub blocked: Option<Blocked>,
    /// The last count it read (its local variable), if any.
    pub read: Option<u32>,
    /// Whether it holds its process's lock.
    pub holds_lock: bool,
    /// How many steps it took.
    pub steps: usize,
}

/// The state at a decision point.
#[derive(Clone, Debug)]
pub struct View {
    /// Every worker.
    pub workers: Vec<WorkerView>,
    /// Every step taken so far, in order.
    pub events: Vec<TraceEvent>,
    /// The count as the last write or increment left it, per memory (one
    /// per process when every worker has its own).
    pub counts: Vec<u32>,
}

impl View {
    /// The workers that may take a step now.
    pub fn enabled(&self) -> Vec<usize> {
        (0..self.workers.len())
            .filter(|&w| self.workers[w].blocked.is_none())
            .collect()
    }
}

/// What the scheduler decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Let this worker take its next step.
    Go(usize),
    /// Stop; the workers still waiting are released to the end in worker
    /// order, and the run is cleaned up.
    Quit,
}

/// How a scheduled run ended.
#[derive(Clone, Debug)]
pub struct Replay {
    /// Every step, in order.
    pub events: Vec<TraceEvent>,
    /// Each worker's record call: `Some(ended)` when its answer was
    /// counted, `None` when it failed or was left undecided.
    pub outcomes: Vec<Option<bool>>,
    /// The final count in each memory (one per process when every worker
    /// has its own; otherwise one).
    pub counts: Vec<u32>,
    /// Players in the room.
    pub players: u32,
    /// Whether the scheduler quit before the end.
    pub quit: bool,
}

impl Replay {
    /// How many times `endQuizTime` fired.
    pub fn fires(&self) -> usize {
        self.outcomes.iter().filter(|o| **o == Some(true)).count()
    }

    /// What went wrong, in a sentence each (empty: the round is correct).
    pub fn anomalies(&self) -> Vec<String> {
        let mut out = Vec::new();
        let counted = self.outcomes.iter().filter(|o| o.is_some()).count() as u32;
        if self.counts.len() == 1 && self.counts[0] < counted {
            out.push(format!(
                "lost update: {counted} answers counted, the counter says {}",
                self.counts[0]
            ));
        }
        if self.counts.len() > 1 && self.counts.iter().all(|&c| c < self.players) {
            out.push(format!(
                "partitioned: each process counted only its own answers ({})",
                self.counts
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
        match self.fires() {
            0 if !self.quit => out.push(format!(
                "missed end: all {} players answered, endQuizTime never fired: the room hangs",
                self.players
            )),
            0 | 1 => {}
            n => out.push(format!(
                "duplicate end: endQuizTime fired {n} times for one round"
            )),
        }
        out
    }
}

/// Runs `setup`, asking `choose` at every decision point. `choose` sees the
/// state and returns the worker to move; a choice of a worker that cannot
/// go is handed back to it with the reason (see [`Refused`]) until it
/// picks one that can.
pub fn run(
    setup: &Setup,
    env: &Env,
    choose: &mut dyn FnMut(&View, Option<Refused>) -> Choice,
) -> Result<Replay, SimError> {
    let id = setup.strategy;
    if !schedulable(id) {
        return Err(SimError::Setup(SetupError::Resource(format!(
            "{} cannot be scheduled step by step; these can: {}",
            id.name(),
            schedulable_names()
        ))));
    }
    if !id.supports(setup.runtime) {
        return Err(SimError::Setup(SetupError::Resource(format!(
            "{} does not run on {}",
            id.name(),
            setup.runtime
        ))));
    }
    if !(1..=8).contains(&setup.workers) {
        return Err(SimError::Setup(SetupError::Resource(format!(
            "a scheduled run has 1 to 8 workers, not {}",
            setup.workers
        ))));
    }
    sim::in_namespace(id, env, setup.layout(), |env| {
        id.visit(Start {
            setup,
            env,
            choose: &mut *choose,
        })
    })
}

/// A choice that could not be taken, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The worker chosen.
    pub worker: usize,
    /// Why it could not go (`None`: no such worker).
    pub why: Option<Blocked>,
}

struct Start<'a> {
    setup: &'a Setup,
    env: &'a Env,
    choose: &'a mut dyn FnMut(&View, Option<Refused>) -> Choice,
}

/// Marks a worker done when its thread ends, also by a panic.
struct Finish(Arc<Gate>, usize);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.finish(self.1);
    }
}

impl Visitor for Start<'_> {
    type Output = Result<Replay, SimError>;

    fn visit_sync<S: SyncStrategy>(self, _id: StrategyId) -> Self::Output {
        let setup = self.setup;
        let layout = setup.layout();
        let tracer = Tracer::gated(setup.workers);
        let gate = tracer.gate().expect("gated").clone();
        let instances: Vec<S> = (0..if setup.separate() { setup.workers } else { 1 })
            .map(|_| S::traced(layout, tracer.clone()))
            .collect::<Result<_, _>>()?;
        let handles: Vec<S::Handle> = (0..setup.workers)
            .map(|w| instances[if setup.separate() { w } else { 0 }].handle())
            .collect();
        let work = setup.work;
        let outcomes = thread::scope(|scope| {
            let joins: Vec<_> = handles
                .into_iter()
                .enumerate()
                .map(|(w, mut h)| {
                    let finish = Finish(gate.clone(), w);
                    scope.spawn(move || {
                        let _finish = finish;
                        let Counted { ended, .. } = h.record(layout.answer(0, 0, w as u32), &work);
                        ended
                    })
                })
                .collect();
            let quit = drive(setup, false, &tracer, &gate, self.choose);
            let outcomes: Vec<Option<bool>> = joins.into_iter().map(|j| j.join().ok()).collect();
            quit.map(|q| (q, outcomes))
        });
        let (quit, outcomes) = outcomes?;
        Ok(Replay {
            events: tracer.events(),
            outcomes,
            counts: instances.iter().map(|s| s.counts()[0]).collect(),
            players: layout.players,
            quit,
        })
    }

    fn visit_async<S: AsyncStrategy>(self, id: StrategyId) -> Self::Output {
        let setup = self.setup;
        let layout = setup.layout();
        let tracer = Tracer::gated(setup.workers);
        let gate = tracer.gate().expect("gated").clone();
        // One runtime thread drives the connections; each worker polls its
        // record call on a thread of its own, so a worker stopped at the
        // gate blocks nobody else.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| SetupError::Resource(format!("cannot start a tokio runtime: {e}")))?;
        let instances: Vec<S> = (0..if setup.separate() { setup.workers } else { 1 })
            .map(|_| rt.block_on(S::setup(layout, self.env, Some(tracer.clone()))))
            .collect::<Result<_, _>>()?;
        let handles: Vec<S::Handle> = (0..setup.workers)
            .map(|w| rt.block_on(instances[if setup.separate() { w } else { 0 }].handle()))
            .collect::<Result<_, _>>()?;
        let work = setup.work;
        let outcomes = thread::scope(|scope| {
            let joins: Vec<_> = handles
                .into_iter()
                .enumerate()
                .map(|(w, mut h)| {
                    let finish = Finish(gate.clone(), w);
                    let rt = rt.handle().clone();
                    scope.spawn(move || {
                        let _finish = finish;
                        match rt.block_on(h.record(layout.answer(0, 0, w as u32), &work)) {
                            Outcome::Ok { ended, .. } => Some(ended),
                            Outcome::Failed | Outcome::Unknown => None,
                        }
                    })
                })
                .collect();
            let quit = drive(setup, true, &tracer, &gate, self.choose);
            let outcomes: Vec<Option<bool>> =
                joins.into_iter().map(|j| j.join().ok().flatten()).collect();
            quit.map(|q| (q, outcomes))
        });
        let (quit, outcomes) = outcomes?;
        let mut counts = Vec::new();
        for s in &instances {
            counts.push(rt.block_on(s.counts())?[0]);
        }
        if outcomes.iter().any(Option::is_none) && !quit {
            return Err(SimError::Setup(SetupError::Backend(format!(
                "{}: the server did not acknowledge an answer (refused or timed out): is it \
                 running?",
                id.name()
            ))));
        }
        Ok(Replay {
            events: tracer.events(),
            outcomes,
            // Every instance shares the server: one count.
            counts: counts.into_iter().take(1).collect(),
            players: layout.players,
            quit,
        })
    }
}

/// The scheduling loop: settle, ask, grant, until every worker is done.
/// Returns whether the scheduler quit. On every exit (also an error) every
/// worker is released so that the threads end.
fn drive(
    setup: &Setup,
    is_async: bool,
    tracer: &Tracer,
    gate: &Gate,
    choose: &mut dyn FnMut(&View, Option<Refused>) -> Choice,
) -> Result<bool, SimError> {
    let mut current: Option<usize> = None;
    let mut quit = false;
    let result = loop {
        let states = match gate.settle(STEP_TIMEOUT) {
            Ok(s) => s,
            Err(stuck) => break Err(stuck_error(setup, stuck)),
        };
        if states.iter().all(|s| *s == WorkerState::Done) {
            break Ok(quit);
        }
        let view = view(setup, is_async, tracer, &states, current);
        if quit {
            // Release the rest: the first worker that may go, each time.
            let Some(&w) = view.enabled().first() else {
                break Err(stuck_error(
                    setup,
                    Stuck {
                        worker: 0,
                        waited: Duration::ZERO,
                    },
                ));
            };
            gate.grant(w);
            current = Some(w);
            continue;
        }
        let mut refused = None;
        let w = loop {
            match choose(&view, refused.take()) {
                Choice::Quit => break None,
                Choice::Go(w) => match view.workers.get(w) {
                    Some(wv) if wv.blocked.is_none() => break Some(w),
                    Some(wv) => {
                        refused = Some(Refused {
                            worker: w,
                            why: wv.blocked.clone(),
                        })
                    }
                    None => {
                        refused = Some(Refused {
                            worker: w,
                            why: None,
                        })
                    }
                },
            }
        };
        match w {
            Some(w) => {
                gate.grant(w);
                current = Some(w);
            }
            None => quit = true,
        }
    };
    if result.is_err() {
        // Let every parked worker run free so that the scope can end.
        release_all(gate);
    }
    result
}

fn release_all(gate: &Gate) {
    for _ in 0..10_000 {
        let Ok(states) = gate.settle(STEP_TIMEOUT) else {
            return;
        };
        // A worker about to take a lock goes last: the holder must get to
        // its unlock first.
        let parked = |lock: bool| {
            states
                .iter()
                .position(|s| matches!(s, WorkerState::Parked(p) if (p.step == Step::Lock) == lock))
        };
        match parked(false).or_else(|| parked(true)) {
            Some(w) => {
                gate.grant(w);
            }
            None => return,
        }
    }
}

fn stuck_error(setup: &Setup, stuck: Stuck) -> SimError {
    SimError::Setup(SetupError::Backend(format!(
        "{}: {stuck} (is the server answering?)",
        setup.strategy.name()
    )))
}

/// What the scheduler sees, computed from the gate and the log.
fn view(
    setup: &Setup,
    is_async: bool,
    tracer: &Tracer,
    states: &[WorkerState],
    current: Option<usize>,
) -> View {
    let events = tracer.events();
    let n = states.len();
    let mut read = vec![None; n];
    let mut locks = vec![0i32; n];
    let mut steps = vec![0usize; n];
    let memories = if setup.separate() { n } else { 1 };
    let mut counts = vec![0u32; memories];
    for e in &events {
        let w = e.worker.min(n - 1);
        steps[w] += 1;
        let memory = if setup.separate() { w } else { 0 };
        match e.op {
            TraceOp::Read(v) | TraceOp::Check(v) => read[w] = Some(v),
            TraceOp::Write(v) | TraceOp::Increment(v) => {
                counts[memory] = v;
                if let TraceOp::Increment(v) = e.op {
                    read[w] = Some(v);
                }
            }
            TraceOp::Lock => locks[w] += 1,
            TraceOp::Unlock => locks[w] -= 1,
            TraceOp::Script(_) => counts[memory] += 1,
            TraceOp::Fire => {}
        }
    }
    let holder = if setup.separate() {
        None
    } else {
        (0..n).find(|&w| locks[w] > 0)
    };
    // One thread for all tasks: the running one keeps it until it awaits.
    let cooperative = setup.runtime == Runtime::TokioCurrent;
    let running = current.filter(|&c| {
        cooperative
            && match states[c] {
                WorkerState::Parked(p) => !(is_async && p.after_await),
                _ => false,
            }
    });
    let workers = (0..n)
        .map(|w| {
            let next = match states[w] {
                WorkerState::Parked(p) => Some(p),
                _ => None,
            };
            let blocked = match next {
                None => Some(Blocked::Finished),
                Some(_) if running.is_some_and(|r| r != w) => Some(Blocked::Cooperative {
                    running: running.unwrap_or(w),
                }),
                Some(p) if p.step == Step::Lock && holder.is_some_and(|h| h != w) => {
                    Some(Blocked::Lock {
                        holder: holder.unwrap_or(w),
                    })
                }
                Some(_) => None,
            };
            WorkerView {
                next,
                blocked,
                read: read[w],
                holds_lock: locks[w] > 0,
                steps: steps[w],
            }
        })
        .collect();
    View {
        workers,
        events,
        counts,
    }
}

/// A seeded scheduler: at every decision point, one of the workers that may
/// go, chosen by a small deterministic generator (SplitMix64). The same
/// seed gives the same interleaving on every machine.
#[derive(Clone, Debug)]
pub struct Seeded(u64);

impl Seeded {
    /// A scheduler for `seed`.
    pub fn new(seed: u64) -> Self {
        Seeded(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// One of `among` (`None` when it is empty).
    pub fn pick(&mut self, among: &[usize]) -> Option<usize> {
        if among.is_empty() {
            return None;
        }
        Some(among[(self.next() % among.len() as u64) as usize])
    }

    /// Chooses among the workers `view` allows.
    pub fn choose(&mut self, view: &View) -> Choice {
        let enabled = view.enabled();
        if enabled.is_empty() {
            return Choice::Quit;
        }
        Choice::Go(enabled[(self.next() % enabled.len() as u64) as usize])
    }
}

/// Every complete schedule of `setup`, by depth-first search over the
/// choices (each prefix replayed from the start on fresh state). Stops
/// after `limit` schedules and says so with `false`.
pub fn enumerate(
    setup: &Setup,
    env: &Env,
    limit: usize,
    mut each: impl FnMut(&[usize], &Replay),
) -> Result<bool, SimError> {
    // Stack of prefixes still to explore.
    let mut stack: Vec<Vec<usize>> = vec![Vec::new()];
    let mut done = 0;
    while let Some(prefix) = stack.pop() {
        let mut taken = Vec::new();
        let mut branches: Vec<Vec<usize>> = Vec::new();
        let replay = run(setup, env, &mut |view, _| {
            let enabled = view.enabled();
            let pick = match prefix.get(taken.len()) {
                Some(&w) => w,
                None => {
                    // A new decision point: explore the others later.
                    for &other in enabled.iter().skip(1) {
                        let mut b = taken.clone();
                        b.push(other);
                        branches.push(b);
                    }
                    enabled[0]
                }
            };
            taken.push(pick);
            Choice::Go(pick)
        })?;
        each(&taken, &replay);
        done += 1;
        stack.extend(branches.into_iter().rev());
        if done >= limit && !stack.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Which worker took each step, as a move list (`1,2,1,2`: workers
/// counted from 1, as the player sees them). Every grant logs one step.
pub fn moves(replay: &Replay) -> String {
    replay
        .events
        .iter()
        .map(|e| (e.worker + 1).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The steps as lanes, one column per worker, one row per step, in the
/// order they happened: the interleaving at a glance. Rows in `marked`
/// (indices into `events`) end with `<--`.
pub fn lanes(events: &[TraceEvent], workers: usize, marked: &[usize]) -> String {
    lanes_inner(events, workers, marked, &[])
}

/// [`lanes`] with notes: `(before, worker, text)` puts `text` in `worker`'s
/// column, on a row of its own before step `before` (an index into
/// `events`; `events.len()` for after the last).
pub fn lanes_with_notes(
    events: &[TraceEvent],
    workers: usize,
    notes: &[(usize, usize, String)],
) -> String {
    lanes_inner(events, workers, &[], notes)
}

fn lanes_inner(
    events: &[TraceEvent],
    workers: usize,
    marked: &[usize],
    notes: &[(usize, usize, String)],
) -> String {
    let width = events
        .iter()
        .map(|e| e.op.to_string().len())
        .max()
        .unwrap_or(0)
        .max("worker 9".len())
        .max(notes.iter().map(|n| n.2.len()).max().unwrap_or(0))
        + 2;
    let mut out = String::from("  step  ");
    for w in 0..workers {
        out.push_str(&format!("{:<width$}", format!("worker {}", w + 1)));
    }
    let mut rows = vec![out.trim_end().to_string()];
    let note_rows = |at: usize, rows: &mut Vec<String>| {
        for (_, w, text) in notes.iter().filter(|n| n.0 == at) {
            let row = format!(
                "        {}{text}",
                " ".repeat(width * (*w).min(workers.saturating_sub(1)))
            );
            rows.push(row.trim_end().to_string());
        }
    };
    for (i, e) in events.iter().enumerate() {
        note_rows(i, &mut rows);
        let mut row = format!("  {:>4}  ", i + 1);
        row.push_str(&" ".repeat(width * e.worker.min(workers.saturating_sub(1))));
        row.push_str(&e.op.to_string());
        if marked.contains(&i) {
            let pad = (8 + width * workers).saturating_sub(row.len());
            row.push_str(&" ".repeat(pad));
            row.push_str("<--");
        }
        rows.push(row.trim_end().to_string());
    }
    note_rows(events.len(), &mut rows);
    rows.join("\n")
}

//! Scoring-counter strategies: the plug-in interface. The strategies
//! themselves are listed in [`catalogue`].
//!
//! A strategy is one implementation of the story's `scoringMap[gameId]`
//! counter. It plugs in through a trait pair, in the style of bustle's
//! `Collection`/`CollectionHandle`:
//!
//! * set-up ([`SyncStrategy::new`], [`AsyncStrategy::setup`]) allocates the
//!   map (or connects to its server) **outside** the timed region, and hands every
//!   worker its own handle ([`SyncStrategy::handle`]);
//! * the handle's `record` call is the only thing the hot loop touches: it
//!   counts one answer and returns whether *this call* completed the round,
//!   i.e. whether it is the one that emits `endQuizTime`.
//!
//! Synchronous strategies run on plain OS threads with no async machinery;
//! asynchronous ones (those that `await` while scoring, or talk to a server)
//! run on tokio. The simulator never names a concrete strategy type: names map to
//! types in exactly one place, the [`catalogue`] ([`StrategyId::visit`]).
//!
//! Where scoring work goes is part of each strategy's design (the catalogue
//! lists which family does what): *read–score–write* strategies read the
//! count, do the scoring work, then write, so in the racy ones the work is
//! the race window and the locking ones hold their lock across it;
//! *score-then-count* strategies score first and then count with one
//! indivisible step ([`SyncStrategy::SCORES_FIRST`]).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;

pub mod actor;
pub mod atomics;
pub mod catalogue;
pub mod locks;
pub mod racy;
pub mod semaphore;
pub mod snapshot;
pub mod trace;

pub use catalogue::StrategyId;
pub use trace::{Gate, Pending, Step, Stuck, TraceEvent, TraceOp, Tracer, WorkerState};

use crate::backend::Family;

/// One answer: which room-round it counts towards, and who gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Answer {
    /// Room (the story's `gameId`).
    pub room: u32,
    /// Question number inside the room.
    pub round: u32,
    /// Player id inside the room (`0..players`).
    pub player: u32,
    /// Dense index of the room-round, `room * rounds + round` (see [`Layout::slot`]).
    pub slot: u32,
}

/// The shape of a game, known when a strategy is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Number of rooms.
    pub rooms: u32,
    /// Questions per room.
    pub rounds: u32,
    /// Players per room: a round completes when this many answers are counted.
    pub players: u32,
}

impl Layout {
    /// Number of room-rounds, i.e. of independent counters.
    pub fn slots(&self) -> usize {
        self.rooms as usize * self.rounds as usize
    }

    /// Dense index of a room-round.
    pub fn slot(&self, room: u32, round: u32) -> u32 {
        room * self.rounds + round
    }

    /// Builds the [`Answer`] of `player` in `room`, `round`.
    pub fn answer(&self, room: u32, round: u32, player: u32) -> Answer {
        Answer {
            room,
            round,
            player,
            slot: self.slot(room, round),
        }
    }
}

/// Simulated scoring work done while an answer is being recorded.
///
/// In read–score–write strategies this is the gap between the read and the
/// write, i.e. the race window; `Sleep` is what an `await` on a database call
/// looks like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoringWork {
    /// No work: the window is as short as the code allows.
    #[default]
    None,
    /// Give up the time slice (`thread::yield_now`, or one `Pending` in async code).
    Yield,
    /// Busy-wait this many `spin_loop` hints.
    Spin(u32),
    /// Sleep (`thread::sleep`, or `tokio::time::sleep` in async code).
    Sleep(Duration),
}

impl ScoringWork {
    /// Does the work on the current thread.
    pub fn run(&self) {
        match *self {
            ScoringWork::None => {}
            ScoringWork::Yield => crate::sync::yield_now(),
            ScoringWork::Spin(n) => {
                for _ in 0..n {
                    std::hint::spin_loop();
                }
            }
            ScoringWork::Sleep(d) => std::thread::sleep(d),
        }
    }

    /// Whether [`ScoringWork::run_async`] suspends the task (an `.await`
    /// where a single-threaded executor runs other tasks): `yield` and
    /// `sleep` do, `none` and `spin` do not.
    pub fn awaits(&self) -> bool {
        matches!(self, ScoringWork::Yield | ScoringWork::Sleep(_))
    }

    /// Does the work in async code: yields to the executor or sleeps on its timer.
    ///
    /// `Yield` uses [`yield_now`] and works under any executor (tokio or
    /// shuttle); `Sleep` needs a tokio runtime with the timer enabled.
    pub async fn run_async(&self) {
        match *self {
            ScoringWork::None => {}
            ScoringWork::Yield => yield_now().await,
            ScoringWork::Spin(n) => {
                for _ in 0..n {
                    std::hint::spin_loop();
                }
            }
            ScoringWork::Sleep(d) => sleep_precise(d).await,
        }
    }
}

/// Sleeps for `d` in async code with microsecond precision.
///
/// tokio's timer wheel has 1 ms granularity, so `tokio::time::sleep(50 µs)`
/// takes about a millisecond. Sleep on the timer for all but the last
/// millisecond, then yield to the executor until the deadline: the task
/// still suspends (other tasks run, which is what makes the race), and the
/// delay is what was asked for.
pub async fn sleep_precise(d: Duration) {
    let deadline = std::time::Instant::now() + d;
    if d > Duration::from_millis(2) {
        tokio::time::sleep(d - Duration::from_millis(1)).await;
    }
    while std::time::Instant::now() < deadline {
        yield_now().await;
    }
}

impl fmt::Display for ScoringWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScoringWork::None => f.write_str("none"),
            ScoringWork::Yield => f.write_str("yield"),
            ScoringWork::Spin(n) => write!(f, "spin:{n}"),
            ScoringWork::Sleep(d) => write!(f, "sleep:{}us", d.as_micros()),
        }
    }
}

/// Returns `Pending` once, waking itself: the smallest possible `await` point.
///
/// Executor-agnostic (unlike `tokio::task::yield_now`), so the same strategy
/// code runs under tokio and under shuttle's model checker.
pub fn yield_now() -> impl Future<Output = ()> {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.0 {
                std::task::Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }
    }
    YieldNow(false)
}

/// What one record call did to its room-round's counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counted {
    /// Whether this call completed the round (the caller emits
    /// `endQuizTime`).
    pub ended: bool,
    /// The count this call produced: the value its increment returned, or
    /// the value its read–write wrote. The history checker
    /// ([`crate::history`]) needs it; `None` for strategies that decide
    /// from something else (a flag from a script, a semaphore, a reply).
    pub value: Option<u32>,
}

impl Counted {
    /// A call that left the count at `value`, ending the round when that is
    /// the number of `players`.
    #[inline]
    pub fn at(value: u32, players: u32) -> Counted {
        Counted {
            ended: value == players,
            value: Some(value),
        }
    }

    /// A call whose decision comes without a count.
    #[inline]
    pub fn decided(ended: bool) -> Counted {
        Counted { ended, value: None }
    }
}

/// A worker's handle on a synchronous strategy.
pub trait Recorder: Send + 'static {
    /// Records one answer: whether this call completed the round, and the
    /// count it produced.
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted;
}

/// A strategy whose record call never blocks on I/O: it runs on OS threads.
pub trait SyncStrategy: Send + Sync + Sized + 'static {
    /// Per-worker handle used in the hot loop.
    type Handle: Recorder;
    /// Whether the strategy does all its scoring work before it touches
    /// shared state (score-then-count). On async runtimes the simulator then
    /// awaits that work instead of blocking the executor thread with it;
    /// read–score–write strategies must do it inside, on the thread.
    const SCORES_FIRST: bool = false;
    /// Allocates the counters for `layout` (and starts any thread it owns).
    fn new(layout: Layout) -> Result<Self, SetupError>;
    /// Like [`SyncStrategy::new`], but logs every step to `tracer`
    /// (used by `quizrace explain`). Strategies without interesting steps
    /// ignore the tracer.
    fn traced(layout: Layout, tracer: Tracer) -> Result<Self, SetupError> {
        let _ = tracer;
        Self::new(layout)
    }
    /// A new worker handle. Called before timing starts.
    fn handle(&self) -> Self::Handle;
    /// Final value of every room-round counter, indexed by slot.
    fn counts(&self) -> Vec<u32>;
    /// The `endQuizTime`s the strategy emitted itself rather than through a
    /// worker's record call (an owner thread that announces the end):
    /// (slot, time on [`crate::sim::stamp`]'s axis). Read after the run.
    fn fires(&self) -> Vec<(u32, u64)> {
        Vec::new()
    }
}

/// What happened to one asynchronous record call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The answer was counted; `ended` is this call's `endQuizTime` decision.
    Ok {
        /// Whether this call completed the round.
        ended: bool,
        /// The count it produced, where the strategy has one
        /// ([`Counted::value`]).
        value: Option<u32>,
    },
    /// The answer was definitely not counted (e.g. connection refused).
    Failed,
    /// It is unknown whether the answer was counted (e.g. a timeout after sending).
    Unknown,
}

/// A worker's handle on an asynchronous strategy.
pub trait AsyncRecorder: Send + 'static {
    /// Records one answer.
    fn record(
        &mut self,
        answer: Answer,
        work: &ScoringWork,
    ) -> impl Future<Output = Outcome> + Send;

    /// Client-side retries this handle performed so far (timeouts, `WATCH`
    /// conflicts); reported in the results.
    fn retries(&self) -> u64 {
        0
    }
}

/// A strategy whose record call awaits (scoring I/O, an async lock, a server).
pub trait AsyncStrategy: Send + Sync + Sized + 'static {
    /// Per-worker handle used in the hot loop.
    type Handle: AsyncRecorder;
    /// Allocates or connects. Runs before timing starts.
    fn setup(
        layout: Layout,
        env: &Env,
        tracer: Option<Tracer>,
    ) -> impl Future<Output = Result<Self, SetupError>> + Send;
    /// A new worker handle. Called before timing starts.
    fn handle(&self) -> impl Future<Output = Result<Self::Handle, SetupError>> + Send;
    /// Final value of every room-round counter, indexed by slot. For a
    /// strategy whose state lives on a back end, the simulator calls this on
    /// a fresh set-up in the same namespace after the workers are done
    /// (worker processes never read shared counts themselves).
    fn counts(&self) -> impl Future<Output = Result<Vec<u32>, SetupError>> + Send;
}

pub use crate::backend::Env;

/// A strategy could not be set up (or read back).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The strategy needs a back end the run has not configured.
    #[error("strategy `{strategy}` needs {}: {}", family.display, family.how_to_configure())]
    NoBackend {
        /// The strategy.
        strategy: &'static str,
        /// The family it needs.
        family: &'static Family,
    },
    /// The operating system refused a resource (e.g. a thread).
    #[error("{0}")]
    Resource(String),
    /// A back-end operation failed; the message says what and how to fix it.
    #[error("{0}")]
    Backend(String),
}

/// Whether a strategy is expected to keep the invariants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Exists to reproduce a race; anomalies are the expected result.
    Racy,
    /// Correct inside one process, broken across processes (`local-map`).
    RacyAcrossProcesses,
    /// Must keep every invariant; an anomaly is a bug (`--check` fails).
    Correct,
}

impl Kind {
    /// The kebab-case name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Racy => "racy",
            Kind::RacyAcrossProcesses => "racy-across-processes",
            Kind::Correct => "correct",
        }
    }
}

/// Where workers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    /// Barrier-started OS threads.
    Threads,
    /// Tasks on tokio's multi-thread runtime; a Redis strategy runs
    /// thread-per-core instead (a current-thread runtime, set-up and
    /// connection per core thread; see `sim::tokio_rt`).
    Tokio,
    /// Tasks on one thread: concurrency without parallelism.
    TokioCurrent,
    /// Real child processes of quizrace, each with its own memory.
    Processes,
}

impl Runtime {
    /// Every runtime, in display order.
    pub const ALL: [Runtime; 4] = [
        Runtime::Threads,
        Runtime::Tokio,
        Runtime::TokioCurrent,
        Runtime::Processes,
    ];

    /// The kebab-case name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Threads => "threads",
            Runtime::Tokio => "tokio",
            Runtime::TokioCurrent => "tokio-current",
            Runtime::Processes => "processes",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Static facts about one strategy, kept in the catalogue
/// ([`catalogue`]): the only place where strategy names appear.
#[derive(Debug)]
pub struct Info {
    /// Stable kebab-case name.
    pub name: &'static str,
    /// Racy or correct.
    pub kind: Kind,
    /// Synchronous (runs on threads) or asynchronous (awaits).
    pub mode: Mode,
    /// Runtimes it can run on.
    pub runtimes: &'static [Runtime],
    /// The back end it keeps its state on, if not this process's memory.
    pub backend: Option<&'static Family>,
    /// Whether its guarantee survives client retries after timeouts.
    pub under_retries: UnderRetries,
    /// Where an acknowledged answer lives when it is acknowledged: what a
    /// failover of the back end's primary does to it.
    pub replication: Replication,
    /// Where it is checked (`docs/catalogue.md` lists the same).
    pub proven_by: &'static [Proof],
    /// How `quizrace explain` shows it.
    pub demo: Demo,
    /// For a racy strategy: what widens its race window when the race did
    /// not show (printed under a `not reproduced` result).
    pub widen: &'static str,
    /// One line for `quizrace list`.
    pub description: &'static str,
    /// Several paragraphs for `quizrace explain`: mechanism, safety, cost.
    pub explanation: &'static str,
}

/// Whether a strategy's record call blocks on nothing (runs on threads)
/// or awaits (runs on tokio).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A [`SyncStrategy`].
    Sync,
    /// An [`AsyncStrategy`].
    Async,
}

/// What client retries after a timeout do to a strategy's guarantee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnderRetries {
    /// No client, no retries (in-process state), or racy anyway.
    NotApplicable,
    /// Idempotent: a repeated call changes nothing, so it stays exact.
    Exact,
    /// Not idempotent: a retried call that had landed counts twice, so its
    /// anomalies are expected when retries are on.
    MayDoubleCount,
}

/// Where an answer lives when a strategy acknowledges it, as far as a
/// failover is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replication {
    /// In this process, or in a durable store that has no failover here.
    NotApplicable,
    /// On the primary alone (asynchronous replication): the promotion of a
    /// replica that had not received it loses it, so a failover's lost
    /// answers are expected.
    PrimaryOnly,
    /// On a replica too (`WAIT`): acknowledged answers survive its
    /// promotion. Needs a primary with a replica.
    WaitsForReplica,
}

/// Where a strategy's correctness (or its race) is established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    /// Every interleaving explored by loom (`tests/loom.rs`).
    Loom,
    /// Seeded schedules explored by shuttle (`tests/shuttle.rs`).
    Shuttle,
    /// Stress runs on real threads and tasks (`tests/stress.rs`).
    Stress,
    /// Runs against a real server, faults included (`tests/redis.rs`).
    Integration,
}

impl Proof {
    /// The short name used in docs and `list`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proof::Loom => "loom",
            Proof::Shuttle => "shuttle",
            Proof::Stress => "stress",
            Proof::Integration => "integration",
        }
    }
}

/// How `quizrace explain` demonstrates a strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Demo {
    /// A traced short run on two workers, searched for the interleaving
    /// that breaks an invariant.
    Trace,
    /// A run on two worker processes, showing what each one counted.
    Partition,
    /// A confirming run of a correct strategy.
    Confirm,
}

/// Receives the concrete type behind a [`StrategyId`] (see [`StrategyId::visit`]).
pub trait Visitor {
    /// What the visit produces.
    type Output;
    /// Called for synchronous strategies.
    fn visit_sync<S: SyncStrategy>(self, id: StrategyId) -> Self::Output;
    /// Called for asynchronous strategies.
    fn visit_async<S: AsyncStrategy>(self, id: StrategyId) -> Self::Output;
}

impl StrategyId {
    /// The stable name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Looks a name up; the error lists valid names and the nearest one.
    pub fn from_name(name: &str) -> Result<StrategyId, UnknownStrategy> {
        StrategyId::ALL
            .iter()
            .copied()
            .find(|s| s.name() == name)
            .ok_or_else(|| UnknownStrategy {
                name: name.to_string(),
                nearest: nearest(name, StrategyId::ALL.iter().map(|s| s.name())),
            })
    }

    /// Whether the strategy can run on `runtime`.
    pub fn supports(self, runtime: Runtime) -> bool {
        self.info().runtimes.contains(&runtime)
    }

    /// Whether its state lives on a back end (shared by every process)
    /// rather than in one process's memory.
    pub fn networked(self) -> bool {
        self.info().backend.is_some()
    }
}

impl fmt::Display for StrategyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A strategy name that is not in the catalogue.
#[derive(Debug, thiserror::Error)]
#[error("unknown strategy `{name}`{}; valid names: {}",
    nearest.map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default(),
    StrategyId::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownStrategy {
    /// What was asked for.
    pub name: String,
    /// The closest valid name, if any is close.
    pub nearest: Option<&'static str>,
}

/// The candidate with the smallest edit distance to `input`, if it is close.
pub fn nearest<'a>(input: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (levenshtein(input, c), c))
        .filter(|(d, c)| *d <= (c.len().max(input.len()) / 2).max(2) || c.contains(input))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for s in StrategyId::ALL {
            assert_eq!(StrategyId::from_name(s.name()).unwrap(), *s);
        }
        let mut names: Vec<_> = StrategyId::ALL.iter().map(|s| s.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), StrategyId::ALL.len());
    }

    #[test]
    fn unknown_name_suggests_nearest() {
        let e = StrategyId::from_name("atomc").unwrap_err();
        assert_eq!(e.nearest, Some("atomic"));
        assert!(e.to_string().contains("std-mutex"));
        let e = StrategyId::from_name("std_mutex").unwrap_err();
        assert_eq!(e.nearest, Some("std-mutex"));
    }
}

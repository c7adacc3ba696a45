//! The simulator: plays quiz rooms with concurrent workers, then checks the
//! strategy against ground truth.
//!
//! Stages, each in its own module (measure, record, analyse; ARCHITECTURE.md):
//!
//! * [`workload`]: seeded plans of who answers what, built before timing;
//! * `threads`, `tokio_rt`, `process`: the runtimes that execute plans and
//!   time every record call into per-worker histograms;
//! * [`check`]: compares the strategy's counts and decisions with the
//!   simulator's own ground truth and counts the anomalies.
//!
//! Nothing here prints: progress is an atomic counter the CLI polls.

mod barrier;
pub mod check;
pub mod process;
mod threads;
mod tokio_rt;
pub mod workload;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
#[cfg(not(unix))]
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::metrics::{Buckets, Recorder as Latency};
use crate::result::{Outcomes, StrategyResult};
use crate::strategy::{redis, Env, Kind, Runtime, SetupError, StrategyId};
pub use workload::{Balance, Workload};

/// Hard limits on sizes, so a typo cannot exhaust memory; each says why.
pub mod limits {
    /// Rooms: 10 million room counters fit comfortably in memory.
    pub const MAX_ROOMS: u32 = 10_000_000;
    /// Players per room: a room is a game, not a stadium.
    pub const MAX_PLAYERS: u32 = 100_000;
    /// Rounds: questions per game.
    pub const MAX_ROUNDS: u32 = 10_000;
    /// Total answers of one run (a hard cap; memory is checked separately by
    /// [`super::Workload::estimated_bytes`]).
    pub const MAX_ANSWERS: u64 = 200_000_000;
    /// Bytes per planned answer: its plan entry (24), submission time and
    /// outcome (9), and slack for vectors that grow by doubling.
    pub const BYTES_PER_ANSWER: u64 = 48;
    /// Bytes per room-round: a padded counter (128), the merged observations
    /// (36), the checker's arrays (16) and slack.
    pub const BYTES_PER_SLOT: u64 = 200;
    /// Workers per process.
    pub const MAX_WORKERS: u32 = 100_000;
    /// OS threads: beyond this the OS, not the strategy, is measured.
    pub const MAX_THREADS: u32 = 1_024;
    /// Child processes.
    pub const MAX_PROCESSES: u32 = 64;
}

/// Options that are not part of the workload.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Redis and other outside settings.
    pub env: Env,
    /// Answers submitted so far, for a progress bar.
    pub progress: Progress,
    /// The quizrace binary to start for `processes` (default: this executable).
    pub worker_exe: Option<PathBuf>,
    /// Workers start no earlier than this instant on the run's clock (0: at once).
    pub start_at_ns: u64,
    /// Workers submit nothing after this instant on the run's clock (0: no
    /// limit but the rounds' own): the rest is abandoned, so a run against a
    /// stopped server ends in bounded time. Set by [`crate::suite`].
    pub stop_at_ns: u64,
    /// Set inside worker processes: shared state is read and cleaned up by
    /// the parent, not here.
    pub in_child: bool,
    /// The run's injected Redis fault; lifted before counts are read.
    pub fault: FaultGuard,
}

/// The run's injected Redis fault (a server pause), shared by the runtimes.
///
/// Counts must be read, and keys deleted, only after the fault is over: a
/// paused server holds writes that land when the pause lifts, which would
/// recreate deleted keys and change the counts after they were read.
#[derive(Clone, Default)]
pub struct FaultGuard(Arc<std::sync::Mutex<Option<redis::PauseInjector>>>);

impl std::fmt::Debug for FaultGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultGuard")
    }
}

impl FaultGuard {
    /// How long writes held by a pause take to land once it is lifted:
    /// Redis lifts pauses in its 10 Hz cron, so up to 100 ms, plus slack.
    const DRAIN: Duration = Duration::from_millis(250);

    fn new(injector: Option<redis::PauseInjector>) -> FaultGuard {
        FaultGuard(Arc::new(std::sync::Mutex::new(injector)))
    }

    /// Ends the fault (lifting a pause still in force) and waits for the
    /// writes it held to land. Does nothing the second time.
    pub(crate) fn lift(&self) -> Result<(), SimError> {
        let injector = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(injector) = injector {
            let paused = injector
                .finish()
                .map_err(|e| SimError::Setup(SetupError::Redis(e)))?;
            if paused {
                std::thread::sleep(Self::DRAIN);
            }
        }
        Ok(())
    }
}

/// A counter of submitted answers that workers bump once per round.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// Answers submitted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// Why a run could not be done (as opposed to anomalies, which are results).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Bad workload sizes or combinations.
    #[error("{0}")]
    Invalid(String),
    /// The strategy cannot run on the chosen runtime.
    #[error("strategy `{strategy}` cannot run on `{runtime}`: {why}")]
    Unsupported {
        /// Strategy name.
        strategy: &'static str,
        /// Runtime asked for.
        runtime: Runtime,
        /// Why, and what to use instead.
        why: String,
    },
    /// Setting the strategy up failed (e.g. Redis unreachable).
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The run failed, and cleaning up after it failed too.
    #[error("{error}; cleaning up failed too: {cleanup}")]
    WithCleanup {
        /// What failed first.
        error: Box<SimError>,
        /// Why clean-up failed (and what it left behind).
        cleanup: SetupError,
    },
    /// A worker thread panicked: a bug in a strategy.
    #[error("a worker of `{0}` panicked (a bug in the strategy); see the message above")]
    WorkerPanicked(&'static str),
    /// A child process failed.
    #[error("worker process {index} of {count} failed ({status}): {stderr}")]
    ChildFailed {
        /// Which child.
        index: u32,
        /// How many were started.
        count: u32,
        /// Exit status.
        status: String,
        /// The tail of its standard error.
        stderr: String,
    },
    /// The operating system refused something (threads, processes, runtime).
    #[error("{what}: {source}")]
    Os {
        /// What was attempted.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Nanoseconds since a run's epoch, comparable across processes.
///
/// On Unix this reads `CLOCK_MONOTONIC` directly: like [`std::time::Instant`]
/// it never steps back, and unlike `Instant` its raw value is system-wide,
/// so child processes timestamp on the parent's axis (needed to detect
/// early ends across processes). Elsewhere it falls back to the wall clock.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Clock {
    epoch_unix_ns: u64,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock {
            epoch_unix_ns: unix_ns(),
        }
    }
    /// Nanoseconds since the epoch (saturating at 0 if the system clock steps back).
    #[inline]
    pub fn now(&self) -> u64 {
        unix_ns().saturating_sub(self.epoch_unix_ns)
    }
    /// Waits until `at_ns` without taking the CPU other workers need.
    ///
    /// Sleeps until shortly before (worker threads run with a 1 ns timer
    /// slack, see [`precise_timers`], so the kernel wakes them within tens
    /// of µs), then yields until the instant. Yielding instead of spinning
    /// matters on a 2-core machine with more workers than cores: a spinning
    /// worker would hold a core that a worker with a due answer needs, and
    /// the schedule would slip for everyone (issue: `answer-window`).
    pub fn wait_until(&self, at_ns: u64) {
        loop {
            let now = self.now();
            if now >= at_ns {
                return;
            }
            let left = at_ns - now;
            if left > 120_000 {
                std::thread::sleep(Duration::from_nanos(left - 80_000));
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Asks the kernel to wake this thread's sleeps on time.
///
/// Linux delays timer wake-ups by the thread's *timer slack* (50 µs by
/// default) to batch them; a 50 µs `thread::sleep` then takes ~120 µs and a
/// planned arrival schedule slips. A slack of 1 ns (`PR_SET_TIMERSLACK`)
/// removes that delay for this thread only. Elsewhere this does nothing.
pub fn precise_timers() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only changes
    // this thread's timer slack; it cannot fail for a positive value.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

#[cfg(unix)]
#[inline]
fn unix_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on the Unixes Rust supports, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(not(unix))]
#[inline]
fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Outcome codes per planned answer.
pub(crate) const NOT_SUBMITTED: u8 = 0;
pub(crate) const OK: u8 = 1;
pub(crate) const FAILED: u8 = 2;
pub(crate) const UNKNOWN: u8 = 3;

/// What one worker saw. Built in the hot loop with no sharing.
#[derive(Debug)]
pub(crate) struct WorkerOut {
    /// Service time: one record call.
    pub(crate) latency: Latency,
    /// Response time from the planned arrival (answer windows only).
    pub(crate) response: Latency,
    /// Submission start minus planned arrival (answer windows only).
    pub(crate) lateness: Latency,
    /// When each round started for this worker (the zero of its arrival times).
    pub(crate) round_start: Vec<u64>,
    /// Submission time of each planned answer (valid where outcome != NOT_SUBMITTED).
    pub(crate) submitted_at: Vec<u64>,
    pub(crate) outcome: Vec<u8>,
    pub(crate) fires: Vec<(u32, u64)>,
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) retries: u64,
}

impl WorkerOut {
    pub(crate) fn new(answers: usize) -> Self {
        WorkerOut {
            latency: Latency::new(),
            response: Latency::new(),
            lateness: Latency::new(),
            round_start: Vec::new(),
            submitted_at: vec![0; answers],
            outcome: vec![NOT_SUBMITTED; answers],
            fires: Vec::new(),
            start_ns: 0,
            end_ns: 0,
            retries: 0,
        }
    }
}

/// One process's raw observations, merged per room-round. Sent from child
/// processes to the parent as JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RawRun {
    /// Answers submitted per slot (the ground truth).
    pub submitted: Vec<u32>,
    /// Answers acknowledged per slot.
    pub ok: Vec<u32>,
    /// Answers with unknown outcome per slot.
    pub unknown: Vec<u32>,
    /// Answers abandoned at the round's time limit (never submitted) per slot.
    #[serde(default)]
    pub abandoned: Vec<u32>,
    /// Latest submission time per slot (ns on the run's clock).
    pub last_submit: Vec<u64>,
    /// Latest planned arrival per slot (ns on the run's clock); equal to
    /// `last_submit` in a burst, which has no schedule.
    #[serde(default)]
    pub last_planned: Vec<u64>,
    /// Every `endQuizTime`: (slot, time).
    pub fires: Vec<(u32, u64)>,
    /// The strategy's final counts as this process sees them.
    pub counts: Vec<u32>,
    /// Record-call latencies (service time).
    pub latency: Buckets,
    /// Response times from the planned arrival (answer windows only).
    #[serde(default)]
    pub response: Buckets,
    /// Lateness of submissions against the plan (answer windows only).
    #[serde(default)]
    pub lateness: Buckets,
    /// Outcome totals.
    pub outcomes: Outcomes,
    /// The first error a server answered with (e.g. Redis refusing writes
    /// under `maxmemory`), if any: an environment failure, not a verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_error: Option<String>,
    /// Start of the measured region.
    pub start_ns: u64,
    /// End of the measured region.
    pub end_ns: u64,
}

impl RawRun {
    pub(crate) fn from_workers(
        slots: usize,
        plans: &[workload::WorkerPlan],
        outs: Vec<WorkerOut>,
        counts: Vec<u32>,
    ) -> RawRun {
        let mut raw = RawRun {
            submitted: vec![0; slots],
            ok: vec![0; slots],
            unknown: vec![0; slots],
            abandoned: vec![0; slots],
            last_submit: vec![0; slots],
            last_planned: vec![0; slots],
            counts,
            start_ns: u64::MAX,
            ..RawRun::default()
        };
        let mut latency = Latency::new();
        let mut response = Latency::new();
        let mut lateness = Latency::new();
        for (plan, out) in plans.iter().zip(outs) {
            for (i, p) in plan.answers.iter().enumerate() {
                let s = p.answer.slot as usize;
                match out.outcome[i] {
                    NOT_SUBMITTED => {
                        raw.abandoned[s] += 1;
                        continue;
                    }
                    OK => {
                        raw.ok[s] += 1;
                        raw.outcomes.ok += 1;
                    }
                    FAILED => raw.outcomes.failed += 1,
                    _ => {
                        raw.unknown[s] += 1;
                        raw.outcomes.unknown += 1;
                    }
                }
                raw.submitted[s] += 1;
                raw.last_submit[s] = raw.last_submit[s].max(out.submitted_at[i]);
                // In a burst there is no schedule: the plan is "now".
                let planned = match out.round_start.get(p.answer.round as usize) {
                    Some(&start) if p.at_ns != 0 => start + p.at_ns,
                    _ => out.submitted_at[i],
                };
                raw.last_planned[s] = raw.last_planned[s].max(planned);
            }
            raw.fires.extend_from_slice(&out.fires);
            raw.outcomes.retries += out.retries;
            latency.merge(&out.latency);
            response.merge(&out.response);
            lateness.merge(&out.lateness);
            raw.start_ns = raw.start_ns.min(out.start_ns);
            raw.end_ns = raw.end_ns.max(out.end_ns);
        }
        if raw.start_ns == u64::MAX {
            raw.start_ns = 0;
        }
        raw.latency = latency.to_buckets();
        raw.response = response.to_buckets();
        raw.lateness = lateness.to_buckets();
        raw
    }

    /// Folds another process's observations in. Counts add up: for
    /// per-process state (`local-map`) each process counted its own answers
    /// exactly, and the lesson is the missed ends, not lost answers; shared
    /// (Redis) state is re-read by the parent instead.
    pub(crate) fn merge(&mut self, o: RawRun) {
        if self.submitted.is_empty() {
            *self = o;
            return;
        }
        let add = |a: &mut Vec<u32>, b: &[u32]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut self.submitted, &o.submitted);
        add(&mut self.ok, &o.ok);
        add(&mut self.unknown, &o.unknown);
        for (x, y) in self.last_submit.iter_mut().zip(&o.last_submit) {
            *x = (*x).max(*y);
        }
        for (x, y) in self.last_planned.iter_mut().zip(&o.last_planned) {
            *x = (*x).max(*y);
        }
        add(&mut self.abandoned, &o.abandoned);
        add(&mut self.counts, &o.counts);
        self.fires.extend(o.fires);
        let merged = |a: &Buckets, b: &Buckets| {
            let mut lat = Latency::from_buckets(a);
            lat.merge(&Latency::from_buckets(b));
            lat.to_buckets()
        };
        self.latency = merged(&self.latency, &o.latency);
        self.response = merged(&self.response, &o.response);
        self.lateness = merged(&self.lateness, &o.lateness);
        self.outcomes.ok += o.outcomes.ok;
        self.outcomes.failed += o.outcomes.failed;
        self.outcomes.unknown += o.outcomes.unknown;
        self.outcomes.retries += o.outcomes.retries;
        self.start_ns = self.start_ns.min(o.start_ns);
        self.end_ns = self.end_ns.max(o.end_ns);
        if self.server_error.is_none() {
            self.server_error = o.server_error;
        }
    }
}

impl Workload {
    /// A generous estimate of the memory one trial needs: per answer (plan
    /// and per-worker results) and per room-round (counters, observations,
    /// checks). Measured on x86-64: ~240 bytes per answer at one player per
    /// room, ~60 at eight.
    pub fn estimated_bytes(&self) -> u64 {
        let slots = self.rooms as u64 * self.rounds as u64;
        self.total_answers()
            .saturating_mul(limits::BYTES_PER_ANSWER)
            .saturating_add(slots.saturating_mul(limits::BYTES_PER_SLOT))
    }

    /// Refuses a workload whose [`Workload::estimated_bytes`] exceed the
    /// memory the machine has available now (Linux `MemAvailable`), rather
    /// than letting the allocator abort half-way.
    pub fn check_memory(&self) -> Result<(), SimError> {
        let need = self.estimated_bytes();
        match available_memory() {
            Some(have) if need > have => Err(SimError::Invalid(format!(
                "this workload needs about {} of memory and {} is available: use fewer rooms, \
                 players or rounds",
                gib(need),
                gib(have)
            ))),
            _ => Ok(()),
        }
    }

    /// Checks sizes and combinations; the message gives the limit and why.
    pub fn validate(&self) -> Result<(), SimError> {
        use limits::*;
        let bad = |m: String| Err(SimError::Invalid(m));
        let check = |name: &str, v: u32, max: u32, why: &str| -> Result<(), SimError> {
            if v == 0 {
                return bad(format!("{name} must be at least 1 (got 0)"));
            }
            if v > max {
                return bad(format!("{name} = {v} is over the limit of {max}: {why}"));
            }
            Ok(())
        };
        check(
            "rooms",
            self.rooms,
            MAX_ROOMS,
            "10 million counters is plenty",
        )?;
        check(
            "players",
            self.players,
            MAX_PLAYERS,
            "a room is a game, not a stadium",
        )?;
        check("rounds", self.rounds, MAX_ROUNDS, "questions per game")?;
        // Worker processes run sync strategies on OS threads too.
        let max_workers = if matches!(self.runtime, Runtime::Threads | Runtime::Processes) {
            MAX_THREADS
        } else {
            MAX_WORKERS
        };
        check(
            "workers",
            self.workers,
            max_workers,
            "beyond this the scheduler, not the strategy, is measured",
        )?;
        if self.runtime == Runtime::Processes {
            check(
                "processes",
                self.processes,
                MAX_PROCESSES,
                "one per core is the story",
            )?;
        }
        if self.total_answers() > MAX_ANSWERS {
            return bad(format!(
                "rooms x players x rounds = {} answers is over the limit of {MAX_ANSWERS}",
                self.total_answers()
            ));
        }
        if self.rooms as u64 * self.rounds as u64 > u32::MAX as u64 {
            return bad("rooms x rounds must fit in 32 bits".into());
        }
        if self.time_limit.is_zero() {
            return bad("time_limit must be more than 0".into());
        }
        if self.window >= self.time_limit {
            return bad(format!(
                "window ({:?}) must be shorter than time_limit ({:?}): answers arriving \
                 after the limit could never count",
                self.window, self.time_limit
            ));
        }
        Ok(())
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes (None elsewhere).
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

impl StrategyId {
    /// Whether anomalies are the expected result of this strategy in this run.
    pub fn anomalies_expected(self, w: &Workload, env: &Env) -> bool {
        match self.info().kind {
            Kind::Racy => true,
            Kind::RacyAcrossProcesses => w.effective_processes() > 1,
            // The story's fix is only correct without client retries: a
            // retried INCRBY (or EXEC) may have been applied already. The
            // idempotent ones (redis-lua, redis-sadd) stay exact.
            Kind::Correct => {
                matches!(self, StrategyId::RedisIncrby | StrategyId::RedisWatch)
                    && env
                        .redis
                        .as_ref()
                        .is_some_and(|r| r.retries_may_double_count())
            }
        }
    }

    /// `Ok` if the strategy can run on `runtime`, else the reason and what to use.
    pub fn check_runtime(self, runtime: Runtime) -> Result<(), SimError> {
        if self.supports(runtime) {
            return Ok(());
        }
        let why = match runtime {
            Runtime::Processes => "its state lives in one process's memory, so separate processes \
                 would each count alone; use `local-map` to watch that fail, or a `redis-*` \
                 strategy for shared state"
                .to_string(),
            Runtime::Threads => format!(
                "it awaits while scoring, so it needs an async runtime; use --runtime tokio or \
                 tokio-current (it runs on: {})",
                runtimes(self)
            ),
            _ => format!("it runs on: {}", runtimes(self)),
        };
        Err(SimError::Unsupported {
            strategy: self.name(),
            runtime,
            why,
        })
    }
}

fn runtimes(id: StrategyId) -> String {
    id.info()
        .runtimes
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs one strategy on one workload once (one trial) and checks it.
///
/// For figures worth reporting, run several trials through
/// [`crate::suite`]; this is the building block.
pub fn run(id: StrategyId, w: &Workload, opts: &RunOptions) -> Result<StrategyResult, SimError> {
    Ok(run_trial(id, w, opts)?.result)
}

/// Runs one trial: fresh strategy state, the workload's plan, every answer
/// checked. Returns the result and the histograms the suite merges.
pub fn run_trial(
    id: StrategyId,
    w: &Workload,
    opts: &RunOptions,
) -> Result<check::Trial, SimError> {
    w.validate()?;
    id.check_runtime(w.runtime)?;
    if id.info().needs_redis && opts.env.redis.is_none() {
        return Err(SetupError::NoRedis(id.name()).into());
    }
    let mut opts = opts.clone();
    // A server restart forgets what it acknowledged; its run id tells. Read
    // before the fault timer starts, so the fault lands when scheduled; an
    // error left by an earlier run is dropped, not charged to this one.
    let networked = id.info().needs_redis;
    let run_id = networked
        .then(|| {
            redis::take_server_error();
            redis::server_run_id(&opts.env)
        })
        .flatten();
    // A fresh key prefix per strategy run, known to Ctrl-C clean-up while
    // the run lasts, and the run's injected fault (if any).
    let (_scope, pause) = match opts.env.redis.as_mut() {
        Some(cfg) if id.info().needs_redis => {
            let scope = redis::RunScope::begin(cfg);
            let delay = if w.runtime == Runtime::Processes {
                process::STARTUP_GRACE
            } else {
                Duration::ZERO
            };
            (Some(scope), redis::PauseInjector::start(&opts.env, delay))
        }
        _ => (None, None),
    };
    opts.fault = FaultGuard::new(pause);
    let raw = match w.runtime {
        Runtime::Processes => process::run_parent(id, w, &opts),
        _ => run_share(id, w, 0, Clock::start(), &opts),
    };
    let lifted = opts.fault.lift();
    let raw = raw?;
    lifted?;
    let mut trial = check::evaluate_trial(id, w, &opts.env, &raw);
    if let (Some(before), Some(after)) = (
        run_id,
        networked.then(|| redis::server_run_id(&opts.env)).flatten(),
    ) {
        trial.result.server_restarted = before != after;
    }
    Ok(trial)
}

/// Runs process `process`'s share of the workload in this process.
pub fn run_share(
    id: StrategyId,
    w: &Workload,
    process: u32,
    clock: Clock,
    opts: &RunOptions,
) -> Result<RawRun, SimError> {
    let plans = w.plans(process);
    match w.runtime {
        Runtime::Threads => threads::run(id, w, plans, clock, opts),
        Runtime::Tokio | Runtime::TokioCurrent => {
            tokio_rt::run(id, w, plans, clock, opts, w.runtime)
        }
        // Inside a worker process: sync strategies on threads; async ones on
        // one thread, as each Node.js server of the story was.
        Runtime::Processes => {
            if id.info().needs_redis || matches!(id, StrategyId::AsyncRmw | StrategyId::TokioMutex)
            {
                tokio_rt::run(id, w, plans, clock, opts, Runtime::TokioCurrent)
            } else {
                threads::run(id, w, plans, clock, opts)
            }
        }
    }
}

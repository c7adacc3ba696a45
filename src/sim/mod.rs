//! The simulator: plays quiz rooms with concurrent workers, then checks the
//! strategy against ground truth.
//!
//! Stages, each in its own module (measure, record, analyse; ARCHITECTURE.md):
//!
//! * [`workload`]: seeded plans of who answers what, built before timing,
//!   and the limits that validate a workload;
//! * `threads`, `tokio_rt`, [`process`]: the runtimes that execute plans and
//!   time every record call into per-worker histograms;
//! * `clock`, `raw`: the shared time axis, and the raw observations the
//!   runtimes produce; `mem`: their large buffers on huge pages;
//! * [`check`]: compares the strategy's counts and decisions with the
//!   simulator's own ground truth and counts the anomalies.
//!
//! [`run_trial`] is the one place that decides what happens around the
//! workers of a strategy whose state lives on a back end: a fresh
//! namespace, the fault ended once before the final counts, the counts read
//! once, the namespace removed (also after errors). Runtimes only play.
//!
//! Nothing here prints: progress is an atomic counter the CLI polls.

mod barrier;
pub mod check;
mod clock;
mod mem;
pub mod process;
mod raw;
mod threads;
mod tokio_rt;
pub mod workload;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{self, ActiveRun, Env};
use crate::result::StrategyResult;
use crate::strategy::{
    AsyncStrategy, Kind, Layout, Mode, Replication, Runtime, SetupError, StrategyId, SyncStrategy,
    UnderRetries, Visitor,
};
pub use clock::{precise_timers, stamp, system_ns, Clock};
pub(crate) use raw::{Fate, WorkerOut};
pub use raw::{HistOp, RawRun};
#[doc(hidden)]
pub use threads::bookkeeping;
pub use workload::{limits, Balance, Workload};

/// Options that are not part of the workload.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The configured back ends and client fault settings.
    pub env: Env,
    /// Answers submitted so far, for a progress bar.
    pub progress: Progress,
    /// The quizrace binary to start for `processes` (default: this executable).
    pub worker_exe: Option<PathBuf>,
    /// Workers start no earlier than this instant on the run's clock (0: at once).
    pub start_at_ns: u64,
    /// Inside a worker process: once set up, tell the parent and take the
    /// start and stop instants from its go message instead of
    /// `start_at_ns`/`stop_at_ns` ([`process`]).
    pub handshake: bool,
    /// Workers submit nothing after this instant on the run's clock (0: no
    /// limit but the rounds' own): the rest is abandoned, so a run against a
    /// stopped server ends in bounded time. Set by [`crate::suite`].
    pub stop_at_ns: u64,
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
    /// Setting the strategy up failed (e.g. its server unreachable).
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
    /// A worker process was handed a spec it cannot run.
    #[error("this subcommand is internal to quizrace: {0}")]
    BadSpec(String),
    /// The operating system refused something (threads, processes, runtime).
    #[error("{what}: {source}")]
    Os {
        /// What was attempted.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl StrategyId {
    /// Whether anomalies are the expected result of this strategy in this run.
    pub fn anomalies_expected(self, w: &Workload, env: &Env) -> bool {
        let info = self.info();
        match info.kind {
            Kind::Racy => true,
            Kind::RacyAcrossProcesses => w.effective_processes() > 1,
            // A correct strategy that is not idempotent (the story's fix)
            // is only correct without client retries: a retried call may
            // have been applied already.
            // A failover loses what only the old primary acknowledged.
            Kind::Correct => {
                (info.under_retries == UnderRetries::MayDoubleCount
                    && env.retries_may_double_count())
                    || (info.replication == Replication::PrimaryOnly
                        && env.faults.failover.is_some())
            }
        }
    }

    /// `Ok` if the strategy can run on `runtime`, else the reason and what to use.
    pub fn check_runtime(self, runtime: Runtime) -> Result<(), SimError> {
        if self.supports(runtime) {
            return Ok(());
        }
        let networked: Vec<&str> = StrategyId::ALL
            .iter()
            .filter(|s| s.networked())
            .map(|s| s.name())
            .collect();
        let why = match runtime {
            Runtime::Processes => format!(
                "its state lives in one process's memory, so separate processes would each \
                 count alone; use `local-map` to watch that fail, or a strategy with shared \
                 state ({})",
                networked.join(", ")
            ),
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
///
/// For a strategy on a back end this is the one place that runs the
/// back end's hooks, in this order: begin (a fresh namespace with a TTL
/// longer than the trial can last, registered for Ctrl-C; the fault
/// scheduled), the workers, `before_counts` (the
/// fault ended, once), the final counts (read once, by this process, for
/// every runtime), `end` (the namespace removed, also after an error; a
/// server restart detected).
pub fn run_trial(
    id: StrategyId,
    w: &Workload,
    opts: &RunOptions,
) -> Result<check::Trial, SimError> {
    w.validate()?;
    id.check_runtime(w.runtime)?;
    let Some(family) = id.info().backend else {
        let mut raw = play(id, w, opts)?;
        let mut trial = check::evaluate_trial(id, w, &opts.env, &raw);
        trial.history = std::mem::take(&mut raw.history);
        return Ok(trial);
    };
    let backend = opts
        .env
        .backend(family)
        .ok_or(SetupError::NoBackend {
            strategy: id.name(),
            family,
        })?
        .clone();
    let mut opts = opts.clone();
    opts.env.namespace = backend::new_namespace();
    // Worker processes start playing once all of them are set up (tens of
    // ms after they are started): the fault is timed from about then.
    let delay = if w.runtime == Runtime::Processes {
        process::TYPICAL_STARTUP
    } else {
        Duration::ZERO
    };
    opts.env.namespace_ttl = backend::namespace_ttl(longest_run(w, &opts, delay));
    // Fault events noted before this trial are not its own.
    let _ = backend::take_events();
    let mut active = backend.begin(&opts.env, w.layout(), delay)?;
    let played = play(id, w, &opts);
    let lifted = active.before_counts();
    let counts = match (&played, &lifted) {
        (Ok(_), Ok(())) => Some(shared_counts(id, w, &opts.env)),
        _ => None,
    };
    let ended = active.end();
    let result = (|| {
        let mut raw = played?;
        lifted?;
        raw.counts = counts.expect("counts are read when the run and the lift succeeded")?;
        Ok::<RawRun, SimError>(raw)
    })();
    let (mut raw, end) = match (result, ended) {
        (Ok(raw), Ok(end)) => (raw, end),
        (Ok(_), Err(cleanup)) => return Err(cleanup.into()),
        (Err(e), Ok(_)) => return Err(e),
        (Err(e), Err(cleanup)) => {
            return Err(SimError::WithCleanup {
                error: Box::new(e),
                cleanup,
            })
        }
    };
    if raw.server_error.is_none() {
        raw.server_error = end.server_error;
    }
    // The faults injected during the trial, on its clock, for the timeline.
    raw.events = backend::take_events()
        .into_iter()
        .map(|(at, what)| (at.saturating_sub(raw.epoch_ns), what))
        .collect();
    let mut trial = check::evaluate_trial(id, w, &opts.env, &raw);
    trial.history = std::mem::take(&mut raw.history);
    trial.result.server_restarted = end.restarted;
    Ok(trial)
}

/// The longest a trial of `w` can keep its namespace in use, for its TTL
/// ([`Env::namespace_ttl`]): the workers' start-up `delay`, then every
/// round's time limit with one call in flight at its end (or the run's own
/// deadline plus that call, if sooner), and an injected pause, which the
/// final reads and the clean-up may wait out.
fn longest_run(w: &Workload, opts: &RunOptions, delay: Duration) -> Duration {
    let faults = &opts.env.faults;
    let call = faults.longest_call();
    let mut play = w.time_limit.saturating_add(call).saturating_mul(w.rounds);
    if opts.stop_at_ns > 0 {
        play = play.min(Duration::from_nanos(opts.stop_at_ns).saturating_add(call));
    }
    let pause = faults.pause.map_or(Duration::ZERO, |p| p.duration);
    delay.saturating_add(play).saturating_add(pause)
}

/// Runs a closure in a fresh namespace of `id`'s back end (begun, and
/// removed afterwards, also after an error): for short runs outside
/// [`run_trial`], such as `quizrace explain`'s traces.
pub fn in_namespace<T>(
    id: StrategyId,
    env: &Env,
    layout: Layout,
    f: impl FnOnce(&Env) -> Result<T, SimError>,
) -> Result<T, SimError> {
    let Some(family) = id.info().backend else {
        return f(env);
    };
    let backend = env.backend(family).ok_or(SetupError::NoBackend {
        strategy: id.name(),
        family,
    })?;
    let mut env = env.clone();
    env.namespace = backend::new_namespace();
    // A short run: a few calls per worker.
    env.namespace_ttl = backend::namespace_ttl(env.faults.longest_call().saturating_mul(4));
    let active: Box<dyn ActiveRun> = backend.begin(&env, layout, Duration::ZERO)?;
    let out = f(&env);
    let ended = active.end();
    match (out, ended) {
        (Ok(v), Ok(_)) => Ok(v),
        (Ok(_), Err(cleanup)) => Err(cleanup.into()),
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(cleanup)) => Err(SimError::WithCleanup {
            error: Box::new(e),
            cleanup,
        }),
    }
}

/// Plays the workload on its runtime (all processes of it).
fn play(id: StrategyId, w: &Workload, opts: &RunOptions) -> Result<RawRun, SimError> {
    match w.runtime {
        Runtime::Processes => process::run_parent(id, w, opts),
        _ => run_share(id, w, 0, Clock::start(), opts),
    }
}

/// Reads the final counts of a strategy whose state lives on a back end,
/// through a fresh set-up of it in the run's namespace.
fn shared_counts(id: StrategyId, w: &Workload, env: &Env) -> Result<Vec<u32>, SimError> {
    struct Counts<'a> {
        w: &'a Workload,
        env: &'a Env,
    }
    impl Visitor for Counts<'_> {
        type Output = Result<Vec<u32>, SimError>;
        fn visit_sync<S: SyncStrategy>(self, id: StrategyId) -> Self::Output {
            // Sync strategies keep their state in memory; the runtime read it.
            Err(SimError::Invalid(format!(
                "`{id}` keeps no state on a back end (a catalogue error)"
            )))
        }
        fn visit_async<S: AsyncStrategy>(self, _id: StrategyId) -> Self::Output {
            let rt = tokio_rt::build_runtime(Runtime::TokioCurrent)?;
            rt.block_on(async {
                let s = S::setup(self.w.layout(), self.env, None).await?;
                Ok(s.counts().await?)
            })
        }
    }
    id.visit(Counts { w, env })
}

/// Runs `f` on each of `parts`, each on a scoped thread of its own (a single
/// part on this thread), and returns the results in the parts' order. A
/// panic in `f` is resumed here.
pub(crate) fn on_threads<P: Send, T: Send>(parts: Vec<P>, f: impl Fn(P) -> T + Sync) -> Vec<T> {
    if parts.len() <= 1 {
        return parts.into_iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let joins: Vec<_> = parts
            .into_iter()
            .map(|p| scope.spawn(move || f(p)))
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Runs process `process`'s share of the workload in this process. For a
/// strategy on a back end, the counts are left empty: [`run_trial`] reads
/// them once every process is done.
pub fn run_share(
    id: StrategyId,
    w: &Workload,
    process: u32,
    clock: Clock,
    opts: &RunOptions,
) -> Result<RawRun, SimError> {
    let plans = w.plans(process);
    let mut raw = match w.runtime {
        Runtime::Threads => threads::run(id, w, plans, clock, opts),
        Runtime::Tokio | Runtime::TokioCurrent => {
            tokio_rt::run(id, w, plans, clock, opts, w.runtime)
        }
        // Inside a worker process: sync strategies on threads; async ones on
        // one thread, as each Node.js server of the story was.
        Runtime::Processes => match id.info().mode {
            Mode::Async => tokio_rt::run(id, w, plans, clock, opts, Runtime::TokioCurrent),
            Mode::Sync => threads::run(id, w, plans, clock, opts),
        },
    }?;
    if let Some(family) = id.info().backend {
        if let Some(b) = opts.env.backend(family) {
            raw.server_error = raw.server_error.or_else(|| b.take_server_error());
        }
    }
    raw.epoch_ns = clock.epoch();
    // Workers are numbered across processes in the history.
    let first = (process as usize * w.workers as usize).min(u16::MAX as usize) as u16;
    for op in &mut raw.history {
        op.worker = op.worker.saturating_add(first);
    }
    Ok(raw)
}

impl RunOptions {
    /// The instants the workers start and stop at: known up front, or, in a
    /// worker process, from the parent's go message once this process is
    /// set up (call it after set-up, just before starting the workers).
    pub(crate) fn start_window(&self) -> Result<(u64, u64), SimError> {
        if self.handshake {
            process::handshake()
        } else {
            Ok((self.start_at_ns, self.stop_at_ns))
        }
    }
}

//! The `tokio` and `tokio-current` runtimes: one task per worker.
//!
//! `tokio-current` runs every task on one thread, so any lost update there
//! comes from interleaving at `.await` points alone, not from parallelism.
//!
//! On `tokio`, strategies run on tokio's multi-thread runtime
//! (work-stealing: a task may resume on any thread), except those of a
//! back end whose client multiplexes one connection (Redis:
//! [`crate::backend::Family::per_core`]). These run *thread-per-core*, as a
//! server built on actix-web or glommio does: one thread per core, each
//! with a current-thread runtime, its own set-up of the strategy (so its own
//! connection, driven on that thread) and every `cores`-th worker. A
//! command and its reply then never cross threads; on the 2-core VM a bare
//! INCR loop laid out this way runs ~1.6 times as fast as the same loop of
//! 50 tasks on the multi-thread runtime (`examples/raw_incr.rs`). Workers on
//! all threads still share one barrier per round. (The SQL families keep
//! the multi-thread runtime: their pools are sized per process, and a
//! set-up per core thread would multiply their connections.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Barrier};

use super::raw::{keeps_history, NO_VALUE};
use super::workload::{WorkerPlan, Workload};
use super::{Clock, Fate, Progress, RawRun, RunOptions, SimError, WorkerOut};
use crate::strategy::{
    Answer, AsyncRecorder, AsyncStrategy, Outcome, Recorder, Runtime, ScoringWork, StrategyId,
    SyncStrategy, Visitor,
};

pub(super) fn run(
    id: StrategyId,
    w: &Workload,
    plans: Vec<WorkerPlan>,
    clock: Clock,
    opts: &RunOptions,
    runtime: Runtime,
) -> Result<RawRun, SimError> {
    // `tokio-current` runs its tasks on this thread.
    super::precise_timers();
    id.visit(Tokio {
        runtime,
        w,
        plans,
        clock,
        opts,
    })
}

/// A tokio runtime of the requested flavour with the timer enabled.
pub(crate) fn build_runtime(runtime: Runtime) -> Result<tokio::runtime::Runtime, SimError> {
    let mut b = if runtime == Runtime::TokioCurrent {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    b.enable_time()
        .enable_io()
        .on_thread_start(super::precise_timers)
        .build()
        .map_err(|e| SimError::Os {
            what: "starting the tokio runtime".into(),
            source: e,
        })
}

struct Tokio<'a> {
    runtime: Runtime,
    w: &'a Workload,
    plans: Vec<WorkerPlan>,
    clock: Clock,
    opts: &'a RunOptions,
}

/// Runs a synchronous handle inside a task.
///
/// Score-then-count strategies ([`SyncStrategy::SCORES_FIRST`]) get their
/// scoring work awaited here, as async code would, and then count with no
/// work inside the call. Read–score–write ones must do the work between
/// their read and write, on the thread: a std lock cannot be held across an
/// `.await`, which is exactly why `tokio-mutex` exists.
struct SyncAdapter<H> {
    handle: H,
    scores_first: bool,
}

impl<H: Recorder> AsyncRecorder for SyncAdapter<H> {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        let c = if self.scores_first {
            work.run_async().await;
            self.handle.record(answer, &ScoringWork::None)
        } else {
            self.handle.record(answer, work)
        };
        Outcome::Ok {
            ended: c.ended,
            value: c.value,
        }
    }
}

impl Visitor for Tokio<'_> {
    type Output = Result<RawRun, SimError>;

    fn visit_sync<S: SyncStrategy>(self, id: StrategyId) -> Self::Output {
        let rt = build_runtime(self.runtime)?;
        let strategy = S::new(self.w.layout())?;
        let workers = (0..self.plans.len())
            .map(|i| {
                let handle = SyncAdapter {
                    handle: strategy.handle(),
                    scores_first: S::SCORES_FIRST,
                };
                (i, handle)
            })
            .collect();
        let start_at = self.opts.start_window()?;
        let team = Team::new(self.w, self.plans, self.clock, self.opts, start_at);
        let outs = rt.block_on(team.drive(workers));
        let mut raw = team.finish(id, vec![outs], strategy.counts())?;
        raw.add_owner_fires(strategy.fires(), &self.clock);
        Ok(raw)
    }

    fn visit_async<S: AsyncStrategy>(self, id: StrategyId) -> Self::Output {
        if self.runtime == Runtime::Tokio && id.info().backend.is_some_and(|f| f.per_core) {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            return self.per_core::<S>(id, cores);
        }
        let Tokio {
            runtime,
            w,
            plans,
            clock,
            opts,
        } = self;
        let rt = build_runtime(runtime)?;
        let (team, outs, counts) = rt.block_on(async move {
            let (strategy, workers) = set_up::<S>(w, opts, 0..plans.len()).await?;
            let start_at = opts.start_window()?;
            let team = Team::new(w, plans, clock, opts, start_at);
            let outs = team.drive(workers).await;
            // State on a back end is read once, after every process is
            // done and the fault is over (`sim::run_trial`).
            let counts = if id.networked() {
                Vec::new()
            } else {
                strategy.counts().await?
            };
            Ok::<_, SimError>((team, outs, counts))
        })?;
        team.finish(id, vec![outs], counts)
    }
}

impl Tokio<'_> {
    /// Thread-per-core (see the module's docs): one scoped thread per core
    /// (no more than there are workers), each setting the strategy up on a
    /// current-thread runtime of its own and driving workers `t`,
    /// `t + cores`, … A thread that fails (set-up, a panicking worker) tells
    /// the others, whose workers may be waiting for it at the barrier, to
    /// stop.
    fn per_core<S: AsyncStrategy>(self, id: StrategyId, cores: usize) -> Result<RawRun, SimError> {
        let Tokio {
            w,
            plans,
            clock,
            opts,
            ..
        } = self;
        if opts.handshake {
            // A worker process plays on tokio-current (`sim::run_share`);
            // only a hand-fed spec gets here.
            return Err(SimError::BadSpec(
                "a worker process runs its share on tokio-current, not thread-per-core".into(),
            ));
        }
        let cores = cores.clamp(1, plans.len().max(1));
        let start_at = opts.start_window()?;
        let team = Team::new(w, plans, clock, opts, start_at);
        let team = &team;
        let results: Vec<Result<Part, SimError>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..cores)
                .map(|t| {
                    scope.spawn(move || {
                        let alarm = team.alarm();
                        super::precise_timers();
                        let rt = build_runtime(Runtime::TokioCurrent)?;
                        let outs = rt.block_on(async {
                            let mine = (t..team.plans.len()).step_by(cores);
                            let (_strategy, workers) = set_up::<S>(w, opts, mine).await?;
                            Ok::<_, SimError>(team.drive(workers).await)
                        })?;
                        alarm.disarm();
                        Ok(outs)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or(Ok(None)))
                .collect()
        });
        let mut parts = Vec::with_capacity(results.len());
        for r in results {
            parts.push(r?);
        }
        team.finish(id, parts, Vec::new())
    }
}

/// Sets `S` up and makes a handle for each of the workers `which`.
async fn set_up<S: AsyncStrategy>(
    w: &Workload,
    opts: &RunOptions,
    which: impl Iterator<Item = usize>,
) -> Result<(S, Vec<(usize, S::Handle)>), SimError> {
    let strategy = S::setup(w.layout(), &opts.env, None).await?;
    let mut workers = Vec::new();
    for i in which {
        workers.push((i, strategy.handle().await?));
    }
    Ok((strategy, workers))
}

/// One thread's workers' outputs, numbered; `None` if a worker panicked
/// (here or on another thread).
type Part = Option<Vec<(usize, WorkerOut)>>;

/// What every worker of a run shares, whichever thread it runs on: the
/// plans, the barrier and the instants it opened, and the alarm a failing
/// worker or thread raises.
struct Team {
    plans: Arc<Vec<WorkerPlan>>,
    w: Arc<Workload>,
    clock: Clock,
    progress: Progress,
    start_at: (u64, u64),
    barrier: Arc<Barrier>,
    /// The instant each barrier opened (index 0: the start, r + 1: after
    /// round r), stamped by the barrier's leader, read by every worker.
    stamps: Arc<Vec<AtomicU64>>,
    failed: watch::Sender<bool>,
}

impl Team {
    fn new(
        w: &Workload,
        plans: Vec<WorkerPlan>,
        clock: Clock,
        opts: &RunOptions,
        start_at: (u64, u64),
    ) -> Team {
        Team {
            barrier: Arc::new(Barrier::new(plans.len())),
            stamps: Arc::new((0..=w.rounds).map(|_| AtomicU64::new(0)).collect()),
            plans: Arc::new(plans),
            w: Arc::new(w.clone()),
            clock,
            progress: opts.progress.clone(),
            start_at,
            failed: watch::Sender::new(false),
        }
    }

    /// Raises the alarm when dropped armed: a thread that returns early or
    /// panics stops the other threads' workers.
    fn alarm(&self) -> Alarm<'_> {
        Alarm(&self.failed, true)
    }

    /// Spawns one task per `(worker, handle)` on the current runtime,
    /// releases them with every other worker of the run, and collects their
    /// outputs. `None` if a worker panicked, here or on another thread: the
    /// remaining tasks are aborted (they may be waiting on the barrier for
    /// it), so a broken worker is an error, never a hang.
    async fn drive<H: AsyncRecorder>(&self, workers: Vec<(usize, H)>) -> Part {
        let mut tasks = tokio::task::JoinSet::new();
        let n = workers.len();
        for (i, h) in workers {
            let (plans, w, progress) = (self.plans.clone(), self.w.clone(), self.progress.clone());
            let sync = Sync {
                barrier: self.barrier.clone(),
                stamps: self.stamps.clone(),
                clock: self.clock,
            };
            let (clock, start_at) = (self.clock, self.start_at);
            tasks.spawn(async move {
                let out = worker(h, &plans[i], &w, clock, &sync, &progress, start_at).await;
                (i, out)
            });
        }
        let mut alarm = self.failed.subscribe();
        let mut outs = Vec::with_capacity(n);
        let mut failed = false;
        loop {
            let joined = if failed {
                tasks.join_next().await
            } else {
                tokio::select! {
                    joined = tasks.join_next() => joined,
                    _ = alarm.wait_for(|&f| f) => {
                        failed = true;
                        tasks.abort_all();
                        continue;
                    }
                }
            };
            match joined {
                None => break,
                Some(Ok(out)) => outs.push(out),
                Some(Err(_)) => {
                    failed = true;
                    self.failed.send_replace(true);
                    tasks.abort_all();
                }
            }
        }
        (!failed).then_some(outs)
    }

    /// The run's raw results from every thread's outputs (`None`: a worker
    /// panicked).
    fn finish(
        &self,
        id: StrategyId,
        parts: Vec<Part>,
        counts: Vec<u32>,
    ) -> Result<RawRun, SimError> {
        let mut outs: Vec<Option<WorkerOut>> = (0..self.plans.len()).map(|_| None).collect();
        for part in parts {
            for (i, out) in part.ok_or(SimError::WorkerPanicked(id.name()))? {
                outs[i] = Some(out);
            }
        }
        let outs = outs
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or(SimError::WorkerPanicked(id.name()))?;
        Ok(RawRun::from_workers(
            self.w.layout().slots(),
            &self.plans,
            outs,
            counts,
            keeps_history(&self.w),
        ))
    }
}

/// See [`Team::alarm`].
struct Alarm<'a>(&'a watch::Sender<bool>, bool);

impl Alarm<'_> {
    fn disarm(mut self) {
        self.1 = false;
    }
}

impl Drop for Alarm<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.send_replace(true);
        }
    }
}

/// The workers' barrier and the instants it opened.
struct Sync {
    barrier: Arc<Barrier>,
    stamps: Arc<Vec<AtomicU64>>,
    clock: Clock,
}

impl Sync {
    /// Waits for every worker, then returns when barrier `n` opened: the
    /// leader stamps it, the others wait (yielding) for the stamp. All get
    /// the same instant, so a task that runs late after the release is
    /// measured as late, not given a fresh start.
    async fn wait(&self, n: usize) -> u64 {
        if self.barrier.wait().await.is_leader() {
            let now = self.clock.now().max(1);
            self.stamps[n].store(now, Ordering::Release);
            return now;
        }
        loop {
            let t = self.stamps[n].load(Ordering::Acquire);
            if t != 0 {
                return t;
            }
            crate::strategy::yield_now().await;
        }
    }
}

async fn worker<H: AsyncRecorder>(
    mut h: H,
    plan: &WorkerPlan,
    w: &Workload,
    clock: Clock,
    sync: &Sync,
    progress: &Progress,
    (start_at, stop_at): (u64, u64),
) -> WorkerOut {
    let mut out = WorkerOut::new(plan.len(), keeps_history(w), false);
    let work = w.work;
    let limit = w.time_limit.as_nanos() as u64;
    let stop_at = if stop_at == 0 { u64::MAX } else { stop_at };
    // Only a schedule (an answer window) has planned arrivals to be late for.
    let scheduled = !w.window.is_zero();
    let released = sync.wait(0).await;
    let now = clock.now();
    if start_at > now {
        tokio::time::sleep(std::time::Duration::from_nanos(start_at - now)).await;
    }
    out.start_ns = clock.now();
    let mut round_start = released.max(start_at);
    for r in 0..w.rounds as usize {
        let first = plan.round_start(r);
        out.round_start.push(round_start);
        let deadline = round_start.saturating_add(limit).min(stop_at);
        for (i, p) in plan.round(r).enumerate() {
            let planned = round_start + p.at_ns;
            if planned > deadline {
                break; // never wait for an answer that would be abandoned
            }
            if scheduled {
                let now = clock.now();
                if planned > now {
                    crate::strategy::sleep_precise(std::time::Duration::from_nanos(planned - now))
                        .await;
                }
            }
            let t0 = clock.now();
            if t0 > deadline {
                break;
            }
            let outcome = h.record(p.answer, &work).await;
            let t1 = clock.now();
            out.record_long(t0, t1);
            if scheduled {
                out.lateness.record(t0.saturating_sub(planned));
                out.response.record(t1.saturating_sub(planned));
            }
            out.set_submitted(first + i, round_start, t0);
            out.set_took(first + i, t0, t1);
            if let Outcome::Ok { ended, value } = outcome {
                out.set_value(first + i, value.unwrap_or(NO_VALUE));
                if ended {
                    out.fires.push((p.answer.slot, t1));
                }
            }
            out.outcome[first + i] = Fate::from(outcome);
        }
        out.end_ns = clock.now();
        progress.add(plan.round(r).len() as u64);
        round_start = sync.wait(r + 1).await;
    }
    out.retries = h.retries();
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::strategy::{Env, Layout, SetupError, Tracer};

    /// Set-ups so far, and the worker whose first answer panics.
    static SETUPS: AtomicUsize = AtomicUsize::new(0);
    static HANDLES: AtomicUsize = AtomicUsize::new(0);

    /// A strategy whose second set-up fails when `FAIL_SETUP`, else whose
    /// worker 1 panics at its first answer: what one broken core thread
    /// looks like to the others.
    struct Breaks<const FAIL_SETUP: bool>;
    struct Handle {
        panics: bool,
    }

    impl<const FAIL_SETUP: bool> AsyncStrategy for Breaks<FAIL_SETUP> {
        type Handle = Handle;
        async fn setup(_: Layout, _: &Env, _: Option<Tracer>) -> Result<Self, SetupError> {
            if FAIL_SETUP && SETUPS.fetch_add(1, Ordering::SeqCst) == 1 {
                return Err(SetupError::Backend("the second set-up fails".into()));
            }
            Ok(Breaks)
        }
        async fn handle(&self) -> Result<Handle, SetupError> {
            // Only the panicking kind counts handles (tests run in parallel).
            let panics = !FAIL_SETUP && HANDLES.fetch_add(1, Ordering::SeqCst) == 1;
            Ok(Handle { panics })
        }
        async fn counts(&self) -> Result<Vec<u32>, SetupError> {
            Ok(Vec::new())
        }
    }

    impl AsyncRecorder for Handle {
        async fn record(&mut self, _: Answer, _: &ScoringWork) -> Outcome {
            assert!(!self.panics, "worker 1 breaks");
            crate::strategy::yield_now().await;
            Outcome::Ok {
                ended: false,
                value: None,
            }
        }
    }

    /// Runs `S` thread-per-core on 3 threads of 2 workers each; fails the
    /// test, instead of hanging it, if the run does not return in time.
    fn per_core<S: AsyncStrategy>() -> Result<RawRun, SimError> {
        let w = Workload {
            rooms: 6,
            rounds: 3,
            players: 4,
            workers: 6,
            processes: 1,
            runtime: Runtime::Tokio,
            seed: 1,
            window: Duration::ZERO,
            work: ScoringWork::None,
            time_limit: Duration::from_secs(60),
            balance: super::super::Balance::RoundRobin,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let opts = RunOptions::default();
            let t = Tokio {
                runtime: Runtime::Tokio,
                plans: w.plans(0),
                w: &w,
                clock: Clock::start(),
                opts: &opts,
            };
            let _ = tx.send(t.per_core::<S>(StrategyId::RedisIncrby, 3));
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the other threads' workers were not stopped: the run hung")
    }

    #[test]
    fn one_thread_failing_set_up_stops_the_others_and_its_error_is_the_runs() {
        SETUPS.store(0, Ordering::SeqCst);
        match per_core::<Breaks<true>>() {
            Err(SimError::Setup(SetupError::Backend(m))) => {
                assert_eq!(m, "the second set-up fails")
            }
            other => panic!("expected the set-up error, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn a_worker_panicking_on_one_thread_stops_the_others() {
        HANDLES.store(0, Ordering::SeqCst);
        match per_core::<Breaks<false>>() {
            Err(SimError::WorkerPanicked(_)) => {}
            other => panic!("expected a panicked worker, got {:?}", other.map(|_| ())),
        }
    }
}

//! The `tokio` and `tokio-current` runtimes: one task per worker.
//!
//! `tokio-current` runs every task on one thread, so any lost update there
//! comes from interleaving at `.await` points alone, not from parallelism.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Barrier;

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
    let rt = build_runtime(runtime)?;
    id.visit(Tokio {
        rt,
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
    rt: tokio::runtime::Runtime,
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
        let strategy = S::new(self.w.layout())?;
        let handles = self
            .plans
            .iter()
            .map(|_| SyncAdapter {
                handle: strategy.handle(),
                scores_first: S::SCORES_FIRST,
            })
            .collect();
        let (w, plans, clock, progress) =
            (self.w, self.plans, self.clock, self.opts.progress.clone());
        let start_at = self.opts.start_window()?;
        let (plans, outs) = self.rt.block_on(drive(
            id,
            handles,
            plans,
            w.clone(),
            clock,
            progress,
            start_at,
        ));
        let mut raw = RawRun::from_workers(
            w.layout().slots(),
            &plans,
            outs?,
            strategy.counts(),
            keeps_history(w),
        );
        raw.add_owner_fires(strategy.fires(), &clock);
        Ok(raw)
    }

    fn visit_async<S: AsyncStrategy>(self, id: StrategyId) -> Self::Output {
        let Tokio {
            rt,
            w,
            plans,
            clock,
            opts,
        } = self;
        rt.block_on(async move {
            let strategy = S::setup(w.layout(), &opts.env, None).await?;
            let mut handles = Vec::with_capacity(plans.len());
            for _ in 0..plans.len() {
                handles.push(strategy.handle().await?);
            }
            let start_at = opts.start_window()?;
            let (plans, outs) = drive(
                id,
                handles,
                plans,
                w.clone(),
                clock,
                opts.progress.clone(),
                start_at,
            )
            .await;
            // State on a back end is read once, after every process is
            // done and the fault is over (`sim::run_trial`).
            let counts = if id.networked() {
                Vec::new()
            } else {
                strategy.counts().await?
            };
            Ok(RawRun::from_workers(
                w.layout().slots(),
                &plans,
                outs?,
                counts,
                keeps_history(w),
            ))
        })
    }
}

/// Spawns one task per worker, releases them together, and collects their
/// outputs. If a task panics the others are aborted (they may be waiting on
/// the barrier for it), so a broken worker is an error, never a hang.
async fn drive<H: AsyncRecorder>(
    id: StrategyId,
    handles: Vec<H>,
    plans: Vec<WorkerPlan>,
    w: Workload,
    clock: Clock,
    progress: Progress,
    start_at: (u64, u64),
) -> (Vec<WorkerPlan>, Result<Vec<WorkerOut>, SimError>) {
    let plans: Arc<Vec<WorkerPlan>> = Arc::new(plans);
    let w = Arc::new(w);
    let barrier = Arc::new(Barrier::new(plans.len()));
    // The instant each barrier opened (index 0: the start, r + 1: after
    // round r), stamped by the barrier's leader, read by every worker.
    let stamps: Arc<Vec<AtomicU64>> = Arc::new((0..=w.rounds).map(|_| AtomicU64::new(0)).collect());
    let mut tasks = tokio::task::JoinSet::new();
    for (i, h) in handles.into_iter().enumerate() {
        let (plans, w, barrier, progress, stamps) = (
            plans.clone(),
            w.clone(),
            barrier.clone(),
            progress.clone(),
            stamps.clone(),
        );
        tasks.spawn(async move {
            let sync = Sync {
                barrier: &barrier,
                stamps: &stamps,
                clock,
            };
            let out = worker(h, &plans[i], &w, clock, &sync, &progress, start_at).await;
            (i, out)
        });
    }
    let mut outs: Vec<Option<WorkerOut>> = (0..plans.len()).map(|_| None).collect();
    let mut failed = false;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, out)) => outs[i] = Some(out),
            Err(_) => {
                failed = true;
                tasks.abort_all();
            }
        }
    }
    let plans = Arc::try_unwrap(plans).unwrap_or_else(|a| (*a).clone());
    let outs = outs.into_iter().collect::<Option<Vec<_>>>();
    match outs {
        Some(outs) if !failed => (plans, Ok(outs)),
        _ => (plans, Err(SimError::WorkerPanicked(id.name()))),
    }
}

/// The workers' barrier and the instants it opened.
struct Sync<'a> {
    barrier: &'a Barrier,
    stamps: &'a [AtomicU64],
    clock: Clock,
}

impl Sync<'_> {
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
    sync: &Sync<'_>,
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

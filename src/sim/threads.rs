//! The `threads` runtime: one OS thread per worker, released together.
//!
//! Workers wait on a barrier before the first answer and between rounds:
//! on two cores a thread that starts a few hundred µs late never overlaps a
//! short run, and the race "does not reproduce".

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::barrier::Barrier;

use super::raw::{keeps_history, NO_VALUE};
use super::workload::{WorkerPlan, Workload};
use super::{Clock, Fate, Progress, RawRun, RunOptions, SimError, WorkerOut};
use crate::strategy::{AsyncStrategy, Recorder, StrategyId, SyncStrategy, Visitor};

pub(super) fn run(
    id: StrategyId,
    w: &Workload,
    plans: Vec<WorkerPlan>,
    clock: Clock,
    opts: &RunOptions,
) -> Result<RawRun, SimError> {
    id.visit(Threads {
        w,
        plans,
        clock,
        opts,
    })
}

struct Threads<'a> {
    w: &'a Workload,
    plans: Vec<WorkerPlan>,
    clock: Clock,
    opts: &'a RunOptions,
}

impl Visitor for Threads<'_> {
    type Output = Result<RawRun, SimError>;

    fn visit_sync<S: SyncStrategy>(self, id: StrategyId) -> Self::Output {
        let Threads {
            w,
            plans,
            clock,
            opts,
        } = self;
        let progress = &opts.progress;
        // Set-up, handles and plans are all ready before the barrier.
        let strategy = S::new(w.layout())?;
        let handles: Vec<S::Handle> = plans.iter().map(|_| strategy.handle()).collect();
        let (start_at, stop_at) = opts.start_window()?;
        let barrier = Barrier::new(plans.len());
        let outs = std::thread::scope(|scope| {
            let mut joins = Vec::with_capacity(plans.len());
            let mut spawn_error = None;
            for (i, (h, plan)) in handles.into_iter().zip(&plans).enumerate() {
                let barrier = &barrier;
                let spawned = std::thread::Builder::new()
                    .name(format!("quizrace-worker-{i}"))
                    .spawn_scoped(scope, move || {
                        // A panicking worker breaks the barrier so the others
                        // stop instead of waiting for it forever.
                        let out = catch_unwind(AssertUnwindSafe(|| {
                            worker(h, plan, w, clock, barrier, progress, (start_at, stop_at))
                        }));
                        if out.is_err() {
                            barrier.break_barrier();
                        }
                        out.ok().flatten()
                    });
                match spawned {
                    Ok(j) => joins.push(j),
                    Err(e) => {
                        // The started workers are waiting for this one.
                        barrier.break_barrier();
                        spawn_error = Some(SimError::Os {
                            what: format!(
                                "starting worker thread {i} of {} (lower --workers?)",
                                plans.len()
                            ),
                            source: e,
                        });
                        break;
                    }
                }
            }
            let outs: Vec<Option<WorkerOut>> =
                joins.into_iter().map(|j| j.join().ok().flatten()).collect();
            if let Some(e) = spawn_error {
                return Err(e);
            }
            outs.into_iter()
                .map(|o| o.ok_or(SimError::WorkerPanicked(id.name())))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let counts = strategy.counts();
        let mut raw =
            RawRun::from_workers(w.layout().slots(), &plans, outs, counts, keeps_history(w));
        raw.add_owner_fires(strategy.fires(), &clock);
        Ok(raw)
    }

    fn visit_async<S: AsyncStrategy>(self, id: StrategyId) -> Self::Output {
        // Unreachable through `sim::run`, which checks runtimes first.
        Err(id
            .check_runtime(crate::strategy::Runtime::Threads)
            .unwrap_err())
    }
}

/// The hot loop. Everything it writes is its own; the only shared steps are
/// the strategy's record call, the barriers, and one progress bump per round.
fn worker<H: Recorder>(
    mut h: H,
    plan: &WorkerPlan,
    w: &Workload,
    clock: Clock,
    barrier: &Barrier,
    progress: &Progress,
    (start_at, stop_at): (u64, u64),
) -> Option<WorkerOut> {
    let work = w.work;
    let limit = w.time_limit.as_nanos() as u64;
    let stop_at = if stop_at == 0 { u64::MAX } else { stop_at };
    // Only a schedule (an answer window) has planned arrivals to be late for.
    let scheduled = !w.window.is_zero();
    // Without one, each call starts when the previous one ended: durations
    // follow from the submissions (`WorkerOut::chained`).
    let mut out = WorkerOut::new(plan.len(), keeps_history(w), !scheduled);
    super::precise_timers();
    let released = barrier.wait_stamped(|| clock.now()).ok()?;
    clock.wait_until(start_at);
    out.start_ns = clock.now();
    // Every round starts when its barrier opens (the same instant for all
    // workers): planned arrivals count from there.
    let mut round_start = released.max(start_at);
    for r in 0..w.rounds as usize {
        let first = plan.round_start(r);
        out.round_start.push(round_start);
        let deadline = round_start.saturating_add(limit).min(stop_at);
        // Back to back (no schedule), one clock read per answer: a call
        // starts when the previous one's bookkeeping is done.
        let mut last = clock.now();
        for (i, p) in plan.round(r).enumerate() {
            let planned = round_start + p.at_ns;
            if planned > deadline {
                break; // never wait for an answer that would be abandoned
            }
            let t0 = if scheduled {
                clock.wait_until(planned);
                clock.now()
            } else {
                last
            };
            if t0 > deadline {
                break; // the round is over; the rest are abandoned, not submitted
            }
            let c = h.record(p.answer, &work);
            let t1 = clock.now();
            last = t1;
            out.record_long(t0, t1);
            if scheduled {
                out.lateness.record(t0.saturating_sub(planned));
                out.response.record(t1.saturating_sub(planned));
            }
            out.set_submitted(first + i, round_start, t0);
            out.set_took(first + i, t0, t1);
            out.set_value(first + i, c.value.unwrap_or(NO_VALUE));
            out.outcome[first + i] = Fate::Ok;
            if c.ended {
                out.fires.push((p.answer.slot, t1));
            }
        }
        out.round_end.push(last);
        out.end_ns = clock.now();
        progress.add(plan.round(r).len() as u64);
        round_start = barrier.wait_stamped(|| clock.now()).ok()?;
    }
    Some(out)
}

/// A strategy that does nothing: the worker loop's own cost.
struct Noop;

impl Recorder for Noop {
    #[inline]
    fn record(
        &mut self,
        answer: crate::strategy::Answer,
        _work: &crate::strategy::ScoringWork,
    ) -> crate::strategy::Counted {
        crate::strategy::Counted {
            ended: false,
            value: Some(std::hint::black_box(answer.player)),
        }
    }
}

/// The bookkeeping of the threads runtime's real worker loop (timestamps,
/// stores, latency), measured with a strategy that does nothing: one
/// worker, one room-round of `answers` answers. Returns the measured
/// region (what `answers/s` divides by). For the `harness` bench.
#[doc(hidden)]
pub fn bookkeeping(answers: u32) -> std::time::Duration {
    let w = Workload {
        rooms: 1,
        rounds: 1,
        players: answers.max(1),
        workers: 1,
        processes: 1,
        runtime: crate::strategy::Runtime::Threads,
        seed: 1,
        window: std::time::Duration::ZERO,
        work: crate::strategy::ScoringWork::None,
        time_limit: std::time::Duration::from_secs(3600),
        balance: super::Balance::RoundRobin,
    };
    let plans = w.plans(0);
    let barrier = Barrier::new(1);
    let out = worker(
        Noop,
        &plans[0],
        &w,
        Clock::start(),
        &barrier,
        &Progress::default(),
        (0, 0),
    )
    .expect("one worker cannot break its own barrier");
    std::time::Duration::from_nanos(out.end_ns.saturating_sub(out.start_ns))
}

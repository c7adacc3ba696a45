//! Counterexamples for `quizrace explain`: a short real run of the strategy,
//! traced, searched for the interleaving that broke an invariant.
//!
//! Nothing here is canned: the timeline is the log of the operations the
//! workers actually performed, in the order they hit the counter.

use std::time::Duration;

use crate::sim::{self, Balance, RunOptions, Workload};
use crate::strategy::{
    AsyncRecorder, AsyncStrategy, Demo, Env, Layout, Outcome, Recorder, Runtime, ScoringWork,
    SetupError, StrategyId, SyncStrategy, TraceEvent, TraceOp, Tracer, Visitor,
};

/// What a short run of a strategy showed.
#[derive(Debug)]
pub enum Evidence {
    /// A racy interleaving, as it happened.
    Counterexample {
        /// The runtime and settings of the run.
        setup: String,
        /// Attempts needed before the race showed.
        attempts: u32,
        /// The events of the affected room-round, in order.
        timeline: Vec<TraceEvent>,
        /// Indices into `timeline` of the steps that make the bug.
        culprits: Vec<usize>,
        /// One-sentence summary of what went wrong.
        summary: String,
    },
    /// Separate processes' maps (local-map): what each process counted.
    Partitioned {
        /// Players per room.
        players: u32,
        /// Count seen by each process for the room.
        counts: Vec<u32>,
        /// How many times endQuizTime fired (0: the room hung).
        fires: u32,
    },
    /// A confirming run of a correct strategy.
    Confirmed {
        /// The run's summary line.
        setup: String,
        /// Its result.
        result: Box<crate::result::StrategyResult>,
    },
    /// The race did not show within the attempts.
    NotReproduced {
        /// What was tried.
        setup: String,
    },
}

const ATTEMPTS: u32 = 2_000;

/// Runs `id` briefly and returns the evidence.
/// How it runs is the catalogue's [`Demo`]: a racy strategy is traced, a
/// strategy that is only racy across processes runs on two of them, and a
/// correct one gets a confirming run.
pub fn investigate(id: StrategyId, env: &Env) -> Result<Evidence, sim::SimError> {
    match id.info().demo {
        Demo::Trace => id.visit(Traced { env }),
        Demo::Partition => partitioned(id),
        Demo::Confirm => {
            let runtime = if id.supports(Runtime::Threads) {
                Runtime::Threads
            } else {
                Runtime::Tokio
            };
            let w = Workload {
                rooms: 100,
                rounds: 10,
                players: 8,
                workers: 4,
                processes: 1,
                runtime,
                seed: 7,
                window: Duration::ZERO,
                work: ScoringWork::None,
                time_limit: Duration::from_secs(10),
                balance: Balance::RoundRobin,
            };
            let opts = RunOptions {
                env: env.clone(),
                ..RunOptions::default()
            };
            let result = sim::run(id, &w, &opts)?;
            Ok(Evidence::Confirmed {
                setup: format!(
                    "{} rooms x {} players x {} rounds, {} workers on {}",
                    w.rooms, w.players, w.rounds, w.workers, runtime
                ),
                result: Box::new(result),
            })
        }
    }
}

/// A short real run of `id` for a timeline picture: 10 rooms of 8 players
/// over 5 rounds on 4 workers that yield while scoring (two processes for
/// a strategy that is only racy across them), so that a racy strategy has
/// room-rounds to show; its result's [`crate::result::Timeline`] is one of
/// them (a broken one, if any broke).
pub fn timeline_run(
    id: StrategyId,
    env: &Env,
) -> Result<crate::result::StrategyResult, sim::SimError> {
    let runtime = match id.info().demo {
        Demo::Partition => Runtime::Processes,
        _ if id.supports(Runtime::Threads) => Runtime::Threads,
        _ => Runtime::Tokio,
    };
    let w = Workload {
        rooms: 10,
        rounds: 5,
        players: 8,
        workers: 4,
        processes: if runtime == Runtime::Processes { 2 } else { 1 },
        runtime,
        seed: 7,
        window: Duration::ZERO,
        work: ScoringWork::Yield,
        time_limit: Duration::from_secs(10),
        balance: Balance::RoundRobin,
    };
    let opts = RunOptions {
        env: env.clone(),
        ..RunOptions::default()
    };
    sim::run(id, &w, &opts)
}

/// One room-round of 2 players, answered by 2 workers scoring with a yield
/// between read and write: the smallest setting in which the race can show.
const LAYOUT: Layout = Layout {
    rooms: 1,
    rounds: 1,
    players: 2,
};

struct Traced<'a> {
    env: &'a Env,
}

impl Visitor for Traced<'_> {
    type Output = Result<Evidence, sim::SimError>;

    fn visit_sync<S: SyncStrategy>(self, id: StrategyId) -> Self::Output {
        let setup = "1 room x 2 players on 2 threads, scoring work = yield".to_string();
        for attempt in 1..=ATTEMPTS {
            let tracer = Tracer::new();
            let s = S::traced(LAYOUT, tracer.clone())?;
            let barrier = std::sync::Barrier::new(2);
            std::thread::scope(|scope| {
                for player in 0..2 {
                    let mut h = s.handle();
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        h.record(LAYOUT.answer(0, 0, player), &ScoringWork::Yield);
                    });
                }
            });
            if let Some(e) = diagnose(id, &tracer.events(), attempt, &setup) {
                return Ok(e);
            }
        }
        Ok(Evidence::NotReproduced { setup })
    }

    fn visit_async<S: AsyncStrategy>(self, id: StrategyId) -> Self::Output {
        let setup =
            "1 room x 2 players as 2 tasks on one thread (tokio-current), scoring work = yield"
                .to_string();
        let rt = crate::sim::process::runtime_for_explain()?;
        for attempt in 1..=ATTEMPTS.min(50) {
            let tracer = Tracer::new();
            // Each attempt in a namespace of its own, removed afterwards. A
            // server that is down or stopped is an error to report (exit
            // 2), never "the race did not show".
            sim::in_namespace(id, self.env, LAYOUT, |env| {
                rt.block_on(traced_round::<S>(id, env, tracer.clone()))
            })?;
            if let Some(e) = diagnose(id, &tracer.events(), attempt, &setup) {
                return Ok(e);
            }
        }
        Ok(Evidence::NotReproduced { setup })
    }
}

/// One traced round of two tasks on an async strategy.
async fn traced_round<S: AsyncStrategy>(
    id: StrategyId,
    env: &Env,
    tracer: Tracer,
) -> Result<(), sim::SimError> {
    let s = S::setup(LAYOUT, env, Some(tracer)).await?;
    let mut tasks = Vec::new();
    for player in 0..2 {
        let mut h = s.handle().await?;
        tasks.push(tokio::spawn(async move {
            h.record(LAYOUT.answer(0, 0, player), &ScoringWork::Yield)
                .await
        }));
    }
    for t in tasks {
        match t.await {
            Ok(Outcome::Ok { .. }) => {}
            Ok(Outcome::Failed | Outcome::Unknown) => {
                return Err(sim::SimError::Setup(SetupError::Backend(
                    "the server did not acknowledge an answer (refused or timed out): is it \
                     running and not paused?"
                        .into(),
                )));
            }
            Err(_) => return Err(sim::SimError::WorkerPanicked(id.name())),
        }
    }
    Ok(())
}

/// Finds the bug in a trace: two reads of the same value (a lost update) or
/// two fires (a duplicate end).
fn diagnose(id: StrategyId, events: &[TraceEvent], attempts: u32, setup: &str) -> Option<Evidence> {
    let fires: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].op == TraceOp::Fire)
        .collect();
    if fires.len() > 1 {
        let checks: Vec<usize> = (0..events.len())
            .filter(|&i| matches!(events[i].op, TraceOp::Check(_) | TraceOp::Read(_)))
            .collect();
        return Some(Evidence::Counterexample {
            setup: setup.to_string(),
            attempts,
            timeline: events.to_vec(),
            culprits: checks.into_iter().chain(fires.iter().copied()).collect(),
            summary: format!(
                "{}: both workers saw the full count and emitted endQuizTime, so the round ended {} times",
                id.name(),
                fires.len()
            ),
        });
    }
    for (i, a) in events.iter().enumerate() {
        if let TraceOp::Read(v) = a.op {
            if let Some(j) = events[i + 1..]
                .iter()
                .position(|b| b.worker != a.worker && b.op == TraceOp::Read(v))
            {
                let j = i + 1 + j;
                let writes: Vec<usize> = (j..events.len())
                    .filter(|&k| events[k].op == TraceOp::Write(v + 1))
                    .collect();
                if writes.len() >= 2 {
                    return Some(Evidence::Counterexample {
                        setup: setup.to_string(),
                        attempts,
                        timeline: events.to_vec(),
                        culprits: [i, j].into_iter().chain(writes).collect(),
                        summary: format!(
                            "{}: workers {} and {} both read {v} and both wrote {}: two answers, \
                             one increment. The count stops at {} of {}, nobody emits endQuizTime, \
                             and the room hangs",
                            id.name(),
                            a.worker,
                            events[j].worker,
                            v + 1,
                            v + 1,
                            LAYOUT.players
                        ),
                    });
                }
            }
        }
    }
    None
}

/// A strategy racy only across processes (`local-map`): a real run on two
/// worker processes, one room of 8 players spread round-robin as the
/// story's nginx did; shows what each counted.
fn partitioned(id: StrategyId) -> Result<Evidence, sim::SimError> {
    let w = Workload {
        rooms: 1,
        rounds: 1,
        players: 8,
        workers: 1,
        processes: 2,
        runtime: Runtime::Processes,
        seed: 7,
        window: Duration::ZERO,
        work: ScoringWork::None,
        time_limit: Duration::from_secs(10),
        balance: Balance::RoundRobin,
    };
    let per_process = sim::process::run_each(id, &w, &RunOptions::default())?;
    Ok(Evidence::Partitioned {
        players: w.players,
        counts: per_process.iter().map(|r| r.counts[0]).collect(),
        fires: per_process.iter().map(|r| r.fires.len() as u32).sum(),
    })
}

//! The runner: scenarios planned from files and flags, each strategy run as
//! repeated trials, and the statistics over those trials.
//!
//! One trial ([`sim::run_trial`]) is one run of the workload's plan with
//! fresh strategy state. A single trial says little: a race may not show in
//! it, and a throughput figure from a 1 ms region swings 3× between
//! invocations on a shared 2-core machine. So every strategy (at every
//! sweep point) runs as trials until both a minimum count and a minimum
//! measured time are reached, as criterion samples repeatedly and jcstress
//! counts outcomes over many trials:
//!
//! * **throughput** is the median trial, with min, max and the coefficient
//!   of variation (sample standard deviation over mean);
//! * **latency** percentiles come from the histograms of all trials merged;
//! * **anomalies** are summed over trials, and each anomaly also says in how
//!   many trials it appeared ([`StrategyResult::anomaly_trials`]);
//! * a trial that fails (a worker panicked, a server went away) is kept as a
//!   failed trial with its error; the other trials' figures stay;
//! * the strategies of one scenario point run their trials interleaved
//!   ([`run_interleaved`]), so a slow spell of a shared machine hits a few
//!   trials of each instead of every trial of one.
//!
//! [`run_suite`] runs whole plans (from [`crate::plan`]) and assembles their
//! results files. Nothing here prints; the caller watches through an
//! [`Observer`].

use std::time::{Duration, Instant};

use crate::backend::{self, Env};
use crate::metrics::Recorder as Latency;
use crate::plan::{point_json, Point, ScenarioPlan};
use crate::result::{
    median, Anomalies, ResultsFile, Spread, StrategyResult, TrialPolicyInfo, Verdict,
};
use crate::sim::{self, Progress, RunOptions, SimError, Workload};
use crate::strategy::StrategyId;

/// A trial policy out of range.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `--trials 0`.
    #[error("--trials must be at least 1")]
    ZeroTrials,
    /// Too many trials.
    #[error("--trials {0} is over the limit of {max}: frequencies are clear long before", max = TrialPolicy::MAX_TRIALS)]
    TooManyTrials(u32),
    /// `--min-time` too long.
    #[error("--min-time {0:?} is over the limit of {max:?}", max = TrialPolicy::MAX_MIN_TIME)]
    MinTime(Duration),
    /// `--deadline 0`.
    #[error("--deadline must be more than 0")]
    ZeroDeadline,
}

/// How many trials a strategy runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrialPolicy {
    /// At least this many trials.
    pub min_trials: u32,
    /// And at least this much measured time in total.
    pub min_time: Duration,
    /// Never more trials than this.
    pub max_trials: u32,
    /// Once `min_trials` are done, stop adding trials for `min_time` after
    /// this much wall time (set-up included): slow set-ups (worker
    /// processes) must not turn 200 ms of measuring into minutes.
    pub max_wall: Duration,
    /// The hard limit of one strategy's trials, however slow (a stopped
    /// server, a huge workload): no trial starts after it, and the running
    /// trial abandons its remaining answers at it (those rounds are not
    /// judged, so the result says `inconclusive`).
    pub deadline: Duration,
    /// Whether this is the `--quick` policy (recorded in results).
    pub quick: bool,
}

impl Default for TrialPolicy {
    fn default() -> Self {
        TrialPolicy {
            min_trials: 5,
            min_time: Duration::from_millis(200),
            max_trials: 1_000,
            max_wall: Duration::from_secs(5),
            deadline: Self::DEFAULT_DEADLINE,
            quick: false,
        }
    }
}

impl TrialPolicy {
    /// Upper bound on `--trials`: more is never needed to see a frequency,
    /// and a typo must not run for days.
    pub const MAX_TRIALS: u32 = 10_000;
    /// Upper bound on `--min-time`.
    pub const MAX_MIN_TIME: Duration = Duration::from_secs(600);
    /// Default `--deadline`: ten minutes per strategy (and sweep point).
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

    /// The policy of `--quick`: a few short trials.
    pub fn quick() -> TrialPolicy {
        TrialPolicy {
            min_trials: 3,
            min_time: Duration::from_millis(50),
            max_trials: 1_000,
            max_wall: Duration::from_secs(1),
            deadline: Self::DEFAULT_DEADLINE,
            quick: true,
        }
    }

    /// Sets the hard limit per strategy (`--deadline`), checked.
    pub fn with_deadline(mut self, deadline: Option<Duration>) -> Result<Self, PolicyError> {
        if let Some(d) = deadline {
            if d.is_zero() {
                return Err(PolicyError::ZeroDeadline);
            }
            self.deadline = d;
        }
        Ok(self)
    }

    /// Overrides from `--trials` and `--min-time`, checked.
    pub fn with(
        mut self,
        trials: Option<u32>,
        min_time: Option<Duration>,
    ) -> Result<Self, PolicyError> {
        if let Some(n) = trials {
            if n == 0 {
                return Err(PolicyError::ZeroTrials);
            }
            if n > Self::MAX_TRIALS {
                return Err(PolicyError::TooManyTrials(n));
            }
            self.min_trials = n;
            self.max_trials = self.max_trials.max(n);
        }
        if let Some(t) = min_time {
            if t > Self::MAX_MIN_TIME {
                return Err(PolicyError::MinTime(t));
            }
            self.min_time = t;
            self.max_wall = self.max_wall.max(t * 5);
        }
        Ok(self)
    }

    /// Whether another trial is due after `trials` trials that measured
    /// `measured` in total and took `wall` so far.
    pub fn wants_more(&self, trials: u32, measured: Duration, wall: Duration) -> bool {
        if trials < self.min_trials {
            return true;
        }
        trials < self.max_trials && measured < self.min_time && wall < self.max_wall
    }

    pub(crate) fn info(&self) -> TrialPolicyInfo {
        TrialPolicyInfo {
            min_trials: self.min_trials,
            min_time_ms: self.min_time.as_millis() as u64,
            deadline_ms: self.deadline.as_millis() as u64,
            quick: self.quick,
        }
    }
}

/// Runs `id` on `w` as trials under `policy` and aggregates them.
///
/// The same as [`run_interleaved`] with one strategy.
pub fn run_trials(
    id: StrategyId,
    w: &Workload,
    opts: &RunOptions,
    policy: &TrialPolicy,
) -> Result<StrategyResult, SimError> {
    run_interleaved(&[(id, w.clone())], opts, policy)
        .pop()
        .expect("one result per strategy")
}

/// One strategy's trials in progress.
struct Progressing {
    trials: Vec<sim::check::Trial>,
    errors: Vec<String>,
    failed: Option<SimError>,
    measured: Duration,
    spent: Duration,
    done: bool,
}

/// Runs several strategies' trials **interleaved**, one trial of each in
/// turn, until each has what `policy` asks for, and aggregates each.
///
/// Interleaving is what makes their figures comparable on a shared machine:
/// a noisy neighbour that slows the machine for a few seconds slows a few
/// trials of every strategy, and the medians shrug it off, instead of
/// slowing every trial of whichever strategy happened to be running then.
///
/// Per strategy: every trial is bounded by what is left of
/// `policy.deadline` (its own trials' time). The first trial's error is
/// returned as that strategy's `Err` (it cannot run at all). A later
/// trial's error is recorded in its result (`failed_trials`,
/// `trial_errors`) and ends its trials, since whatever broke (a server, a
/// process) is likely to break the next one too.
pub fn run_interleaved(
    runs: &[(StrategyId, Workload)],
    opts: &RunOptions,
    policy: &TrialPolicy,
) -> Vec<Result<StrategyResult, SimError>> {
    let mut state: Vec<Progressing> = runs
        .iter()
        .map(|_| Progressing {
            trials: Vec::new(),
            errors: Vec::new(),
            failed: None,
            measured: Duration::ZERO,
            spent: Duration::ZERO,
            done: false,
        })
        .collect();
    loop {
        let mut ran = false;
        for ((id, w), st) in runs.iter().zip(&mut state) {
            // After Ctrl-C no trial may start: its keys would outlive the clean-up.
            if st.done || backend::interrupt::interrupted() {
                continue;
            }
            let left = policy.deadline.saturating_sub(st.spent);
            if left.is_zero() || !policy.wants_more(st.trials.len() as u32, st.measured, st.spent) {
                st.done = true;
                continue;
            }
            let opts = RunOptions {
                stop_at_ns: left.as_nanos().min(u64::MAX as u128) as u64,
                ..opts.clone()
            };
            let started = Instant::now();
            let trial = sim::run_trial(*id, w, &opts);
            st.spent += started.elapsed();
            ran = true;
            match trial {
                Ok(mut t) => {
                    st.measured += Duration::from_secs_f64(t.result.elapsed_s);
                    // Only the first trial's history is written out: the
                    // others' (up to 64 MiB each) go now, not at the end.
                    if !st.trials.is_empty() {
                        t.history = Vec::new();
                    }
                    st.trials.push(t);
                }
                Err(e) if st.trials.is_empty() => {
                    st.failed = Some(e);
                    st.done = true;
                }
                Err(e) => {
                    st.errors.push(e.to_string());
                    st.done = true;
                }
            }
        }
        if !ran {
            break;
        }
    }
    state
        .into_iter()
        .map(|st| match st.failed {
            Some(e) => Err(e),
            None => Ok(aggregate(st.trials, st.errors)),
        })
        .collect()
}

/// Folds checked trials into one result: counts summed, throughput as the
/// median trial with its spread, percentiles from merged histograms.
pub fn aggregate(trials: Vec<sim::check::Trial>, errors: Vec<String>) -> StrategyResult {
    let mut out = StrategyResult {
        failed_trials: errors.len() as u32,
        trial_errors: errors,
        trials: 0,
        ..StrategyResult::default()
    };
    let (mut latency, mut response, mut lateness, mut end) = (
        Latency::new(),
        Latency::new(),
        Latency::new(),
        Latency::new(),
    );
    let mut rates = Vec::with_capacity(trials.len());
    let mut anomaly_trials = Anomalies::default();
    for mut t in trials {
        let r = t.result;
        if out.trials == 0 {
            out.first_history = std::mem::take(&mut t.history);
        }
        if let Some(h) = &r.history {
            let mine = out.history.get_or_insert_with(Default::default);
            mine.checked_rounds += h.checked_rounds;
            if mine.witness.is_none() {
                mine.witness = h.witness.clone();
            }
        }
        // The picture: a room-round that broke, the history's kind first.
        let rank = |t: &Option<crate::result::Timeline>| match t.as_ref().map(|t| t.why.as_str()) {
            None => 0,
            Some("first") => 1,
            Some("non_linearizable") => 3,
            Some(_) => 2,
        };
        if rank(&r.timeline) > rank(&out.timeline) {
            out.timeline = r.timeline.clone();
        }
        if out.trials == 0 {
            out.strategy = r.strategy.clone();
            out.kind = r.kind.clone();
            out.runtime = r.runtime.clone();
            out.anomalies_expected = r.anomalies_expected;
        }
        out.trials += 1;
        out.answers += r.answers;
        out.recorded += r.recorded;
        out.room_rounds += r.room_rounds;
        out.timed_out += r.timed_out;
        out.unjudged += r.unjudged;
        out.server_restarted |= r.server_restarted;
        if out.server_error.is_none() {
            out.server_error = r.server_error.clone();
        }
        out.anomalies.add(&r.anomalies);
        anomaly_trials.add(&r.anomaly_trials);
        out.anomalous_trials += r.anomalous_trials;
        out.round_outcomes.add(&r.round_outcomes);
        out.elapsed_s += r.elapsed_s;
        out.outcomes.ok += r.outcomes.ok;
        out.outcomes.failed += r.outcomes.failed;
        out.outcomes.unknown += r.outcomes.unknown;
        out.outcomes.retries += r.outcomes.retries;
        out.outcomes.bounds_violations += r.outcomes.bounds_violations;
        rates.push(r.answers_per_s);
        latency.merge(&t.latency);
        response.merge(&t.response);
        lateness.merge(&t.lateness);
        end.merge(&t.end_latency);
    }
    out.anomaly_trials = anomaly_trials;
    out.verdict = Verdict::decide(&out.anomalies, out.room_rounds, out.unjudged);
    out.answers_per_s = median(&rates);
    out.answers_per_s_spread = Spread::of(&rates);
    out.latency_ns = latency.percentiles();
    out.response_latency_ns = response.percentiles();
    out.lateness_ns = lateness.percentiles();
    out.end_latency_ns = end.percentiles();
    out
}

/// What a suite run tells its caller as it goes. Every method has an empty
/// default: an observer implements what it shows.
pub trait Observer {
    /// A scenario's first point is about to run.
    fn scenario_started(&mut self, _plan: &ScenarioPlan) {}
    /// A point's trials are about to run; `progress` counts its answers
    /// (each trial plays `answers_per_trial`).
    fn point_started(
        &mut self,
        _plan: &ScenarioPlan,
        _point: &Point,
        _progress: &Progress,
        _answers_per_trial: u64,
    ) {
    }
    /// A point's trials are done.
    fn point_finished(&mut self) {}
    /// One strategy's result at one point.
    fn result(&mut self, _plan: &ScenarioPlan, _label: &str, _result: &StrategyResult) {}
    /// A scenario is done; its results file is assembled.
    fn scenario_finished(
        &mut self,
        _plan: &ScenarioPlan,
        _labelled: &[(String, StrategyResult)],
        _file: &ResultsFile,
    ) -> Result<(), SuiteError> {
        Ok(())
    }
}

/// The results of a suite run, and what they say about the environment.
#[derive(Debug, Default)]
pub struct SuiteOutcome {
    /// One results file per scenario, in order.
    pub files: Vec<ResultsFile>,
    /// Whether any result must fail `--check`.
    pub check_failed: bool,
    /// Trials that could not complete, over all strategies.
    pub failed_trials: u32,
    /// A server rejected answers (its own error is in the results).
    pub rejected: bool,
    /// A server restarted during a run.
    pub restarted: bool,
}

/// Why a suite run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A strategy could not run at all; the scenarios finished before it
    /// are in `finished`.
    #[error("scenario `{scenario}`, strategy `{strategy}`: {source}")]
    Strategy {
        /// The scenario.
        scenario: String,
        /// The strategy.
        strategy: &'static str,
        /// Why.
        source: SimError,
        /// Results of the scenarios that finished.
        finished: Vec<ResultsFile>,
    },
    /// The run was interrupted (Ctrl-C or SIGTERM): clean-up is under way.
    #[error("interrupted")]
    Interrupted,
    /// What a scenario's back end needs could not be started (the Redis
    /// lab's servers).
    #[error("scenario `{scenario}`: {source}")]
    Prepare {
        /// The scenario.
        scenario: String,
        /// Why.
        source: crate::strategy::SetupError,
    },
    /// The observer failed (e.g. writing a results file).
    #[error(transparent)]
    Observer(#[from] crate::output::OutputError),
}

/// Runs every plan's points, each point's strategies as interleaved trials
/// under `policy`, and assembles one results file per scenario.
pub fn run_suite(
    plans: &[ScenarioPlan],
    policy: &TrialPolicy,
    observer: &mut impl Observer,
) -> Result<SuiteOutcome, SuiteError> {
    let mut out = SuiteOutcome::default();
    for plan in plans {
        observer.scenario_started(plan);
        // Servers the scenario starts itself (the Redis lab) run until
        // `_started` drops at the end of this scenario, also on an error.
        let (env, _started) = backend::prepare(&plan.env).map_err(|source| {
            if backend::interrupt::interrupted() {
                SuiteError::Interrupted
            } else {
                SuiteError::Prepare {
                    scenario: plan.name.clone(),
                    source,
                }
            }
        })?;
        let mut results: Vec<(String, StrategyResult)> = Vec::new();
        for point in &plan.points {
            let runs: Vec<(StrategyId, Workload)> = plan
                .entries
                .iter()
                .map(|e| (e.id, plan.workload_for(e, point)))
                .collect();
            let progress = Progress::default();
            let opts = RunOptions {
                env: env.clone(),
                progress: progress.clone(),
                ..RunOptions::default()
            };
            // Every trial of every strategy plays the same number of answers.
            let per_trial = runs.first().map_or(1, |(_, w)| w.total_answers());
            observer.point_started(plan, point, &progress, per_trial);
            let outcomes = run_interleaved(&runs, &opts, policy);
            observer.point_finished();
            if backend::interrupt::interrupted() {
                return Err(SuiteError::Interrupted);
            }
            for (entry, r) in plan.entries.iter().zip(outcomes) {
                let mut r = r.map_err(|source| SuiteError::Strategy {
                    scenario: plan.name.clone(),
                    strategy: entry.id.name(),
                    source,
                    finished: std::mem::take(&mut out.files),
                })?;
                r.point = point_json(point);
                let label = plan.label(entry, point);
                observer.result(plan, &label, &r);
                // Written by the observer if asked; not kept past it.
                r.first_history = Vec::new();
                out.check_failed |= r.fails_check();
                out.failed_trials += r.failed_trials;
                out.rejected |= r.outcomes.failed > 0 && r.server_error.is_some();
                out.restarted |= r.server_restarted;
                results.push((label, r));
            }
        }
        // Servers are described only when a strategy used one.
        let networked = plan.entries.iter().any(|e| e.id.networked());
        let env = if networked {
            env.clone()
        } else {
            Env::default()
        };
        let file = plan.results_file(
            results.iter().map(|(_, r)| r.clone()).collect(),
            policy,
            crate::environment::capture(&env),
        );
        observer.scenario_finished(plan, &results, &file)?;
        out.files.push(file);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{Percentiles, RoundOutcomes};

    fn trial(rate: f64, lost: u64) -> sim::check::Trial {
        let mut lat = Latency::new();
        lat.record(100);
        sim::check::Trial {
            result: StrategyResult {
                strategy: "racy-rmw".into(),
                kind: "racy".into(),
                trials: 1,
                answers: 10,
                recorded: 10 - lost,
                room_rounds: 2,
                anomalies: Anomalies {
                    lost_updates: lost,
                    ..Anomalies::default()
                },
                anomaly_trials: Anomalies {
                    lost_updates: u64::from(lost > 0),
                    ..Anomalies::default()
                },
                anomalous_trials: u32::from(lost > 0),
                anomalies_expected: true,
                round_outcomes: RoundOutcomes {
                    exact: 2 - u64::from(lost > 0),
                    lost_1: u64::from(lost > 0),
                    ..RoundOutcomes::default()
                },
                elapsed_s: 0.1,
                answers_per_s: rate,
                latency_ns: Percentiles::default(),
                ..StrategyResult::default()
            },
            latency: lat.clone(),
            response: lat,
            lateness: Latency::new(),
            end_latency: Latency::new(),
            history: Vec::new(),
        }
    }

    #[test]
    fn aggregate_sums_counts_and_takes_the_median_rate() {
        let r = aggregate(
            vec![trial(100.0, 1), trial(300.0, 0), trial(200.0, 1)],
            vec!["boom".into()],
        );
        assert_eq!(r.trials, 3);
        assert_eq!(r.failed_trials, 1);
        assert_eq!(r.answers, 30);
        assert_eq!(r.anomalies.lost_updates, 2);
        assert_eq!(r.anomaly_trials.lost_updates, 2);
        assert_eq!(r.anomalous_trials, 2);
        assert_eq!(r.round_outcomes.lost_1, 2);
        assert_eq!(r.round_outcomes.exact, 4);
        assert_eq!(r.answers_per_s, 200.0);
        assert_eq!(r.answers_per_s_spread.min, 100.0);
        assert_eq!(r.answers_per_s_spread.max, 300.0);
        assert!((r.answers_per_s_spread.cv - 0.5).abs() < 1e-9);
        assert_eq!(r.verdict, Verdict::Anomalies);
        assert!(!r.not_reproduced());
        assert!((r.elapsed_s - 0.3).abs() < 1e-9);
    }

    #[test]
    fn a_racy_strategy_exact_in_every_trial_is_not_reproduced() {
        let r = aggregate(vec![trial(1.0, 0), trial(1.0, 0)], vec![]);
        assert_eq!(r.verdict, Verdict::Exact);
        assert!(r.not_reproduced());
    }

    #[test]
    fn policy_needs_both_count_and_time_and_has_caps() {
        let p = TrialPolicy::default();
        let ms = Duration::from_millis;
        assert!(p.wants_more(4, ms(10_000), ms(1)));
        assert!(p.wants_more(5, ms(100), ms(100)));
        assert!(!p.wants_more(5, ms(200), ms(300)));
        assert!(!p.wants_more(5, ms(100), Duration::from_secs(6)));
        assert!(!p.wants_more(1_000, ms(1), ms(1)));
        assert_eq!(p.with(Some(0), None), Err(PolicyError::ZeroTrials));
        assert!(p.with(Some(TrialPolicy::MAX_TRIALS + 1), None).is_err());
        assert!(p.with(None, Some(Duration::from_secs(601))).is_err());
        assert_eq!(p.with(Some(20), None).unwrap().min_trials, 20);
    }
}

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
//! Nothing here prints; the CLI passes a [`sim::Progress`] and reads the results.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::metrics::Recorder as Latency;
use crate::result::{
    median, Anomalies, Environment, ResultsFile, ScenarioInfo, Spread, StrategyResult,
    TrialPolicyInfo, Verdict, SCHEMA,
};
use crate::scenario::{ScenarioFile, ANOMALY_NAMES};
use crate::sim::{self, RunOptions, SimError, Workload};
use crate::strategy::{Env, Runtime, StrategyId};

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
    pub fn with_deadline(mut self, deadline: Option<Duration>) -> Result<Self, String> {
        if let Some(d) = deadline {
            if d.is_zero() {
                return Err("--deadline must be more than 0".into());
            }
            self.deadline = d;
        }
        Ok(self)
    }

    /// Overrides from `--trials` and `--min-time`, checked.
    pub fn with(mut self, trials: Option<u32>, min_time: Option<Duration>) -> Result<Self, String> {
        if let Some(n) = trials {
            if n == 0 {
                return Err("--trials must be at least 1".into());
            }
            if n > Self::MAX_TRIALS {
                return Err(format!(
                    "--trials {n} is over the limit of {}: frequencies are clear long before",
                    Self::MAX_TRIALS
                ));
            }
            self.min_trials = n;
            self.max_trials = self.max_trials.max(n);
        }
        if let Some(t) = min_time {
            if t > Self::MAX_MIN_TIME {
                return Err(format!(
                    "--min-time {t:?} is over the limit of {:?}",
                    Self::MAX_MIN_TIME
                ));
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

    fn info(&self) -> TrialPolicyInfo {
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
            if st.done || crate::strategy::redis::interrupted() {
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
                Ok(t) => {
                    st.measured += Duration::from_secs_f64(t.result.elapsed_s);
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
    for t in trials {
        let r = t.result;
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

// ---- planning ----

/// One strategy of a scenario and the runtime it runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The strategy.
    pub id: StrategyId,
    /// Where it runs (the scenario's runtime, or `tokio` for an async-only
    /// strategy in a run whose runtime was not chosen).
    pub runtime: Runtime,
}

/// Strategies that `all` did not include, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    /// Strategy names.
    pub strategies: Vec<&'static str>,
    /// Why, and how to include them.
    pub why: String,
}

/// A scenario resolved from its file and the command-line overrides, with
/// every point validated: nothing runs until every scenario is known good.
#[derive(Clone, Debug)]
pub struct ScenarioPlan {
    /// The scenario after overrides.
    pub file: ScenarioFile,
    /// Display name.
    pub name: String,
    /// Outside settings with this scenario's faults applied.
    pub env: Env,
    /// The workload before sweep points are applied.
    pub workload: Workload,
    /// What runs, in order.
    pub entries: Vec<Entry>,
    /// What `all` left out.
    pub left_out: Vec<LeftOut>,
    /// Swept parameters and values.
    pub sweeps: BTreeMap<String, Vec<u64>>,
    /// The sweep's points (one empty point without sweeps).
    pub points: Vec<BTreeMap<String, u64>>,
    /// Anomalies the scenario promises, per strategy.
    pub expect: BTreeMap<String, Vec<String>>,
    /// Settings that will have no effect in this run.
    pub warnings: Vec<String>,
    /// Whether the command line changed the scenario's workload (then its
    /// description may not apply and its promises are not checked).
    pub workload_changed: bool,
}

impl ScenarioPlan {
    /// Resolves `file` (with `overrides` laid over it) into a plan.
    ///
    /// `runtime_chosen` is false when neither the file nor the flags named a
    /// runtime: then `all` also runs async-only in-process strategies, on
    /// `tokio`, instead of leaving them out.
    pub fn new(
        file: ScenarioFile,
        overrides: &ScenarioFile,
        extra_sweeps: &BTreeMap<String, Vec<u64>>,
        env: &Env,
        with_redis: bool,
        quick: bool,
    ) -> Result<ScenarioPlan, String> {
        let file = file.overlay(overrides);
        let name = file.name.clone().unwrap_or_else(|| "default".into());
        let ctx = |e: String| format!("scenario `{name}`: {e}");
        let mut workload = file.workload().map_err(ctx)?;
        if quick {
            shrink(&mut workload);
        }
        let (entries, left_out) = resolve(&file, &workload, with_redis).map_err(ctx)?;
        let mut sweeps = file.sweep.clone().unwrap_or_default();
        sweeps.extend(extra_sweeps.clone());
        let points = expand(&sweeps).map_err(ctx)?;
        for p in &points {
            for e in &entries {
                let mut w = apply(&workload, p);
                w.runtime = e.runtime;
                w.validate().map_err(|e| ctx(e.to_string()))?;
            }
            apply(&workload, p)
                .check_memory()
                .map_err(|e| ctx(e.to_string()))?;
        }
        // Settings that would silently do nothing are errors (or, for a
        // scenario's fault table reused with other strategies, warnings).
        let on_processes = entries.iter().any(|e| e.runtime == Runtime::Processes);
        if !on_processes {
            if file.processes.is_some_and(|p| p != 1) {
                return Err(ctx(format!(
                    "processes = {} applies only to --runtime processes (this runs on `{}`)",
                    file.processes.unwrap_or(1),
                    workload.runtime
                )));
            }
            if sweeps.contains_key("processes") {
                return Err(ctx(format!(
                    "sweeping processes needs --runtime processes (this runs on `{}`): every \
                     point would be the same run",
                    workload.runtime
                )));
            }
        }
        let mut warnings = Vec::new();
        let faults = file.faults().map_err(ctx)?;
        if !faults.is_default() && !entries.iter().any(|e| e.id.info().needs_redis) {
            warnings.push(format!(
                "scenario `{name}`: the fault settings (timeouts, retries, pause) apply to Redis \
                 strategies only, and none runs here"
            ));
        }
        let env = crate::strategy::redis::with_faults(env, &faults).map_err(ctx)?;
        // A scenario's text and promises describe its own workload: once the
        // command line changes the workload, they may no longer hold.
        let workload_changed = quick
            || !extra_sweeps.is_empty()
            || overrides.seed.is_some()
            || overrides.rooms.is_some()
            || overrides.players.is_some()
            || overrides.rounds.is_some()
            || overrides.workers.is_some()
            || overrides.runtime.is_some()
            || overrides.processes.is_some()
            || overrides.balance.is_some()
            || overrides.scoring_work.is_some()
            || overrides.window.is_some()
            || overrides.time_limit.is_some()
            || overrides.faults.is_some();
        let expect = if workload_changed {
            BTreeMap::new()
        } else {
            file.expect.clone().unwrap_or_default()
        };
        for (s, anomalies) in file.expect.iter().flatten() {
            StrategyId::from_name(s).map_err(|e| ctx(format!("expect: {e}")))?;
            if let Some(a) = anomalies
                .iter()
                .find(|a| !ANOMALY_NAMES.contains(&a.as_str()))
            {
                return Err(ctx(format!(
                    "expect.{s}: `{a}` is not an anomaly; use {}",
                    ANOMALY_NAMES.join(", ")
                )));
            }
        }
        Ok(ScenarioPlan {
            file,
            workload_changed,
            warnings,
            name,
            env,
            workload,
            entries,
            left_out,
            sweeps,
            points,
            expect,
        })
    }

    /// The workload of one entry at one point.
    pub fn workload_for(&self, entry: &Entry, point: &BTreeMap<String, u64>) -> Workload {
        let mut w = apply(&self.workload, point);
        w.runtime = entry.runtime;
        w
    }

    /// Whether any entry runs on a runtime other than the scenario's.
    pub fn mixed_runtimes(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.runtime != self.workload.runtime)
    }

    /// Labels of every row this plan will print, for column widths.
    pub fn labels(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.points {
            for e in &self.entries {
                out.push(self.label(e, p));
            }
        }
        out
    }

    /// A row's label: strategy, its runtime when it is not the scenario's,
    /// and the sweep point.
    pub fn label(&self, e: &Entry, point: &BTreeMap<String, u64>) -> String {
        let mut label = e.id.name().to_string();
        if e.runtime != self.workload.runtime {
            label.push_str(&format!(" [{}]", e.runtime));
        }
        if !point.is_empty() {
            label.push(' ');
            label.push_str(&fmt_point(point));
        }
        label
    }

    /// The results file of this scenario.
    pub fn results_file(
        &self,
        results: Vec<StrategyResult>,
        policy: &TrialPolicy,
        environment: Environment,
    ) -> ResultsFile {
        let w = &self.workload;
        let redis_ran = results
            .iter()
            .any(|r| StrategyId::from_name(&r.strategy).is_ok_and(|s| s.info().needs_redis));
        let promises = self.promises(&results);
        ResultsFile {
            schema: SCHEMA.to_string(),
            scenario: ScenarioInfo {
                name: self.name.clone(),
                seed: w.seed,
                rooms: w.rooms,
                players: w.players,
                rounds: w.rounds,
                runtime: w.runtime.as_str().to_string(),
                workers: w.workers,
                processes: w.effective_processes(),
                description: self.file.description.clone().unwrap_or_default(),
                scoring_work: w.work.to_string(),
                window_us: w.window.as_micros() as u64,
                faults: if redis_ran {
                    crate::strategy::redis::faults_json(&self.env)
                } else {
                    None
                },
                time_limit_us: w.time_limit.as_micros() as u64,
                balance: match w.balance {
                    sim::Balance::RoundRobin => "round-robin",
                    sim::Balance::Hash => "hash",
                }
                .to_string(),
                sweep: self.sweeps.clone(),
                trial_policy: policy.info(),
            },
            environment,
            results,
            promises,
        }
    }

    /// Checks the scenario's promises against results: each promised
    /// anomaly must appear in at least one trial of its strategy.
    pub fn promises(&self, results: &[StrategyResult]) -> Vec<crate::result::Promise> {
        let mut out = Vec::new();
        for (strategy, anomalies) in &self.expect {
            for anomaly in anomalies {
                let runs: Vec<&StrategyResult> =
                    results.iter().filter(|r| &r.strategy == strategy).collect();
                if runs.is_empty() {
                    continue; // not run this time (e.g. `-s` chose others)
                }
                let trials: u32 = runs.iter().map(|r| r.trials).sum();
                let seen: u64 = runs
                    .iter()
                    .map(|r| anomaly_count(&r.anomaly_trials, anomaly))
                    .sum();
                out.push(crate::result::Promise {
                    strategy: strategy.clone(),
                    anomaly: anomaly.clone(),
                    trials,
                    trials_seen: seen as u32,
                    kept: seen > 0,
                });
            }
        }
        out
    }
}

/// The count of one anomaly by its name in [`ANOMALY_NAMES`].
pub fn anomaly_count(a: &Anomalies, name: &str) -> u64 {
    match name {
        "lost_updates" => a.lost_updates,
        "over_counts" => a.over_counts,
        "missed_end" => a.missed_end,
        "duplicate_end" => a.duplicate_end,
        "early_end" => a.early_end,
        _ => 0,
    }
}

/// Resolves the scenario's strategy list; `all` expands to what can run.
fn resolve(
    file: &ScenarioFile,
    w: &Workload,
    with_redis: bool,
) -> Result<(Vec<Entry>, Vec<LeftOut>), String> {
    let names = file
        .strategies
        .clone()
        .unwrap_or_else(|| vec!["all".into()]);
    if names.is_empty() {
        return Err("`strategies` is empty: name at least one (or \"all\")".into());
    }
    let runtime_chosen = file.runtime.is_some();
    let mut entries = Vec::new();
    let mut no_redis = Vec::new();
    let mut wrong_runtime = Vec::new();
    for name in &names {
        if name != "all" {
            let id = StrategyId::from_name(name).map_err(|e| e.to_string())?;
            id.check_runtime(w.runtime).map_err(|e| e.to_string())?;
            entries.push(Entry {
                id,
                runtime: w.runtime,
            });
            continue;
        }
        for &id in StrategyId::ALL {
            if id.info().needs_redis && !with_redis {
                no_redis.push(id.name());
            } else if id.supports(w.runtime) {
                entries.push(Entry {
                    id,
                    runtime: w.runtime,
                });
            } else if !runtime_chosen && id.supports(Runtime::Tokio) {
                // The default run teaches every in-process race, the async
                // one included: it gets the runtime it needs.
                entries.push(Entry {
                    id,
                    runtime: Runtime::Tokio,
                });
            } else {
                wrong_runtime.push(id.name());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    entries.retain(|e| seen.insert(e.id));
    let mut left_out = Vec::new();
    if !no_redis.is_empty() {
        left_out.push(LeftOut {
            strategies: no_redis,
            why: "they need a Redis server: pass --redis-url or set QUIZRACE_REDIS_URL".into(),
        });
    }
    if !wrong_runtime.is_empty() {
        left_out.push(LeftOut {
            strategies: wrong_runtime,
            why: format!(
                "they cannot run on `{}`: see `quizrace list` for their runtimes",
                w.runtime
            ),
        });
    }
    if entries.is_empty() {
        return Err(format!("no strategy runs on `{}` here", w.runtime));
    }
    Ok((entries, left_out))
}

/// Caps a workload at ~100k answers for quick runs, keeping its shape
/// (rooms, players and runtime stay; rounds, then rooms, shrink).
pub fn shrink(w: &mut Workload) {
    const BUDGET: u64 = 100_000;
    while w.total_answers() > BUDGET && w.rounds > 1 {
        w.rounds = (w.rounds / 2).max(1);
    }
    while w.total_answers() > BUDGET && w.rooms > 1 {
        w.rooms = (w.rooms / 2).max(1);
    }
    w.time_limit = w.time_limit.min(Duration::from_secs(5));
}

/// Parameters a sweep may vary.
pub const SWEEPABLE: &[&str] = &["workers", "rooms", "players", "rounds", "processes"];

/// Parses `--sweep KEY=V1,V2,...` flags.
pub fn parse_sweeps(flags: &[String]) -> Result<BTreeMap<String, Vec<u64>>, String> {
    let mut out = BTreeMap::new();
    for f in flags {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| format!("--sweep `{f}`: write KEY=V1,V2,... (e.g. workers=1,2,4,8)"))?;
        let values = v
            .split(',')
            .map(|x| x.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("--sweep `{f}`: values must be whole numbers"))?;
        out.insert(k.trim().to_string(), values);
    }
    Ok(out)
}

/// The cartesian product of the sweeps (one empty point without sweeps).
pub fn expand(sweeps: &BTreeMap<String, Vec<u64>>) -> Result<Vec<BTreeMap<String, u64>>, String> {
    let mut points = vec![BTreeMap::new()];
    for (k, values) in sweeps {
        if !SWEEPABLE.contains(&k.as_str()) {
            return Err(format!(
                "cannot sweep `{k}`; sweepable: {}",
                SWEEPABLE.join(", ")
            ));
        }
        if values.is_empty() || values.iter().any(|&v| v == 0 || v > u32::MAX as u64) {
            return Err(format!(
                "sweep `{k}` needs values between 1 and {}",
                u32::MAX
            ));
        }
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |&v| {
                    let mut p = p.clone();
                    p.insert(k.clone(), v);
                    p
                })
            })
            .collect();
    }
    if points.len() > 1_000 {
        return Err(format!(
            "{} sweep points is too many (limit 1000)",
            points.len()
        ));
    }
    Ok(points)
}

/// `w` with one sweep point applied.
pub fn apply(w: &Workload, point: &BTreeMap<String, u64>) -> Workload {
    let mut w = w.clone();
    for (k, &v) in point {
        let v = v as u32;
        match k.as_str() {
            "workers" => w.workers = v,
            "rooms" => w.rooms = v,
            "players" => w.players = v,
            "rounds" => w.rounds = v,
            "processes" => w.processes = v,
            _ => {}
        }
    }
    w
}

/// `workers=4 rooms=10`.
pub fn fmt_point(p: &BTreeMap<String, u64>) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
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

    /// `all` takes what fits the runtime; with no runtime chosen, async-only
    /// in-process strategies join on tokio instead of being left out.
    #[test]
    fn all_fits_the_runtime() {
        let file = |runtime: Option<&str>| ScenarioFile {
            runtime: runtime.map(String::from),
            ..ScenarioFile::default()
        };
        let ids = |f: &ScenarioFile, redis: bool| {
            let (entries, left_out) = resolve(f, &f.workload().unwrap(), redis).unwrap();
            (entries, left_out)
        };
        let (threads, left_out) = ids(&file(Some("threads")), false);
        assert!(threads.iter().any(|e| e.id == StrategyId::Atomic));
        assert!(!threads.iter().any(|e| e.id == StrategyId::AsyncRmw));
        assert_eq!(left_out.len(), 2, "{left_out:?}");
        let (procs, _) = ids(&file(Some("processes")), true);
        assert!(procs.iter().all(|e| e.id.supports(Runtime::Processes)));
        let (default, _) = ids(&file(None), false);
        let async_rmw = default
            .iter()
            .find(|e| e.id == StrategyId::AsyncRmw)
            .unwrap();
        assert_eq!(async_rmw.runtime, Runtime::Tokio);
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
        assert!(p.with(Some(0), None).is_err());
        assert!(p.with(Some(TrialPolicy::MAX_TRIALS + 1), None).is_err());
        assert!(p.with(None, Some(Duration::from_secs(601))).is_err());
        assert_eq!(p.with(Some(20), None).unwrap().min_trials, 20);
    }
}

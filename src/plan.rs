//! Planning: scenario files, command-line overrides and sweeps resolved
//! into validated plans before anything runs.
//!
//! [`plan`] is what `quizrace run` does before its first trial: read every
//! scenario, lay the command line over it, expand its sweeps into points,
//! pick the strategies (`all` takes what the runtime and the configured
//! back ends allow), validate every point's workload and memory, and
//! configure the back ends the chosen strategies need. A plan that is
//! wrong fails here, with the scenario's name, never half-way through a run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::{self, BackendError, Env, Family};
use crate::result::{Anomalies, Environment, ResultsFile, ScenarioInfo, StrategyResult, SCHEMA};
use crate::scenario::{ScenarioError, ScenarioFile, ANOMALY_NAMES};
use crate::sim::{self, SimError, Workload};
use crate::strategy::{Replication, Runtime, StrategyId, UnknownStrategy};
use crate::suite::TrialPolicy;

/// A parameter a sweep may vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepKey {
    /// Players per room.
    Players,
    /// Worker processes (`--runtime processes`).
    Processes,
    /// Rooms.
    Rooms,
    /// Rounds per room.
    Rounds,
    /// Workers per process.
    Workers,
}

impl SweepKey {
    /// Every key, in the order points are labelled.
    pub const ALL: [SweepKey; 5] = [
        SweepKey::Players,
        SweepKey::Processes,
        SweepKey::Rooms,
        SweepKey::Rounds,
        SweepKey::Workers,
    ];

    /// The name used in scenario files, flags and results.
    pub fn as_str(self) -> &'static str {
        match self {
            SweepKey::Players => "players",
            SweepKey::Processes => "processes",
            SweepKey::Rooms => "rooms",
            SweepKey::Rounds => "rounds",
            SweepKey::Workers => "workers",
        }
    }

    /// Looks a key up by name.
    pub fn from_name(name: &str) -> Result<SweepKey, Problem> {
        SweepKey::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| Problem::NotSweepable(name.to_string()))
    }

    /// Sets this parameter of `w`.
    fn set(self, w: &mut Workload, v: u32) {
        match self {
            SweepKey::Players => w.players = v,
            SweepKey::Processes => w.processes = v,
            SweepKey::Rooms => w.rooms = v,
            SweepKey::Rounds => w.rounds = v,
            SweepKey::Workers => w.workers = v,
        }
    }

    /// This parameter of `w`.
    pub fn get(self, w: &Workload) -> u32 {
        match self {
            SweepKey::Players => w.players,
            SweepKey::Processes => w.effective_processes(),
            SweepKey::Rooms => w.rooms,
            SweepKey::Rounds => w.rounds,
            SweepKey::Workers => w.workers,
        }
    }
}

/// Swept parameters and their values.
pub type Sweeps = BTreeMap<SweepKey, Vec<u32>>;

/// One sweep point: a value per swept parameter (empty without sweeps).
pub type Point = BTreeMap<SweepKey, u32>;

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A scenario file could not be read or parsed.
    #[error(transparent)]
    Load(#[from] ScenarioError),
    /// A `--sweep` flag is malformed.
    #[error("--sweep `{flag}`: {problem}")]
    SweepFlag {
        /// The flag as given.
        flag: String,
        /// What is wrong.
        problem: Problem,
    },
    /// A scenario (after overrides) is not runnable.
    #[error("scenario `{scenario}`: {problem}")]
    Scenario {
        /// Its name.
        scenario: String,
        /// What is wrong.
        problem: Problem,
    },
    /// A back end a chosen strategy needs could not be configured.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// What is wrong with a scenario.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// A field's value.
    #[error(transparent)]
    Field(#[from] ScenarioError),
    /// A back end's settings do not hold together.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A strategy name.
    #[error(transparent)]
    Strategy(#[from] UnknownStrategy),
    /// A workload limit or a strategy/runtime combination.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// `strategies = []`.
    #[error("`strategies` is empty: name at least one (or \"all\")")]
    NoStrategies,
    /// Nothing in the list can run on the runtime.
    #[error("no strategy runs on `{0}` here")]
    NothingRuns(Runtime),
    /// A parameter that cannot be swept.
    #[error("cannot sweep `{0}`; sweepable: players, processes, rooms, rounds, workers")]
    NotSweepable(String),
    /// Sweep values that are not whole numbers in range.
    #[error("sweep values must be whole numbers between 1 and {}", u32::MAX)]
    SweepValues,
    /// A sweep flag without `=`.
    #[error("write KEY=V1,V2,... (e.g. workers=1,2,4,8)")]
    SweepSyntax,
    /// Too many points.
    #[error("{0} sweep points is too many (limit 1000)")]
    TooManyPoints(usize),
    /// A setting that would silently do nothing.
    #[error("{0}")]
    NoEffect(String),
    /// An `[expect]` entry naming no anomaly.
    #[error("expect.{strategy}: `{anomaly}` is not an anomaly; use {}", ANOMALY_NAMES.join(", "))]
    Expect {
        /// The strategy.
        strategy: String,
        /// The bad name.
        anomaly: String,
    },
}

/// Everything `quizrace run` was asked, before anything is resolved.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Scenario files already read (none: the built-in default).
    pub files: Vec<ScenarioFile>,
    /// Command-line overrides, laid over every file.
    pub overrides: ScenarioFile,
    /// `--sweep` flags, as given (`workers=1,2,4`).
    pub sweeps: Vec<String>,
    /// Back-end URLs given on the command line or in the environment.
    pub urls: Vec<(&'static Family, String)>,
    /// `--quick`.
    pub quick: bool,
}

/// Resolves a request into validated plans.
///
/// A back end whose URL was given is configured; one whose URL is bad only
/// matters if a chosen strategy needs it (an in-process run never fails
/// because a URL in the environment is odd). `all` includes a back end's
/// strategies only when its URL was given; a strategy named explicitly
/// gets its back end's default URL.
pub fn plan(req: &Request) -> Result<Vec<ScenarioPlan>, PlanError> {
    let mut given = Env::default();
    let mut bad: Vec<(&'static Family, BackendError)> = Vec::new();
    for (family, url) in &req.urls {
        match (family.configure)(url) {
            Ok(b) => given = given.with_backend(b),
            Err(e) => bad.push((family, e)),
        }
    }
    let sweeps = parse_sweeps(&req.sweeps)?;
    let files = if req.files.is_empty() {
        vec![ScenarioFile::builtin_default()]
    } else {
        req.files.clone()
    };
    let mut plans = files
        .into_iter()
        .map(|f| ScenarioPlan::new(f, &req.overrides, &sweeps, &given, req.quick))
        .collect::<Result<Vec<_>, _>>()?;
    for plan in &mut plans {
        // `all` left out a family whose URL was given but is not valid: say
        // that, not "pass the URL".
        for (family, e) in &bad {
            for l in &mut plan.left_out {
                let of_family = l.strategies.iter().any(|n| {
                    StrategyId::from_name(n).is_ok_and(|id| id.info().backend == Some(*family))
                });
                if of_family {
                    l.why = format!("the {} URL given is not valid: {e}", family.display);
                }
            }
        }
        let needed: Vec<&'static Family> = plan
            .entries
            .iter()
            .filter_map(|e| e.id.info().backend)
            .collect();
        for family in needed {
            if plan.env.backend(family).is_some() {
                continue;
            }
            if let Some(pos) = bad.iter().position(|(f, _)| *f == family) {
                return Err(bad.swap_remove(pos).1.into());
            }
            plan.env =
                std::mem::take(&mut plan.env).with_backend((family.configure)(family.default_url)?);
        }
        // `--redis-cluster` on the default URL of a named strategy.
        let opts = redis_options(&plan.file).map_err(|problem| PlanError::Scenario {
            scenario: plan.name.clone(),
            problem,
        })?;
        plan.env = backend::redis::apply_options(std::mem::take(&mut plan.env), opts)?;
    }
    Ok(plans)
}

/// The `[redis]` table's settings, checked.
fn redis_options(file: &ScenarioFile) -> Result<backend::redis::Options, Problem> {
    let Some(r) = &file.redis else {
        return Ok(backend::redis::Options::default());
    };
    let lab = match r.lab.as_deref() {
        // `--redis-lab none`: the scenario's workload on --redis-url.
        None | Some("none") => None,
        Some(name) => Some(backend::redis::LabKind::from_name(name).ok_or_else(|| {
            Problem::NoEffect(format!(
                "redis.lab = \"{name}\" is not a lab; use \"primary-replica\" (a primary and a \
                 replica, for the failover fault), \"cluster\" (three primaries) or \"none\" \
                 (the server of --redis-url)"
            ))
        })?),
    };
    if r.cluster == Some(true) && lab == Some(backend::redis::LabKind::PrimaryReplica) {
        return Err(Problem::NoEffect(
            "redis.cluster = true (--redis-cluster) and the primary-replica lab do not go \
             together: the lab is one primary and its replica, not a cluster; use \
             --redis-lab cluster for a cluster"
                .into(),
        ));
    }
    Ok(backend::redis::Options {
        cluster: r.cluster.unwrap_or(false) || lab == Some(backend::redis::LabKind::Cluster),
        lab,
    })
}

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
    /// The back ends, with this scenario's fault settings.
    pub env: Env,
    /// The workload before sweep points are applied.
    pub workload: Workload,
    /// What runs, in order.
    pub entries: Vec<Entry>,
    /// What `all` left out.
    pub left_out: Vec<LeftOut>,
    /// Swept parameters and values.
    pub sweeps: Sweeps,
    /// The sweep's points (one empty point without sweeps).
    pub points: Vec<Point>,
    /// Anomalies the scenario promises, per strategy.
    pub expect: BTreeMap<String, Vec<String>>,
    /// Settings that will have no effect in this run.
    pub warnings: Vec<String>,
    /// Whether the command line changed the scenario's workload (then its
    /// description may not apply and its promises are not checked).
    pub workload_changed: bool,
}

impl ScenarioPlan {
    /// Resolves `file` (with `overrides` laid over it) into a plan; `env`
    /// holds the back ends configured so far.
    pub fn new(
        file: ScenarioFile,
        overrides: &ScenarioFile,
        extra_sweeps: &Sweeps,
        env: &Env,
        quick: bool,
    ) -> Result<ScenarioPlan, PlanError> {
        let file = file.overlay(overrides);
        let name = file.name.clone().unwrap_or_else(|| "default".into());
        Self::resolve(file, &name, overrides, extra_sweeps, env, quick).map_err(|problem| {
            PlanError::Scenario {
                scenario: name.clone(),
                problem,
            }
        })
    }

    fn resolve(
        file: ScenarioFile,
        name: &str,
        overrides: &ScenarioFile,
        extra_sweeps: &Sweeps,
        env: &Env,
        quick: bool,
    ) -> Result<ScenarioPlan, Problem> {
        let mut workload = file.workload()?;
        if quick {
            shrink(&mut workload);
        }
        let faults = file.faults()?;
        let mut env = env.clone();
        env.faults = faults.clone();
        let redis = redis_options(&file)?;
        let url_unused = redis.lab.is_some() && env.backend(&backend::redis::FAMILY).is_some();
        let env = backend::redis::apply_options(env, redis)?;
        let (entries, left_out) = resolve(&file, &workload, &env)?;
        let mut sweeps = Sweeps::new();
        for (k, values) in file.sweep.iter().flatten() {
            sweeps.insert(SweepKey::from_name(k)?, checked_values(values)?);
        }
        sweeps.extend(extra_sweeps.clone());
        let points = expand(&sweeps)?;
        for p in &points {
            for e in &entries {
                let mut w = apply(&workload, p);
                w.runtime = e.runtime;
                w.validate()?;
            }
            apply(&workload, p).check_memory()?;
        }
        // Settings that would silently do nothing are errors (or, for a
        // scenario's fault table reused with other strategies, warnings).
        let on_processes = entries.iter().any(|e| e.runtime == Runtime::Processes);
        if !on_processes {
            if file.processes.is_some_and(|p| p != 1) {
                return Err(Problem::NoEffect(format!(
                    "processes = {} applies only to --runtime processes (this runs on `{}`)",
                    file.processes.unwrap_or(1),
                    workload.runtime
                )));
            }
            if sweeps.contains_key(&SweepKey::Processes) {
                return Err(Problem::NoEffect(format!(
                    "sweeping processes needs --runtime processes (this runs on `{}`): every \
                     point would be the same run",
                    workload.runtime
                )));
            }
        }
        let mut warnings = Vec::new();
        if url_unused {
            warnings.push(format!(
                "scenario `{name}`: the Redis lab starts its own servers, so the Redis URL given \
                 (--redis-url or QUIZRACE_REDIS_URL) is not used"
            ));
        }
        if !faults.is_default() && !entries.iter().any(|e| e.id.networked()) {
            warnings.push(format!(
                "scenario `{name}`: the fault settings (timeouts, retries, pause) apply to \
                 strategies on a server only, and none runs here"
            ));
        }
        if faults.pause.is_some() {
            if let Some(f) = entries
                .iter()
                .filter_map(|e| e.id.info().backend)
                .find(|f| !f.can_pause)
            {
                return Err(Problem::NoEffect(format!(
                    "the pause fault (pause_at / pause_for) cannot be injected into {}: run \
                     its strategies without it (use --response-timeout and --retries)",
                    f.display
                )));
            }
        }
        if faults.failover.is_some() {
            let can = |e: &Entry| {
                e.id.info()
                    .backend
                    .and_then(|f| env.backend(f))
                    .is_some_and(|b| b.can_fail_over())
            };
            if let Some(e) = entries.iter().find(|e| e.id.networked() && !can(e)) {
                return Err(Problem::NoEffect(format!(
                    "the failover fault (failover_at / failover_for) needs a primary and a \
                     replica that quizrace starts itself, and `{}` has none: add [redis] lab = \
                     \"primary-replica\" to the scenario (or --redis-lab primary-replica)",
                    e.id.name()
                )));
            }
        }
        // A scenario's text and promises describe its own workload: once the
        // command line changes the workload, they may no longer hold.
        let workload_changed = quick || !extra_sweeps.is_empty() || overrides.changes_workload();
        let expect = if workload_changed {
            BTreeMap::new()
        } else {
            file.expect.clone().unwrap_or_default()
        };
        for (s, anomalies) in file.expect.iter().flatten() {
            StrategyId::from_name(s)?;
            if let Some(a) = anomalies
                .iter()
                .find(|a| !ANOMALY_NAMES.contains(&a.as_str()))
            {
                return Err(Problem::Expect {
                    strategy: s.clone(),
                    anomaly: a.clone(),
                });
            }
        }
        Ok(ScenarioPlan {
            file,
            workload_changed,
            warnings,
            name: name.to_string(),
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
    pub fn workload_for(&self, entry: &Entry, point: &Point) -> Workload {
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
    pub fn label(&self, e: &Entry, point: &Point) -> String {
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
        let networked_ran = results
            .iter()
            .any(|r| StrategyId::from_name(&r.strategy).is_ok_and(|s| s.networked()));
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
                faults: if networked_ran {
                    self.env.faults.to_json()
                } else {
                    None
                },
                time_limit_us: w.time_limit.as_micros() as u64,
                balance: match w.balance {
                    sim::Balance::RoundRobin => "round-robin",
                    sim::Balance::Hash => "hash",
                }
                .to_string(),
                sweep: self
                    .sweeps
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_string(),
                            v.iter().map(|&x| x as u64).collect(),
                        )
                    })
                    .collect(),
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
        "non_linearizable" => a.non_linearizable,
        _ => 0,
    }
}

/// Resolves the scenario's strategy list; `all` expands to what can run.
fn resolve(
    file: &ScenarioFile,
    w: &Workload,
    env: &Env,
) -> Result<(Vec<Entry>, Vec<LeftOut>), Problem> {
    let names = file
        .strategies
        .clone()
        .unwrap_or_else(|| vec!["all".into()]);
    if names.is_empty() {
        return Err(Problem::NoStrategies);
    }
    let runtime_chosen = file.runtime.is_some();
    let mut entries = Vec::new();
    // Strategies left out because their back end was not configured, per family.
    let mut no_backend: Vec<(&'static backend::Family, Vec<&'static str>)> = Vec::new();
    let mut wrong_runtime = Vec::new();
    let mut no_replica = Vec::new();
    for name in &names {
        if name != "all" {
            let id = StrategyId::from_name(name)?;
            id.check_runtime(w.runtime)?;
            entries.push(Entry {
                id,
                runtime: w.runtime,
            });
            continue;
        }
        for &id in StrategyId::ALL {
            let needs_replica = id.info().replication == Replication::WaitsForReplica
                && !id
                    .info()
                    .backend
                    .and_then(|f| env.backend(f))
                    .is_some_and(|b| b.has_replicas());
            if let Some(family) = id.info().backend.filter(|f| env.backend(f).is_none()) {
                match no_backend.iter_mut().find(|(f, _)| *f == family) {
                    Some((_, names)) => names.push(id.name()),
                    None => no_backend.push((family, vec![id.name()])),
                }
            } else if needs_replica {
                no_replica.push(id.name());
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
    for (family, strategies) in no_backend {
        left_out.push(LeftOut {
            strategies,
            why: format!(
                "they need a {} server: {}",
                family.display,
                family.how_to_configure()
            ),
        });
    }
    if !no_replica.is_empty() {
        left_out.push(LeftOut {
            strategies: no_replica,
            why: "they wait for a replica: run them on a primary with one (--redis-lab \
                  primary-replica starts both)"
                .into(),
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
        return Err(Problem::NothingRuns(w.runtime));
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

/// Parses `--sweep KEY=V1,V2,...` flags.
pub fn parse_sweeps(flags: &[String]) -> Result<Sweeps, PlanError> {
    let mut out = Sweeps::new();
    for f in flags {
        let err = |problem| PlanError::SweepFlag {
            flag: f.clone(),
            problem,
        };
        let (k, v) = f.split_once('=').ok_or_else(|| err(Problem::SweepSyntax))?;
        let key = SweepKey::from_name(k.trim()).map_err(err)?;
        let values = v
            .split(',')
            .map(|x| x.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| err(Problem::SweepValues))?;
        out.insert(key, checked_values(&values).map_err(err)?);
    }
    Ok(out)
}

fn checked_values(values: &[u64]) -> Result<Vec<u32>, Problem> {
    if values.is_empty() || values.iter().any(|&v| v == 0 || v > u32::MAX as u64) {
        return Err(Problem::SweepValues);
    }
    Ok(values.iter().map(|&v| v as u32).collect())
}

/// The cartesian product of the sweeps (one empty point without sweeps).
pub fn expand(sweeps: &Sweeps) -> Result<Vec<Point>, Problem> {
    let total = sweeps
        .values()
        .try_fold(1usize, |n, v| n.checked_mul(v.len()))
        .unwrap_or(usize::MAX);
    if total > 1_000 {
        return Err(Problem::TooManyPoints(total));
    }
    let mut points = vec![Point::new()];
    for (&k, values) in sweeps {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |&v| {
                    let mut p = p.clone();
                    p.insert(k, v);
                    p
                })
            })
            .collect();
    }
    Ok(points)
}

/// `w` with one sweep point applied.
pub fn apply(w: &Workload, point: &Point) -> Workload {
    let mut w = w.clone();
    for (k, &v) in point {
        k.set(&mut w, v);
    }
    w
}

/// `processes=2 workers=4`.
pub fn fmt_point(p: &Point) -> String {
    p.iter()
        .map(|(k, v)| format!("{}={v}", k.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A point as the results file records it.
pub fn point_json(p: &Point) -> BTreeMap<String, u64> {
    p.iter()
        .map(|(k, &v)| (k.as_str().to_string(), v as u64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_parse_expand_and_label_in_key_order() {
        let s = parse_sweeps(&["workers=1,2".into(), "rooms = 10".into()]).unwrap();
        let points = expand(&s).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(fmt_point(&points[1]), "rooms=10 workers=2");
        assert!(matches!(
            parse_sweeps(&["threads=1".into()]),
            Err(PlanError::SweepFlag {
                problem: Problem::NotSweepable(_),
                ..
            })
        ));
        assert!(parse_sweeps(&["workers=0".into()]).is_err());
        assert!(parse_sweeps(&["workers".into()]).is_err());
        let big: Sweeps = [
            (SweepKey::Rooms, vec![1; 40]),
            (SweepKey::Workers, vec![1; 40]),
        ]
        .into_iter()
        .collect();
        assert!(matches!(expand(&big), Err(Problem::TooManyPoints(1600))));
    }

    #[test]
    fn a_bad_url_breaks_only_runs_that_need_its_back_end() {
        let bad = vec![(&backend::redis::FAMILY, "http://nope".to_string())];
        let in_process = Request {
            urls: bad.clone(),
            quick: true,
            ..Request::default()
        };
        let plans = plan(&in_process).unwrap();
        assert!(plans[0].entries.iter().all(|e| !e.id.networked()));
        let named = Request {
            urls: bad,
            overrides: ScenarioFile {
                strategies: Some(vec!["redis-incrby".into()]),
                ..ScenarioFile::default()
            },
            ..Request::default()
        };
        assert!(matches!(plan(&named), Err(PlanError::Backend(_))));
        // Named without a URL: the family's default server.
        let default = Request {
            overrides: ScenarioFile {
                strategies: Some(vec!["redis-incrby".into()]),
                ..ScenarioFile::default()
            },
            ..Request::default()
        };
        let plans = plan(&default).unwrap();
        assert!(plans[0].env.backend(&backend::redis::FAMILY).is_some());
    }

    #[test]
    fn a_pause_is_refused_while_planning_for_a_family_that_cannot_pause() {
        let req = |strategy: &str| Request {
            overrides: ScenarioFile {
                strategies: Some(vec!["atomic".into(), strategy.into()]),
                runtime: Some("tokio".into()),
                faults: Some(crate::scenario::FaultsFile {
                    pause_at: Some("10ms".into()),
                    pause_for: Some("100ms".into()),
                    ..Default::default()
                }),
                ..ScenarioFile::default()
            },
            ..Request::default()
        };
        let e = plan(&req("pg-update-returning")).unwrap_err().to_string();
        assert!(e.contains("cannot be injected into PostgreSQL"), "{e}");
        assert!(plan(&req("redis-incrby")).is_ok());
    }

    #[test]
    fn settings_that_do_nothing_are_errors() {
        let on_threads = |f: ScenarioFile| {
            plan(&Request {
                files: vec![ScenarioFile {
                    runtime: Some("threads".into()),
                    ..f
                }],
                quick: true,
                ..Request::default()
            })
        };
        assert!(on_threads(ScenarioFile {
            processes: Some(5),
            ..ScenarioFile::default()
        })
        .is_err());
        assert!(on_threads(ScenarioFile {
            strategies: Some(vec![]),
            ..ScenarioFile::default()
        })
        .is_err());
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
            let env = if redis {
                backend::configure(&[], backend::FAMILIES).unwrap()
            } else {
                Env::default()
            };
            let (entries, left_out) = resolve(f, &f.workload().unwrap(), &env).unwrap();
            (entries, left_out)
        };
        let (threads, left_out) = ids(&file(Some("threads")), false);
        assert!(threads.iter().any(|e| e.id == StrategyId::Atomic));
        assert!(!threads.iter().any(|e| e.id == StrategyId::AsyncRmw));
        // One line per unconfigured back-end family, one for the runtime.
        assert_eq!(left_out.len(), 1 + backend::FAMILIES.len(), "{left_out:?}");
        let (procs, _) = ids(&file(Some("processes")), true);
        assert!(procs.iter().all(|e| e.id.supports(Runtime::Processes)));
        let (default, _) = ids(&file(None), false);
        let async_rmw = default
            .iter()
            .find(|e| e.id == StrategyId::AsyncRmw)
            .unwrap();
        assert_eq!(async_rmw.runtime, Runtime::Tokio);
    }
}

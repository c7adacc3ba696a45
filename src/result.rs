//! The results file: schema `quizrace.result.v2` (`docs/results-schema.md`).
//!
//! These types are the contract between the simulator, `quizrace report`
//! and CI. Fields may be added (with `#[serde(default)]` so older files still
//! load); none may be renamed or removed without a new schema version.
//!
//! v2 runs every strategy as repeated trials: counts (answers, anomalies,
//! room-rounds) are summed over the trials, throughput is the median trial
//! with its spread, latency percentiles come from the histograms of every
//! trial merged. v1 files (one run per strategy) are read and upgraded as
//! one trial each ([`ResultsFile::from_json`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::strategy::Kind;

/// The schema tag every results file this quizrace writes carries.
pub const SCHEMA: &str = "quizrace.result.v2";
/// The previous schema, still read by `quizrace report`.
pub const SCHEMA_V1: &str = "quizrace.result.v1";

/// One results file: one scenario run, one entry per strategy (and sweep point).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResultsFile {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// What was run.
    pub scenario: ScenarioInfo,
    /// Where it was run.
    pub environment: Environment,
    /// One entry per strategy and sweep point.
    pub results: Vec<StrategyResult>,
    /// The scenario's promises (its `[expect]` table) and whether this run
    /// kept them (v2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promises: Vec<Promise>,
}

/// A scenario's promise that a strategy shows an anomaly, checked (v2).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Promise {
    /// Strategy name.
    pub strategy: String,
    /// Anomaly name (`lost_updates`, `over_counts`, `missed_end`,
    /// `duplicate_end`, `early_end`).
    pub anomaly: String,
    /// Trials the strategy ran.
    pub trials: u32,
    /// Trials in which the anomaly appeared.
    pub trials_seen: u32,
    /// Whether it appeared at all.
    pub kept: bool,
}

/// The scenario's effective parameters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ScenarioInfo {
    /// Scenario name (file stem, or `default`).
    pub name: String,
    /// Seed of the answer streams.
    pub seed: u64,
    /// Rooms.
    pub rooms: u32,
    /// Players per room.
    pub players: u32,
    /// Questions per room.
    pub rounds: u32,
    /// `threads`, `tokio`, `tokio-current` or `processes`.
    pub runtime: String,
    /// Workers per process (threads or tasks).
    pub workers: u32,
    /// OS processes.
    pub processes: u32,
    /// One-paragraph description from the scenario file.
    #[serde(default)]
    pub description: String,
    /// Scoring work, e.g. `sleep:50us`.
    #[serde(default)]
    pub scoring_work: String,
    /// Answer window in microseconds (0 = burst).
    #[serde(default)]
    pub window_us: u64,
    /// Fault settings, when any were injected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<serde_json::Value>,
    /// Round time limit in microseconds (v2; 0 when read from v1).
    #[serde(default)]
    pub time_limit_us: u64,
    /// How players spread over processes and workers (v2).
    #[serde(default)]
    pub balance: String,
    /// Swept parameters and their values, e.g. `{"workers": [1, 2, 4, 8]}`
    /// (v2); the header fields above hold the scenario's own values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sweep: BTreeMap<String, Vec<u64>>,
    /// The trial policy the run used (v2).
    #[serde(default)]
    pub trial_policy: TrialPolicyInfo,
}

/// How many trials each strategy ran for (v2).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrialPolicyInfo {
    /// At least this many trials per strategy and point.
    pub min_trials: u32,
    /// And at least this much measured time in total, in milliseconds.
    pub min_time_ms: u64,
    /// The hard limit per strategy, in milliseconds (0 in older files).
    #[serde(default)]
    pub deadline_ms: u64,
    /// Whether `--quick` shrank the workload and the trials.
    #[serde(default)]
    pub quick: bool,
}

/// Where the run happened, so figures are never without context.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Environment {
    /// quizrace version.
    pub quizrace: String,
    /// `rustc --version` at build time.
    pub rustc: String,
    /// Operating system and architecture.
    pub os: String,
    /// Logical CPUs.
    pub cpus: u32,
    /// Git commit of the build, or `unknown`.
    pub git: String,
    /// The servers the run's strategies used: back end, name and version
    /// (empty for an in-process run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<crate::backend::ServerFact>,
    /// Read from files written before `servers` existed (a Redis version),
    /// folded into `servers` on load; never written.
    #[serde(default, rename = "redis", skip_serializing)]
    pub legacy_server_version: Option<String>,
    /// Build profile (`release` or `debug`): debug figures are not comparable.
    #[serde(default)]
    pub profile: String,
    /// The clock that timed every answer: `tsc` (the CPU's invariant
    /// time-stamp counter, calibrated against `CLOCK_MONOTONIC`) or
    /// `clock_gettime(CLOCK_MONOTONIC)` (`docs/measurement.md`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub clock: String,
}

/// The five invariants (ARCHITECTURE.md, "Invariants"), as counts.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Anomalies {
    /// Answers submitted but missing from the final counts (summed over room-rounds).
    pub lost_updates: u64,
    /// Counts in excess of the answers submitted (summed over room-rounds).
    pub over_counts: u64,
    /// Room-rounds whose `endQuizTime` never fired (the room hung).
    pub missed_end: u64,
    /// Room-rounds whose `endQuizTime` fired more than once.
    pub duplicate_end: u64,
    /// Room-rounds whose `endQuizTime` fired before every answer was submitted.
    pub early_end: u64,
    /// Room-rounds whose history of returned counts is not linearizable
    /// (values repeat, skip, or go backwards in real time: `crate::history`).
    #[serde(default)]
    pub non_linearizable: u64,
}

impl Anomalies {
    /// Whether every invariant held.
    pub fn is_exact(&self) -> bool {
        self.fields().iter().all(|&v| v == 0)
    }

    /// Sum of all counts (saturating: files may come from anywhere).
    pub fn total(&self) -> u64 {
        self.fields().iter().fold(0u64, |t, &v| t.saturating_add(v))
    }

    /// Adds another set of counts (saturating).
    pub fn add(&mut self, o: &Anomalies) {
        self.lost_updates = self.lost_updates.saturating_add(o.lost_updates);
        self.over_counts = self.over_counts.saturating_add(o.over_counts);
        self.missed_end = self.missed_end.saturating_add(o.missed_end);
        self.duplicate_end = self.duplicate_end.saturating_add(o.duplicate_end);
        self.early_end = self.early_end.saturating_add(o.early_end);
        self.non_linearizable = self.non_linearizable.saturating_add(o.non_linearizable);
    }

    /// 1 for each anomaly that occurred, else 0: one trial's contribution to
    /// the per-anomaly trial counts.
    pub fn presence(&self) -> Anomalies {
        let once = |v: u64| u64::from(v > 0);
        Anomalies {
            lost_updates: once(self.lost_updates),
            over_counts: once(self.over_counts),
            missed_end: once(self.missed_end),
            duplicate_end: once(self.duplicate_end),
            early_end: once(self.early_end),
            non_linearizable: once(self.non_linearizable),
        }
    }

    fn fields(&self) -> [u64; 6] {
        [
            self.lost_updates,
            self.over_counts,
            self.missed_end,
            self.duplicate_end,
            self.early_end,
            self.non_linearizable,
        ]
    }
}

/// What the evidence says: `anomalies` when an invariant broke in any
/// trial; else `inconclusive` when too few room-rounds could be judged (they
/// hit the time limit, or an answer failed or timed out); else `exact`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every invariant held in every judged room-round, and enough were judged.
    #[default]
    Exact,
    /// At least one invariant broke.
    Anomalies,
    /// No invariant broke, but more than [`Verdict::MAX_UNJUDGED`] of the
    /// room-rounds were not judged: too little evidence either way.
    Inconclusive,
}

impl Verdict {
    /// The largest share of unjudged room-rounds an `exact` verdict allows.
    pub const MAX_UNJUDGED: f64 = 0.1;

    /// The verdict for these counts.
    pub fn decide(anomalies: &Anomalies, room_rounds: u64, timed_out: u64) -> Verdict {
        if !anomalies.is_exact() {
            Verdict::Anomalies
        } else if room_rounds == 0 || timed_out as f64 > room_rounds as f64 * Self::MAX_UNJUDGED {
            Verdict::Inconclusive
        } else {
            Verdict::Exact
        }
    }
}

/// Latency percentiles in nanoseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
}

/// Per-answer outcomes of strategies on a server (all `ok` in process),
/// and the counter-bounds check.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Outcomes {
    /// Answers acknowledged as counted.
    pub ok: u64,
    /// Answers definitely not counted.
    pub failed: u64,
    /// Answers whose fate is unknown (timeouts).
    pub unknown: u64,
    /// Retries performed by the client (timeouts, WATCH conflicts).
    pub retries: u64,
    /// Room-rounds whose final count lies outside `[ok, ok + unknown]`
    /// (Jepsen's counter check).
    pub bounds_violations: u64,
}

/// Spread of a figure over trials.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    /// Smallest trial value.
    pub min: f64,
    /// Largest trial value.
    pub max: f64,
    /// Coefficient of variation: sample standard deviation over mean (0 with
    /// one trial).
    pub cv: f64,
}

impl Spread {
    /// The spread of `values` (all zeros when empty).
    pub fn of(values: &[f64]) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = if values.len() > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Spread {
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            cv: if mean > 0.0 { var.sqrt() / mean } else { 0.0 },
        }
    }
}

/// The median of `values` (0 when empty): the middle value, or the mean of
/// the two middle ones.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// How the room-rounds of every trial ended (v2), as jcstress tallies
/// outcomes. Each judged room-round is in exactly one class, by its worst
/// anomaly in this order: missed, ended twice, ended early, lost 2+, lost 1,
/// over-counted; else exact. Rounds that hit the time limit are `timed_out`,
/// and rounds that never ended while holding a failed or unknown answer are
/// `end_unjudged`: neither is judged.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoundOutcomes {
    /// Count right, ended exactly once, after the last answer.
    pub exact: u64,
    /// Ended once, but one answer was lost.
    pub lost_1: u64,
    /// Ended once, but two or more answers were lost.
    pub lost_2_plus: u64,
    /// Counted more answers than were submitted (ended once).
    pub over_counted: u64,
    /// `endQuizTime` never fired: the room hung.
    pub missed: u64,
    /// `endQuizTime` fired twice or more.
    pub ended_twice: u64,
    /// `endQuizTime` fired before every answer was submitted.
    pub ended_early: u64,
    /// Not judged: answers were still unsubmitted at the time limit.
    pub timed_out: u64,
    /// End not judged: the round held an answer that failed or whose reply
    /// never came, and never ended (its count was within the bounds).
    #[serde(default)]
    pub end_unjudged: u64,
}

impl RoundOutcomes {
    /// Adds another tally.
    pub fn add(&mut self, o: &RoundOutcomes) {
        self.exact += o.exact;
        self.lost_1 += o.lost_1;
        self.lost_2_plus += o.lost_2_plus;
        self.over_counted += o.over_counted;
        self.missed += o.missed;
        self.ended_twice += o.ended_twice;
        self.ended_early += o.ended_early;
        self.timed_out += o.timed_out;
        self.end_unjudged += o.end_unjudged;
    }

    /// `(name, count)` of every class, in display order.
    pub fn classes(&self) -> [(&'static str, u64); 9] {
        [
            ("exact", self.exact),
            ("lost 1", self.lost_1),
            ("lost 2+", self.lost_2_plus),
            ("over-counted", self.over_counted),
            ("missed", self.missed),
            ("ended twice", self.ended_twice),
            ("ended early", self.ended_early),
            ("timed out", self.timed_out),
            ("end not judged", self.end_unjudged),
        ]
    }
}

/// One strategy's result (at one sweep point), over all its trials.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StrategyResult {
    /// Strategy name.
    pub strategy: String,
    /// `racy`, `racy-across-processes` or `correct`.
    pub kind: String,
    /// Runtime this strategy ran on (v2): a run may mix runtimes, e.g. the
    /// default run puts async-only strategies on `tokio`.
    #[serde(default)]
    pub runtime: String,
    /// Trials that completed (v2; 1 for v1 files).
    #[serde(default = "one")]
    pub trials: u32,
    /// Trials that could not complete (a worker panicked, a server went
    /// away); their figures are not in the totals, their errors are in
    /// `trial_errors`.
    #[serde(default)]
    pub failed_trials: u32,
    /// The error of each failed trial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trial_errors: Vec<String>,
    /// Trials in which at least one invariant broke.
    #[serde(default)]
    pub anomalous_trials: u32,
    /// Per anomaly, the number of trials in which it appeared.
    #[serde(default)]
    pub anomaly_trials: Anomalies,
    /// How the room-rounds of all trials ended.
    #[serde(default)]
    pub round_outcomes: RoundOutcomes,
    /// Answers submitted (the ground truth), summed over trials.
    pub answers: u64,
    /// Sum of the final counter values, over trials.
    pub recorded: u64,
    /// Room-rounds checked, summed over trials.
    pub room_rounds: u64,
    /// Broken invariants, summed over trials.
    pub anomalies: Anomalies,
    /// `exact` or `anomalies`.
    pub verdict: Verdict,
    /// Whether anomalies were expected here (racy strategy, or a correct one
    /// outside its guarantee, e.g. `redis-incrby` under retries).
    #[serde(default)]
    pub anomalies_expected: bool,
    /// Wall time of the measured regions, summed over trials.
    pub elapsed_s: f64,
    /// Answers per second over the measured region: the median trial.
    pub answers_per_s: f64,
    /// Spread of answers per second over the trials.
    #[serde(default)]
    pub answers_per_s_spread: Spread,
    /// Service time: one record call (all trials merged).
    pub latency_ns: Percentiles,
    /// Response time: from the answer's planned arrival to the end of its
    /// record call, so a worker that falls behind its schedule is charged
    /// for the wait (coordinated omission). Equal to `latency_ns` in a burst.
    #[serde(default)]
    pub response_latency_ns: Percentiles,
    /// How late submissions started against their planned arrival (zeros
    /// in a burst, where there is no schedule).
    #[serde(default)]
    pub lateness_ns: Percentiles,
    /// From the planned arrival of the round's last answer (in a burst: its
    /// submission) to the round's `endQuizTime`.
    pub end_latency_ns: Percentiles,
    /// Room-rounds that hit their time limit with answers still unsubmitted
    /// (the run was too slow for the limit). They are not counted as
    /// `missed_end`: the strategy never saw those answers.
    #[serde(default)]
    pub timed_out: u64,
    /// Per-answer outcomes (all `ok` for in-process strategies).
    #[serde(default)]
    pub outcomes: Outcomes,
    /// Room-rounds whose end could not be judged: they hit the time limit,
    /// or hold an answer that failed or whose reply never came (its end
    /// decision went with it; the counter bounds still judge the count).
    /// The verdict is `inconclusive` when these exceed 10% (v2).
    #[serde(default)]
    pub unjudged: u64,
    /// The server restarted during a trial (its run id changed): counts it
    /// forgot are data loss by the server, not the strategy's lost updates,
    /// so they never fail `--check` as a broken guarantee (v2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub server_restarted: bool,
    /// The first error the server answered with (e.g. `OOM command not
    /// allowed`): answers failed because of the environment (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_error: Option<String>,
    /// The history check: how many room-rounds had returned counts to
    /// check, and the first violation's witness (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryCheck>,
    /// One room-round's operations, for the timeline picture: one with an
    /// anomaly when a trial had one (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
    /// Sweep parameters that vary, e.g. `{"workers": 4}`; empty without a sweep.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub point: BTreeMap<String, u64>,
    /// The first trial's whole history, in memory only (never written to a
    /// results file): what `quizrace run --history` writes.
    #[serde(skip)]
    pub first_history: Vec<crate::sim::HistOp>,
}

fn one() -> u32 {
    1
}

/// One room-round's operations as they ran: the report draws them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Timeline {
    /// The room-round (slot).
    pub slot: u32,
    /// Why this one: `non_linearizable`, another anomaly's name, or `first`.
    pub why: String,
    /// Its submitted answers, in invocation order.
    pub ops: Vec<crate::sim::HistOp>,
    /// When its `endQuizTime` fired, ns on the run's clock.
    #[serde(default)]
    pub fires: Vec<u64>,
    /// Indices into `ops` of a linearizability violation's witness.
    #[serde(default)]
    pub highlight: Vec<usize>,
    /// Faults injected around this room-round (a pause, a failover): ns on
    /// the run's clock, and what happened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<(u64, String)>,
}

/// What the linearizability check of a result's histories found.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryCheck {
    /// Room-rounds checked (those with returned counts), over all trials.
    pub checked_rounds: u64,
    /// The first violation found, in words, with its two operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<String>,
}

/// How one result compares with what its strategy promised in that run:
/// the one classification behind `quizrace run --check`
/// ([`StrategyResult::fails_check`]) and the report's verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Every invariant held in every trial.
    Exact,
    /// Anomalies, and they were expected: the run recorded
    /// `anomalies_expected` (a racy strategy, `local-map` across processes,
    /// a correct strategy outside its guarantee such as `redis-incrby`
    /// under retries), or the server restarted and lost data itself.
    Expected,
    /// Anomalies that the strategy promised not to have: a bug, or a
    /// guarantee that does not hold here. Fails `--check`.
    Unexpected,
    /// No anomaly, but too few room-rounds were judged to say so. Fails
    /// `--check`.
    Inconclusive,
}

impl Class {
    /// Short, stable name, used in the report's CSS classes and legends.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Exact => "exact",
            Class::Expected => "expected",
            Class::Unexpected => "unexpected",
            Class::Inconclusive => "inconclusive",
        }
    }
}

impl StrategyResult {
    /// Classifies this result from its recorded flags only: `verdict`, the
    /// anomaly counts, `anomalies_expected` and `server_restarted`. The
    /// `kind` is not consulted: whether a race was expected depends on the
    /// run (`local-map` is racy across processes, exact on threads), and
    /// the run recorded that in `anomalies_expected`.
    ///
    /// Both the counts and the verdict are consulted, so a file whose
    /// verdict disagrees with its counts is never classed as exact.
    pub fn class(&self) -> Class {
        let anomalies = !self.anomalies.is_exact() || self.verdict == Verdict::Anomalies;
        if !anomalies {
            if self.verdict == Verdict::Inconclusive {
                Class::Inconclusive
            } else {
                Class::Exact
            }
        } else if self.anomalies_expected || self.server_restarted {
            // A server that restarted mid-run (its run id changed) lost
            // data itself: those anomalies are not the strategy's.
            Class::Expected
        } else {
            Class::Unexpected
        }
    }

    /// Whether this result shows anomalies that the strategy promised not
    /// to have ([`Class::Unexpected`]).
    pub fn breaks_its_guarantee(&self) -> bool {
        self.class() == Class::Unexpected
    }

    /// A result whose anomalies were expected but did not show in any trial
    /// (a racy strategy whose race was not reproduced): exact, with
    /// `anomalies_expected`.
    pub fn not_reproduced(&self) -> bool {
        self.anomalies_expected && self.class() == Class::Exact
    }

    /// Whether `--check` must fail on this result: a broken guarantee, or
    /// too little evidence to say ([`Class::Unexpected`] or
    /// [`Class::Inconclusive`]).
    pub fn fails_check(&self) -> bool {
        matches!(self.class(), Class::Unexpected | Class::Inconclusive)
    }

    /// Fills the v2 fields of a v1 entry: one trial, no spread, and
    /// `anomalies_expected` set for the racy kinds (`racy`,
    /// `racy-across-processes`). The flag was optional in v1 and v1 readers
    /// classified by kind, so a v1 file classifies as it always did. v2
    /// files are never classified by kind.
    fn upgrade_v1(&mut self) {
        self.trials = 1;
        self.anomaly_trials = self.anomalies.presence();
        self.anomalous_trials = u32::from(self.verdict == Verdict::Anomalies);
        self.answers_per_s_spread = Spread {
            min: self.answers_per_s,
            max: self.answers_per_s,
            cv: 0.0,
        };
        self.response_latency_ns = self.latency_ns;
        let racy = [Kind::Racy, Kind::RacyAcrossProcesses];
        self.anomalies_expected |= racy.iter().any(|k| self.kind == k.as_str());
    }
}

/// Several scenarios' results in one file (v2): what `quizrace run A.toml
/// B.toml --json x.json` writes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResultsBundle {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// One entry per scenario, in the order run; each carries the schema too.
    pub runs: Vec<ResultsFile>,
}

/// Text that is not a results file this quizrace reads.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// Not JSON at all.
    #[error("not valid JSON: {0}")]
    NotJson(serde_json::Error),
    /// No `schema` field.
    #[error("no `schema` field: not a quizrace results file ({SCHEMA})")]
    NoSchema,
    /// A schema this version does not read.
    #[error("schema `{0}` is not supported (this quizrace reads `{SCHEMA}` and `{SCHEMA_V1}`)")]
    Schema(String),
    /// The right schema tag, the wrong shape.
    #[error("does not match {schema}: {source}")]
    Shape {
        /// The schema it claims.
        schema: String,
        /// What serde found.
        source: serde_json::Error,
    },
    /// A bundle that holds no runs, or a run of another schema.
    #[error("{0}")]
    Bundle(String),
    /// Several scenarios where one was expected.
    #[error("holds {0} scenarios; read it with ResultsFile::all_from_json")]
    NotOne(usize),
}

impl ResultsFile {
    /// Reads and validates a results file holding one scenario (v1 or v2).
    pub fn from_json(text: &str) -> Result<ResultsFile, ResultsError> {
        let mut all = Self::all_from_json(text)?;
        if all.len() != 1 {
            return Err(ResultsError::NotOne(all.len()));
        }
        Ok(all.remove(0))
    }

    /// Reads a results file: one scenario (v1 or v2) or a v2 bundle of
    /// several (`{"schema", "runs": [...]}`). v1 entries are upgraded to
    /// one trial each.
    pub fn all_from_json(text: &str) -> Result<Vec<ResultsFile>, ResultsError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(ResultsError::NotJson)?;
        let schema = match value.get("schema").and_then(|s| s.as_str()) {
            Some(s @ (SCHEMA | SCHEMA_V1)) => s.to_string(),
            Some(other) => return Err(ResultsError::Schema(other.to_string())),
            None => return Err(ResultsError::NoSchema),
        };
        let shape = |schema: &str| {
            let schema = schema.to_string();
            move |source| ResultsError::Shape { schema, source }
        };
        if schema == SCHEMA && value.get("runs").is_some() {
            let bundle: ResultsBundle = serde_json::from_value(value).map_err(shape(SCHEMA))?;
            if bundle.runs.is_empty() {
                return Err(ResultsError::Bundle("the bundle holds no runs".into()));
            }
            if let Some(bad) = bundle.runs.iter().find(|r| r.schema != SCHEMA) {
                return Err(ResultsError::Bundle(format!(
                    "a run inside the bundle has schema `{}`, not `{SCHEMA}`",
                    bad.schema
                )));
            }
            let mut runs = bundle.runs;
            runs.iter_mut().for_each(|r| r.environment.upgrade());
            return Ok(runs);
        }
        let mut file: ResultsFile = serde_json::from_value(value).map_err(shape(&schema))?;
        if schema == SCHEMA_V1 {
            file.results.iter_mut().for_each(StrategyResult::upgrade_v1);
        }
        file.environment.upgrade();
        Ok(vec![file])
    }
}

impl Environment {
    /// Folds a version read from an older file's `redis` field into `servers`.
    fn upgrade(&mut self) {
        if let Some(version) = self.legacy_server_version.take() {
            if self.servers.is_empty() {
                self.servers.push(crate::backend::ServerFact {
                    backend: crate::backend::redis::FAMILY.name.to_string(),
                    name: crate::backend::redis::FAMILY.name.to_string(),
                    version,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(kind: &str, lost: u64, expected: bool) -> StrategyResult {
        let anomalies = Anomalies {
            lost_updates: lost,
            ..Anomalies::default()
        };
        StrategyResult {
            strategy: "x".into(),
            kind: kind.into(),
            trials: 1,
            answers: 10,
            recorded: 10 - lost,
            room_rounds: 1,
            anomalies,
            verdict: if anomalies.is_exact() {
                Verdict::Exact
            } else {
                Verdict::Anomalies
            },
            anomalies_expected: expected,
            elapsed_s: 1.0,
            answers_per_s: 10.0,
            ..StrategyResult::default()
        }
    }

    #[test]
    fn check_fails_only_on_unexpected_anomalies() {
        assert!(result("correct", 1, false).breaks_its_guarantee());
        assert!(!result("correct", 0, false).breaks_its_guarantee());
        assert!(!result("racy", 3, true).breaks_its_guarantee());
        assert!(!result("correct", 3, true).breaks_its_guarantee());
    }

    /// `class()` and `fails_check()` for one result, checked together: the
    /// report and `--check` must never disagree.
    fn class_and_check(r: &StrategyResult) -> (Class, bool) {
        let class = r.class();
        assert_eq!(
            r.fails_check(),
            matches!(class, Class::Unexpected | Class::Inconclusive),
            "{r:?}"
        );
        assert_eq!(r.breaks_its_guarantee(), class == Class::Unexpected);
        (class, r.fails_check())
    }

    #[test]
    fn class_comes_from_the_recorded_flags() {
        // Racy, with anomalies: the race reproduced.
        assert_eq!(
            class_and_check(&result("racy", 3, true)),
            (Class::Expected, false)
        );
        // Correct, with anomalies: a broken guarantee.
        assert_eq!(
            class_and_check(&result("correct", 3, false)),
            (Class::Unexpected, true)
        );
        // A correct strategy outside its guarantee (redis-incrby under retries).
        assert_eq!(
            class_and_check(&result("correct", 3, true)),
            (Class::Expected, false)
        );
        // local-map on threads: its kind is racy across processes, but the
        // run expected no anomaly and none showed: exact, not "not reproduced".
        let local = result("racy-across-processes", 0, false);
        assert_eq!(class_and_check(&local), (Class::Exact, false));
        assert!(!local.not_reproduced());
        // The same strategy losing updates on threads would be a bug: the
        // kind does not excuse it.
        assert_eq!(
            class_and_check(&result("racy-across-processes", 3, false)),
            (Class::Unexpected, true)
        );
        // Racy and exact: the race was not reproduced.
        let quiet = result("racy", 0, true);
        assert_eq!(class_and_check(&quiet), (Class::Exact, false));
        assert!(quiet.not_reproduced());
        // The server restarted and forgot counts: not the strategy's fault.
        let mut restarted = result("correct", 3, false);
        restarted.server_restarted = true;
        assert_eq!(class_and_check(&restarted), (Class::Expected, false));
        // Too few rounds judged.
        let mut inconclusive = result("correct", 0, false);
        inconclusive.verdict = Verdict::Inconclusive;
        assert_eq!(class_and_check(&inconclusive), (Class::Inconclusive, true));
        let mut inconclusive = result("racy", 0, true);
        inconclusive.verdict = Verdict::Inconclusive;
        assert_eq!(class_and_check(&inconclusive), (Class::Inconclusive, true));
        assert!(!inconclusive.not_reproduced());
    }

    #[test]
    fn a_verdict_that_disagrees_with_its_counts_is_not_exact() {
        let mut r = result("correct", 0, false);
        r.verdict = Verdict::Anomalies;
        assert_eq!(class_and_check(&r), (Class::Unexpected, true));
        let mut r = result("correct", 2, false);
        r.verdict = Verdict::Exact;
        assert_eq!(class_and_check(&r), (Class::Unexpected, true));
        let mut r = result("racy", 2, true);
        r.verdict = Verdict::Exact;
        assert_eq!(class_and_check(&r), (Class::Expected, false));
        assert!(!r.not_reproduced());
    }

    #[test]
    fn v1_files_take_anomalies_expected_from_the_kind() {
        let mut file = ResultsFile {
            schema: SCHEMA_V1.into(),
            scenario: ScenarioInfo::default(),
            environment: Environment::default(),
            results: vec![
                result("racy", 3, false),
                result("racy-across-processes", 0, false),
                result("correct", 0, false),
                result("correct", 2, false),
                result("correct", 2, true),
            ],
            promises: Vec::new(),
        };
        let read = |file: &ResultsFile| {
            let text = serde_json::to_string(file).unwrap();
            let back = ResultsFile::from_json(&text).unwrap();
            back.results.iter().map(|r| r.class()).collect::<Vec<_>>()
        };
        assert_eq!(
            read(&file),
            [
                Class::Expected,
                Class::Exact,
                Class::Exact,
                Class::Unexpected,
                Class::Expected
            ]
        );
        let back = ResultsFile::from_json(&serde_json::to_string(&file).unwrap()).unwrap();
        let flags: Vec<bool> = back.results.iter().map(|r| r.anomalies_expected).collect();
        assert_eq!(flags, [true, true, false, false, true]);
        assert!(back.results[1].not_reproduced(), "as v1 readers showed it");
        // The same entries in a v2 file keep their recorded flags.
        file.schema = SCHEMA.into();
        assert_eq!(
            read(&file),
            [
                Class::Unexpected,
                Class::Exact,
                Class::Exact,
                Class::Unexpected,
                Class::Expected
            ]
        );
    }

    #[test]
    fn too_few_judged_rounds_are_inconclusive() {
        let none = Anomalies::default();
        assert_eq!(Verdict::decide(&none, 100, 0), Verdict::Exact);
        assert_eq!(Verdict::decide(&none, 100, 10), Verdict::Exact);
        assert_eq!(Verdict::decide(&none, 100, 11), Verdict::Inconclusive);
        assert_eq!(Verdict::decide(&none, 0, 0), Verdict::Inconclusive);
        let lost = Anomalies {
            lost_updates: 1,
            ..Anomalies::default()
        };
        assert_eq!(Verdict::decide(&lost, 100, 100), Verdict::Anomalies);
        let mut r = result("correct", 0, false);
        r.verdict = Verdict::Inconclusive;
        assert!(r.fails_check() && !r.breaks_its_guarantee());
    }

    #[test]
    fn huge_counts_do_not_wrap_to_exact() {
        let a = Anomalies {
            lost_updates: u64::MAX,
            over_counts: 1,
            ..Anomalies::default()
        };
        assert!(!a.is_exact());
        assert_eq!(a.total(), u64::MAX);
    }

    #[test]
    fn spread_and_median() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let s = Spread::of(&[9.0, 10.0, 11.0]);
        assert_eq!((s.min, s.max), (9.0, 11.0));
        assert!((s.cv - 0.1).abs() < 1e-12, "{s:?}");
        assert_eq!(Spread::of(&[5.0]).cv, 0.0);
    }

    #[test]
    fn other_schemas_are_refused() {
        let e = ResultsFile::from_json(r#"{"schema":"quizrace.result.v9"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not supported"), "{e}");
        assert!(ResultsFile::from_json("{}")
            .unwrap_err()
            .to_string()
            .contains("no `schema`"));
    }
}

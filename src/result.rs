//! The results file: schema `quizrace.result.v1` (DESIGN.md section 6).
//!
//! These types are the contract between the simulator, `quizrace report`
//! and CI. Fields may be added (with `#[serde(default)]` so older files still
//! load); none may be renamed or removed without a new schema version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema tag every results file carries.
pub const SCHEMA: &str = "quizrace.result.v1";

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
}

/// The scenario's effective parameters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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
    /// Redis server version, when a Redis strategy ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
    /// Build profile (`release` or `debug`): debug figures are not comparable.
    #[serde(default)]
    pub profile: String,
}

/// The five invariants of DESIGN.md section 3, as counts.
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
    }

    fn fields(&self) -> [u64; 5] {
        [
            self.lost_updates,
            self.over_counts,
            self.missed_end,
            self.duplicate_end,
            self.early_end,
        ]
    }
}

/// `exact` when every anomaly is 0, else `anomalies`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every invariant held.
    Exact,
    /// At least one invariant broke.
    Anomalies,
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

/// Per-answer outcomes of fallible (Redis) strategies, and the counter-bounds check.
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
    /// Room-rounds whose final count lies outside `[ok, attempted]`
    /// (Jepsen's counter check).
    pub bounds_violations: u64,
}

/// One strategy's result (at one sweep point).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StrategyResult {
    /// Strategy name.
    pub strategy: String,
    /// `racy`, `racy-across-processes` or `correct`.
    pub kind: String,
    /// Answers submitted (the ground truth).
    pub answers: u64,
    /// Sum of the final counter values.
    pub recorded: u64,
    /// Room-rounds checked.
    pub room_rounds: u64,
    /// Broken invariants.
    pub anomalies: Anomalies,
    /// `exact` or `anomalies`.
    pub verdict: Verdict,
    /// Whether anomalies were expected here (racy strategy, or a correct one
    /// outside its guarantee, e.g. `redis-incrby` under retries).
    #[serde(default)]
    pub anomalies_expected: bool,
    /// Wall time of the measured region.
    pub elapsed_s: f64,
    /// Answers per second over the measured region.
    pub answers_per_s: f64,
    /// One record call.
    pub latency_ns: Percentiles,
    /// From the round's last answer submission to its `endQuizTime`.
    pub end_latency_ns: Percentiles,
    /// Room-rounds that hit their time limit with answers still unsubmitted
    /// (the run was too slow for the limit). They are not counted as
    /// `missed_end`: the strategy never saw those answers.
    #[serde(default)]
    pub timed_out: u64,
    /// Per-answer outcomes (all `ok` for in-process strategies).
    #[serde(default)]
    pub outcomes: Outcomes,
    /// Sweep parameters that vary, e.g. `{"workers": 4}`; empty without a sweep.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub point: BTreeMap<String, u64>,
}

impl StrategyResult {
    /// Whether this result must fail `--check`: anomalies that the strategy
    /// promised not to have.
    pub fn breaks_its_guarantee(&self) -> bool {
        self.verdict == Verdict::Anomalies && !self.anomalies_expected
    }
}

impl ResultsFile {
    /// Reads and validates a results file.
    pub fn from_json(text: &str) -> Result<ResultsFile, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {}
            Some(other) => {
                return Err(format!(
                    "schema `{other}` is not supported (this quizrace reads `{SCHEMA}`)"
                ))
            }
            None => {
                return Err(format!(
                    "no `schema` field: not a quizrace results file ({SCHEMA})"
                ))
            }
        }
        serde_json::from_value(value).map_err(|e| format!("does not match {SCHEMA}: {e}"))
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
            latency_ns: Percentiles::default(),
            end_latency_ns: Percentiles::default(),
            timed_out: 0,
            outcomes: Outcomes::default(),
            point: BTreeMap::new(),
        }
    }

    #[test]
    fn check_fails_only_on_unexpected_anomalies() {
        assert!(result("correct", 1, false).breaks_its_guarantee());
        assert!(!result("correct", 0, false).breaks_its_guarantee());
        assert!(!result("racy", 3, true).breaks_its_guarantee());
        assert!(!result("correct", 3, true).breaks_its_guarantee());
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
    fn other_schemas_are_refused() {
        let e = ResultsFile::from_json(r#"{"schema":"quizrace.result.v2"}"#).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        assert!(ResultsFile::from_json("{}")
            .unwrap_err()
            .contains("no `schema`"));
    }
}

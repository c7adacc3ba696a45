//! Analysis: arrange the classified results for the page.
//!
//! Each result is classified by [`StrategyResult::class`], the same
//! classification `quizrace run --check` uses; this module merges those
//! classes into the matrix and the verdict banner. Nothing here formats
//! output; `html` and `plot` render what this module derives from the
//! loaded runs.

use crate::result::{Anomalies, Class, StrategyResult};

use super::Run;

/// One matrix cell: every result of one strategy in one scenario (several
/// when the scenario sweeps), merged.
#[derive(Clone, Debug)]
pub(crate) struct Cell {
    /// The worst class among the merged results (unexpected > expected > exact).
    pub(crate) class: Class,
    /// Anomaly counts summed over the merged results.
    pub(crate) anomalies: Anomalies,
    /// Per anomaly, the trials in which it appeared, over the merged results.
    pub(crate) anomaly_trials: Anomalies,
    /// Trials over the merged results.
    pub(crate) trials: u64,
    /// Trials of the merged results that expected anomalies and showed
    /// none ([`StrategyResult::not_reproduced`]).
    pub(crate) not_reproduced_trials: u64,
    /// How many results were merged (sweep points).
    pub(crate) results: usize,
}

impl Cell {
    /// Every merged result was exact, and some of them expected anomalies:
    /// the race was not reproduced there.
    pub(crate) fn not_reproduced(&self) -> bool {
        self.class == Class::Exact && self.not_reproduced_trials > 0
    }
}

/// One strategy, in order of first appearance across the files.
#[derive(Clone, Debug)]
pub(crate) struct StrategyRow {
    /// Strategy name.
    pub(crate) name: String,
    /// Its kind, as recorded in the first file that ran it.
    pub(crate) kind: String,
    /// One cell per run (same order as the runs); `None` if not run there.
    pub(crate) cells: Vec<Option<Cell>>,
}

/// A correct strategy that broke an invariant in some scenario.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    /// Strategy name.
    pub(crate) strategy: String,
    /// Scenario (column label).
    pub(crate) scenario: String,
    /// Anomalies summed over the scenario's results for the strategy.
    pub(crate) anomalies: Anomalies,
}

/// Everything the verdict banner and the matrix need.
#[derive(Debug)]
pub(crate) struct Summary {
    /// Strategy results over all files (sweep points count separately).
    pub(crate) total_results: usize,
    /// Of those, how many were exact.
    pub(crate) exact_results: usize,
    /// Matrix rows.
    pub(crate) rows: Vec<StrategyRow>,
    /// Correct strategies that showed anomalies, per scenario.
    pub(crate) failures: Vec<Failure>,
    /// Strategies whose expected anomalies did not show in a scenario (a
    /// race not reproduced): (strategy, scenario).
    pub(crate) not_reproduced: Vec<(String, String)>,
}

impl Summary {
    /// Analyses the loaded runs.
    pub(crate) fn new(runs: &[Run]) -> Summary {
        let mut rows: Vec<StrategyRow> = Vec::new();
        let mut total_results = 0;
        let mut exact_results = 0;
        for (col, run) in runs.iter().enumerate() {
            for r in &run.file.results {
                total_results += 1;
                let class = r.class();
                if class == Class::Exact {
                    exact_results += 1;
                }
                let row = match rows.iter().position(|row| row.name == r.strategy) {
                    Some(i) => &mut rows[i],
                    None => {
                        rows.push(StrategyRow {
                            name: r.strategy.clone(),
                            kind: r.kind.clone(),
                            cells: vec![None; runs.len()],
                        });
                        rows.last_mut().expect("just pushed")
                    }
                };
                let cell = row.cells[col].get_or_insert(Cell {
                    class: Class::Exact,
                    anomalies: Anomalies::default(),
                    anomaly_trials: Anomalies::default(),
                    trials: 0,
                    not_reproduced_trials: 0,
                    results: 0,
                });
                cell.class = worst(cell.class, class);
                cell.anomalies.add(&r.anomalies);
                cell.anomaly_trials.add(&r.anomaly_trials);
                cell.trials += r.trials as u64;
                if r.not_reproduced() {
                    cell.not_reproduced_trials += r.trials as u64;
                }
                cell.results += 1;
            }
        }
        let mut failures = Vec::new();
        let mut not_reproduced = Vec::new();
        for row in &rows {
            for (run, cell) in runs.iter().zip(&row.cells) {
                let Some(cell) = cell else { continue };
                if cell.class == Class::Unexpected {
                    failures.push(Failure {
                        strategy: row.name.clone(),
                        scenario: run.label.clone(),
                        anomalies: cell.anomalies,
                    });
                } else if cell.not_reproduced() {
                    not_reproduced.push((row.name.clone(), run.label.clone()));
                }
            }
        }
        Summary {
            total_results,
            exact_results,
            rows,
            failures,
            not_reproduced,
        }
    }
}

fn worst(a: Class, b: Class) -> Class {
    let rank = |c| match c {
        Class::Exact => 0,
        Class::Inconclusive => 1,
        Class::Expected => 2,
        Class::Unexpected => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// The result that stands for a strategy in a scenario's per-strategy
/// charts: the one without sweep parameters if there is one, else the sweep
/// point with the most workers (the heaviest contention), else the last one.
/// Strategies are returned in order of first appearance.
pub(crate) fn representatives(run: &Run) -> Vec<&StrategyResult> {
    let mut out: Vec<&StrategyResult> = Vec::new();
    for r in &run.file.results {
        match out.iter_mut().find(|o| o.strategy == r.strategy) {
            None => out.push(r),
            Some(slot) => {
                if prefer(r, slot) {
                    *slot = r;
                }
            }
        }
    }
    out
}

fn prefer(candidate: &StrategyResult, current: &StrategyResult) -> bool {
    if current.point.is_empty() {
        return false;
    }
    if candidate.point.is_empty() {
        return true;
    }
    let workers = |r: &StrategyResult| r.point.get("workers").copied().unwrap_or(0);
    workers(candidate) >= workers(current)
}

/// One line of the throughput-against-workers chart.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SweepSeries {
    /// Strategy name, plus the other sweep parameters when they vary
    /// (e.g. `atomic (rooms=10)`).
    pub(crate) label: String,
    /// `(workers, answers per second)`, sorted by workers.
    pub(crate) points: Vec<(u64, f64)>,
}

/// Throughput against workers, one series per strategy (and per value of
/// any other swept parameter), from results whose `point` has `workers`.
/// Empty when the scenario did not sweep workers.
pub(crate) fn sweep_series(run: &Run) -> Vec<SweepSeries> {
    let mut series: Vec<SweepSeries> = Vec::new();
    for r in &run.file.results {
        let Some(&workers) = r.point.get("workers") else {
            continue;
        };
        let others: Vec<String> = r
            .point
            .iter()
            .filter(|(k, _)| k.as_str() != "workers")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let label = if others.is_empty() {
            r.strategy.clone()
        } else {
            format!("{} ({})", r.strategy, others.join(", "))
        };
        match series.iter_mut().find(|s| s.label == label) {
            Some(s) => s.points.push((workers, r.answers_per_s)),
            None => series.push(SweepSeries {
                label,
                points: vec![(workers, r.answers_per_s)],
            }),
        }
    }
    for s in &mut series {
        s.points.sort_by_key(|p| p.0);
    }
    series
}

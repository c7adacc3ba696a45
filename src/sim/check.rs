//! Ground truth versus the strategy: the five invariants of DESIGN.md §3.

use crate::metrics::Recorder as Latency;
use crate::result::{Anomalies, StrategyResult, Verdict};
use crate::sim::{RawRun, Workload};
use crate::strategy::{Env, StrategyId};

/// Per-room-round verdict, for tests and `explain`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotCheck {
    /// Answers submitted.
    pub submitted: u32,
    /// Final counter value.
    pub count: u32,
    /// How many times `endQuizTime` fired.
    pub fires: u32,
}

/// Counts the anomalies of `raw` and builds the result entry.
///
/// For each room-round, with `ok` acknowledged answers, `unknown` answers of
/// unknown fate and a final count `c`:
///
/// * `lost_updates += ok - c` when `c < ok` (acknowledged answers missing);
/// * `over_counts += c - (ok + unknown)` when larger (counted more than sent);
///   without faults `ok + unknown` is simply the answers submitted;
/// * a count outside `[ok, ok + unknown]` is also a counter-bounds violation
///   in the sense of Jepsen's counter checker;
/// * `missed_end` when nothing fired, `duplicate_end` when more than one
///   call fired, `early_end` when the first fire came before the last
///   submission of that room-round.
pub fn evaluate(id: StrategyId, w: &Workload, env: &Env, raw: &RawRun) -> StrategyResult {
    let slots = raw.submitted.len();
    let mut fires = vec![0u32; slots];
    let mut first_fire = vec![u64::MAX; slots];
    for &(s, t) in &raw.fires {
        let s = s as usize;
        fires[s] += 1;
        first_fire[s] = first_fire[s].min(t);
    }
    let mut a = Anomalies::default();
    let mut end_latency = Latency::new();
    let mut bounds_violations = 0;
    let mut timed_out = 0;
    for s in 0..slots {
        let ok = raw.ok[s] as u64;
        let upper = ok + raw.unknown[s] as u64;
        let c = raw.counts.get(s).copied().unwrap_or(0) as u64;
        if c < ok {
            a.lost_updates += ok - c;
        }
        if c > upper {
            a.over_counts += c - upper;
        }
        if c < ok || c > upper {
            bounds_violations += 1;
        }
        let abandoned = raw.abandoned.get(s).copied().unwrap_or(0) > 0;
        if abandoned {
            timed_out += 1;
        }
        match fires[s] {
            // Answers the harness never submitted cannot end the round: that
            // is the run overrunning its time limit, not the strategy.
            0 if abandoned => {}
            0 => a.missed_end += 1,
            1 => {}
            _ => a.duplicate_end += 1,
        }
        if fires[s] > 0 {
            if first_fire[s] < raw.last_submit[s] {
                a.early_end += 1;
            } else {
                end_latency.record(first_fire[s] - raw.last_submit[s]);
            }
        }
    }
    let answers: u64 = raw.submitted.iter().map(|&x| x as u64).sum();
    let elapsed_ns = raw.end_ns.saturating_sub(raw.start_ns).max(1);
    let elapsed_s = elapsed_ns as f64 / 1e9;
    let mut outcomes = raw.outcomes;
    outcomes.bounds_violations = bounds_violations;
    StrategyResult {
        strategy: id.name().to_string(),
        kind: id.info().kind.as_str().to_string(),
        answers,
        recorded: raw.counts.iter().map(|&x| x as u64).sum(),
        room_rounds: slots as u64,
        anomalies: a,
        verdict: if a.is_exact() {
            Verdict::Exact
        } else {
            Verdict::Anomalies
        },
        anomalies_expected: id.anomalies_expected(w, env),
        elapsed_s,
        answers_per_s: answers as f64 / elapsed_s,
        latency_ns: Latency::from_buckets(&raw.latency).percentiles(),
        end_latency_ns: end_latency.percentiles(),
        timed_out,
        outcomes,
        point: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::workload::Balance;
    use crate::strategy::{Runtime, ScoringWork};
    use std::time::Duration;

    fn wl() -> Workload {
        Workload {
            rooms: 1,
            rounds: 4,
            players: 2,
            workers: 1,
            processes: 1,
            runtime: Runtime::Threads,
            seed: 1,
            window: Duration::ZERO,
            work: ScoringWork::None,
            time_limit: Duration::from_secs(1),
            balance: Balance::RoundRobin,
        }
    }

    /// The checker itself must catch each anomaly (test the tester).
    #[test]
    fn each_anomaly_is_counted() {
        let raw = RawRun {
            submitted: vec![2, 2, 2, 2],
            ok: vec![2, 2, 2, 2],
            unknown: vec![0; 4],
            last_submit: vec![100, 100, 100, 100],
            // slot 0 fine; slot 1 lost one and never ended; slot 2 ended twice;
            // slot 3 over-counted and ended before its last submission.
            fires: vec![(0, 150), (2, 120), (2, 130), (3, 50)],
            counts: vec![2, 1, 2, 3],
            ..RawRun::default()
        };
        let r = evaluate(StrategyId::Atomic, &wl(), &Env::default(), &raw);
        assert_eq!(
            r.anomalies,
            Anomalies {
                lost_updates: 1,
                over_counts: 1,
                missed_end: 1,
                duplicate_end: 1,
                early_end: 1
            }
        );
        assert_eq!(r.verdict, Verdict::Anomalies);
        assert_eq!(r.outcomes.bounds_violations, 2);
        assert_eq!(r.end_latency_ns.max, 50);
        assert!(!r.anomalies_expected);
    }

    #[test]
    fn unknown_outcomes_widen_the_bounds() {
        let raw = RawRun {
            submitted: vec![3],
            ok: vec![2],
            unknown: vec![1],
            last_submit: vec![10],
            fires: vec![(0, 20)],
            counts: vec![3],
            ..RawRun::default()
        };
        let mut w = wl();
        w.rounds = 1;
        let r = evaluate(StrategyId::Atomic, &w, &Env::default(), &raw);
        assert_eq!(r.verdict, Verdict::Exact);
    }
}

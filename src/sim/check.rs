//! Ground truth versus the strategy: the five invariants (ARCHITECTURE.md, "Invariants").

use crate::metrics::Recorder as Latency;
use crate::result::{
    Anomalies, HistoryCheck, RoundOutcomes, Spread, StrategyResult, Timeline, Verdict,
};
use crate::sim::{raw, HistOp, RawRun, Workload};
use crate::strategy::{Env, StrategyId};

/// One checked trial: its result entry and the histograms behind its
/// percentiles, which [`crate::suite`] merges over trials.
#[derive(Debug)]
pub struct Trial {
    /// The trial's result, as if it were the only one.
    pub result: StrategyResult,
    /// Service time of every record call.
    pub latency: Latency,
    /// Response time from the planned arrival (answer windows only).
    pub response: Latency,
    /// Lateness against the plan (answer windows only).
    pub lateness: Latency,
    /// From the planned arrival of each round's last answer to its end.
    pub end_latency: Latency,
    /// Every submitted answer of the trial, when it was kept (for
    /// `--history`); moved in by [`crate::sim::run_trial`].
    pub history: Vec<HistOp>,
}

/// The linearizability check of one trial's history: room-rounds checked,
/// room-rounds that are not linearizable, the first witness, and the slot
/// of the first violation.
#[derive(Debug, Default)]
struct Linearity {
    checked: u64,
    violations: u64,
    witness: Option<String>,
    first_bad: Option<u32>,
}

/// The fault events within the room-round's span (widened by itself on
/// each side): those a picture of it can show.
fn events_near(events: &[(u64, String)], ops: &[HistOp]) -> Vec<(u64, String)> {
    let Some(first) = ops.iter().map(|o| o.invoke_ns).min() else {
        return Vec::new();
    };
    let last = ops
        .iter()
        .map(|o| o.invoke_ns + o.took_ns as u64)
        .max()
        .unwrap_or(first);
    let span = (last - first).max(1);
    events
        .iter()
        .filter(|(t, _)| *t + span >= first && *t <= last + span)
        .cloned()
        .collect()
}

/// Indices into `ops` (one room-round) of its violation's witness calls.
fn witness_indices(ops: &[HistOp]) -> Vec<usize> {
    let round: Vec<crate::history::Op> = ops.iter().map(crate::history::Op::from).collect();
    let Err(v) = crate::history::check_round(&round) else {
        return Vec::new();
    };
    v.ops()
        .iter()
        .filter_map(|w| round.iter().position(|o| o == w))
        .collect()
}

/// Checks every room-round of `ops` whose calls returned counts
/// ([`crate::history::check_round`]); `by_slot` lists `ops` indices sorted
/// by (slot, invocation).
fn linearity(ops: &[HistOp], by_slot: &[u32]) -> Linearity {
    let mut out = Linearity::default();
    let mut round: Vec<crate::history::Op> = Vec::new();
    for group in by_slot.chunk_by(|&a, &b| ops[a as usize].slot == ops[b as usize].slot) {
        if !group
            .iter()
            .any(|&i| ops[i as usize].value != raw::NO_VALUE)
        {
            continue; // a strategy that returns no counts: nothing to check
        }
        round.clear();
        round.extend(
            group
                .iter()
                .map(|&i| crate::history::Op::from(&ops[i as usize])),
        );
        out.checked += 1;
        if let Err(v) = crate::history::check_round(&round) {
            out.violations += 1;
            if out.witness.is_none() {
                let slot = ops[group[0] as usize].slot;
                out.witness = Some(format!("room-round {slot}: {v}"));
                out.first_bad = Some(slot);
            }
        }
    }
    out
}

/// Counts the anomalies of `raw` and builds the result entry (one trial).
pub fn evaluate(id: StrategyId, w: &Workload, env: &Env, raw: &RawRun) -> StrategyResult {
    evaluate_trial(id, w, env, raw).result
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
///
/// Each room-round is also classified by its worst anomaly into
/// [`RoundOutcomes`]. End latency runs from the planned arrival of the
/// round's last answer (its submission in a burst), so a schedule that
/// slipped is not hidden.
pub fn evaluate_trial(id: StrategyId, w: &Workload, env: &Env, raw: &RawRun) -> Trial {
    let slots = raw.submitted.len();
    // Every fire names a room-round of the run (the judging ranges below
    // would not see one that did not).
    debug_assert!(
        raw.fires.iter().all(|&(s, _)| (s as usize) < slots),
        "a fire outside the run's room-rounds"
    );
    // Room-rounds are judged in ranges, on every core for a large run.
    let parts = super::workload::threads_for(slots as u64);
    let Judged {
        anomalies: mut a,
        rounds,
        end_latency,
        bounds_violations,
        timed_out,
        unjudged,
        first_anomalous,
    } = judge(raw, parts);
    // Histories: every room-round whose calls returned counts must be
    // linearizable; one room-round (a broken one, if any) is kept to draw.
    let mut by_slot: Vec<u32> = (0..raw.history.len() as u32).collect();
    by_slot.sort_unstable_by_key(|&i| {
        let op = &raw.history[i as usize];
        (op.slot, op.invoke_ns)
    });
    let lin = linearity(&raw.history, &by_slot);
    a.non_linearizable = lin.violations;
    let history = raw.history_kept.then(|| HistoryCheck {
        checked_rounds: lin.checked,
        witness: lin.witness.clone(),
    });
    let pick = lin
        .first_bad
        .map(|s| (s, "non_linearizable"))
        .or(first_anomalous.map(|(s, why)| (s as u32, why)))
        .or((slots > 0).then_some((0, "first")));
    let timeline = match pick {
        Some((slot, why)) if raw.history_kept => {
            let from = by_slot.partition_point(|&i| raw.history[i as usize].slot < slot);
            let to = by_slot.partition_point(|&i| raw.history[i as usize].slot <= slot);
            let ops: Vec<HistOp> = by_slot[from..to]
                .iter()
                .map(|&i| raw.history[i as usize])
                .collect();
            Some(Timeline {
                highlight: witness_indices(&ops),
                events: events_near(&raw.events, &ops),
                slot,
                why: why.to_string(),
                ops,
                fires: {
                    // In time order, whichever worker's came first.
                    let mut at: Vec<u64> = raw
                        .fires
                        .iter()
                        .filter(|(s, _)| *s == slot)
                        .map(|&(_, t)| t)
                        .collect();
                    at.sort_unstable();
                    at
                },
            })
        }
        _ => None,
    };
    let answers: u64 = raw.submitted.iter().map(|&x| x as u64).sum();
    let elapsed_ns = raw.end_ns.saturating_sub(raw.start_ns).max(1);
    let elapsed_s = elapsed_ns as f64 / 1e9;
    let mut outcomes = raw.outcomes;
    outcomes.bounds_violations = bounds_violations;
    let latency = Latency::from_buckets(&raw.latency);
    let scheduled = !w.window.is_zero();
    let (response, lateness) = if scheduled {
        (
            Latency::from_buckets(&raw.response),
            Latency::from_buckets(&raw.lateness),
        )
    } else {
        (latency.clone(), Latency::new())
    };
    let answers_per_s = answers as f64 / elapsed_s;
    let result = StrategyResult {
        strategy: id.name().to_string(),
        kind: id.info().kind.as_str().to_string(),
        runtime: w.runtime.as_str().to_string(),
        trials: 1,
        anomalous_trials: u32::from(!a.is_exact()),
        anomaly_trials: a.presence(),
        round_outcomes: rounds,
        answers,
        recorded: raw.counts.iter().map(|&x| x as u64).sum(),
        room_rounds: slots as u64,
        anomalies: a,
        verdict: Verdict::decide(&a, slots as u64, unjudged),
        unjudged,
        server_error: raw.server_error.clone(),
        anomalies_expected: id.anomalies_expected(w, env),
        elapsed_s,
        answers_per_s,
        answers_per_s_spread: Spread::of(&[answers_per_s]),
        latency_ns: latency.percentiles(),
        response_latency_ns: response.percentiles(),
        lateness_ns: lateness.percentiles(),
        end_latency_ns: end_latency.percentiles(),
        timed_out,
        outcomes,
        history,
        timeline,
        ..StrategyResult::default()
    };
    Trial {
        result,
        latency,
        response,
        lateness,
        end_latency,
        history: Vec::new(),
    }
}

/// Judges every room-round of `raw` in `parts` ranges, each on a thread of
/// its own when there are several, and adds them up in order (the first
/// anomalous room-round is the first range's that has one).
fn judge(raw: &RawRun, parts: usize) -> Judged {
    let slots = raw.submitted.len();
    let parts = parts.clamp(1, slots.max(1));
    let share = slots.div_ceil(parts).max(1);
    let ranges = (0..parts)
        .map(|p| (p * share).min(slots)..((p + 1) * share).min(slots))
        .collect();
    let judged = super::on_threads(ranges, |range| Judged::of(raw, range));
    let mut all = Judged::default();
    for part in judged {
        all.add(part);
    }
    all
}

/// What the room-rounds of one range came to: [`evaluate_trial`] judges
/// ranges in parallel and adds them up in order.
#[derive(Default)]
struct Judged {
    anomalies: Anomalies,
    rounds: RoundOutcomes,
    end_latency: Latency,
    bounds_violations: u64,
    timed_out: u64,
    unjudged: u64,
    /// The first room-round with an anomaly, to draw when the history
    /// check found none.
    first_anomalous: Option<(usize, &'static str)>,
}

impl Judged {
    /// Judges room-rounds `range` of `raw`.
    fn of(raw: &RawRun, range: std::ops::Range<usize>) -> Judged {
        // Each room-round's fires and first fire, in this range's own
        // arrays (indexed from its start).
        let base = range.start;
        // 0, 1 or more is all that matters: one byte, saturating.
        let mut fires = super::mem::filled(range.len(), 0u8);
        let mut first_fire = super::mem::filled(range.len(), u64::MAX);
        for &(s, t) in &raw.fires {
            if let Some(i) = (s as usize).checked_sub(base).filter(|&i| i < fires.len()) {
                fires[i] = fires[i].saturating_add(1);
                first_fire[i] = first_fire[i].min(t);
            }
        }
        let mut a = Anomalies::default();
        let mut rounds = RoundOutcomes::default();
        let mut end_latency = Latency::new();
        let (mut bounds_violations, mut timed_out, mut unjudged) = (0, 0, 0);
        let mut first_anomalous = None;
        let mut end_batch = end_latency.batch();
        for s in range {
            let (fired, first_fired) = (fires[s - base], first_fire[s - base]);
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
                unjudged += 1;
            }
            // An answer that failed or whose reply never came carries the
            // round's end decision with it: a round holding one is judged by
            // the counter bounds alone, never as the strategy's missed end.
            let uncertain = raw.submitted[s] > raw.ok[s];
            match fired {
                // Answers the harness never submitted cannot end the round: that
                // is the run overrunning its time limit, not the strategy.
                0 if abandoned => {}
                0 if uncertain => unjudged += 1,
                0 => a.missed_end += 1,
                1 => {}
                _ => a.duplicate_end += 1,
            }
            let early = fired > 0 && first_fired < raw.last_submit[s];
            if first_anomalous.is_none() {
                let why = if c < ok {
                    Some("lost_updates")
                } else if c > upper {
                    Some("over_counts")
                } else if fired == 0 && !uncertain && !abandoned {
                    Some("missed_end")
                } else if fired > 1 {
                    Some("duplicate_end")
                } else if early {
                    Some("early_end")
                } else {
                    None
                };
                first_anomalous = why.map(|w| (s, w));
            }
            if fired > 0 {
                if early {
                    a.early_end += 1;
                } else {
                    let planned = raw
                        .last_planned
                        .get(s)
                        .copied()
                        .filter(|&p| p > 0)
                        .unwrap_or(raw.last_submit[s]);
                    end_batch.record(first_fired.saturating_sub(planned));
                }
            }
            let class = if abandoned {
                &mut rounds.timed_out
            } else if fired == 0 && uncertain && c >= ok && c <= upper {
                &mut rounds.end_unjudged
            } else if fired == 0 && !uncertain {
                &mut rounds.missed
            } else if fired > 1 {
                &mut rounds.ended_twice
            } else if early {
                &mut rounds.ended_early
            } else if c + 1 < ok {
                &mut rounds.lost_2_plus
            } else if c < ok {
                &mut rounds.lost_1
            } else if c > upper {
                &mut rounds.over_counted
            } else {
                &mut rounds.exact
            };
            *class += 1;
        }
        drop(end_batch);
        Judged {
            anomalies: a,
            rounds,
            end_latency,
            bounds_violations,
            timed_out,
            unjudged,
            first_anomalous,
        }
    }

    /// Adds the judgement of the range that follows this one.
    fn add(&mut self, later: Judged) {
        self.anomalies.add(&later.anomalies);
        self.rounds.add(&later.rounds);
        self.end_latency.merge(&later.end_latency);
        self.bounds_violations += later.bounds_violations;
        self.timed_out += later.timed_out;
        self.unjudged += later.unjudged;
        self.first_anomalous = self.first_anomalous.or(later.first_anomalous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::workload::Balance;
    use crate::strategy::{Runtime, ScoringWork};
    use std::time::Duration;

    /// Judged in ranges (on threads), room-rounds add up to what one range
    /// finds, first anomalous room-round included, whatever the split.
    #[test]
    fn judging_in_ranges_is_judging_in_one() {
        let slots = 37;
        let mut raw = RawRun {
            submitted: vec![3; slots],
            ok: vec![3; slots],
            unknown: vec![0; slots],
            abandoned: vec![0; slots],
            last_submit: (0..slots as u64).map(|s| 1_000 + s * 10).collect(),
            last_planned: Vec::new(),
            counts: vec![3; slots],
            ..RawRun::default()
        };
        for s in 0..slots as u32 {
            let at = 2_000 + s as u64 * 7;
            match s % 9 {
                3 => {}                                              // missed
                5 => raw.fires.extend([(s, at), (s, at + 1)]),       // twice
                7 => raw.fires.push((s, 1_000 + s as u64 * 10 - 1)), // early
                _ => raw.fires.push((s, at)),
            }
        }
        raw.counts[11] = 2; // lost
        raw.counts[30] = 4; // over
        raw.ok[20] = 2; // an unknown answer
        raw.unknown[20] = 1;
        raw.abandoned[25] = 1; // timed out
        let one = judge(&raw, 1);
        assert_eq!(one.first_anomalous, Some((3, "missed_end")));
        assert!(one.anomalies.lost_updates > 0 && one.anomalies.early_end > 0);
        for parts in 2..=8 {
            let split = judge(&raw, parts);
            assert_eq!(split.anomalies, one.anomalies, "{parts} parts");
            assert_eq!(split.rounds, one.rounds, "{parts} parts");
            assert_eq!(split.first_anomalous, one.first_anomalous, "{parts} parts");
            assert_eq!(split.bounds_violations, one.bounds_violations);
            assert_eq!(split.timed_out, one.timed_out);
            assert_eq!(split.unjudged, one.unjudged);
            assert_eq!(
                split.end_latency.to_buckets().0,
                one.end_latency.to_buckets().0,
                "{parts} parts"
            );
        }
    }

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
                early_end: 1,
                non_linearizable: 0,
            }
        );
        assert_eq!(r.verdict, Verdict::Anomalies);
        assert_eq!(r.outcomes.bounds_violations, 2);
        assert_eq!(r.end_latency_ns.max, 50);
        assert!(!r.anomalies_expected);
        let o = r.round_outcomes;
        assert_eq!(
            (o.exact, o.missed, o.ended_twice, o.ended_early),
            (1, 1, 1, 1),
            "{o:?}"
        );
    }

    /// A round whose last answer failed or timed out cannot be expected to
    /// end: it is judged by the counter bounds, not as a missed end.
    #[test]
    fn rounds_with_failed_or_unknown_answers_are_not_missed_ends() {
        let raw = RawRun {
            // slot 0: one answer failed (3 submitted, 2 ok); slot 1: one
            // unknown; slot 2: all ok but never ended (a real missed end).
            submitted: vec![3, 3, 3],
            ok: vec![2, 2, 3],
            unknown: vec![0, 1, 0],
            last_submit: vec![10, 10, 10],
            fires: vec![],
            counts: vec![2, 3, 3],
            ..RawRun::default()
        };
        let mut w = wl();
        w.rounds = 3;
        let r = evaluate(StrategyId::Atomic, &w, &Env::default(), &raw);
        assert_eq!(r.anomalies.missed_end, 1, "{:?}", r.anomalies);
        assert_eq!(r.unjudged, 2);
        assert_eq!(r.outcomes.bounds_violations, 0);
        assert_eq!(r.round_outcomes.missed, 1);
        assert_eq!(r.round_outcomes.end_unjudged, 2);
        assert_eq!(r.round_outcomes.exact, 0);
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

    #[test]
    fn histories_with_repeated_counts_are_not_linearizable_and_are_drawn() {
        let op = |slot, worker, invoke_ns, value| HistOp {
            invoke_ns,
            took_ns: 10,
            slot,
            worker,
            value,
            fate: 1,
            ..HistOp::default()
        };
        let raw = RawRun {
            submitted: vec![2, 2],
            ok: vec![2, 2],
            unknown: vec![0, 0],
            abandoned: vec![0, 0],
            last_submit: vec![100, 100],
            fires: vec![(0, 200), (1, 200)],
            counts: vec![2, 1],
            // Room-round 0 counted 1 then 2; room-round 1 returned 1 twice.
            history: vec![
                op(0, 0, 0, 1),
                op(0, 1, 100, 2),
                op(1, 0, 0, 1),
                op(1, 1, 100, 1),
            ],
            history_kept: true,
            ..RawRun::default()
        };
        let r = evaluate(StrategyId::RacyRmw, &wl(), &Env::default(), &raw);
        assert_eq!(r.anomalies.non_linearizable, 1);
        let h = r.history.expect("checked");
        assert_eq!(h.checked_rounds, 2);
        assert!(h.witness.unwrap().starts_with("room-round 1:"));
        let t = r.timeline.expect("drawn");
        assert_eq!(
            (t.slot, t.why.as_str(), t.ops.len()),
            (1, "non_linearizable", 2)
        );
    }
}

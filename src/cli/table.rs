//! The terminal: colours, the results table, and the lines under it.

use std::io::IsTerminal;

pub(crate) use quizrace::format::{ns, si, thousands};
use quizrace::plan::{ScenarioPlan, SweepKey};
use quizrace::result::{Promise, StrategyResult, Verdict};
use quizrace::strategy::{Kind, Runtime, StrategyId};
use quizrace::suite::TrialPolicy;

pub(crate) struct Style {
    color: bool,
}

impl Style {
    pub(crate) fn detect() -> Style {
        Style {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal(),
        }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub(crate) fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub(crate) fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub(crate) fn kind(&self, k: Kind, width: usize) -> String {
        let s = format!("{:<width$}", k.as_str());
        match k {
            Kind::Correct => self.paint("32", &s),
            _ => self.paint("33", &s),
        }
    }
    /// The verdict cell: what happened and in how many trials.
    pub(crate) fn verdict(&self, r: &StrategyResult) -> String {
        let of = format!("{}/{}", r.anomalous_trials, r.trials);
        let (code, text) = match r.verdict {
            Verdict::Exact if r.not_reproduced() => ("33", format!("not reproduced {of}")),
            Verdict::Exact => ("32", "exact".to_string()),
            Verdict::Anomalies if r.anomalies_expected => ("33", format!("anomalies {of}")),
            Verdict::Anomalies => ("1;31", format!("ANOMALIES {of}")),
            Verdict::Inconclusive => ("1;35", "INCONCLUSIVE".to_string()),
        };
        self.paint(code, &format!("{text:<22}"))
    }
}

/// The results table of one scenario: column widths fixed from every label
/// the plan will print, so sweep labels never break the alignment.
pub(crate) struct Table {
    label_width: usize,
    /// Answer windows add response time and lateness columns.
    scheduled: bool,
}

impl Table {
    pub(crate) fn new(plan: &ScenarioPlan) -> Table {
        let widest = plan.labels().iter().map(|l| l.chars().count()).max();
        Table {
            label_width: widest.unwrap_or(0).max(8),
            scheduled: !plan.workload.window.is_zero(),
        }
    }

    pub(crate) fn header(&self, plan: &ScenarioPlan, policy: &TrialPolicy, style: &Style) {
        let w = &plan.workload;
        let swept = |key: SweepKey| match plan.sweeps.get(&key) {
            Some(values) => values
                .iter()
                .map(|&v| thousands(v as u64))
                .collect::<Vec<_>>()
                .join("/"),
            None => thousands(key.get(w) as u64),
        };
        let answers = if [SweepKey::Rooms, SweepKey::Players, SweepKey::Rounds]
            .iter()
            .any(|k| plan.sweeps.contains_key(k))
        {
            "answers per point".to_string()
        } else {
            format!("{} answers", thousands(w.total_answers()))
        };
        let runtime = if plan.mixed_runtimes() {
            format!("{} (async-only strategies on tokio)", w.runtime)
        } else {
            w.runtime.to_string()
        };
        outln!(
            "\n{}  {} rooms x {} players x {} rounds = {answers} | {runtime} | {} workers{} | scoring {} | window {} | seed {}",
            style.bold(&safe(&plan.name)),
            swept(SweepKey::Rooms),
            swept(SweepKey::Players),
            swept(SweepKey::Rounds),
            swept(SweepKey::Workers),
            if plan.entries.iter().any(|e| e.runtime == Runtime::Processes) {
                format!(" x {} processes", swept(SweepKey::Processes))
            } else {
                String::new()
            },
            w.work,
            if w.window.is_zero() { "burst".to_string() } else { format!("{:?}", w.window) },
            w.seed
        );
        if let Some(d) = &plan.file.description {
            outln!("{}", safe(d.trim()));
            if plan.workload_changed {
                outln!(
                    "(the command line changed this workload: the text above may not apply, and \
                     its promises are not checked)"
                );
            }
        }
        outln!(
            "trials: at least {} per strategy and {:?} of measured time (fresh state, same plan); \
             answers/s is the median trial, spread is min-max and cv",
            policy.min_trials,
            policy.min_time
        );
        for l in &plan.left_out {
            outln!("left out: {} ({})", l.strategies.join(", "), l.why);
        }
        let f = &plan.env.faults;
        if !f.is_default() && plan.entries.iter().any(|e| e.id.networked()) {
            {
                let pause = f.pause.map_or(String::new(), |p| {
                    format!(
                        "; server paused ({} commands held) for {:?} at {:?}",
                        p.mode.as_str(),
                        p.duration,
                        p.at
                    )
                });
                let failover = f.failover.map_or(String::new(), |fo| {
                    format!(
                        ";\nfailover: the replica is promoted at {:?}; the old primary \
                         acknowledges alone for {:?}, then loses it all (lost updates)",
                        fo.at, fo.duration
                    )
                });
                outln!(
                    "faults: client response timeout {:?}, connect timeout {:?}, {} \
                     retries{pause}{failover}",
                    f.response_timeout,
                    f.connect_timeout,
                    f.retries
                );
            }
        }
        let timing = if self.scheduled {
            format!("{:>9} {:>9} {:>9}", "svc p99", "resp p99", "late p99")
        } else {
            format!("{:>9} {:>9}", "p50", "p99")
        };
        outln!(
            "{:<lw$} {:<22} {:>6} {:>10} {:>21} {timing} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "strategy",
            "verdict (trials)",
            "trials",
            "answers/s",
            "spread (min-max, cv)",
            "end p99",
            "lost",
            "over",
            "missed",
            "dup",
            "early",
            "non-lin",
            lw = self.label_width,
        );
    }

    /// One line under the table saying what its columns count.
    pub(crate) fn legend(&self) {
        outln!(
            "(lost, over, missed, dup, early, non-lin: trials in which the anomaly appeared; \
             non-lin = returned counts that no order of the calls explains; the lines below give \
             amounts.{})",
            if self.scheduled {
                " svc = the record call; resp = from the planned arrival; late = start behind plan."
            } else {
                ""
            }
        );
    }

    pub(crate) fn row(&self, label: &str, r: &StrategyResult, style: &Style) {
        let t = &r.anomaly_trials;
        let n = r.trials;
        // Anomaly columns: in how many trials each appeared.
        let cell = |v: u64| {
            if v == 0 {
                format!("{:>7}", "-")
            } else {
                style.red(&format!("{:>7}", format!("{v}/{n}")))
            }
        };
        let s = &r.answers_per_s_spread;
        let spread = format!("{}-{} {:>4.1}%", si(s.min), si(s.max), s.cv * 100.0);
        let timing = if self.scheduled {
            format!(
                "{:>9} {:>9} {:>9}",
                ns(r.latency_ns.p99),
                ns(r.response_latency_ns.p99),
                ns(r.lateness_ns.p99)
            )
        } else {
            format!("{:>9} {:>9}", ns(r.latency_ns.p50), ns(r.latency_ns.p99))
        };
        outln!(
            "{:<lw$} {} {:>6} {:>10} {:>21} {timing} {:>9} {} {} {} {} {} {}",
            label,
            style.verdict(r),
            n,
            si(r.answers_per_s),
            spread,
            ns(r.end_latency_ns.p99),
            cell(t.lost_updates),
            cell(t.over_counts),
            cell(t.missed_end),
            cell(t.duplicate_end),
            cell(t.early_end),
            cell(t.non_linearizable),
            lw = self.label_width,
        );
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p >= 10.0 {
        format!("{p:.0}%")
    } else if p >= 0.1 {
        format!("{p:.1}%")
    } else {
        format!("{p:.2}%")
    }
}

pub(crate) fn print_summary(results: &[(String, StrategyResult)], style: &Style) {
    for (label, r) in results {
        let a = &r.anomalies;
        let t = &r.anomaly_trials;
        let n = r.trials;
        let mut lines = Vec::new();
        if r.failed_trials > 0 {
            lines.push(style.red(&format!(
                "{label}: {} of {} trials failed: {}",
                r.failed_trials,
                r.failed_trials + n,
                r.trial_errors.join("; ")
            )));
        }
        if r.verdict == Verdict::Inconclusive {
            lines.push(style.red(&format!(
                "{label}: inconclusive: {} of {} room-rounds could not be judged (they hit the \
                 time limit or the --deadline with answers unsubmitted, or held an answer that \
                 failed or timed out), more than {:.0}%; raise --time-limit or --deadline, \
                 shrink the workload, or fix the server. --check fails on this.",
                thousands(r.unjudged),
                thousands(r.room_rounds),
                Verdict::MAX_UNJUDGED * 100.0
            )));
        }
        if r.server_restarted {
            lines.push(style.red(&format!(
                "{label}: the server restarted during the run (its run_id changed): the \
                 acknowledged answers it forgot are data loss by the server, not the strategy's \
                 lost updates (quizrace exits 2)."
            )));
        }
        if let Some(e) = r.server_error.as_ref().filter(|_| r.outcomes.failed > 0) {
            lines.push(style.red(&format!(
                "{label}: the server rejected {} answers: {e}. This is the environment, \
                 not the strategy (quizrace exits 2).",
                thousands(r.outcomes.failed)
            )));
        }
        if r.not_reproduced() {
            // A correct strategy outside its guarantee (e.g. under retries)
            // has no hint of its own in the catalogue.
            let hint = StrategyId::from_name(&r.strategy)
                .map(|id| id.info().widen)
                .ok()
                .filter(|w| !w.is_empty())
                .unwrap_or(
                    "the fault did not hit a retried call this time; a longer pause or more \
                     rounds make it likelier",
                );
            lines.push(format!(
                "{label}: not reproduced (0/{n} trials): the race did not show this time; {hint}"
            ));
        }
        let mut parts = Vec::new();
        if r.timed_out > 0 {
            parts.push(format!(
                "{} of {} rounds hit the time limit with answers still unsubmitted \
                 (the run was slower than --time-limit or --deadline; those rounds are not judged)",
                thousands(r.timed_out),
                thousands(r.room_rounds)
            ));
        }
        let rounds = r.room_rounds;
        let mut said = |trials: u64, what: &str, share: String| {
            if trials > 0 {
                parts.push(format!("{what} in {trials} of {n} trials ({share})"));
            }
        };
        said(
            t.lost_updates,
            "lost updates",
            format!("{} of answers", pct(a.lost_updates, r.answers)),
        );
        said(
            t.over_counts,
            "counted answers twice",
            format!("{} of answers", pct(a.over_counts, r.answers)),
        );
        said(
            t.missed_end,
            "rooms hung (endQuizTime never fired)",
            format!("{} of room-rounds", pct(a.missed_end, rounds)),
        );
        said(
            t.duplicate_end,
            "rounds ended twice or more",
            format!("{} of room-rounds", pct(a.duplicate_end, rounds)),
        );
        said(
            t.early_end,
            "rounds ended before every answer was in",
            format!("{} of room-rounds", pct(a.early_end, rounds)),
        );
        said(
            t.non_linearizable,
            "returned counts that no order of the calls explains",
            format!("{} of room-rounds", pct(a.non_linearizable, rounds)),
        );
        if let Some(w) = r.history.as_ref().and_then(|h| h.witness.as_ref()) {
            parts.push(format!("first non-linearizable room-round: {w}"));
        }
        let o = &r.outcomes;
        if o.retries > 0 && o.failed + o.unknown == 0 {
            // Conflicts retried by the strategy itself (WATCH aborts,
            // SQLSTATE 40001), or client retries after a timeout.
            parts.push(format!(
                "{} retries ({:.2} per answer: conflicts rolled back, or calls that timed out, \
                 run again)",
                thousands(o.retries),
                o.retries as f64 / r.answers.max(1) as f64
            ));
        }
        if o.failed + o.unknown > 0 {
            parts.push(format!(
                "{} answers failed and {} had an unknown outcome ({} retries; count bounds violated in {} rounds)",
                thousands(o.failed),
                thousands(o.unknown),
                thousands(o.retries),
                thousands(o.bounds_violations)
            ));
        }
        if !a.is_exact() {
            let o = &r.round_outcomes;
            let judged = rounds.saturating_sub(o.timed_out + o.end_unjudged);
            let dist: Vec<String> = o
                .classes()
                .iter()
                .filter(|(name, v)| *v > 0 && *name != "timed out" && *name != "end not judged")
                .map(|(name, v)| format!("{name} {}", pct(*v, judged)))
                .collect();
            parts.push(format!(
                "judged room-rounds by their worst anomaly: {}",
                dist.join(", ")
            ));
        }
        if !parts.is_empty() {
            let note = if r.anomalies_expected || a.is_exact() || r.server_restarted {
                ""
            } else if o.failed + o.unknown + o.retries > 0 {
                // Anomalies under faults are not necessarily the strategy's: a
                // restarted server without persistence forgets acknowledged
                // answers, and a call whose every attempt timed out loses its
                // end decision with the reply.
                " (faults hit this run: a restarted server may forget acknowledged answers, and an answer whose every attempt timed out loses its end decision)"
            } else {
                " (a correct strategy broke its guarantee: a bug, unless its server lost data)"
            };
            let line = format!("{label} {}{note}", parts.join("; "));
            lines.push(if note.is_empty() {
                line
            } else {
                style.red(&line)
            });
        }
        for l in lines {
            outln!("{}", safe(&l));
        }
    }
}

/// Promises the scenario did not keep in this run.
pub(crate) fn print_promises(promises: &[Promise], style: &Style) {
    for p in promises.iter().filter(|p| !p.kept) {
        outln!(
            "{}",
            style.red(&format!(
                "promise not kept: this scenario promises {} shows {}, but it did not in {} trials",
                safe(&p.strategy),
                p.anomaly,
                p.trials
            ))
        );
    }
}

/// Text from files (scenario names, descriptions) with control characters
/// shown as escapes, so a file cannot move the cursor or forge lines.
pub(crate) fn safe(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().collect::<Vec<_>>()
            } else if matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                c.escape_unicode().collect()
            } else {
                vec![c]
            }
        })
        .collect()
}

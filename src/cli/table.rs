//! The terminal: colours, the results table, and the lines under it.

use std::io::IsTerminal;
use std::sync::OnceLock;

pub(crate) use quizrace::format::{duration, ns, plural, si, thousands};
use quizrace::plan::{ScenarioPlan, SweepKey};
use quizrace::result::{Promise, StrategyResult, Verdict};
use quizrace::strategy::{Kind, Runtime, StrategyId};
use quizrace::suite::TrialPolicy;

/// `--color`: when standard output gets ANSI colours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// Colour when standard output is a terminal, `TERM` is not `dumb` and
    /// `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always colour, even into a pipe or file.
    Always,
    /// Never colour.
    Never,
}

/// The `--color` of this command line, set once before any output.
static COLOR: OnceLock<ColorChoice> = OnceLock::new();

/// Records `--color` for every [`Style::detect`] that follows.
pub(crate) fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

pub(crate) struct Style {
    color: bool,
}

impl Style {
    pub(crate) fn detect() -> Style {
        let color = match COLOR.get().copied().unwrap_or_default() {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
                    && std::io::stdout().is_terminal()
            }
        };
        Style { color }
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
    /// The verdict cell: what happened and in how many trials, padded to
    /// the table's column (the padding inside the colour).
    pub(crate) fn verdict_cell(&self, r: &StrategyResult) -> String {
        let (code, text) = verdict_text(r);
        self.paint(code, &format!("{text:<22}"))
    }

    /// The verdict in a sentence: no padding.
    pub(crate) fn verdict(&self, r: &StrategyResult) -> String {
        let (code, text) = verdict_text(r);
        self.paint(code, &text)
    }
}

/// The verdict's words and colour.
fn verdict_text(r: &StrategyResult) -> (&'static str, String) {
    let of = format!("{}/{}", r.anomalous_trials, r.trials);
    match r.verdict {
        Verdict::Exact if r.not_reproduced() => ("33", format!("not reproduced {of}")),
        Verdict::Exact => ("32", "exact".to_string()),
        Verdict::Anomalies if r.anomalies_expected => ("33", format!("anomalies {of}")),
        Verdict::Anomalies => ("1;31", format!("ANOMALIES {of}")),
        Verdict::Inconclusive => ("1;35", "INCONCLUSIVE".to_string()),
    }
}

/// The results table of one scenario: column widths fixed from every label
/// the plan will print, so sweep labels never break the alignment.
pub(crate) struct Table {
    label_width: usize,
    /// Answer windows add response time and lateness columns.
    scheduled: bool,
    /// Strategies on a server add the answers' outcome columns (ok,
    /// failed, unknown, retries).
    networked: bool,
}

impl Table {
    pub(crate) fn new(plan: &ScenarioPlan) -> Table {
        let widest = plan.labels().iter().map(|l| l.chars().count()).max();
        Table {
            label_width: widest.unwrap_or(0).max(8),
            scheduled: !plan.workload.window.is_zero(),
            networked: plan.entries.iter().any(|e| e.id.networked()),
        }
    }

    pub(crate) fn header(&self, plan: &ScenarioPlan, policy: &TrialPolicy, style: &Style) {
        let w = &plan.workload;
        // `2 rooms`, `1 room`, `1/10 rooms` for a sweep.
        let swept = |key: SweepKey, noun: &str| match plan.sweeps.get(&key) {
            Some(values) => format!(
                "{} {}",
                values
                    .iter()
                    .map(|&v| thousands(v as u64))
                    .collect::<Vec<_>>()
                    .join("/"),
                plural(2, noun).split_once(' ').map_or("", |(_, n)| n)
            ),
            None => plural(key.get(w) as u64, noun),
        };
        let answers = if [SweepKey::Rooms, SweepKey::Players, SweepKey::Rounds]
            .iter()
            .any(|k| plan.sweeps.contains_key(k))
        {
            "answers per point".to_string()
        } else {
            plural(w.total_answers(), "answer")
        };
        let runtime = if plan.mixed_runtimes() {
            format!("{} (async-only strategies on tokio)", w.runtime)
        } else {
            w.runtime.to_string()
        };
        let line =
            format!(
            "{}  {} x {} x {} = {answers} | {runtime} | {}{} | scoring {} | window {} | seed {}",
            style.bold(&safe(&plan.name)),
            swept(SweepKey::Rooms, "room"),
            swept(SweepKey::Players, "player"),
            swept(SweepKey::Rounds, "round"),
            swept(SweepKey::Workers, "worker"),
            if plan.entries.iter().any(|e| e.runtime == Runtime::Processes) {
                format!(" x {}", swept(SweepKey::Processes, "process"))
            } else {
                String::new()
            },
            w.work,
            if w.window.is_zero() { "burst".to_string() } else { duration(w.window) },
            w.seed
        );
        outln!("\n{}", wrap(&line));
        if let Some(d) = &plan.file.description {
            outln!("{}", safe(d.trim()));
            if plan.workload_changed {
                outln!(
                    "{}",
                    wrap(
                        "(the command line changed this workload: the text above may not apply, \
                         and its promises are not checked)"
                    )
                );
            }
        }
        outln!(
            "{}",
            wrap(&format!(
                "trials: at least {} per strategy and {} of measured time (fresh state, same \
                 plan); answers/s is the median trial, spread is min-max and cv",
                policy.min_trials,
                duration(policy.min_time)
            ))
        );
        for l in &plan.left_out {
            outln!(
                "{}",
                wrap(&format!(
                    "left out: {} ({})",
                    l.strategies.join(", "),
                    l.why
                ))
            );
        }
        let f = &plan.env.faults;
        if !f.is_default() && plan.entries.iter().any(|e| e.id.networked()) {
            {
                let pause = f.pause.map_or(String::new(), |p| {
                    format!(
                        "; server paused ({} commands held) for {} at {}",
                        p.mode.as_str(),
                        duration(p.duration),
                        duration(p.at)
                    )
                });
                let failover = f.failover.map_or(String::new(), |fo| {
                    format!(
                        ";\nfailover: the replica is promoted at {}; the old primary \
                         acknowledges alone for {}, then loses it all (lost updates)",
                        duration(fo.at),
                        duration(fo.duration)
                    )
                });
                outln!(
                    "{}",
                    wrap(&format!(
                        "faults: client response timeout {}, connect timeout {}, {}{pause}{failover}",
                        duration(f.response_timeout),
                        duration(f.connect_timeout),
                        plural(u64::from(f.retries), "retry")
                    ))
                );
            }
        }
        let timing = if self.scheduled {
            format!("{:>9} {:>9} {:>9}", "svc p99", "resp p99", "late p99")
        } else {
            format!("{:>9} {:>9}", "p50", "p99")
        };
        let outcomes = if self.networked {
            format!(
                " {:>9} {:>7} {:>7} {:>8}",
                "ok", "failed", "unknown", "retries"
            )
        } else {
            String::new()
        };
        outln!(
            "{:<lw$} {:<22} {:>6} {:>10} {:>21} {timing} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}{outcomes}",
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
            "{}",
            wrap(&format!(
                "(lost, over, missed, dup, early, non-lin: trials in which the anomaly appeared; \
                 non-lin = returned counts that no order of the calls explains; the lines below \
                 give amounts.{}{})",
                if self.scheduled {
                    " svc = the record call; resp = from the planned arrival; late = start \
                     behind plan."
                } else {
                    ""
                },
                if self.networked {
                    " ok, failed, unknown: answers over all trials whose call the server \
                     acknowledged, refused, or left without a reply (timed out: it may have \
                     landed); retries: calls run again (conflicts rolled back, WATCH aborts, \
                     client retries after a timeout). In-process strategies show -."
                } else {
                    ""
                }
            ))
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
        let outcomes = match (
            self.networked,
            StrategyId::from_name(&r.strategy).is_ok_and(|id| id.networked()),
        ) {
            (false, _) => String::new(),
            (true, false) => format!(" {:>9} {:>7} {:>7} {:>8}", "-", "-", "-", "-"),
            (true, true) => {
                let o = &r.outcomes;
                let bad = |v: u64, w: usize| {
                    let s = format!("{:>w$}", si_count(v));
                    if v == 0 {
                        s
                    } else {
                        style.red(&s)
                    }
                };
                format!(
                    " {:>9} {} {} {:>8}",
                    si_count(o.ok),
                    bad(o.failed, 7),
                    bad(o.unknown, 7),
                    si_count(o.retries)
                )
            }
        };
        outln!(
            "{:<lw$} {} {:>6} {:>10} {:>21} {timing} {:>9} {} {} {} {} {} {}{outcomes}",
            label,
            style.verdict_cell(r),
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

/// A count for a narrow column: exact below 100,000, else as [`si`].
fn si_count(v: u64) -> String {
    if v < 100_000 {
        thousands(v)
    } else {
        si(v as f64)
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

/// The lines under the table: what each result's anomalies amount to, and
/// its problems. `only_problems` (`--quiet`) leaves out the lines that
/// report expected results (a racy strategy's anomalies).
pub(crate) fn print_summary(
    results: &[(String, StrategyResult)],
    style: &Style,
    only_problems: bool,
) {
    for (label, r) in results {
        let a = &r.anomalies;
        let t = &r.anomaly_trials;
        let n = r.trials;
        let mut lines = Vec::new();
        if r.failed_trials > 0 {
            lines.push((
                true,
                style.red(&format!(
                    "{label}: {} of {} failed: {}",
                    r.failed_trials,
                    plural(u64::from(r.failed_trials + n), "trial"),
                    r.trial_errors.join("; ")
                )),
            ));
        }
        if r.verdict == Verdict::Inconclusive {
            lines.push((
                true,
                style.red(&format!(
                "{label}: inconclusive: {} of {} room-rounds could not be judged (they hit the \
                 time limit or the --deadline with answers unsubmitted, or held an answer that \
                 failed or timed out), more than {:.0}%; raise --time-limit or --deadline, \
                 shrink the workload, or fix the server. --check fails on this.",
                thousands(r.unjudged),
                thousands(r.room_rounds),
                Verdict::MAX_UNJUDGED * 100.0
            )),
            ));
        }
        if r.server_restarted {
            lines.push((
                true,
                style.red(&format!(
                    "{label}: the server restarted during the run (its run_id changed): the \
                 acknowledged answers it forgot are data loss by the server, not the strategy's \
                 lost updates (quizrace exits 2)."
                )),
            ));
        }
        if let Some(e) = r.server_error.as_ref().filter(|_| r.outcomes.failed > 0) {
            lines.push((
                true,
                style.red(&format!(
                    "{label}: the server rejected {} answers: {e}. This is the environment, \
                 not the strategy (quizrace exits 2).",
                    thousands(r.outcomes.failed)
                )),
            ));
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
            lines.push((
                false,
                format!(
                    "{label}: not reproduced (0/{n} {}): the race did not show this time; {hint}",
                    if n == 1 { "trial" } else { "trials" }
                ),
            ));
        }
        let mut parts = Vec::new();
        if r.timed_out > 0 {
            parts.push(format!(
                "{} of {} hit the time limit with answers still unsubmitted \
                 (the run was slower than --time-limit or --deadline; those rounds are not judged)",
                thousands(r.timed_out),
                plural(r.room_rounds, "room-round")
            ));
        }
        let rounds = r.room_rounds;
        let mut said = |trials: u64, what: &str, share: String| {
            if trials > 0 {
                parts.push(format!(
                    "{what} in {trials} of {} ({share})",
                    plural(u64::from(n), "trial")
                ));
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
                "{} ({:.2} per answer: conflicts rolled back, or calls that timed out, run \
                 again)",
                plural(o.retries, "retry"),
                o.retries as f64 / r.answers.max(1) as f64
            ));
        }
        if o.failed + o.unknown > 0 {
            parts.push(format!(
                "{} failed and {} had an unknown outcome ({}; count bounds violated in {})",
                plural(o.failed, "answer"),
                thousands(o.unknown),
                plural(o.retries, "retry"),
                plural(o.bounds_violations, "room-round")
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
                (false, line)
            } else {
                (true, style.red(&line))
            });
        }
        for (problem, l) in lines {
            if problem || !only_problems {
                outln!("{}", wrap(&safe(&l)));
            }
        }
    }
}

/// Promises the scenario did not keep in this run.
pub(crate) fn print_promises(promises: &[Promise], style: &Style) {
    for p in promises.iter().filter(|p| !p.kept) {
        outln!(
            "{}",
            wrap(&style.red(&format!(
                "promise not kept: this scenario promises {} shows {}, but it did not in {}",
                safe(&p.strategy),
                p.anomaly,
                plural(u64::from(p.trials), "trial")
            )))
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

/// The width prose is wrapped to: `COLUMNS` if set, else the terminal's
/// width when standard output is one, else 80. At least 40.
pub(crate) fn width() -> usize {
    static WIDTH: OnceLock<usize> = OnceLock::new();
    *WIDTH.get_or_init(|| {
        let from_env = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|&c| c > 0);
        from_env.or_else(terminal_width).unwrap_or(80).max(40)
    })
}

#[cfg(unix)]
fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer we pass,
    // which points at a live, properly aligned `winsize` on our stack.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

#[cfg(not(unix))]
fn terminal_width() -> Option<usize> {
    None
}

/// Wraps each line of `text` to the terminal's [`width`].
pub(crate) fn wrap(text: &str) -> String {
    wrap_to(text, width())
}

/// Wraps each line of `text` at spaces to at most `width` visible
/// characters (ANSI colour sequences take no room); a wrapped line's
/// continuation keeps its leading spaces. Words longer than the width stay
/// whole.
pub(crate) fn wrap_to(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 40);
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let indent = &line[..line.len() - line.trim_start_matches(' ').len()];
        let mut col = 0;
        for word in glue_units(&line[indent.len()..]) {
            let word = word.as_str();
            let w = visible_len(word);
            if col == 0 {
                out.push_str(indent);
                col = indent.len();
            } else if col + 1 + w > width {
                out.push('\n');
                out.push_str(indent);
                col = indent.len();
            } else {
                out.push(' ');
                col += 1;
            }
            out.push_str(word);
            col += w;
        }
    }
    out
}

/// The words of `line`, a unit (`ns`, `µs`, `ms`, `s`) kept with the
/// number before it, so that `48.1 µs` never breaks across lines.
fn glue_units(line: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in line.split(' ').filter(|w| !w.is_empty()) {
        let bare = w.trim_end_matches(['.', ',', ';', ':', ')']);
        let after_number = words
            .last()
            .is_some_and(|p| p.ends_with(|c: char| c.is_ascii_digit()));
        match words.last_mut() {
            Some(prev) if after_number && ["ns", "µs", "us", "ms", "s"].contains(&bare) => {
                prev.push(' ');
                prev.push_str(w);
            }
            _ => words.push(w.to_string()),
        }
    }
    words
}

/// Reflows prose written hard-wrapped (the catalogue's explanations) to
/// `width`: the lines of a paragraph are joined and wrapped again;
/// indented lines (code) and blank lines are kept as they are.
pub(crate) fn reflow(text: &str, width: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut para = String::new();
    let flush = |para: &mut String, out: &mut Vec<String>| {
        if !para.is_empty() {
            out.push(wrap_to(para, width));
            para.clear();
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with(' ') || line.starts_with('\t') {
            flush(&mut para, &mut out);
            out.push(line.to_string());
        } else {
            if !para.is_empty() {
                para.push(' ');
            }
            para.push_str(line.trim());
        }
    }
    flush(&mut para, &mut out);
    out.join("\n")
}

/// Characters a terminal shows for `s`: ANSI escape sequences take none.
fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, ended by a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_keeps_indent() {
        assert_eq!(wrap_to("aa bb cc dd", 5), "aa bb\ncc dd");
        assert_eq!(wrap_to("  aa bb cc", 7), "  aa bb\n  cc");
        assert_eq!(wrap_to("abcdefgh ij", 4), "abcdefgh\nij");
        assert_eq!(wrap_to("\x1b[31maa\x1b[0m bb", 5), "\x1b[31maa\x1b[0m bb");
        assert_eq!(wrap_to("p99 48.1 µs.", 9), "p99\n48.1 µs.");
    }

    #[test]
    fn reflow_joins_paragraphs_and_keeps_code() {
        let text = "one two\nthree four\n\n    let v = 1;\nfive";
        assert_eq!(
            reflow(text, 9),
            "one two\nthree\nfour\n\n    let v = 1;\nfive"
        );
    }
}

//! The page template and HTML escaping.
//!
//! Every string that comes from a results file, a criterion file or a path
//! (scenario names and descriptions, strategy names, environment strings,
//! fault settings) goes through [`Esc`] before it reaches the page. Chart
//! text is escaped by plotters' SVG backend (see `plot`).

use std::fmt::{self, Write as _};

use super::criterion::Benches;
use super::plot::{self, fmt_ns, fmt_rate, CostPoint};
use super::summary::{self, Class, Summary};
use super::{ReportError, Run};
use crate::result::{Anomalies, StrategyResult};

/// Writes into a `String`; `fmt::Write` for `String` never fails.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// Displays a string HTML-escaped, safe in text and in quoted attributes.
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// The page's only style sheet. System fonts only: nothing is fetched.
const CSS: &str = r#"
:root { --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #9a6700; --warn-bg: #fff8c5;
        --bad: #cf222e; --bad-bg: #ffebe9; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1f2328; background: #f6f8fa; }
main { max-width: 1240px; margin: 0 auto; padding: 16px 20px 48px; background: #fff; }
h1 { font-size: 1.7em; margin: 0.2em 0; }
h2 { font-size: 1.35em; margin-top: 1.6em; border-bottom: 1px solid var(--line); padding-bottom: 0.2em; }
h3 { font-size: 1.15em; margin: 0.3em 0; }
p.sub, .muted { color: var(--muted); }
code { font: 0.9em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f0f2f4;
       padding: 0.1em 0.3em; border-radius: 4px; overflow-wrap: anywhere; }
nav ul { display: flex; flex-wrap: wrap; gap: 4px 18px; padding: 0; list-style: none; }
.banner { border-radius: 8px; padding: 12px 18px; margin: 16px 0; border: 1px solid; }
.banner h2 { border: 0; margin: 0; }
.banner.ok { background: var(--ok-bg); border-color: var(--ok); }
.banner.fail { background: var(--bad-bg); border-color: var(--bad); }
.banner .headline { font-size: 1.2em; font-weight: 600; margin: 0.3em 0; }
.table-wrap { overflow-x: auto; margin: 8px 0 16px; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.matrix th[scope=row] { position: sticky; left: 0; white-space: nowrap; }
table.matrix td { min-width: 7.5em; }
td.exact { background: var(--ok-bg); color: var(--ok); }
td.expected { background: var(--warn-bg); color: var(--warn); }
td.unexpected { background: var(--bad-bg); color: var(--bad); font-weight: 600; }
td.inconclusive { background: #f3eefc; color: #8250df; font-weight: 600; }
td.missing { color: var(--muted); text-align: center; }
.tag { display: inline-block; font-size: 0.78em; font-weight: 600; text-transform: uppercase;
       letter-spacing: 0.03em; border-radius: 4px; padding: 0 4px; border: 1px solid currentColor; }
.counts { display: block; font-size: 0.9em; white-space: nowrap; }
.kind { color: var(--muted); font-size: 0.85em; }
article.scenario { border-top: 1px solid var(--line); padding-top: 8px; margin-top: 24px; }
dl.params { display: flex; flex-wrap: wrap; gap: 2px 18px; margin: 6px 0 10px; }
dl.params div { display: flex; gap: 4px; }
dl.params dt { color: var(--muted); }
dl.params dd { margin: 0; font-weight: 600; }
.charts { display: grid; grid-template-columns: 1fr; gap: 18px; }
@media (min-width: 1700px) { main { max-width: 1640px; } .charts { grid-template-columns: 1fr 1fr; } }
figure { margin: 0; }
figure svg.chart { display: block; width: 100%; max-width: 900px; height: auto;
                   border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 0.88em; max-width: 900px; margin-top: 4px; }
.note { border-left: 4px solid var(--line); padding: 6px 12px; color: var(--muted); background: #f6f8fa; max-width: 900px; }
.warn { border-left-color: var(--warn); color: var(--warn); background: var(--warn-bg); }
footer { margin-top: 40px; color: var(--muted); font-size: 0.9em; }
"#;

/// Renders the whole page.
pub(crate) fn render(
    runs: &[Run],
    summary: &Summary,
    benches: Option<&Benches>,
) -> Result<String, ReportError> {
    let mut out = String::with_capacity(256 * 1024);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>quizrace report</title>\n<style>",
    );
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n<main>\n");
    put!(
        out,
        "<header><h1>quizrace report</h1><p class=\"sub\">{} scenario{} · {} strategy result{} · \
         lost updates on a quiz game's answer counter, and every standard way out of them.</p></header>\n",
        runs.len(),
        plural(runs.len()),
        summary.total_results,
        plural(summary.total_results)
    );
    verdict(&mut out, summary);
    out.push_str(
        "<nav aria-label=\"contents\"><ul><li><a href=\"#matrix\">Correctness matrix</a></li>\
         <li><a href=\"#scenarios\">Scenarios and charts</a></li>",
    );
    if benches.is_some() {
        out.push_str("<li><a href=\"#criterion\">Criterion benchmarks</a></li>");
    }
    out.push_str("<li><a href=\"#environment\">Environment</a></li></ul></nav>\n");
    matrix(&mut out, runs, summary);
    out.push_str("<section id=\"scenarios\">\n<h2>Scenarios and charts</h2>\n");
    for (i, run) in runs.iter().enumerate() {
        scenario(&mut out, i, run)?;
    }
    out.push_str("</section>\n");
    if let Some(b) = benches {
        criterion_table(&mut out, b);
    }
    environment(&mut out, runs);
    footer(&mut out, runs, benches);
    out.push_str("</main>\n</body>\n</html>\n");
    Ok(out)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Non-zero anomaly counts as `(short label, full field name, count)`.
fn anomaly_parts(a: &Anomalies) -> Vec<(&'static str, &'static str, u64)> {
    [
        ("lost", "lost_updates", a.lost_updates),
        ("over", "over_counts", a.over_counts),
        ("missed end", "missed_end", a.missed_end),
        ("dup end", "duplicate_end", a.duplicate_end),
        ("early end", "early_end", a.early_end),
    ]
    .into_iter()
    .filter(|p| p.2 > 0)
    .collect()
}

fn anomaly_text(a: &Anomalies) -> String {
    let parts = anomaly_parts(a);
    if parts.is_empty() {
        // The verdict said `anomalies` although every count is 0.
        return "anomalies (no counts recorded)".to_string();
    }
    parts
        .iter()
        .map(|(_, field, n)| format!("{field} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn verdict(out: &mut String, s: &Summary) {
    let ok = s.failures.is_empty();
    put!(
        out,
        "<section id=\"verdict\" class=\"banner {}\">\n<h2>Verdict</h2>\n",
        if ok { "ok" } else { "fail" }
    );
    put!(
        out,
        "<p class=\"headline\">{} of {} strategy results were exact.</p>\n",
        s.exact_results,
        s.total_results
    );
    if ok {
        out.push_str(
            "<p>No correct strategy showed an anomaly: every broken invariant in this report \
             belongs to a racy strategy (or a result flagged as outside its strategy's guarantee), \
             which is the race being reproduced.</p>\n",
        );
    } else {
        out.push_str(
            "<p><strong>Correct strategies that showed anomalies (a bug, or a guarantee that does \
             not hold here):</strong></p>\n<ul>\n",
        );
        for f in &s.failures {
            put!(
                out,
                "<li><code>{}</code> in scenario <code>{}</code>: {}</li>\n",
                Esc(&f.strategy),
                Esc(&f.scenario),
                Esc(&anomaly_text(&f.anomalies))
            );
        }
        out.push_str("</ul>\n");
    }
    if !s.not_reproduced.is_empty() {
        out.push_str(
            "<p class=\"muted\">Racy strategies that stayed exact (the race did not show in that \
             run; more rooms, workers or a wider window make it likelier): ",
        );
        let items: Vec<String> = s
            .not_reproduced
            .iter()
            .map(|(st, sc)| format!("<code>{}</code> in <code>{}</code>", Esc(st), Esc(sc)))
            .collect();
        out.push_str(&items.join(", "));
        out.push_str(".</p>\n");
    }
    out.push_str("</section>\n");
}

fn matrix(out: &mut String, runs: &[Run], s: &Summary) {
    out.push_str(
        "<section id=\"matrix\">\n<h2>Correctness matrix</h2>\n\
         <p>One row per strategy, one column per scenario. A cell is <strong>exact</strong> when \
         every invariant held in every run of that strategy there (all sweep points), otherwise \
         it lists the summed anomaly counts. Cells of racy strategies, and of results flagged as \
         outside their strategy's guarantee, are marked <em>expected</em>; anomalies of a correct \
         strategy are marked <em>unexpected</em>.</p>\n\
         <div class=\"table-wrap\"><table class=\"matrix\">\n<thead><tr><th scope=\"col\">strategy</th>",
    );
    for run in runs {
        put!(out, "<th scope=\"col\">{}</th>", Esc(&run.label));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &s.rows {
        put!(
            out,
            "<tr><th scope=\"row\"><code>{}</code> <span class=\"kind\">{}</span></th>",
            Esc(&row.name),
            Esc(&row.kind)
        );
        for cell in &row.cells {
            let Some(cell) = cell else {
                out.push_str("<td class=\"missing\" title=\"not run in this scenario\">—</td>");
                continue;
            };
            let points = if cell.results > 1 {
                format!(" <span class=\"kind\">({} points)</span>", cell.results)
            } else {
                String::new()
            };
            match cell.class {
                Class::Inconclusive => {
                    put!(out, "<td class=\"inconclusive\">inconclusive{points}</td>");
                }
                Class::Exact => {
                    let note = if summary::is_racy_kind(&row.kind) {
                        format!(
                            " <span class=\"kind\">not reproduced (0/{})</span>",
                            cell.trials
                        )
                    } else {
                        String::new()
                    };
                    put!(out, "<td class=\"exact\">exact{note}{points}</td>");
                }
                Class::Expected | Class::Unexpected => {
                    let tag = if cell.class == Class::Expected {
                        "expected"
                    } else {
                        "unexpected"
                    };
                    put!(
                        out,
                        "<td class=\"{}\"><span class=\"tag\">{tag}</span>{points}",
                        cell.class.as_str()
                    );
                    let parts = anomaly_parts(&cell.anomalies);
                    if parts.is_empty() {
                        out.push_str("<span class=\"counts\">no counts recorded</span>");
                    }
                    // As jcstress reports outcomes: in how many trials each
                    // anomaly appeared; the total count is in the tooltip.
                    let trials = anomaly_parts(&cell.anomaly_trials);
                    for (short, field, n) in parts {
                        let seen = trials.iter().find(|t| t.1 == field).map_or(0, |t| t.2);
                        put!(
                            out,
                            "<span class=\"counts\" title=\"{field}: {} in total\">{short} in \
                             {seen}/{}</span>",
                            group_digits(n),
                            cell.trials
                        );
                    }
                    out.push_str("</td>");
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str(
        "</tbody></table></div>\n<p class=\"muted\">lost = lost_updates (answers missing from \
         the count), over = over_counts, missed end = rounds whose <code>endQuizTime</code> never \
         fired (the room hangs), dup end = fired more than once, early end = fired before every \
         answer was in. <em>lost in 18/20</em>: the anomaly appeared in 18 of 20 trials (hover \
         for the total count, summed over room-rounds and trials).</p>\n</section>\n",
    );
}

/// `1234567` → `1,234,567`.
fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Inserts a chart's SVG, labelled for assistive technology, with a caption.
fn figure(out: &mut String, title: &str, svg: &str, caption: &str) {
    out.push_str("<figure>\n");
    // plotters' output starts with `<svg width=..`: add a class and a label.
    let labelled = svg.replacen(
        "<svg ",
        &format!(
            "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" ",
            Esc(title)
        ),
        1,
    );
    out.push_str(&labelled);
    put!(out, "<figcaption>{caption}</figcaption>\n</figure>\n");
}

fn note(out: &mut String, text: &str) {
    put!(out, "<p class=\"note\">{text}</p>\n");
}

fn scenario(out: &mut String, index: usize, run: &Run) -> Result<(), ReportError> {
    let sc = &run.file.scenario;
    let name = run.label.as_str();
    put!(
        out,
        "<article class=\"scenario\" id=\"scenario-{index}\">\n<h3>Scenario <code>{}</code></h3>\n",
        Esc(name)
    );
    if !sc.description.is_empty() {
        put!(out, "<p>{}</p>\n", Esc(&sc.description));
    }
    out.push_str("<dl class=\"params\">");
    let mut param = |k: &str, v: String| {
        put!(out, "<div><dt>{}</dt><dd>{}</dd></div>", Esc(k), Esc(&v));
    };
    param("runtime", sc.runtime.clone());
    param("rooms", sc.rooms.to_string());
    param("players", sc.players.to_string());
    param("rounds", sc.rounds.to_string());
    let swept = |key: &str, own: String| match sc.sweep.get(key) {
        Some(values) => values
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" / "),
        None => own,
    };
    param("workers", swept("workers", sc.workers.to_string()));
    if sc.trial_policy.min_trials > 0 {
        param(
            "trials",
            format!(
                "≥ {} and ≥ {} ms measured per strategy",
                sc.trial_policy.min_trials, sc.trial_policy.min_time_ms
            ),
        );
    }
    param("processes", sc.processes.to_string());
    param("seed", sc.seed.to_string());
    if !sc.scoring_work.is_empty() {
        param("scoring work", sc.scoring_work.clone());
    }
    param(
        "answer window",
        if sc.window_us == 0 {
            "burst".to_string()
        } else {
            format!("{} µs", sc.window_us)
        },
    );
    if let Some(f) = &sc.faults {
        param("faults", f.to_string());
    }
    param("file", run.path.display().to_string());
    out.push_str("</dl>\n");

    let reps = summary::representatives(run);
    results_table(out, run, &reps);

    out.push_str("<div class=\"charts\">\n");
    let series = summary::sweep_series(run);
    if series.is_empty() {
        note(
            out,
            "No sweep data in this scenario: throughput against workers needs results at several \
             worker counts (a scenario that sweeps <code>workers</code>).",
        );
    } else {
        let title = format!("Throughput vs workers — {name}");
        let svg = plot::sweep_chart(&title, &series)?;
        figure(
            out,
            &title,
            &svg,
            "Answers recorded per second at each worker count, one line per strategy (log scale). \
             A line that falls as workers grow is paying for contention.",
        );
    }

    let rows: Vec<(String, _)> = reps
        .iter()
        .map(|r| (r.strategy.clone(), r.latency_ns))
        .collect();
    let title = format!("Record-call latency — {name}");
    match plot::percentile_chart(&title, "latency of one record call (log scale)", &rows)? {
        Some(svg) => figure(
            out,
            &title,
            &svg,
            "Percentiles of one record call per strategy. The grey bar spans p50 to p99.9: a long \
             bar is a long tail (lock convoys, retries, round trips).",
        ),
        None => note(out, "No record-call latency was recorded in this scenario."),
    }

    let rows: Vec<(String, _)> = reps
        .iter()
        .map(|r| (r.strategy.clone(), r.end_latency_ns))
        .collect();
    let title = format!("endQuizTime latency — {name}");
    match plot::percentile_chart(
        &title,
        "last answer submitted → endQuizTime (log scale)",
        &rows,
    )? {
        Some(svg) => figure(
            out,
            &title,
            &svg,
            "The delay a player feels: from a round's last answer to its <code>endQuizTime</code>. \
             Strategies whose rounds never ended have no point.",
        ),
        None => note(
            out,
            "No <code>endQuizTime</code> latency was recorded in this scenario.",
        ),
    }

    let points: Vec<CostPoint> = reps
        .iter()
        .map(|r| CostPoint {
            name: r.strategy.clone(),
            // Response time (from the planned arrival) where there is a
            // schedule: a strategy that cannot keep it pays for the wait
            // instead of looking fast (coordinated omission). In a burst, and
            // in v1 files, it is the record call itself.
            p99_ns: if r.response_latency_ns.p99 > 0 {
                r.response_latency_ns.p99
            } else {
                r.latency_ns.p99
            } as f64,
            answers_per_s: r.answers_per_s,
            class: summary::classify(r),
        })
        .collect();
    let title = format!("Cost vs correctness — {name}");
    match plot::cost_chart(&title, &points)? {
        Some(svg) => figure(
            out,
            &title,
            &svg,
            "Each strategy's median throughput against its p99 response time (from the planned \
             arrival; in a burst, the record call), coloured by verdict. The best place is top \
             left; a racy strategy there is fast because it is wrong. With an answer window, \
             throughput is bounded by the arrival rate: compare response times.",
        ),
        None => note(
            out,
            "No strategy has both a throughput and a p99 latency to plot.",
        ),
    }
    out.push_str("</div>\n</article>\n");
    Ok(())
}

fn results_table(out: &mut String, run: &Run, reps: &[&StrategyResult]) {
    let swept = run.file.results.iter().any(|r| !r.point.is_empty());
    out.push_str(
        "<div class=\"table-wrap\"><table>\n<thead><tr><th>strategy</th><th>kind</th>\
         <th>verdict</th><th>trials</th><th>answers</th><th>answers/s (median)</th>\
         <th>spread (min–max, cv)</th><th>p50</th><th>p99</th><th>p99.9</th>\
         <th>response p99</th><th>end p99</th></tr></thead>\n<tbody>\n",
    );
    for r in reps {
        let class = summary::classify(r);
        let of = format!("in {}/{} trials", r.anomalous_trials, r.trials);
        let verdict = match class {
            Class::Exact if r.not_reproduced() => format!("not reproduced (0/{})", r.trials),
            Class::Exact => "exact".to_string(),
            Class::Expected => format!("expected {of}: {}", anomaly_text(&r.anomalies)),
            Class::Unexpected => format!("UNEXPECTED {of}: {}", anomaly_text(&r.anomalies)),
            Class::Inconclusive => format!(
                "INCONCLUSIVE: {} of {} room-rounds could not be judged (time limit, deadline, \
                 or failed or unknown answers)",
                group_digits(r.unjudged.max(r.timed_out)),
                group_digits(r.room_rounds)
            ),
        };
        let s = &r.answers_per_s_spread;
        let point = if r.point.is_empty() {
            String::new()
        } else {
            let p: Vec<String> = r.point.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(" <span class=\"kind\">({})</span>", Esc(&p.join(", ")))
        };
        put!(
            out,
            "<tr><td><code>{}</code>{point}</td><td>{}</td><td class=\"{}\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}–{}, cv {:.1}%</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>\n",
            Esc(&r.strategy),
            Esc(&r.kind),
            class.as_str(),
            Esc(&verdict),
            r.trials,
            group_digits(r.answers),
            fmt_rate(r.answers_per_s),
            fmt_rate(s.min),
            fmt_rate(s.max),
            s.cv * 100.0,
            fmt_ns(r.latency_ns.p50 as f64),
            fmt_ns(r.latency_ns.p99 as f64),
            fmt_ns(r.latency_ns.p999 as f64),
            fmt_ns(r.response_latency_ns.p99 as f64),
            fmt_ns(r.end_latency_ns.p99 as f64),
        );
    }
    out.push_str("</tbody></table></div>\n");
    if swept {
        out.push_str(
            "<p class=\"muted\">This scenario sweeps parameters: the table and the latency charts \
             show each strategy's point with the most workers; the matrix sums all points.</p>\n",
        );
    }
}

fn criterion_table(out: &mut String, b: &Benches) {
    put!(
        out,
        "<section id=\"criterion\">\n<h2>Criterion benchmarks</h2>\n<p>Latest run of each \
         benchmark, read from criterion 0.8's files in <code>{}</code> \
         (<code>*/new/estimates.json</code> and <code>benchmark.json</code>). Times are per \
         iteration.</p>\n",
        Esc(&b.dir.display().to_string())
    );
    if b.benches.is_empty() {
        note(
            out,
            "No criterion results were found there: run <code>cargo bench</code> first.",
        );
        out.push_str("</section>\n");
        return;
    }
    out.push_str(
        "<div class=\"table-wrap\"><table>\n<thead><tr><th>group</th><th>function</th>\
         <th>parameter</th><th>mean</th><th>mean 95% CI</th><th>median</th><th>throughput</th>\
         </tr></thead>\n<tbody>\n",
    );
    for x in &b.benches {
        let throughput = x.throughput.map_or_else(String::new, |t| {
            let (rate, unit) = t.per_second(x.mean_ns);
            format!("{} {unit}", fmt_rate(rate))
        });
        put!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td>\
             <td class=\"num\" title=\"{:.1} ns\">{}</td><td class=\"num\">{} – {}</td>\
             <td class=\"num\" title=\"{:.1} ns\">{}</td><td class=\"num\">{}</td></tr>\n",
            Esc(&x.group),
            Esc(x.function.as_deref().unwrap_or("")),
            Esc(x.parameter.as_deref().unwrap_or("")),
            x.mean_ns,
            fmt_ns(x.mean_ns),
            fmt_ns(x.mean_ci_ns.0),
            fmt_ns(x.mean_ci_ns.1),
            x.median_ns,
            fmt_ns(x.median_ns),
            Esc(&throughput),
        );
    }
    out.push_str("</tbody></table></div>\n</section>\n");
}

/// Distinct values of one environment field, each with the scenarios that
/// share it, in first-seen order.
fn distinct<'a>(runs: &'a [Run], field: impl Fn(&'a Run) -> String) -> Vec<(String, Vec<&'a str>)> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for run in runs {
        let v = field(run);
        match out.iter_mut().find(|(x, _)| *x == v) {
            Some((_, names)) => names.push(&run.label),
            None => out.push((v, vec![&run.label])),
        }
    }
    out
}

fn environment(out: &mut String, runs: &[Run]) {
    out.push_str(
        "<section id=\"environment\">\n<h2>Environment</h2>\n<p>Where the figures come from. \
         Timings are only comparable between runs with the same build and machine.</p>\n\
         <div class=\"table-wrap\"><table>\n<tbody>\n",
    );
    let mut differs = false;
    let mut debug = false;
    let mut row = |key: &str, values: Vec<(String, Vec<&str>)>| {
        put!(out, "<tr><th scope=\"row\">{}</th><td>", Esc(key));
        if values.len() == 1 {
            put!(out, "{}", Esc(&values[0].0));
        } else {
            differs = true;
            let items: Vec<String> = values
                .iter()
                .map(|(v, names)| {
                    format!(
                        "{} <span class=\"kind\">({})</span>",
                        Esc(v),
                        Esc(&names.join(", "))
                    )
                })
                .collect();
            out.push_str(&items.join("<br>"));
        }
        out.push_str("</td></tr>\n");
    };
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "unknown".to_string()
        } else {
            s.to_string()
        }
    };
    row(
        "quizrace",
        distinct(runs, |r| or_unknown(&r.file.environment.quizrace)),
    );
    row(
        "git commit",
        distinct(runs, |r| or_unknown(&r.file.environment.git)),
    );
    row(
        "rustc",
        distinct(runs, |r| or_unknown(&r.file.environment.rustc)),
    );
    row("OS", distinct(runs, |r| or_unknown(&r.file.environment.os)));
    row(
        "CPUs",
        distinct(runs, |r| r.file.environment.cpus.to_string()),
    );
    row(
        "build profile",
        distinct(runs, |r| or_unknown(&r.file.environment.profile)),
    );
    row(
        "servers",
        distinct(runs, |r| servers(&r.file.environment)),
    );
    for r in runs {
        if r.file.environment.profile == "debug" {
            debug = true;
        }
    }
    out.push_str("</tbody></table></div>\n");
    if differs {
        note_warn(
            out,
            "These results come from different builds or machines: compare their timings with care.",
        );
    }
    if debug {
        note_warn(
            out,
            "Some results come from a debug build: their timings are not representative; build with \
             <code>--release</code>.",
        );
    }
    out.push_str(
        "<h3>Seeds</h3>\n<p>The same scenario file and seed give the same answer streams.</p>\n\
         <div class=\"table-wrap\"><table>\n<thead><tr><th>scenario</th><th>seed</th>\
         <th>runtime</th><th>results file</th></tr></thead>\n<tbody>\n",
    );
    for r in runs {
        put!(
            out,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
            Esc(&r.label),
            r.file.scenario.seed,
            Esc(&r.file.scenario.runtime),
            Esc(&r.path.display().to_string())
        );
    }
    out.push_str("</tbody></table></div>\n</section>\n");
}

/// The servers of a run, `redis 7.0.15`, or `none (in-process)`.
fn servers(e: &crate::result::Environment) -> String {
    if e.servers.is_empty() {
        return "none (in-process)".to_string();
    }
    e.servers
        .iter()
        .map(|s| format!("{} {}", s.name, s.version))
        .collect::<Vec<_>>()
        .join(", ")
}

fn note_warn(out: &mut String, text: &str) {
    put!(out, "<p class=\"note warn\">{text}</p>\n");
}

fn footer(out: &mut String, runs: &[Run], benches: Option<&Benches>) {
    let mut cmd = String::from("quizrace report");
    for r in runs {
        cmd.push(' ');
        cmd.push_str(&r.path.display().to_string());
    }
    if let Some(b) = benches {
        cmd.push_str(" --criterion ");
        cmd.push_str(&b.dir.display().to_string());
    }
    cmd.push_str(" --out DIR");
    put!(
        out,
        "<footer>Generated by quizrace {} from stored results only (no workload was run to draw \
         this page). Regenerate with <code>{}</code>, or run <code>scripts/ci-report.sh</code> \
         for the whole suite.</footer>\n",
        Esc(env!("CARGO_PKG_VERSION")),
        Esc(&cmd)
    );
}

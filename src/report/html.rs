//! The page template, written with maud.
//!
//! maud escapes every value spliced into the template, `(expr)`, in text
//! and in attributes alike: scenario names and descriptions, strategy names,
//! environment strings, fault settings, paths and criterion ids all come
//! from files and are never trusted. Only two things reach the page
//! unescaped, each through `PreEscaped` at one place: the style sheet
//! below (a constant of this file) and the charts' SVG from `plot`, whose
//! text plotters' SVG backend escapes itself.
//!
//! One function per section of the page, in page order, below [`render`].

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::criterion::Benches;
use super::plot::{self, CostPoint};
use super::summary::{self, Cell, Summary};
use super::{ReportError, Run};
use crate::format::{duration_ns, rate, thousands};
use crate::result::{Anomalies, Class, Environment, StrategyResult};

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
    // Charts are drawn first: drawing can fail, the template cannot.
    let scenarios = runs
        .iter()
        .enumerate()
        .map(|(i, run)| scenario(i, run))
        .collect::<Result<Vec<Markup>, ReportError>>()?;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "quizrace report" }
                // The constant above, not input: raw, since a `<style>`
                // element does not decode entities.
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    (header(runs, summary))
                    (verdict(summary))
                    (nav(benches.is_some()))
                    (matrix(runs, summary))
                    section #scenarios {
                        h2 { "Scenarios and charts" }
                        @if runs.iter().all(|r| summary::sweep_series(r).is_empty()) {
                            (note(html! {
                                "No scenario here sweeps the worker count, so there is no \
                                 throughput-against-workers chart (a scenario that sweeps "
                                code { "workers" } " draws one)."
                            }))
                        } @else if runs.iter().any(|r| summary::sweep_series(r).is_empty()) {
                            p.muted {
                                "Only the scenarios that sweep " code { "workers" } " have a \
                                 throughput-against-workers chart."
                            }
                        }
                        @for s in &scenarios { (s) }
                    }
                    @if let Some(b) = benches { (criterion_table(b)) }
                    (environment(runs))
                    (footer(runs, benches))
                }
            }
        }
    };
    let mut page = page.into_string();
    page.push('\n');
    Ok(page)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn header(runs: &[Run], s: &Summary) -> Markup {
    html! {
        header {
            h1 { "quizrace report" }
            p.sub {
                (runs.len()) " scenario" (plural(runs.len())) " · "
                (s.total_results) " strategy result" (plural(s.total_results))
                " · lost updates on a quiz game's answer counter, and every standard way out \
                 of them."
            }
        }
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
        ("non-lin", "non_linearizable", a.non_linearizable),
    ]
    .into_iter()
    .filter(|p| p.2 > 0)
    .collect()
}

/// The anomaly counts in words: `lost_updates 812, missed_end 101`.
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

/// The banner: how many results were exact, and every correct strategy
/// that broke an invariant.
fn verdict(s: &Summary) -> Markup {
    let ok = s.failures.is_empty();
    html! {
        section id="verdict" class={ "banner " (if ok { "ok" } else { "fail" }) } {
            h2 { "Verdict" }
            p.headline { (s.exact_results) " of " (s.total_results) " strategy results were exact." }
            @if ok {
                p {
                    "No correct strategy showed an anomaly: every broken invariant in this report \
                     belongs to a racy strategy (or a result flagged as outside its strategy's \
                     guarantee), which is the race being reproduced."
                }
            } @else {
                p {
                    strong {
                        "Correct strategies that showed anomalies (a bug, or a guarantee that does \
                         not hold here):"
                    }
                }
                ul {
                    @for f in &s.failures {
                        li {
                            code { (f.strategy) } " in scenario " code { (f.scenario) } ": "
                            (anomaly_text(&f.anomalies))
                        }
                    }
                }
            }
            @if !s.not_reproduced.is_empty() {
                p.muted {
                    "Racy strategies that stayed exact (the race did not show in that run; more \
                     rooms, workers or a wider window make it likelier): "
                    @for (i, (strategy, scenario)) in s.not_reproduced.iter().enumerate() {
                        @if i > 0 { ", " }
                        code { (strategy) } " in " code { (scenario) }
                    }
                    "."
                }
            }
        }
    }
}

fn nav(criterion: bool) -> Markup {
    html! {
        nav aria-label="contents" {
            ul {
                li { a href="#matrix" { "Correctness matrix" } }
                li { a href="#scenarios" { "Scenarios and charts" } }
                @if criterion { li { a href="#criterion" { "Criterion benchmarks" } } }
                li { a href="#environment" { "Environment" } }
            }
        }
    }
}

/// Scenarios per part of the correctness matrix: six columns of results
/// and the strategy column fit the page at 1280 px (a browser test checks).
const MATRIX_COLUMNS: usize = 6;

/// Strategies × scenarios: one cell per strategy and scenario.
fn matrix(runs: &[Run], s: &Summary) -> Markup {
    html! {
        section #matrix {
            h2 { "Correctness matrix" }
            p {
                "One row per strategy, one column per scenario. A cell is " strong { "exact" }
                " when every invariant held in every run of that strategy there (all sweep \
                 points), otherwise it lists the summed anomaly counts. Cells of racy \
                 strategies, and of results flagged as outside their strategy's guarantee, are \
                 marked " em { "expected" } "; anomalies of a correct strategy are marked "
                em { "unexpected" } "."
            }
            @if runs.len() > MATRIX_COLUMNS {
                p.muted {
                    "In parts of " (MATRIX_COLUMNS) " scenarios, so that each part fits a \
                     laptop's width; the strategy column repeats in every part."
                }
            }
            @for (part, first) in (0..runs.len()).step_by(MATRIX_COLUMNS).enumerate() {
                @let last = (first + MATRIX_COLUMNS).min(runs.len());
                div.table-wrap {
                    table.matrix data-part=(part + 1) {
                        thead {
                            tr {
                                th scope="col" { "strategy" }
                                @for run in &runs[first..last] { th scope="col" { (run.label) } }
                            }
                        }
                        tbody {
                            @for row in &s.rows {
                                // A strategy none of these scenarios ran has no row here.
                                @if row.cells[first..last].iter().any(Option::is_some) {
                                    tr {
                                        th scope="row" { code { (row.name) } " " span.kind { (row.kind) } }
                                        @for cell in &row.cells[first..last] { (matrix_cell(cell.as_ref())) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.muted {
                "lost = lost_updates (answers missing from the count), over = over_counts, \
                 missed end = rounds whose " code { "endQuizTime" } " never fired (the room \
                 hangs), dup end = fired more than once, early end = fired before every answer \
                 was in. " em { "lost in 18/20" } ": the anomaly appeared in 18 of 20 trials \
                 (hover for the total count, summed over room-rounds and trials)."
            }
        }
    }
}

/// One matrix cell: the class, and for anomalies, as jcstress reports
/// outcomes, in how many trials each appeared (the total count is in the
/// tooltip).
fn matrix_cell(cell: Option<&Cell>) -> Markup {
    let Some(cell) = cell else {
        return html! { td.missing title="not run in this scenario" { "—" } };
    };
    let points = html! {
        @if cell.results > 1 { " " span.kind { "(" (cell.results) " points)" } }
    };
    match cell.class {
        Class::Inconclusive => html! { td.inconclusive { "inconclusive" (points) } },
        Class::Exact => html! {
            td.exact {
                "exact"
                @if cell.not_reproduced() {
                    " " span.kind { "not reproduced (0/" (cell.not_reproduced_trials) ")" }
                }
                (points)
            }
        },
        Class::Expected | Class::Unexpected => {
            let parts = anomaly_parts(&cell.anomalies);
            let trials = anomaly_parts(&cell.anomaly_trials);
            let seen = |field: &str| trials.iter().find(|t| t.1 == field).map_or(0, |t| t.2);
            html! {
                td class=(cell.class.as_str()) {
                    span.tag { (cell.class.as_str()) }
                    (points)
                    @if parts.is_empty() { span.counts { "no counts recorded" } }
                    @for (short, field, n) in &parts {
                        span.counts title={ (field) ": " (thousands(*n)) " in total" } {
                            (short) " in " (seen(field)) "/" (cell.trials)
                        }
                    }
                }
            }
        }
    }
}

/// Inserts a chart's SVG, labelled for assistive technology, with a caption.
fn figure(title: &str, svg: &str, caption: Markup) -> Markup {
    // plotters' output starts with `<svg width=..`: add a class and a label.
    // The title is escaped like any other value; the rest of the SVG is
    // plotters' own output, which escapes its text and attribute values
    // (see `plot`), so it goes in as it is.
    let label = html! { (title) }.into_string();
    let svg = compact_svg(svg);
    let svg = svg.replacen(
        "<svg ",
        &format!("<svg class=\"chart\" role=\"img\" aria-label=\"{label}\" "),
        1,
    );
    html! {
        figure {
            (PreEscaped(svg))
            figcaption { (caption) }
        }
    }
}

/// plotters' SVG, smaller: without the default `opacity="1"` on every
/// element, and with the long decimals of attribute values (font sizes such
/// as `12.096774193548388`) cut to one decimal. Text content is untouched.
fn compact_svg(svg: &str) -> String {
    let svg = svg.replace(" opacity=\"1\"", "");
    let mut out = String::with_capacity(svg.len());
    let mut in_attr = false;
    // Digits kept after a decimal point in an attribute value, if in one.
    let mut decimals: Option<u32> = None;
    let mut prev = ' ';
    for c in svg.chars() {
        if in_attr {
            if c == '"' {
                in_attr = false;
                decimals = None;
            } else if c == '.' && prev.is_ascii_digit() {
                decimals = Some(0);
            } else if let Some(d) = decimals {
                if c.is_ascii_digit() {
                    decimals = Some(d + 1);
                    if d >= 1 {
                        prev = c;
                        continue; // dropped digit
                    }
                } else {
                    decimals = None;
                }
            }
        } else if c == '"' && prev == '=' {
            in_attr = true;
        }
        out.push(c);
        prev = c;
    }
    out
}

fn note(text: Markup) -> Markup {
    html! { p.note { (text) } }
}

fn note_warn(text: Markup) -> Markup {
    html! { p.note.warn { (text) } }
}

/// One scenario: its parameters, its results table and its charts.
fn scenario(index: usize, run: &Run) -> Result<Markup, ReportError> {
    let sc = &run.file.scenario;
    let reps = summary::representatives(run);
    let charts = charts(run, &reps)?;
    Ok(html! {
        article.scenario id={ "scenario-" (index) } {
            h3 { "Scenario " code { (run.label) } }
            @if !sc.description.is_empty() { p { (sc.description) } }
            dl.params {
                @for (key, value) in params(run) {
                    div { dt { (key) } dd { (value) } }
                }
            }
            (results_table(run, &reps))
            div.charts { @for chart in &charts { (chart) } }
            (timelines(run, &reps))
        }
    })
}

/// Timelines of room-rounds that broke (at most three per scenario): one
/// lane per worker, one bar per call, the count it returned.
fn timelines(run: &Run, reps: &[&StrategyResult]) -> Markup {
    let broken: Vec<(&StrategyResult, &crate::result::Timeline)> = reps
        .iter()
        .filter_map(|r| r.timeline.as_ref().map(|t| (*r, t)))
        .filter(|(_, t)| t.why != "first")
        .take(3)
        .collect();
    if broken.is_empty() {
        return html! {};
    }
    html! {
        div.charts.timelines {
            @for (r, t) in broken {
                @let title = format!(
                    "{} — {}: room-round {} ({})",
                    run.label, r.strategy, t.slot, t.why.replace('_', " ")
                );
                (figure(&title, &crate::timeline::svg(t, &title), html! {
                    "One room-round as it ran: a lane per worker, a bar per call from its start to \
                     its reply, labelled with the player and the count it returned (→n); green \
                     acknowledged, orange unknown (open), grey failed; a dark outline fired \
                     endQuizTime; red outlines are the calls that witness a linearizability violation; \
                     purple lines are \
                     injected faults (a pause, a failover)."
                }))
            }
        }
    }
}

/// The scenario's parameters as `(name, value)`, swept ones with all their
/// values.
fn params(run: &Run) -> Vec<(&'static str, String)> {
    let sc = &run.file.scenario;
    let swept = |key: &str, own: String| match sc.sweep.get(key) {
        Some(values) => values
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" / "),
        None => own,
    };
    let mut p = vec![
        ("runtime", sc.runtime.clone()),
        ("rooms", sc.rooms.to_string()),
        ("players", sc.players.to_string()),
        ("rounds", sc.rounds.to_string()),
        ("workers", swept("workers", sc.workers.to_string())),
    ];
    if sc.trial_policy.min_trials > 0 {
        p.push((
            "trials",
            format!(
                "≥ {} and ≥ {} ms measured per strategy",
                sc.trial_policy.min_trials, sc.trial_policy.min_time_ms
            ),
        ));
    }
    p.push(("processes", sc.processes.to_string()));
    p.push(("seed", sc.seed.to_string()));
    if !sc.scoring_work.is_empty() {
        p.push(("scoring work", sc.scoring_work.clone()));
    }
    p.push((
        "answer window",
        if sc.window_us == 0 {
            "burst".to_string()
        } else {
            duration_ns(sc.window_us as f64 * 1e3)
        },
    ));
    if let Some(f) = &sc.faults {
        p.push(("faults", f.to_string()));
    }
    p.push(("file", run.path.display().to_string()));
    p
}

/// The scenario's four charts, or a note where one has nothing to draw.
fn charts(run: &Run, reps: &[&StrategyResult]) -> Result<Vec<Markup>, ReportError> {
    let name = run.label.as_str();
    let mut out = Vec::with_capacity(4);

    let series = summary::sweep_series(run);
    // Without a sweep there is no throughput-against-workers chart; the
    // scenarios' introduction says so once, not under every scenario.
    if !series.is_empty() {
        let title = format!("Throughput vs workers — {name}");
        let svg = plot::sweep_chart(&title, &series)?;
        out.push(figure(
            &title,
            &svg,
            html! {
                "Answers recorded per second at each worker count, one line per strategy (log \
                 scale). A line that falls as workers grow is paying for contention."
            },
        ));
    }

    let rows: Vec<(String, _)> = reps
        .iter()
        .map(|r| (r.strategy.clone(), r.latency_ns))
        .collect();
    let title = format!("Record-call latency — {name}");
    out.push(
        match plot::percentile_chart(&title, "latency of one record call (log scale)", &rows)? {
            Some(svg) => figure(
                &title,
                &svg,
                html! {
                    "Percentiles of one record call per strategy. The grey bar spans p50 to \
                     p99.9: a long bar is a long tail (lock convoys, retries, round trips)."
                },
            ),
            None => note(html! { "No record-call latency was recorded in this scenario." }),
        },
    );

    let rows: Vec<(String, _)> = reps
        .iter()
        .map(|r| (r.strategy.clone(), r.end_latency_ns))
        .collect();
    let title = format!("endQuizTime latency — {name}");
    out.push(
        match plot::percentile_chart(
            &title,
            "last answer submitted → endQuizTime (log scale)",
            &rows,
        )? {
            Some(svg) => figure(
                &title,
                &svg,
                html! {
                    "The delay a player feels: from a round's last answer to its "
                    code { "endQuizTime" } ". Strategies whose rounds never ended have no point."
                },
            ),
            None => note(html! {
                "No " code { "endQuizTime" } " latency was recorded in this scenario."
            }),
        },
    );

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
            class: r.class(),
        })
        .collect();
    let title = format!("Cost vs correctness — {name}");
    out.push(match plot::cost_chart(&title, &points)? {
        Some(svg) => figure(
            &title,
            &svg,
            html! {
                "Each strategy's median throughput against its p99 response time (from the \
                 planned arrival; in a burst, the record call), coloured by verdict. The best \
                 place is top left; a racy strategy there is fast because it is wrong. With an \
                 answer window, throughput is bounded by the arrival rate: compare response \
                 times."
            },
        ),
        None => note(html! { "No strategy has both a throughput and a p99 latency to plot." }),
    });
    Ok(out)
}

/// One row per strategy (its representative result), every figure.
fn results_table(run: &Run, reps: &[&StrategyResult]) -> Markup {
    let swept = run.file.results.iter().any(|r| !r.point.is_empty());
    html! {
        div.table-wrap {
            table {
                thead {
                    tr {
                        th { "strategy" } th { "kind" } th { "verdict" } th { "trials" }
                        th { "answers" } th { "answers/s (median)" }
                        th { "spread (min–max, cv)" } th { "p50" } th { "p99" } th { "p99.9" }
                        th { "response p99" } th { "end p99" }
                    }
                }
                tbody { @for r in reps { (result_row(r)) } }
            }
        }
        @if swept {
            p.muted {
                "This scenario sweeps parameters: the table and the latency charts show each \
                 strategy's point with the most workers; the matrix sums all points."
            }
        }
    }
}

fn result_row(r: &StrategyResult) -> Markup {
    let class = r.class();
    let s = &r.answers_per_s_spread;
    let point: Vec<String> = r.point.iter().map(|(k, v)| format!("{k}={v}")).collect();
    html! {
        tr {
            td {
                code { (r.strategy) }
                @if !point.is_empty() { " " span.kind { "(" (point.join(", ")) ")" } }
            }
            td { (r.kind) }
            td class=(class.as_str()) { (verdict_text(r, class)) }
            td.num { (r.trials) }
            td.num { (thousands(r.answers)) }
            td.num { (rate(r.answers_per_s)) }
            td.num { (rate(s.min)) "–" (rate(s.max)) ", cv " (format!("{:.1}", s.cv * 100.0)) "%" }
            td.num { (duration_ns(r.latency_ns.p50 as f64)) }
            td.num { (duration_ns(r.latency_ns.p99 as f64)) }
            td.num { (duration_ns(r.latency_ns.p999 as f64)) }
            td.num { (duration_ns(r.response_latency_ns.p99 as f64)) }
            td.num {
                // No round ended (a hung room), so there is no end latency.
                @if r.end_latency_ns.max == 0 { "—" } @else { (duration_ns(r.end_latency_ns.p99 as f64)) }
            }
        }
    }
}

/// The verdict column of the results table.
fn verdict_text(r: &StrategyResult, class: Class) -> String {
    let of = format!("in {}/{} trials", r.anomalous_trials, r.trials);
    match class {
        Class::Exact if r.not_reproduced() => format!("not reproduced (0/{})", r.trials),
        Class::Exact => "exact".to_string(),
        Class::Expected => format!("expected {of}: {}", anomaly_text(&r.anomalies)),
        Class::Unexpected => format!("UNEXPECTED {of}: {}", anomaly_text(&r.anomalies)),
        Class::Inconclusive => format!(
            "INCONCLUSIVE: {} of {} room-rounds could not be judged (time limit, deadline, or \
             failed or unknown answers)",
            thousands(r.unjudged.max(r.timed_out)),
            thousands(r.room_rounds)
        ),
    }
}

fn criterion_table(b: &Benches) -> Markup {
    html! {
        section #criterion {
            h2 { "Criterion benchmarks" }
            p {
                "Latest run of each benchmark, read from criterion 0.8's files in "
                code { (b.dir.display()) } " (" code { "*/new/estimates.json" } " and "
                code { "benchmark.json" } "). Times are per iteration."
            }
            @if b.benches.is_empty() {
                (note(html! {
                    "No criterion results were found there: run " code { "cargo bench" } " first."
                }))
            } @else {
                div.table-wrap {
                    table {
                        thead {
                            tr {
                                th { "group" } th { "function" } th { "parameter" } th { "mean" }
                                th { "mean 95% CI" } th { "median" } th { "throughput" }
                            }
                        }
                        tbody {
                            @for x in &b.benches {
                                tr {
                                    td { code { (x.group) } }
                                    td { (x.function.as_deref().unwrap_or("")) }
                                    td { (x.parameter.as_deref().unwrap_or("")) }
                                    td.num title=(format!("{:.1} ns", x.mean_ns)) {
                                        (duration_ns(x.mean_ns))
                                    }
                                    td.num {
                                        (duration_ns(x.mean_ci_ns.0)) " – "
                                        (duration_ns(x.mean_ci_ns.1))
                                    }
                                    td.num title=(format!("{:.1} ns", x.median_ns)) {
                                        (duration_ns(x.median_ns))
                                    }
                                    td.num {
                                        @if let Some(t) = x.throughput {
                                            @let (per_s, unit) = t.per_second(x.mean_ns);
                                            (rate(per_s)) " " (unit)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Distinct values of one environment field, each with the labels of the
/// scenarios that share it.
type Distinct<'a> = Vec<(String, Vec<&'a str>)>;

/// The distinct values of one environment field, in first-seen order.
fn distinct<'a>(runs: &'a [Run], field: impl Fn(&'a Run) -> String) -> Distinct<'a> {
    let mut out: Distinct<'a> = Vec::new();
    for run in runs {
        let v = field(run);
        match out.iter_mut().find(|(x, _)| *x == v) {
            Some((_, names)) => names.push(&run.label),
            None => out.push((v, vec![&run.label])),
        }
    }
    out
}

/// The environment rows as `(name, distinct values)`.
fn environment_rows(runs: &[Run]) -> Vec<(&'static str, Distinct<'_>)> {
    fn env(r: &Run) -> &Environment {
        &r.file.environment
    }
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "unknown".to_string()
        } else {
            s.to_string()
        }
    };
    // `redis 7.0.15`, `valkey 9.0.1, postgresql 15.19`, or none.
    let servers = |r: &Run| {
        let s = &env(r).servers;
        if s.is_empty() {
            "none (in-process)".to_string()
        } else {
            s.iter()
                .map(|s| format!("{} {}", s.name, s.version))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    vec![
        ("quizrace", distinct(runs, |r| or_unknown(&env(r).quizrace))),
        ("git commit", distinct(runs, |r| or_unknown(&env(r).git))),
        ("rustc", distinct(runs, |r| or_unknown(&env(r).rustc))),
        ("OS", distinct(runs, |r| or_unknown(&env(r).os))),
        ("CPUs", distinct(runs, |r| env(r).cpus.to_string())),
        (
            "build profile",
            distinct(runs, |r| or_unknown(&env(r).profile)),
        ),
        ("servers", distinct(runs, servers)),
    ]
}

/// Where the figures come from, and the seeds to reproduce them.
fn environment(runs: &[Run]) -> Markup {
    let rows = environment_rows(runs);
    // Servers differ between scenarios by design (one uses Redis, another
    // none): only a different build or machine makes timings incomparable.
    let differs = rows
        .iter()
        .any(|(key, values)| *key != "servers" && values.len() > 1);
    let debug = runs.iter().any(|r| r.file.environment.profile == "debug");
    html! {
        section #environment {
            h2 { "Environment" }
            p {
                "Where the figures come from. Timings are only comparable between runs with the \
                 same build and machine."
            }
            div.table-wrap {
                table {
                    tbody {
                        @for (key, values) in &rows {
                            tr {
                                th scope="row" { (key) }
                                td {
                                    @if let [(value, _)] = values.as_slice() {
                                        (value)
                                    } @else {
                                        @for (i, (value, names)) in values.iter().enumerate() {
                                            @if i > 0 { br; }
                                            (value) " " span.kind { "(" (names.join(", ")) ")" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if differs {
                (note_warn(html! {
                    "These results come from different builds or machines: compare their \
                     timings with care."
                }))
            }
            @if debug {
                (note_warn(html! {
                    "Some results come from a debug build: their timings are not \
                     representative; build with " code { "--release" } "."
                }))
            }
            h3 { "Seeds" }
            p { "The same scenario file and seed give the same answer streams." }
            div.table-wrap {
                table {
                    thead {
                        tr { th { "scenario" } th { "seed" } th { "runtime" } th { "results file" } }
                    }
                    tbody {
                        @for r in runs {
                            tr {
                                td { code { (r.label) } }
                                td.num { (r.file.scenario.seed) }
                                td { (r.file.scenario.runtime) }
                                td { code { (r.path.display()) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn footer(runs: &[Run], benches: Option<&Benches>) -> Markup {
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
    html! {
        footer {
            "Generated by quizrace " (env!("CARGO_PKG_VERSION")) " from stored results only (no \
             workload was run to draw this page). Regenerate with " code { (cmd) } ", or run "
            code { "scripts/ci-report.sh" } " for the whole suite."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_svg_cuts_attribute_decimals_and_default_opacity_only() {
        let svg = "<text x=\"95\" dy=\"0.5ex\" font-size=\"12.096774193548388\" opacity=\"1\">\
                   v1.2345 = 0.125</text>";
        assert_eq!(
            compact_svg(svg),
            "<text x=\"95\" dy=\"0.5ex\" font-size=\"12.0\">v1.2345 = 0.125</text>"
        );
    }

    #[test]
    fn the_style_sheet_cannot_close_its_style_element() {
        // It goes in unescaped: a `</` would end the `<style>` early.
        assert!(!CSS.contains("</"));
    }

    #[test]
    fn figures_escape_the_title_and_keep_plotters_svg() {
        let svg = "<svg width=\"9\" height=\"9\"><text>a &lt; b</text></svg>";
        let page = figure("x <y> \"z\" & w", svg, html! { "c " code { "d" } }).into_string();
        assert_eq!(
            page,
            "<figure><svg class=\"chart\" role=\"img\" aria-label=\"x &lt;y&gt; &quot;z&quot; \
             &amp; w\" width=\"9\" height=\"9\"><text>a &lt; b</text></svg>\
             <figcaption>c <code>d</code></figcaption></figure>"
        );
    }
}

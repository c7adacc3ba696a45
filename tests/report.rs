//! `quizrace::report`: page generation from fixture results, HTML escaping,
//! bad input (and that a good page survives it), criterion's real file
//! format, and a real-browser check with headless Chromium (`#[ignore]`d:
//! CI runs it with `--include-ignored`, and there a missing browser fails it).
//!
//! Fixtures are built from the library's own result types and serialised,
//! so they always match schema `quizrace.result.v1`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use quizrace::report::{generate, ReportError};
use quizrace::result::{
    Anomalies, Environment, Outcomes, Percentiles, ResultsFile, ScenarioInfo, StrategyResult,
    Verdict, SCHEMA,
};

use crate::support::{chromium, finish, TempDir};

fn pct(p50: u64) -> Percentiles {
    Percentiles {
        p50,
        p90: p50 * 2,
        p99: p50 * 5,
        p999: p50 * 20,
        max: p50 * 50,
    }
}

fn entry(strategy: &str, kind: &str, anomalies: Anomalies, answers_per_s: f64) -> StrategyResult {
    let answers = 4000;
    StrategyResult {
        strategy: strategy.to_string(),
        kind: kind.to_string(),
        answers,
        recorded: answers + anomalies.over_counts - anomalies.lost_updates,
        room_rounds: 500,
        anomalies,
        verdict: if anomalies.is_exact() {
            Verdict::Exact
        } else {
            Verdict::Anomalies
        },
        // As the simulator records it: a racy strategy is expected to show
        // its race; the report classifies by this flag, not by the kind.
        anomalies_expected: kind == "racy",
        elapsed_s: answers as f64 / answers_per_s,
        answers_per_s,
        latency_ns: pct(120),
        end_latency_ns: pct(3_000),
        timed_out: 0,
        outcomes: Outcomes {
            ok: answers,
            ..Outcomes::default()
        },
        point: BTreeMap::new(),
        trials: 1,
        anomalous_trials: u32::from(!anomalies.is_exact()),
        anomaly_trials: anomalies.presence(),
        ..StrategyResult::default()
    }
}

fn lost(n: u64) -> Anomalies {
    Anomalies {
        lost_updates: n,
        missed_end: n / 8,
        ..Anomalies::default()
    }
}

fn file(name: &str, results: Vec<StrategyResult>) -> ResultsFile {
    ResultsFile {
        schema: SCHEMA.to_string(),
        scenario: ScenarioInfo {
            name: name.to_string(),
            seed: 42,
            rooms: 50,
            players: 8,
            rounds: 10,
            runtime: "threads".to_string(),
            workers: 8,
            processes: 1,
            description: format!("Fixture scenario {name}."),
            scoring_work: "sleep:50us".to_string(),
            window_us: 0,
            faults: None,
            ..ScenarioInfo::default()
        },
        environment: Environment {
            quizrace: "0.1.0".to_string(),
            rustc: "rustc 1.85.0 (fixture)".to_string(),
            os: "linux x86_64".to_string(),
            cpus: 2,
            git: "abc1234".to_string(),
            profile: "release".to_string(),
            ..Environment::default()
        },
        results,
        promises: Vec::new(),
    }
}

/// A basic scenario: two racy strategies with anomalies, three correct exact ones.
fn basic(name: &str) -> ResultsFile {
    file(
        name,
        vec![
            entry("racy-rmw", "racy", lost(812), 9.0e6),
            entry(
                "check-then-act",
                "racy",
                Anomalies {
                    duplicate_end: 17,
                    ..Anomalies::default()
                },
                8.0e6,
            ),
            entry("std-mutex", "correct", Anomalies::default(), 2.5e6),
            entry("atomic", "correct", Anomalies::default(), 1.1e7),
            entry("actor", "correct", Anomalies::default(), 6.0e5),
        ],
    )
}

/// A scenario that sweeps workers 1, 2, 4, 8 for three strategies.
fn sweep(name: &str) -> ResultsFile {
    let mut results = Vec::new();
    for (strategy, kind, base) in [
        ("racy-rmw", "racy", 4.0e6),
        ("atomic", "correct", 6.0e6),
        ("std-mutex", "correct", 2.0e6),
    ] {
        for w in [1u64, 2, 4, 8] {
            let anomalies = if kind == "racy" && w > 1 {
                lost(10 * w)
            } else {
                Anomalies::default()
            };
            let mut e = entry(strategy, kind, anomalies, base * (w as f64).sqrt());
            e.point.insert("workers".to_string(), w);
            e.latency_ns = pct(100 * w);
            results.push(e);
        }
    }
    let mut f = file(name, results);
    f.scenario.seed = 7;
    f
}

fn write_json(dir: &Path, name: &str, f: &ResultsFile) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    fs::write(&path, serde_json::to_string_pretty(f).expect("serialise")).expect("write fixture");
    path
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).expect("read page")
}

#[test]
fn generates_page_from_fixture_results() {
    let tmp = TempDir::new("gen");
    let a = write_json(tmp.path(), "contention", &basic("contention"));
    let b = write_json(tmp.path(), "scaling", &sweep("scaling"));
    // The output directory does not exist yet: generate creates it.
    let out = tmp.path().join("out/nested");
    let index = generate(&[a, b], None, &out).expect("report generated");
    assert_eq!(index, out.join("index.html"));
    let html = read(&index);

    assert!(html.starts_with("<!DOCTYPE html>"));
    // 3 exact in `contention`, 4 + 4 + 1 exact in `scaling` (racy-rmw at 1 worker).
    assert!(
        html.contains("12 of 17 strategy results were exact."),
        "banner count"
    );
    assert!(html.contains("class=\"banner ok\""));
    assert!(html.contains("No correct strategy showed an anomaly"));
    // Matrix: both scenarios as columns, the racy cells expected with counts.
    assert!(html.contains("<table class=\"matrix\" data-part=\"1\">"));
    assert!(html.contains("<th scope=\"col\">contention</th>"));
    assert!(html.contains("<th scope=\"col\">scaling</th>"));
    assert!(html.contains("<td class=\"expected\"><span class=\"tag\">expected</span>"));
    assert!(
        html.contains("lost_updates: 812 in total\">lost in 1/1"),
        "trial frequency in the matrix, the summed count in its tooltip"
    );
    // racy-rmw in `scaling`: 20 + 40 + 80 lost over its four sweep points.
    // Exact at 1 worker: lost in 3 of the 4 points' trials.
    assert!(html.contains("lost_updates: 140 in total\">lost in 3/4"));
    assert!(html.contains("duplicate_end: 17 in total\">dup end in 1/1"));
    // actor did not run in `scaling`.
    assert!(html.contains("<td class=\"missing\""));
    // Charts: sweep only where there is sweep data, said once for the rest.
    assert_eq!(html.matches("throughput-against-workers chart").count(), 1);
    assert_eq!(
        html.matches("aria-label=\"Throughput vs workers").count(),
        1
    );
    assert_eq!(html.matches("aria-label=\"Record-call latency").count(), 2);
    assert_eq!(html.matches("aria-label=\"endQuizTime latency").count(), 2);
    assert_eq!(html.matches("aria-label=\"Cost vs correctness").count(), 2);
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 7);
    // Axis labels with units, legends.
    assert!(html.contains("throughput (answers/s, log scale)"));
    assert!(html.contains("p99.9"));
    // Environment and seeds.
    assert!(html.contains("rustc 1.85.0 (fixture)"));
    assert!(html.contains("abc1234"));
    assert!(
        html.contains("<td class=\"num\">7</td>"),
        "seed of `scaling`"
    );
    // Self-contained: nothing fetched, no scripts.
    assert!(!html.contains("<script"));
    assert!(!html.contains("src="), "nothing embedded by reference");
    assert!(!html.contains("<link"));
    assert!(!html.contains("url("));
    assert!(!html.contains("href=\"http"));
    // No temporary file left behind.
    let leftovers: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "index.html")
        .collect();
    assert!(leftovers.is_empty(), "left over: {leftovers:?}");
}

#[test]
fn one_strategy_and_repeated_scenario_names() {
    let tmp = TempDir::new("one");
    let single = file(
        "solo",
        vec![entry("atomic", "correct", Anomalies::default(), 1.0e7)],
    );
    let a = write_json(tmp.path(), "a", &single);
    let b = write_json(tmp.path(), "b", &single);
    let html = read(&generate(&[a, b], None, &tmp.path().join("out")).unwrap());
    // Two runs of the same scenario stay two columns.
    assert!(html.contains("<th scope=\"col\">solo</th><th scope=\"col\">solo (2)</th>"));
    assert!(html.contains("2 of 2 strategy results were exact."));
    // A one-row dot plot still has its strategy label.
    assert_eq!(html.matches("aria-label=\"Record-call latency").count(), 2);
    let chart = &html[html.find("aria-label=\"Record-call latency").unwrap()..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    assert!(chart.contains(">\natomic\n</text>"), "row label missing");

    // Zero latencies cannot sit on a log axis: a note replaces the charts.
    let mut zero = single.clone();
    zero.results[0].latency_ns = Percentiles::default();
    zero.results[0].end_latency_ns = Percentiles::default();
    let z = write_json(tmp.path(), "z", &zero);
    let html = read(&generate(&[z], None, &tmp.path().join("out")).unwrap());
    assert!(html.contains("No record-call latency was recorded in this scenario."));
    assert!(html.contains("No <code>endQuizTime</code> latency was recorded"));
    assert!(html.contains("No strategy has both a throughput and a p99 latency to plot."));
    assert!(!html.contains("<svg"));
}

#[test]
fn correct_strategy_with_anomalies_is_flagged_unless_expected() {
    let tmp = TempDir::new("flag");
    let mut f = basic("story");
    f.results.push(entry(
        "redis-incrby",
        "correct",
        Anomalies {
            over_counts: 3,
            early_end: 2,
            ..Anomalies::default()
        },
        5.0e4,
    ));
    let path = write_json(tmp.path(), "story", &f);
    let html = read(&generate(&[path], None, &tmp.path().join("out")).unwrap());
    assert!(html.contains("class=\"banner fail\""));
    assert!(html.contains("<li><code>redis-incrby</code> in scenario <code>story</code>: over_counts 3, early_end 2</li>"));
    assert!(html.contains("<td class=\"unexpected\"><span class=\"tag\">unexpected</span>"));

    // The same anomalies, flagged as outside the strategy's guarantee (retries).
    f.results.last_mut().unwrap().anomalies_expected = true;
    let path = write_json(tmp.path(), "story", &f);
    let html = read(&generate(&[path], None, &tmp.path().join("out")).unwrap());
    assert!(html.contains("class=\"banner ok\""));
    assert!(!html.contains("class=\"unexpected\""));
    assert!(html.contains("over in 1/1"));

    // A verdict of `anomalies` with zero counts is still not exact.
    let mut f = basic("odd");
    f.results[2].verdict = Verdict::Anomalies;
    let path = write_json(tmp.path(), "odd", &f);
    let html = read(&generate(&[path], None, &tmp.path().join("out")).unwrap());
    assert!(html.contains("<code>std-mutex</code> in scenario <code>odd</code>"));
}

#[test]
fn user_strings_are_escaped_in_html_and_svg() {
    let tmp = TempDir::new("esc");
    let mut f = sweep("<script>alert(1)</script>");
    f.scenario.description = "<img src=x onerror=alert(2)> & more".to_string();
    f.environment.os = "\"><script>alert(3)</script>".to_string();
    f.environment.servers = vec![server("7.2 <i>x</i>")];
    for r in &mut f.results {
        if r.strategy == "atomic" {
            r.strategy = "<b>bold</b>'\"".to_string();
        }
    }
    let path = write_json(tmp.path(), "evil", &f);
    let html = read(&generate(&[path], None, &tmp.path().join("out")).unwrap());

    let lower = html.to_lowercase();
    assert!(
        !lower.contains("<script"),
        "a raw script tag reached the page"
    );
    assert!(!lower.contains("<img"));
    assert!(!lower.contains("<b>bold"));
    assert!(!lower.contains("<i>x"));
    // Shown as text, in the page and in the chart titles (SVG <text>).
    assert!(html.contains("<th scope=\"col\">&lt;script&gt;alert(1)&lt;/script&gt;</th>"));
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt; &amp; more"));
    assert!(html.contains("Throughput vs workers — &lt;script&gt;alert(1)&lt;/script&gt;\n</text>"));
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"));
    // In attributes too (the chart's aria-label).
    assert!(
        html.contains("aria-label=\"Cost vs correctness — &lt;script&gt;alert(1)&lt;/script&gt;\"")
    );
}

#[test]
fn bad_input_is_an_error_and_keeps_the_good_page() {
    let tmp = TempDir::new("bad");
    let good = write_json(tmp.path(), "good", &basic("good"));
    let out = tmp.path().join("out");
    let index = generate(std::slice::from_ref(&good), None, &out).unwrap();
    let before = fs::read(&index).unwrap();

    let missing = tmp.path().join("does-not-exist.json");
    let err = generate(&[good.clone(), missing.clone()], None, &out).unwrap_err();
    assert!(
        matches!(err, ReportError::Read { ref path, .. } if *path == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("does-not-exist.json"));
    assert!(
        err.to_string().contains("quizrace run --json"),
        "says how to fix: {err}"
    );

    let mut other = serde_json::to_value(basic("v9")).unwrap();
    other["schema"] = "quizrace.result.v9".into();
    let v9 = tmp.path().join("v9.json");
    fs::write(&v9, other.to_string()).unwrap();
    let err = generate(&[v9], None, &out).unwrap_err();
    assert!(matches!(err, ReportError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("quizrace.result.v9"), "{err}");

    let not_json = tmp.path().join("garbage.json");
    fs::write(&not_json, "{ results: oops").unwrap();
    let err = generate(&[not_json], None, &out).unwrap_err();
    assert!(matches!(err, ReportError::Invalid { .. }), "{err:?}");

    let empty = write_json(tmp.path(), "empty", &file("empty", vec![]));
    let err = generate(&[good.clone(), empty], None, &out).unwrap_err();
    assert!(matches!(err, ReportError::EmptyResults { .. }), "{err:?}");

    let err = generate(&[], None, &out).unwrap_err();
    assert!(matches!(err, ReportError::NoInputs), "{err:?}");

    // A rate no run can produce would make an infinite chart axis (and
    // plotters would spin forever): refused with the reason instead.
    let mut huge = serde_json::to_value(basic("huge")).unwrap();
    huge["results"][0]["answers_per_s"] = 1.5e308.into();
    let huge_path = tmp.path().join("huge.json");
    fs::write(&huge_path, huge.to_string()).unwrap();
    let err = generate(&[huge_path], None, &out).unwrap_err();
    assert!(matches!(err, ReportError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("plausible"), "{err}");

    let err = generate(
        std::slice::from_ref(&good),
        Some(&tmp.path().join("no-criterion")),
        &out,
    )
    .unwrap_err();
    assert!(matches!(err, ReportError::CriterionDir { .. }), "{err:?}");

    assert_eq!(
        fs::read(&index).unwrap(),
        before,
        "a failed run replaced the good page"
    );
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        1,
        "only index.html in the out dir"
    );

    // Bad input never creates the output directory either.
    let fresh = tmp.path().join("fresh");
    assert!(generate(&[tmp.path().join("nope.json")], None, &fresh).is_err());
    assert!(!fresh.exists());

    // An unwritable target (a file where the directory should be) is an error.
    let blocker = tmp.path().join("blocker");
    fs::write(&blocker, "").unwrap();
    let err = generate(&[good], None, &blocker).unwrap_err();
    assert!(matches!(err, ReportError::Write { .. }), "{err:?}");
}

/// Runs two tiny real criterion benchmarks into `dir`, so the reader is
/// checked against the files criterion actually writes, not a hand-made copy.
fn run_real_criterion(dir: &Path) {
    use criterion::{BenchmarkId, Criterion, Throughput};
    let mut c = Criterion::default()
        .output_directory(dir)
        .sample_size(10)
        .nresamples(1000)
        .warm_up_time(Duration::from_millis(20))
        .measurement_time(Duration::from_millis(60))
        .without_plots();
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(64));
    g.bench_with_input(BenchmarkId::new("atomic", 2), &64u64, |b, &n| {
        let counter = std::sync::atomic::AtomicU64::new(0);
        b.iter(|| {
            for _ in 0..n {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    g.finish();
    c.bench_function("plain", |b| b.iter(|| std::hint::black_box(3u64).pow(3)));
}

#[test]
fn criterion_results_are_read_from_criterion_files() {
    let tmp = TempDir::new("crit");
    let crit = tmp.path().join("criterion");
    run_real_criterion(&crit);
    assert!(crit.join("record/atomic/2/new/estimates.json").is_file());
    // Criterion's own HTML (not written here without plots) and saved
    // baselines must be ignored.
    fs::create_dir_all(crit.join("report")).unwrap();

    let results = write_json(tmp.path(), "s", &basic("s"));
    let html = read(
        &generate(
            std::slice::from_ref(&results),
            Some(&crit),
            &tmp.path().join("out"),
        )
        .unwrap(),
    );
    assert!(html.contains("<section id=\"criterion\">"));
    assert!(html.contains("criterion 0.8"));
    let section = &html[html.find("<section id=\"criterion\">").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(
        section.contains("<tr><td><code>record</code></td><td>atomic</td><td>2</td>"),
        "{section}"
    );
    assert!(
        section.contains("<tr><td><code>plain</code></td><td></td><td></td>"),
        "{section}"
    );
    assert!(
        section.contains("elem/s"),
        "throughput from Throughput::Elements"
    );
    assert_eq!(
        section.matches("<tr><td>").count(),
        2,
        "base/ and change/ runs are not listed twice"
    );

    // A corrupted estimates file is an error naming the file.
    fs::write(crit.join("plain/new/estimates.json"), "{}").unwrap();
    let err = generate(&[results], Some(&crit), &tmp.path().join("out2")).unwrap_err();
    assert!(
        matches!(err, ReportError::CriterionFile { ref path, .. } if path.ends_with("plain/new/estimates.json")),
        "{err:?}"
    );
}

/// Runs headless Chromium with `args`, killing it after 60 s so a stuck
/// browser can never hang the test suite. Returns its stdout.
fn run_chromium(bin: &Path, profile: &Path, args: &[String]) -> String {
    let child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let out = finish(
        &format!("chromium {args:?}"),
        child,
        Instant::now(),
        Duration::from_secs(60),
    );
    assert!(
        out.success(),
        "chromium failed ({:?}): {}",
        out.code,
        out.stderr
    );
    out.stdout
}

#[test]
#[ignore = "needs chromium on PATH (CI runs it with --include-ignored)"]
fn page_renders_in_a_real_browser() {
    let bin = chromium();
    let tmp = TempDir::new("browser");
    let mut evil = basic("<script>alert(1)</script>");
    evil.results
        .push(entry("redis-lua", "correct", Anomalies::default(), 4.0e4));
    evil.environment.servers = vec![server("7.0.15")];
    let a = write_json(tmp.path(), "contention", &evil);
    let b = write_json(tmp.path(), "scaling", &sweep("scaling"));
    let index = generate(&[a, b], None, &tmp.path().join("out")).unwrap();
    let url = format!("file://{}", index.canonicalize().unwrap().display());

    let profile = TempDir::new("chromium-profile");
    let dom = run_chromium(
        &bin,
        profile.path(),
        &["--dump-dom".to_string(), url.clone()],
    );
    // The rendered DOM, not our string: the parser built these elements.
    assert!(
        dom.contains("<table class=\"matrix\" data-part=\"1\">"),
        "matrix missing from DOM"
    );
    for strategy in [
        "racy-rmw",
        "check-then-act",
        "std-mutex",
        "atomic",
        "actor",
        "redis-lua",
    ] {
        assert!(
            dom.contains(&format!("<th scope=\"row\"><code>{strategy}</code>")),
            "{strategy} row"
        );
    }
    assert!(
        dom.matches("<svg class=\"chart\"").count() >= 7,
        "charts missing from DOM"
    );
    assert!(dom.contains("<text"), "chart text missing");
    assert!(dom.contains("Verdict"));
    // The hostile scenario name is text in the DOM: no script element exists.
    assert!(
        !dom.to_lowercase().contains("<script"),
        "a script element was parsed"
    );
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/screenshots");
    fs::create_dir_all(&shots).unwrap();
    let png = shots.join("report.png");
    let _ = fs::remove_file(&png);
    let profile = TempDir::new("chromium-profile");
    run_chromium(
        &bin,
        profile.path(),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1366,6400".to_string(),
            url,
        ],
    );
    let bytes = fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "screenshot suspiciously small: {} bytes",
        bytes.len()
    );
}

/// v1 files (one run per strategy) still load: each result reads as one
/// trial; v2 results show their spread and trial counts.
#[test]
fn reads_v1_files_and_shows_v2_spread() {
    let tmp = TempDir::new("v1");
    let mut v1 = serde_json::to_value(basic("old")).unwrap();
    v1["schema"] = "quizrace.result.v1".into();
    for r in v1["results"].as_array_mut().unwrap() {
        let r = r.as_object_mut().unwrap();
        for k in [
            "trials",
            "anomaly_trials",
            "anomalous_trials",
            "answers_per_s_spread",
            "response_latency_ns",
            "lateness_ns",
            "round_outcomes",
            "runtime",
            "failed_trials",
            // Optional in v1: the report classified v1 results by kind.
            "anomalies_expected",
        ] {
            r.remove(k);
        }
    }
    let old = tmp.path().join("v1.json");
    fs::write(&old, v1.to_string()).unwrap();
    let files = ResultsFile::all_from_json(&fs::read_to_string(&old).unwrap()).unwrap();
    let racy = files[0].results.iter().find(|r| r.kind == "racy").unwrap();
    assert_eq!(racy.trials, 1);
    assert_eq!(racy.anomaly_trials.lost_updates, 1);
    assert_eq!(racy.answers_per_s_spread.min, racy.answers_per_s);
    // Without the flag, a v1 racy result is still expected to show its race.
    assert!(racy.anomalies_expected);
    assert!(files[0]
        .results
        .iter()
        .filter(|r| r.kind == "correct")
        .all(|r| !r.anomalies_expected));

    let mut new = basic("new");
    new.results[0].trials = 20;
    new.results[0].answers_per_s_spread = quizrace::result::Spread {
        min: 1.0e6,
        max: 3.0e6,
        cv: 0.125,
    };
    let new_path = write_json(tmp.path(), "new", &new);
    let html = read(&generate(&[old, new_path], None, &tmp.path().join("out")).unwrap());
    assert!(html.contains("cv 12.5%"), "spread in the results table");
    assert!(html.contains("<th scope=\"col\">old</th>"));
    // The v1 file's racy anomalies are expected, as they always were.
    assert!(html.contains("class=\"banner ok\""));
}

/// `local-map` is racy across processes only. On threads the run records
/// `anomalies_expected: false`, and the page follows that flag, as
/// `--check` does: exact is exact (not "race not reproduced"), and an
/// anomaly there would be a bug. Across processes it is a racy result.
#[test]
fn local_map_is_classified_by_the_recorded_flag_not_its_kind() {
    let tmp = TempDir::new("local-map");
    let kind = "racy-across-processes";
    let threads = file(
        "threads",
        vec![entry("local-map", kind, Anomalies::default(), 1.0e7)],
    );
    let mut procs = file(
        "procs",
        vec![entry("local-map", kind, Anomalies::default(), 1.0e7)],
    );
    procs.scenario.processes = 2;
    procs.results[0].anomalies_expected = true;
    let a = write_json(tmp.path(), "threads", &threads);
    let b = write_json(tmp.path(), "procs", &procs);
    let html = read(&generate(&[a, b], None, &tmp.path().join("out")).unwrap());
    assert!(html.contains("class=\"banner ok\""));
    // Matrix: exact on threads; not reproduced across processes.
    assert!(html.contains(
        "<td class=\"exact\">exact</td><td class=\"exact\">exact <span class=\"kind\">not \
         reproduced (0/1)</span></td>"
    ));
    // The banner lists only the multi-process run as not reproduced.
    assert!(html.contains("<code>local-map</code> in <code>procs</code>."));
    assert!(!html.contains("<code>local-map</code> in <code>threads</code>"));
    // Results tables: the same verdicts.
    assert_eq!(
        html.matches("<td class=\"exact\">exact</td><td class=\"num\">")
            .count(),
        1
    );
    assert_eq!(html.matches(">not reproduced (0/1)</td>").count(), 1);

    // Lost updates on threads break local-map's guarantee: unexpected, as
    // `--check` has it.
    let mut broken = threads.clone();
    broken.results[0] = entry("local-map", kind, lost(16), 1.0e7);
    assert!(broken.results[0].fails_check());
    let c = write_json(tmp.path(), "broken", &broken);
    let html = read(&generate(&[c], None, &tmp.path().join("out")).unwrap());
    assert!(html.contains("class=\"banner fail\""));
    assert!(html.contains("<li><code>local-map</code> in scenario <code>threads</code>: lost_updates 16, missed_end 2</li>"));
    assert!(html.contains("<td class=\"unexpected\"><span class=\"tag\">unexpected</span>"));
}

/// A Redis server of `version` in the environment table.
fn server(version: &str) -> quizrace::backend::ServerFact {
    quizrace::backend::ServerFact {
        backend: "redis".into(),
        name: "redis".into(),
        version: version.into(),
    }
}

/// Lays out `page` in headless Chromium at `width` px and returns what the
/// probe script appended to a copy of it measured: for every part of the
/// correctness matrix its container's scroll and client widths and the
/// right edge of its last header cell against the viewport, and every pair
/// of overlapping texts in any chart.
fn probe_layout(bin: &Path, page: &Path, width: u32) -> serde_json::Value {
    const PROBE: &str = r#"<script>
(function () {
  var out = { viewport: document.documentElement.clientWidth, matrix: [], overlaps: [], texts: 0 };
  document.querySelectorAll('table.matrix').forEach(function (t) {
    var wrap = t.parentElement;
    var heads = t.querySelectorAll('thead th');
    var last = heads[heads.length - 1].getBoundingClientRect();
    out.matrix.push({ scroll: wrap.scrollWidth, client: wrap.clientWidth, right: last.right,
                      columns: heads.length });
  });
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var boxes = [];
    svg.querySelectorAll('text').forEach(function (el) {
      var text = el.textContent.trim();
      var r = el.getBoundingClientRect();
      if (text && r.width > 0 && r.height > 0) boxes.push({ t: text, r: r });
    });
    out.texts += boxes.length;
    for (var i = 0; i < boxes.length; i++) {
      for (var j = i + 1; j < boxes.length; j++) {
        var a = boxes[i].r, b = boxes[j].r;
        var x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        var y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (x > 1 && y > 1) {
          out.overlaps.push(svg.getAttribute('aria-label') + ': "' + boxes[i].t + '" and "' +
                            boxes[j].t + '"');
        }
      }
    }
  });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"#;
    let html = read(page);
    let probed = page.with_file_name("probed.html");
    fs::write(
        &probed,
        html.replacen("</body>", &format!("{PROBE}</body>"), 1),
    )
    .unwrap();
    let url = format!("file://{}", probed.canonicalize().unwrap().display());
    let profile = TempDir::new("chromium-profile");
    let dom = run_chromium(
        bin,
        profile.path(),
        &[
            format!("--window-size={width},900"),
            "--dump-dom".to_string(),
            url,
        ],
    );
    let start = dom.find("<pre id=\"probe\">").expect("the probe ran") + "<pre id=\"probe\">".len();
    let end = start + dom[start..].find("</pre>").expect("probe output ends");
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("probe output {json}: {e}"))
}

/// At laptop width (1280 px) every part of the correctness matrix shows its
/// last column without scrolling, and no two texts of any chart overlap:
/// checked on the laid-out page of 14 scenarios of 12 strategies whose
/// points crowd together (same latency, throughputs 5% apart).
#[test]
#[ignore = "needs chromium on PATH (CI runs it with --include-ignored)"]
fn at_laptop_width_the_matrix_fits_and_chart_labels_do_not_overlap() {
    let bin = chromium();
    let tmp = TempDir::new("laptop");
    let scenarios = [
        "answer-window",
        "async-single-thread",
        "burst-at-deadline",
        "correct-threads",
        "correct-tokio",
        "hot-room",
        "isolation-levels",
        "many-rooms",
        "million-players",
        "race-window-spin",
        "redis-faults-retry",
        "slow-scoring",
        "story-two-servers",
        "two-servers-no-redis",
    ];
    let strategies = [
        "racy-rmw",
        "check-then-act",
        "local-map",
        "std-mutex",
        "parking-lot-mutex",
        "dashmap",
        "atomic",
        "cas",
        "semaphore",
        "snapshot",
        "actor",
        "actor-rpc",
    ];
    // A real run, whose broken room-rounds are drawn as timelines (their
    // labels: calls, ends close together); the fixtures take its build's
    // environment.
    let real = tmp.path().join("real.json");
    let out = crate::support::quizrace(&[
        "run",
        "--quick",
        "--quiet",
        "-s",
        "racy-rmw",
        "-s",
        "check-then-act",
        "-s",
        "atomic",
        "--json",
        real.to_str().unwrap(),
    ]);
    assert!(out.success(), "{}", out.all());
    let environment = crate::support::read_results(&real).environment;
    let mut paths = Vec::new();
    for (i, name) in scenarios.iter().enumerate() {
        let results = strategies
            .iter()
            .enumerate()
            .map(|(j, s)| {
                let racy = j < 2;
                let anomalies = if racy {
                    lost(40 + i as u64)
                } else {
                    Anomalies::default()
                };
                let kind = if racy { "racy" } else { "correct" };
                entry(s, kind, anomalies, 1.0e6 * (1.0 + 0.05 * j as f64))
            })
            .collect();
        let mut f = file(name, results);
        f.environment = environment.clone();
        if i % 2 == 1 {
            // Some scenarios ran on a server: not a different machine.
            f.environment.servers = vec![server("7.0.15")];
        }
        paths.push(write_json(tmp.path(), name, &f));
    }
    let mut scaling = sweep("scaling");
    scaling.environment = environment;
    paths.push(write_json(tmp.path(), "scaling", &scaling));
    paths.push(real.clone());
    let index = generate(&paths, None, &tmp.path().join("out")).unwrap();
    let page = read(&index);
    assert!(page.contains("room-round"), "a timeline is drawn");
    assert!(
        !page.contains("different builds or machines"),
        "servers alone are not a different machine"
    );
    assert_eq!(
        page.matches("throughput-against-workers chart").count(),
        1,
        "the missing sweep chart is mentioned once"
    );

    let facts = probe_layout(&bin, &index, 1280);
    let viewport = facts["viewport"].as_f64().unwrap();
    assert!(viewport > 1200.0 && viewport <= 1280.0, "{facts}");
    let parts = facts["matrix"].as_array().unwrap();
    assert!(parts.len() >= 3, "15 scenarios take several parts: {facts}");
    let columns: u64 = parts
        .iter()
        .map(|p| p["columns"].as_u64().unwrap() - 1)
        .sum();
    assert_eq!(columns, 16, "every scenario has a column: {facts}");
    for p in parts {
        let (scroll, client) = (p["scroll"].as_f64().unwrap(), p["client"].as_f64().unwrap());
        assert!(scroll <= client, "a matrix part scrolls sideways: {p}");
        assert!(
            p["right"].as_f64().unwrap() <= viewport,
            "its last column is off screen: {p}"
        );
    }
    assert!(
        facts["texts"].as_u64().unwrap() > 500,
        "charts have text: {facts}"
    );
    let overlaps = facts["overlaps"].as_array().unwrap();
    assert!(overlaps.is_empty(), "chart texts overlap: {overlaps:#?}");
}

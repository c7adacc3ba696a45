//! The real `quizrace` binary: verbs, exit codes, JSON contract, bad input.

use std::path::Path;
use std::process::{Command, Stdio};

use quizrace::result::{ResultsFile, Verdict, SCHEMA};

use crate::support::{quizrace, quizrace_cmd, quizrace_env, read_results, TempDir};

/// Runs and expects exit 2 with one clear message and no panic trace.
fn bad_input(args: &[&str], expect: &[&str]) {
    let out = quizrace(args);
    let err = &out.stderr;
    assert_eq!(out.code, Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
    for e in expect {
        assert!(err.contains(e), "{args:?}: `{e}` not in: {err}");
    }
}

#[test]
fn list_json_has_the_catalogue_with_kinds() {
    let out = quizrace(&["list", "--json"]);
    assert!(out.success());
    let items: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(items.len(), 32);
    let kind = |n: &str| {
        items
            .iter()
            .find(|i| i["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing"))["kind"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for n in [
        "racy-rmw",
        "async-rmw",
        "check-then-act",
        "redis-get-set",
        "redis-incr-get",
        "pg-read-write",
        "mysql-read-write",
    ] {
        assert_eq!(kind(n), "racy");
    }
    assert_eq!(kind("local-map"), "racy-across-processes");
    for n in [
        "std-mutex",
        "parking-lot-mutex",
        "tokio-mutex",
        "dashmap",
        "atomic",
        "cas",
        "semaphore",
        "snapshot",
        "actor",
        "redis-incrby",
        "redis-lua",
        "redis-watch",
        "redis-sadd",
        "pg-update-returning",
        "pg-insert-idempotent",
        "mysql-update",
    ] {
        assert_eq!(kind(n), "correct", "{n}");
    }
    let backend = |n: &str| items.iter().find(|i| i["name"] == n).unwrap()["backend"].clone();
    assert_eq!(backend("atomic"), serde_json::Value::Null);
    assert_eq!(backend("redis-incrby"), "redis");
    assert_eq!(backend("pg-read-write"), "postgres");
    assert_eq!(backend("mysql-update"), "mysql");
    for i in &items {
        assert!(i["runtimes"].as_array().is_some_and(|r| !r.is_empty()));
        assert!(i["description"].as_str().is_some_and(|d| d.len() > 10));
    }
}

/// The README's main job teaches: the three in-process races show, every
/// correct strategy stays exact, async ones run on tokio in the same table.
#[test]
fn run_without_arguments_shows_every_in_process_race() {
    let out = quizrace(&["run"]);
    let stdout = &out.stdout;
    assert!(out.success(), "{}", out.stderr);
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| {
                l.strip_prefix(name).is_some_and(|rest| {
                    let rest = rest.trim_start();
                    ["exact", "anomalies", "ANOMALIES", "not reproduced"]
                        .iter()
                        .any(|v| rest.starts_with(v))
                })
            })
            .unwrap_or_else(|| panic!("no row for {name}:\n{stdout}"))
            .to_string()
    };
    for racy in ["racy-rmw", "check-then-act", "async-rmw [tokio]"] {
        assert!(row(racy).contains("anomalies"), "{}", row(racy));
    }
    for correct in ["atomic", "std-mutex", "cas", "tokio-mutex [tokio]", "actor"] {
        assert!(row(correct).contains("exact"), "{}", row(correct));
    }
    assert!(!stdout.contains("ANOMALIES"), "{stdout}");
    assert!(!stdout.contains("not reproduced"), "{stdout}");
    assert!(
        !stdout.lines().any(|l| l.starts_with("redis-")),
        "Redis must not join `all` unasked"
    );
    assert!(
        stdout.contains("left out: redis-"),
        "says what `all` left out"
    );
    assert!(!stdout.contains('\x1b'), "NO_COLOR must disable colour");
}

#[test]
fn json_follows_the_v2_contract() {
    let dir = TempDir::new("json");
    let path = dir.join("r.json");
    let out = quizrace(&[
        "run",
        "-s",
        "atomic",
        "-s",
        "racy-rmw",
        "--rooms",
        "20",
        "--rounds",
        "4",
        "--json",
        path.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.success(), "{}", out.stderr);
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(raw["schema"], SCHEMA);
    for k in [
        "name",
        "seed",
        "rooms",
        "players",
        "rounds",
        "runtime",
        "workers",
        "processes",
    ] {
        assert!(!raw["scenario"][k].is_null(), "scenario.{k}");
    }
    for k in ["quizrace", "rustc", "os", "cpus", "git"] {
        assert!(!raw["environment"][k].is_null(), "environment.{k}");
    }
    let r = &raw["results"][0];
    for k in [
        "strategy",
        "kind",
        "answers",
        "recorded",
        "room_rounds",
        "anomalies",
        "verdict",
        "elapsed_s",
        "answers_per_s",
        "latency_ns",
        "end_latency_ns",
        "trials",
        "anomalous_trials",
        "anomaly_trials",
        "answers_per_s_spread",
        "response_latency_ns",
        "lateness_ns",
        "round_outcomes",
        "runtime",
    ] {
        assert!(!r[k].is_null(), "results[].{k}");
    }
    for k in ["min", "max", "cv"] {
        assert!(r["answers_per_s_spread"][k].is_f64(), "spread.{k}");
    }
    for k in ["time_limit_us", "balance", "trial_policy"] {
        assert!(!raw["scenario"][k].is_null(), "scenario.{k}");
    }
    for k in [
        "lost_updates",
        "over_counts",
        "missed_end",
        "duplicate_end",
        "early_end",
    ] {
        assert!(r["anomalies"][k].is_u64(), "anomalies.{k}");
    }
    for k in ["p50", "p90", "p99", "p999", "max"] {
        assert!(r["latency_ns"][k].is_u64(), "latency_ns.{k}");
    }
    let f = read_results(&path);
    let atomic = f.results.iter().find(|r| r.strategy == "atomic").unwrap();
    assert_eq!(atomic.verdict, Verdict::Exact);
    assert!(atomic.trials >= 5, "{}", atomic.trials);
    assert_eq!(atomic.answers, 20 * 8 * 4 * atomic.trials as u64);
    let s = atomic.answers_per_s_spread;
    assert!(
        s.min <= atomic.answers_per_s && atomic.answers_per_s <= s.max,
        "{s:?}"
    );
    let o = atomic.round_outcomes;
    assert_eq!(o.exact, atomic.room_rounds, "{o:?}");
    assert_eq!(f.scenario.rooms, 20);
}

#[test]
fn local_map_on_two_processes_misses_every_end() {
    let dir = TempDir::new("procs");
    let path = dir.join("r.json");
    let out = quizrace(&[
        "run",
        "--runtime",
        "processes",
        "--processes",
        "2",
        "-s",
        "local-map",
        "--rooms",
        "30",
        "--rounds",
        "3",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert!(out.success(), "{}", out.stderr);
    let f = read_results(&path);
    let r = &f.results[0];
    assert_eq!(r.answers, 30 * 8 * 3 * r.trials as u64);
    assert_eq!(r.anomalies.missed_end, r.room_rounds, "{:?}", r.anomalies);
    assert_eq!(r.anomaly_trials.missed_end, r.trials as u64);
    assert!(r.anomalies_expected);
    assert_eq!(f.scenario.processes, 2);
}

#[test]
fn sweep_writes_one_entry_per_point() {
    let dir = TempDir::new("sweep");
    let path = dir.join("r.json");
    let out = quizrace(&[
        "run",
        "-s",
        "atomic",
        "-s",
        "cas",
        "--rooms",
        "10",
        "--rounds",
        "2",
        "--sweep",
        "workers=1,2,4",
        "--json",
        path.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.success(), "{}", out.stderr);
    let f = read_results(&path);
    assert_eq!(f.results.len(), 6);
    let workers: Vec<u64> = f.results.iter().map(|r| r.point["workers"]).collect();
    assert_eq!(workers, [1, 1, 2, 2, 4, 4]);
}

#[test]
fn check_exits_1_only_when_a_correct_strategy_breaks() {
    // Racy anomalies are results: exit 0 even with --check.
    let out = quizrace(&[
        "run",
        "-s",
        "racy-rmw",
        "--rooms",
        "20",
        "--scoring-work",
        "yield",
        "--check",
        "--quiet",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // Rounds that overran their time limit are not judged, so a result made
    // mostly of them is `inconclusive`, and `--check` does not pass on too
    // little evidence. (Exit 1 on broken guarantees is decided by
    // `StrategyResult::fails_check`, unit-tested in result.rs; the Redis
    // restart test shows it through the binary.)
    let out = quizrace(&[
        "run",
        "-s",
        "atomic",
        "--rooms",
        "2",
        "--rounds",
        "1",
        "--workers",
        "1",
        "--scoring-work",
        "sleep:2ms",
        "--time-limit",
        "3ms",
        "--check",
        "--trials",
        "1",
        "--min-time",
        "0s",
    ]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let stdout = &out.stdout;
    assert!(stdout.contains("time limit"), "{stdout}");
    assert!(stdout.contains("INCONCLUSIVE"), "{stdout}");
    assert!(out.stderr.contains("inconclusive"));
    // The case from the issue: 200 of 200 rounds timed out.
    let out = quizrace(&[
        "run",
        "--check",
        "-s",
        "atomic",
        "--time-limit",
        "1us",
        "--scoring-work",
        "sleep:1ms",
        "--rooms",
        "50",
        "--rounds",
        "4",
        "--trials",
        "1",
        "--min-time",
        "0s",
    ]);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out
        .stdout
        .contains("200 of 200 room-rounds could not be judged"));
}

#[test]
fn explain_shows_a_real_counterexample() {
    let out = quizrace(&["explain", "racy-rmw"]);
    let s = &out.stdout;
    assert!(out.success(), "{}", out.stderr);
    assert!(s.contains("read  count = "), "{s}");
    assert!(s.contains("write count = "), "{s}");
    assert!(s.contains("both read"), "{s}");

    let out = quizrace(&["explain", "check-then-act"]);
    let s = &out.stdout;
    assert!(
        s.contains("emit endQuizTime") && s.contains("ended 2 times"),
        "{s}"
    );

    let out = quizrace(&["explain", "async-rmw"]);
    assert!(out.stdout.contains("both read"), "{}", out.stdout);

    let out = quizrace(&["explain", "local-map"]);
    let s = &out.stdout;
    assert!(s.contains("process 0: scoringMap[room] = 4 of 8"), "{s}");
    assert!(s.contains("endQuizTime never fired"), "{s}");

    let out = quizrace(&["explain", "atomic"]);
    assert!(out.stdout.contains("verdict exact"), "{}", out.stdout);
}

#[test]
fn every_bundled_in_process_scenario_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let body = std::fs::read_to_string(&path).unwrap();
        if body.contains("redis-") {
            continue; // covered by the Redis tests, which own a server
        }
        let out = quizrace(&[
            "run",
            path.to_str().unwrap(),
            "--quick",
            "--quiet",
            "--check",
        ]);
        assert_eq!(
            out.code,
            Some(0),
            "{}: {}{}",
            path.display(),
            out.stdout,
            out.stderr
        );
        ran += 1;
    }
    assert!(ran >= 8, "only {ran} in-process scenarios");
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = TempDir::new("bad");
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let malformed = write("malformed.toml", "rooms = 5\nplayers = = 3\n");
    bad_input(&["run", &malformed], &["line 2", "column"]);
    let unknown_key = write("unknown.toml", "rooms = 5\nplayrs = 3\n");
    bad_input(&["run", &unknown_key], &["playrs", "line 2"]);
    bad_input(
        &["run", "-s", "atomc"],
        &["unknown strategy `atomc`", "did you mean `atomic`"],
    );
    bad_input(&["explain", "std_mutex"], &["did you mean `std-mutex`"]);
    bad_input(&["run", "--rooms", "0"], &["rooms must be at least 1"]);
    bad_input(&["run", "--players", "999999999"], &["players", "limit"]);
    bad_input(
        &[
            "run",
            "--rooms",
            "10000000",
            "--players",
            "100",
            "--rounds",
            "100",
        ],
        &["answers is over the limit"],
    );
    bad_input(
        &["run", "--runtime", "processes", "-s", "atomic"],
        &["cannot run on `processes`", "local-map"],
    );
    bad_input(
        &["run", "--runtime", "threads", "-s", "async-rmw"],
        &["async runtime"],
    );
    bad_input(&["run", "--runtime", "fibers"], &["runtime `fibers`"]);
    bad_input(&["run", "--scoring-work", "nap:3"], &["scoring work"]);
    bad_input(&["run", "--window", "5"], &["unit"]);
    bad_input(
        &["run", "--window", "20ms", "--time-limit", "10ms"],
        &["must be shorter than time_limit"],
    );
    bad_input(
        &["run", "--sweep", "colour=1,2"],
        &["cannot sweep `colour`"],
    );
    bad_input(
        &["run", "/nonexistent/scenario.toml"],
        &["cannot read scenario"],
    );
    bad_input(&["frobnicate"], &["unrecognized subcommand"]);
}

#[test]
fn trial_flags_are_checked() {
    bad_input(&["run", "--trials", "0"], &["--trials must be at least 1"]);
    bad_input(
        &["run", "--trials", "100000"],
        &["--trials 100000", "limit"],
    );
    bad_input(
        &["run", "--min-time=-1s"],
        &["--min-time", "not a duration"],
    );
    bad_input(&["run", "--min-time", "2h"], &["--min-time"]);
    bad_input(&["run", "--trials", "many"], &["invalid value"]);
}

#[test]
fn trials_flag_sets_the_trial_count_and_spread_is_consistent() {
    let dir = TempDir::new("trials");
    let path = dir.join("r.json");
    let out = quizrace(&[
        "run",
        "-s",
        "atomic",
        "--rooms",
        "10",
        "--rounds",
        "2",
        "--trials",
        "7",
        "--min-time",
        "0s",
        "--json",
        path.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.success(), "{}", out.stderr);
    let f = read_results(&path);
    let r = &f.results[0];
    assert_eq!(r.trials, 7);
    assert_eq!(r.answers, 10 * 8 * 2 * 7);
    assert_eq!(r.round_outcomes.exact, 10 * 2 * 7);
    let s = r.answers_per_s_spread;
    assert!(
        s.min <= r.answers_per_s && r.answers_per_s <= s.max,
        "{s:?}"
    );
    assert!(s.cv >= 0.0 && s.cv.is_finite());
    assert_eq!(f.scenario.trial_policy.min_trials, 7);
}

/// `run A.toml B.toml --json x.json` writes one file that `report` reads;
/// an existing directory gets one file per scenario, never overwriting a
/// scenario with the same name.
#[test]
fn several_scenarios_round_trip_through_report() {
    let dir = TempDir::new("bundle");
    let a = dir.join("a.toml");
    let b = dir.join("b.toml");
    std::fs::write(&a, "strategies = [\"atomic\"]\nrooms = 4\nrounds = 2\n").unwrap();
    std::fs::write(
        &b,
        "name = \"a\"\nstrategies = [\"cas\"]\nrooms = 4\nrounds = 2\n",
    )
    .unwrap();
    let file = dir.join("x.json");
    let common = ["--trials", "2", "--min-time", "0s", "--quiet"];
    let mut args = vec!["run", a.to_str().unwrap(), b.to_str().unwrap(), "--json"];
    args.push(file.to_str().unwrap());
    args.extend(common);
    let out = quizrace(&args);
    assert!(out.success(), "{}", out.stderr);
    assert!(file.is_file(), "one file, not a directory");
    let runs = ResultsFile::all_from_json(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(runs.len(), 2);
    let html = dir.join("html");
    let out = quizrace(&[
        "report",
        file.to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
    ]);
    assert!(out.success(), "{}", out.stderr);
    let page = std::fs::read_to_string(html.join("index.html")).unwrap();
    assert!(page.contains("atomic") && page.contains("cas"));

    // An existing directory: one file per scenario; the second `a` is a-2.
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut args = vec!["run", a.to_str().unwrap(), b.to_str().unwrap(), "--json"];
    args.push(out_dir.to_str().unwrap());
    args.extend(common);
    let out = quizrace(&args);
    assert!(out.success(), "{}", out.stderr);
    assert!(out_dir.join("a.json").is_file());
    assert!(out_dir.join("a-2.json").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tmp") || n.contains("probe"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn json_path_problems_are_found_before_the_run() {
    let dir = TempDir::new("jsonpath");
    // A path under a regular file cannot be created.
    let blocker = dir.join("file");
    std::fs::write(&blocker, "x").unwrap();
    let bad = blocker.join("r.json");
    bad_input(
        &["run", "-s", "atomic", "--json", bad.to_str().unwrap()],
        &["--json"],
    );
}

/// A sweep's header names every swept value, and wide labels keep the
/// columns aligned.
#[test]
fn sweep_header_and_alignment() {
    let out = quizrace(&[
        "run",
        "-s",
        "parking-lot-mutex",
        "-s",
        "atomic",
        "--rooms",
        "4",
        "--rounds",
        "2",
        "--sweep",
        "workers=1,2",
        "--trials",
        "2",
        "--min-time",
        "0s",
    ]);
    let s = &out.stdout;
    assert!(out.success(), "{}", out.stderr);
    assert!(s.contains("| 1/2 workers |"), "{s}");
    let rows: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("parking-lot-mutex") || l.starts_with("atomic"))
        .collect();
    assert_eq!(rows.len(), 4, "{s}");
    let col = |l: &str| l.find("exact").unwrap();
    assert!(rows.iter().all(|l| col(l) == col(rows[0])), "{s}");
}

/// With an answer window, the result reports lateness against the plan and
/// response time from the planned arrival (never below the service time).
#[test]
fn answer_windows_report_lateness_and_response_time() {
    let dir = TempDir::new("window");
    let path = dir.join("r.json");
    let out = quizrace(&[
        "run",
        "-s",
        "atomic",
        "--rooms",
        "20",
        "--rounds",
        "3",
        "--window",
        "2ms",
        "--trials",
        "2",
        "--min-time",
        "0s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stdout.contains("late p99"), "{}", out.stdout);
    let r = &read_results(&path).results[0];
    assert!(r.lateness_ns.max > 0, "{:?}", r.lateness_ns);
    assert!(r.response_latency_ns.p50 >= r.latency_ns.p50, "{r:?}");
    assert!(r.response_latency_ns.max >= r.lateness_ns.max, "{r:?}");
}

#[test]
fn a_racy_strategy_that_stays_exact_is_not_reproduced() {
    // One worker cannot race with itself.
    let out = quizrace(&[
        "run",
        "-s",
        "racy-rmw",
        "--workers",
        "1",
        "--rooms",
        "4",
        "--rounds",
        "2",
        "--trials",
        "3",
        "--min-time",
        "0s",
    ]);
    let s = &out.stdout;
    assert!(out.success(), "{}", out.stderr);
    assert!(s.contains("not reproduced 0/3"), "{s}");
    assert!(
        s.contains("not reproduced (0/3 trials)") && s.contains("--scoring-work"),
        "{s}"
    );
}

#[test]
fn scenario_promises_are_checked() {
    let dir = TempDir::new("expect");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[expect]\nracy-rmw = [\"lost_update\"]\n").unwrap();
    bad_input(
        &["run", bad.to_str().unwrap()],
        &["lost_update", "lost_updates"],
    );
    // One worker never loses an update: the promise is reported as not kept.
    let one = dir.join("one.toml");
    std::fs::write(
        &one,
        "strategies = [\"racy-rmw\"]\nworkers = 1\nrooms = 4\nrounds = 2\n\
         [expect]\nracy-rmw = [\"lost_updates\"]\n",
    )
    .unwrap();
    let path = dir.join("r.json");
    let out = quizrace(&[
        "run",
        one.to_str().unwrap(),
        "--trials",
        "2",
        "--min-time",
        "0s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stdout.contains("promise not kept"), "{}", out.stdout);
    let f = read_results(&path);
    assert_eq!(f.promises.len(), 1);
    assert!(!f.promises[0].kept);
    assert_eq!(f.promises[0].trials, 2);
}

/// Text from scenario files cannot drive the terminal.
#[test]
fn control_characters_in_scenarios_are_escaped() {
    let dir = TempDir::new("ctl");
    let p = dir.join("evil.toml");
    std::fs::write(
        &p,
        "name = \"x\\u001b[2K\\rFAKE\"\ndescription = \"a\\u0007b\\u202e\"\n\
         strategies = [\"atomic\"]\nrooms = 2\nrounds = 1\n",
    )
    .unwrap();
    let out = quizrace(&[
        "run",
        p.to_str().unwrap(),
        "--trials",
        "1",
        "--min-time",
        "0s",
    ]);
    let s = &out.stdout;
    assert!(out.success(), "{}", out.stderr);
    assert!(
        !s.contains('\x1b') && !s.contains('\x07') && !s.contains('\r'),
        "{s:?}"
    );
    assert!(!s.contains('\u{202e}'), "{s:?}");
}

#[test]
fn huge_input_files_are_refused() {
    let dir = TempDir::new("huge");
    let p = dir.join("big.toml");
    std::fs::write(&p, vec![b'#'; 2 << 20]).unwrap();
    bad_input(&["run", p.to_str().unwrap()], &["larger than"]);
}

/// Worker processes never outlive their parent: not after SIGTERM (a clean
/// stop, exit 130) and not after SIGKILL (the parent-death signal).
#[cfg(target_os = "linux")]
#[test]
fn worker_processes_die_with_their_parent() {
    fn children(pid: u32) -> Vec<u32> {
        let out = Command::new("pgrep")
            .args(["-P", &pid.to_string()])
            .output()
            .expect("pgrep runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
    fn alive(pid: u32) -> bool {
        // Gone, or a zombie nobody reaped yet, is dead.
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim_start().starts_with('Z'))
        })
    }
    for signal in ["-TERM", "-KILL"] {
        let mut parent = quizrace_cmd(
            &[
                "run",
                "--runtime",
                "processes",
                "-s",
                "local-map",
                "--rooms",
                "2000",
                "--rounds",
                "500",
                "--trials",
                "1",
                "--min-time",
                "0s",
                "--quiet",
            ],
            &[],
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
        let pid = parent.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let kids = loop {
            let k = children(pid);
            if k.len() == 2 || std::time::Instant::now() > deadline {
                break k;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert_eq!(kids.len(), 2, "both worker processes started");
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = parent.wait().unwrap().code();
        if signal == "-TERM" {
            assert_eq!(code, Some(130), "SIGTERM stops like Ctrl-C");
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while kids.iter().any(|&k| alive(k)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        for k in &kids {
            assert!(
                !alive(*k),
                "worker {k} outlived its parent after kill {signal}"
            );
        }
    }
}

/// Settings that would silently do nothing are refused or warned about.
#[test]
fn ignored_settings_are_errors_or_warnings() {
    bad_input(
        &["run", "-s", "atomic", "--processes", "5"],
        &["processes = 5 applies only to --runtime processes"],
    );
    bad_input(
        &["run", "-s", "atomic", "--sweep", "processes=1,2"],
        &["sweeping processes needs --runtime processes"],
    );
    let dir = TempDir::new("ignored");
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "strategies = []\n").unwrap();
    bad_input(
        &["run", empty.to_str().unwrap()],
        &["`strategies` is empty"],
    );
    let out = quizrace(&[
        "run",
        "-s",
        "atomic",
        "--retries",
        "3",
        "--rooms",
        "2",
        "--rounds",
        "1",
        "--trials",
        "1",
        "--min-time",
        "0s",
    ]);
    assert!(out.success(), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("warning: scenario `default`: the fault settings"),
        "{}",
        out.stderr
    );
}

/// A path that is not a regular file is never replaced by the results.
#[cfg(unix)]
#[test]
fn json_never_replaces_a_device() {
    bad_input(
        &["run", "-s", "atomic", "--json", "/dev/null"],
        &["not a regular file"],
    );
    assert!(std::fs::metadata("/dev/null").is_ok_and(|m| !m.is_file()));
}

/// A workload that cannot fit in memory is refused before it allocates,
/// with how much it needs (the issue's case: 200 M answers at one player
/// per room needs ~46 GiB; CI machines have 24).
#[test]
fn workloads_that_cannot_fit_in_memory_are_refused() {
    bad_input(
        &[
            "run",
            "-s",
            "atomic",
            "--rooms",
            "10000000",
            "--players",
            "1",
            "--rounds",
            "20",
        ],
        &["needs about 42.5 GiB of memory", "is available"],
    );
}

/// `--deadline` bounds a strategy's trials however slow they are; what was
/// not submitted is not judged, so the verdict is inconclusive.
#[test]
fn the_deadline_bounds_a_slow_run() {
    let started = std::time::Instant::now();
    let out = quizrace(&[
        "run",
        "-s",
        "atomic",
        "--scoring-work",
        "sleep:1ms",
        "--rooms",
        "50",
        "--rounds",
        "100",
        "--workers",
        "1",
        "--deadline",
        "500ms",
        "--check",
    ]);
    let took = started.elapsed();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stdout.contains("INCONCLUSIVE"), "{}", out.stdout);
    // Without the deadline: 40,000 answers x 1 ms = 40 s.
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    bad_input(
        &["run", "--deadline", "0s"],
        &["--deadline must be more than 0"],
    );
    // With an answer window, rounds after the deadline do not wait for
    // their planned arrivals either (200 rounds x up to 50 ms otherwise).
    let started = std::time::Instant::now();
    let out = quizrace(&[
        "run",
        "-s",
        "atomic",
        "--window",
        "50ms",
        "--rooms",
        "2",
        "--rounds",
        "200",
        "--deadline",
        "300ms",
        "--trials",
        "1",
    ]);
    assert!(out.success(), "{}", out.stderr);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}

/// A bad QUIZRACE_REDIS_URL only matters to runs that use Redis.
#[test]
fn a_bad_redis_url_does_not_break_an_in_process_run() {
    let run = |strategy: &str| {
        quizrace_env(
            &[
                "run",
                "-s",
                strategy,
                "--rooms",
                "2",
                "--rounds",
                "1",
                "--trials",
                "1",
                "--min-time",
                "0s",
                "--quiet",
            ],
            &[("QUIZRACE_REDIS_URL", "not a url")],
        )
    };
    let out = run("atomic");
    assert!(out.success(), "{}", out.stderr);
    let out = run("redis-incrby");
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("Redis URL is not valid"));
}

/// The hidden `__worker` subcommand validates a hand-fed spec like any input:
/// a workload whose room-round slots overflow 32 bits, or a process index
/// outside the workload, is refused with exit 2 and no panic.
#[test]
fn a_hand_fed_worker_spec_is_validated() {
    use std::io::Write as _;
    let spec = |rooms: u64, rounds: u64, process: u32| {
        serde_json::json!({
            "strategy": "local-map",
            "workload": {
                "rooms": rooms, "rounds": rounds, "players": 1, "workers": 1,
                "processes": 2, "runtime": "processes", "seed": 1,
                "window": {"secs": 0, "nanos": 0}, "work": "none",
                "time_limit": {"secs": 1, "nanos": 0}, "balance": "round-robin"
            },
            "process": process,
            "clock": {"epoch_unix_ns": 0},
            "start_at_ns": 0,
            "env": {"faults": quizrace::backend::Faults::default(), "namespace": "t", "backends": []}
        })
        .to_string()
    };
    for (input, want) in [
        (spec(4_000_000_000, 10_000, 0), "rooms"),
        (spec(1, 1, 7), "process 7 of 2"),
        ("{not json".to_string(), "bad spec"),
    ] {
        let mut child = quizrace_cmd(&["__worker"], &[])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(want), "{want}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// `--history DIR` writes one file per strategy that `quizrace check`
/// reads back: the correct strategy's history is linearizable (exit 0),
/// the racy one's is not (exit 1, with a witness).
#[test]
fn histories_round_trip_through_check() {
    let dir = TempDir::new("history");
    let d = dir.path().to_str().unwrap();
    let out = quizrace(&[
        "run",
        "-s",
        "racy-rmw",
        "-s",
        "atomic",
        "--quick",
        "--history",
        d,
    ]);
    assert!(out.success(), "{}", out.all());
    let file = |s: &str| dir.path().join(format!("default-{s}.jsonl"));
    let text = std::fs::read_to_string(file("atomic")).unwrap();
    let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["schema"], "quizrace.history.v1");
    assert_eq!(header["strategy"], "atomic");
    let first: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    for key in [
        "room_round",
        "worker",
        "player",
        "invoke_ns",
        "response_ns",
        "value",
        "outcome",
    ] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    let good = quizrace(&["check", file("atomic").to_str().unwrap()]);
    assert_eq!(good.code, Some(0), "{}", good.all());
    assert!(good.stdout.contains(": linearizable"), "{}", good.stdout);
    let bad = quizrace(&["check", file("racy-rmw").to_str().unwrap()]);
    assert_eq!(bad.code, Some(1), "{}", bad.all());
    bad.assert_no_panic();
    assert!(bad.stdout.contains("not linearizable"), "{}", bad.stdout);
    assert!(bad.stdout.contains("duplicate_value"), "{}", bad.stdout);
    // One file for several strategies is refused before anything runs.
    let one = dir.path().join("one.jsonl");
    bad_input(
        &[
            "run",
            "-s",
            "racy-rmw",
            "-s",
            "atomic",
            "--quick",
            "--history",
            one.to_str().unwrap(),
        ],
        &["--history", "give an existing directory"],
    );
}

/// Bad history files exit 2 with the line and what is wrong.
#[test]
fn check_refuses_bad_history_files_with_the_line() {
    let dir = TempDir::new("badhistory");
    let header = r#"{"schema":"quizrace.history.v1"}"#;
    let ok =
        r#"{"room_round":1,"worker":0,"invoke_ns":1,"response_ns":2,"value":1,"outcome":"ok"}"#;
    let cases: &[(&str, String, &[&str])] = &[
        ("empty", String::new(), &["empty"]),
        (
            "schema",
            r#"{"schema":"quizrace.result.v2"}"#.to_string(),
            &["line 1"],
        ),
        ("json", format!("{header}\n{ok}\n{{not json\n"), &["line 3"]),
        (
            "outcome",
            format!("{header}\n{}\n", ok.replace("\"ok\"", "\"maybe\"")),
            &["line 2", "maybe"],
        ),
        (
            "order",
            format!(
                "{header}\n{}\n",
                ok.replace("\"invoke_ns\":1", "\"invoke_ns\":5")
            ),
            &["line 2"],
        ),
    ];
    for (name, text, expect) in cases {
        let path = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&path, text).unwrap();
        bad_input(&["check", path.to_str().unwrap()], expect);
    }
    bad_input(
        &["check", "/nonexistent/h.jsonl"],
        &["/nonexistent/h.jsonl"],
    );
}

/// `explain --svg` draws a room-round that broke, its witness in red.
#[test]
fn explain_draws_the_broken_room_round() {
    let dir = TempDir::new("svg");
    let svg = dir.path().join("t.svg");
    let out = quizrace(&["explain", "racy-rmw", "--svg", svg.to_str().unwrap()]);
    assert!(out.success(), "{}", out.all());
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.ends_with("</svg>"),
        "{text}"
    );
    assert!(
        text.contains("worker 0") && text.contains("<rect"),
        "{text}"
    );
    assert!(
        text.contains("#d7191c"),
        "the witness is highlighted: {text}"
    );
}

/// `--color`: never colours, always does (even into a pipe); auto does not
/// into a pipe, and neither does TERM=dumb with --color unset.
#[test]
fn color_flag_and_term_dumb() {
    let args = ["explain", "atomic"];
    let never = quizrace_env(&[&args[..], &["--color", "never"]].concat(), &[]);
    assert!(never.success(), "{}", never.all());
    assert!(!never.stdout.contains('\x1b'), "{}", never.stdout);
    // The helper sets NO_COLOR; --color always wins over it.
    let always = quizrace(&["--color", "always", "explain", "atomic"]);
    assert!(always.success(), "{}", always.all());
    assert!(always.stdout.contains("\x1b[1m"), "{}", always.stdout);
    let mut dumb = quizrace_cmd(&["list"], &[("TERM", "dumb")]);
    dumb.env_remove("NO_COLOR");
    let out = dumb.output().unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
    let bad = quizrace(&["--color", "sometimes", "list"]);
    assert_eq!(bad.code, Some(2), "{}", bad.all());
}

#[test]
fn completions_print_a_script() {
    let out = quizrace(&["completions", "bash"]);
    assert!(out.success(), "{}", out.all());
    assert!(out.stdout.contains("complete -F"), "{}", out.stdout);
    assert!(out.stdout.contains("explain"), "{}", out.stdout);
    for shell in ["zsh", "fish"] {
        let out = quizrace(&["completions", shell]);
        assert!(out.success() && out.stdout.contains("quizrace"), "{shell}");
    }
    assert_eq!(quizrace(&["completions", "tcsh"]).code, Some(2));
}

#[test]
fn help_gives_examples_and_exit_codes() {
    for args in [&["--help"][..], &["run", "--help"], &["explain", "--help"]] {
        let out = quizrace(args);
        assert!(out.success(), "{args:?}");
        assert!(
            out.stdout.contains("Exit codes"),
            "{args:?}: {}",
            out.stdout
        );
        assert!(out.stdout.contains("Example"), "{args:?}: {}", out.stdout);
    }
}

#[test]
fn quiet_check_prints_one_line_when_it_passes() {
    let out = quizrace(&[
        "run",
        "-s",
        "atomic",
        "-s",
        "racy-rmw",
        "--rooms",
        "20",
        "--rounds",
        "4",
        "--trials",
        "2",
        "--min-time",
        "0s",
        "--quiet",
        "--check",
    ]);
    assert!(out.success(), "{}", out.all());
    let lines: Vec<_> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert!(
        lines[0].starts_with("check passed: 2 strategies in 1 scenario (2 results)"),
        "{}",
        lines[0]
    );
}

/// Counts agree with their nouns and durations carry proper units.
#[test]
fn plurals_and_units_in_the_table() {
    let out = quizrace(&[
        "run",
        "-s",
        "atomic",
        "--rooms",
        "1",
        "--rounds",
        "1",
        "--players",
        "8",
        "--workers",
        "1",
        "--trials",
        "1",
        "--min-time",
        "0s",
        "--window",
        "2ms",
    ]);
    assert!(out.success(), "{}", out.all());
    let s = &out.stdout;
    assert!(
        s.contains("1 room x 8 players x 1 round = 8 answers"),
        "{s}"
    );
    assert!(s.contains("| 1 worker |"), "{s}");
    assert!(s.contains("window 2 ms"), "{s}");
    assert!(s.contains("0 ns of measured time"), "{s}");
    // No `7891ns` or `2160.6us`: a number, a space, a unit.
    let glued = s.split_whitespace().find(|w| {
        w.starts_with(|c: char| c.is_ascii_digit())
            && ["ns", "us", "µs", "ms"].iter().any(|u| w.ends_with(u))
    });
    assert_eq!(glued, None, "{s}");
    let row = s.lines().find(|l| l.starts_with("atomic")).unwrap();
    // The unit follows its number after a space (which unit depends on how
    // loaded the machine is: a preempted call takes milliseconds).
    assert!(
        [" ns", " µs", " ms"].iter().any(|u| row.contains(u)),
        "{row}"
    );
    assert!(!row.contains("ok"), "no outcome columns in process: {s}");
}

/// Prose wraps at 80 columns when standard output is not a terminal.
#[test]
fn prose_wraps_to_80_columns() {
    let mut c = quizrace_cmd(&["explain", "atomic"], &[]);
    c.env_remove("COLUMNS");
    let out = c.output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for l in s.lines() {
        assert!(l.chars().count() <= 80, "longer than 80: {l}");
    }
    assert!(!s.contains("verdict exact ,"), "{s}");
    assert!(s.contains("4 workers on threads"), "{s}");
}

/// A Redis strategy with no server: the explanation, then a note saying
/// how to see a real run, exit 2, and no error chain.
#[test]
fn explain_without_a_server_ends_with_a_note() {
    let port = crate::support::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let out = quizrace(&["explain", "redis-incrby", "--redis-url", &url]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    let last = out.stdout.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("No Redis server answered at {url}")),
        "{}",
        out.stdout
    );
    assert!(last.contains("--redis-url"), "{last}");
    assert!(!out.stderr.contains("caused by"), "{}", out.stderr);
    assert!(!out.stderr.contains("error:"), "{}", out.stderr);
}

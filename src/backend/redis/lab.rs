//! The Redis lab: servers quizrace starts itself, for a scenario that asks
//! for them (`[redis] lab = "primary-replica"` or `"cluster"`).
//!
//! Every server is `redis-server` from `PATH`, on a free loopback port
//! (never 6379), with persistence off and a directory of its own under one
//! temporary directory, `quizrace-lab-<pid>-<n>`. The lab stops them (and
//! removes the directory) when it is dropped at the end of the scenario,
//! and on Ctrl-C through the interrupt registry; on Linux each server also
//! gets `SIGKILL` if quizrace itself dies (`PR_SET_PDEATHSIG`), so not even
//! a `kill -9` leaves a server running (only the directory).
//!
//! * `primary-replica`: a primary and one replica (`--replicaof`), with
//!   diskless replication and no delay, so that a resynchronisation after a
//!   failover takes milliseconds; clients find the primary by `ROLE`.
//! * `cluster`: three primaries (`--cluster-enabled yes`) joined by
//!   `redis-cli --cluster create … --cluster-yes`; ready when every node says
//!   `cluster_state:ok`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backend::interrupt::{self, Cleanup, Registration};
use crate::strategy::SetupError;

/// Which servers a lab starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabKind {
    /// A primary and one replica: the failover lab.
    PrimaryReplica,
    /// A Redis Cluster of three primaries.
    Cluster,
}

impl LabKind {
    /// Parses a scenario's `lab` value.
    pub fn from_name(name: &str) -> Option<LabKind> {
        match name {
            "primary-replica" => Some(LabKind::PrimaryReplica),
            "cluster" => Some(LabKind::Cluster),
            _ => None,
        }
    }

    /// The name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            LabKind::PrimaryReplica => "primary-replica",
            LabKind::Cluster => "cluster",
        }
    }
}

/// How long a server may take to answer, a replica to synchronise, or a
/// cluster to agree.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// Running lab servers; stopped when dropped.
pub(crate) struct Lab {
    inner: Arc<Inner>,
    /// Each server's URL, in start order (the primary first).
    pub(crate) urls: Vec<String>,
    _registration: Registration,
}

struct Inner {
    servers: Mutex<Vec<Child>>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl Inner {
    /// Stops every server and removes the directory; returns how many
    /// servers were stopped.
    fn stop(&self) -> u64 {
        let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let n = servers.len() as u64;
        for child in servers.iter_mut() {
            let _ = child.kill();
        }
        for mut child in servers.drain(..) {
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        n
    }
}

impl Cleanup for Inner {
    fn describe(&self) -> String {
        format!(
            "the Redis lab's servers (redis-server on ports {}) and their directory {}",
            self.ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            self.dir.display()
        )
    }

    fn clean_now(&self) -> Result<u64, SetupError> {
        Ok(self.stop())
    }

    fn manual_cleanup(&self) -> String {
        format!(
            "redis-cli -p <port> shutdown nosave for each port above, and rm -rf {}",
            self.dir.display()
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.inner.stop();
    }
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("ports", &self.inner.ports)
            .finish_non_exhaustive()
    }
}

fn lab_error(msg: impl Into<String>) -> SetupError {
    SetupError::Backend(format!("the Redis lab: {}", msg.into()))
}

/// A loopback port nobody listens on right now (never 6379). A cluster
/// node also listens on its port + 10000 (the cluster bus), so for one the
/// port must be at most 55535 and that one free too.
fn free_port(cluster: bool) -> Result<u16, SetupError> {
    for _ in 0..10_000 {
        let l = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| lab_error(format!("finding a free port: {e}")))?;
        let port = l
            .local_addr()
            .map_err(|e| lab_error(format!("finding a free port: {e}")))?
            .port();
        if port == 6379 {
            continue;
        }
        if !cluster {
            return Ok(port);
        }
        if port <= 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return Ok(port);
        }
    }
    Err(lab_error(
        "found no free loopback port (with a free port 10000 above it)",
    ))
}

impl Lab {
    /// Starts the servers of `kind` and waits until they are ready.
    pub(crate) fn start(kind: LabKind) -> Result<Lab, SetupError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "quizrace-lab-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let count = match kind {
            LabKind::PrimaryReplica => 2,
            LabKind::Cluster => 3,
        };
        let mut ports = Vec::with_capacity(count);
        let cluster = kind == LabKind::Cluster;
        for _ in 0..count {
            let mut p = free_port(cluster)?;
            while ports.contains(&p) || ports.iter().any(|&q| q + 10000 == p || p + 10000 == q) {
                p = free_port(cluster)?;
            }
            ports.push(p);
        }
        // Created once the ports are known: nothing to remove before.
        std::fs::create_dir_all(&dir)
            .map_err(|e| lab_error(format!("creating {}: {e}", dir.display())))?;
        let inner = Arc::new(Inner {
            servers: Mutex::new(Vec::new()),
            ports: ports.clone(),
            dir: dir.clone(),
        });
        // Registered before the first server starts: Ctrl-C from here on
        // stops whatever has started.
        let registration = interrupt::register(inner.clone());
        let urls = ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        let lab = Lab {
            inner,
            urls,
            _registration: registration,
        };
        for (i, &port) in ports.iter().enumerate() {
            let mut args: Vec<String> = Vec::new();
            match kind {
                LabKind::PrimaryReplica => {
                    args.extend(
                        [
                            "--repl-diskless-sync",
                            "yes",
                            "--repl-diskless-sync-delay",
                            "0",
                        ]
                        .map(String::from),
                    );
                    if i > 0 {
                        args.extend([
                            "--replicaof".into(),
                            "127.0.0.1".into(),
                            ports[0].to_string(),
                        ]);
                    }
                }
                LabKind::Cluster => args.extend(
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "5000",
                    ]
                    .map(String::from),
                ),
            }
            lab.spawn(port, &args)?;
        }
        for &port in &ports {
            lab.wait_for_ping(port)?;
        }
        match kind {
            LabKind::PrimaryReplica => lab.wait_for_replica()?,
            LabKind::Cluster => lab.create_cluster()?,
        }
        Ok(lab)
    }

    fn spawn(&self, port: u16, extra: &[String]) -> Result<(), SetupError> {
        let dir = self.inner.dir.join(port.to_string());
        std::fs::create_dir_all(&dir)
            .map_err(|e| lab_error(format!("creating {}: {e}", dir.display())))?;
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--loglevel", "warning", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the forked child before exec and
            // only calls prctl, which is async-signal-safe; it allocates
            // nothing and touches no lock.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SetupError::Backend(
                    "this scenario asks quizrace to start its own Redis servers ([redis] lab, \
                     --redis-lab), which needs `redis-server` on PATH, and there is none: \
                     install it (apt-get install redis-server), or run without the lab against \
                     your own server (--redis-url)"
                        .into(),
                )
            } else {
                lab_error(format!("starting redis-server on port {port}: {e}"))
            }
        })?;
        self.inner
            .servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child);
        Ok(())
    }

    /// An exited server's status, if one exited.
    fn exited(&self) -> Option<String> {
        let mut servers = self.inner.servers.lock().unwrap_or_else(|p| p.into_inner());
        servers.iter_mut().find_map(|c| {
            c.try_wait()
                .ok()
                .flatten()
                .map(|s| format!("a redis-server exited ({s}) while starting"))
        })
    }

    fn connection(&self, port: u16) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{port}"))?
            .get_connection_with_timeout(Duration::from_secs(2))
    }

    fn wait_for_ping(&self, port: u16) -> Result<(), SetupError> {
        self.wait_until(
            &format!("redis-server on port {port} to answer PING"),
            || {
                let mut c = self.connection(port).ok()?;
                redis::cmd("PING").query::<String>(&mut c).ok().map(drop)
            },
        )
    }

    /// Polls `ready` every 20 ms until it gives something, a server exits,
    /// or [`READY_WITHIN`] passes.
    fn wait_until<T>(
        &self,
        what: &str,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Result<T, SetupError> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(v) = ready() {
                return Ok(v);
            }
            if let Some(why) = self.exited() {
                return Err(lab_error(format!("{why}; it was waiting for {what}")));
            }
            if interrupt::interrupted() {
                return Err(lab_error("interrupted while starting"));
            }
            if Instant::now() > deadline {
                return Err(lab_error(format!(
                    "gave up after {} s waiting for {what}",
                    READY_WITHIN.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_for_replica(&self) -> Result<(), SetupError> {
        let replica = self.inner.ports[1];
        self.wait_until("the replica to synchronise with the primary", || {
            let mut c = self.connection(replica).ok()?;
            let info: String = redis::cmd("INFO").arg("replication").query(&mut c).ok()?;
            info.lines()
                .any(|l| l.trim() == "master_link_status:up")
                .then_some(())
        })
    }

    fn create_cluster(&self) -> Result<(), SetupError> {
        let mut cmd = Command::new("redis-cli");
        cmd.arg("--cluster").arg("create");
        for p in &self.inner.ports {
            cmd.arg(format!("127.0.0.1:{p}"));
        }
        cmd.args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null());
        let out = cmd.output().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SetupError::Backend(
                    "the cluster lab joins its servers with `redis-cli --cluster create`, and \
                     there is no redis-cli on PATH: install it (apt-get install redis-tools)"
                        .into(),
                )
            } else {
                lab_error(format!("running redis-cli --cluster create: {e}"))
            }
        })?;
        if !out.status.success() {
            return Err(lab_error(format!(
                "redis-cli --cluster create failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .chain(String::from_utf8_lossy(&out.stderr).lines())
                    .filter(|l| l.contains("ERR") || l.contains("rror"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        for &port in &self.inner.ports {
            self.wait_until(
                &format!("the cluster node on port {port} to say cluster_state:ok"),
                || {
                    let mut c = self.connection(port).ok()?;
                    let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).ok()?;
                    info.lines()
                        .any(|l| l.trim() == "cluster_state:ok")
                        .then_some(())
                },
            )?;
        }
        Ok(())
    }
}

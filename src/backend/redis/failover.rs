//! The failover fault ([`crate::backend::Failover`]) on the lab's primary
//! and replica, the way Sentinel performs it when a partition cuts the
//! primary off from the majority while its clients still reach it:
//!
//! 1. at T1 = `failover_at` after the workers start, the replica is
//!    promoted (`REPLICAOF NO ONE`). The old primary does not know: it
//!    keeps acknowledging its clients' writes, which no longer reach
//!    anybody else;
//! 2. at T2 = T1 + `failover_for`, the old primary is made a replica of
//!    the new one (`REPLICAOF host port`, what Sentinel does once it
//!    can reach it again), which throws its data set away and copies the
//!    new primary's; its clients are disconnected (`CLIENT KILL TYPE
//!    normal`) and reconnect to whichever node says `ROLE` master.
//!
//! Everything the old primary acknowledged between T1 and T2 is lost, as
//! long as answers arrive in that window: the loss does not depend on
//! replication lag, which on loopback is microseconds (so "kill the
//! primary" usually loses nothing), but on the window, which quizrace sets.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::Value;

use super::Site;
use crate::backend::{interrupt, note_event, Failover};
use crate::strategy::SetupError;

/// How long set-up waits for the replica to be in sync before a failover.
const SYNC_WITHIN: Duration = Duration::from_secs(20);

fn fault_error(msg: impl Into<String>) -> SetupError {
    SetupError::Backend(format!("failover fault: {}", msg.into()))
}

fn connect(url: &str) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))
}

/// The node's role (`master` or `slave`) and, for a replica, whether its
/// link to the primary is up.
fn role(url: &str) -> redis::RedisResult<(String, bool)> {
    let mut c = connect(url)?;
    let role: Vec<Value> = redis::cmd("ROLE").query(&mut c)?;
    let name = match role.first() {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    let info: String = redis::cmd("INFO").arg("replication").query(&mut c)?;
    let up = info.lines().any(|l| l.trim() == "master_link_status:up");
    Ok((name, up))
}

/// The lab's primary and replica URLs, once the replica is in sync (after
/// the previous trial's failover the old primary resynchronises).
fn primary_and_replica(site: &Site) -> Result<(String, String), SetupError> {
    let urls: Vec<String> = site.cfg.urls().map(String::from).collect();
    let deadline = Instant::now() + SYNC_WITHIN;
    loop {
        let mut primary = None;
        let mut replica = None;
        let mut primaries = 0;
        for u in &urls {
            match role(u) {
                Ok((r, _)) if r == "master" => {
                    primaries += 1;
                    primary = Some(u.clone());
                }
                Ok((r, true)) if r == "slave" => replica = Some(u.clone()),
                _ => {}
            }
        }
        if primaries > 1 {
            return Err(fault_error(
                "both lab servers say they are the primary (an earlier failover did not \
                 complete), so there is no replica to promote",
            ));
        }
        if let (Some(p), Some(r)) = (primary, replica) {
            return Ok((p, r));
        }
        if Instant::now() > deadline || interrupt::interrupted() {
            return Err(fault_error(format!(
                "the lab's replica was not in sync with its primary within {} s",
                SYNC_WITHIN.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A failover scheduled on a thread of its own.
#[derive(Debug)]
pub(crate) struct FailoverInjector {
    cancel: mpsc::Sender<()>,
    thread: JoinHandle<Result<bool, SetupError>>,
}

impl FailoverInjector {
    /// Waits for the replica to be in sync, then schedules the failover
    /// `delay + failover.at` from now.
    pub(crate) fn start(
        site: &Site,
        delay: Duration,
    ) -> Result<Option<FailoverInjector>, SetupError> {
        let Some(failover) = site.faults.failover else {
            return Ok(None);
        };
        let (primary, replica) = primary_and_replica(site)?;
        let (cancel, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || inject(primary, replica, failover, delay, rx));
        Ok(Some(FailoverInjector { cancel, thread }))
    }

    /// Completes the failover (at once, if the run ended between T1 and
    /// T2, so that one primary holds the counts), cancels one not yet due,
    /// and reports whether it happened.
    pub(crate) fn finish(self) -> Result<bool, SetupError> {
        let _ = self.cancel.send(());
        self.thread
            .join()
            .unwrap_or_else(|_| Err(fault_error("the fault-injection thread panicked")))
    }
}

fn inject(
    primary: String,
    replica: String,
    failover: Failover,
    delay: Duration,
    cancel: mpsc::Receiver<()>,
) -> Result<bool, SetupError> {
    let t1 = Instant::now() + delay + failover.at;
    let mut old = connect(&primary).map_err(|e| fault_error(format!("connecting: {e}")))?;
    let mut new = connect(&replica).map_err(|e| fault_error(format!("connecting: {e}")))?;
    match cancel.recv_timeout(t1.saturating_duration_since(Instant::now())) {
        Err(mpsc::RecvTimeoutError::Timeout) => {}
        // The run ended before T1: nothing happened.
        _ => return Ok(false),
    }
    if interrupt::interrupted() {
        return Ok(false);
    }
    // T1: promote the replica. The old primary keeps acknowledging alone.
    redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .exec(&mut new)
        .map_err(|e| fault_error(format!("REPLICAOF NO ONE on the replica: {e}")))?;
    note_event(None, "replica promoted");
    // Until T2, or at once if the run ends first.
    let _ = cancel.recv_timeout(failover.duration);
    // T2: the old primary follows the new one, losing what it acknowledged
    // alone, and its clients move over.
    let port = replica
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
        .ok_or_else(|| fault_error("the replica's URL has no port"))?;
    // A split lab (two primaries) would stall every later trial: retry on
    // a fresh connection before giving up.
    let mut last = None;
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(200));
            match connect(&primary) {
                Ok(c) => old = c,
                Err(e) => {
                    last = Some(format!("reconnecting to the old primary: {e}"));
                    continue;
                }
            }
        }
        let demoted = redis::cmd("REPLICAOF")
            .arg("127.0.0.1")
            .arg(port)
            .exec(&mut old)
            .and_then(|()| {
                redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("normal")
                    .exec(&mut old)
            });
        match demoted {
            Ok(()) => {
                last = None;
                break;
            }
            Err(e) => last = Some(format!("REPLICAOF/CLIENT KILL on the old primary: {e}")),
        }
    }
    if let Some(e) = last {
        return Err(fault_error(format!(
            "{e}; both lab servers may now be primaries"
        )));
    }
    note_event(None, "old primary demoted");
    // Counts are read next, and redis-incrby-wait's set-up wants a
    // connected replica: wait until the demoted node has resynchronised.
    let deadline = Instant::now() + SYNC_WITHIN;
    while Instant::now() < deadline && !interrupt::interrupted() {
        if matches!(role(&primary), Ok((r, true)) if r == "slave") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(true)
}

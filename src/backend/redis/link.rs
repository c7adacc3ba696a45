//! Connections: multiplexed connections shared by a strategy's handles (one
//! per runtime worker thread), each replaced after it breaks, and a handle's
//! retrying calls over them.
//!
//! A [`Connection`] is either one server's multiplexed connection or redis-rs's
//! cluster client (which follows `MOVED`/`ASK` and refreshes the slot map
//! itself). With several nodes to choose from (the failover lab's primary and
//! replica), a connection goes to the node whose `ROLE` says `master`, as a
//! Sentinel-aware client asks Sentinel: after a failover, a reconnect finds
//! the new primary.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, RedisFuture, Value};

use super::errors::{explain, failure};
use super::Site;
use crate::backend::retry::{Failure, Fate, Next, Retry};
use crate::strategy::SetupError;

fn connection_config(site: &Site, response: Duration) -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(site.faults.connect_timeout))
        .set_response_timeout(Some(response))
}

/// A connection to one server, or to a cluster through redis-rs's cluster
/// client; cloning shares it (both multiplex their callers' commands).
#[derive(Clone)]
pub(crate) enum Connection {
    /// One server (the URL's, or the primary among the lab's nodes).
    Node(MultiplexedConnection),
    /// A Redis Cluster: commands go to the primary of their key's slot.
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Node(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Node(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

fn bad_url(m: crate::backend::BackendError) -> RedisError {
    RedisError::from((ErrorKind::InvalidClientConfig, "bad URL", m.to_string()))
}

/// Opens a connection with the response timeout `response`: through the
/// cluster client for a cluster, else to the URL's server or, with several
/// nodes, to the one that says it is the primary.
pub(crate) async fn open_with(site: &Site, response: Duration) -> Result<Connection, RedisError> {
    if site.cfg.is_cluster() {
        let client = redis::cluster::ClusterClient::builder(vec![site
            .cfg
            .connection_info()
            .map_err(bad_url)?])
        .connection_timeout(site.faults.connect_timeout)
        .response_timeout(response)
        // Redirections (MOVED/ASK) and topology changes need a few
        // attempts; the run's own retry policy stays ours (faults that
        // time commands out are refused on a cluster).
        .retries(3)
        .build()?;
        return Ok(Connection::Cluster(client.get_async_connection().await?));
    }
    Ok(Connection::Node(open_node_with(site, response).await?))
}

/// Opens a multiplexed connection to one server: the URL's, or the primary
/// among the configured nodes (see the module's docs).
pub(crate) async fn open_node_with(
    site: &Site,
    response: Duration,
) -> Result<MultiplexedConnection, RedisError> {
    let config = connection_config(site, response);
    let nodes = site.cfg.nodes().map_err(bad_url)?;
    if nodes.len() == 1 {
        return redis::Client::open(nodes[0].clone())?
            .get_multiplexed_async_connection_with_config(&config)
            .await;
    }
    let mut last = None;
    for node in nodes {
        let attempt = async {
            let mut c = redis::Client::open(node)?
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut c).await?;
            Ok::<_, RedisError>((
                matches!(role.first(), Some(Value::BulkString(r)) if r == b"master"),
                c,
            ))
        };
        match attempt.await {
            Ok((true, c)) => return Ok(c),
            Ok((false, _)) => {}
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        RedisError::from((
            ErrorKind::Io,
            "no primary",
            "none of the lab's nodes says it is the primary (ROLE)".to_string(),
        ))
    }))
}

/// Opens one connection with the run's timeouts.
async fn open(site: &Site) -> Result<Connection, RedisError> {
    open_with(site, site.faults.response_timeout).await
}

/// Connections shared by handles, each replaced after it breaks.
///
/// A link has one or more *lanes*, each a [`MultiplexedConnection`] (or a
/// cluster connection) with its own socket and the task that drives it.
/// Handles are dealt round-robin to the lanes, clone their lane's connection
/// once and then use their clone with no shared state on the hot path: 50
/// tasks pipeline their commands over the lanes' sockets. redis-rs's
/// `ConnectionManager` would also reconnect, but it consults an `ArcSwap`
/// and a shared future on every command; here a lane's lock is only taken
/// after its connection broke.
///
/// One lane per runtime worker thread ([`Link::connect_per_worker`]) gives
/// each thread of a multi-thread runtime a socket of its own. On the 2-core
/// VM that bought little (about +4 % for `redis-incrby` at 50 workers): a
/// task still wakes on whichever thread is free, away from its socket's
/// driver. Runs therefore use current-thread runtimes, one lane each: the
/// `tokio` runtime runs a server's strategy thread-per-core
/// (`sim::tokio_rt`), which made a bare INCR loop ~1.6 times as fast. The
/// benches still set strategies up on a multi-thread runtime.
pub(crate) struct Link {
    site: Site,
    lanes: Vec<Lane>,
    /// The lane the next handle gets (round-robin).
    next: AtomicUsize,
}

/// One lane: its current connection and that connection's generation, and
/// the time of its last failed reconnect, so a dead server is not hammered
/// by every handle.
type Lane = tokio::sync::Mutex<(u64, Connection, Option<Instant>)>;

/// While a reconnect failed this recently, other handles fail at once
/// instead of each waiting for their own refused connect.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(20);

impl Link {
    /// Connects one lane and checks the server with `PING`; errors say how
    /// to fix them.
    pub(crate) async fn connect(site: &Site) -> Result<Arc<Link>, SetupError> {
        Self::connect_lanes(site, 1).await
    }

    /// Connects one lane per worker thread of the current tokio runtime (one
    /// on a current-thread runtime, so each worker process keeps one); a
    /// cluster connection already holds a socket per node and gets one lane.
    pub(crate) async fn connect_per_worker(site: &Site) -> Result<Arc<Link>, SetupError> {
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        let lanes = if site.cfg.is_cluster() {
            1
        } else {
            workers.max(1)
        };
        Self::connect_lanes(site, lanes).await
    }

    async fn connect_lanes(site: &Site, n: usize) -> Result<Arc<Link>, SetupError> {
        let mut lanes = Vec::with_capacity(n);
        for _ in 0..n {
            let mut conn = open(site)
                .await
                .map_err(|e| explain(site, "connecting", &e))?;
            if lanes.is_empty() {
                super::admin::ping(site, &mut conn).await?;
            }
            lanes.push(tokio::sync::Mutex::new((0, conn, None)));
        }
        Ok(Arc::new(Link {
            site: site.clone(),
            lanes,
            next: AtomicUsize::new(0),
        }))
    }

    /// A handle's own view of the link, on the next lane.
    ///
    /// `reset_on_any_error` is for `redis-watch`: after any error the
    /// server-side state of the connection (`WATCH`, an open `MULTI`) is
    /// unknown, so the handle starts afresh on a new connection.
    pub(crate) async fn conn(self: &Arc<Link>, reset_on_any_error: bool) -> Conn {
        let lane = self.next.fetch_add(1, Ordering::Relaxed);
        self.conn_on(lane, reset_on_any_error).await
    }

    /// A handle's own view of lane `lane` (modulo the number of lanes).
    pub(crate) async fn conn_on(self: &Arc<Link>, lane: usize, reset_on_any_error: bool) -> Conn {
        let lane = lane % self.lanes.len();
        let g = self.lanes[lane].lock().await;
        Conn {
            link: self.clone(),
            lane,
            conn: g.1.clone(),
            generation: g.0,
            broken: false,
            reset_on_any_error,
            retries: self.site.faults.retries,
            retried: 0,
        }
    }

    /// How many lanes (sockets) this link has.
    pub(crate) fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// A connection for one-off commands at set-up (script loading).
    pub(crate) async fn get(&self) -> Connection {
        self.lanes[0].lock().await.1.clone()
    }
}

/// One thing to send: a command, a pipeline, or a loaded script.
#[derive(Clone, Copy)]
pub(crate) enum Op<'a> {
    /// One command.
    Cmd(&'a redis::Cmd),
    /// A pipeline (or a `MULTI`/`EXEC` block).
    Pipe(&'a redis::Pipeline),
    /// `EVALSHA` of a loaded script with these keys and arguments; redis-rs
    /// reloads it if the server lost its script cache (after a restart).
    Script(&'a redis::Script, &'a [&'a str], &'a [u32]),
}

/// A handle's connection: a clone of the link's, replaced after it broke.
pub(crate) struct Conn {
    link: Arc<Link>,
    /// The link's lane this handle was dealt.
    lane: usize,
    conn: Connection,
    generation: u64,
    broken: bool,
    reset_on_any_error: bool,
    retries: u32,
    /// Client retries this handle performed (reported in the results).
    pub(crate) retried: u64,
}

impl Conn {
    /// Sends `op`, retrying per the run's policy ([`Retry`]); the error is
    /// the answer's fate over all attempts.
    pub(crate) async fn call<T: redis::FromRedisValue>(&mut self, op: Op<'_>) -> Result<T, Fate> {
        let mut policy = Retry::new(self.retries);
        loop {
            match self.attempt(op).await {
                Ok(v) => return Ok(v),
                Err(f) => match policy.next(f) {
                    Next::Retry(wait) => {
                        self.retried += 1;
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    Next::GiveUp(fate) => return Err(fate),
                },
            }
        }
    }

    /// Sends `op` once; reconnects first if the last attempt broke the
    /// connection. A failed reconnect sent nothing.
    pub(crate) async fn attempt<T: redis::FromRedisValue>(
        &mut self,
        op: Op<'_>,
    ) -> Result<T, Failure> {
        if self.broken {
            self.reconnect().await?;
        }
        let r = match op {
            Op::Cmd(c) => c.query_async(&mut self.conn).await,
            Op::Pipe(p) => p.query_async(&mut self.conn).await,
            Op::Script(script, keys, args) => {
                let mut inv = script.prepare_invoke();
                for k in keys {
                    inv.key(*k);
                }
                for a in args {
                    inv.arg(*a);
                }
                inv.invoke_async(&mut self.conn).await
            }
        };
        r.map_err(|e| {
            if self.reset_on_any_error
                || e.is_unrecoverable_error()
                || e.is_connection_dropped()
                || super::errors::is_read_only(&e)
                || super::errors::is_unblocked(&e)
            {
                self.broken = true;
            }
            failure(&e)
        })
    }

    async fn reconnect(&mut self) -> Result<(), Failure> {
        let mut g = self.link.lanes[self.lane].lock().await;
        // With `reset_on_any_error` the connection is this handle's alone.
        if g.0 == self.generation || self.reset_on_any_error {
            if g.2.is_some_and(|t| t.elapsed() < RECONNECT_BACKOFF) {
                return Err(Failure::NOT_SENT);
            }
            match open(&self.link.site).await {
                Ok(c) => *g = (g.0 + 1, c, None),
                Err(_) => {
                    g.2 = Some(Instant::now());
                    return Err(Failure::NOT_SENT);
                }
            }
        }
        self.conn = g.1.clone();
        self.generation = g.0;
        self.broken = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's id of the connection behind `c`.
    async fn client_id(c: &mut Conn) -> i64 {
        redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut c.conn)
            .await
            .unwrap()
    }

    /// Deals `n` handles and returns each one's (lane, server connection id).
    async fn deal(n: usize) -> Vec<(usize, i64)> {
        // Needs the Redis server every machine runs (QUIZRACE_REDIS_URL to
        // use another): a missing server fails the test.
        let url =
            std::env::var("QUIZRACE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let env = crate::backend::configure(&[(&super::super::FAMILY, url)], &[]).unwrap();
        let site = Site::of(&env, "t").unwrap();
        let link = Link::connect_per_worker(&site).await.unwrap();
        let mut out = Vec::new();
        for _ in 0..n {
            let mut c = link.conn(false).await;
            out.push((c.lane, client_id(&mut c).await));
        }
        out
    }

    #[test]
    fn each_worker_thread_gets_a_socket_of_its_own_and_handles_are_dealt_round_robin() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .enable_all()
            .build()
            .unwrap();
        let dealt = rt.block_on(deal(7));
        let lanes: Vec<usize> = dealt.iter().map(|d| d.0).collect();
        assert_eq!(lanes, [0, 1, 2, 0, 1, 2, 0]);
        let ids: std::collections::BTreeSet<i64> = dealt.iter().map(|d| d.1).collect();
        assert_eq!(
            ids.len(),
            3,
            "three lanes, three server connections: {dealt:?}"
        );
        for (lane, id) in &dealt {
            assert_eq!(*id, dealt[*lane].1, "a lane's handles share its socket");
        }
    }

    #[test]
    fn a_current_thread_runtime_keeps_one_socket() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dealt = rt.block_on(deal(4));
        assert!(
            dealt
                .iter()
                .all(|&(lane, id)| lane == 0 && id == dealt[0].1),
            "{dealt:?}"
        );
    }
}

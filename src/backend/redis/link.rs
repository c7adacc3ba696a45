//! Connections: one multiplexed connection shared by a strategy's handles,
//! replaced after it breaks, and a handle's retrying calls over it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError};

use super::errors::{explain, failure};
use super::Site;
use crate::backend::retry::{Failure, Fate, Next, Retry};
use crate::strategy::SetupError;

fn connection_config(site: &Site, response: Duration) -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(site.faults.connect_timeout))
        .set_response_timeout(Some(response))
}

/// Opens one multiplexed connection with the response timeout `response`.
pub(crate) async fn open_with(
    site: &Site,
    response: Duration,
) -> Result<MultiplexedConnection, RedisError> {
    let client = site.cfg.client().map_err(|m| {
        RedisError::from((ErrorKind::InvalidClientConfig, "bad URL", m.to_string()))
    })?;
    client
        .get_multiplexed_async_connection_with_config(&connection_config(site, response))
        .await
}

/// Opens one multiplexed connection with the run's timeouts.
async fn open(site: &Site) -> Result<MultiplexedConnection, RedisError> {
    open_with(site, site.faults.response_timeout).await
}

/// A connection shared by handles, and its replacement after it breaks.
///
/// Handles clone the [`MultiplexedConnection`] once and then use their
/// clone with no shared state on the hot path: 50 tasks pipeline their
/// commands over one socket. redis-rs's `ConnectionManager` would also
/// reconnect, but it consults an `ArcSwap` and a shared future on every
/// command; here the shared lock is only taken after a connection broke.
pub(crate) struct Link {
    site: Site,
    /// The current connection and its generation; the time of the last
    /// failed reconnect, so a dead server is not hammered by every handle.
    current: tokio::sync::Mutex<(u64, MultiplexedConnection, Option<Instant>)>,
}

/// While a reconnect failed this recently, other handles fail at once
/// instead of each waiting for their own refused connect.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(20);

impl Link {
    /// Connects and checks the server with `PING`; errors say how to fix them.
    pub(crate) async fn connect(site: &Site) -> Result<Arc<Link>, SetupError> {
        let mut conn = open(site)
            .await
            .map_err(|e| explain(site, "connecting", &e))?;
        super::admin::ping(site, &mut conn).await?;
        Ok(Arc::new(Link {
            site: site.clone(),
            current: tokio::sync::Mutex::new((0, conn, None)),
        }))
    }

    /// A handle's own view of the link.
    ///
    /// `reset_on_any_error` is for `redis-watch`: after any error the
    /// server-side state of the connection (`WATCH`, an open `MULTI`) is
    /// unknown, so the handle starts afresh on a new connection.
    pub(crate) async fn conn(self: &Arc<Link>, reset_on_any_error: bool) -> Conn {
        let g = self.current.lock().await;
        Conn {
            link: self.clone(),
            conn: g.1.clone(),
            generation: g.0,
            broken: false,
            reset_on_any_error,
            retries: self.site.faults.retries,
            retried: 0,
        }
    }

    /// A connection for one-off commands at set-up (script loading).
    pub(crate) async fn get(&self) -> MultiplexedConnection {
        self.current.lock().await.1.clone()
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
    conn: MultiplexedConnection,
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
            if self.reset_on_any_error || e.is_unrecoverable_error() || e.is_connection_dropped() {
                self.broken = true;
            }
            failure(&e)
        })
    }

    async fn reconnect(&mut self) -> Result<(), Failure> {
        let mut g = self.link.current.lock().await;
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

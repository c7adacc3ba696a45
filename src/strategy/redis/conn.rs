//! Connections, error messages, outcome classification and key clean-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError};

use super::config::RedisConfig;
use crate::strategy::SetupError;

/// Set once the user pressed Ctrl-C: handles stop sending commands, so the
/// clean-up that follows is not undone by late increments.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Whether the run was interrupted (checked once per record call; a relaxed
/// load of a read-mostly flag costs about a nanosecond).
#[inline]
pub(crate) fn stopped() -> bool {
    STOPPED.load(Ordering::Relaxed)
}

/// Whether Ctrl-C clean-up has started in this process.
pub fn interrupted() -> bool {
    STOPPED.load(Ordering::SeqCst)
}

/// Marks the run as interrupted (before worker processes are killed, so
/// that their deaths read as the interrupt, not as failures).
pub fn mark_interrupted() {
    STOPPED.store(true, Ordering::SeqCst);
}

/// Runs whose keys exist right now, for the Ctrl-C clean-up.
static ACTIVE: Mutex<Vec<RedisConfig>> = Mutex::new(Vec::new());

fn active() -> std::sync::MutexGuard<'static, Vec<RedisConfig>> {
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A run's claim on its key prefix: a fresh run id for every strategy run,
/// registered so that Ctrl-C can delete the run's keys.
#[derive(Debug)]
pub struct RunScope {
    run_id: String,
}

impl RunScope {
    /// Gives `cfg` a fresh run id and registers it until the scope drops.
    pub fn begin(cfg: &mut RedisConfig) -> RunScope {
        cfg.run_id = super::config::new_run_id();
        active().push(cfg.clone());
        RunScope {
            run_id: cfg.run_id.clone(),
        }
    }
}

impl Drop for RunScope {
    fn drop(&mut self) {
        active().retain(|c| c.run_id != self.run_id);
    }
}

/// What Ctrl-C clean-up did for one run.
#[derive(Debug)]
pub struct Cleaned {
    /// The key prefix, e.g. `quizrace:18f…:0:`.
    pub prefix: String,
    /// Keys deleted, or why it failed (password-free).
    pub result: Result<u64, String>,
}

/// Stops every Redis handle of this process and deletes the keys of every
/// active run. Called from the Ctrl-C handler; bounded by the timeouts.
pub fn interrupt_cleanup() -> Vec<Cleaned> {
    STOPPED.store(true, Ordering::SeqCst);
    let runs = active().clone();
    if runs.is_empty() {
        return Vec::new();
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return runs
                .iter()
                .map(|c| Cleaned {
                    prefix: c.prefix(),
                    result: Err(format!("could not start a runtime: {e}")),
                })
                .collect()
        }
    };
    rt.block_on(async {
        // A paused server would hold our deletes behind the pause: lift it.
        super::faults::unpause_now().await;
        // Commands already on the wire land within a round trip; give them
        // that long, then delete twice in case one slipped in between.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut out = Vec::new();
        for cfg in &runs {
            let result = async {
                let mut conn = admin(cfg).await?;
                let mut n = delete_prefix(&mut conn, cfg).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
                n += delete_prefix(&mut conn, cfg).await?;
                Ok::<u64, SetupError>(n)
            }
            .await
            .map_err(|e| e.to_string());
            out.push(Cleaned {
                prefix: cfg.prefix(),
                result,
            });
        }
        out
    })
}

/// A `redis` error turned into a message that says what failed and how to
/// fix it. `what` is the step, e.g. "connecting".
pub(crate) fn explain(cfg: &RedisConfig, what: &str, e: &RedisError) -> SetupError {
    let at = cfg.redacted_url();
    let f = &cfg.faults;
    let hint = if e.is_connection_refusal() {
        format!(
            "connection refused: no Redis is listening at {at}. Start redis-server there, or point \
             --redis-url / QUIZRACE_REDIS_URL at a running server"
        )
    } else if e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "WRONGPASS:"))
        || e.to_string().contains("NOAUTH")
        || e.to_string().contains("WRONGPASS")
    {
        format!(
            "authentication failed at {at}: the server rejected the user/password (or needs one). \
             Put them in the URL as redis://:PASSWORD@host:port or redis://USER:PASSWORD@host:port \
             (the password is never shown)"
        )
    } else if e.is_timeout() {
        format!(
            "no reply from {at} within the timeout (connect {:?}, response {:?}): the host may be \
             unreachable, the server paused or overloaded, or the port may belong to something that \
             is not Redis. Check the URL, or raise --connect-timeout / --response-timeout",
            f.connect_timeout, f.response_timeout
        )
    } else if e.kind() == ErrorKind::Parse || e.is_connection_dropped() {
        format!(
            "the server at {at} did not answer in the Redis protocol (or closed the connection): is \
             another service listening on that port? Point --redis-url at a Redis server"
        )
    } else if e.kind() == ErrorKind::Server(redis::ServerErrorKind::NoPerm)
        || e.code() == Some("NOPERM")
    {
        format!(
            "the Redis user at {at} lacks a permission quizrace needs; allow the commands named \
             below (e.g. ACL SETUSER <user> +@all ~quizrace:*)"
        )
    } else {
        format!("Redis at {at} returned an error")
    };
    SetupError::Redis(cfg.scrub(&format!("Redis: {what} failed: {hint} ({e})")))
}

fn connection_config(cfg: &RedisConfig, response: Duration) -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(cfg.faults.connect_timeout))
        .set_response_timeout(Some(response))
}

/// Opens one multiplexed connection with the run's connect and response timeouts.
async fn open(cfg: &RedisConfig) -> Result<MultiplexedConnection, RedisError> {
    let client = cfg
        .client()
        .map_err(|m| RedisError::from((ErrorKind::InvalidClientConfig, "bad URL", m)))?;
    client
        .get_multiplexed_async_connection_with_config(&connection_config(
            cfg,
            cfg.faults.response_timeout,
        ))
        .await
}

/// A connection shared by handles, and its replacement after it breaks.
///
/// Handles clone the [`MultiplexedConnection`] once and then use their
/// clone with no shared state on the hot path: 50 tasks pipeline their
/// commands over one socket. redis-rs's `ConnectionManager` would also
/// reconnect, but it consults an `ArcSwap` and a shared future on every
/// command, which cost about 10% of the INCR rate on two cores (measured
/// with `examples/raw_incr.rs`); here the shared lock is only taken after a
/// connection broke.
pub(crate) struct Link {
    cfg: RedisConfig,
    /// The current connection and its generation; the time of the last
    /// failed reconnect, so a dead server is not hammered by every handle.
    current: tokio::sync::Mutex<(u64, MultiplexedConnection, Option<Instant>)>,
}

/// While a reconnect failed this recently, other handles fail at once
/// instead of each waiting for their own refused connect.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(20);

impl Link {
    /// Connects and checks the server with `PING`; errors say how to fix them.
    pub(crate) async fn connect(cfg: &RedisConfig) -> Result<Arc<Link>, SetupError> {
        let mut conn = open(cfg)
            .await
            .map_err(|e| explain(cfg, "connecting", &e))?;
        ping(cfg, &mut conn).await?;
        Ok(Arc::new(Link {
            cfg: cfg.clone(),
            current: tokio::sync::Mutex::new((0, conn, None)),
        }))
    }

    /// A handle's own view of the link.
    pub(crate) async fn conn(self: &Arc<Link>, reset_on_any_error: bool) -> Conn {
        let g = self.current.lock().await;
        Conn {
            link: self.clone(),
            conn: g.1.clone(),
            generation: g.0,
            broken: false,
            reset_on_any_error,
        }
    }

    /// A connection for one-off commands at set-up (script loading).
    pub(crate) async fn get(&self) -> MultiplexedConnection {
        self.current.lock().await.1.clone()
    }
}

/// Why one attempt failed, as far as the count is concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Failure {
    /// Whether the command may have been applied anyway.
    pub(crate) fate: Fate,
    /// Whether trying again may help.
    pub(crate) transient: bool,
}

impl Failure {
    fn of(e: &RedisError) -> Failure {
        Failure {
            fate: fate(e),
            transient: transient(e),
        }
    }
}

/// A handle's connection: a clone of the link's, replaced after it broke.
pub(crate) struct Conn {
    link: Arc<Link>,
    conn: MultiplexedConnection,
    generation: u64,
    broken: bool,
    /// `redis-watch`: after any error the server-side state of the
    /// connection (WATCH, an open MULTI) is unknown, so start afresh.
    reset_on_any_error: bool,
}

impl Conn {
    /// Sends one command (or pipeline); reconnects first if the last one broke
    /// the connection. A failed reconnect sent nothing: `NotApplied`.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &mut self,
        cmd: &impl Query,
    ) -> Result<T, Failure> {
        if self.broken {
            self.reconnect().await?;
        }
        let r = cmd.run(&mut self.conn).await;
        if let Err(e) = &r {
            self.note(e);
        }
        r.map_err(|e| Failure::of(&e))
    }

    /// Runs a loaded script by SHA (`EVALSHA`; redis-rs reloads it if the
    /// server lost its script cache, e.g. after a restart).
    pub(crate) async fn eval(
        &mut self,
        script: &redis::Script,
        keys: &[&str],
        args: &[u32],
    ) -> Result<u32, Failure> {
        if self.broken {
            self.reconnect().await?;
        }
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        let r = inv.invoke_async(&mut self.conn).await;
        if let Err(e) = &r {
            self.note(e);
        }
        r.map_err(|e| Failure::of(&e))
    }

    fn note(&mut self, e: &RedisError) {
        if self.reset_on_any_error || e.is_unrecoverable_error() || e.is_connection_dropped() {
            self.broken = true;
        }
    }

    async fn reconnect(&mut self) -> Result<(), Failure> {
        let not_sent = Failure {
            fate: Fate::NotApplied,
            transient: true,
        };
        let mut g = self.link.current.lock().await;
        // With `reset_on_any_error` the connection is this handle's alone.
        if g.0 == self.generation || self.reset_on_any_error {
            if g.2.is_some_and(|t| t.elapsed() < RECONNECT_BACKOFF) {
                return Err(not_sent);
            }
            match open(&self.link.cfg).await {
                Ok(c) => *g = (g.0 + 1, c, None),
                Err(_) => {
                    g.2 = Some(Instant::now());
                    return Err(not_sent);
                }
            }
        }
        self.conn = g.1.clone();
        self.generation = g.0;
        self.broken = false;
        Ok(())
    }
}

/// A command or a pipeline: what [`Conn::query`] can send.
pub(crate) trait Query: Sync {
    /// Sends it and parses the reply.
    fn run<T: redis::FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> impl std::future::Future<Output = redis::RedisResult<T>> + Send;
}

impl Query for redis::Cmd {
    fn run<T: redis::FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> impl std::future::Future<Output = redis::RedisResult<T>> + Send {
        self.query_async(conn)
    }
}

impl Query for redis::Pipeline {
    fn run<T: redis::FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> impl std::future::Future<Output = redis::RedisResult<T>> + Send {
        self.query_async(conn)
    }
}

/// A connection for reading counts and deleting keys after the run. Its
/// response timeout covers an injected pause still in effect.
pub(crate) async fn admin(cfg: &RedisConfig) -> Result<MultiplexedConnection, SetupError> {
    let client = cfg.client().map_err(SetupError::Redis)?;
    let pause = cfg.faults.pause.map_or(Duration::ZERO, |p| p.duration);
    let timeout = cfg.faults.response_timeout.max(Duration::from_secs(5)) + pause;
    client
        .get_multiplexed_async_connection_with_config(&connection_config(cfg, timeout))
        .await
        .map_err(|e| explain(cfg, "connecting", &e))
}

async fn ping(
    cfg: &RedisConfig,
    conn: &mut impl redis::aio::ConnectionLike,
) -> Result<(), SetupError> {
    let pong: String = redis::cmd("PING")
        .query_async(conn)
        .await
        .map_err(|e| explain(cfg, "PING", &e))?;
    if pong != "PONG" {
        return Err(SetupError::Redis(format!(
            "Redis at {} answered PING with something other than PONG: is it a Redis server?",
            cfg.redacted_url()
        )));
    }
    Ok(())
}

/// Loads a Lua script once (`SCRIPT LOAD`), so that every call is an
/// `EVALSHA` of 40 bytes instead of the script's text.
pub(crate) async fn load_script(
    cfg: &RedisConfig,
    conn: &mut MultiplexedConnection,
    script: &redis::Script,
    strategy: &str,
) -> Result<(), SetupError> {
    script.load_async(conn).await.map_err(|e| {
        let msg = e.to_string();
        // The server echoes the start of the script; the command name is enough.
        let msg = msg.split(", with args").next().unwrap_or(&msg).to_string();
        if msg.contains("unknown command") || e.code() == Some("NOPERM") || msg.contains("NOPERM")
        {
            SetupError::Redis(cfg.scrub(&format!(
                "Redis: loading the Lua script of `{strategy}` failed: the server at {} does not \
                 allow Lua scripting (SCRIPT LOAD / EVALSHA are disabled, renamed or denied by ACL: \
                 {msg}). Enable scripting for this user (ACL SETUSER <user> +@scripting), or use \
                 redis-incrby or redis-watch, which need no scripts",
                cfg.redacted_url()
            )))
        } else {
            explain(cfg, &format!("loading the Lua script of `{strategy}`"), &e)
        }
    })?;
    Ok(())
}

/// Whether a failed command may still have been applied by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Definitely not applied: the connection was refused before sending, or
    /// the server answered with an error (a rejected command changes nothing).
    NotApplied,
    /// Maybe applied: sent, then the reply timed out or the connection died.
    MaybeApplied,
}

/// Classifies an error by what it says about the command's fate.
///
/// Only certainty counts as `NotApplied`: calling an applied command
/// "failed" would put the count above the checker's upper bound and report
/// a violation that did not happen. Everything else is `MaybeApplied`.
fn fate(e: &RedisError) -> Fate {
    if e.is_connection_refusal() {
        return Fate::NotApplied;
    }
    match e.kind() {
        ErrorKind::Server(_) | ErrorKind::Extension => {
            // The server's own words (e.g. OOM under maxmemory), kept so the
            // user sees why answers failed instead of a strategy verdict.
            note_server_error(e);
            Fate::NotApplied
        }
        ErrorKind::Client | ErrorKind::InvalidClientConfig | ErrorKind::AuthenticationFailed => {
            Fate::NotApplied
        }
        _ => Fate::MaybeApplied,
    }
}

/// The first error a Redis server answered with in this process since the
/// last [`take_server_error`]. Written only on the error path.
static SERVER_ERROR: Mutex<Option<String>> = Mutex::new(None);

fn note_server_error(e: &RedisError) {
    let mut slot = SERVER_ERROR.lock().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert_with(|| e.to_string());
}

/// Takes the first error a Redis server answered with since the last call.
pub fn take_server_error() -> Option<String> {
    SERVER_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
}

/// Whether a retry may help: I/O trouble (timeouts, dropped or refused
/// connections, a reconnect in progress) and authentication during a
/// reconnect; not server-side rejections, which would repeat.
fn transient(e: &RedisError) -> bool {
    matches!(e.kind(), ErrorKind::Io | ErrorKind::Parse)
}

/// Runs one attempt expression (a `Result<T, Failure>` future) up to
/// `1 + retries` times.
///
/// Evaluates to `Ok(value)` from the first attempt that succeeds, or
/// `Err(fate)` where `fate` is `MaybeApplied` if *any* attempt may have been
/// applied. Retries are counted into `$retried` (a `u64`).
macro_rules! retrying {
    ($retries:expr, $retried:expr, $attempt:expr) => {{
        let mut maybe = false;
        let mut attempt = 0u32;
        loop {
            match $attempt.await {
                Ok(v) => break Ok(v),
                Err(f) => {
                    let f: $crate::strategy::redis::conn::Failure = f;
                    maybe |= f.fate == $crate::strategy::redis::conn::Fate::MaybeApplied;
                    if attempt < $retries && f.transient {
                        attempt += 1;
                        $retried += 1;
                        if f.fate == $crate::strategy::redis::conn::Fate::NotApplied {
                            // Refused before sending (e.g. the server is
                            // down): back off exponentially, 10 ms doubling
                            // to 640 ms, so retries span a restart instead
                            // of all failing within microseconds. A timeout
                            // has already waited, so it retries at once.
                            let ms = 10u64 << (attempt - 1).min(6);
                            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                        }
                        continue;
                    }
                    break Err(if maybe {
                        $crate::strategy::redis::conn::Fate::MaybeApplied
                    } else {
                        $crate::strategy::redis::conn::Fate::NotApplied
                    });
                }
            }
        }
    }};
}
pub(crate) use retrying;

/// Deletes every key under the run's prefix (`SCAN MATCH` + `UNLINK`), never
/// anything else: no `FLUSHALL`, no `FLUSHDB`. Returns the keys deleted.
/// A failed clean-up, with the exact command that deletes what is left.
pub(crate) fn left_behind(cfg: &RedisConfig, e: SetupError) -> SetupError {
    let prefix = cfg.prefix();
    SetupError::Redis(format!(
        "{e}. This run's keys may be left on the server: delete them with \
         redis-cli -u '{}' --scan --pattern '{prefix}*' | xargs -r redis-cli -u '{}' unlink \
         (add the password to the URL if the server needs one)",
        cfg.redacted_url(),
        cfg.redacted_url()
    ))
}

pub(crate) async fn delete_prefix(
    conn: &mut MultiplexedConnection,
    cfg: &RedisConfig,
) -> Result<u64, SetupError> {
    let pattern = format!("{}*", cfg.prefix());
    let mut cursor: u64 = 0;
    let mut deleted = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .map_err(|e| explain(cfg, "deleting the run's keys (SCAN)", &e))?;
        if !keys.is_empty() {
            let n: u64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(conn)
                .await
                .map_err(|e| explain(cfg, "deleting the run's keys (UNLINK)", &e))?;
            deleted += n;
        }
        cursor = next;
        if cursor == 0 {
            return Ok(deleted);
        }
    }
}

/// Reads one integer per key with `MGET`, in chunks (missing keys are 0).
pub(crate) async fn mget_counts(
    conn: &mut MultiplexedConnection,
    cfg: &RedisConfig,
    keys: impl Iterator<Item = String>,
) -> Result<Vec<u32>, SetupError> {
    let keys: Vec<String> = keys.collect();
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(1000) {
        let vals: Vec<Option<u64>> = redis::cmd("MGET")
            .arg(chunk)
            .query_async(conn)
            .await
            .map_err(|e| explain(cfg, "reading the final counts", &e))?;
        out.extend(
            vals.into_iter()
                .map(|v| v.unwrap_or(0).min(u32::MAX as u64) as u32),
        );
    }
    Ok(out)
}

/// The server's version (`INFO server`), when it is reachable within a second.
pub fn server_version(env: &crate::strategy::Env) -> Option<String> {
    info_field(env, "redis_version")
}

/// The server's `run_id`: a new one after every restart, so comparing the
/// run ids before and after a run tells a restart (which may forget data)
/// from the strategy's own lost updates.
pub fn server_run_id(env: &crate::strategy::Env) -> Option<String> {
    info_field(env, "run_id")
}

/// One field of `INFO server`, when the server answers within a second.
fn info_field(env: &crate::strategy::Env, field: &str) -> Option<String> {
    let cfg = env.redis.as_ref()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let client = cfg.client().ok()?;
        let short = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        let mut c = client
            .get_multiplexed_async_connection_with_config(&short)
            .await
            .ok()?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut c)
            .await
            .ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

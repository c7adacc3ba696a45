//! Connections (a pool per strategy), statement timeouts, and what an
//! error means: a message that says how to fix it, and the statement's fate.

use std::sync::Mutex;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Pool, PoolConstraints, PoolOpts};

use super::{MysqlConfig, Site};
use crate::backend::retry::{Failure, Fate};
use crate::strategy::SetupError;

/// Connections a strategy keeps per process (as for PostgreSQL: two
/// processes of 50 workers stay well under the default `max_connections`).
const POOL_SIZE: usize = 16;

/// A pool of connections to the site's server, checked with one query.
/// Row-lock waits on the server are bounded by the response timeout too
/// (`innodb_lock_wait_timeout`, whole seconds, at least 1).
pub(crate) async fn pool(site: &Site) -> Result<Pool, SetupError> {
    let opts = site
        .cfg
        .opts()
        .map_err(|e| SetupError::Backend(e.to_string()))?;
    let lock_wait = site.faults.response_timeout.as_secs().max(1);
    let constraints =
        PoolConstraints::new(0, POOL_SIZE).expect("0 <= POOL_SIZE is a valid constraint");
    let builder = OptsBuilder::from_opts(opts)
        .pool_opts(PoolOpts::default().with_constraints(constraints))
        .init(vec![format!(
            "SET SESSION innodb_lock_wait_timeout = {lock_wait}"
        )]);
    let pool = Pool::new(builder);
    let mut conn = get(site, &pool)
        .await
        .map_err(|e| explain(site, "connecting", &e))?;
    timed(site, conn.query_drop("SELECT 1"))
        .await
        .map_err(|e| explain(site, "checking the connection", &e))?;
    Ok(pool)
}

/// A pooled connection within the connect timeout.
pub(crate) async fn get(site: &Site, pool: &Pool) -> Result<Conn, Timed> {
    match tokio::time::timeout(site.faults.connect_timeout, pool.get_conn()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(Timed::Error(e)),
        Err(_) => Err(Timed::TimedOut),
    }
}

/// Runs `f` within the response timeout.
pub(crate) async fn timed<T>(
    site: &Site,
    f: impl std::future::Future<Output = Result<T, mysql_async::Error>>,
) -> Result<T, Timed> {
    match tokio::time::timeout(site.faults.response_timeout, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Timed::Error(e)),
        Err(_) => Err(Timed::TimedOut),
    }
}

/// A statement that failed, or ran out of time.
#[derive(Debug)]
pub(crate) enum Timed {
    /// The driver or the server said no.
    Error(mysql_async::Error),
    /// No reply within the timeout.
    TimedOut,
}

impl Timed {
    /// Whether the connection's state is unknown afterwards (drop it).
    pub(crate) fn broke_the_connection(&self) -> bool {
        !matches!(self, Timed::Error(mysql_async::Error::Server(_)))
    }
}

/// What a failed statement means for the answer, and whether to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A deadlock (1213) or a changed snapshot (1020): rolled back; run
    /// the transaction again.
    Conflict,
    /// Anything else.
    Failed(Failure),
}

/// Classifies a failed statement; `committing` as for PostgreSQL: only a
/// `COMMIT` or an auto-committed write can have applied without a reply.
pub(crate) fn classify(e: &Timed, committing: bool) -> Verdict {
    let lost = Failure {
        fate: if committing {
            Fate::MaybeApplied
        } else {
            Fate::NotApplied
        },
        transient: true,
    };
    match e {
        Timed::Error(mysql_async::Error::Server(s)) => match s.code {
            1213 | 1020 => Verdict::Conflict,
            // A lock wait timed out: the statement was rolled back.
            1205 => Verdict::Failed(Failure {
                fate: Fate::NotApplied,
                transient: true,
            }),
            _ => {
                note_server_error(&format!("{} ({}): {}", s.code, s.state, s.message));
                Verdict::Failed(Failure {
                    fate: Fate::NotApplied,
                    transient: false,
                })
            }
        },
        _ => Verdict::Failed(lost),
    }
}

static SERVER_ERROR: Mutex<Option<String>> = Mutex::new(None);

fn note_server_error(e: &str) {
    let mut slot = SERVER_ERROR.lock().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert_with(|| e.to_string());
}

/// Takes the first error a server answered with since the last call.
pub(crate) fn take_server_error() -> Option<String> {
    SERVER_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
}

/// An error turned into a message that says what failed and how to fix it.
pub(crate) fn explain(site: &Site, what: &str, e: &Timed) -> SetupError {
    let hint = match e {
        Timed::TimedOut => format!(
            "no reply within the timeout (connect {:?}, response {:?}): the server may be \
             unreachable, stopped or overloaded. Check the URL, or raise --connect-timeout / \
             --response-timeout",
            site.faults.connect_timeout, site.faults.response_timeout
        ),
        Timed::Error(mysql_async::Error::Server(s)) => {
            let why = match s.code {
                1045 | 1698 => {
                    "authentication failed: the server rejected the user or password; put them \
                     in the URL as mysql://USER:PASSWORD@host:port/database (the password is \
                     never shown)"
                }
                1049 => "the database does not exist: create it or name another in the URL",
                1044 | 1142 => {
                    "the user lacks a privilege quizrace needs: it creates and drops its own \
                     tables, so it needs CREATE and DROP on the database"
                }
                1040 => "the server has no connection slots left: run fewer workers or processes",
                _ => "the server returned an error",
            };
            format!("{why} ({} {}: {})", s.code, s.state, s.message)
        }
        Timed::Error(e) => format!(
            "the connection failed: is a MariaDB/MySQL server listening there? Start it, or \
             point --mysql-url / QUIZRACE_MYSQL_URL at a running server ({e})"
        ),
    };
    SetupError::Backend(site.cfg.scrub(&format!(
        "MariaDB/MySQL at {}: {what} failed: {hint}",
        site.cfg.redacted_url()
    )))
}

/// One value of a one-row query on a connection of its own, within a
/// second (for the environment table and restart detection).
pub(crate) fn one_value(cfg: &MysqlConfig, sql: &str) -> Result<String, SetupError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SetupError::Resource(format!("a runtime: {e}")))?;
    rt.block_on(async {
        let opts = cfg.opts().map_err(|e| SetupError::Backend(e.to_string()))?;
        let second = Duration::from_secs(1);
        let fail = |e: mysql_async::Error| SetupError::Backend(cfg.scrub(&e.to_string()));
        let mut conn = tokio::time::timeout(second, Conn::new(opts))
            .await
            .map_err(|_| SetupError::Backend("no reply within 1s".into()))?
            .map_err(fail)?;
        let v: Option<String> = tokio::time::timeout(second, conn.query_first(sql))
            .await
            .map_err(|_| SetupError::Backend("no reply within 1s".into()))?
            .map_err(fail)?;
        let _ = tokio::time::timeout(second, conn.disconnect()).await;
        v.ok_or_else(|| SetupError::Backend(format!("`{sql}` returned no row")))
    })
}

/// Runs statements one by one on a connection of its own, within `limit`.
pub(crate) fn run_sql(
    site: &Site,
    what: &str,
    statements: &[String],
    limit: Duration,
) -> Result<(), SetupError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SetupError::Resource(format!("a runtime for MariaDB/MySQL: {e}")))?;
    rt.block_on(async {
        let opts = site
            .cfg
            .opts()
            .map_err(|e| SetupError::Backend(e.to_string()))?;
        let mut conn =
            match tokio::time::timeout(site.faults.connect_timeout, Conn::new(opts)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(explain(site, what, &Timed::Error(e))),
                Err(_) => return Err(explain(site, what, &Timed::TimedOut)),
            };
        let mut longer = site.clone();
        longer.faults.response_timeout = limit;
        for sql in statements {
            if let Err(e) = timed(&longer, conn.query_drop(sql.as_str())).await {
                return Err(explain(site, what, &e));
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.disconnect()).await;
        Ok(())
    })
}

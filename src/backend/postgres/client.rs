//! Connections (a pool per strategy), statement timeouts, and what an
//! error means: a message that says how to fix it, and the statement's fate.

use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::{PgConfig, Site};
use crate::backend::retry::{Failure, Fate};
use crate::strategy::SetupError;

/// Connections a strategy keeps per process: enough for the workers of a
/// 2-core machine to overlap, few enough that two processes of 50 workers
/// stay well under the server's default `max_connections` of 100.
const POOL_SIZE: usize = 16;

/// The driver's config for `site`: connect timeout, and a server-side
/// `statement_timeout` as a backstop for runaway statements. It is ten
/// times the client's response timeout (at least 10 s), not equal to it: a
/// statement the client gave up on must still be able to run on the
/// server, as it does in production, or a timeout could never double-count
/// a retried answer and the fault runs would show nothing.
fn driver_config(site: &Site) -> Result<tokio_postgres::Config, SetupError> {
    let mut c = site
        .cfg
        .parsed()
        .map_err(|e| SetupError::Backend(e.to_string()))?;
    c.connect_timeout(site.faults.connect_timeout);
    let backstop = (site.faults.response_timeout * 10).max(Duration::from_secs(10));
    // Added to the URL's own `options` (a search_path, say), never in place of them.
    let ours = format!("-c statement_timeout={}", backstop.as_millis());
    let options = match c.get_options() {
        Some(theirs) if !theirs.is_empty() => format!("{theirs} {ours}"),
        _ => ours,
    };
    c.options(options);
    c.application_name("quizrace");
    Ok(c)
}

/// A pool of connections to the site's server, checked with one query.
pub(crate) async fn pool(site: &Site) -> Result<Pool, SetupError> {
    let mgr = Manager::from_config(
        driver_config(site)?,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(mgr)
        .max_size(POOL_SIZE)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .create_timeout(Some(site.faults.connect_timeout))
        .wait_timeout(Some(
            site.faults.connect_timeout + site.faults.response_timeout,
        ))
        .build()
        .map_err(|e| SetupError::Resource(format!("a PostgreSQL connection pool: {e}")))?;
    let client = pool.get().await.map_err(|e| pool_error(site, &e))?;
    timed(&site.admin(), client.simple_query("SELECT 1"))
        .await
        .map_err(|e| explain(site, "checking the connection", &e))?;
    Ok(pool)
}

/// Runs `f` within the response timeout; a timeout is reported as an I/O
/// error of the driver's kind.
pub(crate) async fn timed<T>(
    site: &Site,
    f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
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
    Error(tokio_postgres::Error),
    /// No reply within the response timeout.
    TimedOut,
}

/// What a failed statement means for the answer, and whether to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A serialization failure or deadlock (SQLSTATE 40001 / 40P01): the
    /// transaction was rolled back; run it again.
    Conflict,
    /// Anything else.
    Failed(Failure),
}

/// Classifies a failed statement. `committing` says whether the statement
/// could have made the answer durable on its own (a `COMMIT`, or an
/// auto-committed write): only then is a lost reply `MaybeApplied`; inside
/// an open transaction a lost connection means the server rolls back.
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
        Timed::TimedOut => Verdict::Failed(lost),
        Timed::Error(e) => match e.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                Verdict::Conflict
            }
            // The server cancelled the statement (our statement_timeout),
            // or it is shutting down: like a lost reply.
            Some(c)
                if *c == SqlState::QUERY_CANCELED
                    || *c == SqlState::ADMIN_SHUTDOWN
                    || *c == SqlState::CRASH_SHUTDOWN =>
            {
                Verdict::Failed(lost)
            }
            Some(_) => {
                note_server_error(e);
                Verdict::Failed(Failure {
                    fate: Fate::NotApplied,
                    transient: false,
                })
            }
            // No SQLSTATE: the connection broke.
            None => Verdict::Failed(lost),
        },
    }
}

/// The first error a PostgreSQL server answered with in this process since
/// the last [`take_server_error`].
static SERVER_ERROR: Mutex<Option<String>> = Mutex::new(None);

fn note_server_error(e: &tokio_postgres::Error) {
    let text = e
        .as_db_error()
        .map(|d| format!("{}: {}", d.code().code(), d.message()))
        .unwrap_or_else(|| e.to_string());
    let mut slot = SERVER_ERROR.lock().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert(text);
}

/// Takes the first error a server answered with since the last call.
pub(crate) fn take_server_error() -> Option<String> {
    SERVER_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
}

/// A pool that could not hand out a connection, as a message.
pub(crate) fn pool_error(site: &Site, e: &deadpool_postgres::PoolError) -> SetupError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => explain_error(site, "connecting", e),
        deadpool_postgres::PoolError::Timeout(_) => explain(site, "connecting", &Timed::TimedOut),
        other => explain_text(site, "connecting", &other.to_string()),
    }
}

/// An error turned into a message that says what failed and how to fix it.
pub(crate) fn explain(site: &Site, what: &str, e: &Timed) -> SetupError {
    match e {
        Timed::TimedOut => explain_text(
            site,
            what,
            &format!(
                "no reply within the timeout (connect {:?}, response {:?}): the server may be \
                 unreachable, stopped or overloaded. Check the URL, or raise --connect-timeout / \
                 --response-timeout",
                site.faults.connect_timeout, site.faults.response_timeout
            ),
        ),
        Timed::Error(e) => explain_error(site, what, e),
    }
}

/// A driver or server error as a message.
fn explain_error(site: &Site, what: &str, e: &tokio_postgres::Error) -> SetupError {
    let code = e.code().map(|c| c.code().to_string());
    let hint = match code.as_deref() {
        Some("28P01") | Some("28000") => {
            "authentication failed: the server rejected the user or password; put them \
                     in the URL as postgres://USER:PASSWORD@host:port/database (the password is \
                     never shown)"
        }
        Some("3D000") => {
            "the database does not exist: create it (createdb NAME) or name another in \
                     the URL"
        }
        Some("42501") => {
            "the user lacks a privilege quizrace needs: it creates and drops its own \
                     tables, so it needs CREATE on the database's public schema"
        }
        Some("53300") => {
            "the server has no connection slots left (max_connections): run fewer \
                     workers or processes"
        }
        Some(_) => "the server returned an error",
        None => {
            "the connection failed: is a PostgreSQL server listening there? Start it, or \
                     point --pg-url / QUIZRACE_PG_URL at a running server"
        }
    };
    // The driver's Display of a server error is just "db error": show the
    // server's own message.
    let detail = e
        .as_db_error()
        .map(|d| format!("{}: {}", d.code().code(), d.message()))
        .unwrap_or_else(|| e.to_string());
    explain_text(site, what, &format!("{hint} ({detail})"))
}

fn explain_text(site: &Site, what: &str, hint: &str) -> SetupError {
    SetupError::Backend(site.cfg.scrub(&format!(
        "PostgreSQL at {}: {what} failed: {hint}",
        site.cfg.redacted_url()
    )))
}

/// The rows of an administrative query (final counts), on a connection of
/// its own without the workers' `statement_timeout`, within the site's
/// administrative timeout.
pub(crate) async fn admin_query(
    site: &Site,
    what: &str,
    sql: &str,
) -> Result<Vec<tokio_postgres::Row>, SetupError> {
    let admin = site.admin();
    let mut c = site
        .cfg
        .parsed()
        .map_err(|e| SetupError::Backend(e.to_string()))?;
    c.connect_timeout(admin.faults.connect_timeout);
    c.application_name("quizrace");
    let (client, conn) = tokio::time::timeout(admin.faults.connect_timeout, c.connect(NoTls))
        .await
        .map_err(|_| explain(site, what, &Timed::TimedOut))?
        .map_err(|e| explain(site, what, &Timed::Error(e)))?;
    let task = tokio::spawn(conn);
    let rows = timed(&admin, client.query(sql, &[]))
        .await
        .map_err(|e| explain(&admin, what, &e));
    drop(client);
    task.abort();
    rows
}

/// One value of a one-row query, on a connection of its own, within a
/// second (for the environment table).
pub(crate) fn one_value(cfg: &PgConfig, sql: &str) -> Result<String, SetupError> {
    one_value_within(cfg, sql, Duration::from_secs(1))
}

/// One value of a one-row query, within `limit` for connecting and for the reply.
pub(crate) fn one_value_within(
    cfg: &PgConfig,
    sql: &str,
    limit: Duration,
) -> Result<String, SetupError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SetupError::Resource(format!("a runtime: {e}")))?;
    rt.block_on(async {
        let mut c = cfg
            .parsed()
            .map_err(|e| SetupError::Backend(e.to_string()))?;
        c.connect_timeout(limit);
        let fail = |e: tokio_postgres::Error| SetupError::Backend(cfg.scrub(&e.to_string()));
        let (client, conn) = tokio::time::timeout(limit, c.connect(NoTls))
            .await
            .map_err(|_| SetupError::Backend("no reply in time".into()))?
            .map_err(fail)?;
        let task = tokio::spawn(conn);
        let row = tokio::time::timeout(limit, client.query_one(sql, &[]))
            .await
            .map_err(|_| SetupError::Backend("no reply in time".into()))?
            .map_err(fail)?;
        drop(client);
        task.abort();
        Ok(row.get::<_, String>(0))
    })
}

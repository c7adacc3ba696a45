//! One strategy run on PostgreSQL: its tables (created at the start, one
//! row per room-round; dropped at the end, also after errors and on
//! Ctrl-C). A restart of the server is not reported as data loss: a durable
//! store keeps what it acknowledged (commits are fsynced), so the counter
//! bounds judge such a run as usual.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::NoTls;

use super::client::{take_server_error, timed, Timed};
use super::{client, Site};
use crate::backend::interrupt::{self, Cleanup, Registration};
use crate::backend::{ActiveRun, RunEnd};
use crate::strategy::{Layout, SetupError};

/// The hooks of one run.
pub(crate) struct PgRun {
    site: Site,
    _registration: Registration,
}

/// Held while the run's tables are being created, and by every clean-up:
/// a `DROP TABLE IF EXISTS` sent while the creating transaction is still
/// open finds nothing to drop, and the tables would appear right after.
type Creating = Arc<std::sync::Mutex<()>>;

fn hold(lock: &Creating) -> std::sync::MutexGuard<'_, ()> {
    lock.lock().unwrap_or_else(|p| p.into_inner())
}

impl PgRun {
    pub(crate) fn begin(site: Site, layout: Layout) -> Result<PgRun, SetupError> {
        if site.faults.pause.is_some() {
            return Err(SetupError::Backend(
                "the pause fault (pause_at / pause_for) is Redis's CLIENT PAUSE; PostgreSQL has \
                 no equivalent here: drop it for SQL strategies, or use --response-timeout and \
                 --retries"
                    .into(),
            ));
        }
        let _ = take_server_error();
        let t = &site.tables;
        let slots = layout.slots();
        let sql = format!(
            "CREATE TABLE {c} (slot integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);
             INSERT INTO {c} (slot) SELECT generate_series(0, {last});
             CREATE TABLE {a} (slot integer NOT NULL, player integer NOT NULL, \
                 PRIMARY KEY (slot, player));
             CREATE TABLE {e} (slot integer PRIMARY KEY, player integer NOT NULL);",
            c = t.counts,
            a = t.answers,
            e = t.ends,
            last = slots as i64 - 1,
        );
        // Registered before the tables exist, so that a Ctrl-C during the
        // creation drops whatever was made, once the creation is over.
        let creating: Creating = Arc::default();
        let guard = hold(&creating);
        let registration = interrupt::register(Arc::new(OnInterrupt {
            site: site.clone(),
            creating: creating.clone(),
        }));
        let created = run_sql(
            &site,
            "creating the run's tables",
            &sql,
            Duration::from_secs(60),
        );
        drop(guard);
        if let Err(e) = created {
            return Err(match drop_tables(&site) {
                Ok(_) => e,
                Err(cleanup) => left_behind(&site, SetupError::Backend(format!("{e}; {cleanup}"))),
            });
        }
        Ok(PgRun {
            site,
            _registration: registration,
        })
    }
}

impl ActiveRun for PgRun {
    fn before_counts(&mut self) -> Result<(), SetupError> {
        Ok(()) // no fault of its own to end
    }

    fn end(self: Box<Self>) -> Result<RunEnd, SetupError> {
        drop_tables(&self.site).map_err(|e| left_behind(&self.site, e))?;
        Ok(RunEnd {
            restarted: false,
            server_error: take_server_error(),
        })
    }
}

/// Drops the run's tables (`IF EXISTS`: a half-made run drops what it
/// made); returns how many existed.
fn drop_tables(site: &Site) -> Result<u64, SetupError> {
    let names: Vec<String> = site.tables.all().iter().map(|t| format!("'{t}'")).collect();
    let existed = client::one_value_within(
        &site.cfg,
        &format!(
            "SELECT count(*)::text FROM pg_tables WHERE tablename IN ({})",
            names.join(", ")
        ),
        site.admin().faults.connect_timeout,
    )
    .ok()
    .and_then(|n| n.parse().ok())
    .unwrap_or(0);
    let sql = format!("DROP TABLE IF EXISTS {}", site.tables.all().join(", "));
    run_sql(
        site,
        "dropping the run's tables",
        &sql,
        Duration::from_secs(30),
    )?;
    Ok(existed)
}

/// The exact command that drops what a failed clean-up left.
fn manual_cleanup(site: &Site) -> String {
    format!(
        "psql '{}' -c 'DROP TABLE IF EXISTS {}' (add the password if the server needs one)",
        site.cfg.redacted_url(),
        site.tables.all().join(", ")
    )
}

fn left_behind(site: &Site, e: SetupError) -> SetupError {
    SetupError::Backend(format!(
        "{e}. This run's tables may be left on the server: drop them with {}",
        manual_cleanup(site)
    ))
}

/// Runs a batch of statements on a connection of its own.
fn run_sql(site: &Site, what: &str, sql: &str, limit: Duration) -> Result<(), SetupError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SetupError::Resource(format!("a runtime for PostgreSQL: {e}")))?;
    rt.block_on(async {
        let mut c = site
            .cfg
            .parsed()
            .map_err(|e| SetupError::Backend(e.to_string()))?;
        // The limits of this step, also in its messages.
        let mut admin = site.admin();
        admin.faults.response_timeout = limit;
        let connect = admin.faults.connect_timeout;
        c.connect_timeout(connect);
        c.application_name("quizrace");
        let (client, conn) = tokio::time::timeout(connect, c.connect(NoTls))
            .await
            .map_err(|_| client::explain(&admin, what, &Timed::TimedOut))?
            .map_err(|e| client::explain(&admin, what, &Timed::Error(e)))?;
        let task = tokio::spawn(conn);
        let done = timed(&admin, client.batch_execute(sql))
            .await
            .map_err(|e| client::explain(&admin, what, &e));
        drop(client);
        if done.is_ok() {
            let _ = task.await;
        } else {
            // A server that stopped answering would hold the connection task
            // forever: the client already gave up, so does this.
            task.abort();
        }
        done
    })
}

/// What Ctrl-C does for a run still in progress.
struct OnInterrupt {
    site: Site,
    creating: Creating,
}

impl Cleanup for OnInterrupt {
    fn describe(&self) -> String {
        format!(
            "the PostgreSQL tables {}",
            self.site.tables.all().join(", ")
        )
    }

    fn clean_now(&self) -> Result<u64, SetupError> {
        let _created = hold(&self.creating);
        drop_tables(&self.site)
    }

    fn manual_cleanup(&self) -> String {
        manual_cleanup(&self.site)
    }
}

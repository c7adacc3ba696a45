//! The MariaDB/MySQL back end (InnoDB): the same race under InnoDB's
//! default REPEATABLE READ, which, unlike PostgreSQL's, does not detect it.
//!
//! | strategy | per answer | why it is (not) safe |
//! |---|---|---|
//! | `mysql-read-write` | REPEATABLE READ: `SELECT n`, score, `UPDATE … SET n = v+1` | InnoDB's UPDATE writes over the newer row: the lost update, silently |
//! | `mysql-update` | `UPDATE … SET n = LAST_INSERT_ID(n + 1)`, the new value in the OK packet | the row lock serialises increments (`INCRBY`'s twin) |
//! | `mysql-select-for-update` | `SELECT n … FOR UPDATE`, score, `UPDATE` | the row lock is held across the scoring |
//!
//! Each run has its own table, `quizrace_{namespace}_counts`, created by
//! the run's hooks (`run.rs`) and dropped at its end, also after errors and
//! on Ctrl-C. Every statement is bounded by the client's response timeout,
//! and row-lock waits by `innodb_lock_wait_timeout` on the server.

mod client;
mod config;
mod run;
mod strategies;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

pub use config::{MysqlConfig, DEFAULT_URL};
pub use strategies::{My, MyHandle, ReadWrite, SelectForUpdate, Update};
pub(crate) use strategies::{READ_WRITE_EXPLAIN, SELECT_FOR_UPDATE_EXPLAIN, UPDATE_EXPLAIN};

use super::{ActiveRun, Backend, BackendError, Env, Family, ServerFact};
use crate::strategy::{Layout, SetupError};

/// The MariaDB/MySQL family's row.
pub const FAMILY: Family = Family {
    name: "mysql",
    display: "MariaDB/MySQL",
    url_flag: "mysql-url",
    url_env: "QUIZRACE_MYSQL_URL",
    url_help: "MariaDB/MySQL URL, mysql://[user[:password]@]host[:port]/database (a password in \
               it is never printed)",
    default_url: DEFAULT_URL,
    can_pause: false,
    per_core: false,
    configure,
    decode,
};

fn configure(url: &str) -> Result<Arc<dyn Backend>, BackendError> {
    Ok(Arc::new(MysqlConfig::new(url)?))
}

fn decode(v: serde_json::Value) -> Result<Arc<dyn Backend>, BackendError> {
    let cfg: MysqlConfig = serde_json::from_value(v)
        .map_err(|e| BackendError::Config(format!("a MySQL config from the parent: {e}")))?;
    Ok(Arc::new(MysqlConfig::new(cfg.url())?))
}

impl Backend for MysqlConfig {
    fn family(&self) -> &'static Family {
        &FAMILY
    }

    fn begin(
        &self,
        env: &Env,
        layout: Layout,
        _start_delay: Duration,
    ) -> Result<Box<dyn ActiveRun>, SetupError> {
        Ok(Box::new(run::MyRun::begin(
            Site::of_config(self, env),
            layout,
        )?))
    }

    fn server(&self) -> Option<ServerFact> {
        let version = client::one_value(self, "SELECT VERSION()").ok()?;
        // MariaDB says so in its version string (10.11.19-MariaDB-…).
        let name = if version.to_ascii_lowercase().contains("mariadb") {
            "mariadb"
        } else {
            "mysql"
        };
        Some(ServerFact {
            backend: FAMILY.name.to_string(),
            name: name.to_string(),
            version,
        })
    }

    fn take_server_error(&self) -> Option<String> {
        client::take_server_error()
    }

    fn encode(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a MysqlConfig always serialises")
    }

    fn redacted_url(&self) -> String {
        MysqlConfig::redacted_url(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Where one run's statements go: the server, the client fault settings
/// and the run's table.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    pub(crate) cfg: MysqlConfig,
    pub(crate) faults: super::Faults,
    /// One row per room-round: `(slot, n)`.
    pub(crate) counts: String,
}

impl Site {
    /// The site with the timeouts of administrative statements (creating
    /// the table, reading counts): at least 30 s for a reply and 5 s to
    /// connect, whatever a fault run set for the workers.
    pub(crate) fn admin(&self) -> Site {
        let mut s = self.clone();
        s.faults.response_timeout = s.faults.response_timeout.max(Duration::from_secs(30));
        s.faults.connect_timeout = s.faults.connect_timeout.max(Duration::from_secs(5));
        s
    }

    fn of_config(cfg: &MysqlConfig, env: &Env) -> Site {
        Site {
            cfg: cfg.clone(),
            faults: env.faults.clone(),
            // Namespaces are hex digits and dashes; identifiers take underscores.
            counts: format!("quizrace_{}_counts", env.namespace.replace('-', "_")),
        }
    }

    /// The site of the run `env` describes, for `strategy`.
    pub(crate) fn of(env: &Env, strategy: &'static str) -> Result<Site, SetupError> {
        let cfg = env.config::<MysqlConfig>().ok_or(SetupError::NoBackend {
            strategy,
            family: &FAMILY,
        })?;
        Ok(Site::of_config(cfg, env))
    }
}

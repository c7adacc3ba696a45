//! The PostgreSQL back end: the same race, isolation level by isolation
//! level, in the database most teams already run.
//!
//! | strategy | per answer | why it is (not) safe |
//! |---|---|---|
//! | `pg-read-write` | READ COMMITTED: `SELECT n`, score, `UPDATE … SET n = v+1` | the lost update: nothing stops two transactions reading the same `n` |
//! | `pg-update-returning` | `UPDATE … SET n = n + 1 RETURNING n` | the row lock serialises increments; decide from the returned value (`INCRBY`'s twin) |
//! | `pg-select-for-update` | `SELECT n … FOR UPDATE`, score, `UPDATE` | the row lock is held across the scoring |
//! | `pg-repeatable-read` | the read-then-write under REPEATABLE READ | the second writer aborts with SQLSTATE 40001 and is retried |
//! | `pg-serializable` | the read-then-write under SERIALIZABLE | as above, by serializable snapshot isolation |
//! | `pg-advisory-lock` | `pg_advisory_xact_lock(room-round)`, then read-then-write | an application lock keyed by room-round |
//! | `pg-insert-idempotent` | one row per (room-round, player), counted and decided under the room-round's row lock | a retried answer inserts nothing (`redis-sadd`'s twin) |
//!
//! Every run has its own tables, `quizrace_{namespace}_counts` (one row per
//! room-round), `…_answers` and `…_ends`, created by the run's hooks
//! (`run.rs`) and dropped at its end, also after errors and on Ctrl-C; the
//! run never touches another object. Every statement is bounded by the
//! client's response timeout (and by `statement_timeout` on the server).
//! The module is split like the Redis one: `config` (URL and secret),
//! `client` (pool, timeouts, what an error means), `run` (tables, restart
//! detection, clean-up) and `strategies`; explanations in `text/`.

mod client;
mod config;
mod run;
mod strategies;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

pub use config::{PgConfig, DEFAULT_URL};
pub use strategies::{
    AdvisoryLock, InsertIdempotent, Pg, PgHandle, ReadWrite, RepeatableRead, SelectForUpdate,
    Serializable, UpdateReturning,
};
pub(crate) use strategies::{
    ADVISORY_LOCK_EXPLAIN, INSERT_IDEMPOTENT_EXPLAIN, READ_WRITE_EXPLAIN, REPEATABLE_READ_EXPLAIN,
    SELECT_FOR_UPDATE_EXPLAIN, SERIALIZABLE_EXPLAIN, UPDATE_RETURNING_EXPLAIN,
};

use super::{ActiveRun, Backend, BackendError, Env, Family, ServerFact};
use crate::strategy::{Layout, SetupError};

/// The PostgreSQL family's row.
pub const FAMILY: Family = Family {
    name: "postgres",
    display: "PostgreSQL",
    url_flag: "pg-url",
    url_env: "QUIZRACE_PG_URL",
    url_help: "PostgreSQL URL, postgres://[user[:password]@]host[:port]/database (a password \
               in it is never printed)",
    default_url: DEFAULT_URL,
    can_pause: false,
    per_core: false,
    configure,
    decode,
};

fn configure(url: &str) -> Result<Arc<dyn Backend>, BackendError> {
    Ok(Arc::new(PgConfig::new(url)?))
}

fn decode(v: serde_json::Value) -> Result<Arc<dyn Backend>, BackendError> {
    let cfg: PgConfig = serde_json::from_value(v)
        .map_err(|e| BackendError::Config(format!("a PostgreSQL config from the parent: {e}")))?;
    Ok(Arc::new(PgConfig::new(cfg.url())?))
}

impl Backend for PgConfig {
    fn family(&self) -> &'static Family {
        &FAMILY
    }

    fn begin(
        &self,
        env: &Env,
        layout: Layout,
        _start_delay: Duration,
    ) -> Result<Box<dyn ActiveRun>, SetupError> {
        Ok(Box::new(run::PgRun::begin(
            Site::of_config(self, env),
            layout,
        )?))
    }

    fn server(&self) -> Option<ServerFact> {
        let version = client::one_value(self, "SHOW server_version").ok()?;
        Some(ServerFact {
            backend: FAMILY.name.to_string(),
            name: "postgresql".to_string(),
            version,
        })
    }

    fn take_server_error(&self) -> Option<String> {
        client::take_server_error()
    }

    fn encode(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a PgConfig always serialises")
    }

    fn redacted_url(&self) -> String {
        PgConfig::redacted_url(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The tables of one run.
#[derive(Clone, Debug)]
pub(crate) struct Tables {
    /// One row per room-round: `(slot, n)`.
    pub(crate) counts: String,
    /// One row per counted answer: `(slot, player)` (`pg-insert-idempotent`).
    pub(crate) answers: String,
    /// Who ended each room-round: `(slot, player)` (`pg-insert-idempotent`).
    pub(crate) ends: String,
}

impl Tables {
    fn of(namespace: &str) -> Tables {
        // Namespaces are hex digits and dashes; identifiers take underscores.
        let base = format!("quizrace_{}", namespace.replace('-', "_"));
        Tables {
            counts: format!("{base}_counts"),
            answers: format!("{base}_answers"),
            ends: format!("{base}_ends"),
        }
    }

    fn all(&self) -> [&str; 3] {
        [&self.counts, &self.answers, &self.ends]
    }
}

/// Where one run's statements go.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    pub(crate) cfg: PgConfig,
    pub(crate) faults: super::Faults,
    pub(crate) tables: Tables,
}

impl Site {
    /// The site with the timeouts of administrative statements (creating
    /// tables, reading counts): at least 30 s for a reply, whatever the
    /// workers' response timeout, which a fault run may set to a millisecond.
    pub(crate) fn admin(&self) -> Site {
        let mut s = self.clone();
        s.faults.response_timeout = s.faults.response_timeout.max(Duration::from_secs(30));
        s.faults.connect_timeout = s.faults.connect_timeout.max(Duration::from_secs(5));
        s
    }

    fn of_config(cfg: &PgConfig, env: &Env) -> Site {
        Site {
            cfg: cfg.clone(),
            faults: env.faults.clone(),
            tables: Tables::of(&env.namespace),
        }
    }

    /// The site of the run `env` describes, for `strategy`.
    pub(crate) fn of(env: &Env, strategy: &'static str) -> Result<Site, SetupError> {
        let cfg = env.config::<PgConfig>().ok_or(SetupError::NoBackend {
            strategy,
            family: &FAMILY,
        })?;
        Ok(Site::of_config(cfg, env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_identifiers_that_carry_the_namespace() {
        let t = Tables::of("18f2a-3b-0");
        assert_eq!(t.counts, "quizrace_18f2a_3b_0_counts");
        assert!(t
            .all()
            .iter()
            .all(|n| n.len() < 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
    }
}

//! The Redis back end: the story's fix, its racy cousins, and the
//! idempotent ones.
//!
//! | strategy | per answer | decision | under client retries |
//! |---|---|---|---|
//! | `redis-get-set` | `GET`, score, `SET v+1` | `v+1 == players` | racy anyway |
//! | `redis-incr-get` | `INCRBY`, then `GET` | `GET >= players` | racy anyway |
//! | `redis-incrby` | `INCRBY` | its reply `== players` | over-counts |
//! | `redis-lua` | one script: bitmap + `INCR` + end marker | marker holds this player | exact |
//! | `redis-watch` | `WATCH`/`GET`, `MULTI`/`SET`/`EXEC` | committed `v+1 == players` | over-counts |
//! | `redis-sadd` | one script: `SADD` + `SCARD` + end marker | marker holds this player | exact |
//!
//! The module is split by job:
//!
//! * `config`: the URL and its secret ([`RedisConfig`]);
//! * `link`: connections, reconnects, and a handle's calls;
//! * `errors`: what an error means (a message, and the command's fate);
//! * `admin`: `PING`, scripts, final counts, `INFO`, key deletion;
//! * `pause`: the injected `CLIENT PAUSE`;
//! * `run`: a run's hooks (namespace, restart detection, clean-up, Ctrl-C);
//! * `strategies`: the six strategies; their Lua in `scripts/`, their
//!   explanations in `text/`.
//!
//! Rules for every Redis run (`docs/backends.md` has the rules of every back
//! end):
//!
//! * **Keys** live under `quizrace:<namespace>:`, a fresh namespace per
//!   strategy run, shared with its worker processes; the run's hooks delete
//!   the prefix with `SCAN`/`UNLINK`, also after errors and on Ctrl-C (the
//!   run's end and Ctrl-C share one lock and one count: the "deleted N" that
//!   Ctrl-C prints is exact). Nothing ever calls `FLUSHALL`/`FLUSHDB`.
//! * **TTL**: every key expires [`Env::namespace_ttl`] after it is created
//!   (longer than the run can last: its rounds' time limits or deadline,
//!   plus 10 minutes), so a run killed before it cleans up leaves nothing
//!   for good. It costs no round trip: `SET … EX` (`redis-get-set`, and
//!   inside `redis-watch`'s `MULTI`) and `EXPIRE`/`SET … EX` inside the
//!   scripts (`redis-lua`, `redis-sadd`); the two `INCRBY` ones create their
//!   counters at 0 with the TTL at set-up (`SET … EX … NX`), and `INCRBY`
//!   keeps a key's TTL.
//! * **Ctrl-C during the run's own `CLIENT PAUSE`**: under `WRITE` it lifts
//!   the pause and deletes; under `ALL`, which holds every command
//!   (`CLIENT UNPAUSE` included) until it ends, with more than a second left
//!   it exits at once, saying for how long the server stays paused, that the
//!   keys expire by themselves, and how to delete them after the pause.
//! * **Secrets**: the URL's password lives in one private field; messages use
//!   [`RedisConfig::redacted_url`] and [`RedisConfig::scrub`].
//! * **Timeouts**: every connection has a connect and a response timeout; a
//!   dead server becomes failed or unknown outcomes.
//! * **Outcomes**: an answer is `Failed` only when it certainly did not
//!   apply (connection refused, command rejected), `Unknown` when it may
//!   have (a timeout after sending, a connection lost in flight), and `Ok`
//!   when acknowledged, even if an earlier, timed-out attempt also landed.
//!   The checker's counter bounds `[ok, ok + unknown]` rely on this.

mod admin;
mod batched;
mod config;
mod errors;
mod failover;
mod lab;
mod link;
mod pause;
mod run;
mod strategies;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use batched::INCRBY_BATCHED_EXPLAIN;
pub use batched::{IncrbyBatched, IncrbyBatchedHandle};
pub use config::{RedisConfig, DEFAULT_URL};
pub use lab::LabKind;
pub use strategies::{
    GetSet, GetSetHandle, IncrGet, IncrGetHandle, Incrby, IncrbyHandle, IncrbyWait,
    IncrbyWaitHandle, Lua, LuaHandle, Sadd, SaddHandle, Watch, WatchHandle,
};
pub(crate) use strategies::{
    GET_SET_EXPLAIN, INCRBY_EXPLAIN, INCRBY_WAIT_EXPLAIN, INCR_GET_EXPLAIN, LUA_EXPLAIN,
    SADD_EXPLAIN, WATCH_EXPLAIN,
};

use super::{ActiveRun, Backend, BackendError, Env, Family, Faults, Prepared, ServerFact};
use crate::strategy::{Layout, SetupError};

/// The Redis family's row.
pub const FAMILY: Family = Family {
    name: "redis",
    display: "Redis",
    url_flag: "redis-url",
    url_env: "QUIZRACE_REDIS_URL",
    url_help: "Redis URL, redis://[[user]:password@]host[:port][/db] (a password in it is \
               never printed)",
    default_url: DEFAULT_URL,
    can_pause: true,
    per_core: true,
    configure,
    decode,
};

fn configure(url: &str) -> Result<Arc<dyn Backend>, BackendError> {
    Ok(Arc::new(RedisConfig::new(url)?))
}

fn decode(v: serde_json::Value) -> Result<Arc<dyn Backend>, BackendError> {
    let cfg: RedisConfig = serde_json::from_value(v)
        .map_err(|e| BackendError::Config(format!("a Redis config from the parent: {e}")))?;
    Ok(Arc::new(cfg))
}

impl Backend for RedisConfig {
    fn family(&self) -> &'static Family {
        &FAMILY
    }

    fn begin(
        &self,
        env: &Env,
        _layout: Layout,
        start_delay: Duration,
    ) -> Result<Box<dyn ActiveRun>, SetupError> {
        Ok(Box::new(run::RedisRun::begin(
            Site::new(self, env),
            start_delay,
        )?))
    }

    fn prepare(&self) -> Result<Option<Prepared>, SetupError> {
        let Some(kind) = self.lab_kind() else {
            return Ok(None);
        };
        let lab = lab::Lab::start(kind)?;
        let cfg = match kind {
            LabKind::PrimaryReplica => RedisConfig::replicated(&lab.urls),
            LabKind::Cluster => RedisConfig::new(&lab.urls[0]).map(|c| c.with_cluster(true)),
        }
        .map_err(|e| SetupError::Backend(e.to_string()))?;
        Ok(Some(Prepared {
            backend: Arc::new(cfg),
            guard: Box::new(lab),
        }))
    }

    fn can_fail_over(&self) -> bool {
        // A lab's primary and replica, before or after it started.
        self.lab_kind() == Some(LabKind::PrimaryReplica) || RedisConfig::has_replicas(self)
    }

    fn has_replicas(&self) -> bool {
        RedisConfig::has_replicas(self) || self.lab_kind() == Some(LabKind::PrimaryReplica)
    }

    fn server(&self) -> Option<ServerFact> {
        let info = admin::info_server(self)?;
        let field = |k: &str| info.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
        // Valkey reports `valkey_version` beside a compatible `redis_version`.
        let (name, version) = match field("valkey_version") {
            Some(v) => ("valkey", v),
            None => ("redis", field("redis_version")?),
        };
        Some(ServerFact {
            backend: FAMILY.name.to_string(),
            name: name.to_string(),
            version,
        })
    }

    fn take_server_error(&self) -> Option<String> {
        errors::take_server_error()
    }

    fn encode(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a RedisConfig always serialises")
    }

    fn redacted_url(&self) -> String {
        RedisConfig::redacted_url(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A scenario's `[redis]` settings (`--redis-cluster`, `--redis-lab`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The URL is a node of a Redis Cluster.
    pub cluster: bool,
    /// Servers quizrace starts itself, instead of the URL's.
    pub lab: Option<LabKind>,
}

/// Applies a scenario's `[redis]` settings to `env`'s Redis back end: a
/// lab replaces the URL's server; `cluster` marks the URL as a cluster
/// node. Refuses what would not mean what it says: the pause fault or
/// client retries on a cluster (redis-rs's cluster client retries timed-out
/// commands on its own, which would hide the double counts they cause).
pub fn apply_options(env: Env, opts: Options) -> Result<Env, BackendError> {
    if opts == Options::default() {
        return Ok(env);
    }
    let cfg = match (opts.lab, env.config::<RedisConfig>()) {
        (Some(kind), _) => RedisConfig::lab(kind),
        (None, Some(c)) => c.clone().with_cluster(opts.cluster),
        // No Redis configured (yet): planning applies this again once a
        // named strategy gets the default URL.
        (None, None) => return Ok(env),
    };
    if cfg.is_cluster() && (env.faults.pause.is_some() || env.faults.retries > 0) {
        return Err(BackendError::Config(
            "the pause fault and client retries are not available on a Redis Cluster: the \
             cluster client retries timed-out commands by itself, which would hide the double \
             counts that quizrace's retries are there to show; run them on a single server"
                .into(),
        ));
    }
    Ok(env.with_backend(Arc::new(cfg)))
}

/// The key prefix of a run: `quizrace:<namespace>:`.
fn prefix(namespace: &str) -> String {
    format!("quizrace:{namespace}:")
}

/// Where one run's commands go: the server, the client fault settings, the
/// run's key prefix and its keys' TTL.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    pub(crate) cfg: RedisConfig,
    pub(crate) faults: Faults,
    pub(crate) prefix: String,
    /// Seconds every key of the run lives after it is created (`EX`,
    /// `EXPIRE`): [`Env::namespace_ttl`], rounded up, at least 1.
    pub(crate) ttl: u64,
}

impl Site {
    fn new(cfg: &RedisConfig, env: &Env) -> Site {
        let ttl = match env.namespace_ttl {
            d if d.is_zero() => crate::backend::DEFAULT_NAMESPACE_TTL,
            d => d,
        };
        Site {
            cfg: cfg.clone(),
            faults: env.faults.clone(),
            prefix: prefix(&env.namespace),
            // Lua scripts take it as a u32 argument: 136 years is enough.
            ttl: ttl.as_secs_f64().ceil().clamp(1.0, u32::MAX as f64) as u64,
        }
    }

    /// The site of the run `env` describes, for `strategy`.
    pub(crate) fn of(env: &Env, strategy: &'static str) -> Result<Site, SetupError> {
        let cfg = env.config::<RedisConfig>().ok_or(SetupError::NoBackend {
            strategy,
            family: &FAMILY,
        })?;
        Ok(Site::new(cfg, env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_ttl_is_a_day() {
        let env =
            crate::backend::configure(&[(&FAMILY, "redis://127.0.0.1:7001".into())], &[]).unwrap();
        assert_eq!(Site::of(&env, "t").unwrap().ttl, 24 * 3600);
    }

    #[test]
    fn env_round_trips_through_a_worker_spec() {
        let env =
            crate::backend::configure(&[(&FAMILY, "redis://127.0.0.1:7001".into())], &[]).unwrap();
        let env = Env {
            namespace: "abc".into(),
            namespace_ttl: Duration::from_millis(1500),
            ..env
        };
        let spec = serde_json::to_string(&env.to_spec()).unwrap();
        let back = Env::from_spec(serde_json::from_str(&spec).unwrap()).unwrap();
        assert_eq!(back.namespace, "abc");
        assert_eq!(back.namespace_ttl, Duration::from_millis(1500));
        assert_eq!(Site::of(&back, "t").unwrap().ttl, 2, "rounded up");
        assert_eq!(
            back.backend(&FAMILY).unwrap().redacted_url(),
            "redis://127.0.0.1:7001/0"
        );
        assert!(back.config::<RedisConfig>().is_some());
    }
}

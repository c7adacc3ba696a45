//! The back-end boundary: what a family of servers (Redis today; SQL
//! databases next) needs around a run, and nothing else.
//!
//! The simulator, the checker, scenarios, results and the report never name
//! a back end. They see:
//!
//! * a [`Family`]: a static row of facts (its name, the URL flag and
//!   environment variable it is configured from) and two constructors: from
//!   a URL, and from the config a parent process sent to a worker process;
//! * a [`Backend`]: one configured server (or cluster), which begins a run
//!   ([`Backend::begin`]) in the run's own namespace and describes the
//!   server for the environment table ([`Backend::server`]);
//! * an [`ActiveRun`]: the run's hooks. [`ActiveRun::before_counts`] is
//!   called once, when the workers are done, to end an injected fault;
//!   [`ActiveRun::end`] removes the namespace and says whether the server
//!   lost its data meanwhile. On Ctrl-C or SIGTERM, [`interrupt`] cleans up
//!   every active run instead.
//!
//! What every networked back end shares is generic here, not a field of one
//! family: client timeouts and retries and the injected fault ([`Faults`]),
//! the run's namespace ([`Env::namespace`]), and per-answer outcomes
//! (`ok` / `failed` / `unknown`, see [`crate::strategy::Outcome`]), which
//! the checker judges with the counter bounds `[ok, ok + unknown]`.
//!
//! The rules every family follows (namespaces always removed, timeouts on
//! every call, secrets never printed) are in `docs/backends.md`; how to add
//! a family is in `ARCHITECTURE.md`.

mod faults;
pub mod interrupt;
pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod retry;

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub(crate) use faults::note_event;
pub use faults::{take_events, Failover, Faults, FaultsError, Pause, PauseMode};
pub use interrupt::{stopped, Cleaned};

use crate::strategy::{Layout, SetupError};

/// Every back-end family, one row each: the CLI's URL flags, worker
/// processes and `quizrace list` read them from here.
pub static FAMILIES: &[&Family] = &[&redis::FAMILY, &postgres::FAMILY, &mysql::FAMILY];

/// Static facts about a back-end family and how to configure one.
pub struct Family {
    /// Stable lower-case name (`redis`), used in results and worker specs.
    pub name: &'static str,
    /// Name for people (`Redis`).
    pub display: &'static str,
    /// The command-line flag that takes its URL, without dashes (`redis-url`).
    pub url_flag: &'static str,
    /// The environment variable that may hold the URL instead.
    pub url_env: &'static str,
    /// Help text for the flag.
    pub url_help: &'static str,
    /// The URL used when neither the flag nor the variable is set.
    pub default_url: &'static str,
    /// Whether it can inject the pause fault (`[faults] pause_at`).
    pub can_pause: bool,
    /// Whether its strategies run thread-per-core on the `tokio` runtime
    /// (`sim::tokio_rt`): true for a client that multiplexes one connection
    /// per runtime (Redis), false for one that keeps a pool sized per
    /// process (the SQL families), whose connections a set-up per core
    /// thread would multiply.
    pub per_core: bool,
    /// A configured back end for `url` (no I/O yet). The error never
    /// contains the URL, which may hold a password.
    pub configure: fn(url: &str) -> Result<Arc<dyn Backend>, BackendError>,
    /// Restores the config a parent sent to a worker process
    /// ([`Backend::encode`]).
    pub decode: fn(serde_json::Value) -> Result<Arc<dyn Backend>, BackendError>,
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Family {
    fn eq(&self, other: &Family) -> bool {
        self.name == other.name
    }
}

impl Family {
    /// How to give this family a server, for error messages.
    pub fn how_to_configure(&self) -> String {
        format!("pass --{} or set {}", self.url_flag, self.url_env)
    }

    /// Looks a family up by [`Family::name`].
    pub fn by_name(name: &str) -> Option<&'static Family> {
        FAMILIES.iter().copied().find(|f| f.name == name)
    }
}

/// A back end could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The URL (or the config sent to a worker process) is not usable; the
    /// message says what is expected and never echoes a password.
    #[error("{0}")]
    Config(String),
    /// A worker process was sent a family this build does not know.
    #[error("unknown back-end family `{0}` in a worker spec")]
    UnknownFamily(String),
}

/// One configured server (or cluster) of some family.
///
/// Implementations keep their secrets private: `Debug` and
/// [`Backend::redacted_url`] never show a password; only
/// [`Backend::encode`] does, for worker processes, over a pipe.
pub trait Backend: Any + Send + Sync + fmt::Debug {
    /// Its family.
    fn family(&self) -> &'static Family;

    /// Begins one strategy run in `env.namespace`: creates what the run's
    /// strategies need for `layout` (tables, say), remembers the server's
    /// identity (to detect a restart), registers the namespace for interrupt
    /// clean-up, and schedules `env.faults`' injected fault `start_delay`
    /// plus its own offset from now.
    fn begin(
        &self,
        env: &Env,
        layout: Layout,
        start_delay: Duration,
    ) -> Result<Box<dyn ActiveRun>, SetupError>;

    /// The server's name and version, when it answers within a second.
    fn server(&self) -> Option<ServerFact>;

    /// The first error the server answered with in this process since the
    /// last call (e.g. a write refused for lack of memory): an environment
    /// failure, reported instead of a verdict.
    fn take_server_error(&self) -> Option<String>;

    /// The config for a worker process, secrets included: send it over a
    /// pipe, never in argv, a file or a log.
    fn encode(&self) -> serde_json::Value;

    /// Where it is, with any password replaced by `***`.
    fn redacted_url(&self) -> String;

    /// For [`Env::config`].
    fn as_any(&self) -> &dyn Any;

    /// Starts what this back end needs before a scenario runs (servers of
    /// its own: the Redis lab) and returns the back end to use instead,
    /// with a guard that stops them when dropped. Default: nothing.
    fn prepare(&self) -> Result<Option<Prepared>, SetupError> {
        Ok(None)
    }

    /// Whether the failover fault can be injected (servers quizrace
    /// started itself, with a replica to promote).
    fn can_fail_over(&self) -> bool {
        false
    }

    /// Whether it has replicas that acknowledge writes (for strategies
    /// that wait for one).
    fn has_replicas(&self) -> bool {
        false
    }
}

/// A back end started by [`Backend::prepare`], and what keeps it running.
pub struct Prepared {
    /// The back end to use for the scenario.
    pub backend: Arc<dyn Backend>,
    /// Stops what was started when dropped.
    pub guard: Box<dyn Any + Send>,
}

/// Prepares every back end of `env` ([`Backend::prepare`]): the
/// environment to run with, and the guards to drop when the scenario ends.
pub fn prepare(env: &Env) -> Result<(Env, Vec<Box<dyn Any + Send>>), SetupError> {
    let mut out = env.clone();
    let mut guards = Vec::new();
    for b in env.backends() {
        if let Some(p) = b.prepare()? {
            out = out.with_backend(p.backend);
            guards.push(p.guard);
        }
    }
    Ok((out, guards))
}

/// A server as the environment table shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerFact {
    /// The family that talked to it (`redis`).
    pub backend: String,
    /// What the server says it is (`redis`, `valkey`, `postgresql`…).
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The hooks of one strategy run on one back end.
pub trait ActiveRun: Send {
    /// Ends the run's injected fault (lifting a server pause still in force)
    /// and waits for what it held to land, so that counts read next are
    /// final. Called once, after the workers are done and before counts are
    /// read; a second call does nothing.
    fn before_counts(&mut self) -> Result<(), SetupError>;

    /// Removes everything the run created (its namespace) and reports on
    /// the server. A failed removal says exactly what is left and how to
    /// delete it.
    fn end(self: Box<Self>) -> Result<RunEnd, SetupError>;
}

/// What [`ActiveRun::end`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunEnd {
    /// The server restarted during the run: what it forgot is its own data
    /// loss, not the strategy's lost updates.
    pub restarted: bool,
    /// The first error the server answered with during the run.
    pub server_error: Option<String>,
}

/// Everything a strategy may need from outside the process: the configured
/// back ends, the client fault settings, and the run's namespace.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// Client timeouts and retries, and the injected fault: the same rules
    /// for every networked back end.
    pub faults: Faults,
    /// The current run's namespace: a fresh id per strategy run (see
    /// [`new_namespace`]), which every key or table name of the run carries.
    pub namespace: String,
    /// The safety net for a run that dies without cleaning up (SIGKILL,
    /// power loss, a refused clean-up): everything the run creates in its
    /// namespace expires this long after it is created, where the store can
    /// say so (Redis: a key TTL). Longer than the run can last, so nothing
    /// expires while it is in use: [`namespace_ttl`] of that bound, set by
    /// [`crate::sim::run_trial`]. Zero: the family's own default (Redis:
    /// [`DEFAULT_NAMESPACE_TTL`]).
    pub namespace_ttl: Duration,
    backends: Vec<Arc<dyn Backend>>,
}

/// What [`namespace_ttl`] adds to the longest a run can last: clean-up,
/// reading the counts, and a slow machine all fit in it.
pub const NAMESPACE_TTL_MARGIN: Duration = Duration::from_secs(600);

/// The TTL of an [`Env`] whose [`Env::namespace_ttl`] nobody set (a
/// strategy set up by hand, e.g. in a bench): a day.
pub const DEFAULT_NAMESPACE_TTL: Duration = Duration::from_secs(24 * 3600);

/// The namespace TTL of a run that lasts at most `run_lasts`: that plus
/// [`NAMESPACE_TTL_MARGIN`].
pub fn namespace_ttl(run_lasts: Duration) -> Duration {
    run_lasts.saturating_add(NAMESPACE_TTL_MARGIN)
}

impl Env {
    /// `self` with `backend` configured (replacing one of the same family).
    pub fn with_backend(mut self, backend: Arc<dyn Backend>) -> Env {
        let family = backend.family();
        self.backends.retain(|b| b.family() != family);
        self.backends.push(backend);
        self
    }

    /// The configured back end of `family`, if any.
    pub fn backend(&self, family: &Family) -> Option<&Arc<dyn Backend>> {
        self.backends.iter().find(|b| b.family() == family)
    }

    /// The configured back end of type `B`, if any (how a family's own
    /// strategies reach their typed config).
    pub fn config<B: Backend>(&self) -> Option<&B> {
        self.backends.iter().find_map(|b| b.as_any().downcast_ref())
    }

    /// Every configured back end.
    pub fn backends(&self) -> &[Arc<dyn Backend>] {
        &self.backends
    }

    /// Whether clients retry, so that a retried non-idempotent command may
    /// apply twice.
    pub fn retries_may_double_count(&self) -> bool {
        self.faults.retries > 0
    }

    /// The form a worker process receives (secrets included: pipes only).
    pub fn to_spec(&self) -> EnvSpec {
        EnvSpec {
            faults: self.faults.clone(),
            namespace: self.namespace.clone(),
            namespace_ttl: self.namespace_ttl,
            backends: self
                .backends
                .iter()
                .map(|b| (b.family().name.to_string(), b.encode()))
                .collect(),
        }
    }

    /// Rebuilds an environment a parent sent ([`Env::to_spec`]).
    pub fn from_spec(spec: EnvSpec) -> Result<Env, BackendError> {
        let mut env = Env {
            faults: spec.faults,
            namespace: spec.namespace,
            namespace_ttl: spec.namespace_ttl,
            backends: Vec::new(),
        };
        for (name, config) in spec.backends {
            let family =
                Family::by_name(&name).ok_or_else(|| BackendError::UnknownFamily(name.clone()))?;
            env = env.with_backend((family.decode)(config)?);
        }
        Ok(env)
    }
}

/// An [`Env`] as sent to a worker process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnvSpec {
    faults: Faults,
    namespace: String,
    #[serde(default)]
    namespace_ttl: Duration,
    backends: Vec<(String, serde_json::Value)>,
}

/// A fresh namespace: wall-clock nanoseconds, process id and a per-process
/// counter, in hex, so it is unique per run and practically unique across
/// machines. Parents make it and hand it to their worker processes.
pub fn new_namespace() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "{ns:x}-{:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Configures every family whose URL was given (`urls`: family name to URL,
/// from flags or environment variables), or the family's default URL for
/// those in `needed` that were not given.
pub fn configure(
    urls: &[(&'static Family, String)],
    needed: &[&'static Family],
) -> Result<Env, BackendError> {
    let mut env = Env::default();
    for (family, url) in urls {
        env = env.with_backend((family.configure)(url)?);
    }
    for family in needed {
        if env.backend(family).is_none() {
            env = env.with_backend((family.configure)(family.default_url)?);
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_unique() {
        assert_ne!(new_namespace(), new_namespace());
    }

    #[test]
    fn an_unknown_family_in_a_spec_is_an_error() {
        let spec: EnvSpec = serde_json::from_value(serde_json::json!({
            "faults": Faults::default(), "namespace": "x", "backends": [["nosuch", null]]
        }))
        .unwrap();
        assert!(matches!(
            Env::from_spec(spec),
            Err(BackendError::UnknownFamily(_))
        ));
    }
}

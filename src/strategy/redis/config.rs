//! Redis settings: the URL (with its secret), the run's key prefix, timeouts
//! and injected faults.
//!
//! The URL may hold a password (`redis://:pw@host` or ACL
//! `redis://user:pw@host`). It is kept in one private field, serialised only
//! for the child processes of `--runtime processes` (over a stdin pipe, never
//! argv), and shown everywhere else through [`RedisConfig::redacted_url`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::strategy::Env;

/// The URL used when neither `--redis-url` nor `QUIZRACE_REDIS_URL` is given.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// Default time to open a connection (TCP connect plus handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time to wait for one reply. Loopback replies take ~0.1 ms even
/// with 50 clients (`redis-benchmark -t incr -c 50` here: p50 0.3 ms), so
/// 2 s only fires on a real fault.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connection settings for Redis strategies.
///
/// `Debug` never shows the password; `Serialize` does (the children of
/// `--runtime processes` need it), so a serialised `RedisConfig` must only
/// ever travel over a pipe, never into a file or a log.
#[derive(Clone, Serialize, Deserialize)]
pub struct RedisConfig {
    url: String,
    /// Unique id of the run; every key lives under `quizrace:{run_id}:`.
    pub run_id: String,
    /// Timeouts, client retries and the injected pause.
    pub faults: Faults,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("run_id", &self.run_id)
            .field("faults", &self.faults)
            .finish()
    }
}

/// Client timeouts and retries, and an optional server pause, for fault runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Time to wait for one reply before the attempt counts as timed out.
    pub response_timeout: Duration,
    /// Client retries after a timeout or a connection error (0: none).
    pub retries: u32,
    /// A `CLIENT PAUSE` injected from a control connection mid-run.
    pub pause: Option<Pause>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            retries: 0,
            pause: None,
        }
    }
}

/// A server pause: `CLIENT PAUSE <for> <mode>` sent `at` after the workers start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// When, counted from the moment workers are released.
    pub at: Duration,
    /// How long the server holds the paused commands.
    pub duration: Duration,
    /// Which commands are held.
    pub mode: PauseMode,
}

/// Which commands `CLIENT PAUSE` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PauseMode {
    /// Writes (and scripts) wait; reads are served. Redis 6.2 or later.
    Write,
    /// Every command waits.
    All,
}

impl PauseMode {
    /// The `CLIENT PAUSE` argument.
    pub fn as_str(self) -> &'static str {
        match self {
            PauseMode::Write => "WRITE",
            PauseMode::All => "ALL",
        }
    }
}

/// Upper bound on any configured timeout: longer would look like a hang.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound on client retries: each one is a timeout's worth of waiting.
const MAX_RETRIES: u32 = 100;

impl Faults {
    /// Checks ranges; the message says which setting and what is allowed.
    pub fn validate(&self) -> Result<(), String> {
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
        ] {
            if d.is_zero() || d > MAX_TIMEOUT {
                return Err(format!(
                    "{name} must be more than 0 and at most 60s (got {d:?})"
                ));
            }
        }
        if self.retries > MAX_RETRIES {
            return Err(format!(
                "retries = {} is over the limit of {MAX_RETRIES}: each retry waits up to response_timeout",
                self.retries
            ));
        }
        if let Some(p) = &self.pause {
            if p.duration.is_zero() || p.duration > MAX_TIMEOUT {
                return Err(format!(
                    "pause_for must be more than 0 and at most 60s (got {:?})",
                    p.duration
                ));
            }
            if p.at > Duration::from_secs(3600) {
                return Err("pause_at must be at most 1h".into());
            }
        }
        Ok(())
    }

    /// Whether anything differs from a plain run (for the results file).
    pub fn is_default(&self) -> bool {
        *self == Faults::default()
    }
}

impl RedisConfig {
    /// Settings for `url` with default timeouts and a fresh run id.
    pub fn new(url: &str) -> Result<RedisConfig, String> {
        let cfg = RedisConfig {
            url: url.to_string(),
            run_id: new_run_id(),
            faults: Faults::default(),
        };
        cfg.client()?;
        Ok(cfg)
    }

    /// Whether client retries are on, so a retried command may apply twice.
    pub fn retries_may_double_count(&self) -> bool {
        self.faults.retries > 0
    }

    /// The prefix of every key of this run: `quizrace:{run_id}:`.
    pub fn prefix(&self) -> String {
        format!("quizrace:{}:", self.run_id)
    }

    /// The URL with any password replaced by `***`, for messages.
    pub fn redacted_url(&self) -> String {
        match redis::Client::open(self.url.as_str()) {
            Ok(c) => {
                let info = c.get_connection_info();
                let r = info.redis_settings();
                let user = match (r.username(), r.password()) {
                    (Some(u), Some(_)) => format!("{u}:***@"),
                    (Some(u), None) => format!("{u}@"),
                    (None, Some(_)) => ":***@".to_string(),
                    (None, None) => String::new(),
                };
                format!("redis://{user}{}/{}", info.addr(), r.db())
            }
            Err(_) => "(an invalid Redis URL, not shown)".to_string(),
        }
    }

    /// Replaces the password, if any, in a message from a library or server.
    ///
    /// Belt and braces: no message quizrace builds contains the URL, but an
    /// error from a dependency might echo what it was given.
    pub fn scrub(&self, msg: &str) -> String {
        let Some(pw) = redis::Client::open(self.url.as_str()).ok().and_then(|c| {
            c.get_connection_info()
                .redis_settings()
                .password()
                .map(String::from)
        }) else {
            return msg.to_string(); // no secret to hide
        };
        let mut out = msg.replace(&self.url, &self.redacted_url());
        // Very short passwords would mangle every message; they are also
        // never echoed by redis-rs or the server.
        if pw.len() >= 3 {
            out = out.replace(&pw, "***");
        }
        out
    }

    /// A `redis::Client` (no I/O yet).
    pub(crate) fn client(&self) -> Result<redis::Client, String> {
        if self.url.starts_with("rediss://") {
            return Err(
                "TLS Redis URLs (rediss://) are not supported by this build; use redis:// on a \
                 trusted network or a local TLS tunnel"
                    .into(),
            );
        }
        redis::Client::open(self.url.as_str()).map_err(|_| {
            // The URL itself is not echoed: it may hold a password.
            "the Redis URL is not valid; expected redis://[[user]:password@]host[:port][/db] \
             (the URL is not shown because it may contain a password)"
                .to_string()
        })
    }
}

/// A process-unique, practically globally unique run id: wall-clock
/// nanoseconds, process id and a per-process counter, in hex. Parents make
/// it and hand it to their children, so every process of a run shares it.
pub(crate) fn new_run_id() -> String {
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

/// Builds the run's environment from a URL (flag or `QUIZRACE_REDIS_URL`);
/// `None` means the default local server.
pub fn env_from_url(url: Option<&str>) -> Result<Env, String> {
    Ok(Env {
        redis: Some(RedisConfig::new(url.unwrap_or(DEFAULT_URL))?),
    })
}

/// `env` with the given faults (timeouts, retries, pause) applied.
pub fn with_faults(env: &Env, faults: &Faults) -> Result<Env, String> {
    faults.validate()?;
    let mut env = env.clone();
    if let Some(r) = env.redis.as_mut() {
        r.faults = faults.clone();
    }
    Ok(env)
}

/// Fault settings for the results file (`None` for a plain run).
pub fn faults_json(env: &Env) -> Option<serde_json::Value> {
    let f = &env.redis.as_ref()?.faults;
    if f.is_default() {
        return None;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Some(serde_json::json!({
        "connect_timeout_ms": ms(f.connect_timeout),
        "response_timeout_ms": ms(f.response_timeout),
        "retries": f.retries,
        "pause": f.pause.map(|p| serde_json::json!({
            "at_ms": ms(p.at),
            "for_ms": ms(p.duration),
            "mode": p.mode.as_str(),
        })),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_redacted_url_hide_the_password() {
        let c = RedisConfig::new("redis://alice:hunter2-secret@127.0.0.1:7001/3").unwrap();
        let shown = format!("{c:?} {}", c.redacted_url());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("alice:***@127.0.0.1:7001/3"), "{shown}");
        let c = RedisConfig::new("redis://:hunter2-secret@localhost").unwrap();
        assert_eq!(c.redacted_url(), "redis://:***@localhost:6379/0");
        assert_eq!(
            c.scrub("echo redis://:hunter2-secret@localhost and hunter2-secret"),
            "echo redis://:***@localhost:6379/0 and ***"
        );
        let plain = RedisConfig::new("redis://127.0.0.1:7001").unwrap();
        let at = plain.redacted_url();
        assert_eq!(at, "redis://127.0.0.1:7001/0");
        assert_eq!(plain.scrub(&at), at);
    }

    #[test]
    fn bad_urls_are_not_echoed() {
        let e = RedisConfig::new("http://user:hunter2-secret@x").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(RedisConfig::new("rediss://h").is_err());
    }

    #[test]
    fn run_ids_are_unique() {
        assert_ne!(new_run_id(), new_run_id());
    }

    #[test]
    fn faults_are_validated() {
        let mut f = Faults {
            retries: 1000,
            ..Faults::default()
        };
        assert!(f.validate().unwrap_err().contains("retries"));
        f.retries = 2;
        f.response_timeout = Duration::ZERO;
        assert!(f.validate().unwrap_err().contains("response_timeout"));
    }
}

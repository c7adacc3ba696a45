//! A Redis server's URL, with its secret.
//!
//! The URL may hold a password (`redis://:pw@host` or ACL
//! `redis://user:pw@host`). It is kept in one private field, serialised only
//! for the worker processes of `--runtime processes` (over a stdin pipe,
//! never argv), and shown everywhere else through
//! [`RedisConfig::redacted_url`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::lab::LabKind;
use crate::backend::BackendError;

/// The URL used when neither `--redis-url` nor `QUIZRACE_REDIS_URL` is given.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// Where the Redis server is.
///
/// `Debug` never shows the password; `Serialize` does (worker processes
/// need it), so a serialised `RedisConfig` must only ever travel over a
/// pipe, never into a file or a log.
#[derive(Clone, Serialize, Deserialize)]
pub struct RedisConfig {
    url: String,
    /// The URL is one node of a Redis Cluster (`--redis-cluster`).
    #[serde(default)]
    cluster: bool,
    /// Other nodes of a primary/replica set (the failover lab's): clients
    /// connect to whichever of `url` and these says it is the primary.
    #[serde(default)]
    others: Vec<String>,
    /// Servers to start before the scenario runs (the lab), whose URLs
    /// then replace this config; never sent to a worker process.
    #[serde(skip)]
    lab: Option<LabKind>,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("cluster", &self.cluster)
            .field("others", &self.others.len())
            .finish()
    }
}

impl RedisConfig {
    /// Settings for `url`, checked (no I/O yet).
    pub fn new(url: &str) -> Result<RedisConfig, BackendError> {
        let cfg = RedisConfig {
            url: url.to_string(),
            cluster: false,
            others: Vec::new(),
            lab: None,
        };
        cfg.client()?;
        Ok(cfg)
    }

    /// Servers of `kind` that quizrace starts itself before the scenario
    /// ([`crate::backend::Backend::prepare`]).
    pub fn lab(kind: LabKind) -> RedisConfig {
        RedisConfig {
            url: "redis://127.0.0.1:0".into(),
            cluster: kind == LabKind::Cluster,
            others: Vec::new(),
            lab: Some(kind),
        }
    }

    /// The lab this config asks for, if any.
    pub(crate) fn lab_kind(&self) -> Option<LabKind> {
        self.lab
    }

    /// The same server as one node of a Redis Cluster (or not).
    pub fn with_cluster(mut self, cluster: bool) -> RedisConfig {
        self.cluster = cluster;
        self
    }

    /// A primary/replica set: `urls[0]` is the primary at first; clients
    /// follow whichever node says it is the primary (`ROLE`).
    pub(crate) fn replicated(urls: &[String]) -> Result<RedisConfig, BackendError> {
        let mut cfg = RedisConfig::new(&urls[0])?;
        cfg.others = urls[1..].to_vec();
        for u in &cfg.others {
            RedisConfig::new(u)?;
        }
        Ok(cfg)
    }

    /// Whether the URL is a node of a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// Whether this is a primary with replicas quizrace knows of.
    pub(crate) fn has_replicas(&self) -> bool {
        !self.others.is_empty()
    }

    /// Every node's URL: the URL's server first, then the other nodes.
    pub(crate) fn urls(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.url.as_str()).chain(self.others.iter().map(String::as_str))
    }

    /// The URL's connection settings (no I/O).
    pub(crate) fn connection_info(&self) -> Result<redis::ConnectionInfo, BackendError> {
        Ok(self.client()?.get_connection_info().clone())
    }

    /// Every node's connection settings (no I/O).
    pub(crate) fn nodes(&self) -> Result<Vec<redis::ConnectionInfo>, BackendError> {
        self.urls()
            .map(|u| Ok(RedisConfig::new(u)?.client()?.get_connection_info().clone()))
            .collect()
    }

    /// The settings of the node at `host:port`, with this URL's credentials
    /// and database (a cluster's other primaries, for clean-up).
    pub(crate) fn node_at(
        &self,
        host: &str,
        port: u16,
    ) -> Result<redis::ConnectionInfo, BackendError> {
        Ok(self
            .connection_info()?
            .set_addr(redis::ConnectionAddr::Tcp(host.to_string(), port)))
    }

    /// The URL with any password replaced by `***`, for messages.
    pub fn redacted_url(&self) -> String {
        if let Some(kind) = self.lab {
            return format!("the Redis lab ({}) quizrace starts", kind.name());
        }
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

    /// A `redis::Client` (no I/O yet); the error says what a valid URL is.
    pub(crate) fn client(&self) -> Result<redis::Client, BackendError> {
        if self.url.starts_with("rediss://") {
            return Err(BackendError::Config(
                "TLS Redis URLs (rediss://) are not supported by this build; use redis:// on a \
                 trusted network or a local TLS tunnel"
                    .into(),
            ));
        }
        redis::Client::open(self.url.as_str()).map_err(|_| {
            // The URL itself is not echoed: it may hold a password.
            BackendError::Config(
                "the Redis URL is not valid; expected redis://[[user]:password@]host[:port][/db] \
                 (the URL is not shown because it may contain a password)"
                    .to_string(),
            )
        })
    }
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
        let e = RedisConfig::new("http://user:hunter2-secret@x")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(RedisConfig::new("rediss://h").is_err());
    }
}

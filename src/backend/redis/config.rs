//! A Redis server's URL, with its secret.
//!
//! The URL may hold a password (`redis://:pw@host` or ACL
//! `redis://user:pw@host`). It is kept in one private field, serialised only
//! for the worker processes of `--runtime processes` (over a stdin pipe,
//! never argv), and shown everywhere else through
//! [`RedisConfig::redacted_url`].

use std::fmt;

use serde::{Deserialize, Serialize};

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
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .finish()
    }
}

impl RedisConfig {
    /// Settings for `url`, checked (no I/O yet).
    pub fn new(url: &str) -> Result<RedisConfig, BackendError> {
        let cfg = RedisConfig {
            url: url.to_string(),
        };
        cfg.client()?;
        Ok(cfg)
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

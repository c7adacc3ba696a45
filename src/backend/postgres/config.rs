//! A PostgreSQL server's URL, with its secret (shown only as `***`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::backend::BackendError;

/// The URL used when neither `--pg-url` nor `QUIZRACE_PG_URL` is given.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Where the PostgreSQL server is. `Debug` never shows the password;
/// `Serialize` does (worker processes need it: pipes only).
#[derive(Clone, Serialize, Deserialize)]
pub struct PgConfig {
    url: String,
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &self.redacted_url())
            .finish()
    }
}

impl PgConfig {
    /// Settings for `url`, checked (no I/O yet).
    pub fn new(url: &str) -> Result<PgConfig, BackendError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(BackendError::Config(
                "a PostgreSQL URL starts with postgres:// (e.g. \
                 postgres://user@127.0.0.1:5432/test); the URL is not shown because it may \
                 contain a password"
                    .into(),
            ));
        }
        let cfg = PgConfig {
            url: url.to_string(),
        };
        cfg.parsed()?;
        Ok(cfg)
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The driver's view of the URL.
    pub(crate) fn parsed(&self) -> Result<tokio_postgres::Config, BackendError> {
        tokio_postgres::Config::from_str(&self.url).map_err(|_| {
            BackendError::Config(
                "the PostgreSQL URL is not valid; expected \
                 postgres://[user[:password]@]host[:port]/database (the URL is not shown \
                 because it may contain a password)"
                    .into(),
            )
        })
    }

    /// The URL with any password replaced by `***`, for messages.
    pub fn redacted_url(&self) -> String {
        let Ok(c) = self.parsed() else {
            return "(an invalid PostgreSQL URL, not shown)".into();
        };
        let user = match (c.get_user(), c.get_password().is_some()) {
            (Some(u), true) => format!("{u}:***@"),
            (Some(u), false) => format!("{u}@"),
            (None, true) => ":***@".into(),
            (None, false) => String::new(),
        };
        let host = c
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = c.get_ports().first().copied().unwrap_or(5432);
        format!(
            "postgres://{user}{host}:{port}/{}",
            c.get_dbname().unwrap_or("")
        )
    }

    /// Replaces the password, if any, in a message from the driver or server.
    pub fn scrub(&self, msg: &str) -> String {
        let Some(pw) = self.parsed().ok().and_then(|c| {
            c.get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned())
        }) else {
            return msg.to_string();
        };
        let mut out = msg.replace(&self.url, &self.redacted_url());
        if pw.len() >= 3 {
            out = out.replace(&pw, "***");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        let c = PgConfig::new("postgres://alice:hunter2-secret@10.0.0.1:6543/quiz").unwrap();
        let shown = format!("{c:?} {}", c.redacted_url());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(c.redacted_url(), "postgres://alice:***@10.0.0.1:6543/quiz");
        assert_eq!(c.scrub("x hunter2-secret y"), "x *** y");
        let e = PgConfig::new("mysql://root:hunter2-secret@h/db").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}

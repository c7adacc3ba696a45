//! A MariaDB/MySQL server's URL, with its secret (shown only as `***`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::backend::BackendError;

/// The URL used when neither `--mysql-url` nor `QUIZRACE_MYSQL_URL` is given.
pub const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// Where the server is. `Debug` never shows the password; `Serialize` does
/// (worker processes need it: pipes only).
#[derive(Clone, Serialize, Deserialize)]
pub struct MysqlConfig {
    url: String,
}

impl fmt::Debug for MysqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlConfig")
            .field("url", &self.redacted_url())
            .finish()
    }
}

impl MysqlConfig {
    /// Settings for `url`, checked (no I/O yet).
    pub fn new(url: &str) -> Result<MysqlConfig, BackendError> {
        let cfg = MysqlConfig {
            url: url.to_string(),
        };
        if !url.starts_with("mysql://") {
            return Err(BackendError::Config(
                "a MariaDB/MySQL URL starts with mysql:// (e.g. mysql://root@127.0.0.1:3306/test); \
                 the URL is not shown because it may contain a password"
                    .into(),
            ));
        }
        cfg.opts()?;
        Ok(cfg)
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The driver's view of the URL.
    pub(crate) fn opts(&self) -> Result<mysql_async::Opts, BackendError> {
        mysql_async::Opts::from_url(&self.url).map_err(|_| {
            BackendError::Config(
                "the MariaDB/MySQL URL is not valid; expected \
                 mysql://[user[:password]@]host[:port]/database (the URL is not shown because it \
                 may contain a password)"
                    .into(),
            )
        })
    }

    /// The URL with any password replaced by `***`, for messages.
    pub fn redacted_url(&self) -> String {
        let Ok(o) = self.opts() else {
            return "(an invalid MariaDB/MySQL URL, not shown)".into();
        };
        let user = match (o.user(), o.pass().is_some()) {
            (Some(u), true) => format!("{u}:***@"),
            (Some(u), false) => format!("{u}@"),
            (None, true) => ":***@".into(),
            (None, false) => String::new(),
        };
        format!(
            "mysql://{user}{}:{}/{}",
            o.ip_or_hostname(),
            o.tcp_port(),
            o.db_name().unwrap_or("")
        )
    }

    /// Replaces the password, if any, in a message from the driver or server.
    pub fn scrub(&self, msg: &str) -> String {
        let Some(pw) = self.opts().ok().and_then(|o| o.pass().map(String::from)) else {
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
        let c = MysqlConfig::new("mysql://bob:hunter2-secret@10.0.0.2:3307/quiz").unwrap();
        let shown = format!("{c:?} {}", c.redacted_url());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(c.redacted_url(), "mysql://bob:***@10.0.0.2:3307/quiz");
        assert_eq!(c.scrub("x hunter2-secret"), "x ***");
        let e = MysqlConfig::new("postgres://u:hunter2-secret@h/db").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}

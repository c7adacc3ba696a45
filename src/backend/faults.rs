//! Client timeouts, retries and an injected server pause: the fault
//! settings every networked back end honours.
//!
//! A pause makes the server hold clients' commands for a while and then run
//! them all. A client whose response timeout is shorter than the pause gives
//! up on commands the server will still run; if it retries, the server runs
//! both. That is how a non-idempotent fix over-counts, shown without killing
//! anything. Each family says how it pauses its server (Redis:
//! `CLIENT PAUSE`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Fault events of this process: when (on [`crate::sim::system_ns`]'s
/// clock) and what. Injectors note them; `sim::run_trial` takes them after
/// each trial, for the timeline picture.
static EVENTS: std::sync::Mutex<Vec<(u64, String)>> = std::sync::Mutex::new(Vec::new());

/// Notes that `what` happened now, or `at` on the system-wide clock.
pub(crate) fn note_event(at: Option<u64>, what: impl Into<String>) {
    let at = at.unwrap_or_else(crate::sim::system_ns);
    EVENTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((at, what.into()));
}

/// Takes the fault events noted so far.
pub fn take_events() -> Vec<(u64, String)> {
    std::mem::take(&mut *EVENTS.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Default time to open a connection (TCP connect plus handshake).
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time to wait for one reply. Loopback replies take well under a
/// millisecond even with 50 clients (p50 0.3 ms for a counter increment on
/// this project's 2-core machine), so 2 s only fires on a real fault.
pub(crate) const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Upper bound on any configured timeout: longer would look like a hang.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound on client retries: each one is a timeout's worth of waiting.
const MAX_RETRIES: u32 = 100;

/// Client timeouts and retries, and an optional server pause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Time to wait for one reply before the attempt counts as timed out.
    pub response_timeout: Duration,
    /// Client retries after a timeout or a connection error (0: none).
    pub retries: u32,
    /// A server pause injected from a control connection mid-run.
    pub pause: Option<Pause>,
    /// A failover of a primary/replica set mid-run (the Redis lab's).
    #[serde(default)]
    pub failover: Option<Failover>,
}

/// A failover as Sentinel performs it under a partition: the replica is
/// promoted `at` after the workers start while clients keep writing to the
/// old primary; `duration` later the old primary becomes the new one's
/// replica (dropping what it acknowledged alone) and clients move over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failover {
    /// When the replica is promoted, counted from the workers' start.
    pub at: Duration,
    /// How long the old primary keeps acknowledging writes alone.
    pub duration: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            retries: 0,
            pause: None,
            failover: None,
        }
    }
}

/// A server pause, `at` after the workers start, for `duration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// When, counted from the moment workers are released.
    pub at: Duration,
    /// How long the server holds the paused commands.
    pub duration: Duration,
    /// Which commands are held.
    pub mode: PauseMode,
}

/// Which commands a pause holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PauseMode {
    /// Writes (and scripts) wait; reads are served.
    Write,
    /// Every command waits.
    All,
}

impl PauseMode {
    /// The lower-case name used in scenario files and results.
    pub fn as_str(self) -> &'static str {
        match self {
            PauseMode::Write => "write",
            PauseMode::All => "all",
        }
    }
}

/// A fault setting out of range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultsError {
    /// A timeout of zero or over a minute.
    #[error("{name} must be more than 0 and at most 60s (got {value:?})")]
    Timeout {
        /// Which setting.
        name: &'static str,
        /// What it was.
        value: Duration,
    },
    /// Too many retries.
    #[error(
        "retries = {0} is over the limit of {MAX_RETRIES}: each retry waits up to response_timeout"
    )]
    Retries(u32),
    /// A pause starting more than an hour in.
    #[error("pause_at must be at most 1h (got {0:?})")]
    PauseAt(Duration),
    /// A failover starting more than an hour in.
    #[error("failover_at must be at most 1h (got {0:?})")]
    FailoverAt(Duration),
}

impl Faults {
    /// Checks ranges; the message says which setting and what is allowed.
    pub fn validate(&self) -> Result<(), FaultsError> {
        let mut timeouts = vec![
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
        ];
        if let Some(p) = &self.pause {
            timeouts.push(("pause_for", p.duration));
            if p.at > Duration::from_secs(3600) {
                return Err(FaultsError::PauseAt(p.at));
            }
        }
        if let Some((name, value)) = timeouts
            .into_iter()
            .find(|(_, d)| d.is_zero() || *d > MAX_TIMEOUT)
        {
            return Err(FaultsError::Timeout { name, value });
        }
        if let Some(f) = &self.failover {
            if f.at > Duration::from_secs(3600) {
                return Err(FaultsError::FailoverAt(f.at));
            }
            if f.duration.is_zero() || f.duration > MAX_TIMEOUT {
                return Err(FaultsError::Timeout {
                    name: "failover_for",
                    value: f.duration,
                });
            }
        }
        if self.retries > MAX_RETRIES {
            return Err(FaultsError::Retries(self.retries));
        }
        Ok(())
    }

    /// The longest one call to the server can take under these settings:
    /// every attempt's connect and response timeouts, and the back-off
    /// between refused attempts (at most 640 ms each).
    pub fn longest_call(&self) -> Duration {
        let attempt = self.connect_timeout + self.response_timeout;
        let tries = self.retries.saturating_add(1);
        attempt.saturating_mul(tries) + Duration::from_millis(640).saturating_mul(self.retries)
    }

    /// Whether anything differs from a plain run.
    pub fn is_default(&self) -> bool {
        *self == Faults::default()
    }

    /// The settings for the results file (`None` for a plain run).
    pub fn to_json(&self) -> Option<serde_json::Value> {
        if self.is_default() {
            return None;
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        Some(serde_json::json!({
            "connect_timeout_ms": ms(self.connect_timeout),
            "response_timeout_ms": ms(self.response_timeout),
            "retries": self.retries,
            "pause": self.pause.map(|p| serde_json::json!({
                "at_ms": ms(p.at),
                "for_ms": ms(p.duration),
                "mode": p.mode.as_str().to_uppercase(),
            })),
            "failover": self.failover.map(|f| serde_json::json!({
                "at_ms": ms(f.at),
                "for_ms": ms(f.duration),
            })),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        let mut f = Faults {
            retries: 1000,
            ..Faults::default()
        };
        assert_eq!(f.validate(), Err(FaultsError::Retries(1000)));
        f.retries = 2;
        f.response_timeout = Duration::ZERO;
        assert!(f
            .validate()
            .unwrap_err()
            .to_string()
            .contains("response_timeout"));
        f.response_timeout = Duration::from_secs(1);
        f.pause = Some(Pause {
            at: Duration::ZERO,
            duration: Duration::from_secs(61),
            mode: PauseMode::All,
        });
        assert!(f.validate().unwrap_err().to_string().contains("pause_for"));
        assert!(Faults::default().validate().is_ok());
        assert!(Faults::default().to_json().is_none());
    }
}

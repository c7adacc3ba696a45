//! What a Redis error means: a message that says how to fix it, and the
//! command's fate as far as the count is concerned (`backend::retry`).

use std::sync::Mutex;

use redis::{ErrorKind, RedisError};

use super::Site;
use crate::backend::retry::{Failure, Fate};
use crate::strategy::SetupError;

/// Classifies `e`; a server's own refusal is kept for the report.
pub(crate) fn failure(e: &RedisError) -> Failure {
    let f = classify(e);
    // A primary demoted to a replica (a failover) refuses writes with
    // READONLY until clients move to the new primary: part of the fault,
    // not a server that refuses this run.
    if is_read_only(e) {
        return Failure {
            fate: Fate::NotApplied,
            transient: true,
        };
    }
    // A blocked WAIT that the demotion released (`UNBLOCKED … master ->
    // replica`): the write before it applied on the old primary, which a
    // failover may lose; unknown.
    if is_unblocked(e) {
        return Failure {
            fate: Fate::MaybeApplied,
            transient: true,
        };
    }
    if matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension) {
        // The server's own words (e.g. OOM under maxmemory), kept so the
        // user sees why answers failed instead of a strategy verdict.
        note_server_error(e);
    }
    f
}

/// Whether `e` is a replica's refusal of a write (`READONLY`).
pub(crate) fn is_read_only(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
    )
}

/// Whether `e` releases a blocked command because the server changed role
/// (`UNBLOCKED`), alone or inside a pipeline's error.
pub(crate) fn is_unblocked(e: &RedisError) -> bool {
    e.code() == Some("UNBLOCKED") || e.to_string().contains("UNBLOCKED")
}

/// The pure classification behind [`failure`].
fn classify(e: &RedisError) -> Failure {
    let fate = if e.is_connection_refusal() {
        Fate::NotApplied
    } else {
        match e.kind() {
            ErrorKind::Server(_)
            | ErrorKind::Extension
            | ErrorKind::Client
            | ErrorKind::InvalidClientConfig
            | ErrorKind::AuthenticationFailed => Fate::NotApplied,
            _ => Fate::MaybeApplied,
        }
    };
    // I/O trouble (timeouts, dropped or refused connections) may pass;
    // a server-side rejection would only repeat.
    let transient = matches!(e.kind(), ErrorKind::Io | ErrorKind::Parse);
    Failure { fate, transient }
}

/// The first error a Redis server answered with in this process since the
/// last [`take_server_error`]. Written only on the error path.
static SERVER_ERROR: Mutex<Option<String>> = Mutex::new(None);

fn note_server_error(e: &RedisError) {
    let mut slot = SERVER_ERROR.lock().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert_with(|| e.to_string());
}

/// Takes the first error a Redis server answered with since the last call.
pub(crate) fn take_server_error() -> Option<String> {
    SERVER_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
}

/// A `redis` error turned into a message that says what failed and how to
/// fix it. `what` is the step, e.g. "connecting".
pub(crate) fn explain(site: &Site, what: &str, e: &RedisError) -> SetupError {
    let at = site.cfg.redacted_url();
    let f = &site.faults;
    let hint = if e.is_connection_refusal() {
        format!(
            "connection refused: no Redis is listening at {at}. Start redis-server there, or point \
             --redis-url / QUIZRACE_REDIS_URL at a running server"
        )
    } else if e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH"))
        || e.to_string().contains("NOAUTH")
        || e.to_string().contains("WRONGPASS")
    {
        format!(
            "authentication failed at {at}: the server rejected the user/password (or needs one). \
             Put them in the URL as redis://:PASSWORD@host:port or redis://USER:PASSWORD@host:port \
             (the password is never shown)"
        )
    } else if e.is_timeout() {
        format!(
            "no reply from {at} within the timeout (connect {:?}, response {:?}): the host may be \
             unreachable, the server paused or overloaded, or the port may belong to something that \
             is not Redis. Check the URL, or raise --connect-timeout / --response-timeout",
            f.connect_timeout, f.response_timeout
        )
    } else if e.kind() == ErrorKind::Parse || e.is_connection_dropped() {
        format!(
            "the server at {at} did not answer in the Redis protocol (or closed the connection): is \
             another service listening on that port? Point --redis-url at a Redis server"
        )
    } else if e.kind() == ErrorKind::Server(redis::ServerErrorKind::NoPerm)
        || e.code() == Some("NOPERM")
    {
        format!(
            "the Redis user at {at} lacks a permission quizrace needs; allow the commands named \
             below (e.g. ACL SETUSER <user> +@all ~quizrace:*)"
        )
    } else {
        format!("Redis at {at} returned an error")
    };
    SetupError::Backend(
        site.cfg
            .scrub(&format!("Redis: {what} failed: {hint} ({e})")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> RedisError {
        RedisError::from(std::io::Error::new(kind, "test"))
    }

    #[test]
    fn only_certainty_is_not_applied() {
        // Refused before anything was sent: certainly not applied, and a
        // retry may reach a server that is coming back.
        assert_eq!(
            classify(&io(std::io::ErrorKind::ConnectionRefused)),
            Failure {
                fate: Fate::NotApplied,
                transient: true
            }
        );
        // Sent, then the reply never came: maybe applied.
        for kind in [
            std::io::ErrorKind::TimedOut,
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::BrokenPipe,
        ] {
            let f = classify(&io(kind));
            assert_eq!(f.fate, Fate::MaybeApplied, "{kind:?}");
            assert!(f.transient, "{kind:?}");
        }
        // The server refused the command: nothing changed, and it would
        // refuse again.
        let oom = RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "OOM command not allowed",
        ));
        assert_eq!(
            classify(&oom),
            Failure {
                fate: Fate::NotApplied,
                transient: false
            }
        );
        let client = RedisError::from((ErrorKind::Client, "bad"));
        assert_eq!(classify(&client).fate, Fate::NotApplied);
    }
}

//! One strategy run on Redis: its key prefix, the server's identity before
//! and after, the injected pause, and clean-up (at the end, or on Ctrl-C).
//!
//! The run's end and its Ctrl-C clean-up can both delete the prefix at the
//! same moment (on `processes`, Ctrl-C kills the workers and the parent's
//! own end then runs too). They share one lock and one count ([`Shared`]):
//! whichever deletes holds the lock, and Ctrl-C reports every key deleted
//! by either, so its "deleted N" is exact.

use std::sync::Arc;
use std::time::Duration;

use super::admin::{self, left_behind};
use super::errors::take_server_error;
use super::failover::FailoverInjector;
use super::pause::{InForce, PauseInjector};
use super::Site;
use crate::backend::interrupt::{self, Cleanup, Registration};
use crate::backend::{ActiveRun, RunEnd};
use crate::strategy::SetupError;

/// How long writes held by a pause take to land once it is lifted: Redis
/// lifts pauses in its 10 Hz cron, so up to 100 ms, plus slack.
const DRAIN: Duration = Duration::from_millis(250);

/// Ctrl-C waits out a `CLIENT PAUSE … ALL` that has at most this long
/// left (then deletes the keys as usual); a longer one it leaves to end by
/// itself, and the keys to their TTL.
const WAIT_FOR_PAUSE_AT_MOST: Duration = Duration::from_secs(1);

/// What a run and its Ctrl-C clean-up share.
#[derive(Debug, Default)]
struct Shared {
    /// Held by whichever deletes the run's keys, for the whole deletion;
    /// the number of keys deleted so far, by either.
    deleted: tokio::sync::Mutex<u64>,
    /// The pause the run's injector has in force.
    pause: Arc<InForce>,
}

/// The hooks of one run.
pub(crate) struct RedisRun {
    site: Site,
    /// `INFO server`'s `run_id` before the run: a new one after a restart.
    run_id: Option<String>,
    injector: Option<PauseInjector>,
    failover: Option<FailoverInjector>,
    shared: Arc<Shared>,
    _registration: Registration,
}

impl RedisRun {
    pub(crate) fn begin(site: Site, start_delay: Duration) -> Result<RedisRun, SetupError> {
        // A cluster node without --redis-cluster, or the flag on a plain
        // server: say so before anything is written.
        runtime()?.block_on(admin::check_mode(&site))?;
        // Read before the fault timer starts, so the fault lands when
        // scheduled; an error left by an earlier run is not this one's.
        let run_id = admin::info_field(&site.cfg, "run_id");
        let _ = take_server_error();
        let failover = FailoverInjector::start(&site, start_delay)?;
        let shared = Arc::new(Shared::default());
        let registration = interrupt::register(Arc::new(OnInterrupt {
            site: site.clone(),
            shared: shared.clone(),
        }));
        let injector = PauseInjector::start(&site, start_delay, shared.pause.clone());
        Ok(RedisRun {
            site,
            run_id,
            injector,
            failover,
            shared,
            _registration: registration,
        })
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, SetupError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SetupError::Resource(format!("starting a runtime for Redis clean-up: {e}")))
}

impl ActiveRun for RedisRun {
    fn before_counts(&mut self) -> Result<(), SetupError> {
        if let Some(failover) = self.failover.take() {
            // After the failover one primary holds the counts; the old one
            // is its replica.
            failover.finish()?;
        }
        if let Some(injector) = self.injector.take() {
            // Counts must be read, and keys deleted, only after the pause:
            // a paused server holds writes that land when it lifts, which
            // would change the counts after they were read.
            if injector.finish()? {
                std::thread::sleep(DRAIN);
            }
        }
        Ok(())
    }

    fn end(mut self: Box<Self>) -> Result<RunEnd, SetupError> {
        let lifted = self.before_counts();
        let site = &self.site;
        let shared = &self.shared;
        let deleted = runtime().and_then(|rt| {
            rt.block_on(async {
                let mut deleted = shared.deleted.lock().await;
                let mut c = admin::admin(site).await?;
                admin::delete_prefix(&mut c, site, &mut deleted).await
            })
        });
        let after = self
            .run_id
            .as_ref()
            .and_then(|_| admin::info_field(&site.cfg, "run_id"));
        lifted?;
        deleted.map_err(|e| left_behind(site, e))?;
        Ok(RunEnd {
            restarted: matches!((&self.run_id, &after), (Some(a), Some(b)) if a != b),
            server_error: take_server_error(),
        })
    }
}

/// What Ctrl-C does for a run still in progress.
struct OnInterrupt {
    site: Site,
    shared: Arc<Shared>,
}

impl OnInterrupt {
    /// Why Ctrl-C does not wait for a pause that holds every command.
    fn held_by_pause(&self, left: Duration) -> SetupError {
        SetupError::Backend(format!(
            "the server at {} is paused by this run for {} more seconds, and CLIENT PAUSE ALL \
             holds every command until then, CLIENT UNPAUSE and the deletion included, so \
             quizrace did not wait; the keys expire by themselves within {} of being written \
             (their TTL)",
            self.site.cfg.redacted_url(),
            left.as_secs_f64().ceil() as u64,
            human_secs(self.site.ttl),
        ))
    }
}

/// `95 s`, `11 min`, `24 h`: a TTL for people.
fn human_secs(s: u64) -> String {
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s.div_ceil(60)),
        _ => format!("{} h", s.div_ceil(3600)),
    }
}

impl Cleanup for OnInterrupt {
    fn describe(&self) -> String {
        format!("the Redis keys under {}*", self.site.prefix)
    }

    /// Lifts the run's pause, then deletes its keys under the run's lock
    /// and returns every key deleted by the run and by this, together.
    /// Under a `CLIENT PAUSE … ALL` with more than a second left it sends
    /// nothing and fails at once (the server would hold every command until
    /// the pause ends), saying so; the keys then expire by their TTL.
    fn clean_now(&self) -> Result<u64, SetupError> {
        if let Some(left) = self.shared.pause.all_left() {
            if left > WAIT_FOR_PAUSE_AT_MOST {
                return Err(self.held_by_pause(left));
            }
        }
        let rt = runtime()?;
        rt.block_on(async {
            // A paused server would hold our deletes (and the run's own,
            // which may hold the lock) behind the pause: lift it first.
            // Under WRITE the server serves CLIENT UNPAUSE at once; under
            // ALL, with at most a second left, when the pause ends.
            self.shared.pause.unpause_now(&self.site).await;
            let mut deleted = self.shared.deleted.lock().await;
            // Commands already on the wire land within a round trip; give
            // them that long, then delete twice in case one slipped in.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut conn = admin::admin(&self.site).await?;
            admin::delete_prefix(&mut conn, &self.site, &mut deleted).await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            admin::delete_prefix(&mut conn, &self.site, &mut deleted).await?;
            Ok::<u64, SetupError>(*deleted)
        })
    }

    fn manual_cleanup(&self) -> String {
        let command = admin::manual_cleanup(&self.site);
        match self.shared.pause.all_left() {
            Some(_) => format!("{command}, after the pause ends"),
            None => command,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human_secs;

    #[test]
    fn ttls_read_as_people_say_them() {
        assert_eq!(human_secs(95), "95 s");
        assert_eq!(human_secs(630), "11 min");
        assert_eq!(human_secs(24 * 3600), "24 h");
    }
}

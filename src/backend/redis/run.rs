//! One strategy run on Redis: its key prefix, the server's identity before
//! and after, the injected pause, and clean-up (at the end, or on Ctrl-C).

use std::sync::Arc;
use std::time::Duration;

use super::admin::{self, left_behind};
use super::errors::take_server_error;
use super::pause::{self, PauseInjector};
use super::Site;
use crate::backend::interrupt::{self, Cleanup, Registration};
use crate::backend::{ActiveRun, RunEnd};
use crate::strategy::SetupError;

/// How long writes held by a pause take to land once it is lifted: Redis
/// lifts pauses in its 10 Hz cron, so up to 100 ms, plus slack.
const DRAIN: Duration = Duration::from_millis(250);

/// The hooks of one run.
pub(crate) struct RedisRun {
    site: Site,
    /// `INFO server`'s `run_id` before the run: a new one after a restart.
    run_id: Option<String>,
    injector: Option<PauseInjector>,
    _registration: Registration,
}

impl RedisRun {
    pub(crate) fn begin(site: Site, start_delay: Duration) -> RedisRun {
        // Read before the fault timer starts, so the fault lands when
        // scheduled; an error left by an earlier run is not this one's.
        let run_id = admin::info_field(&site.cfg, "run_id");
        let _ = take_server_error();
        let registration = interrupt::register(Arc::new(OnInterrupt { site: site.clone() }));
        let injector = PauseInjector::start(&site, start_delay);
        RedisRun {
            site,
            run_id,
            injector,
            _registration: registration,
        }
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
        let deleted = runtime().and_then(|rt| {
            rt.block_on(async {
                let mut c = admin::admin(site).await?;
                admin::delete_prefix(&mut c, site).await
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
}

impl Cleanup for OnInterrupt {
    fn describe(&self) -> String {
        format!("the Redis keys under {}*", self.site.prefix)
    }

    fn clean_now(&self) -> Result<u64, SetupError> {
        let rt = runtime()?;
        rt.block_on(async {
            // A paused server would hold our deletes behind the pause: lift it.
            pause::unpause_now().await;
            // Commands already on the wire land within a round trip; give
            // them that long, then delete twice in case one slipped in.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut conn = admin::admin(&self.site).await?;
            let mut n = admin::delete_prefix(&mut conn, &self.site).await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            n += admin::delete_prefix(&mut conn, &self.site).await?;
            Ok::<u64, SetupError>(n)
        })
    }

    fn manual_cleanup(&self) -> String {
        admin::manual_cleanup(&self.site)
    }
}

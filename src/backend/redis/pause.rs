//! Fault injection: the run's pause ([`crate::backend::Pause`]) as
//! `CLIENT PAUSE <ms> WRITE|ALL`, sent at a set time mid-run from a control
//! connection of its own.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{admin, Site};
use crate::backend::Pause;
use crate::strategy::SetupError;

/// A pause scheduled on a control connection of its own.
#[derive(Debug)]
pub(crate) struct PauseInjector {
    cancel: mpsc::Sender<()>,
    thread: JoinHandle<Result<bool, SetupError>>,
}

impl PauseInjector {
    /// Schedules the site's pause (if any) `delay + pause.at` from now.
    /// `delay` is when workers start (the start-up grace of processes).
    pub(crate) fn start(site: &Site, delay: Duration) -> Option<PauseInjector> {
        let pause = site.faults.pause?;
        let site = site.clone();
        let (cancel, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || inject(site, pause, delay, rx));
        Some(PauseInjector { cancel, thread })
    }

    /// Cancels a pause not yet sent, lifts one still in effect, and reports
    /// whether the pause happened (an error if it could not be sent).
    pub(crate) fn finish(self) -> Result<bool, SetupError> {
        let _ = self.cancel.send(());
        self.thread.join().unwrap_or_else(|_| {
            Err(SetupError::Resource(
                "the fault-injection thread panicked".into(),
            ))
        })
    }
}

/// The server currently paused by this process, if any, so Ctrl-C can lift
/// the pause before it deletes keys (a paused server would hold the deletes).
static ACTIVE_PAUSE: std::sync::Mutex<Option<Site>> = std::sync::Mutex::new(None);

fn active_pause() -> std::sync::MutexGuard<'static, Option<Site>> {
    ACTIVE_PAUSE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Lifts a pause this process injected, if one is active (`CLIENT UNPAUSE`
/// on a fresh connection, bounded by the connect and response timeouts).
pub(crate) async fn unpause_now() {
    let site = active_pause().clone();
    if let Some(site) = site {
        if let Ok(mut c) = admin::admin(&site).await {
            let mut unpause = redis::cmd("CLIENT");
            unpause.arg("UNPAUSE");
            let _ = tokio::time::timeout(site.faults.response_timeout, unpause.exec_async(&mut c))
                .await;
        }
    }
}

fn inject(
    site: Site,
    pause: Pause,
    delay: Duration,
    cancel: mpsc::Receiver<()>,
) -> Result<bool, SetupError> {
    let fire_at = Instant::now() + delay + pause.at;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SetupError::Resource(format!("starting the fault-injection runtime: {e}")))?;
    // Connect before the pause is due, so the control connection is ready.
    let mut control = rt
        .block_on(admin::admin(&site))
        .map_err(|e| SetupError::Backend(format!("fault injection: {e}")))?;
    let wait = fire_at.saturating_duration_since(Instant::now());
    match cancel.recv_timeout(wait) {
        Err(mpsc::RecvTimeoutError::Timeout) => {}
        // The run ended before the pause was due: nothing to do.
        _ => return Ok(false),
    }
    let ms = pause.duration.as_millis().max(1) as u64;
    rt.block_on(
        redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(ms)
            .arg(pause.mode.as_str().to_uppercase())
            .exec_async(&mut control),
    )
    .map_err(|e| {
        SetupError::Backend(site.cfg.scrub(&format!(
            "fault injection: CLIENT PAUSE {ms} {} failed ({e}); it needs Redis 6.2 or later and \
             a user allowed to run CLIENT (ACL +client)",
            pause.mode.as_str().to_uppercase()
        )))
    })?;
    let paused_until = Instant::now() + pause.duration;
    *active_pause() = Some(site.clone());
    let _ = cancel.recv();
    active_pause().take();
    if Instant::now() < paused_until {
        // The run finished inside the pause: lift it rather than leave the
        // server paused for other users.
        let _ = rt.block_on(redis::cmd("CLIENT").arg("UNPAUSE").exec_async(&mut control));
    }
    Ok(true)
}

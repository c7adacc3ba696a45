//! Fault injection: the run's pause ([`crate::backend::Pause`]) as
//! `CLIENT PAUSE <ms> WRITE|ALL`, sent at a set time mid-run from a control
//! connection of its own.
//!
//! The two modes differ for clean-up on Ctrl-C. Under `WRITE` the server
//! still serves `CLIENT UNPAUSE`, so Ctrl-C lifts the pause and deletes the
//! run's keys. Under `ALL` it holds every command from every client,
//! `CLIENT UNPAUSE` from a new connection included (Redis 7.0), until the
//! pause ends: [`InForce`] tells Ctrl-C how long that is, so it need not
//! wait (`run.rs`).

use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{admin, Site};
use crate::backend::{interrupt, note_event, Pause, PauseMode};
use crate::strategy::SetupError;

/// The pause a run's injector has in force: until when (as measured after
/// the server acknowledged it, so no earlier than the server's own end)
/// and in which mode. The injector holds the lock while it sends the
/// pause, so a reader never misses one that is being sent.
#[derive(Debug, Default)]
pub(crate) struct InForce(Mutex<Option<(Instant, PauseMode)>>);

impl InForce {
    fn lock(&self) -> MutexGuard<'_, Option<(Instant, PauseMode)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The mode of a pause still in force and how long it has left.
    fn left(&self) -> Option<(Duration, PauseMode)> {
        let (until, mode) = (*self.lock())?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some((left, mode))
    }

    /// How long a pause that holds every command (`ALL`) has left, if one
    /// is in force.
    pub(crate) fn all_left(&self) -> Option<Duration> {
        self.left()
            .and_then(|(left, mode)| (mode == PauseMode::All).then_some(left))
    }

    /// Lifts the pause, if one is in force (`CLIENT UNPAUSE` on a fresh
    /// connection, bounded by the connect and response timeouts). Under
    /// `ALL` the server serves it only when the pause ends.
    pub(crate) async fn unpause_now(&self, site: &Site) {
        if self.left().is_none() {
            return;
        }
        if let Ok(mut c) = admin::admin(site).await {
            let mut unpause = redis::cmd("CLIENT");
            unpause.arg("UNPAUSE");
            let _ = tokio::time::timeout(site.faults.response_timeout, unpause.exec_async(&mut c))
                .await;
        }
    }
}

/// A pause scheduled on a control connection of its own.
#[derive(Debug)]
pub(crate) struct PauseInjector {
    cancel: mpsc::Sender<()>,
    thread: JoinHandle<Result<bool, SetupError>>,
}

impl PauseInjector {
    /// Schedules the site's pause (if any) `delay + pause.at` from now, and
    /// records it in `in_force` while it is.
    /// `delay` is when workers start (the start-up grace of processes).
    pub(crate) fn start(
        site: &Site,
        delay: Duration,
        in_force: Arc<InForce>,
    ) -> Option<PauseInjector> {
        let pause = site.faults.pause?;
        let site = site.clone();
        let (cancel, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || inject(site, pause, delay, rx, &in_force));
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

fn inject(
    site: Site,
    pause: Pause,
    delay: Duration,
    cancel: mpsc::Receiver<()>,
    in_force: &InForce,
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
    let mut recorded = in_force.lock();
    // After Ctrl-C no pause may start: it would hold the clean-up.
    if interrupt::interrupted() {
        return Ok(false);
    }
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
    *recorded = Some((paused_until, pause.mode));
    note_event(
        None,
        format!("server paused ({})", pause.mode.as_str().to_uppercase()),
    );
    note_event(
        Some(crate::sim::system_ns() + pause.duration.as_nanos() as u64),
        "pause ends",
    );
    drop(recorded);
    let _ = cancel.recv();
    if Instant::now() < paused_until {
        // The run finished inside the pause: lift it rather than leave the
        // server paused for other users. (Under ALL the server serves this
        // only when the pause ends.)
        let _ = rt.block_on(redis::cmd("CLIENT").arg("UNPAUSE").exec_async(&mut control));
    }
    in_force.lock().take();
    Ok(true)
}

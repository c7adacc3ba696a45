//! Ctrl-C and SIGTERM: stop every handle, then remove the namespace of every
//! run still active, whichever back end it is on.
//!
//! A run registers a [`Cleanup`] when it begins ([`register`]) and drops
//! the registration when it ends. The binary's signal handler calls
//! [`interrupt_cleanup`], which first sets the stop flag that every handle
//! checks before sending a command (so late increments cannot recreate
//! what the clean-up deletes), then runs each registered clean-up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::strategy::SetupError;

/// Set once the user pressed Ctrl-C (or sent SIGTERM).
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Whether the run was interrupted: handles check it once per record call
/// (a relaxed load of a read-mostly flag costs about a nanosecond) and send
/// nothing more.
#[inline]
pub fn stopped() -> bool {
    STOPPED.load(Ordering::Relaxed)
}

/// Whether interrupt clean-up has started in this process.
pub fn interrupted() -> bool {
    STOPPED.load(Ordering::SeqCst)
}

/// Marks the run as interrupted (before worker processes are killed, so that
/// their deaths read as the interrupt, not as failures).
pub fn mark_interrupted() {
    STOPPED.store(true, Ordering::SeqCst);
}

/// What one active run must do when interrupted.
pub trait Cleanup: Send + Sync {
    /// Where its things live, for the message (e.g. a key prefix).
    fn describe(&self) -> String;
    /// Ends its fault and removes what it created, bounded by its timeouts;
    /// returns how many objects it removed.
    fn clean_now(&self) -> Result<u64, SetupError>;
    /// The exact command that removes what is left, when `clean_now` failed.
    fn manual_cleanup(&self) -> String;
}

/// What interrupt clean-up did for one run.
#[derive(Debug)]
pub struct Cleaned {
    /// Where the run's things lived.
    pub what: String,
    /// Objects removed, or why that failed (password-free).
    pub result: Result<u64, SetupError>,
    /// The command that removes what is left, if anything may be.
    pub manual: String,
}

type Registry = Vec<(u64, Arc<dyn Cleanup>)>;

static ACTIVE: Mutex<Registry> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

fn active() -> MutexGuard<'static, Registry> {
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A run's place in the interrupt registry; dropping it unregisters.
#[derive(Debug)]
pub struct Registration(u64);

/// Registers `cleanup` until the returned registration drops.
pub fn register(cleanup: Arc<dyn Cleanup>) -> Registration {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    active().push((id, cleanup));
    Registration(id)
}

impl Drop for Registration {
    /// Unregisters, except once interrupted: then the handler is about to
    /// run (or is running) every registered clean-up, and a run that ended
    /// meanwhile (e.g. after its worker processes were killed) must still
    /// be among them, so its report covers what the run's own end deleted.
    fn drop(&mut self) {
        if !interrupted() {
            active().retain(|(id, _)| *id != self.0);
        }
    }
}

/// Stops every handle of this process and cleans up every active run, the
/// newest first (a run's keys before the lab servers that hold them).
/// Called from the signal handler; bounded by each back end's timeouts.
pub fn interrupt_cleanup() -> Vec<Cleaned> {
    mark_interrupted();
    let runs: Vec<Arc<dyn Cleanup>> = active().iter().rev().map(|(_, c)| c.clone()).collect();
    runs.iter()
        .map(|c| Cleaned {
            what: c.describe(),
            result: c.clean_now(),
            manual: c.manual_cleanup(),
        })
        .collect()
}

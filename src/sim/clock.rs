//! The run's clock: nanoseconds on one axis for every worker and process.

use std::time::Duration;
#[cfg(not(unix))]
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Nanoseconds since a run's epoch, comparable across processes.
///
/// On Unix this reads `CLOCK_MONOTONIC` directly: like [`std::time::Instant`]
/// it never steps back, and unlike `Instant` its raw value is system-wide,
/// so child processes timestamp on the parent's axis (needed to detect
/// early ends across processes). Elsewhere it falls back to the wall clock.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Clock {
    epoch_unix_ns: u64,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock {
            epoch_unix_ns: unix_ns(),
        }
    }
    /// Nanoseconds since the epoch (0 before the epoch).
    #[inline]
    pub fn now(&self) -> u64 {
        unix_ns().saturating_sub(self.epoch_unix_ns)
    }

    /// The epoch on the system-wide clock ([`system_ns`]).
    pub fn epoch(&self) -> u64 {
        self.epoch_unix_ns
    }
    /// Waits until `at_ns` without taking the CPU other workers need.
    ///
    /// Sleeps until shortly before (worker threads run with a 1 ns timer
    /// slack, see [`precise_timers`], so the kernel wakes them within tens
    /// of µs), then yields until the instant. Yielding instead of spinning
    /// matters on a 2-core machine with more workers than cores: a spinning
    /// worker would hold a core that a worker with a due answer needs, and
    /// the schedule would slip for everyone (the `answer-window` scenario).
    pub fn wait_until(&self, at_ns: u64) {
        loop {
            let now = self.now();
            if now >= at_ns {
                return;
            }
            let left = at_ns - now;
            if left > 120_000 {
                std::thread::sleep(Duration::from_nanos(left - 80_000));
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Nanoseconds on the system-wide clock that every run's [`Clock`] counts
/// from (`CLOCK_MONOTONIC` on Unix): for events noted outside a run's
/// workers, such as an injected fault, placed on the run's axis later.
pub fn system_ns() -> u64 {
    unix_ns()
}

/// Asks the kernel to wake this thread's sleeps on time.
///
/// Linux delays timer wake-ups by the thread's *timer slack* (50 µs by
/// default) to batch them; a 50 µs `thread::sleep` then takes ~120 µs and a
/// planned arrival schedule slips. A slack of 1 ns (`PR_SET_TIMERSLACK`)
/// removes that delay for this thread only. Elsewhere this does nothing.
pub fn precise_timers() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only changes
    // this thread's timer slack; it cannot fail for a positive value.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

#[cfg(unix)]
#[inline]
fn unix_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on the Unixes Rust supports, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(not(unix))]
#[inline]
fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

//! The run's clock: nanoseconds on one axis for every worker and process.
//!
//! Two sources, chosen once per run ([`Clock::start`]):
//! - **the TSC** (x86-64 with an invariant TSC: `constant_tsc` and
//!   `nonstop_tsc` in `/proc/cpuinfo`): one `rdtsc` instruction, scaled to
//!   nanoseconds by a calibration against `CLOCK_MONOTONIC` made once per
//!   process and carried in the clock itself, so worker processes convert
//!   their ticks exactly as the parent does;
//! - **`CLOCK_MONOTONIC`** (`clock_gettime`) everywhere else, or when
//!   `QUIZRACE_CLOCK=os` asks for it.
//!
//! [`Clock::source`] names the one in use; results record it.

use std::sync::OnceLock;
use std::time::Duration;
#[cfg(not(unix))]
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Nanoseconds since a run's epoch, comparable across processes.
///
/// On Unix the axis is `CLOCK_MONOTONIC`: like [`std::time::Instant`] it
/// never steps back, and unlike `Instant` its raw value is system-wide, so
/// child processes timestamp on the parent's axis (needed to detect early
/// ends across processes). With the TSC, readings are ticks mapped onto
/// that axis by the calibration the clock carries. Elsewhere the clock
/// falls back to the wall clock.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Clock {
    epoch_unix_ns: u64,
    #[serde(default)]
    tsc: Option<Tsc>,
}

/// A TSC calibration: `ns = base_ns + (ticks - base_ticks) * mult >> 32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tsc {
    base_ticks: u64,
    base_ns: u64,
    /// Nanoseconds per tick, fixed point with 32 fractional bits.
    mult: u64,
}

impl Tsc {
    #[inline(always)]
    fn ns(&self, ticks: u64) -> u64 {
        let d = ticks.wrapping_sub(self.base_ticks);
        // A reading before the base (another core's first read) is at most
        // a few ticks early: count it as the base.
        if d > u64::MAX / 2 {
            return self.base_ns;
        }
        self.base_ns + ((d as u128 * self.mult as u128) >> 32) as u64
    }

    /// Ticks per microsecond, for the environment line.
    pub(crate) fn mhz(&self) -> f64 {
        (1u64 << 32) as f64 / self.mult as f64 * 1000.0
    }
}

/// Reads the TSC, ordered: `lfence` first, so the read cannot run ahead of
/// the instructions before it (a bare `rdtsc` may execute before the atomic
/// operation it is meant to follow, and the history checker then sees a
/// response before its effect). Linux's own `clock_gettime` reads the TSC
/// the same way.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ticks() -> u64 {
    // SAFETY: lfence and rdtsc have no preconditions (both exist on every
    // x86-64 CPU); the TSC is only used after the calibration found it
    // invariant.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn ticks() -> u64 {
    0
}

/// The process's calibration, made on first use (about 5 ms), or `None`
/// when the TSC is not usable here.
fn calibration() -> Option<Tsc> {
    static CAL: OnceLock<Option<Tsc>> = OnceLock::new();
    *CAL.get_or_init(|| {
        if std::env::var("QUIZRACE_CLOCK").is_ok_and(|v| v == "os") || !invariant_tsc() {
            return None;
        }
        let (t0, n0) = paired();
        std::thread::sleep(Duration::from_millis(5));
        let (t1, n1) = paired();
        let (dt, dn) = (t1.checked_sub(t0)?, n1.checked_sub(n0)?);
        if dt == 0 || dn < 1_000_000 {
            return None;
        }
        let mult = ((dn as u128) << 32) / dt as u128;
        let tsc = Tsc {
            base_ticks: t1,
            base_ns: n1,
            mult: u64::try_from(mult).ok()?,
        };
        // Plausible (0.1 to 10 GHz), or not used.
        (100.0..10_000.0).contains(&tsc.mhz()).then_some(tsc)
    })
}

/// A TSC reading and the `CLOCK_MONOTONIC` time it corresponds to: the
/// tightest of a few bracketed samples (monotonic, ticks, monotonic).
fn paired() -> (u64, u64) {
    let mut best = (0, 0, u64::MAX);
    for _ in 0..16 {
        let a = unix_ns();
        let t = ticks();
        let b = unix_ns();
        if b - a < best.2 {
            best = (t, a + (b - a) / 2, b - a);
        }
    }
    (best.0, best.1)
}

/// Whether this CPU's TSC ticks at a constant rate in every state, on every
/// core (Linux on x86-64 reports it in `/proc/cpuinfo`).
fn invariant_tsc() -> bool {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        return false;
    }
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    let flags = info
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    has("constant_tsc") && has("nonstop_tsc")
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        let tsc = calibration();
        Clock {
            epoch_unix_ns: match &tsc {
                Some(t) => t.ns(ticks()),
                None => unix_ns(),
            },
            tsc,
        }
    }

    /// Nanoseconds since the epoch (0 before the epoch).
    #[inline(always)]
    pub fn now(&self) -> u64 {
        let ns = match &self.tsc {
            Some(t) => t.ns(ticks()),
            None => unix_ns(),
        };
        ns.saturating_sub(self.epoch_unix_ns)
    }

    /// Which source the clock reads, for the results' environment.
    pub fn source(&self) -> String {
        match &self.tsc {
            Some(_) => "tsc (invariant, calibrated against CLOCK_MONOTONIC)".to_string(),
            None if cfg!(unix) => "clock_gettime(CLOCK_MONOTONIC)".to_string(),
            None => "system time".to_string(),
        }
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

/// Now, on the axis of every [`Clock`] this process starts (its epoch
/// subtracted gives that clock's reading): for strategies that time events
/// themselves, such as an owner thread emitting `endQuizTime`.
pub fn stamp() -> u64 {
    match calibration() {
        Some(t) => t.ns(ticks()),
        None => unix_ns(),
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

//! The one switch between `std` and [loom] primitives.
//!
//! Strategy code imports `Arc`, `Mutex`, atomics and `thread::yield_now` from
//! here, never from `std` directly. A normal build re-exports `std`; a build
//! with `RUSTFLAGS="--cfg quizrace_loom"` re-exports loom's instrumented
//! copies, so the
//! very same strategy code is explored under every interleaving loom can reach
//! (see `tests/loom.rs` and `scripts/loom.sh`). This is the shim loom's own
//! docs recommend, and the one crossbeam (`primitive`) and tokio (`src/loom`)
//! use.
//!
//! The cfg is named `quizrace_loom` rather than loom's customary `loom`
//! because RUSTFLAGS reach every crate: under `cfg(loom)` tokio compiles out
//! `net`, `signal` and `process` (which the redis client needs), and
//! event-listener and async-lock expect to link loom themselves. A name no
//! dependency reacts to keeps the switch local to this crate.
//!
//! Only the subset of the API that both sides share is used by strategies:
//! `load`, `store`, `fetch_add`, `compare_exchange`, `Mutex::lock`.
//!
//! [loom]: https://docs.rs/loom

#[cfg(quizrace_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
#[cfg(quizrace_loom)]
pub(crate) use loom::sync::{Arc, Mutex};
#[cfg(quizrace_loom)]
pub(crate) use loom::thread::yield_now;

#[cfg(not(quizrace_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
#[cfg(not(quizrace_loom))]
pub(crate) use std::sync::{Arc, Mutex};
#[cfg(not(quizrace_loom))]
pub(crate) use std::thread::yield_now;

/// Locks a mutex, ignoring poisoning.
///
/// A poisoned lock only means another worker panicked while holding it; the
/// counter inside is a plain integer that is never left half-written, so the
/// value is still meaningful and the run's checks will report the panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> crate::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(quizrace_loom)]
pub(crate) use loom::sync::MutexGuard;
#[cfg(not(quizrace_loom))]
pub(crate) use std::sync::MutexGuard;

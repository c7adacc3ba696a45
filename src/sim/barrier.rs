//! A thread barrier that can be broken.
//!
//! `std::sync::Barrier` never gives up: if one worker panics or a thread
//! fails to start, the others wait forever and the run hangs. This one has a
//! `broken` flag: breaking it wakes every waiter with an error, so the run
//! can stop and report what went wrong. Same Mutex + Condvar design as std's.

use std::sync::{Condvar, Mutex, MutexGuard};

/// The barrier was broken: a fellow worker failed; stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Broken;

#[derive(Debug)]
struct State {
    arrived: usize,
    generation: u64,
    broken: bool,
    /// When the latest generation was released (see `wait_stamped`).
    released_at: u64,
}

/// A reusable barrier for `n` threads that can be broken.
#[derive(Debug)]
pub(crate) struct Barrier {
    n: usize,
    state: Mutex<State>,
    cv: Condvar,
}

impl Barrier {
    pub(crate) fn new(n: usize) -> Barrier {
        Barrier {
            n: n.max(1),
            state: Mutex::new(State {
                arrived: 0,
                generation: 0,
                broken: false,
                released_at: 0,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until all `n` threads arrive, or until the barrier is broken.
    #[cfg(test)]
    pub(crate) fn wait(&self) -> Result<(), Broken> {
        self.wait_stamped(|| 0).map(|_| ())
    }

    /// Waits like [`Barrier::wait`] and returns the instant the barrier
    /// opened, as read by the last worker to arrive (`now` is called once,
    /// by that worker, under the lock). Every worker gets the same value, so
    /// a worker descheduled right after the release still measures its
    /// lateness from the true start, not from when it happened to wake.
    pub(crate) fn wait_stamped(&self, now: impl FnOnce() -> u64) -> Result<u64, Broken> {
        let mut s = self.lock();
        if s.broken {
            return Err(Broken);
        }
        let generation = s.generation;
        s.arrived += 1;
        if s.arrived == self.n {
            s.arrived = 0;
            s.generation += 1;
            s.released_at = now();
            self.cv.notify_all();
            return Ok(s.released_at);
        }
        while s.generation == generation && !s.broken {
            s = self.cv.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if s.generation == generation {
            Err(Broken)
        } else {
            Ok(s.released_at)
        }
    }

    /// Breaks the barrier: current and future waiters get [`Broken`].
    pub(crate) fn break_barrier(&self) {
        self.lock().broken = true;
        self.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_waiter_gets_the_leaders_release_stamp() {
        let b = Barrier::new(3);
        let next = std::sync::atomic::AtomicU64::new(100);
        std::thread::scope(|s| {
            let got: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        b.wait_stamped(|| next.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
                    })
                })
                .collect();
            let got: Vec<u64> = got
                .into_iter()
                .map(|j| j.join().unwrap().unwrap())
                .collect();
            assert_eq!(got, [100, 100, 100], "one stamp, taken once, shared");
        });
    }

    #[test]
    fn releases_together_and_is_reusable() {
        let b = Barrier::new(3);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..100 {
                        b.wait().unwrap();
                    }
                });
            }
        });
    }

    #[test]
    fn breaking_wakes_waiters_with_an_error() {
        let b = Barrier::new(3);
        std::thread::scope(|s| {
            let waiters: Vec<_> = (0..2).map(|_| s.spawn(|| b.wait())).collect();
            std::thread::sleep(std::time::Duration::from_millis(20));
            b.break_barrier();
            for w in waiters {
                assert_eq!(w.join().unwrap(), Err(Broken));
            }
        });
        assert_eq!(b.wait(), Err(Broken));
    }
}

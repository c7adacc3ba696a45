//! Client retries and what a failed attempt means: one policy for every
//! strategy on every back end.
//!
//! A retry after a *timeout* may repeat a command the server already ran;
//! that is the story's `INCRBY` over-count, and exactly what the
//! `redis-faults-retry` scenario shows. The policy keeps track of whether
//! any attempt may have landed, so that an answer whose every attempt
//! failed is reported `unknown` (not `failed`) when one of them might count.
//!
//! Only certainty counts as [`Fate::NotApplied`]: calling an applied
//! command "failed" would put the count above the checker's upper bound
//! `ok + unknown` and report a violation that did not happen.

use std::time::Duration;

use crate::strategy::Outcome;

/// Whether a failed command may still have been applied by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Definitely not applied: refused before sending, rolled back, or
    /// answered with an error (a rejected command changes nothing).
    NotApplied,
    /// Maybe applied: sent, then the reply timed out or the connection died.
    MaybeApplied,
}

impl Fate {
    /// The answer's outcome when it is given up with this fate.
    pub fn outcome(self) -> Outcome {
        match self {
            Fate::NotApplied => Outcome::Failed,
            Fate::MaybeApplied => Outcome::Unknown,
        }
    }
}

/// Why one attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Whether the command may have been applied anyway.
    pub fate: Fate,
    /// Whether trying again may help.
    pub transient: bool,
}

impl Failure {
    /// A command that was never sent (e.g. a reconnect failed): retrying may help.
    pub const NOT_SENT: Failure = Failure {
        fate: Fate::NotApplied,
        transient: true,
    };
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Try again after this pause (zero: at once).
    Retry(Duration),
    /// Give up; the answer's fate over all attempts.
    GiveUp(Fate),
}

/// The state of one answer's attempts.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    retries: u32,
    done: u32,
    maybe_applied: bool,
}

impl Retry {
    /// Up to `retries` retries after the first attempt.
    pub fn new(retries: u32) -> Retry {
        Retry {
            retries,
            done: 0,
            maybe_applied: false,
        }
    }

    /// Decides after `failure`.
    ///
    /// A command refused before sending (the server is down) is retried
    /// with exponential back-off, 10 ms doubling to 640 ms, so the retries
    /// span a restart instead of all failing within microseconds. A timeout
    /// has already waited, so it is retried at once.
    pub fn next(&mut self, failure: Failure) -> Next {
        self.maybe_applied |= failure.fate == Fate::MaybeApplied;
        if self.done < self.retries && failure.transient {
            self.done += 1;
            let wait = if failure.fate == Fate::NotApplied {
                Duration::from_millis(10u64 << (self.done - 1).min(6))
            } else {
                Duration::ZERO
            };
            return Next::Retry(wait);
        }
        Next::GiveUp(self.fate())
    }

    /// The answer's fate if it is given up now.
    pub fn fate(&self) -> Fate {
        if self.maybe_applied {
            Fate::MaybeApplied
        } else {
            Fate::NotApplied
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSED: Failure = Failure::NOT_SENT;
    const TIMEOUT: Failure = Failure {
        fate: Fate::MaybeApplied,
        transient: true,
    };
    const REJECTED: Failure = Failure {
        fate: Fate::NotApplied,
        transient: false,
    };

    #[test]
    fn no_retries_gives_up_at_once_with_the_attempts_fate() {
        assert_eq!(
            Retry::new(0).next(TIMEOUT),
            Next::GiveUp(Fate::MaybeApplied)
        );
        assert_eq!(Retry::new(0).next(REFUSED), Next::GiveUp(Fate::NotApplied));
    }

    #[test]
    fn refusals_back_off_and_timeouts_retry_at_once() {
        let mut r = Retry::new(8);
        let waits: Vec<_> = (0..8)
            .map(|_| match r.next(REFUSED) {
                Next::Retry(d) => d.as_millis(),
                g => panic!("{g:?}"),
            })
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 640]);
        assert_eq!(r.next(REFUSED), Next::GiveUp(Fate::NotApplied));
        assert_eq!(Retry::new(1).next(TIMEOUT), Next::Retry(Duration::ZERO));
    }

    #[test]
    fn one_maybe_applied_attempt_makes_the_answer_unknown() {
        let mut r = Retry::new(2);
        assert!(matches!(r.next(TIMEOUT), Next::Retry(_)));
        assert!(matches!(r.next(REFUSED), Next::Retry(_)));
        assert_eq!(r.next(REFUSED), Next::GiveUp(Fate::MaybeApplied));
    }

    #[test]
    fn a_rejection_is_not_retried() {
        assert_eq!(Retry::new(5).next(REJECTED), Next::GiveUp(Fate::NotApplied));
    }
}

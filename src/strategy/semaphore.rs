//! A counting semaphore per room-round: scorers release permits, the one
//! taker that can acquire all N of them ends the round.

use crossbeam_utils::CachePadded;

use crate::strategy::{Answer, Counted, Layout, Recorder, ScoringWork, SetupError, SyncStrategy};
use crate::sync::{Arc, AtomicU32, Ordering};

pub(crate) const SEMAPHORE_EXPLAIN: &str = "\
semaphore turns the question around. Instead of counting up and comparing, each
room-round has a counting semaphore that starts with 0 permits. Every scored
answer releases one permit. The round is over when someone can take all N
permits at once: after releasing, a scorer tries acquire(N), which succeeds
for at most one caller because taking permits is itself atomic (a
compare-and-swap that only succeeds if N are still there). The last release
guarantees that the caller who makes permits reach N can take them unless
someone else already did, so exactly one caller fires.

This is the classic 'wait for N events' semaphore (a latch) with an elected
waiter: instead of parking one sleeping waiter per room-round (10,000 rooms
would mean 10,000 parked threads or tasks), every scorer makes one
non-blocking attempt to be the waiter right after its release, and the
attempt that finds all N permits is the one the blocking waiter would have
woken up for. Cost: a fetch_add plus a load (and on the last answer a CAS) per
answer, on one padded cache line per room-round.";

/// A non-blocking counting semaphore on one atomic word.
///
/// `release(n)` adds permits; `try_acquire(n)` takes `n` permits if at least
/// `n` are available, all or nothing. This is the semaphore of Dijkstra's
/// P/V with the waiting left to the caller.
#[derive(Debug)]
pub struct CountingSemaphore {
    permits: AtomicU32,
}

impl CountingSemaphore {
    /// A semaphore holding `permits` permits.
    pub fn new(permits: u32) -> Self {
        CountingSemaphore {
            permits: AtomicU32::new(permits),
        }
    }

    /// Adds `n` permits (V). Release ordering publishes the releaser's work
    /// to whoever later acquires these permits.
    pub fn release(&self, n: u32) {
        self.permits.fetch_add(n, Ordering::Release);
    }

    /// Takes `n` permits if that many are available (P without waiting).
    pub fn try_acquire(&self, n: u32) -> bool {
        let mut current = self.permits.load(Ordering::Acquire);
        loop {
            if current < n {
                return false;
            }
            match self.permits.compare_exchange_weak(
                current,
                current - n,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Permits available now.
    pub fn available(&self) -> u32 {
        self.permits.load(Ordering::SeqCst)
    }
}

/// One room-round: its semaphore and how many permits the taker took.
#[derive(Debug)]
struct Round {
    sem: CountingSemaphore,
    /// Permits consumed by the taker; the counter's value is
    /// `available + taken`. Written once per round, by the single taker.
    taken: AtomicU32,
}

/// `semaphore`: scorers release permits; one taker acquires all N.
///
/// * **Guarantees:** exact counts and exactly one end per round.
/// * **Costs:** a `fetch_add` and a load per answer, plus one CAS on the last.
/// * **Scaling:** like [`crate::strategy::atomics::Atomic`]; padded per room-round.
/// * **Checked by:** loom (`semaphore_is_correct`) and the stress tests.
#[derive(Clone, Debug)]
pub struct Semaphore {
    rounds: Arc<Vec<CachePadded<Round>>>,
    players: u32,
}

impl SyncStrategy for Semaphore {
    type Handle = Self; // a handle is a clone: the state is behind an `Arc`
    const SCORES_FIRST: bool = true;
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(Semaphore {
            rounds: Arc::new(
                (0..layout.slots())
                    .map(|_| {
                        CachePadded::new(Round {
                            sem: CountingSemaphore::new(0),
                            taken: AtomicU32::new(0),
                        })
                    })
                    .collect(),
            ),
            players: layout.players,
        })
    }
    fn handle(&self) -> Self {
        self.clone()
    }
    fn counts(&self) -> Vec<u32> {
        self.rounds
            .iter()
            .map(|r| r.sem.available() + r.taken.load(Ordering::SeqCst))
            .collect()
    }
}

impl Recorder for Semaphore {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        work.run();
        let round = &self.rounds[answer.slot as usize];
        round.sem.release(1);
        if round.sem.try_acquire(self.players) {
            round.taken.fetch_add(self.players, Ordering::Relaxed);
            Counted::decided(true)
        } else {
            Counted::decided(false)
        }
    }
}

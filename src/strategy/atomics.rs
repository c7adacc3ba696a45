//! Lock-free strategies on one atomic word per room-round.

use crossbeam_utils::CachePadded;

use crate::strategy::trace::{decided, step, Step};
use crate::strategy::{
    Answer, Counted, Layout, Recorder, ScoringWork, SetupError, SyncStrategy, TraceOp, Tracer,
};
use crate::sync::{Arc, AtomicU32, Ordering};

pub(crate) const ATOMIC_EXPLAIN: &str = "\
atomic keeps one AtomicU32 per room-round and records an answer with a single
fetch_add. The hardware (a locked xadd on x86) performs read, add and write as
one indivisible step and returns the value it read. The worker that read N-1,
and only that one, fires endQuizTime: the decision comes from the same atomic
step as the count, so it cannot be duplicated or missed.

Memory ordering: the fetch_add is AcqRel. The count alone would be exact
even with Relaxed: all read-modify-writes of one atomic form one modification
order, so no increment is lost and exactly one caller reads N-1. AcqRel is
for what the count publishes. Each scorer's increment is a release of what it
wrote before counting (its score); the increments form a release sequence, so
the worker whose acquire reads N-1, the one that fires endQuizTime, sees every
player's score. SeqCst would add nothing: it orders operations on different
atomics, and there is only one here.

Cost: one atomic instruction (a locked xadd). Contended, the cache line
bounces between cores. Both are below what quizrace's own timing can resolve:
on a 2-core VM, `quizrace run -s atomic --rooms 1 --players 64 --rounds 200
--workers 2 --scoring-work none` shows a p50 of 30 ns per answer, most of it
the two clock reads around the call. Each counter is padded to its own cache
line (crossbeam's CachePadded, 128 bytes on x86-64 because adjacent-line
prefetch pairs lines), so rooms never falsely share, and with many rooms
workers scale with cores. Memory: 128 bytes per room-round.";

pub(crate) const CAS_EXPLAIN: &str = "\
cas reads the counter, computes value + 1, and installs it with
compare_exchange only if the counter still holds the value it read; if another
worker got there first the exchange fails, returns the new value, and the loop
retries from it. That is optimistic concurrency: no lock, no lost update, and
the winner of the N-1 -> N exchange is the one that fires.

Ordering: the exchange is AcqRel on success, for the same reason as atomic's
fetch_add (the winner of N-1 -> N sees every score); a failed exchange only
needs the current value to retry from, so it is Relaxed.

Cost: uncontended one load plus one lock cmpxchg, close to fetch_add.
Contended, failed exchanges are wasted work and retries grow with workers per
room. On a 2-core VM with two workers on one room (`quizrace run -s atomic -s
cas --rooms 1 --players 64 --rounds 200 --workers 2 --scoring-work none`) the
two were indistinguishable: 30 ns p50 each, 5.4M answers/s each. It is the
general tool when the update is not a simple add (max, capped counters,
multi-field state).";

/// One cache-line-padded counter per room-round.
fn padded(layout: Layout) -> Arc<Vec<CachePadded<AtomicU32>>> {
    Arc::new(
        (0..layout.slots())
            .map(|_| CachePadded::new(AtomicU32::new(0)))
            .collect(),
    )
}

fn read(counts: &[CachePadded<AtomicU32>]) -> Vec<u32> {
    counts.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

/// `atomic`: `fetch_add`; the caller that moves N−1 → N fires.
///
/// * **Guarantees:** exact counts, exactly one end per round, never early.
/// * **Costs:** one atomic read-modify-write per answer.
/// * **Scaling:** one hot room costs a cache-line transfer per answer; many
///   rooms scale with cores (padded slots, no false sharing).
/// * **Checked by:** loom (`atomic_is_correct`) and the stress tests.
#[derive(Clone, Debug)]
pub struct Atomic {
    counts: Arc<Vec<CachePadded<AtomicU32>>>,
    players: u32,
    /// Step log for `explain` and `play` (`None` in measured runs).
    tracer: Option<Tracer>,
    worker: usize,
}

impl SyncStrategy for Atomic {
    type Handle = Self; // a handle is a clone: the state is behind an `Arc`
    const SCORES_FIRST: bool = true;
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(Atomic {
            counts: padded(layout),
            players: layout.players,
            tracer: None,
            worker: 0,
        })
    }
    fn traced(layout: Layout, tracer: Tracer) -> Result<Self, SetupError> {
        Ok(Atomic {
            tracer: Some(tracer),
            ..Self::new(layout)?
        })
    }
    fn handle(&self) -> Self {
        Atomic {
            worker: self.tracer.as_ref().map_or(0, Tracer::next_worker),
            ..self.clone()
        }
    }
    fn counts(&self) -> Vec<u32> {
        read(&self.counts)
    }
}

impl Recorder for Atomic {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        work.run();
        // AcqRel: the firing worker acquires every earlier scorer's release,
        // so whatever they wrote before counting (their scores) is visible to
        // the one that ends the round. The count alone would be fine Relaxed:
        // RMWs on one location are totally ordered either way.
        let c = &self.counts[answer.slot as usize];
        let after = step(
            &self.tracer,
            self.worker,
            answer.slot,
            Step::Increment,
            false,
            || {
                let after = c.fetch_add(1, Ordering::AcqRel) + 1;
                (after, TraceOp::Increment(after))
            },
        );
        let ended = decided(
            &self.tracer,
            self.worker,
            answer.slot,
            after == self.players,
        );
        Counted {
            ended,
            value: Some(after),
        }
    }
}

/// `cas`: a compare-and-swap loop.
///
/// * **Guarantees:** as [`Atomic`].
/// * **Costs:** a load plus one `compare_exchange` per attempt; failed
///   attempts retry.
/// * **Scaling:** retries grow with workers per room; rooms dilute them.
/// * **Checked by:** loom (`cas_is_correct`) and the stress tests.
#[derive(Clone, Debug)]
pub struct Cas {
    counts: Arc<Vec<CachePadded<AtomicU32>>>,
    players: u32,
}

impl SyncStrategy for Cas {
    type Handle = Self; // a handle is a clone: the state is behind an `Arc`
    const SCORES_FIRST: bool = true;
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(Cas {
            counts: padded(layout),
            players: layout.players,
        })
    }
    fn handle(&self) -> Self {
        self.clone()
    }
    fn counts(&self) -> Vec<u32> {
        read(&self.counts)
    }
}

impl Recorder for Cas {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        work.run();
        let c = &self.counts[answer.slot as usize];
        let mut current = c.load(Ordering::Relaxed);
        loop {
            // Weak is fine in a loop (a spurious failure just retries) and is
            // cheaper on LL/SC machines; on x86 both compile to lock cmpxchg.
            match c.compare_exchange_weak(current, current + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Counted::at(current + 1, self.players),
                Err(actual) => current = actual,
            }
        }
    }
}

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
the two clock reads around the call. Each room's counters are padded to their
own cache lines (crossbeam's CachePadded, 128 bytes on x86-64 because
adjacent-line prefetch pairs lines), so rooms never falsely share, and with many rooms
workers scale with cores. The rounds of one room share its padded block,
since a room plays one question at a time. Memory: 128 bytes per room (per
32 rounds).";

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

/// Counters per cache-line block: a block is 128 bytes, crossbeam's
/// `CachePadded` on x86-64 (adjacent-line prefetch pairs 64-byte lines).
const LANES: usize = 32;

/// One counter per room-round, the rooms padded apart.
///
/// A room plays one question at a time, so the counters of its rounds are
/// never updated concurrently and may share a line; two rooms never do, so
/// they never falsely share. At 20 rounds a room's counters fill one
/// 128-byte block instead of twenty: a million rooms take 128 MB, not
/// 2.5 GB.
#[derive(Debug)]
struct Counters {
    blocks: Vec<CachePadded<[AtomicU32; LANES]>>,
    /// Counters per room: its rounds, rounded up to whole blocks.
    stride: usize,
    rounds: usize,
}

impl Counters {
    fn new(layout: Layout) -> Arc<Counters> {
        let rounds = layout.rounds as usize;
        let stride = rounds.div_ceil(LANES) * LANES;
        let blocks = layout.rooms as usize * stride / LANES;
        Arc::new(Counters {
            blocks: (0..blocks)
                .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU32::new(0))))
                .collect(),
            stride,
            rounds,
        })
    }

    /// The counter of `answer`'s room-round.
    #[inline]
    fn of(&self, answer: Answer) -> &AtomicU32 {
        self.at(answer.room as usize, answer.round as usize)
    }

    #[inline]
    fn at(&self, room: usize, round: usize) -> &AtomicU32 {
        let i = room * self.stride + round;
        &self.blocks[i / LANES][i % LANES]
    }

    /// Every room-round's count, by slot ([`Layout::slot`]).
    fn read(&self) -> Vec<u32> {
        let rooms = self.blocks.len() * LANES / self.stride.max(1);
        (0..rooms)
            .flat_map(|room| (0..self.rounds).map(move |round| (room, round)))
            .map(|(room, round)| self.at(room, round).load(Ordering::SeqCst))
            .collect()
    }
}

/// `atomic`: `fetch_add`; the caller that moves N−1 → N fires.
///
/// * **Guarantees:** exact counts, exactly one end per round, never early.
/// * **Costs:** one atomic read-modify-write per answer.
/// * **Scaling:** one hot room costs a cache-line transfer per answer; many
///   rooms scale with cores (rooms padded apart, no false sharing).
/// * **Checked by:** loom (`atomic_is_correct`) and the stress tests.
#[derive(Clone, Debug)]
pub struct Atomic {
    counts: Arc<Counters>,
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
            counts: Counters::new(layout),
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
        self.counts.read()
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
        let c = self.counts.of(answer);
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
    counts: Arc<Counters>,
    players: u32,
}

impl SyncStrategy for Cas {
    type Handle = Self; // a handle is a clone: the state is behind an `Arc`
    const SCORES_FIRST: bool = true;
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(Cas {
            counts: Counters::new(layout),
            players: layout.players,
        })
    }
    fn handle(&self) -> Self {
        self.clone()
    }
    fn counts(&self) -> Vec<u32> {
        self.counts.read()
    }
}

impl Recorder for Cas {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        work.run();
        let c = self.counts.of(answer);
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

#[cfg(all(test, not(quizrace_loom)))]
mod tests {
    use super::*;

    /// Rooms padded apart with their rounds side by side (here over two
    /// blocks per room) still count every room-round on its own.
    #[test]
    fn every_room_round_has_its_own_counter() {
        let layout = Layout {
            rooms: 3,
            rounds: 33,
            players: 1_000,
        };
        let mut a = Atomic::new(layout).unwrap();
        let mut c = Cas::new(layout).unwrap();
        for room in 0..layout.rooms {
            for round in 0..layout.rounds {
                for _ in 0..=layout.slot(room, round) {
                    a.record(layout.answer(room, round, 0), &ScoringWork::None);
                    c.record(layout.answer(room, round, 0), &ScoringWork::None);
                }
            }
        }
        let want: Vec<u32> = (1..=layout.slots() as u32).collect();
        assert_eq!(a.counts(), want);
        assert_eq!(c.counts(), want);
    }
}

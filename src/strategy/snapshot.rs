//! Immutable data: each room-round's score is an immutable value, replaced
//! by a new one on every answer (read-copy-update).

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::strategy::{Answer, Counted, Layout, Recorder, ScoringWork, SetupError, SyncStrategy};

pub(crate) const SNAPSHOT_EXPLAIN: &str = "\
snapshot never mutates a score. Each room-round's score is an immutable value
behind its own ArcSwap pointer. To record an answer a worker loads the
current score, builds a new one with count + 1, and publishes it with a
compare-and-swap on that room-round's pointer (arc-swap's rcu). If another
worker published first, the swap fails and the update is redone on the newer
score. The decision comes from the score the swap replaced, so exactly one
worker sees N-1 -> N.

Readers (a leaderboard, a monitor) load a room's score without any lock and
can keep it as long as they like: it never changes under them. Cost: an
allocation per answer plus arc-swap's bookkeeping and the retry loop; rooms
do not contend with each other (one pointer each, eight to a cache line, so
neighbouring rooms can still share a line). On a 2-core VM (`quizrace run -s
atomic -s snapshot --runtime threads --workers 2 --rooms 1000 --players 8
--rounds 100 --scoring-work none`) snapshot recorded about 6M answers/s with
a p50 of 260-270 ns, against 21-25M and 50-60 ns for atomic; criterion's
`record` group puts it within 5% of a bare arc-swap rcu at 1,024 rooms. An earlier design kept every
room in one persistent map behind one pointer: every update then copied a
path of the map and all writers fought over that pointer. Not modelled by
loom (arc-swap's debt lists are outside it); covered by the stress tests.";

/// One room-round's score: immutable once published.
#[derive(Debug)]
struct Score {
    count: u32,
}

/// `snapshot`: an immutable score per room-round behind its own pointer.
///
/// * **Guarantees:** exact counts and one end per round; readers see whole
///   scores, never one being written.
/// * **Costs:** an allocation and a pointer compare-and-swap per answer,
///   plus retries when the swap loses.
/// * **Scaling:** rooms have their own pointers; one hot room contends like
///   a CAS loop.
/// * **Checked by:** the stress tests.
#[derive(Clone, Debug)]
pub struct Snapshot {
    scores: Arc<Vec<ArcSwapOption<Score>>>,
    players: u32,
}

impl SyncStrategy for Snapshot {
    type Handle = Self; // a handle is a clone: the state is behind an `Arc`
    const SCORES_FIRST: bool = true;
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(Snapshot {
            scores: Arc::new(
                (0..layout.slots())
                    .map(|_| ArcSwapOption::empty())
                    .collect(),
            ),
            players: layout.players,
        })
    }
    fn handle(&self) -> Self {
        self.clone()
    }
    fn counts(&self) -> Vec<u32> {
        self.scores
            .iter()
            .map(|s| s.load().as_ref().map_or(0, |s| s.count))
            .collect()
    }
}

impl Recorder for Snapshot {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        work.run();
        let replaced = self.scores[answer.slot as usize].rcu(|score| {
            Some(Arc::new(Score {
                count: score.as_ref().map_or(0, |s| s.count) + 1,
            }))
        });
        Counted::at(replaced.map_or(0, |s| s.count) + 1, self.players)
    }
}

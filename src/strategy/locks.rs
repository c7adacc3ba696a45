//! Lock-based strategies: the map sits behind a lock that is held across the
//! whole read–score–write, exactly where the story's code needed one.

use std::collections::HashMap;

use crate::strategy::trace::{begin, decided, step, Step};
use crate::strategy::{
    Answer, AsyncRecorder, AsyncStrategy, Counted, Env, Layout, Outcome, Recorder, ScoringWork,
    SetupError, SyncStrategy, TraceOp, Tracer,
};
use crate::sync::{lock, Arc, Mutex};

pub(crate) const STD_MUTEX_EXPLAIN: &str = "\
std-mutex puts the whole scoring map behind one std::sync::Mutex and holds the
lock across read, score and write. While one worker is inside, nobody else can
read the count, so no two workers ever start from the same value: the
read-modify-write becomes one indivisible step (mutual exclusion).

Cost: every answer of every room serialises on one lock. Uncontended that is
one compare-and-swap to take it and one swap to release it. Contended, std's
futex-based Mutex on Linux spins briefly (about 100 iterations, re-reading
the lock) and then sleeps in the kernel (futex wait) until the holder's
unlock wakes it; the cache line holding the lock moves between cores on every
acquisition. Scoring work done inside the lock is serialised too: with
sleep:50us scoring, throughput is capped at one answer per sleep whatever the
number of workers, under 20,000 answers/s, and lower in practice because a
sleep overshoots (on a 2-core VM, `quizrace run -s std-mutex --scoring-work
sleep:50us --workers 4 --rooms 50 --rounds 4` measured 16,600 answers/s).
One lock for all rooms means rooms do not help; see dashmap for a lock per
shard.";

pub(crate) const PARKING_LOT_EXPLAIN: &str = "\
parking-lot-mutex is std-mutex with parking_lot's lock: one byte of state,
and eventual fairness (a thread that has waited long is handed the lock
directly, about every half millisecond). Same guarantee (mutual exclusion
across read-score-write), same serialisation of all rooms.

Both locks spin before they sleep; they spin differently. std's spins about
100 iterations, re-reading the lock, then futex-waits. parking_lot's spins
adaptively with exponential backoff (a few pause rounds of 2, 4, 8
iterations, then a few yields of the thread) and then parks the thread in its
global parking lot. Which is cheaper depends on the machine and the
contention; run both (`quizrace run -s std-mutex -s parking-lot-mutex`) and
compare.";

pub(crate) const TOKIO_MUTEX_EXPLAIN: &str = "\
tokio-mutex is the straightforward fix of the story's async code: take an async
lock, read, await the scoring, write, release. The lock is held across the
.await, which a std mutex must never be (it would block the executor thread);
tokio's Mutex suspends the waiting task instead and queues waiters fairly
(FIFO).

Cost: every acquisition goes through tokio's semaphore (an atomic operation
when uncontended) and, under contention, a waker round trip through the
scheduler. Like every single lock it serialises all rooms and all scoring
work.";

pub(crate) const DASHMAP_EXPLAIN: &str = "\
dashmap is a concurrent hash map split into shards (by default 4x the CPU
count), each behind its own reader-writer lock. The entry API locks the shard
holding the room-round and keeps it locked across read, score and write, so
the update is exclusive for that key while rooms in other shards proceed in
parallel.

Cost: hashing the key plus one uncontended lock in the common case. With one
hot room every worker hits the same shard and it behaves like one mutex; with
many rooms contention spreads over the shards. Not modelled by loom (the crate
uses its own lock implementation); covered by the stress tests.";

pub(crate) const LOCAL_MAP_EXPLAIN: &str = "\
local-map is the story's scoringMap: a per-process hash map, locked correctly,
so inside one process it is exact. Put two processes behind a load balancer and
each one counts only the answers that reached it. Neither count ever reaches
the number of players, so endQuizTime is never emitted and every room hangs
(missed_end): partitioned state, the first of the story's two bugs.

No lock fixes this: the processes share no memory. The fix is a counter that
lives outside both processes (redis-incrby, redis-lua, redis-sadd).";

/// Read–score–write under a lock held throughout, each step traced when a
/// tracer is present (`who`: tracer, worker, slot, players). Traced, the
/// lock is taken between the turn (`begin`) and its log entry, never inside
/// the log's own lock, and released by the `Unlock` step.
#[inline(always)]
fn locked_rmw<G>(
    who: (&Option<Tracer>, usize, u32, u32),
    work: &ScoringWork,
    take: impl FnOnce() -> G,
    read: impl FnOnce(&G) -> u32,
    write: impl FnOnce(&mut G, u32),
) -> Counted {
    let (t, w, slot, players) = who;
    begin(t, w, slot, Step::Lock);
    let mut guard = take();
    step(t, w, slot, Step::Lock, false, || ((), TraceOp::Lock));
    let v = step(t, w, slot, Step::Read, false, || {
        let v = read(&guard);
        (v, TraceOp::Read(v))
    });
    work.run();
    step(t, w, slot, Step::Write, false, || {
        write(&mut guard, v + 1);
        ((), TraceOp::Write(v + 1))
    });
    step(t, w, slot, Step::Unlock, false, || {
        drop(guard);
        ((), TraceOp::Unlock)
    });
    Counted {
        ended: decided(t, w, slot, v + 1 == players),
        value: Some(v + 1),
    }
}

fn dense(layout: Layout) -> Vec<u32> {
    vec![0; layout.slots()]
}

/// `std-mutex`: one `std::sync::Mutex` around the whole map.
///
/// * **Guarantees:** exact counts and exactly one end per round (mutual exclusion).
/// * **Costs:** a lock/unlock per answer; contended locks park in the kernel.
/// * **Scaling:** flat or worse with workers; rooms do not help (one lock).
/// * **Checked by:** loom (`std_mutex_is_correct`) and the stress tests.
#[derive(Clone, Debug)]
pub struct StdMutex {
    map: Arc<Mutex<Vec<u32>>>,
    players: u32,
    /// Step log for `explain` and `play` (`None` in measured runs).
    tracer: Option<Tracer>,
    worker: usize,
}

impl SyncStrategy for StdMutex {
    type Handle = Self; // a handle is a clone: the state is behind an `Arc`
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(StdMutex {
            map: Arc::new(Mutex::new(dense(layout))),
            players: layout.players,
            tracer: None,
            worker: 0,
        })
    }
    fn traced(layout: Layout, tracer: Tracer) -> Result<Self, SetupError> {
        Ok(StdMutex {
            tracer: Some(tracer),
            ..Self::new(layout)?
        })
    }
    fn handle(&self) -> Self {
        StdMutex {
            worker: self.tracer.as_ref().map_or(0, Tracer::next_worker),
            ..self.clone()
        }
    }
    fn counts(&self) -> Vec<u32> {
        lock(&self.map).clone()
    }
}

impl Recorder for StdMutex {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        let s = answer.slot as usize;
        locked_rmw(
            (&self.tracer, self.worker, answer.slot, self.players),
            work,
            || lock(&self.map),
            |map| map[s],
            |map, v| map[s] = v,
        )
    }
}

/// `parking-lot-mutex`: one `parking_lot::Mutex` around the whole map.
///
/// * **Guarantees:** as [`StdMutex`].
/// * **Costs:** a byte-sized lock with adaptive spinning before parking.
/// * **Scaling:** as [`StdMutex`]; usually better under short contention.
/// * **Checked by:** the stress tests (parking_lot is invisible to loom).
#[derive(Clone, Debug)]
pub struct ParkingLotMutex {
    map: std::sync::Arc<parking_lot::Mutex<Vec<u32>>>,
    players: u32,
}

impl SyncStrategy for ParkingLotMutex {
    type Handle = Self; // a handle is a clone: the state is behind an `Arc`
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(ParkingLotMutex {
            map: std::sync::Arc::new(parking_lot::Mutex::new(dense(layout))),
            players: layout.players,
        })
    }
    fn handle(&self) -> Self {
        self.clone()
    }
    fn counts(&self) -> Vec<u32> {
        self.map.lock().clone()
    }
}

impl Recorder for ParkingLotMutex {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        let mut map = self.map.lock();
        let v = map[answer.slot as usize];
        work.run();
        map[answer.slot as usize] = v + 1;
        Counted::at(v + 1, self.players)
    }
}

/// `local-map`: the story's per-process `scoringMap`, a locked hash map.
///
/// * **Guarantees:** exact inside one process; across processes each map
///   sees only its share, so rounds never complete (`missed_end`).
/// * **Costs:** a lock plus a hash-map lookup (keys are created on first use,
///   as in the story's JavaScript object).
/// * **Scaling:** like [`StdMutex`] inside a process.
/// * **Checked by:** loom (`local_map_is_correct_in_one_process`), the stress
///   tests, and the two-process scenario that shows it missing every end.
#[derive(Clone, Debug)]
pub struct LocalMap {
    map: Arc<Mutex<HashMap<u32, u32>>>,
    slots: usize,
    players: u32,
    /// Step log for `explain` and `play` (`None` in measured runs).
    tracer: Option<Tracer>,
    worker: usize,
}

impl SyncStrategy for LocalMap {
    type Handle = Self; // a handle is a clone: the state is behind an `Arc`
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(LocalMap {
            map: Arc::new(Mutex::new(HashMap::new())),
            slots: layout.slots(),
            players: layout.players,
            tracer: None,
            worker: 0,
        })
    }
    fn traced(layout: Layout, tracer: Tracer) -> Result<Self, SetupError> {
        Ok(LocalMap {
            tracer: Some(tracer),
            ..Self::new(layout)?
        })
    }
    fn handle(&self) -> Self {
        LocalMap {
            worker: self.tracer.as_ref().map_or(0, Tracer::next_worker),
            ..self.clone()
        }
    }
    fn counts(&self) -> Vec<u32> {
        let map = lock(&self.map);
        (0..self.slots as u32)
            .map(|s| map.get(&s).copied().unwrap_or(0))
            .collect()
    }
}

impl Recorder for LocalMap {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        let slot = answer.slot;
        locked_rmw(
            (&self.tracer, self.worker, slot, self.players),
            work,
            || lock(&self.map),
            |map| map.get(&slot).copied().unwrap_or(0),
            |map, v| {
                map.insert(slot, v);
            },
        )
    }
}

/// `dashmap`: a sharded concurrent map; the entry's shard lock is held across
/// read–score–write.
///
/// * **Guarantees:** exact counts and one end per round (per-key exclusion).
/// * **Costs:** a hash plus a shard lock per answer.
/// * **Scaling:** with many rooms, contention spreads over the shards; one hot
///   room behaves like one mutex.
/// * **Checked by:** the stress tests (dashmap is invisible to loom).
#[derive(Clone, Debug)]
pub struct Sharded {
    map: std::sync::Arc<dashmap::DashMap<u32, u32>>,
    slots: usize,
    players: u32,
}

impl SyncStrategy for Sharded {
    type Handle = Self; // a handle is a clone: the state is behind an `Arc`
    fn new(layout: Layout) -> Result<Self, SetupError> {
        Ok(Sharded {
            map: std::sync::Arc::new(dashmap::DashMap::with_capacity(layout.slots())),
            slots: layout.slots(),
            players: layout.players,
        })
    }
    fn handle(&self) -> Self {
        self.clone()
    }
    fn counts(&self) -> Vec<u32> {
        (0..self.slots as u32)
            .map(|s| self.map.get(&s).map(|v| *v).unwrap_or(0))
            .collect()
    }
}

impl Recorder for Sharded {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> Counted {
        let mut entry = self.map.entry(answer.slot).or_insert(0);
        let v = *entry;
        work.run();
        *entry = v + 1;
        Counted::at(v + 1, self.players)
    }
}

/// `tokio-mutex`: an async mutex held across the scoring `.await`.
///
/// * **Guarantees:** exact counts and one end per round.
/// * **Costs:** tokio's semaphore-based lock; contended waiters are parked tasks.
/// * **Scaling:** one lock for all rooms; scoring awaits are serialised.
/// * **Checked by:** shuttle (`tokio_mutex_is_correct`) and the tokio stress test.
#[derive(Debug)]
pub struct TokioMutex {
    map: std::sync::Arc<tokio::sync::Mutex<Vec<u32>>>,
    players: u32,
}

/// Worker handle of [`TokioMutex`].
#[derive(Debug)]
pub struct TokioMutexHandle {
    map: std::sync::Arc<tokio::sync::Mutex<Vec<u32>>>,
    players: u32,
}

impl AsyncStrategy for TokioMutex {
    type Handle = TokioMutexHandle;
    async fn setup(layout: Layout, _env: &Env, _t: Option<Tracer>) -> Result<Self, SetupError> {
        Ok(TokioMutex {
            map: std::sync::Arc::new(tokio::sync::Mutex::new(vec![0; layout.slots()])),
            players: layout.players,
        })
    }
    async fn handle(&self) -> Result<TokioMutexHandle, SetupError> {
        Ok(TokioMutexHandle {
            map: self.map.clone(),
            players: self.players,
        })
    }
    async fn counts(&self) -> Result<Vec<u32>, SetupError> {
        Ok(self.map.lock().await.clone())
    }
}

impl AsyncRecorder for TokioMutexHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        let mut map = self.map.lock().await;
        let v = map[answer.slot as usize];
        work.run_async().await; // safe: nobody else can read until we write
        map[answer.slot as usize] = v + 1;
        Outcome::Ok {
            ended: v + 1 == self.players,
            value: Some(v + 1),
        }
    }
}

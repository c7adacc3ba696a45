//! `redis-incrby-batched`: the story's fix, coalesced. Each process (each
//! strategy instance) has one flusher task per runtime worker thread, each
//! with its own connection; a record call hands its answer to its handle's
//! flusher and waits for the decision. The flusher keeps at most
//! [`IN_FLIGHT`] pipelines of `INCRBY`s on the wire; while they are out, the
//! answers that arrive queue up, and when one returns, the flusher sends
//! everything queued as the next pipeline, one `INCRBY k` per room-round
//! with `k` answers in it (group commit: no timer).
//!
//! `INCRBY k` returns the count after the batch's `k` answers, so the
//! answers of the batch get the consecutive values `after - k + 1 ..=
//! after`, in the order they queued: the one whose value is the number of
//! players fires, exactly once, as with one `INCRBY` per answer.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::link::{Conn, Link, Op};
use super::strategies::Base;
use crate::backend::stopped;
use crate::strategy::{
    Answer, AsyncRecorder, AsyncStrategy, Env, Layout, Outcome, ScoringWork, SetupError, Tracer,
};

pub(crate) const INCRBY_BATCHED_EXPLAIN: &str = include_str!("text/incrby-batched.txt");

/// At most this many answers per pipeline: bounds the pipeline's size and
/// the flusher's memory, whatever the number of workers.
const MAX_BATCH: usize = 1024;

/// Pipelines a flusher keeps on the wire at once. With one, a flusher and
/// its workers take turns (the batch is out, then the workers queue the
/// next); with two, the next batch gathers while one is out.
const IN_FLIGHT: usize = 2;

/// One answer waiting for its decision.
struct Pending {
    slot: u32,
    reply: oneshot::Sender<Outcome>,
}

/// `redis-incrby-batched`: `INCRBY k` per room-round for the answers that
/// queued while the flusher's pipelines were on the wire.
///
/// * **Guarantees:** as `redis-incrby`: exact counts and exactly one end
///   per round, without client retries (a retried pipeline that had landed
///   counts its answers twice).
/// * **Costs:** one pipeline per batch instead of one round trip per
///   answer; an answer may wait for a pipeline in flight, then its own.
/// * **Scaling:** the busier the flusher (one per runtime thread), the
///   bigger the batches.
/// * **Checked by:** `tests/redis.rs` (exact on tokio and on 2 processes,
///   and on a cluster in `tests/redis_distributed.rs`).
pub struct IncrbyBatched {
    base: Arc<Base>,
    /// One queue per flusher; handles are dealt to them round-robin.
    queues: Vec<mpsc::Sender<Pending>>,
    next: AtomicUsize,
}

impl fmt::Debug for IncrbyBatched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncrbyBatched")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Worker handle of [`IncrbyBatched`]: its flusher's queue.
#[derive(Debug)]
pub struct IncrbyBatchedHandle {
    queue: mpsc::Sender<Pending>,
}

impl AsyncStrategy for IncrbyBatched {
    type Handle = IncrbyBatchedHandle;

    async fn setup(layout: Layout, env: &Env, tracer: Option<Tracer>) -> Result<Self, SetupError> {
        let base = Base::new(
            layout,
            env,
            tracer,
            "incrby-batched",
            "redis-incrby-batched",
        )?;
        // One lane (connection) per runtime worker thread, one flusher per
        // lane.
        let link = Link::connect_per_worker(&base.site).await?;
        base.create_counters(&link.get().await).await?;
        let mut queues = Vec::with_capacity(link.lanes());
        for _ in 0..link.lanes() {
            let (queue, rx) = mpsc::channel(MAX_BATCH * 4);
            // Flusher i's connections are `IN_FLIGHT` views of lane i's
            // socket.
            let mut conns = Vec::with_capacity(IN_FLIGHT);
            for _ in 0..IN_FLIGHT {
                conns.push(link.conn_on(queues.len(), false).await);
            }
            // A flusher ends when every sender (strategy and handles) is gone.
            tokio::spawn(flusher(base.clone(), conns, rx));
            queues.push(queue);
        }
        Ok(IncrbyBatched {
            base,
            queues,
            next: AtomicUsize::new(0),
        })
    }

    async fn handle(&self) -> Result<IncrbyBatchedHandle, SetupError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        Ok(IncrbyBatchedHandle {
            queue: self.queues[i].clone(),
        })
    }

    async fn counts(&self) -> Result<Vec<u32>, SetupError> {
        self.base.mget_counts().await
    }
}

impl AsyncRecorder for IncrbyBatchedHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        work.run_async().await;
        let (reply, decided) = oneshot::channel();
        let pending = Pending {
            slot: answer.slot,
            reply,
        };
        if self.queue.send(pending).await.is_err() {
            return Outcome::Failed; // the flusher is gone: nothing was sent
        }
        // A flusher that vanished mid-batch may have sent it.
        decided.await.unwrap_or(Outcome::Unknown)
    }
}

/// The flusher: waits for one of its connections to be free, takes
/// whatever queued, sends it as one pipeline on that connection (a task of
/// its own, so the next batch can gather meanwhile), repeats.
///
/// If a send task fails (panics), the flusher ends: its queue closes, so
/// handles fail at once instead of waiting for a decision that will never
/// come, and dropping the tasks still out drops their answers' reply
/// channels (`unknown`: they may have been sent).
async fn flusher(base: Arc<Base>, conns: Vec<Conn>, mut rx: mpsc::Receiver<Pending>) {
    // Free connections, each with an empty batch buffer to reuse.
    let mut free: Vec<(Conn, Vec<Pending>)> = conns
        .into_iter()
        .map(|conn| (conn, Vec::with_capacity(MAX_BATCH)))
        .collect();
    let mut sending = tokio::task::JoinSet::new();
    loop {
        let (mut conn, mut batch) = match free.pop() {
            Some(idle) => idle,
            None => match sending.join_next().await {
                Some(Ok(idle)) => idle,
                Some(Err(_)) | None => break,
            },
        };
        let Some(first) = rx.recv().await else {
            break; // every handle is gone: the run is over
        };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let base = base.clone();
        sending.spawn(async move {
            send(&base, &mut conn, &mut batch).await;
            (conn, batch)
        });
    }
}

/// Sends one batch as one pipeline (`INCRBY k` per room-round, in order of
/// first arrival) and hands out the decisions; leaves `batch` empty.
async fn send(base: &Base, conn: &mut Conn, batch: &mut Vec<Pending>) {
    // Per room-round of the batch: (slot, indices into `batch`).
    let mut groups: Vec<(u32, Vec<usize>)> = Vec::new();
    for (i, p) in batch.iter().enumerate() {
        match groups.iter_mut().find(|(s, _)| *s == p.slot) {
            Some((_, members)) => members.push(i),
            None => groups.push((p.slot, vec![i])),
        }
    }
    let results: Vec<Result<u32, Outcome>> = if base.site.cfg.is_cluster() {
        // Keys of different room-rounds may live on different nodes: one
        // INCRBY each (redis-rs routes them).
        let mut out = Vec::with_capacity(groups.len());
        for (slot, members) in &groups {
            let cmd = incrby(base, *slot, members.len());
            out.push(
                conn.call::<u32>(Op::Cmd(&cmd))
                    .await
                    .map_err(|f| f.outcome()),
            );
        }
        out
    } else {
        let mut pipe = redis::pipe();
        for (slot, members) in &groups {
            pipe.add_command(incrby(base, *slot, members.len()));
        }
        match conn.call::<Vec<u32>>(Op::Pipe(&pipe)).await {
            Ok(after) if after.len() == groups.len() => after.into_iter().map(Ok).collect(),
            Ok(_) => vec![Err(Outcome::Unknown); groups.len()],
            Err(f) => vec![Err(f.outcome()); groups.len()],
        }
    };
    let mut replies: Vec<Option<oneshot::Sender<Outcome>>> =
        batch.drain(..).map(|p| Some(p.reply)).collect();
    for ((_, members), result) in groups.iter().zip(results) {
        let k = members.len() as u32;
        for (j, &i) in members.iter().enumerate() {
            let outcome = match result {
                Ok(after) => {
                    let value = (after + 1).saturating_sub(k) + j as u32;
                    Outcome::Ok {
                        ended: value == base.players,
                        value: Some(value),
                    }
                }
                Err(o) => o,
            };
            if let Some(reply) = replies[i].take() {
                let _ = reply.send(outcome);
            }
        }
    }
}

fn incrby(base: &Base, slot: u32, k: usize) -> redis::Cmd {
    let mut c = redis::cmd("INCRBY");
    c.arg(base.key_of(slot as usize, "")).arg(k);
    c
}

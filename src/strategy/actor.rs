//! The actor: one thread owns the map; everyone else sends messages.

use std::sync::Mutex;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use crate::strategy::{Answer, Layout, Recorder, ScoringWork, SyncStrategy};

pub(crate) const ACTOR_EXPLAIN: &str = "\
actor removes sharing instead of guarding it. One thread owns the scoring map;
it is the only code that ever touches it, so it needs no lock and cannot race
with itself. Workers score their answer, send (room-round, reply channel) to
the owner's mailbox, and wait for its decision. The mailbox serialises the
updates; the owner processes them one at a time and replies `true` to the
message that moved the count to N.

This is the shape of Erlang processes, of Akka, and of Redis itself (a
single-threaded server owning all keys). Cost: two channel hops per answer
(send, reply) and a thread wake-up when the owner was idle, 20-30 ns on a
busy mailbox and microseconds when every send wakes a sleeping owner. The
owner is a single core: throughput cannot scale past it, but it never
contends on a lock. Modelled by loom indirectly (crossbeam's channels are not
instrumented); covered by the stress tests.";

enum Msg {
    Record { slot: u32, reply: Sender<bool> },
    Counts(Sender<Vec<u32>>),
}

/// `actor`: a dedicated owner thread and message passing.
///
/// * **Guarantees:** exact counts and one end per round (single owner).
/// * **Costs:** a send and a reply per answer; wake-ups when the owner idles.
/// * **Scaling:** bounded by the one owner thread, whatever the rooms.
/// * **Checked by:** the stress tests.
#[derive(Debug)]
pub struct Actor {
    mailbox: Option<Sender<Msg>>,
    owner: Mutex<Option<JoinHandle<()>>>,
}

/// Worker handle of [`Actor`]: a mailbox sender and a private reply channel.
#[derive(Debug)]
pub struct ActorHandle {
    mailbox: Sender<Msg>,
    reply_tx: Sender<bool>,
    reply_rx: Receiver<bool>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Record { slot, .. } => write!(f, "Record({slot})"),
            Msg::Counts(_) => f.write_str("Counts"),
        }
    }
}

impl SyncStrategy for Actor {
    type Handle = ActorHandle;
    fn new(layout: Layout) -> Self {
        let (tx, rx) = unbounded::<Msg>();
        let players = layout.players;
        let mut map = vec![0u32; layout.slots()];
        let owner = std::thread::Builder::new()
            .name("quizrace-actor".into())
            .spawn(move || {
                // Ends when every sender (strategy and handles) is dropped.
                for msg in rx {
                    match msg {
                        Msg::Record { slot, reply } => {
                            let v = &mut map[slot as usize];
                            *v += 1;
                            // A worker that gave up waiting is not our problem.
                            let _ = reply.send(*v == players);
                        }
                        Msg::Counts(reply) => {
                            let _ = reply.send(map.clone());
                        }
                    }
                }
            })
            .expect("spawning the actor thread");
        Actor {
            mailbox: Some(tx),
            owner: Mutex::new(Some(owner)),
        }
    }
    fn handle(&self) -> ActorHandle {
        let (reply_tx, reply_rx) = bounded(1);
        ActorHandle {
            mailbox: self.mailbox.clone().expect("actor is running"),
            reply_tx,
            reply_rx,
        }
    }
    fn counts(&self) -> Vec<u32> {
        let (tx, rx) = bounded(1);
        let mailbox = self.mailbox.as_ref().expect("actor is running");
        if mailbox.send(Msg::Counts(tx)).is_err() {
            return Vec::new();
        }
        rx.recv().unwrap_or_default()
    }
}

impl Drop for Actor {
    fn drop(&mut self) {
        self.mailbox.take();
        // Handles may outlive the strategy in odd uses; then the owner ends
        // when they go, and we do not wait for it here.
        if let Ok(mut owner) = self.owner.lock() {
            if let Some(h) = owner.take() {
                if h.is_finished() || std::thread::panicking() {
                    let _ = h.join();
                }
            }
        }
    }
}

impl Recorder for ActorHandle {
    #[inline]
    fn record(&mut self, answer: Answer, work: &ScoringWork) -> bool {
        work.run();
        let sent = self.mailbox.send(Msg::Record {
            slot: answer.slot,
            reply: self.reply_tx.clone(),
        });
        // The owner only stops once every sender is gone, and we hold one.
        sent.is_ok() && self.reply_rx.recv().unwrap_or(false)
    }
}

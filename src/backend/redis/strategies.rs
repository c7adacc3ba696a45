//! The Redis strategies but `redis-incrby-batched` (`batched.rs`).
//!
//! Five of them share one multiplexed connection per runtime worker thread
//! (handles clone one, so 50 tasks pipeline their commands over two sockets
//! on a 2-core machine; see `link::Link`, which also reconnects after a
//! server restart); `redis-watch` and `redis-incrby-wait` give each worker
//! a connection of its own.
//! Keys are `quizrace:<namespace>:<tag>:{<slot>}` (the braces are literal:
//! the room-round is a Redis Cluster hash tag); scoring work comes first
//! and the counting step after, except in `redis-get-set`, whose
//! read–score–write *is* the bug. Every call goes through the run's one
//! retry policy ([`Conn::call`]); the run's keys are deleted by the run's
//! hooks (`run.rs`), not by the strategies.
//!
//! Every key gets the run's TTL ([`Site::ttl`]) when it is created, as a
//! safety net for a run that dies without cleaning up, at no extra round
//! trip on the hot path: `SET … EX` (`redis-get-set`, and inside
//! `redis-watch`'s `MULTI`), `EXPIRE` inside the scripts (`redis-lua`,
//! `redis-sadd`), and, for the `INCR`-based two, counters created at 0 with
//! their TTL at set-up, which `INCRBY` keeps (`Base::create_counters`).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::admin;
use super::errors::explain;
use super::link::{Conn, Connection, Link, Op};
use super::Site;
use crate::backend::retry::{Failure, Fate, Next, Retry};
use crate::backend::stopped;
use crate::strategy::trace::{begin, decided, step, Step};
use crate::strategy::{
    Answer, AsyncRecorder, AsyncStrategy, Env, Layout, Outcome, ScoringWork, SetupError, TraceOp,
    Tracer,
};

pub(crate) const GET_SET_EXPLAIN: &str = include_str!("text/get-set.txt");

pub(crate) const INCR_GET_EXPLAIN: &str = include_str!("text/incr-get.txt");

pub(crate) const INCRBY_EXPLAIN: &str = include_str!("text/incrby.txt");

pub(crate) const LUA_EXPLAIN: &str = include_str!("text/lua.txt");

pub(crate) const WATCH_EXPLAIN: &str = include_str!("text/watch.txt");

pub(crate) const SADD_EXPLAIN: &str = include_str!("text/sadd.txt");

pub(crate) const INCRBY_WAIT_EXPLAIN: &str = include_str!("text/incrby-wait.txt");

/// What every Redis strategy keeps: where, key prefix and trace log.
pub(super) struct Base {
    pub(super) site: Site,
    /// `quizrace:<namespace>:<tag>:`; a hash-tagged slot completes a key.
    keys: String,
    pub(super) players: u32,
    slots: usize,
    tracer: Option<Tracer>,
    next_worker: AtomicUsize,
}

impl fmt::Debug for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `cfg`'s Debug redacts the password; connections are not printed.
        f.debug_struct("Base")
            .field("cfg", &self.site.cfg)
            .field("keys", &self.keys)
            .field("players", &self.players)
            .finish_non_exhaustive()
    }
}

impl Base {
    pub(super) fn new(
        layout: Layout,
        env: &Env,
        tracer: Option<Tracer>,
        tag: &str,
        name: &'static str,
    ) -> Result<Arc<Base>, SetupError> {
        let site = Site::of(env, name)?;
        Ok(Arc::new(Base {
            keys: format!("{}{tag}:", site.prefix),
            site,
            players: layout.players,
            slots: layout.slots(),
            tracer,
            next_worker: AtomicUsize::new(0),
        }))
    }

    fn worker(&self) -> usize {
        // Traced, the tracer numbers workers across strategy instances.
        match &self.tracer {
            Some(t) => t.next_worker(),
            None => self.next_worker.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The key of room-round `slot`: its number is a hash tag (`{12}`), so
    /// that every key of one room-round lands in one Redis Cluster slot and
    /// scripts and transactions over them are allowed.
    pub(super) fn key_of(&self, slot: usize, suffix: &str) -> String {
        format!("{}{{{slot}}}{suffix}", self.keys)
    }

    /// Reads `GET`-able counters with `MGET` on a fresh admin connection.
    pub(super) async fn mget_counts(&self) -> Result<Vec<u32>, SetupError> {
        let mut c = admin::admin(&self.site).await?;
        admin::mget_counts(
            &mut c,
            &self.site,
            (0..self.slots).map(|s| self.key_of(s, "")),
        )
        .await
    }

    /// Creates every room-round's counter at 0 with the run's TTL before
    /// timing starts (`SET key 0 EX ttl NX`: a second set-up of the same run,
    /// in a worker process or to read the counts, changes nothing). `INCRBY`
    /// keeps a key's TTL, so the hot path needs no `EXPIRE` of its own.
    pub(super) async fn create_counters(&self, conn: &Connection) -> Result<(), SetupError> {
        for chunk in (0..self.slots).collect::<Vec<_>>().chunks(1000) {
            let cmds = chunk
                .iter()
                .map(|&s| {
                    let mut c = redis::cmd("SET");
                    c.arg(self.key_of(s, ""))
                        .arg(0)
                        .arg("EX")
                        .arg(self.site.ttl)
                        .arg("NX");
                    c
                })
                .collect();
            match admin::each(conn, cmds).await {
                Ok(_) => {}
                // A server that refuses writes (say, under maxmemory) will
                // refuse the answers too, where the run reports its own
                // words as an environment failure: not a set-up error.
                Err(e)
                    if !(e.is_io_error()
                        || e.is_timeout()
                        || e.is_connection_dropped()
                        || e.is_connection_refusal()) =>
                {
                    return Ok(());
                }
                Err(e) => return Err(explain(&self.site, "creating the run's counters", &e)),
            }
        }
        Ok(())
    }

    /// Reads set sizes with pipelined `SCARD`s (`redis-sadd`).
    async fn scard_counts(&self) -> Result<Vec<u32>, SetupError> {
        let c = admin::admin(&self.site).await?;
        let mut out = Vec::with_capacity(self.slots);
        for chunk in (0..self.slots).collect::<Vec<_>>().chunks(1000) {
            let cmds = chunk
                .iter()
                .map(|&s| {
                    let mut c = redis::cmd("SCARD");
                    c.arg(self.key_of(s, ""));
                    c
                })
                .collect();
            let v = admin::each(&c, cmds)
                .await
                .map_err(|e| explain(&self.site, "reading the final counts (SCARD)", &e))?;
            for x in v {
                out.push(redis::from_redis_value::<u32>(x).map_err(|e| {
                    explain(&self.site, "reading the final counts (SCARD)", &e.into())
                })?);
            }
        }
        Ok(out)
    }
}

/// A handle's reusable key buffer: `prefix` then the slot, no allocation
/// per call. Digits are pushed by hand: `write!` through `core::fmt` cost
/// ~1% of the client's CPU at 300k answers/s (perf), this a fraction of it.
fn key<'a>(buf: &'a mut String, base: &Base, slot: u32, suffix: &str) -> &'a str {
    buf.clear();
    buf.push_str(&base.keys);
    buf.push('{');
    let mut digits = [0u8; 10];
    let mut n = slot;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        buf.push(d as char);
    }
    buf.push('}');
    buf.push_str(suffix);
    buf
}

fn lost(f: Fate) -> Outcome {
    f.outcome()
}

/// How a strategy on the shared connection reads its final counts.
#[derive(Clone, Copy, Debug)]
enum Counts {
    /// `MGET` of the counters.
    Get,
    /// `SCARD` of the player sets.
    Scard,
}

/// Handle shared by the strategies on the multiplexed connection.
struct Shared {
    base: Arc<Base>,
    conn: Conn,
    worker: usize,
    key: String,
    /// The script of `redis-lua` and `redis-sadd`, loaded at set-up.
    script: Option<redis::Script>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("worker", &self.worker)
            .field("retried", &self.conn.retried)
            .finish_non_exhaustive()
    }
}

/// Defines a strategy on the shared connection: struct, handle and set-up.
/// The record call is written per strategy.
macro_rules! shared_strategy {
    ($(#[$doc:meta])* $name:ident, $handle:ident, $tag:literal, $id:literal, $script:expr, $counts:expr) => {
        $(#[$doc])*
        pub struct $name {
            base: Arc<Base>,
            link: Arc<Link>,
            script: Option<redis::Script>,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("base", &self.base).finish_non_exhaustive()
            }
        }

        #[doc = concat!("Worker handle of [`", stringify!($name), "`].")]
        #[derive(Debug)]
        pub struct $handle {
            h: Shared,
        }

        impl AsyncStrategy for $name {
            type Handle = $handle;

            async fn setup(layout: Layout, env: &Env, tracer: Option<Tracer>) -> Result<Self, SetupError> {
                let base = Base::new(layout, env, tracer, $tag, $id)?;
                let link = Link::connect_per_worker(&base.site).await?;
                if matches!($tag, "incrby" | "incr-get") {
                    base.create_counters(&link.get().await).await?;
                }
                let script: Option<redis::Script> = $script;
                if let Some(s) = &script {
                    admin::load_script(&base.site, &mut link.get().await, s, $id).await?;
                }
                Ok($name { base, link, script })
            }

            async fn handle(&self) -> Result<$handle, SetupError> {
                Ok($handle {
                    h: Shared {
                        worker: self.base.worker(),
                        base: self.base.clone(),
                        conn: self.link.conn(false).await,
                        key: String::with_capacity(self.base.keys.len() + 16),
                        script: self.script.clone(),
                    },
                })
            }

            async fn counts(&self) -> Result<Vec<u32>, SetupError> {
                match $counts {
                    Counts::Get => self.base.mget_counts().await,
                    Counts::Scard => self.base.scard_counts().await,
                }
            }
        }
    };
}

shared_strategy! {
    /// `redis-get-set`: `GET`, score, `SET v+1`. The lost update, across processes.
    ///
    /// * **Guarantees:** nothing under concurrency; exact with one worker.
    /// * **Costs:** two round trips per answer on the shared connection.
    /// * **Scaling:** losses grow with the workers per room and with the
    ///   round trip (the race window); more processes make it worse, not better.
    /// * **Checked by:** `tests/redis.rs` (`six_strategies_on_tokio_racy_caught_correct_exact`,
    ///   the two-process story) asserting that it *loses* answers, and
    ///   `quizrace explain redis-get-set`, which finds the interleaving.
    GetSet, GetSetHandle, "get-set", "redis-get-set", None, Counts::Get
}

shared_strategy! {
    /// `redis-incr-get`: `INCRBY`, then a separate `GET` decides. Duplicate ends.
    ///
    /// * **Guarantees:** the count is exact; the end decision is not.
    /// * **Costs:** two round trips per answer.
    /// * **Scaling:** duplicates grow with how many workers finish a room at
    ///   nearly the same time.
    /// * **Checked by:** `tests/redis.rs` asserting `duplicate_end > 0`, and
    ///   `quizrace explain redis-incr-get`.
    IncrGet, IncrGetHandle, "incr-get", "redis-incr-get", None, Counts::Get
}

shared_strategy! {
    /// `redis-incrby`: the story's fix, deciding from `INCRBY`'s return value.
    ///
    /// * **Guarantees:** exact counts and exactly one end per round, *without
    ///   client retries*. With retries after timeouts, a retried `INCRBY` may
    ///   apply twice (over-count, early or missed end); results then mark
    ///   its anomalies as expected.
    /// * **Costs:** one round trip; commands of all handles pipeline over one
    ///   socket.
    /// * **Scaling:** bounded by the Redis thread and the client's socket
    ///   task, not by rooms or processes.
    /// * **Checked by:** `tests/redis.rs` on `tokio` and `processes`, and the
    ///   pause fault that shows its over-count under retries
    ///   (`pause_with_retries_makes_incrby_overcount_while_lua_and_sadd_stay_exact`).
    Incrby, IncrbyHandle, "incrby", "redis-incrby", None, Counts::Get
}

shared_strategy! {
    /// `redis-lua`: one idempotent script increments, decides and marks the end.
    ///
    /// * **Guarantees:** exact counts and exactly one end per round, also
    ///   under client retries (a bitmap of players who answered makes a
    ///   repeated call a no-op that re-reports the original decision).
    /// * **Costs:** one round trip (`EVALSHA` of a script loaded once) plus a
    ///   few µs of script time on the Redis thread; players/8 bytes per round.
    /// * **Scaling:** like `redis-incrby`, with more server CPU per answer.
    /// * **Checked by:** `tests/redis.rs`, including the pause fault with retries.
    Lua, LuaHandle, "lua", "redis-lua", Some(redis::Script::new(LUA_SCRIPT)), Counts::Get
}

shared_strategy! {
    /// `redis-sadd`: `SADD` the player id; `SCARD` and the end marker in one script.
    ///
    /// * **Guarantees:** exact counts and exactly one end per round, also
    ///   under client retries: the count is a set's size, so adding a player
    ///   twice changes nothing.
    /// * **Costs:** one round trip; one set member per answer in memory.
    /// * **Scaling:** like `redis-lua`.
    /// * **Checked by:** `tests/redis.rs`, including the pause fault with retries.
    Sadd, SaddHandle, "sadd", "redis-sadd", Some(redis::Script::new(SADD_SCRIPT)), Counts::Scard
}

/// `redis-lua`'s script (`scripts/lua.lua`). KEYS: counter, seen-bitmap,
/// end marker; ARGV: player id, players per room, TTL in seconds (given to
/// each key it creates). Returns 1 if this player's answer ended the round.
/// Idempotent: see `text/lua.txt`.
const LUA_SCRIPT: &str = include_str!("scripts/lua.lua");

/// `redis-sadd`'s script (`scripts/sadd.lua`). KEYS: player set, end
/// marker; ARGV: player id, players per room, TTL in seconds (given to each
/// key it creates). Returns 1 if this player's answer ended the round.
const SADD_SCRIPT: &str = include_str!("scripts/sadd.lua");

impl AsyncRecorder for GetSetHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        let h = &mut self.h;
        let key = key(&mut h.key, &h.base, answer.slot, "");
        let get = redis::Cmd::get(key);
        begin(&h.base.tracer, h.worker, answer.slot, Step::Read);
        // A failed GET changed nothing: the answer was not counted.
        let Ok(v) = h
            .conn
            .call::<Option<u32>>(Op::Cmd(&get))
            .await
            .map(Option::unwrap_or_default)
        else {
            return Outcome::Failed;
        };
        step(
            &h.base.tracer,
            h.worker,
            answer.slot,
            Step::Read,
            true,
            || ((), TraceOp::Read(v)),
        );
        work.run_async().await; // the race window: other workers GET the same v here
        let mut set = redis::cmd("SET");
        set.arg(key).arg(v + 1).arg("EX").arg(h.base.site.ttl);
        begin(&h.base.tracer, h.worker, answer.slot, Step::Write);
        if let Err(f) = h.conn.call::<()>(Op::Cmd(&set)).await {
            return lost(f);
        }
        step(
            &h.base.tracer,
            h.worker,
            answer.slot,
            Step::Write,
            true,
            || ((), TraceOp::Write(v + 1)),
        );
        let ended = decided(
            &h.base.tracer,
            h.worker,
            answer.slot,
            v + 1 == h.base.players,
        );
        Outcome::Ok {
            ended,
            value: Some(v + 1),
        }
    }

    fn retries(&self) -> u64 {
        self.h.conn.retried
    }
}

impl AsyncRecorder for IncrGetHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        work.run_async().await;
        let h = &mut self.h;
        let key = key(&mut h.key, &h.base, answer.slot, "");
        let incr = redis::Cmd::incr(key, 1);
        begin(&h.base.tracer, h.worker, answer.slot, Step::Increment);
        let n = match h.conn.call::<u32>(Op::Cmd(&incr)).await {
            Ok(n) => n,
            Err(f) => return lost(f),
        };
        step(
            &h.base.tracer,
            h.worker,
            answer.slot,
            Step::Increment,
            true,
            || ((), TraceOp::Increment(n)),
        );
        // The bug: a second, separate command decides.
        begin(&h.base.tracer, h.worker, answer.slot, Step::Check);
        let seen = h
            .conn
            .call::<Option<u32>>(Op::Cmd(&redis::Cmd::get(key)))
            .await;
        let Ok(seen) = seen.map(Option::unwrap_or_default) else {
            // Counted, but no decision could be read: this call does not end the round.
            return Outcome::Ok {
                ended: false,
                value: Some(n),
            };
        };
        step(
            &h.base.tracer,
            h.worker,
            answer.slot,
            Step::Check,
            true,
            || ((), TraceOp::Check(seen)),
        );
        let ended = decided(
            &h.base.tracer,
            h.worker,
            answer.slot,
            seen >= h.base.players,
        );
        Outcome::Ok {
            ended,
            value: Some(n),
        }
    }

    fn retries(&self) -> u64 {
        self.h.conn.retried
    }
}

impl AsyncRecorder for IncrbyHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        work.run_async().await;
        let h = &mut self.h;
        let key = key(&mut h.key, &h.base, answer.slot, "");
        let incr = redis::Cmd::incr(key, 1);
        begin(&h.base.tracer, h.worker, answer.slot, Step::Increment);
        match h.conn.call::<u32>(Op::Cmd(&incr)).await {
            // Exactly one INCRBY returns the target value. The key exists
            // since set-up, with its TTL (`Base::create_counters`).
            Ok(n) => {
                step(
                    &h.base.tracer,
                    h.worker,
                    answer.slot,
                    Step::Increment,
                    true,
                    || ((), TraceOp::Increment(n)),
                );
                let players = h.base.players;
                Outcome::Ok {
                    ended: decided(&h.base.tracer, h.worker, answer.slot, n == players),
                    value: Some(n),
                }
            }
            Err(f) => lost(f),
        }
    }

    fn retries(&self) -> u64 {
        self.h.conn.retried
    }
}

impl Shared {
    /// Runs the script of `redis-lua` or `redis-sadd` for `answer`. Its keys
    /// are the room-round's key followed by each of `suffixes`; it returns 1
    /// to the one call that ends the round, and a repeated call (a retry)
    /// changes nothing, which is what makes both idempotent.
    async fn decide_by_script(
        &mut self,
        answer: Answer,
        work: &ScoringWork,
        suffixes: &[&str],
    ) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        work.run_async().await;
        let Some(script) = &self.script else {
            return Outcome::Failed;
        };
        let room_round = key(&mut self.key, &self.base, answer.slot, "");
        let keys: Vec<String> = suffixes
            .iter()
            .map(|suffix| format!("{room_round}{suffix}"))
            .collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        // The scripts give every key they create the run's TTL.
        let ttl = self.base.site.ttl.min(u32::MAX as u64) as u32;
        let args = [answer.player, self.base.players, ttl];
        begin(&self.base.tracer, self.worker, answer.slot, Step::Script);
        match self
            .conn
            .call::<u32>(Op::Script(script, &keys, &args))
            .await
        {
            Ok(fired) => {
                let (tracer, worker) = (&self.base.tracer, self.worker);
                step(tracer, worker, answer.slot, Step::Script, true, || {
                    ((), TraceOp::Script(fired == 1))
                });
                Outcome::Ok {
                    ended: decided(tracer, worker, answer.slot, fired == 1),
                    value: None,
                }
            }
            Err(f) => lost(f),
        }
    }
}

impl AsyncRecorder for LuaHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        // KEYS: the counter, the bitmap of who answered, the end marker.
        self.h
            .decide_by_script(answer, work, &["", ":seen", ":end"])
            .await
    }

    fn retries(&self) -> u64 {
        self.h.conn.retried
    }
}

impl AsyncRecorder for SaddHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        // KEYS: the set of player ids, the end marker.
        self.h.decide_by_script(answer, work, &["", ":end"]).await
    }

    fn retries(&self) -> u64 {
        self.h.conn.retried
    }
}

/// `redis-watch`: optimistic `WATCH`/`MULTI`/`EXEC`, retried on conflict.
///
/// * **Guarantees:** exact counts and one end per round without client
///   retries after timeouts (an `EXEC` only commits over an unchanged value).
///   Not idempotent: with timeout retries a landed-but-unacknowledged `EXEC`
///   is repeated, so its anomalies are then expected.
/// * **Costs:** two round trips per attempt; one connection per worker
///   (`WATCH` state is per connection, so it cannot be multiplexed).
/// * **Scaling:** conflicts, and so retries, grow with the workers per room;
///   reported as `outcomes.retries`.
/// * **Checked by:** `tests/redis.rs` on `tokio` and `processes`, asserting
///   exact results and a non-zero retry count under contention.
pub struct Watch {
    base: Arc<Base>,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").field("base", &self.base).finish()
    }
}

/// Worker handle of [`Watch`]: owns its connection (replaced after errors).
pub struct WatchHandle {
    base: Arc<Base>,
    conn: Conn,
    key: String,
}

impl fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchHandle")
            .field("retried", &self.conn.retried)
            .finish_non_exhaustive()
    }
}

/// Give up on an answer after this many aborted transactions in a row
/// (reported as failed: an aborted `EXEC` changed nothing). Someone wins
/// every conflict, so this only trips under pathological contention.
const MAX_CONFLICTS: u32 = 10_000;

impl AsyncStrategy for Watch {
    type Handle = WatchHandle;

    async fn setup(layout: Layout, env: &Env, tracer: Option<Tracer>) -> Result<Self, SetupError> {
        let base = Base::new(layout, env, tracer, "watch", "redis-watch")?;
        // Fail early, with a clear message, if the server is not usable.
        drop(Link::connect(&base.site).await?);
        Ok(Watch { base })
    }

    async fn handle(&self) -> Result<WatchHandle, SetupError> {
        // A link of its own: WATCH state must not be shared with other handles.
        let link = Link::connect(&self.base.site).await?;
        Ok(WatchHandle {
            base: self.base.clone(),
            conn: link.conn(true).await,
            key: String::with_capacity(self.base.keys.len() + 16),
        })
    }

    async fn counts(&self) -> Result<Vec<u32>, SetupError> {
        self.base.mget_counts().await
    }
}

/// One optimistic attempt: `Some(v + 1)` if `EXEC` committed, `None` if it
/// aborted because another client changed the key after our `WATCH`.
async fn watch_attempt(conn: &mut Conn, key: &str, ttl: u64) -> Result<Option<u32>, Failure> {
    // WATCH and GET in one round trip; the transaction in another.
    let mut watch = redis::pipe();
    watch.cmd("WATCH").arg(key).ignore().cmd("GET").arg(key);
    let (v,): (Option<u32>,) = conn.attempt(Op::Pipe(&watch)).await?;
    let next = v.unwrap_or(0) + 1;
    let mut tx = redis::pipe();
    tx.atomic()
        .cmd("SET")
        .arg(key)
        .arg(next)
        .arg("EX")
        .arg(ttl)
        .ignore();
    // EXEC answers nil when a watched key changed: nothing was written.
    let committed: Option<()> = conn.attempt(Op::Pipe(&tx)).await?;
    Ok(committed.map(|()| next))
}

impl AsyncRecorder for WatchHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        work.run_async().await;
        let base = &*self.base;
        let key = key(&mut self.key, base, answer.slot, "");
        // Conflicts are retried without limit but MAX_CONFLICTS; errors by
        // the run's one retry policy.
        let mut policy = Retry::new(base.site.faults.retries);
        let mut conflicts = 0;
        loop {
            match watch_attempt(&mut self.conn, key, base.site.ttl).await {
                Ok(Some(n)) => {
                    return Outcome::Ok {
                        ended: n == base.players,
                        value: Some(n),
                    }
                }
                Ok(None) => {
                    conflicts += 1;
                    self.conn.retried += 1;
                    if conflicts >= MAX_CONFLICTS {
                        return lost(policy.fate());
                    }
                }
                Err(f) => match policy.next(f) {
                    Next::Retry(wait) => {
                        self.conn.retried += 1;
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    Next::GiveUp(fate) => return lost(fate),
                },
            }
        }
    }

    fn retries(&self) -> u64 {
        self.conn.retried
    }
}

/// How long `WAIT` waits for the replica's acknowledgement before the
/// answer of `redis-incrby-wait` is left `unknown`, in milliseconds.
pub(crate) const WAIT_TIMEOUT_MS: u64 = 50;

/// `redis-incrby-wait`: `INCRBY` then `WAIT 1`, deciding only once a
/// replica has the write.
///
/// * **Guarantees:** exact counts and one end per round, like
///   `redis-incrby`, and an acknowledged answer survives the promotion of
///   the replica that acknowledged it (`scenarios/redis-failover.toml`). An
///   answer whose `WAIT` timed out is `unknown`: the primary has it, the
///   replica may not. Not idempotent under client retries.
/// * **Costs:** one round trip that lasts until the replica has applied the
///   write; one connection per worker (`WAIT` blocks the connection it is
///   sent on, so it cannot share the multiplexed one).
/// * **Scaling:** concurrent `WAIT`s share the server's acknowledgement
///   requests to its replicas; without a replica every answer waits
///   50 ms (`WAIT_TIMEOUT_MS`) and is unknown, so set-up refuses such a server.
/// * **Checked by:** `tests/redis_distributed.rs` (the failover lab).
pub struct IncrbyWait {
    base: Arc<Base>,
}

impl fmt::Debug for IncrbyWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncrbyWait")
            .field("base", &self.base)
            .finish()
    }
}

/// Worker handle of [`IncrbyWait`]: owns its connection.
pub struct IncrbyWaitHandle {
    base: Arc<Base>,
    conn: Conn,
    key: String,
}

impl fmt::Debug for IncrbyWaitHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncrbyWaitHandle")
            .field("retried", &self.conn.retried)
            .finish_non_exhaustive()
    }
}

impl AsyncStrategy for IncrbyWait {
    type Handle = IncrbyWaitHandle;

    async fn setup(layout: Layout, env: &Env, tracer: Option<Tracer>) -> Result<Self, SetupError> {
        let base = Base::new(layout, env, tracer, "incrby-wait", "redis-incrby-wait")?;
        let link = Link::connect(&base.site).await?;
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut link.get().await)
            .await
            .map_err(|e| explain(&base.site, "INFO replication", &e))?;
        let replicas = info
            .lines()
            .find_map(|l| l.trim().strip_prefix("connected_slaves:"))
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        if replicas == 0 {
            return Err(SetupError::Backend(format!(
                "redis-incrby-wait needs a primary with at least one connected replica, and the \
                 server at {} has none (INFO replication: connected_slaves:0), so every WAIT \
                 would time out: run it with --redis-lab primary-replica (quizrace starts a \
                 primary and a replica), or point --redis-url at a primary with a replica",
                base.site.cfg.redacted_url()
            )));
        }
        base.create_counters(&link.get().await).await?;
        Ok(IncrbyWait { base })
    }

    async fn handle(&self) -> Result<IncrbyWaitHandle, SetupError> {
        // A connection of its own: WAIT blocks the connection it is sent on.
        let link = Link::connect(&self.base.site).await?;
        Ok(IncrbyWaitHandle {
            base: self.base.clone(),
            conn: link.conn(false).await,
            key: String::with_capacity(self.base.keys.len() + 16),
        })
    }

    async fn counts(&self) -> Result<Vec<u32>, SetupError> {
        self.base.mget_counts().await
    }
}

impl AsyncRecorder for IncrbyWaitHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        work.run_async().await;
        let key = key(&mut self.key, &self.base, answer.slot, "");
        // One round trip: the increment, then wait for one replica to have it.
        let mut p = redis::pipe();
        p.cmd("INCRBY")
            .arg(key)
            .arg(1)
            .cmd("WAIT")
            .arg(1)
            .arg(WAIT_TIMEOUT_MS);
        match self.conn.call::<(u32, u32)>(Op::Pipe(&p)).await {
            // The replica has it: acknowledged, and the reply decides.
            Ok((n, acks)) if acks >= 1 => Outcome::Ok {
                ended: n == self.base.players,
                value: Some(n),
            },
            // Only the primary has it: a failover may lose it. Unknown, and
            // no end decision rests on it.
            Ok(_) => Outcome::Unknown,
            Err(f) => lost(f),
        }
    }

    fn retries(&self) -> u64 {
        self.conn.retried
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_and_numbered() {
        let env = crate::backend::configure(
            &[(&super::super::FAMILY, "redis://127.0.0.1:1".into())],
            &[],
        )
        .unwrap();
        let env = Env {
            namespace: "ns".into(),
            ..env
        };
        let layout = Layout {
            rooms: 1,
            rounds: 1,
            players: 1,
        };
        let base = Base::new(layout, &env, None, "t", "t").unwrap();
        let mut buf = String::new();
        for slot in [0u32, 7, 10, 4_294_967_295] {
            let want = base.key_of(slot as usize, ":end");
            assert_eq!(key(&mut buf, &base, slot, ":end"), want);
            assert!(want.starts_with("quizrace:ns:t:"), "{want}");
        }
    }
}

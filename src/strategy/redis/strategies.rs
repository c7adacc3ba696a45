//! The six Redis strategies.
//!
//! All but `redis-watch` share one multiplexed connection per strategy
//! (handles clone it, so 50 tasks pipeline their commands over one socket;
//! see `conn::Link`, which also reconnects after a server restart).
//! Keys are `quizrace:{run}:{tag}:{slot}`; scoring work comes first and the
//! counting step after, except in `redis-get-set`, whose read–score–write
//! *is* the bug.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::config::RedisConfig;
use super::conn::{self, retrying, stopped, Conn, Fate, Link};
use crate::strategy::trace::{decided, step};
use crate::strategy::{
    Answer, AsyncRecorder, AsyncStrategy, Env, Layout, Outcome, ScoringWork, SetupError, TraceOp,
    Tracer,
};

pub(crate) const GET_SET_EXPLAIN: &str = "\
redis-get-set moves the story's counter into Redis but keeps the story's
code: GET the count, do the scoring work, SET count + 1. Every command is
atomic inside Redis; the sequence of two commands is not.

Why it breaks: two servers (or two tasks of one server) that GET the same
value both SET value + 1, and one answer vanishes. Redis does not help here:
shared state only removes the first bug of the story (each process counting
alone); the read-modify-write still races across the network round trip,
which is a far wider window (~100 us on loopback) than any in-process one.
Lost answers mean the count never reaches the number of players, nobody
emits endQuizTime, and the room hangs.

Cost: two round trips per answer. Fixes: let Redis do the arithmetic
(redis-incrby), run the whole step in Redis (redis-lua), or detect the
conflict and retry (redis-watch).";

pub(crate) const INCR_GET_EXPLAIN: &str = "\
redis-incr-get counts correctly (INCRBY is atomic) but decides wrongly: after
its INCRBY it sends a separate GET and emits endQuizTime if the count it reads
is >= players, exactly the story's
`if (scoringMap[gameId] >= playersCount)` translated to Redis.

Why it breaks: between a worker's INCRBY and its GET, other workers'
increments land. Once the last answer is in, every worker whose GET comes
after it reads the full count, so the round ends twice or more
(duplicate_end). Nothing is lost; the decision is the race.

Cost: two round trips per answer. Fix: decide from the value INCRBY itself
returned (redis-incrby).";

pub(crate) const INCRBY_EXPLAIN: &str = "\
redis-incrby is the fix the story's team shipped: INCRBY the room-round's
counter and decide from the value INCRBY returned. Redis executes commands one
at a time, so the increment is indivisible and exactly one caller sees the
value that equals the number of players: it alone emits endQuizTime. All
processes share the counter, so partitioned state is gone too.

Where it stops being correct: client retries. If the reply to an INCRBY
times out, the client cannot know whether the server applied it. Retrying
(what most clients and proxies do by default) applies it again when the
first one did land: the answer is counted twice, the count reaches the
number of players before every player has answered (early_end), and the
true completing call may see a value past the target (missed_end). The
scenario redis-faults-retry.toml pauses the server mid-run with CLIENT
PAUSE to show exactly this; redis-sadd and redis-lua survive it because
they are idempotent.

Cost: one round trip per answer. Pipelined over one multiplexed connection
it is the fastest Redis strategy (hundreds of thousands of answers per
second on two cores); the server executes each INCRBY in well under a
microsecond, so the network and the client dominate.";

pub(crate) const LUA_EXPLAIN: &str = "\
redis-lua runs one Lua script per answer (loaded once with SCRIPT LOAD and
called by its SHA with EVALSHA). Redis runs a script to completion before
serving any other command, so the script's steps are one indivisible unit:

    if SETBIT(seen, player, 1) was 0 then        -- first time for this player
        n = INCR(counter)
        if n == players then SET(end, player, NX) -- mark the round ended
    end
    return GET(end) == player                     -- did *this* player end it?

The bitmap of players who already answered makes the script idempotent: a
retry after a timeout finds its bit set and changes nothing, and if the lost
first attempt was the one that completed the round, the retry reports that
decision, so the round still ends exactly once. The end marker records who
ended the round, so no two callers can both claim it.

Limit: idempotency lets a retry recover a lost reply, but only a reply
that eventually arrives. If every attempt times out, the answer is counted
(its outcome is unknown) and the decision it carried is lost with the last
reply: that round never ends (missed_end). Retry for longer than the
longest stall you expect.

Cost: one round trip, like INCRBY, plus a few microseconds of script
execution on the single Redis thread and a bitmap of players/8 bytes per
round. Needs scripting to be enabled (some managed Redis offerings restrict
it).";

pub(crate) const WATCH_EXPLAIN: &str = "\
redis-watch is optimistic concurrency control: WATCH the counter, GET it,
then MULTI / SET count+1 / EXEC. If any other client modified the counter
after the WATCH, Redis aborts the EXEC (it returns nil) and the client
retries from the WATCH. A successful EXEC therefore wrote value + 1 over an
unchanged value: no lost update, and the caller that wrote the target value
alone emits endQuizTime.

WATCH state belongs to a connection, so every worker needs its own
connection: no multiplexing, one socket per worker. Under contention
(many workers on one room) most transactions abort and retry; the retries
column of the results counts them. Like INCRBY it is not idempotent: a
retried EXEC whose first attempt timed out but landed counts twice.

Cost: two round trips per attempt (WATCH+GET pipelined, then the
MULTI/EXEC block), times the number of attempts; a connection per worker.";

pub(crate) const SADD_EXPLAIN: &str = "\
redis-sadd records *who* answered instead of *how many*: one Lua script
does SADD room-round-set player-id, SCARD, and, if the set is full, sets an
end marker to the player id (SET NX), then returns whether the marker holds
this player. The count is the set's size, so adding the same player twice
changes nothing: the operation is idempotent.

That is what makes it safe under client retries: a retried call after a
timeout adds nothing new, and if the lost first attempt completed the round,
the retry reads the marker and reports that it did, so the round ends exactly
once. Under the CLIENT PAUSE fault that makes redis-incrby over-count,
redis-sadd stays exact, provided some retry gets an answer: if every
attempt times out, the end decision is lost with the last reply (see
redis-lua).

Cost: one round trip; memory of one set member per answer (a few tens of
bytes per player per round, versus 8 bytes for a counter); the script runs
on Redis's single thread.";

/// What every Redis strategy keeps: settings, key prefix and trace log.
struct Base {
    cfg: RedisConfig,
    /// `quizrace:{run}:{tag}:`; a slot number completes a key.
    keys: String,
    players: u32,
    slots: usize,
    tracer: Option<Tracer>,
    next_worker: AtomicUsize,
}

impl fmt::Debug for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `cfg`'s Debug redacts the password; connections are not printed.
        f.debug_struct("Base")
            .field("cfg", &self.cfg)
            .field("keys", &self.keys)
            .field("players", &self.players)
            .finish_non_exhaustive()
    }
}

impl Base {
    fn new(
        layout: Layout,
        env: &Env,
        tracer: Option<Tracer>,
        tag: &str,
        name: &'static str,
    ) -> Result<Arc<Base>, SetupError> {
        let cfg = env.redis.clone().ok_or(SetupError::NoRedis(name))?;
        Ok(Arc::new(Base {
            keys: format!("{}{tag}:", cfg.prefix()),
            cfg,
            players: layout.players,
            slots: layout.slots(),
            tracer,
            next_worker: AtomicUsize::new(0),
        }))
    }

    fn worker(&self) -> usize {
        self.next_worker.fetch_add(1, Ordering::Relaxed)
    }

    fn key_of(&self, slot: usize, suffix: &str) -> String {
        format!("{}{slot}{suffix}", self.keys)
    }

    /// Reads `GET`-able counters with `MGET` on a fresh admin connection.
    async fn mget_counts(&self) -> Result<Vec<u32>, SetupError> {
        let mut c = conn::admin(&self.cfg).await?;
        conn::mget_counts(
            &mut c,
            &self.cfg,
            (0..self.slots).map(|s| self.key_of(s, "")),
        )
        .await
    }

    /// Deletes every key of the run (all strategies' tags: the prefix is the run's).
    async fn teardown(&self) -> Result<(), SetupError> {
        let result = async {
            let mut c = conn::admin(&self.cfg).await?;
            conn::delete_prefix(&mut c, &self.cfg).await.map(|_| ())
        }
        .await;
        result.map_err(|e| conn::left_behind(&self.cfg, e))
    }
}

/// A handle's reusable key buffer: `prefix` then the slot, no allocation
/// per call. Digits are pushed by hand: `write!` through `core::fmt` cost
/// ~1% of the client's CPU at 300k answers/s (perf), this a fraction of it.
fn key<'a>(buf: &'a mut String, base: &Base, slot: u32, suffix: &str) -> &'a str {
    buf.clear();
    buf.push_str(&base.keys);
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
    buf.push_str(suffix);
    buf
}

fn lost(f: Fate) -> Outcome {
    match f {
        Fate::NotApplied => Outcome::Failed,
        Fate::MaybeApplied => Outcome::Unknown,
    }
}

/// Handle shared by the strategies on the multiplexed connection.
struct Shared {
    base: Arc<Base>,
    conn: Conn,
    worker: usize,
    key: String,
    retried: u64,
    /// The script of `redis-lua` and `redis-sadd`, loaded at set-up.
    script: Option<redis::Script>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("worker", &self.worker)
            .field("retried", &self.retried)
            .finish_non_exhaustive()
    }
}

/// Defines a strategy on the shared connection: struct, handle, setup,
/// counts and teardown. The record call is written per strategy.
macro_rules! shared_strategy {
    ($(#[$doc:meta])* $name:ident, $handle:ident, $tag:literal, $id:literal, $script:expr, counts = $counts:ident) => {
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
                let link = Link::connect(&base.cfg).await?;
                let script: Option<redis::Script> = $script;
                if let Some(s) = &script {
                    conn::load_script(&base.cfg, &mut link.get().await, s, $id).await?;
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
                        retried: 0,
                        script: self.script.clone(),
                    },
                })
            }

            async fn counts(&self) -> Result<Vec<u32>, SetupError> {
                self.$counts().await
            }

            async fn teardown(&self) -> Result<(), SetupError> {
                self.base.teardown().await
            }
        }

        impl $name {
            #[allow(dead_code)]
            async fn mget(&self) -> Result<Vec<u32>, SetupError> {
                self.base.mget_counts().await
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
    GetSet, GetSetHandle, "get-set", "redis-get-set", None, counts = mget
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
    IncrGet, IncrGetHandle, "incr-get", "redis-incr-get", None, counts = mget
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
    Incrby, IncrbyHandle, "incrby", "redis-incrby", None, counts = mget
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
    Lua, LuaHandle, "lua", "redis-lua", Some(redis::Script::new(LUA_SCRIPT)), counts = mget
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
    Sadd, SaddHandle, "sadd", "redis-sadd", Some(redis::Script::new(SADD_SCRIPT)), counts = scard
}

/// `redis-lua`'s script. KEYS: counter, seen-bitmap, end marker; ARGV:
/// player id, players per room. Returns 1 if this player's answer ended the
/// round. Idempotent: see [`LUA_EXPLAIN`].
const LUA_SCRIPT: &str = r"
if redis.call('SETBIT', KEYS[2], ARGV[1], 1) == 0 then
  local n = redis.call('INCR', KEYS[1])
  if n == tonumber(ARGV[2]) then
    redis.call('SET', KEYS[3], ARGV[1], 'NX')
  end
end
if redis.call('GET', KEYS[3]) == ARGV[1] then return 1 end
return 0
";

/// `redis-sadd`'s script. KEYS: player set, end marker; ARGV: player id,
/// players per room. Returns 1 if this player's answer ended the round.
const SADD_SCRIPT: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[1], 'NX')
end
if redis.call('GET', KEYS[2]) == ARGV[1] then return 1 end
return 0
";

impl Sadd {
    async fn scard(&self) -> Result<Vec<u32>, SetupError> {
        let b = &self.base;
        let mut c = conn::admin(&b.cfg).await?;
        let mut out = Vec::with_capacity(b.slots);
        let mut start = 0;
        while start < b.slots {
            let end = (start + 1000).min(b.slots);
            let mut p = redis::pipe();
            for s in start..end {
                p.cmd("SCARD").arg(b.key_of(s, ""));
            }
            let v: Vec<u32> = p
                .query_async(&mut c)
                .await
                .map_err(|e| conn::explain(&b.cfg, "reading the final counts (SCARD)", &e))?;
            out.extend(v);
            start = end;
        }
        Ok(out)
    }
}

impl AsyncRecorder for GetSetHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        let h = &mut self.h;
        let retries = h.base.cfg.faults.retries;
        let key = key(&mut h.key, &h.base, answer.slot, "");
        let get = redis::Cmd::get(key);
        let got: Result<Option<u32>, Fate> =
            retrying!(retries, h.retried, h.conn.query::<Option<u32>>(&get));
        // A failed GET changed nothing: the answer was not counted.
        let Ok(v) = got.map(Option::unwrap_or_default) else {
            return Outcome::Failed;
        };
        step(&h.base.tracer, h.worker, answer.slot, || {
            ((), TraceOp::Read(v))
        });
        work.run_async().await; // the race window: other workers GET the same v here
        let set = redis::Cmd::set(key, v + 1);
        let set: Result<(), Fate> = retrying!(retries, h.retried, h.conn.query::<()>(&set));
        if let Err(f) = set {
            return lost(f);
        }
        step(&h.base.tracer, h.worker, answer.slot, || {
            ((), TraceOp::Write(v + 1))
        });
        let ended = decided(
            &h.base.tracer,
            h.worker,
            answer.slot,
            v + 1 == h.base.players,
        );
        Outcome::Ok { ended }
    }

    fn retries(&self) -> u64 {
        self.h.retried
    }
}

impl AsyncRecorder for IncrGetHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        work.run_async().await;
        let h = &mut self.h;
        let retries = h.base.cfg.faults.retries;
        let key = key(&mut h.key, &h.base, answer.slot, "");
        let incr = redis::Cmd::incr(key, 1);
        let n: Result<u32, Fate> = retrying!(retries, h.retried, h.conn.query::<u32>(&incr));
        let n = match n {
            Ok(n) => n,
            Err(f) => return lost(f),
        };
        step(&h.base.tracer, h.worker, answer.slot, || {
            ((), TraceOp::Increment(n))
        });
        // The bug: a second, separate command decides.
        let get = redis::Cmd::get(key);
        let seen: Result<Option<u32>, Fate> =
            retrying!(retries, h.retried, h.conn.query::<Option<u32>>(&get));
        let Ok(seen) = seen.map(Option::unwrap_or_default) else {
            // Counted, but no decision could be read: this call does not end the round.
            return Outcome::Ok { ended: false };
        };
        step(&h.base.tracer, h.worker, answer.slot, || {
            ((), TraceOp::Check(seen))
        });
        let ended = decided(
            &h.base.tracer,
            h.worker,
            answer.slot,
            seen >= h.base.players,
        );
        Outcome::Ok { ended }
    }

    fn retries(&self) -> u64 {
        self.h.retried
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
        let n: Result<u32, Fate> = retrying!(
            h.base.cfg.faults.retries,
            h.retried,
            h.conn.query::<u32>(&incr)
        );
        match n {
            Ok(n) => {
                // Exactly one INCRBY returns the target value.
                let ended = n == h.base.players;
                Outcome::Ok { ended }
            }
            Err(f) => lost(f),
        }
    }

    fn retries(&self) -> u64 {
        self.h.retried
    }
}

impl Shared {
    /// Runs the set-up script of `redis-lua` or `redis-sadd` for `answer`.
    /// Its keys are the room-round's key followed by each of `suffixes`; it
    /// returns 1 to the one call that ends the round, and a repeated call
    /// (a retry) changes nothing, which is what makes both idempotent.
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
        let r: Result<u32, Fate> = retrying!(
            self.base.cfg.faults.retries,
            self.retried,
            self.conn
                .eval(script, &keys, &[answer.player, self.base.players])
        );
        match r {
            Ok(fired) => Outcome::Ok { ended: fired == 1 },
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
        self.h.retried
    }
}

impl AsyncRecorder for SaddHandle {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        // KEYS: the set of player ids, the end marker.
        self.h.decide_by_script(answer, work, &["", ":end"]).await
    }

    fn retries(&self) -> u64 {
        self.h.retried
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
    retried: u64,
}

impl fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchHandle")
            .field("retried", &self.retried)
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
        drop(Link::connect(&base.cfg).await?);
        Ok(Watch { base })
    }

    async fn handle(&self) -> Result<WatchHandle, SetupError> {
        // A link of its own: WATCH state must not be shared with other handles.
        let link = Link::connect(&self.base.cfg).await?;
        Ok(WatchHandle {
            base: self.base.clone(),
            conn: link.conn(true).await,
            key: String::with_capacity(self.base.keys.len() + 16),
            retried: 0,
        })
    }

    async fn counts(&self) -> Result<Vec<u32>, SetupError> {
        self.base.mget_counts().await
    }

    async fn teardown(&self) -> Result<(), SetupError> {
        self.base.teardown().await
    }
}

/// One optimistic attempt: `Some(v + 1)` if `EXEC` committed, `None` if it
/// aborted because another client changed the key after our `WATCH`.
async fn watch_attempt(conn: &mut Conn, key: &str) -> Result<Option<u32>, conn::Failure> {
    // WATCH and GET in one round trip; the transaction in another.
    let mut watch = redis::pipe();
    watch.cmd("WATCH").arg(key).ignore().cmd("GET").arg(key);
    let (v,): (Option<u32>,) = conn.query(&watch).await?;
    let next = v.unwrap_or(0) + 1;
    let mut tx = redis::pipe();
    tx.atomic().set(key, next).ignore();
    // EXEC answers nil when a watched key changed: nothing was written.
    let committed: Option<()> = conn.query(&tx).await?;
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
        let mut maybe = false;
        let mut timeouts = 0;
        let mut conflicts = 0;
        loop {
            match watch_attempt(&mut self.conn, key).await {
                Ok(Some(n)) => {
                    return Outcome::Ok {
                        ended: n == base.players,
                    }
                }
                Ok(None) => {
                    conflicts += 1;
                    self.retried += 1;
                    if conflicts >= MAX_CONFLICTS {
                        break;
                    }
                }
                Err(f) => {
                    maybe |= f.fate == Fate::MaybeApplied;
                    if timeouts < base.cfg.faults.retries && f.transient {
                        timeouts += 1;
                        self.retried += 1;
                        continue;
                    }
                    break;
                }
            }
        }
        lost(if maybe {
            Fate::MaybeApplied
        } else {
            Fate::NotApplied
        })
    }

    fn retries(&self) -> u64 {
        self.retried
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_and_numbered() {
        let env = Env {
            redis: Some(RedisConfig::new("redis://127.0.0.1:1").unwrap()),
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
            assert!(want.starts_with("quizrace:"));
        }
    }
}

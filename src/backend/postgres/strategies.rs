//! The seven PostgreSQL strategies: one generic type, [`Pg`], whose
//! constant parameter picks the statements, so that every strategy shares
//! the pool, the timeouts, the retry policy and the clean-up of a failed
//! connection, and differs only in what it asks the database.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use deadpool_postgres::{Object, Pool};

use super::client::{self, classify, timed, Timed, Verdict};
use super::Site;
use crate::backend::retry::{Failure, Next, Retry};
use crate::backend::stopped;
use crate::strategy::trace::{begin, decided, step, Step as TraceStep};
use crate::strategy::{
    Answer, AsyncRecorder, AsyncStrategy, Counted, Env, Layout, Outcome, ScoringWork, SetupError,
    TraceOp, Tracer,
};

pub(crate) const READ_WRITE_EXPLAIN: &str = include_str!("text/read-write.txt");
pub(crate) const UPDATE_RETURNING_EXPLAIN: &str = include_str!("text/update-returning.txt");
pub(crate) const SELECT_FOR_UPDATE_EXPLAIN: &str = include_str!("text/select-for-update.txt");
pub(crate) const REPEATABLE_READ_EXPLAIN: &str = include_str!("text/repeatable-read.txt");
pub(crate) const SERIALIZABLE_EXPLAIN: &str = include_str!("text/serializable.txt");
pub(crate) const ADVISORY_LOCK_EXPLAIN: &str = include_str!("text/advisory-lock.txt");
pub(crate) const INSERT_IDEMPOTENT_EXPLAIN: &str = include_str!("text/insert-idempotent.txt");

/// The statements a strategy sends, picked by [`Pg`]'s parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// `BEGIN <isolation>`, optionally a lock, `SELECT n` (optionally `FOR
    /// UPDATE`), score, `UPDATE … SET n = v + 1`, `COMMIT`.
    ReadThenWrite { isolation: &'static str, lock: Lock },
    /// `UPDATE … SET n = n + 1 RETURNING n`, auto-committed.
    UpdateReturning,
    /// Row lock, insert the player, count, record the end, `COMMIT`.
    InsertIdempotent,
}

/// How a read-then-write transaction excludes others, if at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lock {
    None,
    RowForUpdate,
    Advisory,
}

const PLANS: [(&str, Plan); 7] = [
    (
        "pg-read-write",
        Plan::ReadThenWrite {
            isolation: "READ COMMITTED",
            lock: Lock::None,
        },
    ),
    ("pg-update-returning", Plan::UpdateReturning),
    (
        "pg-select-for-update",
        Plan::ReadThenWrite {
            isolation: "READ COMMITTED",
            lock: Lock::RowForUpdate,
        },
    ),
    (
        "pg-repeatable-read",
        Plan::ReadThenWrite {
            isolation: "REPEATABLE READ",
            lock: Lock::None,
        },
    ),
    (
        "pg-serializable",
        Plan::ReadThenWrite {
            isolation: "SERIALIZABLE",
            lock: Lock::None,
        },
    ),
    (
        "pg-advisory-lock",
        Plan::ReadThenWrite {
            isolation: "READ COMMITTED",
            lock: Lock::Advisory,
        },
    ),
    ("pg-insert-idempotent", Plan::InsertIdempotent),
];

/// `pg-read-write`: the story's read–score–write in a READ COMMITTED
/// transaction. Loses updates. Checked by `tests/sql.rs`.
pub type ReadWrite = Pg<0>;
/// `pg-update-returning`: `UPDATE … RETURNING`, the twin of `INCRBY`.
pub type UpdateReturning = Pg<1>;
/// `pg-select-for-update`: the row lock held across the scoring.
pub type SelectForUpdate = Pg<2>;
/// `pg-repeatable-read`: read-then-write under REPEATABLE READ, retried on 40001.
pub type RepeatableRead = Pg<3>;
/// `pg-serializable`: read-then-write under SERIALIZABLE, retried on 40001.
pub type Serializable = Pg<4>;
/// `pg-advisory-lock`: an advisory lock per room-round around the read-then-write.
pub type AdvisoryLock = Pg<5>;
/// `pg-insert-idempotent`: one row per (room-round, player), the twin of `redis-sadd`.
pub type InsertIdempotent = Pg<6>;

/// Give up on an answer after this many serialization failures in a row
/// (someone wins every conflict, so only pathological contention trips it).
const MAX_CONFLICTS: u32 = 10_000;

/// The SQL of one strategy, built once at set-up.
#[derive(Debug)]
struct Sql {
    begin: String,
    lock: Option<String>,
    read: String,
    write: String,
    update_returning: String,
    insert: String,
    count: String,
    end: String,
    ender: String,
    counts: String,
}

impl Sql {
    fn new(site: &Site, plan: Plan) -> Sql {
        let t = &site.tables;
        let (isolation, lock) = match plan {
            Plan::ReadThenWrite { isolation, lock } => (isolation, lock),
            _ => ("READ COMMITTED", Lock::RowForUpdate),
        };
        Sql {
            begin: format!("BEGIN ISOLATION LEVEL {isolation}"),
            // Advisory locks are database-wide: the first key is the run's,
            // so that concurrent runs never wait for each other.
            lock: (lock == Lock::Advisory)
                .then(|| "SELECT pg_advisory_xact_lock($1::int4, $2::int4)".to_string()),
            read: format!(
                "SELECT n FROM {} WHERE slot = $1{}",
                t.counts,
                if lock == Lock::RowForUpdate {
                    " FOR UPDATE"
                } else {
                    ""
                }
            ),
            write: format!("UPDATE {} SET n = $2 WHERE slot = $1", t.counts),
            update_returning: format!(
                "UPDATE {} SET n = n + 1 WHERE slot = $1 RETURNING n",
                t.counts
            ),
            insert: format!(
                "INSERT INTO {} (slot, player) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                t.answers
            ),
            count: format!("SELECT count(*)::int4 FROM {} WHERE slot = $1", t.answers),
            end: format!(
                "INSERT INTO {} (slot, player) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                t.ends
            ),
            ender: format!("SELECT player FROM {} WHERE slot = $1", t.ends),
            counts: if plan == Plan::InsertIdempotent {
                format!(
                    "SELECT slot, count(*)::int4 FROM {} GROUP BY slot",
                    t.answers
                )
            } else {
                format!("SELECT slot, n FROM {}", t.counts)
            },
        }
    }
}

/// What every PostgreSQL strategy keeps.
struct Base {
    site: Site,
    pool: Pool,
    plan: Plan,
    sql: Sql,
    /// The run's key for advisory locks (a hash of its namespace).
    run_key: i32,
    players: u32,
    slots: usize,
    tracer: Option<Tracer>,
    next_worker: AtomicUsize,
}

impl fmt::Debug for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Base")
            .field("cfg", &self.site.cfg)
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

/// A PostgreSQL strategy; `M` picks its statements (see the type aliases).
#[derive(Debug)]
pub struct Pg<const M: u8> {
    base: Arc<Base>,
}

/// Worker handle of [`Pg`].
#[derive(Debug)]
pub struct PgHandle<const M: u8> {
    base: Arc<Base>,
    worker: usize,
    retried: u64,
}

impl<const M: u8> AsyncStrategy for Pg<M> {
    type Handle = PgHandle<M>;

    async fn setup(layout: Layout, env: &Env, tracer: Option<Tracer>) -> Result<Self, SetupError> {
        let (name, plan) = PLANS[M as usize];
        let site = Site::of(env, name)?;
        let pool = client::pool(&site).await?;
        let run_key = env.namespace.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ b as u32).wrapping_mul(0x0100_0193)
        }) as i32;
        Ok(Pg {
            base: Arc::new(Base {
                sql: Sql::new(&site, plan),
                site,
                pool,
                plan,
                run_key,
                players: layout.players,
                slots: layout.slots(),
                tracer,
                next_worker: AtomicUsize::new(0),
            }),
        })
    }

    async fn handle(&self) -> Result<PgHandle<M>, SetupError> {
        Ok(PgHandle {
            base: self.base.clone(),
            worker: match &self.base.tracer {
                Some(t) => t.next_worker(),
                None => self.base.next_worker.fetch_add(1, Ordering::Relaxed),
            },
            retried: 0,
        })
    }

    async fn counts(&self) -> Result<Vec<u32>, SetupError> {
        let b = &*self.base;
        let rows = client::admin_query(&b.site, "reading the final counts", &b.sql.counts).await?;
        let mut out = vec![0u32; b.slots];
        for row in rows {
            let (slot, n): (i32, i32) = (row.get(0), row.get(1));
            if let Some(c) = out.get_mut(slot as usize) {
                *c = n.max(0) as u32;
            }
        }
        Ok(out)
    }
}

/// A failed step: what went wrong, and whether that statement could have
/// committed the answer by itself.
struct Step {
    error: Timed,
    committing: bool,
}

fn step_err(committing: bool) -> impl FnOnce(Timed) -> Step {
    move |error| Step { error, committing }
}

impl<const M: u8> PgHandle<M> {
    /// One attempt: the plan's statements on a pooled connection. After a
    /// failure the connection is rolled back, or dropped when its state is
    /// unknown (a timeout, a broken connection).
    async fn attempt(&mut self, answer: Answer, work: &ScoringWork) -> Result<Counted, Verdict> {
        let b = self.base.clone();
        let client = b
            .pool
            .get()
            .await
            .map_err(|_| Verdict::Failed(Failure::NOT_SENT))?;
        let mut in_tx = false;
        let Step { error, committing } = match self.steps(&client, &mut in_tx, answer, work).await {
            Ok(ended) => return Ok(ended),
            Err(step) => step,
        };
        let verdict = classify(&error, committing);
        if matches!(error, Timed::TimedOut) || client.is_closed() {
            // Its state is unknown: never hand it to another answer.
            let _ = Object::take(client);
        } else if in_tx
            && timed(&b.site, client.batch_execute("ROLLBACK"))
                .await
                .is_err()
        {
            let _ = Object::take(client);
        }
        Err(verdict)
    }

    async fn steps(
        &self,
        client: &Object,
        in_tx: &mut bool,
        answer: Answer,
        work: &ScoringWork,
    ) -> Result<Counted, Step> {
        let b = &*self.base;
        let site = &b.site;
        let slot = answer.slot as i32;
        let player = answer.player as i32;
        match b.plan {
            Plan::UpdateReturning => {
                let st = timed(site, client.prepare_cached(&b.sql.update_returning))
                    .await
                    .map_err(step_err(false))?;
                let row = timed(site, client.query_one(&st, &[&slot]))
                    .await
                    .map_err(step_err(true))?;
                let n: i32 = row.get(0);
                // Exactly one UPDATE returns the target value.
                Ok(Counted::at(n as u32, b.players))
            }
            Plan::ReadThenWrite { lock, .. } => {
                begin(&b.tracer, self.worker, answer.slot, TraceStep::Read);
                timed(site, client.batch_execute(&b.sql.begin))
                    .await
                    .map_err(step_err(false))?;
                *in_tx = true;
                if let (Lock::Advisory, Some(sql)) = (lock, &b.sql.lock) {
                    let st = timed(site, client.prepare_cached(sql))
                        .await
                        .map_err(step_err(false))?;
                    timed(site, client.query_one(&st, &[&b.run_key, &slot]))
                        .await
                        .map_err(step_err(false))?;
                }
                let read = timed(site, client.prepare_cached(&b.sql.read))
                    .await
                    .map_err(step_err(false))?;
                let row = timed(site, client.query_one(&read, &[&slot]))
                    .await
                    .map_err(step_err(false))?;
                let v = row.get::<_, i32>(0) as u32;
                step(
                    &b.tracer,
                    self.worker,
                    answer.slot,
                    TraceStep::Read,
                    true,
                    || ((), TraceOp::Read(v)),
                );
                // The race window (or, with a lock, the time it is held).
                work.run_async().await;
                begin(&b.tracer, self.worker, answer.slot, TraceStep::Write);
                let write = timed(site, client.prepare_cached(&b.sql.write))
                    .await
                    .map_err(step_err(false))?;
                let next = (v + 1) as i32;
                timed(site, client.execute(&write, &[&slot, &next]))
                    .await
                    .map_err(step_err(false))?;
                timed(site, client.batch_execute("COMMIT"))
                    .await
                    .map_err(step_err(true))?;
                *in_tx = false;
                step(
                    &b.tracer,
                    self.worker,
                    answer.slot,
                    TraceStep::Write,
                    true,
                    || ((), TraceOp::Write(v + 1)),
                );
                Ok(Counted {
                    ended: decided(&b.tracer, self.worker, answer.slot, v + 1 == b.players),
                    value: Some(v + 1),
                })
            }
            Plan::InsertIdempotent => {
                let st = |sql| timed(site, client.prepare_cached(sql));
                timed(site, client.batch_execute(&b.sql.begin))
                    .await
                    .map_err(step_err(false))?;
                *in_tx = true;
                // The room-round's row lock orders the decisions: without it
                // two last answers could each count only their own row.
                let read = st(&b.sql.read).await.map_err(step_err(false))?;
                timed(site, client.query_one(&read, &[&slot]))
                    .await
                    .map_err(step_err(false))?;
                let insert = st(&b.sql.insert).await.map_err(step_err(false))?;
                timed(site, client.execute(&insert, &[&slot, &player]))
                    .await
                    .map_err(step_err(false))?;
                let count = st(&b.sql.count).await.map_err(step_err(false))?;
                let n: i32 = timed(site, client.query_one(&count, &[&slot]))
                    .await
                    .map_err(step_err(false))?
                    .get(0);
                if n as u32 >= b.players {
                    let end = st(&b.sql.end).await.map_err(step_err(false))?;
                    timed(site, client.execute(&end, &[&slot, &player]))
                        .await
                        .map_err(step_err(false))?;
                }
                let ender = st(&b.sql.ender).await.map_err(step_err(false))?;
                let who = timed(site, client.query_opt(&ender, &[&slot]))
                    .await
                    .map_err(step_err(false))?
                    .map(|r| r.get::<_, i32>(0));
                timed(site, client.batch_execute("COMMIT"))
                    .await
                    .map_err(step_err(true))?;
                *in_tx = false;
                // A retry of the answer that ended the round finds its own
                // end row and reports it again; no one else can.
                Ok(Counted::decided(who == Some(player)))
            }
        }
    }
}

impl<const M: u8> AsyncRecorder for PgHandle<M> {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        let scores_first = matches!(
            self.base.plan,
            Plan::UpdateReturning | Plan::InsertIdempotent
        );
        if scores_first {
            work.run_async().await;
        }
        let inner = if scores_first {
            ScoringWork::None
        } else {
            *work
        };
        let mut policy = Retry::new(self.base.site.faults.retries);
        let mut conflicts = 0;
        loop {
            match self.attempt(answer, &inner).await {
                Ok(c) => {
                    return Outcome::Ok {
                        ended: c.ended,
                        value: c.value,
                    }
                }
                Err(Verdict::Conflict) => {
                    // Rolled back by the server: nothing applied; run it again.
                    conflicts += 1;
                    self.retried += 1;
                    if conflicts >= MAX_CONFLICTS {
                        return policy.fate().outcome();
                    }
                }
                Err(Verdict::Failed(f)) => match policy.next(f) {
                    Next::Retry(wait) => {
                        self.retried += 1;
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    Next::GiveUp(fate) => return fate.outcome(),
                },
            }
        }
    }

    fn retries(&self) -> u64 {
        self.retried
    }
}

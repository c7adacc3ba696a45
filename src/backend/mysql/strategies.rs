//! The three MariaDB/MySQL strategies: one generic type, [`My`], whose
//! constant parameter picks the statements (as for PostgreSQL).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};

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
pub(crate) const UPDATE_EXPLAIN: &str = include_str!("text/update.txt");
pub(crate) const SELECT_FOR_UPDATE_EXPLAIN: &str = include_str!("text/select-for-update.txt");

/// What each strategy sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// `START TRANSACTION`, `SELECT n` (optionally `FOR UPDATE`), score,
    /// `UPDATE … SET n = v + 1`, `COMMIT`, under InnoDB's REPEATABLE READ.
    ReadThenWrite { for_update: bool },
    /// `UPDATE … SET n = LAST_INSERT_ID(n + 1)`, auto-committed.
    Update,
}

const PLANS: [(&str, Plan); 3] = [
    (
        "mysql-read-write",
        Plan::ReadThenWrite { for_update: false },
    ),
    ("mysql-update", Plan::Update),
    (
        "mysql-select-for-update",
        Plan::ReadThenWrite { for_update: true },
    ),
];

/// `mysql-read-write`: read-then-write under InnoDB's REPEATABLE READ. Loses updates.
pub type ReadWrite = My<0>;
/// `mysql-update`: an atomic increment whose new value comes back in the OK packet.
pub type Update = My<1>;
/// `mysql-select-for-update`: the row lock held across the scoring.
pub type SelectForUpdate = My<2>;

/// Give up after this many deadlocks in a row.
const MAX_CONFLICTS: u32 = 10_000;

struct Base {
    site: Site,
    pool: Pool,
    plan: Plan,
    read: String,
    write: String,
    update: String,
    counts: String,
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

/// A MariaDB/MySQL strategy; `M` picks its statements (see the aliases).
#[derive(Debug)]
pub struct My<const M: u8> {
    base: Arc<Base>,
}

/// Worker handle of [`My`].
#[derive(Debug)]
pub struct MyHandle<const M: u8> {
    base: Arc<Base>,
    worker: usize,
    retried: u64,
}

impl<const M: u8> AsyncStrategy for My<M> {
    type Handle = MyHandle<M>;

    async fn setup(layout: Layout, env: &Env, tracer: Option<Tracer>) -> Result<Self, SetupError> {
        let (name, plan) = PLANS[M as usize];
        let site = Site::of(env, name)?;
        let pool = client::pool(&site).await?;
        let t = &site.counts;
        let for_update = matches!(plan, Plan::ReadThenWrite { for_update: true });
        Ok(My {
            base: Arc::new(Base {
                read: format!(
                    "SELECT n FROM {t} WHERE slot = ?{}",
                    if for_update { " FOR UPDATE" } else { "" }
                ),
                write: format!("UPDATE {t} SET n = ? WHERE slot = ?"),
                update: format!("UPDATE {t} SET n = LAST_INSERT_ID(n + 1) WHERE slot = ?"),
                counts: format!("SELECT slot, n FROM {t}"),
                site,
                pool,
                plan,
                players: layout.players,
                slots: layout.slots(),
                tracer,
                next_worker: AtomicUsize::new(0),
            }),
        })
    }

    async fn handle(&self) -> Result<MyHandle<M>, SetupError> {
        Ok(MyHandle {
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
        let longer = b.site.admin();
        let mut conn = client::get(&longer, &b.pool)
            .await
            .map_err(|e| client::explain(&b.site, "connecting", &e))?;
        let rows: Vec<(i32, i32)> = timed(&longer, conn.query(b.counts.as_str()))
            .await
            .map_err(|e| client::explain(&b.site, "reading the final counts", &e))?;
        let mut out = vec![0u32; b.slots];
        for (slot, n) in rows {
            if let Some(c) = out.get_mut(slot as usize) {
                *c = n.max(0) as u32;
            }
        }
        Ok(out)
    }
}

/// A failed step and whether that statement could have committed alone.
struct Step {
    error: Timed,
    committing: bool,
}

fn step_err(committing: bool) -> impl FnOnce(Timed) -> Step {
    move |error| Step { error, committing }
}

impl<const M: u8> MyHandle<M> {
    async fn attempt(&mut self, answer: Answer, work: &ScoringWork) -> Result<Counted, Verdict> {
        let b = self.base.clone();
        let mut conn = client::get(&b.site, &b.pool)
            .await
            .map_err(|_| Verdict::Failed(Failure::NOT_SENT))?;
        let mut in_tx = false;
        let Step { error, committing } = match self.steps(&mut conn, &mut in_tx, answer, work).await
        {
            Ok(ended) => return Ok(ended),
            Err(step) => step,
        };
        let verdict = classify(&error, committing);
        if error.broke_the_connection() {
            // Its state is unknown: close it rather than return it to the pool.
            drop(tokio::time::timeout(b.site.faults.response_timeout, conn.disconnect()).await);
        } else if in_tx {
            let _ = timed(&b.site, conn.query_drop("ROLLBACK")).await;
        }
        Err(verdict)
    }

    async fn steps(
        &self,
        conn: &mut Conn,
        in_tx: &mut bool,
        answer: Answer,
        work: &ScoringWork,
    ) -> Result<Counted, Step> {
        let b = &*self.base;
        let site = &b.site;
        let slot = answer.slot as i32;
        match b.plan {
            Plan::Update => {
                timed(site, conn.exec_drop(b.update.as_str(), (slot,)))
                    .await
                    .map_err(step_err(true))?;
                // The new value, from this statement's own OK packet.
                let n = conn.last_insert_id().unwrap_or(0);
                Ok(Counted::at(n.min(u32::MAX as u64) as u32, b.players))
            }
            Plan::ReadThenWrite { .. } => {
                begin(&b.tracer, self.worker, answer.slot, TraceStep::Read);
                timed(site, conn.query_drop("START TRANSACTION"))
                    .await
                    .map_err(step_err(false))?;
                *in_tx = true;
                let v: Option<i32> = timed(site, conn.exec_first(b.read.as_str(), (slot,)))
                    .await
                    .map_err(step_err(false))?;
                let v = v.unwrap_or(0) as u32;
                step(
                    &b.tracer,
                    self.worker,
                    answer.slot,
                    TraceStep::Read,
                    true,
                    || ((), TraceOp::Read(v)),
                );
                work.run_async().await; // the race window (or the lock's hold)
                begin(&b.tracer, self.worker, answer.slot, TraceStep::Write);
                timed(
                    site,
                    conn.exec_drop(b.write.as_str(), ((v + 1) as i32, slot)),
                )
                .await
                .map_err(step_err(false))?;
                timed(site, conn.query_drop("COMMIT"))
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
        }
    }
}

impl<const M: u8> AsyncRecorder for MyHandle<M> {
    async fn record(&mut self, answer: Answer, work: &ScoringWork) -> Outcome {
        if stopped() {
            return Outcome::Failed;
        }
        let scores_first = self.base.plan == Plan::Update;
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

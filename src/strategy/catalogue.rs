//! The strategy catalogue: every strategy's name, type and facts, declared
//! once, here. Everything else (the simulator, `explain`, the report, `list`)
//! reads [`Info`] and never matches on a name.
//!
//! Two families by where scoring work goes:
//!
//! * **read–score–write** (`racy-rmw`, `async-rmw`, the mutexes, `dashmap`,
//!   `redis-get-set`): read the count, score, write. In the racy ones the
//!   work is the race window; the locking ones hold their lock across it,
//!   which is safe but serialises scoring.
//! * **score-then-count** (`atomic`, `cas`, `semaphore`, `snapshot`,
//!   `actor`, `check-then-act`, the other Redis ones): score first, then
//!   count with one indivisible step.
//!
//! Adding a strategy: its type in a family file (or a new one) and one row
//! below. A row's fields are those of [`Info`]; `mode` comes from `sync` or
//! `async` before the type.

use super::{actor, atomics, locks, racy, semaphore, snapshot};
use super::{Demo, Info, Kind, Mode, Proof, Replication, Runtime, UnderRetries, Visitor};
use crate::backend::{mysql, postgres, redis};

const IN_PROCESS: &[Runtime] = &[Runtime::Threads, Runtime::Tokio, Runtime::TokioCurrent];
const ASYNC_ONLY: &[Runtime] = &[Runtime::Tokio, Runtime::TokioCurrent];
const EVERYWHERE: &[Runtime] = &[
    Runtime::Threads,
    Runtime::Tokio,
    Runtime::TokioCurrent,
    Runtime::Processes,
];
const DISTRIBUTED: &[Runtime] = &[Runtime::Tokio, Runtime::TokioCurrent, Runtime::Processes];

/// The hint for read–score–write races that did not show.
const WIDEN: &str = "widen the window between read and write (--scoring-work yield or \
                     spin:2000), put more players in fewer rooms (--rooms 10 --players 64), or \
                     run more trials (--trials 50)";

macro_rules! catalogue {
    ($( $variant:ident => $mode:ident $ty:ty { $($field:ident: $value:expr),* $(,)? } )*) => {
        /// Every strategy in the catalogue, in the order `list` shows them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum StrategyId {
            $(
                #[doc = concat!("`", stringify!($ty), "`.")]
                $variant,
            )*
        }

        impl StrategyId {
            /// The whole catalogue, in declaration order.
            pub const ALL: &'static [StrategyId] = &[$(StrategyId::$variant),*];

            /// Static facts about this strategy.
            pub fn info(self) -> &'static Info {
                match self {
                    $(StrategyId::$variant => &Info {
                        mode: catalogue!(@mode $mode),
                        $($field: $value,)*
                    },)*
                }
            }

            /// Calls the visitor with the concrete strategy type: the one place
            /// where names become types.
            pub fn visit<V: Visitor>(self, v: V) -> V::Output {
                match self {
                    $(StrategyId::$variant => catalogue!(@visit $mode, v, self, $ty),)*
                }
            }
        }
    };
    (@mode sync) => { Mode::Sync };
    (@mode async) => { Mode::Async };
    (@visit sync, $v:ident, $id:ident, $ty:ty) => { $v.visit_sync::<$ty>($id) };
    (@visit async, $v:ident, $id:ident, $ty:ty) => { $v.visit_async::<$ty>($id) };
}

catalogue! {
    RacyRmw => sync racy::RacyRmw {
        name: "racy-rmw", kind: Kind::Racy, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Loom, Proof::Stress],
        demo: Demo::Trace, widen: WIDEN,
        description: "load, score (the race window), store: concurrent increments overwrite each other",
        explanation: racy::RACY_RMW_EXPLAIN,
    }
    AsyncRmw => async racy::AsyncRmw {
        name: "async-rmw", kind: Kind::Racy, runtimes: ASYNC_ONLY, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Shuttle, Proof::Stress],
        demo: Demo::Trace,
        widen: "give it an await point: --scoring-work yield or sleep:50us (with none there is \
                no race on one thread)",
        description: "read, await scoring, write: loses updates even on one thread, across an await",
        explanation: racy::ASYNC_RMW_EXPLAIN,
    }
    CheckThenAct => sync racy::CheckThenAct {
        name: "check-then-act", kind: Kind::Racy, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Loom, Proof::Stress],
        demo: Demo::Trace,
        widen: "put work between counting and deciding (--scoring-work spin:100 or yield) and \
                more players per room (--players 64)",
        description: "atomic increment, then a separate read decides: several callers see the full count",
        explanation: racy::CHECK_THEN_ACT_EXPLAIN,
    }
    LocalMap => sync locks::LocalMap {
        name: "local-map", kind: Kind::RacyAcrossProcesses, runtimes: EVERYWHERE, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Loom, Proof::Stress],
        demo: Demo::Partition, widen: "run it on real processes: --runtime processes",
        description: "a per-process map behind a mutex: exact in one process, never complete across two",
        explanation: locks::LOCAL_MAP_EXPLAIN,
    }
    StdMutex => sync locks::StdMutex {
        name: "std-mutex", kind: Kind::Correct, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Loom, Proof::Stress],
        demo: Demo::Confirm, widen: "",
        description: "std::sync::Mutex around the whole map, held across read-score-write",
        explanation: locks::STD_MUTEX_EXPLAIN,
    }
    ParkingLotMutex => sync locks::ParkingLotMutex {
        name: "parking-lot-mutex", kind: Kind::Correct, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Stress],
        demo: Demo::Confirm, widen: "",
        description: "parking_lot::Mutex around the whole map, held across read-score-write",
        explanation: locks::PARKING_LOT_EXPLAIN,
    }
    TokioMutex => async locks::TokioMutex {
        name: "tokio-mutex", kind: Kind::Correct, runtimes: ASYNC_ONLY, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Shuttle, Proof::Stress],
        demo: Demo::Confirm, widen: "",
        description: "tokio's async Mutex held across the scoring await",
        explanation: locks::TOKIO_MUTEX_EXPLAIN,
    }
    DashMap => sync locks::Sharded {
        name: "dashmap", kind: Kind::Correct, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Stress],
        demo: Demo::Confirm, widen: "",
        description: "sharded concurrent map: one lock per shard, held across read-score-write",
        explanation: locks::DASHMAP_EXPLAIN,
    }
    Atomic => sync atomics::Atomic {
        name: "atomic", kind: Kind::Correct, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Loom, Proof::Stress],
        demo: Demo::Confirm, widen: "",
        description: "fetch_add per room-round; the caller that moves N-1 to N fires",
        explanation: atomics::ATOMIC_EXPLAIN,
    }
    Cas => sync atomics::Cas {
        name: "cas", kind: Kind::Correct, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Loom, Proof::Stress],
        demo: Demo::Confirm, widen: "",
        description: "compare-and-swap loop per room-round; retries when another worker got there first",
        explanation: atomics::CAS_EXPLAIN,
    }
    Semaphore => sync semaphore::Semaphore {
        name: "semaphore", kind: Kind::Correct, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Loom, Proof::Stress],
        demo: Demo::Confirm, widen: "",
        description: "counting semaphore per room-round: scorers release permits, one taker gets all N",
        explanation: semaphore::SEMAPHORE_EXPLAIN,
    }
    Snapshot => sync snapshot::Snapshot {
        name: "snapshot", kind: Kind::Correct, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Stress],
        demo: Demo::Confirm, widen: "",
        description: "an immutable score per room-round, swapped atomically (arc-swap RCU)",
        explanation: snapshot::SNAPSHOT_EXPLAIN,
    }
    Actor => sync actor::Actor {
        name: "actor", kind: Kind::Correct, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Stress],
        demo: Demo::Confirm, widen: "",
        description: "one thread owns the map and emits endQuizTime; workers send one-way messages",
        explanation: actor::ACTOR_EXPLAIN,
    }
    ActorRpc => sync actor::ActorRpc {
        name: "actor-rpc", kind: Kind::Correct, runtimes: IN_PROCESS, backend: None,
        under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable, proven_by: &[Proof::Stress],
        demo: Demo::Confirm, widen: "",
        description: "one thread owns the map; workers send messages and wait for the decision",
        explanation: actor::ACTOR_RPC_EXPLAIN,
    }
    RedisGetSet => async redis::GetSet {
        name: "redis-get-set", kind: Kind::Racy, runtimes: DISTRIBUTED,
        backend: Some(&redis::FAMILY), under_retries: UnderRetries::NotApplicable,
        replication: Replication::PrimaryOnly,
        proven_by: &[Proof::Integration], demo: Demo::Trace, widen: WIDEN,
        description: "GET, score, SET v+1: the lost update across processes",
        explanation: redis::GET_SET_EXPLAIN,
    }
    RedisIncrGet => async redis::IncrGet {
        name: "redis-incr-get", kind: Kind::Racy, runtimes: DISTRIBUTED,
        backend: Some(&redis::FAMILY), under_retries: UnderRetries::NotApplicable,
        replication: Replication::PrimaryOnly,
        proven_by: &[Proof::Integration], demo: Demo::Trace, widen: WIDEN,
        description: "INCRBY, then a separate GET decides: duplicate ends",
        explanation: redis::INCR_GET_EXPLAIN,
    }
    RedisIncrby => async redis::Incrby {
        name: "redis-incrby", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&redis::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::PrimaryOnly,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "the story's fix: decide from INCRBY's return value (not safe under retries)",
        explanation: redis::INCRBY_EXPLAIN,
    }
    RedisIncrbyBatched => async redis::IncrbyBatched {
        name: "redis-incrby-batched", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&redis::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::PrimaryOnly,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "INCRBY k per room-round for the answers that queued while the flusher's pipelines were out",
        explanation: redis::INCRBY_BATCHED_EXPLAIN,
    }
    RedisIncrbyWait => async redis::IncrbyWait {
        name: "redis-incrby-wait", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&redis::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::WaitsForReplica,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "INCRBY, then WAIT 1: decide only once a replica has the write (needs a replica)",
        explanation: redis::INCRBY_WAIT_EXPLAIN,
    }
    RedisLua => async redis::Lua {
        name: "redis-lua", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&redis::FAMILY), under_retries: UnderRetries::Exact,
        replication: Replication::PrimaryOnly,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "one Lua script increments, decides and marks the round ended",
        explanation: redis::LUA_EXPLAIN,
    }
    RedisWatch => async redis::Watch {
        name: "redis-watch", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&redis::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::PrimaryOnly,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "optimistic WATCH/MULTI/EXEC with retries",
        explanation: redis::WATCH_EXPLAIN,
    }
    RedisSadd => async redis::Sadd {
        name: "redis-sadd", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&redis::FAMILY), under_retries: UnderRetries::Exact,
        replication: Replication::PrimaryOnly,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "SADD the player id, count with SCARD in one script: retries cannot double count",
        explanation: redis::SADD_EXPLAIN,
    }
    PgReadWrite => async postgres::ReadWrite {
        name: "pg-read-write", kind: Kind::Racy, runtimes: DISTRIBUTED,
        backend: Some(&postgres::FAMILY), under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable,
        proven_by: &[Proof::Integration], demo: Demo::Trace, widen: WIDEN,
        description: "READ COMMITTED: SELECT n, score, UPDATE n = v+1: the lost update in SQL",
        explanation: postgres::READ_WRITE_EXPLAIN,
    }
    PgUpdateReturning => async postgres::UpdateReturning {
        name: "pg-update-returning", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&postgres::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::NotApplicable,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "UPDATE n = n + 1 RETURNING n, decide from it: INCRBY's twin (not safe under retries)",
        explanation: postgres::UPDATE_RETURNING_EXPLAIN,
    }
    PgSelectForUpdate => async postgres::SelectForUpdate {
        name: "pg-select-for-update", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&postgres::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::NotApplicable,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "SELECT ... FOR UPDATE: the row lock held across read-score-write",
        explanation: postgres::SELECT_FOR_UPDATE_EXPLAIN,
    }
    PgRepeatableRead => async postgres::RepeatableRead {
        name: "pg-repeatable-read", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&postgres::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::NotApplicable,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "read-then-write under REPEATABLE READ: the second writer aborts (40001), retried",
        explanation: postgres::REPEATABLE_READ_EXPLAIN,
    }
    PgSerializable => async postgres::Serializable {
        name: "pg-serializable", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&postgres::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::NotApplicable,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "read-then-write under SERIALIZABLE, retried on 40001",
        explanation: postgres::SERIALIZABLE_EXPLAIN,
    }
    PgAdvisoryLock => async postgres::AdvisoryLock {
        name: "pg-advisory-lock", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&postgres::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::NotApplicable,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "pg_advisory_xact_lock per room-round around read-score-write",
        explanation: postgres::ADVISORY_LOCK_EXPLAIN,
    }
    PgInsertIdempotent => async postgres::InsertIdempotent {
        name: "pg-insert-idempotent", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&postgres::FAMILY), under_retries: UnderRetries::Exact,
        replication: Replication::NotApplicable,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "one row per (room-round, player), ON CONFLICT DO NOTHING: retries cannot double count",
        explanation: postgres::INSERT_IDEMPOTENT_EXPLAIN,
    }
    MysqlReadWrite => async mysql::ReadWrite {
        name: "mysql-read-write", kind: Kind::Racy, runtimes: DISTRIBUTED,
        backend: Some(&mysql::FAMILY), under_retries: UnderRetries::NotApplicable,
        replication: Replication::NotApplicable,
        proven_by: &[Proof::Integration], demo: Demo::Trace, widen: WIDEN,
        description: "InnoDB REPEATABLE READ: SELECT n, score, UPDATE n = v+1: loses updates silently",
        explanation: mysql::READ_WRITE_EXPLAIN,
    }
    MysqlUpdate => async mysql::Update {
        name: "mysql-update", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&mysql::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::NotApplicable,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "UPDATE n = LAST_INSERT_ID(n + 1), decide from it: INCRBY's twin (not safe under retries)",
        explanation: mysql::UPDATE_EXPLAIN,
    }
    MysqlSelectForUpdate => async mysql::SelectForUpdate {
        name: "mysql-select-for-update", kind: Kind::Correct, runtimes: DISTRIBUTED,
        backend: Some(&mysql::FAMILY), under_retries: UnderRetries::MayDoubleCount,
        replication: Replication::NotApplicable,
        proven_by: &[Proof::Integration], demo: Demo::Confirm, widen: "",
        description: "SELECT ... FOR UPDATE in InnoDB: the row lock held across read-score-write",
        explanation: mysql::SELECT_FOR_UPDATE_EXPLAIN,
    }
}

/// The strategies whose every step is traced, none of whose steps can block
/// where a scheduler cannot see it: the ones `quizrace play` and `explain
/// --seed` can run step by step ([`crate::sched`]). (`pg-select-for-update`
/// and the like would wait inside the server, unseen.)
pub const SCHEDULABLE: &[StrategyId] = &[
    StrategyId::RacyRmw,
    StrategyId::AsyncRmw,
    StrategyId::CheckThenAct,
    StrategyId::LocalMap,
    StrategyId::StdMutex,
    StrategyId::Atomic,
    StrategyId::RedisGetSet,
    StrategyId::RedisIncrGet,
    StrategyId::RedisIncrby,
    StrategyId::RedisLua,
    StrategyId::RedisSadd,
    StrategyId::PgReadWrite,
    StrategyId::MysqlReadWrite,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/catalogue.md` has a row for every strategy.
    #[test]
    fn the_docs_list_every_strategy() {
        let docs = include_str!("../../docs/catalogue.md");
        for id in StrategyId::ALL {
            let row = format!("| `{}` |", id.name());
            assert!(
                docs.contains(&row),
                "docs/catalogue.md has no row for {}",
                id.name()
            );
        }
    }

    /// The catalogue's facts agree with each other.
    #[test]
    fn rows_are_consistent() {
        for id in StrategyId::ALL {
            let i = id.info();
            assert!(!i.runtimes.is_empty(), "{}", i.name);
            assert_eq!(
                i.kind != Kind::Correct,
                !i.widen.is_empty(),
                "{}: a racy strategy needs a hint that widens its race, a correct one none",
                i.name
            );
            assert_eq!(
                i.demo == Demo::Confirm,
                i.kind == Kind::Correct,
                "{}: correct strategies are confirmed, racy ones demonstrated",
                i.name
            );
            if i.under_retries != UnderRetries::NotApplicable {
                assert!(i.backend.is_some(), "{}: retries need a client", i.name);
            }
            if i.mode == Mode::Sync && i.backend.is_none() {
                assert!(i.runtimes.contains(&Runtime::Threads), "{}", i.name);
            }
            if i.runtimes.contains(&Runtime::Processes) {
                assert!(
                    i.backend.is_some() || i.kind == Kind::RacyAcrossProcesses,
                    "{}: only shared state (or the lesson of local-map) runs on processes",
                    i.name
                );
            }
        }
    }
}

//! `quizrace play`: be the scheduler. Each level is one room-round of a
//! real strategy ([`crate::sched`]); the player picks which worker takes
//! its next step. On a racy level the goal is to break the round; on a
//! correct one, to find out that no order can.

use crate::sched::{self, Replay, Setup};
use crate::strategy::{Runtime, ScoringWork, StrategyId};

/// What the player is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Break the round (an anomaly wins).
    Break,
    /// Try to break it; no order can.
    Hold,
}

/// One level.
#[derive(Debug)]
pub struct Level {
    /// The strategy it runs; its name is the level's.
    pub strategy: StrategyId,
    /// Workers (= players in the room).
    pub workers: usize,
    /// Where they run.
    pub runtime: Runtime,
    /// The scoring work inside the record call.
    pub work: ScoringWork,
    /// Break or hold.
    pub goal: Goal,
    /// The goal in one line.
    pub aim: &'static str,
    /// What the workers do and what the player may choose.
    pub intro: &'static str,
    /// What the level teaches, shown at its end.
    pub lesson: &'static str,
    /// A move list that reaches the goal of a racy level (workers from 1).
    pub winning: &'static [usize],
}

impl Level {
    /// The strategy.
    pub fn id(&self) -> StrategyId {
        self.strategy
    }

    /// The level's name: its strategy's.
    pub fn name(&self) -> &'static str {
        self.strategy.name()
    }

    /// The run this level is.
    pub fn setup(&self) -> Setup {
        Setup {
            strategy: self.id(),
            workers: self.workers,
            runtime: self.runtime,
            work: self.work,
        }
    }

    /// Whether `replay` reached the level's goal.
    pub fn reached(&self, replay: &Replay) -> bool {
        let broken = !replay.anomalies().is_empty();
        match self.goal {
            Goal::Break => broken,
            Goal::Hold => !broken && !replay.quit,
        }
    }
}

/// The levels, in teaching order.
pub static LEVELS: &[Level] = &[
    Level {
        strategy: StrategyId::RacyRmw,
        workers: 2,
        runtime: Runtime::Threads,
        work: ScoringWork::None,
        goal: Goal::Break,
        aim: "lose an answer, so that the room hangs",
        intro: "Two threads record one answer each: read the count, then write count + 1. \
                Each step is atomic on its own; the pair is not. You are the OS scheduler: \
                you may switch threads between any two steps.",
        lesson: "Both threads read the same count and both wrote count + 1: two answers, one \
                 increment. The count stops short of the players, nobody emits endQuizTime, \
                 and the room hangs: the story's outage. No memory ordering can fix it; the \
                 read and the write must be one step (atomic) or exclusive (std-mutex).",
        winning: &[1, 2, 1, 2],
    },
    Level {
        strategy: StrategyId::AsyncRmw,
        workers: 2,
        runtime: Runtime::TokioCurrent,
        work: ScoringWork::Yield,
        goal: Goal::Break,
        aim: "lose an answer with two tasks on ONE thread",
        intro: "Two tokio tasks share one thread (tokio-current): there is no parallelism. \
                Each task reads the count, awaits its scoring, then writes count + 1. A task \
                keeps the thread until it reaches an .await; only there can you switch.",
        lesson: "Task 1 was suspended at its .await between read and write; task 2 ran and \
                 read the same count. No threads were needed: an await between a read and a \
                 write is a race window, which is how the story's Node.js code lost answers.",
        winning: &[1, 2, 1, 2],
    },
    Level {
        strategy: StrategyId::CheckThenAct,
        workers: 2,
        runtime: Runtime::Threads,
        work: ScoringWork::None,
        goal: Goal::Break,
        aim: "end the round twice",
        intro: "Each thread increments the count atomically (nothing is lost), then reads it \
                again to decide whether it was the last answer, as the story's \
                `if (scoringMap[gameId] >= playersCount)` did.",
        lesson: "Both threads checked after both increments, both saw the full count and both \
                 emitted endQuizTime. The count was right; the decision was a second, separate \
                 step. Decide from the value the increment itself returned.",
        winning: &[1, 2, 1, 2, 1, 2],
    },
    Level {
        strategy: StrategyId::LocalMap,
        workers: 2,
        runtime: Runtime::Processes,
        work: ScoringWork::None,
        goal: Goal::Break,
        aim: "hang the room with two processes (any order will do)",
        intro: "Two server processes, each with its own correctly locked scoringMap; the load \
                balancer sent one answer to each. Here each worker has a strategy instance of \
                its own, as each process has its own memory.",
        lesson: "Whatever the order, each process counted 1 of 2 answers: neither reaches the \
                 number of players and the room hangs. No lock can fix partitioned state; the \
                 counter must live outside both processes (redis-incrby).",
        winning: &[1, 1, 1, 1, 2, 2, 2, 2],
    },
    Level {
        strategy: StrategyId::RedisGetSet,
        workers: 2,
        runtime: Runtime::Tokio,
        work: ScoringWork::None,
        goal: Goal::Break,
        aim: "lose an answer on a real Redis server",
        intro: "Two clients share a counter on Redis: GET the count, then SET count + 1. Every \
                command is atomic on the server; the pair is not.",
        lesson: "Both clients GET the same value and SET the same value + 1. Moving the counter \
                 to Redis fixed the partitioning, not the race: use INCRBY (redis-incrby).",
        winning: &[1, 2, 1, 2],
    },
    Level {
        strategy: StrategyId::RedisIncrGet,
        workers: 2,
        runtime: Runtime::Tokio,
        work: ScoringWork::None,
        goal: Goal::Break,
        aim: "end the round twice on Redis",
        intro: "Each client runs INCR (atomic, nothing is lost), then a separate GET decides \
                whether the round is complete.",
        lesson: "Both GETs ran after both INCRs: both clients saw the full count. INCR already \
                 returned the new value; deciding from it fires exactly once.",
        winning: &[1, 2, 1, 2, 1, 2],
    },
    Level {
        strategy: StrategyId::PgReadWrite,
        workers: 2,
        runtime: Runtime::Tokio,
        work: ScoringWork::None,
        goal: Goal::Break,
        aim: "lose an answer in PostgreSQL, inside transactions",
        intro: "Each client opens a transaction (READ COMMITTED), SELECTs the count, then \
                UPDATEs it to count + 1 and commits.",
        lesson: "A transaction at READ COMMITTED does not lock what it read: both SELECTs saw \
                 the same count and both UPDATEs wrote count + 1. Use one UPDATE … RETURNING \
                 (pg-update-returning) or SELECT … FOR UPDATE.",
        winning: &[1, 2, 1, 2],
    },
    Level {
        strategy: StrategyId::StdMutex,
        workers: 3,
        runtime: Runtime::Threads,
        work: ScoringWork::None,
        goal: Goal::Hold,
        aim: "try to lose an answer or end the round twice",
        intro: "Three threads: lock, read, write count + 1, unlock, then decide. A thread that \
                wants the lock while another holds it is blocked.",
        lesson: "The lock made read and write one indivisible step: whichever order you chose, \
                 no thread could read between another's read and write. Every order counts \
                 3 of 3 and ends the round once.",
        winning: &[],
    },
    Level {
        strategy: StrategyId::Atomic,
        workers: 3,
        runtime: Runtime::Threads,
        work: ScoringWork::None,
        goal: Goal::Hold,
        aim: "try to lose an answer or end the round twice",
        intro: "Three threads: one fetch_add each, and the thread whose fetch_add returned the \
                last count emits endQuizTime.",
        lesson: "There is no gap to get into: the increment is one step and returns the value \
                 it produced, so exactly one thread sees the last count.",
        winning: &[],
    },
    Level {
        strategy: StrategyId::RedisIncrby,
        workers: 2,
        runtime: Runtime::Tokio,
        work: ScoringWork::None,
        goal: Goal::Hold,
        aim: "try to break the story's fix",
        intro: "Two clients: INCRBY the counter, and the one whose reply is the number of \
                players emits endQuizTime.",
        lesson: "INCRBY is one step on the server and its reply decides: every order counts \
                 every answer and ends the round once. This is the fix the story shipped.",
        winning: &[],
    },
    Level {
        strategy: StrategyId::RedisLua,
        workers: 2,
        runtime: Runtime::Tokio,
        work: ScoringWork::None,
        goal: Goal::Hold,
        aim: "try to break a server-side script",
        intro: "Two clients run one Lua script each: it counts the answer and decides, on the \
                server, in one step.",
        lesson: "Redis runs a script to the end before any other command: count and decision \
                 are one step, whatever the order.",
        winning: &[],
    },
];

/// The level called `name` (a strategy name or its number, from 1).
pub fn level(name: &str) -> Option<&'static Level> {
    if let Ok(n) = name.parse::<usize>() {
        return n.checked_sub(1).and_then(|i| LEVELS.get(i));
    }
    LEVELS.iter().find(|l| l.name() == name)
}

/// Every level's name, for messages.
pub fn names() -> String {
    LEVELS
        .iter()
        .map(Level::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The move list of a finished run, as typed (`1,2,1,2`).
pub fn moves(replay: &Replay) -> String {
    sched::moves(replay)
}

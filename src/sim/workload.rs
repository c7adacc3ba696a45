//! Workloads: plain, seeded data describing who answers what and when.
//!
//! A workload is fully determined by its fields: the same seed gives the same
//! assignment of players to processes and workers and the same arrival times.
//! Plans are built before timing starts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SimError;
use crate::strategy::{Answer, Layout, Runtime, ScoringWork};

/// How a load balancer spreads players over processes (and workers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Player `g` goes to process `g % processes`, like nginx round-robin.
    #[default]
    RoundRobin,
    /// A seeded hash of (room, player) picks the process, like nginx `ip_hash`.
    Hash,
}

/// Everything that defines a run except the strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Rooms, rounds and players per room.
    pub rooms: u32,
    /// Questions per room.
    pub rounds: u32,
    /// Players per room.
    pub players: u32,
    /// Workers per process: OS threads or tokio tasks.
    pub workers: u32,
    /// OS processes (only with [`Runtime::Processes`]).
    pub processes: u32,
    /// Where workers run.
    pub runtime: Runtime,
    /// Seed of the answer streams.
    pub seed: u64,
    /// Answer window per round; zero means a burst at the deadline.
    pub window: Duration,
    /// Scoring work per answer (the race window of read–score–write strategies).
    pub work: ScoringWork,
    /// Round time limit: answers not submitted by then are abandoned.
    pub time_limit: Duration,
    /// How players are spread over processes and workers.
    pub balance: Balance,
}

/// One planned answer: what, and when relative to its round's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The answer.
    pub answer: Answer,
    /// Arrival offset from the start of the round, in ns (0 in a burst).
    pub at_ns: u64,
}

/// What one worker will submit, round by round.
///
/// A worker answers for the same players every round, so the plan keeps
/// them once, as their answers to round 0, and derives every round's
/// answers from them as it is played (`slot + round`, [`Layout::slot`]).
/// A burst plays them in that order every round; an answer window keeps
/// each round's arrival order (4 bytes per answer) and recomputes the
/// seeded arrival times. A 200 M-answer burst thus plans in 16 bytes per
/// player of a worker, not 24 bytes per answer: the plans were most of a
/// large run's fresh memory, and fresh memory, not answers, was most of
/// its wall time.
///
/// [`Layout::slot`]: crate::strategy::Layout::slot
#[derive(Clone, Debug, Default)]
pub struct WorkerPlan {
    /// This worker's players, as their answers to round 0, in burst order.
    players: Vec<Answer>,
    /// Rounds to play.
    rounds: u32,
    /// With an answer window, round `r`'s order of play (indices into
    /// `players`, by arrival) is `order[r * players.len()..][..players.len()]`;
    /// empty in a burst.
    order: Vec<u32>,
    /// The answer window in ns (0: a burst).
    window: u64,
    /// The workload's seed, for the arrival times.
    seed: u64,
}

impl WorkerPlan {
    /// Answers in the whole plan.
    pub fn len(&self) -> usize {
        self.players.len() * self.rounds as usize
    }

    /// Whether the plan has no answers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index of round `r`'s first answer in the plan (and in a worker's
    /// per-answer columns): rounds follow each other, each with one answer
    /// per player of the worker.
    pub fn round_start(&self, r: usize) -> usize {
        r * self.players.len()
    }

    /// The answers of round `r`, in the order they are submitted.
    pub fn round(&self, r: usize) -> RoundPlan<'_> {
        RoundPlan {
            plan: self,
            round: r as u32,
            order: if self.order.is_empty() {
                &[]
            } else {
                &self.order[self.round_start(r)..self.round_start(r + 1)]
            },
            next: 0,
        }
    }

    /// Every answer of the plan, round by round, in the order submitted.
    pub fn iter(&self) -> impl Iterator<Item = Planned> + '_ {
        (0..self.rounds as usize).flat_map(|r| self.round(r))
    }

    /// Rounds in the plan.
    pub fn rounds(&self) -> usize {
        self.rounds as usize
    }

    /// Whether the plan is a burst: every round in the players' order,
    /// with no arrival times.
    pub fn is_burst(&self) -> bool {
        self.window == 0
    }

    /// This worker's players as their answers to round 0 (in burst order).
    pub fn players(&self) -> &[Answer] {
        &self.players
    }

    /// Round `round`'s answer of player `first` (given as its round-0 answer).
    #[inline]
    fn planned(&self, first: Answer, round: u32) -> Planned {
        let at_ns = if self.window == 0 {
            0
        } else {
            arrival(self.seed, self.window, first.room, first.player, round)
        };
        Planned {
            answer: Answer {
                round,
                slot: first.slot + round,
                ..first
            },
            at_ns,
        }
    }
}

/// The answers of one round of a [`WorkerPlan`], in the order submitted.
#[derive(Clone, Debug)]
pub struct RoundPlan<'a> {
    plan: &'a WorkerPlan,
    round: u32,
    /// The round's order of play (empty in a burst: the players' order).
    order: &'a [u32],
    next: usize,
}

impl Iterator for RoundPlan<'_> {
    type Item = Planned;

    #[inline]
    fn next(&mut self) -> Option<Planned> {
        let players = &self.plan.players;
        let k = if self.order.is_empty() {
            self.next
        } else {
            *self.order.get(self.next)? as usize
        };
        let first = *players.get(k)?;
        self.next += 1;
        Some(self.plan.planned(first, self.round))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.plan.players.len() - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for RoundPlan<'_> {}

/// The seeded arrival offset of `player` of `room` in `round`, in `[0, window)`.
fn arrival(seed: u64, window: u64, room: u32, player: u32, round: u32) -> u64 {
    let who = (room as u64) << 32 | player as u64;
    mix(seed ^ mix(who) ^ mix(mix(round as u64))) % window
}

impl Workload {
    /// Rooms, rounds and players as the strategies see them.
    pub fn layout(&self) -> Layout {
        Layout {
            rooms: self.rooms,
            rounds: self.rounds,
            players: self.players,
        }
    }

    /// Total answers in the run.
    pub fn total_answers(&self) -> u64 {
        self.rooms as u64 * self.rounds as u64 * self.players as u64
    }

    /// Process count that actually applies (1 unless running on processes).
    pub fn effective_processes(&self) -> u32 {
        if self.runtime == Runtime::Processes {
            self.processes.max(1)
        } else {
            1
        }
    }

    /// Which (process, worker) handles player `player` of `room`.
    pub fn assign(&self, room: u32, player: u32) -> (u32, u32) {
        let procs = self.effective_processes();
        let workers = self.workers.max(1);
        let g = room as u64 * self.players as u64 + player as u64;
        match self.balance {
            Balance::RoundRobin => (
                (g % procs as u64) as u32,
                ((g / procs as u64) % workers as u64) as u32,
            ),
            Balance::Hash => {
                let h = mix(self.seed ^ mix(g));
                (
                    (h % procs as u64) as u32,
                    ((h >> 32) % workers as u64) as u32,
                )
            }
        }
    }

    /// The plans of every worker of process `process`.
    ///
    /// In a burst, a worker submits its answers room by room, so workers
    /// sweep the rooms in step and collide on the same room-rounds, as the
    /// answers of one room do at a deadline. With a window, each answer gets
    /// a seeded arrival time in `[0, window)` and a worker submits in
    /// arrival order.
    pub fn plans(&self, process: u32) -> Vec<WorkerPlan> {
        self.plans_on(process, threads_for(self.total_answers()))
    }

    /// [`Workload::plans`], the window's orders built on `threads` threads
    /// (the same plans for any number).
    fn plans_on(&self, process: u32, threads: usize) -> Vec<WorkerPlan> {
        let layout = self.layout();
        let workers = self.workers.max(1) as usize;
        let window = self.window.as_nanos() as u64;
        let mut plans: Vec<WorkerPlan> = (0..workers)
            .map(|_| WorkerPlan {
                rounds: self.rounds,
                window,
                seed: self.seed,
                ..WorkerPlan::default()
            })
            .collect();
        // Who answers for whom never changes between rounds.
        let procs = self.effective_processes();
        let (mut p, mut w) = (0, 0);
        for room in 0..self.rooms {
            for player in 0..self.players {
                // Round-robin deals players `g = 0, 1, 2…` to process
                // `g % procs` and worker `(g / procs) % workers`
                // ([`Workload::assign`]), counted here without dividing.
                let (on, by) = match self.balance {
                    Balance::RoundRobin => (p, w),
                    Balance::Hash => self.assign(room, player),
                };
                if on == process {
                    plans[by as usize]
                        .players
                        .push(layout.answer(room, 0, player));
                }
                p += 1;
                if p == procs {
                    p = 0;
                    w += 1;
                    if w == workers as u32 {
                        w = 0;
                    }
                }
            }
        }
        if window == 0 {
            return plans; // a burst plays the players' order every round
        }
        // An answer window orders each round by its seeded arrival times
        // (a stable sort: ties keep the players' order).
        let order = |plan: &mut WorkerPlan| {
            let n = plan.players.len();
            plan.order = super::mem::with_capacity(n * plan.rounds as usize);
            let mut at = Vec::with_capacity(n);
            for round in 0..plan.rounds {
                at.clear();
                at.extend(plan.players.iter().map(|a| plan.planned(*a, round).at_ns));
                let start = plan.order.len();
                plan.order.extend(0..n as u32);
                plan.order[start..].sort_by_key(|&k| at[k as usize]);
            }
        };
        // A large run's orders are gigabytes of fresh memory, and most of
        // their cost is the kernel clearing its pages: build them on every
        // core, a share of the workers each.
        if threads > 1 && workers > 1 {
            let share = workers.div_ceil(threads);
            std::thread::scope(|scope| {
                for plans in plans.chunks_mut(share) {
                    scope.spawn(move || plans.iter_mut().for_each(order));
                }
            });
        } else {
            plans.iter_mut().for_each(order);
        }
        plans
    }
}

/// Threads for per-answer work outside the measured region (building a
/// window's orders, tallying a burst) in a run of `answers` answers: every
/// core from 4 million answers, where it pays for starting them; else one.
pub(crate) fn threads_for(answers: u64) -> usize {
    const PARALLEL_FROM: u64 = 4_000_000;
    if answers >= PARALLEL_FROM {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

/// SplitMix64's finaliser: a fast, well-mixed 64-bit hash (Steele et al., 2014).
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hard limits on sizes, so a typo cannot exhaust memory; each says why.
pub mod limits {
    /// Rooms: 10 million room counters fit comfortably in memory.
    pub const MAX_ROOMS: u32 = 10_000_000;
    /// Players per room: a room is a game, not a stadium.
    pub const MAX_PLAYERS: u32 = 100_000;
    /// Rounds: questions per game.
    pub const MAX_ROUNDS: u32 = 10_000;
    /// Total answers of one run (a hard cap; memory is checked separately by
    /// [`super::Workload::estimated_bytes`]).
    pub const MAX_ANSWERS: u64 = 200_000_000;
    /// Bytes per planned answer: its submission time (an offset, 4; 16
    /// more when it lies over ~4.3 s into its round), outcome (1),
    /// duration (4, none in a threads burst), value (4, only with a
    /// history), its place in an answer window's order (4), and slack.
    /// (Plans keep each worker's players once, not each answer; histories,
    /// 32 bytes per answer, are kept only up to 2 million answers.)
    pub const BYTES_PER_ANSWER: u64 = 28;
    /// Bytes per room-round: a padded counter (128, for strategies such as
    /// `semaphore` that pad every room-round), the merged observations
    /// (36; 28 in a burst without a history), the checker's arrays (9) and
    /// slack.
    pub const BYTES_PER_SLOT: u64 = 200;
    /// Workers per process.
    pub const MAX_WORKERS: u32 = 100_000;
    /// OS threads: beyond this the OS, not the strategy, is measured.
    pub const MAX_THREADS: u32 = 1_024;
    /// Child processes.
    pub const MAX_PROCESSES: u32 = 64;
}

impl Workload {
    /// A generous estimate of the memory one trial needs: per answer (plan
    /// and per-worker results) and per room-round (counters, observations,
    /// checks). Measured on x86-64 (peak RSS of 10 M-answer bursts, 5
    /// rounds): at one player per room up to ~200 bytes per answer
    /// (`semaphore`; `atomic` ~95), at eight ~40.
    pub fn estimated_bytes(&self) -> u64 {
        let slots = self.rooms as u64 * self.rounds as u64;
        self.total_answers()
            .saturating_mul(limits::BYTES_PER_ANSWER)
            .saturating_add(slots.saturating_mul(limits::BYTES_PER_SLOT))
    }

    /// Refuses a workload whose [`Workload::estimated_bytes`] exceed the
    /// memory the machine has available now (Linux `MemAvailable`), rather
    /// than letting the allocator abort half-way.
    pub fn check_memory(&self) -> Result<(), SimError> {
        let need = self.estimated_bytes();
        match available_memory() {
            Some(have) if need > have => Err(SimError::Invalid(format!(
                "this workload needs about {} of memory and {} is available: use fewer rooms, \
                 players or rounds",
                gib(need),
                gib(have)
            ))),
            _ => Ok(()),
        }
    }

    /// Checks sizes and combinations; the message gives the limit and why.
    pub fn validate(&self) -> Result<(), SimError> {
        use limits::*;
        let bad = |m: String| Err(SimError::Invalid(m));
        let check = |name: &str, v: u32, max: u32, why: &str| -> Result<(), SimError> {
            if v == 0 {
                return bad(format!("{name} must be at least 1 (got 0)"));
            }
            if v > max {
                return bad(format!("{name} = {v} is over the limit of {max}: {why}"));
            }
            Ok(())
        };
        check(
            "rooms",
            self.rooms,
            MAX_ROOMS,
            "10 million counters is plenty",
        )?;
        check(
            "players",
            self.players,
            MAX_PLAYERS,
            "a room is a game, not a stadium",
        )?;
        check("rounds", self.rounds, MAX_ROUNDS, "questions per game")?;
        // Worker processes run sync strategies on OS threads too.
        let max_workers = if matches!(self.runtime, Runtime::Threads | Runtime::Processes) {
            MAX_THREADS
        } else {
            MAX_WORKERS
        };
        check(
            "workers",
            self.workers,
            max_workers,
            "beyond this the scheduler, not the strategy, is measured",
        )?;
        if self.runtime == Runtime::Processes {
            check(
                "processes",
                self.processes,
                MAX_PROCESSES,
                "one per core is the story",
            )?;
        }
        if self.total_answers() > MAX_ANSWERS {
            return bad(format!(
                "rooms x players x rounds = {} answers is over the limit of {MAX_ANSWERS}",
                self.total_answers()
            ));
        }
        if self.rooms as u64 * self.rounds as u64 > u32::MAX as u64 {
            return bad("rooms x rounds must fit in 32 bits".into());
        }
        if self.time_limit.is_zero() {
            return bad("time_limit must be more than 0".into());
        }
        if self.window >= self.time_limit {
            return bad(format!(
                "window ({:?}) must be shorter than time_limit ({:?}): answers arriving \
                 after the limit could never count",
                self.window, self.time_limit
            ));
        }
        Ok(())
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes (None elsewhere).
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(processes: u32, workers: u32, balance: Balance, window: Duration) -> Workload {
        Workload {
            rooms: 7,
            rounds: 3,
            players: 5,
            workers,
            processes,
            runtime: Runtime::Processes,
            seed: 42,
            window,
            work: ScoringWork::None,
            time_limit: Duration::from_secs(5),
            balance,
        }
    }

    /// Every worker's plan, flattened: its rounds' answers in order.
    fn flat(plans: Vec<WorkerPlan>) -> Vec<Vec<Planned>> {
        plans.iter().map(|p| p.iter().collect()).collect()
    }

    /// The plans as the simulator planned them before plans were compact:
    /// each worker's (room, player) pairs in room order, every round, by
    /// arrival time with a window (stable, so ties keep that order).
    fn reference(wl: &Workload, process: u32) -> Vec<Vec<Planned>> {
        let layout = wl.layout();
        let window = wl.window.as_nanos() as u64;
        (0..wl.workers)
            .map(|worker| {
                let mine: Vec<(u32, u32)> = (0..wl.rooms)
                    .flat_map(|room| (0..wl.players).map(move |player| (room, player)))
                    .filter(|&(room, player)| wl.assign(room, player) == (process, worker))
                    .collect();
                let mut all = Vec::new();
                for round in 0..wl.rounds {
                    let mut this: Vec<Planned> = mine
                        .iter()
                        .map(|&(room, player)| Planned {
                            answer: layout.answer(room, round, player),
                            at_ns: if window == 0 {
                                0
                            } else {
                                arrival(wl.seed, window, room, player, round)
                            },
                        })
                        .collect();
                    this.sort_by_key(|p| p.at_ns);
                    all.extend(this);
                }
                all
            })
            .collect()
    }

    #[test]
    fn plans_are_the_reference_plans_and_plan_every_answer_once() {
        for balance in [Balance::RoundRobin, Balance::Hash] {
            for window in [Duration::ZERO, Duration::from_millis(1)] {
                let wl = w(3, 4, balance, window);
                let mut seen = std::collections::HashSet::new();
                for p in 0..3 {
                    let plans = wl.plans(p);
                    for plan in &plans {
                        assert_eq!(plan.len(), plan.players().len() * 3);
                        for r in 0..3 {
                            let round: Vec<Planned> = plan.round(r).collect();
                            assert_eq!(round.len(), plan.round(r).len());
                            assert_eq!(round.len(), plan.round_start(r + 1) - plan.round_start(r));
                            assert!(round.iter().all(|a| a.answer.round == r as u32));
                            assert!(round.windows(2).all(|x| x[0].at_ns <= x[1].at_ns));
                        }
                        for a in plan.iter() {
                            assert!(seen.insert(a.answer), "{a:?} planned twice");
                            assert_eq!(
                                a.answer,
                                wl.layout()
                                    .answer(a.answer.room, a.answer.round, a.answer.player)
                            );
                            assert!(a.at_ns < window.as_nanos().max(1) as u64);
                        }
                    }
                    assert_eq!(flat(plans), reference(&wl, p));
                }
                assert_eq!(seen.len() as u64, wl.total_answers());
            }
        }
    }

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        let a = w(2, 2, Balance::Hash, Duration::from_millis(1));
        let mut b = a.clone();
        let plan = |wl: &Workload| flat(wl.plans(0));
        assert_eq!(plan(&a), plan(&b));
        b.seed = 43;
        assert_ne!(plan(&a), plan(&b));
    }

    /// Plans built on several threads are the plans built on one, worker
    /// by worker, with and without a window (whatever the machine's cores).
    #[test]
    fn plans_built_in_parallel_are_the_same_plans() {
        for balance in [Balance::RoundRobin, Balance::Hash] {
            for window in [Duration::ZERO, Duration::from_millis(1)] {
                let mut wl = w(2, 5, balance, window);
                wl.workers = 7;
                for p in 0..2 {
                    assert_eq!(flat(wl.plans_on(p, 3)), flat(wl.plans_on(p, 1)));
                }
            }
        }
    }
}

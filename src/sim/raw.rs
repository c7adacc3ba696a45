//! Raw observations: what each worker saw (built in the hot loop with no
//! sharing) and what one process saw, merged per room-round.

use serde::{Deserialize, Serialize};

use super::workload::WorkerPlan;
use crate::metrics::{Batch, Buckets, Recorder as Latency};
use crate::result::Outcomes;

/// What happened to one planned answer (one byte per answer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Fate {
    /// Never submitted: the round's time limit or the run's deadline came first.
    #[default]
    NotSubmitted,
    /// Acknowledged as counted.
    Ok,
    /// Definitely not counted.
    Failed,
    /// Maybe counted (its reply never came).
    Unknown,
}

impl From<crate::strategy::Outcome> for Fate {
    fn from(o: crate::strategy::Outcome) -> Fate {
        match o {
            crate::strategy::Outcome::Ok { .. } => Fate::Ok,
            crate::strategy::Outcome::Failed => Fate::Failed,
            crate::strategy::Outcome::Unknown => Fate::Unknown,
        }
    }
}

/// One submitted answer in a run's history: 32 bytes, built after the run
/// from each worker's own arrays (nothing shared in the hot loop).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistOp {
    /// When the call started, ns on the run's clock.
    pub invoke_ns: u64,
    /// How long the call took, ns (saturating at about 4.3 s).
    pub took_ns: u32,
    /// How late the call started against its planned arrival, ns (0 in a
    /// burst, which has no schedule).
    pub late_ns: u32,
    /// The room-round.
    pub slot: u32,
    /// The player who answered.
    pub player: u32,
    /// The count the call produced, 0 for none.
    pub value: u32,
    /// The worker, numbered across processes.
    pub worker: u16,
    /// 1 acknowledged, 2 failed, 3 unknown.
    pub fate: u8,
    /// Whether this call fired `endQuizTime`.
    pub fired: bool,
}

impl HistOp {
    /// `ok`, `failed` or `unknown`.
    pub fn outcome(&self) -> &'static str {
        match self.fate {
            1 => "ok",
            2 => "failed",
            _ => "unknown",
        }
    }
}

/// Histories are kept for trials of at most this many answers (32 bytes
/// each: 64 MiB); larger trials are checked by their counts alone.
pub(crate) const MAX_HISTORY: u64 = 2_000_000;

/// Whether a trial of `w` keeps its history ([`MAX_HISTORY`]). Workers of
/// a larger trial keep no per-answer values either: only the history
/// reads them.
pub(crate) fn keeps_history(w: &super::Workload) -> bool {
    w.total_answers() <= MAX_HISTORY
}

/// A submission time kept whole in [`WorkerOut`]'s `far`, not as an offset.
const FAR: u32 = u32::MAX;

/// "No value": the call produced no count, or none was acknowledged.
pub(crate) const NO_VALUE: u32 = 0;

/// A call's duration from its start and end stamps, in ns, saturating at
/// `u32::MAX` (about 4.3 s; the history then reads the response as that
/// late, which only widens the operation).
#[inline]
pub(crate) fn took(t0: u64, t1: u64) -> u32 {
    t1.saturating_sub(t0).min(u32::MAX as u64) as u32
}

/// What one worker saw. Built in the hot loop with no sharing.
#[derive(Clone, Debug)]
pub(crate) struct WorkerOut {
    /// Service time: one record call.
    pub(crate) latency: Latency,
    /// Response time from the planned arrival (answer windows only).
    pub(crate) response: Latency,
    /// Submission start minus planned arrival (answer windows only).
    pub(crate) lateness: Latency,
    /// When each round started for this worker (the zero of its arrival times).
    pub(crate) round_start: Vec<u64>,
    /// Submission time of each planned answer (valid where the fate is not
    /// `NotSubmitted`), as ns after its round's start (`round_start`): 4
    /// bytes instead of 8, a fifth of a 200 M-answer run's memory. A time
    /// that does not fit (every answer submitted more than ~4.3 s into its
    /// round, or a read a few ticks before the round's stamp on another
    /// core) is [`FAR`] here and kept whole in `far`, 16 bytes more. Written by [`WorkerOut::set_submitted`], read by
    /// [`WorkerOut::submitted_at`].
    submitted: Vec<u32>,
    /// The submission times that do not fit `submitted`: (answer, ns on
    /// the run's clock), in answer order.
    far: Vec<(usize, u64)>,
    /// What happened to each planned answer.
    pub(crate) outcome: Vec<Fate>,
    /// The count each acknowledged answer's call produced ([`NO_VALUE`]:
    /// none), for the history checker; empty when the trial keeps no
    /// history ([`keeps_history`]).
    pub(crate) value: Vec<u32>,
    /// How long each submitted answer's call took, in ns (saturating at
    /// about 4.3 s: [`took`]); empty when the worker's calls are
    /// `chained`. Read through [`WorkerOut::took_at`].
    pub(crate) took: Vec<u32>,
    /// Whether each call started the instant the previous one ended (a
    /// burst on the threads runtime: one clock read per answer). A call's
    /// duration is then the next submission minus its own, or, for a
    /// round's last call, `round_end` minus it: no `took` column, 4 bytes
    /// per answer less.
    chained: bool,
    /// When each round's last call ended (`chained` workers only).
    pub(crate) round_end: Vec<u64>,
    pub(crate) fires: Vec<(u32, u64)>,
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) retries: u64,
}

impl WorkerOut {
    /// Records a call too long for [`WorkerOut::took`] (over ~4.3 s) in the
    /// latency histogram now; every other call's duration is recorded when
    /// the answers are tallied after the run ([`RawRun::from_workers`]),
    /// keeping the histogram out of the hot loop.
    #[inline(always)]
    pub(crate) fn record_long(&mut self, t0: u64, t1: u64) {
        let d = t1.saturating_sub(t0);
        if d >= u32::MAX as u64 {
            self.latency.record(d);
        }
    }

    /// How long submitted answer `i` of round `r` took (ns, saturating as
    /// [`took`] does); `end` is where the round's answers end in the plan.
    #[inline(always)]
    pub(crate) fn took_at(&self, i: usize, r: usize, end: usize) -> u32 {
        if !self.chained {
            return self.took[i];
        }
        // A round's answers are submitted in plan order until the first
        // that is not: the next one submitted started when this one ended.
        let t1 = if i + 1 < end && self.outcome[i + 1] != Fate::NotSubmitted {
            self.submitted_at(i + 1, r)
        } else {
            self.round_end[r]
        };
        took(self.submitted_at(i, r), t1)
    }

    /// Stores how long answer `i`'s call took (nothing for a `chained`
    /// worker, whose durations follow from its submissions).
    #[inline(always)]
    pub(crate) fn set_took(&mut self, i: usize, t0: u64, t1: u64) {
        if !self.chained {
            self.took[i] = took(t0, t1);
        }
    }

    /// Stores when answer `i`, of the round that started at `round_start`,
    /// was submitted (`t0`, ns on the run's clock).
    #[inline(always)]
    pub(crate) fn set_submitted(&mut self, i: usize, round_start: u64, t0: u64) {
        match t0.checked_sub(round_start) {
            Some(off) if off < FAR as u64 => self.submitted[i] = off as u32,
            _ => self.set_far(i, t0),
        }
    }

    #[cold]
    #[inline(never)]
    fn set_far(&mut self, i: usize, t0: u64) {
        self.submitted[i] = FAR;
        match self.far.last_mut() {
            // Answers are written in order: the usual case, O(1).
            None => self.far.push((i, t0)),
            Some(last) if last.0 < i => self.far.push((i, t0)),
            // Written again (a test, or a caller correcting itself).
            Some(last) if last.0 == i => last.1 = t0,
            _ => {
                // Answers are written in order; keep `far` sorted if not.
                let at = self.far.partition_point(|&(j, _)| j < i);
                match self.far.get_mut(at) {
                    Some(e) if e.0 == i => e.1 = t0,
                    _ => self.far.insert(at, (i, t0)),
                }
            }
        }
    }

    /// When answer `i` of round `round` was submitted, ns on the run's
    /// clock (meaningful where its fate is not `NotSubmitted`).
    #[inline(always)]
    pub(crate) fn submitted_at(&self, i: usize, round: usize) -> u64 {
        match self.submitted[i] {
            FAR => self.far_at(i),
            off => self.round_start[round] + off as u64,
        }
    }

    #[cold]
    fn far_at(&self, i: usize) -> u64 {
        let at = self.far.partition_point(|&(j, _)| j < i);
        let found = self.far.get(at).filter(|e| e.0 == i);
        debug_assert!(found.is_some(), "answer {i} is marked far but not kept");
        found.map_or(0, |e| e.1)
    }

    /// Stores the count answer `i`'s call produced, if values are kept.
    #[inline(always)]
    pub(crate) fn set_value(&mut self, i: usize, value: u32) {
        if let Some(v) = self.value.get_mut(i) {
            *v = value;
        }
    }

    /// Empty observations of a worker with `answers` planned answers, with
    /// room for their values if `values` (the trial keeps its history), and
    /// for their durations unless `chained` (see the field).
    pub(crate) fn new(answers: usize, values: bool, chained: bool) -> Self {
        WorkerOut {
            latency: Latency::new(),
            response: Latency::new(),
            lateness: Latency::new(),
            round_start: Vec::new(),
            // Written once per answer in the hot loop: on huge pages, so
            // that a large run is not a page-fault storm (`mem`).
            submitted: super::mem::filled(answers, 0),
            far: Vec::new(),
            outcome: super::mem::filled(answers, Fate::NotSubmitted),
            value: if values {
                super::mem::filled(answers, NO_VALUE)
            } else {
                Vec::new()
            },
            took: if chained {
                Vec::new()
            } else {
                super::mem::filled(answers, 0)
            },
            chained,
            round_end: Vec::new(),
            fires: Vec::new(),
            start_ns: 0,
            end_ns: 0,
            retries: 0,
        }
    }
}

/// One process's raw observations, merged per room-round. Sent from child
/// processes to the parent as JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RawRun {
    /// Answers submitted per slot (the ground truth).
    pub submitted: Vec<u32>,
    /// Answers acknowledged per slot.
    pub ok: Vec<u32>,
    /// Answers with unknown outcome per slot.
    pub unknown: Vec<u32>,
    /// Answers abandoned at the round's time limit (never submitted) per slot.
    #[serde(default)]
    pub abandoned: Vec<u32>,
    /// Latest submission time per slot (ns on the run's clock).
    pub last_submit: Vec<u64>,
    /// Latest planned arrival per slot (ns on the run's clock). A burst has
    /// no schedule: its plan is "now", so this would equal `last_submit`,
    /// and a burst tallied without a history leaves it empty.
    #[serde(default)]
    pub last_planned: Vec<u64>,
    /// Every `endQuizTime`: (slot, time).
    pub fires: Vec<(u32, u64)>,
    /// The strategy's final counts as this process sees them (empty for a
    /// strategy whose state lives on a back end: the simulator reads those
    /// once, after every process is done).
    pub counts: Vec<u32>,
    /// Record-call latencies (service time).
    pub latency: Buckets,
    /// Response times from the planned arrival (answer windows only).
    #[serde(default)]
    pub response: Buckets,
    /// Lateness of submissions against the plan (answer windows only).
    #[serde(default)]
    pub lateness: Buckets,
    /// Outcome totals.
    pub outcomes: Outcomes,
    /// The first error a server answered with (e.g. a write refused for
    /// lack of memory), if any: an environment failure, not a verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_error: Option<String>,
    /// Start of the measured region.
    pub start_ns: u64,
    /// End of the measured region.
    pub end_ns: u64,
    /// Every submitted answer, when the trial has at most 2,000,000
    /// answers (else empty, and `history_kept` is false).
    #[serde(default)]
    pub history: Vec<HistOp>,
    /// Whether `history` holds every submitted answer.
    #[serde(default)]
    pub history_kept: bool,
    /// The run clock's epoch on the system-wide clock
    /// ([`crate::sim::system_ns`]).
    #[serde(default)]
    pub epoch_ns: u64,
    /// Faults injected during the trial (a pause, a failover), ns on the
    /// run's clock, and what happened.
    #[serde(default)]
    pub events: Vec<(u64, String)>,
}

impl RawRun {
    /// Adds the ends a strategy emitted itself ([`crate::strategy::SyncStrategy::fires`]),
    /// stamped on [`crate::sim::stamp`]'s axis, as times on the run's clock.
    pub(crate) fn add_owner_fires(&mut self, fires: Vec<(u32, u64)>, clock: &super::Clock) {
        let epoch = clock.epoch();
        self.fires.extend(
            fires
                .into_iter()
                .map(|(slot, at)| (slot, at.saturating_sub(epoch))),
        );
    }

    pub(crate) fn from_workers(
        slots: usize,
        plans: &[WorkerPlan],
        outs: Vec<WorkerOut>,
        counts: Vec<u32>,
        keep_history: bool,
    ) -> RawRun {
        let mut raw = RawRun {
            submitted: vec![0; slots],
            ok: vec![0; slots],
            unknown: vec![0; slots],
            abandoned: vec![0; slots],
            last_submit: vec![0; slots],
            last_planned: vec![0; slots],
            counts,
            start_ns: u64::MAX,
            history_kept: keep_history,
            ..RawRun::default()
        };
        if keep_history {
            let submitted: usize = outs
                .iter()
                .map(|o| {
                    o.outcome
                        .iter()
                        .filter(|f| **f != Fate::NotSubmitted)
                        .count()
                })
                .sum();
            raw.history.reserve_exact(submitted);
        }
        // The durations, recorded while tallying (the calls too long for
        // `took` are in the workers' own histograms already).
        let mut latency = Latency::new();
        if keep_history || plans.iter().any(|p| !p.is_burst()) {
            let (mut tally, history, outcomes) = Tally::whole(&mut raw);
            let mut durations = latency.batch();
            for (worker, (plan, out)) in plans.iter().zip(&outs).enumerate() {
                tally.add_in_order(history, worker, plan, out, keep_history, &mut durations);
            }
            tally.outcomes.add_to(outcomes);
        } else {
            // A burst's plan is "now": its latest planned arrivals are its
            // latest submissions, which the checker falls back to.
            raw.last_planned = Vec::new();
            let answers: u64 = plans.iter().map(|p| p.len() as u64).sum();
            let parts = super::workload::threads_for(answers);
            latency = tally_bursts(&mut raw, plans, &outs, parts as u32);
        }
        let mut response = Latency::new();
        let mut lateness = Latency::new();
        // The fires, in one vector: the first worker's, grown once after
        // the columns are freed (on a VM, memory just freed is much cheaper
        // to fault in again than memory the host has taken back: tens of
        // millions of fires copied into the latter took half a second).
        let fires: usize = outs.iter().map(|o| o.fires.len()).sum();
        let mut each = Vec::with_capacity(outs.len());
        for mut out in outs {
            each.push(std::mem::take(&mut out.fires));
            raw.outcomes.retries += out.retries;
            latency.merge(&out.latency);
            response.merge(&out.response);
            lateness.merge(&out.lateness);
            raw.start_ns = raw.start_ns.min(out.start_ns);
            raw.end_ns = raw.end_ns.max(out.end_ns);
        }
        for mut f in each {
            if raw.fires.is_empty() {
                f.reserve_exact(fires - f.len());
                raw.fires = f;
            } else {
                raw.fires.extend_from_slice(&f);
            }
        }
        if raw.start_ns == u64::MAX {
            raw.start_ns = 0;
        }
        raw.latency = latency.to_buckets();
        raw.response = response.to_buckets();
        raw.lateness = lateness.to_buckets();
        raw
    }

    /// Folds another process's observations in. Counts add up: for
    /// per-process state (`local-map`) each process counted its own answers
    /// exactly, and the lesson is the missed ends, not lost answers; shared
    /// state on a back end is read once by `sim::run_trial` instead.
    pub(crate) fn merge(&mut self, o: RawRun) {
        if self.submitted.is_empty() {
            *self = o;
            return;
        }
        let add = |a: &mut Vec<u32>, b: &[u32]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut self.submitted, &o.submitted);
        add(&mut self.ok, &o.ok);
        add(&mut self.unknown, &o.unknown);
        for (x, y) in self.last_submit.iter_mut().zip(&o.last_submit) {
            *x = (*x).max(*y);
        }
        // Empty in a burst without a history (every process alike).
        if self.last_planned.len() < o.last_planned.len() {
            self.last_planned.resize(o.last_planned.len(), 0);
        }
        for (x, y) in self.last_planned.iter_mut().zip(&o.last_planned) {
            *x = (*x).max(*y);
        }
        add(&mut self.abandoned, &o.abandoned);
        if self.counts.len() < o.counts.len() {
            self.counts.resize(o.counts.len(), 0);
        }
        add(&mut self.counts, &o.counts);
        self.fires.extend(o.fires);
        let merged = |a: &Buckets, b: &Buckets| {
            let mut lat = Latency::from_buckets(a);
            lat.merge(&Latency::from_buckets(b));
            lat.to_buckets()
        };
        self.latency = merged(&self.latency, &o.latency);
        self.response = merged(&self.response, &o.response);
        self.lateness = merged(&self.lateness, &o.lateness);
        self.outcomes.ok += o.outcomes.ok;
        self.outcomes.failed += o.outcomes.failed;
        self.outcomes.unknown += o.outcomes.unknown;
        self.outcomes.retries += o.outcomes.retries;
        self.start_ns = self.start_ns.min(o.start_ns);
        self.end_ns = self.end_ns.max(o.end_ns);
        self.history_kept &= o.history_kept;
        if self.history_kept {
            self.history.extend(o.history);
        } else {
            self.history = Vec::new();
        }
        if self.server_error.is_none() {
            self.server_error = o.server_error;
        }
    }
}

/// A range of room-rounds' share of a [`RawRun`]'s per-room-round arrays,
/// which workers' answers are tallied into: the whole range, or one part
/// of it per core ([`tally_bursts`]).
struct Tally<'a> {
    /// The first room-round of the range.
    base: usize,
    submitted: &'a mut [u32],
    ok: &'a mut [u32],
    unknown: &'a mut [u32],
    abandoned: &'a mut [u32],
    last_submit: &'a mut [u64],
    last_planned: &'a mut [u64],
    outcomes: Outcomes,
}

impl<'a> Tally<'a> {
    /// All of `raw`'s room-rounds, with its history and outcome totals
    /// beside them.
    fn whole(raw: &'a mut RawRun) -> (Tally<'a>, &'a mut Vec<HistOp>, &'a mut Outcomes) {
        let RawRun {
            submitted,
            ok,
            unknown,
            abandoned,
            last_submit,
            last_planned,
            history,
            outcomes,
            ..
        } = raw;
        let tally = Tally {
            base: 0,
            submitted,
            ok,
            unknown,
            abandoned,
            last_submit,
            last_planned,
            outcomes: Outcomes::default(),
        };
        (tally, history, outcomes)
    }

    /// Writes every element of the range that every answer writes once
    /// (zeros, as allocated). The arrays come zeroed but unmapped: read
    /// before written, each page would map the shared zero page and then
    /// be copied, with a TLB shootdown across the tallying threads each
    /// time. Written first, it is simply allocated, by the thread that will
    /// use it. `unknown` and `abandoned` are left alone: only answers whose
    /// reply never came or that were never submitted (a run cut short by
    /// its time limit) write them, and untouched they cost no memory.
    fn touch(&mut self) {
        self.submitted.fill(0);
        self.ok.fill(0);
        self.last_submit.fill(0);
        self.last_planned.fill(0);
    }

    /// Splits the range at room-round `at` (relative to its start).
    fn split_at(self, at: usize) -> (Tally<'a>, Tally<'a>) {
        let (submitted, submitted2) = self.submitted.split_at_mut(at);
        let (ok, ok2) = self.ok.split_at_mut(at);
        let (unknown, unknown2) = self.unknown.split_at_mut(at);
        let (abandoned, abandoned2) = self.abandoned.split_at_mut(at);
        let (last_submit, last_submit2) = self.last_submit.split_at_mut(at);
        // Empty when a burst leaves it out.
        let (last_planned, last_planned2) = if self.last_planned.is_empty() {
            (Default::default(), Default::default())
        } else {
            self.last_planned.split_at_mut(at)
        };
        (
            Tally {
                base: self.base,
                submitted,
                ok,
                unknown,
                abandoned,
                last_submit,
                last_planned,
                outcomes: Outcomes::default(),
            },
            Tally {
                base: self.base + at,
                submitted: submitted2,
                ok: ok2,
                unknown: unknown2,
                abandoned: abandoned2,
                last_submit: last_submit2,
                last_planned: last_planned2,
                outcomes: Outcomes::default(),
            },
        )
    }

    /// Counts one planned answer: its fate, and its submission and planned
    /// times, into its room-round `slot`.
    #[inline(always)]
    fn observe(&mut self, slot: usize, fate: Fate, submitted_at: u64, planned: Option<u64>) {
        let s = slot - self.base;
        match fate {
            Fate::NotSubmitted => {
                self.abandoned[s] += 1;
                return;
            }
            Fate::Ok => {
                self.ok[s] += 1;
                self.outcomes.ok += 1;
            }
            Fate::Failed => self.outcomes.failed += 1,
            Fate::Unknown => {
                self.unknown[s] += 1;
                self.outcomes.unknown += 1;
            }
        }
        self.submitted[s] += 1;
        self.last_submit[s] = self.last_submit[s].max(submitted_at);
        if let Some(planned) = planned {
            self.last_planned[s] = self.last_planned[s].max(planned);
        }
    }

    /// Adds a worker's answers in the order it submitted them, and to
    /// `history` if `keep_history`.
    fn add_in_order(
        &mut self,
        history: &mut Vec<HistOp>,
        worker: usize,
        plan: &WorkerPlan,
        out: &WorkerOut,
        keep_history: bool,
        durations: &mut Batch<'_>,
    ) {
        // Fires were pushed in answer order: walk them alongside.
        let mut fires = out.fires.iter().peekable();
        for (i, p) in plan.iter().enumerate() {
            let t0 = out.submitted_at(i, p.answer.round as usize);
            // In a burst there is no schedule: the plan is "now".
            let planned = match out.round_start.get(p.answer.round as usize) {
                Some(&start) if p.at_ns != 0 => start + p.at_ns,
                _ => t0,
            };
            self.observe(p.answer.slot as usize, out.outcome[i], t0, Some(planned));
            if out.outcome[i] == Fate::NotSubmitted {
                continue;
            }
            let round = p.answer.round as usize;
            let took = out.took_at(i, round, plan.round_start(round + 1));
            if took < u32::MAX {
                durations.record(took as u64);
            }
            if !keep_history {
                continue;
            }
            let t1 = t0 + took as u64;
            let fired = fires
                .next_if(|&&(slot, at)| {
                    slot == p.answer.slot && (at == t1 || (took == u32::MAX && at >= t1))
                })
                .is_some();
            history.push(HistOp {
                invoke_ns: t0,
                took_ns: took,
                late_ns: t0.saturating_sub(planned).min(u32::MAX as u64) as u32,
                slot: p.answer.slot,
                player: p.answer.player,
                value: out.value[i],
                worker: worker.min(u16::MAX as usize) as u16,
                fate: match out.outcome[i] {
                    Fate::Ok => 1,
                    Fate::Failed => 2,
                    _ => 3,
                },
                fired,
            });
        }
    }

    /// Adds the answers of a burst worker's players in rooms `rooms`, and
    /// their durations to `durations`. A player's room-rounds are
    /// neighbours (`room * rounds + round`), so a block of players' rounds
    /// are one stretch of the arrays, swept once per worker instead of once
    /// per round: most of the memory traffic of tallying a large run.
    /// Counts and latest times do not depend on the order.
    fn add_burst(
        &mut self,
        plan: &WorkerPlan,
        out: &WorkerOut,
        rooms: std::ops::Range<u32>,
        durations: &mut Batch<'_>,
    ) {
        let players = plan.players();
        // A plan lists its players in room order.
        let from = players.partition_point(|a| a.room < rooms.start);
        let to = players.partition_point(|a| a.room < rooms.end);
        // In blocks of players, each block round by round: the block's
        // room-rounds stay in cache across its rounds, and each round's
        // columns are read as one sequential run.
        const BLOCK: usize = 4096;
        for block in (from..to).step_by(BLOCK) {
            let block = block..(block + BLOCK).min(to);
            for r in 0..plan.rounds() {
                let (start, end) = (plan.round_start(r), plan.round_start(r + 1));
                // This round's columns, indexed by player.
                let offsets = &out.submitted[start..end];
                let fates = &out.outcome[start..end];
                let round_start = out.round_start.get(r).copied().unwrap_or(0);
                for (k, first) in players[block.clone()].iter().enumerate() {
                    let j = block.start + k;
                    let (off, fate) = (offsets[j], fates[j]);
                    // The common case: the time is an offset, and in a
                    // chained round so is the next call's start.
                    let next = match fates.get(j + 1) {
                        Some(&f) if f != Fate::NotSubmitted => offsets[j + 1],
                        _ => FAR,
                    };
                    let (t0, took) = if off != FAR && next != FAR && out.chained {
                        (round_start + off as u64, next.saturating_sub(off))
                    } else {
                        let i = start + j;
                        let t0 = out.submitted_at(i, r);
                        let took = match fate {
                            Fate::NotSubmitted => 0,
                            _ => out.took_at(i, r, end),
                        };
                        (t0, took)
                    };
                    self.observe(first.slot as usize + r, fate, t0, None);
                    if fate != Fate::NotSubmitted && took < u32::MAX {
                        durations.record(took as u64);
                    }
                }
            }
        }
    }
}

impl Outcomes {
    /// Adds these outcome totals to `to`.
    fn add_to(&self, to: &mut Outcomes) {
        to.ok += self.ok;
        to.failed += self.failed;
        to.unknown += self.unknown;
        to.retries += self.retries;
    }
}

/// Tallies burst workers' answers without a history into `raw` in `parts`
/// threads (one per core for a large run), each a range of rooms, so a
/// range of room-rounds: the parts never share an array element. Returns
/// the histogram of the answers' durations.
fn tally_bursts(raw: &mut RawRun, plans: &[WorkerPlan], outs: &[WorkerOut], parts: u32) -> Latency {
    let slots = raw.submitted.len();
    let rounds = plans.first().map_or(1, |p| p.rounds().max(1));
    let rooms = (slots / rounds) as u32;
    let parts = parts.clamp(1, rooms.max(1));
    let share = rooms.div_ceil(parts);
    let mut tallies = Vec::with_capacity(parts as usize);
    let (mut rest, _, total) = Tally::whole(raw);
    for part in 0..parts {
        let start = (part * share).min(rooms);
        let end = (start + share).min(rooms);
        let (this, more) = rest.split_at((end - start) as usize * rounds);
        tallies.push((this, start..end));
        rest = more;
    }
    let tallied = super::on_threads(tallies, |(mut tally, rooms)| {
        tally.touch();
        let mut latency = Latency::new();
        let mut durations = latency.batch();
        for (plan, out) in plans.iter().zip(outs) {
            tally.add_burst(plan, out, rooms.clone(), &mut durations);
        }
        drop(durations);
        (tally.outcomes, latency)
    });
    let mut latency = Latency::new();
    for (o, part) in tallied {
        o.add_to(total);
        latency.merge(&part);
    }
    latency
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Balance, Workload};
    use crate::strategy::{Runtime, ScoringWork};
    use std::time::Duration;

    /// A chained worker (each call starting when the previous one ended)
    /// keeps no durations, yet reports the same ones: the next submission,
    /// or the round's end, minus its own, also across abandoned answers and
    /// times kept whole.
    #[test]
    fn chained_calls_report_the_durations_they_took() {
        let w = Workload {
            rooms: 3,
            rounds: 3,
            players: 4,
            workers: 1,
            processes: 1,
            runtime: Runtime::Threads,
            seed: 1,
            window: Duration::ZERO,
            work: ScoringWork::None,
            time_limit: Duration::from_secs(1),
            balance: Balance::RoundRobin,
        };
        let plan = &w.plans(0)[0];
        let mut chained = WorkerOut::new(plan.len(), true, true);
        let mut stored = WorkerOut::new(plan.len(), true, false);
        assert!(chained.took.is_empty());
        let mut durations = Vec::new();
        for r in 0..plan.rounds() {
            let start = 10_000 * r as u64;
            let (from, end) = (plan.round_start(r), plan.round_start(r + 1));
            // Round 1 stops two answers early; round 2 runs past 4.3 s.
            let submitted = if r == 1 { end - 2 } else { end };
            let mut t = start + 7;
            for i in from..submitted {
                let d = if r == 2 && i == from + 1 {
                    5_000_000_000
                } else {
                    (i as u64 * 13) % 29 + 1
                };
                for out in [&mut chained, &mut stored] {
                    out.set_submitted(i, start, t);
                    out.set_took(i, t, t + d);
                    out.outcome[i] = Fate::Ok;
                }
                durations.push(took(t, t + d));
                t += d;
            }
            for out in [&mut chained, &mut stored] {
                out.round_start.push(start);
                out.round_end.push(t);
            }
        }
        let mut got = Vec::new();
        for r in 0..plan.rounds() {
            let end = plan.round_start(r + 1);
            for i in plan.round_start(r)..end {
                if chained.outcome[i] != Fate::NotSubmitted {
                    assert_eq!(chained.took_at(i, r, end), stored.took_at(i, r, end));
                    got.push(chained.took_at(i, r, end));
                }
            }
        }
        assert_eq!(got, durations);
        assert!(got.contains(&u32::MAX));
        // The durations under 4.3 s reach the histogram, tallied in order
        // (with a history) or player by player (without), from either kind.
        let slots = w.layout().slots();
        let plans = std::slice::from_ref(plan);
        let run = |out: &WorkerOut, history| {
            RawRun::from_workers(slots, plans, vec![out.clone()], vec![], history)
        };
        let (a, b) = (run(&chained, true), run(&stored, true));
        assert_eq!(a.history, b.history);
        assert_eq!(a.history.len(), durations.len());
        let mut expected = Latency::new();
        expected.record_many(
            durations
                .iter()
                .filter(|&&d| d < u32::MAX)
                .map(|&d| d as u64),
        );
        for raw in [a, b, run(&chained, false), run(&stored, false)] {
            let latency = Latency::from_buckets(&raw.latency);
            assert_eq!(latency.len(), durations.len() as u64 - 1);
            assert_eq!(raw.latency.0, expected.to_buckets().0);
        }
    }

    /// Chained workers with more players than a tally block: tallied by
    /// blocks of players (the fast path of a large burst) or in submission
    /// order, the counts, latest submissions, outcomes and durations agree,
    /// with rounds cut short and times more than 4.3 s into a round.
    #[test]
    fn a_chained_burst_tallied_by_block_is_the_tally_in_order() {
        let w = Workload {
            rooms: 2_100,
            rounds: 3,
            players: 4,
            workers: 2,
            processes: 1,
            runtime: Runtime::Threads,
            seed: 3,
            window: Duration::ZERO,
            work: ScoringWork::None,
            time_limit: Duration::from_secs(10),
            balance: Balance::RoundRobin,
        };
        let plans = w.plans(0);
        assert!(plans.iter().all(|p| p.players().len() > 4096 + 3));
        let outs: Vec<WorkerOut> = plans
            .iter()
            .enumerate()
            .map(|(worker, plan)| {
                let mut out = WorkerOut::new(plan.len(), true, true);
                for r in 0..plan.rounds() {
                    let start = 1_000_000 * r as u64;
                    let (from, end) = (plan.round_start(r), plan.round_start(r + 1));
                    // Worker 1 stops early in round 1, inside the second block.
                    let last = if worker == 1 && r == 1 {
                        from + 4_150
                    } else {
                        end
                    };
                    let mut t = start + 11;
                    for i in from..last {
                        // Round 2 jumps past 4.3 s half-way through.
                        let d = match (r, i - from) {
                            (2, 2_000) => 4_400_000_000,
                            _ => (i as u64 * 7 + worker as u64) % 50 + 1,
                        };
                        out.set_submitted(i, start, t);
                        out.outcome[i] = Fate::Ok;
                        t += d;
                    }
                    out.round_start.push(start);
                    out.round_end.push(t);
                }
                assert!(!out.far.is_empty());
                out
            })
            .collect();
        let slots = w.layout().slots();
        let by_block = RawRun::from_workers(slots, &plans, outs.clone(), vec![], false);
        let in_order = RawRun::from_workers(slots, &plans, outs, vec![], true);
        assert!(by_block.history.is_empty() && !in_order.history.is_empty());
        assert_eq!(by_block.submitted, in_order.submitted);
        assert_eq!(by_block.ok, in_order.ok);
        assert_eq!(by_block.abandoned, in_order.abandoned);
        assert_eq!(by_block.last_submit, in_order.last_submit);
        assert_eq!(by_block.outcomes, in_order.outcomes);
        assert_eq!(by_block.latency.0, in_order.latency.0);
        assert!(by_block.abandoned.iter().any(|&a| a > 0));
        assert!(by_block.last_submit.iter().any(|&t| t > 4_000_000_000));
        // The 4.4 s call saturates, as a stored duration would.
        assert!(in_order.history.iter().any(|op| op.took_ns == u32::MAX));
    }

    /// A burst's tally without a history, player by player, is the tally in
    /// the order answers were submitted, also when some were abandoned.
    #[test]
    fn a_burst_tallied_by_player_is_the_tally_in_submission_order() {
        let w = Workload {
            rooms: 5,
            rounds: 4,
            players: 7,
            workers: 3,
            processes: 1,
            runtime: Runtime::Threads,
            seed: 9,
            window: Duration::ZERO,
            work: ScoringWork::None,
            time_limit: Duration::from_secs(1),
            balance: Balance::Hash,
        };
        let plans = w.plans(0);
        let fates = [
            Fate::Ok,
            Fate::Unknown,
            Fate::Ok,
            Fate::Failed,
            Fate::NotSubmitted,
        ];
        let outs = || -> Vec<WorkerOut> {
            plans
                .iter()
                .enumerate()
                .map(|(worker, plan)| {
                    let mut out = WorkerOut::new(plan.len(), true, false);
                    for r in 0..plan.rounds() {
                        // Some answers' times do not fit an offset from
                        // their round's start: before it, or ~5 s after.
                        let start = 1_000 + 200 * r as u64;
                        out.round_start.push(start);
                        for i in plan.round_start(r)..plan.round_start(r + 1) {
                            out.outcome[i] = fates[(i * 7 + worker) % fates.len()];
                            let t0 = match (i * 37 + worker * 11) % 101 {
                                0..=4 => start - 3,
                                5..=9 => start + 5_000_000_000 + i as u64,
                                x => start + x as u64,
                            };
                            out.set_submitted(i, start, t0);
                            assert_eq!(out.submitted_at(i, r), t0);
                            out.took[i] = 5;
                        }
                    }
                    assert!(!out.far.is_empty());
                    out
                })
                .collect()
        };
        let slots = w.layout().slots();
        let by_player = RawRun::from_workers(slots, &plans, outs(), vec![], false);
        let in_order = RawRun::from_workers(slots, &plans, outs(), vec![], true);
        assert!(by_player.history.is_empty() && !in_order.history.is_empty());
        assert_eq!(by_player.submitted, in_order.submitted);
        assert_eq!(by_player.ok, in_order.ok);
        assert_eq!(by_player.unknown, in_order.unknown);
        assert_eq!(by_player.abandoned, in_order.abandoned);
        assert_eq!(by_player.last_submit, in_order.last_submit);
        // In a burst the plan is "now": without a history the latest
        // planned arrivals are left out, with one they are the submissions.
        assert!(by_player.last_planned.is_empty());
        assert_eq!(in_order.last_planned, in_order.last_submit);
        assert_eq!(by_player.outcomes, in_order.outcomes);
        // Tallied in parts (rooms split over threads), the same again.
        for parts in 1..=6 {
            // No workers: every array zero, then tallied here.
            let mut split = RawRun::from_workers(slots, &plans, vec![], vec![], false);
            tally_bursts(&mut split, &plans, &outs(), parts);
            assert_eq!(split.submitted, in_order.submitted, "{parts} parts");
            assert_eq!(split.abandoned, in_order.abandoned, "{parts} parts");
            assert_eq!(split.last_submit, in_order.last_submit, "{parts} parts");
            assert_eq!(split.outcomes, in_order.outcomes, "{parts} parts");
        }
        let planned: u32 = by_player.submitted.iter().chain(&by_player.abandoned).sum();
        assert_eq!(planned as u64, w.total_answers());
        assert!(by_player.abandoned.iter().any(|&a| a > 0));
    }
}

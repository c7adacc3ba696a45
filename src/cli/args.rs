//! The command line's arguments (clap), and how they become a planning
//! request for the library.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Arg, ArgMatches, Args, FromArgMatches};
use quizrace::backend::{Family, FAMILIES};
use quizrace::plan::Request;
use quizrace::scenario::{parse_duration, FaultsFile, RedisFile, ScenarioFile};
use quizrace::suite::TrialPolicy;

/// One `--<family>-url` flag per back-end family, read from the library's
/// family table, each with its environment variable: adding a family adds
/// its flag here without touching this file.
#[derive(Debug, Default)]
pub(crate) struct BackendArgs {
    /// The URLs given, by flag or environment variable.
    pub(crate) urls: Vec<(&'static Family, String)>,
}

impl FromArgMatches for BackendArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let urls = FAMILIES
            .iter()
            .filter_map(|f| Some((*f, m.get_one::<String>(f.url_flag)?.clone())))
            .collect();
        Ok(BackendArgs { urls })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for BackendArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        FAMILIES.iter().fold(cmd, |cmd, f| {
            cmd.arg(
                Arg::new(f.url_flag)
                    .long(f.url_flag)
                    .value_name("URL")
                    .env(f.url_env)
                    .hide_env_values(true)
                    .help(f.url_help),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl BackendArgs {
    /// The back ends one strategy needs, configured from the URLs given
    /// (or the families' defaults); the others' flags are ignored.
    pub(crate) fn env_for(
        &self,
        id: quizrace::strategy::StrategyId,
    ) -> Result<quizrace::backend::Env> {
        let needed: Vec<_> = id.info().backend.into_iter().collect();
        let given: Vec<_> = self
            .urls
            .iter()
            .filter(|(f, _)| needed.contains(f))
            .cloned()
            .collect();
        Ok(quizrace::backend::configure(&given, &needed)?)
    }

    /// Whether a URL was given for `id`'s back end.
    pub(crate) fn gives(&self, id: quizrace::strategy::StrategyId) -> bool {
        let needed = id.info().backend;
        self.urls.iter().any(|(f, _)| Some(*f) == needed)
    }
}

/// `quizrace run`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Scenario files (scenarios/*.toml); none runs the defaults.
    scenarios: Vec<PathBuf>,
    /// Strategy to run (repeatable), or `all`; overrides the scenario's list.
    #[arg(long = "strategy", short = 's')]
    strategies: Vec<String>,
    /// Write results (schema quizrace.result.v2) to this file (several
    /// scenarios: one bundle file), or into this existing directory (one
    /// file per scenario).
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Write the first trial's history (every answer: when it was invoked
    /// and answered, the count it returned, its outcome) as JSON lines
    /// (docs/history.md) to this file, or one file per strategy into this
    /// existing directory. `quizrace check` reads it.
    #[arg(long, value_name = "PATH")]
    pub(crate) history: Option<PathBuf>,
    /// Trials per strategy, at least (default 5; --quick 3).
    #[arg(long)]
    trials: Option<u32>,
    /// Measured time per strategy, at least, over all its trials, e.g.
    /// 500ms (default 200ms; --quick 50ms).
    #[arg(long)]
    min_time: Option<String>,
    /// Hard time limit per strategy, all trials included, e.g. 2m (default
    /// 10m): answers not submitted by then are abandoned.
    #[arg(long)]
    deadline: Option<String>,
    /// Exit 1 if a correct strategy shows any anomaly, or a result is
    /// inconclusive (too few room-rounds could be judged).
    #[arg(long)]
    pub(crate) check: bool,
    /// No progress bar, no table, and of the lines under it only problems
    /// (errors still print); with --check, one line when it passes.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Shrink every scenario and its trials to a few seconds (CI smoke runs).
    #[arg(long)]
    quick: bool,
    /// Seed of the answer streams.
    #[arg(long)]
    seed: Option<u64>,
    /// Rooms.
    #[arg(long)]
    rooms: Option<u32>,
    /// Players per room.
    #[arg(long)]
    players: Option<u32>,
    /// Questions per room.
    #[arg(long)]
    rounds: Option<u32>,
    /// Workers per process (threads or tasks).
    #[arg(long)]
    workers: Option<u32>,
    /// threads | tokio | tokio-current | processes.
    #[arg(long)]
    runtime: Option<String>,
    /// OS processes for --runtime processes.
    #[arg(long)]
    processes: Option<u32>,
    /// round-robin | hash: how players are spread over processes.
    #[arg(long)]
    balance: Option<String>,
    /// none | yield | spin:N | sleep:DURATION (the race window of read-score-write).
    #[arg(long)]
    scoring_work: Option<String>,
    /// Answer window per round, e.g. 2ms; 0 = a burst at the deadline.
    #[arg(long)]
    window: Option<String>,
    /// Round time limit, e.g. 10s.
    #[arg(long)]
    time_limit: Option<String>,
    /// Sweep a parameter, e.g. workers=1,2,4,8 (repeatable: the product is run).
    #[arg(long = "sweep")]
    sweeps: Vec<String>,
    #[command(flatten)]
    pub(crate) backends: BackendArgs,
    /// The Redis URL is one node of a Redis Cluster: run through the
    /// cluster client (scenario: [redis] cluster = true).
    #[arg(long)]
    redis_cluster: bool,
    /// Start Redis servers from redis-server on PATH instead of using
    /// --redis-url: primary-replica (for the failover fault) or cluster
    /// (three primaries). Stopped and removed at the end.
    #[arg(long, value_name = "LAB")]
    redis_lab: Option<String>,
    #[command(flatten)]
    faults: FaultArgs,
}

/// Fault settings for strategies on a server; each overrides the
/// scenario's `[faults]` field.
#[derive(Debug, Args)]
struct FaultArgs {
    /// Time to wait for one server reply, e.g. 40ms (default 2s).
    #[arg(long)]
    response_timeout: Option<String>,
    /// Time to open a server connection (default 2s).
    #[arg(long)]
    connect_timeout: Option<String>,
    /// Client retries after a timeout or connection error (default 0).
    #[arg(long)]
    retries: Option<u32>,
    /// Pause the server (Redis: CLIENT PAUSE) this long after workers start.
    #[arg(long, requires = "pause_for")]
    pause_at: Option<String>,
    /// How long the pause lasts.
    #[arg(long, requires = "pause_at")]
    pause_for: Option<String>,
    /// write (default; hold writes only) or all.
    #[arg(long)]
    pause_mode: Option<String>,
    /// Promote the lab's replica this long after workers start, while
    /// clients keep writing to the old primary (needs --redis-lab
    /// primary-replica).
    #[arg(long, requires = "failover_for")]
    failover_at: Option<String>,
    /// How long the old primary keeps acknowledging alone before it
    /// becomes the new primary's replica and clients move over.
    #[arg(long, requires = "failover_at")]
    failover_for: Option<String>,
}

impl FaultArgs {
    fn overlay(&self) -> Option<FaultsFile> {
        let f = FaultsFile {
            response_timeout: self.response_timeout.clone(),
            connect_timeout: self.connect_timeout.clone(),
            retries: self.retries,
            pause_at: self.pause_at.clone(),
            pause_for: self.pause_for.clone(),
            pause_mode: self.pause_mode.clone(),
            failover_at: self.failover_at.clone(),
            failover_for: self.failover_for.clone(),
        };
        let any = f.response_timeout.is_some()
            || f.connect_timeout.is_some()
            || f.retries.is_some()
            || f.pause_at.is_some()
            || f.pause_for.is_some()
            || f.pause_mode.is_some()
            || f.failover_at.is_some();
        any.then_some(f)
    }
}

impl RunArgs {
    /// The trial policy the flags ask for.
    pub(crate) fn policy(&self) -> Result<TrialPolicy> {
        let min_time = duration_flag("--min-time", self.min_time.as_deref())?;
        let deadline = duration_flag("--deadline", self.deadline.as_deref())?;
        let base = if self.quick {
            TrialPolicy::quick()
        } else {
            TrialPolicy::default()
        };
        Ok(base
            .with(self.trials, min_time)
            .and_then(|p| p.with_deadline(deadline))?)
    }

    /// The planning request: files read, overrides and sweeps as given.
    pub(crate) fn request(&self) -> Result<Request> {
        let overrides = ScenarioFile {
            strategies: (!self.strategies.is_empty()).then(|| self.strategies.clone()),
            seed: self.seed,
            rooms: self.rooms,
            players: self.players,
            rounds: self.rounds,
            workers: self.workers,
            runtime: self.runtime.clone(),
            processes: self.processes,
            balance: self.balance.clone(),
            scoring_work: self.scoring_work.clone(),
            window: self.window.clone(),
            time_limit: self.time_limit.clone(),
            faults: self.faults.overlay(),
            redis: (self.redis_cluster || self.redis_lab.is_some()).then(|| RedisFile {
                cluster: self.redis_cluster.then_some(true),
                lab: self.redis_lab.clone(),
            }),
            ..ScenarioFile::default()
        };
        let files = self
            .scenarios
            .iter()
            .map(|p| ScenarioFile::load(p))
            .collect::<Result<_, _>>()?;
        Ok(Request {
            files,
            overrides,
            sweeps: self.sweeps.clone(),
            urls: self.backends.urls.clone(),
            quick: self.quick,
        })
    }
}

/// An optional duration flag, parsed; the error names the flag.
fn duration_flag(flag: &str, value: Option<&str>) -> Result<Option<Duration>> {
    value
        .map(|s| parse_duration(s).with_context(|| format!("{flag} {s}")))
        .transpose()
}

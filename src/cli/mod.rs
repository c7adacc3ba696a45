//! The command line: clap definitions and the verbs. The only code that
//! knows about the terminal; everything it runs is in the library.

mod args;
mod check;
mod explain;
mod interrupt;
mod play;
mod progress;
mod run;
mod table;

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use quizrace::strategy::StrategyId;

use args::{BackendArgs, RunArgs};
use table::Style;

/// Reproduce, prove and measure the race behind a quiz game's outage.
#[derive(Debug, Parser)]
#[command(name = "quizrace", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the strategies: name, kind, runtimes, description.
    List {
        /// Print JSON: [{"name","kind","runtimes","backend","proven_by","description"}].
        #[arg(long)]
        json: bool,
    },
    /// Run scenarios (or the defaults) and check every strategy.
    Run(Box<RunArgs>),
    /// Explain a strategy, with a counterexample from a real short run.
    Explain {
        /// Strategy name (see `quizrace list`).
        strategy: String,
        /// Also draw one room-round of a short real run as a timeline (SVG)
        /// into this file: a room-round with an anomaly, if one showed.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Replay one interleaving chosen by this seed instead of searching
        /// for a race: the same output every time (one room, each worker
        /// answering once, a controlled scheduler choosing every step).
        #[arg(long)]
        seed: Option<u64>,
        /// With --seed: where the workers run (threads, tokio,
        /// tokio-current, processes); default threads, or tokio for an
        /// async strategy.
        #[arg(long, requires = "seed")]
        runtime: Option<String>,
        /// With --seed: scoring work inside each record call (none, yield,
        /// spin:N, sleep:50us); on tokio-current only awaiting work lets
        /// another task in.
        #[arg(long, requires = "seed", default_value = "yield")]
        scoring_work: String,
        /// With --seed: players in the room, one worker each (1 to 8).
        #[arg(long, requires = "seed", default_value_t = 2)]
        players: u32,
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// Be the scheduler: pick which worker takes its next step, and break a
    /// racy strategy (or fail to break a correct one).
    ///
    /// Without a terminal, give the moves with --moves or on standard input.
    /// Exit codes: 0 the level's goal was reached, 1 it was not, 2 bad input.
    Play {
        /// Level: a number (1-11) or a strategy name (racy-rmw, async-rmw,
        /// check-then-act, local-map, redis-get-set, redis-incr-get,
        /// pg-read-write, std-mutex, atomic, redis-incrby, redis-lua).
        /// Without one, the game starts at level 1.
        level: Option<String>,
        /// Play these moves instead of asking: the worker that takes each
        /// step, e.g. 1,2,1,2.
        #[arg(long, value_name = "LIST")]
        moves: Option<String>,
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// Check a history file for linearizability (docs/history.md).
    Check {
        /// A history file (JSON lines, quizrace.history.v1), e.g. written by
        /// `quizrace run --history`.
        #[arg(value_name = "HISTORY.jsonl")]
        path: PathBuf,
    },
    /// Render results JSON files into one HTML page.
    Report {
        /// Results files written by `quizrace run --json`.
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// Criterion's output directory (e.g. target/criterion).
        #[arg(long)]
        criterion: Option<PathBuf>,
        /// Directory to write index.html into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Internal: one worker process of `--runtime processes`.
    #[command(name = "__worker", hide = true)]
    Worker,
}

/// How the process should end.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: done (anomalies of racy strategies are results, not errors).
    Done,
    /// 1: `--check`, and a correct strategy showed an anomaly or a result
    /// was inconclusive.
    CheckFailed,
    /// 1: `check`, and a room-round of the history is not linearizable.
    NotLinearizable,
    /// 1: `play`, and the level's goal was not reached.
    GoalMissed,
}

/// Runs the parsed command line.
pub(crate) fn main(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::List { json } => list(json),
        Command::Run(args) => run::run(*args),
        Command::Explain {
            strategy,
            svg,
            seed,
            runtime,
            scoring_work,
            players,
            backends,
        } => {
            let replay = seed.map(|seed| explain::Replay {
                seed,
                runtime,
                scoring_work,
                players,
            });
            explain::explain(&strategy, svg.as_deref(), replay, &backends)
        }
        Command::Play {
            level,
            moves,
            backends,
        } => play::play(level.as_deref(), moves.as_deref(), &backends),
        Command::Check { path } => check::check(&path),
        Command::Report {
            results,
            criterion,
            out,
        } => {
            let page = quizrace::report::generate(&results, criterion.as_deref(), &out)?;
            outln!("wrote {}", page.display());
            Ok(Exit::Done)
        }
        Command::Worker => match quizrace::sim::process::child_main() {
            Ok(json) => {
                outln!("{json}");
                Ok(Exit::Done)
            }
            Err(e) => bail!(e),
        },
    }
}

fn list(json: bool) -> Result<Exit> {
    if json {
        let items: Vec<_> = StrategyId::ALL
            .iter()
            .map(|s| {
                let i = s.info();
                serde_json::json!({
                    "name": i.name,
                    "kind": i.kind.as_str(),
                    "runtimes": i.runtimes.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                    "backend": i.backend.map(|f| f.name),
                    "proven_by": i.proven_by.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                    "description": i.description,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(Exit::Done);
    }
    let style = Style::detect();
    let nw = StrategyId::ALL
        .iter()
        .map(|s| s.name().len())
        .max()
        .unwrap_or(0);
    outln!(
        "{:<nw$} {:<22} {:<36} description",
        "name",
        "kind",
        "runtimes"
    );
    for s in StrategyId::ALL {
        let i = s.info();
        let rts: Vec<_> = i.runtimes.iter().map(|r| r.as_str()).collect();
        outln!(
            "{:<nw$} {} {:<36} {}",
            i.name,
            style.kind(i.kind, 22),
            rts.join(","),
            i.description
        );
    }
    Ok(Exit::Done)
}

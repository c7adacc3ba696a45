//! The command line: clap definitions and the verbs. The only code that
//! knows about the terminal; everything it runs is in the library.

mod args;
mod check;
mod explain;
mod interrupt;
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
}

/// Runs the parsed command line.
pub(crate) fn main(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::List { json } => list(json),
        Command::Run(args) => run::run(*args),
        Command::Explain {
            strategy,
            svg,
            backends,
        } => explain::explain(&strategy, svg.as_deref(), &backends),
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

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
use clap::{CommandFactory, Parser, Subcommand};
use quizrace::strategy::StrategyId;

use args::{BackendArgs, RunArgs};
use table::{ColorChoice, Style};

/// The top command's examples and conventions.
const TOP_HELP: &str = "\
Examples:
  quizrace list                          the strategies
  quizrace explain racy-rmw              why it breaks, with a real trace
  quizrace run --quick --check           every in-process strategy, briefly
  quizrace run scenarios/hot-room.toml --json results.json
  quizrace run -s redis-incrby --redis-url redis://127.0.0.1:6379
  quizrace completions bash > ~/.local/share/bash-completion/completions/quizrace

Colour: --color auto (the default) colours a terminal only, and not when
NO_COLOR is set or TERM=dumb. Prose wraps to the terminal (COLUMNS, else 80).

Exit codes:
  0    done (anomalies of racy strategies are results, not errors)
  1    run --check: a correct strategy showed an anomaly or a result was
       inconclusive; check: a history is not linearizable
  2    bad input or environment (usage, files, an unreachable server)
  130  interrupted (Ctrl-C or SIGTERM); what the run created is removed";

const RUN_HELP: &str = "\
Defaults: without a scenario file, the built-in workload (200 rooms x 8
players x 10 rounds, 4 workers, scoring work yield, seed 42) on every
in-process strategy; at least 5 trials and 200 ms of measured time per
strategy (--quick: 3 and 50 ms); a 10 min deadline per strategy; a 10 s
round time limit.

Examples:
  quizrace run --quick --check
  quizrace run scenarios/hot-room.toml -s atomic -s racy-rmw
  quizrace run --sweep workers=1,2,4 --json results/
  quizrace run -s redis-watch --redis-url redis://127.0.0.1:6379
  quizrace run --quiet --check    # one line when every check passed

Exit codes:
  0    done (anomalies of racy strategies are results, not errors)
  1    --check, and a correct strategy showed an anomaly or a result was
       inconclusive
  2    bad input or environment (usage, files, an unreachable server, a
       server that restarted or rejected answers)
  130  interrupted (Ctrl-C or SIGTERM); what the run created is removed";

const EXPLAIN_HELP: &str = "\
Examples:
  quizrace explain racy-rmw
  quizrace explain check-then-act --svg race.svg
  quizrace explain redis-incrby --redis-url redis://127.0.0.1:6379
  quizrace explain std-mutex --seed 4 --players 3   one interleaving, replayed

A strategy on a server needs one for the real run (default URLs: Redis
redis://127.0.0.1:6379, PostgreSQL and MariaDB on localhost); without it the
explanation prints, then a note, and quizrace exits 2.

Exit codes: 0 done; 2 bad input, or no server answered.";

const PLAY_HELP: &str = "\
Examples:
  quizrace play                           from level 1, in a terminal
  quizrace play racy-rmw --moves 1,2,1,2  a move list, no terminal needed
  echo 1 2 1 2 | quizrace play 1          the moves on standard input

Keys: 1-9 move that worker, q or Esc quits.

Exit codes: 0 the level's goal was reached; 1 it was not; 2 bad input (an
unknown level, an empty move list, a worker that does not exist, has
finished or is blocked) or no server for a level that needs one.";

const CHECK_HELP: &str = "\
Example:
  quizrace run -s racy-rmw --history h.jsonl && quizrace check h.jsonl

Exit codes: 0 every room-round linearizable; 1 one is not; 2 bad input.";

/// Reproduce, prove and measure the race behind a quiz game's outage.
#[derive(Debug, Parser)]
#[command(name = "quizrace", version, about, long_about = None, after_help = TOP_HELP)]
pub(crate) struct Cli {
    /// Colour: auto (a terminal, unless NO_COLOR is set or TERM=dumb),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the strategies: name, kind, runtimes, description.
    #[command(
        after_help = "Example:\n  quizrace list --json | jq -r '.[].name'\n\nExit codes: 0 done; 2 bad input."
    )]
    List {
        /// Print JSON: [{"name","kind","runtimes","backend","proven_by","description"}].
        #[arg(long)]
        json: bool,
    },
    /// Run scenarios (or the defaults) and check every strategy.
    #[command(after_help = RUN_HELP)]
    Run(Box<RunArgs>),
    /// Explain a strategy, with a counterexample from a real short run.
    #[command(after_help = EXPLAIN_HELP)]
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
    #[command(after_help = PLAY_HELP)]
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
    #[command(after_help = CHECK_HELP)]
    Check {
        /// A history file (JSON lines, quizrace.history.v1), e.g. written by
        /// `quizrace run --history`.
        #[arg(value_name = "HISTORY.jsonl")]
        path: PathBuf,
    },
    /// Render results JSON files into one HTML page.
    #[command(
        after_help = "Example:\n  quizrace report results/*.json --out report/\n\nExit codes: 0 done; 2 bad input."
    )]
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
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell) to standard output.
    #[command(
        after_help = "Examples:\n  quizrace completions bash > ~/.local/share/bash-completion/completions/quizrace\n  quizrace completions zsh > ~/.zfunc/_quizrace\n  quizrace completions fish > ~/.config/fish/completions/quizrace.fish\n\nExit codes: 0 done; 2 bad input."
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
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
    /// 2: the environment is missing something (e.g. `explain` found no
    /// server); the output already said what, so nothing more is printed.
    Unavailable,
}

/// Runs the parsed command line.
pub(crate) fn main(cli: Cli) -> Result<Exit> {
    table::set_color(cli.color);
    match cli.command {
        Command::Completions { shell } => {
            let mut out = std::io::stdout();
            clap_complete::generate(shell, &mut Cli::command(), "quizrace", &mut out);
            Ok(Exit::Done)
        }
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

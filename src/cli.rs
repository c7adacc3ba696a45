//! The command line: the only module that knows about the terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::explain::{investigate, Evidence};
use crate::result::{Environment, ResultsBundle, ResultsFile, StrategyResult, Verdict};
use crate::scenario::{parse_duration, FaultsFile, ScenarioFile};
use crate::sim::{self, Progress, RunOptions};
use crate::strategy::{Env, Kind, Runtime, StrategyId, TraceOp};
use crate::suite::{parse_sweeps, run_interleaved, ScenarioPlan, TrialPolicy};

/// `println!` that ends the program quietly when stdout is closed (e.g.
/// `quizrace list | head -1`) instead of panicking, as Unix tools do.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("quizrace: error: writing to standard output: {e}");
            std::process::exit(2);
        }
    }};
}

/// Reproduce, prove and measure the race behind a quiz game's outage.
#[derive(Debug, Parser)]
#[command(name = "quizrace", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the strategies: name, kind, runtimes, description.
    List {
        /// Print JSON: [{"name","kind","runtimes","description"}].
        #[arg(long)]
        json: bool,
    },
    /// Run scenarios (or the defaults) and check every strategy.
    Run(Box<RunArgs>),
    /// Explain a strategy, with a counterexample from a real short run.
    Explain {
        /// Strategy name (see `quizrace list`).
        strategy: String,
        #[command(flatten)]
        redis: RedisArgs,
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

#[derive(Debug, Args)]
struct RedisArgs {
    /// Redis URL (a password in it is never printed).
    #[arg(long, env = "QUIZRACE_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Scenario files (scenarios/*.toml); none runs the defaults.
    scenarios: Vec<PathBuf>,
    /// Strategy to run (repeatable), or `all`; overrides the scenario's list.
    #[arg(long = "strategy", short = 's')]
    strategies: Vec<String>,
    /// Write results (schema quizrace.result.v2) to this file (several
    /// scenarios: one bundle file), or into this existing directory (one
    /// file per scenario).
    #[arg(long)]
    json: Option<PathBuf>,
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
    /// Exit 1 if a correct strategy shows any anomaly.
    #[arg(long)]
    check: bool,
    /// No progress bar and no table (errors and the summary still print).
    #[arg(long, short)]
    quiet: bool,
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
    redis: RedisArgs,
    #[command(flatten)]
    faults: FaultArgs,
}

/// Redis fault settings; each overrides the scenario's `[faults]` field.
#[derive(Debug, Args)]
struct FaultArgs {
    /// Time to wait for one Redis reply, e.g. 40ms (default 2s).
    #[arg(long)]
    response_timeout: Option<String>,
    /// Time to open a Redis connection (default 2s).
    #[arg(long)]
    connect_timeout: Option<String>,
    /// Client retries after a Redis timeout or connection error (default 0).
    #[arg(long)]
    retries: Option<u32>,
    /// Pause the Redis server (CLIENT PAUSE) this long after workers start.
    #[arg(long, requires = "pause_for")]
    pause_at: Option<String>,
    /// How long the pause lasts.
    #[arg(long, requires = "pause_at")]
    pause_for: Option<String>,
    /// write (default; Redis >= 6.2) or all.
    #[arg(long)]
    pause_mode: Option<String>,
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
        };
        let any = f.response_timeout.is_some()
            || f.connect_timeout.is_some()
            || f.retries.is_some()
            || f.pause_at.is_some()
            || f.pause_for.is_some()
            || f.pause_mode.is_some();
        any.then_some(f)
    }
}

/// How the process should end.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (anomalies of racy strategies are results, not errors).
    Done,
    /// 1: `--check` and a correct strategy showed an anomaly.
    CheckFailed,
}

/// Runs the parsed command line.
pub fn main(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::List { json } => list(json),
        Command::Run(args) => run(*args),
        Command::Explain { strategy, redis } => explain(&strategy, &redis),
        Command::Report {
            results,
            criterion,
            out,
        } => {
            let page = crate::report::generate(&results, criterion.as_deref(), &out)?;
            outln!("wrote {}", page.display());
            Ok(Exit::Done)
        }
        Command::Worker => match sim::process::child_main() {
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
                    "description": i.description,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(Exit::Done);
    }
    let style = Style::detect();
    outln!(
        "{:<18} {:<22} {:<36} description",
        "name",
        "kind",
        "runtimes"
    );
    for s in StrategyId::ALL {
        let i = s.info();
        let rts: Vec<_> = i.runtimes.iter().map(|r| r.as_str()).collect();
        outln!(
            "{:<18} {} {:<36} {}",
            i.name,
            style.kind(i.kind, 22),
            rts.join(","),
            i.description
        );
    }
    Ok(Exit::Done)
}

fn run(args: RunArgs) -> Result<Exit> {
    // A bad Redis URL only matters to runs that use Redis: an in-process run
    // must not fail because QUIZRACE_REDIS_URL is set to something odd.
    let redis = redis_env(&args.redis);
    let env = redis.as_ref().cloned().unwrap_or_default();
    let min_time = duration_flag("--min-time", args.min_time.as_deref())?;
    let deadline = duration_flag("--deadline", args.deadline.as_deref())?;
    let policy = if args.quick {
        TrialPolicy::quick()
    } else {
        TrialPolicy::default()
    }
    .with(args.trials, min_time)
    .and_then(|p| p.with_deadline(deadline))
    .map_err(anyhow::Error::msg)?;
    let overrides = ScenarioFile {
        strategies: (!args.strategies.is_empty()).then(|| args.strategies.clone()),
        seed: args.seed,
        rooms: args.rooms,
        players: args.players,
        rounds: args.rounds,
        workers: args.workers,
        runtime: args.runtime.clone(),
        processes: args.processes,
        balance: args.balance.clone(),
        scoring_work: args.scoring_work.clone(),
        window: args.window.clone(),
        time_limit: args.time_limit.clone(),
        faults: args.faults.overlay(),
        ..ScenarioFile::default()
    };
    let files: Vec<ScenarioFile> = if args.scenarios.is_empty() {
        vec![ScenarioFile::builtin_default()]
    } else {
        args.scenarios
            .iter()
            .map(|p| ScenarioFile::load(p))
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?
    };
    // Resolve and validate everything before running anything.
    let sweep_flags = parse_sweeps(&args.sweeps).map_err(anyhow::Error::msg)?;
    let with_redis = env.redis.is_some() && args.redis.redis_url.is_some();
    let needs_redis = |plans: &[ScenarioPlan]| {
        plans
            .iter()
            .any(|p| p.entries.iter().any(|e| e.id.info().needs_redis))
    };
    let plans = files
        .into_iter()
        .map(|f| ScenarioPlan::new(f, &overrides, &sweep_flags, &env, with_redis, args.quick))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    if let Err(e) = redis {
        if needs_redis(&plans) {
            return Err(e);
        }
    }
    for w in plans.iter().flat_map(|p| &p.warnings) {
        eprintln!("quizrace: warning: {w}");
    }
    let output = args
        .json
        .as_deref()
        .map(|p| Output::prepare(p, &plans))
        .transpose()?;
    // Worker processes and Redis keys need a clean stop on Ctrl-C or SIGTERM.
    if plans.iter().any(|p| {
        p.entries
            .iter()
            .any(|e| e.id.info().needs_redis || e.runtime == Runtime::Processes)
    }) {
        install_interrupt_handler()?;
    }
    let style = Style::detect();
    // The bar draws on stderr; it is for people watching a terminal.
    let show_progress =
        !args.quiet && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let mut check_failed = false;
    let mut failed_trials = 0;
    let mut rejected = false;
    let mut restarted = false;
    let mut written = Vec::new();
    for plan in &plans {
        let table = Table::new(plan);
        if !args.quiet {
            table.header(plan, &policy, &style);
        }
        let mut results = Vec::new();
        for point in &plan.points {
            let runs: Vec<_> = plan
                .entries
                .iter()
                .map(|e| (e.id, plan.workload_for(e, point)))
                .collect();
            let progress = Progress::default();
            let opts = RunOptions {
                env: plan.env.clone(),
                progress: progress.clone(),
                ..RunOptions::default()
            };
            let label = if point.is_empty() {
                format!("{} strategies", runs.len())
            } else {
                crate::suite::fmt_point(point)
            };
            // Every trial of every strategy plays the same number of answers.
            let per_trial = runs.first().map_or(1, |(_, w)| w.total_answers());
            let bar = show_progress.then(|| ProgressThread::start(label, per_trial, progress));
            let outcomes = run_interleaved(&runs, &opts, &policy);
            drop(bar);
            if crate::strategy::redis::interrupted() {
                // Ctrl-C: the handler thread is cleaning up and will exit
                // the process; the run's partial result or error is moot.
                loop {
                    std::thread::park();
                }
            }
            for (entry, r) in plan.entries.iter().zip(outcomes) {
                let label = plan.label(entry, point);
                let mut r = match r {
                    Ok(r) => r,
                    Err(e) => {
                        // Scenarios that finished are kept in a bundle file too.
                        if let (Some(out), false) = (&output, written.is_empty()) {
                            let _ = out.finish(std::mem::take(&mut written));
                        }
                        return Err(anyhow::Error::new(e).context(format!(
                            "scenario `{}`, strategy `{}`",
                            plan.name, entry.id
                        )));
                    }
                };
                r.point = point.clone();
                if !args.quiet {
                    table.row(&label, &r, &style);
                }
                check_failed |= r.fails_check();
                failed_trials += r.failed_trials;
                rejected |= r.outcomes.failed > 0 && r.server_error.is_some();
                restarted |= r.server_restarted;
                results.push((label, r));
            }
        }
        if !args.quiet {
            table.legend();
        }
        print_summary(&results, &style);
        let results: Vec<StrategyResult> = results.into_iter().map(|(_, r)| r).collect();
        let env = if results
            .iter()
            .any(|r| StrategyId::from_name(&r.strategy).is_ok_and(|s| s.info().needs_redis))
        {
            plan.env.clone()
        } else {
            Env::default()
        };
        let file = plan.results_file(results, &policy, environment(&env));
        print_promises(&file.promises, &style);
        if let Some(out) = &output {
            out.write_one(&file)?;
        }
        written.push(file);
    }
    if let Some(out) = &output {
        let path = out.finish(written)?;
        if !args.quiet {
            outln!("\nresults: {}", path.display());
        }
    }
    if restarted {
        bail!(
            "the server restarted during the run (see above): what it forgot is the server's \
             data loss, so the results say nothing about the strategies"
        );
    }
    if rejected {
        bail!(
            "the server rejected answers (its error is above): the results say nothing about \
             the strategies until the server accepts writes"
        );
    }
    if failed_trials > 0 {
        bail!(
            "{failed_trials} trials could not complete (see the errors above); the results \
             of the trials that did complete were kept"
        );
    }
    Ok(if args.check && check_failed {
        Exit::CheckFailed
    } else {
        Exit::Done
    })
}

/// On Ctrl-C or SIGTERM: stop workers (and worker processes), delete the
/// Redis keys of the run in progress, say so, and exit 130 (the shell's
/// code for SIGINT).
fn install_interrupt_handler() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the Ctrl-C handler")?;
    // Registered here, before any run starts, so no Ctrl-C is missed
    // (`tokio::signal::ctrl_c()` would only register when first polled).
    // SIGTERM (`kill`, a service manager, a CI timeout) gets the same clean
    // stop as Ctrl-C.
    #[cfg(unix)]
    let (mut sigint, mut sigterm) = rt
        .block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })
        .context("installing the Ctrl-C handler")?;
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            #[cfg(unix)]
            let got = rt.block_on(async {
                tokio::select! {
                    s = sigint.recv() => s.is_some(),
                    s = sigterm.recv() => s.is_some(),
                }
            });
            #[cfg(not(unix))]
            let got = rt.block_on(tokio::signal::ctrl_c()).is_ok();
            if !got {
                return;
            }
            eprintln!(
                "\nquizrace: interrupted: stopping workers and deleting this run's Redis keys"
            );
            crate::strategy::redis::mark_interrupted();
            let killed = sim::process::kill_children();
            if killed > 0 {
                eprintln!("quizrace: stopped {killed} worker processes");
            }
            for c in crate::strategy::redis::interrupt_cleanup() {
                match c.result {
                    Ok(n) => eprintln!("quizrace: deleted {n} keys under {}*", c.prefix),
                    Err(e) => eprintln!(
                        "quizrace: could not delete the keys under {}* ({e}); delete them with \
                         redis-cli --scan --pattern '{}*' | xargs redis-cli unlink",
                        c.prefix, c.prefix
                    ),
                }
            }
            eprintln!(
                "quizrace: run interrupted; the scenario in progress was not written (with \
                 --json DIR, scenarios that had finished are there)"
            );
            std::process::exit(130);
        })
        .context("starting the Ctrl-C handler thread")?;
    Ok(())
}

/// An optional duration flag, parsed; the error names the flag.
fn duration_flag(flag: &str, value: Option<&str>) -> Result<Option<Duration>> {
    value
        .map(|s| parse_duration(s).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
        .transpose()
}

fn redis_env(args: &RedisArgs) -> Result<Env> {
    crate::strategy::redis::env_from_url(args.redis_url.as_deref()).map_err(anyhow::Error::msg)
}

/// Where `--json` writes, checked before anything runs.
///
/// * an existing directory: one file per scenario inside it, named after
///   the scenario (`-2`, `-3`… when two scenarios share a name);
/// * anything else: one file. One scenario gives a plain results file,
///   several give a bundle (`{"schema", "runs": [...]}`); both are read by
///   `quizrace report`.
///
/// Files are written to a temporary name unique to this process, then
/// renamed, so a crash or a concurrent run never leaves half a file.
struct Output {
    path: PathBuf,
    dir: bool,
    names: std::cell::RefCell<Vec<String>>,
}

impl Output {
    fn prepare(path: &Path, plans: &[ScenarioPlan]) -> Result<Output> {
        let meta = std::fs::metadata(path);
        let dir = meta.as_ref().is_ok_and(|m| m.is_dir());
        if let Ok(m) = &meta {
            if !dir && !m.is_file() {
                bail!(
                    "--json {}: exists and is not a regular file or a directory; \
                     choose a file path",
                    path.display()
                );
            }
        }
        if !dir {
            if let Some(parent) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("--json: creating {}", parent.display()))?;
            }
        }
        // Fail now, not after the run: can we create a file there?
        let probe = if dir {
            path.join(format!(".quizrace-probe-{}", std::process::id()))
        } else {
            tmp_name(path)
        };
        std::fs::write(&probe, b"")
            .with_context(|| format!("--json: cannot write to {}", path.display()))?;
        let _ = std::fs::remove_file(&probe);
        let _ = plans;
        Ok(Output {
            path: path.to_path_buf(),
            dir,
            names: Default::default(),
        })
    }

    /// Writes one scenario's file now (directory mode), so a later failure
    /// keeps what was finished.
    fn write_one(&self, file: &ResultsFile) -> Result<()> {
        if !self.dir {
            return Ok(());
        }
        let mut names = self.names.borrow_mut();
        let base = sanitize(&file.scenario.name);
        let name = (1..)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                }
            })
            .find(|n| !names.contains(n))
            .expect("an unbounded range always yields a free name");
        names.push(name.clone());
        write_json(&self.path.join(format!("{name}.json")), file)
    }

    /// Writes the single file (file mode); returns where results went.
    fn finish(&self, mut files: Vec<ResultsFile>) -> Result<PathBuf> {
        if self.dir {
            return Ok(self.path.clone());
        }
        if files.len() == 1 {
            write_json(&self.path, &files.remove(0))?;
        } else {
            let bundle = ResultsBundle {
                schema: crate::result::SCHEMA.to_string(),
                runs: files,
            };
            write_json(&self.path, &bundle)?;
        }
        Ok(self.path.clone())
    }
}

fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(value)?;
    let tmp = tmp_name(path);
    let written = std::fs::write(&tmp, json).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Facts about this build and machine.
pub fn environment(env: &Env) -> Environment {
    Environment {
        quizrace: env!("CARGO_PKG_VERSION").to_string(),
        rustc: env!("QUIZRACE_RUSTC").to_string(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        git: env!("QUIZRACE_GIT").to_string(),
        redis: crate::strategy::redis::server_version(env),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .to_string(),
    }
}

fn explain(name: &str, redis: &RedisArgs) -> Result<Exit> {
    let id = StrategyId::from_name(name)?;
    let info = id.info();
    let style = Style::detect();
    outln!(
        "{}  ({})\n",
        style.bold(info.name),
        style.kind(info.kind, 0)
    );
    outln!("{}\n", info.explanation);
    let env = if info.needs_redis {
        redis_env(redis)?
    } else {
        Env::default()
    };
    outln!("{}", style.bold("What a real run shows"));
    match investigate(id, &env)? {
        Evidence::Counterexample {
            setup,
            attempts,
            timeline,
            culprits,
            summary,
        } => {
            outln!("Setup: {setup}; reproduced on attempt {attempts}.\n");
            outln!("  order  worker  room  operation");
            for (i, e) in timeline.iter().enumerate() {
                let op = match e.op {
                    TraceOp::Read(v) => format!("read  count = {v}"),
                    TraceOp::Write(v) => format!("write count = {v}"),
                    TraceOp::Increment(v) => format!("increment -> {v}"),
                    TraceOp::Check(v) => format!("check: count = {v}"),
                    TraceOp::Fire => "emit endQuizTime".to_string(),
                };
                let line = format!("  {:>5}  {:>6}  {:>4}  {op}", e.seq + 1, e.worker, e.slot);
                if culprits.contains(&i) {
                    outln!("{}", style.red(&format!("{line}   <--")));
                } else {
                    outln!("{line}");
                }
            }
            outln!("\n{summary}.");
        }
        Evidence::Partitioned {
            players,
            counts,
            fires,
        } => {
            outln!(
                "Setup: one room of {players} players, answers spread round-robin over 2 processes."
            );
            for (i, c) in counts.iter().enumerate() {
                outln!("  process {i}: scoringMap[room] = {c} of {players}");
            }
            outln!(
                "\nendQuizTime fired {fires} times: neither process ever sees {players} answers, so the room hangs."
            );
        }
        Evidence::Confirmed { setup, result } => {
            outln!(
                "A run just now ({setup}): {} answers, verdict {}, {} answers/s, p99 {}.",
                thousands(result.answers),
                style.verdict(&result).trim_end(),
                thousands(result.answers_per_s as u64),
                ns(result.latency_ns.p99)
            );
        }
        Evidence::NotReproduced { setup } => {
            outln!("The race did not show in this short run ({setup}). Races are timing-dependent; try `quizrace run --strategy {name} --scoring-work yield`.");
        }
    }
    Ok(Exit::Done)
}

// ---- terminal output ----

struct Style {
    color: bool,
}

impl Style {
    fn detect() -> Style {
        Style {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal(),
        }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn kind(&self, k: Kind, width: usize) -> String {
        let s = format!("{:<width$}", k.as_str());
        match k {
            Kind::Correct => self.paint("32", &s),
            _ => self.paint("33", &s),
        }
    }
    /// The verdict cell: what happened and in how many trials.
    fn verdict(&self, r: &StrategyResult) -> String {
        let of = format!("{}/{}", r.anomalous_trials, r.trials);
        let (code, text) = match r.verdict {
            Verdict::Exact if r.not_reproduced() => ("33", format!("not reproduced {of}")),
            Verdict::Exact => ("32", "exact".to_string()),
            Verdict::Anomalies if r.anomalies_expected => ("33", format!("anomalies {of}")),
            Verdict::Anomalies => ("1;31", format!("ANOMALIES {of}")),
            Verdict::Inconclusive => ("1;35", "INCONCLUSIVE".to_string()),
        };
        self.paint(code, &format!("{text:<22}"))
    }
}

/// The results table of one scenario: column widths fixed from every label
/// the plan will print, so sweep labels never break the alignment.
struct Table {
    label_width: usize,
    /// Answer windows add response time and lateness columns.
    scheduled: bool,
}

impl Table {
    fn new(plan: &ScenarioPlan) -> Table {
        let widest = plan.labels().iter().map(|l| l.chars().count()).max();
        Table {
            label_width: widest.unwrap_or(0).max(8),
            scheduled: !plan.workload.window.is_zero(),
        }
    }

    fn header(&self, plan: &ScenarioPlan, policy: &TrialPolicy, style: &Style) {
        let w = &plan.workload;
        let swept = |key: &str, value: u64| match plan.sweeps.get(key) {
            Some(values) => values
                .iter()
                .map(|v| thousands(*v))
                .collect::<Vec<_>>()
                .join("/"),
            None => thousands(value),
        };
        let answers = if ["rooms", "players", "rounds"]
            .iter()
            .any(|k| plan.sweeps.contains_key(*k))
        {
            "answers per point".to_string()
        } else {
            format!("{} answers", thousands(w.total_answers()))
        };
        let runtime = if plan.mixed_runtimes() {
            format!("{} (async-only strategies on tokio)", w.runtime)
        } else {
            w.runtime.to_string()
        };
        outln!(
            "\n{}  {} rooms x {} players x {} rounds = {answers} | {runtime} | {} workers{} | scoring {} | window {} | seed {}",
            style.bold(&safe(&plan.name)),
            swept("rooms", w.rooms as u64),
            swept("players", w.players as u64),
            swept("rounds", w.rounds as u64),
            swept("workers", w.workers as u64),
            if plan.entries.iter().any(|e| e.runtime == Runtime::Processes) {
                format!(" x {} processes", swept("processes", w.effective_processes() as u64))
            } else {
                String::new()
            },
            w.work,
            if w.window.is_zero() { "burst".to_string() } else { format!("{:?}", w.window) },
            w.seed
        );
        if let Some(d) = &plan.file.description {
            outln!("{}", safe(d.trim()));
            if plan.workload_changed {
                outln!(
                    "(the command line changed this workload: the text above may not apply, and \
                     its promises are not checked)"
                );
            }
        }
        outln!(
            "trials: at least {} per strategy and {:?} of measured time (fresh state, same plan); \
             answers/s is the median trial, spread is min-max and cv",
            policy.min_trials,
            policy.min_time
        );
        for l in &plan.left_out {
            outln!("left out: {} ({})", l.strategies.join(", "), l.why);
        }
        if let Some(f) = plan
            .env
            .redis
            .as_ref()
            .map(|r| &r.faults)
            .filter(|f| !f.is_default())
        {
            if plan.entries.iter().any(|e| e.id.info().needs_redis) {
                let pause = f.pause.map_or(String::new(), |p| {
                    format!(
                        "; CLIENT PAUSE {:?} {} at {:?}",
                        p.duration,
                        p.mode.as_str(),
                        p.at
                    )
                });
                outln!(
                    "faults: Redis response timeout {:?}, connect timeout {:?}, {} retries{pause}",
                    f.response_timeout,
                    f.connect_timeout,
                    f.retries
                );
            }
        }
        let timing = if self.scheduled {
            format!("{:>9} {:>9} {:>9}", "svc p99", "resp p99", "late p99")
        } else {
            format!("{:>9} {:>9}", "p50", "p99")
        };
        outln!(
            "{:<lw$} {:<22} {:>6} {:>10} {:>21} {timing} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "strategy",
            "verdict (trials)",
            "trials",
            "answers/s",
            "spread (min-max, cv)",
            "end p99",
            "lost",
            "over",
            "missed",
            "dup",
            "early",
            lw = self.label_width,
        );
    }

    /// One line under the table saying what its columns count.
    fn legend(&self) {
        outln!(
            "(lost, over, missed, dup, early: trials in which the anomaly appeared; the lines \
             below give amounts.{})",
            if self.scheduled {
                " svc = the record call; resp = from the planned arrival; late = start behind plan."
            } else {
                ""
            }
        );
    }

    fn row(&self, label: &str, r: &StrategyResult, style: &Style) {
        let t = &r.anomaly_trials;
        let n = r.trials;
        // Anomaly columns: in how many trials each appeared.
        let cell = |v: u64| {
            if v == 0 {
                format!("{:>7}", "-")
            } else {
                style.red(&format!("{:>7}", format!("{v}/{n}")))
            }
        };
        let s = &r.answers_per_s_spread;
        let spread = format!("{}-{} {:>4.1}%", si(s.min), si(s.max), s.cv * 100.0);
        let timing = if self.scheduled {
            format!(
                "{:>9} {:>9} {:>9}",
                ns(r.latency_ns.p99),
                ns(r.response_latency_ns.p99),
                ns(r.lateness_ns.p99)
            )
        } else {
            format!("{:>9} {:>9}", ns(r.latency_ns.p50), ns(r.latency_ns.p99))
        };
        outln!(
            "{:<lw$} {} {:>6} {:>10} {:>21} {timing} {:>9} {} {} {} {} {}",
            label,
            style.verdict(r),
            n,
            si(r.answers_per_s),
            spread,
            ns(r.end_latency_ns.p99),
            cell(t.lost_updates),
            cell(t.over_counts),
            cell(t.missed_end),
            cell(t.duplicate_end),
            cell(t.early_end),
            lw = self.label_width,
        );
    }
}

/// What widens a racy strategy's window when its race did not show.
fn widen_hint(strategy: &str) -> &'static str {
    match strategy {
        "async-rmw" => {
            "give it an await point: --scoring-work yield or sleep:50us (with none there is no \
             race on one thread)"
        }
        "check-then-act" => {
            "put work between counting and deciding (--scoring-work spin:100 or yield) and \
             more players per room (--players 64)"
        }
        "local-map" => "run it on real processes: --runtime processes",
        _ => {
            "widen the window between read and write (--scoring-work yield or spin:2000), put \
             more players in fewer rooms (--rooms 10 --players 64), or run more trials \
             (--trials 50)"
        }
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p >= 10.0 {
        format!("{p:.0}%")
    } else if p >= 0.1 {
        format!("{p:.1}%")
    } else {
        format!("{p:.2}%")
    }
}

fn print_summary(results: &[(String, StrategyResult)], style: &Style) {
    for (label, r) in results {
        let a = &r.anomalies;
        let t = &r.anomaly_trials;
        let n = r.trials;
        let mut lines = Vec::new();
        if r.failed_trials > 0 {
            lines.push(style.red(&format!(
                "{label}: {} of {} trials failed: {}",
                r.failed_trials,
                r.failed_trials + n,
                r.trial_errors.join("; ")
            )));
        }
        if r.verdict == Verdict::Inconclusive {
            lines.push(style.red(&format!(
                "{label}: inconclusive: {} of {} room-rounds could not be judged (they hit the \
                 time limit or the --deadline with answers unsubmitted, or held an answer that \
                 failed or timed out), more than {:.0}%; raise --time-limit or --deadline, \
                 shrink the workload, or fix the server. --check fails on this.",
                thousands(r.unjudged),
                thousands(r.room_rounds),
                Verdict::MAX_UNJUDGED * 100.0
            )));
        }
        if r.server_restarted {
            lines.push(style.red(&format!(
                "{label}: the server restarted during the run (its run_id changed): the \
                 acknowledged answers it forgot are data loss by the server, not the strategy's \
                 lost updates (quizrace exits 2)."
            )));
        }
        if let Some(e) = r.server_error.as_ref().filter(|_| r.outcomes.failed > 0) {
            lines.push(style.red(&format!(
                "{label}: the server rejected {} answers: {e}. This is the environment, \
                 not the strategy (quizrace exits 2).",
                thousands(r.outcomes.failed)
            )));
        }
        if r.not_reproduced() {
            let hint = if r.kind == Kind::Correct.as_str() {
                // A correct strategy outside its guarantee (e.g. under retries).
                "the fault did not hit a retried call this time; a longer pause or more rounds \
                 make it likelier"
            } else {
                widen_hint(&r.strategy)
            };
            lines.push(format!(
                "{label}: not reproduced (0/{n} trials): the race did not show this time; {hint}"
            ));
        }
        let mut parts = Vec::new();
        if r.timed_out > 0 {
            parts.push(format!(
                "{} of {} rounds hit the time limit with answers still unsubmitted \
                 (the run was slower than --time-limit or --deadline; those rounds are not judged)",
                thousands(r.timed_out),
                thousands(r.room_rounds)
            ));
        }
        let rounds = r.room_rounds;
        let mut said = |trials: u64, what: &str, share: String| {
            if trials > 0 {
                parts.push(format!("{what} in {trials} of {n} trials ({share})"));
            }
        };
        said(
            t.lost_updates,
            "lost updates",
            format!("{} of answers", pct(a.lost_updates, r.answers)),
        );
        said(
            t.over_counts,
            "counted answers twice",
            format!("{} of answers", pct(a.over_counts, r.answers)),
        );
        said(
            t.missed_end,
            "rooms hung (endQuizTime never fired)",
            format!("{} of room-rounds", pct(a.missed_end, rounds)),
        );
        said(
            t.duplicate_end,
            "rounds ended twice or more",
            format!("{} of room-rounds", pct(a.duplicate_end, rounds)),
        );
        said(
            t.early_end,
            "rounds ended before every answer was in",
            format!("{} of room-rounds", pct(a.early_end, rounds)),
        );
        let o = &r.outcomes;
        if o.failed + o.unknown > 0 {
            parts.push(format!(
                "{} answers failed and {} had an unknown outcome ({} retries; count bounds violated in {} rounds)",
                thousands(o.failed),
                thousands(o.unknown),
                thousands(o.retries),
                thousands(o.bounds_violations)
            ));
        }
        if !a.is_exact() {
            let o = &r.round_outcomes;
            let judged = rounds.saturating_sub(o.timed_out + o.end_unjudged);
            let dist: Vec<String> = o
                .classes()
                .iter()
                .filter(|(name, v)| *v > 0 && *name != "timed out" && *name != "end not judged")
                .map(|(name, v)| format!("{name} {}", pct(*v, judged)))
                .collect();
            parts.push(format!(
                "judged room-rounds by their worst anomaly: {}",
                dist.join(", ")
            ));
        }
        if !parts.is_empty() {
            let note = if r.anomalies_expected || a.is_exact() || r.server_restarted {
                ""
            } else if o.failed + o.unknown + o.retries > 0 {
                // Anomalies under faults are not necessarily the strategy's: a
                // restarted server without persistence forgets acknowledged
                // answers, and a call whose every attempt timed out loses its
                // end decision with the reply.
                " (faults hit this run: a restarted server may forget acknowledged answers, and an answer whose every attempt timed out loses its end decision)"
            } else {
                " (a correct strategy broke its guarantee: a bug, unless its server lost data)"
            };
            let line = format!("{label} {}{note}", parts.join("; "));
            lines.push(if note.is_empty() {
                line
            } else {
                style.red(&line)
            });
        }
        for l in lines {
            outln!("{}", safe(&l));
        }
    }
}

/// Promises the scenario did not keep in this run.
fn print_promises(promises: &[crate::result::Promise], style: &Style) {
    for p in promises.iter().filter(|p| !p.kept) {
        outln!(
            "{}",
            style.red(&format!(
                "promise not kept: this scenario promises {} shows {}, but it did not in {} trials",
                safe(&p.strategy),
                p.anomaly,
                p.trials
            ))
        );
    }
}

/// Text from files (scenario names, descriptions) with control characters
/// shown as escapes, so a file cannot move the cursor or forge lines.
fn safe(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().collect::<Vec<_>>()
            } else if matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                c.escape_unicode().collect()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// 1.53M, 812.4k, 950: throughput at a glance.
fn si(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        "0".into()
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Formats an integer with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ns(v: u64) -> String {
    match v {
        0 => "-".into(),
        v if v < 10_000 => format!("{v}ns"),
        v if v < 10_000_000 => format!("{:.1}us", v as f64 / 1e3),
        v => format!("{:.1}ms", v as f64 / 1e6),
    }
}

/// Drives an indicatif bar from a [`Progress`] counter, shown only for runs
/// that last more than a second.
struct ProgressThread {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ProgressThread {
    fn start(label: String, total: u64, progress: Progress) -> ProgressThread {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
                    let b = indicatif::ProgressBar::new(total);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{msg} [{bar:30}] {pos}/{len} answers",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b.set_message(label.clone());
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    // Every trial submits the same plan: the counter's
                    // quotient is the trial, its remainder the position.
                    let done = progress.get();
                    let total = total.max(1);
                    b.set_message(format!("{label} trial {}", done / total + 1));
                    b.set_position(done % total);
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        ProgressThread {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for ProgressThread {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
